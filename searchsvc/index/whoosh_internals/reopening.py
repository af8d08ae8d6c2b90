"""A reader of an index's newest generation that keeps the segment readers of the one before.

While documents are pushed, a generation goes live every second or so, and each adds one small
segment to segments that stay as they were. Opening every segment afresh threw away what each
reader had read and kept (column offsets, term entries, lengths, postings): a worker's first
search after a generation paid ~55 ms to read it all again (``bench/generations_cost.py``).
:func:`reader_reusing` opens only the segments that changed, as Lucene's ``openIfChanged``
does; Whoosh's own ``reader(reuse=…)`` cannot serve, as it reuses a segment's reader whatever
deletions the new generation added to it, and shares readers without saying which.

Generations are folders that hold an unchanged segment's files by hard links, so a reused
reader is pointed at the new folder, for the files it has not opened yet (the old folder is
deleted a few generations later); those it has open are the same files.
"""

from __future__ import annotations

from whoosh.reading import MultiReader, SegmentReader


def reader_reusing(ix, old=None) -> tuple[object, list]:
    """A reader of ``ix``'s newest table of contents, reusing those of ``old``'s segment readers
    (``old``: a reader of an earlier generation of the same index, or None) whose segment is
    unchanged: the same id, documents and deletions, not a compound file. Returns the reader
    and ``old``'s segment readers it did not reuse, which the caller closes once no search
    uses ``old`` (never ``old`` itself: that would close the reused ones too)."""
    toc = ix._read_toc()
    reusable = {}
    if old is not None:
        for leaf, _offset in old.leaf_readers():
            if isinstance(leaf, SegmentReader) and not leaf.is_closed:
                reusable[leaf.segment().segment_id()] = leaf
    readers = []
    for segment in toc.segments:
        leaf = reusable.get(segment.segment_id())
        if leaf is not None and _unchanged(leaf.segment(), segment):
            del reusable[segment.segment_id()]
            _point_at(leaf, ix.storage, toc.generation)
        else:
            leaf = SegmentReader(ix.storage, toc.schema, segment, generation=toc.generation)
        readers.append(leaf)
    unused = list(reusable.values())
    if not readers:
        return ix.reader(), unused  # Whoosh's reader of an index without segments
    if len(readers) == 1:
        return readers[0], unused
    return MultiReader(readers, generation=toc.generation), unused


def _unchanged(was, now) -> bool:
    """Whether segment ``now`` of a newer table of contents is ``was`` as it was read: the same
    documents and the same deletions, in files of its own (not a compound file)."""
    if was.is_compound() or now.is_compound():
        return False
    if was.doc_count_all() != now.doc_count_all() or was.deleted_count() != now.deleted_count():
        return False
    return not was.has_deletions() or set(was.deleted_docs()) == set(now.deleted_docs())


def _point_at(leaf: SegmentReader, storage, generation: int) -> None:
    """Make a reused segment reader open its files not yet open from ``storage`` (the newer
    generation's folder, which holds the same files) and report that generation."""
    leaf._storage = storage
    leaf._perdoc._storage = storage
    leaf._gen = generation
