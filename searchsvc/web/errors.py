"""Errors: one JSON shape for the API and health check, French HTML pages for people.

Every error the API returns is ``{"error": {"code": ..., "message": ...}}`` with the matching
status. Nothing that goes wrong in a request surfaces as a traceback: unexpected exceptions
are logged and answered with a generic ``internal`` error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from searchsvc.errors import Kind, SearchsvcError
from searchsvc.settings import RETRY_AFTER_S
from searchsvc.web.security import Overloaded

# Error code of each status the service answers with.
# 408, 417, 431 and 501 come only from gunicorn's refusals (searchsvc.web.worker); 403 from
# them and from /api/stats and the document writes on a server without an admin key
# (searchsvc.web.admin, searchsvc.web.documents).
CODES = {
    400: "bad_request",
    401: "unauthorized",  # without the admin key, or the search key when one is set (web.admin)
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",  # a POST of documents neither JSON nor NDJSON
    416: "range_not_satisfiable",
    417: "expectation_failed",
    431: "request_header_fields_too_large",
    500: "internal",
    501: "not_implemented",
    503: "index_unavailable",
    507: "insufficient_storage",  # the journal of pushed documents cannot be written
}

# English messages for the API (werkzeug's own descriptions are written for HTML pages).
MESSAGES = {
    400: "the request is malformed",
    401: "this needs the admin key, sent as 'Authorization: Bearer <key>'",
    404: "there is nothing at this address",
    408: "the request was not received in time",
    413: "the request body is too large",
    414: "the query string is too long",
    415: "send documents as application/json (an array) or application/x-ndjson (one a line)",
    416: "the requested range is outside the file",
    403: "the request is forbidden",
    417: "the request's expectation cannot be met",
    431: "the request header fields are too large",
    500: "something went wrong on the server; it has been logged",
    501: "the request's transfer coding is not supported",
}

# What the HTML error page says, in French.
PAGE_TEXT = {
    400: ("Requête invalide", "La demande n'a pas pu être comprise."),
    401: (
        "Accès réservé",
        "Ce moteur de recherche est réservé : la clé de recherche manque à la demande.",
    ),
    404: ("Page introuvable", "Il n'y a rien à cette adresse."),
    405: ("Méthode non autorisée", "Cette adresse ne s'utilise pas ainsi."),
    413: ("Requête trop volumineuse", "La demande envoyée est trop grosse."),
    414: (
        "Adresse trop longue",
        "L'adresse demandée est trop longue : raccourcissez la recherche.",
    ),
    416: ("Plage invalide", "La partie demandée du fichier n'existe pas."),
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


# Addresses whose errors are JSON: the API, the health check, and the static files (fetched by
# a page's <link> and <script>, or by a tool asking for a byte range; never read as a page).
JSON_PREFIXES = ("/api", "/healthz", "/static", "/metrics")


def wants_json() -> bool:
    """API, health-check and static addresses answer in JSON; the pages answer in HTML."""
    path = request.path
    return any(path == p or path.startswith(p + "/") for p in JSON_PREFIXES)


def error_page(status: int, detail: str | None = None) -> tuple[str, int]:
    """The French HTML page for an error status (an unlisted 4xx reads as a bad request, never
    as the server's fault)."""
    title, text = PAGE_TEXT.get(status) or PAGE_TEXT[400 if status < 500 else 500]
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
    elif getattr(e, "api_message", None):  # a refusal that says which limit (web.documents)
        message = e.api_message
    else:
        message = MESSAGES.get(status) or e.description or "error"
    response = current_app.make_response(_respond(status, message))
    if status == 405 and getattr(e, "valid_methods", None):
        response.headers["Allow"] = ", ".join(sorted(e.valid_methods))
    if status == 416 and getattr(e, "length", None) is not None:
        # RFC 9110: a 416 says how long the file is, so a client can ask again.
        response.headers["Content-Range"] = f"{getattr(e, 'units', 'bytes')} */{e.length}"
    return response


def _overloaded(e: Overloaded):
    """503 ``overloaded`` with Retry-After: the request was shed, nothing is wrong with it."""
    g.searchsvc_shed = True  # counted by searchsvc.web.metrics
    if wants_json():
        response = json_error(503, e.description, "overloaded")
    else:
        page = error_page(503, "Le service est très sollicité : réessayez dans un instant.")
        response = current_app.make_response(page)
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


@dataclass(frozen=True)
class Answer:
    """How the web answers one kind of error: status, API code, and the French text the
    pages show (``{limit}`` and ``{length}`` are filled in)."""

    status: int
    code: str
    french: str


_NOT_READY = "Le moteur de recherche n'est pas prêt : l'index n'est pas encore construit."

# Every error kind the core raises, and how the web answers it: the one place where a kind
# becomes an HTTP status, an API code and French text.
ANSWERS: dict[Kind, Answer] = {
    Kind.BAD_REQUEST: Answer(400, "bad_request", PAGE_TEXT[400][1]),
    Kind.QUERY_TOO_LONG: Answer(
        400, "bad_request", "La recherche est trop longue ({length} caractères ; {limit} au plus)."
    ),
    Kind.TOO_MANY_TERMS: Answer(
        400,
        "bad_request",
        "La recherche contient trop de termes ({limit} au plus) : simplifiez-la.",
    ),
    Kind.BAD_NUMBER: Answer(400, "bad_request", "Ce paramètre doit être un nombre entier."),
    Kind.BAD_PAGE: Answer(
        400, "bad_request", "Le numéro de page doit être un nombre entier, 1 ou plus."
    ),
    Kind.BAD_PER_PAGE: Answer(400, "bad_request", "Une page montre de 1 à {limit} résultats."),
    Kind.BEYOND_WINDOW: Answer(
        400,
        "bad_request",
        "Seuls les {limit} premiers résultats peuvent être parcourus : précisez la recherche.",
    ),
    Kind.BAD_SORT: Answer(
        400, "bad_request", "Tri inconnu : les résultats se trient par pertinence ou par date."
    ),
    Kind.BAD_DATE: Answer(
        400, "bad_request", "Date invalide : écrivez-la comme 2012-06-30 (ou 2012-06, ou 2012)."
    ),
    Kind.SOURCE_TOO_LONG: Answer(400, "bad_request", "Le nom de source est trop long."),
    Kind.BAD_LIMIT: Answer(400, "bad_request", "La limite doit être entre 1 et {limit}."),
    Kind.TOO_EXPENSIVE: Answer(
        400,
        "query_too_expensive",
        "Cette recherche demanderait trop de calcul : allongez les préfixes (mot*) ou précisez-la.",
    ),
    Kind.NO_INDEX: Answer(503, "index_unavailable", _NOT_READY),
    Kind.INDEX_VERSION: Answer(503, "index_unavailable", _NOT_READY),
    Kind.INDEX_TOO_NEW: Answer(
        503,
        "index_unavailable",
        "L'index a été construit par une version plus récente du moteur de recherche : "
        "le service doit être mis à jour.",
    ),
    Kind.INDEX_BUSY: Answer(503, "index_unavailable", _NOT_READY),
    Kind.INDEX_PATH: Answer(503, "index_unavailable", _NOT_READY),
    Kind.INDEX_WRITE: Answer(503, "index_unavailable", _NOT_READY),
    Kind.JOURNAL_BEHIND: Answer(
        503,
        "journal_behind",
        "Trop de modifications attendent d'être appliquées : réessayez dans un instant.",
    ),
    Kind.JOURNAL_UNWRITABLE: Answer(
        507,
        "insufficient_storage",
        "Le journal des documents ne peut pas être écrit (disque plein ?) : rien n'a été "
        "enregistré de cette demande.",
    ),
    Kind.INDEX_DAMAGED: Answer(
        503,
        "index_damaged",
        "L'index de recherche est endommagé : il est en cours de vérification ou doit être "
        "reconstruit. Réessayez dans quelques minutes.",
    ),
}


def french(error: SearchsvcError, length: int = 0) -> str:
    """The French text a page shows for ``error`` (``length``: of the query, if it matters)."""
    limit = error.limit
    shown = f"{limit:,}".replace(",", "\u202f") if isinstance(limit, int) else limit
    return ANSWERS[error.kind].french.format(limit=shown, length=length)


def public_message(message: str) -> str:
    """``message`` as a client may read it: the index folder's place on the server (which the
    core's messages name, for the operator's log) left out, its files named from inside it
    (``g000003/searchsvc.json``)."""
    configured = current_app.config["INDEX_DIR"]
    for root in sorted({os.path.abspath(configured), configured}, key=len, reverse=True):
        if root and root not in (".", os.sep):
            message = message.replace(root + os.sep, "").replace(root, "the index folder")
    return message


def log_if_unavailable(e: SearchsvcError) -> Answer:
    """The answer to ``e``, logged when it says the index cannot serve (a 503)."""
    answer = ANSWERS[e.kind]
    if answer.status >= 500:
        current_app.logger.warning("%s: %s", answer.code.replace("_", " "), e)
    return answer


def _refused(e: SearchsvcError):
    """A core error, answered as :data:`ANSWERS` says: JSON for the API, a French page for
    people. A 503 is logged: the index cannot serve."""
    answer = log_if_unavailable(e)
    g.searchsvc_refused = e.kind  # counted by searchsvc.web.metrics
    retry_after = getattr(e, "retry_after", None)  # a journal behind: when to try again
    if wants_json():
        response = json_error(answer.status, public_message(str(e)), answer.code)
    elif answer.status >= 500:
        response = current_app.make_response(error_page(answer.status, french(e)))
    else:
        return error_page(answer.status)
    if isinstance(retry_after, int | float) and retry_after > 0:
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
    return response


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
    app.register_error_handler(SearchsvcError, _refused)
    app.register_error_handler(Exception, _unexpected)
