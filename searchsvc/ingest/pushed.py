"""Documents pushed over HTTP, checked before they reach the journal: a request body parsed
as a JSON array or as NDJSON (one document a line), and each document's fields checked
against the corpus format's rules and the limits in :mod:`searchsvc.settings`.

A body that is not JSON is refused whole (:class:`QueryError` naming the line and column);
a document that breaks a rule is refused alone, with its reason, and the others go on. No
Flask here: the web layer (:mod:`searchsvc.web.documents`) calls it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from searchsvc.errors import Kind, QueryError
from searchsvc.index.schema import LEAP_YEAR_PATTERN, MONTH_DAY_PATTERN, YEAR_PATTERN, url_problem
from searchsvc.ingest.corpus.text import first_sentence, normalize_text
from searchsvc.settings import (
    DEFAULT_MAX_FILE_BYTES,
    MAX_DOCUMENT_ID_CHARS,
    MAX_PUSH_DOCUMENTS,
    MAX_PUSHED_SOURCE_CHARS,
    MAX_PUSHED_TITLE_CHARS,
    MAX_PUSHED_URL_CHARS,
)

__all__ = [
    "FIELDS",
    "PushedDocument",
    "Refused",
    "TooManyDocuments",
    "check_batch",
    "check_document",
    "check_id",
    "parse_batch",
    "parse_one",
]

# The fields a pushed document may have: those of the JSON Lines corpus format.
FIELDS = ("id", "title", "body", "url", "date", "source")
# The rules below are regular expressions that the OpenAPI document gives as they are
# (searchsvc.web.openapi), so that what it allows is exactly what is accepted.
# An id: no control character (C0, DEL, C1), line separator or "/", and no space at either
# end: one segment of an address (PUT /api/documents/<id>), shown on one log line. (A lone
# surrogate, which JSON escapes can make, is refused too, apart from the pattern.)
_ID_END = "[^\\s\\x00-\\x1f\\x7f-\\x9f/]"
ID_PATTERN = f"^{_ID_END}([^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029/]*{_ID_END})?$"
# A date: an ISO day, month or year that exists (as a search's date filters take), or a day
# with its time (2024-08-03T14:00:00+02:00), of which the day is kept; empty: none.
DATE_PATTERN = (
    f"^({YEAR_PATTERN}(-(0[1-9]|1[0-2]))?|({YEAR_PATTERN}-{MONTH_DAY_PATTERN}|{LEAP_YEAR_PATTERN}-02-29)"
    "(T[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?)?$"
)
# A url: http or https, a host (no user name, no bracketed address), then anything without
# spaces; empty: none. url_problem (the corpus's rule) is checked too.
URL_PATTERN = "^([Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#@\\[\\]:\\\\]+(:[0-9]{1,5})?([/?#]\\S*)?)?$"
# A body: at least one character that is neither a space nor a control one.
BODY_PATTERN = "[^\\s\\x00-\\x1f\\x7f-\\x9f]"
_ID_RE, _DATE_RE, _URL_RE, _BODY_RE = (
    re.compile(pattern) for pattern in (ID_PATTERN, DATE_PATTERN, URL_PATTERN, BODY_PATTERN)
)


@dataclass(frozen=True)
class PushedDocument:
    """One checked document: its text normalised as the corpus's JSON Lines reader does, a
    missing title taken from the body's first sentence, the date as an ISO date."""

    id: str
    title: str
    body: str
    url: str | None = None
    date: str | None = None
    source: str | None = None

    def fields(self) -> dict[str, str | None]:
        """The document as a plain mapping of the corpus format's fields."""
        return {name: getattr(self, name) for name in FIELDS}


@dataclass(frozen=True)
class Refused:
    """A document refused, with why (in English, for the task's list): ``index`` is its place
    in the batch (0 for a single document), ``id`` its id when it had a usable one."""

    index: int
    id: str | None
    reason: str


class TooManyDocuments(QueryError):
    """A batch holds more documents than one request may (the web answers 413)."""


def _shown(value: str, limit: int = 40) -> str:
    """A value quoted for a message, cut short (the web escapes what it echoes)."""
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def check_id(value: object) -> str:
    """``value`` as a document id, or raise ValueError saying why it is none: a non-empty
    string (or a whole number, as the corpus format allows) of at most
    ``MAX_DOCUMENT_ID_CHARS`` characters, with no control character and no space at either
    end (:data:`ID_PATTERN`)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"field 'id' must be a string (got {_type_name(value)})")
    value = str(value)  # JSON parsing bounds an integer's digits (4,300 at most)
    if not value:
        raise ValueError("field 'id' is empty")
    if len(value) > MAX_DOCUMENT_ID_CHARS:
        raise ValueError(
            f"field 'id' is longer than {MAX_DOCUMENT_ID_CHARS} characters ({len(value)})"
        )
    for position, char in enumerate(value, 1):
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp"):
            raise ValueError(
                f"field 'id' holds a control character (U+{ord(char):04X}) at position {position}"
            )
    if "/" in value:
        raise ValueError("field 'id' holds a '/' (an id is one segment of an address)")
    if _ID_RE.fullmatch(value) is None:
        raise ValueError("field 'id' starts or ends with a space")
    return value


def _type_name(value: object) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _string(obj: Mapping, name: str, limit: int) -> str | None:
    """An optional string field as sent; None when absent or null. ValueError when it is not
    a string or is longer than ``limit`` characters."""
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"field {name!r} must be a string (got {_type_name(value)})")
    if len(value) > limit:
        raise ValueError(f"field {name!r} is longer than {limit:,} characters ({len(value):,})")
    return value


def _url(value: str | None) -> str | None:
    """A url as kept (None for an empty one); ValueError unless http or https with a host."""
    if not value:
        return None
    why = None if _URL_RE.fullmatch(value) else "not an http or https address with a host"
    why = why or url_problem(value)
    if why is not None:
        raise ValueError(f"field 'url': {why} (got {_shown(value)})")
    return value


def _date(value: str | None) -> str | None:
    """An ISO date as the index stores it (None for an empty one): a day, month or year as
    written, or a timestamp's day; ValueError otherwise."""
    if not value:
        return None
    if _DATE_RE.fullmatch(value) is None:
        raise ValueError(
            "field 'date' must be an ISO date that exists, such as 2024-08-03, 2024-08, 2024 "
            f"or 2024-08-03T14:00:00+02:00 (got {_shown(value)})"
        )
    return value[:10]


def check_document(obj: object, doc_id: str | None = None) -> PushedDocument:
    """The document ``obj`` (one parsed JSON value) as a :class:`PushedDocument`, or raise
    ValueError with the reason it is refused. ``doc_id``: the id the address names (PUT); the
    body may then leave ``id`` out, or must give the same one."""
    if not isinstance(obj, dict):
        raise ValueError(f"a document must be a JSON object (got {_type_name(obj)})")
    unknown = [name for name in obj if name not in FIELDS]
    if unknown:
        names = ", ".join(_shown(str(name), 30) for name in sorted(unknown)[:5])
        raise ValueError(f"unknown field {names}; a document has {', '.join(FIELDS)}")
    if doc_id is None:
        if "id" not in obj or obj["id"] is None:
            raise ValueError("missing field 'id'")
        doc_id = check_id(obj["id"])
    elif obj.get("id") is not None and str(obj["id"]) != doc_id:
        raise ValueError("field 'id' differs from the id in the address")
    body = obj.get("body")
    if body is None:
        raise ValueError("missing field 'body'")
    if not isinstance(body, str):
        raise ValueError(f"field 'body' must be a string (got {_type_name(body)})")
    if len(body) > DEFAULT_MAX_FILE_BYTES:
        raise ValueError(f"field 'body' is longer than {DEFAULT_MAX_FILE_BYTES:,} characters")
    if _BODY_RE.search(body) is None:
        raise ValueError("field 'body' is empty")
    body = normalize_text(body)
    title = _string(obj, "title", MAX_PUSHED_TITLE_CHARS)
    title = " ".join(normalize_text(title).split()) if title else ""
    source = _string(obj, "source", MAX_PUSHED_SOURCE_CHARS)
    source = " ".join(normalize_text(source).split()) if source else ""
    return PushedDocument(
        id=doc_id,
        title=title or first_sentence(body),
        body=body,
        url=_url(_string(obj, "url", MAX_PUSHED_URL_CHARS)),
        date=_date(_string(obj, "date", 64)),  # DATE_PATTERN is shorter
        source=source or None,
    )


def _bad_json(message: str, line: int, column: int) -> QueryError:
    return QueryError(
        f"malformed JSON at line {line}, column {column}: {message}",
        kind=Kind.BAD_REQUEST,
        field="body",
    )


def _decode(raw: bytes) -> str:
    """The body as text: UTF-8 (a leading BOM dropped), else a 400 naming where it is not."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        before = raw[: e.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        raise _bad_json("the body is not UTF-8 text", line, column) from None


def _loads(text: str, line_offset: int = 0) -> object:
    """One JSON text parsed (orjson, then the standard library for what orjson refuses, such
    as integers over 64 bits, and for its error's position); a 400 naming the line and column
    of the first fault."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        what = e.msg[:1].lower() + e.msg[1:]
        raise _bad_json(what, e.lineno + line_offset, e.colno) from None
    except RecursionError:
        raise _bad_json("nested too deeply", line_offset + 1, 1) from None
    except ValueError as e:  # an integer of thousands of digits
        raise _bad_json(str(e).split(";")[0].lower(), line_offset + 1, 1) from None


def parse_one(raw: bytes) -> object:
    """The one JSON value of a PUT's body (a 400 naming line and column if malformed)."""
    text = _decode(raw)
    if not text.strip():
        raise QueryError("the body is empty: send the document as a JSON object", field="body")
    return _loads(text)


def parse_batch(raw: bytes, ndjson: bool, max_documents: int = MAX_PUSH_DOCUMENTS) -> list[object]:
    """The documents of a POST's body, as parsed JSON values, not yet checked: a JSON array,
    or with ``ndjson`` one JSON value a line (blank lines skipped). A 400 naming the line and
    column of the first malformed part; :class:`TooManyDocuments` past ``max_documents``."""
    text = _decode(raw)
    if ndjson:
        values = []
        for number, line in enumerate(text.split("\n")):
            if not line.strip():
                continue
            if len(values) >= max_documents:
                raise _too_many(max_documents)
            values.append(_loads(line, line_offset=number))
    else:
        if not text.strip():
            raise QueryError("the body is empty: send a JSON array of documents", field="body")
        values = _loads(text)
        if not isinstance(values, list):
            raise QueryError(
                f"the body must be a JSON array of documents (got {_type_name(values)}); "
                "send one document with PUT /api/documents/<id>",
                field="body",
            )
        if len(values) > max_documents:
            raise _too_many(max_documents)
    if not values:
        raise QueryError("the body holds no document", field="body")
    return values


def _too_many(limit: int) -> TooManyDocuments:
    return TooManyDocuments(
        f"a request may push {limit:,} documents at most; send the rest in another",
        kind=Kind.BAD_REQUEST,
        field="body",
        limit=limit,
    )


def check_batch(values: list[object]) -> tuple[list[PushedDocument], list[Refused]]:
    """The documents of a batch checked one by one: those accepted, in order, and those
    refused with their place and reason."""
    accepted: list[PushedDocument] = []
    refused: list[Refused] = []
    for index, value in enumerate(values):
        try:
            accepted.append(check_document(value))
        except ValueError as e:
            raw_id = value.get("id") if isinstance(value, dict) else None
            shown = raw_id if isinstance(raw_id, str) and len(raw_id) <= 200 else None
            refused.append(Refused(index, shown, str(e)))
    return accepted, refused
