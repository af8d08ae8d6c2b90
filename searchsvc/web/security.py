"""Limits on what a request may carry and on how many run at once, and the security headers
every response gets.

Load shedding: searches are CPU-bound, so past a few at once per worker they only queue. Each
app (one per gunicorn worker) lets ``MAX_IN_FLIGHT`` requests do real work at a time, lets
``MAX_QUEUED`` more wait up to ``QUEUE_WAIT_S`` seconds for a turn, and answers anything beyond
at once with 503 ``overloaded`` and ``Retry-After``. The health check, static files and the API
description are never held back, so with more request threads than in-flight plus queued
requests (see :mod:`searchsvc.serve`) they are answered however busy the searches are, and
nothing lingers once the load stops.
"""

from __future__ import annotations

import threading

from flask import Flask, Response, abort, current_app, g, request
from werkzeug.exceptions import ServiceUnavailable

# Everything is served by the app itself; no inline script or style, no framing.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


# Per worker: searches running at once, waiting for a turn, and how long one may wait. Searches
# are CPU-bound and hold the GIL, so more than two at once only slice one core thinner (and
# starve the threads that answer /healthz and shed the excess).
MAX_IN_FLIGHT = 2
MAX_QUEUED = 4
QUEUE_WAIT_S = 5.0
# Seconds a client is told to wait before retrying a shed request.
RETRY_AFTER_S = 1
# Cheap endpoints never held back (and unknown addresses, endpoint None: a 404 costs nothing).
UNLIMITED_ENDPOINTS = frozenset({"health.healthz", "static", "api.openapi"})

_LIMITER_KEY = "searchsvc.limiter"


class Overloaded(ServiceUnavailable):
    """The worker is running and queueing as many requests as it may: shed this one (503)."""

    description = "the service is overloaded; retry in a moment"


class InFlightLimiter:
    """At most ``limit`` holders at once; ``queue`` more may wait up to ``wait`` seconds."""

    def __init__(self, limit: int, queue: int, wait: float):
        self.limit, self.queue, self.wait = limit, queue, wait
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._waiting = 0

    def acquire(self) -> bool:
        """Take a slot, waiting in the bounded queue if need be; False when shed."""
        if self._slots.acquire(blocking=False):
            return True
        with self._lock:
            if self._waiting >= self.queue:
                return False
            self._waiting += 1
        try:
            return self._slots.acquire(timeout=self.wait)
        finally:
            with self._lock:
                self._waiting -= 1

    def release(self) -> None:
        self._slots.release()


def _enter() -> None:
    """Take a slot for a request that does real work, or shed it with 503."""
    limiter: InFlightLimiter | None = current_app.extensions.get(_LIMITER_KEY)
    if limiter is None or request.endpoint is None or request.endpoint in UNLIMITED_ENDPOINTS:
        return
    if not limiter.acquire():
        raise Overloaded()
    g.searchsvc_slot = limiter


def _leave(_exc: BaseException | None) -> None:
    limiter = g.pop("searchsvc_slot", None)
    if limiter is not None:
        limiter.release()


def _check_size() -> None:
    """Refuse over-long query strings (414) and bodies (413) before any work is done."""
    if len(request.query_string) > current_app.config["MAX_QUERY_STRING_BYTES"]:
        abort(414)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and limit is not None and request.content_length > limit:
        abort(413)


def _add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.pop("Server", None)
    return response


def init_app(app: Flask) -> None:
    """Install the request limits, load shedding and response headers on ``app``.

    ``MAX_IN_FLIGHT`` set to 0 (or None) in the app's config turns load shedding off.
    """
    app.before_request(_check_size)
    limit = app.config.get("MAX_IN_FLIGHT", MAX_IN_FLIGHT)
    if limit:
        app.extensions[_LIMITER_KEY] = InFlightLimiter(
            limit,
            app.config.get("MAX_QUEUED", MAX_QUEUED),
            app.config.get("QUEUE_WAIT_S", QUEUE_WAIT_S),
        )
        app.before_request(_enter)
        app.teardown_request(_leave)
    app.after_request(_add_headers)
