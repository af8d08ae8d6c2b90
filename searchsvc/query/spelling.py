"""Did-you-mean: close, more frequent words from the index's exact (folded) vocabulary.

Closeness is the optimal string alignment distance: insertions, deletions, substitutions and
swaps of two adjacent letters each count one edit, so ``merkle`` is one edit from ``merkel``
(plain Levenshtein counts a swap as two, more than a six-letter word is allowed).
"""

from __future__ import annotations

from rapidfuzz import process
from rapidfuzz.distance import OSA
from whoosh.reading import IndexReader

from searchsvc.index.caches import LRU
from searchsvc.index.schema import TEXT_FIELDS
from searchsvc.index.whoosh_internals import segment_key
from searchsvc.settings import COMMON_DOCS, MAX_WORD_CHARS, VOCABULARIES_KEPT
from searchsvc.text.analysis import STEM_MARK


def max_edits(word: str) -> int:
    """Edits allowed for a word of this length: none under 5 letters, 1 from 5, 2 from 9."""
    n = len(word)
    if n > MAX_WORD_CHARS:
        return 0  # no word is this long: comparing it with the vocabulary is wasted time
    return 0 if n < 5 else 1 if n < 9 else 2


def frequency(reader: IndexReader, word: str) -> int:
    """Documents that contain ``word`` (an exact term) in the title or the body."""
    return max(reader.doc_frequency(f, word) for f in TEXT_FIELDS)


def _within(reader: IndexReader, word: str, dist: int) -> set[str]:
    """Words within ``dist`` edits of ``word`` (same first letter): body words, else titles.

    Edits are counted as optimal string alignment (an adjacent swap is one edit), so these are
    Whoosh's ``terms_within(..., prefix=1)`` words (plain Levenshtein, walked with an automaton
    in Python: about 100 ms a word on the bench index) plus those a swap brings within reach.
    Each segment's words are kept in memory, by first letter, and compared in C.
    """
    for f in ("body", "title"):
        found: set[str] = set()
        for leaf, _offset in reader.leaf_readers():
            words = _vocabulary(leaf, f).get(word[0], ())
            close = process.extract(word, words, scorer=OSA.distance, score_cutoff=dist, limit=None)
            found.update(w for w, _distance, _i in close)
        found.discard(word)
        if found:
            return found
    return set()


_vocabularies = LRU(VOCABULARIES_KEPT)


def _vocabulary(leaf, fieldname: str) -> dict[str, list[str]]:
    """The words of one segment's field by first character, stems left out."""
    segment = segment_key(leaf)
    if segment is None:
        return _group(leaf, fieldname)  # an in-memory reader: nothing worth keeping
    key = (*segment, fieldname)
    found = _vocabularies.get(key)
    if found is None:
        found = _group(leaf, fieldname)
        _vocabularies.put(key, found)
    return found


def _group(leaf, fieldname: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for raw in leaf.lexicon(fieldname):
        term = raw.decode("utf-8")
        if term[0] != STEM_MARK:
            groups.setdefault(term[0], []).append(term)
    return groups


def close_words(reader: IndexReader, word: str, limit: int = 5) -> list[str]:
    """Up to ``limit`` words within :func:`max_edits` of ``word``, closest and commonest first."""
    edits = max_edits(word)
    if not edits or not word.isalpha():
        return []
    for dist in range(1, edits + 1):
        found = [w for w in _within(reader, word, dist) if w.isalpha()]
        if found:
            found.sort(key=lambda w: (-frequency(reader, w), w))
            return found[:limit]
    return []


def closest(reader: IndexReader, word: str, min_ratio: float = 3.0) -> str | None:
    """Return the best correction for ``word``, or None when it looks right as typed.

    A correction is a word within :func:`max_edits` edits, with the same first letter, found
    in at least ``min_ratio`` times as many documents (and at least one); among those, the
    fewest edits win, then the most documents.
    """
    edits = max_edits(word)
    if not edits or not word.isalpha():
        return None
    own = frequency(reader, word)
    if own >= COMMON_DOCS:
        return None  # a word this many documents use is spelt as people spell it
    best: tuple[int, int, str] | None = None
    for dist in range(1, edits + 1):
        candidates = _within(reader, word, dist)
        candidates.discard(word)
        for cand in candidates:
            if not cand.isalpha():
                continue
            df = frequency(reader, cand)
            if df >= max(1, own * min_ratio) and (best is None or df > best[1]):
                best = (dist, df, cand)
        if best:
            return best[2]
    return None
