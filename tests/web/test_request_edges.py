"""The smaller defects of issue 23, each as a request a careless or hostile client sends: a
byte range past a static file, a forged Host header on an address Werkzeug would redirect,
impossible dates, an empty integer, a source typed in another case, an elided completion no
document writes, a server path in an error, and ``make run`` ignoring SEARCHSVC_PORT."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from searchsvc.engine.results import Filters
from searchsvc.engine.search import SearchEngine
from searchsvc.errors import QueryError
from searchsvc.index.schema import DATE_PATTERN, is_date
from searchsvc.testing import build_index, cli

ROOT = Path(__file__).resolve().parents[2]

DOCS = [
    {
        "id": "election",
        "title": "L'élection du maire",
        "body": "L'élection du maire a lieu dimanche. Les élections municipales suivent.",
        "source": "AFP",
        "date": "2024-02-29",
    },
    {
        "id": "electricite",
        "title": "Le réseau",
        "body": "L'électricité revient dans le quartier après la panne du réseau.",
        "source": "Reuters",
        "date": "2023-03-01",
    },
]


@pytest.fixture(scope="module")
def edge_index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("edges")
    lines = "".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in DOCS)
    _, index = build_index(root, {"docs.jsonl": lines})
    return index


@pytest.fixture
def edge_client(make_app, edge_index):
    return make_app(INDEX_DIR=str(edge_index)).test_client()


def test_a_range_past_a_static_file_is_a_json_416_with_the_length(client):
    response = client.get("/static/style.css", headers={"Range": "bytes=999999-"})
    assert response.status_code == 416
    assert response.is_json
    assert response.json["error"]["code"] == "range_not_satisfiable"
    assert "Erreur interne" not in response.get_data(as_text=True)
    length = len(client.get("/static/style.css").data)
    assert response.headers["Content-Range"] == f"bytes */{length}"


@pytest.mark.parametrize("path", ["/api/documents//x", "/doc//x", "/api//search?q=x"])
def test_no_redirect_is_built_from_the_host_header(client, path):
    response = client.get(path, headers={"Host": "evil.example"})
    assert "Location" not in response.headers
    assert "evil.example" not in response.get_data(as_text=True)
    assert response.status_code == 404
    if path.startswith("/api"):
        assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("value", ["2012-13-45", "2023-02-29", "2012-00", "2012-06-31", "0000"])
def test_impossible_dates_are_refused_by_the_api(edge_client, value):
    for name in ("date_from", "date_to"):
        response = edge_client.get("/api/search", query_string={"q": "maire", name: value})
        assert response.status_code == 400, (name, value)
        assert name in response.json["error"]["message"]


def test_real_dates_of_every_precision_are_accepted(edge_client):
    for value in ("2024", "2024-02", "2024-02-29"):
        response = edge_client.get("/api/search", query_string={"q": "maire", "date_from": value})
        assert response.status_code == 200
        assert response.json["total"] == 1


@given(st.dates())
@settings(max_examples=200, deadline=None)
def test_every_calendar_day_is_a_date(day):
    assert is_date(day.isoformat()) == (day.year >= 1)
    assert is_date(day.isoformat()[:7])


def test_the_cli_refuses_impossible_dates(edge_index):
    result = cli("search", "maire", "--date-from", "2012-13-45", "--index", str(edge_index))
    assert result.returncode == 1
    assert "date_from must be a date like 2012-06-30" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "path",
    [
        "/api/search?q=maire&page=",
        "/api/search?q=maire&per_page=",
        "/api/documents/election/similar?limit=",
        "/api/suggest?q=ma&limit=",
    ],
)
def test_an_empty_integer_is_refused_by_the_api(edge_client, path):
    response = edge_client.get(path)
    assert response.status_code == 400
    assert "must be a whole number" in response.json["error"]["message"]


def test_the_search_page_still_reads_an_empty_page_as_the_first(edge_client):
    assert edge_client.get("/?q=maire&page=").status_code == 200


@pytest.mark.parametrize("typed", ["AFP", "afp", "Afp", " afp "])
def test_the_source_filter_ignores_case(edge_client, typed):
    response = edge_client.get("/api/search", query_string={"q": "maire", "source": typed})
    assert response.json["total"] == 1
    assert response.json["hits"][0]["source"] == "AFP"


def test_an_unknown_source_still_finds_nothing(edge_index):
    engine = SearchEngine(edge_index)
    try:
        assert engine.search("maire", filters=Filters(source="Le Monde")).total == 0
    finally:
        engine.close()


def test_elided_completions_are_forms_the_documents_write(edge_index):
    engine = SearchEngine(edge_index)
    try:
        offered = engine.complete("l'élect")
        assert "l'élection" in offered
        assert "l'électricité" in offered
        assert "l'élections" not in offered  # "élections" is written, never after "l'"
        assert "élections" in engine.complete("élect")
    finally:
        engine.close()


def test_errors_never_show_clients_the_index_path(make_app, tmp_path):
    hidden = tmp_path / "secret-place" / "index"
    client = make_app(INDEX_DIR=str(hidden)).test_client()
    for path in ("/healthz", "/api/search?q=maire", "/api/suggest?q=ma", "/?q=maire", "/doc/x"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert "secret-place" not in response.get_data(as_text=True), path


def test_make_run_leaves_host_and_port_to_the_environment():
    env = {**os.environ, "SEARCHSVC_PORT": "9123", "SEARCHSVC_HOST": "127.0.0.2"}
    dry = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    serve = [line for line in dry.stdout.splitlines() if "searchsvc serve" in line]
    assert serve and "--port" not in serve[-1] and "--host" not in serve[-1]
    given_port = subprocess.run(
        ["make", "-n", "run", "PORT=9000"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "--port 9000" in given_port.stdout


def test_filters_refuse_impossible_dates_in_the_core():
    with pytest.raises(QueryError, match="date_to must be a date"):
        Filters(date_to="2021-02-30")


@given(
    st.one_of(
        st.dates().map(lambda d: d.isoformat()), st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
    )
)
@example("0000-02-29")  # found by schemathesis: year 0 is no year, leap or not
@example("2000-02-29")
@example("1900-02-29")
@example("0400-02-29")
@settings(max_examples=500, deadline=None)
def test_the_openapi_date_pattern_is_exactly_the_dates_accepted(value):
    assert bool(re.search(DATE_PATTERN, value)) == is_date(value)


def test_an_index_holding_a_javascript_url_never_serves_it(tmp_path, monkeypatch, make_app):
    """An index written before urls were checked at indexing (simulated: the check let
    through) may hold any url: the API and the pages hand out http and https ones only."""
    from searchsvc.ingest.corpus import files as corpus_files

    monkeypatch.setattr(corpus_files, "url_problem", lambda url: None, raising=False)
    docs = [
        {"id": "js", "title": "Piège", "body": "Un zèbre piégé.", "url": "javascript:alert(1)"},
        {"id": "web", "title": "Lien", "body": "Un zèbre sage.", "url": "https://example.fr/z"},
    ]
    lines = "".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in docs)
    _, index = build_index(tmp_path, {"docs.jsonl": lines})
    client = make_app(INDEX_DIR=str(index)).test_client()
    hits = {h["id"]: h["url"] for h in client.get("/api/search?q=zèbre").json["hits"]}
    assert hits == {"js": None, "web": "https://example.fr/z"}
    assert client.get("/api/documents/js").json["url"] is None
    page = client.get("/?q=zèbre").get_data(as_text=True)
    assert "javascript:" not in page


@pytest.mark.parametrize(("value", "status"), [("1", 200), ("0", 200), ("", 200), ("AAA", 400)])
def test_the_typing_flag_is_1_or_0(edge_client, value, status):
    response = edge_client.get("/api/search", query_string={"q": "mair", "typing": value})
    assert response.status_code == status
    if status == 400:
        assert "typing must be 1 or 0" in response.json["error"]["message"]
