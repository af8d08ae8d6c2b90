"""searchsvc's postings format, plugged into Whoosh as its codec.

Whoosh's W3 codec writes a term's postings as pickled blocks (positions as a pickled list per
posting); searches then decoded them, or read a second copy kept beside them. This codec
keeps W3's term index (``.trm``: each term's statistics and where its postings are) and its
per-document files, and writes each term's postings once, in :data:`POSTINGS_EXT`, as
packed little-endian arrays that numpy reads whole. Whoosh reads them through
:class:`PackedMatcher` (so its searcher, phrases, spelling, more-like-this, highlighting,
deletions and merges work unchanged, Whoosh staying the index of record); searches read them
as arrays (:func:`term_postings`) with no Python step per posting.

A term's record, 4-byte aligned in the file (each array aligned to its item size)::

    header      16 bytes: b"SP", widths and kinds (below), postings count, first document
    gaps        n document number gaps, 1, 2 or 4 bytes each (the first is 0)
    weights     n frequencies: none when all are 1, else u1, u2, or f4 (what W3 keeps)
    block max   the largest weight of each block of BLOCK postings (same type; none if all 1)
    block min   the shortest field length of each block, as Whoosh's length byte (u1)
    counts      n position counts (1, 2 or 4 bytes), when they are not the weights
    positions   every posting's positions one after the other (1, 2 or 4 bytes each), or,
                for a value kind of another shape, the values' bytes one after the other

What a posting's value is: nothing (``Existence`` fields), positions (the exact forms), a
frequency without positions (the stems, see ``whoosh_internals.values.positionless_value``), or
any other bytes kept as they are. The block statistics are those W3 keeps per block of 128,
for the same blocks, so Whoosh's block-quality skipping behaves as it did; searches get
them as arrays (:attr:`TermPostings.block_max_weights`) for a BM25 upper bound per block.

Whoosh private names are imported through :mod:`searchsvc.index.whoosh_internals` only (it
checks the pinned version).
"""

from __future__ import annotations

import os
import struct
from array import array
from bisect import bisect_left
from hashlib import md5
from itertools import accumulate, pairwise
from operator import sub
from typing import NamedTuple

import numpy as np
from whoosh import formats
from whoosh.codec import base
from whoosh.matching import FilterMatcher, LeafMatcher, ReadTooFar
from whoosh.reading import TermNotFound

from searchsvc.index.whoosh_internals.reading import (
    ArraysFileError,
    hash_value,
    position_gaps,
    whoosh3,
)
from searchsvc.index.whoosh_internals.values import (
    BYTE_LENGTHS,
    length_byte_codes,
    length_to_byte,
    positionless_value,
)

# The file beside each segment's term index that holds its postings.
POSTINGS_EXT = ".postings"
_FILE_MAGIC = b"SSVPACK1"
# Postings per block: W3's blocklimit, so that block statistics are those of W3's blocks.
BLOCK = 128

_HEAD = struct.Struct("<2sBBBBBBII")  # tag, id width, weight kind, value kind,
_TAG = b"SP"  # count width, position width, reserved, count, first document

# Weight kinds: no array (all 1.0), or the array's item type.
_ONES = 0
_WEIGHT_TYPES = {1: np.dtype("u1"), 2: np.dtype("<u2"), 4: np.dtype("<f4")}
_UINT_TYPES = {1: np.dtype("u1"), 2: np.dtype("<u2"), 4: np.dtype("<u4")}

# Value kinds.
NO_VALUES = 0  # every value empty
POSITIONS = 1  # Whoosh's Positions format: the positions, and the frequency is their count
FREQUENCY = 2  # Positions format, no positions, the frequency is the weight (stems)
RAW = 3  # any other value: bytes kept as they are


def _align(offset: int, size: int) -> int:
    return -(-offset // size) * size


def _uint_width(largest: int) -> int:
    if largest <= 0xFF:
        return 1
    if largest <= 0xFFFF:
        return 2
    if largest <= 0xFFFFFFFF:
        return 4
    raise ValueError(f"a value of {largest} does not fit the postings format")


class _Layout:
    """Where each array of a record starts, from its header."""

    __slots__ = (
        "blockmax_at",
        "blockmin_at",
        "counts_at",
        "gaps_at",
        "head_end",
        "tail_at",
        "weights_at",
    )

    def __init__(self, n: int, idw: int, wk: int, vk: int, cw: int, pw: int):
        nb = -(-n // BLOCK)
        off = _HEAD.size
        self.gaps_at = off = _align(off, idw)
        off += n * idw
        self.weights_at = self.blockmax_at = None
        if wk:
            self.weights_at = off = _align(off, wk)
            off += n * wk
            self.blockmax_at = off = _align(off, wk)
            off += nb * wk
        self.blockmin_at = off
        off += nb
        self.counts_at = None
        if cw:
            self.counts_at = off = _align(off, cw)
            off += n * cw
        self.head_end = off
        # positions (or raw value bytes) run from here to the record's end
        self.tail_at = _align(off, pw) if vk == POSITIONS else off


# -- writing ---------------------------------------------------------------------------------


class TermValues:
    """A term's posting values as the writer takes them: ``kind`` (see above), and for
    POSITIONS each posting's position count and every position one after the other, for RAW
    each value's length and their bytes one after the other."""

    __slots__ = ("counts", "data", "kind")

    def __init__(self, kind: int, counts=None, data=None):
        self.kind, self.counts, self.data = kind, counts, data


def values_of(format_, values: list[bytes], weights) -> TermValues:
    """Classify one term's encoded posting values (what Whoosh's writers hand a codec)."""
    if not any(values):
        return TermValues(NO_VALUES)
    if type(format_) is formats.Positions and all(len(v) > 4 for v in values):
        try:
            gaps = position_gaps(values, format_.decode_positions)
        except Exception:  # not the Positions format's values after all: kept as they are
            return TermValues(RAW, [len(v) for v in values], b"".join(values))
        counts = [len(g) for g in gaps]
        freqs = list(struct.unpack(f">{len(values)}I", b"".join(v[:4] for v in values)))
        if freqs == counts:
            positions = [p for g in gaps for p in accumulate(g)]
            return TermValues(POSITIONS, counts, positions)
        if not any(counts) and freqs == [float(w) for w in weights]:
            return TermValues(FREQUENCY)
    return TermValues(RAW, [len(v) for v in values], b"".join(values))


# Terms with at most this many postings (most terms) are encoded without numpy, whose calls
# cost more than the work on so few numbers; the same bytes either way (a test compares).
SMALL_TERM = 24
_PACK_CODES = {1: "B", 2: "H", 4: "I"}
_WEIGHT_CODES = {1: "B", 2: "H", 4: "f"}


def encode_term(ids, weights, lengths, values: TermValues, terminfo) -> bytes:
    """One term's record (see the module's docstring), filling ``terminfo`` (a
    ``W3TermInfo``) with the statistics W3 would give it. ``lengths``: each posting's field
    length as stored (0 when it has none)."""
    record, stats = term_record(ids, weights, lengths, values)
    _fill(terminfo, stats)
    return record


def term_record(ids, weights, lengths, values: TermValues) -> tuple[bytes, tuple]:
    """One term's record and its statistics (see :func:`_fill`), as :func:`encode_term`
    writes them: what :meth:`PackedFieldWriter.add_terms` takes, with no term info object."""
    if len(ids) <= SMALL_TERM:
        return _small_record(ids, weights, lengths, values)
    return _array_record(ids, weights, lengths, values)


def _fill(terminfo, stats: tuple) -> None:
    """Give ``terminfo`` a record's statistics: total weight, document frequency, shortest
    (None when no posting has a length) and longest field length, largest weight, first
    and last document."""
    (
        terminfo._weight,
        terminfo._df,
        terminfo._minlength,
        terminfo._maxlength,
        terminfo._maxweight,
        terminfo._minid,
        terminfo._maxid,
    ) = stats


def _small_record(ids, weights, lengths, values: TermValues) -> tuple[bytes, tuple]:
    """:func:`term_record` for a term of a few postings (one block), in plain Python."""
    ids = _ints(ids)
    weights = [float(w) for w in weights]
    n = len(ids)
    if ids[-1] > 0x7FFFFFFF:
        raise ValueError(f"document number {ids[-1]} past the postings format's")
    gaps = [0, *(b - a for a, b in pairwise(ids))]
    idw = _uint_width(max(gaps))
    heaviest = max(weights)
    whole = all(w == round(w) for w in weights) and min(weights) >= 0
    if whole and all(w == 1.0 for w in weights):
        wk = _ONES
    elif whole and heaviest <= 0xFFFF:
        wk = _uint_width(int(heaviest))
    else:
        wk = 4
    vk, cw, pw = values.kind, 0, 0
    counts = positions = None
    if vk == POSITIONS:
        counts = _ints(values.counts)
        if not (wk in (1, 2) and counts == weights) and not (
            wk == _ONES and all(c == 1 for c in counts)
        ):
            cw = _uint_width(max(counts))
        positions = _ints(values.data)
        pw = _uint_width(max(positions)) if positions else 1
    elif vk == RAW:
        counts = _ints(values.counts)
        cw = _uint_width(max(counts))
    layout = _Layout(n, idw, wk, vk, cw, pw)
    out = bytearray(layout.head_end)
    _HEAD.pack_into(out, 0, _TAG, idw, wk, vk, cw, pw, 0, n, ids[0])
    struct.pack_into(f"<{n}{_PACK_CODES[idw]}", out, layout.gaps_at, *gaps)
    as_read = weights
    if wk:
        code = _WEIGHT_CODES[wk]
        stored = [int(w) for w in weights] if wk != 4 else weights
        struct.pack_into(f"<{n}{code}", out, layout.weights_at, *stored)
        struct.pack_into(f"<{code}", out, layout.blockmax_at, max(stored))
        if wk == 4:
            as_read = list(struct.unpack_from(f"<{n}f", out, layout.weights_at))
    lengths = _ints(lengths)
    nonzero = [x for x in lengths if x > 0]
    # length_to_byte never decreases: the shortest length's byte is the smallest byte
    out[layout.blockmin_at] = length_to_byte(min(nonzero)) if nonzero else 0
    if cw:
        struct.pack_into(f"<{n}{_PACK_CODES[cw]}", out, layout.counts_at, *counts)
    if vk == POSITIONS:
        out.extend(bytes(layout.tail_at - len(out)))
        out.extend(struct.pack(f"<{len(positions)}{_PACK_CODES[pw]}", *positions))
    elif vk == RAW:
        out.extend(values.data)
    stats = (
        float(sum(as_read)),
        n,
        min(nonzero) if nonzero else None,
        max(lengths),
        max(max(as_read), 0.0),
        ids[0],
        ids[-1],
    )
    return bytes(out), stats


def whole_record(ids: list, weights: list, kind: int, positions, lengths: list):
    """:func:`term_record` for the usual term of a new segment, or None when the term is
    not of that kind (the caller then takes :func:`term_record`): at most
    :data:`BLOCK` postings (one block), whole weights of at most 0xFFFF, and for POSITIONS each
    posting's weight its count of positions (the field's boost 1). All arguments are lists
    of ints (``positions``: every posting's, one after the other; None but for POSITIONS).

    The same bytes as :func:`term_record` (a test compares), made by one ``struct`` call
    whose format is kept per shape of record: a new segment's ~5,000 terms are mostly of a
    few postings, and the work per term is what its flush costs."""
    n = len(ids)
    if not 0 < n <= BLOCK or kind == RAW:
        return None
    if n == 1:  # most terms
        first = last = ids[0]
        heaviest = total = weights[0]
        if first > 0x7FFFFFFF or not 0 <= heaviest <= 0xFFFF:
            return None
        gaps, idw = (0,), 1
        wk = _ONES if heaviest == 1 else 1 if heaviest <= 0xFF else 2
        longest = lengths[0]
        shortest = longest or None
    else:
        first, last = ids[0], ids[-1]
        heaviest = max(weights)
        if last > 0x7FFFFFFF or heaviest > 0xFFFF or min(weights) < 0:
            return None
        gaps = [0, *map(sub, ids[1:], ids)]
        idw = _uint_width(max(gaps))
        ones = heaviest == 1 and weights.count(1) == n
        wk = _ONES if ones else 1 if heaviest <= 0xFF else 2
        longest = max(lengths)
        shortest = min([x for x in lengths if x > 0], default=None)
        total = sum(weights)
    if kind == POSITIONS:
        npos = len(positions)
        top = max(positions) if npos else 0
        pw = 1 if top <= 0xFF else _uint_width(top)
    else:
        npos = pw = 0
    shape = (n, idw, wk, kind, pw, npos)
    packer = _WHOLE_RECORDS.get(shape)
    if packer is None:
        packer = _whole_record_struct(*shape)
    args = [_TAG, idw, wk, kind, 0, pw, 0, n, first, *gaps]
    if wk:
        args += weights
        args.append(heaviest)
    try:
        args.append(_LENGTH_BYTES[shortest])
    except KeyError:  # a length as no field length is stored
        args.append(length_to_byte(shortest))
    if npos:
        args += positions
    stats = (float(total), n, shortest, longest, float(heaviest), first, last)
    return packer.pack(*args), stats


class WholeRecords(NamedTuple):
    """What :func:`whole_records` makes: for each term, its record and statistics (as
    :func:`term_record` gives them), or None for a term :func:`whole_record` would refuse."""

    records: list
    stats: list


def whole_records(
    bounds: np.ndarray,
    ids: np.ndarray,
    weights: np.ndarray,
    lengths: np.ndarray,
    kind: int,
    positions: np.ndarray | None = None,
    position_bounds: np.ndarray | None = None,
) -> WholeRecords:
    """:func:`whole_record` for many terms of one value kind at once, with numpy: a new
    segment's terms are mostly of a few postings, and a Python call for each was most of
    what writing it cost. Term ``t``'s postings are ``bounds[t]:bounds[t + 1]`` of ``ids``,
    ``weights`` (whole) and ``lengths`` (as stored, 0 for none); for POSITIONS its positions
    are ``position_bounds[t]:position_bounds[t + 1]`` of ``positions``. The same bytes and
    statistics as :func:`whole_record` for each term (a test compares)."""
    count = len(bounds) - 1
    records: list = [None] * count
    stats: list = [None] * count
    if not count or kind == RAW:
        return WholeRecords(records, stats)
    bounds = bounds.astype(np.int64)
    n = np.diff(bounds)
    firsts = bounds[:-1]
    term_of = np.repeat(np.arange(count), n)  # each posting's term
    ids = ids.astype(np.int64)
    weights = weights.astype(np.int64)
    lengths = lengths.astype(np.int64)
    gaps = np.diff(ids, prepend=0)
    gaps[firsts] = 0
    heaviest = np.maximum.reduceat(weights, firsts)
    lightest = np.minimum.reduceat(weights, firsts)
    last = ids[bounds[1:] - 1]
    ok = (n <= BLOCK) & (heaviest <= 0xFFFF) & (lightest >= 0) & (last <= 0x7FFFFFFF)
    if kind == POSITIONS:
        position_bounds = position_bounds.astype(np.int64)
        npos = np.diff(position_bounds)
        ok &= npos > 0  # what no positional posting lacks
    if not ok.all():  # left to term_record: keep the others' postings only
        keep = ok[term_of]
        n = n[ok]
        ids, weights, lengths, gaps = ids[keep], weights[keep], lengths[keep], gaps[keep]
        if kind == POSITIONS:
            pos_of = np.repeat(np.arange(count), npos)
            positions = positions[ok[pos_of]]
            npos = npos[ok]
        heaviest, lightest, last = heaviest[ok], lightest[ok], last[ok]
    terms = len(n)
    if not terms:
        return WholeRecords(records, stats)
    starts = np.cumsum(n) - n
    term_of = np.repeat(np.arange(terms), n)
    within = np.arange(len(ids)) - starts[term_of]  # a posting's place in its term
    first = ids[starts]
    top_gap = np.maximum.reduceat(gaps, starts)
    idw = np.where(top_gap <= 0xFF, 1, np.where(top_gap <= 0xFFFF, 2, 4))
    wk = np.where((heaviest == 1) & (lightest == 1), _ONES, np.where(heaviest <= 0xFF, 1, 2))
    total = np.add.reduceat(weights, starts)
    longest = np.maximum.reduceat(lengths, starts)
    big = np.iinfo(np.int64).max
    shortest = np.minimum.reduceat(np.where(lengths > 0, lengths, big), starts)
    has_shortest = shortest != big
    shortest_byte = np.zeros(terms, np.int64)
    shortest_byte[has_shortest] = length_byte_codes(shortest[has_shortest])
    # Where each part is (see _Layout, for one block): gaps right after the header.
    at = _HEAD.size + n * idw
    weights_at = np.where(wk > 0, -(-at // np.maximum(wk, 1)) * wk, at)
    at = weights_at + n * wk
    blockmax_at = np.where(wk > 0, -(-at // np.maximum(wk, 1)) * wk, at)
    blockmin_at = blockmax_at + wk
    size = blockmin_at + 1
    if kind == POSITIONS:
        positions = positions.astype(np.int64)
        pstarts = np.cumsum(npos) - npos
        top = np.maximum.reduceat(positions, pstarts)
        pw = np.where(top <= 0xFF, 1, np.where(top <= 0xFFFF, 2, 4))
        tail_at = -(-size // pw) * pw
        size = tail_at + npos * pw
    else:
        pw = np.zeros(terms, np.int64)
    begins = np.cumsum(size) - size
    out = np.zeros(int(size.sum()), np.uint8)
    head = np.zeros(terms, _HEAD_DTYPE)
    head["tag"], head["idw"], head["wk"], head["vk"] = _TAG, idw, wk, kind
    head["pw"], head["n"], head["first"] = pw, n, first
    out[(begins[:, None] + np.arange(_HEAD.size)).ravel()] = head.view(np.uint8)
    posting_at = begins[term_of]
    _put(out, posting_at + _HEAD.size + within * idw[term_of], gaps, idw[term_of])
    weighed = wk[term_of] > 0
    _put(
        out,
        (posting_at + weights_at[term_of] + within * wk[term_of])[weighed],
        weights[weighed],
        wk[term_of][weighed],
    )
    weighed_terms = wk > 0
    _put(out, (begins + blockmax_at)[weighed_terms], heaviest[weighed_terms], wk[weighed_terms])
    out[begins + blockmin_at] = shortest_byte
    if kind == POSITIONS:
        pos_term = np.repeat(np.arange(terms), npos)
        pos_within = np.arange(len(positions)) - pstarts[pos_term]
        where = begins[pos_term] + tail_at[pos_term] + pos_within * pw[pos_term]
        _put(out, where, positions, pw[pos_term])
    blob = out.tobytes()
    ends = (begins + size).tolist()
    made = [blob[a:b] for a, b in zip(begins.tolist(), ends, strict=True)]
    shortest_list = [s if h else None for s, h in zip(shortest.tolist(), has_shortest, strict=True)]
    made_stats = list(
        zip(
            total.astype(np.float64).tolist(),
            n.tolist(),
            shortest_list,
            longest.tolist(),
            heaviest.astype(np.float64).tolist(),
            first.tolist(),
            last.tolist(),
            strict=True,
        )
    )
    for i, (record, stat) in zip(
        np.flatnonzero(ok).tolist(), zip(made, made_stats, strict=True), strict=True
    ):
        records[i], stats[i] = record, stat
    return WholeRecords(records, stats)


_HEAD_DTYPE = np.dtype(
    [
        ("tag", "S2"),
        ("idw", "u1"),
        ("wk", "u1"),
        ("vk", "u1"),
        ("cw", "u1"),
        ("pw", "u1"),
        ("reserved", "u1"),
        ("n", "<u4"),
        ("first", "<u4"),
    ]
)


def _put(out: np.ndarray, where: np.ndarray, values: np.ndarray, widths: np.ndarray) -> None:
    """Write each value little-endian at its offset in ``out``, in its width (1, 2 or 4)."""
    for width in (1, 2, 4):
        chosen = widths == width
        if not chosen.any():
            continue
        at, value = where[chosen], values[chosen]
        for byte in range(width):
            out[at + byte] = (value >> (8 * byte)) & 0xFF


# Each field length a reader can get back (as stored, in one byte), and None (no length):
# its byte, as length_to_byte gives it, looked up rather than worked out once per term.
_LENGTH_BYTES = {None: 0, **{int(x): length_to_byte(int(x)) for x in BYTE_LENGTHS}}

# Whole-record formats of whole_record, by shape; forgotten when there get to be many.
_WHOLE_RECORDS: dict[tuple, struct.Struct] = {}
_WHOLE_RECORDS_KEPT = 4096


def _whole_record_struct(n: int, idw: int, wk: int, kind: int, pw: int, npos: int):
    """The ``struct`` format of a record of :func:`whole_record` of this shape: the
    header, the arrays and the zero bytes that align them, as :class:`_Layout` places them."""
    layout = _Layout(n, idw, wk, kind, 0, pw)
    parts, at = [_HEAD.format], _HEAD.size

    def put(offset: int, code: str, size: int) -> None:
        nonlocal at
        parts.append(f"{offset - at}x{code}")
        at = offset + size

    put(layout.gaps_at, f"{n}{_PACK_CODES[idw]}", n * idw)
    if wk:
        put(layout.weights_at, f"{n}{_WEIGHT_CODES[wk]}", n * wk)
        put(layout.blockmax_at, _WEIGHT_CODES[wk], wk)
    put(layout.blockmin_at, "B", 1)
    if kind == POSITIONS:
        put(layout.tail_at, f"{npos}{_PACK_CODES[pw]}", npos * pw)
    packer = struct.Struct("".join(parts))
    if len(_WHOLE_RECORDS) >= _WHOLE_RECORDS_KEPT:
        _WHOLE_RECORDS.clear()
    _WHOLE_RECORDS[(n, idw, wk, kind, pw, npos)] = packer
    return packer


def _ints(values) -> list[int]:
    """Whole numbers as a list of Python ints, in one C call for an integer array."""
    if isinstance(values, array) and values.typecode in "bBhHiIlLqQ":
        return values.tolist()
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return values.tolist()
    return list(map(int, values))


def _array_record(ids, weights, lengths, values: TermValues) -> tuple[bytes, tuple]:
    """:func:`term_record` with numpy, for a term of many postings."""
    ids = np.asarray(ids, np.int64)
    weights = np.asarray(weights, np.float64)
    n = len(ids)
    starts = np.arange(0, n, BLOCK)
    if ids[-1] > 0x7FFFFFFF:
        raise ValueError(f"document number {ids[-1]} past the postings format's")
    gaps = np.diff(ids, prepend=ids[0])
    idw = _uint_width(int(gaps.max()))
    whole = bool(np.all(weights == np.round(weights))) and weights.min() >= 0
    if whole and np.all(weights == 1.0):
        wk = _ONES
    elif whole and weights.max() <= 0xFFFF:
        wk = _uint_width(int(weights.max()))
    else:
        wk = 4
    vk, cw, pw = values.kind, 0, 0
    if vk == POSITIONS:
        counts = np.asarray(values.counts, np.int64)
        if not (wk in (1, 2) and np.array_equal(counts, weights)) and not (
            wk == _ONES and np.all(counts == 1)
        ):
            cw = _uint_width(int(counts.max()))
        positions = np.asarray(values.data, np.int64)
        pw = _uint_width(int(positions.max())) if len(positions) else 1
    elif vk == RAW:
        cw = _uint_width(int(np.max(values.counts)))
    head = _HEAD.pack(_TAG, idw, wk, vk, cw, pw, 0, n, int(ids[0]))
    layout = _Layout(n, idw, wk, vk, cw, pw)
    out = bytearray(layout.head_end)
    out[: _HEAD.size] = head

    def put(at: int, arr: np.ndarray) -> None:
        raw = arr.tobytes()
        out[at : at + len(raw)] = raw

    put(layout.gaps_at, gaps.astype(_UINT_TYPES[idw]))
    stored = weights.astype(_WEIGHT_TYPES[wk]) if wk else None
    if wk:
        put(layout.weights_at, stored)
        put(layout.blockmax_at, np.maximum.reduceat(stored, starts))
    # The shortest known (non-zero) length of each block, as Whoosh's length byte.
    codes = length_byte_codes(np.asarray(lengths, np.int64))
    known = np.where(codes > 0, codes, 256)
    block_min = np.minimum.reduceat(known, starts)
    block_min[block_min == 256] = 0
    put(layout.blockmin_at, block_min.astype(np.uint8))
    if cw:
        put(layout.counts_at, np.asarray(values.counts).astype(_UINT_TYPES[cw]))
    if vk == POSITIONS:
        out.extend(bytes(layout.tail_at - len(out)))
        out.extend(positions.astype(_UINT_TYPES[pw]).tobytes())
    elif vk == RAW:
        out.extend(values.data)
    # W3's term statistics: W3 sums its float32 weights.
    as_read = stored.astype(np.float64) if wk else weights
    lengths = np.asarray(lengths, np.int64)
    nonzero = lengths[lengths > 0]
    stats = (
        float(as_read.sum()),
        n,
        int(nonzero.min()) if len(nonzero) else None,
        int(lengths.max()) if n else 0,
        max(float(as_read.max()), 0.0),
        int(ids[0]),
        int(ids[-1]),
    )
    return bytes(out), stats


class PackedPostingsWriter(base.PostingsWriter):
    """Writes each term's postings as one record: a term at a time, either posting by
    posting (Whoosh's writers, merges) or as arrays (:meth:`add_arrays`,
    ``SegmentBuilder``)."""

    def __init__(self, postfile):
        self._postfile = postfile
        self._terminfo = None
        self._format = None
        self._written = False
        if postfile.tell() == 0:
            postfile.write(_FILE_MAGIC)
        # Where the next record goes: only this writer writes to the file while it lives
        # (one per field), so it counts instead of asking the file each time.
        self._at = postfile.tell()

    def written(self) -> bool:
        return self._written

    def start_postings(self, format_, terminfo) -> None:
        if self._terminfo is not None:
            raise RuntimeError("start_postings called within a term")
        self._format, self._terminfo = format_, terminfo
        self._ids, self._weights, self._lengths = array("q"), array("d"), array("q")
        self._values: list[bytes] = []
        self._arrays = None

    def add_posting(self, id_, weight, vbytes, length=None) -> None:
        self._ids.append(id_)
        self._weights.append(weight)
        self._values.append(vbytes or b"")
        self._lengths.append(length or 0)

    def add_arrays(self, ids, weights, lengths, values: TermValues) -> None:
        """The whole term at once, in place of :meth:`add_posting` calls."""
        self._arrays = (ids, weights, lengths, values)

    def add_record(self, record: bytes, terminfo, shift: int) -> None:
        """The whole term as another segment's record of it (``terminfo`` its statistics
        there), every document number moved by ``shift``: a merge copying a segment that
        lost no document (see :func:`shifted_record`)."""
        self._arrays = (record, terminfo, shift)

    def finish_postings(self):
        terminfo = self._terminfo
        if self._arrays is not None and len(self._arrays) == 3:
            record, source, shift = self._arrays
            record = shifted_record(record, shift)
            for name in ("_weight", "_df", "_minlength", "_maxlength", "_maxweight"):
                setattr(terminfo, name, getattr(source, name))
            terminfo._minid, terminfo._maxid = source._minid + shift, source._maxid + shift
            self._write_record(record, terminfo)
            return terminfo
        if self._arrays is not None:
            ids, weights, lengths, values = self._arrays
        else:
            ids, lengths = self._ids, self._lengths
            weights = np.frombuffer(self._weights, np.float64)
            values = values_of(self._format, self._values, weights)
        if not len(ids):
            raise ValueError("a term without postings")
        record = encode_term(ids, weights, lengths, values, terminfo)
        self._write_record(record, terminfo)
        return terminfo

    def _write_record(self, record: bytes, terminfo) -> None:
        f = self._postfile
        at = self._at
        pad = -at % 4
        if pad:
            f.write(bytes(pad))
        terminfo.set_extent(at + pad, len(record))
        f.write(record)
        self._at = at + pad + len(record)
        self._written = True
        self._terminfo = self._arrays = None
        self._ids = self._weights = self._lengths = self._values = None


class PackedFieldWriter(whoosh3.W3FieldWriter):
    """W3's field writer (its term index), its postings written by
    :class:`PackedPostingsWriter` into :data:`POSTINGS_EXT`."""

    def _create_file(self, ext):
        if ext == whoosh3.W3Codec.POSTS_EXT:
            ext = POSTINGS_EXT
        return super()._create_file(ext)

    def add_terms(self, terms) -> None:
        """The current field's terms whole, in place of ``start_term``, ``add_arrays`` and
        ``finish_term`` for each: ``terms`` gives ``(term bytes, record, statistics)`` in
        increasing order (see :func:`term_record`). The same bytes as those calls write (a
        test compares), gathered and written a few at a time (:data:`_WRITTEN_EVERY`): no
        term info object, hash writer call or file call per term, which were most of a new
        segment's cost."""
        postwriter, tindex = self._postwriter, self._tindex
        if postwriter is None or postwriter._terminfo is not None:
            raise RuntimeError("add_terms called outside a field, or within a term")
        prefix = _FIELD_ID.pack(self._fieldid)
        lastkey = tindex.lastkey
        at = postwriter._at  # where the next record goes in the postings file
        where = tindex.dbfile.tell()  # where the next entry goes in the term index
        posts, entries, keys, starts = bytearray(), bytearray(), [], []
        byte_of, info = _LENGTH_BYTES, _TERM_INFO.size
        for tbytes, record, stats in terms:
            pad = -at % 4
            if pad:
                posts += _PADS[pad]
                at += pad
            weight, df, shortest, longest, heaviest, minid, maxid = stats
            try:
                lengths = byte_of[shortest], byte_of[longest]
            except KeyError:  # a length as no field length is stored
                lengths = length_to_byte(shortest), length_to_byte(longest)
            key = prefix + tbytes
            if key <= lastkey:
                raise ValueError(f"Keys must increase: {lastkey!r}..{key!r}")
            lastkey = key
            size = len(key)
            packer = _ENTRIES.get(size) or _entry_struct(size)
            # not inlined: the term info's flags are 0
            entries += packer.pack(
                size, info, key, 0, weight, df, *lengths, heaviest, minid, maxid, at, len(record)
            )
            posts += record
            at += len(record)
            keys.append(key)
            starts.append(where)
            where += 8 + size + info
            if len(posts) >= _WRITTEN_EVERY:
                self._write_terms(posts, entries, keys, starts, at)
                posts, entries, keys, starts = bytearray(), bytearray(), [], []
        if starts:
            self._write_terms(posts, entries, keys, starts, at)

    def _write_terms(self, posts, entries, keys: list, starts: list, at: int) -> None:
        """Write what :meth:`add_terms` gathered: records, term index entries (``keys``
        the entries' keys, ``starts`` where each is), and tell Whoosh's hash writer of
        them as its ``add`` would. ``at``: where the postings file ends then."""
        postwriter, tindex = self._postwriter, self._tindex
        postwriter._postfile.write(posts)
        postwriter._at, postwriter._written = at, True
        tindex.dbfile.write(entries)
        tindex.lastkey = keys[-1]
        buckets = tindex.buckets
        if tindex.hashtype == 0:  # Whoosh's md5_hash, without its hex round trip
            hashes = [int.from_bytes(md5(k, usedforsecurity=False).digest()[12:]) for k in keys]
        else:
            hashes = list(map(tindex.hashfn, keys))
        for h, start in zip(hashes, starts, strict=True):
            buckets[h & 255].append((h, start))
        index = tindex.index  # each entry's start, in an array typed as its largest needs
        try:
            index.array.extend(array(index.array.typecode, starts))
        except OverflowError:
            for start in starts:
                index.append(start)

    def close(self) -> None:
        # The term index's hash tables written as Whoosh writes them, a table at a time
        # rather than a file call per slot (10,000 for a new segment of 5,000 terms).
        tindex = self._tindex
        tindex._write_hashes = lambda: _write_hash_tables(tindex)
        super().close()


def _write_hash_tables(tindex) -> None:
    """Whoosh's ``HashWriter._write_hashes`` for ``tindex``, the same bytes: for each of
    its 256 buckets, a table of twice as many slots as keys, each key in the slot its hash
    gives or the next free one, a slot being the hash and where the key is (0, 0 if free).
    The tables' starts and sizes go to the directory Whoosh writes next."""
    dbfile = tindex.dbfile
    at = dbfile.tell()
    out = bytearray()
    pack = _SLOT.pack
    for entries in tindex.buckets:
        size = 2 * len(entries)
        tindex.directory.append((at + len(out), size))
        hashes, places = [0] * size, [0] * size
        for h, place in entries:
            slot = (h >> 8) % size
            while places[slot]:  # no key is at 0 (the file's header is)
                slot = (slot + 1) % size
            hashes[slot], places[slot] = h, place
        out += b"".join(map(pack, hashes, places))
    dbfile.write(out)


# W3's term index: a key is the field's number then the term; a value is a term info's bytes
# (flags, weight, frequency, length bytes, largest weight, first and last document) then
# where the term's record is and its length; an entry is both lengths, the key, the value.
_FIELD_ID = struct.Struct("!H")
_TERM_INFO = struct.Struct("!BfIBBfIIqi")
_TERM_INFO_FORMAT = _TERM_INFO.format.lstrip("!")
_ENTRIES: dict[int, struct.Struct] = {}  # an entry's format, by its key's size


def _entry_struct(size: int) -> struct.Struct:
    """The format of a term index entry whose key is ``size`` bytes."""
    packer = _ENTRIES[size] = struct.Struct(f"!ii{size}s{_TERM_INFO_FORMAT}")
    return packer


_SLOT = struct.Struct("!Iq")
_PADS = {1: bytes(1), 2: bytes(2), 3: bytes(3)}
# Bytes of records add_terms gathers before writing them: few writes, and a full build's
# field (tens of megabytes of records) never held whole besides the postings it came from.
_WRITTEN_EVERY = 1 << 20


class PackedTermsReader(whoosh3.W3TermsReader):
    """W3's term index reader, each term looked up with a few ``pread`` calls
    (:func:`~searchsvc.index.whoosh_internals.reading.hash_value`) rather than Whoosh's
    seeks and buffered reads: the same answers, for every caller (searches, spelling,
    the query planner's frequencies)."""

    def _value(self, fieldname: str, tbytes: bytes) -> bytes | None:
        return hash_value(self._tindex, self._keycoder(fieldname, tbytes))

    def __contains__(self, term) -> bool:
        return self._value(*term) is not None

    def term_info(self, fieldname, tbytes):
        value = self._value(fieldname, tbytes)
        if value is None:
            raise TermNotFound(f"No term {fieldname}:{tbytes!r}")
        return whoosh3.W3TermInfo.from_bytes(value)

    def frequency(self, fieldname, tbytes) -> float:
        value = self._value(fieldname, tbytes)
        if value is None:
            raise KeyError((fieldname, tbytes))
        return _INFO_WEIGHT.unpack_from(value, 1)[0]

    def doc_frequency(self, fieldname, tbytes) -> int:
        value = self._value(fieldname, tbytes)
        if value is None:
            raise KeyError((fieldname, tbytes))
        return _INFO_DF.unpack_from(value, 5)[0]


# Where W3's term info keeps a term's total weight and document frequency (after a flags byte).
_INFO_WEIGHT = struct.Struct("!f")
_INFO_DF = struct.Struct("!I")


class Codec(whoosh3.W3Codec):
    """The codec searchsvc writes and reads with: W3's term index and per-document files,
    postings in searchsvc's packed format (see the module's docstring)."""

    POSTS_EXT = POSTINGS_EXT

    def field_writer(self, storage, segment):
        return PackedFieldWriter(self, storage, segment)

    def postings_writer(self, dbfile, byteids=False):
        if byteids:  # term vectors (none in searchsvc's schema): W3's own
            return super().postings_writer(dbfile, byteids=True)
        return PackedPostingsWriter(dbfile)

    def terms_reader(self, storage, segment):
        name = segment.make_filename(self.TERMS_EXT)
        return PackedTermsReader(
            self,
            storage.open_file(name),
            storage.file_length(name),
            segment.open_file(storage, self.POSTS_EXT),
        )

    def postings_reader(self, dbfile, terminfo, format_, term=None, scorer=None):
        postings = TermPostings.read(dbfile, *_extent(terminfo))
        return PackedMatcher(postings, format_, term=term, scorer=scorer, terminfo=terminfo)


def _extent(terminfo) -> tuple[int, int]:
    """Where a term's record is: W3's term info reads its length back as a 1-tuple."""
    offset, length = terminfo.extent()
    return offset, length[0] if isinstance(length, tuple) else length


# -- reading ---------------------------------------------------------------------------------


def _read(postfile, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset`` (``pread``: safe for threads sharing the file)."""
    if getattr(postfile, "is_real", False):
        data = os.pread(postfile.fileno(), length, offset)
    else:
        data = postfile.get(offset, length)
    if len(data) != length:
        raise ArraysFileError(
            str(postfile), f"cut short (read {len(data)} of {length} bytes at {offset})"
        )
    return data


class TermPostings:
    """One term's postings in one segment, as arrays: document numbers (ascending),
    weights, per block of :data:`BLOCK` postings the largest weight and the shortest field
    length, and positions (read on first use, with one more read of the file)."""

    __slots__ = (
        "_counts",
        "_ends",
        "_head",
        "_kind",
        "_layout",
        "_length",
        "_offset",
        "_postfile",
        "_tail",
        "_widths",
        "block_max_weights",
        "block_min_lengths",
        "ids",
        "weights",
    )

    @classmethod
    def read(cls, postfile, offset: int, length: int) -> TermPostings:
        """Read a term's record (all but its positions)."""
        head = _read(postfile, offset, min(length, _HEAD.size))
        if len(head) < _HEAD.size:
            raise ArraysFileError(str(postfile), f"no postings record at {offset}")
        tag, idw, wk, vk, cw, pw, _reserved, n, first = _HEAD.unpack(head)
        if (
            tag != _TAG
            or idw not in _UINT_TYPES
            or (wk and wk not in _WEIGHT_TYPES)
            or vk > RAW
            or (cw and cw not in _UINT_TYPES)
            or n < 1
        ):
            raise ArraysFileError(str(postfile), f"no postings record at {offset}")
        layout = _Layout(n, idw, wk, vk, cw, pw)
        if layout.tail_at > length:
            raise ArraysFileError(str(postfile), f"a postings record cut short at {offset}")
        data = head + _read(postfile, offset + _HEAD.size, layout.head_end - _HEAD.size)
        self = cls.__new__(cls)
        gaps = np.frombuffer(data, _UINT_TYPES[idw], n, layout.gaps_at)
        ids = np.cumsum(gaps, dtype=np.int32)
        if first:
            ids += first
        self.ids = ids
        nb = -(-n // BLOCK)
        if wk:
            weights = np.frombuffer(data, _WEIGHT_TYPES[wk], n, layout.weights_at)
            block_max = np.frombuffer(data, _WEIGHT_TYPES[wk], nb, layout.blockmax_at)
            # Whole-number frequencies stay integers (arithmetic with a Python float gives
            # float64, as Whoosh's scores are); float32 ones are widened.
            if wk == 4:
                weights, block_max = weights.astype(np.float64), block_max.astype(np.float64)
            self.weights, self.block_max_weights = weights, block_max
        else:
            self.weights = np.ones(n, np.uint8)
            self.block_max_weights = np.ones(nb, np.uint8)
        codes = np.frombuffer(data, np.uint8, nb, layout.blockmin_at)
        self.block_min_lengths = BYTE_LENGTHS[codes]
        self._kind, self._layout, self._widths = vk, layout, (wk, cw, pw)
        self._counts = np.frombuffer(data, _UINT_TYPES[cw], n, layout.counts_at) if cw else None
        self._postfile, self._offset, self._length = postfile, offset, length
        self._head = data if cw else None
        self._ends = self._tail = None
        return self

    @property
    def value_kind(self) -> int:
        return self._kind

    def __len__(self) -> int:
        return len(self.ids)

    def counts(self) -> np.ndarray:
        """Each posting's count of positions (or of value bytes, for RAW values)."""
        if self._counts is not None:
            return self._counts
        if self._kind == POSITIONS:
            return self.weights
        return np.zeros(len(self.ids), np.uint8)

    def ends(self) -> np.ndarray:
        """Where each posting's positions end in :meth:`tail` (they start where the one
        before ends)."""
        if self._ends is None:
            self._ends = np.cumsum(self.counts(), dtype=np.int64)
        return self._ends

    def tail(self):
        """Every posting's positions one after the other (POSITIONS), or the values' bytes
        (RAW); read on first use."""
        if self._tail is None:
            layout = self._layout
            size = self._length - layout.tail_at
            raw = _read(self._postfile, self._offset + layout.tail_at, size) if size else b""
            if self._kind == POSITIONS:
                pw = self._widths[2]
                expected = int(self.ends()[-1])
                if size != expected * pw:
                    raise ArraysFileError(str(self._postfile), "a postings record's positions")
                self._tail = np.frombuffer(raw, _UINT_TYPES[pw], expected)
            else:
                self._tail = raw
        return self._tail

    def positions_at(self, i: int) -> list[int]:
        """The positions of posting ``i`` (empty without positions)."""
        if self._kind != POSITIONS:
            return []
        ends = self.ends()
        return self.tail()[(int(ends[i - 1]) if i else 0) : int(ends[i])].tolist()

    def value_at(self, i: int, format_) -> bytes | None:
        """Posting ``i``'s value as Whoosh's format encodes it."""
        kind = self._kind
        if kind == POSITIONS:
            return format_.encode(self.positions_at(i))
        if kind == FREQUENCY:
            return positionless_value(int(self.weights[i]))
        if kind == RAW:
            ends = self.ends()
            return self.tail()[(int(ends[i - 1]) if i else 0) : int(ends[i])]
        return None if format_.fixed_value_size() == 0 else b""

    def positions(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For ``docs`` (sorted document numbers that have the term): where each one's
        positions start and end in the returned array of positions."""
        where = np.searchsorted(self.ids, docs)
        if self._kind != POSITIONS:
            zeros = np.zeros(len(docs), np.int64)
            return zeros, zeros, np.zeros(0, np.int64)
        ends = self.ends()
        starts = np.where(where > 0, ends[np.maximum(where - 1, 0)], 0)
        return starts, ends[where], self.tail()

    @property
    def nbytes(self) -> int:
        """Memory the term holds (its positions too, once read)."""
        total = self.ids.nbytes + self.weights.nbytes + self.block_min_lengths.nbytes
        if self._ends is not None:
            total += self._ends.nbytes
        if self._tail is not None:
            total += len(self._tail) * getattr(self._tail, "itemsize", 1)
        return total


class PackedMatcher(LeafMatcher):
    """Whoosh's matcher over a term's packed postings: what W3's leaf matcher offers, for
    the same blocks of :data:`BLOCK` postings (their largest weight and shortest length)."""

    def __init__(self, postings: TermPostings, format_, term=None, scorer=None, terminfo=None,
                 position: int = 0):  # fmt: skip
        self._postings = postings
        self.format = format_
        self._term = term
        self.scorer = scorer
        self._terminfo = terminfo
        self._ids = postings.ids.tolist()
        self._weights = None
        self._n = len(self._ids)
        self._i = position

    def copy(self):
        return PackedMatcher(
            self._postings, self.format, self._term, self.scorer, self._terminfo, self._i
        )

    def reset(self) -> None:
        self._i = 0

    def is_active(self) -> bool:
        return self._i < self._n

    def id(self) -> int:
        return self._ids[self._i]

    def all_ids(self):
        return iter(self._ids[self._i :])

    def weight(self) -> float:
        weights = self._weights
        if weights is None:
            weights = self._weights = self._postings.weights.astype(np.float64).tolist()
        return weights[self._i]

    def value(self):
        return self._postings.value_at(self._i, self.format)

    def value_as(self, astype):
        kind = self._postings.value_kind
        if astype == "positions" and kind in (POSITIONS, FREQUENCY):
            return self._postings.positions_at(self._i)
        if astype in ("frequency", "weight") and kind in (POSITIONS, FREQUENCY):
            return self.weight() if astype == "weight" else int(self.weight())
        return super().value_as(astype)

    def next(self) -> bool:
        """Move on; True when that enters another block (or ends), as W3's matcher says."""
        self._i += 1
        return self._i % BLOCK == 0 or self._i >= self._n

    def skip_to(self, targetid) -> None:
        if not self.is_active():
            raise ReadTooFar
        if targetid <= self._ids[self._i]:
            return
        self._i = bisect_left(self._ids, targetid, self._i)

    def skip_to_quality(self, minquality) -> int:
        """Skip whole blocks whose quality is not above ``minquality``; how many."""
        if self.block_quality() > minquality:
            return 0
        skipped = 0
        while self.is_active() and self.block_quality() <= minquality:
            self._i = (self._i // BLOCK + 1) * BLOCK
            skipped += 1
        return skipped

    def _block(self) -> int:
        return min(self._i, self._n - 1) // BLOCK

    def block_min_id(self) -> int:
        return self._ids[self._block() * BLOCK]

    def block_max_id(self) -> int:
        return self._ids[min((self._block() + 1) * BLOCK, self._n) - 1]

    def block_min_length(self) -> float:
        return float(self._postings.block_min_lengths[self._block()])

    def block_max_length(self):
        # Not kept per block: the term's longest, an upper bound.
        return self._terminfo.max_length() if self._terminfo is not None else 2**31

    def block_max_weight(self) -> float:
        return float(self._postings.block_max_weights[self._block()])


# -- what searches read --------------------------------------------------------------------------


class TermEntry(NamedTuple):
    """What one look-up of a term in a segment's term index tells: its document frequency
    and where its record is in the segment's postings file (``offset`` -1 when the segment
    is of another codec, or does not have the term)."""

    df: int
    offset: int
    length: int


NO_ENTRY = TermEntry(0, -1, 0)


def term_entry(reader, fieldname: str, text: str) -> TermEntry:
    """A term's :class:`TermEntry` in one segment reader, from a single look-up of its term
    index (Whoosh's ``doc_frequency`` and ``term_info`` each make one, of ~40 µs on a large
    segment): searches ask for a term's frequency first, then for its postings."""
    if isinstance(getattr(reader, "_codec", None), Codec):
        if fieldname not in reader.schema:
            return NO_ENTRY
        try:
            terminfo = reader._terms.term_info(fieldname, reader._text_to_bytes(fieldname, text))
        except TermNotFound:
            return NO_ENTRY
        if terminfo.is_inlined():  # never written by this codec: read through Whoosh
            return TermEntry(terminfo.doc_frequency(), -1, 0)
        return TermEntry(terminfo.doc_frequency(), *_extent(terminfo))
    return TermEntry(reader.doc_frequency(fieldname, text), -1, 0)


def term_postings(
    reader, fieldname: str, text: str, entry: TermEntry | None = None
) -> TermPostings | None:
    """A term's postings in one segment reader, deleted documents included (the caller
    masks them), or None when the segment does not have the term. ``entry``: the term's
    :func:`term_entry` in that reader, when the caller has it (no look-up then). A segment
    of another codec (an in-memory one, say) is read through Whoosh's matcher, into the
    same arrays."""
    if entry is None:
        entry = term_entry(reader, fieldname, text)
    if entry.offset >= 0:
        return TermPostings.read(reader._terms._postfile, entry.offset, entry.length)
    if not entry.df:
        return None
    return _from_matcher(reader, fieldname, text)


def _from_matcher(reader, fieldname: str, text: str) -> TermPostings | None:
    """A term's postings read posting by posting through Whoosh (other codecs), packed."""
    if (fieldname, text) not in reader:
        return None
    fmt = reader.schema[fieldname].format
    matcher = reader.postings(fieldname, text)
    while isinstance(matcher, FilterMatcher):  # past the deletions filter: read them all
        matcher = matcher.child
    matcher.reset()
    ids, weights, values = [], [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        values.append(matcher.value() or b"")
        matcher.next()
    if not ids:
        return None
    w = np.array(weights, np.float64)
    record = encode_term(ids, w, [0] * len(ids), values_of(fmt, values, w), _Statistics())
    return TermPostings.read(_InMemory(record), 0, len(record))


class _Statistics:
    """Where :func:`encode_term` puts term statistics nobody reads."""


class _InMemory:
    """A record in memory, read as a postings file."""

    def __init__(self, data: bytes):
        self._data = data

    def get(self, offset: int, length: int) -> bytes:
        return self._data[offset : offset + length]

    def __str__(self) -> str:
        return "<memory>"


def positions_lists(postings: TermPostings, docs: np.ndarray) -> dict[int, list[int]]:
    """Positions of the term in each of ``docs``, as lists (for callers that want them)."""
    starts, ends, flat = postings.positions(docs)
    return {
        d: flat[s:e].tolist()
        for d, s, e in zip(docs.tolist(), starts.tolist(), ends.tolist(), strict=True)
    }


# -- merging -----------------------------------------------------------------------------------


def shifted_record(record: bytes, shift: int) -> bytes:
    """A term's record with every document number moved by ``shift``: only the first
    document, in its header, changes (the rest are gaps; blocks and their statistics stay)."""
    if not shift:
        return record
    tag, idw, wk, vk, cw, pw, reserved, n, first = _HEAD.unpack_from(record)
    if tag != _TAG or first + shift > 0x7FFFFFFF:
        raise ValueError("not a postings record, or a document number past the format's")
    return _HEAD.pack(tag, idw, wk, vk, cw, pw, reserved, n, first + shift) + record[_HEAD.size :]


def read_record(postfile, terminfo) -> bytes:
    """A term's record as it is in its segment's postings file."""
    return _read(postfile, *_extent(terminfo))


def _decode_small(record: bytes, docmap) -> tuple[str, list, list, list, object] | None:
    """A record of a few postings decoded in plain Python (numpy's calls would cost more),
    its documents renumbered by ``docmap`` and the deleted ones dropped: the value kind,
    document numbers, weights, position counts and the values (positions, or RAW bytes per
    posting). None for a kind this does not decode (the caller goes the array way)."""
    _tag, idw, wk, vk, cw, pw, _reserved, n, first = _HEAD.unpack_from(record)
    if vk == RAW:
        return None
    layout = _Layout(n, idw, wk, vk, cw, pw)
    gaps = struct.unpack_from(f"<{n}{_PACK_CODES[idw]}", record, layout.gaps_at)
    ids = list(accumulate(gaps, initial=first))[1:]
    if wk:
        code = f"<{n}{_WEIGHT_CODES[wk]}"
        weights = [float(w) for w in struct.unpack_from(code, record, layout.weights_at)]
    else:
        weights = [1.0] * n
    counts = positions = None
    if vk == POSITIONS:
        if cw:
            counts = list(struct.unpack_from(f"<{n}{_PACK_CODES[cw]}", record, layout.counts_at))
        else:
            counts = [int(w) for w in weights]
        total = sum(counts)
        flat = struct.unpack_from(f"<{total}{_PACK_CODES[pw]}", record, layout.tail_at)
        ends = list(accumulate(counts, initial=0))
        positions = [flat[ends[i] : ends[i + 1]] for i in range(n)]
    new = [int(docmap[d]) for d in ids]
    keep = [i for i in range(n) if new[i] >= 0]
    if len(keep) < n:
        new = [new[i] for i in keep]
        weights = [weights[i] for i in keep]
        if positions is not None:
            counts = [counts[i] for i in keep]
            positions = [positions[i] for i in keep]
    return vk, new, weights, counts, positions


def merged_small_term(records, format_) -> tuple[list, list, TermValues] | None:
    """:func:`merged_term` for a term whose records (``(record bytes, docmap)`` per segment)
    each hold a few postings, in plain Python; None when one cannot be decoded so (the
    caller then reads them as arrays)."""
    decoded = []
    for record, docmap in records:
        one = _decode_small(record, docmap)
        if one is None:
            return None
        decoded.append(one)
    kinds = {d[0] for d in decoded}
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    ids = [i for d in decoded for i in d[1]]
    if not ids:
        return [], [], TermValues(kind)
    weights = [w for d in decoded for w in d[2]]
    if kind == POSITIONS:
        counts = [c for d in decoded for c in d[3]]
        positions = [p for d in decoded for ps in d[4] for p in ps]
        return ids, weights, TermValues(POSITIONS, counts, positions)
    return ids, weights, TermValues(kind)


def merged_term(parts, format_) -> tuple[np.ndarray, np.ndarray, TermValues] | None:
    """One term's postings in a merged segment, from its records in the segments merged:
    ``parts`` is ``(postings, docmap)`` per segment holding the term, in the merged order,
    ``docmap`` giving each old document number its new one (-1: deleted, dropped). Return
    the new document numbers, weights and values (for :meth:`PackedPostingsWriter.add_arrays`),
    or None when every posting was deleted.

    The arrays are copied whole, never a posting at a time: the same postings Whoosh's own
    merge (each posting through its pool, its value pickled and read back) writes, in a
    fraction of the time. Values of another shape than positions, or kinds that differ
    between segments, are classified again as Whoosh's merge would (:func:`values_of`).
    """
    kinds = {postings.value_kind for postings, _docmap in parts}
    ids, weights, keeps = [], [], []
    for postings, docmap in parts:
        new = docmap[postings.ids]
        keep = new >= 0
        keeps.append(keep)
        ids.append(new[keep])
        weights.append(np.asarray(postings.weights, np.float64)[keep])
    all_ids = np.concatenate(ids)
    if not len(all_ids):
        return None
    all_weights = np.concatenate(weights)
    kind = kinds.pop() if len(kinds) == 1 else None
    if kind in (NO_VALUES, FREQUENCY):
        return all_ids, all_weights, TermValues(kind)
    if kind == POSITIONS:
        counts, positions = [], []
        for (postings, _docmap), keep in zip(parts, keeps, strict=True):
            c = postings.counts()
            counts.append(np.asarray(c, np.int64)[keep])
            positions.append(np.asarray(postings.tail(), np.int64)[np.repeat(keep, c)])
        values = TermValues(POSITIONS, np.concatenate(counts), np.concatenate(positions))
        return all_ids, all_weights, values
    values = []
    for (postings, _docmap), keep in zip(parts, keeps, strict=True):
        values.extend(postings.value_at(int(i), format_) or b"" for i in np.flatnonzero(keep))
    return all_ids, all_weights, values_of(format_, values, all_weights)
