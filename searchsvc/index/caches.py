"""The two kinds of cache the search side keeps: bounded recently-used entries, and values
derived from an index reader, which never change while that reader lives.

Both are shared by a served worker's request threads (gunicorn's gthread), whichever lock
their callers hold or not: each takes a lock of its own around what it changes. A value made
for a reader is made outside that lock (reading the index can take a while); two threads
asking at once may both make it, and both get the one kept first.
"""

from __future__ import annotations

import enum
import threading
import weakref
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from searchsvc.index import codec
from searchsvc.index.whoosh_internals import reading as whoosh_reading
from searchsvc.settings import (
    FREQUENCIES_CACHED,
    LISTED_TERMS_DOCS,
    PER_SEGMENT_CACHED,
    POSTINGS_CACHED,
    STORED_CACHED,
    TITLES_CACHED,
)


class LRU:
    """Recently used entries up to a total size (each entry's size given when it is put);
    the least recently used go first, but the newest entry always stays. Safe to share
    between threads: each call holds the cache's own lock (uncontended, a small part of
    the call's cost)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.size = 0
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        """The entry for ``key`` (now the most recently used), or None."""
        # acquire/release rather than ``with``: half the cost, on the searches' hot path
        # (a hundred gets a search).
        self._lock.acquire()
        try:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            return found[0]
        finally:
            self._lock.release()

    def put(self, key, value, size: int = 1) -> None:
        """Keep ``value`` for ``key``, dropping the least recently used past the capacity."""
        size = max(size, 1)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.size -= old[1]
            self._entries[key] = (value, size)
            self.size += size
            while self.size > self.capacity and len(self._entries) > 1:
                _key, (_value, dropped) = self._entries.popitem(last=False)
                self.size -= dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.size = 0

    def drop_where(self, test: Callable[[Any], bool]) -> int:
        """Drop the entries whose key passes ``test``; how many (a walk over every key)."""
        with self._lock:
            gone = [key for key in self._entries if test(key)]
            for key in gone:
                self.size -= self._entries.pop(key)[1]
        return len(gone)

    def __len__(self) -> int:
        return len(self._entries)


class Key(enum.Enum):
    """The name of every value kept per index reader (:func:`per_reader`) or per segment
    (:func:`per_segment`), which take no other key: a value made for some field (or
    function) is keyed ``(Key.X, field, …)``. Each says what it holds and what bounds it."""

    # Members are singletons: hashed by identity, in C (Enum's own hash is a Python call),
    # and never equal to a string, so no spelling of a name but these finds a value.
    __hash__ = object.__hash__

    STORED = "stored"  # document number -> stored fields: LRU of STORED_CACHED
    # document number -> stored title: LRU of TITLES_CACHED (readers of segments without a
    # folder only: the others share caches._segment_titles)
    TITLES = "titles"
    # document number -> its analysed title (engine.titles.Title): dict emptied past
    # TITLE_WORDS_CACHED
    TITLE_WORDS = "title words"
    IDF = "idf"  # (field, term) -> idf over the index: dict emptied past FREQUENCIES_CACHED
    # (field, term) -> a segment's codec.TermEntry: dict emptied past FREQUENCIES_CACHED
    FREQUENCIES = "frequencies"
    AVERAGE_LENGTH = "average length"  # (Key, field): the field's average length; one number
    LENGTHS = "lengths"  # (Key, field): a segment's document lengths; one array per field
    LIVE_SCOPE = "live scope"  # a segment's documents not deleted (None: all); one scope
    INDEX_CODES = "index codes"  # (Key, field, key): column codes and names; one per field, key
    SOURCES_BY_KEY = "sources by key"  # folded source -> the index's spellings; one per source
    SOURCE_WORDS = "source words"  # per segment: a word of its source names -> those; one map
    HAS_DATES = "has dates"  # whether any document has a date; one boolean
    EXPANSIONS = "expansions"  # prefix -> its completions: LRU of EXPANSIONS_CACHED
    WRITTEN_FORMS = "written forms"  # (term,) -> its written form: LRU of FORMS_CACHED
    ACCENTED = "accented"  # word -> its accented spelling: LRU of FORMS_CACHED
    STEMS = "stems"  # folded word -> its stems in the index: dict emptied past STEMS_CACHED
    COLUMN = "column"  # (Key, field, reverse): a segment's open column reader; one each
    ID_RANKS = "id ranks"  # every document's rank by id (columns.id_ranks); one array
    VALUES = "values"  # per segment, (Key, field): a column's values; one list per field
    CODES = "codes"  # per segment, (Key, field, key): those as codes and names; one per key
    # per segment, (Key, field): its terms in order, for segments of at most
    # LISTED_TERMS_DOCS documents; one list per field
    TERMS = "terms"
    # (field, term) -> document frequency over the index: dict emptied past FREQUENCIES_CACHED
    INDEX_FREQUENCIES = "index frequencies"
    # each segment's first document number and stable key (caches.title); one pair of lists
    SEGMENTS = "segments"


def _named(key) -> None:
    """Refuse a key that is not a :class:`Key` (alone, or first of a tuple)."""
    name = key[0] if type(key) is tuple and key else key
    if type(name) is not Key:
        raise TypeError(f"not a caches.Key: {key!r}")


_MISSING = object()
# Guards the two tables below (never held while a value is made).
_lock = threading.Lock()

# index reader -> {key: value derived from it}; entries go with their reader.
_per_reader: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def per_reader(reader, key: Key | tuple, make: Callable[[], Any]):
    """The value ``make()`` gave for ``key`` (a :class:`Key`, or a tuple that starts with
    one) on this reader, made at the first call only.

    A reader (and each segment's) never changes, so anything computed from it holds for as
    long as it lives; a commit or a new generation brings new readers, and fresh values.
    """
    values = _per_reader.get(reader)
    if values is not None:
        found = values.get(key, _MISSING)  # one dict read: no lock needed
        if found is not _MISSING:
            return found
    _named(key)
    made = make()
    with _lock:
        values = _per_reader.get(reader)
        if values is None:
            values = _per_reader[reader] = {}
        return values.setdefault(key, made)


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
    from searchsvc.index.whoosh_internals.segment_keys import stable_segment_key

    segment = stable_segment_key(segment_reader)
    if segment is None:
        return per_reader(segment_reader, key, make)
    with _lock:
        found = _segment_values(segment).get(key, _MISSING)
    if found is not _MISSING:
        return found
    _named(key)
    made = make()
    with _lock:
        return _segment_values(segment).setdefault(key, made)


def _segment_values(segment) -> dict:
    """A segment's values (``_lock`` held), now the most recently used; the least recently
    used segment is dropped past ``PER_SEGMENT_CACHED``."""
    values = _per_segment.get(segment)
    if values is None:
        values = _per_segment[segment] = {}
        while len(_per_segment) > PER_SEGMENT_CACHED:
            _per_segment.popitem(last=False)
    else:
        _per_segment.move_to_end(segment)
    return values


def stored_fields(searcher, docnum: int) -> dict:
    """The stored fields of a document (global number), read once while the searcher's
    reader lives and among the ``STORED_CACHED`` most recently used. Do not modify it."""
    cache = per_reader(searcher.reader(), Key.STORED, lambda: LRU(STORED_CACHED))
    found = cache.get(docnum)
    if found is None:
        found = searcher.stored_fields(docnum)
        cache.put(docnum, found)
    return found


def title(searcher, docnum: int) -> str:
    """A document's stored title (global number), kept among the ``TITLES_CACHED`` most
    recently used for the process by segment and number in it (a segment's titles never
    change, so the generations that share it, one a second while documents are pushed, find
    them read); per reader for a reader of segments without a folder."""
    reader = searcher.reader()
    starts, keys = per_reader(reader, Key.SEGMENTS, lambda: _segments(reader))
    if keys is None:
        cache, key = per_reader(reader, Key.TITLES, lambda: LRU(TITLES_CACHED)), docnum
    else:
        at = bisect_right(starts, docnum) - 1
        cache, key = _segment_titles, (keys[at], docnum - starts[at])
    found = cache.get(key)
    if found is None:
        found = stored_fields(searcher, docnum).get("title", "")
        cache.put(key, found)
    return found


# (index folder, segment id, document number in it) -> the document's stored title.
_segment_titles = LRU(TITLES_CACHED)
# (segment reader's serial, field, term) -> a term's postings in that segment, as the
# term-wise search keeps them (engine.termwise): POSTINGS_CACHED units for the process. A
# new generation keeps its unchanged segments' readers, so it finds them read; a segment
# read afresh is another reader, whose postings read its own open files.
segment_postings = LRU(POSTINGS_CACHED)


def forget_readers(readers) -> int:
    """Drop the postings kept for these segment readers (closed, or about to be: a segment
    read afresh, or gone from the index), which no search will ask for again: each holds its
    reader's field lengths, arrays the budget does not count. How many entries went."""
    from searchsvc.index.whoosh_internals.segment_keys import reader_serial

    serials = {reader_serial(r) for r in readers}
    return segment_postings.drop_where(lambda key: key[0] in serials) if serials else 0


def forget_all() -> None:
    """Drop every value kept per reader, per segment and for the process's segments: what a
    first sight of an index costs, for tests and benchmarks."""
    with _lock:
        _per_reader.clear()
        _per_segment.clear()
    _segment_titles.clear()
    segment_postings.clear()


def _segments(reader) -> tuple[list[int], list | None]:
    """Each segment's first document number in ``reader`` and its
    :func:`~searchsvc.index.whoosh_internals.segment_keys.stable_segment_key` (None for all
    when one has none)."""
    from searchsvc.index.whoosh_internals.segment_keys import stable_segment_key

    starts, keys = [], []
    for leaf, offset in reader.leaf_readers():
        starts.append(offset)
        keys.append(stable_segment_key(leaf))
    return starts, None if None in keys else keys


def per_term(reader, cache: Key, fieldname: str, text: str, make: Callable[..., Any]):
    """``make(reader, fieldname, text)``, kept per reader under ``cache`` in a dict by (field,
    term), emptied whole past ``FREQUENCIES_CACHED``: the same terms come back query after
    query."""
    kept = per_reader(reader, cache, dict)
    key = (fieldname, text)
    found = kept.get(key)
    if found is None:
        if len(kept) > FREQUENCIES_CACHED:
            kept.clear()
        found = kept[key] = make(reader, fieldname, text)
    return found


def term_entry(reader, fieldname: str, text: str):
    """A term's document frequency in one segment and where its postings are (a
    :class:`~searchsvc.index.codec.TermEntry`), from one look-up of Whoosh's term index;
    kept per segment reader (a term's frequency is asked for before its postings)."""
    return per_term(reader, Key.FREQUENCIES, fieldname, text, codec.term_entry)


def segment_frequency(reader, fieldname: str, text: str) -> int:
    """A term's document frequency in one segment (0 when absent): its :func:`term_entry`'s."""
    return term_entry(reader, fieldname, text)[0]


def frequency(reader, fieldname: str, text: str) -> int:
    """A term's document frequency in an index reader: its segments' (see
    :func:`segment_frequency`), added up; kept per reader (a query asks for the same term
    once per node, its cost model once more)."""
    return per_term(reader, Key.INDEX_FREQUENCIES, fieldname, text, _summed_frequency)


def _summed_frequency(reader, fieldname: str, text: str) -> int:
    return sum(segment_frequency(leaf, fieldname, text) for leaf, _offset in reader.leaf_readers())


def expand_prefix(reader, fieldname: str, prefix: str | bytes) -> list[bytes]:
    """The terms of ``fieldname`` that start with ``prefix`` in an index or segment reader,
    in order, each once: what Whoosh's ``expand_prefix`` yields. Whoosh merges every
    segment's term iterator in Python, each started by a Python binary search of its term
    index; here a segment of at most ``LISTED_TERMS_DOCS`` documents (pushed batches leave
    dozens) bisects its terms, read once into a list kept per segment, and a larger one
    makes Whoosh's single search. A field the schema lacks has no terms."""
    if fieldname not in reader.schema:
        return []
    if not isinstance(prefix, bytes):
        prefix = reader.schema[fieldname].to_bytes(prefix)
    runs = []
    for leaf, _offset in reader.leaf_readers():
        if leaf.doc_count_all() > LISTED_TERMS_DOCS:
            run = list(leaf.expand_prefix(fieldname, prefix))
        else:
            terms = _listed_terms(leaf, fieldname)
            start = end = bisect_left(terms, prefix)
            while end < len(terms) and terms[end].startswith(prefix):
                end += 1
            run = terms[start:end]
        if run:
            runs.append(run)
    if len(runs) <= 1:
        return runs[0] if runs else []
    return sorted(set().union(*runs))


def _listed_terms(leaf, fieldname: str) -> list[bytes]:
    """A segment's terms of ``fieldname`` in order: kept per reader (one dict read) and per
    segment (a new generation, every second while documents are pushed, finds them read)."""
    key = (Key.TERMS, fieldname)
    return per_reader(
        leaf, key, lambda: per_segment(leaf, key, lambda: list(leaf.lexicon(fieldname)))
    )


def field_lengths(reader, fieldname: str) -> np.ndarray:
    """Each document's length in ``fieldname`` as Whoosh's scorers see it, for one segment
    reader: read in one go (:func:`~searchsvc.index.whoosh_internals.reading.field_lengths`)
    and kept while the reader lives. The one source of lengths for the term-wise BM25 and
    for a quoted phrase's matcher."""
    return per_reader(
        reader, (Key.LENGTHS, fieldname), lambda: whoosh_reading.field_lengths(reader, fieldname)
    )
