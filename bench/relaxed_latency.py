"""The relaxed fallback's latency, in process: term-wise against Whoosh's collectors, beside
SQLite FTS5 OR'ing the same words (issue 24).

A relaxed search is one where no document has every word: searchsvc then ranks the documents
with the most of them (``QueryBuilder(relaxed=True)``, Whoosh's coordination bonus). The
queries are made here, with a fixed seed: 3 to 10 words, each a word of another document,
kept only when ``SearchEngine.search`` does answer them relaxed, all distinct.

Per query, on the bench index (``/work/bench-index``, which this only reads):

* ``rank``    the relaxed query alone (built beforehand): ``ranking.rank`` with its title
              signals, top 10, total and facets, as ``SearchEngine`` runs it, either term-wise
              or through ``ranking._rank_whoosh`` (the path relaxed queries took before);
* ``search``  the whole ``SearchEngine.search`` (the query that found nothing, did-you-mean,
              the relaxed fallback, 10 snippets), page cache emptied;
* ``fts5``    FTS5's ``MATCH "w1" OR "w2" …`` top 10 by bm25, no snippet (when its cached
              bench index is there, as ``search_latency.py`` builds it).

Two passes over the queries; the first is each query's first sight, the second is warm.
Also counts the queries whose top 10 or total differ between the two paths.

Usage: ``.venv/bin/python bench/relaxed_latency.py [--index /work/bench-index] [--count 100]
[--seed 24]``
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import common
import references
from common import percentile, table

from searchsvc.engine import ranking, titles
from searchsvc.engine.results import Filters
from searchsvc.engine.search import SearchEngine
from searchsvc.query import language as ql
from searchsvc.query.plan import QueryBuilder
from searchsvc.text.analysis import STOP_WORDS


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--index", type=Path, default=Path("/work/bench-index"))
    p.add_argument("--corpus", type=Path, default=common.DEFAULT_CORPUS, help="for FTS5's cache")
    p.add_argument("--count", type=int, default=100, help="relaxed queries to make")
    p.add_argument("--seed", type=int, default=24)
    return p.parse_args(argv)


def relaxed_queries(engine: SearchEngine, count: int, seed: int) -> list[str]:
    """``count`` distinct queries of 3 to 10 words, each from another random document, that
    ``SearchEngine.search`` answers relaxed."""
    rnd = random.Random(seed)
    found: list[str] = []
    with engine.searcher() as s:
        docs = s.doc_count_all()
    while len(found) < count:
        words = []
        for _ in range(rnd.randint(3, 10)):
            with engine.searcher() as s:
                body = s.stored_fields(rnd.randrange(docs)).get("body", "")
            plain = [w for w in body.lower().split() if w.isalpha() and len(w) > 4]
            plain = [w for w in plain if w not in STOP_WORDS]
            if plain:
                words.append(rnd.choice(plain))
        text = " ".join(dict.fromkeys(words))
        if len(text.split()) < 3 or text in found:
            continue
        engine._forget_results()
        if engine.search(text).relaxed:
            found.append(text)
    return found


def main(argv=None) -> int:
    args = parse_args(argv)
    engine = SearchEngine(args.index, time_limit=30)
    engine.warm_up()
    queries = relaxed_queries(engine, args.count, args.seed)
    built = []
    with engine.searcher() as s:
        for text in queries:
            tree = ql.parse(text)
            builder = QueryBuilder(s.reader(), engine.weights, fuzzy=True, relaxed=True)
            q = builder.build(tree)
            signals = titles.Signals(
                builder.highlights, tuple(builder.words), titles.typed_words(tree, text)
            )
            built.append((q, signals))
    fts = None
    fts_path = references.index_path("fts5", f"{common.file_key(args.corpus)}:None")
    if references.cached_meta(fts_path) is not None:
        fts = references.Fts5Searcher(references.searchable_path("fts5", fts_path))

    ways = {
        "rank, term-wise": ranking._rank_termwise,
        "rank, Whoosh's collectors": ranking._rank_whoosh,
    }
    times: dict[tuple[str, int], list[float]] = {}
    tops: dict[str, list] = {}
    for run in (1, 2):
        for name, way in ways.items():
            spent, got = [], []
            with engine.searcher() as s:
                for q, signals in built:
                    started = time.perf_counter()
                    ranked = way(s, q, 10, time.monotonic() + 30, Filters(), "relevance", signals)
                    spent.append(time.perf_counter() - started)
                    got.append((ranked.total, [d for _score, d in ranked.top]))
            times[(name, run)], tops[name] = spent, got
        spent = []
        for text in queries:
            engine._forget_results()
            started = time.perf_counter()
            engine.search(text)
            spent.append(time.perf_counter() - started)
        times[("search (term-wise), 10 snippets", run)] = spent
        if fts is not None:
            spent = []
            for text in queries:
                match = " OR ".join('"' + w.replace('"', '""') + '"' for w in text.split())
                started = time.perf_counter()
                fts.con.execute(
                    "SELECT id FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 0.0, "
                    f"{references.TITLE_WEIGHT}, 1.0) LIMIT 10",
                    (match,),
                ).fetchall()
                spent.append(time.perf_counter() - started)
            times[("FTS5, OR of the words", run)] = spent

    def ms(x: float) -> str:
        return f"{1000 * x:.1f}"

    rows = []
    for (name, run), spent in times.items():
        label = f"{name} ({'first sight' if run == 1 else 'warm'})"
        rows.append([label, ms(percentile(spent, 50)), ms(percentile(spent, 99)), ms(max(spent))])
    words = [len(t.split()) for t in queries]
    print(
        f"{len(queries)} relaxed queries of {min(words)}-{max(words)} words (seed {args.seed}), "
        f"{args.index}; ms"
    )
    print(table(["", "p50", "p99", "max"], rows))
    ours, theirs = tops["rank, term-wise"], tops["rank, Whoosh's collectors"]
    pairs = list(zip(ours, theirs, strict=True))
    print(
        f"top 10 differ: {sum(a[1] != b[1] for a, b in pairs)} of {len(pairs)}; same documents "
        f"in another order: {sum(a[1] != b[1] and set(a[1]) == set(b[1]) for a, b in pairs)}; "
        f"totals differ: {sum(a[0] != b[0] for a, b in pairs)} (Whoosh's collector undercounts)"
    )
    if fts is None:
        print(f"FTS5: no cached index at {fts_path} (bench/search_latency.py builds it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
