"""The score of a quoted phrase: BM25 of the phrase taken as one term, the formula Whoosh's
matcher (:class:`~searchsvc.query.nodes.ExactPhrase`) and the term-wise evaluation
(:mod:`searchsvc.engine.termwise`) share, so that both give the same scores.
"""

from __future__ import annotations

from searchsvc.settings import PHRASE_TIE_BREAK

# Its idf is its words' in the body, whichever field it is found in: a title's short
# vocabulary makes every word look rare there, and the phrase then counts twice in a title.
PHRASE_IDF_FIELD = "body"


def phrase_score(
    occurrences: int,
    words_score: float,
    length: float,
    idf: float,
    avgfl: float,
    k1: float,
    b: float,
    boost: float,
) -> float:
    """BM25 of a phrase found ``occurrences`` times in a field of ``length`` (its words' idf
    summed), plus the tie-breaking share of its words' own scores; one formula for Whoosh's
    matcher (:class:`~searchsvc.query.nodes.ExactPhrase`) and for
    :mod:`searchsvc.engine.termwise`, so that both give the same scores
    (termwise passes numpy arrays, one entry per document)."""
    tf = occurrences * 1.0
    bm25 = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgfl))
    return boost * (bm25 + PHRASE_TIE_BREAK * words_score)
