"""The embeddable search box (``/searchbox.js``) and cross-origin calls to the API (CORS).

The browser tests serve a host page from another origin (a second loopback port) with the
two lines a site pastes, the search service being the app served from a thread, and drive
Debian's Chromium through Playwright. The CORS answers themselves are checked through Flask's
test client.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from searchsvc.settings import CORS_MAX_AGE_S, Settings
from searchsvc.testing import app_in_thread, build_index
from searchsvc.web import create_app, embed

from .conftest import close_app

SCRIPT = Path(embed.__file__).parent / "static" / "searchbox.js"
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
TIMEOUT_MS = 10_000
ALLOWED = "https://www.example.fr"

# Titles and bodies a hostile corpus could hold: none of it may become HTML in the host page.
HOSTILE_IMG = '<img src=x onerror="window.__pwned=1">Réseau piégé'
HOSTILE_SCRIPT = "<script>window.__pwned=3</script>"
DOCS = [
    {
        "id": "guides/reseau-local",
        "title": "Configuration du réseau local",
        "body": "Pour configurer le réseau local, ouvrez les paramètres du réseau. " * 3,
    },
    {
        "id": "guides/sans-fil",
        "title": "Le réseau sans fil",
        "body": "Un réseau sans fil se configure avec le mot de passe de la borne. " * 3,
        "url": "https://docs.example.org/sans-fil",
    },
    {
        "id": "securite",
        "title": "Sécurité du réseau",
        "body": "Protéger le réseau : un pare-feu filtre les paquets du réseau entrant. " * 3,
    },
    {
        "id": "recto",
        "title": "Imprimer en recto verso",
        "body": "L'impression recto verso économise le papier de l'imprimante. " * 3,
    },
    {
        "id": "piege-img",
        "title": HOSTILE_IMG,
        "body": 'Un réseau piégé <img src=x onerror="window.__pwned=4"> et du texte. ' * 3,
    },
    {
        "id": "piege-script",
        "title": HOSTILE_SCRIPT,
        "body": "Le réseau et un <script>window.__pwned=2</script> script. " * 3,
    },
]


@pytest.fixture(scope="module")
def box_index(tmp_path_factory) -> Path:
    lines = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in DOCS)
    _, index = build_index(tmp_path_factory.mktemp("box"), {"docs.jsonl": lines})
    return index


# -- CORS and the script, through the test client ------------------------------------------


@pytest.fixture
def cors_client(make_app, box_index):
    app = make_app(INDEX_DIR=str(box_index), ALLOWED_ORIGINS=[ALLOWED, "http://127.0.0.1:8080"])
    return app.test_client()


def test_an_allowed_origin_gets_cors_headers_and_never_credentials(cors_client):
    response = cors_client.get("/api/search?q=réseau", headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Expose-Headers"] == "Retry-After"
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    # The security headers stay.
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/api/suggest?q=rés", "/api/documents/securite", "/api/openapi.json"):
        answer = cors_client.get(path, headers={"Origin": "http://127.0.0.1:8080"})
        assert answer.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8080", path


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://www.example.fr.evil.example", "null", None]
)
def test_another_origin_gets_no_cors_headers(cors_client, origin):
    headers = {"Origin": origin} if origin else {}
    response = cors_client.get("/api/search?q=réseau", headers=headers)
    assert response.status_code == 200  # answered, but a browser will not let the page read it
    assert not [k for k, _ in response.headers.items() if k.startswith("Access-Control-")]
    assert "Origin" in response.headers["Vary"]  # a cache must not serve it to an allowed one


def test_no_cors_outside_the_public_api(cors_client):
    for path in ("/", "/?q=réseau", "/doc/securite", "/instant?q=r%C3%A9s", "/api/stats"):
        response = cors_client.get(path, headers={"Origin": ALLOWED})
        assert "Access-Control-Allow-Origin" not in response.headers, path
    page = cors_client.get("/", headers={"Origin": ALLOWED})
    assert "frame-ancestors" in page.headers["Content-Security-Policy"]


def test_a_preflight_is_answered_and_cached(cors_client):
    preflight = {
        "Origin": ALLOWED,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "content-type",
    }
    response = cors_client.options("/api/search?q=réseau", headers=preflight)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
    assert "Authorization" not in response.headers["Access-Control-Allow-Headers"]
    assert response.headers["Access-Control-Max-Age"] == str(CORS_MAX_AGE_S)
    assert "Access-Control-Allow-Credentials" not in response.headers
    refused = cors_client.options(
        "/api/search", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_a_preflight_and_the_script_never_wait_behind_searches(make_app, box_index):
    """With every slot taken and no queue, a search is shed (503 overloaded, its CORS headers
    on, Retry-After readable) but a preflight and the script are answered."""
    app = make_app(INDEX_DIR=str(box_index), ALLOWED_ORIGINS=ALLOWED, MAX_IN_FLIGHT=1, MAX_QUEUED=0)
    client = app.test_client()
    limiter = app.extensions["searchsvc.limiter"]
    assert limiter.acquire()
    try:
        shed = client.get("/api/search?q=réseau", headers={"Origin": ALLOWED})
        assert shed.status_code == 503
        assert shed.get_json()["error"]["code"] == "overloaded"
        assert shed.headers["Retry-After"]
        assert shed.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert shed.headers["Access-Control-Expose-Headers"] == "Retry-After"
        preflight = client.options(
            "/api/search?q=r", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"}
        )
        assert preflight.status_code == 204
        assert client.get("/searchbox.js").status_code == 200
    finally:
        limiter.release()


def test_the_script_is_cached_and_versioned_by_its_hash(cors_client):
    response = cors_client.get("/searchbox.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.data == SCRIPT.read_bytes()
    assert response.headers["Cache-Control"] in ("public, max-age=3600", "max-age=3600, public")
    etag = response.headers["ETag"]
    version = etag.strip('"')
    assert re.fullmatch(r"[0-9a-f]{16}", version)
    assert cors_client.get("/searchbox.js", headers={"If-None-Match": etag}).status_code == 304
    pinned = cors_client.get(f"/searchbox.js?v={version}")
    assert "immutable" in pinned.headers["Cache-Control"]
    assert "max-age=31536000" in pinned.headers["Cache-Control"]
    stale = cors_client.get("/searchbox.js?v=0123456789abcdef")
    assert "immutable" not in stale.headers["Cache-Control"]


def test_the_script_is_at_most_15_kb_gzipped():
    assert len(gzip.compress(SCRIPT.read_bytes(), 9)) <= 15 * 1024


def test_the_api_searches_as_you_type_when_asked(cors_client):
    """``typing=1``: the last word is a prefix, as the search page's /instant reads it."""
    typed = cors_client.get("/api/search?q=papi&typing=1").get_json()
    assert [h["id"] for h in typed["hits"]] == ["recto"]
    assert cors_client.get("/api/search?q=papi").get_json()["total"] == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ()),
        ("https://www.example.fr", ("https://www.example.fr",)),
        (
            " https://a.example/ , http://127.0.0.1:8080",
            ("https://a.example", "http://127.0.0.1:8080"),
        ),
    ],
)
def test_allowed_origins_setting(monkeypatch, value, expected):
    monkeypatch.setenv("SEARCHSVC_ALLOWED_ORIGINS", value)
    assert Settings.from_env().allowed_origins == expected


@pytest.mark.parametrize("value", ["*", "www.example.fr", "https://example.fr/search", "null"])
def test_a_bad_allowed_origin_is_one_line_naming_the_setting(monkeypatch, value):
    monkeypatch.setenv("SEARCHSVC_ALLOWED_ORIGINS", value)
    with pytest.raises(ValueError) as error:
        Settings.from_env()
    message = str(error.value)
    assert "SEARCHSVC_ALLOWED_ORIGINS" in message and "\n" not in message
    with pytest.raises(ValueError):
        embed.origins(value)


# -- the box in a browser, on another origin -----------------------------------------------

HOST_PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Un site hôte</title>
<script src="{service}/searchbox.js" defer></script>
</head>
<body>
<header><p>Un site</p>{field}</header>
<main><h1>Bienvenue</h1><p>Le contenu du site.</p></main>
</body>
</html>
"""
INPUT_FIELD = (
    '<form action="/recherche" role="search"><label for="q">Rechercher sur le site</label> '
    '<input id="q" name="q" type="search" data-searchsvc{options}></form>'
)
DIV_FIELD = "<div data-searchsvc{options}></div>"


def host_app(service: dict):
    """A tiny site on its own origin: ``/`` holds the box on an input of its own form, ``/div``
    on a div; ``?lang=`` sets the page's language, ``?links=url`` the box's links, and
    ``?csp=1`` sends a strict Content-Security-Policy (no inline script nor style).
    ``service["url"]`` is the search service's address, set once it is started."""
    from werkzeug.wrappers import Request, Response

    def app(environ, start_response):
        request = Request(environ)
        if request.path not in ("/", "/div"):  # /favicon.ico: nothing, and no error logged
            return Response(status=204)(environ, start_response)
        url = service["url"]
        options = ' data-searchsvc-links="url"' if request.args.get("links") else ""
        field = (DIV_FIELD if request.path == "/div" else INPUT_FIELD).format(options=options)
        html = HOST_PAGE.format(lang=request.args.get("lang", "fr"), service=url, field=field)
        response = Response(html, mimetype="text/html")
        if request.args.get("csp"):
            response.headers["Content-Security-Policy"] = (
                f"default-src 'self'; script-src 'self' {url}; connect-src {url}; "
                "style-src 'self'; img-src 'self'"
            )
        return response(environ, start_response)

    return app


@pytest.fixture(scope="module")
def sites(box_index):
    """The search service and two host sites, each on its own loopback port: the service
    allows the first site's origin and not the second's."""
    service: dict = {}
    with (
        app_in_thread(host_app(service), healthy=False) as allowed,
        app_in_thread(host_app(service), healthy=False) as refused,
    ):
        app = create_app({"INDEX_DIR": str(box_index), "ALLOWED_ORIGINS": [allowed]})
        with app_in_thread(app) as url:
            service["url"] = url
            yield {"service": url, "allowed": allowed, "refused": refused}
        close_app(app)


@pytest.fixture
def open_page(browser):
    """Open a page in a fresh context; page errors fail the test, and console errors unless
    expected (a refused origin's blocked requests)."""
    contexts, problems = [], []

    def open_(url: str, width: int = 1280, height: int = 800, expected: tuple[str, ...] = ()):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on(
            "console",
            lambda m: (
                problems.append(f"console: {m.text}")
                if m.type == "error" and not any(e in m.text for e in expected)
                else None
            ),
        )
        page.goto(url)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert problems == []


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


FIELD = "input[data-searchsvc]"


def options_of(page) -> list[str]:
    return page.locator("[role=listbox] [role=option]").all_inner_texts()


@pytest.mark.browser
def test_typing_shows_results_and_the_keyboard_opens_one(open_page, sites):
    page = open_page(sites["allowed"] + "/")
    field = page.locator(FIELD)
    expect()(field).to_have_attribute("role", "combobox")
    expect()(field).to_have_attribute("aria-expanded", "false")
    field.press_sequentially("rés", delay=30)  # a prefix: the word is not finished
    listbox = page.locator("[role=listbox]")
    expect()(listbox).to_be_visible()
    expect()(field).to_have_attribute("aria-expanded", "true")
    assert field.get_attribute("aria-controls") == listbox.get_attribute("id")
    expect()(page.locator(".searchsvc-all")).to_have_text("Voir les 5 résultats")
    titles = page.locator(".searchsvc-title").all_inner_texts()
    assert titles[:3] == [
        "Sécurité du réseau",
        "Configuration du réseau local",
        "Le réseau sans fil",
    ]
    marks = page.locator(".searchsvc-snippet mark").all_inner_texts()
    assert marks and set(marks) == {"réseau"}
    # Down twice, up once: the first hit is the active descendant.
    field.press("ArrowDown")
    field.press("ArrowDown")
    field.press("ArrowUp")
    first = page.locator("[role=option]").first
    expect()(first).to_have_attribute("aria-selected", "true")
    assert field.get_attribute("aria-activedescendant") == first.get_attribute("id")
    field.press("Escape")
    expect()(field).to_have_attribute("aria-expanded", "false")
    expect()(listbox).to_be_hidden()
    field.press("ArrowDown")  # opens again, on the first option
    expect()(first).to_have_attribute("aria-selected", "true")
    field.press("ArrowDown")
    with page.expect_navigation():
        field.press("Enter")
    assert page.url == sites["service"] + "/doc/guides/reseau-local?q=r%C3%A9s"
    expect()(page.locator("h1")).to_contain_text("Configuration du réseau local")


@pytest.mark.browser
def test_see_all_results_and_did_you_mean(open_page, sites):
    page = open_page(sites["allowed"] + "/div")
    field = page.locator("div[data-searchsvc] input")
    expect()(field).to_have_attribute("aria-label", "Rechercher")
    field.press_sequentially("rezeau", delay=30)  # begins no word: corrected
    mean = page.locator(".searchsvc-mean")
    expect()(mean).to_have_text("Vouliez-vous dire\u00a0: réseau\u202f?")
    mean.click()
    expect()(field).to_have_value("réseau")
    expect()(page.locator(".searchsvc-mean")).to_have_count(0)
    field.fill("imprimante")
    expect()(page.locator(".searchsvc-all")).to_have_text("Voir le résultat")
    with page.expect_navigation():
        page.locator(".searchsvc-all").click()
    assert page.url == sites["service"] + "/?q=imprimante"


@pytest.mark.browser
def test_stale_requests_are_aborted(open_page, sites):
    page = open_page(sites["allowed"] + "/")
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.failure or "") if "/api/" in r.url else 0)
    held = []
    page.route("**/api/search?q=imp*", lambda route: held.append(route))
    field = page.locator(FIELD)
    field.press_sequentially("imp", delay=20)
    page.wait_for_function("document.querySelector('.searchsvc-loading') !== null")
    assert len(held) == 1
    field.fill("réseau")
    expect()(page.locator(".searchsvc-all")).to_have_text("Voir les 5 résultats")
    assert failed == ["net::ERR_ABORTED"]


@pytest.mark.browser
def test_a_busy_server_is_asked_again(open_page, sites):
    page = open_page(sites["allowed"] + "/", expected=("503",))
    calls: list[str] = []

    def once_busy(route):
        calls.append(route.request.url)
        if len(calls) > 1:
            return route.continue_()
        route.fulfill(
            status=503,
            content_type="application/json",
            headers={
                "Retry-After": "1",
                "Access-Control-Allow-Origin": sites["allowed"],
                "Access-Control-Expose-Headers": "Retry-After",
            },
            body=json.dumps({"error": {"code": "overloaded", "message": "busy"}}),
        )

    page.route("**/api/search?*", once_busy)
    page.locator(FIELD).fill("imprimante")
    expect()(page.locator(".searchsvc-note")).to_have_text("Serveur occupé, nouvel essai…")
    expect()(page.locator(".searchsvc-all")).to_have_text("Voir le résultat")
    expect()(page.locator(".searchsvc-note")).to_be_hidden()
    assert len(calls) == 2 and calls[0] == calls[1]


@pytest.mark.browser
def test_a_refused_origin_gets_no_results_and_the_box_says_so(open_page, sites):
    page = open_page(sites["refused"] + "/", expected=("CORS", "Failed to load resource"))
    failed = []
    page.on("requestfailed", lambda r: failed.append(r.url) if "/api/search" in r.url else None)
    page.locator(FIELD).fill("réseau")
    note = page.locator(".searchsvc-note")
    expect()(note).to_have_text("Le service de recherche ne répond pas, nouvel essai…")
    expect()(note).to_have_class(re.compile("searchsvc-error"))
    expect()(note).to_have_text(
        "La recherche n’a pas abouti\u00a0: réessayez dans un instant.", timeout=15_000
    )
    assert page.locator("[role=option]").count() == 0
    assert len(failed) == 3  # the first try and two more; the headers: see the test above


@pytest.mark.browser
def test_hostile_titles_and_bodies_stay_text(open_page, sites):
    page = open_page(sites["allowed"] + "/")
    page.locator(FIELD).fill("réseau")
    expect()(page.locator(".searchsvc-all")).to_have_text("Voir les 5 résultats")
    titles = page.locator(".searchsvc-title").all_inner_texts()
    assert HOSTILE_IMG in titles and HOSTILE_SCRIPT in titles
    page.locator(FIELD).fill("piégé")
    expect()(page.locator(".searchsvc-snippet").first).to_contain_text("onerror")
    page.wait_for_timeout(300)  # time for an injected handler to have run
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".searchsvc-pop img, .searchsvc-pop script").count() == 0
    tags = page.evaluate(
        "[...document.querySelectorAll('.searchsvc-pop *')].map(e => e.tagName.toLowerCase())"
    )
    assert set(tags) <= {"p", "ul", "li", "span", "mark", "strong"}


@pytest.mark.browser
def test_a_strict_csp_host_and_links_to_the_documents_own_address(open_page, sites):
    """A host page forbidding inline script and style still gets a styled box (constructed
    style sheets); with data-searchsvc-links=url, a hit opens the document's own url."""
    page = open_page(sites["allowed"] + "/?csp=1&links=url")
    page.locator(FIELD).fill("sans fil")
    hit = page.locator(".searchsvc-hit").first
    expect()(hit).to_contain_text("Le réseau sans fil")
    assert (
        page.evaluate("getComputedStyle(document.querySelector('.searchsvc-pop')).position")
        == "absolute"
    )
    page.route("https://docs.example.org/**", lambda route: route.fulfill(body="ailleurs"))
    with page.expect_navigation():
        hit.click()
    assert page.url == "https://docs.example.org/sans-fil"


@pytest.mark.browser
@pytest.mark.parametrize(
    ("lang", "all_text", "ui_lang"),
    [
        ("fr", "Voir le résultat", None),
        ("en", "See the result", None),
        ("de", "Voir le résultat", "fr"),
    ],
)
def test_the_host_pages_language(open_page, sites, lang, all_text, ui_lang):
    page = open_page(f"{sites['allowed']}/?lang={lang}")
    page.locator(FIELD).fill("imprimante")
    expect()(page.locator(".searchsvc-all")).to_have_text(all_text)
    assert page.locator(".searchsvc-pop").get_attribute("lang") == ui_lang
    hit_lang = page.locator(".searchsvc-title").first.get_attribute("lang")
    assert hit_lang == ("fr" if lang == "en" else None)  # the documents are French


def _axe_violations(page) -> list[str]:
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing: run `npm ci` (make test does)")
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found = page.evaluate("axe.run(document).then(r => JSON.stringify(r.violations))")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in json.loads(found)
    ]


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 320])
@pytest.mark.parametrize("path", ["/", "/div"])
def test_no_accessibility_violations_with_the_box_open(open_page, sites, width, path):
    page = open_page(sites["allowed"] + path, width=width, height=700)
    field = page.locator("[data-searchsvc], [data-searchsvc] input").last
    field.fill("réseau")
    expect()(page.locator(".searchsvc-all")).to_be_visible()
    field.press("ArrowDown")
    pop = page.locator(".searchsvc-pop").bounding_box()
    assert pop["x"] >= 0 and pop["x"] + pop["width"] <= width  # fits a 320 px screen
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert _axe_violations(page) == []
    expect()(page.locator("[role=listbox]")).to_be_visible()  # still open while checked
