"""The small segments pushed batches add are merged off the batches' path: in a process of
the writer's own, put in place by a later generation, with what later batches deleted from
them deleted in the merged one too; a merge that fails loses nothing."""

from __future__ import annotations

import contextlib
import time

import pytest
from whoosh import index as whoosh_index

from searchsvc import settings
from searchsvc.index import storage
from searchsvc.index.whoosh_internals import merging
from searchsvc.ingest.indexer import check_index
from searchsvc.ingest.journal import Change, Journal
from searchsvc.ingest.writer import MERGING_DIR, JournalWriter
from searchsvc.testing import build_index

CORPUS = {"zebre.txt": "Le zèbre\n\nUn zèbre des savanes africaines.\n"}


def put(doc_id: str, word: str) -> Change:
    return Change("put", doc_id, {"title": "Dépêche", "body": f"Un article sur le {word}."})


def segment_sizes(index) -> list[int]:
    live = storage.current(index)
    with contextlib.closing(whoosh_index.open_dir(live.path)) as ix:
        return sorted(s.doc_count() for s in ix._segments())


def live_ids(index, word: str) -> list[str]:
    live = storage.current(index)
    with contextlib.closing(whoosh_index.open_dir(live.path)) as ix, ix.searcher() as s:
        return sorted(f["id"] for f in s.documents(body=word))


def wait_for_merge(writer: JournalWriter) -> None:
    deadline = time.monotonic() + 60  # seconds where it takes a fraction of one
    while not writer._merging.done():
        assert time.monotonic() < deadline, "the merge never ended"
        time.sleep(0.05)


@pytest.fixture
def index(tmp_path, monkeypatch):
    # Three segments of a tier make a merge (ten in production), so a test stays small.
    monkeypatch.setattr(settings, "MERGE_FACTOR", 3)
    _corpus, index = build_index(tmp_path, CORPUS)
    return index


def test_batches_segments_are_merged_beside_and_put_in_place_by_a_later_generation(index):
    journal = Journal(index)
    writer = JournalWriter(index)
    try:
        for b in range(2):
            journal.submit([put(f"p{b}-{i}", "hibou") for i in range(2)])
            batch = writer.apply_once()
            assert batch is not None and batch.merged == 0
        # The corpus's segment and the two batches': started after the second batch, which
        # did not wait for it.
        assert writer.merging()
        assert segment_sizes(index) == [1, 2, 2]
        wait_for_merge(writer)
        batch = writer.apply_once()  # nothing waits: a generation of its own
        assert batch is not None and batch.merged == 5 and batch.applied == 0
        assert segment_sizes(index) == [5]
        assert len(live_ids(index, "hibou")) == 4
        assert not (index / MERGING_DIR).exists()
        assert check_index(index).problems == []
        assert storage.current(index).meta["journal"]["seq"] == 4
        assert writer.apply_once() is None  # nothing more to do
    finally:
        writer.close()


def test_what_batches_delete_while_a_merge_runs_is_deleted_in_the_merged_segment(index):
    journal = Journal(index)
    writer = JournalWriter(index)
    try:
        for b in range(2):
            journal.submit([put(f"p{b}-{i}", "hibou") for i in range(2)])
            writer.apply_once()
        assert writer.merging()
        wait_for_merge(writer)
        # Written after the merge read its sources: a deletion and a replacement.
        journal.submit([Change("delete", "p0-0"), put("p1-1", "chouette")])
        batch = writer.apply_once()
        assert batch.merged == 5 and batch.applied == 2
        assert live_ids(index, "hibou") == ["p0-1", "p1-0"]
        assert live_ids(index, "chouette") == ["p1-1"]
        live = storage.current(index)
        with contextlib.closing(whoosh_index.open_dir(live.path)) as ix, ix.searcher() as s:
            assert s.document(id="zebre") is not None  # the corpus's, merged too
        assert storage.current(index).meta["documents"] == 4
        with contextlib.closing(whoosh_index.open_dir(storage.current(index).path)) as ix:
            assert ix.doc_count() == 4
        assert check_index(index).problems == []
    finally:
        writer.close()


def test_a_merge_that_fails_leaves_its_segments_and_loses_nothing(index, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(merging, "merge_mapped", broken)
    journal = Journal(index)
    writer = JournalWriter(index)
    try:
        for b in range(2):
            journal.submit([put(f"p{b}-{i}", "hibou") for i in range(2)])
            writer.apply_once()
        wait_for_merge(writer)
        journal.submit([put("p9", "hibou")])
        batch = writer.apply_once()
        assert batch.merged == 0 and batch.applied == 1
        assert "merge of small segments failed" in caplog.text
        assert not writer.merging()  # not tried again at once
        assert len(live_ids(index, "hibou")) == 5
        assert segment_sizes(index) == [1, 1, 2, 2]
        assert check_index(index).problems == []
    finally:
        writer.close()
    assert not (index / MERGING_DIR).exists()
