"""Limits on what a request may carry, and the security headers every response gets."""

from __future__ import annotations

from flask import Flask, Response, abort, current_app, request

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
    """Install the request limits and response headers on ``app``."""
    app.before_request(_check_size)
    app.after_request(_add_headers)
