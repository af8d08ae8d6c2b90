"""Limits on what a request may carry and on how many run at once, and the security headers
every response gets.

Load shedding: searches are CPU-bound, so past a few at once per worker they only queue. Each
app (one per gunicorn worker) lets ``MAX_IN_FLIGHT`` requests do real work at a time, lets
``MAX_QUEUED`` more wait up to ``QUEUE_WAIT_S`` seconds for a turn (first come, first served),
and answers anything beyond at once with 503 ``overloaded`` and ``Retry-After``; a request
whose client leaves while it waits (the search page aborts each pause's request when the next
one comes) leaves the queue at once. The health check, static files and the API description
are never held back, so with more request threads than in-flight plus queued requests (see
:mod:`searchsvc.web.serve`) they are answered however busy the searches are, and nothing lingers
once the load stops.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, abort, g, request
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from searchsvc.settings import MAX_IN_FLIGHT, MAX_QUEUED, QUEUE_WAIT_S

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
HEADER_ITEMS = tuple(HEADERS.items())


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
    """At most ``limit`` holders at once; ``queue`` more may wait up to ``wait`` seconds, served
    first come, first served (a freed slot goes to the longest waiter, never to a newcomer),
    so that the wait of a queued request is bounded by those ahead of it."""

    def __init__(self, limit: int, queue: int, wait: float):
        self.limit, self.queue, self.wait = limit, queue, wait
        self._lock = threading.Lock()
        self._free = limit
        self._waiters: deque[threading.Event] = deque()

    def acquire(self, gone: Callable[[], bool] | None = None) -> bool:
        """Take a slot, waiting in the bounded queue if need be; False when shed.

        ``gone()`` is asked while waiting whether the client left (a search page aborts the
        request of each pause in typing when the next one comes): such a request leaves
        the queue at once, raising :class:`ClientGone`, rather than holding a place that a
        request someone still waits for would then be refused.
        """
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return True
            if len(self._waiters) >= self.queue:
                return False
            turn = threading.Event()
            self._waiters.append(turn)
        deadline = time.monotonic() + self.wait
        left = self.wait
        while left > 0:
            if turn.wait(left if gone is None else min(left, GONE_POLL_S)):
                return True
            if gone is not None and gone():
                self._leave_queue(turn, keep=False)
                raise ClientGone()
            left = deadline - time.monotonic()
        return self._leave_queue(turn, keep=True)

    def _leave_queue(self, turn: threading.Event, keep: bool) -> bool:
        """Leave the queue; whether a slot came with it (handed over as the wait ended: kept
        when ``keep``, passed on otherwise)."""
        with self._lock:
            if not turn.is_set():
                self._waiters.remove(turn)
                return False
        if keep:
            return True
        self.release()
        return False

    def release(self) -> None:
        """Give a slot back: to the longest waiter, if any."""
        with self._lock:
            if self._waiters:
                self._waiters.popleft().set()
            elif self._free < self.limit:
                self._free += 1
            else:
                raise ValueError("InFlightLimiter released more often than acquired")


class SecureResponse(Response):
    """The app's responses: they carry the security headers from the start (a view or error
    handler may still replace one), instead of a hook looking for each in every response."""

    def __init__(self, response=None, status=None, headers=None, *args, **kwargs):
        if headers is None:  # the usual case: nothing to keep, the headers are made with ours
            super().__init__(response, status, HEADER_ITEMS, *args, **kwargs)
            return
        super().__init__(response, status, headers, *args, **kwargs)
        for name, value in HEADER_ITEMS:
            self.headers.setdefault(name, value)

    @classmethod
    def force_type(cls, response, environ=None):
        """Another kind of response a view returned (Flask converts it here, without
        ``__init__``): it gets the headers too."""
        response = super().force_type(response, environ)
        for name, value in HEADER_ITEMS:
            response.headers.setdefault(name, value)
        return response


def _request_hook(app: Flask) -> Callable[[], None]:
    """The one check every request passes before its view: refuse over-long query strings
    (414) and bodies (413), then take a turn from the limiter (or 503 ``overloaded``).

    The limits and the limiter are read from the app once, here, not at every request.
    """
    max_query = app.config["MAX_QUERY_STRING_BYTES"]
    max_body = app.config["MAX_CONTENT_LENGTH"]
    limiter: InFlightLimiter | None = app.extensions.get(_LIMITER_KEY)

    def before() -> None:
        environ = request.environ
        if len(environ.get("QUERY_STRING", "")) > max_query:
            abort(414)
        if max_body is not None:
            length = request.content_length
            if length is not None and length > max_body:
                abort(413)
        if limiter is None:
            return
        endpoint = request.endpoint
        if endpoint is None or endpoint in UNLIMITED_ENDPOINTS:
            return
        if not limiter.acquire(gone=client_gone):
            raise Overloaded()
        g.searchsvc_slot = limiter

    return before


def _leave(_exc: BaseException | None) -> None:
    limiter = g.pop("searchsvc_slot", None)
    if limiter is not None:
        limiter.release()


# A word analysed once when a worker starts (see warm_up).
WARM_UP_QUERY = "recherche"


def warm_up(app: Flask) -> None:
    """Do, before a worker serves anyone, what its first search would otherwise do while a
    person waits (and while the searches typed after it queue, to be shed past the queue):
    load the analyzer's word lists, which takes seconds, and is done once per process.

    The index is not opened here (an app built and dropped without being closed, a test,
    would leave its files open): a served worker opens it in :func:`warm_up_index`.
    """
    from searchsvc.text.analysis import analyze_query

    started = time.monotonic()
    analyze_query(WARM_UP_QUERY)
    app.logger.info("analyzer ready in %.1f s", time.monotonic() - started)


# Requests a served worker makes to itself before it takes any from the network: one of each
# kind the search page and the API send (words, a phrase, an exclusion, a misspelt word that
# matches nothing, which reads the spelling vocabulary of every segment and field, a prefix,
# the filters, the date sort, the instant search and its completions, the pages). Words
# chosen outside the bench queries, so that no measured query finds its page cached.
WARM_UP_PATHS = (
    "/api/search?q=configuration+r%C3%A9seau+local",
    "/api/search?q=%22mot+de+passe%22+-windows",
    "/api/search?q=zqxwvkjq",
    "/api/search?q=fichier+configur*",
    "/api/search?q=syst%C3%A8me&sort=date&date_from=2000&source=x",
    "/api/suggest?q=configuration+r%C3%A9s",
    "/instant?q=configuration+r%C3%A9s&typing=1&complete=1",
    "/?q=installation+paquet",
    "/",
)
# Read at most this much of the index's files into the page cache at start-up.
WARM_UP_READ_BYTES = 2 << 30


def _read_files(paths: Iterable[Path], budget: int) -> int:
    """Read files through once (so that the first searches find them in the page cache, not
    on disk); the bytes read, at most ``budget``."""
    done = 0
    buffer = bytearray(1 << 20)
    for path in paths:
        try:
            with open(path, "rb", buffering=0) as fh:
                while done < budget and (n := fh.readinto(buffer)):
                    done += n
        except OSError:
            continue
    return done


@dataclass
class WarmUp:
    """What :func:`warm_up_index` did: the status of each request, the bytes of index read."""

    statuses: dict[str, int]
    read_bytes: int
    seconds: float

    def summary(self) -> str:
        """One line for the log."""
        kinds = ", ".join(str(s) for s in sorted(set(self.statuses.values())))
        return (
            f"worker ready in {self.seconds:.2f} s ({self.read_bytes / 1e6:.0f} MB of index "
            f"read, {len(self.statuses)} requests: {kinds})"
        )


def warm_up_index(app: Flask, paths: Iterable[str] = WARM_UP_PATHS) -> WarmUp:
    """Make a served worker ready before it takes its first request: read the live index's
    files, open its searcher and run one request of each kind through the whole app, which
    loads what the first queries would otherwise load while people wait (the segments'
    postings and stored fields, the spelling vocabulary, the lemma table, the templates),
    then analyse the documents' titles (:meth:`SearchEngine.warm_up`).

    Never raises: a worker without an index still starts, and answers 503
    ``index_unavailable`` until one is built.
    """
    from searchsvc.index import storage

    started = time.monotonic()
    read = 0
    try:
        generation = storage.current(Path(app.config["INDEX_DIR"]))
        files = sorted(p for p in Path(generation.path).rglob("*") if p.is_file())
        read = _read_files(files, WARM_UP_READ_BYTES)
    except Exception as e:  # no index yet, or a damaged one: the requests below say which
        app.logger.warning("index not read at start-up: %s", e)
    statuses: dict[str, int] = {}
    client = app.test_client()
    for path in paths:
        try:
            with client.get(path) as response:
                statuses[path] = response.status_code
        except Exception:  # pragma: no cover - the app answers every error itself
            app.logger.exception("warm-up request %s failed", path)
            statuses[path] = 0
    from searchsvc.web import get_engine

    try:
        with app.app_context():
            get_engine().warm_up()
    except Exception as e:  # no index, or a damaged one: searches say so themselves
        app.logger.warning("titles not analysed at start-up: %s", e)
    return WarmUp(statuses, read, time.monotonic() - started)


def init_app(app: Flask) -> None:
    """Install the request limits, load shedding and response headers on ``app``, and warm
    it up (see :func:`warm_up`) unless it is a test app or ``WARM_UP`` is false.

    ``MAX_IN_FLIGHT`` set to 0 (or None) in the app's config turns load shedding off.
    """
    app.response_class = SecureResponse
    limit = app.config.get("MAX_IN_FLIGHT", MAX_IN_FLIGHT)
    if limit:
        app.extensions[_LIMITER_KEY] = InFlightLimiter(
            limit,
            app.config.get("MAX_QUEUED", MAX_QUEUED),
            app.config.get("QUEUE_WAIT_S", QUEUE_WAIT_S),
        )
        app.teardown_request(_leave)
    app.before_request(_request_hook(app))
    if app.config.get("WARM_UP", not app.testing):
        warm_up(app)
