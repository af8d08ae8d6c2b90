"""The journal's writer under a real `searchsvc serve` (gunicorn): started by the master once
something was pushed, restarted when killed, stopped with the server; and the journal and the
writer on a full disk (a real tmpfs: the small_disk fixture of tests/conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from searchsvc import errors
from searchsvc.index import storage
from searchsvc.ingest.indexer import check_index
from searchsvc.ingest.journal import Change, Journal
from searchsvc.ingest.writer import JournalWriter
from searchsvc.testing import (
    alive,
    build_index,
    child_pids,
    fill_disk,
    serve_command,
    start_server,
)

CORPUS = {"zebre.txt": "Le zèbre\n\nUn zèbre des savanes africaines.\n"}
KEY = "k" * 24


def put(doc_id: str, word: str) -> Change:
    return Change("put", doc_id, {"title": "Dépêche", "body": f"Un article sur le {word}."})


def search_ids(server, q: str) -> list[str]:
    url = f"{server.url}/api/search?q={urllib.parse.quote(q)}"
    with urllib.request.urlopen(url, timeout=30) as answer:
        return sorted(hit["id"] for hit in json.load(answer)["hits"])


def writers(server) -> list[int]:
    found = []
    for pid in child_pids(server.proc.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"searchsvc.ingest.writer" in cmdline:
            found.append(pid)
    return found


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_serve_runs_the_writer_restarts_it_when_killed_and_stops_it(tmp_path):
    _corpus, index = build_index(tmp_path, CORPUS)
    log = tmp_path / "serve.log"

    def command(port: int) -> list[str]:
        return ["env", f"SEARCHSVC_ADMIN_KEY={KEY}", *serve_command(port, index, workers=1)]

    with start_server(index, log, command=command) as server:
        assert writers(server) == []  # nothing pushed yet: no writer
        j = Journal(index)
        task = j.submit([put("p1", "hibou")])
        first = wait_for(lambda: writers(server))
        assert j.wait(task.id, timeout=30).status == "succeeded"
        assert search_ids(server, "hibou") == ["p1"]
        os.kill(first[0], signal.SIGKILL)
        second = wait_for(lambda: [p for p in writers(server) if p != first[0]])
        died = f"journal writer (pid {first[0]}) died (killed by signal 9)"
        assert died in log.read_text()
        task = j.submit([put("p2", "renard"), Change("delete", "p1")])
        assert j.wait(task.id, timeout=30).status == "succeeded"
        assert search_ids(server, "renard") == ["p2"]
        assert search_ids(server, "hibou") == []
    assert alive(second) == []  # stopped with the server
    assert check_index(index).problems == []


@pytest.mark.slow
def test_a_full_disk_refuses_submits_and_the_writer_keeps_the_live_index(tmp_path, small_disk):
    disk = small_disk(8)
    _corpus, index = build_index(disk, CORPUS)
    j = Journal(index)
    acknowledged = j.submit([put("p1", "hibou")])
    live = storage.current(index)
    fill_disk(index, leave_kb=0)
    big = Change("put", "p2", {"title": "Gros", "body": "renard " * 200_000})
    with pytest.raises(errors.JournalDiskFullError, match="free some disk space"):
        j.submit([big])
    writer = JournalWriter(index)
    with pytest.raises(errors.SearchsvcError):
        writer.apply_once()
    assert storage.current_name(index) == live.name  # the live index untouched
    assert check_index(index).problems == []
    assert j.waiting() == 1
    (index / "ballast").unlink()
    writer.apply_once()
    assert j.task(acknowledged.id).status == "succeeded"
    assert check_index(index).problems == []
    assert storage.current(index).meta["documents"] == 2


@pytest.mark.slow
def test_a_writer_whose_master_died_before_it_started_does_not_linger(tmp_path):
    # A master killed while its writer was still starting: the writer, adopted by another
    # process, sees its parent is not the master it was started for and ends at once.
    _corpus, index = build_index(tmp_path, CORPUS)
    done = subprocess.run(
        [sys.executable, "-m", "searchsvc.ingest.writer", str(index), "1"],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1


def _segments(index: Path) -> list[int]:
    """The live generation's segments, by their number of documents."""
    from whoosh import index as whoosh_index

    from searchsvc.index.whoosh_internals.merging import index_segments

    ix = whoosh_index.open_dir(storage.current(index).path)
    try:
        return sorted(seg.doc_count_all() for seg in index_segments(ix))
    finally:
        ix.close()


@pytest.mark.slow
def test_a_writer_killed_while_merging_loses_nothing_and_merges_again(tmp_path):
    # Ten batches make ten small segments, which the writer merges in a process of its own;
    # the writer is killed (-9) while that merge is being written (the merging process is
    # stopped first, so that the merge cannot end before the kill). The merging process
    # dies with the writer, every acknowledged document stays searchable, the index checks
    # clean, and the restarted writer merges the segments again.
    _corpus, index = build_index(tmp_path, CORPUS)
    log = tmp_path / "serve.log"
    body = " ".join(f"mot{n} ornithorynque des rivières australiennes" for n in range(60))
    merging = index / ".merging"

    def command(port: int) -> list[str]:
        return ["env", f"SEARCHSVC_ADMIN_KEY={KEY}", *serve_command(port, index, workers=1)]

    def push(j: Journal, first: int, count: int) -> None:
        changes = [
            Change("put", f"p{n}", {"title": f"Dépêche {n}", "body": body})
            for n in range(first, first + count)
        ]
        assert j.wait(j.submit(changes).id, timeout=60).status == "succeeded"

    def caught_merge(writer: int) -> list[int]:
        if len(_segments(index)) < 10:  # no tier holds ten segments: no merge begins
            return []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            helpers = child_pids(writer)
            if merging.is_dir() and helpers:
                for pid in helpers:
                    os.kill(pid, signal.SIGSTOP)
                return helpers
            time.sleep(0.005)
        return []

    with start_server(index, log, command=command) as server:
        j = Journal(index)
        helpers: list[int] = []
        for b in range(12):
            push(j, b * 100, 100)
            writer = writers(server)[0]
            helpers = caught_merge(writer)
            if helpers:
                break
        assert helpers, "no merge began"
        assert len(_segments(index)) >= 10  # caught before the merge was put in place
        os.kill(writer, signal.SIGKILL)
        time.sleep(0.5)
        for pid in helpers:  # let the merge go on: it learns its writer died
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: alive(helpers) == [])  # and ends with it
        wait_for(lambda: [p for p in writers(server) if p != writer], timeout=60)
        pushed = (b + 1) * 100
        push(j, pushed, 1)
        wait_for(lambda: len(_segments(index)) <= 3, timeout=120)  # merged again
        url = f"{server.url}/api/search?q=ornithorynque&per_page=1"
        with urllib.request.urlopen(url, timeout=30) as answer:
            assert json.load(answer)["total"] == pushed + 1
    assert check_index(index).problems == []
    assert storage.current(index).meta["documents"] == pushed + 2
