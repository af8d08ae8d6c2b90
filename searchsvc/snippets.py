"""Highlighted snippets: the passages of a text where the query matched, as safe HTML.

The text is re-analysed with the same analyzer as the index, so a match is marked on the
original characters (``delanoe`` marks ``Delanoë``). Every character outside ``<mark>`` is
HTML-escaped.
"""

from __future__ import annotations

from html import escape

from searchsvc.analysis import token_matches, token_pieces
from searchsvc.matching import Highlights

# Only the start of very long documents is scanned for snippets: it bounds the cost.
MAX_ANALYZED_CHARS = 50_000
FRAGMENT_CHARS = 180
MAX_FRAGMENTS = 3
ELLIPSIS = "…"


def match_spans(
    text: str, highlights: Highlights, limit: int = MAX_ANALYZED_CHARS
) -> list[tuple[int, int]]:
    """Return the sorted, merged ``(start, end)`` spans of ``text`` that the query matched."""
    spans: list[tuple[int, int]] = []
    # Which parts of a token match depends on the token alone: decided once per token and
    # query, for all the snippets of a page.
    matched = highlights.token_spans
    for m in token_matches(text[:limit]):
        token = m.group()
        parts = matched.get(token)
        if parts is None:
            parts = matched[token] = [
                (s, e)
                for terms, _alt, s, e in token_pieces(m.lastgroup, token)
                if not terms.stop and highlights.matches(terms.exact, terms.stems)
            ]
        if parts:
            start = m.start()
            spans.extend((start + s, start + e) for s, e in parts)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


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


def highlight(text: str, highlights: Highlights) -> str:
    """The whole text as HTML with every match marked (for a document view)."""
    return mark(text, match_spans(text, highlights, limit=len(text)))


def snippet(
    text: str,
    highlights: Highlights,
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
