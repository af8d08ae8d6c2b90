"""Documents pushed over HTTP (issue 25): the endpoints, the admin key, every bad input, and,
through a real gunicorn ``searchsvc serve``, a pushed document searchable with ``wait``."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from searchsvc.ingest.pushed import check_document, parse_batch
from searchsvc.settings import (
    MAX_DOCUMENT_ID_CHARS,
    MAX_PUSH_BYTES,
    MAX_PUSH_DOCUMENTS,
)
from searchsvc.testing import serve_command, start_server

KEY = "k3y-for-the-tests-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
DOC = {"title": "Le zorglub pousse", "body": "Un zorglub pousse dans le jardin de Paris."}


@pytest.fixture
def writer_app(make_app, own_index):
    """An app over a writable index with writes on (no writer runs: tasks stay enqueued)."""
    return make_app(INDEX_DIR=str(own_index), ADMIN_KEY=KEY)


@pytest.fixture
def client(writer_app):
    return writer_app.test_client()


def error_of(response) -> tuple[int, str, str]:
    body = response.get_json()
    return response.status_code, body["error"]["code"], body["error"]["message"]


# -- keys ------------------------------------------------------------------------------------


def test_without_an_admin_key_writes_are_off_and_the_answer_says_how_to_enable_them(
    make_app, own_index
):
    client = make_app(INDEX_DIR=str(own_index)).test_client()
    for response in (
        client.put("/api/documents/a", json=DOC, headers=AUTH),
        client.post("/api/documents", json=[{"id": "a", **DOC}]),
        client.delete("/api/documents/a"),
        client.get("/api/tasks/1"),
    ):
        status, code, message = error_of(response)
        assert (status, code) == (403, "forbidden")
        assert "SEARCHSVC_ADMIN_KEY" in message and "Authorization: Bearer" in message


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-key-wrong-key-123", f"Basic {KEY}", f"Bearer {KEY}x", "Bearer"],
)
def test_a_missing_or_wrong_key_is_401_and_never_echoed(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.put("/api/documents/a", json=DOC, headers=headers)
    status, code, _message = error_of(response)
    assert (status, code) == (401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "wrong-key" not in response.get_data(as_text=True)


def test_the_right_key_is_202_with_the_task_once_journaled(client):
    response = client.put("/api/documents/a-1", json=DOC, headers=AUTH)
    assert response.status_code == 202
    task = response.get_json()
    assert task["status"] == "enqueued" and task["received"] == 1 and task["errors"] == []
    assert task["links"]["self"] == f"/api/tasks/{task['id']}"
    assert response.headers["Location"] == task["links"]["self"]
    again = client.get(task["links"]["self"], headers=AUTH)
    assert again.status_code == 200 and again.get_json()["id"] == task["id"]


# -- the endpoints ---------------------------------------------------------------------------


def test_a_batch_as_json_or_ndjson_lists_the_refused_and_keeps_the_others(client):
    docs = [{"id": "b1", **DOC}, {"id": "b2", "body": 3}, {"id": 7, "body": "sept"}]
    as_array = client.post("/api/documents", json=docs, headers=AUTH)
    ndjson = "\n".join(json.dumps(d) for d in docs) + "\n\n"
    as_lines = client.post(
        "/api/documents",
        data=ndjson,
        headers={**AUTH, "Content-Type": "application/x-ndjson"},
    )
    for response in (as_array, as_lines):
        assert response.status_code == 202
        task = response.get_json()
        assert task["received"] == 3
        assert task["errors"] == [
            {"index": 1, "id": "b2", "reason": "field 'body' must be a string (got a number)"}
        ]


def test_a_batch_refuses_an_id_with_a_slash_or_a_control_character(client):
    docs = [{"id": "a/b", "body": "x"}, {"id": "a\u0085b", "body": "x"}, {"id": "ok", "body": "x"}]
    task = client.post("/api/documents", json=docs, headers=AUTH).get_json()
    reasons = [error["reason"] for error in task["errors"]]
    assert [error["index"] for error in task["errors"]] == [0, 1]
    assert "holds a '/'" in reasons[0] and "U+0085" in reasons[1]


def test_a_batch_of_only_refused_documents_is_a_failed_task(client):
    response = client.post("/api/documents", json=[{"id": "x"}], headers=AUTH)
    assert response.status_code == 202
    assert response.get_json()["status"] == "failed"


def test_delete_answers_202_and_an_unknown_task_is_404(client):
    assert client.delete("/api/documents/nope", headers=AUTH).status_code == 202
    for task_id in ("999999", "9" * 30):
        assert error_of(client.get(f"/api/tasks/{task_id}", headers=AUTH))[:2] == (
            404,
            "not_found",
        )


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, line, column",
    [
        (b'{"body": "x",\n "title": tru}', 2, 11),
        (b'{"body": "x"', 1, 13),
        (b'{"body": "\xff"}', 1, 11),  # not UTF-8
        (b"[" * 100_000, 1, 1),  # nested too deeply
    ],
)
def test_malformed_json_is_400_naming_line_and_column(client, raw, line, column):
    status, code, message = error_of(client.put("/api/documents/a", data=raw, headers=AUTH))
    assert (status, code) == (400, "bad_request")
    assert f"line {line}, column {column}" in message, message


def test_malformed_ndjson_names_the_line_of_the_body(client):
    body = b'{"id": "a", "body": "x"}\n\n{"id": "b", "body": }\n'
    response = client.post(
        "/api/documents", data=body, headers={**AUTH, "Content-Type": "application/x-ndjson"}
    )
    status, _, message = error_of(response)
    assert status == 400 and "line 3, column 21" in message, message


@pytest.mark.parametrize(
    "document, reason",
    [
        ({"title": "t"}, "missing field 'body'"),
        ({"body": ["x"]}, "field 'body' must be a string (got an array)"),
        ({"body": " \n\t"}, "field 'body' is empty"),
        ({"body": "x", "title": 12}, "field 'title' must be a string (got a number)"),
        ({"body": "x", "title": "t" * 1001}, "field 'title' is longer than 1,000"),
        ({"body": "x", "date": "2023-02-29"}, "field 'date' must be an ISO date"),
        ({"body": "x", "date": "3 août 2024"}, "field 'date' must be an ISO date"),
        ({"body": "x", "date": 2024}, "field 'date' must be a string"),
        ({"body": "x", "url": "javascript:alert(1)"}, "field 'url'"),
        ({"body": "x", "url": "ftp://example.org/"}, "field 'url'"),
        ({"body": "x", "boby": "y"}, "unknown field 'boby'"),
        ({"body": "x", "id": "other"}, "differs from the id in the address"),
        ([{"body": "x"}], "must be a JSON object (got an array)"),
    ],
)
def test_each_bad_document_is_400_with_its_reason(client, document, reason):
    status, code, message = error_of(client.put("/api/documents/a", json=document, headers=AUTH))
    assert (status, code) == (400, "bad_request")
    assert reason in message, message


@pytest.mark.parametrize(
    "doc_id, reason",
    [
        ("x" * (MAX_DOCUMENT_ID_CHARS + 1), "longer than 512"),
        ("a%01b", "control character (U+0001) at position 2"),
        ("%20a", "starts or ends with a space"),
    ],
)
def test_a_bad_id_is_400(client, doc_id, reason):
    status, _, message = error_of(client.put(f"/api/documents/{doc_id}", json=DOC, headers=AUTH))
    assert status == 400 and reason in message, message
    assert doc_id not in message  # never echoed


def test_too_many_documents_or_bytes_is_413_and_another_type_415(client):
    docs = [{"id": str(i), "body": "x"} for i in range(MAX_PUSH_DOCUMENTS + 1)]
    status, code, message = error_of(client.post("/api/documents", json=docs, headers=AUTH))
    assert (status, code) == (413, "payload_too_large") and "1,000" in message
    big = b"[" + b" " * MAX_PUSH_BYTES + b"]"
    assert client.post("/api/documents", data=big, headers=AUTH).status_code == 413
    response = client.post(
        "/api/documents", data="[]", headers={**AUTH, "Content-Type": "text/csv"}
    )
    assert error_of(response)[:2] == (415, "unsupported_media_type")


@pytest.mark.parametrize("wait", ["31", "-1", "abc", "1e3", "0x10"])
def test_a_bad_wait_is_400_before_anything_is_recorded(client, wait):
    response = client.put(f"/api/documents/a?wait={wait}", json=DOC, headers=AUTH)
    assert error_of(response)[:2] == (400, "bad_request")
    assert client.get("/api/tasks/1", headers=AUTH).status_code == 404


def test_a_checked_document_keeps_the_corpus_formats_fields():
    doc = check_document(
        {"id": 12, "body": "Première phrase. Seconde.", "date": "2024-08-03T14:00:00+02:00"}
    )
    assert (doc.id, doc.title, doc.date, doc.url) == ("12", "Première phrase.", "2024-08-03", None)
    assert parse_batch(b'[{"a": 1}]', ndjson=False) == [{"a": 1}]


# -- through gunicorn ------------------------------------------------------------------------


def call(method: str, url: str, body=None, headers=None, content_type="application/json"):
    """(status, headers, parsed JSON body) of one request."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


def announce_body(port: int, path: str, length: int) -> tuple[int, dict]:
    """The answer to a POST whose head announces a body of ``length`` bytes, none sent (the
    worker refuses it from the head alone)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Authorization", AUTH["Authorization"])
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def serve_with(tmp_path: Path, index: Path, **env: str):
    """``searchsvc serve`` (gunicorn, one worker) with ``SEARCHSVC_*`` settings ``env``."""
    assigned = [f"SEARCHSVC_{name}={value}" for name, value in env.items()]
    return start_server(
        index,
        tmp_path / "serve-{port}.log",
        command=lambda port: ["env", *assigned, *serve_command(port, index, 1)],
    )


@pytest.mark.slow
def test_served_a_pushed_document_is_searchable_with_wait_and_deleted(tmp_path, own_index):
    with serve_with(tmp_path, own_index, ADMIN_KEY=KEY) as server:
        base = server.url
        status, _, body = call("PUT", f"{base}/api/documents/z1", DOC)
        assert status == 401
        # A body larger than the 16 kB every other endpoint takes.
        long_doc = {**DOC, "body": DOC["body"] + " mot" * 10_000}
        status, _headers, task = call("PUT", f"{base}/api/documents/z1?wait=20", long_doc, AUTH)
        assert status == 202 and task["status"] == "succeeded", task
        status, _, found = call("GET", f"{base}/api/search?q=zorglub")
        assert found["total"] == 1 and found["hits"][0]["id"] == "z1"
        status, _, task = call("DELETE", f"{base}/api/documents/z1?wait=20", None, AUTH)
        assert status == 202 and task["status"] == "succeeded", task
        assert call("GET", f"{base}/api/search?q=zorglub")[2]["total"] == 0
        # Bad input, answered as the test client's.
        status, _, body = call("PUT", f"{base}/api/documents/z2", b'{"body": tru}', AUTH)
        assert status == 400 and "line 1, column 10" in body["error"]["message"]
        status, body = announce_body(server.port, "/api/documents", MAX_PUSH_BYTES + 1)
        assert status == 413 and body["error"]["code"] == "payload_too_large"
        # Any other endpoint still refuses a body over 16 kB from the event loop.
        assert announce_body(server.port, "/api/search", 20_000)[0] == 413


@pytest.mark.slow
def test_served_without_an_admin_key_writes_answer_403(tmp_path, own_index):
    with serve_with(tmp_path, own_index) as server:
        status, _, body = call("PUT", f"{server.url}/api/documents/z1", DOC, AUTH)
        assert status == 403 and "SEARCHSVC_ADMIN_KEY" in body["error"]["message"]
