"""Issue 11: a build never reports more than it wrote, and every failure ends in bounded time.

Each fault an outside tester found is here: file names that are not UTF-8 (one process and
two), a helper process that fails or dies, a full disk in a helper, in one process and in an
incremental update (a real tmpfs where the machine lets root mount one), and a generation that
would hold fewer documents than were written. After each: one clear error, the write lock
free, the live generation untouched and nothing left beside it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from contextlib import closing
from pathlib import Path

import pytest

from searchsvc import errors
from searchsvc.engine.search import SearchEngine
from searchsvc.index import storage
from searchsvc.index.whoosh_internals.multiprocess import _CheckedTask
from searchsvc.index.whoosh_internals.writing import SegmentBuilder
from searchsvc.ingest.indexer import check_index, reindex
from searchsvc.testing import cli, fill_disk, lock_is_free

BAD_NAME = b"bad\xff.txt"


def write_jsonl(folder: Path, n: int, name: str = "docs.jsonl", words: int = 12) -> Path:
    """``n`` documents in one JSON Lines file, each with the word "commun" (ids start with
    the file's first letter)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w", encoding="utf-8") as fh:
        for i in range(n):
            body = f"Un texte commun sur le sujet {i}, la ville et la campagne. " * words
            doc = {"id": f"{name[0]}{i:05d}", "title": f"Article {i}", "body": body}
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return folder


def add_bad_name(folder: Path) -> None:
    with open(os.path.join(os.fsencode(folder), BAD_NAME), "wb") as fh:
        fh.write(b"Titre latin\n\nCorps du document au nom latin-1.\n")


def all_ids(index_dir: Path) -> set[str]:
    with closing(SearchEngine(index_dir)) as engine, engine.searcher() as s:
        return {fields["id"] for fields in s.all_stored_fields()}


def assert_live_untouched(index_dir: Path, live: storage.Generation) -> None:
    """The write lock is free, ``live`` is still live and whole, and nothing else is left."""
    assert lock_is_free(index_dir)
    assert storage.current_name(index_dir) == live.name
    assert storage.Verifier().problems(live, fresh=True) == []
    assert storage.unlisted_files(live) == []
    assert not list(index_dir.glob("*.building"))
    assert multiprocessing.active_children() == []


# -- names that are not UTF-8 ------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 2])
def test_a_name_that_is_not_utf8_is_indexed_under_a_lossless_id(tmp_path, procs):
    corpus = write_jsonl(tmp_path / "corpus", 250)
    add_bad_name(corpus)
    report = reindex(corpus, tmp_path / "index", full=True, procs=procs)
    assert (report.added, report.documents, report.skipped) == (251, 251, [])
    ids = all_ids(tmp_path / "index")
    assert len(ids) == 251 and "bad%FF" in ids and "d00000" in ids and "d00249" in ids
    assert storage.current(tmp_path / "index").meta["documents"] == 251


@pytest.mark.slow
def test_the_cli_indexes_a_name_that_is_not_utf8_and_counts_it(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    add_bad_name(corpus)
    (corpus / "ok.txt").write_text("Titre\n\nUn document ordinaire.\n", encoding="utf-8")
    index_dir = tmp_path / "index"
    done = cli("index", "--corpus", str(corpus), "--index", str(index_dir))
    assert done.returncode == 0, done.stderr
    assert "2 added" in done.stdout and "2 documents" in done.stdout
    assert "Traceback" not in done.stderr
    found = cli("search", "latin", "--index", str(index_dir), "--json")
    assert [hit["id"] for hit in json.loads(found.stdout)["hits"]] == ["bad%FF"]
    # An incremental run finds it unchanged (the same id), not removed and added again.
    again = cli("index", "--corpus", str(corpus), "--index", str(index_dir))
    assert "2 unchanged" in again.stdout


def test_json_ids_and_text_with_lone_surrogates_are_stored(make_corpus, tmp_path):
    line = '{"id": "a\\ud800b", "title": "t\\udcff", "body": "corps \\ud800", "source": "\\udc80"}'
    corpus = make_corpus({"docs.jsonl": line + "\n"})
    report = reindex(corpus, tmp_path / "index", full=True)
    assert report.documents == 1 and not report.skipped
    assert all_ids(tmp_path / "index") == {"a%uD800b"}


# -- helper processes that fail ----------------------------------------------------------------


@pytest.fixture
def live_index(tmp_path) -> tuple[Path, Path, storage.Generation]:
    """A built index of 40 documents and a corpus of 400 waiting to replace it."""
    corpus = write_jsonl(tmp_path / "corpus", 40)
    index_dir = tmp_path / "index"
    reindex(corpus, index_dir, full=True)
    write_jsonl(corpus, 400)
    return corpus, index_dir, storage.current(index_dir)


def _in_a_helper() -> bool:
    return multiprocessing.parent_process() is not None


def test_a_helper_that_fails_ends_the_build_with_its_reason(live_index, monkeypatch):
    corpus, index_dir, live = live_index
    real = SegmentBuilder.add_document

    def full_disk(self, **fields):
        if _in_a_helper():
            raise OSError(28, "No space left on device", "/index/MAIN_x.pst")
        return real(self, **fields)

    monkeypatch.setattr(SegmentBuilder, "add_document", full_disk)
    started = time.monotonic()
    with pytest.raises(errors.IndexWriteError) as failure:
        reindex(corpus, index_dir, full=True, procs=2)
    assert time.monotonic() - started < 60
    assert "helper process: No space left on device (/index/MAIN_x.pst)" in str(failure.value)
    assert "\n" not in str(failure.value)
    assert_live_untouched(index_dir, live)


def test_a_helper_killed_midway_ends_the_build(live_index, monkeypatch):
    corpus, index_dir, live = live_index
    real = SegmentBuilder.add_document

    def killed(self, **fields):
        if _in_a_helper() and fields["id"] == "d00150":
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, **fields)

    monkeypatch.setattr(SegmentBuilder, "add_document", killed)
    with pytest.raises(errors.IndexWriteError, match="exit code -9"):
        reindex(corpus, index_dir, full=True, procs=2)
    assert_live_untouched(index_dir, live)


def test_documents_lost_on_the_way_are_never_published(live_index, monkeypatch):
    corpus, index_dir, live = live_index
    real = _CheckedTask._process_file
    calls = []

    def drops_one_batch(self, filename, doc_count):
        calls.append(filename)
        if len(calls) == 2:  # a helper that "succeeds" without writing a batch
            self.temp.delete_file(filename)
            return None
        return real(self, filename, doc_count)

    monkeypatch.setattr(_CheckedTask, "_process_file", drops_one_batch)
    with pytest.raises(errors.IndexWriteError, match=r"holds \d+ documents where 400"):
        reindex(corpus, index_dir, full=True, procs=2)
    assert_live_untouched(index_dir, live)


def test_the_parent_stops_waiting_for_room_when_every_helper_is_dead(live_index, monkeypatch):
    corpus, index_dir, live = live_index
    write_jsonl(corpus, 2000)  # 20 batches: more than the job queue holds (4 per helper)
    monkeypatch.setattr(_CheckedTask, "_run", lambda self: os._exit(3))
    started = time.monotonic()
    with pytest.raises(errors.IndexWriteError, match="exit code 3"):
        reindex(corpus, index_dir, full=True, procs=2)
    assert time.monotonic() - started < 30
    assert_live_untouched(index_dir, live)


# -- a real full disk ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_full_disk_fails_in_one_line_and_keeps_the_live_index(tmp_path, small_disk, mode):
    disk = small_disk(24)
    corpus = write_jsonl(tmp_path / "corpus", 30)
    index_dir = disk / "index"
    assert reindex(corpus, index_dir, full=True).documents == 30
    live = storage.current(index_dir)
    write_jsonl(corpus, 600, name="more.jsonl", words=30)
    fill_disk(index_dir, leave_kb=300)
    args = ["index", "--corpus", str(corpus), "--index", str(index_dir)]
    done = cli(*args, *(["--full"] if mode == "full" else []))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    error = done.stderr.strip().splitlines()[-1]  # after the progress lines, one line
    assert error.startswith("Error: indexing into"), done.stderr
    assert "No space left on device" in error and "the live index is unchanged" in error
    (index_dir / "ballast").unlink()
    assert_live_untouched(index_dir, live)
    assert check_index(index_dir).problems == []
    assert reindex(corpus, index_dir).documents == 630


@pytest.mark.slow
def test_a_full_disk_in_a_two_process_build_ends_in_bounded_time(tmp_path, small_disk):
    disk = small_disk(24)
    corpus = write_jsonl(tmp_path / "corpus", 30)
    index_dir = disk / "index"
    reindex(corpus, index_dir, full=True)
    live = storage.current(index_dir)
    write_jsonl(corpus, 1500, name="more.jsonl", words=30)
    fill_disk(index_dir, leave_kb=2000)
    started = time.monotonic()
    with pytest.raises(errors.IndexWriteError, match="No space left on device"):
        reindex(corpus, index_dir, full=True, procs=2)
    assert time.monotonic() - started < 90
    (index_dir / "ballast").unlink()
    assert_live_untouched(index_dir, live)
