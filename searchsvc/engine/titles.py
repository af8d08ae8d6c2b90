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

from collections.abc import Callable
from dataclasses import dataclass, field

from searchsvc.index.caches import LRU, Key, per_reader
from searchsvc.index.caches import title as stored_title
from searchsvc.query import language as ql
from searchsvc.query.plan import Highlights
from searchsvc.settings import (
    COVERAGE,
    COVERED,
    RERANK_DEPTH,
    TITLE_PHRASE,
    TITLE_POSITIONS_CACHED,
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
    # The wording's words that are not plain words (stop words, a phrase's words), once per
    # query.
    others: tuple[str, ...] = field(init=False, compare=False, repr=False)
    # The plain words with their stems as a set, once per query.
    stemmed: tuple[tuple[str, frozenset[str]], ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        plain = {exact for exact, _stems in self.words}
        object.__setattr__(self, "others", tuple(w for w in self.wording if w not in plain))
        stemmed = tuple((exact, frozenset(stems)) for exact, stems in self.words)
        object.__setattr__(self, "stemmed", stemmed)

    def matched(self, title: Title) -> list[bool] | None:
        """Whether the query matches each of the title's words, in any of its forms, as
        :meth:`Highlights.matches` tells, or None when it matches none of them."""
        h = self.highlights
        exact, stems = h.exact, h.stems
        if h.prefixes:
            prefixes = tuple(h.prefixes)
            matched = [
                not (exact.isdisjoint(p.exacts) and stems.isdisjoint(p.stems))
                or any(form.startswith(prefixes) for form in p.exacts)
                for p in title.words
            ]
            return matched if True in matched else None
        if exact.isdisjoint(title.exacts) and stems.isdisjoint(title.stems):
            return None
        return [not (exact.isdisjoint(p.exacts) and stems.isdisjoint(p.stems)) for p in title.words]


class _Position:
    """The forms at one position of a title, as the signals compare them: every exact form
    there (stop words included), and those of its word (a leading stop word aside: its exact
    forms, its stems, the first form). Shared by every title with that position (see
    :func:`_position`)."""

    __slots__ = ("everything", "exacts", "first", "stems", "terms")

    def __init__(self, position: tuple[WordTerms, ...]):
        self.terms = position
        self.everything = tuple(t.exact for t in position)
        word = position[1:] if position[0].stop else position
        self.exacts = tuple(t.exact for t in word)
        self.stems = tuple(s for t in word for s in t.stems)
        self.first = word[0].exact if word else ""


# Title positions, for the process: a word's comes back in many titles, and one object for
# all of them keeps the titles small. Emptied whole past TITLE_POSITIONS_CACHED (the titles
# keep theirs).
_positions: dict[tuple[WordTerms, ...], _Position] = {}


def _position(position: tuple[WordTerms, ...]) -> _Position:
    """The shared :class:`_Position` of a title position."""
    found = _positions.get(position)
    if found is None:
        if len(_positions) >= TITLE_POSITIONS_CACHED:
            _positions.clear()
        found = _positions.setdefault(position, _Position(position))
    return found


class Title:
    """A title's analysis, made once per title text (:func:`analysed`) and read for every
    query whose best documents it is among: its positions, its words, and their forms, so that
    what a query matches of it is a few set operations on tuples rather than a look at every
    term of every word.
    """

    __slots__ = ("everything", "exacts", "positions", "stems", "words")

    def __init__(self, sequence: tuple[tuple[WordTerms, ...], ...]):
        self.positions = tuple(_position(position) for position in sequence)
        # The words: the positions with a word of their own (stop words aside).
        self.words = tuple(p for p in self.positions if p.exacts)
        # Every exact form and stem of the words.
        self.exacts = tuple(e for p in self.words for e in p.exacts)
        self.stems = tuple(s for p in self.words for s in p.stems)
        # Every exact form at every position, stop words included.
        self.everything = tuple(e for p in self.positions for e in p.everything)

    def holds(self, wording: tuple[str, ...]) -> bool:
        """Whether the wording's words stand in the title side by side, in order (at once
        not when one of them is nowhere in it, as for most titles)."""
        everything = self.everything
        for word in wording:
            if word not in everything:
                return False
        positions, n = self.positions, len(wording)
        return any(
            all(word in p.everything for word, p in zip(wording, positions[i : i + n], strict=True))
            for i in range(len(positions) - n + 1)
        )


def analysed(title: str) -> Title:
    """The title's :class:`Title`, analysed once per title text (kept among the
    ``TITLE_WORDS_CACHED`` most recently used)."""
    found = _titles.get(title)
    if found is None:
        positions: list[tuple[WordTerms, ...]] = []
        for terms, alt, _start, _end in iter_terms(title):
            if alt and positions:
                positions[-1] = (*positions[-1], terms)
            else:
                positions.append((terms,))
        found = Title(tuple(positions))
        _titles.put(title, found)
    return found


def title_sequence(title: str) -> tuple[tuple[WordTerms, ...], ...]:
    """Every word position of the title, stop words included: the terms at each (a compound's
    joined form with its first part, an elided word with its article). Analysed once per
    title, for both signals (and by ``SearchEngine.warm_up``)."""
    return tuple(p.terms for p in analysed(title).positions)


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


def bonus(title: str, signals: Signals) -> float:
    """Points a document with this title gets for the query (0 when it has no plain words)."""
    return _bonus(analysed(title), signals)


def _bonus(shape: Title, signals: Signals) -> float:
    """:func:`bonus` for an analysed title."""
    if not signals.words:
        return 0.0
    words = shape.words
    if not words:
        return 0.0
    matched = signals.matched(shape)
    if matched is None:
        return 0.0
    found = {p.first for p, hit in zip(words, matched, strict=True) if hit}
    share = len(found) / len(words)
    # How much of the query the title has: a short title covered by one word of a longer
    # query ("Insérer" for ``curseur l'insérer``) is worth that much less.
    exacts, stems = shape.exacts, shape.stems
    has = sum(
        exact in exacts or not forms.isdisjoint(stems) for exact, forms in signals.stemmed
    ) / len(signals.words)
    wording = signals.wording
    worded = len(wording) > 1
    others = signals.others
    if worded and others:
        # Stop words typed (or a phrase's words) are part of the query's wording (``style
        # de``): what the title has of the query counts them, as written.
        everything = shape.everything
        found = sum(w in everything for w in others)
        has = (has * len(signals.words) + found) / (len(signals.words) + len(others))
    if share == 1 and has == 1:
        points = WHOLE_TITLE
    else:
        points = COVERAGE * share * share * has if share >= COVERED else 0.0
    if worded and shape.holds(wording):
        # The wording, word for word: the more of the title it is, the more points.
        return points + TITLE_PHRASE + TYPED_COVERAGE * share
    if len(signals.words) > 1 and _run(matched) >= len(signals.words):
        points += TITLE_PHRASE
    return points


def _run(matched: list[bool]) -> int:
    """The longest run of title words the query matched, side by side."""
    run = longest = 0
    for hit in matched:
        run = run + 1 if hit else 0
        longest = max(longest, run)
    return longest


def rerank(searcher, top: list[tuple[float, int]], signals: Signals | None) -> list:
    """``top`` (``(score, docnum)``, best first) with the title points added to the first
    ``RERANK_DEPTH`` documents, sorted again (equal scores in document order, which
    ``ranking._reranked`` turns into the order of their ids)."""
    if signals is None or not signals.words or not top:
        return top
    head = []
    analysed_of = analysed_titles(searcher)
    for score, docnum in top[:RERANK_DEPTH]:
        head.append((score + _bonus(analysed_of(docnum), signals), docnum))
    head.sort(key=lambda sd: (-sd[0], sd[1]))
    return head + top[RERANK_DEPTH:]


def analysed_titles(searcher) -> Callable[[int], Title]:
    """A document's analysed title (global number) by the searcher: kept per reader by
    document, past the first sight of each (one dictionary look-up for each candidate of
    every query, where reading the stored title and finding its analysis take two recently
    used caches' locks)."""
    known = per_reader(searcher.reader(), Key.TITLE_WORDS, dict)

    def analysed_of(docnum: int) -> Title:
        found = known.get(docnum)
        if found is None:
            if len(known) >= TITLE_WORDS_CACHED:
                known.clear()
            found = known[docnum] = analysed(stored_title(searcher, docnum))
        return found

    return analysed_of
