"""The JSON API through Flask's test client: every endpoint and every error path."""

from __future__ import annotations

import json
import re
import threading

import pytest

from searchsvc import settings
from searchsvc.settings import MAX_QUERY_CHARS
from searchsvc.web import get_engine
from searchsvc.web.security import CONTENT_SECURITY_POLICY

from .conftest import close_app

DELANOE_IDS = {"001_6500ce3304fb4ba1", "002_3db12bd2542f91a5"}


def assert_error(response, status: int, code: str, message_part: str = "") -> dict:
    """The one error shape: {"error": {"code", "message"}} with the right status."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert message_part in body["error"]["message"]
    return body["error"]


# -- /api/search ---------------------------------------------------------------------------


def test_search_finds_both_delanoe_articles_with_the_name_marked(client):
    r = client.get("/api/search", query_string={"q": "delanoe"})
    assert r.status_code == 200
    data = r.get_json()
    assert {"query", "total", "page", "per_page", "took_ms", "hits", "suggestion"} <= set(data)
    assert data["query"] == "delanoe"
    assert data["total"] == 2
    assert (data["page"], data["per_page"], data["pages"]) == (1, 10, 1)
    assert data["suggestion"] is None
    assert data["took_ms"] >= 0
    assert {hit["id"] for hit in data["hits"]} == DELANOE_IDS
    for hit in data["hits"]:
        assert {"id", "title", "score", "snippet"} <= set(hit)
        assert "<mark>Delanoë</mark>" in hit["snippet"]
        # Issue 29: the command line's --json fields too, one shape for both.
        assert {"title_html", "url", "date", "source"} <= set(hit)
        assert hit["title_html"] and "<script" not in hit["title_html"]
    assert data["understood"] == "delanoe"
    assert isinstance(data["years"], list)
    scores = [hit["score"] for hit in data["hits"]]
    assert scores == sorted(scores, reverse=True)


def test_snippets_are_html_with_only_mark_tags(client):
    data = client.get("/api/search?q=twitter&per_page=100").get_json()
    assert data["total"] == 5
    for hit in data["hits"]:
        tags = set(re.findall(r"</?([a-zA-Z]+)", hit["snippet"]))
        assert tags <= {"mark"}
        assert "<mark>" in hit["snippet"]


def test_search_pages(client):
    first = client.get("/api/search?q=twitter&per_page=2").get_json()
    second = client.get("/api/search?q=twitter&per_page=2&page=2").get_json()
    third = client.get("/api/search?q=twitter&per_page=2&page=3").get_json()
    beyond = client.get("/api/search?q=twitter&per_page=2&page=4").get_json()
    assert first["pages"] == 3
    assert [len(p["hits"]) for p in (first, second, third, beyond)] == [2, 2, 1, 0]
    ids = [h["id"] for p in (first, second, third) for h in p["hits"]]
    assert len(set(ids)) == 5
    assert beyond["total"] == 5


def test_suggestion_is_a_string_when_a_word_looks_misspelt(client):
    data = client.get("/api/search?q=twiter").get_json()
    assert data["suggestion"] == "twitter"
    # and, as nothing has "twiter", the close word's documents are shown meanwhile
    assert data["approximate"] == ["twiter"] and data["total"] > 0


@pytest.mark.parametrize("query", ["", "   ", None])
def test_empty_query_returns_no_hits_not_an_error(client, query):
    r = client.get("/api/search", query_string={} if query is None else {"q": query})
    assert r.status_code == 200
    data = r.get_json()
    assert (data["total"], data["hits"], data["suggestion"]) == (0, [], None)


def test_stop_words_only_query_has_a_notice(client):
    data = client.get("/api/search?q=le+la+les").get_json()
    assert data["total"] == 0
    assert data["notice"] == "stop_words_only"


def test_json_is_utf8_not_ascii_escaped(client):
    r = client.get("/api/search?q=delanoe")
    assert "Delanoë".encode() in r.data


@pytest.mark.parametrize(
    ("params", "message_part"),
    [
        ("page=0", "page must be 1 or more"),
        ("page=abc", "page must be a whole number"),
        ("page=-1", "page must be a whole number"),
        ("page=1.5", "page must be a whole number"),
        ("page=%201", "page must be a whole number"),
        ("page=%D9%A1", "page must be a whole number"),  # Arabic-Indic digit one
        ("page=99999999999999999999999", "page is too large"),
        ("page=" + "9" * 5000, "page is too large"),
        ("per_page=0", "per_page must be between 1 and 100"),
        ("per_page=101", "per_page must be between 1 and 100"),
        ("per_page=100000", "per_page must be between 1 and 100"),
        ("per_page=ten", "per_page must be a whole number"),
        ("page=10001&per_page=1", "page must be at most 10000"),
        ("q=" + "a" * (MAX_QUERY_CHARS + 1), "the query is too long"),
        ("q=" + "+".join(f"w{i}" for i in range(60)), "too many terms"),
    ],
)
def test_invalid_search_parameters_get_400_saying_what_is_wrong(client, params, message_part):
    r = client.get(
        "/api/search?q=twitter&" + params if "q=" not in params else "/api/search?" + params
    )
    assert_error(r, 400, "bad_request", message_part)


def test_leading_zeros_are_digits(client):
    assert client.get("/api/search?q=twitter&page=0001&per_page=002").get_json()["page"] == 1


def test_prefixes_standing_for_too_many_words_are_400_query_too_expensive(client, monkeypatch):
    monkeypatch.setattr(settings, "MAX_PREFIX_TERMS", 1)
    r = client.get("/api/search", query_string={"q": "twitter OR pr*"})
    assert_error(r, 400, "query_too_expensive", "prefixes (word*) match too many words")


def test_a_search_past_its_time_budget_is_400_query_too_expensive(make_app, seed_index):
    app = make_app(INDEX_DIR=str(seed_index))
    with app.app_context():
        get_engine().time_limit = 0.0
    r = app.test_client().get("/api/search", query_string={"q": "delanoe"})
    assert_error(r, 400, "query_too_expensive", "takes too long to run (the limit is 0 s)")


# -- /api/documents/<id> -------------------------------------------------------------------


def test_document_returns_the_stored_text_and_metadata(client):
    r = client.get("/api/documents/002_3db12bd2542f91a5")
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["id"] == "002_3db12bd2542f91a5"
    assert doc["title"] == "A San Francisco, Bertrand Delanoë courtise Twitter"
    assert "Delanoë" in doc["body"]
    assert {"path", "url", "date", "source"} <= set(doc)
    assert doc["path"] == "002_3db12bd2542f91a5.txt"


@pytest.mark.parametrize(
    "doc_id", ["nope", "002_3db12bd2542f91a5x", "a/b/c", "%00", "..%2F..%2Fetc%2Fpasswd", "%FF"]
)
def test_unknown_document_is_a_json_404(client, doc_id):
    assert_error(client.get(f"/api/documents/{doc_id}"), 404, "not_found", "no document")


# -- /api/suggest --------------------------------------------------------------------------


def test_suggest_completes_accent_insensitively(client):
    for typed in ("pré", "pre", "PRÉ", "Pre"):
        data = client.get("/api/suggest", query_string={"q": typed}).get_json()
        assert data["query"] == typed
        words = data["suggestions"]
        assert 0 < len(words) <= 10
        assert all(w.startswith(("pr", "pré")) for w in words)
        assert any(w.startswith("pré") for w in words), words  # accented words for "pre" too
    assert "président" in client.get("/api/suggest?q=pré").get_json()["suggestions"]


def test_suggest_restores_accents_and_keeps_earlier_words(client):
    assert client.get("/api/suggest?q=delan").get_json()["suggestions"] == ["delanoë"]
    words = client.get("/api/suggest?q=twitter+dela").get_json()["suggestions"]
    assert words == ["twitter delanoë"]


def test_suggest_from_titles_too(client):
    # "courtise" is in a title (and body); completion covers both fields.
    assert "courtise" in client.get("/api/suggest?q=court").get_json()["suggestions"]


def test_suggest_limit(client):
    assert len(client.get("/api/suggest?q=p&limit=3").get_json()["suggestions"]) == 3
    assert_error(client.get("/api/suggest?q=p&limit=11"), 400, "bad_request", "limit")
    assert_error(client.get("/api/suggest?q=p&limit=0"), 400, "bad_request", "limit")
    assert_error(client.get("/api/suggest?q=p&limit=x"), 400, "bad_request", "limit")


@pytest.mark.parametrize("typed", ["", " ", "twitter ", "zzzzzz", "%", "***"])
def test_suggest_with_nothing_to_complete_is_empty(client, typed):
    data = client.get("/api/suggest", query_string={"q": typed}).get_json()
    assert data["suggestions"] == []


def test_suggest_over_long_text_is_400(client):
    r = client.get("/api/suggest", query_string={"q": "a" * (MAX_QUERY_CHARS + 1)})
    assert_error(r, 400, "bad_request", "too long")


# -- /healthz ------------------------------------------------------------------------------


def test_healthz(client, engine):
    r = client.get("/healthz")
    assert r.status_code == 200
    data = r.get_json()
    assert data["status"] == "ok"
    assert data["documents"] == 5
    assert data["index_version"] == engine.stats()["index_version"]
    assert r.headers["Cache-Control"] == "no-store"


def test_healthz_answers_while_a_search_holds_the_searcher(make_app, seed_index, hold_searcher):
    app = make_app(INDEX_DIR=str(seed_index))
    with app.app_context():
        engine = get_engine()
    answers: list = []

    def ask():
        answers.append(app.test_client().get("/healthz"))

    with hold_searcher(engine):
        asker = threading.Thread(target=ask, daemon=True)
        asker.start()
        asker.join(timeout=5)
        assert answers, "/healthz waited for the searcher"
    assert answers[0].status_code == 200
    assert answers[0].get_json()["documents"] == 5


def test_healthz_is_503_without_an_index(make_app, tmp_path):
    client = make_app(INDEX_DIR=str(tmp_path / "nothing")).test_client()
    assert_error(client.get("/healthz"), 503, "index_unavailable", "searchsvc index")
    assert_error(client.get("/api/search?q=x"), 503, "index_unavailable")
    assert_error(client.get("/api/documents/x"), 503, "index_unavailable")
    assert_error(client.get("/api/suggest?q=x"), 503, "index_unavailable")
    # Parameter errors are still reported as such.
    assert_error(client.get("/api/search?page=x"), 400, "bad_request")


def test_healthz_is_503_for_an_index_of_another_version(make_app, own_index):
    current = (own_index / "CURRENT").read_text().strip()
    (own_index / current / "searchsvc.json").write_text('{"version": "0.0"}')
    client = make_app(INDEX_DIR=str(own_index)).test_client()
    assert_error(client.get("/healthz"), 503, "index_unavailable", "reindex")


# Issue 16: an index a newer searchsvc wrote says to upgrade, not to reindex.
def test_healthz_and_search_say_upgrade_for_an_index_of_a_newer_version(make_app, own_index):
    from searchsvc.index.schema import VERSION

    current = (own_index / "CURRENT").read_text().strip()
    fmt, analyzer = VERSION.split(".")
    meta = own_index / current / "searchsvc.json"
    meta.write_text(json.dumps({"version": f"{int(fmt) + 1}.{analyzer}"}))
    client = make_app(INDEX_DIR=str(own_index)).test_client()
    for path in ("/healthz", "/api/search?q=twitter"):
        r = client.get(path)
        assert_error(r, 503, "index_unavailable", "upgrade searchsvc")
        assert "reindex" not in r.get_json()["error"]["message"]


# -- errors common to every endpoint -------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/search", "/api/documents/x/similar", "/api/suggest", "/api/openapi.json", "/healthz"],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_json_405(client, path, method):
    r = client.open(path, method=method)
    assert_error(r, 405, "method_not_allowed", method)
    assert "GET" in r.headers["Allow"]


def test_head_is_allowed(client):
    r = client.head("/api/search?q=delanoe")
    assert r.status_code == 200
    assert r.data == b""


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/nope", "/api/search/extra", "/healthz/x"])
def test_unknown_api_address_is_json_404(client, path):
    assert_error(client.get(path), 404, "not_found")


def test_large_body_is_413(client):
    r = client.get("/api/search?q=x", data=b"x" * (64 * 1024))
    assert_error(r, 413, "payload_too_large")
    r = client.post("/api/search", data=b"x" * (64 * 1024))
    assert_error(r, 413, "payload_too_large")


def test_over_long_query_string_is_414(client):
    r = client.get("/api/search?q=" + "a" * 9000)
    assert_error(r, 414, "uri_too_long", "query string")


def test_unexpected_exceptions_are_logged_and_answered_without_a_traceback(
    make_app, seed_index, monkeypatch, caplog
):
    app = make_app(INDEX_DIR=str(seed_index))
    client = app.test_client()
    client.get("/healthz")  # open the engine

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(app.extensions["searchsvc.engine"], "search", broken)
    r = client.get("/api/search?q=x")
    error = assert_error(r, 500, "internal")
    assert "secret" not in error["message"]
    assert b"Traceback" not in r.data
    assert "secret internal detail" in caplog.text
    page = client.get("/?q=x")
    assert page.status_code == 500
    assert b"Traceback" not in page.data and b"secret" not in page.data
    assert "Erreur interne" in page.get_data(as_text=True)


# -- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/search?q=x", "/api/nope", "/healthz", "/", "/?q=delanoe", "/nope", "/static/style.css"],
)
def test_security_headers_on_every_response(client, path):
    with client.get(path) as r:
        headers = r.headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "Server" not in headers


def test_search_reports_relaxed_and_approximate(client):
    data = client.get("/api/search?q=twiter").get_json()
    assert data["approximate"] == ["twiter"] and data["relaxed"] is False
    data = client.get("/api/search?q=delanoe+zzyzx").get_json()
    assert data["relaxed"] is True and data["total"] == 2


def test_similar_documents(client):
    r = client.get("/api/documents/001_6500ce3304fb4ba1/similar?limit=2")
    assert r.status_code == 200
    data = r.get_json()
    assert data["id"] == "001_6500ce3304fb4ba1"
    assert len(data["hits"]) == 2 and data["hits"][0]["id"].startswith("002")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/documents/nope/similar", 404),
        ("/api/documents/001_6500ce3304fb4ba1/similar?limit=99", 400),
    ],
)
def test_similar_errors(client, path, status):
    r = client.get(path)
    assert r.status_code == status
    assert set(r.get_json()["error"]) == {"code", "message"}


@pytest.fixture(scope="module")
def news_client(tmp_path_factory):
    from searchsvc.ingest.indexer import reindex
    from searchsvc.web import create_app

    corpus = tmp_path_factory.mktemp("news")
    docs = [
        {
            "id": "a1",
            "title": "Twitter à Paris",
            "body": "Twitter à Paris.",
            "source": "Le Monde",
            "date": "2012-06-30",
        },
        {
            "id": "a2",
            "title": "Twitter en France",
            "body": "Twitter en France.",
            "source": "Les Echos",
            "date": "2013-01-15",
        },
    ]
    (corpus / "news.jsonl").write_text("\n".join(json.dumps(d) for d in docs), encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("news-index")
    reindex(corpus, index_dir, full=True)
    app = create_app({"INDEX_DIR": str(index_dir), "TESTING": True})
    yield app.test_client()
    close_app(app)


def test_search_facets_filters_and_sort(news_client):
    data = news_client.get("/api/search?q=twitter").get_json()
    assert data["facets"] == {
        "source": [{"value": "Le Monde", "count": 1}, {"value": "Les Echos", "count": 1}]
    }
    assert data["sort"] == "relevance" and data["filters"] == {}
    data = news_client.get("/api/search?q=twitter&source=Les+Echos").get_json()
    assert [h["id"] for h in data["hits"]] == ["a2"] and data["filters"] == {"source": "Les Echos"}
    data = news_client.get("/api/search?q=twitter&sort=date&date_to=2013").get_json()
    assert [h["id"] for h in data["hits"]] == ["a2", "a1"]


@pytest.mark.parametrize("query", ["sort=alpha", "date_from=hier", "date_to=2013%2F01"])
def test_search_bad_filters_are_400(news_client, query):
    r = news_client.get("/api/search?q=twitter&" + query)
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "bad_request"
