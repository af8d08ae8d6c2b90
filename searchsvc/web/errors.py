"""Errors: one JSON shape for the API and health check, French HTML pages for people.

Every error the API returns is ``{"error": {"code": ..., "message": ...}}`` with the matching
status. Nothing that goes wrong in a request surfaces as a traceback: unexpected exceptions
are logged and answered with a generic ``internal`` error.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from searchsvc.index.storage import IndexDamagedError, IndexStateError
from searchsvc.query.language import QueryError
from searchsvc.web.params import BadParameter
from searchsvc.web.security import RETRY_AFTER_S, Overloaded

# Error code of each status the service answers with.
# 403, 417, 431 and 501 come only from gunicorn's refusals (searchsvc.web.worker).
CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "request_header_fields_too_large",
    500: "internal",
    501: "not_implemented",
    503: "index_unavailable",
}

# English messages for the API (werkzeug's own descriptions are written for HTML pages).
MESSAGES = {
    400: "the request is malformed",
    404: "there is nothing at this address",
    413: "the request body is too large",
    414: "the query string is too long",
    403: "the request is forbidden",
    417: "the request's expectation cannot be met",
    431: "the request header fields are too large",
    500: "something went wrong on the server; it has been logged",
    501: "the request's transfer coding is not supported",
}

# What the HTML error page says, in French.
PAGE_TEXT = {
    400: ("Requête invalide", "La demande n'a pas pu être comprise."),
    404: ("Page introuvable", "Il n'y a rien à cette adresse."),
    405: ("Méthode non autorisée", "Cette adresse ne s'utilise pas ainsi."),
    413: ("Requête trop volumineuse", "La demande envoyée est trop grosse."),
    414: (
        "Adresse trop longue",
        "L'adresse demandée est trop longue : raccourcissez la recherche.",
    ),
    500: ("Erreur interne", "Un problème est survenu de notre côté ; il a été signalé."),
    503: (
        "Service indisponible",
        "Le moteur de recherche n'est pas prêt : l'index n'est pas encore construit.",
    ),
}


def json_error(status: int, message: str, code: str | None = None) -> Response:
    """The one way every JSON error is built."""
    response = jsonify({"error": {"code": code or CODES.get(status, "error"), "message": message}})
    response.status_code = status
    return response


def wants_json() -> bool:
    """API and health-check addresses answer in JSON; the pages answer in HTML."""
    path = request.path
    return any(path == p or path.startswith(p + "/") for p in ("/api", "/healthz"))


def error_page(status: int, detail: str | None = None) -> tuple[str, int]:
    """The French HTML page for an error status."""
    title, text = PAGE_TEXT.get(status, PAGE_TEXT[500])
    return render_template("error.html", status=status, title=title, text=detail or text), status


def _respond(status: int, message: str, code: str | None = None):
    if wants_json():
        return json_error(status, message, code)
    return error_page(status)


def _http_error(e: HTTPException):
    status = e.code or 500
    if status == 405:
        allowed = sorted(getattr(e, "valid_methods", None) or [])
        message = f"{request.method} is not allowed here; use {', '.join(allowed) or 'GET'}"
    else:
        message = MESSAGES.get(status) or e.description or "error"
    response = current_app.make_response(_respond(status, message))
    if status == 405 and getattr(e, "valid_methods", None):
        response.headers["Allow"] = ", ".join(sorted(e.valid_methods))
    return response


def _overloaded(e: Overloaded):
    """503 ``overloaded`` with Retry-After: the request was shed, nothing is wrong with it."""
    if wants_json():
        response = json_error(503, e.description, "overloaded")
    else:
        page = error_page(503, "Le service est très sollicité : réessayez dans un instant.")
        response = current_app.make_response(page)
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _bad_input(e: ValueError):
    """400 with the error's own code: ``query_too_expensive`` for a query too costly to run."""
    return _respond(400, str(e), getattr(e, "code", "bad_request"))


# What the search page says when the index cannot serve, by the API's error code.
INDEX_PAGE_TEXT = {
    "index_damaged": (
        "L'index de recherche est endommagé : il est en cours de vérification ou doit être "
        "reconstruit. Réessayez dans quelques minutes."
    ),
    "index_unavailable": PAGE_TEXT[503][1],
}


def _index_unavailable(e: IndexStateError):
    """503: ``index_damaged`` when a file of the live index no longer matches its checksum,
    ``index_unavailable`` when there is no usable index (none built, another format)."""
    code = "index_damaged" if isinstance(e, IndexDamagedError) else "index_unavailable"
    current_app.logger.warning("%s: %s", code.replace("_", " "), e)
    if wants_json():
        return json_error(503, str(e), code)
    return error_page(503, INDEX_PAGE_TEXT[code])


def _unexpected(e: Exception):
    if isinstance(e, HTTPException):  # pragma: no cover - routed to _http_error first
        return _http_error(e)
    current_app.logger.exception("unexpected error on %s %s", request.method, request.path)
    try:
        return _respond(500, MESSAGES[500], "internal")
    except Exception:  # the error page itself failed: fall back to JSON
        return json_error(500, MESSAGES[500], "internal")


def init_app(app: Flask) -> None:
    """Register the error handlers on ``app``."""
    app.register_error_handler(Overloaded, _overloaded)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(QueryError, _bad_input)
    app.register_error_handler(BadParameter, _bad_input)
    app.register_error_handler(IndexStateError, _index_unavailable)
    app.register_error_handler(Exception, _unexpected)
