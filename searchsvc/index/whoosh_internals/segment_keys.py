"""Naming a segment whichever reader reads it: the key of caches that outlive a reader."""

from __future__ import annotations

import itertools
import os

from searchsvc.index.storage import is_generation_name


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
    """The :func:`stable_segment_key` of a :func:`segment_key`: a generation's folder replaced
    by the index folder that holds it (any other folder, a plain Whoosh index, stays itself:
    two such indexes side by side never share a key)."""
    folder, segment_id = key
    parent, name = os.path.split(os.path.normpath(folder))
    return (parent if is_generation_name(name) else folder), segment_id


_serials = itertools.count(1)


def reader_serial(reader) -> int:
    """A number of this reader object's own, never given to another in the process: the key
    of values that read its open files later (a term's positions), which a reader of the same
    segment opened afresh (new deletions) must not share once this one is closed."""
    serial = getattr(reader, "_searchsvc_serial", None)
    if serial is None:  # two threads at once may both give one: only a cache miss
        serial = reader._searchsvc_serial = next(_serials)
    return serial
