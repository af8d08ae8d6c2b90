"""Shared fixtures: a small French corpus and an index built from it by the real indexer."""

from __future__ import annotations

import shutil
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from searchsvc.engine.search import SearchEngine
from searchsvc.ingest.indexer import reindex
from searchsvc.query import spelling
from searchsvc.testing import build_index, write_files

ROOT = Path(__file__).resolve().parent.parent
SEED_CORPUS = ROOT / "corpus"


@pytest.fixture(scope="session")
def seed_corpus(tmp_path_factory) -> Path:
    """A copy of the project's corpus/ (the five seed articles), never modified by tests."""
    target = tmp_path_factory.mktemp("corpus")
    for f in sorted(SEED_CORPUS.glob("*.txt")):
        shutil.copy(f, target / f.name)
    return target


@pytest.fixture(scope="session")
def seed_index(seed_corpus, tmp_path_factory) -> Path:
    """An index of the seed corpus, built once per test session; treat it as read-only."""
    index_dir = tmp_path_factory.mktemp("index")
    reindex(seed_corpus, index_dir, full=True)
    return index_dir


@pytest.fixture
def fresh_seed_index(seed_corpus, tmp_path) -> Path:
    """An index of the seed corpus of the test's own, no spelling vocabulary of the process
    kept from an earlier test (their cache is emptied before and after)."""
    index_dir = tmp_path / "index"
    reindex(seed_corpus, index_dir, full=True)
    spelling._vocabularies.clear()
    yield index_dir
    spelling._vocabularies.clear()


@pytest.fixture(scope="session")
def engine(seed_index):
    """A search engine over the session's seed index."""
    eng = SearchEngine(seed_index)
    yield eng
    eng.close()


# A tiny French corpus written by tests that need their own index: two documents where
# "zèbre" is in the title of one and only in the body of the other, and one whose body
# carries HTML that snippets must escape.
TINY_CORPUS = {
    "zebre-titre.txt": (
        "Le zèbre des savanes africaines\n\n"
        "Un long article sur la faune africaine, ses lions, ses girafes et ses habitants.\n"
    ),
    "zebre-corps.txt": (
        "La faune africaine\n\n"
        "On croise parfois un zèbre près du point d’eau, avec des lions et des girafes.\n"
    ),
    "securite.txt": (
        "Failles de sécurité\n\n"
        'Une page piégée contenait <script>alert(1)</script> & "quotes" selon le chercheur.\n'
    ),
}


@pytest.fixture
def make_corpus(tmp_path):
    """Return ``make(files, name="corpus")`` writing ``{relative path: text or bytes}`` under
    tmp_path and returning the folder."""

    def make(files: dict[str, str | bytes], name: str = "corpus") -> Path:
        return write_files(tmp_path / name, files)

    return make


@pytest.fixture
def tiny_corpus(make_corpus) -> Path:
    """A fresh, writable copy of TINY_CORPUS (per test)."""
    return make_corpus(TINY_CORPUS)


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory) -> Path:
    """An index of TINY_CORPUS, built once per session; treat it as read-only."""
    return build_index(tmp_path_factory.mktemp("tiny"), TINY_CORPUS)[1]


@pytest.fixture(scope="session")
def tiny_engine(tiny_index):
    """A search engine over the session's tiny index."""
    eng = SearchEngine(tiny_index)
    yield eng
    eng.close()


@pytest.fixture
def hold_searcher():
    """Return ``hold(engine, seconds=10)``: a context in which another thread holds the
    engine's searcher, for ``seconds`` or until the block ends; it yields that thread."""

    @contextmanager
    def hold(engine: SearchEngine, seconds: float = 10.0):
        held, done = threading.Event(), threading.Event()

        def run():
            with engine.searcher():
                held.set()
                done.wait(timeout=seconds)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            assert held.wait(timeout=10), "the searcher could not be taken"
            yield thread
        finally:
            done.set()
            thread.join(timeout=10)

    return hold


@pytest.fixture
def small_disk(tmp_path):
    """Return ``mount(megabytes)``: a tmpfs of that size under tmp_path (root only), for the
    full-disk tests; each is unmounted after the test."""
    mounted = []

    def mount(megabytes: float) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        size = f"{int(megabytes * 1024)}k"
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)
