"""The two kinds of cache the search side keeps: bounded recently-used entries, and values
derived from an index reader, which never change while that reader lives."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from searchsvc.settings import PER_SEGMENT_CACHED, STORED_CACHED, TITLES_CACHED


class LRU:
    """Recently used entries up to a total size (each entry's size given when it is put);
    the least recently used go first, but the newest entry always stays."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.size = 0
        self._entries: OrderedDict = OrderedDict()

    def get(self, key):
        """The entry for ``key`` (now the most recently used), or None."""
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key, value, size: int = 1) -> None:
        """Keep ``value`` for ``key``, dropping the least recently used past the capacity."""
        size = max(size, 1)
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= old[1]
        self._entries[key] = (value, size)
        self.size += size
        while self.size > self.capacity and len(self._entries) > 1:
            _key, (_value, dropped) = self._entries.popitem(last=False)
            self.size -= dropped

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0

    def __len__(self) -> int:
        return len(self._entries)


# index reader -> {key: value derived from it}; entries go with their reader.
_per_reader: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def per_reader(reader, key, make: Callable[[], Any]):
    """The value ``make()`` gave for ``key`` on this reader, made at the first call only.

    A reader (and each segment's) never changes, so anything computed from it holds for as
    long as it lives; a commit or a new generation brings new readers, and fresh values.
    """
    values = _per_reader.get(reader)
    if values is None:
        values = _per_reader[reader] = {}
    if key not in values:
        values[key] = make()
    return values[key]


# (index folder, segment id) -> {key: value derived from that segment's files}, the most
# recently used PER_SEGMENT_CACHED segments.
_per_segment: OrderedDict = OrderedDict()


def per_segment(segment_reader, key, make: Callable[[], Any]):
    """The value ``make()`` gave for ``key`` on this segment, whichever reader read it.

    For values derived from a segment's own files only (its columns, say), never from its
    deletions, which a later generation may add to: successive generations share a
    segment's files (hard links), so a new generation, every second while documents are
    pushed, finds them made. Falls back to :func:`per_reader` for a reader of no segment.
    """
    from searchsvc.index.whoosh_internals import stable_segment_key

    segment = stable_segment_key(segment_reader)
    if segment is None:
        return per_reader(segment_reader, key, make)
    values = _per_segment.get(segment)
    if values is None:
        values = _per_segment[segment] = {}
        while len(_per_segment) > PER_SEGMENT_CACHED:
            _per_segment.popitem(last=False)
    else:
        _per_segment.move_to_end(segment)
    if key not in values:
        values[key] = make()
    return values[key]


def stored_fields(searcher, docnum: int) -> dict:
    """The stored fields of a document (global number), read once while the searcher's
    reader lives and among the ``STORED_CACHED`` most recently used. Do not modify it."""
    cache = per_reader(searcher.reader(), "stored", lambda: LRU(STORED_CACHED))
    found = cache.get(docnum)
    if found is None:
        found = searcher.stored_fields(docnum)
        cache.put(docnum, found)
    return found


def title(searcher, docnum: int) -> str:
    """A document's stored title (global number), kept among the ``TITLES_CACHED`` most
    recently used while the searcher's reader lives."""
    cache = per_reader(searcher.reader(), "titles", lambda: LRU(TITLES_CACHED))
    found = cache.get(docnum)
    if found is None:
        found = stored_fields(searcher, docnum).get("title", "")
        cache.put(docnum, found)
    return found
