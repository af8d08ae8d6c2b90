"""What a new generation costs a serving worker: the CPU of distinct bench queries run right
after each of ``--batches`` pushed batches is published, against the same queries once the
segments stop changing (issue 25: while documents are pushed, each batch is a generation that
every worker opens, with its caches of the old readers gone).

On a copy of ``--index`` (never written to): a ``SearchEngine`` warmed up as a worker is, then
for each batch: the journal writer applies it (merges off, not timed), and ``--per-batch``
distinct queries are searched, each timed (CPU of the searching thread, result pages not
cached), the first one paying the reopening. Then the same number of queries again with no new
batch (the same segments, kept caches). Printed: the mean CPU of a search after a new
generation by its place (1st, 2nd-5th, the rest), the mean with no new generation, and the
extra CPU of the first five searches after a generation (its reopening and colder caches;
the later ones are within noise of the steady mean).

Usage: ``.venv/bin/python bench/generations_cost.py --index /tmp/push-ix [--batches 20]
[--per-batch 150]``
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
from searchsvc.ingest import journal, writer

BATCH = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--per-batch", type=int, default=150)
    parser.add_argument("--queries", type=Path, default=common.DEFAULT_QUERIES)
    args = parser.parse_args()
    queries = list(dict.fromkeys(common.load_queries(args.queries)))  # distinct
    with gzip.open(common.DEFAULT_CORPUS, "rt", encoding="utf-8") as fh:
        docs = [json.loads(line) for _, line in zip(range(5000), fh, strict=False)]
    scratch = Path(tempfile.mkdtemp(prefix="generations-cost-"))
    index = scratch / "index"
    try:
        shutil.copytree(args.index, index, symlinks=True)
        j = journal.Journal(index)
        w = writer.JournalWriter(index, merge=False)
        engine = SearchEngine(index)
        engine.warm_up()
        for q in queries[:300]:  # as a worker that has served a while
            common.search_cpu(engine, q)
        at = 300
        by_place: dict[str, list[float]] = {"1st": [], "2nd-5th": [], "rest": []}
        with contextlib.closing(w), contextlib.closing(j):
            for b in range(args.batches):
                j.submit(common.pushed_batch(docs, b, BATCH, "gen"))
                w.apply_once()
                for place in range(args.per_batch):
                    cpu = common.search_cpu(engine, queries[at % len(queries)])
                    at += 1
                    key = "1st" if place == 0 else "2nd-5th" if place < 5 else "rest"
                    by_place[key].append(cpu)
        after = [
            common.search_cpu(engine, queries[(at + n) % len(queries)])
            for n in range(args.batches * args.per_batch)
        ]
        engine.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else float("nan")

    steady = mean(after)
    print(f"{args.batches} generations of {BATCH} documents, {args.per_batch} searches after each")
    for key, xs in by_place.items():
        print(f"  search {key:>7} after a new generation: mean {mean(xs):7.2f} ms CPU")
    every = [x for xs in by_place.values() for x in xs]
    print(f"  every search after a new generation:     mean {mean(every):7.2f} ms CPU")
    print(f"  with no new generation (same segments):   mean {steady:7.2f} ms CPU")
    first_five = sum(by_place["1st"]) + sum(by_place["2nd-5th"])
    extra = first_five / args.batches - 5 * steady
    print(f"  extra CPU of the 5 searches after a generation: {extra:.1f} ms")


if __name__ == "__main__":
    main()
