"""One person typing on a freshly started ``searchsvc serve`` (gunicorn, two workers) is
never told the server is busy: no 503, and the results of what was typed are shown. The
requests the page aborts while they wait for a turn leave the queue at once."""

from __future__ import annotations

import re
import threading
import time
from urllib.parse import quote_plus

import pytest

from .facet_corpus import build_index

pytestmark = pytest.mark.browser

TYPED = [
    ("configuration réseau", 90),
    ("mot de passe", 140),
    ("réseau sans fil", 60),
]


def test_typing_on_a_fresh_server_gets_no_503(browser, gunicorn_server, tmp_path):
    from playwright.sync_api import expect

    url = gunicorn_server(build_index(tmp_path), workers=2)  # started just now, never searched
    context = browser.new_context(base_url=url, locale="fr-FR")
    try:
        page = context.new_page()
        statuses: list[tuple[int, str]] = []
        page.on(
            "response",
            lambda r: statuses.append((r.status, r.url)) if "/instant?" in r.url else None,
        )
        page.goto("/")
        box = page.locator("#q")
        for text, delay in TYPED:
            box.fill("")
            box.press_sequentially(text, delay=delay)
            expect(page).to_have_url(re.compile(r"\?q=" + re.escape(quote_plus(text)) + "$"))
            expect(page.locator("#summary")).to_have_text(re.compile(r"résultat"))
            expect(box).to_have_value(text)
        expect(page.locator("ol.hits > li").first).to_be_visible()
        expect(page.locator("#busy")).to_be_hidden()
        assert statuses and all(status == 200 for status, _ in statuses), statuses
    finally:
        context.close()


def test_a_request_whose_client_left_leaves_the_queue_at_once():
    from searchsvc.web.security import ClientGone, InFlightLimiter

    limiter = InFlightLimiter(limit=1, queue=1, wait=5.0)
    assert limiter.acquire()  # the one slot, held by a running search
    left = {"gone": False}
    outcome: list = []

    def waiter():
        started = time.monotonic()
        try:
            outcome.append(limiter.acquire(gone=lambda: left["gone"]))
        except ClientGone:
            outcome.append("gone")
        outcome.append(time.monotonic() - started)

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.2)
    assert limiter.acquire() is False  # the queue is full: a third request is shed
    left["gone"] = True  # the page aborted the waiting request (the reader typed on)
    thread.join(timeout=5)
    assert outcome[0] == "gone" and outcome[1] < 1.0
    # Its place in the queue is free again: a new request waits there (and times out).
    quick = InFlightLimiter(limit=1, queue=1, wait=0.2)
    assert quick.acquire()
    assert quick.acquire(gone=lambda: False) is False  # waited its 0.2 s, not shed at once
