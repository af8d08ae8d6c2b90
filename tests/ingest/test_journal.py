"""The journal of pushed documents: durable once submitted, applied once, in order, the last
write to an id winning, bounded (back-pressure), and settled after a crash at any step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from whoosh import index as whoosh_index

from searchsvc import errors
from searchsvc.engine.search import SearchEngine
from searchsvc.index import storage
from searchsvc.ingest import indexer, journal
from searchsvc.ingest.indexer import check_index, reindex
from searchsvc.ingest.journal import Change, Journal
from searchsvc.ingest.writer import OWNED_BY_CORPUS, JournalWriter, _live_ids
from searchsvc.testing import build_index, child_env, cli

CORPUS = {
    "zebre.txt": "Le zèbre\n\nUn zèbre des savanes africaines.\n",
    "girafe.txt": "La girafe\n\nUne girafe près du point d’eau.\n",
}


def put(doc_id: str, word: str, title: str = "Dépêche") -> Change:
    return Change("put", doc_id, {"title": title, "body": f"Un article sur le {word} du jour."})


def ids(index, query: str) -> list[str]:
    engine = SearchEngine(index)
    try:
        return sorted(h.id for h in engine.search(query, per_page=50).hits)
    finally:
        engine.close()


@pytest.fixture
def index(tmp_path):
    _corpus, index = build_index(tmp_path, CORPUS)
    return index


@pytest.fixture
def corpus_and_index(tmp_path):
    return build_index(tmp_path, CORPUS)


def apply_all(index) -> None:
    writer = JournalWriter(index)
    try:
        while writer.apply_once() is not None:
            pass
    finally:
        writer.close()


def test_the_journal_lives_beside_current_and_in_no_generation(index):
    Journal(index).submit([put("p1", "hibou")])
    apply_all(index)
    assert (index / "journal.sqlite3").is_file()
    live = storage.current(index)
    assert not any(name.startswith("journal") for name in live.meta["files"])
    assert check_index(index).problems == []
    assert live.meta["journal"]["seq"] == 1


def test_a_submitted_change_survives_a_kill_9_of_the_process_that_submitted(index):
    script = (
        "import os, signal, sys\n"
        "from searchsvc.ingest.journal import Journal, Change\n"
        "t = Journal(sys.argv[1]).submit([Change('put', 'p1', {'title': 'T', 'body': "
        "'un hibou'})])\n"
        "print(t.id, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(index)], capture_output=True, text=True, env=child_env()
    )
    assert done.returncode == -signal.SIGKILL
    task_id = int(done.stdout.split()[0])
    j = Journal(index)
    assert j.task(task_id).status == "enqueued"
    assert j.waiting() == 1
    apply_all(index)
    assert j.task(task_id).status == "succeeded"
    assert ids(index, "hibou") == ["p1"]


def test_changes_apply_in_order_and_the_last_write_to_an_id_wins(index):
    j = Journal(index)
    j.submit([put("p1", "hibou"), put("p2", "renard")])
    j.submit([put("p1", "blaireau"), Change("delete", "p2"), put("p3", "castor")])
    j.submit([Change("delete", "p3"), put("p3", "loutre")])
    apply_all(index)
    assert ids(index, "hibou") == []
    assert ids(index, "blaireau") == ["p1"]
    assert ids(index, "renard") == []
    assert ids(index, "castor") == [] and ids(index, "loutre") == ["p3"]
    assert dict(j.pushed_documents()).keys() == {"p1", "p3"}
    assert storage.current(index).meta["documents"] == 4
    # Applied changes leave the journal; the tasks say what became of them.
    assert j.waiting() == 0
    assert [j.task(n).status for n in (1, 2, 3)] == ["succeeded"] * 3
    assert j.task(2).applied == 3


def test_the_writer_tells_live_ids_from_deleted_ones_in_every_segment(index):
    """A deleted document keeps its id term in its segment: the writer must not take it for
    live (a push would be refused, or counted as replacing it), nor miss a replaced one."""
    j = Journal(index)
    j.submit([put("p1", "hibou"), put("p2", "renard"), put("p3", "castor")])
    apply_all(index)
    j.submit([Change("delete", "p2"), put("p3", "loutre"), put("p4", "lynx")])
    apply_all(index)
    ix = whoosh_index.open_dir(storage.current(index).path)
    try:
        with ix.reader() as reader:
            assert len(list(reader.leaf_readers())) == 3  # the corpus' and two batches'
            asked = {"zebre", "p1", "p2", "p3", "p4", "nul"}
            assert _live_ids(reader, asked) == {"zebre", "p1", "p3", "p4"}
    finally:
        ix.close()


def test_a_task_of_refused_documents_only_is_failed_at_once(index):
    j = Journal(index)
    task = j.submit([], refused=[{"id": "x", "reason": "body missing"}])
    assert task.status == "failed" and task.finished_at
    assert j.task(task.id).errors == [{"id": "x", "reason": "body missing"}]
    assert j.submit([]).status == "succeeded"


def test_a_push_to_an_id_of_the_corpus_is_refused_in_its_task(index):
    j = Journal(index)
    task = j.submit([put("zebre", "hibou"), Change("delete", "girafe"), put("p1", "hibou")])
    apply_all(index)
    done = j.task(task.id)
    assert done.status == "succeeded" and done.applied == 1
    assert done.errors == [
        {"id": "zebre", "reason": OWNED_BY_CORPUS},
        {"id": "girafe", "reason": OWNED_BY_CORPUS},
    ]
    assert ids(index, "zèbre") == ["zebre"] and ids(index, "girafe") == ["girafe"]
    assert ids(index, "hibou") == ["p1"]
    every = j.submit([put("zebre", "hibou")])
    apply_all(index)
    assert j.task(every.id).status == "failed"


def test_a_corpus_file_whose_id_a_push_owns_is_skipped_and_reported(corpus_and_index):
    corpus, index = corpus_and_index
    Journal(index).submit([put("hibou", "hibou", title="Poussé")])
    apply_all(index)
    (corpus / "hibou.txt").write_text("Fichier\n\nUn hibou du dossier.\n", encoding="utf-8")
    for full in (False, True):
        done = cli("index", "--corpus", str(corpus), "--index", str(index), *(["--full"] * full))
        assert done.returncode == 3, done.stderr
        assert "skipped hibou.txt: its id 'hibou' belongs to a document pushed" in done.stderr
        assert ids(index, "dossier") == []
        assert ids(index, "hibou") == ["hibou"]


def test_pushed_documents_survive_full_and_incremental_index_runs(corpus_and_index):
    corpus, index = corpus_and_index
    j = Journal(index)
    j.submit([put("p1", "hibou"), put("p2", "renard"), Change("delete", "p2")])
    apply_all(index)
    (corpus / "girafe.txt").unlink()
    report = reindex(corpus, index)  # incremental: deletes the file's document, not the pushed
    assert report.deleted == 1
    assert ids(index, "hibou") == ["p1"]
    report = reindex(corpus, index, full=True)
    assert report.documents == 2
    assert ids(index, "hibou") == ["p1"] and ids(index, "renard") == []
    assert check_index(index).problems == []
    # The generation built by the index run carries the journal's mark: nothing is applied twice.
    assert storage.current(index).meta["journal"] == j.mark()
    j.submit([put("p1", "blaireau")])
    apply_all(index)
    assert ids(index, "blaireau") == ["p1"] and ids(index, "hibou") == []
    assert storage.current(index).meta["documents"] == 2


def test_a_crash_between_publishing_and_marking_applies_the_batch_once(index, monkeypatch):
    j = Journal(index)
    task = j.submit([put("p1", "hibou"), put("p2", "renard")])

    def crash(upto):
        raise KeyboardInterrupt("killed after the switch")

    writer = JournalWriter(index)
    monkeypatch.setattr(writer.journal, "finish", crash)
    with pytest.raises(KeyboardInterrupt):
        writer.apply_once()
    writer.close()
    published = storage.current_name(index)
    assert ids(index, "hibou") == ["p1"]  # live, not yet marked applied
    assert j.task(task.id).status == "processing" and j.waiting() == 2
    # The next writer finds the batch in the live generation: marked, not written again.
    writer = JournalWriter(index)
    batch = writer.apply_once()
    assert batch.recovered == 2 and batch.applied == 0
    assert storage.current_name(index) == published
    assert j.task(task.id).status == "succeeded" and j.waiting() == 0
    assert storage.current(index).meta["documents"] == 4
    assert check_index(index).problems == []


def test_a_crash_before_publishing_leaves_the_batch_waiting(index, monkeypatch):
    j = Journal(index)
    task = j.submit([put("p1", "hibou")])
    live = storage.current_name(index)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(indexer, "write_pushed", crash)
    with pytest.raises(KeyboardInterrupt):
        JournalWriter(index).apply_once()
    monkeypatch.undo()
    assert storage.current_name(index) == live and j.waiting() == 1
    apply_all(index)
    assert j.task(task.id).status == "succeeded"
    assert ids(index, "hibou") == ["p1"]
    assert storage.current(index).meta["documents"] == 3


def test_a_journal_too_far_behind_refuses_submits_with_a_delay(index, monkeypatch):
    monkeypatch.setattr(journal, "JOURNAL_MAX_WAITING_CHANGES", 3)
    j = Journal(index)
    j.submit([put("p1", "hibou"), put("p2", "renard")])
    with pytest.raises(errors.JournalBehindError) as refused:
        j.submit([put("p3", "castor"), put("p4", "loutre")])
    assert refused.value.retry_after >= 1
    assert j.waiting() == 2  # nothing of the refused request was recorded
    apply_all(index)
    j.submit([put("p3", "castor"), put("p4", "loutre")])


def test_finished_tasks_are_pruned(index, monkeypatch):
    monkeypatch.setattr(journal, "JOURNAL_MAX_TASKS", 2)
    j = Journal(index)
    for n in range(4):
        j.submit([], refused=[{"id": str(n), "reason": "bad"}])
    assert j.prune_tasks() == 2
    assert j.task(1) is None and j.task(4) is not None


def test_wait_returns_when_the_change_is_live(index):
    j = Journal(index)
    task = j.submit([put("p1", "hibou")])
    assert j.wait(task.id, timeout=0.1).status == "enqueued"
    thread = threading.Thread(target=apply_all, args=(index,))
    thread.start()
    assert j.wait(task.id, timeout=30).status == "succeeded"
    thread.join()
    assert ids(index, "hibou") == ["p1"]
    assert j.wait(999, timeout=0.1) is None


def test_the_writer_waits_while_searchsvc_index_holds_the_lock(index):
    j = Journal(index)
    j.submit([put("p1", "hibou")])
    writer = JournalWriter(index)
    with storage.write_lock(index), pytest.raises(errors.IndexBusyError):
        writer.apply_once()
    assert j.waiting() == 1  # the change waits in the journal
    writer.apply_once()
    assert ids(index, "hibou") == ["p1"]


def test_searchsvc_index_waits_for_the_writers_batch(corpus_and_index, monkeypatch):
    corpus, index = corpus_and_index
    Journal(index).submit([put("p1", "hibou")])
    inside, release = threading.Event(), threading.Event()
    write = indexer.write_pushed

    def slow_write(*args, **kwargs):
        inside.set()
        release.wait(30)
        return write(*args, **kwargs)

    monkeypatch.setattr(indexer, "write_pushed", slow_write)
    thread = threading.Thread(target=apply_all, args=(index,))
    thread.start()
    assert inside.wait(30)
    done = cli("index", "--corpus", str(corpus), "--index", str(index), "--no-wait")
    assert done.returncode == 1 and "another" in done.stderr
    waited: list = []
    runner = threading.Thread(target=lambda: waited.append(reindex(corpus, index, full=True)))
    runner.start()
    time.sleep(0.5)
    assert runner.is_alive()  # waiting for the lock
    release.set()
    thread.join(30)
    runner.join(60)
    assert waited[0].documents == 3  # the full build kept the document the batch pushed
    assert ids(index, "hibou") == ["p1"]


def test_a_journal_made_anew_is_not_taken_for_the_old_one(index):
    Journal(index).submit([put("p1", "hibou")])
    apply_all(index)
    for name in os.listdir(index):
        if name.startswith("journal.sqlite3"):
            os.remove(index / name)
    j = Journal(index)  # a new id: seq 1 again, yet not "already applied"
    j.submit([put("p2", "renard")])
    apply_all(index)
    assert ids(index, "renard") == ["p2"]
    assert json.loads((storage.current(index).path / storage.META).read_text())["journal"] == (
        j.mark()
    )


def test_pushed_ids_among_a_batchs_ids_are_looked_up_by_key(index):
    journal = Journal(index)
    journal.submit([put(f"p{i}", "hibou") for i in range(5)])
    apply_all(index)
    assert journal.pushed_ids(["p1", "p4", "absent", "p1"]) == {"p1", "p4"}
    assert journal.pushed_ids([]) == set()
    assert journal.pushed_ids() == {f"p{i}" for i in range(5)}
