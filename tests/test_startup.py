"""Issue 24 (one lever): a worker opening a generation hashes only what no verification has
vouched for since, and damage is still found before any result is read.

The rules (``storage.Verifier``): whoever finds a file's SHA-256 matching (the indexer that
wrote it, the first worker, ``searchsvc check``) records, in the generation's
``searchsvc.verified.json``, the ``stat`` the file had then: device, inode, size, modification
and change times. A worker trusts a file whose ``stat`` is that one still and hashes the
others. Writing a file in place moves its modification and change times; setting the
modification time back moves the change time; a replaced file has another inode. The record
names its generation and the digest of its manifest, and is trusted for nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from contextlib import closing
from pathlib import Path

import pytest

from searchsvc import errors
from searchsvc.engine.search import SearchEngine
from searchsvc.index import storage
from searchsvc.ingest.indexer import check_index, reindex
from searchsvc.web import create_app, security


@pytest.fixture
def built(tiny_corpus, tmp_path) -> tuple[Path, Path]:
    index_dir = tmp_path / "index"
    reindex(tiny_corpus, index_dir, full=True)
    return tiny_corpus, index_dir


@pytest.fixture
def hashed(monkeypatch) -> list[str]:
    """The names of the files hashed from now on (a spy on the one hash function)."""
    names: list[str] = []
    real = storage.file_digest

    def spy(path):
        names.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(storage, "file_digest", spy)
    return names


def biggest(index_dir: Path, ext: str = "") -> Path:
    live = storage.current(index_dir)
    return max(
        (live.path / n for n in live.meta["files"] if n.endswith(ext)),
        key=lambda p: p.stat().st_size,
    )


def searched(index_dir: Path, text: str = "zèbre") -> int:
    """Open the index as a fresh worker would and search it."""
    with closing(SearchEngine(index_dir)) as engine:
        return engine.search(text).total


def scribble_keeping_times(path: Path) -> None:
    """Overwrite bytes in place and set the modification time back (``touch -r``): same
    size, same mtime, same inode; only the change time and the SHA-256 tell."""
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(st.st_size // 3)
        fh.write(os.urandom(min(64, st.st_size // 3)))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        st.st_size,
        st.st_mtime_ns,
        st.st_ino,
    )


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def replace_with_other_bytes(path: Path) -> None:
    """A new file in its place (what a bad copy does), same size and times as the old one."""
    copy = path.with_name(path.name + ".copy")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    shutil.copystat(path, copy)
    os.replace(copy, path)


DAMAGE = {
    "scribbled, mtime restored": scribble_keeping_times,
    "truncated": truncate,
    "replaced": replace_with_other_bytes,
}


def test_the_indexer_records_what_it_hashed_and_a_worker_hashes_nothing(built, hashed):
    corpus, index_dir = built
    live = storage.current(index_dir)
    assert set(storage.read_record(live)) == set(live.meta["files"])
    assert searched(index_dir) == 2
    assert hashed == []
    # An incremental update links the live files and hashes only its own; its record covers
    # both, so the next worker hashes nothing either.
    (corpus / "okapi.txt").write_text("Okapis\n\nUn okapi dans la forêt.\n")
    reindex(corpus, index_dir)
    update = storage.current(index_dir)
    assert update.name == "g000002"
    assert set(storage.read_record(update)) == set(update.meta["files"])
    hashed.clear()
    assert searched(index_dir, "okapi") == 1
    assert hashed == []


def test_removing_an_old_generation_does_not_void_the_new_ones_record(built, hashed):
    """Removing a generation unlinks files the live one shares with it, which moves their
    change time; the indexer stamps its record again, so workers still hash nothing."""
    corpus, index_dir = built
    for n, animal in enumerate(("okapi", "tapir")):
        (corpus / f"{animal}.txt").write_text(f"{animal.title()}s\n\nUn {animal} {n}.\n")
        reindex(corpus, index_dir)
    live = storage.current(index_dir)
    assert live.name == "g000003" and not (index_dir / "g000001").exists()
    hashed.clear()
    assert searched(index_dir, "tapir") == 1
    assert hashed == []


def test_the_first_worker_records_and_the_second_hashes_nothing(built, hashed):
    _corpus, index_dir = built
    live = storage.current(index_dir)
    (live.path / storage.VERIFIED).unlink()  # an index built by an older version, or copied
    assert searched(index_dir) == 2
    assert sorted(hashed) == sorted(live.meta["files"])
    assert set(storage.read_record(live)) == set(live.meta["files"])
    hashed.clear()
    assert searched(index_dir) == 2
    assert hashed == []
    # The warm-up of a served worker says it hashed nothing.
    app = create_app({"INDEX_DIR": str(index_dir), "TESTING": True})
    try:
        done = security.warm_up_index(app)
        assert done.hashed_bytes == 0 and hashed == []
        assert "0 MB of index hashed" in done.summary()
    finally:
        app.extensions["searchsvc.engine"].close()


def test_workers_opening_together_hash_the_files_once(built, hashed):
    _corpus, index_dir = built
    live = storage.current(index_dir)
    (live.path / storage.VERIFIED).unlink()
    start = threading.Barrier(3)
    problems: list[list] = []

    def open_it() -> None:  # each with its own verifier, as two worker processes
        start.wait()
        problems.append(storage.Verifier().problems(storage.current(index_dir)))

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert problems == [[], [], []]
    assert sorted(hashed) == sorted(live.meta["files"])  # each file once, by one of them


@pytest.mark.parametrize("damage", DAMAGE)
def test_damage_to_a_recorded_file_answers_503_before_any_result(built, damage, hashed):
    _corpus, index_dir = built
    assert searched(index_dir) == 2  # recorded and served
    victim = biggest(index_dir)
    DAMAGE[damage](victim)
    with (
        closing(SearchEngine(index_dir)) as engine,
        pytest.raises(errors.IndexDamagedError, match=victim.name),
    ):
        engine.search("zèbre")
    app = create_app({"INDEX_DIR": str(index_dir), "TESTING": True})
    try:
        for url in ("/api/search?q=z%C3%A8bre", "/healthz"):
            response = app.test_client().get(url)
            assert response.status_code == 503, url
            assert response.get_json()["error"]["code"] == "index_damaged"
    finally:
        app.extensions["searchsvc.engine"].close()
    assert victim.name not in storage.read_record(storage.current(index_dir))
    assert [p.file for p in check_index(index_dir).problems] == [victim.name]


def test_a_file_copied_again_whole_is_hashed_and_served(built, hashed):
    """A new inode is hashed again, whatever its times: a good copy serves, no false alarm."""
    _corpus, index_dir = built
    victim = biggest(index_dir)
    copy = victim.with_name(victim.name + ".copy")
    shutil.copy2(victim, copy)
    os.replace(copy, victim)
    assert searched(index_dir) == 2
    assert hashed == [victim.name]
    hashed.clear()
    assert searched(index_dir) == 2
    assert hashed == []


def test_a_record_is_trusted_for_its_own_generation_only(built, hashed):
    corpus, index_dir = built
    first = storage.current(index_dir)
    record = json.loads((first.path / storage.VERIFIED).read_text())
    (corpus / "okapi.txt").write_text("Okapis\n\nUn okapi dans la forêt.\n")
    reindex(corpus, index_dir)
    second = storage.current(index_dir)
    # The first generation's record in the second's folder: another name and manifest.
    (second.path / storage.VERIFIED).write_text(json.dumps(record))
    assert storage.read_record(second) == {}
    # Renamed for the second generation, it still holds the first one's manifest.
    (second.path / storage.VERIFIED).write_text(json.dumps({**record, "generation": second.name}))
    assert storage.read_record(second) == {}
    hashed.clear()
    assert searched(index_dir, "okapi") == 1
    assert sorted(hashed) == sorted(second.meta["files"])
    # A manifest written again (another generation's content under this name) voids it too.
    meta = json.loads((second.path / storage.META).read_text())
    meta["files"]["extra"] = {"size": 0, "sha256": "0" * 64}
    assert storage.read_record(storage.Generation(second.name, second.path, meta)) == {}


def test_a_damaged_or_foreign_record_only_costs_hashing(built, hashed):
    _corpus, index_dir = built
    live = storage.current(index_dir)
    for content in ("{not json", "[]", json.dumps({"generation": live.name, "files": []})):
        (live.path / storage.VERIFIED).write_text(content)
        hashed.clear()
        assert searched(index_dir) == 2
        assert sorted(hashed) == sorted(live.meta["files"])


def test_a_read_that_finds_damage_under_a_vouched_stat_drops_the_entry(built, hashed):
    """What the record cannot see (bytes changed under an unchanged ``stat``, as bit rot
    would) is found as before, by a read that fails or by ``searchsvc check``; then the
    record stops vouching for the file, so the next worker hashes it and answers 503."""
    _corpus, index_dir = built
    live = storage.current(index_dir)
    victim = biggest(index_dir, ".trm")
    truncate(victim)
    record = json.loads((live.path / storage.VERIFIED).read_text())
    record["files"][victim.name]["stat"] = storage._observed(victim.stat())
    record["files"][victim.name]["stat"][2] = live.meta["files"][victim.name]["size"]
    (live.path / storage.VERIFIED).write_text(json.dumps(record))
    problems = check_index(index_dir).problems  # hashes everything, record or not
    assert [p.file for p in problems] == [victim.name]
    assert victim.name not in storage.read_record(live)


def test_check_still_hashes_every_file_and_ignores_the_record(built, hashed):
    _corpus, index_dir = built
    live = storage.current(index_dir)
    assert searched(index_dir) == 2
    hashed.clear()
    report = check_index(index_dir)
    assert report.problems == []  # the record and its lock are not "unlisted files"
    assert sorted(hashed) == sorted(live.meta["files"])
    assert storage.unlisted_files(live) == []


def test_warm_up_reads_ahead_the_files_the_first_searches_need_first(built):
    _corpus, index_dir = built
    files = sorted(storage.current(index_dir).path.iterdir(), key=security._first_needed)
    kinds = [p.name.endswith(security.WARM_UP_FIRST) for p in files]
    assert kinds == sorted(kinds, reverse=True) and kinds[0]
    total = sum(p.stat().st_size for p in files)
    assert security._read_ahead(files, 1 << 30) == total
    assert security._read_ahead(files, 10) == 10
