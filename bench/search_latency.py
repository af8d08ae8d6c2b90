"""Search latency, in process, over the benchmark queries: searchsvc against SQLite FTS5,
tantivy-py and the plain Whoosh baseline, measured in the same run.

Two modes per engine:

* ``search``   the query alone, top 10 ids, no snippets: searchsvc's ``ranking.rank()`` (what
               ``SearchEngine.search`` runs before snippets: top 10, total count and source
               facet) with the query objects its ``QueryBuilder`` makes (built beforehand);
               the plain baseline runs Whoosh's ``searcher.search(q, limit=10)`` with its
               parsed queries; FTS5 runs ``MATCH … ORDER BY bm25 LIMIT 10``; tantivy runs
               ``searcher.search(q, 10)`` with its query objects (every word required) and
               reads the 10 ids.
* ``full``     what a request costs: searchsvc's ``SearchEngine.search(q, 1, 10)`` (parsing,
               total count, 10 snippets, did-you-mean); the plain baseline parses, searches and
               highlights the top 10 bodies; FTS5 adds ``snippet()``; tantivy parses,
               searches and makes 10 body snippets with its ``SnippetGenerator``.

Each (engine, mode) runs in a fresh process: pass 1 over all queries, then pass 2 ("warm",
the figures reported). "Cold" is the first query of a fresh process, index opening included
(median over ``--cold`` processes, each with another of the first queries; the OS page cache
stays warm). searchsvc's ``full`` mode also reports how its time splits between did-you-mean,
snippets and the rest.

tantivy is the bench extra (``make bench-tools``); ``--engines searchsvc,fts5,plain`` leaves
it out. ``--index searchsvc=DIR`` measures an index already built (300k takes minutes to
build) instead of building one in the cache.

Usage: ``.venv/bin/python bench/search_latency.py [CORPUS] [--queries FILE] [--docs N]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import common
import references
from common import Status, file_key, percentile, table

from searchsvc.errors import QueryTooExpensive

ENGINES = ("searchsvc", "fts5", "plain", "tantivy")
NOTES = {
    "searchsvc": "searchsvc index (`reindex --full`), `SearchEngine` / its QueryBuilder + BM25F",
    "fts5": "SQLite FTS5 unicode61 remove_diacritics 2, bm25 (title weight 2), snippet()",
    "plain": "Whoosh, obvious filter chain with pure-Python Snowball, MultifieldParser (AND), "
    "BM25F, title boost 2, Whoosh highlighter on the body",
    "tantivy": "tantivy-py: simple tokenizer, lowercase, ASCII folding, Snowball French; BM25, "
    "title boost 2, every word required; SnippetGenerator on the body",
}


# -- child side --------------------------------------------------------------------------------


class Runner:
    """One engine in one mode: ``prepare`` (untimed) then ``run(i)`` for query ``i``."""

    def __init__(self, engine: str, mode: str, path: Path, queries: list[str]):
        self.engine, self.mode, self.queries = engine, mode, queries
        self.parts = {"suggestion": 0.0, "snippets": 0.0}
        self.too_slow = 0  # searchsvc queries stopped at SEARCH_TIME_LIMIT (their time counts)
        if engine == "searchsvc":
            from searchsvc.engine.search import SearchEngine

            self.se = SearchEngine(path)
            if mode == "full":
                self._instrument()
        elif engine == "fts5":
            self.fts = references.Fts5Searcher(references.searchable_path("fts5", path))
        elif engine == "tantivy":
            self.tv = references.TantivySearcher(references.searchable_path("tantivy", path))
        else:
            self.ws = references.WhooshSearcher(path)
        self.prepared: list | None = None

    def _instrument(self) -> None:
        """Time did-you-mean and snippets inside SearchEngine.search.

        SearchEngine offers no timings of its parts, so this wraps the public functions it
        calls for them, ``suggest.did_you_mean`` and ``snippets.snippet``.
        """
        import searchsvc.engine.snippets as snippets_module
        import searchsvc.engine.suggest as suggest_module

        parts = self.parts
        suggestion, snippet = suggest_module.did_you_mean, snippets_module.snippet

        def timed_suggestion(*args):
            t = time.perf_counter()
            try:
                return suggestion(*args)
            finally:
                parts["suggestion"] += time.perf_counter() - t

        def timed_snippet(*args, **kwargs):
            t = time.perf_counter()
            try:
                return snippet(*args, **kwargs)
            finally:
                parts["snippets"] += time.perf_counter() - t

        suggest_module.did_you_mean = timed_suggestion
        snippets_module.snippet = timed_snippet

    def prepare(self) -> None:
        """Build the query objects of the ``search`` mode (not timed)."""
        if self.mode != "search" or self.engine == "fts5":
            return
        if self.engine == "searchsvc":
            from searchsvc.query import language as ql
            from searchsvc.query.plan import QueryBuilder

            with self.se.searcher() as s:
                self.prepared = [
                    QueryBuilder(s.reader(), self.se.weights).build(ql.parse(q)).query
                    for q in self.queries
                ]
        elif self.engine == "tantivy":
            self.prepared = [self.tv.parse(q) for q in self.queries]
        else:
            self.prepared = [self.ws.parse(q) for q in self.queries]

    def run(self, i: int) -> int:
        try:
            return self._run(i)
        except QueryTooExpensive:  # a 503 for a user: counted, not fatal to the measurement
            self.too_slow += 1
            return 0

    def _run(self, i: int) -> int:
        q = self.queries[i]
        if self.engine == "fts5":
            return len(self.fts.search(q, 10, snippets=self.mode == "full"))
        if self.engine == "tantivy":
            if self.mode == "full":
                return len(self.tv.search(q, 10, snippets=True))
            return len(self.tv.search_query(self.prepared[i], 10))
        if self.engine == "plain":
            if self.mode == "full":
                return len(self.ws.search(q, 10, snippets=True))
            return len(self.ws.search_query(self.prepared[i], 10))
        if self.mode == "full":
            return len(self.se.search(q, page=1, per_page=10).hits)
        wq = self.prepared[i]
        if wq is None:
            return 0
        from searchsvc import settings
        from searchsvc.engine import ranking

        with self.se.searcher() as s:
            ranked = ranking.rank(s, wq, 10, time.monotonic() + settings.SEARCH_TIME_LIMIT)
            return len([s.stored_fields(docnum)["id"] for _score, docnum in ranked.top])


def child(engine: str, mode: str, path: Path, queries_file: Path, first: int | None) -> dict:
    queries = json.loads(queries_file.read_text())
    if first is not None:  # cold: open the index and run one query
        t = time.perf_counter()
        runner = Runner(engine, "full", path, queries)
        runner.run(first)
        return {"cold": time.perf_counter() - t, "too_slow": runner.too_slow}
    if mode == "once":  # each query once, in a process warmed up as a served worker is
        runner = Runner(engine, "full", path, queries)
        runner.run(0)
        if engine == "searchsvc":
            for text in served_warm_up_queries():
                runner.se.search(text)
        times = []
        for i in range(1, len(queries)):
            t = time.perf_counter()
            runner.run(i)
            times.append(time.perf_counter() - t)
        return {"times": times, "too_slow": runner.too_slow}
    runner = Runner(engine, mode, path, queries)
    runner.prepare()
    passes = []
    for _ in range(2):
        for k in runner.parts:
            runner.parts[k] = 0.0
        times = []
        for i in range(len(queries)):
            t = time.perf_counter()
            runner.run(i)
            times.append(time.perf_counter() - t)
        passes.append(times)
    return {"passes": passes, "parts": runner.parts, "too_slow": runner.too_slow}


def served_warm_up_queries() -> list[str]:
    """The searches a served worker makes before its first request (``searchsvc serve``'s
    warm-up, see searchsvc.web.security.WARM_UP_PATHS)."""
    from urllib.parse import parse_qs, urlsplit

    from searchsvc.web.security import WARM_UP_PATHS

    found = []
    for path in WARM_UP_PATHS:
        url = urlsplit(path)
        if url.path == "/api/search":
            found.extend(parse_qs(url.query).get("q", []))
    return found


# -- parent side -------------------------------------------------------------------------------

# Queries people type that no index word answers directly, each run once in a fresh process
# (after one other query): prefixes of 3 to 6 letters, and misspelt words (two letters
# swapped, one dropped, one doubled).
SPECIAL_QUERIES = 40


def special_queries(queries: list[str]) -> dict[str, list[str]]:
    """Prefixes and misspellings made from the benchmark queries' longer words (the same
    ones in every run)."""
    words = []
    for q in queries:
        for w in q.replace('"', " ").split():
            if len(w) >= 7 and w.isalpha() and w.lower() not in words:
                words.append(w.lower())
    prefixes = [w[: 3 + i % 4] + "*" for i, w in enumerate(words[:SPECIAL_QUERIES])]
    typos = []
    for i, w in enumerate(words[SPECIAL_QUERIES : 2 * SPECIAL_QUERIES]):
        k = 2 + i % (len(w) - 3)
        edit = i % 3
        if edit == 0:
            typos.append(w[:k] + w[k + 1] + w[k] + w[k + 2 :])  # swap
        elif edit == 1:
            typos.append(w[:k] + w[k + 1 :])  # drop
        else:
            typos.append(w[:k] + w[k] + w[k:])  # double
    return {"prefix": prefixes, "typo": typos}


def parse_args(argv=None) -> argparse.Namespace:
    p = common.arg_parser(__doc__)
    p.add_argument("--queries", type=Path, default=common.DEFAULT_QUERIES)
    p.add_argument("--limit", type=int, default=None, help="use only the first N queries")
    p.add_argument("--cold", type=int, default=5, help="fresh processes for the cold figure")
    p.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset")
    p.add_argument("--rebuild", action="store_true", help="ignore cached indexes")
    p.add_argument(
        "--index",
        action="append",
        default=[],
        metavar="ENGINE=DIR",
        help="measure this index of ENGINE, already built, instead of the cached one",
    )
    p.add_argument("--no-results", action="store_true", help="do not update bench/RESULTS.md")
    p.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def ms(seconds: float) -> str:
    v = seconds * 1000
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        engine, mode, path, qfile, first = args.child
        out = child(engine, mode, Path(path), Path(qfile), None if first == "-" else int(first))
        print(json.dumps(out), flush=True)
        return 0
    status = Status()
    started = time.perf_counter()
    code = common.code_note()  # the code measured, noted before it can change
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if set(engines) - set(ENGINES):
        raise SystemExit(f"unknown engines: {', '.join(sorted(set(engines) - set(ENGINES)))}")
    for path in (args.corpus, args.queries):
        if not path.exists():
            raise SystemExit(f"not found: {path}")
    given = dict(item.split("=", 1) for item in args.index if "=" in item)
    if len(given) != len(args.index) or set(given) - set(engines):
        raise SystemExit("--index takes ENGINE=DIR, ENGINE one of the engines measured")
    if "tantivy" in engines:
        references.tantivy_module()  # one line saying how to install it, before any work
    folder = common.corpus_dir(args.corpus, args.docs)
    corpus_key = f"{file_key(args.corpus)}:{args.docs}"
    queries = common.load_queries(args.queries)[: args.limit]
    qfile = common.WORK / "queries" / f"latency-{common.digest(queries)}.json"
    qfile.parent.mkdir(parents=True, exist_ok=True)
    qfile.write_text(json.dumps(queries, ensure_ascii=False))

    # -- indexes (cached, shared with relevance.py) -------------------------------------------
    paths, metas = {}, {}
    for e in engines:
        if e in given:
            paths[e] = Path(given[e])
            if not paths[e].is_dir():
                raise SystemExit(f"not found: {paths[e]}")
            metas[e] = references.cached_meta(paths[e]) or {"kind": e}
            continue
        paths[e] = references.index_path(e, corpus_key)
        meta = None if args.rebuild else references.cached_meta(paths[e])
        if meta is None:
            status.note(f"building the {e} index …")
            paths[e].parent.mkdir(parents=True, exist_ok=True)
            references.prune_cache(e, paths[e])
            meta = references.build_index(e, str(folder), str(paths[e]))
        metas[e] = meta
    searchable = {e: str(paths[e]) for e in engines}

    def child_run(engine: str, mode: str, first: int | None) -> common.ChildRun:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            engine,
            mode,
            searchable[engine],
            str(qfile),
            "-" if first is None else str(first),
        ]
        return common.run_child(cmd)

    # -- cold: fresh processes, engines interleaved ----------------------------------------------
    cold: dict[str, list[float]] = {e: [] for e in engines}
    too_slow: dict[str, int] = {}  # "engine mode": queries stopped at the time limit
    cold_wall: dict[str, list[float]] = {e: [] for e in engines}
    for k in range(args.cold):
        for e in engines:
            res = child_run(e, "full", k % len(queries))
            cold[e].append(res.output["cold"])
            too_slow[f"{e} cold"] = too_slow.get(f"{e} cold", 0) + res.output["too_slow"]
            cold_wall[e].append(res.wall)
    status.note("cold runs done")

    # -- warm passes -------------------------------------------------------------------------
    warm: dict[tuple[str, str], dict] = {}
    for mode in ("search", "full"):
        for e in engines:
            status.note(f"{e} / {mode}: 2 passes over {len(queries)} queries …")
            res = child_run(e, mode, None)
            warm[(e, mode)] = dict(res.output, rss=res.maxrss_kb)
            too_slow[f"{e} {mode}"] = res.output["too_slow"]

    # -- prefixes and misspellings: each once, in a fresh process ------------------------------
    special: dict[tuple[str, str], list[float]] = {}
    for kind, texts in special_queries(queries).items():
        kind_file = common.WORK / "queries" / f"latency-{kind}-{common.digest(texts)}.json"
        kind_file.write_text(json.dumps(["maison", *texts], ensure_ascii=False))
        for e in engines:
            status.note(f"{e} / {kind}: {len(texts)} queries, each once …")
            cmd = [sys.executable, __file__, "--child", e, "once", searchable[e], str(kind_file)]
            res = common.run_child([*cmd, "-"])
            special[(e, kind)] = res.output["times"]
            too_slow[f"{e} {kind}"] = res.output["too_slow"]
    special_rows = [
        [
            e,
            kind,
            ms(percentile(special[(e, kind)], 50)),
            ms(percentile(special[(e, kind)], 90)),
            ms(max(special[(e, kind)])),
        ]
        for kind in ("prefix", "typo")
        for e in engines
    ]
    special_table = table(
        ["engine", "queries", "p50", "p90", "max"], special_rows, right=range(2, 5)
    )

    rows = []
    for mode in ("search", "full"):
        for e in engines:
            first, second = warm[(e, mode)]["passes"]
            rows.append(
                [
                    e,
                    mode,
                    ms(percentile(first, 50)),
                    ms(percentile(first, 99)),
                    ms(percentile(second, 50)),
                    ms(percentile(second, 95)),
                    ms(percentile(second, 99)),
                    ms(max(second)),
                    f"{len(second) / sum(second):,.0f}",
                ]
            )
    lat_table = table(
        [
            "engine",
            "mode",
            "pass 1 p50",
            "pass 1 p99",
            "warm p50",
            "p95",
            "p99",
            "max",
            "queries/s",
        ],
        rows,
        right=range(2, 9),
    )
    cold_rows = [
        [
            e,
            ms(common.median(cold[e])),
            ms(min(cold[e])),
            ms(max(cold[e])),
            f"{common.median(cold_wall[e]):.2f} s",
        ]
        for e in engines
    ]
    cold_table = table(
        ["engine", "cold first query (median)", "min", "max", "process start to exit"], cold_rows
    )

    ratio_txt = ""
    if "searchsvc" in engines and len(engines) > 1:
        rows = []
        for ref in engines:
            if ref == "searchsvc":
                continue
            row = [f"searchsvc ÷ {ref}"]
            for mode in ("search", "full"):
                mine = warm[("searchsvc", mode)]["passes"][1]
                theirs = warm[(ref, mode)]["passes"][1]
                for p in (50, 99):
                    row.append(f"{percentile(mine, p) / max(1e-9, percentile(theirs, p)):.1f}×")
            row.append(
                f"{common.median(cold['searchsvc']) / max(1e-9, common.median(cold[ref])):.1f}×"
            )
            rows.append(row)
        ratio_txt = table(
            ["ratio", "search p50", "search p99", "full p50", "full p99", "cold"], rows
        )

    parts_txt = ""
    if "searchsvc" in engines:
        full = warm[("searchsvc", "full")]
        total = sum(full["passes"][1])
        search_only = sum(warm[("searchsvc", "search")]["passes"][1])
        sug, snip = full["parts"]["suggestion"], full["parts"]["snippets"]
        rest = total - sug - snip
        n = len(queries)
        rows = [
            ["did-you-mean (spelling suggestion)", ms(sug / n), f"{100 * sug / total:.0f}%"],
            ["10 snippets", ms(snip / n), f"{100 * snip / total:.0f}%"],
            [
                "ranking: top 10, count, facets (search mode)",
                ms(search_only / n),
                f"{100 * search_only / total:.0f}%",
            ],
            [
                "the rest: parse, query build, full count, facets, fallbacks",
                ms(max(0.0, rest - search_only) / n),
                f"{100 * max(0.0, rest - search_only) / total:.0f}%",
            ],
            ["SearchEngine.search (full mode)", ms(total / n), "100%"],
        ]
        parts_txt = table(["searchsvc full mode, warm pass", "mean ms", "share"], rows)

    elapsed = time.perf_counter() - started
    documents = next((m["documents"] for m in metas.values() if "documents" in m), "?")
    header = (
        f"{len(queries)} queries from {args.queries} on {documents} "
        f"documents; latencies in ms, in process; warm = second pass"
    )
    report = common.sections(
        header,
        "Warm latency\n\n" + lat_table,
        f"Cold: first query in a fresh process, index opening included ({args.cold} "
        "processes; page cache warm)\n\n" + cold_table,
        "Prefixes (3 to 6 letters) and misspelt words, each once in a fresh process (searchsvc "
        "warmed up with the searches of `searchsvc serve`'s worker warm-up), full mode\n\n"
        + special_table,
        ("Ratios (above 1: searchsvc slower)\n\n" + ratio_txt) if ratio_txt else "",
        ("Where searchsvc's time goes\n\n" + parts_txt) if parts_txt else "",
        (
            "Stopped at the time limit (a 503 `query_too_expensive` for a user; the time to "
            "fail is in the figures): " + ", ".join(f"{k} {n}" for k, n in too_slow.items() if n)
        )
        if any(too_slow.values())
        else "",
    )
    print(report)
    print(f"\ntotal {elapsed:.0f} s")
    if not args.no_results:
        notes = common.engine_notes(engines, NOTES)
        common.write_results(
            "Search latency",
            code,
            report,
            "Modes: `search` = top-10 ids only (searchsvc: `ranking.rank()` with the query "
            "objects its QueryBuilder made: top 10, count and facets); `full` = a whole "
            "request (searchsvc: "
            "`SearchEngine.search` with count, snippets and did-you-mean).\n\n" + notes,
            f"Whole run: {elapsed:.0f} s.",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
