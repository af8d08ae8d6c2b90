"""Python's cycle collector held off while documents are written (index/collector.py): off in
the block, on after it with the young objects collected, the whole heap at most every
FULL_COLLECTION_S; and the journal writer's batches and a full build's helpers run so."""

from __future__ import annotations

import gc

import pytest

from searchsvc.index import collector
from searchsvc.index.whoosh_internals import writing
from searchsvc.ingest import indexer
from searchsvc.ingest.journal import Change, Journal
from searchsvc.ingest.writer import JournalWriter
from searchsvc.testing import build_index


@pytest.fixture
def collections(monkeypatch):
    """The generations each gc.collect() call of the code under test asked for."""
    asked: list[int] = []
    real = gc.collect

    def collect(generation: int = 2) -> int:
        asked.append(generation)
        return real(generation)

    monkeypatch.setattr(collector.gc, "collect", collect)
    return asked


def test_the_collector_is_off_in_the_block_and_young_objects_are_collected_after(collections):
    assert gc.isenabled()
    with collector.deferred():
        assert not gc.isenabled()
        with collector.deferred():  # nested: changes nothing
            assert not gc.isenabled()
        assert not gc.isenabled()
        assert collections == []
    assert gc.isenabled()
    assert collections == [1]


def test_an_error_in_the_block_turns_the_collector_back_on(collections):
    with pytest.raises(RuntimeError), collector.deferred():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_the_whole_heap_is_collected_once_full_collection_s_has_passed(monkeypatch, collections):
    monkeypatch.setattr(collector, "_last_full", collector.time.monotonic() - 1e6)
    with collector.deferred():
        pass
    with collector.deferred():
        pass
    assert collections == [2, 1]  # the full one, then young objects only until next time


def test_with_the_collector_already_off_nothing_changes(collections):
    gc.disable()
    try:
        with collector.deferred():
            assert not gc.isenabled()
        assert not gc.isenabled()
        assert collections == []
    finally:
        gc.enable()


def _record_collector_state(monkeypatch) -> list[bool]:
    seen: list[bool] = []
    real = writing.SegmentBuilder.add_document

    def add_document(self, **fields):
        seen.append(gc.isenabled())
        return real(self, **fields)

    monkeypatch.setattr(writing.SegmentBuilder, "add_document", add_document)
    return seen


def test_a_pushed_batch_is_written_with_the_collector_off(tmp_path, monkeypatch):
    _corpus, index = build_index(tmp_path, {"a.txt": "Un titre\n\nUn texte.\n"})
    j = Journal(index)
    j.submit([Change("put", f"p{n}", {"title": "Dépêche", "body": f"mot{n}"}) for n in range(5)])
    seen = _record_collector_state(monkeypatch)
    writer = JournalWriter(index, merge=False)
    try:
        writer.apply_once()
    finally:
        writer.close()
    assert seen == [False] * 5
    assert gc.isenabled()


def test_a_full_builds_helpers_write_with_the_collector_off(tmp_path, monkeypatch):
    # Fork-started helpers inherit the patched builder; each records what it saw in a file.
    record = tmp_path / "seen"
    real = writing.SegmentBuilder.add_document

    def add_document(self, **fields):
        with open(record, "a") as fh:
            fh.write("on\n" if gc.isenabled() else "off\n")
        return real(self, **fields)

    monkeypatch.setattr(writing.SegmentBuilder, "add_document", add_document)
    monkeypatch.setattr(indexer, "_default_procs", lambda *a, **k: 2)
    files = {f"d{n}.txt": f"Titre {n}\n\nTexte {n}.\n" for n in range(300)}
    build_index(tmp_path, files)
    assert record.read_text().split() == ["off"] * 300
