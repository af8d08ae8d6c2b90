"""A new segment's text postings, gathered as arrays a chunk of documents at a time.

The segment builder (:mod:`searchsvc.index.whoosh_internals.writing`) used to take each text's
analysis as a dictionary of terms and append every term's posting to arrays of its own:
Python steps for every term of every document, most of a pushed document's cost. Here each
distinct token is numbered once (its exact terms, stems and variant terms as numbers of a
:class:`TermNumbers`), a chunk of texts becomes a few numpy arrays (term, document and
position of each occurrence), and the postings are grouped by term with one stable sort when
the segment is written: Python steps once per term of the segment, not per posting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from itertools import chain, pairwise
from operator import itemgetter
from typing import NamedTuple

import numpy as np

from searchsvc.settings import OCCURRENCES_GROUPED, TERMS_NUMBERED
from searchsvc.text.analysis import text_tokens, token_terms

# What a posting's values are: positions (an exact term), a frequency (a stem), nothing (a
# variant term: the document has it).
POSITIONS, FREQUENCY, PRESENT = "positions", "frequency", "present"


class TokenNumbers(NamedTuple):
    """One token's terms as :class:`TermNumbers` numbers: its exact terms in order, with each
    one's step from the previous position (as :class:`~searchsvc.text.analysis.TokenTerms`),
    its stems and its variant terms."""

    exact: tuple[int, ...]
    steps: tuple[int, ...]
    stems: tuple[int, ...]
    variants: tuple[int, ...]


_EXACT, _STEPS, _STEMS, _VARIANTS = (itemgetter(i) for i in range(4))


class TermNumbers:
    """Terms (UTF-8 bytes) numbered in the order they are first met, and each token's numbers,
    worked out once per distinct token (French is Zipfian). Shared by the builders of a
    process (:func:`term_numbers`); a token met for the first time is numbered under a lock."""

    def __init__(self) -> None:
        self.terms: list[bytes] = []
        self._ids: dict[bytes, int] = {}
        self._tokens: dict[tuple[str, str, str], TokenNumbers] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.terms)

    def text(self, text: str) -> list[TokenNumbers]:
        """The numbers of each token of ``text``, in order."""
        found = self._tokens.get
        return [found(groups) or self._token(groups) for groups in text_tokens(text)]

    def _token(self, groups: tuple[str, str, str]) -> TokenNumbers:
        terms = token_terms(groups)
        with self._lock:
            found = self._tokens.get(groups)
            if found is None:
                number = self._number
                found = self._tokens[groups] = TokenNumbers(
                    tuple(map(number, terms.exact)),
                    terms.steps,
                    tuple(map(number, terms.stems)),
                    tuple(number(v.encode("utf-8")) for v in terms.variants),
                )
        return found

    def _number(self, term: bytes) -> int:
        found = self._ids.get(term)
        if found is None:
            found = self._ids[term] = len(self.terms)
            self.terms.append(term)
        return found


_numbers = TermNumbers()
_numbers_lock = threading.Lock()


def term_numbers() -> TermNumbers:
    """The process' numbering, for a segment about to begin; a new one once the current one
    holds :data:`~searchsvc.settings.TERMS_NUMBERED` terms (a builder keeps the numbering it
    began with until its segment is written, so its numbers never change under it)."""
    global _numbers
    with _numbers_lock:
        if len(_numbers) >= TERMS_NUMBERED:
            _numbers = TermNumbers()
        return _numbers


class FieldPostings:
    """One field's postings in the segment being built: per chunk of documents, the term,
    document and position of each exact-term occurrence, and the term and document of each
    stem occurrence or variant term (a document's variant terms once each)."""

    def __init__(self) -> None:
        self._positional: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._counted: list[tuple[np.ndarray, np.ndarray]] = []
        self._kind = FREQUENCY
        self.occurrences = 0

    def __bool__(self) -> bool:
        return self.occurrences > 0

    def add_texts(self, docnums: list[int], texts: list[list[TokenNumbers]]) -> np.ndarray:
        """Add one text of each of these documents (its tokens' numbers); return each text's
        length (every occurrence of every term, stems included), as the field's length."""
        exact, steps, stems, exact_counts, stem_counts = [], [], [], [], []
        for tokens in texts:
            before = len(exact)
            exact.extend(chain.from_iterable(map(_EXACT, tokens)))
            exact_counts.append(len(exact) - before)
            steps.extend(chain.from_iterable(map(_STEPS, tokens)))
            before = len(stems)
            stems.extend(chain.from_iterable(map(_STEMS, tokens)))
            stem_counts.append(len(stems) - before)
        exact_counts = np.array(exact_counts, np.int64)
        stem_counts = np.array(stem_counts, np.int64)
        docs = np.array(docnums, np.uint32)
        if exact:
            # A text's first word is at position 0: positions run on from -1, by the steps.
            ran = np.cumsum(np.array(steps, np.int64))
            before = np.concatenate(([0], ran))[np.cumsum(exact_counts) - exact_counts]
            positions = ran - np.repeat(before, exact_counts) - 1
            self._positional.append(
                (
                    np.array(exact, np.int32),
                    np.repeat(docs, exact_counts),
                    positions.astype(np.uint32),
                )
            )
        if stems:
            self._counted.append((np.array(stems, np.int32), np.repeat(docs, stem_counts)))
        self.occurrences += len(exact) + len(stems)
        return exact_counts + stem_counts

    def add_variants(self, docnums: list[int], texts: list[list[list[TokenNumbers]]]) -> None:
        """Add the variant terms of these documents' texts (each document's list of texts),
        each once per document."""
        self._kind = PRESENT
        variants, counts = [], []
        for doc_texts in texts:
            before = len(variants)
            for tokens in doc_texts:
                variants.extend(chain.from_iterable(map(_VARIANTS, tokens)))
            counts.append(len(variants) - before)
        if not variants:
            return
        docs = np.repeat(np.array(docnums, np.int64), counts)
        pairs = np.unique((docs << 32) | np.array(variants, np.int64))  # by document, then term
        self._counted.append(
            ((pairs & 0xFFFFFFFF).astype(np.int32), (pairs >> 32).astype(np.uint32))
        )
        self.occurrences += len(pairs)

    def grouped(self, numbers: TermNumbers, lengths: np.ndarray) -> Grouped:
        """The field's postings grouped by term (see :class:`Grouped`), to be read once.
        ``lengths`` gives each document's field length as stored, by document number."""
        parts = [p[0] for p in self._positional] + [p[0] for p in self._counted]
        if not parts:
            return Grouped([], iter(()))
        present = np.zeros(len(numbers), bool)  # no copy of the occurrences, no sort
        for terms in parts:
            present[terms] = True
        ids = np.flatnonzero(present)
        del parts
        names = [numbers.terms[i] for i in ids.tolist()]
        order = sorted(range(len(names)), key=names.__getitem__)
        rank = np.zeros(int(ids[-1]) + 1, np.int32)
        rank[ids[order]] = np.arange(len(ids), dtype=np.int32)
        return Grouped([names[i] for i in order], self._ranges(rank, len(ids), lengths))

    def _ranges(self, rank: np.ndarray, count: int, lengths: np.ndarray) -> Iterator[tuple]:
        """The terms in ranges of ranks of at most ~:data:`OCCURRENCES_GROUPED` occurrences
        each (a term's never split), each range's groups made when it is read: what a
        grouping makes (tens of bytes an occurrence) and the records made of it stay bounded
        whatever the segment's size. The chunks are let go of once joined."""
        kinds = []
        if self._positional:
            held, self._positional = self._positional, []
            key, docs, positions = _joined(held, rank)
            kinds.append((POSITIONS, key, docs, positions))
        if self._counted:
            held, self._counted = self._counted, []
            key, docs = _joined(held, rank)
            kinds.append((self._kind, key, docs, None))
        occurrences = sum(len(k[1]) for k in kinds)
        if occurrences <= OCCURRENCES_GROUPED:
            yield 0, count, [_grouped(key, d, lengths, kind, p) for kind, key, d, p in kinds]
            return
        per_rank = sum(np.bincount(k[1], minlength=count) for k in kinds)
        upto = np.cumsum(per_rank)  # occurrences of the terms up to each rank
        parts = -(-occurrences // OCCURRENCES_GROUPED)
        cuts = np.searchsorted(upto, np.arange(1, parts) * OCCURRENCES_GROUPED, "right")
        for lo, hi in pairwise([0, *np.unique(cuts).tolist(), count]):
            if lo == hi:
                continue
            groups = []
            for kind, key, d, p in kinds:
                chosen = np.flatnonzero((key >= lo) & (key < hi))  # in order: stays stable
                if len(chosen):
                    held = None if p is None else p[chosen]
                    groups.append(_grouped(key[chosen], d[chosen], lengths, kind, held))
            yield lo, hi, groups


def _joined(chunks: list[tuple], rank: np.ndarray) -> list[np.ndarray]:
    """The chunks' arrays joined, each part of the chunks let go of once joined (``chunks``
    is emptied), the terms as their ranks."""
    parts = [list(part) for part in zip(*chunks, strict=True)]
    chunks.clear()
    joined = []
    for i, part in enumerate(parts):
        whole = np.concatenate(part)
        part.clear()
        joined.append(rank[whole] if i == 0 else whole)
    return joined


class TermGroup(NamedTuple):
    """Terms of one kind of posting value, in increasing order, with their postings: term
    ``t`` (the field's ``ranks[t]``-th) has the postings ``bounds[t]:bounds[t + 1]`` (a
    document number, a count and the document's field length as stored each) and, for
    :data:`POSITIONS`, the positions ``position_bounds[t]:position_bounds[t + 1]``. A count
    is a posting's number of positions, a stem's frequency, or 1."""

    kind: str
    ranks: np.ndarray
    bounds: np.ndarray
    docs: np.ndarray
    counts: np.ndarray
    lengths: np.ndarray
    positions: np.ndarray | None = None
    position_bounds: np.ndarray | None = None


class Grouped(NamedTuple):
    """A field's terms (UTF-8 bytes) in increasing order, and their postings in ranges of
    terms: ``(lo, hi, groups)``, the groups (one per kind of posting value) of the terms of
    ranks ``lo`` to ``hi``, ranges in order, to be read once."""

    names: list[bytes]
    ranges: Iterable[tuple[int, int, list[TermGroup]]]


def _grouped(key, docs, lengths, kind: str, positions=None) -> TermGroup:
    """Group occurrences (in document order; ``key``: each one's term rank) by term, then
    document, into postings."""
    order = np.argsort(key, kind="stable")  # keeps each term's documents and positions in order
    key, docs = key[order], docs[order]
    n = len(key)
    starts = np.ones(n, bool)
    starts[1:] = (key[1:] != key[:-1]) | (docs[1:] != docs[:-1])
    starts = np.flatnonzero(starts)
    counts = np.diff(np.append(starts, n))
    posting_keys = key[starts]
    posting_docs = docs[starts]
    firsts = np.ones(len(starts), bool)
    firsts[1:] = posting_keys[1:] != posting_keys[:-1]
    bounds = np.append(np.flatnonzero(firsts), len(starts))
    group = TermGroup(
        kind, posting_keys[firsts], bounds, posting_docs, counts, lengths[posting_docs]
    )
    if positions is None:
        return group
    ends = np.append(starts, n)
    return group._replace(positions=positions[order], position_bounds=ends[bounds])
