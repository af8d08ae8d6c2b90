"""Highlighted snippets: the passages of a text where the query matched, as safe HTML.

The text is re-analysed with the same analyzer as the index, so a match is marked on the
original characters (``delanoe`` marks ``Delanoë``). Every character outside ``<mark>`` is
HTML-escaped.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from functools import lru_cache
from html import escape
from itertools import compress, islice, pairwise

from searchsvc.query.plan import Highlights
from searchsvc.settings import (
    DOC_PART_CHARS,
    FRAGMENT_CHARS,
    MAX_ANALYZED_CHARS,
    MAX_FRAGMENTS,
    SNIPPET_PIECES_CACHED,
    SNIPPET_TOKENS_CACHED,
    WORD_BOUNDARY_CHARS,
)
from searchsvc.text.analysis import TOKEN_PATTERN, normalise, token_kind, token_pieces

ELLIPSIS = "…"

# The tokenizer's pattern as one group: ``split`` then gives gaps and tokens in turn, in C.
_SPLIT_RE = re.compile("(" + re.sub(r"\(\?P<\w+>", "(?:", TOKEN_PATTERN) + ")", re.VERBOSE)
# The same split for a text with no @ or # (so no handles) and its underscores made spaces (no
# token holds one then): without the handle branch and with plain character classes, Python's
# regex engine splits twice as fast (a test checks both give the same tokens). The runs that
# nothing after them could make give back characters are possessive (``*+``, ``++``): the
# same matches, with no backtracking state kept (a tenth faster). The number's ``(?:…)+``
# stays greedy: "1.2.3a" gives back ".3" to end on a non-word character.
_PLAIN_SPLIT_RE = re.compile(
    r"(\d++(?:[.,]\d++)+(?!\w)|\w[\w\u0300-\u036f]*+(?:['-][\w\u0300-\u036f]++)*+)"
)


def split_tokens(text: str) -> list[str]:
    """``text`` split as the tokenizer splits it: gap, token, gap, token, …, gap."""
    if "@" in text or "#" in text:
        return _SPLIT_RE.split(text)
    return _PLAIN_SPLIT_RE.split(text.replace("_", " ") if "_" in text else text)


class Marks:
    """What one query marks in texts, for all the texts of a result page.

    Which tokens a query marks is found by set operations on the page's distinct tokens:
    the tokens known to have one of the query's exact forms or stems (:class:`_Tokens`)
    are the marked ones, so only a token never seen before is analysed, once per process.
    A query with prefixes (``prési*``) decides each distinct token instead.

    One per page (its own dictionaries are not shared between threads); what it reads of
    :data:`_TOKENS` is.
    """

    def __init__(self, highlights: Highlights):
        self.highlights = highlights
        self._prefixes = tuple(highlights.prefixes)
        self._parts: dict[str, tuple[tuple[int, int], ...]] = {}  # token -> marked parts
        self._marked: set[str] = set()  # tokens the query marks (some of them)
        self._known = -1  # how many tokens _TOKENS knew when _marked was last worked out

    def spans(self, text: str, limit: int = MAX_ANALYZED_CHARS) -> list[tuple[int, int]]:
        """The sorted, merged ``(start, end)`` spans of ``text[:limit]`` the query matched."""
        h = self.highlights
        if not (h.exact or h.stems or self._prefixes):  # marks nothing: no need to read
            return []
        pieces = split_tokens(normalise(text[:limit]))
        tokens = pieces[1::2]
        distinct = set(tokens)
        marked = self._marked_among(distinct)
        if marked.isdisjoint(distinct):
            return []
        # The marked tokens picked out in C; each one's start is the length of the pieces
        # before it, summed in C up to it from the previous one: Python loops over the
        # marked tokens only, never over every token of the text.
        lengths = map(len, pieces)
        parts = self._marked_parts
        spans = []
        at = done = 0  # where piece ``done`` starts
        for i in compress(range(len(tokens)), map(marked.__contains__, tokens)):
            piece = 2 * i + 1  # token i
            at += sum(islice(lengths, piece - done))
            done = piece
            for s, e in parts(tokens[i]):
                spans.append((at + s, at + e))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def _marked_among(self, distinct: set[str]) -> set[str]:
        """The tokens the query marks, those of these distinct tokens among them (others too:
        ask it of these only)."""
        if self._prefixes:
            for token in distinct.difference(self._parts):
                if self._marked_parts(token):
                    self._marked.add(token)
            return self._marked
        h = self.highlights
        self._marked, self._known = _TOKENS.marked_among(
            distinct, h.exact, h.stems, self._marked, self._known
        )
        return self._marked

    def _marked_parts(self, token: str) -> tuple[tuple[int, int], ...]:
        """The parts of a token the query marks (a compound may have one part marked)."""
        found = self._parts.get(token)
        if found is None:
            matches = self.highlights.matches
            found = self._parts[token] = tuple(
                (s, e) for s, e, exact, stems in _content_pieces(token) if matches(exact, stems)
            )
        return found


class _Tokens:
    """Every distinct token this process has analysed, by the exact forms and stems of its
    words: the tokens a query marks are then those under its terms. A pure cache of the
    analyzer, emptied past ``capacity`` tokens (``SNIPPET_TOKENS_CACHED``).

    Shared by the request threads, and reached without the searcher (a document's page):
    learning a page's tokens and finding those a query marks among them is one step under
    the cache's own lock, so that no other thread empties it in between (it did: a page
    then lost its marks).
    """

    def __init__(self, capacity: int = SNIPPET_TOKENS_CACHED):
        self.capacity = capacity
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        # exact form (or stem) -> its tokens; lists, not sets: most terms have one or two
        self._by_exact: dict[str, list[str]] = {}
        self._by_stem: dict[str, list[str]] = {}
        self.known = 0  # tokens learnt since the start (it only grows)

    def marked_among(
        self, tokens: set[str], exact_forms, stems, marked: set[str], known: int
    ) -> tuple[set[str], int]:
        """Learn ``tokens``, then return the tokens with one of these exact forms or stems,
        and :attr:`known` as of then: ``marked`` itself when ``known`` (what it was when
        ``marked`` was found) shows nothing learnt since, else found again."""
        self._lock.acquire()  # not ``with``: half the cost, once per text marked
        try:
            self._learn(tokens)
            if known != self.known:
                marked = self._having(exact_forms, stems)
            return marked, self.known
        finally:
            self._lock.release()

    def _learn(self, tokens: set[str]) -> None:
        """Analyse the tokens not seen before (lock held)."""
        new = tokens.difference(self._seen)
        if not new:
            return
        if len(self._seen) + len(new) > self.capacity:
            self._seen.clear()
            self._by_exact.clear()
            self._by_stem.clear()
            new = tokens
        self._seen |= new
        by_exact, by_stem = self._by_exact, self._by_stem
        for token in new:
            for _s, _e, exact, stems in _content_pieces(token):
                by_exact.setdefault(exact, []).append(token)
                for stem in stems:
                    by_stem.setdefault(stem, []).append(token)
        self.known += len(new)

    def _having(self, exact_forms, stems) -> set[str]:
        """The tokens with one of these exact forms or stems (lock held)."""
        found: set[str] = set()
        for exact in exact_forms:
            found.update(self._by_exact.get(exact, ()))
        for stem in stems:
            found.update(self._by_stem.get(stem, ()))
        return found


_TOKENS = _Tokens()


@lru_cache(maxsize=SNIPPET_PIECES_CACHED)  # thread-safe (functools')
def _content_pieces(token: str) -> tuple[tuple[int, int, str, tuple[str, ...]], ...]:
    """The words of one token a query can mark (stop words never are), as ``(start, end,
    exact form, stems)``: what deciding whether a query marks the token needs, kept for
    every query (tokens recur across the documents of all queries)."""
    return tuple(
        (piece.start, piece.end, piece.terms.exact, piece.terms.stems)
        for piece in token_pieces(token_kind(token), token)
        if not piece.terms.stop
    )


def _marks(highlights: Highlights | Marks) -> Marks:
    return highlights if isinstance(highlights, Marks) else Marks(highlights)


def match_spans(
    text: str, highlights: Highlights | Marks, limit: int = MAX_ANALYZED_CHARS
) -> list[tuple[int, int]]:
    """Return the sorted, merged ``(start, end)`` spans of ``text`` that the query matched."""
    return _marks(highlights).spans(text, limit)


def mark(text: str, spans: list[tuple[int, int]], start: int = 0, end: int | None = None) -> str:
    """Escape ``text[start:end]`` as HTML with ``<mark>`` around the spans inside it
    (``spans``: sorted and apart, as :func:`match_spans` gives them; only those reaching into
    the window are looked at, the first found by bisection)."""
    end = len(text) if end is None else end
    first = max(0, bisect_right(spans, (start, len(text) + 1)) - 1)
    out, cursor = [], start
    for s, e in islice(spans, first, None):
        if s >= end:
            break
        if e <= start:
            continue
        s, e = max(s, start), min(e, end)
        out.append(escape(text[cursor:s], quote=False))
        out.append("<mark>" + escape(text[s:e], quote=False) + "</mark>")
        cursor = e
    out.append(escape(text[cursor:end], quote=False))
    return "".join(out)


def highlight(text: str, highlights: Highlights | Marks, limit: int = MAX_ANALYZED_CHARS) -> str:
    """The whole text as HTML with every match in its first ``limit`` characters marked (a
    title, or the part of a document a page shows; the rest is escaped, never analysed)."""
    return mark(text, match_spans(text, highlights, limit=limit))


def snippet(
    text: str,
    highlights: Highlights | Marks,
    fragments: int = MAX_FRAGMENTS,
    width: int = FRAGMENT_CHARS,
) -> str:
    """Up to ``fragments`` passages around the best matches, joined by an ellipsis.

    Linear in the text it reads: the first ``MAX_ANALYZED_CHARS`` characters are analysed,
    a passage's ends move at most ``WORD_BOUNDARY_CHARS`` to a space, and the passages are
    scored with two pointers over the sorted matches (never every match against every other).
    """
    spans = match_spans(text, highlights)
    if not spans:
        end = _word_end(text, min(len(text), 2 * width))
        return _single_spaced(mark(text, [], 0, end)) + (ELLIPSIS if end < len(text) else "")
    ends = [e for _s, e in spans]
    words = [text[a:b].lower() for a, b in spans]
    # A window starting at match i holds matches i..j-1: those ending by its end. Both its
    # start and its end only move forward with i, so j does too, and the distinct words of
    # the window are kept counted as j advances and i leaves.
    counts: dict[str, int] = {}
    windows = []
    j = 0
    for i, (s, _e) in enumerate(spans):
        w_start = _word_start(text, max(0, s - width // 3))
        w_end = _word_end(text, min(len(text), w_start + width))
        if j < i:  # the previous window held no match at all (one longer than it)
            j = i
        while j < len(spans) and ends[j] <= w_end:
            counts[words[j]] = counts.get(words[j], 0) + 1
            j += 1
        inside = j - i
        # Best first, then leftmost (a window's end follows from its start).
        windows.append((-(len(counts) + 0.1 * inside), w_start, w_end))
        if inside:  # match i leaves: the next window starts after it
            left = counts[words[i]] - 1
            if left:
                counts[words[i]] = left
            else:
                del counts[words[i]]
    chosen: list[tuple[int, int]] = []
    windows.sort()
    for _score, w_start, w_end in windows:
        if all(w_end <= a or w_start >= b for a, b in chosen):
            chosen.append((w_start, w_end))
            if len(chosen) == fragments:
                break
    chosen.sort()
    parts = []
    for w_start, w_end in chosen:
        piece = _single_spaced(mark(text, spans, w_start, w_end)).strip()
        lead = ELLIPSIS if w_start > 0 else ""
        tail = ELLIPSIS if w_end < len(text) else ""
        parts.append(lead + piece + tail)
    return " ".join(parts).replace(ELLIPSIS + " " + ELLIPSIS, ELLIPSIS + " ")


# The last white space of a stretch (greedy, so it backs up from the stretch's end), and the
# first one.
_LAST_SPACE = re.compile(r".*\s", re.DOTALL)
_SPACE = re.compile(r"\s")


def _word_start(text: str, i: int, within: int = WORD_BOUNDARY_CHARS) -> int:
    """``i`` moved back to the start of its word, looking at most ``within`` characters back;
    a word longer than that (a text with no spaces) is cut at ``i``."""
    if not 0 < i < len(text):
        return i
    low = max(0, i - within)
    found = _LAST_SPACE.match(text, low, i)
    if found:
        return found.end()
    return 0 if low == 0 else i


def _word_end(text: str, i: int, within: int = WORD_BOUNDARY_CHARS) -> int:
    """``i`` moved on to the end of its word, looking at most ``within`` characters ahead; a
    word longer than that is cut at ``i``."""
    if not 0 < i < len(text):
        return i
    high = min(len(text), i + within)
    found = _SPACE.search(text, i, high)
    if found:
        return found.start()
    return len(text) if high == len(text) else i


def _single_spaced(html: str) -> str:
    """``html`` on one line, each run of white space made one space."""
    return " ".join(html.split())


# How far back from its longest a part of a document looks for a line break to end on, at
# most (and a tenth of its size at most).
_PART_LINE_BREAK_CHARS = 1_000


def document_parts(text: str, size: int = DOC_PART_CHARS) -> list[tuple[int, int]]:
    """``text`` cut into parts of at most ``size`` characters, as ``(start, end)`` offsets.

    Each part ends at a line break near its longest, else at a space close before, else
    right there; so the parts depend on the text alone (a link to a part stays valid), and
    each cut costs a bounded search.
    """
    look_back = min(_PART_LINE_BREAK_CHARS, size // 10)
    cuts = [0]
    while cuts[-1] + size < len(text):
        longest = cuts[-1] + size
        cut = text.rfind("\n", longest - look_back, longest)
        cut = cut + 1 if cut != -1 else _word_start(text, longest)
        cuts.append(cut if cut > cuts[-1] else longest)
    cuts.append(len(text))
    return list(pairwise(cuts))
