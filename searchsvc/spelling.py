"""Did-you-mean: close, more frequent words from the index's exact (folded) vocabulary."""

from __future__ import annotations

from whoosh.reading import IndexReader

from searchsvc.schema import TEXT_FIELDS

# A word found in at least this many documents is taken as correctly spelt: no look-up.
COMMON_DOCS = 20


# Longer "words" get no corrections at all.
MAX_WORD_CHARS = 25


def max_edits(word: str) -> int:
    """Edits allowed for a word of this length: none under 5 letters, 1 from 5, 2 from 9."""
    n = len(word)
    if n > MAX_WORD_CHARS:
        return 0  # no word is this long; its Levenshtein automaton would take seconds
    return 0 if n < 5 else 1 if n < 9 else 2


def frequency(reader: IndexReader, word: str) -> int:
    """Documents that contain ``word`` (an exact term) in the title or the body."""
    return max(reader.doc_frequency(f, word) for f in TEXT_FIELDS)


def _within(reader: IndexReader, word: str, dist: int) -> set[str]:
    """Words within ``dist`` edits of ``word`` (same first letter): body words, else titles.

    Asked per segment: a segment reader walks its word list with a Levenshtein automaton,
    while a multi-segment reader would compute the distance to every word in Python.
    """
    for f in ("body", "title"):
        found: set[str] = set()
        for leaf, _offset in reader.leaf_readers():
            found.update(leaf.terms_within(f, word, dist, prefix=1))
        found.discard(word)
        if found:
            return found
    return set()


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
