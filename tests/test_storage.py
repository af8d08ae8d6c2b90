"""Tests for searchsvc.index.storage: generations, the CURRENT pointer, metadata, the lock."""

from __future__ import annotations

import json
import re
import time

import pytest

from searchsvc.errors import (
    IndexBusyError,
    IndexDamagedError,
    IndexPathError,
    IndexStateError,
    IndexTooNewError,
    IndexVersionError,
    NoIndexError,
)
from searchsvc.index import storage
from searchsvc.index.schema import VERSION
from searchsvc.index.storage import CURRENT, META


def make_generation(root, name):
    """An (empty) generation directory with this version's metadata."""
    path = root / name
    path.mkdir(parents=True)
    storage.write_meta(path, documents=0)
    return path


def point_to(root, name):
    (root / CURRENT).write_text(name + "\n", encoding="ascii")


@pytest.mark.parametrize(
    ("number", "name"), [(1, "g000001"), (42, "g000042"), (1_234_567, "g1234567")]
)
def test_generation_name(number, name):
    assert storage.generation_name(number) == name


def test_list_generations_numeric_order_ignoring_others(tmp_path):
    for name in ("g000010", "g000002", "g1000000", "g000003.building", "gfoo", "g12", "x"):
        (tmp_path / name).mkdir()
    (tmp_path / "g000004").write_text("a file, not a generation")
    assert storage.list_generations(tmp_path) == ["g000002", "g000010", "g1000000"]


def test_list_generations_missing_root(tmp_path):
    assert storage.list_generations(tmp_path / "absent") == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"g000003\n", "g000003"),
        (b"  g000003  ", "g000003"),
        (b"../etc", None),
        (b"g3", None),
        (b"", None),
        (b"\xff\xfe", None),
    ],
)
def test_current_name(tmp_path, content, expected):
    (tmp_path / CURRENT).write_bytes(content)
    assert storage.current_name(tmp_path) == expected


def test_current_name_without_pointer(tmp_path):
    assert storage.current_name(tmp_path) is None
    assert storage.current_name(tmp_path / "absent") is None


def test_current_no_index_says_to_run_index(tmp_path):
    with pytest.raises(NoIndexError, match="run `searchsvc index`"):
        storage.current(tmp_path)


def test_current_pointer_to_missing_generation_says_so(tmp_path):
    point_to(tmp_path, "g000007")
    with pytest.raises(IndexDamagedError, match="names g000007, which is missing"):
        storage.current(tmp_path)


def test_current_returns_live_generation(tmp_path):
    make_generation(tmp_path, "g000001")
    make_generation(tmp_path, "g000002")
    point_to(tmp_path, "g000001")
    generation = storage.current(tmp_path)
    assert generation.name == "g000001"
    assert generation.path == tmp_path / "g000001"
    assert generation.meta == {"version": VERSION, "documents": 0, "files": {}}


def older_and_newer_versions() -> tuple[list[object], list[object]]:
    """Versions around this code's ("6.4" is index format 6, analyzer 4)."""
    fmt, analyzer = (int(part) for part in VERSION.split("."))
    older = ["0.0", f"{fmt - 1}.{analyzer + 5}", f"{fmt}.{analyzer - 1}", fmt - 1, "x", None, [6]]
    newer = [f"{fmt + 1}.0", f"{fmt + 1}.{analyzer}", f"{fmt}.{analyzer + 1}", fmt + 1, f"{fmt}.10"]
    return older, newer


@pytest.mark.parametrize("version", older_and_newer_versions()[0] + [VERSION])
def test_is_newer_false_for_this_older_or_unknown_versions(version):
    assert not storage.is_newer(version)


@pytest.mark.parametrize("version", older_and_newer_versions()[1])
def test_is_newer_true_for_a_newer_format_or_analyzer(version):
    assert storage.is_newer(version)


# Issue 16: a newer searchsvc's index is not to be "reindexed" (that would destroy it).
@pytest.mark.parametrize("version", older_and_newer_versions()[1])
def test_current_newer_version_says_upgrade_not_reindex(tmp_path, version):
    path = tmp_path / "g000001"
    path.mkdir()
    (path / META).write_text(json.dumps({"version": version, "files": {}}))
    point_to(tmp_path, "g000001")
    with pytest.raises(IndexTooNewError) as info:
        storage.current(tmp_path)
    message = str(info.value)
    assert "newer version of searchsvc" in message and "upgrade searchsvc" in message
    assert f"index format {version}, this is {VERSION}" in message
    assert "reindex" not in message and "--full" not in message
    assert not isinstance(info.value, IndexVersionError)  # not one a rebuild may replace
    with pytest.raises(IndexTooNewError):
        storage.refuse_newer(tmp_path)


@pytest.mark.parametrize("meta", [{"version": "0.0"}, {"documents": 3}, None])
def test_refuse_newer_leaves_everything_else_to_current(tmp_path, meta):
    if meta is not None:
        path = tmp_path / "g000001"
        path.mkdir()
        (path / META).write_text(json.dumps(meta))
        point_to(tmp_path, "g000001")
    storage.refuse_newer(tmp_path)  # no index, an older one, or damaged metadata: not its say


@pytest.mark.parametrize("meta", [{"version": "0.0"}, {"documents": 3}])
def test_current_other_version_says_reindex_full(tmp_path, meta):
    path = tmp_path / "g000001"
    path.mkdir()
    (path / META).write_text(json.dumps(meta))
    point_to(tmp_path, "g000001")
    with pytest.raises(IndexVersionError, match="--full") as info:
        storage.current(tmp_path)
    assert meta.get("version", "unknown") in str(info.value)
    assert VERSION in str(info.value)


# Issue 11: damaged metadata or pointer say what is really wrong, not "another version" or
# "no index".
@pytest.mark.parametrize(
    ("meta", "says"),
    [
        (None, "searchsvc.json is missing"),
        (b"{garbage", "searchsvc.json is damaged (not valid JSON"),
        (b"\xff\xfe\x00garbage", "searchsvc.json is damaged (not valid UTF-8)"),
        (b"[1, 2]", "searchsvc.json is damaged (not a JSON object)"),
        (json.dumps({"version": VERSION}).encode(), "has no list of files"),
    ],
)
def test_current_damaged_metadata_says_damaged(tmp_path, meta, says):
    path = tmp_path / "g000001"
    path.mkdir()
    if meta is not None:
        (path / META).write_bytes(meta)
    point_to(tmp_path, "g000001")
    with pytest.raises(IndexDamagedError, match=re.escape(says)) as info:
        storage.current(tmp_path)
    assert "run `searchsvc index`" in str(info.value)


@pytest.mark.parametrize("content", [b"\x00\x01garbage", b"g12", b"../etc"])
def test_current_damaged_pointer_says_damaged(tmp_path, content):
    make_generation(tmp_path, "g000001")
    (tmp_path / CURRENT).write_bytes(content)
    with pytest.raises(IndexDamagedError, match="CURRENT is damaged"):
        storage.current(tmp_path)


def test_an_index_path_that_is_a_file_is_refused_in_one_line(tmp_path):
    path = tmp_path / "index"
    path.write_text("not a folder")
    with pytest.raises(IndexPathError, match="is a file, not a folder"):
        storage.current(path)
    with pytest.raises(IndexPathError), storage.write_lock(path):
        pass


@pytest.mark.parametrize("content", ["{not json", "", "[1, 2"])
def test_read_meta_damaged_is_empty(tmp_path, content):
    (tmp_path / META).write_text(content)
    assert storage.read_meta(tmp_path) == {}


def test_read_meta_missing_is_empty(tmp_path):
    assert storage.read_meta(tmp_path) == {}


def test_write_meta_atomic_and_versioned(tmp_path):
    storage.write_meta(tmp_path, documents=3, built="now")
    assert storage.read_meta(tmp_path) == {
        "version": VERSION,
        "documents": 3,
        "built": "now",
        "files": {},
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == [META]


def test_new_generation_numbers_after_existing_and_building(tmp_path):
    (tmp_path / "g000002").mkdir()
    (tmp_path / "g000005.building").mkdir()
    name, tmp = storage.new_generation(tmp_path)
    assert name == "g000006"
    assert tmp == tmp_path / "g000006.building"
    assert tmp.is_dir()


def test_new_generation_creates_root(tmp_path):
    name, tmp = storage.new_generation(tmp_path / "new" / "index")
    assert name == "g000001"
    assert tmp.is_dir()


def test_publish_switches_current(tmp_path):
    make_generation(tmp_path, "g000001")
    point_to(tmp_path, "g000001")
    name, tmp = storage.new_generation(tmp_path)
    storage.write_meta(tmp, documents=1)
    storage.publish(tmp_path, name, tmp)
    assert storage.current_name(tmp_path) == "g000002"
    assert not tmp.exists()
    assert storage.current(tmp_path).meta["documents"] == 1
    assert not (tmp_path / (CURRENT + ".tmp")).exists()


@pytest.mark.parametrize(
    ("keep_old", "left"),
    [
        (0, ["g000004", "g000005"]),
        (1, ["g000003", "g000004", "g000005"]),
        (2, ["g000002", "g000003", "g000004", "g000005"]),
    ],
)
def test_collect_garbage_keeps_live_newer_and_old(tmp_path, keep_old, left):
    for n in range(1, 6):
        make_generation(tmp_path, storage.generation_name(n))
    (tmp_path / "g000009.building").mkdir()
    point_to(tmp_path, "g000004")  # g000005: built, not yet live (or a switch in progress)
    removed = storage.collect_garbage(tmp_path, keep_old=keep_old)
    assert storage.list_generations(tmp_path) == left
    assert not (tmp_path / "g000009.building").exists()
    assert "g000009.building" in removed


def test_collect_garbage_without_live_generation_keeps_all(tmp_path):
    make_generation(tmp_path, "g000001")
    make_generation(tmp_path, "g000002")
    storage.collect_garbage(tmp_path)
    assert storage.list_generations(tmp_path) == ["g000001", "g000002"]


def test_write_lock_excludes_second_writer(tmp_path):
    with storage.write_lock(tmp_path):
        busy = pytest.raises(IndexBusyError, match="another `searchsvc index`")
        with busy, storage.write_lock(tmp_path, wait=False):
            pass
    with storage.write_lock(tmp_path, wait=False):  # released
        pass


def test_write_lock_timeout(tmp_path):
    with storage.write_lock(tmp_path):
        started = time.monotonic()
        with pytest.raises(IndexBusyError), storage.write_lock(tmp_path, timeout=0.2):
            pass
        assert time.monotonic() - started >= 0.2


def test_write_lock_released_on_error(tmp_path):
    with pytest.raises(RuntimeError), storage.write_lock(tmp_path):
        raise RuntimeError("boom")
    with storage.write_lock(tmp_path, wait=False):
        pass


def test_errors_share_a_base():
    for error in (NoIndexError, IndexVersionError, IndexTooNewError, IndexBusyError):
        assert issubclass(error, IndexStateError)
