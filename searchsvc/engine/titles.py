"""Title signals: a document whose title the query covers comes before documents that merely
contain the words.

BM25F already weighs a word found in the title above one in the body, but it cannot tell
"Raccourcis clavier dans LibreOffice Writer" from "Raccourcis clavier dans LibreOffice Writer —
Raccourcis clavier de LibreOffice Calc" for the query ``raccourcis clavier dans libreoffice
writer``: the longer title has the words more often. Three signals that do, computed on the
titles of the best-ranked documents once the query has run:

* coverage: how much of the title the query accounts for: the distinct title words (stop
  words aside) it matched, in any form it matches (exact, stem, lemma, prefix, close word),
  over the title's words, a word repeated counting each time (so "Raccourcis clavier dans
  LibreOffice Writer — Raccourcis clavier de LibreOffice Writer" is covered by half). A title
  the query covers entirely, and that has every word of the query, gets ``WHOLE_TITLE`` points
  (the query *is* the title: enough to come before documents that use the words far more);
  one it covers at 80 % gets 64 % of ``COVERAGE`` (the share squared), times the share of the
  query's words it has ("Insérer" has half of ``curseur l'insérer``); one it covers under 60 %
  (``COVERED``) nothing: a long title holding a word or two of the query says little;
* the query's words side by side in the title (stop words between them allowed, any order of
  forms): ``TITLE_PHRASE`` points, as a phrase typed without quotes;
* the title holds the query word for word, as typed and in order, stop words and repeated
  words included, as people type the start of a title they remember (``programmation au``,
  ``fonctions de base de``): instead of the side-by-side points, ``TITLE_PHRASE`` plus
  ``TYPED_COVERAGE`` times the share of the title that is the query, so that among titles
  holding it the one it most nearly is comes first. Typed stop words also count in what a
  title has of the query: ``style de`` is the start of "Style de caractères", and "Style" has
  only half of it.

They are added to the scores of the first ``RERANK_DEPTH`` documents, which are then sorted
again; the documents below keep their order, so paging is consistent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from searchsvc.index.caches import LRU
from searchsvc.index.caches import title as stored_title
from searchsvc.query import language as ql
from searchsvc.query.plan import Highlights
from searchsvc.settings import (
    COVERAGE,
    COVERED,
    RERANK_DEPTH,
    TITLE_PHRASE,
    TITLE_WORDS_CACHED,
    TYPED_COVERAGE,
    WHOLE_TITLE,
)
from searchsvc.text.analysis import WordTerms, analyze_query, iter_terms

# Titles analysed, by text, for the whole process: TITLE_WORDS_CACHED, most recently used
# kept. Request threads share it without the searcher's lock: the LRU takes its own (two
# threads analysing one title at once both keep the same value).
_titles = LRU(TITLE_WORDS_CACHED)


@dataclass(frozen=True)
class Signals:
    """What the title signals need from a built query: what it matches (its highlights) and
    its plain words, as ``(exact form, stems)`` (``Plan.words``)."""

    highlights: Highlights
    words: tuple[tuple[str, tuple[str, ...]], ...]
    # The query's wording: every word as written, stop words included, folded, in order
    # (see :func:`query_wording`).
    wording: tuple[str, ...] = ()
    # Whether the query matches a title position's words, decided once per query and position.
    _marked: dict = field(default_factory=dict, compare=False, repr=False)
    # The wording's words that are not plain words (stop words, a phrase's words), once per
    # query.
    others: tuple[str, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        plain = {exact for exact, _stems in self.words}
        object.__setattr__(self, "others", tuple(w for w in self.wording if w not in plain))

    def marks(self, position: tuple[WordTerms, ...]) -> bool:
        """Whether the query matches one of the words at a title position (in any form)."""
        found = self._marked.get(position)
        if found is None:
            matches = self.highlights.matches
            found = self._marked[position] = any(matches(t.exact, t.stems) for t in position)
        return found


def title_sequence(title: str) -> tuple[tuple[WordTerms, ...], ...]:
    """Every word position of the title, stop words included: the terms at each (a compound's
    joined form with its first part, an elided word with its article). Analysed once per
    title, for both signals (and by ``SearchEngine.warm_up``)."""
    found = _titles.get(title)
    if found is None:
        positions: list[tuple[WordTerms, ...]] = []
        for terms, alt, _start, _end in iter_terms(title):
            if alt and positions:
                positions[-1] = (*positions[-1], terms)
            else:
                positions.append((terms,))
        found = tuple(positions)
        _titles.put(title, found)
    return found


def title_words(title: str) -> list[tuple[WordTerms, ...]]:
    """The title's words, stop words left out: the terms of each position (a compound's
    joined form and first part share one)."""
    return _content(title_sequence(title))


def _content(sequence: tuple[tuple[WordTerms, ...], ...]) -> list[tuple[WordTerms, ...]]:
    """The positions of a title's sequence that are words of their own (a word sharing a stop
    word's position stands alone)."""
    words = []
    for position in sequence:
        if position[0].stop:
            position = position[1:]
        if position:
            words.append(position)
    return words


def query_wording(tree: ql.Node, text: str) -> tuple[str, ...]:
    """The words of ``text``, a query of plain words and phrases, stop words and repeated words
    included, folded, in the order written (a compound as its parts, an elided article as the
    form written with it); () for any other query (``OR``, ``-``, ``word*``, ``title:``),
    which is no title's wording."""
    # An OR the parser set aside ("twitter OR", still being typed) is no word of the title.
    if not _plain(tree) or any(w in ql.OR_WORDS for w in text.split()):
        return ()
    words = analyze_query(text, removestops=False)
    return tuple(t.elided or t.exact for t in words if t.role != "joined")


def _plain(node: ql.Node) -> bool:
    """Whether a query is words and phrases only, in no field: its text is its wording."""
    if isinstance(node, ql.All):
        return all(_plain(n) for n in node.nodes)
    return isinstance(node, ql.Word | ql.Phrase) and node.field is None


def _holds(sequence: tuple[tuple[WordTerms, ...], ...], wording: tuple[str, ...]) -> bool:
    """Whether the wording's words stand in the title side by side, in order."""
    n = len(wording)
    return any(
        all(
            _at(position, word) for word, position in zip(wording, sequence[i : i + n], strict=True)
        )
        for i in range(len(sequence) - n + 1)
    )


def _at(position: tuple[WordTerms, ...], word: str) -> bool:
    """Whether a title position has this exact (folded) form."""
    return any(terms.exact == word for terms in position)


def bonus(title: str, signals: Signals) -> float:
    """Points a document with this title gets for the query (0 when it has no plain words)."""
    if not signals.words:
        return 0.0
    sequence = title_sequence(title)
    words = _content(sequence)
    if not words:
        return 0.0
    matched = [signals.marks(position) for position in words]
    if not any(matched):
        return 0.0
    found = {position[0].exact for position, hit in zip(words, matched, strict=True) if hit}
    share = len(found) / len(words)
    # How much of the query the title has: a short title covered by one word of a longer
    # query ("Insérer" for ``curseur l'insérer``) is worth that much less.
    has = sum(_in_title(word, words) for word in signals.words) / len(signals.words)
    wording = signals.wording
    worded = len(wording) > 1
    others = signals.others
    if worded and others:
        # Stop words typed (or a phrase's words) are part of the query's wording (``style
        # de``): what the title has of the query counts them, as written.
        found = sum(any(_at(position, w) for position in sequence) for w in others)
        has = (has * len(signals.words) + found) / (len(signals.words) + len(others))
    if share == 1 and has == 1:
        points = WHOLE_TITLE
    else:
        points = COVERAGE * share * share * has if share >= COVERED else 0.0
    if worded and _holds(sequence, wording):
        # The wording, word for word: the more of the title it is, the more points.
        return points + TITLE_PHRASE + TYPED_COVERAGE * share
    run = longest = 0
    for hit in matched:
        run = run + 1 if hit else 0
        longest = max(longest, run)
    if len(signals.words) > 1 and longest >= len(signals.words):
        points += TITLE_PHRASE
    return points


def _in_title(word: tuple[str, tuple[str, ...]], words: list[tuple[WordTerms, ...]]) -> bool:
    """Whether a query word (exact form, stems) is one of the title's words, in any form."""
    exact, stems = word
    return any(
        t.exact == exact or any(s in stems for s in t.stems) for position in words for t in position
    )


def rerank(searcher, top: list[tuple[float, int]], signals: Signals | None) -> list:
    """``top`` (``(score, docnum)``, best first) with the title points added to the first
    ``RERANK_DEPTH`` documents, sorted again (equal scores in document order, which
    ``ranking._reranked`` turns into the order of their ids)."""
    if signals is None or not signals.words or not top:
        return top
    head = []
    for score, docnum in top[:RERANK_DEPTH]:
        title = stored_title(searcher, docnum)
        head.append((score + bonus(title, signals), docnum))
    head.sort(key=lambda sd: (-sd[0], sd[1]))
    return head + top[RERANK_DEPTH:]
