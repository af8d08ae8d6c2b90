"""Load shedding: past its in-flight and queue limits a worker answers 503 ``overloaded`` at
once, keeps answering the health check, and recovers by itself when the load goes.

Measured against a real gunicorn at twice its sustainable rate by ``bench/overload.py``.
"""

from __future__ import annotations

import threading
import time

import pytest

from searchsvc import settings
from searchsvc.web import get_engine, security, serve
from searchsvc.web.security import CONTENT_SECURITY_POLICY


class Gate:
    """Makes the app's searches wait until opened, counting how many are waiting."""

    def __init__(self, app):
        with app.app_context():
            self.engine = get_engine()
        self.real_search = self.engine.search
        self.opened = threading.Event()
        self.entered = threading.Semaphore(0)

    def search(self, *args, **kwargs):
        self.entered.release()
        assert self.opened.wait(timeout=30)
        return self.real_search(*args, **kwargs)

    def __enter__(self):
        self.engine.search = self.search
        return self

    def __exit__(self, *exc):
        self.opened.set()
        del self.engine.search


def in_thread(app, path: str, results: list) -> threading.Thread:
    """GET ``path`` in a thread, appending (status, json or None, seconds) to ``results``."""

    def run():
        started = time.monotonic()
        with app.test_client().get(path) as r:
            results.append((r.status_code, r.get_json(silent=True), time.monotonic() - started))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def limited(make_app, seed_index):
    """An app allowing one search at a time and no queue."""
    return make_app(INDEX_DIR=str(seed_index), MAX_IN_FLIGHT=1, MAX_QUEUED=0)


def test_beyond_the_limit_requests_are_shed_with_503_and_retry_after(limited):
    client = limited.test_client()
    with Gate(limited) as gate:
        results: list = []
        busy = in_thread(limited, "/api/search?q=delanoe", results)
        assert gate.entered.acquire(timeout=10)

        r = client.get("/api/search?q=twitter")
        assert r.status_code == 503
        assert r.get_json()["error"]["code"] == "overloaded"
        assert "retry" in r.get_json()["error"]["message"]
        assert r.headers["Retry-After"] == str(settings.RETRY_AFTER_S)
        assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        for path in ("/api/suggest?q=del", "/api/documents/x", "/?q=twitter", "/doc/x"):
            assert client.get(path).status_code == 503, path
        page = client.get("/?q=twitter").get_data(as_text=True)
        assert "très sollicité" in page and "Traceback" not in page

        # The health check, static files and the API description are never held back.
        for path, status in [("/healthz", 200), ("/static/style.css", 200),
                             ("/api/openapi.json", 200), ("/nope", 404)]:  # fmt: skip
            with client.get(path) as r:
                assert r.status_code == status, path

        gate.opened.set()
        busy.join(timeout=10)
    assert results[0][0] == 200
    assert client.get("/api/search?q=twitter").status_code == 200  # recovered


def test_a_bounded_queue_waits_for_a_turn(make_app, seed_index):
    app = make_app(INDEX_DIR=str(seed_index), MAX_IN_FLIGHT=1, MAX_QUEUED=1, QUEUE_WAIT_S=10)
    with Gate(app) as gate:
        results: list = []
        first = in_thread(app, "/api/search?q=delanoe", results)
        assert gate.entered.acquire(timeout=10)
        queued = in_thread(app, "/api/search?q=twitter", results)
        time.sleep(0.3)  # let it join the queue
        shed = app.test_client().get("/api/search?q=paris")
        assert shed.status_code == 503  # one running, one queued: the third is shed at once
        gate.opened.set()
        first.join(timeout=10)
        queued.join(timeout=10)
    assert sorted(status for status, _, _ in results) == [200, 200]


def test_a_queued_request_waits_no_longer_than_the_limit(make_app, seed_index):
    app = make_app(INDEX_DIR=str(seed_index), MAX_IN_FLIGHT=1, MAX_QUEUED=4, QUEUE_WAIT_S=0.3)
    with Gate(app) as gate:
        results: list = []
        busy = in_thread(app, "/api/search?q=delanoe", results)
        assert gate.entered.acquire(timeout=10)
        started = time.monotonic()
        r = app.test_client().get("/api/search?q=twitter")
        waited = time.monotonic() - started
        assert r.status_code == 503 and r.get_json()["error"]["code"] == "overloaded"
        assert 0.3 <= waited < 5
        gate.opened.set()
        busy.join(timeout=10)


def test_slots_are_given_back_after_errors(limited, monkeypatch):
    client = limited.test_client()
    for path in ("/api/search?q=x&page=0", "/api/search?q=" + "a" * 1001, "/api/documents/nope"):
        assert 400 <= client.get(path).status_code < 500
    with limited.app_context():
        engine = get_engine()
    monkeypatch.setattr(engine, "search", lambda *a, **k: 1 / 0)
    assert client.get("/api/search?q=delanoe").status_code == 500
    monkeypatch.undo()
    for _ in range(3):  # one slot only: any slot kept by an error would shed these
        assert client.get("/api/search?q=delanoe").status_code == 200


def test_shedding_can_be_turned_off(make_app, seed_index):
    app = make_app(INDEX_DIR=str(seed_index), MAX_IN_FLIGHT=0)
    assert "searchsvc.limiter" not in app.extensions
    with Gate(app) as gate:
        results: list = []
        threads = [in_thread(app, "/api/search?q=delanoe", results) for _ in range(3)]
        for _ in threads:
            assert gate.entered.acquire(timeout=10)  # all three run at once
        gate.opened.set()
        for t in threads:
            t.join(timeout=10)
    assert [status for status, _, _ in results] == [200, 200, 200]


def test_gunicorn_has_spare_threads_beyond_the_limits():
    assert serve.THREADS > settings.MAX_IN_FLIGHT + settings.MAX_QUEUED
    assert serve.options("127.0.0.1", 8000, 2)["threads"] == serve.THREADS
    assert 0 < settings.QUEUE_WAIT_S < serve.TIMEOUT_S


def test_the_limiter_counts_exactly():
    limiter = security.InFlightLimiter(limit=2, queue=1, wait=0.05)
    assert limiter.acquire() and limiter.acquire()
    assert not limiter.acquire()  # waits 0.05 s in the queue, then gives up
    limiter.release()
    assert limiter.acquire()
    for _ in range(2):
        limiter.release()
    with pytest.raises(ValueError):
        limiter.release()  # released more than taken: a bug, never silent
