"""The words of the sources' names, as query words find them.

People name where what they look for comes from: « insérer une feuille dans calc »,
« paquet debian », « article du monde sur la réforme ». A source's name (its ``source``
field: a site, a collection, a package) is no text of the document, but a query word that
is a word of it is found in every document of that source, at a small score
(``Weights.source``): such a document holds what the word asks for, while one that writes
the word comes first.
"""

from __future__ import annotations

import re

import numpy as np
from whoosh.reading import IndexReader

from searchsvc.index import columns
from searchsvc.index.caches import Key, per_segment
from searchsvc.settings import FILLER_MIN_DOCS, FILLER_SHARE, SOURCE_WORD_MIN_CHARS
from searchsvc.text.analysis import fold

_WORD = re.compile(r"[^\W_]+")


def sources_named(reader: IndexReader, word: str) -> frozenset[str]:
    """The source values (as indexed) one of whose name's words is ``word`` (a folded query
    word); none for a word too short, a number, or one that names the sources of more than
    ``FILLER_SHARE`` of the documents (``usr`` in paths: it tells nothing apart)."""
    values: set[str] = set()
    documents = 0  # of theirs
    for leaf, _offset in reader.leaf_readers():
        named = _words_of_sources(leaf).get(word)
        if named is not None:
            values.update(named[0])
            documents += named[1]
    total = reader.doc_count()
    if not values or (total >= FILLER_MIN_DOCS and documents > FILLER_SHARE * total):
        return frozenset()
    return frozenset(values)


def source_codes(segment, word: str) -> np.ndarray:
    """The codes, in the segment's source column (:func:`columns.column_codes`), of the
    sources whose names hold ``word``: what a search reads to find their documents."""
    named = _words_of_sources(segment).get(word)
    return named[2] if named is not None else _NO_CODES


_NO_CODES = np.zeros(0, np.intp)


def _words_of_sources(segment) -> dict[str, tuple[tuple[str, ...], int, np.ndarray]]:
    """Each word of a segment's source names -> (the source values that hold it, how many of
    the segment's documents they have, their codes in its source column); made once per
    segment from that column (the values counted in C), so that a new generation reads only
    its new segments'."""
    return per_segment(segment, Key.SOURCE_WORDS, lambda: _read_words_of_sources(segment))


def _read_words_of_sources(segment) -> dict[str, tuple[tuple[str, ...], int, np.ndarray]]:
    codes, names = columns.column_codes(segment, "source")
    counts = np.bincount(codes, minlength=len(names)).tolist() if len(codes) else []
    found: dict[str, list[int]] = {}
    documents: dict[str, int] = {}
    for code, (name, count) in enumerate(zip(names, counts, strict=True)):
        if not name:
            continue
        for word in {fold(piece) for piece in _WORD.findall(name)}:
            if len(word) >= SOURCE_WORD_MIN_CHARS and not word.isdigit():
                found.setdefault(word, []).append(code)
                documents[word] = documents.get(word, 0) + count
    return {
        w: (tuple(names[c] for c in held), documents[w], np.array(held, np.intp))
        for w, held in found.items()
    }
