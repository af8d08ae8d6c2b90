"""The gunicorn worker ``searchsvc serve`` runs: gthread, with gunicorn's own errors in JSON.

gunicorn refuses some requests before the app sees them: a request line over
``limit_request_line`` (414), too many or too large header fields (431), a malformed request
(400). Those limits stay, since they bound what a worker buffers, but gunicorn answers them
with an HTML page; :class:`ThreadWorker` answers them in the API's one error shape
``{"error": {"code": ..., "message": ...}}``, with the headers every app response carries.
The status of each gunicorn exception mirrors gunicorn's ``Worker.handle_error``.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from datetime import timedelta
from email.utils import formatdate
from http import HTTPStatus

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers import gthread

from searchsvc.web.errors import CODES, MESSAGES
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
    code = CODES.get(status, "error")
    error = {"error": {"code": code, "message": message}}
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


class ThreadWorker(gthread.ThreadWorker):
    """gunicorn's gthread worker whose own error responses are JSON, not HTML."""

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
