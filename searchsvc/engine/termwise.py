"""Evaluate the queries :class:`~searchsvc.query.plan.QueryBuilder` makes with arrays.

Whoosh scores a query a document at a time through a tree of matchers: for a word query on
the bench index that is tens of thousands of Python calls per search. Here each segment's
answer to a node of the query is two arrays as long as the segment (which documents match,
and their scores): a term scatters its postings' BM25F scores into them, ``And`` multiplies
the masks and adds the scores in the order Whoosh would, ``Or`` adds, ``AndNot`` masks out; a
union with Whoosh's coordination bonus (relaxed queries) also counts, per document, the term
matchers that stand on it (one ``bincount`` over their postings).
The scores are Whoosh's own, to the last bit (same formula, same order of additions).

Positions are read only where they decide something. A quoted phrase filters documents, so
its positions are read for every document that has all its words; the proximity bonus (a
loose phrase ``AndMaybe``'d onto the words) only reorders, so when the caller asks for the
best ``depth`` documents its positions are read only for the documents that could still
reach them with the bonus (their score plus the bonus's upper bound reaches the
``depth``-th best score without it).

Only the node types the query builder makes for words, phrases and prefixes are handled;
:func:`supports` tells the caller when to let Whoosh run the query instead. A term's postings
are read as arrays from the index's own codec (:func:`searchsvc.index.codec.term_postings`:
one read of its record, nothing decoded per posting) once per segment and term, and kept
while the searcher lives, up to ``POSTINGS_CACHED`` in all.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from math import log

import numpy as np
from whoosh import collectors
from whoosh import query as wq

from searchsvc.index import codec, columns
from searchsvc.index import whoosh_internals as wi
from searchsvc.index.caches import LRU, per_reader
from searchsvc.index.schema import TEXT_FIELDS
from searchsvc.query.plan import PHRASE_IDF_FIELD, ExactPhrase, phrase_score
from searchsvc.settings import FREQUENCIES_CACHED, PHRASE_B, POSTINGS_CACHED


@dataclass
class Matches:
    """Every document a query matched, scored: the page's documents, count and facets."""

    docs: np.ndarray  # global document numbers, ascending
    values: np.ndarray  # their scores

    def top(self, limit: int) -> list[tuple[float, int]]:
        """The ``limit`` best ``(-score, docnum)``, best first; equal scores in document
        order, as Whoosh."""
        values, docs = self.values, self.docs
        if limit <= 0 or not len(docs):
            return []
        if len(docs) > limit:
            kth = np.partition(values, len(values) - limit)[len(values) - limit]
            keep = values >= kth
            values, docs = values[keep], docs[keep]
        order = np.lexsort((docs, -values))[:limit]
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
    if type(q) is wq.Prefix:
        return q.fieldname in TEXT_FIELDS and isinstance(q.text, str) and q.constantscore
    if isinstance(q, wq.Phrase):
        words_ok = all(isinstance(w, str) for w in q.words)
        return q.fieldname in TEXT_FIELDS and q.boost > 0 and words_ok
    if type(q) in (wq.And, wq.AndMaybe) or isinstance(q, wq.AndNot | wq.ConstantScoreQuery):
        return all(supports(c) for c in q.children())
    if isinstance(q, wq.Or):
        # With ``scale``: Whoosh's coordination bonus (relaxed queries), see _coordinated.
        return q.minmatch in (0, None) and all(supports(c) for c in q.children())
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
    is for counting: the matches alone.
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
        if not segment.scope.any():
            continue
        mask, scores = segment.evaluate(core, segment.scope)
        mask &= segment.scope
        for q_not in excluded:
            if mask.any():
                mask &= ~segment.evaluate(q_not, mask)[0]
        segments.append((segment, mask, scores))
    if near is not None:
        _add_bonus(near, segments, depth)
    docs, values = [], []
    for segment, mask, scores in segments:
        local = np.flatnonzero(mask)
        docs.append(local + segment.offset)
        values.append(scores[local])
    if not docs:
        return Matches(np.zeros(0, np.intp), np.zeros(0))
    return Matches(np.concatenate(docs), np.concatenate(values))


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
    bounds = []
    for segment, mask, _scores in segments:
        with segment.bounding():
            bounds.append(segment.evaluate(near, mask) if mask.any() else None)
    matched = [scores[mask] for _segment, mask, scores in segments]
    everything = np.concatenate(matched) if matched else np.zeros(0)
    if len(everything) > depth:
        kth = np.partition(everything, len(everything) - depth)[len(everything) - depth]
    else:
        kth = -np.inf
    for (segment, mask, scores), bound in zip(segments, bounds, strict=True):
        if bound is None:
            continue
        bound_mask, bound_scores = bound
        candidates = mask & bound_mask & (scores + bound_scores >= kth)
        if candidates.any():
            bonus_mask, bonus = segment.evaluate(near, candidates)
            np.add(scores, bonus, out=scores, where=bonus_mask & candidates)


class _Segment:
    """One segment's evaluation of a query: each node gives ``(mask, scores)`` arrays with
    one entry per document of the segment (scores are 0 where the mask is False)."""

    def __init__(self, top, reader, offset: int, deadline: float, allowed: set[int] | None):
        self.top = top
        self.reader = reader
        self.offset = offset
        self.deadline = deadline
        self.weighting = top.weighting
        self.n = reader.doc_count_all()
        self.scope = _live(reader).copy()
        if allowed is not None:
            keep = np.zeros(self.n, bool)
            local = np.fromiter(allowed, np.intp, len(allowed)) - offset
            keep[local[(local >= 0) & (local < self.n)]] = True
            self.scope &= keep
        self._postings = _postings_cache(top)
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

    def evaluate(self, q: wq.Query, scope: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mask, scores)`` of ``q``; positions are read only for documents in ``scope``
        (a document outside it may be reported as matching a phrase it does not have)."""
        if isinstance(q, wq.Term):
            return self._term(q.fieldname, q.text, q.boost)
        if isinstance(q, wq.Phrase):
            return self._phrase(q, scope)
        if type(q) is wq.Prefix:
            return self._prefix(q)
        if isinstance(q, wq.ConstantScoreQuery):
            mask, _scores = self.evaluate(q.child, scope)
            return mask, mask * float(q.score)
        if isinstance(q, wq.Or):
            if q.scale and len(q.subqueries) > 1:
                return self._coordinated(q, scope)
            return self._union(q.subqueries, scope)
        if type(q) is wq.And:
            return self._intersection(q.subqueries, scope)
        if type(q) is wq.AndMaybe:
            mask, scores = self.evaluate(q.a, scope)
            if mask.any():
                extra_mask, extra = self.evaluate(q.b, scope & mask)
                np.add(scores, extra, out=scores, where=extra_mask & mask)
            return mask, scores
        if isinstance(q, wq.AndNot):
            mask, scores = self.evaluate(q.a, scope)
            if mask.any():
                out = self.evaluate(q.b, scope & mask)[0]
                mask &= ~out
                scores[out] = 0.0
            return mask, scores
        raise TypeError(f"not evaluated term-wise: {q!r}")

    def _empty(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.n, bool), np.zeros(self.n)

    def _union(self, children, scope) -> tuple[np.ndarray, np.ndarray]:
        mask, scores = self._empty()
        for child in children:
            child_mask, child_scores = self.evaluate(child, scope)
            mask |= child_mask
            scores += child_scores
        return mask, scores

    def _coordinated(self, q: wq.Or, scope) -> tuple[np.ndarray, np.ndarray]:
        """A union with Whoosh's coordination bonus (``Or(scale=…)``, relaxed queries), scored
        as its ``CoordMatcher`` scores it: where the union's score is ``s`` and ``m`` of the
        ``t`` term matchers under it stand on the document, ``(s + (m - 1) / (t - scale) ** 2)
        * (t - 1) / t``. Whoosh counts term matchers, not words (a word found in the title
        and the body counts twice), and ``t`` in each segment: its terms the segment has.
        (Whoosh's collector also recounts ``t`` every ten documents, once some term matchers
        have run out: scores that depend on the order documents are read in, not kept.)"""
        mask, scores = self._union(q.subqueries, scope)
        if q.boost != 1.0:
            scores *= q.boost
        terms, found = 0, []
        for child in q.subqueries:
            t, ids = self._terms_on(child)
            terms += t
            found.extend(ids)
        if not terms:
            return mask, scores  # no term matcher: Whoosh adds no CoordMatcher either
        if terms == q.scale:
            return mask, np.zeros(self.n)
        matching = np.bincount(np.concatenate(found), minlength=self.n) if found else 0
        scores += (matching - 1) / (terms - q.scale) ** 2
        scores *= (terms - 1) / terms
        scores[~mask] = 0.0
        return mask, scores

    def _terms_on(self, q: wq.Query) -> tuple[int, list[np.ndarray]]:
        """The term matchers Whoosh's matcher for ``q`` holds in this segment, and where they
        stand while ``q`` matches: ``(count, [documents, …])``, one array of documents per
        term matcher (counted on a document as many times as its matchers stand there)."""
        if isinstance(q, wq.Term):
            postings = self._postings_of(q.fieldname, q.text)
            return (0, []) if postings is None else (1, [postings.ids])  # else a NullMatcher
        if type(q) is wq.Prefix:
            # Its words' union (as Whoosh runs it on segments of over 5,000 documents).
            words = [w for w in self.reader.expand_prefix(q.fieldname, q.text) if w]
            return self._terms_on(wq.Or([wq.Term(q.fieldname, w.decode("utf-8")) for w in words]))
        if isinstance(q, wq.Phrase):
            if not all(self.df(q.fieldname, w) for w in q.words):
                return 0, []
            # Its words' matchers, on the documents with the phrase. A quoted phrase's matcher
            # is a NullMatcher in a segment where it never occurs, filters or not.
            mask = self.evaluate(q, _live(self.reader))[0]
            if isinstance(q, ExactPhrase) and not mask.any():
                return 0, []
            return len(q.words), [np.flatnonzero(mask)] * len(q.words)
        if isinstance(q, wq.ConstantScoreQuery):
            # Whoosh swaps its matcher for a list of the documents, a term matcher only when
            # the child's is a bare term matcher (no boost, no deleted document to skip).
            terms, ids = self._terms_on(q.child)
            if _bare_term(q.child) and terms == 1 and not self.reader.has_deletions():
                return 1, ids
            return 0, []
        parts = [self._terms_on(c) for c in q.children()]
        terms = sum(t for t, _ids in parts)
        if isinstance(q, wq.Or):  # a term of a union stands on its documents: it matches
            return terms, [i for _t, ids in parts for i in ids]
        live = _live(self.reader)
        if type(q) is wq.AndMaybe:  # the optional side's, where the required side matches
            (_ta, on_a), (_tb, on_b) = parts
            where = self.evaluate(q.a, live)[0] if on_b else None
            return terms, on_a + [i[where[i]] for i in on_b]
        if isinstance(q, wq.AndNot):  # the excluded side's never stand on a match
            on_a = parts[0][1]
            out = self.evaluate(q.b, live)[0] if on_a else None
            return terms, [i[~out[i]] for i in on_a]
        # And: where all of it matches.
        on = [i for _t, ids in parts for i in ids]
        where = self.evaluate(q, live)[0] if on else None
        return terms, [i[where[i]] for i in on]

    def _intersection(self, children, scope) -> tuple[np.ndarray, np.ndarray]:
        # Rarest first (Whoosh adds the scores in that order), narrowing the scope.
        order = sorted(children, key=self._estimate)
        mask, scores = self.evaluate(order[0], scope)
        for child in order[1:]:
            if not mask.any():
                break
            child_mask, child_scores = self.evaluate(child, scope & mask)
            mask &= child_mask
            scores += child_scores
        scores *= mask
        return mask, scores

    def df(self, fieldname: str, text: str) -> int:
        """A term's document frequency in this segment (0 when absent)."""
        return _df(self.reader, fieldname, text)

    def idf(self, fieldname: str, text: str) -> float:
        """Whoosh's idf of a term over the whole index (``WeightingModel.idf``), with the
        document frequencies this module keeps, per searcher."""
        top = self.top
        cache = per_reader(top.reader(), "idf", dict)
        found = cache.get((fieldname, text))
        if found is None:
            if len(cache) > FREQUENCIES_CACHED:
                cache.clear()
            n = sum(_df(leaf.reader(), fieldname, text) for leaf, _o in top.leaf_searchers())
            found = cache[(fieldname, text)] = log(top.doc_count_all() / (n + 1)) + 1
        return found

    def _estimate(self, q: wq.Query) -> int:
        if isinstance(q, wq.Term):
            return self.df(q.fieldname, q.text)
        if isinstance(q, wq.Phrase):
            return min(self.df(q.fieldname, w) for w in q.words)
        kids = list(q.children())
        if isinstance(q, wq.Or):
            return sum(self._estimate(c) for c in kids)
        return self._estimate(kids[0]) if kids else 0

    def _term(self, fieldname: str, text: str, boost: float) -> tuple[np.ndarray, np.ndarray]:
        mask, scores = self._empty()
        postings = self._postings_of(fieldname, text)
        if postings is None:
            return mask, scores
        idf = self.idf(fieldname, text)
        k1 = self.weighting.K1
        # bm25() of whoosh.scoring, its query-independent denominator kept with the postings.
        mask[postings.ids] = True
        scores[postings.ids] = idf * (k1 + 1) * boost * postings.weights / postings.denominator
        self._check_time()
        return mask, scores

    def _prefix(self, q: wq.Prefix) -> tuple[np.ndarray, np.ndarray]:
        """A prefix: the words of this segment it stands for, each scored as its own term,
        added up, times the prefix's boost; as Whoosh scores it on large segments (on small
        ones Whoosh gives every match the same score, and a one-word prefix no boost)."""
        words = [w for w in self.reader.expand_prefix(q.fieldname, q.text) if w]
        mask, scores = self._empty()
        for word in words:
            word = word.decode("utf-8") if isinstance(word, bytes) else word
            word_mask, word_scores = self._term(q.fieldname, word, 1.0)
            mask |= word_mask
            scores += word_scores
        scores *= q.boost
        return mask, scores

    def _phrase(self, q: wq.Phrase, scope: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whoosh's ``Phrase``: the words in order, each within ``slop`` positions of the
        one before; scored as the sum of the words' scores, times the phrase's boost. An
        :class:`~searchsvc.query.plan.ExactPhrase` is scored by how often it occurs
        (:func:`~searchsvc.query.plan.phrase_score`)."""
        fieldname, words = q.fieldname, list(q.words)
        if not all(self.df(fieldname, w) for w in words):
            return self._empty()
        mask, scores = self._intersection([wq.Term(fieldname, w) for w in words], scope)
        exact = isinstance(q, ExactPhrase)
        if self._bounding and not exact:
            scores *= q.boost
            return mask, scores
        docs = np.flatnonzero(mask & scope)
        mask[:] = False
        if not len(docs):
            return mask, np.zeros(self.n)
        by_word = {}
        for w in set(words):
            postings = self._postings_of(fieldname, w)
            by_word[w] = postings.positions(docs)
            # kept with the positions it now holds
            self._postings.put((self.offset, fieldname, w), postings, postings.size)
            self._check_time()
        keys = [by_word[w] for w in words]
        out = np.zeros(self.n)
        if exact:
            found = _occurrences_at(keys, len(docs))
            hit = found > 0
            matched = docs[hit]
            idf = sum(self.idf(PHRASE_IDF_FIELD, w) for w in words)
            avgfl = self.top.avg_field_length(fieldname) or 1
            k1, b = self.weighting.K1, PHRASE_B
            field_lengths = lengths(self.reader, fieldname)
            mask[matched] = True
            out[matched] = phrase_score(
                found[hit], scores[matched], field_lengths[matched], idf, avgfl, k1, b, q.boost
            )
            return mask, out
        matched = docs[_in_sequence_at(keys, q.slop, len(docs))]
        mask[matched] = True
        out[matched] = scores[matched] * q.boost
        return mask, out

    # -- postings ------------------------------------------------------------------------

    def _postings_of(self, fieldname: str, text: str) -> _Scored | None:
        """A term's postings in this segment, with their BM25 denominators, or None."""
        key = (self.offset, fieldname, text)  # one budget for all the searcher's segments
        cache = self._postings
        found = cache.get(key)
        if found is None:
            found = _Scored.read(self, fieldname, text)
            cache.put(key, found, 0 if found is _ABSENT else found.size)
        return None if found is _ABSENT else found

    def _check_time(self) -> None:
        if time.monotonic() >= self.deadline:
            raise collectors.TimeLimit


class _Scored:
    """A term's postings in one segment, with the part of each posting's BM25 score that
    does not depend on the query: ``tf + k1 * (1 - b + b * length / avgfl)``."""

    __slots__ = ("denominator", "ids", "postings", "weights")

    def __init__(self, postings: codec.TermPostings, denominator: np.ndarray):
        self.postings = postings
        self.ids = postings.ids
        self.weights = postings.weights
        self.denominator = denominator

    @classmethod
    def read(cls, segment: _Segment, fieldname: str, text: str) -> _Scored | object:
        count = segment.df(fieldname, text)
        if not count:
            return _ABSENT
        postings = codec.term_postings(segment.reader, fieldname, text)
        if postings is None or not len(postings.ids):
            return _ABSENT
        avgfl = segment.top.avg_field_length(fieldname) or 1
        b = wi.field_b(segment.weighting, fieldname)
        k1 = segment.weighting.K1
        norm0, norm1 = k1 * (1 - b), k1 * b / avgfl
        field_lengths = lengths(segment.reader, fieldname)
        w = postings.weights
        return cls(postings, w + norm0 + norm1 * field_lengths[postings.ids])

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
        """What the term holds, in postings of the cache's budget (24 bytes each)."""
        return (self.postings.nbytes + self.denominator.nbytes) // 24 + 1


_ABSENT = object()  # a term the segment does not have (cached too: asked for again and again)


def _postings_cache(searcher) -> LRU:
    """The postings of the recently used terms of a searcher's segments, kept across
    queries: the same words (and stems) come back query after query. At most
    ``POSTINGS_CACHED`` units for all the segments together, so that memory does not grow
    with their number."""
    return per_reader(searcher.reader(), "postings", lambda: LRU(POSTINGS_CACHED))


def _df(reader, fieldname: str, text: str) -> int:
    """A term's document frequency in one segment (0 when absent), from Whoosh's term
    index; kept per reader."""
    frequencies = per_reader(reader, "frequencies", dict)
    key = (fieldname, text)
    found = frequencies.get(key)
    if found is None:
        if len(frequencies) > FREQUENCIES_CACHED:
            frequencies.clear()
        found = frequencies[key] = reader.doc_frequency(fieldname, text)
    return found


def _bare_term(q: wq.Query) -> bool:
    """Whether Whoosh's matcher for ``q`` is a term's own matcher, nothing around it."""
    while isinstance(q, wq.CompoundQuery) and len(q.subqueries) == 1:
        q = q.subqueries[0]
    return isinstance(q, wq.Term) and q.boost == 1.0


def _live(reader) -> np.ndarray:
    """Which documents of a segment are not deleted (kept per reader)."""

    def make() -> np.ndarray:
        live = np.ones(reader.doc_count_all(), bool)
        if reader.has_deletions():
            deleted = np.fromiter(reader.deleted_docs_set, np.intp)
            live[deleted] = False
        return live

    return per_reader(reader, "live", make)


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


def lengths(reader, fieldname: str) -> np.ndarray:
    """Each document's length in ``fieldname`` as Whoosh's scorers see it, read in one go
    per segment and kept for as long as its reader lives."""
    return per_reader(reader, ("lengths", fieldname), lambda: wi.field_lengths(reader, fieldname))


def value_counts(searcher, docnums: np.ndarray, fieldname: str, key=None) -> dict[str, int]:
    """How many of these documents (global numbers, ascending) have each value of a column
    field, or each ``key(value)`` (see :func:`searchsvc.index.columns.column_codes`)."""
    counts: dict[str, int] = {}
    for leaf, offset in searcher.leaf_searchers():
        reader = leaf.reader()
        lo, hi = np.searchsorted(docnums, [offset, offset + reader.doc_count_all()])
        if lo == hi:
            continue
        codes, names = columns.column_codes(reader, fieldname, key)
        found = np.bincount(codes[docnums[lo:hi] - offset], minlength=len(names))
        for i in np.flatnonzero(found).tolist():
            counts[names[i]] = counts.get(names[i], 0) + int(found[i])
    return counts
