"""Evaluate the queries :class:`~searchsvc.matching.QueryBuilder` makes a term at a time.

Whoosh scores a query a document at a time through a tree of matchers: for a word query on
the bench index that is tens of thousands of Python calls per search. Here each term's
postings are read a block at a time, scored with the same BM25F formula, and added up in
dictionaries, which gives the same scores several times faster. Only the node types the
query builder uses for words and phrases are handled; :func:`supports` tells the caller
when to let Whoosh run the query instead.
"""

from __future__ import annotations

import heapq
import time
from array import array
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass

from whoosh import collectors
from whoosh import query as wq
from whoosh.codec import whoosh3
from whoosh.matching import FilterMatcher
from whoosh.util.numeric import byte_to_length

from searchsvc import columns
from searchsvc.caches import LRU, per_reader
from searchsvc.matching import PHRASE_B, PHRASE_IDF_FIELD, ExactPhrase, phrase_score
from searchsvc.schema import TEXT_FIELDS

Scores = dict[int, float]

# Postings of recently used terms kept decoded per segment (document number and weight,
# 8 bytes each): 2 million is 16 MB a segment, the postings of a few hundred common terms.
POSTINGS_CACHED = 2_000_000


@dataclass
class Matches:
    """Every document a query matched, scored: the page's documents, count and facet."""

    scores: Scores  # global document number -> score

    def top(self, limit: int) -> list[tuple[float, int]]:
        """The ``limit`` best ``(score, docnum)``; equal scores in document order, as Whoosh."""
        return heapq.nsmallest(limit, ((-s, d) for d, s in self.scores.items()))

    def __len__(self) -> int:
        return len(self.scores)


def supports(q: wq.Query) -> bool:
    """Tell whether :func:`run` can evaluate ``q`` (else Whoosh must)."""
    if isinstance(q, wq.Term):
        return q.fieldname in TEXT_FIELDS and isinstance(q.text, str)
    if isinstance(q, wq.Phrase):
        words_ok = all(isinstance(w, str) for w in q.words)
        return q.fieldname in TEXT_FIELDS and q.boost > 0 and words_ok
    if type(q) in (wq.And, wq.AndMaybe) or isinstance(q, wq.AndNot | wq.ConstantScoreQuery):
        return all(supports(c) for c in q.children())
    if isinstance(q, wq.Or):
        # ``scale`` is Whoosh's coordination bonus (relaxed queries): left to Whoosh.
        return not q.scale and q.minmatch in (0, None) and all(supports(c) for c in q.children())
    return False


def run(searcher, q: wq.Query, deadline: float, allowed: set[int] | None = None) -> Matches:
    """Score every document ``q`` matches on the searcher's segments.

    ``allowed`` (global document numbers) keeps only those documents, as a Whoosh filter
    would; past ``deadline`` (``time.monotonic()``) Whoosh's ``TimeLimit`` is raised.
    """
    scores: Scores = {}
    top = searcher.get_parent()
    for leaf, offset in searcher.leaf_searchers():
        segment = _Segment(top, leaf.reader(), deadline)
        within = None
        if allowed is not None:
            n = leaf.reader().doc_count_all()
            within = {d - offset for d in allowed if offset <= d < offset + n}
            if not within:
                continue
        try:
            for docnum, score in segment.evaluate(q, within).items():
                scores[docnum + offset] = score
        finally:
            segment.release()
    return Matches(scores)


class _Segment:
    """One segment's evaluation of a query; postings read once per query."""

    def __init__(self, top, reader, deadline: float):
        self.top = top
        self.reader = reader
        self.deadline = deadline
        self.weighting = top.weighting
        self.deleted = reader.deleted_docs_set if reader.has_deletions() else frozenset()
        self._postings = _postings_cache(reader)
        self._used: list[_Postings] = []

    # -- nodes ---------------------------------------------------------------------------

    def evaluate(self, q: wq.Query, within: set[int] | None = None) -> Scores:
        """Scores of the documents ``q`` matches, only among ``within`` when given."""
        if isinstance(q, wq.Term):
            return self._term(q.fieldname, q.text, q.boost, within)
        if isinstance(q, wq.Phrase):
            return self._phrase(q, within)
        if isinstance(q, wq.ConstantScoreQuery):
            return dict.fromkeys(self.evaluate(q.child, within), float(q.score))
        if isinstance(q, wq.Or):
            return self._union(q.subqueries, within)
        if type(q) is wq.And:
            return self._intersection(q.subqueries, within)
        if type(q) is wq.AndMaybe:
            base = self.evaluate(q.a, within)
            extra = self.evaluate(q.b, set(base)) if base else {}
            for d, s in extra.items():
                base[d] += s
            return base
        if isinstance(q, wq.AndNot):
            base = self.evaluate(q.a, within)
            if base:
                for d in self.evaluate(q.b, set(base)):
                    del base[d]
            return base
        raise TypeError(f"not evaluated term-wise: {q!r}")

    def _union(self, children, within) -> Scores:
        out: Scores = {}
        for child in children:
            for d, s in self.evaluate(child, within).items():
                out[d] = out.get(d, 0.0) + s
        return out

    def _intersection(self, children, within) -> Scores:
        # Rarest first, so every later child is read only for the documents still in.
        order = sorted(children, key=self._estimate)
        out = self.evaluate(order[0], within)
        for child in order[1:]:
            if not out:
                break
            scores = self.evaluate(child, set(out))
            out = {d: s + scores[d] for d, s in out.items() if d in scores}
        return out

    def _estimate(self, q: wq.Query) -> int:
        if isinstance(q, wq.Term):
            return self.reader.doc_frequency(q.fieldname, q.text)
        if isinstance(q, wq.Phrase):
            return min(self.reader.doc_frequency(q.fieldname, w) for w in q.words)
        kids = list(q.children())
        if isinstance(q, wq.Or):
            return sum(self._estimate(c) for c in kids)
        return self._estimate(kids[0]) if kids else 0

    def _term(self, fieldname: str, text: str, boost: float, within) -> Scores:
        postings = self._postings_of(fieldname, text)
        if postings is None:
            return {}
        idf = self.top.idf(fieldname, text)
        avgfl = self.top.avg_field_length(fieldname) or 1
        b = self._b(fieldname)
        k1 = self.weighting.K1
        lengths = _lengths(self.reader, fieldname)
        # bm25() of whoosh.scoring, its constant parts taken out of the loop.
        top = idf * (k1 + 1) * boost
        norm0, norm1 = k1 * (1 - b), k1 * b / avgfl
        out: Scores = {}
        deleted = self.deleted
        for block in postings.blocks(within):
            pairs = zip(block.ids, block.weights, strict=True)
            if within is None and not deleted:
                out.update((d, top * w / (w + norm0 + norm1 * lengths[d])) for d, w in pairs)
                continue
            for d, w in pairs:
                if (within is None or d in within) and d not in deleted:
                    out[d] = top * w / (w + norm0 + norm1 * lengths[d])
        self._check_time()
        return out

    def _phrase(self, q: wq.Phrase, within) -> Scores:
        """Whoosh's ``Phrase``: the words in order, each within ``slop`` positions of the
        one before; scored as the sum of the words' scores, times the phrase's boost. An
        :class:`~searchsvc.matching.ExactPhrase` is scored by how often it occurs
        (:func:`~searchsvc.matching.phrase_score`)."""
        fieldname, words = q.fieldname, list(q.words)
        if any((fieldname, w) not in self.reader for w in words):
            return {}
        scores = self._intersection([wq.Term(fieldname, w) for w in words], within)
        if not scores:
            return {}
        candidates = set(scores)
        by_word = {w: self._positions(fieldname, w, candidates) for w in set(words)}
        slop, boost = q.slop, q.boost
        if isinstance(q, ExactPhrase):
            idf = sum(self.top.idf(PHRASE_IDF_FIELD, w) for w in words)
            avgfl = self.top.avg_field_length(fieldname) or 1
            k1, b = self.weighting.K1, PHRASE_B
            lengths = _lengths(self.reader, fieldname)
            out: Scores = {}
            for d, s in scores.items():
                found = _occurrences([by_word[w][d] for w in words])
                if found:
                    out[d] = phrase_score(found, s, lengths[d], idf, avgfl, k1, b, boost)
            return out
        return {
            d: s * boost
            for d, s in scores.items()
            if _in_sequence([by_word[w][d] for w in words], slop)
        }

    # -- postings ------------------------------------------------------------------------

    def _postings_of(self, fieldname: str, text: str) -> _Postings | None:
        """A term's postings in this segment (read as far as needed), or None if absent."""
        key = (fieldname, text)
        cache = self._postings
        found = cache.get(key)
        if found is None:
            found = _Postings(self.reader, fieldname, text)
            cache.put(key, found, found.size)
        self._used.append(found)
        return found if found.size else None

    def release(self) -> None:
        """Let go of the raw blocks this query read (the decoded postings stay cached)."""
        for postings in self._used:
            postings.release()
        self._used.clear()

    def _positions(self, fieldname: str, text: str, docs: set[int]) -> dict[int, list[int]]:
        """Positions of a term in each of ``docs`` (documents the term is known to be in)."""
        decode = self.reader.schema[fieldname].format.decode_positions
        out: dict[int, list[int]] = {}
        postings = self._postings_of(fieldname, text)
        for block in postings.blocks(docs):
            for d, v in zip(block.ids, postings.values(block), strict=True):
                if d in docs:
                    out[d] = decode(v)
        return out

    def _check_time(self) -> None:
        if time.monotonic() >= self.deadline:
            raise collectors.TimeLimit

    def _b(self, fieldname: str) -> float:
        return self.weighting._field_B.get(fieldname, self.weighting.B)


class _Block:
    """One block of a term's postings: its last document number, and its document numbers
    and weights once some evaluation needed them (positions are read again when asked for,
    so that a cached block stays small)."""

    __slots__ = ("ids", "last", "matcher", "offset", "weights")

    def __init__(self, matcher, offset, last, ids=None, weights=None):
        self.matcher, self.offset, self.last = matcher, offset, last
        self.ids, self.weights = ids, weights

    def load(self) -> _Block:
        if self.ids is None:
            m = self._seek()
            m._read_ids()
            m._read_weights()
            self.ids, self.weights = array("I", m._ids), array("f", m._weights)
        return self

    def values(self):
        m = self._seek()
        m._read_values()
        return m._values

    def _seek(self):
        """The term's matcher on this block; a block just read is not read again."""
        m = self.matcher
        if m._data is None or m.block_max_id() != self.last:
            m._goto(self.offset)
        return m


class _Postings:
    """A term's postings in one segment, as blocks decoded only when a document is wanted
    from them: an intersection reads just the blocks of its remaining candidates.

    Whoosh's on-disk matcher (``W3LeafMatcher``) is read through its block internals; any
    other matcher (short posting lists are stored inline) is read whole into one block.
    """

    def __init__(self, reader, fieldname: str, text: str):
        self._blocks: list[_Block] = []
        self._values: list | None = None
        self.size = 0
        if (fieldname, text) not in reader:
            return
        matcher = reader.postings(fieldname, text)
        # Deleted documents are dropped by the callers, so the raw matcher will do.
        while isinstance(matcher, FilterMatcher):
            matcher = matcher.child
        self.size = reader.doc_frequency(fieldname, text)
        if isinstance(matcher, whoosh3.W3LeafMatcher):
            offset = matcher._baseoffset
            while matcher.is_active():
                self._blocks.append(_Block(matcher, offset, matcher.block_max_id()))
                offset = matcher._nextoffset
                matcher._next_block()
        else:
            ids, weights, values = array("I"), array("f"), []
            while matcher.is_active():
                ids.append(matcher.id())
                weights.append(matcher.weight())
                values.append(matcher.value())
                matcher.next()
            last = ids[-1] if ids else -1
            self._blocks.append(_Block(None, 0, last, ids, weights))
            self._values = values

    def blocks(self, within: set[int] | None = None):
        """Yield the loaded blocks that may hold documents of ``within`` (all when None)."""
        if within is None:
            for block in self._blocks:
                yield block.load()
            return
        wanted = sorted(within)
        i, n = 0, len(wanted)
        for block in self._blocks:
            if i >= n:
                return
            if wanted[i] <= block.last:
                yield block.load()
                i = bisect_right(wanted, block.last, i)

    def values(self, block: _Block):
        """The encoded positions of a block's postings, in its order."""
        return self._values if block.matcher is None else block.values()

    def release(self) -> None:
        """Drop the raw block the matcher holds (positions included): cached terms would
        otherwise each keep their last block alive."""
        if self._blocks and self._blocks[0].matcher is not None:
            m = self._blocks[0].matcher
            m._data = m._ids = m._weights = m._values = None


def _postings_cache(reader) -> LRU:
    """The postings of a segment's recently used terms, kept across queries: the same
    words (and stems) come back query after query, and decoding blocks is most of the
    cost of a search. At most ``POSTINGS_CACHED`` postings per segment (8 bytes each)."""
    return per_reader(reader, "postings", lambda: LRU(POSTINGS_CACHED))


def _occurrences(positions: list[list[int]]) -> int:
    """How many times the words stand side by side in order: the positions of the first word
    followed by the second word at the next position, the third at the one after…"""
    following = [set(p) for p in positions[1:]]
    return sum(
        1 for p in positions[0] if all(p + i in after for i, after in enumerate(following, 1))
    )


def _in_sequence(positions: list[list[int]], slop: int) -> bool:
    """Whether one position of each list can be picked so that each comes after the one
    before by 1 to ``slop`` places (Whoosh's ordered ``SpanNear2``)."""
    ends = positions[0]
    for following in positions[1:]:
        ends = [p for p in following if _reachable(ends, p, slop)]
        if not ends:
            return False
    return True


def _reachable(ends: list[int], p: int, slop: int) -> bool:
    """Whether some end ``e`` has ``e < p <= e + slop`` (``ends`` sorted)."""
    i = bisect_right(ends, p - 1)  # ends[:i] are < p
    return i > 0 and ends[i - 1] >= p - slop


def _lengths(reader, fieldname: str) -> list[float]:
    """Each document's length in ``fieldname`` as Whoosh's scorers see it (one byte,
    decoded), read in one go per segment and kept for as long as its reader lives."""
    return per_reader(reader, ("lengths", fieldname), lambda: _read_lengths(reader, fieldname))


def _read_lengths(reader, fieldname: str) -> list[float]:
    perdoc = getattr(reader, "_perdoc", None)
    if isinstance(perdoc, whoosh3.W3PerDocReader):
        column = perdoc._cached_reader(whoosh3._lenfield(fieldname), whoosh3.LENGTHS_COLUMN)
        if column is not None:
            return [byte_to_length(b) if b else 1 for b in column.load()]
    n = reader.doc_count_all()
    return [reader.doc_field_length(d, fieldname, 1) or 1 for d in range(n)]


def value_counts(searcher, docnums, fieldname: str) -> dict[str, int]:
    """How many of these documents (global numbers) have each value of a column field."""
    counts: Counter = Counter()
    ordered = sorted(docnums)
    i = 0
    for leaf, offset in searcher.leaf_searchers():
        reader = leaf.reader()
        end = bisect_right(ordered, offset + reader.doc_count_all() - 1, i)
        values = columns.column_values(reader, fieldname)
        counts.update(values[d - offset] for d in ordered[i:end])
        i = end
    return dict(counts)
