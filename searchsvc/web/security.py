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

import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, abort, g, request
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from searchsvc.engine.search import heavy_lane
from searchsvc.settings import (
    HEAVY_IN_FLIGHT,
    HEAVY_QUEUED,
    MAX_IN_FLIGHT,
    MAX_PUSH_BYTES,
    MAX_QUEUED,
    QUEUE_WAIT_S,
)


def content_security_policy(frame_ancestors: Iterable[str] = (), styles: Iterable[str] = ()) -> str:
    """The policy: everything served by the app itself, no inline script or style; framed by
    ``frame_ancestors`` (origins) only, by none when empty; stylesheets from ``styles``
    (addresses, SEARCHSVC_THEME_CSS) too."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            " ".join(["style-src 'self'", *styles]),
            "img-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors " + (" ".join(frame_ancestors) or "'none'"),
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HEADER_ITEMS = tuple(HEADERS.items())


# Cheap endpoints never held back (and unknown addresses, endpoint None: a 404 costs nothing).
# The document writes and their tasks neither: they hold the admin key, the journal bounds
# them (503 when behind), and a write that waits (``wait=``) must not hold a search's turn.
PUSH_ENDPOINTS = frozenset({"documents.put_document", "documents.post_documents"})
UNLIMITED_ENDPOINTS = frozenset(
    {"health.healthz", "static", "api.openapi", "metrics.metrics", "theme", "embed.searchbox"}
    | PUSH_ENDPOINTS
    | {"documents.delete_document", "documents.task"}
)

_LIMITER_KEY = "searchsvc.limiter"
_HEAVY_KEY = "searchsvc.heavy_limiter"


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


class _Waiter(threading.Event):
    """One request waiting for a slot: set when it is served (or shed); ``client`` is whose."""

    def __init__(self, client: str | None):
        super().__init__()
        self.client = client


def _client_of(waiter: threading.Event) -> str | None:
    return getattr(waiter, "client", None)


class InFlightLimiter:
    """At most ``limit`` holders at once; ``queue`` more may wait up to ``wait`` seconds, so
    that the wait of a queued request is bounded by those ahead of it (a freed slot goes to
    a waiter, never to a newcomer).

    Waiters are served fairly between clients (``client``, an address; None is one client
    like any other): a freed slot goes to the waiter of the client that has had the least
    of the worker's time lately (the seconds its requests held slots, fading with a
    half-life of ``FAIR_HALF_LIFE_S``, and ``FAIR_FLOOR_S`` a request), the longest waiter
    first among equals; so among requests of one client, or of clients that had as much,
    first come, first served, and a client sending many or long requests cannot make
    another's wait behind all of them. When the queue is full, a newcomer whose client
    waits with fewer requests than the client waiting with most takes the place of that
    client's latest request, which is shed instead: one client cannot fill the queue.
    """

    def __init__(self, limit: int, queue: int, wait: float):
        self.limit, self.queue, self.wait = limit, queue, wait
        self._lock = threading.Lock()
        self._free = limit
        self._parked = 0  # requests that gave their slot back to wait elsewhere (see release)
        self._waiters: list[threading.Event] = []  # in order of arrival
        self._shed: set[threading.Event] = set()  # waiters pushed out of a full queue
        self._held: dict[int, tuple[str | None, float]] = {}  # thread -> (client, since)
        self._usage: dict[str | None, tuple[float, float]] = {}  # client -> (seconds, when)

    def acquire(self, gone: Callable[[], bool] | None = None, client: str | None = None) -> bool:
        """Take a slot, waiting in the bounded queue if need be; False when shed.

        ``gone()`` is asked while waiting whether the client left (a search page aborts the
        request of each pause in typing when the next one comes): such a request leaves
        the queue at once, raising :class:`ClientGone`, rather than holding a place that a
        request someone still waits for would then be refused. The slot is the calling
        thread's until it calls :meth:`release`.
        """
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                self._take(client)
                return True
            full = len(self._waiters) + self._parked >= self.queue
            if full and not self._push_out(client):
                return False
            waiter = _Waiter(client)
            self._waiters.append(waiter)
        deadline = time.monotonic() + self.wait
        left = self.wait
        while left > 0:
            if waiter.wait(left if gone is None else min(left, GONE_POLL_S)):
                return self._served(waiter)
            if gone is not None and gone():
                self._leave_queue(waiter, keep=False)
                raise ClientGone()
            left = deadline - time.monotonic()
        return self._leave_queue(waiter, keep=True)

    def _take(self, client: str | None) -> None:
        """Note that this thread holds a slot for ``client``; with the lock held."""
        self._held[threading.get_ident()] = (client, time.monotonic())

    def _served(self, waiter: threading.Event) -> bool:
        """The waiter's event was set: served (the slot is this thread's), or shed."""
        with self._lock:
            if waiter in self._shed:
                self._shed.discard(waiter)
                return False
            self._take(_client_of(waiter))
            return True

    def _push_out(self, client: str | None) -> bool:
        """Make room in the full queue for a request of ``client`` by shedding the latest
        request of the client waiting with the most, if that is more than ``client``
        waits with; whether room was made. With the lock held."""
        counts: dict[str | None, int] = {}
        for w in self._waiters:
            counts[_client_of(w)] = counts.get(_client_of(w), 0) + 1
        greedy = max(counts, key=counts.__getitem__, default=None)
        if greedy is None or counts[greedy] <= counts.get(client, 0) + 1:
            return False
        latest = next(w for w in reversed(self._waiters) if _client_of(w) == greedy)
        self._waiters.remove(latest)
        self._shed.add(latest)
        latest.set()
        return True

    def _leave_queue(self, waiter: threading.Event, keep: bool) -> bool:
        """Leave the queue; whether a slot came with it (handed over as the wait ended: kept
        when ``keep``, passed on otherwise). False, too, when it was shed meanwhile."""
        with self._lock:
            if not waiter.is_set():
                self._waiters.remove(waiter)
                return False
        if not self._served(waiter):
            return False
        if keep:
            return True
        self.release()
        return False

    def _usage_of(self, client: str | None, now: float) -> float:
        seconds, when = self._usage.get(client, (0.0, now))
        return seconds * 0.5 ** ((now - when) / FAIR_HALF_LIFE_S)

    def release(self, park: bool = False) -> None:
        """Give the calling thread's slot back: to the waiter of the client that had the
        least time lately, if any. With ``park``, the request goes on to wait elsewhere (a
        heavy search, for the heavy lane): it keeps a place in the queue, so that the
        requests a worker holds stay within its threads, until :meth:`unpark`."""
        with self._lock:
            if park:
                self._parked += 1
            now = time.monotonic()
            held = self._held.pop(threading.get_ident(), None)
            if held is not None:
                client, since = held
                used = self._usage_of(client, now) + (now - since) + FAIR_FLOOR_S
                self._usage[client] = (used, now)
                if len(self._usage) > MAX_CLIENTS_KEPT:
                    self._forget(now)
            if self._waiters:
                best = min(
                    range(len(self._waiters)),
                    key=lambda i: (self._usage_of(_client_of(self._waiters[i]), now), i),
                )
                self._waiters.pop(best).set()
            elif self._free < self.limit:
                self._free += 1
            else:
                raise ValueError("InFlightLimiter released more often than acquired")

    def unpark(self) -> None:
        """A request parked by :meth:`release` is done: its place in the queue is free."""
        with self._lock:
            self._parked -= 1

    def _forget(self, now: float) -> None:
        """Drop the clients that had least time lately (keeps memory bounded)."""
        ranked = sorted(self._usage, key=lambda c: self._usage_of(c, now))
        for client in ranked[: len(ranked) // 2]:
            del self._usage[client]


# Clients whose recent use of a worker its limiters remember (half are forgotten past it).
MAX_CLIENTS_KEPT = 4096
# How fast a client's use of a worker is forgotten, and what a request counts for at least.
FAIR_HALF_LIFE_S = 2.0
FAIR_FLOOR_S = 0.001


def client_address(environ: dict, trusted_proxies: TrustedProxies) -> str | None:
    """The address of whoever sent this request: the peer's address, or, when the peer is a
    trusted proxy, the last address in ``X-Forwarded-For`` that is not one (what a proxy
    appends cannot be forged by its client; what precedes it can)."""
    peer = environ.get("REMOTE_ADDR")
    if peer not in trusted_proxies:
        return peer
    forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
    for address in reversed([a.strip() for a in forwarded.split(",")]):
        if address and address not in trusted_proxies:
            return address
    return peer


class SecureResponse(Response):
    """The app's responses: they carry the security headers from the start (a view or error
    handler may still replace one), instead of a hook looking for each in every response.
    ``header_items``: :data:`HEADER_ITEMS`, or an app's own (see :func:`_response_class`)."""

    header_items = HEADER_ITEMS

    def __init__(self, response=None, status=None, headers=None, *args, **kwargs):
        if headers is None:  # the usual case: nothing to keep, the headers are made with ours
            super().__init__(response, status, self.header_items, *args, **kwargs)
            return
        super().__init__(response, status, headers, *args, **kwargs)
        for name, value in self.header_items:
            self.headers.setdefault(name, value)

    @classmethod
    def force_type(cls, response, environ=None):
        """Another kind of response a view returned (Flask converts it here, without
        ``__init__``): it gets the headers too."""
        response = super().force_type(response, environ)
        for name, value in cls.header_items:
            response.headers.setdefault(name, value)
        return response


def _theme_origin(app: Flask) -> str | None:
    """The origin of the app's stylesheet when it is an address (SEARCHSVC_THEME_CSS)."""
    theme = app.config.get("THEME_CSS") or ""
    if not theme.startswith("https://"):
        return None
    return "/".join(theme.split("/", 3)[:3])


def _response_class(app: Flask) -> type[SecureResponse]:
    """The app's response class: :class:`SecureResponse`, or one whose policy also allows
    the site's stylesheet when it comes from another origin."""
    origin = _theme_origin(app)
    if origin is None:
        return SecureResponse
    headers = {**HEADERS, "Content-Security-Policy": content_security_policy(styles=[origin])}
    return type("SecureResponse", (SecureResponse,), {"header_items": tuple(headers.items())})


def _frameable_pages(app: Flask) -> Callable[[Response], Response] | None:
    """With ``FRAME_ANCESTORS`` (SEARCHSVC_FRAME_ANCESTORS), a hook that lets those origins
    frame the pages: the policy's frame-ancestors lists them, and X-Frame-Options, which
    cannot name several origins (and would win in older browsers), goes. The API, the static
    files and every other answer stay unframeable."""
    ancestors = tuple(app.config.get("FRAME_ANCESTORS") or ())
    if not ancestors:
        return None
    origin = _theme_origin(app)
    policy = content_security_policy(ancestors, [origin] if origin else [])

    def frameable(response: Response) -> Response:
        if request.blueprint == "pages":
            response.headers["Content-Security-Policy"] = policy
            response.headers.pop("X-Frame-Options", None)
        return response

    return frameable


def _request_hook(app: Flask) -> Callable[[], None]:
    """The one check every request passes before its view: refuse over-long query strings
    (414) and bodies (413), then take a turn from the limiter (or 503 ``overloaded``), and
    say what a heavy search runs under (:data:`searchsvc.engine.search.heavy_lane`).

    The limits and the limiter are read from the app once, here, not at every request.
    """
    max_query = app.config["MAX_QUERY_STRING_BYTES"]
    max_body = app.config["MAX_CONTENT_LENGTH"]
    limiter: InFlightLimiter | None = app.extensions.get(_LIMITER_KEY)
    heavy: InFlightLimiter | None = app.extensions.get(_HEAVY_KEY)
    trusted = _trusted_proxies(app)
    lane = _heavy_lane(heavy) if heavy is not None else None

    def before() -> None:
        environ = request.environ
        if len(environ.get("QUERY_STRING", "")) > max_query:
            abort(414)
        if max_body is not None:
            length = request.content_length
            limit = MAX_PUSH_BYTES if request.endpoint in PUSH_ENDPOINTS else max_body
            if length is not None and length > limit:
                abort(413)
        if limiter is None:
            return
        endpoint = request.endpoint
        if endpoint is None or endpoint in UNLIMITED_ENDPOINTS:
            return
        client = client_address(environ, trusted)
        g.searchsvc_client = client
        if not limiter.acquire(gone=client_gone, client=client):
            raise Overloaded()
        g.searchsvc_slot = limiter
        if lane is not None:
            g.searchsvc_lane = heavy_lane.set(lane)

    return before


def _heavy_lane(heavy: InFlightLimiter) -> Callable[[], AbstractContextManager[None]]:
    """What a heavy search of this app runs under: the request gives its slot back to the
    other requests, then waits for one of the heavy lane's (503 ``overloaded`` past its
    queue), fairly between clients as the other slots are."""

    @contextmanager
    def lane() -> Iterator[None]:
        light = g.pop("searchsvc_slot", None)
        if light is not None:
            light.release(park=True)
        try:
            if not heavy.acquire(gone=client_gone, client=g.get("searchsvc_client")):
                raise Overloaded()
            try:
                yield
            finally:
                heavy.release()
        finally:
            if light is not None:
                light.unpark()

    return lane


class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` names the client: addresses or networks
    (``127.0.0.1``, ``172.28.0.0/16``, where a container's proxy gets its address)."""

    def __init__(self, entries: Iterable[str]):
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(
                    f"trusted proxy {entry!r} is not an IP address or network"
                ) from None
        self.networks = tuple(networks)

    def __contains__(self, address: object) -> bool:
        if not self.networks or not isinstance(address, str):
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


def _trusted_proxies(app: Flask) -> TrustedProxies:
    """The app's ``TRUSTED_PROXIES`` (a list, or comma-separated; ``create_app`` sets it from
    ``SEARCHSVC_TRUSTED_PROXIES``); none by default."""
    raw = app.config.get("TRUSTED_PROXIES") or ()
    if isinstance(raw, str):
        raw = raw.split(",")
    return TrustedProxies(a.strip() for a in raw if a.strip())


def _leave(_exc: BaseException | None) -> None:
    token = g.pop("searchsvc_lane", None)
    if token is not None:
        heavy_lane.reset(token)
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
# kind the search page and the API send (words, a phrase, an exclusion, a prefix, the
# filters, the date sort, the instant search and its completions, the pages). Words chosen
# outside the bench queries, so that no measured query finds its page cached. No misspelt
# word: SearchEngine.warm_up reads the spelling vocabularies from their cache files, and a
# thread builds those missing (SearchEngine.warm_up_spelling).
WARM_UP_PATHS = (
    "/api/search?q=configuration+r%C3%A9seau+local",
    "/api/search?q=%22mot+de+passe%22+-windows",
    "/api/search?q=fichier+configur*",
    "/api/search?q=syst%C3%A8me&sort=date&date_from=2000&source=x",
    "/api/suggest?q=configuration+r%C3%A9s",
    "/instant?q=configuration+r%C3%A9s&typing=1&complete=1",
    "/?q=installation+paquet",
    "/",
)
# Marks the warm-up requests' environ: they are neither searches people made (analytics) nor
# traffic (metrics).
WARM_UP_ENVIRON = "searchsvc.warm_up"
# Read at most this much of the index's files into the page cache at start-up.
WARM_UP_READ_BYTES = 2 << 30
# The index files the first searches read, asked for first (see _read_ahead): terms, postings,
# their arrays and the length columns; the stored fields (titles, snippets) come after.
WARM_UP_FIRST = (".trm", ".postings", "_len.col", ".toc")


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


def _read_ahead(paths: Iterable[Path], budget: int) -> int:
    """Have the kernel read files into the page cache in the background (``posix_fadvise``
    WILLNEED: milliseconds here, where reading 1.7 GB through took seconds of the worker's
    start), at most ``budget`` bytes; the bytes asked for. Without the call, read them
    through (:func:`_read_files`)."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:  # pragma: no cover - not on Linux
        return _read_files(paths, budget)
    done = 0
    for path in paths:
        if done >= budget:
            break
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            size = min(os.fstat(fd).st_size, budget - done)
            advise(fd, 0, size, os.POSIX_FADV_WILLNEED)
            done += size
        except OSError:
            pass
        finally:
            os.close(fd)
    return done


def _first_needed(path: Path) -> tuple[bool, str]:
    """Sort key: the files the first searches read before the others."""
    return (not path.name.endswith(WARM_UP_FIRST), path.name)


@dataclass
class WarmUp:
    """What :func:`warm_up_index` did: the status of each request, the bytes of index read
    ahead, and hashed to verify it (none when its verification record vouched for it)."""

    statuses: dict[str, int]
    read_bytes: int
    seconds: float
    hashed_bytes: int = 0
    # The process's CPU seconds so far (its start included): on a busy machine, a steadier
    # measure of what start-up costs than the seconds it took.
    cpu_seconds: float = 0.0

    def summary(self) -> str:
        """One line for the log."""
        kinds = ", ".join(str(s) for s in sorted(set(self.statuses.values())))
        return (
            f"worker ready in {self.seconds:.2f} s ({self.hashed_bytes / 1e6:.0f} MB of index "
            f"hashed, {self.read_bytes / 1e6:.0f} MB read ahead, {len(self.statuses)} "
            f"requests: {kinds}; {self.cpu_seconds:.2f} s CPU since the process started)"
        )


def warm_up_index(
    app: Flask, paths: Iterable[str] = WARM_UP_PATHS, background: bool | None = None
) -> WarmUp:
    """Make a served worker ready before it takes its first request: have the live index's
    files read into the page cache in the background (those the first searches read first),
    open its searcher and run one request of each kind through the whole app, which loads
    what the first queries would otherwise load while people wait (the segments' postings and
    stored fields, the lemma table, the templates), then read the spelling vocabularies kept
    in cache files and analyse the documents' titles (:meth:`SearchEngine.warm_up`). The
    vocabularies no cache file holds (a generation's first worker) are built after, in a
    thread (``background``, by default unless the app is a test app; else before returning)
    whose slices let searches go first (:meth:`SearchEngine.warm_up_spelling`).

    Opening the searcher checks the index's files against their SHA-256, hashing only those
    the generation's verification record does not vouch for (see ``storage.Verifier``): a
    damaged file makes the requests answer 503 ``index_damaged``.

    Never raises: a worker without an index still starts, and answers 503
    ``index_unavailable`` until one is built.
    """
    from searchsvc.index import storage

    started = time.monotonic()
    hashed_before = storage.hashed_bytes()
    read = 0
    try:
        generation = storage.current(Path(app.config["INDEX_DIR"]))
        files = sorted(
            (p for p in Path(generation.path).rglob("*") if p.is_file()), key=_first_needed
        )
        read = _read_ahead(files, WARM_UP_READ_BYTES)
    except Exception as e:  # no index yet, or a damaged one: the requests below say which
        app.logger.warning("index not read at start-up: %s", e)
    statuses: dict[str, int] = {}
    client = app.test_client()
    for path in paths:
        try:
            with client.get(path, environ_base={WARM_UP_ENVIRON: True}) as response:
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
    if background is None:
        background = not app.testing
    if background:
        threading.Thread(target=_warm_up_spelling, args=(app,), daemon=True).start()
    else:
        _warm_up_spelling(app)
    hashed = storage.hashed_bytes() - hashed_before
    cpu = time.process_time()
    return WarmUp(statuses, read, time.monotonic() - started, hashed, cpu)


def _warm_up_spelling(app: Flask) -> None:
    """Run :meth:`SearchEngine.warm_up_spelling`, saying in the log how long it took."""
    from searchsvc.web import get_engine

    started, cpu = time.monotonic(), time.thread_time()
    try:
        with app.app_context():
            count = get_engine().warm_up_spelling()
    except Exception as e:  # no index, or a damaged one: searches say so themselves
        app.logger.warning("spelling vocabularies not built at start-up: %s", e)
        return
    # Beside the worker's "ready" line, which gunicorn's own logger writes (web/serve.py); the
    # app's logger shows warnings only.
    log = logging.getLogger("gunicorn.error")
    (log if log.handlers else app.logger).info(
        "worker warmed up in %.2f s more (%.2f s CPU: %d spelling vocabularies built)",
        time.monotonic() - started,
        time.thread_time() - cpu,
        count,
    )


def init_app(app: Flask) -> None:
    """Install the request limits, load shedding and response headers on ``app``, and warm
    it up (see :func:`warm_up`) unless it is a test app or ``WARM_UP`` is false.

    ``MAX_IN_FLIGHT`` set to 0 (or None) in the app's config turns load shedding off.
    """
    app.response_class = _response_class(app)
    frameable = _frameable_pages(app)
    if frameable is not None:
        app.after_request(frameable)
    limit = app.config.get("MAX_IN_FLIGHT", MAX_IN_FLIGHT)
    if limit:
        wait = app.config.get("QUEUE_WAIT_S", QUEUE_WAIT_S)
        app.extensions[_LIMITER_KEY] = InFlightLimiter(
            limit, app.config.get("MAX_QUEUED", MAX_QUEUED), wait
        )
        heavy = app.config.get("HEAVY_IN_FLIGHT", HEAVY_IN_FLIGHT)
        if heavy:
            app.extensions[_HEAVY_KEY] = InFlightLimiter(
                heavy, app.config.get("HEAVY_QUEUED", HEAVY_QUEUED), wait
            )
        app.teardown_request(_leave)
    app.before_request(_request_hook(app))
    if app.config.get("WARM_UP", not app.testing):
        warm_up(app)
