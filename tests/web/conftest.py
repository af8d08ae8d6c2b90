"""Fixtures for the web tests: the app over the session's seed index, servers, a browser."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from searchsvc.ingest.indexer import reindex
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


def free_port() -> int:
    """A TCP port that was free on the loopback interface a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(url: str, proc: subprocess.Popen | None = None, timeout: float = 30.0):
    """Poll ``url``/healthz until it answers 200; fail with the reason otherwise."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the server exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    pytest.fail(f"{url} did not become healthy in {timeout:.0f} s ({last})")


def searchsvc_command() -> list[str]:
    """How to run the installed ``searchsvc`` command from this interpreter."""
    script = Path(sys.executable).with_name("searchsvc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "searchsvc.cli"]


@pytest.fixture
def gunicorn_server(tmp_path) -> Iterator[Callable[..., str]]:
    """Start ``searchsvc serve`` (gunicorn) on a free loopback port; returns its base URL."""
    started: list[subprocess.Popen] = []

    def start(index_dir: Path, workers: int = 1) -> str:
        port = free_port()
        log = open(tmp_path / f"serve-{port}.log", "wb")  # noqa: SIM115 - closed below
        cmd = [*searchsvc_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--workers", str(workers), "--index", str(index_dir)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        proc.log = log  # type: ignore[attr-defined]
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, proc)
        return url

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.log.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def live_app(seed_index):
    """An app for the browser tests: two hits a page so that paging shows on five articles."""
    application = create_app({"INDEX_DIR": str(seed_index), "PAGE_SIZE": 2})
    yield application
    close_app(application)


@pytest.fixture(scope="session")
def live_url(live_app) -> Iterator[str]:
    """The browser tests' app served over HTTP by a threaded server in this process."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    wait_until_healthy(url)
    yield url
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


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
