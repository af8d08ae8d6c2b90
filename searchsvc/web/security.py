"""Limits on what a request may carry and on how many run at once, and the security headers
every response gets.

Load shedding: searches are CPU-bound, so past a few at once per worker they only queue. Each
app (one per gunicorn worker) lets ``MAX_IN_FLIGHT`` requests do real work at a time, lets
``MAX_QUEUED`` more wait up to ``QUEUE_WAIT_S`` seconds for a turn, and answers anything beyond
at once with 503 ``overloaded`` and ``Retry-After``; a request whose client leaves while it
waits (the search page aborts each pause's request when the next one comes) leaves the queue
at once. The health check, static files and the API description are never held back, so
with more request threads than in-flight plus queued requests (see :mod:`searchsvc.serve`)
they are answered however busy the searches are, and nothing lingers once the load stops.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from flask import Flask, Response, abort, current_app, g, request
from werkzeug.exceptions import HTTPException, ServiceUnavailable

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


class ClientGone(HTTPException):
    """The client closed the connection while its request waited for a turn: nobody reads
    the answer, logged as 499 ("client closed request", as nginx says)."""

    code = 499
    description = "the client closed the connection before its turn came"


# Seconds between two looks at whether a waiting request's client is still there.
GONE_POLL_S = 0.05


def client_gone() -> bool:
    """Whether the client of this request closed its connection (gunicorn's socket read
    without waiting: an end of file means it left); False when it cannot be told."""
    sock = request.environ.get("gunicorn.socket")
    if sock is None:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False  # nothing to read: still connected
    except ValueError:
        return False  # a TLS socket takes no flags: cannot tell
    except OSError:
        return True  # reset by the peer


class InFlightLimiter:
    """At most ``limit`` holders at once; ``queue`` more may wait up to ``wait`` seconds."""

    def __init__(self, limit: int, queue: int, wait: float):
        self.limit, self.queue, self.wait = limit, queue, wait
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._waiting = 0

    def acquire(self, gone: Callable[[], bool] | None = None) -> bool:
        """Take a slot, waiting in the bounded queue if need be; False when shed.

        ``gone()`` is asked while waiting whether the client left (a search page aborts the
        request of each pause in typing when the next one comes): such a request leaves
        the queue at once, raising :class:`ClientGone`, rather than holding a place that a
        request someone still waits for would then be refused.
        """
        if self._slots.acquire(blocking=False):
            return True
        with self._lock:
            if self._waiting >= self.queue:
                return False
            self._waiting += 1
        try:
            if gone is None:
                return self._slots.acquire(timeout=self.wait)
            deadline = time.monotonic() + self.wait
            while (left := deadline - time.monotonic()) > 0:
                if self._slots.acquire(timeout=min(left, GONE_POLL_S)):
                    return True
                if gone():
                    raise ClientGone()
            return False
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
    if not limiter.acquire(gone=client_gone):
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


# A word analysed once when a worker starts (see warm_up).
WARM_UP_QUERY = "recherche"


def warm_up(app: Flask) -> None:
    """Do, before a worker serves anyone, what its first search would otherwise do while a
    person waits (and while the searches typed after it queue, to be shed past the queue):
    load the analyzer's word lists, which takes seconds, and is done once per process.

    The index is not opened here: that is quick, and an app built and dropped without being
    closed (a test) would leave its files open.
    """
    from searchsvc.analysis import analyze_query

    started = time.monotonic()
    analyze_query(WARM_UP_QUERY)
    app.logger.info("analyzer ready in %.1f s", time.monotonic() - started)


def init_app(app: Flask) -> None:
    """Install the request limits, load shedding and response headers on ``app``, and warm
    it up (see :func:`warm_up`) unless it is a test app or ``WARM_UP`` is false.

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
    if app.config.get("WARM_UP", not app.testing):
        warm_up(app)
