"""Did-you-mean: close, more frequent words from the index's exact (folded) vocabulary."""

from __future__ import annotations

from whoosh.reading import IndexReader

from searchsvc.schema import TEXT_FIELDS


def max_edits(word: str) -> int:
    """Edits allowed for a word of this length: none under 5 letters, 1 from 5, 2 from 9."""
    n = len(word)
    return 0 if n < 5 else 1 if n < 9 else 2


def frequency(reader: IndexReader, word: str) -> int:
    """Documents that contain ``word`` (an exact term) in the title or the body."""
    return max(reader.doc_frequency(f, word) for f in TEXT_FIELDS)


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
    best: tuple[int, int, str] | None = None
    for dist in range(1, edits + 1):
        candidates = set()
        for f in TEXT_FIELDS:
            candidates.update(reader.terms_within(f, word, dist, prefix=1))
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
