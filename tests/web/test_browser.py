"""The search page in a real headless Chromium (Debian's), with and without JavaScript.

The app shows two hits a page here (``live_app``), so that the five seed articles page.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000


@pytest.fixture
def context_factory(browser, live_url):
    """New browser contexts on the live server; every page is checked for console errors
    (CSP violations included) and for requests leaving the app."""
    contexts = []
    problems: list[str] = []

    def make(javascript: bool = True, width: int = 1200, height: int = 900):
        context = browser.new_context(
            base_url=live_url,
            java_script_enabled=javascript,
            viewport={"width": width, "height": height},
            locale="fr-FR",
        )
        context.set_default_timeout(TIMEOUT_MS)

        def on_page(page):
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on(
                "request",
                lambda r: (
                    problems.append(f"external request: {r.url}")
                    if not r.url.startswith((live_url, "data:"))
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


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def hit_titles(page) -> list[str]:
    return page.locator("ol.hits > li h2 a").all_inner_texts()


def test_typing_shows_highlighted_results_and_updates_the_url(page):
    page.goto("/")
    box = page.locator("#q")
    expect()(box).to_be_focused()  # autofocus
    box.press_sequentially("delanoe", delay=40)
    expect()(page.locator("#status")).to_contain_text("2 résultats")
    expect()(page).to_have_url(re.compile(r"/\?q=delanoe$"))
    assert len(hit_titles(page)) == 2
    marks = page.locator("ol.hits mark").all_inner_texts()
    assert marks and set(marks) == {"Delanoë"}
    # Typing more replaces the entry rather than stacking one per keystroke.
    box.press_sequentially(" maire", delay=40)
    expect()(page).to_have_url(re.compile(r"/\?q=delanoe\+maire$"))
    expect()(page.locator("#status")).to_contain_text("résultat")
    page.go_back()
    expect()(page).to_have_url(re.compile(r"/$"))
    expect()(page.locator("#q")).to_have_value("")
    expect()(page.locator(".help")).to_be_visible()


def test_autocomplete_with_the_keyboard(page):
    page.goto("/")
    box = page.locator("#q")
    box.press_sequentially("dela", delay=40)
    listbox = page.get_by_role("listbox")
    expect()(listbox).to_be_visible()
    expect()(box).to_have_attribute("aria-expanded", "true")
    options = page.get_by_role("option")
    expect()(options.first).to_have_text("delanoë")
    box.press("ArrowDown")
    expect()(options.first).to_have_attribute("aria-selected", "true")
    expect()(box).to_have_attribute("aria-activedescendant", "suggestion-0")
    box.press("Enter")
    expect()(box).to_have_value("delanoë")
    expect()(listbox).to_be_hidden()
    expect()(page.locator("#status")).to_contain_text("2 résultats")
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


def test_suggestion_paging_document_and_back_button(page):
    page.goto("/")
    page.locator("#q").press_sequentially("twiter", delay=40)
    expect()(page.locator(".notice")).to_contain_text("résultats pour des mots proches")

    page.get_by_role("link", name="twitter", exact=True).click()
    expect()(page).to_have_url(re.compile(r"/\?q=twitter$"))
    expect()(page.locator("#q")).to_have_value("twitter")
    expect()(page.locator("#status")).to_contain_text("5 résultats")
    first_page = hit_titles(page)
    assert len(first_page) == 2

    page.get_by_role("link", name="Suivante ›").click()
    expect()(page).to_have_url(re.compile(r"/\?q=twitter&page=2$"))
    expect()(page.locator("ol.hits")).to_have_attribute("start", "3")
    expect()(page.locator('.pagination a[aria-current="page"]')).to_have_text("2")
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
    expect()(page.locator(".suggestion")).to_contain_text("Vouliez-vous dire : twitter")
    page.go_forward()
    expect()(page.locator("#status")).to_contain_text("5 résultats")


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
    expect()(page.locator("#status")).to_contain_text("5 résultats")
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
    expect()(page.locator("#status")).to_contain_text("2 résultats")
    assert set(page.locator("ol.hits mark").all_inner_texts()) == {"Delanoë"}


def test_readable_on_a_phone(context_factory):
    page = context_factory(width=390, height=844).new_page()
    page.goto("/?q=delanoe")
    expect()(page.locator("#status")).to_contain_text("2 résultats")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("#q").bounding_box()
    button = page.get_by_role("button", name="Rechercher").bounding_box()
    assert box["width"] > 150 and button["x"] + button["width"] <= 390
    assert page.evaluate("getComputedStyle(document.body).fontSize") in ("16px", "17px")


def test_keyboard_focus_is_visible_and_labels_are_there(page):
    page.goto("/?q=delanoe")
    expect()(page.get_by_label("Rechercher dans les articles")).to_have_value("delanoe")
    page.keyboard.press("Tab")  # from the box to the button
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
