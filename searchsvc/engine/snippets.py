"""Highlighted snippets: the passages of a text where the query matched, as safe HTML.

The text is re-analysed with the same analyzer as the index, so a match is marked on the
original characters (``delanoe`` marks ``Delanoë``). Every character outside ``<mark>`` is
HTML-escaped.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape
from itertools import accumulate

from searchsvc.query.plan import Highlights
from searchsvc.settings import FRAGMENT_CHARS, MAX_ANALYZED_CHARS, MAX_FRAGMENTS
from searchsvc.text.analysis import TOKEN_PATTERN, normalise, token_kind, token_pieces

ELLIPSIS = "…"

# The tokenizer's pattern as one group: ``split`` then gives gaps and tokens in turn, in C.
_SPLIT_RE = re.compile("(" + re.sub(r"\(\?P<\w+>", "(?:", TOKEN_PATTERN) + ")", re.VERBOSE)
# The same split for a text with no @ or # (so no handles) and its underscores made spaces (no
# token holds one then): without the handle branch and with plain character classes, Python's
# regex engine splits twice as fast (a test checks both give the same tokens).
_PLAIN_SPLIT_RE = re.compile(
    r"(\d+(?:[.,]\d+)+(?!\w)|\w[\w\u0300-\u036f]*(?:['-][\w\u0300-\u036f]+)*)"
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
    """

    def __init__(self, highlights: Highlights):
        self.highlights = highlights
        self._prefixes = tuple(highlights.prefixes)
        self._parts: dict[str, tuple[tuple[int, int], ...]] = {}  # token -> marked parts
        self._marked: set[str] = set()  # tokens the query marks (some of them)
        self._known = -1  # how many tokens _TOKENS knew when _marked was last worked out

    def spans(self, text: str, limit: int = MAX_ANALYZED_CHARS) -> list[tuple[int, int]]:
        """The sorted, merged ``(start, end)`` spans of ``text[:limit]`` the query matched."""
        pieces = split_tokens(normalise(text[:limit]))
        tokens = pieces[1::2]
        marked = self._marked_among(set(tokens))
        if not marked:
            return []
        ends = list(accumulate(map(len, pieces)))  # token i starts at ends[2 * i]
        spans = [
            (ends[2 * i] + s, ends[2 * i] + e)
            for i, token in enumerate(tokens)
            if token in marked
            for s, e in self._marked_parts(token)
        ]
        spans.sort()
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def _marked_among(self, distinct: set[str]) -> set[str]:
        """Which of these distinct tokens the query marks."""
        if self._prefixes:
            for token in distinct.difference(self._parts):
                if self._marked_parts(token):
                    self._marked.add(token)
            return self._marked.intersection(distinct)
        _TOKENS.learn(distinct)
        if self._known != _TOKENS.known:
            h = self.highlights
            self._marked = _TOKENS.having(h.exact, h.stems)
            self._known = _TOKENS.known
        return self._marked.intersection(distinct)

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
    analyzer, emptied past ``MAX_TOKENS`` (about 400 bytes a token: 40 MB)."""

    MAX_TOKENS = 100_000

    def __init__(self):
        self._seen: set[str] = set()
        # exact form (or stem) -> its tokens; lists, not sets: most terms have one or two
        self._by_exact: dict[str, list[str]] = {}
        self._by_stem: dict[str, list[str]] = {}
        self.known = 0  # tokens learnt since the start (it only grows)

    def learn(self, tokens: set[str]) -> None:
        """Analyse the tokens not seen before."""
        new = tokens.difference(self._seen)
        if not new:
            return
        if len(self._seen) + len(new) > self.MAX_TOKENS:
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

    def having(self, exact_forms, stems) -> set[str]:
        """The tokens with one of these exact forms or stems."""
        found: set[str] = set()
        for exact in exact_forms:
            found.update(self._by_exact.get(exact, ()))
        for stem in stems:
            found.update(self._by_stem.get(stem, ()))
        return found


_TOKENS = _Tokens()


@lru_cache(maxsize=1 << 16)
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
    """Escape ``text[start:end]`` as HTML with ``<mark>`` around the spans inside it."""
    end = len(text) if end is None else end
    out, cursor = [], start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out.append(escape(text[cursor:s], quote=False))
        out.append("<mark>" + escape(text[s:e], quote=False) + "</mark>")
        cursor = e
    out.append(escape(text[cursor:end], quote=False))
    return "".join(out)


def highlight(text: str, highlights: Highlights | Marks) -> str:
    """The whole text as HTML with every match marked (for a document view)."""
    return mark(text, match_spans(text, highlights, limit=len(text)))


def snippet(
    text: str,
    highlights: Highlights | Marks,
    fragments: int = MAX_FRAGMENTS,
    width: int = FRAGMENT_CHARS,
) -> str:
    """Up to ``fragments`` passages around the best matches, joined by an ellipsis."""
    spans = match_spans(text, highlights)
    if not spans:
        end = _word_end(text, min(len(text), 2 * width))
        return _flat(mark(text, [], 0, end)) + (ELLIPSIS if end < len(text) else "")
    windows = []
    for i, (s, _e) in enumerate(spans):
        w_start = _word_start(text, max(0, s - width // 3))
        w_end = _word_end(text, min(len(text), w_start + width))
        inside = [text[a:b].lower() for a, b in spans[i:] if b <= w_end]
        windows.append((len(set(inside)) + 0.1 * len(inside), w_start, w_end))
    chosen: list[tuple[int, int]] = []
    for _score, w_start, w_end in sorted(windows, key=lambda w: (-w[0], w[1])):
        if all(w_end <= a or w_start >= b for a, b in chosen):
            chosen.append((w_start, w_end))
            if len(chosen) == fragments:
                break
    chosen.sort()
    parts = []
    for w_start, w_end in chosen:
        piece = _flat(mark(text, spans, w_start, w_end)).strip()
        lead = ELLIPSIS if w_start > 0 else ""
        tail = ELLIPSIS if w_end < len(text) else ""
        parts.append(lead + piece + tail)
    return " ".join(parts).replace(ELLIPSIS + " " + ELLIPSIS, ELLIPSIS + " ")


def _word_start(text: str, i: int) -> int:
    while 0 < i < len(text) and not text[i - 1].isspace():
        i -= 1
    return i


def _word_end(text: str, i: int) -> int:
    while 0 < i < len(text) and not text[i].isspace():
        i += 1
    return i


def _flat(html: str) -> str:
    return " ".join(html.split())
