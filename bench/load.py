"""Service load: ``searchsvc serve`` (gunicorn, default settings) on a free loopback port,
queried over HTTP with distinct queries from the benchmark query file, beside SQLite FTS5 in
process on the same queries.

The figures of issue 12, each from a freshly started server (2 workers, as ``serve`` starts):

* sequential, one client: the first ``--cold`` queries of a fresh server (p50/p99), then the
  rest of the queries on the same, now warm, server (p50/p99); FTS5 in process, with
  snippets, on the same queries in the same order (a fresh connection for the first ones),
  and the ratio. Done at each ``--sizes`` (the bench corpus cut, or repeated with new ids
  past its length): the growth table.
* concurrency (``--concurrency``, default 8 and 32 connections) at the bench corpus size: a
  fresh server, 100 warm-up queries, then every other query once, by Debian's ``wrk``
  (a Lua script deals each thread its share of the queries) when installed, else by Python
  threads with one keep-alive connection each. Answered/s (200), p50/p99, requests shed on
  purpose (503 ``overloaded``), other errors, and each worker's peak RSS while it ran.

Every request is ``GET /api/search?q=…&per_page=10``; the load goes to 127.0.0.1 only and is
bounded in requests and in time; each server is stopped, by its process id, once measured.

Usage: ``.venv/bin/python bench/load.py [CORPUS] [--queries FILE] [--sizes 10000,all,100000]
[--concurrency 8,32] [--client wrk|python]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import common
import references
from common import WORK, Status, file_key, percentile, table

from searchsvc import testing
from searchsvc.testing import HOST, Server


def has_serve() -> bool:
    """Whether this checkout's CLI has the ``serve`` command yet."""
    from searchsvc.cli import main

    return "serve" in getattr(main, "commands", {})


def run_level(port: int, queries: list[str], concurrency: int, max_seconds: float) -> dict:
    """Send each query once (bounded by ``max_seconds``) with ``concurrency`` threads."""
    lock = threading.Lock()
    it = iter(queries)
    latencies: list[float] = []
    shed: list[float] = []  # 503 "overloaded": the service's own load shedding
    errors: dict[str, int] = {}
    deadline = time.monotonic() + max_seconds

    def next_query() -> str | None:
        with lock:
            if time.monotonic() >= deadline:
                return None
            return next(it, None)

    def worker() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            while (q := next_query()) is not None:
                path = "/api/search?" + urllib.parse.urlencode({"q": q, "per_page": 10})
                t = time.perf_counter()
                try:
                    conn.request("GET", path)
                    resp = conn.getresponse()
                    body = resp.read()
                    status = resp.status
                    if status == 503 and b"overloaded" in body:
                        status = "shed"
                except (OSError, http.client.HTTPException) as e:
                    status = type(e).__name__
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, port, timeout=30)
                took = time.perf_counter() - t
                with lock:
                    if status == 200:
                        latencies.append(took)
                    elif status == "shed":
                        shed.append(took)
                    else:
                        errors[str(status)] = errors.get(str(status), 0) + 1
        finally:
            conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {"latencies": latencies, "shed": shed, "errors": errors, "seconds": elapsed}


def search_path(q: str) -> str:
    """The request every measurement sends for a query."""
    return "/api/search?" + urllib.parse.urlencode({"q": q, "per_page": 10})


def sequential(port: int, queries: list[str]) -> tuple[list[float], dict[str, int]]:
    """Send the queries one after the other on one keep-alive connection: the latency of
    each answered one (200), and the count of every other outcome."""
    times: list[float] = []
    other: dict[str, int] = {}
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        for q in queries:
            t = time.perf_counter()
            try:
                conn.request("GET", search_path(q))
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as e:
                status = type(e).__name__
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=30)
            took = time.perf_counter() - t
            if status == 200:
                times.append(took)
            else:
                other[str(status)] = other.get(str(status), 0) + 1
    finally:
        conn.close()
    return times, other


def fts5_sequential(path: Path, queries: list[str], cold: int) -> tuple[list[float], list[float]]:
    """FTS5 in this process, top 10 with snippets: the first ``cold`` queries on a fresh
    connection, then the rest (the same split as the server's)."""
    searcher = references.Fts5Searcher(references.searchable_path("fts5", path))
    times = []
    try:
        for q in queries:
            t = time.perf_counter()
            searcher.search(q, limit=10, snippets=True)
            times.append(time.perf_counter() - t)
    finally:
        searcher.close()
    return times[:cold], times[cold:]


# wrk's script: each thread sends its share of the request paths (every nth line of the file)
# once each (the bench runs one thread, which serves thousands of requests a second); while
# its last searches finish, its idle connections ask /healthz once a second (fillers, left out
# of the counts). A thread that has every answer notes the time and leaves a marker file, so
# that the bench stops wrk (SIGINT) once all are done rather than after its whole duration.
# done() prints the statuses, the span from the first request to the last answer and wrk's
# latency percentiles as one JSON line.
WRK_SCRIPT = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } load_timespec;
int clock_gettime(int clk, load_timespec *tp);
]]
local function now()
  local t = ffi.new("load_timespec")
  ffi.C.clock_gettime(1, t)  -- CLOCK_MONOTONIC
  return tonumber(t.tv_sec) + tonumber(t.tv_nsec) / 1e9
end

local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[2])
  marker = args[3] .. "-" .. id
  paths = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      table.insert(paths, line)
    end
    i = i + 1
  end
  sent, received, first, last = 0, 0, 0, 0
  statuses = {}
end

function delay()
  if sent >= #paths then
    return 1000  -- fillers at a slow pace
  end
  return 0
end

function request()
  if id == 0 and not verified then
    verified = true  -- wrk calls the first thread's request() once before it starts: not sent
    return wrk.format("GET", "/healthz")
  end
  if sent >= #paths then
    return wrk.format("GET", "/healthz")
  end
  sent = sent + 1
  if first == 0 then
    first = now()
  end
  return wrk.format("GET", paths[sent])
end

function response(status, headers, body)
  if string.find(body, '"status":"ok"', 1, true) then
    return  -- a filler
  end
  local key = tostring(status)
  if status == 503 and string.find(body, "overloaded", 1, true) then
    key = "shed"
  end
  statuses[key] = (statuses[key] or 0) + 1
  received = received + 1
  if received == #paths then
    last = now()
    local f = io.open(marker, "w")
    f:write("done\n")
    f:close()
  end
end

function done(summary, latency, requests)
  local counts, first_sent, last_answer = {}, nil, 0
  for _, thread in ipairs(threads) do
    for k, v in pairs(thread:get("statuses")) do
      counts[k] = (counts[k] or 0) + v
    end
    local f, l = thread:get("first"), thread:get("last")
    if f > 0 and (first_sent == nil or f < first_sent) then first_sent = f end
    if l > last_answer then last_answer = l end
  end
  local parts = {}
  for k, v in pairs(counts) do
    table.insert(parts, string.format('"%s": %d', k, v))
  end
  local span = summary.duration / 1e6
  if first_sent ~= nil and last_answer > 0 then span = last_answer - first_sent end
  local e = summary.errors
  io.write(string.format(
    'WRK-RESULT {"seconds": %f, "p50": %f, "p99": %f, "max": %f, "statuses": {%s}, ' ..
    '"socket_errors": %d, "responses": %d}\n',
    span, latency:percentile(50) / 1e6, latency:percentile(99) / 1e6,
    latency.max / 1e6, table.concat(parts, ", "), e.connect + e.read + e.write + e.timeout,
    summary.requests))
end
"""


def wrk_level(port: int, queries: list[str], connections: int, max_seconds: float) -> dict:
    """Send each query once over ``connections`` keep-alive connections with ``wrk``; stop it
    as soon as every query has its answer."""
    folder = WORK / "load"
    folder.mkdir(parents=True, exist_ok=True)
    script, paths = folder / "distinct.lua", folder / f"paths-{os.getpid()}.txt"
    marker = folder / f"done-{os.getpid()}"
    script.write_text(WRK_SCRIPT)
    paths.write_text("".join(search_path(q) + "\n" for q in queries))
    threads = 1  # one list of queries for every connection: none idles while others work
    markers = [Path(f"{marker}-{i}") for i in range(threads)]
    for m in markers:
        m.unlink(missing_ok=True)
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max_seconds:g}s",
           "--timeout", "30s", "-s", str(script), f"http://{HOST}:{port}",
           "--", str(paths), str(threads), str(marker)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while proc.poll() is None and not all(m.exists() for m in markers):
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # wrk then reports, done() included
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        paths.unlink(missing_ok=True)
        for m in markers:
            m.unlink(missing_ok=True)
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK-RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out}\n{err}")
    found = json.loads(line.removeprefix("WRK-RESULT "))
    statuses = found["statuses"]
    answered = statuses.pop("200", 0)
    shed = statuses.pop("shed", 0)
    if found["socket_errors"]:
        statuses["socket"] = found["socket_errors"]
    fillers = found["responses"] - answered - shed - sum(statuses.values())
    return {
        "answered": answered,
        "shed": shed,
        "errors": statuses,
        "seconds": found["seconds"],
        "p50": found["p50"],
        "p99": found["p99"],
        "latency_of": f"every response, wrk's histogram, with {max(0, fillers)} /healthz fillers",
    }


def python_level(port: int, queries: list[str], connections: int, max_seconds: float) -> dict:
    """:func:`run_level` in the shape :func:`wrk_level` reports."""
    res = run_level(port, queries, connections, max_seconds)
    lat = res["latencies"]
    return {
        "answered": len(lat),
        "shed": len(res["shed"]),
        "errors": res["errors"],
        "seconds": res["seconds"],
        "p50": percentile(lat, 50) if lat else float("nan"),
        "p99": percentile(lat, 99) if lat else float("nan"),
        "latency_of": "answered requests (Python client)",
    }


class Sampler:
    """Peak RSS and anonymous memory of each worker of a server, sampled every 0.2 s."""

    def __init__(self, server: Server):
        self.pids = server.workers()
        self.rss = {pid: common.rss_kb(pid) for pid in self.pids}
        self.anon = {pid: common.anon_kb(pid) for pid in self.pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids:
                self.rss[pid] = max(self.rss[pid], common.rss_kb(pid))
                self.anon[pid] = max(self.anon[pid], common.anon_kb(pid))
            self._stop.wait(0.2)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def mb_list(kb: dict[int, int]) -> str:
    return ", ".join(f"{v / 1024:.0f}" for v in kb.values())


def ms(seconds: float) -> str:
    if seconds != seconds:  # NaN: nothing measured
        return "-"
    return f"{1000 * seconds:.1f}" if seconds < 0.1 else f"{1000 * seconds:.0f}"


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.1f}×" if theirs > 0 and ours == ours else "-"


def start_server(index: Path, workers: int | None, status: Status) -> tuple[Server, float]:
    """A fresh ``searchsvc serve`` (``workers`` None: serve's default) on a free port, ready
    (its /healthz answers); the seconds from its start to ready (worker warm-up included)."""
    log = WORK / "load-server.log"
    status.note(f"starting `searchsvc serve` on {index} (log: {log})")
    started = time.perf_counter()
    server = testing.start_server(index, log, workers=workers, timeout=300)
    return server, time.perf_counter() - started


_indexes: dict[tuple[int | None, str], tuple[Path, dict]] = {}


def index_for(args, docs: int | None, kind: str, status: Status) -> tuple[Path, dict]:
    """The cached benchmark index of ``kind`` for the corpus cut (or repeated) to ``docs``;
    the same one for the whole run, even if the code that decides its content changes."""
    if (docs, kind) not in _indexes:
        _indexes[docs, kind] = _build_index(args, docs, kind, status)
    return _indexes[docs, kind]


def _build_index(args, docs: int | None, kind: str, status: Status) -> tuple[Path, dict]:
    corpus_key = f"{file_key(args.corpus)}:{docs}"
    path = references.index_path(kind, corpus_key)
    meta = references.cached_meta(path)
    if meta is None:
        status.note(f"building the {kind} index of {docs or 'all the'} documents …")
        folder = common.corpus_dir(args.corpus, docs)
        path.parent.mkdir(parents=True, exist_ok=True)
        references.prune_cache(kind, path, others=4)
        meta = references.build_index(kind, str(folder), str(path))
    return path, meta


def parse_args(argv=None) -> argparse.Namespace:
    p = common.arg_parser(__doc__, "JSONL(.gz) corpus to index")
    p.add_argument("--queries", type=Path, default=common.DEFAULT_QUERIES)
    p.add_argument(
        "--sizes",
        default="10000,all,100000",
        help="index sizes for the sequential figures (documents, or 'all': the corpus)",
    )
    p.add_argument("--cold", type=int, default=300, help="queries counted as a fresh server's")
    p.add_argument("--concurrency", default="8,32", help="connections, comma-separated")
    p.add_argument("--client", choices=("wrk", "python"), default=None,
                   help="load generator (default: wrk when installed)")  # fmt: skip
    p.add_argument("--seconds", type=float, default=60, help="at most this long per level")
    p.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: serve's)")
    p.add_argument("--no-results", action="store_true", help="do not update bench/RESULTS.md")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    status = Status()
    started = time.perf_counter()
    code = common.code_note()  # the code measured, noted before it can change
    for path in (args.corpus, args.queries):
        if not path.exists():
            raise SystemExit(f"not found: {path}")
    if not has_serve():
        print("`searchsvc serve` does not exist yet: nothing to measure.")
        return 2
    client = args.client or ("wrk" if shutil.which("wrk") else "python")
    if client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk), or use --client python")
    queries = common.load_queries(args.queries)
    if len(queries) <= args.cold + 100:
        raise SystemExit(f"need more than {args.cold + 100} queries ({len(queries)} given)")
    sizes = [None if s.strip() == "all" else int(s) for s in args.sizes.split(",") if s.strip()]
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    main_docs = args.docs

    # -- sequential, per size: a fresh server's first queries, then warm ---------------------
    seq_rows, seq = [], {}
    for docs in sizes:
        index, meta = index_for(args, docs, "searchsvc", status)
        fts_path, _fts = index_for(args, docs, "fts5", status)
        server, ready_s = start_server(index, args.workers, status)
        port = server.port
        try:
            with Sampler(server) as mem:
                idle_rss = dict(mem.rss)
                status.note(f"{meta['documents']} documents: {len(queries)} queries, one at a time")
                cold, cold_other = sequential(port, queries[: args.cold])
                warm, warm_other = sequential(port, queries[args.cold :])
        finally:
            server.stop()
        fts_cold, fts_warm = fts5_sequential(fts_path, queries, args.cold)
        seq[docs] = (cold, warm, fts_cold, fts_warm)
        others = {**cold_other}
        for k, v in warm_other.items():
            others[k] = others.get(k, 0) + v
        seq_rows.append(
            [
                f"{meta['documents']:,}",
                f"{meta['bytes'] / 1e6:.0f} MB",
                f"{ready_s:.1f} s",
                f"{ms(percentile(cold, 50))} / {ms(percentile(cold, 99))}",
                f"{ms(percentile(warm, 50))} / {ms(percentile(warm, 99))}",
                f"{ms(percentile(fts_cold, 99))}",
                f"{ms(percentile(fts_warm, 50))} / {ms(percentile(fts_warm, 99))}",
                f"{ratio(percentile(cold, 99), percentile(fts_cold, 99))}",
                f"{ratio(percentile(warm, 50), percentile(fts_warm, 50))} / "
                f"{ratio(percentile(warm, 99), percentile(fts_warm, 99))}",
                ", ".join(f"{k}: {v}" for k, v in others.items()) or "0",
                f"{mb_list(idle_rss)} → {mb_list(mem.rss)}",
                f"{mb_list(mem.anon)}",
            ]
        )

    # -- concurrency, at the main size -------------------------------------------------------
    level_rows = []
    index, meta = index_for(args, main_docs, "searchsvc", status)
    warmup, measured = queries[-100:], queries[:-100]
    latency_of = ""
    for c in levels:
        server, _ready = start_server(index, args.workers, status)
        port = server.port
        try:
            sequential(port, warmup[:50])
            run_level(port, warmup[50:], 2, 30)
            with Sampler(server) as mem:
                status.note(f"{c} connections ({client}): up to {len(measured)} requests …")
                if client == "wrk":
                    res = wrk_level(port, measured, c, args.seconds)
                else:
                    res = python_level(port, measured, c, args.seconds)
        finally:
            server.stop()
        latency_of = res["latency_of"]
        n_err = sum(res["errors"].values())
        done = res["answered"] + res["shed"] + n_err
        errs = ", ".join(f"{k}: {v}" for k, v in res["errors"].items())
        level_rows.append(
            [
                str(c),
                str(done),
                f"{res['seconds']:.1f} s",
                f"{res['answered'] / res['seconds']:.0f}",
                ms(res["p50"]),
                ms(res["p99"]),
                f"{res['shed']} ({100 * res['shed'] / max(1, done):.0f}%)" if res["shed"] else "0",
                f"{n_err} ({errs})" if n_err else "0",
                mb_list(mem.rss),
                mb_list(mem.anon),
            ]
        )

    seq_table = table(
        ["documents", "index", "ready after", f"first {args.cold} p50 / p99 ms",
         "warm p50 / p99 ms", f"FTS5 first {args.cold} p99 ms", "FTS5 warm p50 / p99 ms",
         "× FTS5 first", "× FTS5 warm p50 / p99", "not 200",
         "RSS per worker MB (ready → peak)", "anonymous peak MB"],
        seq_rows,
    )  # fmt: skip
    load_table = table(
        ["connections", "requests", "time", "answered/s", "p50 ms", "p99 ms",
         "shed (503 overloaded)", "errors", "peak RSS per worker (MB)",
         "peak anonymous per worker (MB)"],
        level_rows,
    )  # fmt: skip
    workers = f"{args.workers} workers" if args.workers else "serve's default settings"
    elapsed = time.perf_counter() - started
    report = "\n\n".join(
        [
            f"`searchsvc serve` ({workers}) on {HOST}, started afresh for each line; "
            f"GET /api/search?q=…&per_page=10, distinct queries from `{args.queries.name}` "
            f"({len(queries)}).",
            f"One client, one query at a time: the first {args.cold} queries of a fresh server, "
            f"then the other {len(queries) - args.cold} on it, warm. FTS5: SQLite in this "
            "process, top 10 with `snippet()`, the same queries in the same order (a fresh "
            "connection for the first ones). × FTS5 is searchsvc's time over FTS5's. Ready "
            "after: from the start of `serve` to its first /healthz answer (each worker warms "
            "up first).",
            seq_table,
            f"Concurrency, index of {meta['documents']:,} documents: a fresh server, "
            f"{len(warmup)} warm-up queries, then the other {len(measured)} queries once each "
            f"over N keep-alive connections ({client}; latencies of {latency_of}); at most "
            f"{args.seconds:g} s a level.",
            load_table,
            "RSS includes the index files each worker maps (page cache, shared by the workers); "
            "anonymous memory is what each worker alone adds.",
        ]
    )
    print(report)
    print(f"\ntotal {elapsed:.0f} s; server log: {WORK / 'load-server.log'}")
    if not args.no_results:
        common.write_results(
            "Service load",
            code,
            report,
            f"Whole run: {elapsed:.0f} s.",
            note=" The load generator runs on the same 2 cores as the server.",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
