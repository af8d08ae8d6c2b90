"""The optional search key (SEARCHSVC_SEARCH_KEY): unset, reads stay open; set, every read of
the index (API and pages) needs it, or the admin key, in ``Authorization: Bearer``. The page
gets the header from the proxy in front of it (docs/api.md, "Pushing documents")."""

from __future__ import annotations

import pytest

from searchsvc.settings import Settings

from .test_documents import call, serve_with

SEARCH_KEY = "search-key-for-the-tests-42"
ADMIN_KEY = "admin-key-for-the-tests-4242"

READS = ["/api/search?q=delanoe", "/api/suggest?q=pa", "/api/documents/nope", "/", "/instant"]
OPEN = ["/healthz", "/api/openapi.json", "/static/searchbox.js"]


@pytest.fixture
def keyed(make_app, seed_index):
    app = make_app(INDEX_DIR=str(seed_index), SEARCH_KEY=SEARCH_KEY, ADMIN_KEY=ADMIN_KEY)
    return app.test_client()


def test_without_a_search_key_reads_stay_open(client):
    for path in READS:
        assert client.get(path).status_code in (200, 404), path


@pytest.mark.parametrize("path", READS)
def test_with_a_search_key_every_read_needs_it(keyed, path):
    refused = keyed.get(path)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = keyed.get(path, headers={"Authorization": "Bearer not-the-key-not-the-key"})
    assert wrong.status_code == 401 and b"not-the-key" not in wrong.data
    for key in (SEARCH_KEY, ADMIN_KEY):
        allowed = keyed.get(path, headers={"Authorization": f"Bearer {key}"})
        assert allowed.status_code in (200, 404), (path, allowed.status_code)


def test_the_api_refusal_is_json_and_the_page_refusal_french(keyed):
    api = keyed.get("/api/search?q=x")
    assert api.get_json()["error"]["code"] == "unauthorized"
    assert "search key" in api.get_json()["error"]["message"]
    page = keyed.get("/")
    assert page.mimetype == "text/html" and "Accès réservé" in page.get_data(as_text=True)


def test_the_health_check_and_descriptions_stay_open(keyed):
    for path in OPEN:
        assert keyed.get(path).status_code == 200, path


def test_the_search_key_does_not_open_writes(keyed):
    response = keyed.put(
        "/api/documents/a",
        json={"body": "x"},
        headers={"Authorization": f"Bearer {SEARCH_KEY}"},
    )
    assert response.status_code == 401


def test_keys_may_come_from_files(tmp_path, monkeypatch):
    key_file = tmp_path / "admin.key"
    key_file.write_text(ADMIN_KEY + "\n")
    monkeypatch.setenv("SEARCHSVC_ADMIN_KEY_FILE", str(key_file))
    monkeypatch.setenv("SEARCHSVC_SEARCH_KEY", SEARCH_KEY)
    settings = Settings.from_env()
    assert (settings.admin_key, settings.search_key) == (ADMIN_KEY, SEARCH_KEY)
    assert ADMIN_KEY not in repr(settings) and SEARCH_KEY not in repr(settings)
    monkeypatch.setenv("SEARCHSVC_ADMIN_KEY", ADMIN_KEY)
    with pytest.raises(ValueError, match="not both"):
        Settings.from_env()
    monkeypatch.delenv("SEARCHSVC_ADMIN_KEY")
    key_file.write_text("short")
    with pytest.raises(ValueError, match="at least 16") as raised:
        Settings.from_env()
    assert "short" not in str(raised.value)
    monkeypatch.setenv("SEARCHSVC_ADMIN_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="cannot be read"):
        Settings.from_env()


@pytest.mark.slow
def test_served_with_a_search_key(tmp_path, own_index):
    with serve_with(tmp_path, own_index, SEARCH_KEY=SEARCH_KEY) as server:
        status, _, body = call("GET", f"{server.url}/api/search?q=delanoe")
        assert status == 401 and body["error"]["code"] == "unauthorized"
        auth = {"Authorization": f"Bearer {SEARCH_KEY}"}
        status, _, body = call("GET", f"{server.url}/api/search?q=delanoe", headers=auth)
        assert status == 200 and body["total"] >= 1
        # The page, as the proxy in front of it sends it, with the header.
        import urllib.request

        request = urllib.request.Request(f"{server.url}/?q=delanoe", headers=auth)
        with urllib.request.urlopen(request, timeout=30) as page:
            assert page.status == 200 and b"Delano" in page.read()


def test_the_search_box_is_refused_and_told_so_with_a_search_key(make_app, seed_index):
    """What docs/site.md says of the box on a keyed server: its requests carry no key (no
    credentials, and CORS never allows Authorization), so a search from an allowed origin is
    answered 401 ``unauthorized``, with the CORS headers that let the box read the refusal;
    the preflight and the script stay open."""
    origin = "https://www.example.fr"
    app = make_app(
        INDEX_DIR=str(seed_index), SEARCH_KEY=SEARCH_KEY, ALLOWED_ORIGINS=origin
    ).test_client()
    refused = app.get("/api/search?q=delanoe&typing=1", headers={"Origin": origin})
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "unauthorized"
    assert refused.headers["Access-Control-Allow-Origin"] == origin
    preflight = app.options(
        "/api/search",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 204
    assert "authorization" not in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert app.get("/searchbox.js").status_code == 200
