"""The OpenAPI description is valid and true: it lists the app's routes, and real responses
(successes and errors) match the schemas it gives for them."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from searchsvc import settings
from searchsvc.web.errors import ANSWERS, CODES

JSON_ROUTES = ("/api/", "/healthz", "/metrics")


@pytest.fixture(scope="module")
def spec(app):
    r = app.test_client().get("/api/openapi.json")
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    return r.get_json()


def schema_for(spec: dict, path: str, status: int) -> dict:
    """The response schema the description gives for ``path`` answering ``status``."""
    response = spec["paths"][path]["get"]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    # Resolve references against the whole document.
    return {**schema, "components": spec["components"]}


def assert_matches(spec: dict, path: str, response) -> None:
    assert response.mimetype == "application/json"
    documented = spec["paths"][path]["get"]["responses"]
    assert str(response.status_code) in documented, (path, response.status_code)
    schema = schema_for(spec, path, response.status_code)
    Draft202012Validator(schema).validate(response.get_json())


def test_the_description_is_valid_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_every_json_route_is_described_and_nothing_else(app, spec):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(JSON_ROUTES):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule).replace("doc_id", "id")
            routes.add(path)
            # Every method a route answers (but HEAD and OPTIONS) is described.
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert method.lower() in spec["paths"][path], (path, method)
    assert routes == set(spec["paths"])


def test_described_parameters_are_the_ones_read(spec):
    params = {
        path: sorted(p["name"] for p in item["get"]["parameters"])
        for path, item in spec["paths"].items()
        if "get" in item
    }
    assert params == {
        "/api/search": [
            "date_from",
            "date_to",
            "page",
            "per_page",
            "q",
            "sort",
            "source",
            "typing",
        ],
        "/api/documents/{id}": ["id"],
        "/api/documents/{id}/similar": ["id", "limit"],
        "/api/suggest": ["limit", "q"],
        "/healthz": [],
        "/api/openapi.json": [],
        "/api/stats": ["since"],
        "/metrics": [],
        "/api/tasks/{task_id}": ["task_id", "wait"],
    }


CASES = [
    ("/api/search", "/api/search?q=delanoe"),
    ("/api/search", "/api/search?q=twiter"),
    ("/api/search", "/api/search?q=le+la"),
    ("/api/search", "/api/search"),
    ("/api/search", "/api/search?q=x&page=0"),
    ("/api/search", "/api/search?q=x&per_page=1000"),
    ("/api/search", "/api/search?q=" + "a" * 9000),
    ("/api/documents/{id}", "/api/documents/001_6500ce3304fb4ba1"),
    ("/api/documents/{id}", "/api/documents/nope"),
    ("/api/suggest", "/api/suggest?q=pré"),
    ("/api/suggest", "/api/suggest?q=p&limit=99"),
    ("/healthz", "/healthz"),
    ("/api/openapi.json", "/api/openapi.json"),
]


@pytest.mark.parametrize(("path", "url"), CASES)
def test_real_responses_match_the_description(client, spec, path, url):
    assert_matches(spec, path, client.get(url))


@pytest.mark.parametrize(
    "path", ["/api/search", "/api/documents/{id}", "/api/suggest", "/healthz", "/api/openapi.json"]
)
def test_documented_common_errors(client, spec, path):
    url = path.replace("{id}", "x")
    assert_matches(spec, path, client.post(url))
    assert_matches(spec, path, client.get(url, data=b"x" * 100_000))
    assert_matches(spec, path, client.get(url + "?q=" + "a" * 9000))


def test_documented_503_without_an_index(make_app, tmp_path, spec):
    client = make_app(INDEX_DIR=str(tmp_path / "none")).test_client()
    for path, url in [
        ("/healthz", "/healthz"),
        ("/api/search", "/api/search?q=x"),
        ("/api/suggest", "/api/suggest?q=x"),
        ("/api/documents/{id}", "/api/documents/x"),
    ]:
        response = client.get(url)
        assert response.status_code == 503
        assert_matches(spec, path, response)


def test_every_error_code_is_described(spec):
    described = spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
    codes = {*CODES.values(), "overloaded"}
    codes |= {answer.code for answer in ANSWERS.values()}  # every kind of error the core raises
    assert codes <= set(described["code"]["enum"])


def test_documented_400_for_a_query_too_expensive(client, spec, monkeypatch):
    monkeypatch.setattr(settings, "MAX_PREFIX_TERMS", 1)
    response = client.get("/api/search?q=pr*")
    assert response.get_json()["error"]["code"] == "query_too_expensive"
    assert_matches(spec, "/api/search", response)


SHED_PATHS = [
    ("/api/search", "/api/search?q=x"),
    ("/api/suggest", "/api/suggest?q=x"),
    ("/api/documents/{id}", "/api/documents/x"),
    ("/api/documents/{id}/similar", "/api/documents/x/similar"),
]


def test_documented_503_overloaded_with_retry_after(make_app, seed_index, spec):
    app = make_app(INDEX_DIR=str(seed_index), MAX_IN_FLIGHT=1, MAX_QUEUED=0)
    client = app.test_client()
    limiter = app.extensions["searchsvc.limiter"]
    assert limiter.acquire()  # the one slot is taken: every limited request is shed
    try:
        for path, url in SHED_PATHS:
            response = client.get(url)
            assert response.get_json()["error"]["code"] == "overloaded"
            assert_matches(spec, path, response)
            documented = spec["paths"][path]["get"]["responses"]["503"]["headers"]
            assert set(documented) == {"Retry-After"} and response.headers["Retry-After"]
        assert client.get("/healthz").status_code == 200
    finally:
        limiter.release()


def test_stats_and_metrics_answer_as_described(make_app, seed_index, spec):
    key = "k" * 20
    client = make_app(INDEX_DIR=str(seed_index), ADMIN_KEY=key).test_client()
    assert_matches(spec, "/api/stats", client.get("/api/stats"))
    assert_matches(spec, "/api/stats", client.get("/api/stats", headers={"Authorization": "x"}))
    right = {"Authorization": f"Bearer {key}"}
    assert_matches(spec, "/api/stats", client.get("/api/stats?since=7d", headers=right))
    assert_matches(spec, "/api/stats", client.get("/api/stats?since=x", headers=right))
    assert_matches(spec, "/metrics", client.get("/metrics"))
    metrics = client.get("/metrics", headers=right)
    assert metrics.status_code == 200 and metrics.mimetype == "text/plain"
    assert "200" in spec["paths"]["/metrics"]["get"]["responses"]
    keyless = make_app(INDEX_DIR=str(seed_index), ADMIN_KEY=None).test_client()
    assert_matches(spec, "/api/stats", keyless.get("/api/stats"))
