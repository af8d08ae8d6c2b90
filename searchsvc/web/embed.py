"""What another site needs to put searchsvc's search box in its own pages: the script
(``/searchbox.js``, ``static/searchbox.js``) and cross-origin access to the JSON API (CORS).

CORS is answered only to the origins listed in ``SEARCHSVC_ALLOWED_ORIGINS`` (or the app's
``ALLOWED_ORIGINS``), on the API's public read endpoints only, never with credentials: a page
of an allowed site may read search results, nothing a cookie or a key would open. Every
answer of those endpoints says ``Vary: Origin``, since it depends on it. A preflight
(``OPTIONS`` with ``Access-Control-Request-Method``) is answered here, before the in-flight
limiter, so that it is never queued or shed behind searches, and may be cached by the
browser for ``CORS_MAX_AGE_S``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, request

from searchsvc.settings import (
    CORS_MAX_AGE_S,
    ORIGIN_PATTERN,
    SEARCHBOX_MAX_AGE_S,
    SEARCHBOX_VERSIONED_MAX_AGE_S,
)
from searchsvc.web.errors import json_error

bp = Blueprint("embed", __name__)

# The endpoints a page of another site may read: searching, completions, documents, the API's
# description. Not /api/stats nor /metrics (behind the admin key), nor the HTML pages.
CORS_ENDPOINTS = frozenset(
    {"api.search", "api.suggest", "api.document", "api.similar", "api.openapi"}
)
ALLOWED_METHODS = "GET, HEAD"
# Request headers a preflight may ask for: the safelisted ones a client library may set
# beyond their safelisted values. Never Authorization (nothing here needs it) nor Cookie.
ALLOWED_HEADERS = "Accept, Accept-Language, Content-Language, Content-Type"
# Response headers a cross-origin page may read besides the safelisted ones: the box retries
# a shed request after the delay the server gives.
EXPOSED_HEADERS = "Retry-After"

SCRIPT = Path(__file__).parent / "static" / "searchbox.js"
_ORIGINS_KEY = "searchsvc.allowed_origins"
_SCRIPT_KEY = "searchsvc.searchbox"


def origins(entries) -> frozenset[str]:
    """The allowed origins, as a browser writes them in ``Origin`` (scheme and host in lower
    case, no trailing slash); ValueError with one line for an entry that is not an origin
    (``*`` included: each site is listed)."""
    if isinstance(entries, str):
        entries = entries.split(",")
    found = set()
    for entry in entries:
        entry = entry.strip().rstrip("/")
        if not entry:
            continue
        if not ORIGIN_PATTERN.fullmatch(entry):
            raise ValueError(
                f"SEARCHSVC_ALLOWED_ORIGINS: {entry!r} is not an origin such as "
                "https://www.example.fr"
            )
        found.add(entry.lower())
    return frozenset(found)


def _allowed(app: Flask) -> frozenset[str]:
    """The app's ``ALLOWED_ORIGINS`` (``create_app`` sets it from SEARCHSVC_ALLOWED_ORIGINS)."""
    return origins(app.config.get("ALLOWED_ORIGINS") or ())


def _preflight() -> Response | None:
    """Answer a CORS preflight to one of :data:`CORS_ENDPOINTS` at once (its headers are
    added by :func:`_add_headers`): 204 for an allowed origin, 403 for another."""
    if request.method != "OPTIONS" or request.endpoint not in CORS_ENDPOINTS:
        return None
    if "Access-Control-Request-Method" not in request.headers:
        return None  # a plain OPTIONS: Flask answers it with Allow
    origin = request.headers.get("Origin", "")
    if origin.lower() not in current_app.extensions[_ORIGINS_KEY]:
        return json_error(
            403, f"the origin {origin[:100]!r} may not call this API (SEARCHSVC_ALLOWED_ORIGINS)"
        )
    return current_app.response_class(status=204)


def _add_headers(response: Response) -> Response:
    """The CORS headers of an answer of :data:`CORS_ENDPOINTS` (errors included: a page must
    read a 503's Retry-After): ``Vary: Origin`` always, the rest for an allowed origin only."""
    if request.endpoint not in CORS_ENDPOINTS:
        return response
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if not origin or origin.lower() not in current_app.extensions[_ORIGINS_KEY]:
        return response
    headers = response.headers
    headers["Access-Control-Allow-Origin"] = origin
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_S)
    else:
        headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return response


@dataclass(frozen=True)
class Script:
    """The search box's script, read once: its bytes and the hash that versions it."""

    body: bytes
    version: str

    @classmethod
    def read(cls, path: Path = SCRIPT) -> Script:
        body = path.read_bytes()
        return cls(body, hashlib.sha256(body).hexdigest()[:16])


@bp.get("/searchbox.js")
def searchbox():
    """The search box a site embeds. Under its plain address it is cached for
    ``SEARCHBOX_MAX_AGE_S`` and revalidated by its ETag (its hash); under ``?v=<hash>``
    (the current one) for a year, unchanged."""
    script: Script = current_app.extensions[_SCRIPT_KEY]
    response = current_app.response_class(script.body, mimetype="text/javascript")
    response.set_etag(script.version)
    pinned = request.args.get("v") == script.version
    response.cache_control.public = True
    response.cache_control.max_age = (
        SEARCHBOX_VERSIONED_MAX_AGE_S if pinned else SEARCHBOX_MAX_AGE_S
    )
    if pinned:
        response.cache_control.immutable = True
    # Sites isolated with Cross-Origin-Embedder-Policy may load it too.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response.make_conditional(request)


def init_app(app: Flask) -> None:
    """Answer CORS on ``app`` and serve the script. Call it before the request limits are
    installed (:func:`searchsvc.web.security.init_app`), so that a preflight is answered
    before a request would wait for a turn."""
    app.extensions[_ORIGINS_KEY] = _allowed(app)
    app.extensions[_SCRIPT_KEY] = Script.read()
    app.before_request(_preflight)
    app.after_request(_add_headers)
    app.register_blueprint(bp)
