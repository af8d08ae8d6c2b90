"""Search the index: ranked, paginated hits with snippets, suggestions and completions.

:class:`SearchEngine` is what the CLI and the web app share. It keeps the live index open,
gives each thread its own Whoosh searcher, and follows reindexing on its own: a commit to the
live generation is picked up by ``refresh()``, a new generation by reopening. It returns plain
dataclasses, never Whoosh objects.
"""

from __future__ import annotations

import heapq
import itertools
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from whoosh import collectors, scoring, sorting
from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.searching import Searcher

from searchsvc.engine import completion, snippets, termwise, titles
from searchsvc.index import columns, storage
from searchsvc.index.caches import LRU, per_reader, stored_fields
from searchsvc.index.caches import title as stored_title
from searchsvc.index.schema import TEXT_FIELDS
from searchsvc.index.whoosh_internals import ArraysFileError
from searchsvc.query import language as ql
from searchsvc.query import spelling
from searchsvc.query.plan import Highlights, QueryBuilder, Weights
from searchsvc.text.analysis import VARIANT_SEP, analyze_query, content_term

MAX_PER_PAGE = 100
# Deepest result a page may reach (page x per_page): deep paging costs scoring every hit.
MAX_RESULT_WINDOW = 10_000
MAX_COMPLETIONS = 10
SORTS = ("relevance", "date")
MAX_FACET_VALUES = 10
_FACETS = sorting.Facets().add_facet("source", columns.FieldFacet("source", maptype=sorting.Count))
_FACETS_AND_DATES = (
    sorting.Facets()
    .add_facet("source", columns.FieldFacet("source", maptype=sorting.Count))
    .add_facet("date", columns.FieldFacet("date", maptype=sorting.Count))
)
_BY_DATE = columns.FieldFacet("date")
_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
# "More like this": how many documents, from how many key terms of how much text.
MAX_SIMILAR = 20
SIMILAR_TERMS = 20
SIMILAR_TEXT_CHARS = 20_000
# Result pages kept per process, so a repeated search (a reload, the back button, a popular
# query) costs a dictionary look-up until the index changes.
RESULT_PAGES_CACHED = 256
# "Did you mean" is looked for only when a query finds fewer results than this.
SUGGEST_BELOW = 10
# Index words the prefixes (``prési*``) of one query may stand for in all (title and body apart).
# Each is a posting list to merge: on the 30,000-document bench index ``pre*`` (903 words)
# takes 2 s, and 35 two-letter prefixes OR'ed (9,089 words) took 45 s.
MAX_PREFIX_TERMS = 1_000
# Seconds one search may spend matching documents (its fallbacks included) before it is
# refused; time spent waiting for the searcher does not count.
SEARCH_TIME_LIMIT = 2.0
# Titles a served worker reads and analyses before its first request (SearchEngine.warm_up):
# all of them on the 30,508-document bench index, in about 2 s.
WARM_TITLES = 50_000
# Seconds between two checks of the live index's files while serving (a stat of each file;
# a file whose size or time changed is hashed again).
VERIFY_EVERY_S = 1.0


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
            if value is not None and not _DATE_RE.match(value):
                raise ql.QueryError(f"{name} must be a date like 2012-06-30 (got {value!r})")
        if self.source is not None and len(self.source) > ql.MAX_QUERY_CHARS:
            raise ql.QueryError(f"source is too long (the limit is {ql.MAX_QUERY_CHARS})")

    def query(self) -> wq.Query | None:
        """The Whoosh filter for these restrictions, or None for no restriction."""
        parts: list[wq.Query] = []
        if self.source:
            parts.append(wq.Term("source", self.source))
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
    notice: str | None = None  # "stop_words_only" when nothing searchable was left
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

    @property
    def pages(self) -> int:
        """Number of pages the results fill."""
        return (self.total + self.per_page - 1) // self.per_page


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


class SearchEngine:
    """Searches one index directory; safe to share between threads (they take turns)."""

    def __init__(
        self,
        index_dir: str | os.PathLike,
        weights: Weights | None = None,
        *,
        time_limit: float = SEARCH_TIME_LIMIT,
        verify_every: float = VERIFY_EVERY_S,
    ):
        """``time_limit``: seconds a search may spend matching before it is refused;
        ``verify_every``: seconds between two checks of the live index's files."""
        self.root = Path(index_dir)
        self.weights = weights or Weights()
        self.time_limit = time_limit
        self.verify_every = verify_every
        self._lock = threading.Lock()
        # One searcher per process, used by one thread at a time: Whoosh keeps a copy of
        # what a reader opens in memory (about 300 MB for the 30,000-document bench index),
        # so a searcher per thread multiplied that, and its file readers are not thread-safe.
        # Searches are CPU-bound under the GIL, so serialising them costs little.
        self._use = threading.RLock()
        self._searcher: Searcher | None = None
        self._searcher_epoch = 0
        self._ix: whoosh_index.Index | None = None
        self._generation: storage.Generation | None = None
        self._epoch = 0
        # Checks the files of what is opened against their SHA-256, and again (by a stat
        # of each file) at most every VERIFY_EVERY_S while serving.
        self._verifier = storage.Verifier()
        self._verified_at = 0.0
        # The files the open index was opened from: a file replaced in place (a damaged
        # generation copied again) makes the index open afresh.
        self._opened_files: dict[str, tuple[int, int] | None] = {}
        # Recent result pages of the current searcher (emptied when it is replaced).
        self._pages = LRU(RESULT_PAGES_CACHED)
        # The best documents of recent instant searches, by text: where completing the
        # same text reads the words that follow (see _sample).
        self._samples = LRU(RESULT_PAGES_CACHED)

    # -- index lifecycle -----------------------------------------------------------------

    def _index(self) -> tuple[whoosh_index.Index, int]:
        """Return the open live index, reopening it when a new generation went live.

        A generation's files are checked against its manifest before it is opened, and
        again every ``VERIFY_EVERY_S`` while it is served: a damaged index raises
        :class:`~searchsvc.index.storage.IndexDamagedError` instead of answering wrongly.
        """
        name = storage.current_name(self.root)
        with self._lock:
            if self._ix is None or self._generation is None or name != self._generation.name:
                self._open_live(storage.current(self.root))
            elif time.monotonic() - self._verified_at >= self.verify_every:
                self._verifier.check(self._generation)
                self._verified_at = time.monotonic()
                if storage.file_ids(self._generation) != self._opened_files:
                    self._open_live(self._generation)
            return self._ix, self._epoch

    def _open_live(self, generation: storage.Generation) -> None:
        """Check and open ``generation`` in place of what is open; with ``self._lock`` held."""
        self._verifier.check(generation)
        ix = self._open(generation)
        if self._ix is not None:
            self._ix.close()
        self._ix, self._generation = ix, generation
        self._opened_files = storage.file_ids(generation)
        self._verified_at = time.monotonic()
        self._epoch += 1

    @staticmethod
    def _open(generation: storage.Generation) -> whoosh_index.Index:
        try:
            return whoosh_index.open_dir(generation.path)
        except Exception as e:  # the manifest matched, yet Whoosh cannot read it
            raise storage.IndexDamagedError(
                f"the index {generation.name} cannot be opened ({e}); "
                "run `searchsvc index --full` to rebuild it"
            ) from e

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Turn an error Whoosh raises while reading a damaged file into
        :class:`~searchsvc.index.storage.IndexDamagedError`.

        Decoding a damaged posting or term file fails in many ways (``Block tag error``,
        ``IndexError``, ``struct.error``, ``zlib.error``...), so on any unexpected error the
        live generation's files are checked again, hashing each one: if one no longer
        matches its SHA-256, that is the error to report. If all match but one was replaced
        since it was opened (a damaged file copied again), the read failed on the old file:
        the index is opened afresh at the next request, and this one is told to retry. A
        postings arrays file that matches yet cannot be read (written by another version) is
        reported as damage too, with the rebuild to run. Otherwise the original error is a
        bug and is raised as it is.
        """
        try:
            yield
        except (ql.QueryError, storage.IndexStateError, collectors.TimeLimit):
            raise
        except ArraysFileError as e:
            self._raise_if_damaged()
            # Whole, as written, yet unreadable: from another version, or written wrong.
            raise storage.IndexDamagedError(
                f"the index cannot be read ({e.file}: {e.reason}); run `searchsvc index "
                "--full` to rebuild it"
            ) from None
        except Exception:
            self._raise_if_damaged()
            raise

    def _raise_if_damaged(self) -> None:
        """After a read error: raise :class:`~searchsvc.index.storage.IndexDamagedError` when a
        file of the live generation no longer matches its SHA-256, or was replaced since it
        was opened (then the index is opened afresh at the next request)."""
        generation = self._generation
        if generation is None:
            return
        try:
            self._verifier.check(generation, fresh=True)
        except storage.IndexDamagedError as damaged:
            raise damaged from None
        if storage.file_ids(generation) != self._opened_files:
            with self._lock:
                self._generation = None  # open it afresh at the next request
            raise storage.IndexDamagedError(
                f"a file of the index {generation.name} was replaced while it was read; retry"
            ) from None

    @contextmanager
    def searcher(self) -> Iterator[Searcher]:
        """Yield the searcher, brought up to date with the index on disk; one user at a time."""
        with self._use, self._reading():
            ix, epoch = self._index()
            current = self._searcher
            if current is None or self._searcher_epoch != epoch:
                if current is not None:
                    current.close()
                current = ix.searcher(weighting=scoring.BM25F())
                self._searcher, self._searcher_epoch = current, epoch
                self._pages.clear()
                self._samples.clear()
            elif not current.up_to_date():
                # Not Searcher.refresh(): it reuses segment readers by segment id, so they
                # keep stale deletions (updated and deleted documents still match), and it
                # shares them with the old searcher, so closing that one breaks the new one.
                current.close()
                current = self._searcher = ix.searcher(weighting=scoring.BM25F())
                self._pages.clear()
                self._samples.clear()
            yield current

    def close(self) -> None:
        """Release the searcher and the index."""
        with self._use:
            if self._searcher is not None:
                self._searcher.close()
                self._searcher = None
        with self._lock:
            if self._ix is not None:
                self._ix.close()
                self._ix = None
                self._generation = None

    def warm_up(self, titles_limit: int = WARM_TITLES) -> int:
        """Read and analyse the titles of the first ``titles_limit`` documents, which the
        title signals of the first queries would otherwise do while people wait (about
        70 µs a title on first sight, for the best 50 of every query); returns how many."""
        with self.searcher() as s:
            count = min(titles_limit, s.reader().doc_count_all())
            for docnum in range(count):
                titles.title_words(stored_title(s, docnum))
        return count

    def stats(self) -> dict:
        """Documents, generation and format version of the live index, from its metadata.

        It never waits for the searcher, so a health check answers however busy searches are;
        it raises :class:`~searchsvc.index.storage.IndexStateError` when no usable index is live,
        :class:`~searchsvc.index.storage.IndexDamagedError` when one of its files changed.
        """
        generation = storage.current(self.root)
        self._verifier.check(generation)
        return {
            "documents": generation.meta.get("documents", 0),
            "generation": generation.name,
            "index_version": generation.meta.get("version"),
            "updated": generation.meta.get("updated"),
        }

    # -- searching -----------------------------------------------------------------------

    def search(
        self,
        text: str,
        page: int = 1,
        per_page: int = 10,
        *,
        filters: Filters | None = None,
        sort: str = "relevance",
    ) -> SearchResult:
        """Run a query in the query language; raise :class:`QueryError` for bad input.

        ``filters`` narrows the documents (source, date range); ``sort`` is "relevance" or
        "date" (newest first). The result counts documents per source (``facets``).
        """
        return self._cached_search(text, page, per_page, filters, sort, typing=False)

    def search_as_you_type(
        self,
        text: str,
        page: int = 1,
        per_page: int = 10,
        *,
        filters: Filters | None = None,
        sort: str = "relevance",
    ) -> SearchResult:
        """:meth:`search` for a query still being typed: its last word is a prefix.

        The word being typed stands for itself or one of its most frequent completions
        (``configuration rés`` finds *configuration réseau*), and is never corrected nor
        matched by close words (no did-you-mean on ``résea``); the words before it are
        searched as :meth:`search` does. When the text ends with a space, or its last word is
        not a plain word, or begins no word of the index (a misspelling), this is
        :meth:`search`. See :mod:`searchsvc.engine.completion`.
        """
        return self._cached_search(text, page, per_page, filters, sort, typing=True)

    def _cached_search(
        self,
        text: str,
        page: int,
        per_page: int,
        filters: Filters | None,
        sort: str,
        *,
        typing: bool,
    ) -> SearchResult:
        started = time.perf_counter()
        _check_page(page, per_page)
        if sort not in SORTS:
            raise ql.QueryError(f"sort must be one of {', '.join(SORTS)} (got {sort!r})")
        filters = filters or Filters()
        tree = ql.parse(text)
        with self.searcher() as s:
            make_builder = QueryBuilder
            if typing:
                typed = completion.typing_tree(tree, text, s.reader())
                if typed is not None:
                    tree, make_builder = typed, completion.InstantQueryBuilder
            key = (text, page, per_page, filters, sort, make_builder)
            cached = self._pages.get(key)
            if cached is not None:
                return replace(cached, took_ms=_ms(started))
            result = self._search(
                s, tree, text, page, per_page, filters, sort, started, make_builder
            )
            self._pages.put(key, result)
            return result

    def _search(
        self,
        s: Searcher,
        tree: ql.Node,
        text: str,
        page: int,
        per_page: int,
        filters: Filters,
        sort: str,
        started: float,
        make_builder: type[QueryBuilder] = QueryBuilder,
    ) -> SearchResult:
        """One page of results for a parsed query, with the fallbacks; see :meth:`search`.
        ``make_builder`` builds the Whoosh queries (the instant search gives its own)."""
        limit = page * per_page
        deadline = time.monotonic() + self.time_limit
        instant = make_builder is completion.InstantQueryBuilder
        # An instant search keeps its best documents for the completions of the same text.
        keep = max(limit, completion.SAMPLE_DOCS) if instant and sort == "relevance" else limit

        def run(wq, builder: QueryBuilder) -> Ranked:
            signals = titles.Signals(builder.highlights, tuple(builder.words))
            try:
                return rank(s, wq, keep, deadline, filters, sort, signals)
            except collectors.TimeLimit:
                raise ql.QueryTooExpensive(
                    f"the query takes too long to run (the limit is {self.time_limit:g} s); "
                    "make it more precise"
                ) from None

        builder = make_builder(s.reader(), self.weights)
        wq = builder.build(tree)
        if wq is None:
            notice = "stop_words_only" if any(ql.leaves(tree)) else None
            return SearchResult(
                text, ql.render(tree), 0, page, per_page, _ms(started), notice=notice
            )
        _check_prefixes(wq, s.reader())
        ranked = run(wq, builder)
        if instant:
            self._samples.put(text, [d for _score, d in ranked.top[: completion.SAMPLE_DOCS]])
        total = ranked.total
        suggestion = self._suggestion(s, tree, text, total) if total < SUGGEST_BELOW else None
        approximate: list[str] = []
        relaxed = False
        if total == 0:
            # Fallbacks, strictest first: words that match nothing also match close words;
            # then documents with the most of the words instead of all of them.
            for fallback in ({"fuzzy": True}, {"fuzzy": True, "relaxed": True}):
                builder = make_builder(s.reader(), self.weights, **fallback)
                wq = builder.build(tree)
                if wq is None:
                    continue
                ranked = run(wq, builder)
                total = ranked.total
                if total:
                    approximate = sorted(builder.approximate)
                    relaxed = builder.relaxed_used
                    break
        marks = snippets.Marks(builder.highlights)  # shared by the page's snippets and titles
        hits = [
            self._hit(s, docnum, score, marks)
            for score, docnum in ranked.top[(page - 1) * per_page : limit]
        ]
        facets = _facet_counts(ranked.sources) if total else {}
        years = _year_counts(ranked.dates) if total else []
        return SearchResult(
            text,
            ql.render(tree),
            total,
            page,
            per_page,
            _ms(started),
            hits,
            suggestion,
            relaxed=relaxed,
            approximate=approximate,
            facets=facets,
            sort=sort,
            filters=filters,
            years=years,
        )

    def _hit(self, s: Searcher, docnum: int, score, highlights: Highlights | snippets.Marks) -> Hit:
        stored = stored_fields(s, docnum)
        title = stored.get("title", "")
        return Hit(
            id=stored["id"],
            title=title,
            # Sorted by date, Whoosh gives the sort key as the score: there is no relevance.
            score=round(float(score), 4) if isinstance(score, int | float) else 0.0,
            snippet=snippets.snippet(stored.get("body", ""), highlights),
            url=stored.get("url"),
            date=stored.get("date"),
            source=stored.get("source"),
            title_html=snippets.highlight(title, highlights),
        )

    def count(self, text: str) -> int:
        """Number of documents a query finds (0 when it has nothing searchable)."""
        tree = ql.parse(text)
        with self.searcher() as s:
            wq = QueryBuilder(s.reader(), self.weights).build(tree)
            if wq is None:
                return 0
            _check_prefixes(wq, s.reader())
            return _count(s, wq)

    def _suggestion(self, s: Searcher, tree: ql.Node, text: str, total: int) -> str | None:
        """A corrected query when some words look misspelt and the correction finds more."""
        reader = s.reader()
        edits: list[tuple[int, int, str]] = []
        for leaf, negated in ql.leaves(tree):
            if negated or not isinstance(leaf, ql.Word) or leaf.field == "source":
                continue
            tokens = analyze_query(leaf.text)
            if len(tokens) != 1 or tokens[0].kind != "word":
                continue
            fixed = spelling.closest(reader, tokens[0].exact)
            if fixed:
                t = tokens[0]
                edits.append(
                    (
                        leaf.start + t.startchar,
                        leaf.start + t.endchar,
                        self._accented(reader, fixed),
                    )
                )
        if not edits:
            return None
        suggestion = text
        for start, end, word in sorted(edits, reverse=True):
            suggestion = suggestion[:start] + word + suggestion[end:]
        wq = QueryBuilder(reader, self.weights).build(ql.parse(suggestion))
        if wq is None or _count(s, wq) <= total:
            return None
        return suggestion

    @staticmethod
    def _accented(reader, exact: str) -> str:
        """The most common accented spelling of a folded word, or the word itself."""
        best, best_df = exact, 0
        for raw in reader.expand_prefix("variants", exact + VARIANT_SEP):
            term = raw.decode("utf-8")
            df = reader.doc_frequency("variants", term)
            if df > best_df:
                best, best_df = term.split(VARIANT_SEP, 1)[1], df
        plain = spelling.frequency(reader, exact)
        return best if best_df * 2 >= plain else exact

    # -- documents and completion ------------------------------------------------------------

    def document(self, doc_id: str) -> StoredDocument | None:
        """The stored document with this id, or None."""
        with self.searcher() as s:
            stored = s.document(id=doc_id)
        if stored is None:
            return None
        return StoredDocument(
            id=stored["id"],
            title=stored.get("title", ""),
            body=stored.get("body", ""),
            path=stored.get("path"),
            url=stored.get("url"),
            date=stored.get("date"),
            source=stored.get("source"),
        )

    def similar(self, doc_id: str, limit: int = MAX_SIMILAR) -> list[Hit] | None:
        """Documents closest to this one by their key terms (None when the id is unknown)."""
        if not 1 <= limit <= MAX_SIMILAR:
            raise ql.QueryError(f"limit must be between 1 and {MAX_SIMILAR} (got {limit})")
        with self.searcher() as s:
            docnum = s.document_number(id=doc_id)
            if docnum is None:
                return None
            stored = s.stored_fields(docnum)
            text = stored.get("title", "") + "\n" + stored.get("body", "")[:SIMILAR_TEXT_CHARS]
            # Whoosh's more_like(), minus function words and elided forms among the key terms
            # (they are indexed for phrases, and common enough to pull in anything).
            candidates = s.key_terms_from_text(
                "body", text, numterms=3 * SIMILAR_TERMS, normalize=False
            )
            terms = [(term, weight) for term, weight in candidates if content_term(term)]
            terms = terms[:SIMILAR_TERMS]
            if not terms:
                return []
            like = wq.Or([wq.Term("body", term, boost=weight) for term, weight in terms])
            results = s.search(like, limit=limit, mask={docnum})
            return [self._hit(s, hit.docnum, hit.score, Highlights()) for hit in results]

    def highlights(self, text: str) -> Highlights:
        """What a query marks in a text (for showing a whole document with its matches)."""
        tree = ql.parse(text)
        with self.searcher() as s:
            builder = QueryBuilder(s.reader(), self.weights)
            builder.build(tree)
        return builder.highlights

    def complete(self, text: str, limit: int = MAX_COMPLETIONS) -> list[str]:
        """Completions of the query being typed: the query with its last word completed,
        best first, accents restored.

        Words that follow the words already typed in the documents matching them come first
        (``mot de pa`` -> *mot de passe*), then the index's most frequent words starting
        so; words typed with accents put the words spelt so first (``pré`` offers
        *président* before *prendre*). Only words the documents write on their own are
        offered: a compound as written (*mot-clé*), never glued (``motcle``). See
        :mod:`searchsvc.engine.completion`.
        """
        typed = completion.split_typed(text)
        if typed is None or limit < 1:
            return []
        with self.searcher() as s:
            reader = s.reader()

            def frequency(word: str) -> int:
                return sum(reader.doc_frequency(f, word) for f in TEXT_FIELDS)

            # Each word's accented spelling, kept per reader: completions come back
            # keystroke after keystroke, and looking one up reads the index a dozen times.
            spellings = per_reader(reader, "accented", lambda: LRU(completion.FORMS_CACHED))

            def accented(word: str) -> str:
                found = spellings.get(word)
                if found is None:
                    found = self._accented(reader, word)
                    spellings.put(word, found)
                return found

            def best_following(typed: completion.Typed, least: int) -> list[str]:
                follows = completion.following(sample, typed)
                return sorted(
                    (w for w, n in follows.items() if n >= least),
                    key=lambda w: (-follows[w], -frequency(w), w),
                )

            sample = self._sample(s, text) if typed.context else []
            ranked: list[str] = []
            nexts: list[str] = []
            if typed.stop and typed.context:
                # A function word typed in full after others ("mot de"): the words that
                # follow both come first ("mot de passe"), then those it begins ("mot défaut").
                after = completion.after_word(typed)
                least = completion.MIN_FOLLOWING_BOTH
                nexts = [after.lead + w for w in best_following(after, least)[: limit // 2]]
            if typed.context:
                ranked = best_following(typed, completion.MIN_FOLLOWING)
            if len(typed.prefix) > 1 or not typed.context:
                # (After other words, a single letter is completed from what follows them
                # only: its thousands of index words would cost more than they help.)
                ranked += [w for w, _count in completion.expansions(reader, typed.prefix)]
            words: list[str] = []
            seen: set[str] = set()
            for word in ranked:
                if word in seen:
                    continue
                seen.add(word)
                form = completion.written_form(s, word, frequency)
                if form is None:
                    continue
                if "-" not in form:
                    form = accented(word)
                words.append(form)
                if len(words) == 2 * limit:
                    break
            nexts = [
                n[: -len(w)] + accented(w) for n, w in ((n, n.rsplit(" ", 1)[-1]) for n in nexts)
            ]
        if typed.typed_accents:
            # Typed with accents: the words spelt so first ("pré" offers "président" first).
            start = typed.word.lower()
            words.sort(key=lambda w: not w.startswith(start))
        return (nexts + [typed.lead + w for w in words])[:limit]

    def _sample(self, s: Searcher, text: str) -> list[str]:
        """The texts (title and start of the body) of the documents an instant search of
        ``text`` ranks first: where the words following the words typed are read. The
        instant search of the same text just made keeps them (the search page asks for both
        at once), else the search is made here."""
        docnums = self._samples.get(text)
        if docnums is None:
            try:
                tree = completion.typing_tree(ql.parse(text), text, s.reader())
                if tree is None:
                    return []
                wq = completion.InstantQueryBuilder(s.reader(), self.weights).build(tree)
                if wq is None:
                    return []
                _check_prefixes(wq, s.reader())
                deadline = time.monotonic() + self.time_limit
                ranked = rank(s, wq, completion.SAMPLE_DOCS, deadline)
            except (ql.QueryError, collectors.TimeLimit):
                return []  # too long or too costly: completed from the index's words alone
            docnums = [docnum for _score, docnum in ranked.top]
        texts = []
        for docnum in docnums:
            stored = s.stored_fields(docnum)
            body = stored.get("body", "")[: completion.SAMPLE_CHARS]
            texts.append(stored.get("title", "") + "\n" + body)
        return texts


class _Deadline(collectors.WrappingCollector):
    """Stops a search with Whoosh's ``TimeLimit`` once the clock passes ``deadline``.

    The clock is read at every matching document, in ``matches()``, which a filter wrapped
    around this collector iterates too. Whoosh's ``TimeLimitCollector`` does not fit: its
    default SIGALRM fails outside the main thread, it starts a timer thread per search, and
    its check sits in ``collect_matches()``, which an enclosing ``FilterCollector`` bypasses.
    """

    def __init__(self, child: collectors.Collector, deadline: float):
        super().__init__(child)
        self.deadline = deadline

    def matches(self):
        for sub_docnum in self.child.matches():
            if time.monotonic() >= self.deadline:
                raise collectors.TimeLimit
            yield sub_docnum


def _run_until(s: Searcher, query: wq.Query, collector, deadline: float, filter_q):
    """Run ``query`` into ``collector``, filtered as ``Searcher.search`` would filter it, and
    return the results; raise Whoosh's ``TimeLimit`` if it is still running at ``deadline``."""
    timed = _Deadline(collector, deadline)
    # The filter goes outside, as Searcher.collector() puts it, so it sees documents first.
    outer = collectors.FilterCollector(timed, filter_q) if filter_q is not None else timed
    s.search_with_collector(query, outer)
    return outer.results()


def _check_prefixes(query: wq.Query, reader) -> None:
    """Refuse a query whose prefixes stand for more than ``MAX_PREFIX_TERMS`` index words:
    each word is a posting list to merge, so they, not the query's length, make it slow."""
    prefixes = [q for q in query.leaves() if isinstance(q, wq.Prefix)]
    words = itertools.chain.from_iterable(p.expanded_terms(reader) for p in prefixes)
    if sum(1 for _ in itertools.islice(words, MAX_PREFIX_TERMS + 1)) > MAX_PREFIX_TERMS:
        raise ql.QueryTooExpensive(
            f"the query's prefixes (word*) match too many words (the limit is "
            f"{MAX_PREFIX_TERMS}); make them longer"
        )


@dataclass(frozen=True)
class Ranked:
    """What one run of a query gives, whichever way it ran: how many documents matched,
    the best ``(score, docnum)`` up to the page's end, and the documents per source."""

    total: int
    top: list[tuple]
    sources: dict[str, int]
    # Results per date (or per year: only the years are shown); only when the index has dates
    dates: dict[str, int] = field(default_factory=dict)


def rank(
    s: Searcher,
    query: wq.Query,
    limit: int,
    deadline: float,
    filters: Filters | None = None,
    sort: str = "relevance",
    signals: titles.Signals | None = None,
) -> Ranked:
    """Run a built query: the total, the best ``limit`` and the sources, no snippets.

    Relevance goes through :mod:`searchsvc.engine.termwise` when it handles the query's shape;
    Whoosh's collectors run the others and the sort by date. Past ``deadline``
    (``time.monotonic()``) Whoosh's ``TimeLimit`` is raised. With ``signals``, relevance
    adds the title signals (:mod:`searchsvc.engine.titles`) to the best documents' scores.
    """
    filters = filters or Filters()
    if sort == "relevance" and termwise.supports(query):
        return _rank_termwise(s, query, limit, deadline, filters, signals)
    return _rank_whoosh(s, query, limit, deadline, filters, sort, signals)


def _rank_termwise(
    s: Searcher, query: wq.Query, limit: int, deadline: float, filters, signals=None
) -> Ranked:
    """Rank by relevance through :mod:`searchsvc.engine.termwise` (same scores as Whoosh's)."""
    filter_q = filters.query()
    allowed = set(s.docs_for_query(filter_q)) if filter_q is not None else None
    depth = max(limit, titles.RERANK_DEPTH) if signals else limit
    matches = termwise.run(s, query, deadline, allowed, depth=depth)
    top = [(-negated, docnum) for negated, docnum in matches.top(depth)]
    top = titles.rerank(s, top, signals)[:limit]
    sources = termwise.value_counts(s, matches.docs, "source") if len(matches) else {}
    dated = len(matches) and _has_dates(s.reader())
    # Only the years of the dates are shown: counted by year (there are far fewer).
    dates = termwise.value_counts(s, matches.docs, "date", _year) if dated else {}
    return Ranked(len(matches), top, sources, dates)


def _rank_whoosh(
    s: Searcher, query: wq.Query, limit: int, deadline: float, filters, sort, signals=None
) -> Ranked:
    """Rank through Whoosh's collectors: any query shape, and the sort by date."""
    # optimize=False: no block skipping, so the total is counted in the same pass
    # (with skipping, Whoosh counts by running the query a second time).
    dated = _has_dates(s.reader())
    if sort != "relevance":
        signals = None  # the title signals are a matter of relevance
    depth = max(limit, titles.RERANK_DEPTH) if signals else limit
    collector = s.collector(
        limit=depth,
        optimize=False,
        sortedby=_BY_DATE if sort == "date" else None,
        reverse=sort == "date",
        groupedby=_FACETS_AND_DATES if dated else _FACETS,
    )
    results = _run_until(s, query, collector, deadline, filters.query())
    total = len(results)
    sources = results.groups("source") if total else {}
    dates = results.groups("date") if total and dated else {}
    top = titles.rerank(s, results.top_n[:depth], signals)[:limit]
    return Ranked(total, top, sources, dates)


def _has_dates(reader) -> bool:
    """Whether any document of the index has a date (known once per reader)."""

    def any_date() -> bool:
        return next(iter(reader.lexicon("date")), None) is not None

    return per_reader(reader, "has dates", any_date)


def _count(s: Searcher, query: wq.Query) -> int:
    """How many documents a query matches.

    Not ``len(s.search(query, limit=1))``: Whoosh's top-N collector undercounts the queries
    QueryBuilder makes (26 instead of 38 for ``hypothese`` on the bench index, 29 with
    ``optimize=False``); an unscored, unlimited search counts them right.
    """
    if termwise.supports(query):
        return len(termwise.run(s, query, time.monotonic() + SEARCH_TIME_LIMIT, depth=0))
    return len(s.search(query, limit=None, scored=False))


def _facet_counts(counts: dict[str, int]) -> dict[str, list[FacetCount]]:
    """The most frequent values of each facet among all the results."""
    # Only values as frequent as the tenth most frequent can be shown: sort just those (an
    # index may have thousands of sources). Documents without a value are not a value.
    named = {v: n for v, n in counts.items() if v}
    least = heapq.nlargest(MAX_FACET_VALUES, named.values())[-1] if named else 0
    top = sorted(((v, n) for v, n in named.items() if n >= least), key=_most_first)
    return {"source": [FacetCount(v, n) for v, n in top[:MAX_FACET_VALUES]]}


def _most_first(value_count: tuple[str, int]) -> tuple[int, str]:
    return -value_count[1], value_count[0]


# Years a result page counts its results in, at most.
MAX_YEARS = 50


def _year(date: str | None) -> str:
    """The year of an ISO date ("" when there is none)."""
    return (date or "")[:4]


def _year_counts(dates: dict[str, int]) -> list[FacetCount]:
    """Results per year of their (ISO) date, newest first."""
    years: dict[str, int] = {}
    for value, n in dates.items():
        year = (value or "")[:4]
        if len(year) == 4 and year.isdigit():
            years[year] = years.get(year, 0) + n
    return [FacetCount(y, years[y]) for y in sorted(years, reverse=True)[:MAX_YEARS]]


def _check_page(page: int, per_page: int) -> None:
    if page < 1:
        raise ql.QueryError(f"page must be 1 or more (got {page})")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ql.QueryError(f"per_page must be between 1 and {MAX_PER_PAGE} (got {per_page})")
    if page * per_page > MAX_RESULT_WINDOW:
        raise ql.QueryError(
            f"results beyond the first {MAX_RESULT_WINDOW} cannot be paged to "
            f"(page {page} x per_page {per_page}); refine the query instead"
        )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
