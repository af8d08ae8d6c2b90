"""The lean request path: JSON through orjson with the output the API always had, security
headers set once per response, a first-come-first-served limiter sized so that only true
overload is shed, and workers warmed up before they take a request."""

from __future__ import annotations

import datetime
import decimal
import json
import re
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from flask.json.provider import DefaultJSONProvider
from markupsafe import Markup

from searchsvc import settings
from searchsvc.engine.results import FacetCount
from searchsvc.web import OrjsonProvider, security, serve
from searchsvc.web.security import CONTENT_SECURITY_POLICY, InFlightLimiter

from .facet_corpus import build_index
from .test_load_shedding import Gate, in_thread

# -- JSON ----------------------------------------------------------------------------------

SAMPLES = [
    {"query": "élection à Paris", "total": 3, "hits": [{"score": 124.2204, "url": None}]},
    {"z": 1, "a": [True, False, None], "é": "l’Élysée «ici» \u202f😀", "e": {}, "l": []},
    [0.5, 13.07, 2.25, -1, 2**62, "<mark>&</mark>"],
    {"facets": {"source": [FacetCount("handbook", 2), FacetCount("man", 1)]}},
    {"when": datetime.datetime(2013, 6, 30, 12, 5, tzinfo=datetime.UTC)},
    {"day": datetime.date(2012, 1, 2), "id": uuid.UUID(int=7), "n": decimal.Decimal("1.50")},
    {"html": Markup("<b>gras</b>"), "tuple": (1, "deux")},
    {"big": 2**70, "keys": {1: "un", None: "rien", False: "faux"}},  # the standard library's
    "texte seul",
    None,
]


def stdlib_provider(app) -> DefaultJSONProvider:
    """What the app answered with before: Flask's own provider, keys in order, UTF-8."""
    provider = DefaultJSONProvider(app)
    provider.sort_keys = False
    provider.ensure_ascii = False
    return provider


@pytest.mark.parametrize("obj", SAMPLES, ids=range(len(SAMPLES)))
def test_json_responses_are_byte_for_byte_those_of_the_standard_library(make_app, obj):
    app = make_app(INDEX_DIR="/nowhere")
    assert isinstance(app.json, OrjsonProvider)
    with app.app_context():
        ours = app.json.response(obj)
        theirs = stdlib_provider(app).response(obj)
    assert ours.get_data() == theirs.get_data()
    assert ours.mimetype == theirs.mimetype == "application/json"
    assert ours.get_data().endswith(b"}\n") or ours.get_data().endswith(b"\n")


def test_json_in_debug_mode_is_indented_as_before(make_app):
    app = make_app(INDEX_DIR="/nowhere", DEBUG=True)
    obj = {"query": "réseau", "hits": [{"id": "a", "score": 1.5}], "facets": {}}
    with app.app_context():
        assert app.json.response(obj).get_data() == stdlib_provider(app).response(obj).get_data()


def test_json_keeps_non_ascii_text_as_utf8(client):
    r = client.get("/api/search?q=delano%C3%AB")
    assert "Delanoë".encode() in r.data and b"\\u00eb" not in r.data
    assert r.data.endswith(b"}\n")


def test_the_api_encodes_with_orjson(client, monkeypatch):
    import searchsvc.web as web

    calls = []
    real = web.orjson.dumps

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(web.orjson, "dumps", counting)
    r = client.get("/api/search?q=twitter")
    assert r.status_code == 200 and r.get_json()["total"] >= 1
    assert len(calls) == 1 and calls[0]["query"] == "twitter"


def test_json_parsing_matches_the_standard_library(make_app):
    app = make_app(INDEX_DIR="/nowhere")
    for text in ['{"a": [1, 2.5, "é"]}', "[NaN]", '"x"']:
        assert json.dumps(app.json.loads(text)) == json.dumps(json.loads(text))
    with pytest.raises(ValueError):
        app.json.loads("{nope")


def test_dumps_is_the_standard_librarys(make_app):
    app = make_app(INDEX_DIR="/nowhere")
    obj = {"a": "é", "b": [1, 2]}
    assert app.json.dumps(obj) == json.dumps(obj, ensure_ascii=False)


# -- the request path ----------------------------------------------------------------------


def test_a_repeated_parameter_counts_by_its_first_value(client):
    data = client.get("/api/search?q=twitter&q=paris&per_page=2&per_page=5").get_json()
    assert data["query"] == "twitter" and data["per_page"] == 2


def test_a_header_a_response_sets_itself_is_kept(app):
    with app.app_context():
        own = app.response_class("x", headers={"X-Frame-Options": "SAMEORIGIN"})
        plain = app.response_class("x")
    assert own.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert own.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    for name, value in security.HEADERS.items():
        assert plain.headers[name] == value
        assert plain.headers.getlist(name) == [value]  # once, never twice


def test_a_response_of_another_class_gets_the_headers_too(make_app, seed_index):
    from werkzeug.wrappers import Response as PlainResponse

    app = make_app(INDEX_DIR=str(seed_index))
    app.add_url_rule(
        "/plain", "plain", lambda: PlainResponse("x", headers={"Referrer-Policy": "no-referrer"})
    )
    r = app.test_client().get("/plain")
    assert r.status_code == 200 and r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert r.headers["Referrer-Policy"] == "no-referrer"  # its own kept


def test_the_api_json_shape_of_filters_and_facets_is_unchanged(make_app, tmp_path):
    client = make_app(INDEX_DIR=str(build_index(tmp_path))).test_client()
    facets = client.get("/api/search?q=r%C3%A9seau").get_json()["facets"]
    assert facets["source"] and all(set(f) == {"value", "count"} for f in facets["source"])
    source = facets["source"][0]["value"]
    data = client.get("/api/search", query_string={"q": "réseau", "source": source}).get_json()
    assert data["filters"] == {"source": source}
    assert data["facets"]["source"] == [{"value": source, "count": data["total"]}]


# -- the limiter ---------------------------------------------------------------------------


def test_the_limiter_serves_waiters_first_come_first_served():
    limiter = InFlightLimiter(limit=1, queue=5, wait=10)
    assert limiter.acquire()
    order: list[int] = []

    def waiter(n: int) -> None:
        assert limiter.acquire(gone=lambda: False)
        order.append(n)
        time.sleep(0.02)
        limiter.release()

    threads = []
    for n in range(5):
        threads.append(threading.Thread(target=waiter, args=(n,)))
        threads[-1].start()
        time.sleep(0.08)  # longer than a waiter's look at its client: they queue in this order
    limiter.release()
    for t in threads:
        t.join(timeout=10)
    assert order == [0, 1, 2, 3, 4]


def test_a_freed_slot_goes_to_the_waiter_not_to_a_newcomer():
    limiter = InFlightLimiter(limit=1, queue=2, wait=5)
    assert limiter.acquire()
    order: list[str] = []

    def waiter() -> None:
        assert limiter.acquire()
        order.append("waiter")
        time.sleep(0.2)
        limiter.release()

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.2)  # the waiter is queued
    limiter.release()
    assert limiter.acquire()  # the newcomer queues behind the waiter, then gets a turn
    order.append("newcomer")
    limiter.release()
    thread.join(timeout=5)
    assert order == ["waiter", "newcomer"]


def test_a_waiter_that_gives_up_as_its_turn_comes_passes_the_slot_on():
    limiter = InFlightLimiter(limit=1, queue=2, wait=5)
    assert limiter.acquire()
    turn = threading.Event()
    limiter._waiters.append(turn)  # a waiter whose client left
    limiter.release()  # hands it the slot...
    assert turn.is_set()
    assert limiter._leave_queue(turn, keep=False) is False  # ...which it passes on
    assert limiter.acquire() and not limiter.acquire()  # the one slot is free again, once


def test_default_limits_queue_32_searches_at_once_on_one_worker(make_app, seed_index):
    app = make_app(INDEX_DIR=str(seed_index), MAX_IN_FLIGHT=settings.MAX_IN_FLIGHT)
    assert settings.MAX_IN_FLIGHT + settings.MAX_QUEUED >= 32
    assert serve.THREADS > settings.MAX_IN_FLIGHT + settings.MAX_QUEUED
    with Gate(app) as gate:
        results: list = []
        threads = [in_thread(app, f"/api/search?q=twitter+{n}", results) for n in range(32)]
        for _ in range(settings.MAX_IN_FLIGHT):
            assert gate.entered.acquire(timeout=10)
        time.sleep(0.3)  # the others are queued
        assert app.test_client().get("/healthz").status_code == 200
        gate.opened.set()
        for t in threads:
            t.join(timeout=30)
    assert [status for status, _, _ in results] == [200] * 32


# -- warming up ----------------------------------------------------------------------------


def test_warm_up_runs_one_request_of_each_kind(make_app, seed_index):
    app = make_app(INDEX_DIR=str(seed_index))
    assert "searchsvc.engine" not in app.extensions
    done = security.warm_up_index(app)
    assert set(done.statuses) == set(security.WARM_UP_PATHS)
    assert set(done.statuses.values()) == {200}
    assert done.read_bytes > 0
    assert "searchsvc.engine" in app.extensions  # the index is open
    assert re.fullmatch(r"worker ready in .* requests: 200; .* s CPU .*\)", done.summary())


def test_warm_up_without_an_index_does_not_stop_the_worker(make_app, tmp_path):
    app = make_app(INDEX_DIR=str(tmp_path / "none"))
    statuses = security.warm_up_index(app).statuses
    assert set(statuses.values()) <= {503, 200}  # "/" without a query needs no index
    assert 503 in statuses.values()


def test_warm_up_reads_the_index_files(tmp_path):
    for n in range(3):
        (tmp_path / f"f{n}").write_bytes(b"x" * 3_000_000)
    files = sorted(tmp_path.iterdir())
    assert security._read_files(files, 1 << 30) == 9_000_000
    assert security._read_files(files, 4_000_000) <= 4_000_000 + (1 << 20)
    assert security._read_files([tmp_path / "missing"], 100) == 0


def test_gunicorn_warms_each_worker_before_it_serves(make_app, seed_index):
    assert serve.options("127.0.0.1", 8000, 2)["post_worker_init"] is serve.post_worker_init
    app = make_app(INDEX_DIR=str(seed_index))
    logged: list[str] = []
    serve.post_worker_init(SimpleNamespace(wsgi=app, log=SimpleNamespace(info=logged.append)))
    assert "searchsvc.engine" in app.extensions
    assert logged and logged[0].startswith("worker ready in")


@pytest.mark.slow
def test_a_burst_on_a_fresh_one_worker_server_is_queued_not_shed(gunicorn_server, tmp_path):
    url = gunicorn_server(build_index(tmp_path), workers=1)
    port = url.rsplit(":", 1)[1]
    log = (tmp_path / f"serve-{port}.log").read_text()
    assert re.search(r"worker ready in [0-9.]+ s .*requests: 200", log), log

    def get(n: int) -> int:
        words = ["configuration", "réseau", "mot de passe", "fichier", "ip", "filtres"]
        q = urllib.request.quote(f"{words[n % len(words)]} {n}")
        try:
            with urllib.request.urlopen(f"{url}/api/search?q={q}", timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(get, range(64)))
    assert statuses == [200] * 64
