"""Last keystroke -> results painted, for a person typing in the search page.

Starts ``searchsvc serve`` (gunicorn) on an index, opens the search page in Debian's
Chromium (Playwright), types each query key by key at a person's pace and measures, in the
page, from the keydown of the last key to the first frame painted after the results of the
whole query were put in the page. Prints each query's time, then the median and the max.
Run by hand, never in CI:

    .venv/bin/python bench/typing_latency.py --index /path/to/index
    .venv/bin/python bench/typing_latency.py --index /path/to/index --delay 120 --workers 2
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import common  # noqa: F401 - puts the repository on the path

from searchsvc.testing import start_server

CHROMIUM = "/usr/bin/chromium"
QUERIES = [
    "configuration réseau",
    "mot de passe",
    "impression recto verso",
    "gestionnaire de paquets",
    "police de caractères",
    "table des matières",
    "clavier français",
    "sauvegarde automatique",
    "ligne de commande",
    "fichier de configuration",
]

# In the page: the time of each keydown in the box, and a promise resolved at the first frame
# painted after the results of `text` were rendered (the page sets the title with them).
WATCH = """
([text]) => { window.__painted = new Promise((resolve) => {
  const results = document.getElementById("results");
  const done = () => document.title.startsWith(text + " – ");
  const observer = new MutationObserver(() => {
    if (!done()) return;
    observer.disconnect();
    requestAnimationFrame(() => requestAnimationFrame(() => {
      resolve(performance.now() - window.__lastKey);
    }));
  });
  observer.observe(results, { childList: true, subtree: true });
}); }
"""
KEYS = """
() => document.getElementById("q").addEventListener("keydown", () => {
  window.__lastKey = performance.now();
}, true)
"""


def type_and_time(
    address: str, box: str, shown: str, keys: str, watch: str, width: int, delay: int
) -> list[float]:
    """Open ``address`` in Chromium and type each of QUERIES into ``box`` (a selector), a key
    every ``delay`` ms: the milliseconds from its last key to the first frame painted with its
    results (``keys`` and ``watch``: the page's scripts that note them), printed with what
    ``shown`` then says."""
    from playwright.sync_api import sync_playwright

    times: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": width, "height": 800})
        page.goto(address)
        page.evaluate(keys)
        field = page.locator(box)
        for text in QUERIES:
            field.fill("")
            page.wait_for_timeout(400)
            field.press_sequentially(text[:-1], delay=delay)
            page.wait_for_timeout(delay)
            page.evaluate(watch, [text])
            field.press(text[-1])
            ms = page.evaluate("window.__painted")
            times.append(ms)
            print(f"{ms:7.1f} ms  {text!r}: {page.locator(shown).inner_text()}")
        browser.close()
    return times


def typing_options(description: str) -> argparse.Namespace:
    """The options of a typing benchmark: the index served, its workers, the pace, the width."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="index folder to serve")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--delay", type=int, default=100, help="ms between two keys (100)")
    parser.add_argument("--width", type=int, default=1280, help="viewport width (1280)")
    return parser.parse_args()


def main() -> None:
    args = typing_options(__doc__)

    server = start_server(args.index, Path(os.devnull), workers=args.workers)
    url = server.url
    try:
        times = type_and_time(url + "/", "#q", "#summary", KEYS, WATCH, args.width, args.delay)
    finally:
        server.stop()
    median, worst = statistics.median(times), max(times)
    print(f"median {median:.0f} ms, max {worst:.0f} ms ({len(times)} queries)")


if __name__ == "__main__":
    main()
