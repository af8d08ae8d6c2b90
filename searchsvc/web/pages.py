"""The search page people use (``/``) and the document view (``/doc/<id>``), in French.

Both work without JavaScript: results are rendered on the server from the URL's ``q`` and
``page``. ``static/search.js`` then makes the page live (results as you type, autocomplete).
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, render_template, request
from markupsafe import Markup, escape

from searchsvc.query import MAX_QUERY_CHARS, MAX_TERMS, QueryError, QueryTooExpensive
from searchsvc.search import MAX_RESULT_WINDOW, SearchResult
from searchsvc.snippets import highlight
from searchsvc.web import get_engine
from searchsvc.web.errors import error_page
from searchsvc.web.params import BadParameter, filter_args, int_param, search_options

bp = Blueprint("pages", __name__)


@bp.app_template_filter("fr_int")
def fr_int(n: int) -> str:
    """12345 -> "12 345" (French thousands separator, a narrow no-break space)."""
    return f"{n:,}".replace(",", "\u202f")


@bp.app_template_filter("fr_ms")
def fr_ms(ms: float) -> str:
    """4.237 -> "4,2" (one decimal, French decimal comma)."""
    return f"{ms:.1f}".replace(".", ",")


def page_window(current: int, last: int, radius: int = 2) -> list[int | None]:
    """Page numbers to link to: the first, the last and those near ``current``; None is a gap."""
    if last <= 1:
        return []
    shown = {1, last, *range(max(1, current - radius), min(last, current + radius) + 1)}
    out: list[int | None] = []
    previous = 0
    for n in sorted(shown):
        if n - previous > 1:
            out.append(None)
        out.append(n)
        previous = n
    return out


def last_page(result: SearchResult) -> int:
    """The last page that may be asked for (deep pages are refused by the engine)."""
    return min(result.pages, MAX_RESULT_WINDOW // result.per_page)


def _french_query_error(error: QueryError, q: str, page: int, per_page: int) -> str:
    if isinstance(error, QueryTooExpensive):
        return (
            "Cette recherche demanderait trop de calcul : allongez les préfixes (mot*) "
            "ou précisez-la."
        )
    if len(q) > MAX_QUERY_CHARS:
        return f"La recherche est trop longue ({len(q)} caractères ; {MAX_QUERY_CHARS} au plus)."
    if page * per_page > MAX_RESULT_WINDOW:
        return (
            f"Seuls les {fr_int(MAX_RESULT_WINDOW)} premiers résultats peuvent être parcourus : "
            "précisez la recherche."
        )
    message = str(error)
    if message.startswith("sort"):
        return "Tri inconnu : les résultats se trient par pertinence ou par date."
    if message.startswith(("date_from", "date_to")):
        return "Date invalide : écrivez-la comme 2012-06-30 (ou 2012-06, ou 2012)."
    if message.startswith("source"):
        return "Le nom de source est trop long."
    return f"La recherche contient trop de termes ({MAX_TERMS} au plus) : simplifiez-la."


@bp.get("/")
def search_page():
    """The search box; with ``q``, the results rendered on the server."""
    q = request.args.get("q", "")
    per_page = current_app.config["PAGE_SIZE"]
    context = {"q": q, "result": None, "error": None, "window": [], "last": 0}
    g.filter_args = filter_args(request.args)
    status = 200
    try:
        page = int_param(request.args, "page", 1)
        if page < 1:
            raise BadParameter("page must be 1 or more")
    except BadParameter:
        context["error"] = "Le numéro de page doit être un nombre entier, 1 ou plus."
        return render_template("search.html", **context), 400
    if q.strip():
        try:
            result = get_engine().search(
                q, page=page, per_page=per_page, **search_options(request.args)
            )
        except QueryError as e:
            context["error"] = _french_query_error(e, q, page, per_page)
            status = 400
        else:
            last = last_page(result)
            context.update(result=result, last=last, window=page_window(page, last))
    return render_template("search.html", **context), status


@bp.get("/doc/<path:doc_id>")
def document_page(doc_id: str):
    """A whole document, with the words of ``q`` highlighted."""
    q = request.args.get("q", "")
    try:
        back_page = int_param(request.args, "page", 1)
    except BadParameter:
        back_page = 1
    engine = get_engine()
    doc = engine.document(doc_id)
    if doc is None:
        return error_page(404, "Aucun document ne porte cet identifiant.")
    title, body = escape(doc.title), escape(doc.body)
    if q.strip():
        try:
            marks = engine.highlights(q)
        except QueryError:
            pass  # an over-long query from a hand-made address: show the text unmarked
        else:
            # The core escapes everything but the <mark> tags it adds.
            title, body = Markup(highlight(doc.title, marks)), Markup(highlight(doc.body, marks))
    url = doc.url if doc.url and doc.url.startswith(("https://", "http://")) else None
    return render_template(
        "document.html",
        doc=doc,
        title=title,
        body=body,
        matches=str(body).count("<mark>"),
        similar=engine.similar(doc.id, limit=5) or [],
        url=url,
        q=q,
        back_page=max(back_page, 1),
    )
