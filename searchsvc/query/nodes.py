"""The Whoosh query nodes searchsvc's query builder makes beyond Whoosh's own, and the
matchers Whoosh reads them through: a quoted phrase scored as one term
(:class:`ExactPhrase`), a union that merges lazily (:class:`Union`), an exclusion that always
excludes (:class:`Exclude`), a query's partial matches (:class:`Coverage`) and a word found
in a source's name (:class:`FromSource`). :mod:`searchsvc.engine.termwise` evaluates the
same nodes with arrays, to the same scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from whoosh import matching
from whoosh import query as wq

from searchsvc.index.caches import field_lengths
from searchsvc.index.whoosh_internals.matching import ExcludingMatcher
from searchsvc.query.scoring import PHRASE_IDF_FIELD, phrase_score
from searchsvc.settings import COVERAGE_EXPONENT, PHRASE_B


class ExactPhrase(wq.Phrase):
    """A quoted phrase: its words side by side, in order (``slop`` 1).

    Whoosh scores a phrase by its words' own frequencies, so a document that uses one of its
    words often, the phrase once, comes first. Here the phrase counts as a term whose
    frequency is the number of times it occurs, weighed by BM25 with the field's length, as
    SQLite FTS5 and Lucene score phrases (see :mod:`searchsvc.query.scoring` and
    ``PHRASE_B``).
    """

    def __init__(self, fieldname, words, slop=1, boost=1.0, char_ranges=None):
        super().__init__(fieldname, words, slop=1, boost=boost, char_ranges=char_ranges)

    def matcher(self, searcher, context=None):
        inner = wq.Phrase(self.fieldname, self.words).matcher(searcher, context)
        if not inner.is_active():
            return matching.NullMatcher()
        parent = searcher.get_parent()
        weighting = searcher.weighting
        fieldname = self.fieldname
        params = _PhraseParams(
            lengths=field_lengths(searcher.reader(), fieldname),
            idf=sum(parent.idf(PHRASE_IDF_FIELD, w) for w in self.words),
            avgfl=parent.avg_field_length(fieldname) or 1,
            k1=weighting.K1,
            b=PHRASE_B,
            boost=self.boost,
        )
        return _PhraseMatcher(inner, params)


@dataclass(frozen=True)
class _PhraseParams:
    lengths: np.ndarray  # the segment's documents' lengths in the phrase's field
    idf: float
    avgfl: float
    k1: float
    b: float
    boost: float


class _PhraseMatcher(matching.WrappingMatcher):
    """Whoosh's phrase matcher (its spans are the phrase's occurrences), scored by
    :func:`~searchsvc.query.scoring.phrase_score`."""

    def __init__(self, child, params: _PhraseParams):
        super().__init__(child)
        self.params = params

    def _replacement(self, newchild):
        return self.__class__(newchild, self.params)

    def copy(self):
        return self.__class__(self.child.copy(), self.params)

    def supports_block_quality(self):
        return False  # no skipping on bounds that would not hold

    def score(self):
        p, child = self.params, self.child
        length = p.lengths[child.id()]
        return phrase_score(
            len(child.spans()), child.score(), length, p.idf, p.avgfl, p.k1, p.b, p.boost
        )


class Union(wq.Or):
    """``Or`` that always merges lazily; Whoosh's automatic choice preloads every match of
    every clause on segments under 5,000 documents, which costs more than it saves here."""

    matcher_type = wq.Or.DEFAULT_MATCHER


class Coverage(wq.Or):
    """The partial matches of a query: documents holding some of its content clauses but not
    all of them (those are the query's own matches), ranked by how much of its meaning they
    hold.

    A document's score is its clauses' scores added up, times its coverage to the power
    ``exponent``; its coverage is the sum of the ``shares`` of the clauses it holds (the
    builder gives each clause its idf over the clauses'). Whoosh reads it through
    :class:`_CoverageMatcher`, :mod:`searchsvc.engine.termwise` with arrays, to the same
    scores.
    """

    def __init__(self, subqueries, shares, exponent=COVERAGE_EXPONENT, boost=1.0):
        super().__init__(subqueries, boost=boost)
        if len(shares) != len(self.subqueries) or any(x <= 0 for x in shares):
            raise ValueError("one share above 0 per clause")
        self.shares = tuple(float(x) for x in shares)
        self.exponent = exponent

    def __eq__(self, other):
        return (
            super().__eq__(other)
            and self.shares == getattr(other, "shares", None)
            and self.exponent == getattr(other, "exponent", None)
        )

    def __hash__(self):
        return hash((super().__hash__(), self.shares, self.exponent))

    def matcher(self, searcher, context=None):
        children = [q.matcher(searcher, context) for q in self.subqueries]
        return _CoverageMatcher(children, self)


class _CoverageMatcher(matching.Matcher):
    """Whoosh's reading of :class:`Coverage`, a document at a time, with the scores
    :mod:`searchsvc.engine.termwise` gives (the same additions in the same order)."""

    def __init__(self, children: list, query: Coverage):
        self._children = children
        self._query = query
        self._id: int | None = None
        self._settle()

    def _at(self) -> list[int]:
        """The clauses (by index) whose matchers stand on the current document."""
        return [i for i, m in enumerate(self._children) if m.is_active() and m.id() == self._id]

    def _settle(self) -> None:
        """Move to the first document, from where the clauses stand, that holds some of the
        clauses but not all."""
        while True:
            active = [m.id() for m in self._children if m.is_active()]
            if not active:
                self._id = None
                return
            self._id = min(active)
            if len(self._at()) < len(self._children):
                return
            for i in self._at():
                self._children[i].next()

    def is_active(self) -> bool:
        return self._id is not None

    def id(self) -> int:
        return self._id

    def next(self) -> None:
        for i in self._at():
            self._children[i].next()
        self._settle()

    def skip_to(self, target: int) -> None:
        for m in self._children:
            if m.is_active() and m.id() < target:
                m.skip_to(target)
        self._settle()

    def score(self) -> float:
        q = self._query
        at = self._at()
        total = 0.0
        for i in at:
            total += self._children[i].score()
        coverage = 0.0
        for i in at:
            coverage += q.shares[i]
        total *= coverage**q.exponent
        return total * q.boost if q.boost != 1.0 else total

    def copy(self):
        return _CoverageMatcher([m.copy() for m in self._children], self._query)

    def children(self):
        return list(self._children)

    def supports_block_quality(self) -> bool:
        return False

    def weight(self) -> float:
        return sum(self._children[i].weight() for i in self._at())


class FromSource(wq.Query):
    """A query word found in the name of a document's source (see
    :mod:`searchsvc.query.sources`): the documents of those sources, each at ``score``.

    A leaf that holds the source values only: a word such as « libreoffice » names thousands
    of sources, which Whoosh reads as a union of their terms made when it runs (rarely:
    term-wise, one look at the source column's codes finds them)."""

    def __init__(self, word: str, values, score: float):
        self.word = word  # the folded query word: the source column's codes are found by it
        self.values = frozenset(values)
        self.score = float(score)
        self.boost = 1.0

    def __eq__(self, other):
        return type(other) is type(self) and (self.word, self.values, self.score) == (
            other.word,
            other.values,
            other.score,
        )

    def __hash__(self):
        return hash((type(self).__name__, self.word, self.values, self.score))

    def __repr__(self):
        return f"{type(self).__name__}({len(self.values)} sources, score={self.score})"

    def estimate_size(self, ixreader):
        return 0  # not worth a look at each source's frequency: only reorders a union

    def matcher(self, searcher, context=None):
        terms = [wq.Term("source", v) for v in sorted(self.values)]
        return wq.ConstantScoreQuery(wq.Or(terms), self.score).matcher(searcher, context)


class Exclude(wq.AndNot):
    """``a ANDNOT b`` that always excludes (see
    :class:`~searchsvc.index.whoosh_internals.matching.ExcludingMatcher`)."""

    def matcher(self, searcher, context=None):
        scored = self.a.matcher(searcher, context)
        excluded = self.b.matcher(searcher, searcher.boolean_context())
        return ExcludingMatcher(scored, excluded)
