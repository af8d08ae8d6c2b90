"""End to end: ``searchsvc serve`` runs gunicorn on a loopback port and answers over HTTP."""

from __future__ import annotations

import http.client
import json
import signal
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from gunicorn.workers.gthread import ThreadWorker

from searchsvc.cli import main
from searchsvc.testing import Server, cli, free_port, index_args, serve_command
from searchsvc.web import serve


def fetch(url: str) -> tuple[int, dict, bytes]:
    """GET ``url``; return (status, headers, body) for successes and HTTP errors alike."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), e.read()


@pytest.mark.slow
def test_serve_runs_gunicorn_and_answers_over_http(gunicorn_server, own_corpus, tmp_path):
    index_dir = tmp_path / "served-index"
    built = cli(*index_args(own_corpus, index_dir))
    assert built.returncode == 0, built.stderr
    url = gunicorn_server(index_dir, workers=2)

    status, headers, body = fetch(url + "/healthz")
    assert status == 200
    health = json.loads(body)
    assert health["status"] == "ok" and health["documents"] == 5
    assert headers["Server"] == "searchsvc"  # not gunicorn's name
    assert "default-src 'self'" in headers["Content-Security-Policy"]

    status, _, body = fetch(url + "/api/search?q=delanoe")
    data = json.loads(body)
    assert status == 200 and data["total"] == 2
    assert all("<mark>Delanoë</mark>" in hit["snippet"] for hit in data["hits"])

    status, headers, body = fetch(url + "/?q=delanoe")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "2 résultats" in body.decode() and "<mark>Delanoë</mark>" in body.decode()

    status, _, body = fetch(url + "/api/search?q=x&page=abc")
    assert status == 400 and json.loads(body)["error"]["code"] == "bad_request"

    status, _, body = fetch(url + "/api/search?q=" + "a" * 8100)
    assert status == 414 and json.loads(body)["error"]["code"] == "uri_too_long"

    # A reindex by another process is served without a restart.
    (own_corpus / "zeppelin.txt").write_text("Le zeppelin\n\nUn dirigeable.\n", encoding="utf-8")
    rebuilt = cli(*index_args(own_corpus, index_dir, full=True))
    assert rebuilt.returncode == 0, rebuilt.stderr
    for _ in range(4):  # every worker and thread, whichever answers
        status, _, body = fetch(url + "/api/search?q=zeppelin")
        assert status == 200 and json.loads(body)["total"] == 1
    health = json.loads(fetch(url + "/healthz")[2])
    assert health["documents"] == 6

    # A raw request with a method gunicorn passes on gets the app's JSON 405.
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("DELETE", "/api/search")
    response = conn.getresponse()
    assert response.status == 405
    assert json.loads(response.read())["error"]["code"] == "method_not_allowed"
    conn.close()


@pytest.mark.slow
def test_serve_stops_cleanly_on_sigterm(own_index, tmp_path):
    port = free_port()
    server = Server(serve_command(port, own_index), port, tmp_path / "serve.log")
    try:
        server.wait_until_healthy()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0
    finally:
        server.stop()
    output = (tmp_path / "serve.log").read_text()
    assert f"Using worker: {serve.WORKER_CLASS}" in output
    assert "Traceback" not in output


def test_serve_command_passes_its_options_to_gunicorn(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(serve, "serve", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setenv("SEARCHSVC_WORKERS", "3")
    result = CliRunner().invoke(
        main, ["serve", "--host", "::1", "--port", "8123", "--index", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert calls == [{"host": "::1", "port": 8123, "workers": 3, "index_dir": tmp_path}]
    assert "no index" in result.output  # a warning, but the service starts and waits for one


def test_serve_command_rejects_bad_options():
    for args in (["--port", "70000"], ["--workers", "0"], ["--port", "x"]):
        result = CliRunner().invoke(main, ["serve", *args])
        assert result.exit_code == 2


def test_gunicorn_options():
    options = serve.options("::1", 8000, workers=2)
    assert options["bind"] == ["[::1]:8000"]
    assert options["worker_class"] == serve.WORKER_CLASS
    assert options["workers"] == 2 and options["threads"] >= 2
    assert serve.options("0.0.0.0", 80, 1)["bind"] == ["0.0.0.0:80"]
    app = serve.Service(options, {"INDEX_DIR": "/nowhere"})
    assert app.cfg.worker_class_str == serve.WORKER_CLASS
    assert issubclass(app.cfg.worker_class, ThreadWorker)  # gthread, with JSON errors
    assert app.load().config["INDEX_DIR"] == "/nowhere"
    assert app.load().debug is False
