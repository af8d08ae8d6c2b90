"""Per-query time of ``SearchEngine.search`` (snippets, did-you-mean, partial matches: what a
request costs in process) over distinct queries, for comparing two trees of the code on one
index: run it once with each tree first on ``PYTHONPATH``, alternating.

Each query runs once to warm the caches a worker keeps (postings, titles, spelling), then
again with the result-page cache emptied before each, and the second pass is reported.

Usage::

    PYTHONPATH=/path/to/tree .venv/bin/python bench/search_ab.py INDEX [bench|natural]

``bench``: the first 1,000 queries of ``../shared/bench/queries.txt``; ``natural``: the
questions and keywords of ``bench/natural_questions.jsonl``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import searchsvc
from searchsvc.engine.search import SearchEngine
from searchsvc.errors import QueryError

HERE = Path(__file__).resolve().parent
BENCH_QUERIES = HERE.parent.parent / "shared" / "bench" / "queries.txt"


def queries(kind: str) -> list[str]:
    """The distinct queries of a kind."""
    if kind == "bench":
        lines = BENCH_QUERIES.read_text(encoding="utf-8").splitlines()
        return list(dict.fromkeys(q.strip() for q in lines if q.strip()))[:1000]
    entries = [json.loads(line) for line in (HERE / "natural_questions.jsonl").open()]
    return list(dict.fromkeys([e["question"] for e in entries] + [e["keywords"] for e in entries]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("index")
    parser.add_argument("kind", nargs="?", default="bench", choices=("bench", "natural"))
    args = parser.parse_args(argv)
    texts = queries(args.kind)
    engine = SearchEngine(args.index)
    refused = 0
    for text in texts:  # warm
        try:
            engine.search(text)
        except QueryError:
            refused += 1
    times = []
    for text in texts:
        engine._pages.clear()  # a result cache must not flatter the figure
        started = time.perf_counter()
        with contextlib.suppress(QueryError):
            engine.search(text)
        times.append(1000 * (time.perf_counter() - started))
    times.sort()

    def at(share: float) -> float:
        return times[min(len(times) - 1, int(share * len(times)))]

    tree = Path(searchsvc.__file__).resolve().parent.parent
    print(
        f"{tree} {args.kind}: {len(texts)} queries ({refused} refused), p50 {at(0.5):.2f} ms, "
        f"p90 {at(0.9):.2f}, p99 {at(0.99):.2f}, max {times[-1]:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
