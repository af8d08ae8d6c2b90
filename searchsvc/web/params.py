"""Strict parsing of request parameters: digits only, bounded length, clear messages."""

from __future__ import annotations

import re

from werkzeug.datastructures import MultiDict

from searchsvc.errors import Kind, QueryError

_DIGITS = re.compile(r"[0-9]+")
# More digits than this is never a sensible page or size (and int() of huge strings is slow).
MAX_DIGITS = 6


def _shown(raw: str, limit: int = 20) -> str:
    return repr(raw if len(raw) <= limit else raw[:limit] + "…")


FILTER_PARAMS = ("source", "date_from", "date_to", "sort")


def filter_args(args: MultiDict) -> dict[str, str]:
    """The non-empty filter and sort parameters of a request, to pass on in links."""
    return {name: args[name] for name in FILTER_PARAMS if args.get(name)}


def search_options(args: MultiDict) -> dict:
    """``filters`` and ``sort`` for ``SearchEngine.search`` from request parameters."""
    # The core checks the values: Filters raises QueryError for a date or source it refuses,
    # with the message the CLI gives for the same value.
    from searchsvc.engine.results import Filters

    given = filter_args(args)
    filters = Filters(given.get("source"), given.get("date_from"), given.get("date_to"))
    return {"filters": filters, "sort": given.get("sort", "relevance")}


def int_param(args: MultiDict, name: str, default: int, *, empty_ok: bool = True) -> int:
    """Read a whole-number parameter; absent means ``default``, and so does empty when
    ``empty_ok`` (a page's form may send ``page=``; the API, described by its OpenAPI
    document as taking integers, refuses an empty value)."""
    raw = args.get(name)
    if raw is None or (raw == "" and empty_ok):
        return default
    if not _DIGITS.fullmatch(raw):
        raise QueryError(
            f"{name} must be a whole number (got {_shown(raw)})", kind=Kind.BAD_NUMBER, field=name
        )
    if len(raw.lstrip("0")) > MAX_DIGITS:
        raise QueryError(
            f"{name} is too large (got {_shown(raw)})", kind=Kind.BAD_NUMBER, field=name
        )
    return int(raw)


# What a yes-or-no parameter may be (``typing=1``); empty or absent means no.
FLAG_VALUES = {"1": True, "0": False, "": False}


def flag_param(args: MultiDict, name: str) -> bool:
    """Read a yes-or-no parameter: ``1`` or ``0`` (absent or empty: no); anything else is a
    400, as the OpenAPI document says."""
    raw = args.get(name, "")
    if raw not in FLAG_VALUES:
        raise QueryError(
            f"{name} must be 1 or 0 (got {_shown(raw)})", kind=Kind.BAD_REQUEST, field=name
        )
    return FLAG_VALUES[raw]
