"""Requests gunicorn refuses before the app sees them (an over-long request line, too many or
too large header fields, a malformed request) are answered in the API's JSON error shape."""

from __future__ import annotations

import json
import socket
from unittest import mock

import pytest
from gunicorn.config import Config
from gunicorn.http import errors as http_errors
from gunicorn.workers.base import Worker
from jsonschema import Draft202012Validator
from web.conftest import gunicorn_server  # noqa: F401 - the fixture, shared with tests/web
from web.test_hostile import raw_exchange

from searchsvc.web.openapi import build_spec
from searchsvc.web.security import HEADERS
from searchsvc.web.worker import ThreadWorker, classify

SPEC = build_spec()


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of a raw HTTP/1.1 response."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ", 2)[1]), headers, body


def assert_json_error(answer: bytes, status: int, code: str) -> None:
    """``answer`` is a JSON error of the project's one shape, closing the connection."""
    got, headers, body = parse(answer)
    assert got == status, answer[:300]
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    for name, value in HEADERS.items():
        assert headers[name.lower()] == value
    assert "server" not in headers
    data = json.loads(body)
    assert list(data) == ["error"] and sorted(data["error"]) == ["code", "message"]
    assert data["error"]["code"] == code
    assert isinstance(data["error"]["message"], str) and data["error"]["message"]
    # The API description lists the status, and the body matches the schema it gives.
    response = SPEC["paths"]["/api/search"]["get"]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": SPEC["components"]}).validate(data)


GOOD = b"GET /api/search?q=z%C3%A8bre HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
REFUSED = [
    pytest.param(
        b"GET /api/search?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        414,
        "uri_too_long",
        id="request-line-9000-bytes",
    ),
    pytest.param(
        b"GET /api/search?q=x HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-Header-%d: v\r\n" % i for i in range(60))
        + b"\r\n",
        431,
        "request_header_fields_too_large",
        id="60-headers",
    ),
    pytest.param(
        b"GET /api/search?q=x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 9000 + b"\r\n\r\n",
        431,
        "request_header_fields_too_large",
        id="header-9000-bytes",
    ),
    pytest.param(b"GARBAGE\r\n\r\n", 400, "bad_request", id="malformed-request-line"),
    pytest.param(b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request", id="bad-version"),
    pytest.param(b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n", 400, "bad_request", id="bad-header"),
]


@pytest.mark.slow
def test_gunicorn_refusals_are_json_and_the_server_keeps_serving(
    gunicorn_server,  # noqa: F811 - the fixture imported above
    tiny_index,
    tmp_path,
):
    url = gunicorn_server(tiny_index)
    port = int(url.rsplit(":", 1)[1])
    for param in REFUSED:
        request, status, code = param.values
        assert_json_error(raw_exchange(port, request), status, code)
        # Refused at once, without harm: the next request is served as usual.
        got, _, body = parse(raw_exchange(port, GOOD))
        assert got == 200 and json.loads(body)["total"] == 2, param.id
    log = (tmp_path / f"serve-{port}.log").read_text(errors="replace")
    assert "Traceback" not in log
    assert "Invalid request from ip=127.0.0.1" in log  # logged as gunicorn does


# -- the status of each gunicorn exception, against gunicorn's own handle_error --------------


def _gunicorn_errors() -> list[BaseException]:
    """An instance of every exception gunicorn's parser may raise, and an app bug."""
    made: list[BaseException] = []
    for name in dir(http_errors):
        cls = getattr(http_errors, name)
        if not (isinstance(cls, type) and issubclass(cls, Exception)) or cls is Exception:
            continue
        if name in ("NoMoreData", "ParseException"):  # never reach handle_error
            continue
        for args in (("x",), (), ("x", "x")):  # whatever its version's constructor takes
            try:
                made.append(cls(*args))
                break
            except TypeError:
                continue
    return [*made, ValueError("an app bug")]


def _answer(handle_error, exc: BaseException) -> bytes:
    """What ``handle_error`` writes to the client for ``exc``."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        handle_error(None, ours, ("127.0.0.1", 1234), exc)
        ours.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := theirs.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def worker():
    """Our worker, built as gunicorn's arbiter does (not started), logging to a mock."""
    cfg = Config()
    made = ThreadWorker(0, 0, [], None, 30, cfg, mock.Mock())
    yield made
    made.tmp.close()


@pytest.mark.parametrize("exc", _gunicorn_errors(), ids=lambda e: type(e).__name__)
def test_each_gunicorn_error_gets_gunicorn_status_in_json(worker, exc):
    gunicorn_status = parse(_answer(lambda *a: Worker.handle_error(worker, *a), exc))[0]
    expected, client_error = classify(exc)
    status, headers, body = parse(_answer(worker.handle_error, exc))
    assert status == expected
    if status != gunicorn_status:
        if isinstance(exc, http_errors.LimitRequestLine):
            assert (gunicorn_status, status) == (400, 414)  # 414 as gunicorn >= 23 says
        else:
            # A client's error gunicorn's list misses (InvalidProxyHeader; the chunk and
            # transfer-coding errors before gunicorn 23) is a 500 for gunicorn, never for us.
            assert gunicorn_status == 500 and client_error and status != 500
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"]


def test_handle_error_never_raises(worker, monkeypatch):
    def boom(*args):
        raise RuntimeError("no")

    monkeypatch.setattr("searchsvc.web.worker.error_response", boom)
    exc = http_errors.LimitRequestLine(9000, 8190)
    status, headers, _ = parse(_answer(worker.handle_error, exc))
    assert status in (400, 414) and headers["content-type"] == "text/html"  # gunicorn's own
    closed, other = socket.socketpair()
    closed.close()
    other.close()
    worker.handle_error(None, closed, None, exc)  # a client gone: nothing raised
