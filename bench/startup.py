"""Worker start-up: how long a fresh ``searchsvc serve`` worker takes to be ready, what it
hashes, its memory, and how fast the first searches after it are.

For each ``--workers`` count and each case, a fresh server (gunicorn, default settings) on a
free loopback port over an index already built (no corpus is indexed here):

* ``recorded``: the generation's verification record as the indexer wrote it (the usual case);
* ``no-record``: the record deleted first (an index copied by hand, or built by an older
  version): the workers hash the files, once between them, and write the record;
* ``no-cache``: the record kept, the spelling vocabularies' cache (``spelling.cache`` in the
  index folder) deleted first, as for the first worker to serve a new generation: the
  workers walk the segments' lexicons in their start-up thread, and keep what they built.

It reports each worker's ``worker ready in … s`` log line (seconds and MB of index hashed),
how long its start-up thread went on after it (``worker warmed up in … s more``: spelling
vocabularies, titles; it runs while the first queries do) and its RSS once that is done,
the time from launching the server to every worker ready, each worker's RSS once ready and
after the first queries, and the latency of the first ``--first`` distinct queries of the
bench query file, sent one at a time as soon as the server answers (over HTTP, to 127.0.0.1).
``--cold`` first drops the index's files (only they) from the page cache, as after a reboot.

``--code DIR`` runs the server from another source tree (``git archive`` of an older commit,
for the figures before a change); its index must be one that code reads.

Usage: ``.venv/bin/python bench/startup.py INDEX [--workers 1,2] [--repeat N] [--first 20]
[--cases recorded,no-record,no-cache] [--cold] [--code DIR] [--no-results]``
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import common

from searchsvc.index import storage
from searchsvc.testing import Server, free_port, serve_command

READY = re.compile(r"worker ready in ([0-9.]+) s \((?:([0-9]+) MB of index hashed, )?")
BOOTED = re.compile(r"Booting worker with pid: (\d+)")
WARMED = re.compile(r"worker warmed up in ([0-9.]+) s more")
# The CPU seconds a worker had used when ready (logged by newer code only): steadier than the
# seconds on a shared machine.
READY_CPU = re.compile(r"worker ready in .*; ([0-9.]+) s CPU since the process started")


def first_queries(path: Path, count: int) -> list[str]:
    """The first ``count`` distinct queries of the bench file."""
    seen: list[str] = []
    for q in common.load_queries(path):
        if q not in seen:
            seen.append(q)
        if len(seen) == count:
            break
    return seen


def timed_get(port: int, query: str) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    try:
        conn.request("GET", "/api/search?" + urllib.parse.urlencode({"q": query, "per_page": 10}))
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        conn.close()


def evict(folder: Path) -> None:
    """Drop the files of ``folder`` (only they) from the page cache, as after a reboot."""
    for path in folder.iterdir():
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def start(index: Path, workers: int, log: Path, code: Path | None) -> tuple[Server, float]:
    """Launch the server; return it and the seconds until every worker logged it was ready."""
    if code is not None:  # ``python -m`` looks in the working folder first
        os.environ["PYTHONPATH"] = str(code)
        os.chdir(code)
    port = free_port()
    launched = time.monotonic()
    server = Server(serve_command(port, index, workers), port, log)
    deadline = launched + 120
    while len(READY.findall(log.read_text(errors="replace"))) < workers:
        if server.proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise SystemExit(f"the server did not start: see {log}")
        time.sleep(0.02)
    return server, time.monotonic() - launched


def _logs_warmed(code: Path | None) -> bool:
    """Whether the server's code warms up in a thread after it is ready (and logs it)."""
    source = (code or common.REPO) / "searchsvc" / "web" / "security.py"
    return "warmed up in" in source.read_text(encoding="utf-8")


def one_start(args: argparse.Namespace, workers: int, case: str, queries: list[str]) -> dict:
    """Start a server, measure, stop it."""
    generation = storage.current(args.index)
    if case == "no-record":
        (generation.path / storage.VERIFIED).unlink(missing_ok=True)
    if case == "no-cache":
        shutil.rmtree(args.index / "spelling.cache", ignore_errors=True)
    if args.cold:
        evict(generation.path)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        server, all_ready = start(args.index, workers, log, args.code)
        try:
            text = log.read_text(errors="replace")
            ready = [(float(s), int(mb or -1)) for s, mb in READY.findall(text)]
            ready_cpu = [float(c) for c in READY_CPU.findall(text)]
            pids = [int(p) for p in BOOTED.findall(text)]
            rss_ready = [common.rss_kb(p) for p in pids]
            latencies = []
            for q in queries:
                status, seconds = timed_get(server.port, q)
                if status != 200:
                    raise SystemExit(f"{q!r} answered {status}; see {log}")
                latencies.append(seconds)
            rss_after = [common.rss_kb(p) for p in pids]
            # Older code warms up before it is ready, and logs no such line: "-".
            deadline = time.monotonic() + (120 if _logs_warmed(args.code) else 0)
            warmed = []
            while time.monotonic() < deadline and server.proc.poll() is None:
                warmed = [float(x) for x in WARMED.findall(log.read_text(errors="replace"))]
                if len(warmed) >= workers:
                    break
                time.sleep(0.05)
            rss_warmed = [common.rss_kb(p) for p in pids]
        finally:
            server.stop()
    return {
        "ready": ready,
        "all_ready": all_ready,
        "ready_cpu": ready_cpu,
        "rss_ready": rss_ready,
        "rss_after": rss_after,
        "rss_warmed": rss_warmed,
        "warmed": warmed,
        "latencies": latencies,
    }


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("index", type=Path, help="an index folder (it is served, never rebuilt)")
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    p.add_argument("--cases", default="recorded,no-record", help="recorded, no-record, no-cache")
    p.add_argument("--repeat", type=int, default=3, help="starts per case (medians reported)")
    p.add_argument("--first", type=int, default=20, help="first queries timed after start")
    p.add_argument("--queries", type=Path, default=common.DEFAULT_QUERIES)
    p.add_argument("--cold", action="store_true", help="evict the index from the page cache")
    p.add_argument("--code", type=Path, default=None, help="serve from this source tree")
    p.add_argument("--no-results", action="store_true", help="do not update bench/RESULTS.md")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.index = args.index.resolve()
    status = common.Status()
    queries = first_queries(args.queries, args.first)
    generation = storage.current(args.index)
    size = sum(int(f.get("size") or 0) for f in generation.meta["files"].values())
    docs = generation.meta.get("documents", 0)
    rows = []
    for workers in [int(w) for w in args.workers.split(",")]:
        for case in args.cases.split(","):
            runs = []
            for r in range(args.repeat):
                status.note(f"[{r + 1}/{args.repeat}] {workers} worker(s), {case} …")
                runs.append(one_start(args, workers, case, queries))
            med = common.median
            slowest = med(max(s for s, _ in run["ready"]) for run in runs)
            hashed = med(sum(max(mb, 0) for _, mb in run["ready"]) for run in runs)
            lat = [x for run in runs for x in run["latencies"]]
            rows.append(
                [
                    str(workers),
                    case,
                    " / ".join(f"{s:.2f}" for s, _ in sorted(runs[-1]["ready"])),
                    f"{slowest:.2f} s",
                    f"{med(max(run['ready_cpu']) for run in runs):.2f} s"
                    if all(run["ready_cpu"] for run in runs)
                    else "?",
                    f"{hashed:.0f} MB"
                    if all(mb >= 0 for run in runs for _, mb in run["ready"])
                    else "?",
                    f"{med(run['all_ready'] for run in runs):.2f} s",
                    f"{max(max(run['rss_ready']) for run in runs) / 1024:.0f} MB",
                    f"{max(max(run['rss_after']) for run in runs) / 1024:.0f} MB",
                    " / ".join(f"{s:.2f}" for s in sorted(runs[-1]["warmed"])) or "-",
                    f"{max(max(run['rss_warmed']) for run in runs) / 1024:.0f} MB",
                    f"{med(run['latencies'][0] for run in runs) * 1000:.0f} ms",
                    f"{common.percentile(lat, 50) * 1000:.1f} ms",
                    f"{max(lat) * 1000:.0f} ms",
                ]
            )
    headers = [
        "workers",
        "case",
        "ready (each, last run)",
        "slowest ready",
        "CPU at ready",
        "hashed (all workers)",
        "launch → all ready",
        "RSS ready",
        f"RSS after {len(queries)} q.",
        "warmed up after (s, last run)",
        "RSS warmed",
        "1st query",
        f"first {len(queries)} p50",
        "max",
    ]
    report = common.table(headers, rows)
    if args.code:
        code = f"code from {args.code}"
    else:
        head = subprocess.run(
            ["git", "-C", str(common.REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        code = f"code: the working tree on {head}"
    intro = (
        f"Index {args.index} ({docs:,} documents, {size / 1e6:,.0f} MB, {generation.name}); "
        f"median of {args.repeat} start(s) per case; RSS is the largest worker's VmRSS"
        + (
            "; the index's files evicted from the page cache before each start."
            if args.cold
            else "."
        )
    )
    print(intro)
    print(report)
    if not args.no_results:
        common.write_results("Worker start-up (issue 24, one lever)", code, intro + "\n\n" + report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
