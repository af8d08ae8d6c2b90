"""The JSON API (``/api/...``) and the health check (``/healthz``): a thin layer over the core."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, request

from searchsvc.errors import Kind, check_between
from searchsvc.query.language import check_length
from searchsvc.settings import MAX_COMPLETIONS
from searchsvc.web import get_engine
from searchsvc.web.admin import note_search
from searchsvc.web.errors import json_error
from searchsvc.web.openapi import build_spec
from searchsvc.web.params import flag_param, int_param, search_options

bp = Blueprint("api", __name__, url_prefix="/api")
health = Blueprint("health", __name__)

# What /api/documents gives of a document whose text is private (SEARCHSVC_PRIVATE_TEXTS).
PUBLIC_DOCUMENT_FIELDS = ("id", "title", "url", "date", "source")


@bp.get("/search")
def search():
    """Ranked results for ``q``, one page at a time."""
    args = request.args.to_dict()  # first value of each name, as MultiDict.get gives; a plain
    # dict answers a missing name without raising and catching a KeyError each time
    q = args.get("q", "")
    page = int_param(args, "page", 1, empty_ok=False)
    per_page = int_param(args, "per_page", 10, empty_ok=False)
    options = search_options(args)
    # typing=1: the last word is still being typed, a prefix (a search box as you type).
    typing = flag_param(args, "typing")
    engine = get_engine()
    run = engine.search_as_you_type if typing else engine.search
    result = run(q, page=page, per_page=per_page, **options)
    note_search(q, result, typing=typing)
    return result.to_json()  # the command line's --json shape too


@bp.get("/documents/<path:doc_id>")
def document(doc_id: str):
    """One stored document, or 404; with ``PRIVATE_TEXTS`` (SEARCHSVC_PRIVATE_TEXTS), its
    metadata only: no text, nor where it is kept."""
    doc = get_engine().document(doc_id)
    if doc is None:
        return json_error(404, f"no document has the id {doc_id!r}")
    if current_app.config.get("PRIVATE_TEXTS"):
        return {name: getattr(doc, name) for name in PUBLIC_DOCUMENT_FIELDS}
    return asdict(doc)


@bp.get("/documents/<path:doc_id>/similar")
def similar(doc_id: str):
    """Documents like this one ("more like this"), or 404."""
    limit = int_param(request.args, "limit", 5, empty_ok=False)
    hits = get_engine().similar(doc_id, limit=limit)
    if hits is None:
        return json_error(404, f"no document has the id {doc_id!r}")
    return {"id": doc_id, "hits": [hit.to_json() for hit in hits]}


@bp.get("/suggest")
def suggest():
    """Completions of the word being typed, for a search box's autocomplete."""
    q = request.args.get("q", "")
    check_length(q, "q")
    limit = int_param(request.args, "limit", MAX_COMPLETIONS, empty_ok=False)
    check_between(limit, 1, MAX_COMPLETIONS, kind=Kind.BAD_LIMIT, field="limit")
    return {"query": q, "suggestions": get_engine().complete(q, limit=limit)}


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI description of this API; served under a path prefix, its server is there."""
    spec = build_spec()
    if request.script_root:
        spec = {**spec, "servers": [{"url": request.script_root}]}
    return spec


@health.get("/healthz")
def healthz():
    """200 with index facts when a usable index is live, else 503 (via the error handler)."""
    stats = get_engine().stats()
    response = {"status": "ok", **stats}
    return response, 200, {"Cache-Control": "no-store"}
