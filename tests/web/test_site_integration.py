"""Living inside a site (issue 27, docs/site.md "Behind your nginx"): the page under a path prefix,
results linking to the documents' own addresses, private full texts, the site's name and
colours, framing by listed origins only.

The app-level tests go through Flask's test client; the served ones run ``searchsvc serve``
(gunicorn) behind Debian's nginx-light under ``/recherche/`` and follow every link, form and
static file of the pages there, then type in Chromium under the prefix.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from searchsvc.settings import Settings
from searchsvc.testing import build_index, free_port, serve_command, start_server
from searchsvc.web.security import CONTENT_SECURITY_POLICY

NGINX = Path("/usr/sbin/nginx")
PREFIX = "/recherche"

# Three articles: two with their own address, one without; "zèbre" in all of them.
DOCS = [
    {
        "id": "savane",
        "title": "Le zèbre des savanes",
        "body": "Un long article payant sur le zèbre, les lions et les girafes de la savane.",
        "url": "https://journal.example.fr/articles/zebre-savane",
        "date": "2024-03-01",
        "source": "journal",
    },
    {
        "id": "point-eau",
        "title": "La faune au point d'eau",
        "body": "On croise parfois un zèbre près du point d'eau, avec des lions et des girafes.",
        "url": "http://ancien.example.fr/faune",
        "date": "2023-06-10",
        "source": "journal",
    },
    {
        "id": "sans-adresse",
        "title": "Zèbre et rayures",
        "body": "Pourquoi le zèbre a-t-il des rayures ? Les girafes et les lions se le demandent.",
        "date": "2022-01-15",
        "source": "revue",
    },
]


@pytest.fixture(scope="module")
def site_index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    lines = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in DOCS)
    _corpus, index = build_index(root, {"articles.jsonl": lines})
    return index


class Links(HTMLParser):
    """Every address a page points at: links, forms, scripts, stylesheets, and the data-*
    addresses its script fetches."""

    def __init__(self) -> None:
        super().__init__()
        self.addresses: list[tuple[str, str]] = []  # (what, address)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if (
                (name == "href" and tag in ("a", "link"))
                or (name == "src" and tag in ("script", "img"))
                or (name == "action" and tag == "form")
                or name.startswith("data-instant")
            ):
                self.addresses.append((f"{tag} {name}", value))


def addresses(html: str) -> list[tuple[str, str]]:
    parser = Links()
    parser.feed(html)
    return parser.addresses


def own(address: str) -> bool:
    """Whether an address is the service's own (not a document's, not an anchor)."""
    return not address.startswith(("https://", "http://", "#"))


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SEARCHSVC_BASE_PATH", "recherche", "SEARCHSVC_BASE_PATH must be a path"),
        ("SEARCHSVC_BASE_PATH", "//evil.example", "SEARCHSVC_BASE_PATH must be a path"),
        ("SEARCHSVC_BASE_PATH", "/a/../b", "SEARCHSVC_BASE_PATH must be a path"),
        ("SEARCHSVC_BASE_PATH", '/a"b', "SEARCHSVC_BASE_PATH must be a path"),
        ("SEARCHSVC_LINK_TO_URL", "peut-être", "SEARCHSVC_LINK_TO_URL must be on or off"),
        ("SEARCHSVC_PRIVATE_TEXTS", "2", "SEARCHSVC_PRIVATE_TEXTS must be on or off"),
        ("SEARCHSVC_SITE_NAME", "x" * 81, "SEARCHSVC_SITE_NAME must be printable"),
        ("SEARCHSVC_SITE_NAME", "a\nb", "SEARCHSVC_SITE_NAME must be printable"),
        ("SEARCHSVC_THEME_CSS", "/nowhere/theme.css", "SEARCHSVC_THEME_CSS: no file"),
        ("SEARCHSVC_THEME_CSS", "https://x.fr/a<b.css", "SEARCHSVC_THEME_CSS: 'https://x.fr/a<b"),
        ("SEARCHSVC_FRAME_ANCESTORS", "*", "SEARCHSVC_FRAME_ANCESTORS: '*' is not an origin"),
        (
            "SEARCHSVC_FRAME_ANCESTORS",
            "https://a.fr, https://b.fr/page",
            "SEARCHSVC_FRAME_ANCESTORS: 'https://b.fr/page' is not an origin",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(monkeypatch, name, value, says):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as e:
        Settings.from_env()
    assert str(e.value).startswith(says)
    assert "\n" not in str(e.value)


def test_the_settings_are_read(monkeypatch, tmp_path):
    theme = tmp_path / "theme.css"
    theme.write_text(":root { --link: #8a0000; }")
    for name, value in {
        "SEARCHSVC_BASE_PATH": "/recherche/",
        "SEARCHSVC_LINK_TO_URL": "on",
        "SEARCHSVC_PRIVATE_TEXTS": "yes",
        "SEARCHSVC_SITE_NAME": "Le Journal",
        "SEARCHSVC_THEME_CSS": str(theme),
        "SEARCHSVC_FRAME_ANCESTORS": "https://www.journal.fr, http://127.0.0.1:8080/",
    }.items():
        monkeypatch.setenv(name, value)
    s = Settings.from_env()
    assert s.base_path == "/recherche"
    assert s.link_to_url and s.private_texts
    assert s.site_name == "Le Journal"
    assert s.theme_css == str(theme)
    assert s.frame_ancestors == ("https://www.journal.fr", "http://127.0.0.1:8080")


def test_the_serve_command_refuses_a_bad_base_path_in_one_line(tmp_path):
    from searchsvc.testing import child_env

    env = {**child_env(), "SEARCHSVC_BASE_PATH": "//evil.example"}
    done = subprocess.run(
        serve_command(free_port(), tmp_path / "index"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: SEARCHSVC_BASE_PATH must be a path such as /recherche (letters, digits, - . _ ~ "
        "between slashes; got '//evil.example')"
    ]


# -- the path prefix -----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["setting", "header"])
def test_every_address_of_the_pages_carries_the_prefix(make_app, site_index, how):
    if how == "setting":
        app = make_app(INDEX_DIR=str(site_index), BASE_PATH=PREFIX)
        headers = {}
    else:
        app = make_app(INDEX_DIR=str(site_index), TRUSTED_PROXIES=["127.0.0.1"])
        headers = {"X-Forwarded-Prefix": PREFIX}
    client = app.test_client()
    seen = 0
    for path in ["/", "/?q=z%C3%A8bre", "/doc/savane?q=z%C3%A8bre", "/doc/absent"]:
        r = client.get(path, headers=headers)
        assert r.status_code in (200, 404), path
        for what, address in addresses(r.get_data(as_text=True)):
            if own(address):
                seen += 1
                assert address.startswith(PREFIX + "/"), (path, what, address)
    assert seen > 20
    r = client.get("/instant?q=z%C3%A8b&typing=1", headers=headers)
    body = r.get_json()
    assert body["url"].startswith(PREFIX + "/?q=")
    links = [a for _w, a in addresses(body["html"]) if own(a)]
    assert links and all(a.startswith(PREFIX + "/") for a in links), links
    spec = client.get("/api/openapi.json", headers=headers).get_json()
    assert spec["servers"] == [{"url": PREFIX}]


def test_the_prefix_left_in_the_path_is_taken_off(make_app, site_index):
    """``proxy_pass http://127.0.0.1:8000;`` (no final slash) passes /recherche/… as it is."""
    client = make_app(INDEX_DIR=str(site_index), BASE_PATH=PREFIX).test_client()
    r = client.get(PREFIX + "/?q=z%C3%A8bre")
    assert r.status_code == 200
    assert f'action="{PREFIX}/"' in r.get_data(as_text=True)
    assert client.get(PREFIX + "/static/style.css").status_code == 200
    assert client.get(PREFIX).status_code == 200


@pytest.mark.parametrize(
    "forwarded", ["//evil.example", "https://evil.example", "/a/../b", '/x"><script>', "évil"]
)
def test_a_bad_forwarded_prefix_is_ignored(make_app, site_index, forwarded):
    app = make_app(INDEX_DIR=str(site_index), TRUSTED_PROXIES=["127.0.0.1"])
    r = app.test_client().get("/", headers={"X-Forwarded-Prefix": forwarded})
    assert r.status_code == 200
    assert 'action="/"' in r.get_data(as_text=True)


def test_the_forwarded_prefix_of_an_untrusted_peer_is_ignored(make_app, site_index):
    app = make_app(INDEX_DIR=str(site_index), TRUSTED_PROXIES=["10.0.0.1"])
    r = app.test_client().get("/", headers={"X-Forwarded-Prefix": "/ailleurs"})
    assert 'action="/"' in r.get_data(as_text=True)
    assert "/ailleurs" not in r.get_data(as_text=True)
    # Nor does a trusted proxy's header need the setting: with none trusted, it is ignored.
    app = make_app(INDEX_DIR=str(site_index), TRUSTED_PROXIES=[])
    r = app.test_client().get("/", headers={"X-Forwarded-Prefix": "/ailleurs"})
    assert "/ailleurs" not in r.get_data(as_text=True)


def test_a_trusted_forwarded_prefix_wins_over_the_setting(make_app, site_index):
    app = make_app(INDEX_DIR=str(site_index), BASE_PATH=PREFIX, TRUSTED_PROXIES=["127.0.0.1"])
    client = app.test_client()
    html = client.get("/", headers={"X-Forwarded-Prefix": "/autre"}).get_data(as_text=True)
    assert 'action="/autre/"' in html
    html = client.get("/", headers={"X-Forwarded-Prefix": "/"}).get_data(as_text=True)
    assert 'action="/"' in html


# -- results linking to the documents' own addresses -----------------------------------------


def hit_links(client, q: str = "zèbre") -> dict[str, str | None]:
    """Each hit's title -> where it links (None: not a link)."""
    html = client.get("/", query_string={"q": q}).get_data(as_text=True)
    titles = re.findall(r'<h2 class="hit-title">(.*?)</h2>', html)
    out = {}
    for t in titles:
        link = re.match(r'<a href="([^"]*)">', t)
        text = re.sub(r"<[^>]+>", "", t)
        out[text] = link.group(1).replace("&amp;", "&") if link else None
    return out


def test_titles_link_to_the_document_page_by_default(make_app, site_index):
    links = hit_links(make_app(INDEX_DIR=str(site_index)).test_client())
    assert len(links) == 3
    assert all(href.startswith("/doc/") for href in links.values()), links


def test_titles_link_to_the_documents_own_address_when_asked(make_app, site_index):
    client = make_app(INDEX_DIR=str(site_index), LINK_TO_URL=True).test_client()
    links = hit_links(client)
    assert links["Le zèbre des savanes"] == "https://journal.example.fr/articles/zebre-savane"
    assert links["La faune au point d'eau"] == "http://ancien.example.fr/faune"
    assert links["Zèbre et rayures"].startswith("/doc/sans-adresse?q=")  # no address of its own
    html = client.get("/instant", query_string={"q": "zèbre"}).get_json()["html"]
    assert 'href="https://journal.example.fr/articles/zebre-savane"' in html


# -- private texts -------------------------------------------------------------------------


def test_private_texts_have_no_page_nor_body(make_app, site_index):
    client = make_app(INDEX_DIR=str(site_index), PRIVATE_TEXTS=True).test_client()
    r = client.get("/doc/savane?q=z%C3%A8bre")
    assert r.status_code == 404
    assert "payant" not in r.get_data(as_text=True)
    assert client.get("/doc/sans-adresse").status_code == 404
    doc = client.get("/api/documents/savane").get_json()
    assert doc == {
        "id": "savane",
        "title": "Le zèbre des savanes",
        "url": "https://journal.example.fr/articles/zebre-savane",
        "date": "2024-03-01",
        "source": "journal",
    }
    assert client.get("/api/documents/absent").status_code == 404
    # Snippets still show; titles link to the documents' own addresses, or nowhere.
    links = hit_links(client)
    assert links["Le zèbre des savanes"] == "https://journal.example.fr/articles/zebre-savane"
    assert links["Zèbre et rayures"] is None
    assert "<mark>" in client.get("/?q=girafes").get_data(as_text=True)
    hits = client.get("/api/search?q=z%C3%A8bre").get_json()["hits"]
    assert all("<mark>" in h["snippet"] for h in hits)
    # "More like this" still works.
    similar = client.get("/api/documents/savane/similar").get_json()
    assert {h["id"] for h in similar["hits"]} <= {"point-eau", "sans-adresse"}
    assert similar["hits"]


def test_texts_are_public_by_default(make_app, site_index):
    client = make_app(INDEX_DIR=str(site_index)).test_client()
    assert client.get("/doc/savane").status_code == 200
    assert "payant" in client.get("/api/documents/savane").get_json()["body"]


# -- the site's name and colours -------------------------------------------------------------


def test_the_site_names_the_page(make_app, site_index):
    client = make_app(INDEX_DIR=str(site_index), SITE_NAME="Le Journal <du soir>").test_client()
    html = client.get("/?q=z%C3%A8bre").get_data(as_text=True)
    assert "<title>zèbre – Recherche · Le Journal &lt;du soir&gt;</title>" in html
    assert '<a class="brand" href="/">Le Journal &lt;du soir&gt;</a>' in html
    assert "searchsvc" not in html
    title = client.get("/instant?q=z%C3%A8bre").get_json()["title"]
    assert title == "zèbre – Recherche · Le Journal <du soir>"
    assert "searchsvc" not in client.get("/doc/absent").get_data(as_text=True)


def test_the_page_colours_are_custom_properties():
    """A site's stylesheet can only override the colours the page takes from variables."""
    css = (Path(__file__).parents[2] / "searchsvc/web/static/style.css").read_text()
    root, _, rest = css.partition("color-scheme: light;\n}")
    assert root.startswith("/*") and ":root {" in root
    colours = re.findall(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(", rest)
    assert colours == [], "a colour outside :root's custom properties"


def test_a_theme_file_is_served_under_the_policy(make_app, site_index, tmp_path):
    theme = tmp_path / "theme.css"
    theme.write_text(":root { --link: #8a0000; --bg: #fffaf0; }\n")
    app = make_app(INDEX_DIR=str(site_index), THEME_CSS=str(theme), BASE_PATH=PREFIX)
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    links = re.findall(r'<link rel="stylesheet" href="([^"]+)">', html)
    assert links == [f"{PREFIX}/static/style.css", f"{PREFIX}/theme.css"]  # the site's last
    with client.get("/theme.css") as r:
        assert r.status_code == 200
        assert r.mimetype == "text/css"
        assert b"--link: #8a0000" in r.data
        assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY  # 'self' is it


def test_a_theme_address_is_allowed_by_the_policy(make_app, site_index):
    url = "https://static.journal.fr/css/recherche.css?v=3"
    client = make_app(INDEX_DIR=str(site_index), THEME_CSS=url).test_client()
    r = client.get("/")
    assert f'<link rel="stylesheet" href="{url}">' in r.get_data(as_text=True)
    policy = r.headers["Content-Security-Policy"]
    assert "style-src 'self' https://static.journal.fr;" in policy
    assert client.get("/theme.css").status_code == 404


# -- framing -------------------------------------------------------------------------------


def test_nothing_is_frameable_by_default(make_app, site_index):
    client = make_app(INDEX_DIR=str(site_index)).test_client()
    for path in ["/", "/doc/savane", "/api/search?q=z%C3%A8bre"]:
        r = client.get(path)
        assert r.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_the_pages_are_frameable_by_the_listed_origins_only(make_app, site_index):
    origins = ("https://www.journal.fr", "http://127.0.0.1:8080")
    app = make_app(INDEX_DIR=str(site_index), FRAME_ANCESTORS=origins)
    # The headers as sent: the test client's responses, made of the app's response class,
    # would add the default ones back.
    client = FlaskClient(app, TestResponse)
    for path in ["/", "/?q=z%C3%A8bre", "/doc/savane", "/doc/absent"]:
        r = client.get(path)
        assert "X-Frame-Options" not in r.headers, path
        policy = r.headers["Content-Security-Policy"]
        assert "frame-ancestors https://www.journal.fr http://127.0.0.1:8080" in policy, path
        assert policy.count("frame-ancestors") == 1
        assert "script-src 'self'" in policy
    # The API, the health check and unknown addresses are as before.
    for path in ["/api/search?q=z%C3%A8bre", "/api/documents/savane", "/healthz", "/nulle"]:
        r = client.get(path)
        assert r.headers["X-Frame-Options"] == "DENY", path
        assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path


# -- served: gunicorn behind nginx under /recherche/ -------------------------------------------


def _unavailable(reason: str) -> None:
    """Skip on a developer's machine; in CI a missing tool is a failure, never a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so this test must run (`make scaleout-tools`)")
    pytest.skip(reason)


def nginx_site(port: int, upstream: str, forwarded: bool) -> str:
    """A site's nginx with the service under /recherche/, as docs/site.md "Behind your nginx"
    has it."""
    header = f"        proxy_set_header X-Forwarded-Prefix {PREFIX};\n" if forwarded else ""
    return (
        "server {\n"
        f"    listen 127.0.0.1:{port};\n"
        "    location / { return 200 'le site\\n'; }\n"
        f"    location {PREFIX}/ {{\n"
        f"        proxy_pass http://{upstream}/;\n"
        f"{header}"
        "    }\n"
        "}\n"
    )


@pytest.fixture
def nginx(tmp_path) -> Iterator:
    """Start nginx in the foreground for a site (its configuration text); stopped after."""
    if not NGINX.exists():
        _unavailable(f"{NGINX} is missing (apt-get install nginx-light)")
    procs: list[subprocess.Popen] = []

    def start(site: str, port: int) -> str:
        prefix = tmp_path / "nginx"
        prefix.mkdir()
        (prefix / "site.conf").write_text(site)
        temp = "\n".join(
            f"    {kind}_temp_path {prefix / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(
            "daemon off;\n"
            f"{user}"
            "worker_processes 1;\n"
            f"pid {prefix / 'nginx.pid'};\n"
            f"error_log {prefix / 'error.log'} notice;\n"
            "events { worker_connections 64; }\n"
            f"http {{\n{temp}\n    access_log {prefix / 'access.log'};\n"
            f"    include {prefix / 'site.conf'};\n}}\n"
        )
        cmd = [str(NGINX), "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log")]
        checked = subprocess.run([*cmd, "-t"], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        with open(prefix / "stdout.log", "wb") as out:
            procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT))
        url = f"http://127.0.0.1:{port}"
        _wait_for(url + PREFIX + "/healthz", procs[-1])
        return url

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, "nginx exited"
        try:
            if get(url)[0] == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer 200"
        time.sleep(0.1)


def get(url: str) -> tuple[int, str, bytes]:
    """GET without following redirects: (status, content type, body)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=20) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers.get("Content-Type", ""), e.read()


def crawl(base: str, start: str, limit: int = 60) -> dict[str, int]:
    """Follow every link, form, script and stylesheet of the service's pages from ``start``
    (the site's own and the documents' addresses excluded), breadth first, ``limit`` pages at
    most; each address seen -> its status. Every address must be under the prefix."""
    seen: dict[str, int] = {}
    queue = [start]
    while queue and len(seen) < limit:
        address = queue.pop(0)
        if address in seen:
            continue
        status, kind, body = get(base + address)
        seen[address] = status
        if "text/html" not in kind:
            continue
        for what, found in addresses(body.decode("utf-8")):
            if not own(found):
                continue
            resolved = urljoin(address, found.replace("&amp;", "&"))
            assert resolved.startswith(PREFIX + "/"), (address, what, found)
            path = urlsplit(resolved)
            target = path.path + (f"?{path.query}" if path.query else "")
            if what == "form action":
                target = f"{path.path}?q=z%C3%A8bre"
            if target not in seen:
                queue.append(target)
    return seen


@pytest.mark.parametrize("how", ["setting", "header"])
def test_the_page_behind_nginx_under_a_path(tmp_path, site_index, nginx, how):
    """docs/site.md "Behind your nginx": the service under /recherche/ of a site's nginx, told so by
    SEARCHSVC_BASE_PATH or by nginx's X-Forwarded-Prefix (from a trusted proxy); every link,
    form, script, stylesheet and instant-search address of its pages is under /recherche/ and
    answers 200 there (a document page too, the error page for a missing one excepted)."""
    env = (
        [f"SEARCHSVC_BASE_PATH={PREFIX}"]
        if how == "setting"
        else ["SEARCHSVC_TRUSTED_PROXIES=127.0.0.1"]
    )
    server = start_server(
        site_index,
        tmp_path / "serve-{port}.log",
        timeout=60,
        command=lambda port: ["env", *env, *serve_command(port, site_index, workers=1)],
    )
    try:
        port = free_port()
        base = nginx(nginx_site(port, f"127.0.0.1:{server.port}", how == "header"), port)
        assert get(base + "/")[2] == b"le site\n"  # the site's own root is the site's
        seen = crawl(base, PREFIX + "/?q=z%C3%A8bre")
        bad = {a: s for a, s in seen.items() if s != 200}
        assert bad == {}, bad
        assert PREFIX + "/static/style.css" in seen
        assert PREFIX + "/static/search.js" in seen
        assert any(a.startswith(PREFIX + "/doc/savane") for a in seen)
        assert any(a.startswith(PREFIX + "/instant") for a in seen)  # data-instant
        status, _, body = get(base + PREFIX + "/instant?q=z%C3%A8b&typing=1")
        assert status == 200
        assert json.loads(body)["url"].startswith(PREFIX + "/?q=")
        assert get(base + PREFIX + "/doc/absent")[0] == 404
    finally:
        server.stop()


# -- the instant search in Chromium under the prefix ------------------------------------------


def test_instant_search_works_under_the_prefix(tmp_path, site_index, nginx, browser):
    server = start_server(
        site_index,
        tmp_path / "serve-{port}.log",
        timeout=60,
        command=lambda port: [
            "env",
            f"SEARCHSVC_BASE_PATH={PREFIX}",
            *serve_command(port, site_index, workers=1),
        ],
    )
    try:
        port = free_port()
        base = nginx(nginx_site(port, f"127.0.0.1:{server.port}", False), port)
        context = browser.new_context()
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(urlsplit(r.url).path))
        failed: list[str] = []
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
        page.goto(base + PREFIX + "/")
        # The stylesheet applied (it lost its styles under a path before).
        assert (
            page.evaluate("getComputedStyle(document.querySelector('.search-row')).display")
            == "flex"
        )
        page.locator("#q").press_sequentially("zèbr", delay=30)
        page.locator(".hit-title a").first.wait_for(timeout=15_000)
        assert page.locator(".hit-title").count() == 3
        assert urlsplit(page.url).path == PREFIX + "/"
        assert any(p == PREFIX + "/instant" for p in requests), requests
        assert not [p for p in requests if p.startswith("/instant")]
        page.locator(".hit-title a").first.click()
        page.wait_for_load_state()
        assert urlsplit(page.url).path.startswith(PREFIX + "/doc/")
        assert page.locator(".doc-title").count() == 1
        assert failed == []
        context.close()
    finally:
        server.stop()
