"""Tests for searchsvc.ingest.indexer: full and incremental reindexing, generations, readers."""

from __future__ import annotations

import json
import os
import threading
from contextlib import closing

import pytest

import searchsvc.ingest.corpus.files as corpus_files
import searchsvc.ingest.corpus.text as corpus_text
import searchsvc.ingest.indexer as indexer
from searchsvc import errors
from searchsvc.engine.search import SearchEngine
from searchsvc.errors import IndexBusyError, IndexTooNewError, IndexVersionError
from searchsvc.index import storage
from searchsvc.index.schema import VERSION
from searchsvc.index.storage import CURRENT, META
from searchsvc.ingest.indexer import IndexReport, reindex


@pytest.fixture
def index_dir(tmp_path):
    return tmp_path / "index"


@pytest.fixture
def built(tiny_corpus, index_dir):
    """The tiny corpus indexed once (full build); yields (corpus, index_dir)."""
    reindex(tiny_corpus, index_dir, full=True)
    return tiny_corpus, index_dir


@pytest.fixture
def engine_on(built):
    eng = SearchEngine(built[1])
    yield eng
    eng.close()


def counts(report: IndexReport) -> tuple[int, int, int, int, int]:
    return (report.added, report.updated, report.deleted, report.unchanged, len(report.skipped))


def snapshot(directory) -> dict[str, tuple[int, bytes]]:
    """Every file under ``directory`` with its mtime and content."""
    return {
        str(p.relative_to(directory)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def ids(engine, query):
    return {h.id for h in engine.search(query, per_page=100).hits}


# -- full builds -----------------------------------------------------------------------------


def test_full_build_creates_generation_and_current(tiny_corpus, index_dir):
    report = reindex(tiny_corpus, index_dir, full=True)
    assert report.full
    assert counts(report) == (3, 0, 0, 0, 0)
    assert report.documents == 3
    assert report.generation == "g000001"
    assert (index_dir / CURRENT).read_text().strip() == "g000001"
    meta = json.loads((index_dir / "g000001" / META).read_text())
    assert meta["version"] == VERSION
    assert meta["documents"] == 3
    assert meta["built"] and meta["updated"]
    assert not list(index_dir.glob("*.building"))


def test_first_incremental_run_builds_in_full(tiny_corpus, index_dir):
    report = reindex(tiny_corpus, index_dir)
    assert report.full
    assert report.added == 3
    assert storage.current_name(index_dir) == "g000001"


def test_missing_corpus_raises(tmp_path, index_dir):
    with pytest.raises(FileNotFoundError, match="corpus not found"):
        reindex(tmp_path / "absent", index_dir)


def test_report_summary_one_line(tiny_corpus, index_dir):
    summary = reindex(tiny_corpus, index_dir, full=True).summary()
    assert "\n" not in summary
    assert summary.startswith("full reindex: 3 added, 0 updated, 0 deleted, 0 unchanged, 0 skipped")
    assert "3 documents in g000001" in summary


def test_progress_and_skip_callbacks(tiny_corpus, index_dir):
    (tiny_corpus / "vide.txt").write_bytes(b"")
    seen, skipped = [], []
    reindex(tiny_corpus, index_dir, progress=seen.append, on_skip=skipped.append)
    total = sum(p.stat().st_size for p in tiny_corpus.iterdir())
    assert [(p.phase, p.documents) for p in seen] == [
        ("reading", 1),
        ("reading", 2),
        ("reading", 3),
        ("writing", 3),
    ]
    assert all(p.total == total for p in seen) and seen[-1].done == total
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert [s.path for s in skipped] == ["vide.txt"]


# -- incremental runs ------------------------------------------------------------------------


def test_incremental_no_change_writes_nothing(built):
    corpus, index_dir = built
    before = snapshot(index_dir)
    report = reindex(corpus, index_dir)
    assert not report.full
    assert counts(report) == (0, 0, 0, 3, 0)
    assert report.documents == 3
    assert report.generation == "g000001"
    assert snapshot(index_dir) == before


def test_incremental_changed_file_updated(built, engine_on):
    corpus, index_dir = built
    assert ids(engine_on, "zèbre") == {"zebre-titre", "zebre-corps"}
    (corpus / "zebre-corps.txt").write_text("La faune africaine\n\nUn hippopotame au bain.\n")
    report = reindex(corpus, index_dir)
    assert counts(report) == (0, 1, 0, 2, 0)
    assert report.documents == 3
    assert ids(engine_on, "hippopotame") == {"zebre-corps"}
    assert ids(engine_on, "zèbre") == {"zebre-titre"}
    assert [h.id for h in engine_on.search("faune", per_page=100).hits].count("zebre-corps") == 1


def test_incremental_added_file(built, engine_on):
    corpus, index_dir = built
    (corpus / "sub").mkdir()
    (corpus / "sub" / "girafe.md").write_text("# La girafe\n\nUne girafe très haute.\n")
    report = reindex(corpus, index_dir)
    assert counts(report) == (1, 0, 0, 3, 0)
    assert report.documents == 4
    assert engine_on.document("sub/girafe") is not None
    assert "sub/girafe" in ids(engine_on, "girafe")


def test_incremental_deleted_file(built, engine_on):
    corpus, index_dir = built
    assert engine_on.document("securite") is not None
    (corpus / "securite.txt").unlink()
    report = reindex(corpus, index_dir)
    assert counts(report) == (0, 0, 1, 2, 0)
    assert report.documents == 2
    assert engine_on.document("securite") is None
    assert ids(engine_on, "chercheur") == set()
    assert engine_on.stats()["documents"] == 2


def test_the_text_columns_read_in_one_piece_are_whooshs_own(built):
    """The ids, hashes and paths an incremental run compares, read a segment at a time,
    are what Whoosh's column readers give, deletions and several segments included."""
    from whoosh import index as whoosh_index

    from searchsvc.index import storage
    from searchsvc.index.whoosh_internals.reading import text_column

    corpus, index_dir = built
    (corpus / "zebre-corps.txt").write_text("La faune africaine\n\nUn hippopotame au bain.\n")
    (corpus / "securite.txt").unlink()
    reindex(corpus, index_dir)
    ix = whoosh_index.open_dir(storage.current(index_dir).path)
    try:
        with ix.reader() as reader:
            assert len(reader.leaf_readers()) == 2 and reader.has_deletions()
            for fieldname in ("id", "hash", "path"):
                whoosh = reader.column_reader(fieldname)
                expected = {docnum: whoosh[docnum] for docnum in reader.all_doc_ids()}
                assert dict(text_column(reader, fieldname)) == expected
                assert len(expected) == 2
    finally:
        ix.close()


@pytest.mark.parametrize("content", [b"\x00\x01\x02binary\x00", b"", b"   \n\n  "])
def test_incremental_broken_file_keeps_its_document(built, engine_on, content):
    corpus, index_dir = built
    (corpus / "securite.txt").write_bytes(content)
    report = reindex(corpus, index_dir)
    assert counts(report) == (0, 0, 0, 2, 1)
    assert [s.path for s in report.skipped] == ["securite.txt"]
    assert report.documents == 3
    assert engine_on.document("securite") is not None
    assert ids(engine_on, "chercheur") == {"securite"}


def test_incremental_broken_file_fixed_again_is_unchanged(built):
    corpus, index_dir = built
    original = (corpus / "securite.txt").read_bytes()
    (corpus / "securite.txt").write_bytes(b"\x00")
    reindex(corpus, index_dir)
    (corpus / "securite.txt").write_bytes(original)
    assert counts(reindex(corpus, index_dir)) == (0, 0, 0, 3, 0)


def unreadable_folder(monkeypatch, folder):
    """Make os.scandir fail on ``folder`` as it does on a folder without read permission
    (the tests may run as root, whom permissions do not stop)."""
    real_scandir = os.scandir

    def scandir(path="."):
        if os.path.abspath(path) == os.path.abspath(folder):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_incremental_unreadable_folder_keeps_its_documents(built, monkeypatch):
    corpus, index_dir = built
    (corpus / "sub").mkdir()
    (corpus / "sub" / "girafe.txt").write_text("La girafe\n\nUne girafe très haute.\n")
    assert reindex(corpus, index_dir).added == 1
    unreadable_folder(monkeypatch, corpus / "sub")
    report = reindex(corpus, index_dir)
    assert counts(report) == (0, 0, 0, 3, 1)
    assert report.skipped[0].path == "sub"
    with closing(SearchEngine(index_dir)) as eng:
        assert eng.document("sub/girafe") is not None


def test_incremental_unreadable_corpus_keeps_every_document(built, monkeypatch):
    corpus, index_dir = built
    unreadable_folder(monkeypatch, corpus)
    report = reindex(corpus, index_dir)
    assert counts(report) == (0, 0, 0, 0, 1)
    assert report.documents == 3
    with closing(SearchEngine(index_dir)) as eng:
        assert eng.stats()["documents"] == 3


# -- generations and live engines --------------------------------------------------------------


def test_an_incremental_update_is_a_new_generation_linked_to_the_live_one(built, engine_on):
    corpus, index_dir = built
    assert ids(engine_on, "hippopotame") == set()
    live = storage.current(index_dir)
    (corpus / "hippo.txt").write_text("Hippopotames\n\nUn hippopotame dans le fleuve.\n")
    report = reindex(corpus, index_dir)
    assert report.generation == "g000002" == storage.current_name(index_dir)
    assert ids(engine_on, "hippopotame") == {"hippo"}
    assert engine_on.stats()["generation"] == "g000002"
    # The live generation was never written to; the new one shares its unchanged files.
    assert storage.current(index_dir).meta["files"].keys() != live.meta["files"].keys()
    assert storage.Verifier().problems(live) == []
    shared = live.meta["files"].keys() & storage.current(index_dir).meta["files"].keys()
    assert shared
    for name in shared:
        assert (live.path / name).stat().st_ino == (index_dir / "g000002" / name).stat().st_ino


def test_an_incremental_run_that_changes_nothing_writes_nothing(built):
    corpus, index_dir = built
    before = sorted(p.name for p in index_dir.iterdir())
    report = reindex(corpus, index_dir)
    assert report.generation == "g000001" and report.unchanged == 3
    assert sorted(p.name for p in index_dir.iterdir()) == before


def test_engine_sees_update_then_delete_without_stale_documents(built, engine_on):
    corpus, index_dir = built
    ids(engine_on, "faune")  # open the searcher before the commits
    (corpus / "zebre-titre.txt").write_text("Le zèbre\n\nUn hippopotame dans la savane.\n")
    reindex(corpus, index_dir)
    assert [h.id for h in engine_on.search("zèbre", per_page=100).hits].count("zebre-titre") == 1
    assert ids(engine_on, "faune") == {"zebre-corps"}
    (corpus / "zebre-corps.txt").unlink()
    reindex(corpus, index_dir)
    assert ids(engine_on, "faune") == set()
    assert ids(engine_on, "zèbre") == {"zebre-titre"}
    fresh = SearchEngine(index_dir)
    try:
        for query in ("zèbre", "faune", "hippopotame", "girafes", "chercheur"):
            assert ids(engine_on, query) == ids(fresh, query)
    finally:
        fresh.close()


def test_full_rebuild_switches_generation_for_open_engine(built, engine_on):
    corpus, index_dir = built
    assert ids(engine_on, "chercheur") == {"securite"}
    assert engine_on.stats()["generation"] == "g000001"
    (corpus / "securite.txt").unlink()
    (corpus / "hippo.txt").write_text("Hippopotames\n\nUn hippopotame dans le fleuve.\n")
    report = reindex(corpus, index_dir, full=True)
    assert report.generation == "g000002"
    # Issue 23: a full build counts as deleted what the live index held and it does not.
    assert counts(report) == (3, 0, 1, 0, 0)
    assert storage.current_name(index_dir) == "g000002"
    assert ids(engine_on, "hippopotame") == {"hippo"}
    assert ids(engine_on, "chercheur") == set()
    assert engine_on.stats()["generation"] == "g000002"


def test_full_rebuild_live_index_unchanged_until_switch(built, engine_on, monkeypatch):
    corpus, index_dir = built
    real_read_corpus = indexer.read_corpus
    during = []

    def watching_read_corpus(root, **kwargs):
        yield from real_read_corpus(root, **kwargs)
        # every document is written to the new generation, not yet published
        during.append((storage.current_name(index_dir), ids(engine_on, "chercheur")))

    monkeypatch.setattr(indexer, "read_corpus", watching_read_corpus)
    (corpus / "securite.txt").unlink()
    reindex(corpus, index_dir, full=True)
    assert during == [("g000001", {"securite"})]
    assert ids(engine_on, "chercheur") == set()


def test_full_rebuild_leaves_open_searcher_working(built, engine_on):
    corpus, index_dir = built
    with engine_on.searcher() as searcher:
        (corpus / "securite.txt").unlink()
        reindex(corpus, index_dir, full=True)
        # the old generation is kept for searchers opened before the switch
        assert (index_dir / "g000001").is_dir()
        assert searcher.doc_count() == 3
        assert searcher.document(id="securite") is not None
    assert engine_on.stats()["documents"] == 2


def test_full_rebuild_visible_to_engine_in_another_thread(built, engine_on):
    corpus, index_dir = built
    ids(engine_on, "zèbre")
    (corpus / "hippo.txt").write_text("Hippopotames\n\nUn hippopotame dans le fleuve.\n")
    reindex(corpus, index_dir, full=True)
    found = []
    thread = threading.Thread(target=lambda: found.append(ids(engine_on, "hippopotame")))
    thread.start()
    thread.join()
    assert found == [{"hippo"}]
    assert ids(engine_on, "hippopotame") == {"hippo"}


def test_old_generations_garbage_collected(built):
    corpus, index_dir = built
    for _ in range(4):
        reindex(corpus, index_dir, full=True)
    assert storage.list_generations(index_dir) == ["g000004", "g000005"]
    assert storage.current_name(index_dir) == "g000005"
    reindex(corpus, index_dir)  # incremental runs collect too, and keep the same two
    assert storage.list_generations(index_dir) == ["g000004", "g000005"]


def test_interrupted_full_build_leaves_live_index_intact(built, monkeypatch):
    corpus, index_dir = built
    real_read_corpus = indexer.read_corpus

    def failing_read_corpus(root, **kwargs):
        for n, doc in enumerate(real_read_corpus(root, **kwargs)):
            if n == 2:
                raise OSError("disk vanished midway")
            yield doc

    monkeypatch.setattr(indexer, "read_corpus", failing_read_corpus)
    (corpus / "hippo.txt").write_text("Hippopotames\n\nUn hippopotame dans le fleuve.\n")
    with pytest.raises(errors.IndexWriteError, match="disk vanished"):
        reindex(corpus, index_dir, full=True)
    assert storage.current_name(index_dir) == "g000001"
    with closing(SearchEngine(index_dir)) as eng:
        assert eng.stats()["documents"] == 3
        assert ids(eng, "hippopotame") == set()
        assert ids(eng, "zèbre") == {"zebre-titre", "zebre-corps"}

    monkeypatch.setattr(indexer, "read_corpus", real_read_corpus)
    report = reindex(corpus, index_dir, full=True)
    assert report.documents == 4
    assert not list(index_dir.glob("*.building"))


def test_crashed_build_leftover_removed_by_next_run(built):
    corpus, index_dir = built
    leftover = index_dir / "g000007.building"
    leftover.mkdir()
    (leftover / "_MAIN_1.toc").write_bytes(b"half written")
    report = reindex(corpus, index_dir)
    assert not leftover.exists()
    assert report.generation == "g000001"
    assert reindex(corpus, index_dir, full=True).generation == "g000002"


def test_write_lock_held_makes_no_wait_reindex_busy(built):
    corpus, index_dir = built
    with storage.write_lock(index_dir):
        with pytest.raises(IndexBusyError):
            reindex(corpus, index_dir, wait=False)
        with pytest.raises(IndexBusyError):
            reindex(corpus, index_dir, full=True, wait=False)
    assert reindex(corpus, index_dir, wait=False).unchanged == 3


def set_version(index_dir, version):
    meta_path = index_dir / storage.current_name(index_dir) / META
    meta = json.loads(meta_path.read_text())
    meta["version"] = version
    meta_path.write_text(json.dumps(meta))


@pytest.mark.parametrize("full", [True, False])
def test_other_version_index_refused_until_rebuilt(built, full):
    corpus, index_dir = built
    set_version(index_dir, "0.0")
    with pytest.raises(IndexVersionError, match="--full"), closing(SearchEngine(index_dir)) as eng:
        eng.search("zèbre")
    # Even an incremental run rebuilds it whole: its terms may not be this version's.
    report = reindex(corpus, index_dir, full=full)
    assert (report.full, report.added, report.generation) == (True, 3, "g000002")
    with closing(SearchEngine(index_dir)) as eng:
        assert ids(eng, "zèbre") == {"zebre-titre", "zebre-corps"}


def newer_version() -> str:
    fmt, analyzer = VERSION.split(".")
    return f"{int(fmt) + 1}.{analyzer}"


# Issue 16: an index a newer searchsvc wrote is refused, never rebuilt: a rebuild would throw
# away the newer version's index (its generation is garbage after the next run).
@pytest.mark.parametrize("full", [True, False])
def test_newer_version_index_is_refused_and_left_untouched(built, full):
    corpus, index_dir = built
    reindex(corpus, index_dir, full=True)  # g000002 live, g000001 kept for late readers
    set_version(index_dir, newer_version())
    (index_dir / "g000003").mkdir()  # what a newer version may have left beside it
    (corpus / "nouveau.txt").write_text("Nouveau\n\nUn document de plus.\n", encoding="utf-8")
    before = snapshot(index_dir)
    with pytest.raises(IndexTooNewError, match="upgrade searchsvc") as info:
        reindex(corpus, index_dir, full=full)
    assert "reindex" not in str(info.value)
    after = snapshot(index_dir)
    after.pop(storage.LOCK, None)  # the write lock's file, which the refusal held
    before.pop(storage.LOCK, None)
    assert after == before
    assert (index_dir / "g000003").is_dir() and storage.current_name(index_dir) == "g000002"
    with pytest.raises(IndexTooNewError), closing(SearchEngine(index_dir)) as eng:
        eng.search("zèbre")


def test_full_build_in_several_processes_finds_the_same(seed_corpus, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    reindex(seed_corpus, one, full=True, procs=1)
    report = reindex(seed_corpus, two, full=True, procs=2)
    assert report.documents == 5
    for query in ["delanoe", "micro-blogging", '"bertrand delanoë"', "prési*", "elysee"]:
        with closing(SearchEngine(one)) as a, closing(SearchEngine(two)) as b:
            assert {h.id for h in a.search(query).hits} == {h.id for h in b.search(query).hits}
    assert reindex(seed_corpus, two).unchanged == 5


# -- issue 13: an incremental run reads only what changed ----------------------------------------


def test_an_incremental_run_parses_only_the_sources_that_changed(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = [
        json.dumps({"id": f"d{i}", "title": f"T{i}", "body": f"Corps {i}."}) for i in range(50)
    ]
    (corpus / "lot.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (corpus / "page.html").write_text("<title>Page</title><p>Une page.</p>", encoding="utf-8")
    index_dir = tmp_path / "index"
    reindex(corpus, index_dir, full=True)

    parsed = []
    real_jsonl, real_html = corpus_files._jsonl_document, corpus_text.parse_html
    monkeypatch.setattr(
        corpus_files,
        "_jsonl_document",
        lambda obj, *a: parsed.append(obj["id"]) or real_jsonl(obj, *a),
    )
    monkeypatch.setattr(
        corpus_text, "parse_html", lambda text: parsed.append("page") or real_html(text)
    )
    lines[7] = json.dumps({"id": "d7", "title": "T", "body": "Corps changé."})
    (corpus / "lot.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = reindex(corpus, index_dir)
    assert counts(report) == (0, 1, 0, 50, 0)
    assert parsed == ["d7"]
    with closing(SearchEngine(index_dir)) as eng:
        assert ids(eng, "changé") == {"d7"}
        assert eng.document("d8").body == "Corps 8."

    # A line moved to another file is read again (its path is part of what is indexed).
    parsed.clear()
    (corpus / "autre.jsonl").write_text(lines[3] + "\n", encoding="utf-8")
    (corpus / "lot.jsonl").write_text("\n".join(lines[:3] + lines[4:]) + "\n", encoding="utf-8")
    report = reindex(corpus, index_dir)
    assert parsed == ["d3"] and counts(report) == (0, 1, 0, 50, 0)
    with closing(SearchEngine(index_dir)) as eng:
        assert eng.document("d3").path == "autre.jsonl"
