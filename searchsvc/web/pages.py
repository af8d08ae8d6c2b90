"""The search page people use (``/``), its instant-search endpoint (``/instant``) and the
document view (``/doc/<id>``), in French.

Every page works without JavaScript: results, filters, sort and pages are rendered on the
server from the address (``q``, ``page``, ``source``, ``date_from``, ``date_to``, ``sort``).
``static/search.js`` then makes the page live: on each pause in typing it asks ``/instant``
for the same results area, rendered by the same template (``_results.html``), and for
completions of the query, in one request. So a filter, a sort or a page works the same way
with and without JavaScript, and lives in the address either way.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace

from flask import Blueprint, current_app, g, render_template, request, url_for
from markupsafe import Markup, escape

from searchsvc.engine.results import SearchResult
from searchsvc.engine.snippets import ELLIPSIS, Marks, document_parts, highlight, mark, match_spans
from searchsvc.errors import IndexStateError, Kind, QueryError
from searchsvc.query.language import parse, render, understood_if_different
from searchsvc.settings import (
    DOC_PART_MARKS,
    DOC_TITLE_CHARS,
    FIRST_PASSAGE_SCAN_CHARS,
    MAX_QUERY_CHARS,
    MAX_RESULT_WINDOW,
)
from searchsvc.web import get_engine
from searchsvc.web.admin import note_search
from searchsvc.web.errors import ANSWERS, error_page, french, log_if_unavailable
from searchsvc.web.params import (
    FILTER_PARAMS,
    filter_args,
    int_param,
    search_options,
)

bp = Blueprint("pages", __name__)

# Completions the search box offers.
PAGE_COMPLETIONS = 8
# Values of a facet shown before "plus…".
FACET_VALUES_SHOWN = 5

NBSP = "\u00a0"  # before ":" and inside « »
NNBSP = "\u202f"  # narrow: before ; ! ? and between thousands


@bp.app_template_filter("fr_int")
def fr_int(n: int) -> str:
    """12345 -> "12 345" (French thousands separator, a narrow no-break space)."""
    return f"{n:,}".replace(",", NNBSP)


# A run of spaces is tried from its first space only (the look-behind): tried from each of
# its spaces, a long run with no sign after it took quadratic time (100,000 spaces, 46 s).
_SPACE_BEFORE = re.compile(r"(?<![ \u00a0\u202f])[ \u00a0\u202f]*([:;!?»])")
_SPACE_AFTER = re.compile(r"«[ \u00a0\u202f]*")


@bp.app_template_filter("fr_typo")
def fr_typo(text: str) -> str:
    """French spacing: a no-break space before ``:`` and ``»`` and after ``«``, a narrow one
    before ``;``, ``!`` and ``?`` (so that they never start a line). Text only: an address
    (``https://``) or a time (``10:30``) is left alone, since its colon follows no space.
    """
    if not isinstance(text, str):
        return text

    def before(m: re.Match) -> str:
        sign = m.group(1)
        if not m.group(0)[:-1]:  # glued to the word before: "10:30", "https://", "?!"
            return sign if sign != "»" else NBSP + sign
        return (NBSP if sign in ":»" else NNBSP) + sign

    result = _SPACE_AFTER.sub("«" + NBSP, _SPACE_BEFORE.sub(before, text))
    return Markup(result) if isinstance(text, Markup) else result


_URL_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://(?:www\.)?([^/?#:]+)", re.IGNORECASE)
_EXTENSION = re.compile(
    r"\.(?:html?|xhtml|pdf|page|txt|md|rst|lyx|mo|po|xml|docbook|tex|info|gz|bz2|xz)$",
    re.IGNORECASE,
)


_PATH_SEP = re.compile(r"[/:\\]")


def _last_part(value: str) -> str | None:
    parts = [p for p in _PATH_SEP.split(value) if p]
    return parts[-1] if len(parts) > 1 else None


def _first_part(value: str) -> str:
    return _PATH_SEP.split(value, maxsplit=1)[0]


@bp.app_template_filter("source_label")
def source_label(value: str) -> str:
    """A short name for a source: a web address's host, a path's last part without its file
    extension (``lyx-common/usr/share/lyx/doc/fr/UserGuide.lyx`` -> ``UserGuide``), else the
    value itself."""
    value = (value or "").strip()
    host = _URL_HOST.match(value)
    if host:
        return host.group(1)
    last = _last_part(value)
    if last is None:
        return value
    return _EXTENSION.sub("", last) or last


def facet_labels(values: list[str]) -> dict[str, str]:
    """Short labels for facet values, told apart when two end alike: by their file extension
    (``latex2e-fr.pdf``, ``latex2e-fr.html``), else by their first part (``index
    (gimp-help-fr)``)."""
    values = list(dict.fromkeys(values))
    labels = {v: source_label(v) for v in values}
    for longer in (
        lambda v: _last_part(v.strip()) or labels[v],
        lambda v: f"{labels[v]} ({_first_part(v.strip())})",
    ):
        clashes = _clashing(labels)
        if not clashes:
            break
        for value in clashes:
            labels[value] = longer(value)
    return labels


def _clashing(labels: dict[str, str]) -> list[str]:
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return [v for v, label in labels.items() if seen[label] > 1]


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


def summary(result: SearchResult) -> str:
    """Résultats 11–20 sur 1 847; 7 résultats when they all fit on the first page."""
    if not result.total:
        return "Aucun résultat"
    if result.total == 1:
        return "1 résultat"
    if not result.hits or (result.page == 1 and result.total <= result.per_page):
        return f"{fr_int(result.total)} résultats"
    first = (result.page - 1) * result.per_page + 1
    last = first + len(result.hits) - 1
    return f"Résultats {fr_int(first)}\u2013{fr_int(last)} sur {fr_int(result.total)}"


def _results(typing: bool = False) -> tuple[dict, int]:
    """What the results area shows for this request's address, and the status to answer.

    ``typing``: the last word is still being typed (see ``SearchEngine.search_as_you_type``).
    """
    args = request.args
    q = args.get("q", "")
    per_page = current_app.config["PAGE_SIZE"]
    g.filter_args = filter_args(args)
    context = {"q": q, "result": None, "error": None, "window": [], "last": 0, "labels": {}}
    try:
        page = int_param(args, "page", 1)
        if page < 1:
            raise QueryError("page must be 1 or more", kind=Kind.BAD_PAGE, field="page")
    except QueryError:  # not a whole number, or below 1
        context["error"] = ANSWERS[Kind.BAD_PAGE].french
        return context, 400
    if not q.strip():
        return context, 200
    engine = get_engine()
    search = engine.search_as_you_type if typing else engine.search
    try:
        result = search(q, page=page, per_page=per_page, **search_options(args))
    except QueryError as e:
        g.searchsvc_refused = e.kind  # counted by searchsvc.web.metrics
        context["error"] = french(e, length=len(q))
        return context, 400
    note_search(q, result, typing=typing)
    last = last_page(result)
    # While typing, the engine reads the last word as a prefix (``rés*``): show how the text
    # will read once typed, not that.
    understood = render(parse(q)) if typing else result.understood
    values = [f.value for f in result.facets.get("source", [])]
    if result.filters.source:
        values.append(result.filters.source)
    context.update(
        result=result,
        last=last,
        window=page_window(page, last),
        labels=facet_labels(values + [h.source for h in result.hits if h.source]),
        summary=summary(result),
        understood=understood_if_different(q, understood),
        shown=FACET_VALUES_SHOWN,
        result_window=MAX_RESULT_WINDOW,
    )
    return context, 200


def page_address(q: str, page: int, filters: dict[str, str]) -> str:
    """The search page's address for a query, a page and filters (as its links write it)."""
    return url_for("pages.search_page", q=q or None, page=page if page > 1 else None, **filters)


@bp.app_template_global()
def page_url(q: str, n: int = 1, changes: dict | None = None) -> str:
    """A link to the search page that keeps this request's filters and sort
    (``g.filter_args``); ``changes`` overrides them (an empty value removes one). The
    parameters always come in the same order, whatever order they were chosen in."""
    args = {**(g.get("filter_args") or {}), **(changes or {})}
    return page_address(q, n, {name: args[name] for name in FILTER_PARAMS if args.get(name)})


def _title(q: str) -> str:
    site_name = current_app.config.get("SITE_NAME") or "searchsvc"
    return (f"{q} – Recherche" if q.strip() else "Recherche") + f" · {site_name}"


@bp.app_template_global()
def hit_href(hit, q: str, page: int) -> str | None:
    """Where a hit's title links: the document's own address (http or https) when the site
    asks for it (``LINK_TO_URL``) or keeps full texts private (``PRIVATE_TEXTS``, where there
    is no document page), else the document page; None when private and without address."""
    config = current_app.config
    url = hit.url if hit.url and hit.url.startswith(("https://", "http://")) else None
    if url and (config.get("LINK_TO_URL") or config.get("PRIVATE_TEXTS")):
        return url
    if config.get("PRIVATE_TEXTS"):
        return None
    return url_for(
        "pages.document_page",
        doc_id=hit.id,
        q=q,
        page=page if page > 1 else None,
        **(g.get("filter_args") or {}),
    )


@bp.get("/")
def search_page():
    """The search box; with ``q``, the results rendered on the server."""
    context, status = _results()
    return render_template("search.html", **context), status


@bp.get("/instant")
def instant():
    """The search page's results area and completions for what is typed, in one answer.

    JSON ``{q, html, title, url, completions}``: ``html`` is the results area as the page
    renders it (the server's French message included when the query is refused, 400, or the
    index cannot serve, 503); ``url`` is the page's address for these results. With
    ``typing=1`` the last word is a prefix; with ``complete=1`` completions come too; with
    ``results=0``, only they do (``html`` is empty).
    """
    typing = request.args.get("typing") == "1"
    q = request.args.get("q", "")
    try:
        if request.args.get("results") == "0":  # completions only (the document page)
            g.filter_args = filter_args(request.args)
            context, status = {"result": None}, 200
        else:
            context, status = _results(typing=typing)
    except IndexStateError as e:
        status = log_if_unavailable(e).status
        context = {"q": q, "result": None, "error": french(e), "window": []}
        context.update(last=0, labels={})
    completions: list[str] = []
    if status == 200 and request.args.get("complete") == "1" and len(q) <= MAX_QUERY_CHARS:
        completions = get_engine().complete(q, limit=PAGE_COMPLETIONS)
    page = context["result"].page if context.get("result") else 1
    body = {
        "q": q,
        "html": render_template("_results.html", **context) if "q" in context else "",
        "title": _title(q),
        "url": page_address(q, page, g.filter_args),
        "completions": completions,
    }
    return body, status, {"Cache-Control": "no-store"}


_FIRST_MARK = "<mark>"
# What the page says of a part number it cannot show.
_BAD_PART = "Le numéro de partie doit être un nombre entier, 1 ou plus."


def _number_passages(html: str) -> str:
    """Give each ``<mark>`` of the (escaped, core-made) document HTML an id: ``passage-1``…"""
    count = 0

    def number(_m: re.Match) -> str:
        nonlocal count
        count += 1
        return f'<mark id="passage-{count}">'

    return re.sub(re.escape(_FIRST_MARK), number, html)


def _part_url(doc_id: str, q: str, part: int, back_page: int, anchor: str | None = None) -> str:
    """The address of one part of a document, keeping the query, the results page to go back
    to and its filters."""
    return url_for(
        "pages.document_page",
        doc_id=doc_id,
        q=q or None,
        page=back_page if back_page > 1 else None,
        **(g.get("filter_args") or {}),
        part=part,
        _anchor=anchor,
    )


def _shorter(text: str, limit: int = DOC_TITLE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + ELLIPSIS


class _Passages:
    """Where a query's matches are in a document cut into parts: each part analysed once,
    the search for the first match bounded by ``FIRST_PASSAGE_SCAN_CHARS``."""

    def __init__(self, body: str, parts: list[tuple[int, int]], marks: Marks | None):
        self.body, self.parts, self.marks = body, parts, marks
        self._spans: dict[int, list[tuple[int, int]]] = {}

    def spans(self, n: int) -> list[tuple[int, int]]:
        """The matches of part ``n`` (from 1), as offsets in the part."""
        if self.marks is None:
            return []
        if n not in self._spans:
            start, end = self.parts[n - 1]
            part = self.body[start:end]
            self._spans[n] = match_spans(part, self.marks, limit=len(part))
        return self._spans[n]

    def first(self) -> int | None:
        """The first part with a match, if one is found within the scan's bound."""
        if self.marks is None:
            return None
        for n, (start, _end) in enumerate(self.parts, 1):
            if start >= FIRST_PASSAGE_SCAN_CHARS:
                break
            if self.spans(n):
                return n
        return None


@bp.get("/doc/<path:doc_id>")
def document_page(doc_id: str):
    """A document, with the words of ``q`` highlighted.

    A long one is shown a part at a time (``DOC_PART_CHARS`` characters): the part ``part``,
    or by default the one holding the first match, with links to the parts around it; only
    the part shown is analysed and sent, so the page stays small whatever the document.
    """
    if current_app.config.get("PRIVATE_TEXTS"):
        # Full texts kept private (paywalled articles): the results' snippets only.
        return error_page(404, "Le texte des documents n’est pas consultable ici.")
    q = request.args.get("q", "")
    g.filter_args = filter_args(request.args)
    try:
        back_page = int_param(request.args, "page", 1)
    except QueryError:
        back_page = 1
    try:
        asked = int_param(request.args, "part", 0)
    except QueryError:
        return error_page(400, _BAD_PART)
    if request.args.get("part") and asked < 1:
        return error_page(400, _BAD_PART)
    engine = get_engine()
    doc = engine.document(doc_id)
    if doc is None:
        return error_page(404, "Aucun document ne porte cet identifiant.")
    parts = document_parts(doc.body)
    if asked > len(parts):
        count = f"{len(parts)} partie" + ("s" if len(parts) > 1 else "")
        return error_page(404, f"Ce document n'a que {count}.")
    marks = None
    if q.strip():
        # An over-long query from a hand-made address: the text is shown unmarked.
        with contextlib.suppress(QueryError):
            marks = Marks(engine.highlights(q))
    passages = _Passages(doc.body, parts, marks)
    number = asked or passages.first() or 1
    start, end = parts[number - 1]
    text = doc.body[start:end]
    shown_title = _shorter(doc.title)
    title, body = escape(shown_title), escape(text)
    spans = passages.spans(number)
    first_passage = None
    if marks is not None:
        # The core escapes everything but the <mark> tags it adds.
        title = Markup(highlight(shown_title, marks))
        body = Markup(_number_passages(mark(text, spans[:DOC_PART_MARKS])))
        if spans:
            first_passage = "#passage-1"
        else:
            elsewhere = passages.first()
            if elsewhere is not None:
                first_passage = _part_url(doc.id, q, elsewhere, back_page, "passage-1")
    url = doc.url if doc.url and doc.url.startswith(("https://", "http://")) else None
    similar = engine.similar(doc.id, limit=5) or []

    def part_url(n: int) -> str:
        return _part_url(doc.id, q, n, back_page)

    return render_template(
        "document.html",
        doc=doc,
        shown_title=shown_title,
        title=title,
        body=body,
        matches=min(len(spans), DOC_PART_MARKS),
        all_marked=len(spans) <= DOC_PART_MARKS,
        first_passage=first_passage,
        part=number,
        parts=len(parts),
        part_url=part_url,
        similar=[replace(h, title=_shorter(h.title)) for h in similar],
        url=url,
        q=q,
        back_page=max(back_page, 1),
    )
