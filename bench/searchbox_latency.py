"""Last keystroke -> results painted, for a person typing in the embeddable search box.

As bench/typing_latency.py does for the search page, but in a host page of another origin (a
second loopback port, a plain ``http.server``) holding the two lines a site pastes: starts
``searchsvc serve`` (gunicorn) on an index with that origin allowed
(``SEARCHSVC_ALLOWED_ORIGINS``), types each query key by key in the box at a person's pace
and measures, in the page, from the keydown of the last key to the first frame painted after
the box showed the results of the whole query. Prints each query's time, then the median
and the max. Run by hand, never in CI:

    .venv/bin/python bench/searchbox_latency.py --index /work/bench-index
"""

from __future__ import annotations

import os
import statistics
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import common  # noqa: F401 - puts the repository on the path
from typing_latency import type_and_time, typing_options

from searchsvc.testing import HOST, serve_command, start_server

HOST_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Un site</title>
<script src="{service}/searchbox.js" defer></script></head>
<body><header><input data-searchsvc aria-label="Rechercher"></header><main></main></body></html>
"""

# In the page: the time of each keydown in the box, and a promise resolved at the first frame
# painted after the box's listbox holds the results of `text` (it names the text they are for).
WATCH = """
([text]) => { window.__painted = new Promise((resolve) => {
  const list = document.querySelector("[role=listbox]");
  const observer = new MutationObserver(() => {
    if (list.getAttribute("data-searchsvc-q") !== text) return;
    observer.disconnect();
    requestAnimationFrame(() => requestAnimationFrame(() => {
      resolve(performance.now() - window.__lastKey);
    }));
  });
  observer.observe(list, { childList: true, subtree: true, attributes: true });
}); }
"""
KEYS = """
() => document.querySelector("input[data-searchsvc]").addEventListener("keydown", () => {
  window.__lastKey = performance.now();
}, true)
"""


def host_site(page: dict) -> ThreadingHTTPServer:
    """A site on its own loopback port serving ``page["html"]`` at every address."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    args = typing_options(__doc__)

    page_html: dict = {}
    site = host_site(page_html)
    origin = f"http://{HOST}:{site.server_port}"

    def command(port: int) -> list[str]:
        # The harness drops the caller's SEARCHSVC_* settings: this one is given here.
        allowed = f"SEARCHSVC_ALLOWED_ORIGINS={origin}"
        return ["env", allowed, *serve_command(port, args.index, args.workers)]

    server = start_server(args.index, Path(os.devnull), command=command)
    page_html["html"] = HOST_PAGE.format(service=server.url)
    try:
        box = "input[data-searchsvc]"
        times = type_and_time(
            origin + "/", box, ".searchsvc-all", KEYS, WATCH, args.width, args.delay
        )
    finally:
        server.stop()
        site.shutdown()
    median, worst = statistics.median(times), max(times)
    print(f"median {median:.0f} ms, max {worst:.0f} ms ({len(times)} queries)")


if __name__ == "__main__":
    main()
