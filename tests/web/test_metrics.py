"""Observability on the web: ``/metrics`` (Prometheus' text format, read back with the
client library's own parser), search analytics recorded by the API and the pages, and
``/api/stats`` behind the admin key; in process, and through a real gunicorn with two
workers."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import urllib.parse
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from searchsvc import settings
from searchsvc.analytics import analytics_path
from searchsvc.testing import alive, serve_command, start_server
from searchsvc.web import security
from searchsvc.web.admin import recorder

KEY = "test-admin-key-0123456789"
BEARER = {"Authorization": f"Bearer {KEY}"}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a /metrics answer, parsed by prometheus_client's own parser:
    (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def requests_of(parsed: dict, endpoint: str, status: int = 200) -> float:
    key = ("searchsvc_http_requests_total", (("endpoint", endpoint), ("status", str(status))))
    return parsed.get(key, 0.0)


@pytest.fixture
def analytics_app(make_app, own_index):
    """An app over a writable index, recording analytics, with an admin key."""
    return make_app(INDEX_DIR=str(own_index), ANALYTICS=True, ADMIN_KEY=KEY)


def stats_of(client, **params) -> dict:
    r = client.get("/api/stats", query_string=params, headers=BEARER)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


# -- /metrics in process ---------------------------------------------------------------------


def test_metrics_parse_and_count_requests_by_endpoint_and_status(client):
    before = samples(client.get("/metrics").get_data(as_text=True))
    for _ in range(3):
        assert client.get("/api/search?q=delanoe").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    assert r.headers["Cache-Control"] == "no-store"
    after = samples(r.get_data(as_text=True))
    assert requests_of(after, "api.search") - requests_of(before, "api.search") == 3
    assert requests_of(after, "none", 404) - requests_of(before, "none", 404) == 1
    count = ("searchsvc_http_request_duration_seconds_count", (("endpoint", "api.search"),))
    assert after[count] - before.get(count, 0) == 3
    inf = (
        "searchsvc_http_request_duration_seconds_bucket",
        (("endpoint", "api.search"), ("le", "+Inf")),
    )
    assert after[inf] == after[count]


def test_metrics_give_the_live_index_documents_generation_and_age(client, engine):
    parsed = samples(client.get("/metrics").get_data(as_text=True))
    stats = engine.stats()
    assert parsed[("searchsvc_index_documents", ())] == stats["documents"] > 0
    assert parsed[("searchsvc_index_generation", ())] == int(stats["generation"][1:])
    assert parsed[("searchsvc_index_age_seconds", ())] >= 0
    assert parsed[("searchsvc_index_available", ())] == 1
    assert parsed[("searchsvc_index_damaged", ())] == 0


def test_metrics_report_a_damaged_index(make_app, own_index):
    client = make_app(INDEX_DIR=str(own_index)).test_client()
    assert client.get("/healthz").status_code == 200
    generation = own_index / (own_index / "CURRENT").read_text().strip()
    victim = max(
        (p for p in generation.iterdir() if p.name != "searchsvc.json"),
        key=lambda p: p.stat().st_size,
    )
    victim.write_bytes(victim.read_bytes() + b"damage")
    parsed = samples(client.get("/metrics").get_data(as_text=True))
    assert parsed[("searchsvc_index_damaged", ())] == 1
    assert parsed[("searchsvc_index_available", ())] == 0
    assert ("searchsvc_index_documents", ()) not in parsed


def test_metrics_count_queries_refused_as_too_expensive(client, monkeypatch):
    name = ("searchsvc_queries_too_expensive_total", ())
    before = samples(client.get("/metrics").get_data(as_text=True))[name]
    monkeypatch.setattr(settings, "MAX_PREFIX_TERMS", 1)
    assert client.get("/api/search", query_string={"q": "twitter OR pr*"}).status_code == 400
    assert client.get("/", query_string={"q": "twitter OR pr*"}).status_code == 400
    after = samples(client.get("/metrics").get_data(as_text=True))[name]
    assert after - before == 2


def test_metrics_count_shed_requests_and_are_never_shed(make_app, seed_index):
    from .test_load_shedding import Gate, in_thread

    app = make_app(INDEX_DIR=str(seed_index), MAX_IN_FLIGHT=1, MAX_QUEUED=0)
    client = app.test_client()
    shed = ("searchsvc_requests_shed_total", (("endpoint", "api.search"),))
    before = samples(client.get("/metrics").get_data(as_text=True)).get(shed, 0)
    with Gate(app) as gate:
        busy = in_thread(app, "/api/search?q=delanoe", [])
        assert gate.entered.acquire(timeout=10)
        assert client.get("/api/search?q=twitter").status_code == 503
        r = client.get("/metrics")  # answered while the only slot is taken
        assert r.status_code == 200
    busy.join(timeout=10)
    assert samples(r.get_data(as_text=True))[shed] - before == 1
    assert "metrics.metrics" in security.UNLIMITED_ENDPOINTS


def test_requests_a_worker_makes_to_itself_count_nowhere(analytics_app):
    client = analytics_app.test_client()
    before = samples(client.get("/metrics", headers=BEARER).get_data(as_text=True))
    security.warm_up_index(analytics_app)
    after = samples(client.get("/metrics", headers=BEARER).get_data(as_text=True))
    assert requests_of(after, "api.search") == requests_of(before, "api.search")
    assert stats_of(client)["searches"] == 0


# -- the admin key ---------------------------------------------------------------------------


def test_without_a_key_stats_are_forbidden_and_say_how_to_enable_them(make_app, seed_index):
    client = make_app(INDEX_DIR=str(seed_index), ADMIN_KEY=None).test_client()
    for headers in ({}, BEARER):
        r = client.get("/api/stats", headers=headers)
        assert r.status_code == 403
        error = r.get_json()["error"]
        assert error["code"] == "forbidden" and "SEARCHSVC_ADMIN_KEY" in error["message"]
    # No key: the metrics are open (a server listens on the loopback address by default).
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize("path", ["/api/stats", "/metrics"])
@pytest.mark.parametrize(
    "authorization",
    [None, "", f"Bearer {KEY}x", f"Bearer {KEY[:-1]}", f"Basic {KEY}", KEY, "Bearer", "Bearer é"],
)
def test_a_missing_or_wrong_key_is_401(analytics_app, path, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    r = analytics_app.test_client().get(path, headers=headers)
    assert r.status_code == 401
    assert r.get_json()["error"]["code"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert KEY not in r.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/stats", "/metrics"])
def test_the_right_key_opens_them(analytics_app, path):
    for scheme in ("Bearer", "bearer"):
        r = analytics_app.test_client().get(path, headers={"Authorization": f"{scheme} {KEY}"})
        assert r.status_code == 200


def test_a_bad_since_is_a_400_in_the_api_shape(analytics_app):
    r = analytics_app.test_client().get("/api/stats?since=hier", headers=BEARER)
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "bad_request"
    assert "since must be" in r.get_json()["error"]["message"]


# -- analytics recorded in process -----------------------------------------------------------


def test_searches_of_the_api_the_page_and_the_instant_search_are_recorded(analytics_app):
    client = analytics_app.test_client()
    client.get("/api/search?q=delanoe")
    client.get("/api/search?q=twiter")
    client.get("/api/search?q=zorglubxq")
    client.get("/?q=delanoe&page=1")
    client.get("/instant?q=delan&typing=1")
    client.get("/instant?q=delanoe")
    client.get("/api/search?q=")  # nothing searched: nothing recorded
    client.get("/api/search?q=x&page=0")  # refused: nothing recorded
    stats = stats_of(client)
    assert stats["recording"] is True
    assert stats["searches"] == 6
    assert stats["by_kind"] == {"api": 3, "page": 1, "instant": 2}
    top = {r["query"]: r["count"] for r in stats["top_queries"]}
    assert top == {"delanoe": 3, "twiter": 1, "zorglubxq": 1}  # "delan" was being typed
    assert {r["query"] for r in stats["no_results"]} == {"zorglubxq"}
    assert stats["corrected"] == [{"query": "twiter", "suggestion": "twitter", "count": 1}]
    assert stats["latency_ms"]["p50"] is not None
    rows = recorder(analytics_app).store._conn.execute("SELECT * FROM searches").fetchall()
    assert "127.0.0.1" not in repr(rows)  # never the client's address


def test_analytics_off_writes_nothing(make_app, own_index, monkeypatch):
    monkeypatch.setenv("SEARCHSVC_ANALYTICS", "off")
    app = make_app(INDEX_DIR=str(own_index), ADMIN_KEY=KEY, TESTING=False, WARM_UP=False)
    assert app.config["ANALYTICS"] is False
    client = app.test_client()
    for q in ("delanoe", "twitter"):
        assert client.get("/api/search", query_string={"q": q}).status_code == 200
    assert recorder(app) is None
    stats = stats_of(client)
    assert stats["searches"] == 0 and stats["recording"] is False
    assert not analytics_path(own_index).exists()


# -- through gunicorn, two workers -----------------------------------------------------------


def _counter_file(pid: int) -> Path | None:
    """The file in which worker ``pid`` keeps its counters (prometheus_client's multiprocess
    mode maps it into memory: /proc lists it)."""
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        path = line.split()[-1] if len(line.split()) >= 6 else ""
        if path.endswith(f"/counter_{pid}.db"):
            return Path(path)
    return None


def _searches_served_by(pid: int) -> float:
    path = _counter_file(pid)
    if path is None:
        return 0.0
    for metric in MultiProcessCollector.merge([str(path)]):
        for s in metric.samples:
            labels = s.labels
            if labels.get("endpoint") == "api.search" and s.name.endswith("_total"):
                return s.value
    return 0.0


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


QUERIES = ["delanoe", "twitter paris", "twiter", "zorglubxq", "élection"]


@pytest.mark.slow
def test_analytics_and_metrics_add_up_across_two_gunicorn_workers(own_index, tmp_path):
    log = tmp_path / "serve.log"

    def command(port: int) -> list[str]:
        return ["env", f"SEARCHSVC_ADMIN_KEY={KEY}", *serve_command(port, own_index, workers=2)]

    with start_server(own_index, log, command=command) as server:
        workers = alive(server.workers())
        assert len(workers) == 2
        sent = {"api": 0, "page": 0}
        counts: dict[str, int] = {}
        lock = threading.Lock()

        def search(i: int) -> None:
            q = QUERIES[i % len(QUERIES)]
            page = i % 4 == 0
            path = ("/?q=" if page else "/api/search?q=") + urllib.parse.quote(q)
            status, _ = _get(server.port, path)
            assert status == 200
            with lock:
                sent["page" if page else "api"] += 1
                counts[q] = counts.get(q, 0) + 1

        # Rounds of concurrent connections until both workers have served searches.
        for round_ in range(20):
            threads = [threading.Thread(target=search, args=(round_ * 16 + i,)) for i in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            if all(_searches_served_by(pid) > 0 for pid in workers):
                break
        per_worker = [_searches_served_by(pid) for pid in workers]
        assert all(n > 0 for n in per_worker), per_worker

        # Metrics: whichever worker answers adds up both workers' counts.
        status, body = _get(server.port, "/metrics", BEARER)
        assert status == 200
        parsed = samples(body.decode())
        assert requests_of(parsed, "api.search") == sent["api"] == sum(per_worker)
        assert requests_of(parsed, "pages.search_page") == sent["page"]
        assert parsed[("searchsvc_index_documents", ())] > 0
        assert _get(server.port, "/metrics")[0] == 401

        # Analytics: every search, once, within a second or so of being answered.
        expected = sent["api"] + sent["page"]
        deadline_rounds = 200
        for _ in range(deadline_rounds):
            status, body = _get(server.port, "/api/stats", BEARER)
            stats = json.loads(body)
            if status == 200 and stats["searches"] >= expected:
                break
            threading.Event().wait(0.1)
        assert stats["searches"] == expected
        assert stats["by_kind"] == {"api": sent["api"], "page": sent["page"], "instant": 0}
        assert {r["query"]: r["count"] for r in stats["top_queries"]} == counts
        assert _get(server.port, "/api/stats")[0] == 401
        assert _get(server.port, "/api/stats", {"Authorization": "Bearer nope"})[0] == 401
        # gunicorn's default access log shows the user of a Basic header: not ours.
        basic = base64.b64encode(f"{KEY}:".encode()).decode()
        assert _get(server.port, "/api/stats", {"Authorization": f"Basic {basic}"})[0] == 401

        # The warm-up's own searches are not recorded: only ours are.
        before_stop = stats["searches"]
        _get(server.port, "/api/search?q=dernier")  # written when its worker exits at latest
    text = log.read_text()
    assert KEY not in text  # never logged
    assert "GET /api/stats" in text  # the access log was on
    from searchsvc.analytics import AnalyticsStore

    final = AnalyticsStore(analytics_path(own_index)).stats()
    assert final["searches"] == before_stop + 1
