"""A served process follows each generation pushed batches publish without re-reading what it
shares with the one before: a segment's column values are kept by segment, not by reader."""

from __future__ import annotations

import contextlib

from whoosh import index as whoosh_index

from searchsvc.index import columns, storage
from searchsvc.ingest.journal import Change, Journal
from searchsvc.ingest.writer import JournalWriter
from searchsvc.testing import build_index

CORPUS = {
    "zebre.txt": "Le zèbre\n\nUn zèbre des savanes africaines.\n",
    "girafe.txt": "La girafe\n\nUne girafe près du point d’eau.\n",
}


def leaves(generation) -> dict:
    """Segment id -> an open segment reader of ``generation`` (and the readers to close)."""
    ix = whoosh_index.open_dir(generation.path)
    reader = ix.reader()
    return {leaf.segment().segment_id(): leaf for leaf, _ in reader.leaf_readers()}, (reader, ix)


def test_a_new_generation_finds_its_shared_segments_column_values_read(tmp_path):
    _corpus, index = build_index(tmp_path, CORPUS)
    before, opened = leaves(storage.current(index))
    with contextlib.closing(opened[1]), contextlib.closing(opened[0]):
        ((segment_id, leaf),) = before.items()
        values = columns.column_values(leaf, "source")
        codes = columns.column_codes(leaf, "source")
        Journal(index).submit([Change("put", "p1", {"title": "T", "body": "un hibou"})])
        writer = JournalWriter(index)
        try:
            assert writer.apply_once().applied == 1
        finally:
            writer.close()
        after, reopened = leaves(storage.current(index))
        with contextlib.closing(reopened[1]), contextlib.closing(reopened[0]):
            assert len(after) == 2 and segment_id in after
            shared = after[segment_id]
            assert shared is not leaf  # another generation's reader of the same segment
            assert columns.column_values(shared, "source") is values
            assert columns.column_codes(shared, "source") is codes
            (new_id,) = set(after) - {segment_id}
            assert len(columns.column_values(after[new_id], "source")) == 1
