"""Reindexing fails safely: a failed commit, a killed indexer, two indexers at once.

Whatever happens to a reindex, the live index stays whole and answers, the write lock is free
again, nothing half-built is left for good, and the next reindex completes. The heavier
versions (20+ kill trials on thousands of documents, reindexing under HTTP load) are
``bench/kill_trials.py`` and ``bench/reindex_under_load.py``.
"""

from __future__ import annotations

import ctypes
import errno
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from whoosh import index as whoosh_index

import searchsvc.ingest.indexer as indexer
from searchsvc import errors
from searchsvc.engine.search import SearchEngine
from searchsvc.index import storage
from searchsvc.index.whoosh_internals.writing import SegmentBuilder
from searchsvc.ingest.indexer import reindex
from searchsvc.testing import alive, child_env, child_pids, cli_command, index_args, lock_is_free

NEW_DOC = "Le zeppelin\n\nUn dirigeable commun survole la ville.\n"


def write_corpus(folder: Path, n: int) -> Path:
    """``n`` small documents in one JSON Lines file, each with the word "commun"."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "docs.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n):
            doc = {
                "id": f"d{i:04d}",
                "title": f"Article numéro {i}",
                "body": f"Un texte commun sur le sujet {i}, la ville et la campagne. " * 3,
            }
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return folder


def found(index_dir: Path, query: str = "commun") -> set[str]:
    """Ids a fresh engine finds for ``query`` (at most 10,000)."""
    with closing(SearchEngine(index_dir)) as engine:
        ids: set[str] = set()
        page = 1
        while True:
            result = engine.search(query, page=page, per_page=100)
            ids |= {hit.id for hit in result.hits}
            if page >= result.pages:
                return ids
            page += 1


def leftovers(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.glob("*.building"))


@pytest.fixture
def built(tiny_corpus, tmp_path):
    """The tiny corpus indexed once, plus a new document waiting to be indexed."""
    index_dir = tmp_path / "index"
    reindex(tiny_corpus, index_dir, full=True)
    (tiny_corpus / "zeppelin.txt").write_text(NEW_DOC, encoding="utf-8")
    return tiny_corpus, index_dir


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


# Where a commit can fail on a full disk: writing the new segment or Whoosh's table of contents,
# searchsvc writing the metadata, or syncing the folder while switching generations.
FAILURES = [
    ("incremental", SegmentBuilder, "_flush"),
    ("full", SegmentBuilder, "_flush"),
    ("incremental", whoosh_index.TOC, "write"),
    ("incremental", storage, "write_meta"),
    ("full", whoosh_index.TOC, "write"),
    ("full", storage, "write_meta"),
    ("full", storage, "_fsync_dir"),
]


@pytest.mark.parametrize(
    ("kind", "owner", "name"), FAILURES, ids=[f"{k}-{n}" for k, _, n in FAILURES]
)
def test_a_failed_commit_releases_the_lock_and_keeps_the_live_index(
    built, monkeypatch, kind, owner, name
):
    corpus, index_dir = built
    before = found(index_dir, "zèbre")
    generation = storage.current_name(index_dir)
    live = storage.current(index_dir)
    monkeypatch.setattr(owner, name, _disk_full)
    with pytest.raises(errors.IndexWriteError, match="No space left on device") as failure:
        reindex(corpus, index_dir, full=kind == "full")
    assert failure.value.__cause__.errno == errno.ENOSPC
    assert "the live index is unchanged" in str(failure.value)
    monkeypatch.undo()

    assert lock_is_free(index_dir)
    assert storage.current_name(index_dir) == generation
    assert found(index_dir, "zèbre") == before
    assert found(index_dir, "dirigeable") == set()
    assert leftovers(index_dir) == []
    # Nothing was written into the live generation: its files are exactly its manifest's.
    assert storage.Verifier().problems(live, fresh=True) == []
    assert storage.unlisted_files(live) == []
    assert not (live.path / "MAIN.tmp").exists()

    # Whoosh's own lock was released too: the next run in this same process can write.
    report = reindex(corpus, index_dir, full=kind == "full")
    assert found(index_dir, "dirigeable") == {"zeppelin"}
    assert report.documents == 4
    names = storage.list_generations(index_dir)
    assert names[-1] == storage.current_name(index_dir) and len(names) <= 2


def test_a_generation_left_unpublished_is_removed_by_the_next_run(built):
    corpus, index_dir = built
    # A build killed between naming its generation and switching CURRENT to it.
    reindex(corpus, index_dir, full=True)
    (index_dir / storage.CURRENT).write_text("g000001\n", encoding="ascii")
    assert storage.list_generations(index_dir) == ["g000001", "g000002"]
    report = reindex(corpus, index_dir)
    # The unpublished g000002 was removed; the update is a g000002 of its own.
    assert report.generation == "g000002" and report.added == 1
    assert storage.list_generations(index_dir) == ["g000001", "g000002"]
    assert reindex(corpus, index_dir, full=True).generation == "g000003"


def test_discard_unpublished_without_a_live_generation_keeps_everything(tmp_path):
    (tmp_path / "g000001").mkdir()
    assert storage.discard_unpublished(tmp_path) == []
    (tmp_path / storage.CURRENT).write_text("g000005\n", encoding="ascii")  # points nowhere
    assert storage.discard_unpublished(tmp_path) == []
    assert storage.list_generations(tmp_path) == ["g000001"]


def test_disk_use_stays_bounded_over_many_reindexes(built):
    corpus, index_dir = built

    def size() -> int:
        return sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())

    reindex(corpus, index_dir, full=True)
    one = size()
    for n in range(6):
        (corpus / f"extra{n}.txt").write_text(f"Extra {n}\n\nTexte commun.\n", encoding="utf-8")
        reindex(corpus, index_dir)
        if n % 2:
            reindex(corpus, index_dir, full=True)
    assert len(storage.list_generations(index_dir)) <= 2
    assert size() < 3 * one


# -- helper processes of a multi-process build -----------------------------------------------

PR_GET_PDEATHSIG = 2


def _report_child_state(queue) -> None:
    """In a forked child: its parent-death signal and whether it has the write lock open."""
    sig = ctypes.c_int(0)
    ctypes.CDLL(None, use_errno=True).prctl(PR_GET_PDEATHSIG, ctypes.byref(sig), 0, 0, 0)
    lock_open = any(
        os.readlink(f"/proc/self/fd/{fd}").endswith(storage.LOCK)
        for fd in os.listdir("/proc/self/fd")
        if os.path.exists(f"/proc/self/fd/{fd}")
    )
    queue.put((sig.value, lock_open))


def _child_state() -> tuple[int, bool]:
    context = multiprocessing.get_context("fork")  # what Whoosh's writer uses on Linux
    queue = context.Queue()
    child = context.Process(target=_report_child_state, args=(queue,))
    child.start()
    state = queue.get(timeout=30)
    child.join(timeout=30)
    return state


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_helpers_forked_during_a_build_die_with_it_and_never_hold_the_lock(tmp_path):
    with storage.write_lock(tmp_path):
        with indexer._helpers_die_with_this_process():
            assert _child_state() == (signal.SIGKILL, False)
        # Outside a build, forked children are left alone (gunicorn's workers, for one) ...
        assert _child_state() == (0, False)
    # ... but never keep the lock: it belongs to the process that took it.
    assert lock_is_free(tmp_path)


def test_a_build_that_fails_stops_its_helper_processes(tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "corpus", 400)

    def failing(progress):
        if progress.documents == 300:  # helpers are at work by now (100 documents a job)
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(errors.IndexWriteError):
        reindex(corpus, tmp_path / "index", full=True, procs=2, progress=failing)
    assert multiprocessing.active_children() == []
    assert lock_is_free(tmp_path / "index")
    assert leftovers(tmp_path / "index") == []


# -- killed and concurrent indexers (separate processes) -------------------------------------

# A reindex in a child process, slowed down (1 ms a document) so that a kill lands in the
# middle; it prints "reading" once it holds the lock and reads the corpus.
DRIVER = """
import sys, time
from searchsvc.ingest.indexer import reindex
corpus, index_dir, full = sys.argv[1], sys.argv[2], sys.argv[3] == "full"
def progress(p):
    if p.documents == 1:
        print("reading", flush=True)
    time.sleep(0.001)
reindex(corpus, index_dir, full=full, procs=2 if full else None, progress=progress)
print("done", flush=True)
"""


@pytest.mark.slow
def test_a_reindex_killed_at_random_points_leaves_a_working_index(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", 600)
    index_dir = tmp_path / "index"
    reindex(corpus, index_dir, full=True)
    expected = found(index_dir)
    rng = random.Random(6)
    for trial, kind in enumerate(["full", "incremental", "full"]):
        # Each trial changes the corpus, so the killed run had something to write.
        with open(corpus / "docs.jsonl", "a", encoding="utf-8") as fh:
            doc = {"id": f"new{trial}", "title": "Nouveau", "body": "Un ajout commun."}
            fh.write(json.dumps(doc) + "\n")
        proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(corpus), str(index_dir), kind],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "reading"
        time.sleep(rng.uniform(0.05, 0.6))
        helpers = child_pids(proc.pid)
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()

        deadline = time.monotonic() + 10
        while alive(helpers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(helpers), "helper processes outlived the killed reindex"
        assert lock_is_free(index_dir)
        now = found(index_dir)
        assert now == expected or now == expected | {f"new{trial}"}, "the live index changed"
        reindex(corpus, index_dir, full=trial % 2 == 0)
        expected = found(index_dir)
        assert f"new{trial}" in expected
        assert leftovers(index_dir) == []
        assert len(storage.list_generations(index_dir)) <= 2


@pytest.mark.slow
def test_two_index_commands_at_once_wait_for_each_other(tiny_corpus, tmp_path):
    index_dir = tmp_path / "index"
    cli = cli_command(*index_args(tiny_corpus, index_dir))
    env = child_env()
    with storage.write_lock(index_dir):  # a first reindex still running
        waiting = subprocess.Popen(
            [*cli, "--full"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        refused = subprocess.run(
            [*cli, "--no-wait"], env=env, capture_output=True, text=True, timeout=60
        )
        assert refused.returncode == 1
        assert "another `searchsvc index` is writing" in refused.stderr
        time.sleep(1.0)
        assert waiting.poll() is None  # still waiting for the lock
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert "waiting for another `searchsvc index`" in err
    assert "full reindex: 3 added" in out

    # Two real runs started together: both finish, one after the other, on a sound index.
    runs = [
        subprocess.Popen([*cli, *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for extra in (["--full"], [])
    ]
    for run in runs:
        run.communicate(timeout=60)
        assert run.returncode == 0
    assert found(index_dir, "zèbre") == {"zebre-titre", "zebre-corps"}
    assert leftovers(index_dir) == [] and lock_is_free(index_dir)
