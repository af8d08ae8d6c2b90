"""What ordering exact ties by document id costs, in process, on an existing index: for each
bench query run term-wise, ``Matches.top`` without and with the id keys (best of 20 runs
each), the re-sort after the title reranking, and ``columns.id_ranks`` once per reader. It
also counts the queries whose best documents id order changes. Prints its figures.

Usage: ``.venv/bin/python bench/tie_order_cost.py INDEX [--queries FILE]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import common

from searchsvc import settings
from searchsvc.engine import ranking, termwise
from searchsvc.engine.search import SearchEngine
from searchsvc.index import columns
from searchsvc.query import language as ql
from searchsvc.query.plan import QueryBuilder


def best_of(f, reps: int = 20) -> float:
    """The fastest of ``reps`` runs of ``f()``, in seconds."""
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("index", type=Path)
    p.add_argument("--queries", type=Path, default=common.DEFAULT_QUERIES)
    args = p.parse_args()
    queries = common.load_queries(args.queries)
    engine = SearchEngine(args.index)
    depth = settings.RERANK_DEPTH
    with engine.searcher() as s:
        reader = s.reader()
        t = time.perf_counter()
        columns.id_ranks(reader)
        first = time.perf_counter() - t
        # A second engine's reader, as a new generation's: its segments' id columns read.
        other = SearchEngine(args.index)
        with other.searcher() as s2:
            t = time.perf_counter()
            columns.id_ranks(s2.reader())
            again = time.perf_counter() - t
        other.close()
        keys = lambda: columns.id_ranks(reader)  # noqa: E731
        run, before, after, rerank, changed = [], [], [], [], 0
        for text in queries:
            q = QueryBuilder(reader, engine.weights).build(ql.parse(text)).query
            if q is None or not termwise.supports(q):
                continue
            t = time.perf_counter()
            matches = termwise.run(s, q, time.monotonic() + 10, depth=depth)
            run.append(time.perf_counter() - t)
            ordered = matches.top(depth, keys)
            changed += matches.top(depth) != ordered
            before.append(best_of(lambda m=matches: m.top(depth)))
            after.append(best_of(lambda m=matches: m.top(depth, keys)))
            top = [(-v, d) for v, d in ordered]
            rerank.append(best_of(lambda top=top: ranking._ties_by_id(s, top, 10)))
    engine.close()

    def us(values: list[float]) -> str:
        median, mean = statistics.median(values) * 1e6, statistics.fmean(values) * 1e6
        return f"median {median:.1f} µs, mean {mean:.1f} µs"

    print(
        f"id_ranks: {first * 1e3:.1f} ms first (id columns read), "
        f"{again * 1e3:.1f} ms per new reader"
    )
    print(f"{len(run)} term-wise queries; best {depth} ordered differently by id: {changed}")
    print(f"termwise.run: {us(run)}")
    print(f"Matches.top({depth}) without keys: {us(before)}")
    print(f"Matches.top({depth}) with id keys: {us(after)}")
    print(f"ties re-sorted after reranking ({depth} -> 10): {us(rerank)}")


if __name__ == "__main__":
    main()
