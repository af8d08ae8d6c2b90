"""The admin key, and search analytics on the web: each search answered is recorded
(:func:`note_search`), and ``GET /api/stats`` reports them to whoever holds the key.

The key is ``SEARCHSVC_ADMIN_KEY``, sent as ``Authorization: Bearer <key>`` and compared in
constant time. It is never logged: the access log leaves out the ``Authorization`` header
(see :mod:`searchsvc.web.serve`), and no message repeats it. With no key set, the stats are
off (403, saying how to turn them on): the queries people type are theirs, and nobody may read
them by default.
"""

from __future__ import annotations

import hmac
import sqlite3
import time

from flask import Blueprint, Flask, Response, current_app, request

from searchsvc.analytics import AnalyticsStore, Recorder, Search, analytics_path, parse_since
from searchsvc.engine.results import SearchResult
from searchsvc.web.errors import json_error
from searchsvc.web.security import WARM_UP_ENVIRON

bp = Blueprint("admin", __name__, url_prefix="/api")

_RECORDER_KEY = "searchsvc.analytics"
# The kind of search each endpoint records.
KIND_OF = {"api.search": "api", "pages.search_page": "page", "pages.instant": "instant"}
# What the 403 of a server without a key says.
NO_KEY = (
    "search statistics are off on this server: set SEARCHSVC_ADMIN_KEY (16 characters or more) "
    "where it runs, then send it as 'Authorization: Bearer <key>'"
)
WRONG_KEY = "this needs the admin key, sent as 'Authorization: Bearer <key>'"


def init_app(app: Flask) -> None:
    """Record searches into the store beside the index unless ``ANALYTICS`` is false, and
    serve ``/api/stats``. The recorder is made here, in the process that serves (a gunicorn
    worker makes its own)."""
    if app.config["ANALYTICS"]:
        store = AnalyticsStore(
            analytics_path(app.config["INDEX_DIR"]), app.config["ANALYTICS_DAYS"]
        )
        app.extensions[_RECORDER_KEY] = Recorder(store, on_error=app.logger.warning)
    app.register_blueprint(bp)
    if app.config.get("SEARCH_KEY"):
        app.before_request(_search_key_gate(app.config["SEARCH_KEY"], app.config.get("ADMIN_KEY")))


# What answers without the search key when one is set: the health check (balancers probe it),
# the static files and the search box's script (no index data), the API's description, and
# what the admin key guards on its own (the stats, the metrics, the document writes).
OPEN_WITH_SEARCH_KEY = frozenset(
    {"health.healthz", "static", "theme", "embed.searchbox", "api.openapi", "metrics.metrics"}
)
OPEN_BLUEPRINTS = frozenset({"admin", "documents"})
NO_SEARCH_KEY = "this server's searches need its search key, sent as 'Authorization: Bearer <key>'"


def _search_key_gate(search_key: str, admin_key: str | None):
    """The hook that makes every read (the API's searches and documents, the pages) need the
    search key (or the admin key) in ``Authorization: Bearer``: 401 JSON for the API, a French
    page for people. The pages get the header from the proxy in front of them, which knows
    who may read (docs/api.md, "Pushing documents")."""
    from searchsvc.web.errors import error_page, wants_json

    def gate():
        endpoint = request.endpoint
        if (
            endpoint is None  # a 404 tells nothing about the index
            or endpoint in OPEN_WITH_SEARCH_KEY
            or request.blueprint in OPEN_BLUEPRINTS
            or request.method == "OPTIONS"  # a CORS preflight carries no credentials
            or carries_key(search_key)
            or carries_key(admin_key)
        ):
            return None
        if wants_json():
            return unauthorized(NO_SEARCH_KEY)
        response = current_app.make_response(error_page(401))
        response.headers["WWW-Authenticate"] = 'Bearer realm="searchsvc"'
        return response

    return gate


def recorder(app: Flask) -> Recorder | None:
    """The app's analytics recorder, or None when analytics are off."""
    return app.extensions.get(_RECORDER_KEY)


def close_analytics(app: Flask) -> None:
    """Write the searches still waiting and stop recording (a worker about to exit)."""
    rec = recorder(app)
    if rec is not None:
        rec.close()


def note_search(q: str, result: SearchResult, typing: bool = False) -> None:
    """Record the search this request made (nothing when analytics are off, for an empty
    query, or for the requests a worker makes to itself as it warms up). Never the client's
    address."""
    rec = current_app.extensions.get(_RECORDER_KEY)
    if rec is None or WARM_UP_ENVIRON in request.environ or not q.strip():
        return
    rec.record(
        Search(
            at=time.time(),
            kind=KIND_OF.get(request.endpoint or "", "api"),
            query=q,
            understood=result.understood,
            results=result.total,
            page=result.page,
            took_ms=result.took_ms,
            suggestion=result.suggestion,
            typing=typing,
        )
    )


def carries_key(key: str | None) -> bool:
    """Whether this request's ``Authorization: Bearer`` header holds ``key``, compared in
    constant time (a timing difference would tell an attacker how much of a guess is right).
    The one check of every key (admin, search); False when ``key`` is unset."""
    if not key:
        return False
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode("utf-8", "surrogateescape"), key.encode()
    )


def unauthorized(message: str = WRONG_KEY) -> Response:
    """The 401 of a request without the key it needs (never echoing what it sent)."""
    response = json_error(401, message, "unauthorized")
    response.headers["WWW-Authenticate"] = 'Bearer realm="searchsvc"'
    return response


def refuse_unless_admin(required: bool = True, no_key: str = NO_KEY) -> Response | None:
    """None when this request may go on, else the error to answer: 403 saying ``no_key`` (how
    to set a key) when no key is set and ``required`` (with none set and not required, anyone
    may), 401 when the request does not carry the key."""
    key: str | None = current_app.config.get("ADMIN_KEY")
    if not key:
        return json_error(403, no_key, "forbidden") if required else None
    return None if carries_key(key) else unauthorized()


@bp.get("/stats")
def stats():
    """What people searched for (see :meth:`AnalyticsStore.stats`), from ``since`` (a day
    such as 2026-12-01, or 7d, 12h); admin key required."""
    refused = refuse_unless_admin()
    if refused is not None:
        return refused
    since = request.args.get("since", "")
    start = parse_since(since) if since.strip() else None  # QueryError: a 400
    rec = recorder(current_app)
    if rec is not None:
        rec.flush()  # this worker's searches of the last second; the other's within a second
    store = AnalyticsStore(
        analytics_path(current_app.config["INDEX_DIR"]), current_app.config["ANALYTICS_DAYS"]
    )
    try:
        body = store.stats(start)
    except sqlite3.Error as e:
        current_app.logger.warning("search analytics cannot be read: %s", e)
        return json_error(
            503, "search analytics cannot be read; the server log says why", "analytics_unavailable"
        )
    finally:
        store.close()
    body["recording"] = rec is not None
    return body, 200, {"Cache-Control": "no-store"}
