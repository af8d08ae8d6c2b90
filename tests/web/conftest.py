"""Fixtures for the web tests: the app over the session's seed index, servers, a browser."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from searchsvc.ingest.indexer import reindex
from searchsvc.testing import Server, app_in_thread, start_server
from searchsvc.web import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def close_app(app) -> None:
    """Close the search engine an app opened (this thread's searcher and the index)."""
    engine = app.extensions.get("searchsvc.engine")
    if engine is not None:
        engine.close()


@pytest.fixture(scope="session")
def app(seed_index):
    """The app over the seed index (read-only: tests must not change its config)."""
    application = create_app({"INDEX_DIR": str(seed_index), "TESTING": True})
    yield application
    close_app(application)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_app() -> Iterator[Callable[..., object]]:
    """Build apps with their own config; their engines are closed afterwards."""
    made = []

    def build(**config):
        application = create_app({"TESTING": True, **config})
        made.append(application)
        return application

    yield build
    for application in made:
        close_app(application)


@pytest.fixture
def own_corpus(seed_corpus, tmp_path) -> Path:
    """A writable copy of the seed corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(seed_corpus, target)
    return target


@pytest.fixture
def own_index(own_corpus, tmp_path) -> Path:
    """A writable index of :func:`own_corpus`."""
    index_dir = tmp_path / "index"
    reindex(own_corpus, index_dir, full=True)
    return index_dir


# -- servers -------------------------------------------------------------------------------


@pytest.fixture
def gunicorn_server(tmp_path) -> Iterator[Callable[..., str]]:
    """Start ``searchsvc serve`` (gunicorn) on a free loopback port; returns its base URL."""
    started: list[Server] = []

    def start(index_dir: Path, workers: int = 1) -> str:
        log = tmp_path / "serve-{port}.log"
        started.append(start_server(index_dir, log, workers=workers, timeout=30))
        return started[-1].url

    yield start
    for server in started:
        server.stop(timeout=15)


@pytest.fixture(scope="session")
def live_app(seed_index):
    """An app for the browser tests: two hits a page so that paging shows on five articles."""
    application = create_app({"INDEX_DIR": str(seed_index), "PAGE_SIZE": 2})
    yield application
    close_app(application)


@pytest.fixture(scope="session")
def live_url(live_app) -> Iterator[str]:
    """The browser tests' app served over HTTP by a threaded server in this process."""
    with app_in_thread(live_app) as url:
        yield url


# -- the browser ---------------------------------------------------------------------------


def _unavailable(reason: str) -> None:
    """Skip on a developer's machine; in CI a missing browser is a failure, never a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so the browser tests must run (see `make browser`)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
