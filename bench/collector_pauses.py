"""Python's full collections in a searching process: how many, how long each stalls it, and
what a served worker's setting (the warm-up frozen, ``WORKER_FULL_COLLECTION_EVERY``) makes
of them. Each setting runs in a process of its own: ``SearchEngine.warm_up`` as a worker's
start-up does, then 2,000 searches (the distinct bench queries twice, result pages not
cached), every full collection timed by a ``gc`` callback.

Usage: ``.venv/bin/python bench/collector_pauses.py INDEX``
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import subprocess
import sys
import time
from pathlib import Path

import common

from searchsvc import settings

SETTINGS = {
    "Python's defaults": (False, None),
    "as a served worker": (True, settings.WORKER_FULL_COLLECTION_EVERY),
}


def child(index: str, freeze: bool, every: int | None) -> dict:
    """Run the searches in this process; the figures as a dict."""
    from searchsvc.engine.search import SearchEngine
    from searchsvc.errors import QueryError

    queries = list(dict.fromkeys(common.load_queries(common.DEFAULT_QUERIES)))[:1000]
    engine = SearchEngine(index)
    engine.warm_up()
    if freeze:
        gc.collect()
        gc.freeze()
    if every is not None:
        young, middle, _full = gc.get_threshold()
        gc.set_threshold(young, middle, every)
    pauses: list[float] = []
    started: list[float] = []

    def watch(phase: str, info: dict) -> None:
        if info["generation"] == 2:
            if phase == "start":
                started.append(time.perf_counter())
            else:
                pauses.append(1000 * (time.perf_counter() - started.pop()))

    gc.callbacks.append(watch)
    times = []
    for q in queries + queries:
        engine._pages.clear()
        t = time.perf_counter()
        with contextlib.suppress(QueryError):
            engine.search(q)
        times.append(1000 * (time.perf_counter() - t))
    gc.callbacks.remove(watch)
    times.sort()
    return {
        "pauses": pauses,
        "searches": len(times),
        "p50": times[len(times) // 2],
        "p99": times[int(0.99 * len(times))],
        "max": times[-1],
        "tracked": len(gc.get_objects()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("index")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        freeze, every = args.child[0] == "1", int(args.child[1]) or None
        print(json.dumps(child(args.index, freeze, every)))
        return
    index = str(Path(args.index).resolve())
    for label, (freeze, every) in SETTINGS.items():
        out = subprocess.run(
            [sys.executable, __file__, index, "--child", str(int(freeze)), str(every or 0)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout
        r = json.loads(out.splitlines()[-1])
        pauses = ", ".join(f"{p:.0f}" for p in r["pauses"]) or "none"
        print(
            f"{label}: {len(r['pauses'])} full collections in {r['searches']} searches "
            f"(ms: {pauses}); search p50 {r['p50']:.2f}, p99 {r['p99']:.2f}, max {r['max']:.0f} "
            f"ms; objects tracked at the end {r['tracked']:,}",
            flush=True,
        )


if __name__ == "__main__":
    main()
