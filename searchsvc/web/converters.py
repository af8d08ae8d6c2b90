"""URL converters of the app: document ids may hold any character, newlines included.

Werkzeug's ``path`` converter stops at a newline (its regex is ``[^/].*?`` without
``re.DOTALL``), so a document whose file name holds one (``new\\nline.txt``) was found by
searches but its ``/doc/new%0Aline`` link answered 404. :func:`init_app` replaces ``path`` with
:class:`AnyPathConverter` for the app's own routes.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import PathConverter


class AnyPathConverter(PathConverter):
    """Werkzeug's ``path`` (one character or more, slashes included, not starting with one)
    that also matches newlines."""

    regex = r"[^/][\s\S]*?"


def init_app(app: Flask) -> None:
    """Make ``<path:...>`` in every route registered from now on match newlines too."""
    app.url_map.converters["path"] = AnyPathConverter
