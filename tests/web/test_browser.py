"""The search page in a real headless Chromium (Debian's), with and without JavaScript.

Two servers in this process: the seed corpus shown two hits a page (``live_url``), so that
the five seed articles page, and a corpus with sources and dates three a page
(``facets_url``, tests/web/facet_corpus.py), for the filters. Every page is checked for
console errors (CSP violations included) and for requests leaving the app. The accessibility
checks inject axe-core, installed from npm by ``make test`` (``npm ci``).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from searchsvc.testing import app_in_thread
from searchsvc.web import create_app

from .conftest import close_app
from .facet_corpus import build_index

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
NBSP, NNBSP = "\u00a0", "\u202f"


@pytest.fixture(scope="module")
def facets_url(tmp_path_factory):
    index = build_index(tmp_path_factory.mktemp("facets"))
    app = create_app({"INDEX_DIR": str(index), "PAGE_SIZE": 3})
    with app_in_thread(app) as url:
        yield url
    close_app(app)


@pytest.fixture(scope="module")
def unbuilt_url(tmp_path_factory):
    """A server whose index was never built."""
    app = create_app({"INDEX_DIR": str(tmp_path_factory.mktemp("none") / "index")})
    with app_in_thread(app, healthy=False) as url:
        yield url
    close_app(app)


@pytest.fixture
def context_factory(browser, live_url):
    """New browser contexts (on the live server unless told); every page is checked for
    console errors (CSP violations included) and for requests leaving the app."""
    contexts = []
    problems: list[str] = []

    def make(
        javascript: bool = True,
        width: int = 1200,
        height: int = 900,
        base_url: str = live_url,
        expected_errors: tuple[str, ...] = (),
        **options,
    ):
        context = browser.new_context(
            base_url=base_url,
            java_script_enabled=javascript,
            viewport={"width": width, "height": height},
            locale="fr-FR",
            **options,
        )
        context.set_default_timeout(TIMEOUT_MS)

        def on_console(m):
            if m.type == "error" and not any(e in m.text for e in expected_errors):
                problems.append(f"console {m.type}: {m.text}")

        def on_page(page):
            page.on("console", on_console)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on(
                "request",
                lambda r: (
                    problems.append(f"external request: {r.url}")
                    if not r.url.startswith((base_url, "data:"))
                    else None
                ),
            )

        context.on("page", on_page)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert problems == []


@pytest.fixture
def page(context_factory):
    return context_factory().new_page()


@pytest.fixture
def page_no_js(context_factory):
    return context_factory(javascript=False).new_page()


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def javascript(request) -> bool:
    return request.param


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def hit_titles(page) -> list[str]:
    return page.locator("ol.hits > li h2 a").all_inner_texts()


def search(page, q: str, javascript: bool) -> None:
    """Search for ``q`` as a reader would: typing with JavaScript, the form without."""
    box = page.locator("#q")
    if javascript:
        box.fill("")
        box.press_sequentially(q, delay=30)
    else:
        box.fill(q)
        box.press("Enter")


def instant_requests(page) -> list:
    found: list = []
    page.on("request", lambda r: found.append(r) if "/instant?" in r.url else None)
    return found


# -- instant search ------------------------------------------------------------------------


def test_typing_shows_results_for_the_word_being_typed(page):
    page.goto("/")
    box = page.locator("#q")
    expect()(box).to_be_focused()  # autofocus
    box.press_sequentially("delano", delay=40)  # a prefix: the word is not finished
    expect()(page.locator("#summary")).to_have_text("2 résultats")
    expect()(page).to_have_url(re.compile(r"/\?q=delano$"))
    assert len(hit_titles(page)) == 2
    marks = page.locator("ol.hits .snippet mark").all_inner_texts()
    assert marks and set(marks) == {"Delanoë"}
    assert page.locator("ol.hits h2 mark").first.inner_text() == "Delanoë"  # titles too
    expect()(page.locator(".suggestion")).to_have_count(0)  # no did-you-mean while typing
    # Typing more replaces the history entry rather than stacking one per pause.
    box.press_sequentially("e maire", delay=40)
    expect()(page).to_have_url(re.compile(r"/\?q=delanoe\+maire$"))
    page.go_back()
    expect()(page).to_have_url(re.compile(r"/$"))
    expect()(page.locator("#q")).to_have_value("")
    expect()(page.locator(".help")).to_be_visible()


def test_one_request_per_pause_the_earlier_ones_aborted(page):
    requests = instant_requests(page)
    failed: list[str] = []
    page.on(
        "requestfailed", lambda r: failed.append(r.failure or "") if "/instant?" in r.url else 0
    )
    api = []
    page.on("request", lambda r: api.append(r.url) if "/api/" in r.url else None)
    page.goto("/")
    held = []
    page.route("**/instant?*q=twit&*", lambda route: held.append(route))
    page.locator("#q").press_sequentially("twit", delay=20)  # a burst of typing: one pause
    expect()(page.locator("form.search-form")).to_have_class(re.compile("is-loading"))
    assert len(held) == 1
    page.locator("#q").press_sequentially("ter", delay=20)  # another burst, before the answer
    expect()(page.locator("#summary")).to_have_text("Résultats 1–2 sur 5")
    typed = [r.url.split("q=")[1].split("&")[0] for r in requests]
    assert typed[-2:] == ["twit", "twitter"] and len(typed) <= 3  # (a slow machine may pause)
    assert failed == ["net::ERR_ABORTED"]  # the first was aborted
    assert api == []  # no separate suggest request: completions come with the results
    expect()(page.locator("form.search-form")).not_to_have_class(re.compile("is-loading"))


def test_results_stay_until_new_ones_arrive(page):
    page.goto("/?q=delanoe")
    before = hit_titles(page)
    held = []
    page.route("**/instant?*", lambda route: held.append(route))
    page.locator("#q").press("End")
    page.locator("#q").press_sequentially(" courtise", delay=20)
    expect()(page.locator("form.search-form")).to_have_class(re.compile("is-loading"))
    expect()(page.locator("#results")).to_have_attribute("aria-busy", "true")
    assert hit_titles(page) == before  # still the previous results
    # A slow machine may pause within the burst ("delanoe " first): answer the last text's.
    deadline = time.monotonic() + 10
    while not any("courtise" in r.request.url for r in held) and time.monotonic() < deadline:
        page.wait_for_timeout(20)
    next(r for r in held if "courtise" in r.request.url).continue_()
    # One document holds both words, one more only « delanoe ».
    expect()(page.locator("#summary")).to_have_text("2 résultats")
    expect()(page.locator("#results")).not_to_have_attribute("aria-busy", "true")


def test_overloaded_keeps_the_results_and_retries_after_retry_after(context_factory):
    page = context_factory(expected_errors=("503",)).new_page()
    page.goto("/?q=twitter")
    expect()(page.locator("#summary")).to_have_text("Résultats 1–2 sur 5")
    before = hit_titles(page)
    shed = []

    def overloaded(route):
        if not shed:
            shed.append(time.monotonic())
            route.fulfill(
                status=503,
                headers={"Retry-After": "1", "Content-Type": "text/html; charset=utf-8"},
                body="<html><p>Le service est très sollicité.</p></html>",
            )
        else:
            shed.append(time.monotonic())
            route.continue_()

    page.route("**/instant?*", overloaded)
    page.locator("#q").press("End")
    page.locator("#q").press_sequentially(" delanoe", delay=20)
    busy = page.locator("#busy")
    expect()(busy).to_have_text("Serveur occupé, nouvel essai…")
    assert hit_titles(page) == before
    assert "index" not in page.locator("main").inner_text()
    expect()(busy).to_be_hidden(timeout=5_000)  # retried after a second, and answered
    assert len(shed) == 2 and shed[1] - shed[0] >= 0.9
    # Two documents hold both words, three more one of them (as many as « twitter » alone
    # finds: the notice tells the new results).
    expect()(page.locator(".notice.partial")).to_contain_text("2 documents contiennent tous")
    expect()(page.locator("#summary")).to_have_text("Résultats 1–2 sur 5")


def test_an_unbuilt_index_is_said_in_the_servers_words(context_factory, unbuilt_url):
    context = context_factory(base_url=unbuilt_url, expected_errors=("503",))
    page = context.new_page()
    page.goto("/")
    page.locator("#q").press_sequentially("réseau", delay=20)
    expect()(page.locator("#results .error")).to_contain_text("n'est pas prêt")
    expect()(page.locator("#busy")).to_be_hidden()


def test_a_refused_query_shows_the_servers_message_never_under_the_list(context_factory):
    page = context_factory(expected_errors=("400",)).new_page()
    page.goto("/")
    page.locator("#q").fill(" ".join(f"mot{i}" for i in range(60)))
    error = page.locator("#results .error")
    expect()(error).to_contain_text("trop de termes (50 au plus)")
    expect()(page.get_by_role("listbox")).to_be_hidden()


# -- autocomplete --------------------------------------------------------------------------


def test_autocomplete_with_the_keyboard(page):
    page.goto("/")
    box = page.locator("#q")
    box.press_sequentially("dela", delay=40)
    listbox = page.get_by_role("listbox")
    expect()(listbox).to_be_visible()
    expect()(box).to_have_attribute("aria-expanded", "true")
    options = page.get_by_role("option")
    expect()(options.first).to_have_text("delanoë")
    expect()(options.first.locator("strong")).to_have_text("noë")  # the completed part
    box.press("ArrowDown")
    expect()(options.first).to_have_attribute("aria-selected", "true")
    expect()(box).to_have_attribute("aria-activedescendant", "suggestion-0")
    box.press("Enter")
    expect()(box).to_have_value("delanoë")
    expect()(listbox).to_be_hidden()
    expect()(page.locator("#summary")).to_have_text("2 résultats")
    expect()(page).to_have_url(re.compile(r"/\?q=delano%C3%AB$"))
    # Escape closes the list without touching the text.
    box.press_sequentially(" twit", delay=40)
    expect()(listbox).to_be_visible()
    box.press("Escape")
    expect()(listbox).to_be_hidden()
    expect()(box).to_have_value("delanoë twit")


def test_autocomplete_with_the_mouse(page):
    page.goto("/")
    page.locator("#q").press_sequentially("pré", delay=40)
    page.get_by_role("option", name="président", exact=True).click()
    expect()(page.locator("#q")).to_have_value("président")
    expect()(page.locator("#q")).to_be_focused()
    expect()(page).to_have_url(re.compile(r"/\?q=pr%C3%A9sident$"))


def test_autocomplete_completes_the_query_with_written_words(context_factory, facets_url):
    page = context_factory(base_url=facets_url).new_page()
    page.goto("/")
    box = page.locator("#q")
    box.press_sequentially("mot de pa", delay=40)
    first = page.get_by_role("option").first
    expect()(first).to_have_text("mot de passe")
    expect()(first.locator("strong")).to_have_text("sse")
    box.fill("")
    box.press_sequentially("configura", delay=40)
    expect()(page.get_by_role("option").first).to_have_text("configuration")
    offered = page.get_by_role("option").all_inner_texts()
    assert not [o for o in offered if "afficher" in o.lower()]  # no glued forms
    box.fill("")
    box.press_sequentially("motc", delay=40)
    expect()(page.get_by_role("option")).to_have_text(["mot-clé"])


# -- filters and sort, with and without JavaScript -----------------------------------------


def test_filters_and_sort_live_in_the_address(context_factory, facets_url, javascript):
    page = context_factory(javascript=javascript, base_url=facets_url).new_page()
    page.goto("/")
    search(page, "réseau", javascript)
    expect()(page.locator("#summary")).to_have_text("Résultats 1–3 sur 9")
    aside = page.locator("aside.refine")
    gimp = aside.get_by_role("link", name=re.compile(r"^filters\b"))  # a short label
    expect()(gimp).to_have_attribute("title", "gimp-help-fr/usr/share/gimp/help/fr/filters.html")
    gimp.click()
    expect()(page).to_have_url(
        re.compile(r"/\?q=r%C3%A9seau&source=gimp-help-fr/usr/share/gimp/help/fr/filters.html$")
    )
    expect()(page.locator("#summary")).to_have_text("1 résultat")
    assert hit_titles(page) == ["Filtres de réseau"]
    expect()(aside).to_contain_text("1 filtre actif")
    aside.get_by_role("link", name="‹ Toutes les sources").click()
    expect()(page).to_have_url(re.compile(r"/\?q=r%C3%A9seau$"))
    expect()(page.locator("#summary")).to_have_text("Résultats 1–3 sur 9")

    page.locator(".sort").get_by_role("link", name="date").click()
    expect()(page).to_have_url(re.compile(r"/\?q=r%C3%A9seau&sort=date$"))
    expect()(page.locator("ol.hits > li h2 a").first).to_have_text("Chronique du réseau")
    aside.locator("details.facet-more summary").last.click()  # the years' "plus…"
    aside.get_by_role("link", name=re.compile(r"^2008\b")).click()
    expect()(page).to_have_url(
        re.compile(r"/\?q=r%C3%A9seau&date_from=2008&date_to=2008&sort=date$")
    )
    assert hit_titles(page) == ["Configuration du réseau"]
    # The back button walks back through the filters.
    page.go_back()
    expect()(page).to_have_url(re.compile(r"/\?q=r%C3%A9seau&sort=date$"))
    expect()(page.locator("#summary")).to_have_text("Résultats 1–3 sur 9")
    # A new search keeps the sort (it is in the form).
    search(page, "passe", javascript)
    expect()(page).to_have_url(re.compile(r"/\?q=passe&sort=date$"))


def test_filters_beside_the_results_on_desktop_folded_on_a_phone(
    context_factory, facets_url, javascript
):
    wide = context_factory(javascript=javascript, base_url=facets_url, width=1280).new_page()
    wide.goto("/?q=réseau")
    results = wide.locator(".results-list").bounding_box()
    aside = wide.locator("aside.refine").bounding_box()
    assert aside["x"] >= results["x"] + results["width"]  # a side column
    expect()(wide.locator("aside.refine summary").first).to_be_hidden()
    expect()(wide.locator("#refine-source a").first).to_be_visible()
    expect()(wide.locator("#refine-source .facet-count").first).to_contain_text("3 résultats")
    labels = wide.locator("#refine-source > ul .facet-label").all_inner_texts()
    assert len(labels) == 5 and labels[0] == "reseau.html"
    wide.get_by_text("plus…").first.click()
    expect()(wide.locator("#refine-source .facet-more a")).to_have_count(2)

    phone = context_factory(javascript=javascript, base_url=facets_url, width=390).new_page()
    phone.goto("/?q=réseau")
    toggle = phone.locator("aside.refine summary").first
    expect()(toggle).to_be_visible()
    assert toggle.bounding_box()["y"] < phone.locator("ol.hits").bounding_box()["y"]
    expect()(phone.locator("#refine-source a").first).to_be_hidden()
    toggle.click()
    expect()(phone.locator("#refine-source a").first).to_be_visible()


def test_no_date_sort_when_no_document_has_a_date(page):
    page.goto("/?q=twitter")
    expect()(page.locator(".sort")).to_have_count(0)
    expect()(page.locator("aside.refine")).to_have_count(0)


# -- the page ------------------------------------------------------------------------------


def test_suggestion_paging_document_and_back_button(page):
    page.goto("/")
    page.locator("#q").press_sequentially("twiter", delay=40)
    expect()(page.locator(".notice")).to_contain_text("résultats pour des mots proches")

    page.get_by_role("link", name="twitter", exact=True).click()
    expect()(page).to_have_url(re.compile(r"/\?q=twitter$"))
    expect()(page.locator("#q")).to_have_value("twitter")
    expect()(page.locator("#summary")).to_have_text("Résultats 1–2 sur 5")
    first_page = hit_titles(page)
    assert len(first_page) == 2

    page.get_by_role("link", name="Suivante ›").click()
    expect()(page).to_have_url(re.compile(r"/\?q=twitter&page=2$"))
    expect()(page.locator("ol.hits")).to_have_attribute("start", "3")
    expect()(page.locator('.pagination a[aria-current="page"]')).to_have_text("2")
    expect()(page.locator("#summary")).to_have_text("Résultats 3–4 sur 5")
    second_page = hit_titles(page)
    assert len(second_page) == 2 and not set(first_page) & set(second_page)

    page.locator("ol.hits > li h2 a").first.click()
    expect()(page).to_have_url(re.compile(r"/doc/[^?]+\?q=twitter&page=2$"))
    expect()(page.locator("h1")).to_have_text(second_page[0])
    assert page.locator(".doc-body mark").count() > 0
    assert set(page.locator(".doc-body mark").all_inner_texts()) <= {"Twitter", "twitter"}

    page.go_back()
    expect()(page).to_have_url(re.compile(r"/\?q=twitter&page=2$"))
    expect()(page.locator("ol.hits")).to_have_attribute("start", "3")
    assert hit_titles(page) == second_page
    page.go_back()
    expect()(page).to_have_url(re.compile(r"/\?q=twitter$"))
    expect()(page.locator("ol.hits")).to_have_attribute("start", "1")
    expect()(page.locator("#q")).to_have_value("twitter")
    page.go_back()
    expect()(page).to_have_url(re.compile(r"/\?q=twiter$"))
    expect()(page.locator("#q")).to_have_value("twiter")
    expect()(page.locator(".suggestion")).to_contain_text("Vouliez-vous dire\u00a0: twitter")
    page.go_forward()
    expect()(page.locator("#summary")).to_have_text("Résultats 1–2 sur 5")


def test_a_shared_url_shows_the_same_results(page, live_url):
    page.goto("/?q=twitter&page=3")
    expect()(page.locator("#q")).to_have_value("twitter")
    expect()(page.locator("ol.hits")).to_have_attribute("start", "5")
    assert len(hit_titles(page)) == 1
    page.get_by_role("link", name="‹ Précédente").click()
    expect()(page).to_have_url(live_url + "/?q=twitter&page=2")


def test_the_same_search_without_javascript(page_no_js):
    page = page_no_js
    page.goto("/")
    page.locator("#q").fill("twiter")
    page.locator("#q").press("Enter")
    expect()(page).to_have_url(re.compile(r"/\?q=twiter$"))
    expect()(page.locator(".notice")).to_contain_text("résultats pour des mots proches")

    page.get_by_role("link", name="twitter", exact=True).click()
    expect()(page).to_have_url(re.compile(r"/\?q=twitter$"))
    expect()(page.locator("#summary")).to_have_text("Résultats 1–2 sur 5")
    first_page = hit_titles(page)

    page.get_by_role("link", name="Suivante ›").click()
    expect()(page).to_have_url(re.compile(r"/\?q=twitter&page=2$"))
    second_page = hit_titles(page)
    assert len(second_page) == 2 and not set(first_page) & set(second_page)

    page.locator("ol.hits > li h2 a").first.click()
    expect()(page.locator("h1")).to_have_text(second_page[0])
    assert page.locator(".doc-body mark").count() > 0
    page.get_by_role("link", name="‹ Retour aux résultats").click()
    expect()(page).to_have_url(re.compile(r"/\?q=twitter&page=2$"))
    page.go_back()
    page.go_back()
    expect()(page).to_have_url(re.compile(r"/\?q=twitter&page=2$"))
    page.go_back()
    expect()(page).to_have_url(re.compile(r"/\?q=twitter$"))
    assert hit_titles(page) == first_page

    page.locator("#q").fill("delanoe")
    page.get_by_role("button", name="Rechercher").click()
    expect()(page.locator("#summary")).to_have_text("2 résultats")
    assert set(page.locator("ol.hits .snippet mark").all_inner_texts()) == {"Delanoë"}


def test_headings_and_french_typography(context_factory, javascript):
    page = context_factory(javascript=javascript).new_page()
    page.goto("/")
    search(page, "twiter", javascript)
    expect()(page.locator(".suggestion")).to_be_visible()
    expect()(page.locator("h1")).to_have_count(1)
    expect()(page.locator("h1")).to_have_text("Rechercher dans les articles")
    suggestion = page.locator(".suggestion").inner_text()
    assert suggestion == f"Vouliez-vous dire{NBSP}: twitter{NNBSP}?"
    notice = page.locator(".notice").inner_text()
    assert f"«{NBSP}twiter{NBSP}»{NBSP}:" in notice
    assert " ms" not in page.locator("main").inner_text()  # no "(0,4 ms)"


@pytest.mark.parametrize("width", [320, 390])
def test_no_sideways_scroll_on_a_phone(context_factory, facets_url, javascript, width):
    options = {"javascript": javascript, "width": width, "height": 800}
    page = context_factory(expected_errors=("404",), **options).new_page()
    long_word = "anticonstitutionnellement" * 4
    urls = [
        "/",
        "/?q=twitter",
        "/?q=twiter",
        f"/?q={long_word}",
        "/doc/002_3db12bd2542f91a5?q=delanoe",
        "/nope",
    ]
    for url in urls:
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, url
    page = context_factory(base_url=facets_url, **options).new_page()
    page.goto("/?q=réseau")
    page.locator("aside.refine summary").first.click()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.goto("/doc/net-1?q=réseau")
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_readable_on_a_phone(context_factory):
    page = context_factory(width=390, height=844).new_page()
    page.goto("/?q=delanoe")
    expect()(page.locator("#summary")).to_have_text("2 résultats")
    box = page.locator("#q").bounding_box()
    button = page.get_by_role("button", name="Rechercher").bounding_box()
    assert box["width"] > 150 and button["x"] + button["width"] <= 390
    assert page.evaluate("getComputedStyle(document.body).fontSize") in ("16px", "17px")


def test_few_tabs_to_the_first_result_and_the_focus_shows(page):
    page.goto("/?q=twitter")
    first = page.locator("ol.hits > li h2 a").first
    page.evaluate("document.activeElement.blur()")
    presses = 0
    while presses < 10:
        presses += 1
        page.keyboard.press("Tab")
        if first.evaluate("el => el === document.activeElement"):
            break
    assert presses <= 5  # skip link, site name, box, button, first result
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")


def test_several_results_above_the_fold_on_desktop(context_factory, seed_index):
    app = create_app({"INDEX_DIR": str(seed_index), "PAGE_SIZE": 10})
    try:
        with app_in_thread(app) as url:
            page = context_factory(base_url=url, width=1280, height=800).new_page()
            page.goto("/?q=twitter")  # long articles: snippets of three passages
            hits = page.locator("ol.hits > li").all()
            tops = [hit.bounding_box()["y"] for hit in hits]
            assert len(tops) == 5 and sum(1 for y in tops if y < 800) >= 3
            page.close()
    finally:
        close_app(app)


def test_document_page_has_a_search_box_and_goes_to_the_first_passage(context_factory, javascript):
    page = context_factory(javascript=javascript, height=500).new_page()
    page.goto("/doc/002_3db12bd2542f91a5?q=twitter")
    expect()(page.locator("#q")).to_have_value("twitter")
    page.get_by_role("link", name="Aller au premier passage").click()
    expect()(page).to_have_url(re.compile(r"#passage-1$"))
    first = page.locator("#passage-1")
    expect()(first).to_be_in_viewport()
    expect()(first).to_have_text(re.compile(r"^[Tt]witter$"))
    if javascript:
        box = page.locator("#q")
        box.fill("")
        box.press_sequentially("dela", delay=40)
        expect()(page.get_by_role("option").first).to_have_text("delanoë")
        box.press("ArrowDown")
        box.press("Enter")
    else:
        page.locator("#q").fill("delanoë")
        page.locator("#q").press("Enter")
    expect()(page).to_have_url(re.compile(r"/\?q=delano%C3%AB$"))
    expect()(page.locator("#summary")).to_have_text("2 résultats")


# -- accessibility (axe-core) ---------------------------------------------------------------


def _axe_source() -> str:
    if not AXE.exists():
        reason = f"{AXE} is missing: run `npm ci` (make test does)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return AXE.read_text(encoding="utf-8")


def axe_violations(page) -> list[str]:
    """Every axe-core violation on the page, whatever its impact, as readable lines."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=_axe_source())
    found = page.evaluate("axe.run(document).then(r => JSON.stringify(r.violations))")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in json.loads(found)
    ]


@pytest.mark.parametrize("width", [1280, 390])
def test_no_accessibility_violations(context_factory, facets_url, width):
    context = context_factory(
        base_url=facets_url,
        width=width,
        height=800,
        bypass_csp=True,  # axe-core is injected as an inline script
        expected_errors=("404 (NOT FOUND)", "400 (BAD REQUEST)"),
    )
    page = context.new_page()
    too_many = "+".join(f"mot{i}" for i in range(60))
    pages = {
        "home": "/",
        "results": "/?q=réseau",
        "results, a filter chosen": "/?q=réseau&source=manpages-fr%3Aman8%2Fip",
        "no results": "/?q=zzyzxqwv",
        "did you mean": "/?q=resaeu",
        "error (refused query)": f"/?q={too_many}",
        "error (404)": "/nope",
        "document": "/doc/net-1?q=réseau",
    }
    problems = []
    for name, url in pages.items():
        page.goto(url)
        problems += [f"{name}: {v}" for v in axe_violations(page)]
    # While typing, with the completions open.
    page.goto("/")
    page.locator("#q").press_sequentially("mot de pa", delay=30)
    expect()(page.get_by_role("listbox")).to_be_visible()
    page.keyboard.press("ArrowDown")
    problems += [f"completions: {v}" for v in axe_violations(page)]
    assert problems == []
