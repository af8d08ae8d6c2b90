"""Search the index: ranked, paginated hits with snippets, suggestions and completions.

:class:`SearchEngine` is what the CLI and the web app share, and it only orchestrates: the
live index and its searcher belong to :mod:`~searchsvc.engine.live`, a query's plan to
:mod:`~searchsvc.query.plan`, ranking to :mod:`~searchsvc.engine.ranking`, did-you-mean to
:mod:`~searchsvc.engine.suggest`, snippets to :mod:`~searchsvc.engine.snippets`. A search has
one deadline, which bounds its ranking, its fallbacks and its counts. It returns the plain
dataclasses of :mod:`~searchsvc.engine.results`, never Whoosh objects.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import replace

from whoosh import collectors
from whoosh import query as wq
from whoosh.searching import Searcher

from searchsvc.engine import completion, ranking, snippets, suggest, titles
from searchsvc.engine.live import GiveUpTurn, LiveIndex
from searchsvc.engine.results import SORTS, Filters, Hit, SearchResult, StoredDocument
from searchsvc.errors import Kind, QueryError, QueryTooExpensive, check_between
from searchsvc.index import columns
from searchsvc.index.caches import LRU, stored_fields
from searchsvc.index.schema import web_url
from searchsvc.query import language as ql
from searchsvc.query import sources, spelling
from searchsvc.query.instant import InstantQueryBuilder, instant_tree, split_instant
from searchsvc.query.plan import Highlights, Plan, QueryBuilder
from searchsvc.query.synonyms import EMPTY, Synonyms, SynonymSet
from searchsvc.settings import (
    HEAVY_QUERY_SECONDS,
    MAX_COMPLETIONS,
    MAX_PER_PAGE,
    MAX_RESULT_WINDOW,
    MAX_SIMILAR,
    PARTIAL_BELOW,
    RESULT_PAGES_CACHED,
    SAMPLE_CHARS,
    SAMPLE_DOCS,
    SEARCH_TIME_LIMIT,
    SIMILAR_TERMS,
    SIMILAR_TEXT_CHARS,
    SUGGEST_BELOW,
    VERIFY_EVERY_S,
    WARM_TITLES,
    Weights,
)
from searchsvc.text.analysis import content_term

# Set by a server for the duration of a request (the core knows no web framework): what a
# search estimated heavier than HEAVY_QUERY_SECONDS runs under. The server gives the
# request's place among the others back while it waits there, so that heavy searches queue
# apart, one at a time, and cheap ones never wait behind a line of them. Unset (the CLI,
# tests), every search runs in its turn.
heavy_lane: ContextVar[Callable[[], AbstractContextManager[None]] | None] = ContextVar(
    "searchsvc_heavy_lane", default=None
)


class SearchEngine:
    """Searches one index directory; safe to share between threads (they take turns)."""

    def __init__(
        self,
        index_dir: str | os.PathLike,
        weights: Weights | None = None,
        *,
        time_limit: float = SEARCH_TIME_LIMIT,
        verify_every: float = VERIFY_EVERY_S,
        did_you_mean: bool = True,
        synonyms: Synonyms | None = None,
    ):
        """``time_limit``: seconds a search may spend matching before it is refused;
        ``verify_every``: seconds between two checks of the live index's files;
        ``did_you_mean``: whether searches that find little suggest a corrected query;
        ``synonyms``: the synonyms file queries are expanded with (its rules in force at
        each search: an edit needs no reindex)."""
        self.weights = weights or Weights()
        self.synonyms = synonyms
        self.time_limit = time_limit
        self.did_you_mean = did_you_mean
        # Recent result pages of the current searcher (emptied when it is replaced).
        self._pages = LRU(RESULT_PAGES_CACHED)
        # The best documents of recent instant searches, by text: where completing the
        # same text reads the words that follow (see _sample).
        self._samples = LRU(RESULT_PAGES_CACHED)
        self._live = LiveIndex(
            index_dir, verify_every=verify_every, on_new_searcher=self._forget_results
        )

    @property
    def root(self):
        """The index folder."""
        return self._live.root

    @property
    def verify_every(self) -> float:
        """Seconds between two checks of the live index's files."""
        return self._live.verify_every

    @verify_every.setter
    def verify_every(self, seconds: float) -> None:
        self._live.verify_every = seconds

    def _rules(self) -> SynonymSet:
        """The synonyms in force (none without a file)."""
        return self.synonyms.current() if self.synonyms is not None else EMPTY

    def _forget_results(self) -> None:
        self._pages.clear()
        self._samples.clear()

    def searcher(self) -> AbstractContextManager[Searcher]:
        """The searcher, brought up to date with the index on disk, as a context manager; one
        user at a time."""
        return self._live.searcher()

    def close(self) -> None:
        """Release the searcher and the index."""
        self._live.close()

    def stats(self) -> dict:
        """Documents, generation and format version of the live index (see
        :meth:`LiveIndex.stats`); never waits for the searcher."""
        return self._live.stats()

    def warm_up(self, titles_limit: int = WARM_TITLES) -> int:
        """Do what the first searches would otherwise do while people wait: read the spelling
        vocabularies that cache files hold (milliseconds; :meth:`warm_up_spelling` builds the
        others), rank the documents' ids (what the first search with equal scores would wait
        for: every segment's id column, ~40 ms at 30,000 documents), then read and analyse the
        titles of the first ``titles_limit`` documents (each read and analysed on first sight,
        for the best 50 of every query, which a first search would wait for); returns how many
        titles."""
        with self.searcher() as s:
            spelling.missing(s.reader())
            sources.sources_named(s.reader(), "")  # the words of the sources' names
            columns.id_ranks(s.reader())
            count = min(titles_limit, s.reader().doc_count_all())
            analysed_of = titles.analysed_titles(s)  # what rerank reads them through
            for docnum in range(count):
                analysed_of(docnum)
        return count

    def warm_up_spelling(self) -> int:
        """Build the spelling vocabularies no cache file holds (seconds on a large index: a
        Python step per word of each segment's lexicon), and keep them in their cache files;
        returns how many it built.

        It works in slices of a few milliseconds, each holding the searcher patiently (a
        search waiting for it goes first), so a served worker runs it in a thread once it
        takes requests; a misspelt word searched meanwhile finishes the build it needs. It
        stops when the live index changes under it.
        """
        with self._live.searcher(urgent=False) as s:
            first = s
            todo = spelling.missing(s.reader())
        for leaf, fieldname in todo:
            steps = spelling.build_steps(leaf, fieldname)
            while True:
                with self._live.searcher(urgent=False) as s:
                    if s is not first:
                        return 0
                    if next(steps, _END) is _END:
                        break
        return len(todo)

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
        return self._cached_search(text, page, per_page, filters, sort, instant=False)

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
        :meth:`search`. See :mod:`searchsvc.query.instant`.
        """
        return self._cached_search(text, page, per_page, filters, sort, instant=True)

    def _cached_search(
        self,
        text: str,
        page: int,
        per_page: int,
        filters: Filters | None,
        sort: str,
        *,
        instant: bool,
    ) -> SearchResult:
        started = time.perf_counter()
        _check_page(page, per_page)
        if sort not in SORTS:
            raise QueryError(
                f"sort must be one of {', '.join(SORTS)} (got {sort!r})",
                kind=Kind.BAD_SORT,
                field="sort",
            )
        filters = filters or Filters()
        tree = ql.parse(text)
        lane = heavy_lane.get()
        if lane is None:
            return self._turn(text, tree, page, per_page, filters, sort, instant, started)
        try:
            return self._turn(text, tree, page, per_page, filters, sort, instant, started, True)
        except GiveUpTurn:
            pass
        # Heavy: its turn among the others is given back while it waits for the heavy lane,
        # then it runs whenever no other search waits for the searcher.
        with lane():
            return self._turn(
                text, tree, page, per_page, filters, sort, instant, started, urgent=False
            )

    def _turn(
        self,
        text: str,
        tree: ql.Node,
        page: int,
        per_page: int,
        filters: Filters,
        sort: str,
        instant: bool,
        started: float,
        light_only: bool = False,
        urgent: bool = True,
    ) -> SearchResult:
        """One turn with the searcher for a search (the cached page, or :meth:`_search`);
        ``light_only``: give the turn up (:class:`GiveUpTurn`) rather than run a search
        estimated to take more than ``HEAVY_QUERY_SECONDS``."""
        with self._live.searcher(urgent) as s:
            if instant:  # the last word is being typed, unless searched as it is (instant_tree)
                rewritten = instant_tree(tree, text, s.reader())
                instant = rewritten is not None
                if rewritten is not None:
                    tree = rewritten
            rules = self._rules()  # pages found with older synonyms are never served
            key = (text, page, per_page, filters, sort, instant, rules.version)
            cached = self._pages.get(key)
            if cached is not None:
                return replace(cached, took_ms=_ms(started))
            result = self._search(
                s,
                tree,
                text,
                page,
                per_page,
                filters,
                sort,
                started,
                instant=instant,
                light_only=light_only,
                synonyms=rules,
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
        *,
        instant: bool = False,
        light_only: bool = False,
        synonyms: SynonymSet = EMPTY,
    ) -> SearchResult:
        """One page of results for a parsed query, with the fallbacks; see :meth:`search`.
        ``instant``: the tree's last word is being typed (:meth:`search_as_you_type`);
        ``light_only``: raise :class:`GiveUpTurn` before running anything heavy;
        ``synonyms``: the rules this search expands words with, its fallbacks included."""
        # Past the result window the page holds what is left of it, maybe nothing.
        limit = min(page * per_page, MAX_RESULT_WINDOW)
        deadline = time.monotonic() + self.time_limit
        # An instant search keeps its best documents for the completions of the same text.
        keep = max(limit, SAMPLE_DOCS) if instant and sort == "relevance" else limit

        wording = titles.query_wording(tree, text)

        def run(wq, plan: Plan, depth: int = keep) -> ranking.Ranked:
            signals = titles.Signals(plan.highlights, plan.words, wording)
            try:
                return ranking.rank(s, wq, depth, deadline, filters, sort, signals)
            except collectors.TimeLimit:
                raise self._too_slow() from None

        builder = self._builder(s, instant, synonyms)  # the fallbacks' plans too
        plan = builder.build(tree)
        wq = plan.query
        if wq is None:
            notice = "stop_words_only" if any(ql.leaves(tree)) else None
            return SearchResult(
                text, ql.render(tree), 0, page, per_page, _ms(started), notice=notice
            )
        ranking.check_prefixes(wq, s.reader())
        # Refused before it runs when its postings say it would take too long, fallbacks
        # included (each checked with what came before it, when it is due).
        shown = min(per_page, max(0, limit - (page - 1) * per_page))
        estimate = self._check_cost(s, wq, sort, keep, shown, light_only=light_only)
        ranked = run(wq, plan)
        suggestion = None
        if self.did_you_mean and ranked.total < SUGGEST_BELOW:
            with contextlib.suppress(collectors.TimeLimit):  # the results matter more
                suggestion = suggest.did_you_mean(
                    s, tree, text, ranked.total, self.weights, deadline
                )
        approximate: list[str] = []
        if ranked.total == 0:
            # Words that match nothing also match close words (with their partial matches).
            fuzzy = builder.build(tree, fuzzy=True)
            if fuzzy.query is not None and fuzzy.approximate:
                estimate = self._check_cost(
                    s, fuzzy.query, sort, keep, 0, spent=estimate, light_only=light_only
                )
                found = run(fuzzy.query, fuzzy)
                if found.total:
                    ranked, plan = found, fuzzy
                    approximate = sorted(fuzzy.approximate)
        every_word = ranked.total
        # Below the documents with every content word, those with some of them, ranked as far
        # as the page reaches (only counted when it is full).
        more = max(0, keep - len(ranked.top))
        partial_ranked, estimate = self._partial(
            s, plan, every_word, more, estimate, lambda q: run(q, plan, more), sort, light_only
        )
        if partial_ranked is not None:
            ranked = ranked.then(partial_ranked, keep)
        relaxed = every_word == 0 and ranked.total > 0
        if instant:
            self._samples.put(text, [d for _score, d in ranked.top[:SAMPLE_DOCS]])
        total = ranked.total
        marks = snippets.Marks(plan.highlights)  # shared by the page's snippets and titles
        hits = [
            self._hit(s, docnum, score, marks)
            for score, docnum in ranked.top[(page - 1) * per_page : limit]
        ]
        facets = ranking.facet_counts(ranked.sources) if total else {}
        years = ranking.year_counts(ranked.dates) if total else []
        # Results the page would show past the window are there but cannot be paged to.
        cut = min(total, page * per_page) > MAX_RESULT_WINDOW
        return SearchResult(
            text,
            ql.render(tree),
            total,
            page,
            per_page,
            _ms(started),
            hits,
            suggestion,
            notice="beyond_window" if cut else None,
            relaxed=relaxed,
            approximate=approximate,
            facets=facets,
            sort=sort,
            filters=filters,
            years=years,
            also=list(plan.also),
            every_word=every_word,
            filler=list(plan.filler),
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
            url=web_url(stored.get("url")),
            date=stored.get("date"),
            source=stored.get("source"),
            title_html=snippets.highlight(title, highlights),
        )

    def count(self, text: str) -> int:
        """Number of documents a query finds (0 when it has nothing searchable)."""
        tree = ql.parse(text)
        with self.searcher() as s:
            plan = self._builder(s, False, self._rules()).build(tree)
            wq = plan.query
            if wq is None:
                return 0
            ranking.check_prefixes(wq, s.reader())
            spent = self._check_cost(s, wq, "relevance", 0, 0)
            deadline = time.monotonic() + self.time_limit
            try:
                found = ranking.count(s, wq, deadline)
                partial, _spent = self._partial(
                    s, plan, found, 0, spent, lambda q: ranking.count(s, q, deadline)
                )
                return found + (partial or 0)
            except collectors.TimeLimit:
                raise self._too_slow() from None

    def _partial(
        self,
        s: Searcher,
        plan: Plan,
        every_word: int,
        limit: int,
        spent: float,
        run: Callable,
        sort: str = "relevance",
        light_only: bool = False,
    ):
        """``run(query)`` on the plan's partial matches when they follow ``every_word``
        documents with every content word (fewer than ``PARTIAL_BELOW``), keeping ``limit``;
        ``(what it gave, or None, the cost estimate's new total)``. Too costly, they are left
        out when something else is shown, and the search refused when nothing is."""
        query = plan.partial_query
        if query is None or every_word >= PARTIAL_BELOW:
            return None, spent
        try:
            spent = self._check_cost(s, query, sort, limit, 0, spent=spent, light_only=light_only)
        except QueryTooExpensive:
            if every_word == 0:
                raise  # nothing to show but what is too costly to find: say so
            return None, spent
        return run(query), spent

    def _builder(self, s: Searcher, instant: bool, synonyms: SynonymSet | None) -> QueryBuilder:
        """The builder of a search's plans (its fallbacks' too), in partial mode; ``instant``:
        it reads the word being typed as one of its completions
        (:class:`~searchsvc.query.instant.InstantQueryBuilder`)."""
        make = InstantQueryBuilder if instant else QueryBuilder
        return make(s.reader(), self.weights, synonyms=synonyms, partial=True)

    def _check_cost(
        self,
        s: Searcher,
        wq,
        sort: str,
        keep: int,
        shown: int,
        spent: float = 0.0,
        light_only: bool = False,
    ) -> float:
        """Refuse a query whose estimated time, added to ``spent`` (the estimate of the runs
        before it), is over the limit (see :func:`ranking.check_cost`); the new total. With
        ``light_only``, give the turn up when that is over ``HEAVY_QUERY_SECONDS``."""
        whoosh = not ranking.runs_termwise(wq, sort)
        total = ranking.check_cost(s, wq, whoosh=whoosh, limit=keep, shown=shown, spent=spent)
        if light_only and total > HEAVY_QUERY_SECONDS:
            raise GiveUpTurn()
        return total

    def _too_slow(self) -> QueryTooExpensive:
        return QueryTooExpensive(
            f"the query takes too long to run (the limit is {self.time_limit:g} s); "
            "make it more precise",
            field="q",
            limit=self.time_limit,
        )

    # -- documents and completion ------------------------------------------------------------

    def document(self, doc_id: str) -> StoredDocument | None:
        """The stored document with this id, or None."""
        with self.searcher() as s:
            # Through the searcher's cache of stored documents: the document page asks for
            # its similar documents next, which reads this one again.
            docnum = s.document_number(id=doc_id)
            stored = None if docnum is None else stored_fields(s, docnum)
        if stored is None:
            return None
        return StoredDocument(
            id=stored["id"],
            title=stored.get("title", ""),
            body=stored.get("body", ""),
            path=stored.get("path"),
            url=web_url(stored.get("url")),
            date=stored.get("date"),
            source=stored.get("source"),
        )

    def similar(self, doc_id: str, limit: int = MAX_SIMILAR) -> list[Hit] | None:
        """Documents closest to this one by their key terms (None when the id is unknown)."""
        check_between(limit, 1, MAX_SIMILAR, kind=Kind.BAD_LIMIT, field="limit")
        with self.searcher() as s:
            docnum = s.document_number(id=doc_id)
            if docnum is None:
                return None
            stored = stored_fields(s, docnum)
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
            builder = QueryBuilder(s.reader(), self.weights, synonyms=self._rules())
            return builder.build(tree).highlights

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
        instant = split_instant(text)
        if instant is None or limit < 1:
            return []
        with self.searcher() as s:
            sample = self._sample(s, text) if instant.context else []
            return completion.complete(s, instant, sample, limit)

    def _sample(self, s: Searcher, text: str) -> list[str]:
        """The texts (title and start of the body) of the documents an instant search of
        ``text`` ranks first: where the words following the words typed are read. The
        instant search of the same text just made keeps them (the search page asks for both
        at once), else the search is made here."""
        docnums = self._samples.get(text)
        if docnums is None:
            try:
                tree = instant_tree(ql.parse(text), text, s.reader())
                if tree is None:
                    return []
                plan = self._builder(s, True, None).build(tree)
                wq = plan.query
                if wq is None:
                    return []
                ranking.check_prefixes(wq, s.reader())
                spent = self._check_cost(s, wq, "relevance", SAMPLE_DOCS, 0)
                deadline = time.monotonic() + self.time_limit
                ranked = ranking.rank(s, wq, SAMPLE_DOCS, deadline)
                more = SAMPLE_DOCS - len(ranked.top)
                if more > 0:  # as the instant search fills its page (see _search)
                    partial, _spent = self._partial(
                        s, plan, ranked.total, more, spent,
                        lambda q: ranking.rank(s, q, more, deadline),
                    )  # fmt: skip
                    if partial is not None:
                        ranked = ranked.then(partial, SAMPLE_DOCS)
            except (QueryError, collectors.TimeLimit):
                return []  # too long or too costly: completed from the index's words alone
            docnums = [docnum for _score, docnum in ranked.top]
        texts = []
        for docnum in docnums:
            stored = s.stored_fields(docnum)
            body = stored.get("body", "")[:SAMPLE_CHARS]
            texts.append(stored.get("title", "") + "\n" + body)
        return texts


_END = object()  # what next() gives a finished generator (see SearchEngine.warm_up)


def _check_page(page: int, per_page: int) -> None:
    if page < 1:
        raise QueryError(f"page must be 1 or more (got {page})", kind=Kind.BAD_PAGE, field="page")
    check_between(per_page, 1, MAX_PER_PAGE, kind=Kind.BAD_PER_PAGE, field="per_page")
    # A page past the window is answered, with what is left of the window on it (nothing,
    # soon) and the notice ``beyond_window``, as Algolia and Meilisearch answer: each page
    # number and size the API describes is then a valid request. Only a page that no size
    # could reach is refused.
    if page > MAX_RESULT_WINDOW:
        raise QueryError(
            f"page must be at most {MAX_RESULT_WINDOW} (got {page}): only the first "
            f"{MAX_RESULT_WINDOW} results can be paged to; refine the query instead",
            kind=Kind.BEYOND_WINDOW,
            field="page",
            limit=MAX_RESULT_WINDOW,
        )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
