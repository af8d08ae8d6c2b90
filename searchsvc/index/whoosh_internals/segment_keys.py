"""Naming a segment whichever reader reads it: the key of caches that outlive a reader."""

from __future__ import annotations

import os


def segment_key(reader) -> tuple[str, str] | None:
    """``(index folder, segment id)`` of a segment reader (what stays true of its words
    while the segment lives, whichever reader reads it); None for an in-memory reader."""
    storage = getattr(reader, "_storage", None)
    segment = reader.segment() if hasattr(reader, "segment") else None
    if segment is None:
        return None
    return getattr(storage, "folder", str(id(storage))), segment.segment_id()


def stable_segment_key(reader) -> tuple[str, str] | None:
    """``(index folder, segment id)`` of a segment reader of a generation: the same in every
    generation that shares the segment (they hold its files by hard links, and a segment id
    is never reused within an index folder); None for an in-memory reader."""
    key = segment_key(reader)
    return None if key is None else stable_key(key)


def stable_key(key: tuple[str, str]) -> tuple[str, str]:
    """The :func:`stable_segment_key` of a :func:`segment_key`: the generation's folder
    replaced by the index folder that holds it."""
    folder, segment_id = key
    return os.path.dirname(os.path.normpath(folder)), segment_id
