"""The HTTP service: a JSON API and a French search page over :class:`SearchEngine`.

``create_app()`` is the application factory gunicorn loads (``searchsvc.web:create_app()``).
Configuration comes from defaults, then the ``SEARCHSVC_*`` environment, then the mapping a
caller (a test, ``searchsvc serve``) passes in.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import orjson
from flask import Flask, Response, current_app
from flask.json.provider import DefaultJSONProvider

from searchsvc.engine.search import SearchEngine
from searchsvc.query.synonyms import Synonyms
from searchsvc.settings import (
    MAX_BODY_BYTES,
    MAX_QUERY_STRING_BYTES,
    Settings,
)

_ENGINE_KEY = "searchsvc.engine"
_engine_lock = threading.Lock()


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON responses through orjson (a tenth of the time of the standard library on a
    page of results), with the output they have always had: keys in their order, non-ASCII text
    as UTF-8, compact, dates as HTTP dates, dataclasses as objects, ``__html__`` objects as
    their HTML. What orjson cannot encode (integers over 64 bits, keys that are not strings),
    and ``dumps`` (templates' ``tojson``, off the request path), stay with the standard library.
    """

    sort_keys = False
    ensure_ascii = False

    def _options(self, indent: bool) -> int | None:
        """orjson's options for this provider's settings, or None when only the standard
        library can honour them (ASCII escapes)."""
        if self.ensure_ascii:
            return None
        options = orjson.OPT_PASSTHROUGH_DATETIME  # dates go to ``default``: HTTP dates
        if self.sort_keys:
            options |= orjson.OPT_SORT_KEYS
        if indent:
            options |= orjson.OPT_INDENT_2
        return options

    def _encode(self, obj: Any, indent: bool) -> bytes:
        options = self._options(indent)
        if options is not None:
            try:
                return orjson.dumps(obj, default=self.default, option=options)
            except (TypeError, orjson.JSONEncodeError):
                pass  # the standard library's answer, or its error
        if indent:
            return super().dumps(obj, indent=2).encode()
        return super().dumps(obj, separators=(",", ":")).encode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON text; what orjson refuses (``NaN``, say) gets the standard library's
        answer, or its error."""
        if not kwargs:
            try:
                return orjson.loads(s)
            except orjson.JSONDecodeError:
                pass
        return json.loads(s, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """A JSON response of the arguments, as :class:`DefaultJSONProvider` makes it
        (indented in debug mode, a final newline), encoded straight to bytes."""
        obj = self._prepare_response_obj(args, kwargs)
        indent = self.compact is False or (self.compact is None and self._app.debug)
        body = self._encode(obj, indent) + b"\n"
        return self._app.response_class(body, mimetype=self.mimetype)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask application (one shared search engine, opened on first use)."""
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    settings = Settings.from_env()
    app.config.from_mapping(
        INDEX_DIR=str(settings.index),
        SYNONYMS=str(settings.synonyms) if settings.synonyms else None,
        PAGE_SIZE=10,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAX_QUERY_STRING_BYTES=MAX_QUERY_STRING_BYTES,
        ANALYTICS=settings.analytics,
        ANALYTICS_DAYS=settings.analytics_days,
        ADMIN_KEY=settings.admin_key,
        SEARCH_KEY=settings.search_key,
        BASE_PATH=settings.base_path,
        LINK_TO_URL=settings.link_to_url,
        PRIVATE_TEXTS=settings.private_texts,
        SITE_NAME=settings.site_name,
        THEME_CSS=settings.theme_css,
        FRAME_ANCESTORS=settings.frame_ancestors,
        ALLOWED_ORIGINS=settings.allowed_origins,
        TRUSTED_PROXIES=settings.trusted_proxies,
        DEBUG=False,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)
        if app.testing and "ANALYTICS" not in test_config:
            # A test app records searches only when asked: the shared test indexes are
            # read-only for tests.
            app.config["ANALYTICS"] = False

    from searchsvc.web import admin, api, converters, errors, metrics, pages, security, site

    converters.init_app(app)  # before any route that uses <path:...> is registered
    metrics.init_app(app)  # first: its hook times the requests the others refuse
    from searchsvc.web import embed

    embed.init_app(app)  # CORS: a preflight is answered before the request limits
    # Werkzeug's router answers ``//`` in a path, or a missing trailing slash, with a redirect
    # to an absolute address built from the request's Host header: whoever sends
    # ``Host: evil.example`` gets a link there. No route needs either, so an address that is
    # not exactly a route's is a plain 404 instead.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    security.init_app(app)
    errors.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(api.health)
    app.register_blueprint(pages.bp)
    admin.init_app(app)
    from searchsvc.web import documents

    documents.init_app(app)  # the write side: pushed documents and their tasks
    site.init_app(app)  # the path prefix, the site's name and stylesheet
    return app


def get_engine() -> SearchEngine:
    """The application's search engine; thread-safe and shared by every request."""
    app = current_app
    engine = app.extensions.get(_ENGINE_KEY)
    if engine is None:
        with _engine_lock:
            engine = app.extensions.get(_ENGINE_KEY)
            if engine is None:
                # A bad synonyms file is logged and searched without (searchsvc serve
                # refuses to start on one); a fixed file is picked up at once.
                path = app.config.get("SYNONYMS")
                synonyms = Synonyms(path) if path else None
                engine = app.extensions[_ENGINE_KEY] = SearchEngine(
                    app.config["INDEX_DIR"], synonyms=synonyms
                )
    return engine
