"""What a search returns, as plain dataclasses (never Whoosh objects): hits, facet counts,
a page of results, a stored document; and the filters a search takes."""

from __future__ import annotations

from dataclasses import dataclass, field

from whoosh import query as wq

from searchsvc.errors import Kind, QueryError
from searchsvc.index.caches import Key, per_reader
from searchsvc.index.schema import is_date
from searchsvc.settings import MAX_QUERY_CHARS

SORTS = ("relevance", "date")


def source_key(value: str) -> str:
    """What two source names must share to be the same source: case and surrounding spaces
    never matter (``AFP``, ``afp``)."""
    return value.strip().casefold()


def _sources_by_key(reader) -> dict[str, list[str]]:
    """The index's source values by :func:`source_key` (a few hundred at most; read once per
    reader)."""
    by_key: dict[str, list[str]] = {}
    for raw in reader.lexicon("source"):
        value = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        by_key.setdefault(source_key(value), []).append(value)
    return by_key


@dataclass(frozen=True)
class Hit:
    """One search result."""

    id: str
    title: str
    score: float
    snippet: str
    url: str | None = None
    date: str | None = None
    source: str | None = None
    # The title as HTML, with <mark> around what the query matched and everything else
    # escaped (as ``snippet``).
    title_html: str = ""

    def to_json(self) -> dict:
        """The hit as JSON, one shape for the API's hits (search and similar documents) and
        the command line's ``--json``."""
        return {
            "id": self.id,
            "title": self.title,
            "title_html": self.title_html,
            "score": self.score,
            "snippet": self.snippet,
            "url": self.url,
            "date": self.date,
            "source": self.source,
        }


@dataclass(frozen=True)
class FacetCount:
    """How many results have one value of a facet."""

    value: str
    count: int


@dataclass(frozen=True)
class Filters:
    """Restrictions on which documents a search returns: one source, a date range.

    Dates are compared as text, so ISO 8601 (``2012-06-30``) works for any precision;
    ``date_to`` includes the whole day or month it names.
    """

    source: str | None = None
    date_from: str | None = None
    date_to: str | None = None

    def __post_init__(self) -> None:
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None and not is_date(value):
                raise QueryError(
                    f"{name} must be a date like 2012-06-30 (got {value!r})",
                    kind=Kind.BAD_DATE,
                    field=name,
                )
        if self.source is not None and len(self.source) > MAX_QUERY_CHARS:
            raise QueryError(
                f"source is too long (the limit is {MAX_QUERY_CHARS})",
                kind=Kind.SOURCE_TOO_LONG,
                field="source",
                limit=MAX_QUERY_CHARS,
            )

    def query(self, reader=None) -> wq.Query | None:
        """The Whoosh filter for these restrictions, or None for no restriction.

        Given the index ``reader``, the source matches whatever case the index writes it in
        (``source=afp`` finds ``AFP``), as everything else a query names does."""
        parts: list[wq.Query] = []
        if self.source:
            values = [self.source]
            if reader is not None:
                by_key = per_reader(reader, Key.SOURCES_BY_KEY, lambda: _sources_by_key(reader))
                values = by_key.get(source_key(self.source)) or values
            terms = [wq.Term("source", value) for value in values]
            parts.append(terms[0] if len(terms) == 1 else wq.Or(terms))
        if self.date_from or self.date_to:
            end = self.date_to + "\uffff" if self.date_to else None
            parts.append(wq.TermRange("date", self.date_from, end))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else wq.And(parts)


@dataclass(frozen=True)
class SearchResult:
    """A page of results and how the query was understood."""

    query: str
    understood: str
    total: int
    page: int
    per_page: int
    took_ms: float
    hits: list[Hit] = field(default_factory=list)
    suggestion: str | None = None
    # "stop_words_only" when nothing searchable was left; "beyond_window" when results this
    # page would show lie past the first MAX_RESULT_WINDOW, which cannot be paged to
    notice: str | None = None
    # No document had all the words: these are the documents with the most of them.
    relaxed: bool = False
    # Query words that matched nothing as typed and were matched by close words instead.
    approximate: list[str] = field(default_factory=list)
    # Documents per value of each facet (most first), over all the results.
    facets: dict[str, list[FacetCount]] = field(default_factory=dict)
    sort: str = "relevance"
    filters: Filters = field(default_factory=lambda: Filters())
    # Results per year of their date, newest first; empty when none of them has a date.
    years: list[FacetCount] = field(default_factory=list)
    # Synonyms the search added to the words typed, as the synonyms file writes them
    # (« Recherche aussi : bicyclette »); empty without a synonyms file or a rule for them.
    also: list[str] = field(default_factory=list)
    # How many of the results hold every word the query requires (its filler words aside,
    # see searchsvc.query.filler); those come first, the others hold only some of them.
    # None: every result does.
    every_word: int | None = None
    # Words of the query taken as filler (« comment », « sous »), as typed: not required.
    filler: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        """Number of pages the results fill."""
        return (self.total + self.per_page - 1) // self.per_page

    def to_json(self) -> dict:
        """The page as JSON, one shape for the API (``/api/search``, described by its
        OpenAPI document) and the command line's ``--json``: plain values only, the filters
        not given left out."""

        def counts(values: list[FacetCount]) -> list[dict]:
            return [{"value": c.value, "count": c.count} for c in values]

        filters = {
            name: value
            for name, value in (
                ("source", self.filters.source),
                ("date_from", self.filters.date_from),
                ("date_to", self.filters.date_to),
            )
            if value is not None
        }
        return {
            "query": self.query,
            "understood": self.understood,
            "total": self.total,
            "page": self.page,
            "per_page": self.per_page,
            "pages": self.pages,
            "took_ms": self.took_ms,
            "hits": [hit.to_json() for hit in self.hits],
            "suggestion": self.suggestion,
            "notice": self.notice,
            "relaxed": self.relaxed,
            "approximate": list(self.approximate),
            "also": list(self.also),
            "every_word": self.total if self.every_word is None else self.every_word,
            "filler": list(self.filler),
            "sort": self.sort,
            "filters": filters,
            "facets": {name: counts(values) for name, values in self.facets.items()},
            "years": counts(self.years),
        }


@dataclass(frozen=True)
class StoredDocument:
    """A document as stored in the index."""

    id: str
    title: str
    body: str
    path: str | None = None
    url: str | None = None
    date: str | None = None
    source: str | None = None
