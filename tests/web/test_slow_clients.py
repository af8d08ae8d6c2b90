"""Clients that send their request slowly (slowloris) hold no request thread: a worker reads
each request whole on its event loop before a thread takes it, answers 408 to a connection
that has not completed its request within REQUEST_READ_TIMEOUT_S of its first byte, and
closes one that sends nothing. A GET or HEAD with a body is refused once, never answered
twice."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from gunicorn.config import Config
from test_scale_out import NGINX, Machines, start_nginx

from searchsvc import settings
from searchsvc.testing import HOST, Server, start_server
from searchsvc.web import serve
from searchsvc.web.framing import READY, REFUSE, WAIT, Framer, Limits
from searchsvc.web.serve import THREADS
from searchsvc.web.worker import ThreadWorker

# More trickling connections of each kind than a worker has request threads.
CONNECTIONS = 120
# Seconds between two pieces a trickling client sends.
TICK_S = 0.2
# What may be added to a deadline before a connection counts as not closed in time (a busy
# machine runs the event loop late).
SLACK_S = 4.0
# Generous: before, these requests waited until the trickling clients gave up (15 s or more).
PROMPT_S = 4.0
SEARCH = "/api/search?q=z%C3%A8bre"
STATUS_LINE = re.compile(rb"(?:^|\n)HTTP/1\.[01] (\d{3}) ")


def _line_byte_by_byte(tick: int) -> bytes:
    """The request line, one byte a tick (it would take 6 s), then nothing."""
    return b"GET /api/search?q=x HTTP/1.1\r\n"[tick : tick + 1]


def _headers_every_second(tick: int) -> bytes:
    """A request line, then one header field a second, for ever."""
    if tick == 0:
        return b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    return b"X-Slow-%d: a\r\n" % tick if tick % 5 == 0 else b""


def _body_byte_by_byte(tick: int) -> bytes:
    """A whole head announcing a 1,000-byte body, then the body one byte a tick."""
    if tick == 0:
        return b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    return b"a"


def _nothing(tick: int) -> bytes:
    return b""


KINDS = {
    "request line byte by byte": _line_byte_by_byte,
    "a header every second": _headers_every_second,
    "POST body byte by byte": _body_byte_by_byte,
    "nothing": _nothing,
}


class Trickler:
    """Connections that each send their kind's bytes on a schedule, from one thread, and
    record what the server answered and when it closed them."""

    def __init__(self, port: int, kinds: dict[str, object], count: int):
        self.conns = []
        for kind, schedule in kinds.items():
            for _ in range(count):
                sock = socket.create_connection((HOST, port), timeout=10)
                sock.setblocking(False)
                self.conns.append(
                    {
                        "kind": kind,
                        "schedule": schedule,
                        "sock": sock,
                        "first": None,
                        "closed": None,
                        "answer": b"",
                    }
                )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        tick = 0
        while not self.stop.is_set() and any(c["closed"] is None for c in self.conns):
            for conn in self.conns:
                if conn["closed"] is None:
                    self._step(conn, tick)
            tick += 1
            # Ticks on a fixed schedule, however long a round took.
            self.stop.wait(max(0.0, started + tick * TICK_S - time.monotonic()))

    def _step(self, conn, tick: int) -> None:
        sock = conn["sock"]
        try:
            while data := sock.recv(65536):
                conn["answer"] += data
            conn["closed"] = time.monotonic()  # end of stream
            sock.close()
            return
        except BlockingIOError:
            pass
        except OSError:
            conn["closed"] = time.monotonic()  # reset
            sock.close()
            return
        if conn["answer"]:
            return  # answered: wait for the close without sending more
        piece = conn["schedule"](tick)
        if not piece:
            return
        try:
            sock.send(piece)
        except OSError:
            conn["closed"] = time.monotonic()
            sock.close()
            return
        if conn["first"] is None:
            conn["first"] = time.monotonic()

    def __enter__(self) -> Trickler:
        self.opened = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        for conn in self.conns:
            conn["sock"].close()

    def wait_closed(self, timeout: float) -> None:
        self.thread.join(timeout=timeout)


def get(port: int, path: str, timeout: float = 20) -> tuple[int, float]:
    """(status, seconds) of one GET on a new connection."""
    started = time.monotonic()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        conn.close()


def exchange(port: int, data: bytes, wait: float = 3.0) -> bytes:
    """Send ``data`` on a new connection; everything received until the server closes it
    (or ``wait`` seconds pass without a byte)."""
    with socket.create_connection((HOST, port), timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            chunks.append(b"<still open>")
    return b"".join(chunks)


def statuses(answer: bytes) -> list[int]:
    """The status of each response in a raw stream (no body here holds a status line)."""
    return [int(status) for status in STATUS_LINE.findall(answer)]


def error_code(answer: bytes) -> str:
    body = answer.partition(b"\r\n\r\n")[2]
    return json.loads(body)["error"]["code"]


@pytest.fixture(scope="module")
def server(tiny_index, tmp_path_factory) -> Iterator[Server]:
    """One worker (so its THREADS request threads are all there is), as `serve` runs it."""
    log = tmp_path_factory.mktemp("slow") / "serve.log"
    with start_server(tiny_index, log, workers=1, timeout=60) as started:
        yield started


def log_text(server: Server) -> str:
    return Path(server.log_path).read_text(errors="replace")


# -- many slow clients at once ---------------------------------------------------------------


@pytest.mark.slow
def test_trickling_clients_hold_no_request_thread(server):
    assert CONNECTIONS > THREADS
    with Trickler(server.port, KINDS, CONNECTIONS) as trickler:
        time.sleep(1.5)  # every connection open, the trickling ones well under way
        for _ in range(3):
            for path in ("/healthz", SEARCH):
                status, seconds = get(server.port, path)
                assert status == 200, path
                assert seconds < PROMPT_S, (path, seconds)
            time.sleep(0.5)
        trickler.wait_closed(settings.REQUEST_READ_TIMEOUT_S + 2 * SLACK_S + 5)
        conns = trickler.conns

    for kind in KINDS:
        mine = [c for c in conns if c["kind"] == kind]
        assert all(c["closed"] is not None for c in mine), f"{kind}: left open"
        if kind == "nothing":
            # Closed without a word after the keep-alive time (serve's 5 s).
            assert all(c["answer"] == b"" for c in mine)
            assert max(c["closed"] - trickler.opened for c in mine) < 5 + SLACK_S
            continue
        for conn in mine:
            assert statuses(conn["answer"]) == [408], (kind, conn["answer"][:200])
            assert error_code(conn["answer"]) == "request_timeout"
            assert b"Connection: close" in conn["answer"]
            late = conn["closed"] - conn["first"]
            assert late < settings.REQUEST_READ_TIMEOUT_S + SLACK_S, (kind, late)

    # Logged together (one line a second at most), not one line per connection.
    # Both lines are awaited: the 408s may come within the second after the idle line, and
    # then their line waits for the next second.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = log_text(server)
        if "Idle timeout: " in log and "Request timeout: " in log:
            break
        time.sleep(0.2)
    assert "Request timeout: " in log and "answered 408" in log
    assert "Idle timeout: " in log
    assert log.count("Request timeout: ") < 3 * CONNECTIONS / 2
    assert "Traceback" not in log
    # And the server serves as before.
    assert get(server.port, SEARCH)[0] == 200


# -- one client at a time --------------------------------------------------------------------


@pytest.mark.slow
def test_a_request_sent_slowly_within_the_deadline_is_served(server):
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        for piece in (b"GET /healthz HT", b"TP/1.1\r\nHost: x\r\n", b"Connection: close\r\n\r\n"):
            sock.sendall(piece)
            time.sleep(0.7)
        answer = sock.makefile("rb").read()
    assert statuses(answer) == [200]


@pytest.mark.slow
def test_pipelined_and_kept_alive_requests_are_all_answered(server):
    one = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        # Two requests in one send, and a third split across sends mid-head.
        sock.sendall(one + one + one[:10])
        time.sleep(0.3)
        sock.sendall(one[10:])
        time.sleep(0.5)
        # The same connection, kept alive, a moment later.
        sock.sendall(
            b"GET " + SEARCH.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        answer = sock.makefile("rb").read()
    assert statuses(answer) == [200, 200, 200, 200]


@pytest.mark.slow
def test_a_body_within_the_limit_reaches_the_app(server):
    body = b"q=z%C3%A8bre&" + b"a" * 1000
    head = b"POST /api/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    head += b"Content-Type: application/x-www-form-urlencoded\r\n"
    # The app has no POST endpoint: its 405 in JSON shows that the request was read whole.
    answer = exchange(server.port, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert statuses(answer) == [405] and error_code(answer) == "method_not_allowed"
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    answer = exchange(server.port, head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    assert statuses(answer) == [405]
    # A client that waits for "100 Continue" before its body gets it.
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        sock.sendall(head + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        answer = sock.makefile("rb").read()
    assert statuses(answer) == [405]  # and no second "100 Continue"


@pytest.mark.slow
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_over_the_limit_gets_413_at_once_even_if_it_then_trickles(server, framing):
    big = settings.MAX_BODY_BYTES * 4
    head = b"POST /api/search HTTP/1.1\r\nHost: x\r\n"
    if framing == "chunked":
        head += b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % big
    else:
        head += b"Content-Length: %d\r\n\r\n" % big
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(head + b"a")
        answer = b""
        while b"\r\n\r\n" not in answer:  # the client trickles, the answer comes anyway
            sock.settimeout(TICK_S)
            try:
                answer += sock.recv(65536)
            except TimeoutError:
                sock.sendall(b"a")
        seconds = time.monotonic() - started
    assert statuses(answer) == [413], answer[:200]
    assert seconds < PROMPT_S


@pytest.mark.slow
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", id="chunked"),
        pytest.param(b"Transfer-Encoding: chunked\r\n\r\nhello world\r\n\r\n", id="bad-chunks"),
        pytest.param(b"Content-Length: 5\r\n\r\nhello", id="content-length"),
    ],
)
@pytest.mark.parametrize("method", [b"GET", b"HEAD"])
def test_a_get_with_a_body_is_refused_once_and_the_connection_closed(server, method, body):
    request = method + b" /healthz HTTP/1.1\r\nHost: x\r\n" + body
    # A request pipelined behind it is not answered: the connection is closed.
    answer = exchange(server.port, request + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert statuses(answer) == [400], answer[:300]
    assert b"<still open>" not in answer and b"Connection: close" in answer
    if method == b"GET":
        assert error_code(answer) == "bad_request"


@pytest.mark.slow
def test_a_malformed_chunked_body_is_refused_once(server):
    head = b"POST /api/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    for body in (
        b"hello world\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
        b"5;a=\x01\r\nhello\r\n0\r\n\r\n",
    ):
        answer = exchange(server.port, head + body + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert statuses(answer) == [400], (body, answer[:300])
        assert b"<still open>" not in answer


@pytest.mark.slow
def test_gunicorn_refusals_still_come_from_the_buffered_bytes(server):
    # A request line or header section over gunicorn's limits, even trickled, is refused at
    # once instead of being read in full.
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        sock.sendall(b"GET /" + b"a" * (settings.MAX_REQUEST_LINE_BYTES + 10))
        answer = sock.makefile("rb").read()
    assert statuses(answer) == [414] and error_code(answer) == "uri_too_long"
    answer = exchange(server.port, b"GET / HTTP/1.1\nHost: x\n\n")
    assert statuses(answer) == [400]
    answer = exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n")
    assert statuses(answer) == [417]


# -- nginx in front (deploy/nginx.conf, as tests/test_scale_out.py runs it) ------------------


@pytest.mark.slow
def test_nginx_in_front_closes_trickling_clients_and_keeps_serving(tiny_index, tmp_path):
    if not NGINX.exists():
        pytest.skip(f"{NGINX} is missing (apt-get install nginx-light)")
    if os.geteuid() != 0:
        pytest.skip("nginx runs as root here (see tests/test_scale_out.py)")
    header_kinds = {k: KINDS[k] for k in ("request line byte by byte", "a header every second")}
    with start_server(tiny_index, tmp_path / "serve.log", workers=1) as server:
        machines = Machines(tmp_path)
        try:
            url, _ = start_nginx(machines, [f"{HOST}:{server.port}"] * 2)
            port = int(url.rsplit(":", 1)[1])
            with (
                Trickler(port, {**header_kinds, "nothing": _nothing}, 40) as heads,
                Trickler(port, {"POST body byte by byte": _body_byte_by_byte}, 20) as bodies,
            ):
                time.sleep(1.5)
                for path in ("/healthz", SEARCH):
                    status, seconds = get(port, path)
                    assert status == 200 and seconds < PROMPT_S, (path, status, seconds)
                # nginx's client_header_timeout (5 s from the connection's start) closes them.
                heads.wait_closed(5 + 2 * SLACK_S)
                assert all(c["closed"] is not None for c in heads.conns)
                assert max(c["closed"] - heads.opened for c in heads.conns) < 5 + SLACK_S
                # The trickled bodies stay with nginx, which forwards whole requests only.
                assert get(port, SEARCH)[0] == 200
                assert all(c["closed"] is None for c in bodies.conns)
            # Beyond 32 requests in progress from one address, nginx answers 429 in JSON.
            with Trickler(port, {"POST body byte by byte": _body_byte_by_byte}, 32):
                time.sleep(1.0)
                # Connection: close, or nginx's 5 s keep-alive races exchange's 5 s wait.
                request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                answer = exchange(port, request, wait=5)
                assert statuses(answer) == [429] and error_code(answer) == "too_many_requests"
            # searchsvc saw none of the slow clients.
            log = log_text(server)
            assert "Request timeout: " not in log and "POST" not in log
        finally:
            machines.close()


# -- the framing, without a server -----------------------------------------------------------

LIMITS = Limits(line=100, field=50, head=1000, body=200)


def verdicts(data: bytes, step: int = 1) -> list[str]:
    """The framer's verdict after each ``step`` bytes of ``data`` (as they would arrive)."""
    framer, buf, out = Framer(LIMITS), bytearray(), []
    for i in range(0, len(data), step):
        buf += data[i : i + step]
        out.append(framer.check(buf).state)
    return out


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\nT: v\r\n\r\n",
    ],
)
def test_the_framer_waits_for_the_whole_request_and_no_more(request_bytes):
    for step in (1, 3, len(request_bytes)):
        got = verdicts(request_bytes, step)
        assert got[-1] == READY, step
        assert set(got[:-1]) <= {WAIT}, step


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 200, 414),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 300, 431),
        (b"POST / HTTP/1.1\r\nContent-Length: 201\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nc9\r\n", 413),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1\r\na\r\n" * 201, 413),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 1\r\n\r\n", 400),
        (b"HEAD / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ],
)
def test_the_framer_refuses_what_is_over_the_limits_at_once(request_bytes, status):
    verdict = Framer(LIMITS).check(request_bytes)
    assert (verdict.state, verdict.status) == (REFUSE, status)


@pytest.mark.parametrize("method", [b"GET", b"HEAD"])
def test_a_get_with_a_body_on_the_documents_collection_reaches_the_app(method):
    # /api/documents answers POST only: the app's 405 (with Allow) is the exact answer, so the
    # framer reads the body whole and hands the request over instead of refusing it.
    request = method + b" /base/api/documents?x=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n"
    framer = Framer(LIMITS)
    assert framer.check(request).state == WAIT
    assert framer.check(request + b"{}").state == READY
    document = method + b" /api/documents/a HTTP/1.1\r\nContent-Length: 2\r\n\r\n"
    assert (Framer(LIMITS).check(document).state, Framer(LIMITS).check(document).status) == (
        REFUSE,
        400,
    )


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.1\nHost",  # a bare LF
        b"GET / HTTP/1.1\r\nHost: x\nX",
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"POST / HTTP/1.1\r\nExpect: magic\r\nContent-Length: 3\r\n\r\n",
    ],
)
def test_the_framer_hands_over_what_gunicorn_refuses_without_reading_more(request_bytes):
    # gunicorn's parser answers these from the bytes it has (400, 417): no thread waits.
    assert Framer(LIMITS).check(request_bytes).state == READY


def test_the_limits_are_gunicorns_own_as_serve_sets_them():
    cfg = serve.Service(serve.options(HOST, 8000, 1), {"INDEX_DIR": "/nowhere"}).cfg
    limits = Limits.of(cfg, settings.MAX_BODY_BYTES)
    assert limits.line == settings.MAX_REQUEST_LINE_BYTES
    assert limits.field == settings.MAX_HEADER_FIELD_BYTES
    fields = settings.MAX_HEADER_FIELDS * (settings.MAX_HEADER_FIELD_BYTES + 2) + 4
    assert limits.head == 2 + settings.MAX_REQUEST_LINE_BYTES + 2 + fields
    assert limits.body == settings.MAX_BODY_BYTES
    assert cfg.worker_connections == settings.MAX_CONNECTIONS_PER_WORKER


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (None, None),
        ("keyfile", "/dev/null"),  # TLS
        ("http2_cleartext", "both"),
        ("proxy_protocol", "v1"),
        ("permit_obsolete_folding", True),
    ],
)
def test_tls_http2_and_proxy_protocol_keep_gunicorns_own_path(name, value):
    cfg = Config()
    if name:
        cfg.set(name, value)
    worker = ThreadWorker(0, 0, [], None, 30, cfg, mock.Mock())
    try:
        assert worker.buffering is (name is None)
    finally:
        worker.tmp.close()
