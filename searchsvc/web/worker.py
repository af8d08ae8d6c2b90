"""The gunicorn worker ``searchsvc serve`` runs: gthread, with gunicorn's own errors in JSON.

gunicorn refuses some requests before the app sees them: a request line over
``limit_request_line`` (414), too many or too large header fields (431), a malformed request
(400). Those limits stay, since they bound what a worker buffers, but gunicorn answers them
with an HTML page; :class:`ThreadWorker` answers them in the API's one error shape
``{"error": {"code": ..., "message": ...}}``, with the headers every app response carries.
The status of each gunicorn exception mirrors gunicorn's ``Worker.handle_error``.

gunicorn 27's gthread worker gives a connection to a request thread at its first byte, and the
thread then reads the request from a blocking socket: a client that trickles its request
(slowloris) holds a thread for as long as it likes, and a few dozen hold them all.
:class:`ThreadWorker` reads every request into memory on the worker's event loop first
(:class:`Framer` says when it is whole) and only then gives it to a thread; a connection that
does not complete its request within ``REQUEST_READ_TIMEOUT_S`` of its first byte is answered
408 and closed, one that sends nothing is closed after the keep-alive time.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import selectors
import socket
import ssl
import time
from collections import Counter
from datetime import timedelta
from email.utils import formatdate
from functools import partial
from http import HTTPStatus

from gunicorn import http, util
from gunicorn.http import errors as http_errors
from gunicorn.http.body import Body, ChunkedReader, LengthReader
from gunicorn.http.unreader import IterUnreader
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers import gthread

from searchsvc import settings
from searchsvc.web.errors import CODES, MESSAGES
from searchsvc.web.framing import READY, REFUSE, Framer, Limits
from searchsvc.web.security import HEADERS


def _error_types(*names: str) -> tuple[type[BaseException], ...]:
    """gunicorn's exception classes of these names; those a version lacks are left out."""
    found = (getattr(http_errors, name, None) for name in names)
    return tuple(t for t in found if isinstance(t, type) and issubclass(t, BaseException))


# gunicorn's exceptions and the status each gets, first match wins (as in gunicorn's
# handle_error). A bad header the *app* sent subclasses InvalidHeader, so it comes first.
APP_ERRORS = _error_types("InvalidResponseHeader", "InvalidResponseHeaderName")
CLIENT_ERRORS = [
    (_error_types("LimitRequestLine"), 414),
    (_error_types("LimitRequestHeaders"), 431),
    (_error_types("UnsupportedTransferCoding"), 501),
    (_error_types("ConfigurationProblem"), 500),
    (_error_types("ExpectationFailed"), 417),
    (_error_types("ForbiddenProxyRequest"), 403),
    ((ssl.SSLError,), 403),
    (
        _error_types(
            "InvalidRequestLine",
            "InvalidRequestMethod",
            "InvalidHTTPVersion",
            "InvalidHeader",
            "InvalidHeaderName",
            "InvalidProxyLine",
            "InvalidSchemeHeaders",
            "ObsoleteFolding",
            "InvalidH2CPreface",
            "InvalidChunkSize",
            "ChunkMissingTerminator",
            "InvalidChunkExtension",
        ),
        400,
    ),
]
# Any other parse error is the client's too (gunicorn versions add new ones): its own status
# when it carries one, else 400.
PARSE_ERRORS = _error_types("ParseException")


def classify(exc: BaseException) -> tuple[int, bool]:
    """The status gunicorn answers ``exc`` with, and whether the client is at fault (500 for
    anything else, an app bug)."""
    if APP_ERRORS and isinstance(exc, APP_ERRORS):
        return 500, False
    for types, status in CLIENT_ERRORS:
        if types and isinstance(exc, types):
            return status, True
    if PARSE_ERRORS and isinstance(exc, PARSE_ERRORS):
        code = getattr(exc, "code", None)
        return (code if isinstance(code, int) and 400 <= code <= 599 else 400), True
    return 500, False


def error_message(status: int, cfg) -> str:
    """What a client is told, in the style of errors.MESSAGES (nothing of the request echoed)."""
    if status == 414:
        limit = getattr(cfg, "limit_request_line", None)
        return "the request line is too long" + (f" (at most {limit} bytes)" if limit else "")
    if status == 431:
        fields = getattr(cfg, "limit_request_fields", None)
        size = getattr(cfg, "limit_request_field_size", None)
        if fields and size:
            return f"the request has more than {fields} header fields or one over {size} bytes"
        return "the request header fields are too large"
    return MESSAGES.get(status) or MESSAGES[400 if status < 500 else 500]


def _describe(exc: BaseException) -> str:
    """``str(exc)``, or its class name when that fails (gunicorn 22's InvalidHTTPVersion)."""
    try:
        return str(exc)
    except Exception:
        return type(exc).__name__


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_response(status: int, message: str) -> bytes:
    """A whole HTTP/1.1 response: the JSON error, the security headers, then close."""
    error = {"error": {"code": CODES.get(status, "error"), "message": message}}
    body = (json.dumps(error, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    headers = {
        "Date": formatdate(usegmt=True),
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "close",
        **HEADERS,
    }
    lines = [f"HTTP/1.1 {status} {_reason(status)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- reading whole requests before a thread takes them ---------------------------------------

# After answering 408 (or refusing a request from the event loop), a connection is read and
# discarded for up to this long, and this much, before it is closed: closing a socket that
# still has bytes to read makes the kernel send a reset, and the client may lose the answer.
LINGER_S = 2.0
LINGER_MAX_BYTES = 64 * 1024
# Bytes read at once from a connection whose request is not whole yet.
RECV_BYTES = 64 * 1024
# Connections closed for being slow are logged together, one line a second at most: a flood of
# them must not flood the log.
SLOW_LOG_EVERY_S = 1.0
# Addresses named in one such line, at most.
SLOW_LOG_ADDRESSES = 3


class Waiting:
    """A connection whose request is not whole yet: its bytes so far, and until when it may
    send the rest. ``lingering``: answered already, read and discarded until closed."""

    __slots__ = ("buf", "conn", "continued", "deadline", "drained", "framer", "lingering")

    def __init__(self, conn, buf: bytes, framer: Framer):
        self.conn = conn
        self.buf = bytearray(buf)
        self.framer = framer
        self.deadline = 0.0
        self.continued = False
        self.lingering = False
        self.drained = 0


class ThreadWorker(gthread.ThreadWorker):
    """gunicorn's gthread worker whose own error responses are JSON, not HTML, and whose
    request threads only ever see whole requests (see the module's docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cfg = self.cfg
        self.limits = Limits.of(cfg, settings.MAX_BODY_BYTES, settings.MAX_PUSH_BYTES)
        # TLS, HTTP/2, the PROXY protocol and uwsgi put other bytes before (or instead of) an
        # HTTP/1 request: those connections take gunicorn's own path. `serve` uses none.
        self.buffering = not (
            cfg.is_ssl
            or getattr(cfg, "proxy_protocol", "off") != "off"
            or getattr(cfg, "protocol", "http") != "http"
            or getattr(cfg, "http2_cleartext", "off") != "off"
            # A folded Content-Length or Transfer-Encoding line would be misread here.
            or getattr(cfg, "permit_obsolete_folding", False)
        )
        self.waiting: dict[object, Waiting] = {}
        self._deadlines: list[tuple[float, int, Waiting]] = []
        self._order = itertools.count()
        self._slow: Counter[str] = Counter()
        self._slow_addresses: set[str] = set()
        self._slow_logged = 0.0

    # -- connections whose request is not whole yet ----------------------------------------

    def enqueue_req(self, conn):
        """Give ``conn`` to a request thread once its next request is whole in memory; until
        then it waits on the event loop. Every path leads here: a new connection, a kept-alive
        one that became readable, a request pipelined behind the previous one."""
        if not self.buffering:
            super().enqueue_req(conn)
            return
        buffered = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        waiting = Waiting(conn, buffered, Framer(self.limits))
        if buffered and self._act(waiting):
            return
        if not self._watch(waiting):
            return
        now = time.monotonic()
        if buffered or conn.initialized:
            # Part of a request, or a kept-alive connection that became readable: its bytes
            # have started to arrive.
            self._set_deadline(waiting, now + settings.REQUEST_READ_TIMEOUT_S)
        else:
            self._set_deadline(
                waiting, now + (self.cfg.keepalive or settings.REQUEST_READ_TIMEOUT_S)
            )
        self._on_readable(waiting)  # what already arrived, without waiting for the next turn

    def _on_readable(self, waiting: Waiting, _fileobj=None) -> None:
        """Take what the client sent; act on it once the request is whole (or refused)."""
        conn = waiting.conn
        try:
            data = conn.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(waiting)
            return
        if waiting.lingering:
            waiting.drained += len(data)
            if not data or waiting.drained > LINGER_MAX_BYTES:
                self._close(waiting)
            return
        if not data:
            if waiting.buf:
                # The client stopped sending: gunicorn answers what it has, or drops it, as it
                # always has; its read of the socket now returns at once.
                self._dispatch(waiting)
            else:
                self._close(waiting)
            return
        if not waiting.buf and not conn.initialized:
            self._set_deadline(waiting, time.monotonic() + settings.REQUEST_READ_TIMEOUT_S)
        waiting.buf += data
        self._act(waiting)

    def _act(self, waiting: Waiting) -> bool:
        """Act on the connection's bytes so far; whether it left the waiting state."""
        try:
            verdict = waiting.framer.check(waiting.buf)
        except Exception:  # a bug here must cost one connection, never the worker's loop
            self.log.exception("Could not tell where a request ends; connection closed")
            self._close(waiting)
            return True
        if verdict.state == READY:
            self._dispatch(waiting)
            return True
        if verdict.state == REFUSE:
            conn = waiting.conn
            addr = conn.client[0] if isinstance(conn.client, tuple) else conn.client
            self.log.warning("Invalid request from ip=%s: %s", addr, verdict.reason)
            message = verdict.message or error_message(verdict.status, self.cfg)
            self._answer(waiting, error_response(verdict.status, message))
            return True
        if verdict.expects_continue and not waiting.continued:
            waiting.continued = True
            with contextlib.suppress(OSError):
                waiting.conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        return False

    def _dispatch(self, waiting: Waiting) -> None:
        """Hand the connection and its bytes to gunicorn's parser, in a request thread."""
        self._forget(waiting)
        conn = waiting.conn
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.initialized = True
        conn.parser.unreader.unread(bytes(waiting.buf))
        waiting.buf = bytearray()  # its deadline entries may outlive it a few seconds
        conn.searchsvc_buffered = True
        conn.searchsvc_continued = waiting.continued
        super().enqueue_req(conn)

    def _answer(self, waiting: Waiting, data: bytes) -> None:
        """Send a short answer from the event loop (it fits the socket's buffer), then read
        and discard what still comes for a moment before closing."""
        conn = waiting.conn
        try:
            conn.sock.send(data)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(waiting)
            return
        if conn not in self.waiting and not self._watch(waiting):
            return
        waiting.lingering = True
        self._set_deadline(waiting, time.monotonic() + LINGER_S)

    def _watch(self, waiting: Waiting) -> bool:
        """Read the connection's bytes on the event loop from now on; False (and closed) when
        its socket cannot be watched any more."""
        conn = waiting.conn
        try:
            conn.sock.setblocking(False)
            self.poller.register(
                conn.sock, selectors.EVENT_READ, partial(self._on_readable, waiting)
            )
        except (OSError, ValueError, KeyError):
            self._close(waiting)
            return False
        self.waiting[conn] = waiting
        return True

    def _set_deadline(self, waiting: Waiting, when: float) -> None:
        waiting.deadline = when
        heapq.heappush(self._deadlines, (when, next(self._order), waiting))

    def _forget(self, waiting: Waiting) -> None:
        """Stop watching the connection (its heap entries are dropped as they come due)."""
        if self.waiting.pop(waiting.conn, None) is not None:
            with contextlib.suppress(OSError, ValueError, KeyError):
                self.poller.unregister(waiting.conn.sock)

    def _close(self, waiting: Waiting) -> None:
        self._forget(waiting)
        self.nr_conns -= 1
        waiting.conn.close()

    def murder_pending(self):
        """gunicorn's expiry of deferred connections, then ours: a connection past its
        deadline is answered 408 if it sent part of a request, closed if it sent nothing."""
        super().murder_pending()
        now = time.monotonic()
        while self._deadlines and self._deadlines[0][0] <= now:
            when, _, waiting = heapq.heappop(self._deadlines)
            if self.waiting.get(waiting.conn) is not waiting or waiting.deadline != when:
                continue  # dispatched, closed, or given a later deadline since
            self._expire(waiting)
        if not self.alive:  # stopping: nothing to wait for on a connection that sent nothing
            for waiting in [w for w in self.waiting.values() if not w.buf]:
                self._close(waiting)
        self._log_slow(now)

    def _expire(self, waiting: Waiting) -> None:
        if waiting.lingering:
            self._close(waiting)
            return
        conn = waiting.conn
        addr = conn.client[0] if isinstance(conn.client, tuple) else str(conn.client)
        if len(self._slow_addresses) < SLOW_LOG_ADDRESSES:
            self._slow_addresses.add(addr)
        if waiting.buf:
            self._slow["partial"] += 1
            self._answer(waiting, error_response(408, MESSAGES[408]))
        else:
            self._slow["silent"] += 1
            self._close(waiting)

    def _log_slow(self, now: float) -> None:
        """One line for the connections closed for slowness since the last one."""
        if not self._slow or now - self._slow_logged < SLOW_LOG_EVERY_S:
            return
        partial_, silent = self._slow["partial"], self._slow["silent"]
        addresses = ", ".join(sorted(self._slow_addresses))
        if partial_:
            self.log.warning(
                "Request timeout: %d connection(s) did not send a whole request within %g s "
                "of its first byte; answered 408 and closed (from %s)",
                partial_,
                settings.REQUEST_READ_TIMEOUT_S,
                addresses,
            )
        if silent:
            self.log.info(
                "Idle timeout: %d new connection(s) sent nothing within %g s; closed (from %s)",
                silent,
                self.cfg.keepalive or settings.REQUEST_READ_TIMEOUT_S,
                addresses,
            )
        self._slow.clear()
        self._slow_addresses.clear()
        self._slow_logged = now

    def wait_for_and_dispatch_events(self, timeout):
        """gunicorn's wait, cut short at the next deadline so that it fires on time."""
        if self._deadlines:
            timeout = min(timeout, max(0.0, self._deadlines[0][0] - time.monotonic()))
        super().wait_for_and_dispatch_events(timeout)

    # -- in the request thread ---------------------------------------------------------------

    def handle_request(self, req, conn):
        """gunicorn's, after two checks on a request read whole beforehand: no second
        "100 Continue", and a chunked body decoded (and checked) before the app runs, so that
        a malformed one is refused once instead of answered, then refused when drained."""
        if getattr(conn, "searchsvc_buffered", False):
            if getattr(conn, "searchsvc_continued", False):
                conn.searchsvc_continued = False
                req._expected_100_continue = False
            if isinstance(getattr(req.body, "reader", None), ChunkedReader):
                data = req.body.read()  # from memory; a parse error goes to handle_error
                req.body = Body(LengthReader(IterUnreader([data]), len(data)))
        return super().handle_request(req, conn)

    def _keepalive_after(self, conn, keepalive):
        """gunicorn's, except that a body found malformed once the answer is sent closes the
        connection: a second answer on it would be read as the answer to the next request."""
        try:
            return super()._keepalive_after(conn, keepalive)
        except http_errors.ParseException as exc:
            addr = conn.client[0] if isinstance(conn.client, tuple) else conn.client
            self.log.warning("Invalid request body from ip=%s: %s", addr, _describe(exc))
            return False

    # -- gunicorn's own errors, in JSON --------------------------------------------------------

    def handle_error(self, req, client, addr, exc):
        """Log ``exc`` as gunicorn does and answer it in JSON; never raises."""
        try:
            self._answer_error(req, client, addr, exc)
        except Exception:
            # Something above failed: gunicorn's own (HTML) answer rather than none.
            with contextlib.suppress(Exception):
                super().handle_error(req, client, addr, exc)

    def _answer_error(self, req, client, addr, exc) -> None:
        addr = addr or ("", -1)  # a unix socket
        status, client_error = classify(exc)
        if client_error:
            self.log.warning("Invalid request from ip=%s: %s", addr[0], _describe(exc))
            if req is None:  # an invalid header: gunicorn attaches the request, for the log
                req = getattr(exc, "req", None)
        elif hasattr(req, "uri"):
            self.log.exception("Error handling request %s %s", getattr(req, "method", ""), req.uri)
        else:
            self.log.exception("Error handling request (no URI read)")
        data = error_response(status, error_message(status, self.cfg))
        if hasattr(req, "headers") and hasattr(req, "uri"):  # a request parsed far enough
            self._log_access(req, client, addr, status, len(data))
        try:
            util.write_nonblock(client, data)
        except Exception:
            self.log.debug("Failed to send error message.")

    def _log_access(self, req, client, addr, status: int, length: int) -> None:
        """The access-log line gunicorn writes for a refused request it could parse."""
        try:
            environ = default_environ(req, client, self.cfg)
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
            resp = Response(req, client, self.cfg)
            resp.status = f"{status} {_reason(status)}"
            resp.response_length = resp.sent = length
            self.log.access(resp, req, environ, timedelta(0))
        except Exception:
            self.log.debug("Failed to log the refused request.")
