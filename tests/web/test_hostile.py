"""Hostile input: what a visitor sends can neither break the service nor reach anything else.

Complements ``test_robustness.py`` (odd query strings and paths, random bytes): the query
language at its most adversarial with the answers checked for consistency and time, document
ids built to escape the index, documents carrying HTML, the debug switch, and the absence of
any endpoint that changes state. A fuzz run over HTTP against gunicorn with thousands of cases
is ``bench/fuzz_http.py``.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import socket
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchsvc.ingest.indexer import reindex
from searchsvc.settings import MAX_RESULT_WINDOW
from searchsvc.testing import start_server
from searchsvc.web import create_app, serve
from searchsvc.web.security import CONTENT_SECURITY_POLICY

from .conftest import close_app

# Documents written by an attacker: markup in every field, ids shaped like paths.
HOSTILE_DOCS = [
    {
        "id": "xss",
        "title": '<script>alert("titre")</script> Zèbres & <b>gras</b>',
        "body": (
            "Les zèbres <img src=x onerror=alert(1)> courent vite. </textarea>"
            "<script>alert(2)</script> Un zèbre \"entre guillemets\" et 'apostrophes'."
        ),
        "url": "javascript:alert(3)",
        "source": "<i>source</i>",
    },
    {
        "id": 'guillemet"><script>alert(4)</script>',
        "title": "Identifiant piégé",
        "body": "Un zèbre dont l'identifiant ferme un attribut HTML.",
    },
    {
        "id": "../../etc/passwd",
        "title": "Un identifiant en forme de chemin",
        "body": "Ce document ne contient que ce texte sur les hippopotames.",
    },
]
RAW_MARKUP = re.compile(r'<script(?! src="/static/)|<(img|b|i|textarea)\b|javascript:alert', re.I)


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory) -> Path:
    corpus = tmp_path_factory.mktemp("hostile-corpus")
    with open(corpus / "docs.jsonl", "w", encoding="utf-8") as fh:
        for doc in HOSTILE_DOCS:
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    index_dir = tmp_path_factory.mktemp("hostile-index")
    reindex(corpus, index_dir, full=True)
    return index_dir


@pytest.fixture(scope="module")
def hostile_app(hostile_index):
    app = create_app({"INDEX_DIR": str(hostile_index), "TESTING": True})
    yield app
    close_app(app)


@pytest.fixture
def hostile(hostile_app):
    return hostile_app.test_client()


def check(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    assert b"Traceback" not in response.data
    if response.mimetype == "application/json" and response.status_code >= 400:
        assert set(response.get_json()["error"]) == {"code", "message"}


# -- output safety ---------------------------------------------------------------------------


def test_markup_in_documents_is_shown_escaped(hostile):
    data = hostile.get("/api/search?q=zèbre").get_json()
    assert len(data["hits"]) == 2
    for hit in data["hits"]:
        assert set(re.findall(r"</?([a-z]+)", hit["snippet"])) <= {"mark"}
    xss = next(hit for hit in data["hits"] if hit["id"] == "xss")
    assert xss["title"] == HOSTILE_DOCS[0]["title"]  # JSON carries text; the page escapes it
    assert "&lt;img src=x" in xss["snippet"]

    pages = [
        hostile.get("/?q=zèbre"),
        hostile.get("/doc/xss"),
        hostile.get("/doc/xss?q=zèbre script alert"),
        hostile.get("/doc/" + quote(HOSTILE_DOCS[1]["id"], safe="") + "?q=zèbre"),
    ]
    for page in pages:
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert not RAW_MARKUP.search(html), RAW_MARKUP.search(html).group()
    results = pages[0].get_data(as_text=True)
    assert "&lt;script&gt;alert(" in results and "Zèbres</mark> &amp; &lt;b&gt;gras" in results
    document = pages[1].get_data(as_text=True)
    assert re.search(r"<title>&lt;script&gt;alert\(.*</title>", document)
    assert "&lt;/textarea&gt;&lt;script&gt;alert(2)" in document


# -- path safety -----------------------------------------------------------------------------

TRAVERSALS = [
    "../../../../etc/passwd",
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "..%252F..%252Fetc%252Fpasswd",
    "....//....//etc/passwd",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "..\\..\\..\\etc\\passwd",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "..%00/etc/passwd",
    "..;/..;/etc/passwd",
    "~root/.bashrc",
    "../../../../proc/self/environ",
]


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """Every path the process opens while the test runs."""
    paths: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, *args, **kwargs):
        if isinstance(file, str | bytes | os.PathLike):
            paths.append(os.path.realpath(os.fsdecode(file)))
        return real_open(file, *args, **kwargs)

    def spy_os_open(path, *args, **kwargs):
        paths.append(os.path.realpath(os.fsdecode(path)))
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    return paths


@pytest.mark.parametrize("doc_id", TRAVERSALS)
def test_document_ids_never_reach_outside_the_index(hostile, hostile_index, opened, doc_id):
    package = str(Path(__file__).resolve().parents[2] / "searchsvc")
    for prefix in ("/api/documents/", "/doc/", "/static/"):
        for suffix in ("", "/similar") if prefix == "/api/documents/" else ("",):
            with hostile.get(prefix + doc_id + suffix) as r:
                check(r)
                assert b"root:" not in r.data and b"PATH=" not in r.data
                if r.status_code == 308:  # "//" merged by the router: same place, one slash
                    assert urlsplit(r.headers["Location"]).path.startswith(prefix)
                else:
                    assert r.status_code in (400, 404), (prefix, r.status_code)
    allowed = (os.path.realpath(hostile_index), package, "/dev/null")
    assert all(path.startswith(allowed) for path in opened), sorted(set(opened))


def test_an_id_shaped_like_a_path_is_only_a_key(hostile):
    r = hostile.get("/api/documents/../../etc/passwd")
    assert r.status_code == 200
    assert r.get_json()["body"] == HOSTILE_DOCS[2]["body"]  # from the index, not from /etc


# -- fuzzing -----------------------------------------------------------------------------------

SYNTAX = ['"', "(", ")", "-", "*", ":", "OR", "OU", "AND", "NOT", "title:", "titre:", "body:",
          "source:", "texte:", "a*", "*a*", "\\", "'", "’", "l'", "aujourd'hui", "+", "~", "^2",
          "zèbre", "zebre", "ZÈBRE", "hippopotames", "micro-blogging", "\x00", "\u200b", "\u202e",
          "🦓", "ﬁ", "e\u0301", "%", "%00", "&", "#", "?", "/", "..", "{", "}", "[",
          "]"]  # fmt: skip

queries = st.lists(st.one_of(st.sampled_from(SYNTAX), st.text(max_size=6)), max_size=70).flatmap(
    lambda parts: st.sampled_from([" ", "", "  "]).map(lambda sep: sep.join(parts))
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    q=queries,
    page=st.integers(min_value=-2, max_value=MAX_RESULT_WINDOW + 2),
    per_page=st.integers(min_value=-1, max_value=102),
)
def test_the_query_language_fuzzed_answers_fast_and_consistently(hostile_app, q, page, per_page):
    client = hostile_app.test_client()
    started = time.monotonic()
    r = client.get("/api/search", query_string={"q": q, "page": page, "per_page": per_page})
    assert time.monotonic() - started < 5
    check(r)
    if r.status_code == 200:
        data = r.get_json()
        offset = (data["page"] - 1) * data["per_page"]
        assert len(data["hits"]) == max(0, min(data["total"] - offset, data["per_page"]))
    else:
        assert r.status_code == 400 and r.get_json()["error"]["message"]
    for path in ("/api/suggest", "/"):
        with client.get(path, query_string={"q": q}) as other:
            check(other)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc_id=st.text(min_size=1, max_size=200), encode=st.booleans())
def test_any_document_id_never_fails(hostile_app, doc_id, encode):
    client = hostile_app.test_client()
    path = quote(doc_id, safe="" if encode else "/")
    for url in (f"/api/documents/{path}", f"/api/documents/{path}/similar", f"/doc/{path}"):
        with client.get(url) as r:
            check(r)


EXPENSIVE = [
    "*a*",
    "*",
    "a*",
    " ".join(f"{c}*" for c in "abcdefghijklmnopqrstuvwxyz"),
    " OR ".join(f"{a}{b}*" for a in "abcde" for b in "aeiou"),
    " ".join(["zèbre"] * 50),
    " ".join(f"mot{i}" for i in range(5000))[:1000],
    '"' + " ".join(f"m{i}" for i in range(49)) + '"',
    "(" * 400 + "zèbre" + ")" * 400,
    "-a " * 300,
    "title:" * 300 + "a",
]


@pytest.mark.parametrize("q", EXPENSIVE)
def test_expensive_queries_are_refused_or_capped(hostile_app, q):
    client = hostile_app.test_client()
    started = time.monotonic()
    r = client.get("/api/search", query_string={"q": q, "per_page": 100})
    assert time.monotonic() - started < 5
    check(r)
    if r.status_code == 400:
        assert re.search(r"too (long|many)", r.get_json()["error"]["message"])


# -- configuration -----------------------------------------------------------------------------


def test_debug_mode_can_never_be_switched_on_in_serve(monkeypatch, hostile_index):
    for name, value in {"FLASK_DEBUG": "1", "FLASK_ENV": "development", "DEBUG": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--reload --log-level debug")
    captured = {}

    class Capture(serve.Service):
        def run(self):
            captured["app"] = self.load()
            captured["cfg"] = self.cfg

    monkeypatch.setattr(serve, "Service", Capture)
    serve.serve("127.0.0.1", 0, 1, hostile_index)
    app, cfg = captured["app"], captured["cfg"]
    assert app.debug is False and app.testing is False
    assert cfg.reload is False and cfg.loglevel == "info"

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    r = app.test_client().get("/boom")
    assert r.status_code == 500
    assert b"secret detail" not in r.data and b"Traceback" not in r.data


# The only endpoints that change state: documents pushed over HTTP, behind the admin key.
WRITES = {("POST", "/api/documents"), ("PUT", "/api/documents/x"), ("DELETE", "/api/documents/x")}


@pytest.mark.parametrize("key", [None, "an-admin-key-of-the-server-0123"])
def test_no_endpoint_changes_state_without_the_admin_key(app, key, monkeypatch):
    """Nothing but GET/HEAD/OPTIONS, except the document writes, which need the admin key:
    off (403) while none is set, 401 without it once one is."""
    monkeypatch.setitem(app.config, "ADMIN_KEY", key)
    writes = set()
    for rule in app.url_map.iter_rules():
        url = re.sub(r"<[^>]+>", "x", re.sub(r"<int:[^>]+>", "1", rule.rule))
        writes |= {(m, url) for m in rule.methods - {"GET", "HEAD", "OPTIONS"}}
    assert writes == WRITES
    client = app.test_client()
    for rule in app.url_map.iter_rules():
        url = re.sub(r"<[^>]+>", "x", re.sub(r"<int:[^>]+>", "1", rule.rule))
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            with client.open(url, method=method, json=[{"id": "a", "body": "b"}]) as r:
                if (method, url) in WRITES:
                    assert r.status_code == (401 if key else 403), (method, url)
                else:
                    assert r.status_code == 405, (method, url)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/api/nope", {}, 404),
        ("POST", "/api/search", {}, 405),
        ("GET", "/api/search?q=x&page=0", {}, 400),
        ("POST", "/api/search", {"data": b"x" * (64 * 1024)}, 413),
        ("GET", "/api/search?q=" + "a" * 9000, {}, 414),
        ("GET", "/nope", {}, 404),
    ],
)
def test_error_responses_carry_the_security_headers(app, method, path, kwargs, status):
    with app.test_client().open(path, method=method, **kwargs) as r:
        assert r.status_code == status
        assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "Server" not in r.headers


# -- over a real socket, against gunicorn ----------------------------------------------------

RAW_REQUESTS = [
    b"GET /api/search?q=%zz%%%ff HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/search?q=a\x00b HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/documents/%2e%2e%2f%2e%2e%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/documents/../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /static/..%2f..%2fserve.py HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /doc/%ff%fe%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /<script>alert(1)</script> HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/search?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/search HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 9000 + b"\r\n\r\n",
    b"GET /api/search HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 120 + b"\r\n",
    b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc",
    b"GET /api/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40),  # a TLS hello
    b"<SCRIPT> / HTTP/1.1\r\n\r\n",
    b"GET /api/search?q=z%C3%A8bre HTTP/1.1\r\nHost: x\r\n\r\n",  # and a good one
]


def raw_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.slow
def test_malformed_http_never_gets_a_500_nor_kills_a_worker(hostile_index, tmp_path):
    with start_server(hostile_index, tmp_path / "serve.log", workers=2) as server:
        port = server.port
        deadline = time.monotonic() + 20
        while len(workers := server.workers()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(workers) == 2
        for request in RAW_REQUESTS:
            answer = raw_exchange(port, request)
            if not answer:  # closed without a word: fine for garbage
                continue
            status = int(answer.split(b" ", 2)[1])
            assert status < 500, (request[:60], answer[:200])
            assert b"Traceback" not in answer
            assert b"root:" not in answer
            head, _, body = answer.partition(b"\r\n\r\n")
            head = head.lower()
            assert b"server: gunicorn" not in head and b"werkzeug" not in head
            if b"content-type: text/html" in head:  # nothing sent is reflected as markup
                assert b"<script>" not in body.lower()
        assert raw_exchange(port, RAW_REQUESTS[-1]).startswith(b"HTTP/1.1 200")
        assert server.workers() == workers  # no worker died or was replaced
    assert "Traceback" not in (tmp_path / "serve.log").read_text(errors="replace")
