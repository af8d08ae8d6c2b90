"""Ranking a built query: the total, the best documents and the facet counts, within one
deadline.

Relevance goes through :mod:`searchsvc.engine.termwise` (numpy arrays, Whoosh's scores to the
bit) when it handles the query's shape, partial matches included; Whoosh's collectors run the
others (a ``source:`` word, ``OR -word``). Either way the title signals
(:mod:`searchsvc.engine.titles`) then rerank the best documents.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from whoosh import collectors, sorting
from whoosh import query as wq
from whoosh.searching import Searcher

from searchsvc import errors, settings
from searchsvc.engine import termwise, titles
from searchsvc.engine.results import SORTS, FacetCount, Filters
from searchsvc.index import columns
from searchsvc.index.caches import Key, frequency, per_reader
from searchsvc.query.nodes import FromSource

_FACETS = sorting.Facets().add_facet("source", columns.FieldFacet("source", maptype=sorting.Count))
_FACETS_AND_DATES = (
    sorting.Facets()
    .add_facet("source", columns.FieldFacet("source", maptype=sorting.Count))
    .add_facet("date", columns.FieldFacet("date", maptype=sorting.Count))
)
_BY_DATE = columns.FieldFacet("date")


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


def check_prefixes(query: wq.Query, reader) -> None:
    """Refuse a query whose prefixes stand for more than ``MAX_PREFIX_TERMS`` index words:
    each word is a posting list to merge, so they, not the query's length, make it slow."""
    prefixes = [q for q in query.leaves() if isinstance(q, wq.Prefix)]
    words = itertools.chain.from_iterable(p.expanded_terms(reader) for p in prefixes)
    limit = settings.MAX_PREFIX_TERMS
    if sum(1 for _ in itertools.islice(words, limit + 1)) > limit:
        raise errors.QueryTooExpensive(
            f"the query's prefixes (word*) match too many words (the limit is "
            f"{limit}); make them longer",
            field="q",
            limit=limit,
        )


@dataclass(frozen=True)
class Cost:
    """What running a built query will read, counted before it runs from its terms' document
    frequencies (a few microseconds a term): the time it takes grows with these counts."""

    postings: int = 0  # postings of its terms, prefixes' expansions included
    positions: int = 0  # postings whose positions its phrases may read, at most
    terms: int = 0  # terms looked up (each a node of arrays, or a matcher)

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.postings + other.postings,
            self.positions + other.positions,
            self.terms + other.terms,
        )

    def seconds(self, whoosh: bool, limit: int = 10, shown: int = 10) -> float:
        """The time it should take on the reference machine (see ``QUERY_COST``), run through
        Whoosh's collectors (``whoosh``) or term-wise, keeping the best ``limit`` and
        showing ``shown`` hits with their snippets."""
        c = settings.QUERY_COST
        per_term = c.whoosh_term if whoosh else c.term
        per_posting = c.whoosh_posting if whoosh else c.posting
        return (
            c.base
            + self.terms * per_term
            + self.postings * per_posting
            + self.positions * c.position
            + (limit * c.kept if whoosh else 0.0)
            + shown * c.shown
        )


def query_cost(s: Searcher, query: wq.Query, depth: int | None = None) -> Cost:
    """The :class:`Cost` of ``query`` on the searcher's index, from its terms' document
    frequencies alone (no posting is read): each term's postings, each prefix's expansions',
    and for a phrase its words' postings plus the positions of the documents that may hold
    it all (as many as its rarest word's). With ``depth`` (run term-wise, keeping the best
    ``depth``), the proximity bonus reads positions for about that many documents only."""
    leaves = [leaf.reader() for leaf, _offset in s.leaf_searchers()]
    core = query
    while isinstance(core, wq.AndNot):
        core = core.a
    if depth is None or type(core) is not wq.AndMaybe or not _is_bonus(core.b):
        core = None  # no proximity bonus read for the best documents only

    def df(fieldname: str, text) -> int:
        if not isinstance(text, str):
            return s.reader().doc_frequency(fieldname, text)
        # The per-segment frequencies termwise keeps (the search reads the same ones next),
        # added up once per reader: not once per node and segment.
        return frequency(s.reader(), fieldname, text)

    def walk(q: wq.Query) -> Cost:
        if isinstance(q, wq.Term):
            return Cost(df(q.fieldname, q.text), 0, 1)
        if isinstance(q, wq.Phrase):
            counts = [df(q.fieldname, w) for w in q.words]
            if not counts:
                return Cost()
            return Cost(sum(counts), len(counts) * min(counts), len(counts))
        if isinstance(q, wq.Prefix):
            counts = [ti.doc_frequency() for r in leaves for _t, ti in r.iter_prefix(
                q.fieldname, q.text)]  # fmt: skip
            return Cost(sum(counts), 0, len(counts))
        if isinstance(q, wq.Every):
            return Cost(s.doc_count_all(), 0, 1)
        if isinstance(q, FromSource):  # term-wise, one look at the source column
            return Cost(0, 0, 1)
        if q is core:
            # The bonus's candidates: the best documents, and those close enough to them.
            bonus = walk(q.b)
            capped = min(bonus.positions, _BONUS_CANDIDATES * depth * bonus.terms)
            return walk(q.a) + Cost(bonus.postings, capped, bonus.terms)
        total = Cost()
        for child in q.children():
            total += walk(child)
        return total

    return walk(query)


# Documents whose proximity bonus is worked out, for each of the best ``depth`` (an estimate:
# those whose score plus the bonus's bound reaches the depth-th best).
_BONUS_CANDIDATES = 4


def _is_bonus(q: wq.Query) -> bool:
    """Whether ``q`` is a proximity bonus (loose phrases), as termwise tells it."""
    if isinstance(q, wq.Or):
        return all(_is_bonus(c) for c in q.subqueries)
    return type(q) is wq.Phrase


def estimate(s: Searcher, query: wq.Query, *, whoosh: bool, limit: int, shown: int) -> float:
    """Seconds ``query`` should take (see :class:`Cost`), run as :func:`rank` will run it:
    through Whoosh (``whoosh``) or term-wise, keeping the best ``limit``, ``shown`` shown."""
    depth = None if whoosh else max(limit, settings.RERANK_DEPTH)
    return query_cost(s, query, depth).seconds(whoosh, limit, shown)


def check_cost(
    s: Searcher,
    query: wq.Query,
    *,
    whoosh: bool,
    limit: int = 10,
    shown: int = 10,
    spent: float = 0.0,
) -> float:
    """Refuse ``query`` before it runs when its estimated time (:func:`estimate`), added to
    ``spent`` (the estimates of the runs of the same search before it), is over
    ``MAX_QUERY_SECONDS``; return that total otherwise."""
    total = spent + estimate(s, query, whoosh=whoosh, limit=limit, shown=shown)
    if total > settings.MAX_QUERY_SECONDS:
        raise errors.QueryTooExpensive(
            "the query would take too long to run (too many common words, phrases or "
            "results to go through); make it more precise",
            field="q",
            limit=settings.MAX_QUERY_SECONDS,
        )
    return total


def runs_termwise(query: wq.Query, sort: str = "relevance") -> bool:
    """Whether :func:`rank` runs ``query`` term-wise (else through Whoosh's collectors)."""
    return sort in SORTS and termwise.supports(query)


@dataclass(frozen=True)
class Ranked:
    """What one run of a query gives, whichever way it ran: how many documents matched,
    the best ``(score, docnum)`` up to the page's end, and the documents per source."""

    total: int
    top: list[tuple]
    sources: dict[str, int]
    # Results per date (or per year: only the years are shown); only when the index has dates
    dates: dict[str, int] = field(default_factory=dict)

    def then(self, partial: Ranked, limit: int) -> Ranked:
        """These documents followed by ``partial``'s (the query's partial matches, which
        none of these is): totals and counts added up, the best ``limit`` in all."""
        return Ranked(
            self.total + partial.total,
            (self.top + partial.top)[:limit],
            dict(Counter(self.sources) + Counter(partial.sources)),
            dict(Counter(self.dates) + Counter(partial.dates)),
        )


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
    if runs_termwise(query, sort):
        return _rank_termwise(s, query, limit, deadline, filters, sort, signals)
    return _rank_whoosh(s, query, limit, deadline, filters, sort, signals)


def _rank_termwise(
    s: Searcher, query: wq.Query, limit: int, deadline: float, filters, sort, signals=None
) -> Ranked:
    """Rank through :mod:`searchsvc.engine.termwise` (same scores as Whoosh's), by relevance
    or by date (the matches ordered by their date column, as Whoosh's sorted collector)."""
    filter_q = filters.query(s.reader())
    allowed = set(s.docs_for_query(filter_q)) if filter_q is not None else None
    if sort == "date" or limit <= 0:  # no page to fill: the matches, found unscored
        matches = termwise.run(s, query, deadline, allowed, depth=0)
        top = _newest(s, matches.docs, limit)
    else:
        depth = max(limit, settings.RERANK_DEPTH) if signals else limit
        matches = termwise.run(s, query, deadline, allowed, depth=depth)
        best = matches.top(depth, lambda: columns.id_ranks(s.reader()))
        top = _reranked(s, [(-negated, docnum) for negated, docnum in best], signals, limit)
    sources = termwise.value_counts(s, matches.docs, "source") if len(matches) else {}
    dated = len(matches) and _has_dates(s.reader())
    # Only the years of the dates are shown: counted by year (there are far fewer).
    dates = termwise.value_counts(s, matches.docs, "date", _year) if dated else {}
    return Ranked(len(matches), top, sources, dates)


def _reranked(s: Searcher, best: list[tuple], signals, limit: int) -> list[tuple]:
    """The best ``(score, docnum)`` (best first, equal scores in id order) with the title
    signals added (:func:`titles.rerank`), sorted again and cut at ``limit``: equal scores
    in the order of their ids again, whatever order the reranking left them in."""
    top = titles.rerank(s, best, signals)
    return _ties_by_id(s, top, limit) if signals is not None else top[:limit]


def _ties_by_id(s: Searcher, items: list[tuple], limit: int) -> list[tuple]:
    """The first ``limit`` of ``items`` (``(key, docnum)``, sorted highest key first, as
    Whoosh's collectors or the reranking leave them), equal keys in the order of their
    documents' ids (:func:`columns.id_ranks`), never of their numbers, which depend on how
    a build laid the documents into segments. The documents tied with the ``limit``-th
    are all weighed before the cut."""
    if limit <= 0 or not items:
        return []
    end = min(limit, len(items))
    while end < len(items) and items[end][0] == items[end - 1][0]:
        end += 1
    head = items[:end]
    if any(a[0] == b[0] for a, b in itertools.pairwise(head)):
        ranks = columns.id_ranks(s.reader())
        head = sorted(head, key=lambda item: ranks[item[1]])
        head.sort(key=lambda item: item[0], reverse=True)  # stable: ties keep the ids' order
    return head[:limit]


def _newest(s: Searcher, docnums: np.ndarray, limit: int) -> list[tuple[str, int]]:
    """The ``limit`` newest of these documents (global numbers, ascending) as ``(date,
    docnum)``: newest first, undated last, equal dates in the order of their ids (as
    :func:`_rank_whoosh` orders Whoosh's sorted collector's)."""
    if limit <= 0 or not len(docnums):
        return []
    dates = np.empty(len(docnums), dtype=object)
    for leaf, offset in s.leaf_searchers():
        reader = leaf.reader()
        lo, hi = np.searchsorted(docnums, [offset, offset + reader.doc_count_all()])
        if lo < hi:
            codes, names = columns.column_codes(reader, "date")
            dates[lo:hi] = np.array(names, dtype=object)[codes[docnums[lo:hi] - offset]]
    values, ranks = np.unique(dates.astype(str), return_inverse=True)
    order = np.lexsort((columns.id_ranks(s.reader())[docnums], -ranks))[:limit]
    return [(str(values[ranks[i]]), int(docnums[i])) for i in order.tolist()]


def _rank_whoosh(
    s: Searcher, query: wq.Query, limit: int, deadline: float, filters, sort, signals=None
) -> Ranked:
    """Rank through Whoosh's collectors: any query shape, and the sort by date."""
    # optimize=False: no block skipping, so the total is counted in the same pass
    # (with skipping, Whoosh counts by running the query a second time).
    dated = _has_dates(s.reader())
    if sort != "relevance":
        signals = None  # the title signals are a matter of relevance
    depth = max(limit, settings.RERANK_DEPTH) if signals else limit
    collector = s.collector(
        # Whoosh collects every match either way (grouped, or sorted by date); all of them
        # are kept so that _ties_by_id sees every document tied with the last one kept.
        limit=None,
        optimize=False,
        sortedby=_BY_DATE if sort == "date" else None,
        reverse=sort == "date",
        groupedby=_FACETS_AND_DATES if dated else _FACETS,
    )
    results = _run_until(s, query, collector, deadline, filters.query(s.reader()))
    total = len(results)
    sources = results.groups("source") if total else {}
    dates = results.groups("date") if total and dated else {}
    best = _ties_by_id(s, results.top_n, depth)
    top = _reranked(s, best, signals, limit)
    return Ranked(total, top, sources, dates)


def _has_dates(reader) -> bool:
    """Whether any document of the index has a date (known once per reader)."""

    def any_date() -> bool:
        return next(iter(reader.lexicon("date")), None) is not None

    return per_reader(reader, Key.HAS_DATES, any_date)


def count(s: Searcher, query: wq.Query, deadline: float) -> int:
    """How many documents a query matches; Whoosh's ``TimeLimit`` past ``deadline``.

    Not ``len(s.search(query, limit=1))``: Whoosh's top-N collector undercounts the queries
    QueryBuilder makes, with or without ``optimize`` (the counts once seen are in
    bench/RESULTS.md); an unscored, unlimited search counts them right.
    """
    if termwise.supports(query):
        return len(termwise.run(s, query, deadline, depth=0))
    counter = collectors.UnsortedCollector()
    return len(_run_until(s, query, counter, deadline, None))


def facet_counts(counts: dict[str, int]) -> dict[str, list[FacetCount]]:
    """The most frequent values of each facet among all the results."""
    # Only values as frequent as the tenth most frequent can be shown: sort just those (an
    # index may have thousands of sources). Documents without a value are not a value.
    named = {v: n for v, n in counts.items() if v}
    least = heapq.nlargest(settings.MAX_FACET_VALUES, named.values())[-1] if named else 0
    top = sorted(((v, n) for v, n in named.items() if n >= least), key=_most_first)
    return {"source": [FacetCount(v, n) for v, n in top[: settings.MAX_FACET_VALUES]]}


def _most_first(value_count: tuple[str, int]) -> tuple[int, str]:
    return -value_count[1], value_count[0]


def _year(date: str | None) -> str:
    """The year of an ISO date ("" when there is none)."""
    return (date or "")[:4]


def year_counts(dates: dict[str, int]) -> list[FacetCount]:
    """Results per year of their (ISO) date, newest first."""
    years: dict[str, int] = {}
    for value, n in dates.items():
        year = (value or "")[:4]
        if len(year) == 4 and year.isdigit():
            years[year] = years.get(year, 0) + n
    return [FacetCount(y, years[y]) for y in sorted(years, reverse=True)[: settings.MAX_YEARS]]
