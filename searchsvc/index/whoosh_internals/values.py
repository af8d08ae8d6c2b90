"""The bytes Whoosh's formats write for a posting's value and a field's length, made in
bulk or once: a stem's value with no positions, lengths as their one-byte codes (and back)."""

from __future__ import annotations

import numpy as np
from whoosh.compat import pickle
from whoosh.system import pack_uint
from whoosh.util.numeric import _length_byte_cache, byte_to_length, length_to_byte


def positionless_value(freq: int) -> bytes:
    """A Positions-format posting value with its frequency and no positions: what a stem term
    is (its positions are never read), as Whoosh's readers decode it. One object per
    frequency, made once: every stem posting read through Whoosh's matcher asks for it."""
    found = _POSITIONLESS.get(freq)
    if found is None:
        found = _POSITIONLESS[freq] = pack_uint(freq) + pickle.dumps([], 2)
    return found


_POSITIONLESS: dict[int, bytes] = {}


def length_byte_codes(lengths: np.ndarray) -> np.ndarray:
    """Whoosh's one-byte code (``length_to_byte``) of each of these field lengths."""
    return np.minimum(np.searchsorted(_LENGTH_BYTES, lengths, "left"), 255)


_LENGTH_BYTES = np.array(_length_byte_cache, np.int64)
# The other way: the length each of the 256 one-byte codes stands for (decoded in bulk by
# reading.field_lengths and by the codec's block statistics).
BYTE_LENGTHS = np.array([float(byte_to_length(b)) for b in range(256)])


def stored_length(length: int) -> int:
    """A field length as a reader gets it back: stored in one byte, so rounded."""
    byte = length_to_byte(length)
    return byte_to_length(byte) if byte else 0
