"""Issue 24 (start-up): a served worker is ready once its warm-up requests have run, its
titles are analysed and the spelling vocabularies cached beside the index are read; those no
cache holds are built after, in a thread that takes the searcher a slice at a time, searches
first. Searches made meanwhile answer as they would after it, and a damaged index still
answers 503 ``index_damaged`` before any result is read from it.
"""

from __future__ import annotations

import gc
import logging
import threading
from contextlib import closing
from pathlib import Path

import pytest

from searchsvc import settings
from searchsvc.engine.search import SearchEngine
from searchsvc.index import caches, storage
from searchsvc.query import spelling
from searchsvc.web import create_app, security, serve

MISSPELT = ("twiter", "Dorsay", "presdient", "telvision", "Merkle", "dorsye jack")


@pytest.fixture
def built(fresh_seed_index) -> Path:
    return fresh_seed_index


def answers(engine: SearchEngine) -> list:
    found = []
    for q in MISSPELT:
        r = engine.search(q)
        found.append((r.suggestion, r.approximate, r.total, [h.id for h in r.hits]))
    return found


def test_the_warm_ups_prepare_every_vocabulary_and_the_titles(built):
    with closing(SearchEngine(built)) as engine:
        assert engine.warm_up() == 5
        with engine.searcher() as s:
            segments = len(s.reader().leaf_readers())
            assert len(spelling.missing(s.reader())) == 2 * segments  # nothing cached yet
        assert engine.warm_up_spelling() == 2 * segments
        with engine.searcher() as s:
            assert spelling.missing(s.reader()) == []
        cached = {p.name.split(".")[1] for p in (built / spelling.CACHE_DIR).iterdir()}
        assert cached == {"body", "title"}
    spelling._vocabularies.clear()  # the next worker reads them at once
    with closing(SearchEngine(built)) as engine:
        engine.warm_up()
        assert engine.warm_up_spelling() == 0


def test_searches_during_the_warm_up_answer_as_after_it(built, monkeypatch):
    with closing(SearchEngine(built)) as engine:
        expected = answers(engine)
    spelling._vocabularies.clear()
    for path in (built / spelling.CACHE_DIR).iterdir():
        path.unlink()  # a new generation's first worker: nothing cached
    monkeypatch.setattr(spelling, "WALK_STEP", 3)  # many slices, searches between them
    with closing(SearchEngine(built)) as engine:
        warm = threading.Thread(target=engine.warm_up_spelling)
        warm.start()
        during = [answers(engine) for _ in range(3)]
        warm.join(timeout=60)
        assert not warm.is_alive()
        assert during == [expected] * 3
        assert answers(engine) == expected


def test_a_damaged_index_answers_503_with_the_warm_up_in_a_thread(built, caplog):
    live = storage.current(built)
    victim = max((live.path / n for n in live.meta["files"]), key=lambda p: p.stat().st_size)
    (live.path / storage.VERIFIED).unlink()  # nothing vouched for: the worker hashes
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    app = create_app({"INDEX_DIR": str(built), "TESTING": True})
    try:
        done = security.warm_up_index(app, background=True)
        assert {s for p, s in done.statuses.items() if p.startswith("/api/search")} == {503}
        for url in ("/api/search?q=twiter", "/api/search?q=z%C3%A8bre", "/healthz"):
            response = app.test_client().get(url)
            assert response.status_code == 503, url
            assert response.get_json()["error"]["code"] == "index_damaged"
    finally:
        app.extensions["searchsvc.engine"].close()
    assert not (built / spelling.CACHE_DIR).exists()  # nothing read from the damaged index


def test_the_warm_up_thread_lets_a_worker_serve_at_once(built):
    """``warm_up_index`` returns once its requests ran; the thread's slices let searches go
    first and it ends on its own (its log line says so)."""
    app = create_app({"INDEX_DIR": str(built), "TESTING": True})
    finished = threading.Event()
    real = security._warm_up_spelling

    def spy(application):
        real(application)
        finished.set()

    try:
        security._warm_up_spelling = spy
        done = security.warm_up_index(app, background=True)
        assert set(done.statuses.values()) == {200}
        response = app.test_client().get("/api/search?q=twiter")
        assert response.status_code == 200
        assert response.get_json()["suggestion"] == "twitter"
        assert finished.wait(60)
    finally:
        security._warm_up_spelling = real
        app.extensions["searchsvc.engine"].close()


def test_a_served_worker_leaves_its_warm_up_to_the_collector_and_collects_fully_less_often(
    built,
):
    # What the warm-up read is frozen out of the cycle collector's walks, and a full
    # collection waits for WORKER_FULL_COLLECTION_EVERY younger ones: a full walk of the
    # caches stalls the worker for tenths of a second (bench/RESULTS.md,
    # "The search path's CPU and the collector's pauses").
    app = create_app({"INDEX_DIR": str(built), "TESTING": True})
    worker = type("Worker", (), {"wsgi": app, "log": logging.getLogger("test")})()
    thresholds = gc.get_threshold()
    try:
        serve.post_worker_init(worker)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[2] == settings.WORKER_FULL_COLLECTION_EVERY
        assert gc.get_threshold()[:2] == thresholds[:2]
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        app.extensions["searchsvc.engine"].close()


def test_the_warm_up_ranks_the_ids_a_first_search_with_equal_scores_would_wait_for(built):
    # Equal scores are ordered by id (columns.id_ranks): made once per reader from every
    # segment's id column, which a worker's first phrase of common words paid (~40 ms at
    # 30,000 documents) before the warm-up made it.
    engine = SearchEngine(built)
    try:
        engine.warm_up()
        with engine.searcher() as s:
            caches.per_reader(s.reader(), caches.Key.ID_RANKS, lambda: pytest.fail("not made"))
    finally:
        engine.close()
