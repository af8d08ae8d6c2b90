"""The index schema: which fields a document has and how each is analysed and stored.

The schema (analyzer included) is pickled into the index by Whoosh, so it is part of the
on-disk format: ``INDEX_FORMAT`` and the analyzer version are stored beside it and checked.
"""

from __future__ import annotations

import datetime
import re
from urllib.parse import urlsplit

from whoosh import fields, formats

from searchsvc.index.whoosh_internals.values import positionless_value
from searchsvc.text.analysis import ANALYZER_VERSION, TextAnalysis, analyze_text
from searchsvc.text.whoosh_analyzer import FrenchAnalyzer, VariantsAnalyzer

_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
# What the date field holds: the dates is_date accepts, and the empty value (no date), as one
# regular expression for the OpenAPI document (ECMA syntax): a year from 0001, a month 01-12,
# a day that the month has, 29 February in leap years only. Its parts (a year, a leap year,
# a month and a day it has) also make the other date patterns: pushed documents'
# (ingest/pushed.py), /api/stats's.
YEAR_PATTERN = "(?!0000)[0-9]{4}"
LEAP_YEAR_PATTERN = "(?!0000)([0-9]{2}(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)"
MONTH_DAY_PATTERN = (
    "((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])"
    "|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
    "|02-(0[1-9]|1[0-9]|2[0-8]))"
)
DATE_PATTERN = (
    f"^({YEAR_PATTERN}(-(0[1-9]|1[0-2]))?"
    f"|{YEAR_PATTERN}-{MONTH_DAY_PATTERN}|{LEAP_YEAR_PATTERN}-02-29)?$"
)


def is_date(value: str) -> bool:
    """Whether ``value`` is a real ISO date of a year, a month or a day (``2012``,
    ``2012-06``, ``2012-06-30``); ``2012-13-45`` and ``2023-02-29`` are not."""
    match = _DATE_RE.match(value)
    if match is None:
        return False
    year, month, day = (int(part) if part else 1 for part in match.groups())
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


# Bump when the schema changes (fields added, removed or configured differently).
# 5: searchsvc.json lists every file of the generation with its SHA-256.
# 6: each segment has its postings arrays (a ".postarrays" file, gone since format 9): an
#    index of format 5 is still read correctly, but slowly, so `searchsvc index` rebuilds it.
# 7: the pickled schema names the analyzers of searchsvc.text.whoosh_analyzer (the filter
#    chain of searchsvc.text.analysis, and searchsvc.schema before it, are gone): the same
#    terms, but an index of format 6 can no longer be opened.
# 8: stem terms are written without their positions (see FrenchTextField.index), and the
#    postings arrays hold two-byte document numbers where they fit: the same search results,
#    from an index a sixth smaller.
# 9: postings in searchsvc's own codec (searchsvc.index.codec: packed arrays, written once,
#    in .postings files); Whoosh's W3 posting blocks and the postings arrays files are gone.
INDEX_FORMAT = 9

# The version an index must carry to be read by this code.
VERSION = f"{INDEX_FORMAT}.{ANALYZER_VERSION}"

# Fields a query may name (``title:word``), with French aliases people type.
TEXT_FIELDS = ("title", "body")
FIELD_ALIASES = {
    "title": "title",
    "titre": "title",
    "body": "body",
    "texte": "body",
    "source": "source",
}


class AnalysedText:
    """A text to index, analysed once, on first use, for every field that indexes it.

    Whoosh hands each field its own value: the document's title and body go to their text
    field as an ``AnalysedText`` and to the ``variants`` field as the same objects, so the
    variants cost no second pass (see :func:`document_fields`). The analysis is made where
    the document is written (in a helper process, for a multi-process build), and is not
    pickled with the value.
    """

    __slots__ = ("_analysis", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._analysis: TextAnalysis | None = None

    @property
    def analysis(self) -> TextAnalysis:
        """The text's postings and variant terms (:func:`~searchsvc.text.analysis.analyze_text`)."""
        if self._analysis is None:
            self._analysis = analyze_text(self.text)
        return self._analysis

    def __reduce__(self):
        return AnalysedText, (self.text,)


def _analysis(value: str | AnalysedText) -> TextAnalysis:
    """The analysis of a field value: an ``AnalysedText``'s own, or a plain string's (Whoosh
    itself passes strings, as ``key_terms_from_text`` does)."""
    return value.analysis if isinstance(value, AnalysedText) else analyze_text(value)


class FrenchTextField(fields.TEXT):
    """A positional text field analysed in French.

    Indexing writes :func:`~searchsvc.text.analysis.analyze_text`'s postings: searchsvc's
    segment builder gathers them as arrays (``bulk_postings``, see
    :mod:`searchsvc.index.text_postings`), Whoosh's writers through :meth:`index`; the
    analyzer the schema holds (:class:`~searchsvc.text.whoosh_analyzer.FrenchAnalyzer`) gives
    the same terms, for Whoosh's own callers.

    Only exact terms keep their positions: phrases and the proximity bonus are made of exact
    forms (:mod:`searchsvc.query.plan`), so a stem term's positions are never read. A stem
    stores its frequency and no positions (``positionless_value``), which every reader of the
    Positions format decodes as no positions, and which Whoosh's merges copy as it is.
    """

    # How searchsvc's segment builder gathers this field's postings (its text's tokens).
    bulk_postings = "text"

    def __init__(self, stored: bool = True):
        super().__init__(analyzer=FrenchAnalyzer(), phrase=True, stored=stored)

    def index(self, value: str | AnalysedText, **kwargs):
        """Yield ``(term bytes, frequency, weight, encoded positions)`` for each term."""
        boost, encode = self.format.field_boost, self.format.encode
        analysis = _analysis(value)
        for tbytes, positions in analysis.exact.items():
            freq = len(positions)
            yield tbytes, freq, freq * boost, encode(positions)
        for tbytes, freq in analysis.stems.items():
            yield tbytes, freq, freq * boost, positionless_value(freq)


class VariantsField(fields.FieldType):
    """Index-only field of variant terms (``"elysee élysée"``): which accented words the
    corpus has. Its value is the document's texts (see :func:`document_fields`)."""

    # How searchsvc's segment builder gathers this field's postings (its texts' variants).
    bulk_postings = "variants"

    def __init__(self) -> None:
        super().__init__(formats.Existence(), VariantsAnalyzer(), scorable=False)

    def index(self, value, **kwargs):
        """Yield one entry per variant term of the texts in ``value`` (one or several)."""
        texts = (value,) if isinstance(value, str | AnalysedText) else value
        terms = set().union(*(_analysis(text).variants for text in texts))
        boost = self.format.field_boost
        for term in sorted(terms):
            yield term.encode("utf-8"), 1, boost, b""


def document_fields(title: str, body: str) -> dict:
    """The values of a document's analysed fields: the title and body fields index their
    text and store it as it is (``_stored_<field>``, as Whoosh's writers take it), and the
    ``variants`` field indexes the same two analyses."""
    analysed_title, analysed_body = AnalysedText(title), AnalysedText(body)
    return {
        "title": analysed_title,
        "_stored_title": title,
        "body": analysed_body,
        "_stored_body": body,
        "variants": (analysed_title, analysed_body),
    }


def build_schema() -> fields.Schema:
    """Return the schema every searchsvc index is built with."""
    return fields.Schema(
        id=fields.ID(stored=True, unique=True, sortable=True),
        hash=fields.ID(stored=True, sortable=True),
        path=fields.ID(stored=True, sortable=True),
        title=FrenchTextField(),
        body=FrenchTextField(),
        variants=VariantsField(),
        url=fields.STORED(),
        date=fields.ID(stored=True, sortable=True),
        source=fields.ID(stored=True, sortable=True),
    )


# The only link schemes a document's url may have: the API and pages hand it to browsers as
# a link, and javascript:, data: or file: there would run or open what the corpus chose.
_WEB_SCHEMES = frozenset({"http", "https"})
_SCHEME_SHOWN_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,19}")


def url_problem(url: str) -> str | None:
    """Why ``url`` is not kept as a document's link (dropped at indexing, never served), or
    None when it is an absolute http or https address with a host. Read as browsers read it
    (``urlsplit`` drops the tabs, line breaks and leading control characters they drop), so
    ``java\tscript:`` is javascript."""
    try:
        parts = urlsplit(url)
    except ValueError:  # a broken bracketed host, say
        return "not a valid address"
    if parts.scheme.lower() in _WEB_SCHEMES:
        return None if parts.hostname else "an http address without a host"
    if parts.scheme and _SCHEME_SHOWN_RE.fullmatch(parts.scheme):
        return f"scheme {parts.scheme.lower()}: is not http or https"
    return "not an absolute http or https address"


def web_url(value) -> str | None:
    """A stored ``url`` as it may be handed to a browser: an http or https address, else None
    (an index written before urls were checked at indexing may hold others)."""
    return value if isinstance(value, str) and url_problem(value) is None else None
