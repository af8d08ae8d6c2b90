"""Shared fixtures: a small French corpus and an index built from it by the real indexer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from searchsvc.indexer import reindex
from searchsvc.search import SearchEngine

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


@pytest.fixture(scope="session")
def engine(seed_index):
    """A search engine over the session's seed index."""
    eng = SearchEngine(seed_index)
    yield eng
    eng.close()
