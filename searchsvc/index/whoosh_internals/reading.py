"""Reading what a segment holds in bulk where Whoosh reads it an item at a time: position
values, field lengths, text columns; a key of a hash file (a segment's term index) with a
few ``pread`` calls; and the error for a postings arrays file this code does not read.

The postings themselves are written and read by searchsvc's own codec
(:mod:`searchsvc.index.codec`, which takes the Whoosh names it needs from this package).
"""

from __future__ import annotations

import os
import struct
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


# Whoosh's hash files (``filedb.filetables``): a slot is the key's hash and where the key is;
# an item is the key's and the value's lengths, the key, then the value.
_SLOT = struct.Struct("!Iq")
_ITEM = struct.Struct("!ii")
# Slots read at once while probing (linear probing seldom goes further), and bytes of value
# read with the key (a W3 term info, offset and length take 35).
_SLOTS_READ = 8
_VALUE_GUESS = 64


def hash_value(table, key: bytes) -> bytes | None:
    """The value of ``key`` in a Whoosh hash file (``table``: its ``HashReader``, such as
    the term index of a W3 segment), or None: Whoosh's own look-up, with two or three
    ``pread`` calls where Whoosh seeks and reads a buffered file five or six times (the
    file's buffer refilled at each), which took ~40 µs a term on a large segment. Safe for
    threads sharing the file. A table that is not over a real file goes Whoosh's way."""
    dbfile = table.dbfile
    if not getattr(dbfile, "is_real", False):
        return table.get(key)
    fd = dbfile.fileno()
    keyhash = table.hashfn(key)
    start, count = table.tables[keyhash & 255]
    if not count:
        return None
    slot = (keyhash >> 8) % count
    size = _SLOT.size
    left = count  # every slot at most once, from the key's on, round to the table's start
    while left:
        run = min(_SLOTS_READ, count - slot, left)
        left -= run
        data = os.pread(fd, run * size, start + slot * size)
        for at in range(0, len(data), size):
            slothash, itempos = _SLOT.unpack_from(data, at)
            if not itempos:
                return None
            if slothash == keyhash:
                found = _item_value(fd, itempos, key)
                if found is not None:
                    return found
        slot = (slot + run) % count
    return None


def _item_value(fd: int, itempos: int, key: bytes) -> bytes | None:
    """The value of the item at ``itempos`` when its key is ``key``, else None."""
    head = _ITEM.size + len(key)
    data = os.pread(fd, head + _VALUE_GUESS, itempos)
    keylen, datalen = _ITEM.unpack_from(data)
    if keylen != len(key) or data[_ITEM.size : head] != key:
        return None
    if datalen > _VALUE_GUESS:
        return os.pread(fd, datalen, itempos + head)
    return data[head : head + datalen]


class ArraysFileError(ValueError):
    """A segment's postings arrays file is not one this code reads (damaged, cut short, or
    written by another version)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.file, self.reason = os.path.basename(path), reason
