"""The French analysis as Whoosh analyzers: the objects the index schema holds.

Each is a thin adapter that turns what :mod:`searchsvc.text.analysis` finds into Whoosh
tokens; it decides nothing itself. Searchsvc indexes through ``analyze_text`` (see
:mod:`searchsvc.index.schema`) and analyses queries with ``analyze_query``: these adapters
serve Whoosh's own callers (``field.process_text``, tools reading an index) and make the
schema say how its fields are analysed. They read no ``mode``: Whoosh's query mode gets the
index terms too.

Whoosh pickles the schema, analyzers included, into the index: these classes keep no
state, and moving or renaming them changes the index format (``schema.INDEX_FORMAT``).
"""

from __future__ import annotations

from collections.abc import Iterator

from whoosh.analysis import Token, Tokenizer

from searchsvc.text.analysis import WordTerms, iter_terms, normalise, token_pieces


def _words(value: str, tokenize: bool) -> Iterator[tuple[WordTerms, bool, int, int]]:
    """The indexed words of ``value``; with ``tokenize`` false, of ``value`` read as one word
    (Whoosh's convention for text that must not be split)."""
    if tokenize:
        return iter_terms(value)
    pieces = token_pieces("word", normalise(value))
    return ((p.terms, p.alt, p.start, p.end) for p in pieces)


class _WordsTokenizer(Tokenizer):
    """One token per term :meth:`terms` picks for each indexed word, with the word's
    position (an alt word shares its predecessor's) and offsets into the original text."""

    def terms(self, word: WordTerms) -> tuple[str, ...]:
        raise NotImplementedError

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs,
    ) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        pos = start_pos - 1
        for word, alt, start, end in _words(value, tokenize):
            if not alt:
                pos += 1
            for term in self.terms(word):
                t.text, t.boost, t.stopped = term, 1.0, False
                if keeporiginal:
                    t.original = value[start:end]
                if positions:
                    t.pos = pos
                if chars:
                    t.startchar, t.endchar = start_char + start, start_char + end
                yield t


class FrenchAnalyzer(_WordsTokenizer):
    """The text fields' analyzer: one token per index term, in the order indexing writes
    them (exact form, then stems)."""

    def terms(self, word: WordTerms) -> tuple[str, ...]:
        return word.indexed


class VariantsAnalyzer(_WordsTokenizer):
    """The ``variants`` field's analyzer: one token per accented word, its variant term
    (``"elysee élysée"``), in text order, at the word's index position."""

    def terms(self, word: WordTerms) -> tuple[str, ...]:
        return (word.variant,) if word.variant else ()
