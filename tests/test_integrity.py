"""Issue 11: a damaged index is detected, reported as such, and healed by the next reindex.

Every generation records its files' SHA-256. Damage (a truncated posting file, garbage in a
term file, a damaged pointer or metadata) is found when a reader opens the index, while it
serves, by ``searchsvc check`` and by ``searchsvc index``, which rebuilds it in full. The
search answers 503 ``index_damaged``, never 500 and never a wrong page; the CLI says it in
one line.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from contextlib import closing
from pathlib import Path

import pytest

from searchsvc import errors
from searchsvc.engine.search import SearchEngine
from searchsvc.index import storage
from searchsvc.index.codec import POSTINGS_EXT
from searchsvc.ingest.indexer import check_index, reindex
from searchsvc.testing import cli
from searchsvc.web import create_app


@pytest.fixture
def built(tiny_corpus, tmp_path) -> tuple[Path, Path]:
    index_dir = tmp_path / "index"
    reindex(tiny_corpus, index_dir, full=True)
    return tiny_corpus, index_dir


def segment_file(index_dir: Path, ext: str) -> Path:
    live = storage.current(index_dir)
    (name,) = [n for n in live.meta["files"] if n.endswith(ext)]
    return live.path / name


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def scribble(path: Path) -> None:
    """Overwrite the file's first bytes in place (same size: only the SHA-256 tells)."""
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.write(os.urandom(min(size, 1 << 20)))


DAMAGE = {
    "truncated .postings": (POSTINGS_EXT, truncate),
    "scribbled .trm": (".trm", scribble),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damage_is_found_by_check_and_by_a_new_reader(built, damage):
    _corpus, index_dir = built
    assert check_index(index_dir).problems == []
    ext, harm = DAMAGE[damage]
    harm(segment_file(index_dir, ext))
    report = check_index(index_dir)
    assert [p.file.endswith(ext) for p in report.problems] == [True]
    assert "DAMAGED" in report.summary()
    with (
        closing(SearchEngine(index_dir)) as engine,
        pytest.raises(errors.IndexDamagedError, match=f"damaged: MAIN_.*{ext}"),
    ):
        engine.search("zèbre")


@pytest.mark.parametrize("damage", DAMAGE)
def test_damage_while_serving_answers_503_index_damaged_everywhere(built, damage):
    _corpus, index_dir = built
    app = create_app({"INDEX_DIR": str(index_dir), "TESTING": True})
    client = app.test_client()
    try:
        assert client.get("/api/search?q=zèbre").status_code == 200
        assert client.get("/healthz").status_code == 200
        ext, harm = DAMAGE[damage]
        harm(segment_file(index_dir, ext))
        # healthz checks the files at every call, whatever the searcher cached.
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.get_json()["error"]["code"] == "index_damaged"
        assert ext in health.get_json()["error"]["message"]
        app.extensions["searchsvc.engine"].verify_every = 0  # no wait for the next check
        for url in (
            "/api/search?q=girafes",
            "/api/documents/zebre-titre",
            "/api/documents/zebre-titre/similar",
            "/api/suggest?q=gir",
        ):
            response = client.get(url)
            assert response.status_code == 503, url
            assert response.get_json()["error"]["code"] == "index_damaged", url
        page = client.get("/?q=girafes")
        assert page.status_code == 503
        assert "endommagé" in page.get_data(as_text=True)
        assert "Traceback" not in page.get_data(as_text=True)
    finally:
        app.extensions["searchsvc.engine"].close()


# What reads each file while searching: the postings file gives a word's documents and the
# positions that phrases and the proximity bonus need.
READERS = [
    (POSTINGS_EXT, ("girafes", "lions", "savanes", "sécurité", "chercheur", "faune")),
    (
        POSTINGS_EXT,
        ('"faune africaine"', '"des girafes"', '"des lions"', '"girafes et"', "lions zèbre"),
    ),
]


def test_a_damaged_term_file_is_reported_as_damage(built):
    """The term file, where a search finds each word's postings: damage there is found as in
    the others."""
    _corpus, index_dir = built
    with closing(SearchEngine(index_dir, verify_every=3600)) as engine:
        assert engine.search('"faune africaine"').total >= 1
        truncate(segment_file(index_dir, ".trm"))
        with pytest.raises(errors.IndexDamagedError, match=re.escape(".trm")):
            for text in ('"faune africaine"', '"des girafes"', "lions zèbre", "savanes"):
                engine.search(text)


@pytest.mark.parametrize(("ext", "queries"), READERS)
def test_a_decode_error_between_two_checks_is_reported_as_damage(built, ext, queries):
    """The files are checked every second; a read that fails in between checks them at once."""
    _corpus, index_dir = built
    with closing(SearchEngine(index_dir, verify_every=3600)) as engine:
        assert engine.search("zèbre").total == 2
        truncate(segment_file(index_dir, ext))
        with pytest.raises(errors.IndexDamagedError, match=re.escape(ext)):
            for text in queries:
                engine.search(text)


@pytest.mark.slow
def test_the_cli_reports_damage_in_one_line_and_index_heals_it(built):
    corpus, index_dir = built
    truncate(segment_file(index_dir, POSTINGS_EXT))

    found = cli("search", "zèbre", "--index", str(index_dir))
    assert found.returncode == 1
    assert "Traceback" not in found.stderr
    assert found.stderr.strip().count("\n") == 0
    assert "is damaged" in found.stderr and POSTINGS_EXT in found.stderr

    checked = cli("check", "--index", str(index_dir))
    assert checked.returncode == 1
    assert "DAMAGED" in checked.stdout and POSTINGS_EXT in checked.stderr

    healed = cli("index", "--corpus", str(corpus), "--index", str(index_dir))
    assert healed.returncode == 0, healed.stderr
    assert "is damaged" in healed.stderr and "rebuilding it in full" in healed.stderr
    assert healed.stdout.startswith("full reindex: 3 added")
    assert cli("check", "--index", str(index_dir)).returncode == 0
    assert "zebre-titre" in cli("search", "zèbre", "--index", str(index_dir)).stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "content", "says"),
    [
        ("CURRENT", b"\x00garbage\xff", "CURRENT is damaged"),
        ("CURRENT", b"g000009\n", "names g000009, which is missing"),
        ("g000001/searchsvc.json", b"{garbage", "searchsvc.json is damaged"),
    ],
)
def test_a_damaged_pointer_or_metadata_says_so_and_index_heals_it(built, target, content, says):
    corpus, index_dir = built
    (index_dir / target).write_bytes(content)
    found = cli("search", "zèbre", "--index", str(index_dir))
    assert found.returncode == 1
    assert says in found.stderr and "Traceback" not in found.stderr
    assert "another version" not in found.stderr and "no index" not in found.stderr
    healed = cli("index", "--corpus", str(corpus), "--index", str(index_dir))
    assert healed.returncode == 0, healed.stderr
    assert says in healed.stderr and "rebuilding it in full" in healed.stderr
    assert cli("check", "--index", str(index_dir)).returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("command", ["index", "search", "check"])
def test_an_index_path_that_is_a_file_gets_one_line(tiny_corpus, tmp_path, command):
    path = tmp_path / "index"
    path.write_text("a file")
    args = {"index": ["--corpus", str(tiny_corpus)], "search": ["zèbre"], "check": []}[command]
    done = cli(command, *args, "--index", str(path))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "is a file, not a folder" in done.stderr


def test_check_finds_a_file_the_manifest_does_not_list(built):
    _corpus, index_dir = built
    (storage.current(index_dir).path / "MAIN_stray.pst").write_bytes(b"x")
    problems = check_index(index_dir).problems
    assert [str(p) for p in problems] == ["MAIN_stray.pst: not part of the index (unlisted file)"]


@pytest.mark.parametrize("verify_every", [0, 3600])
def test_a_damaged_file_copied_again_is_read_afresh_without_a_restart(built, verify_every):
    """Repairing a replica by copying the damaged file again gives it a new inode; the
    workers must stop reading the old one (a restart was needed before)."""
    _corpus, index_dir = built
    pst = segment_file(index_dir, POSTINGS_EXT)
    original = pst.read_bytes()
    with closing(SearchEngine(index_dir, verify_every=verify_every)) as engine:
        assert engine.search("zèbre").total == 2
        truncate(pst)
        with pytest.raises(errors.IndexDamagedError):
            for word in ("girafes", "lions", "savanes", "sécurité", "chercheur", "faune"):
                engine.search(word, per_page=2)
        copy = pst.with_name(pst.name + ".copy")
        copy.write_bytes(original)
        os.replace(copy, pst)  # what rsync or cp --remove-destination does: a new file
        if verify_every:  # the first read may still meet the old file: 503, retry
            with contextlib.suppress(errors.IndexDamagedError):
                engine.search("girafes")
        for word in ("girafes", "lions", "savanes", "sécurité", "chercheur", "faune", "zèbre"):
            assert engine.search(word).total >= 1, word
        assert engine.stats()["generation"] == "g000001"


def test_a_postings_file_of_another_kind_is_a_503_not_a_500(built):
    """A postings file that matches its manifest entry but is not one this code reads (a
    format change without a new index format, say) answers index_damaged, never 500."""
    _corpus, index_dir = built
    live = storage.current(index_dir)
    arrays = segment_file(index_dir, POSTINGS_EXT)
    arrays.write_bytes(b"SSVPACK0" + bytes(arrays.stat().st_size - 8))
    meta = json.loads((live.path / "searchsvc.json").read_text())
    meta["files"][arrays.name] = {
        "size": arrays.stat().st_size,
        "sha256": hashlib.sha256(arrays.read_bytes()).hexdigest(),
    }
    (live.path / "searchsvc.json").write_text(json.dumps(meta))
    damaged = pytest.raises(errors.IndexDamagedError, match=r"cannot be read .*\.postings")
    with closing(SearchEngine(index_dir)) as engine, damaged:
        engine.search("zèbre")
    app = create_app({"INDEX_DIR": str(index_dir), "TESTING": True})
    try:
        found = app.test_client().get("/api/search?q=z%C3%A8bre")
        assert found.status_code == 503
        assert found.get_json()["error"]["code"] == "index_damaged"
    finally:
        app.extensions["searchsvc.engine"].close()
