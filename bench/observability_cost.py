"""What search analytics and Prometheus metrics add to a request, in process (Flask's test
client, no network): the same requests through two apps over the bench index, one with
analytics recording and metrics counting (as served), one with both off, taken in turn
query by query so that drift and caches treat them alike.

Two workloads: one query asked again and again (a cached page: the request is as cheap as it
gets, so the overhead shows most), and the benchmark queries (second pass; the first warms
both apps). Reported: each app's p50 and p90 per request, and the p50 of the paired
differences. The analytics are written to a temporary file, not beside the shared index.

Usage: ``.venv/bin/python bench/observability_cost.py [--index DIR] [--queries FILE]
[--repeat N]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path

import common
from common import load_queries, percentile, table

from searchsvc.analytics import AnalyticsStore
from searchsvc.web import create_app, metrics
from searchsvc.web.admin import close_analytics, recorder

DEFAULT_INDEX = common.REPO / ".." / "bench-index"


def make_apps(index: Path, scratch: Path) -> dict:
    """The app as served (analytics and metrics on) and one with both off."""
    base = {"INDEX_DIR": str(index), "TESTING": True, "WARM_UP": False}
    on = create_app({**base, "ANALYTICS": True})
    recorder(on).store = AnalyticsStore(scratch / "analytics.sqlite3")
    off = create_app({**base, "ANALYTICS": False})
    off.before_request_funcs[None].remove(metrics._started)
    off.after_request_funcs[None].remove(metrics._answered)
    return {"on": on, "off": off}


def run(clients: dict, urls: list[str]) -> dict[str, list[float]]:
    """Each url through each client in turn (the order alternating); ms per request."""
    times: dict[str, list[float]] = {name: [] for name in clients}
    names = list(clients)
    for i, url in enumerate(urls):
        for name in names if i % 2 else reversed(names):
            started = time.perf_counter()
            with clients[name].get(url) as response:
                assert response.status_code in (200, 400), (url, response.status_code)
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def report(label: str, times: dict[str, list[float]]) -> list:
    diffs = [a - b for a, b in zip(times["on"], times["off"], strict=True)]
    on50, off50 = statistics.median(times["on"]), statistics.median(times["off"])
    return [
        label,
        f"{len(diffs):,}",
        f"{off50:.3f}",
        f"{on50:.3f}",
        f"{on50 - off50:+.3f}",
        f"{statistics.median(diffs):+.3f}",
        f"{percentile(times['off'], 90):.3f}",
        f"{percentile(times['on'], 90):.3f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    parser.add_argument("--queries", type=Path, default=common.DEFAULT_QUERIES)
    parser.add_argument("--repeat", type=int, default=3000, help="requests of the cached query")
    args = parser.parse_args()
    queries = load_queries(args.queries)
    search_urls = ["/api/search?q=" + urllib.parse.quote(q) for q in queries]
    instant_urls = [
        "/instant?typing=1&q=" + urllib.parse.quote(q[: max(3, len(q) - 2)]) for q in queries
    ]
    with tempfile.TemporaryDirectory(prefix="observability-") as scratch:
        apps = make_apps(args.index, Path(scratch))
        clients = {name: app.test_client() for name, app in apps.items()}
        run(clients, search_urls)  # pass 1: warm both apps (index, caches, analytics file)
        run(clients, instant_urls)
        rows = [
            report("/api/search, one cached query", run(clients, [search_urls[0]] * args.repeat)),
            report("/api/search, bench queries", run(clients, search_urls)),
            report("/instant typing, bench queries", run(clients, instant_urls)),
        ]
        close_analytics(apps["on"])
        written = AnalyticsStore(Path(scratch) / "analytics.sqlite3").stats()["searches"]
    print(
        table(
            ["workload", "requests", "off p50", "on p50", "Δ p50", "p50 of Δ", "off p90", "on p90"],
            rows,
        )
    )
    print(f"(ms per request; {written:,} searches recorded by the app with analytics on)")


if __name__ == "__main__":
    main()
