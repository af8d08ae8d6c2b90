"""The HTTP service: a JSON API and a French search page over :class:`SearchEngine`.

``create_app()`` is the application factory gunicorn loads (``searchsvc.web:create_app()``).
Configuration comes from defaults, then the ``SEARCHSVC_*`` environment, then the mapping a
caller (a test, ``searchsvc serve``) passes in.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

from searchsvc.config import Settings
from searchsvc.search import SearchEngine

# What gunicorn reads of a request before the app sees it (see searchsvc.serve): its worker
# answers a longer request line with 414, more or longer header fields with 431, in the API's
# JSON error shape (searchsvc.web.worker).
MAX_REQUEST_LINE_BYTES = 8190
MAX_HEADER_FIELDS = 50
MAX_HEADER_FIELD_BYTES = 8190
# A query string longer than this is refused (414) by the app before any parsing; it is below
# MAX_REQUEST_LINE_BYTES, so the app's message names the query string.
MAX_QUERY_STRING_BYTES = 8000
# No endpoint reads a body; anything larger than this is refused (413).
MAX_BODY_BYTES = 16 * 1024

_ENGINE_KEY = "searchsvc.engine"
_engine_lock = threading.Lock()


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask application (one shared search engine, opened on first use)."""
    app = Flask(__name__)
    settings = Settings.from_env()
    app.config.from_mapping(
        INDEX_DIR=str(settings.index),
        PAGE_SIZE=10,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAX_QUERY_STRING_BYTES=MAX_QUERY_STRING_BYTES,
        DEBUG=False,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)
    app.json.sort_keys = False
    app.json.ensure_ascii = False

    from searchsvc.web import api, converters, errors, pages, security

    converters.init_app(app)  # before any route that uses <path:...> is registered
    security.init_app(app)
    errors.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(api.health)
    app.register_blueprint(pages.bp)
    return app


def get_engine() -> SearchEngine:
    """The application's search engine; thread-safe and shared by every request."""
    app = current_app
    engine = app.extensions.get(_ENGINE_KEY)
    if engine is None:
        with _engine_lock:
            engine = app.extensions.get(_ENGINE_KEY)
            if engine is None:
                engine = app.extensions[_ENGINE_KEY] = SearchEngine(app.config["INDEX_DIR"])
    return engine
