"""What small segments cost a search: the CPU of distinct bench queries on a copy of an index
after N pushed batches of 100 documents, each a segment of its own (merges off), as the
journal writer leaves them between two merges of a tier (issue 25: searches slow down while
documents are pushed).

For each N of ``--segments``: a copy of ``--index`` (never written to), N batches applied by
:class:`searchsvc.ingest.writer.JournalWriter` with merging off, a fresh ``SearchEngine``
warmed up and run over 300 queries, then the next 400 distinct queries timed (CPU of the
searching thread, result pages not cached). Printed: p50, p90 and mean per N.

Usage: ``.venv/bin/python bench/segments_cost.py --index /tmp/push-ix [--segments 0,10,30]``
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import shutil
import tempfile
from pathlib import Path

import common

from searchsvc.engine.search import SearchEngine
from searchsvc.errors import QueryError
from searchsvc.ingest import journal, writer

BATCH = 100


def timed_searches(index: Path, queries: list[str]) -> list[float]:
    """CPU milliseconds of each of ``queries[300:700]``, after ``queries[:300]`` warmed up."""
    engine = SearchEngine(index)
    engine.warm_up()
    for q in queries[:300]:
        with contextlib.suppress(QueryError):
            engine.search(q)
    times = [common.search_cpu(engine, q) for q in queries[300:700]]
    engine.close()
    return sorted(times)


def with_segments(source: Path, count: int, docs: list[dict], queries: list[str]) -> list[float]:
    """The figures of :func:`timed_searches` on a copy of ``source`` given ``count`` batches."""
    scratch = Path(tempfile.mkdtemp(prefix="segments-cost-"))
    index = scratch / "index"
    try:
        shutil.copytree(source, index, symlinks=True)
        j = journal.Journal(index)
        w = writer.JournalWriter(index, merge=False)
        with contextlib.closing(w), contextlib.closing(j):
            for b in range(count):
                j.submit(common.pushed_batch(docs, b, BATCH, "seg"))
                w.apply_once()
        return timed_searches(index, queries)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--segments", default="0,10,30")
    parser.add_argument("--queries", type=Path, default=common.DEFAULT_QUERIES)
    args = parser.parse_args()
    queries = list(dict.fromkeys(common.load_queries(args.queries)))  # distinct
    with gzip.open(common.DEFAULT_CORPUS, "rt", encoding="utf-8") as fh:
        docs = [json.loads(line) for _, line in zip(range(3000), fh, strict=False)]
    print(f"{'small segments':>14} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8}  (CPU per search)")
    for count in (int(n) for n in args.segments.split(",")):
        times = with_segments(args.index, count, docs, queries)
        p50, p90 = times[len(times) // 2], times[int(0.9 * len(times))]
        print(f"{count:>14} {p50:>8.2f} {p90:>8.2f} {sum(times) / len(times):>8.2f}", flush=True)


if __name__ == "__main__":
    main()
