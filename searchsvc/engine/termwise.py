"""Evaluate the queries :class:`~searchsvc.query.plan.QueryBuilder` plans with arrays.

Whoosh scores a query a document at a time through a tree of matchers: for a word query on
the bench index that is tens of thousands of Python calls per search. Here each segment's
answer to a node of the query is two arrays: the sorted numbers of the documents it matches
(within the documents the node is asked about) and their BM25F scores, so that the work
follows the postings read and not the segment's size. A term looks its postings up; ``And``
evaluates its rarest part first and each other part only on the documents still matching,
adding the scores in the order Whoosh would; ``Or`` merges and adds; ``AndNot`` removes; a
query's partial matches (:class:`~searchsvc.query.nodes.Coverage`) count, per document, the
share of the query's meaning its clauses hold. The scores are Whoosh's own, to the last bit
(same formula, same order of additions). A count, or the sort by date, finds the matches
without scoring them.

Positions are read only where they decide something. A quoted phrase filters documents, so
its positions are read for every document that has all its words; the proximity bonus (a
loose phrase ``AndMaybe``'d onto the words) only reorders, so when the caller asks for the
best ``depth`` documents its positions are read only for the documents that could still
reach them with the bonus (their score plus the bonus's upper bound reaches the
``depth``-th best score without it).

Only the node types the query builder makes for words, phrases and prefixes are handled;
:func:`supports` tells the caller when to let Whoosh run the query instead. A term's postings
are read as arrays from the index's own codec (:func:`searchsvc.index.codec.term_postings`:
one read of its record, nothing decoded per posting) once per segment reader and term, and
kept for the process (:data:`searchsvc.index.caches.segment_postings`), up to
``POSTINGS_CACHED`` in all: a new generation keeps the readers of its unchanged segments.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from math import log

import numpy as np
from whoosh import collectors
from whoosh import query as wq

from searchsvc.index import codec, columns
from searchsvc.index.caches import (
    Key,
    expand_prefix,
    field_lengths,
    frequency,
    per_reader,
    per_term,
    segment_frequency,
    segment_postings,
    term_entry,
)
from searchsvc.index.schema import TEXT_FIELDS
from searchsvc.index.whoosh_internals import reading as whoosh_reading
from searchsvc.index.whoosh_internals.segment_keys import reader_serial
from searchsvc.query import sources
from searchsvc.query.nodes import Coverage, ExactPhrase, FromSource
from searchsvc.query.scoring import PHRASE_IDF_FIELD, phrase_score
from searchsvc.settings import PHRASE_B


@dataclass
class Matches:
    """Every document a query matched, scored: the page's documents, count and facets."""

    docs: np.ndarray  # global document numbers, ascending
    values: np.ndarray  # their scores

    def top(
        self, limit: int, tie_keys: Callable[[], np.ndarray] | None = None
    ) -> list[tuple[float, int]]:
        """The ``limit`` best ``(-score, docnum)``, best first; equal scores in the order of
        ``tie_keys()[docnum]`` (the rank of each document's id, which no segment layout
        changes: :func:`searchsvc.index.columns.id_ranks`), asked for only when two of the
        best tie exactly; without it, in document order, as Whoosh."""
        values, docs = self.values, self.docs
        if limit <= 0 or not len(docs):
            return []
        if len(docs) > limit:
            kth = np.partition(values, len(values) - limit)[len(values) - limit]
            keep = values >= kth  # every document tied with the limit-th stays in the running
            values, docs = values[keep], docs[keep]
        order = np.lexsort((docs, -values))
        if tie_keys is not None and len(order) > 1:
            ranked = values[order]
            if (ranked[1:] == ranked[:-1]).any():
                order = np.lexsort((tie_keys()[docs], -values))
        order = order[:limit]
        return list(zip((-values[order]).tolist(), docs[order].tolist(), strict=True))

    @property
    def scores(self) -> dict[int, float]:
        """The matches as a dictionary of global document number to score."""
        return dict(zip(self.docs.tolist(), self.values.tolist(), strict=True))

    def __len__(self) -> int:
        return len(self.docs)


def supports(q: wq.Query) -> bool:
    """Tell whether :func:`run` can evaluate ``q`` (else Whoosh must)."""
    if isinstance(q, wq.Term):
        return q.fieldname in TEXT_FIELDS and isinstance(q.text, str)
    if isinstance(q, FromSource):
        return True
    if type(q) is wq.Prefix:
        return q.fieldname in TEXT_FIELDS and isinstance(q.text, str) and q.constantscore
    if isinstance(q, wq.Phrase):
        words_ok = all(isinstance(w, str) for w in q.words)
        return q.fieldname in TEXT_FIELDS and q.boost > 0 and words_ok
    if type(q) in (wq.And, wq.AndMaybe) or isinstance(q, wq.AndNot | wq.ConstantScoreQuery):
        return all(supports(c) for c in q.children())
    if isinstance(q, wq.Or):
        # Whoosh's coordination bonus (``scale``), which the builder never makes: Whoosh's.
        return not q.scale and q.minmatch in (0, None) and all(supports(c) for c in q.children())
    return False


def run(
    searcher,
    q: wq.Query,
    deadline: float,
    allowed: set[int] | None = None,
    depth: int | None = None,
) -> Matches:
    """Score every document ``q`` matches on the searcher's segments.

    ``allowed`` (global document numbers) keeps only those documents, as a Whoosh filter
    would; past ``deadline`` (``time.monotonic()``) Whoosh's ``TimeLimit`` is raised. With
    ``depth``, only the best ``depth`` documents are sure to have their exact scores (the
    proximity bonus is worked out for those only); the others keep a lower score. Depth 0
    is for counting and for the sort by date: the matches alone, found without scoring them
    (their scores are all 0).
    """
    top = searcher.get_parent()
    core, excluded = q, []
    while isinstance(core, wq.AndNot):  # the query's negations, applied at the end
        excluded.append(core.b)
        core = core.a
    near = None
    if depth is not None and type(core) is wq.AndMaybe and _is_bonus(core.b):
        # Only reorders: with depth 0 (a count), never worked out at all.
        core, near = core.a, (core.b if depth > 0 else None)
    segments = []
    for leaf, offset in searcher.leaf_searchers():
        segment = _Segment(top, leaf.reader(), offset, deadline, allowed)
        if segment.scope is not None and not len(segment.scope.ids):
            continue
        if depth == 0:  # the matches alone: found without scoring them
            ids = segment._matching(core, segment.scope)
            scores = np.zeros(len(ids))
        else:
            ids, scores = segment.evaluate(core, segment.scope)
        for q_not in excluded:
            if len(ids):
                out = segment._matching(q_not, _Scope(ids, segment.n))
                keep = ~_found_in(ids, out)
                ids, scores = ids[keep], scores[keep]
        segments.append((segment, ids, scores))
    if near is not None:
        _add_bonus(near, segments, depth)
    docs = [ids.astype(np.intp) + segment.offset for segment, ids, _scores in segments]
    if not docs:
        return Matches(np.zeros(0, np.intp), np.zeros(0))
    return Matches(np.concatenate(docs), np.concatenate([s for _g, _i, s in segments]))


def _is_bonus(q: wq.Query) -> bool:
    """Whether ``q`` is a proximity bonus: loose phrases (or a union of them), which only
    add to the scores of documents matched otherwise."""
    if isinstance(q, wq.Or):
        return all(_is_bonus(c) for c in q.subqueries)
    return type(q) is wq.Phrase


def _add_bonus(near: wq.Query, segments: list, depth: int) -> None:
    """Add the proximity bonus ``near`` to the documents that can reach the best ``depth``
    with it: the bonus's upper bound is its words' scores (what it adds when the words do
    stand close), so a document whose score plus that bound stays under the ``depth``-th
    best score without any bonus cannot be among the best ``depth``."""
    if sum(len(ids) for _segment, ids, _scores in segments) <= depth:
        # Every match is among the best ``depth``: no bound to work out first.
        for segment, ids, scores in segments:
            if len(ids):
                bonus_ids, bonus = segment.evaluate(near, _Scope(ids, segment.n))
                scores[np.searchsorted(ids, bonus_ids)] += bonus
        return
    bounds = []
    for segment, ids, _scores in segments:
        with segment.bounding():
            bounds.append(segment.evaluate(near, _Scope(ids, segment.n)) if len(ids) else None)
    matched = [scores for _segment, _ids, scores in segments]
    everything = np.concatenate(matched) if matched else np.zeros(0)
    if len(everything) > depth:
        kth = np.partition(everything, len(everything) - depth)[len(everything) - depth]
    else:
        kth = -np.inf
    for (segment, ids, scores), bound in zip(segments, bounds, strict=True):
        if bound is None or not len(bound[0]):
            continue
        bound_ids, bound_scores = bound
        at = np.searchsorted(ids, bound_ids)
        candidates = bound_ids[scores[at] + bound_scores >= kth]
        if len(candidates):
            bonus_ids, bonus = segment.evaluate(near, _Scope(candidates, segment.n))
            scores[np.searchsorted(ids, bonus_ids)] += bonus


class _Scope:
    """The documents of a segment an evaluation is limited to: their sorted numbers, and
    (made on first use) a mask as long as the segment, for looking up many documents."""

    __slots__ = ("_mask", "ids", "n")

    def __init__(self, ids: np.ndarray, n: int, mask: np.ndarray | None = None):
        self.ids = ids
        self.n = n
        self._mask = mask

    @property
    def mask(self) -> np.ndarray:
        if self._mask is None:
            self._mask = np.zeros(self.n, bool)
            self._mask[self.ids] = True
        return self._mask

    def within(self, ids: np.ndarray) -> np.ndarray:
        """The indices of those of ``ids`` (sorted) that are in the scope, ascending."""
        if len(self.ids) * _LOOKUP_RATIO < len(ids):
            # A few documents in many postings: look each one up.
            return _positions_of(ids, self.ids)
        return np.flatnonzero(self.mask[ids])


# Below this ratio of postings to the scope's documents, a scope is applied through its mask
# (one lookup per posting) rather than by binary search of its documents in the postings.
_LOOKUP_RATIO = 8

_NO_IDS = np.zeros(0, np.int32)


def _positions_of(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The indices in ``ids`` (sorted, unique) of those of ``wanted`` (sorted) it holds."""
    if not len(ids) or not len(wanted):
        return np.zeros(0, np.intp)
    at = np.searchsorted(ids, wanted)
    at[at == len(ids)] = len(ids) - 1
    return at[ids[at] == wanted]


# A union whose parts hold more postings than a segment's documents over this is made on a
# mask as long as the segment; a smaller one by sorting its parts' documents together (a
# stable sort merges the sorted parts; np.unique, which hashes them, was 5 to 20 times slower).
_DENSE_UNION = 4


def _merged(parts: list[np.ndarray], n: int) -> np.ndarray:
    """The sorted union of sorted arrays of document numbers below ``n``."""
    if len(parts) == 1:
        return parts[0]
    if sum(len(ids) for ids in parts) * _DENSE_UNION > n:
        seen = np.zeros(n, bool)
        for ids in parts:
            seen[ids] = True
        return np.flatnonzero(seen).astype(np.int32)
    every = np.concatenate(parts)
    every.sort(kind="stable")
    keep = np.empty(len(every), bool)
    keep[:1] = True
    np.not_equal(every[1:], every[:-1], out=keep[1:])
    return every[keep]


def _found_in(ids: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Which of ``ids`` (sorted, unique) are also in ``others`` (sorted, unique)."""
    found = np.zeros(len(ids), bool)
    found[_positions_of(ids, others)] = True
    return found


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return _NO_IDS, np.zeros(0)


def _idf(reader, fieldname: str, text: str) -> float:
    """Whoosh's idf of a term over the index ``reader`` reads."""
    return log(reader.doc_count_all() / (frequency(reader, fieldname, text) + 1)) + 1


class _Segment:
    """One segment's evaluation of a query: each node gives ``(ids, scores)``, the sorted
    numbers (in the segment) of the documents it matches within the scope it is given, and
    their scores. Work and memory follow the postings read, not the segment's size."""

    def __init__(self, top, reader, offset: int, deadline: float, allowed: set[int] | None):
        self.top = top
        self.reader = reader
        self.offset = offset
        self.deadline = deadline
        self.weighting = top.weighting
        self.n = reader.doc_count_all()
        self.live = _live_scope(reader)
        self.scope = self.live
        if allowed is not None:
            local = np.fromiter(allowed, np.intp, len(allowed)) - offset
            local = np.sort(local[(local >= 0) & (local < self.n)]).astype(np.int32)
            if self.live is not None:
                local = local[self.live.mask[local]]
            self.scope = _Scope(local, self.n)
        # Shared by the generations that keep this segment's reader (caches.segment_postings).
        self._postings, self._reader_serial = segment_postings, reader_serial(reader)
        self._bounding = False  # loose phrases give their bound, positions unread

    @contextmanager
    def bounding(self) -> Iterator[None]:
        """Within this context, a loose phrase gives the upper bound of its score (its
        words' scores) without reading positions."""
        self._bounding = True
        try:
            yield
        finally:
            self._bounding = False

    # -- nodes ---------------------------------------------------------------------------

    def evaluate(self, q: wq.Query, scope: _Scope | None) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, scores)`` of ``q`` within ``scope`` (None: every document of the segment,
        deleted ones included). The ids array may be shared (never change it); the scores
        array is the caller's."""
        if isinstance(q, wq.Term):
            return self._term(q.fieldname, q.text, q.boost, scope)
        if isinstance(q, wq.Phrase):
            return self._phrase(q, scope)
        if type(q) is wq.Prefix:
            return self._prefix(q, scope)
        if isinstance(q, wq.ConstantScoreQuery | FromSource):
            ids = self._matching(q if isinstance(q, FromSource) else q.child, scope)
            return ids, np.full(len(ids), float(q.score))
        if isinstance(q, Coverage):
            return self._covered(q, scope)
        if isinstance(q, wq.Or):
            return self._union([self.evaluate(c, scope) for c in q.subqueries])
        if type(q) is wq.And:
            return self._intersection(q.subqueries, scope)
        if type(q) is wq.AndMaybe:
            ids, scores = self.evaluate(q.a, scope)
            if len(ids):
                extra_ids, extra = self.evaluate(q.b, _Scope(ids, self.n))
                if len(extra_ids):
                    scores[np.searchsorted(ids, extra_ids)] += extra
            return ids, scores
        if isinstance(q, wq.AndNot):
            ids, scores = self.evaluate(q.a, scope)
            if len(ids):
                out = self.evaluate(q.b, _Scope(ids, self.n))[0]
                if len(out):
                    keep = ~_found_in(ids, out)
                    ids, scores = ids[keep], scores[keep]
            return ids, scores
        raise TypeError(f"not evaluated term-wise: {q!r}")

    def _matching(self, q: wq.Query, scope: _Scope | None) -> np.ndarray:
        """The documents ``q`` matches within ``scope``, unscored: what a count, the facets
        or the sort by date need, found without reading a weight (a phrase still scores its
        candidates' words)."""
        if isinstance(q, wq.Term):
            postings = self._postings_of(q.fieldname, q.text)
            if postings is None:
                return _NO_IDS
            self._check_time()
            return postings.ids if scope is None else postings.ids[scope.within(postings.ids)]
        if isinstance(q, FromSource):
            wanted = sources.source_codes(self.reader, q.word)
            if not len(wanted):
                return _NO_IDS
            codes, _names = columns.column_codes(self.reader, "source")
            ids = np.flatnonzero(np.isin(codes, wanted)).astype(np.int32)
            return ids if scope is None else ids[scope.within(ids)]
        if type(q) is wq.Prefix:
            words = [w for w in expand_prefix(self.reader, q.fieldname, q.text) if w]
            return self._matching(
                wq.Or([wq.Term(q.fieldname, w.decode("utf-8")) for w in words]), scope
            )
        if isinstance(q, Coverage):  # the documents with some content clauses, not all
            parts = [self._matching(c, scope) for c in q.subqueries]
            found = [p for p in parts if len(p)]
            return self._partly(q, _merged(found, self.n), parts)[0] if found else _NO_IDS
        if isinstance(q, wq.Or):
            parts = [ids for ids in (self._matching(c, scope) for c in q.subqueries) if len(ids)]
            if len(parts) <= 1:
                return parts[0] if parts else _NO_IDS
            return _merged(parts, self.n)
        if isinstance(q, wq.ConstantScoreQuery):
            return self._matching(q.child, scope)
        if type(q) is wq.And:
            order = sorted(q.subqueries, key=self._estimate)
            ids = self._matching(order[0], scope)
            for child in order[1:]:
                if not len(ids):
                    break
                ids = self._matching(child, _Scope(ids, self.n))
            return ids
        if type(q) is wq.AndMaybe:
            return self._matching(q.a, scope)
        if isinstance(q, wq.AndNot):
            ids = self._matching(q.a, scope)
            if len(ids):
                out = self._matching(q.b, _Scope(ids, self.n))
                if len(out):
                    ids = ids[~_found_in(ids, out)]
            return ids
        return self.evaluate(q, scope)[0]

    def _union(self, parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """The documents any part matches; their scores added up in the parts' order (the
        order Whoosh adds them in)."""
        parts = [p for p in parts if len(p[0])]
        if not parts:
            return _empty()
        if len(parts) == 1:
            return parts[0]
        if sum(len(ids) for ids, _s in parts) * _DENSE_UNION > self.n:
            # Dense enough: added up on arrays as long as the segment (in the same order).
            seen = np.zeros(self.n, bool)
            dense = np.zeros(self.n)
            for ids, part_scores in parts:
                seen[ids] = True
                dense[ids] += part_scores
            ids = np.flatnonzero(seen).astype(np.int32)
            return ids, dense[ids]
        ids = _merged([ids for ids, _s in parts], self.n)
        scores = np.zeros(len(ids))
        for part_ids, part_scores in parts:
            scores[np.searchsorted(ids, part_ids)] += part_scores
        return ids, scores

    def _covered(self, q: Coverage, scope) -> tuple[np.ndarray, np.ndarray]:
        """A query's partial matches (:class:`~searchsvc.query.nodes.Coverage`): the union
        of its clauses, less the documents holding none or all of its content clauses,
        each scored by its clauses' scores times its coverage to the query's exponent."""
        parts = [self.evaluate(c, scope) for c in q.subqueries]
        ids, scores = self._union(parts)
        ids, keep, coverage = self._partly(q, ids, [p[0] for p in parts])
        scores = scores[keep] * coverage**q.exponent
        if q.boost != 1.0:
            scores *= q.boost
        return ids, scores

    @staticmethod
    def _partly(
        q: Coverage, ids: np.ndarray, parts: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Of ``ids`` (the union of the clauses' documents ``parts``), those holding some of
        ``q``'s clauses but not all: ``(their ids, where they are in ids, their coverage)``.
        Counted in whole clauses, so that no rounding of the shares lets a document with
        every clause through."""
        held = np.zeros(len(ids), np.int32)
        coverage = np.zeros(len(ids))
        for part, share in zip(parts, q.shares, strict=True):
            if len(part):
                at = np.searchsorted(ids, part)
                held[at] += 1
                coverage[at] += share
        keep = np.flatnonzero(held < len(q.subqueries))
        return ids[keep], keep, coverage[keep]

    def _intersection(self, children, scope) -> tuple[np.ndarray, np.ndarray]:
        # Rarest first (Whoosh adds the scores in that order), each next child evaluated
        # only on the documents all the ones before it matched.
        order = sorted(children, key=self._estimate)
        ids, scores = self.evaluate(order[0], scope)
        for child in order[1:]:
            if not len(ids):
                break
            child_ids, child_scores = self.evaluate(child, _Scope(ids, self.n))
            scores = scores[np.searchsorted(ids, child_ids)] + child_scores
            ids = child_ids
        return ids, scores

    def df(self, fieldname: str, text: str) -> int:
        """A term's document frequency in this segment (0 when absent)."""
        return segment_frequency(self.reader, fieldname, text)

    def idf(self, fieldname: str, text: str) -> float:
        """Whoosh's idf of a term over the whole index (``WeightingModel.idf``), with the
        document frequencies this module keeps, per searcher."""
        return per_term(self.top.reader(), Key.IDF, fieldname, text, _idf)

    def _estimate(self, q: wq.Query) -> int:
        if isinstance(q, FromSource):
            return 0
        if isinstance(q, wq.Term):
            return self.df(q.fieldname, q.text)
        if isinstance(q, wq.Phrase):
            return min(self.df(q.fieldname, w) for w in q.words)
        kids = list(q.children())
        if isinstance(q, wq.Or):
            return sum(self._estimate(c) for c in kids)
        return self._estimate(kids[0]) if kids else 0

    def _term(
        self, fieldname: str, text: str, boost: float, scope
    ) -> tuple[np.ndarray, np.ndarray]:
        postings = self._postings_of(fieldname, text)
        if postings is None:
            return _empty()
        at = None if scope is None else scope.within(postings.ids)
        idf = self.idf(fieldname, text)
        k1 = self.weighting.K1
        # bm25() of whoosh.scoring, its query-independent denominator kept with the postings.
        found = postings.scores(idf * (k1 + 1) * boost, at)
        self._check_time()
        return (postings.ids if at is None else postings.ids[at]), found

    def _prefix(self, q: wq.Prefix, scope) -> tuple[np.ndarray, np.ndarray]:
        """A prefix: the words of this segment it stands for, each scored as its own term,
        added up, times the prefix's boost; as Whoosh scores it on large segments (on small
        ones Whoosh gives every match the same score, and a one-word prefix no boost)."""
        words = [w for w in expand_prefix(self.reader, q.fieldname, q.text) if w]
        parts = []
        for word in words:
            word = word.decode("utf-8") if isinstance(word, bytes) else word
            parts.append(self._term(q.fieldname, word, 1.0, scope))
        ids, scores = self._union(parts)
        scores *= q.boost
        return ids, scores

    def _phrase(self, q: wq.Phrase, scope) -> tuple[np.ndarray, np.ndarray]:
        """Whoosh's ``Phrase``: the words in order, each within ``slop`` positions of the
        one before; scored as the sum of the words' scores, times the phrase's boost. An
        :class:`~searchsvc.query.nodes.ExactPhrase` is scored by how often it occurs
        (:func:`~searchsvc.query.scoring.phrase_score`)."""
        fieldname, words = q.fieldname, list(q.words)
        if not all(self.df(fieldname, w) for w in words):
            return _empty()
        docs, scores = self._intersection([wq.Term(fieldname, w) for w in words], scope)
        exact = isinstance(q, ExactPhrase)
        if self._bounding and not exact:
            scores *= q.boost
            return docs, scores
        if not len(docs):
            return _empty()
        by_word = {}
        for w in set(words):
            postings = self._postings_of(fieldname, w)
            by_word[w] = postings.positions(docs)
            # kept with the positions it now holds
            self._postings.put((self._reader_serial, fieldname, w), postings, postings.size)
            self._check_time()
        keys = [by_word[w] for w in words]
        if exact:
            found = _occurrences_at(keys, len(docs))
            hit = found > 0
            matched = docs[hit]
            idf = sum(self.idf(PHRASE_IDF_FIELD, w) for w in words)
            avgfl = _average_length(self.top, fieldname)
            k1, b = self.weighting.K1, PHRASE_B
            lengths = field_lengths(self.reader, fieldname)
            return matched, phrase_score(
                found[hit], scores[hit], lengths[matched], idf, avgfl, k1, b, q.boost
            )
        hit = _in_sequence_at(keys, q.slop, len(docs))
        return docs[hit], scores[hit] * q.boost

    # -- postings ------------------------------------------------------------------------

    def _postings_of(self, fieldname: str, text: str) -> _Scored | None:
        """A term's postings in this segment, with their BM25 denominators, or None. Kept
        from an earlier generation, they are scored again when the index's average field
        length (so the denominators) changed since."""
        key = (self._reader_serial, fieldname, text)  # one budget for all the segments
        cache = self._postings
        found = cache.get(key)
        if found is None:
            found = _Scored.read(self, fieldname, text)
            cache.put(key, found, 0 if found is _ABSENT else found.size)
        elif found is not _ABSENT:
            norms = self.norms(fieldname)
            if found.norms != norms:
                found = _Scored(found.postings, norms, field_lengths(self.reader, fieldname))
                cache.put(key, found, found.size)
        return None if found is _ABSENT else found

    def norms(self, fieldname: str) -> tuple[float, float]:
        """The parts of a BM25 denominator that do not depend on the posting, in this
        searcher: ``k1 * (1 - b)`` and ``k1 * b / avgfl``."""
        avgfl = _average_length(self.top, fieldname)
        b = whoosh_reading.field_b(self.weighting, fieldname)
        k1 = self.weighting.K1
        return (k1 * (1 - b), k1 * b / avgfl)

    def _check_time(self) -> None:
        if time.monotonic() >= self.deadline:
            raise collectors.TimeLimit


class _Scored:
    """A term's postings in one segment, with the part of each posting's BM25 score that
    does not depend on the query: ``tf + k1 * (1 - b + b * length / avgfl)`` (worked out
    for all the postings once they are all scored, else only where asked)."""

    __slots__ = ("_denominator", "_lengths", "ids", "norms", "postings", "weights")

    def __init__(self, postings: codec.TermPostings, norms: tuple[float, float], lengths):
        self.postings = postings
        self.ids = postings.ids
        self.weights = postings.weights
        self.norms = norms
        self._lengths = lengths
        self._denominator = None

    @classmethod
    def read(cls, segment: _Segment, fieldname: str, text: str) -> _Scored | object:
        entry = term_entry(segment.reader, fieldname, text)  # looked up once, kept
        if not entry.df:
            return _ABSENT
        postings = codec.term_postings(segment.reader, fieldname, text, entry)
        if postings is None or not len(postings.ids):
            return _ABSENT
        norms = segment.norms(fieldname)
        return cls(postings, norms, field_lengths(segment.reader, fieldname))

    def denominator(self, at: np.ndarray | None = None) -> np.ndarray:
        """The denominators of the postings at indices ``at`` (None: all of them)."""
        if self._denominator is not None:
            return self._denominator if at is None else self._denominator[at]
        norm0, norm1 = self.norms
        if at is None:
            w = self.weights
            self._denominator = w + norm0 + norm1 * self._lengths[self.ids]
            return self._denominator
        w = self.weights[at]
        return w + norm0 + norm1 * self._lengths[self.ids[at]]

    def scores(self, factor: float, at: np.ndarray | None = None) -> np.ndarray:
        """BM25 of the postings at indices ``at`` (None: all), ``factor`` being
        ``idf * (k1 + 1) * boost``: the same operations, in the same order, either way."""
        weights = self.weights if at is None else self.weights[at]
        return factor * weights / self.denominator(at)

    def positions(self, docs: np.ndarray) -> np.ndarray:
        """The term's positions in ``docs`` (sorted document numbers that have it), as sorted
        keys ``i * POSITION_STRIDE + position`` where ``i`` is the document's index in
        ``docs``: one array, nothing per document in Python."""
        starts, ends, flat = self.postings.positions(docs)
        counts = ends - starts
        total = int(counts.sum())
        # each posting's slice of ``flat``, gathered in one go
        where = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)
        owner = np.repeat(np.arange(len(docs), dtype=np.int64), counts)
        return owner * POSITION_STRIDE + flat[where].astype(np.int64)

    @property
    def size(self) -> int:
        """What the term holds, in postings of the cache's budget (24 bytes each); its
        denominators count as if worked out."""
        return (self.postings.nbytes + 8 * len(self.ids)) // 24 + 1


_ABSENT = object()  # a term the segment does not have (cached too: asked for again and again)


def _average_length(searcher, fieldname: str) -> float:
    """A field's average length over the index (1 when empty), as BM25 takes it; kept per
    searcher (Whoosh adds up every segment's total at each call)."""
    return per_reader(
        searcher.reader(),
        (Key.AVERAGE_LENGTH, fieldname),
        lambda: searcher.avg_field_length(fieldname) or 1,
    )


def _live_scope(reader) -> _Scope | None:
    """The documents of a segment that are not deleted, as a scope (None when none is
    deleted); kept per reader."""

    def make() -> _Scope | None:
        if not reader.has_deletions():
            return None
        n = reader.doc_count_all()
        live = np.ones(n, bool)
        live[np.fromiter(reader.deleted_docs_set, np.intp)] = False
        return _Scope(np.flatnonzero(live).astype(np.int32), n, live)

    return per_reader(reader, Key.LIVE_SCOPE, make)


# Positions of several documents as one sorted array of keys: a document's index times this,
# plus the position (positions are below 2**32; a phrase's slop keeps well under the gap).
POSITION_STRIDE = 1 << 33


def _occurrences_at(keys: list[np.ndarray], count: int) -> np.ndarray:
    """For each of ``count`` documents, how many times the words stand side by side in
    order: ``keys`` gives each word's positions (see :meth:`_Scored.positions`), and a
    position of the first word counts when the second word is at the next position, the
    third at the one after..."""
    first = keys[0]
    found = np.ones(len(first), bool)
    for i, after in enumerate(keys[1:], 1):
        found &= _contains(after, first + i)
    return np.bincount(first[found] // POSITION_STRIDE, minlength=count)


def _contains(sorted_keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Which of ``wanted`` are in ``sorted_keys``."""
    if not len(sorted_keys):
        return np.zeros(len(wanted), bool)
    at = np.minimum(np.searchsorted(sorted_keys, wanted), len(sorted_keys) - 1)
    return sorted_keys[at] == wanted


def _in_sequence_at(keys: list[np.ndarray], slop: int, count: int) -> np.ndarray:
    """For each of ``count`` documents, whether one position of each word can be picked so
    that each comes after the one before by 1 to ``slop`` places (Whoosh's ordered
    ``SpanNear2``), all documents at once: the reachable positions of each word are those
    with a reachable position of the word before in ``[p - slop, p - 1]``."""
    ends = keys[0]
    for following in keys[1:]:
        if not len(ends):
            break
        i = np.searchsorted(ends, following, "left")  # ends[:i] are < p
        ok = i > 0
        ok[ok] = ends[i[ok] - 1] >= following[ok] - slop
        ends = following[ok]
    hit = np.zeros(count, bool)
    hit[ends // POSITION_STRIDE] = True
    return hit


def _in_sequence(positions: list[list[int]], slop: int) -> bool:
    """:func:`_in_sequence_at` for one document's positions as lists."""
    keys = [np.array(p, np.int64) for p in positions]
    return bool(_in_sequence_at(keys, slop, 1)[0])


def value_counts(searcher, docnums: np.ndarray, fieldname: str, key=None) -> dict[str, int]:
    """How many of these documents (global numbers) have each value of a column field, or
    each ``key(value)`` (see :func:`searchsvc.index.columns.column_codes`): one ``bincount``
    over codes shared by all the segments, no Python step per value or per document."""
    codes, names = _index_codes(searcher, fieldname, key)
    found = np.bincount(codes[docnums], minlength=len(names))
    present = np.flatnonzero(found)
    return dict(zip(names[present].tolist(), found[present].tolist(), strict=True))


def _index_codes(searcher, fieldname: str, key=None) -> tuple[np.ndarray, np.ndarray]:
    """Every document's value of a column field over the searcher's segments, as one array
    of codes (by global document number) into one array of names; made once per searcher
    from each segment's codes (with thousands of sources, counting them value by value was
    most of a search's time)."""

    def make() -> tuple[np.ndarray, np.ndarray]:
        names: dict = {}
        parts = []
        for leaf, _offset in searcher.leaf_searchers():
            codes, segment_names = columns.column_codes(leaf.reader(), fieldname, key)
            remap = np.array([names.setdefault(v, len(names)) for v in segment_names], np.int32)
            parts.append(remap[codes] if len(codes) else np.zeros(0, np.int32))
        every = np.concatenate(parts) if parts else np.zeros(0, np.int32)
        return every, np.array(list(names), dtype=object)

    return per_reader(searcher.reader(), (Key.INDEX_CODES, fieldname, key), make)
