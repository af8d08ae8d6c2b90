"""Reading what a segment holds in bulk where Whoosh reads it an item at a time: position
values, field lengths, text columns; and the error for a postings arrays file this code does
not read.

The postings themselves are written and read by searchsvc's own codec
(:mod:`searchsvc.index.codec`, which takes the Whoosh names it needs from this package).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
from whoosh.codec import whoosh3
from whoosh.columns import NumericColumn, VarBytesColumn
from whoosh.compat import pickle

from searchsvc.index.whoosh_internals.values import BYTE_LENGTHS

# How Whoosh's Positions format writes a value: the count of positions (4 bytes), then the
# gaps between positions as a pickled list (protocol 2), its STOP opcode sometimes left out.
_POSITIONS_PICKLE = b"\x80\x02"


def position_gaps(values, decode) -> list[list[int]]:
    """The position gaps of each of these values, unpickled in one call: the values' pickled
    lists, stripped of their count, protocol and stop opcodes, become the items of one list
    (a call per value costs several times more). Values of another shape are decoded one by
    one with ``decode``, into gaps."""
    fragments = []
    for v in values:
        if v[4:6] != _POSITIONS_PICKLE:
            break
        fragments.append(v[6:-1] if v.endswith(b".") else v[6:])
    else:
        try:
            gaps = pickle.loads(_POSITIONS_PICKLE + b"(" + b"".join(fragments) + b"l.")
        except Exception:  # any surprise: the slow, sure way below
            gaps = None
        if isinstance(gaps, list) and len(gaps) == len(values):
            return gaps
    out = []
    for v in values:
        positions = decode(v)
        out.append([b - a for a, b in zip([0, *positions], positions, strict=False)])
    return out


def field_lengths(reader, fieldname: str) -> np.ndarray:
    """Each document's length in ``fieldname`` as Whoosh's scorers see it (one byte per
    document, decoded; 1 where a document has none), for one segment reader."""
    perdoc = getattr(reader, "_perdoc", None)
    if isinstance(perdoc, whoosh3.W3PerDocReader):
        column = perdoc._cached_reader(whoosh3._lenfield(fieldname), whoosh3.LENGTHS_COLUMN)
        codes = None
        if isinstance(column, NumericColumn.Reader) and column._typecode == "B":
            # One read of the column's bytes (its load() unpacks them one call at a time);
            # documents past the stored ones have the default, as its reader gives them.
            codes = np.full(column._doccount, column._default, np.uint8)
            stored = min(column._count, column._doccount)
            codes[:stored] = np.frombuffer(column._dbfile.get(column._basepos, stored), np.uint8)
        elif column is not None:
            codes = np.asarray(column.load(), dtype=np.uint8)
        if codes is not None:
            return np.where(codes > 0, BYTE_LENGTHS[codes], 1.0)
    n = reader.doc_count_all()
    return np.array([reader.doc_field_length(d, fieldname, 1) or 1 for d in range(n)], float)


def text_column(reader, fieldname: str) -> Iterator[tuple[int, str]]:
    """``(document number, value)`` of every live document in a text column (an ``ID``
    field's, sortable), each segment's values read in one piece: Whoosh's column reader reads
    a file slice per document, which made comparing an index's 30,000 ids and hashes take
    most of an incremental run."""
    for leaf, base in reader.leaf_readers():
        raw = leaf.column_reader(fieldname, translate=False)
        if not isinstance(raw, VarBytesColumn.Reader):  # no column file: defaults, say
            values = leaf.column_reader(fieldname)
            for docnum in leaf.all_doc_ids():
                yield base + docnum, values[docnum]
            continue
        offsets, lengths = raw._offsets, raw._lengths
        size = max((o + n for o, n in zip(offsets, lengths, strict=True)), default=0)
        data = raw._dbfile.get(raw._basepos, size) if size else b""
        for docnum in leaf.all_doc_ids():
            start = offsets[docnum]
            yield base + docnum, data[start : start + lengths[docnum]].decode("utf-8")


def field_b(weighting, fieldname: str) -> float:
    """BM25F's length normalisation ``B`` for one field (Whoosh keeps the per-field ones in a
    private dictionary)."""
    return weighting._field_B.get(fieldname, weighting.B)


class ArraysFileError(ValueError):
    """A segment's postings arrays file is not one this code reads (damaged, cut short, or
    written by another version)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.file, self.reason = os.path.basename(path), reason
