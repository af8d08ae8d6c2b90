"""Living inside a site (docs/site.md, "Behind your nginx"): the path prefix the pages are served
under, and what a site sets of the page itself (its name, a stylesheet for its colours).

The prefix is the WSGI ``SCRIPT_NAME``, from which Flask's ``url_for`` builds every address
the pages, the instant search and the API give: so links, forms, static files and the page's
own requests all carry it. It comes from ``SEARCHSVC_BASE_PATH``, or, per request, from the
``X-Forwarded-Prefix`` header of a trusted proxy (SEARCHSVC_TRUSTED_PROXIES) only: anyone
else could otherwise make the page's links point where they like.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from flask import Flask, send_file, url_for

from searchsvc.settings import base_path
from searchsvc.web.security import TrustedProxies, _trusted_proxies

# Seconds a browser may keep the site's stylesheet without asking again: a changed theme shows
# within the hour, and a page does not ask for it at each search.
THEME_MAX_AGE_S = 3600


class PathPrefix:
    """WSGI middleware setting ``SCRIPT_NAME`` to the prefix the service is served under.

    nginx's ``location /recherche/ { proxy_pass http://127.0.0.1:8000/; }`` strips the prefix
    from the path; a ``proxy_pass`` without the final ``/`` keeps it: either way the app sees
    its own routes, the prefix taken off ``PATH_INFO`` when it is there.
    """

    def __init__(self, app: Callable, base: str, trusted: TrustedProxies):
        self.app, self.base, self.trusted = app, base, trusted

    def prefix(self, environ: dict) -> str | None:
        """This request's prefix: a trusted proxy's valid ``X-Forwarded-Prefix`` (``/``:
        none), else the setting's; None when neither says anything."""
        forwarded = environ.get("HTTP_X_FORWARDED_PREFIX")
        if forwarded is not None and environ.get("REMOTE_ADDR") in self.trusted:
            # A proxy behind another may list several: the first is the outermost's, which
            # is the one the browser sees.
            value = base_path(forwarded.split(",")[0])
            if value is not None:
                return value
        return self.base or None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        prefix = self.prefix(environ)
        if prefix is not None:
            path = environ.get("PATH_INFO", "")
            if path == prefix or path.startswith(prefix + "/"):
                path = path[len(prefix) :] or "/"
            environ["SCRIPT_NAME"] = prefix
            environ["PATH_INFO"] = path
        return self.app(environ, start_response)


def _theme_view(path: Path) -> Callable:
    def theme():
        """The site's stylesheet (SEARCHSVC_THEME_CSS), served by the app so that the page's
        policy (styles from the app only) covers it."""
        return send_file(path, mimetype="text/css", max_age=THEME_MAX_AGE_S)

    return theme


def init_app(app: Flask) -> None:
    """Serve ``app`` under its prefix (``BASE_PATH``, or a trusted proxy's), and give the
    templates the site's name and stylesheet (``SITE_NAME``, ``THEME_CSS``)."""
    trusted = _trusted_proxies(app)
    base = app.config.get("BASE_PATH") or ""
    if base_path(base) != base:
        raise ValueError(f"BASE_PATH must be a path such as /recherche (got {base!r})")
    if base or trusted.networks:
        app.wsgi_app = PathPrefix(app.wsgi_app, base, trusted)  # type: ignore[method-assign]

    theme = app.config.get("THEME_CSS")
    if theme and not theme.startswith("https://"):
        app.add_url_rule("/theme.css", "theme", _theme_view(Path(theme).resolve()))

    @app.context_processor
    def site() -> dict:
        if not theme:
            theme_url = None
        elif theme.startswith("https://"):
            theme_url = theme
        else:
            theme_url = url_for("theme")
        return {"site_name": app.config.get("SITE_NAME") or "searchsvc", "theme_url": theme_url}
