"""Service load: ``searchsvc serve`` (gunicorn) on a free loopback port, queried over HTTP at
several concurrency levels with distinct queries from the benchmark query file.

The load is bounded in requests and in time, and goes to 127.0.0.1 only. Each level uses
threads with one keep-alive ``http.client`` connection each; every request is a distinct
query (``GET /api/search?q=…``). Reported per level: answered requests/s (200), latency
p50/p99 of those, requests the service shed on purpose (503 ``overloaded``: it lets 2
searches run and 4 wait per worker), other errors (other statuses, failed connections) and
the RSS of each gunicorn worker (from /proc, peak while the level ran). The server is always
stopped, by its process id, at the end.

Usage: ``.venv/bin/python bench/load.py [CORPUS] [--queries FILE] [--concurrency 1,8,32]``
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import common
import references
from common import WORK, Status, file_key, percentile, table

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def serve_command(port: int, workers: int, index: Path) -> list[str]:
    script = Path(sys.executable).with_name("searchsvc")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "searchsvc.cli"]
    return [*head, "serve", "--host", HOST, "--port", str(port), "--workers", str(workers),
            "--index", str(index)]  # fmt: skip


def has_serve() -> bool:
    """Whether this checkout's CLI has the ``serve`` command yet."""
    from searchsvc.cli import main

    return "serve" in getattr(main, "commands", {})


class Server:
    """``searchsvc serve`` in a child process; ``stop()`` ends it and only it (and its workers)."""

    def __init__(self, cmd: list[str], log: Path, env: dict):
        self.log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def workers(self) -> list[int]:
        return sorted(common._children().get(self.proc.pid, []))

    def stop(self) -> None:
        workers = self.workers()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for pid in workers:  # a worker left behind by a killed master
            try:
                with open(f"/proc/{pid}/stat", "rb") as fh:
                    ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
                if ppid in (self.proc.pid, 1):
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
        self.log.close()


def wait_ready(port: int, server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.proc.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            conn.close()
            if resp.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError("the server did not become ready")


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


def parse_args(argv=None) -> argparse.Namespace:
    p = common.arg_parser(__doc__, "JSONL(.gz) corpus to index")
    p.add_argument("--queries", type=Path, default=common.DEFAULT_QUERIES)
    p.add_argument("--concurrency", default="1,8,32", help="comma-separated levels")
    p.add_argument(
        "--requests",
        type=int,
        default=None,
        help="at most this many per level (default: the queries shared out between levels, "
        "so that no query is sent twice)",
    )
    p.add_argument("--seconds", type=float, default=60, help="at most this long per level")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    p.add_argument("--no-results", action="store_true", help="do not update bench/RESULTS.md")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    status = Status()
    started = time.perf_counter()
    code = common.code_note()  # the code measured, noted before it can change
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    for path in (args.corpus, args.queries):
        if not path.exists():
            raise SystemExit(f"not found: {path}")
    if not has_serve():
        print("`searchsvc serve` does not exist yet: nothing to measure.")
        return 2
    folder = common.corpus_dir(args.corpus, args.docs)
    corpus_key = f"{file_key(args.corpus)}:{args.docs}"
    index = references.index_path("searchsvc", corpus_key)
    meta = references.cached_meta(index)
    if meta is None:
        status.note("building the searchsvc index …")
        index.parent.mkdir(parents=True, exist_ok=True)
        references.prune_cache("searchsvc", index)
        meta = references.build_index("searchsvc", str(folder), str(index))
    queries = common.load_queries(args.queries)
    if args.requests is None:
        args.requests = max(1, (len(queries) - 20) // max(1, len(levels)))

    port = free_port()
    log = WORK / "load-server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCHSVC_")}
    env["SEARCHSVC_WORKERS"] = str(args.workers)
    cmd = serve_command(port, args.workers, index)
    status.note(f"starting: {' '.join(cmd)} (log: {log})")
    server = Server(cmd, log, env)
    results = []
    try:
        wait_ready(port, server)
        # Queries are split between levels so that every request of the run is distinct.
        warm = queries[: min(20, len(queries))]
        run_level(port, warm, 2, 30)  # first request of each worker opens the index
        offset = len(warm)
        idle_rss = {pid: common.rss_kb(pid) for pid in server.workers()}
        idle_anon = {pid: common.anon_kb(pid) for pid in server.workers()}
        for c in levels:
            chunk = queries[offset : offset + args.requests]
            if len(chunk) < args.requests:  # not enough distinct queries left: start over
                offset, chunk = 0, queries[: args.requests]
            offset += len(chunk)
            peak = {pid: 0 for pid in server.workers()}
            peak_anon = dict(peak)
            stop = threading.Event()

            def sample(peak=peak, peak_anon=peak_anon, stop=stop) -> None:
                while not stop.is_set():
                    for pid in list(peak):
                        peak[pid] = max(peak[pid], common.rss_kb(pid))
                        peak_anon[pid] = max(peak_anon[pid], common.anon_kb(pid))
                    stop.wait(0.2)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            status.note(f"concurrency {c}: up to {len(chunk)} requests / {args.seconds:g} s …")
            res = run_level(port, chunk, c, args.seconds)
            stop.set()
            sampler.join()
            res["concurrency"] = c
            res["rss"] = peak
            res["anon"] = peak_anon
            results.append(res)
    finally:
        server.stop()

    rows = []
    for res in results:
        lat, shed = res["latencies"], res["shed"]
        n_err = sum(res["errors"].values())
        done = len(lat) + len(shed) + n_err
        rss = ", ".join(f"{kb / 1024:.0f}" for kb in res["rss"].values())
        anon = ", ".join(f"{kb / 1024:.0f}" for kb in res["anon"].values())
        errs = ", ".join(f"{k}: {v}" for k, v in res["errors"].items())
        rows.append(
            [
                str(res["concurrency"]),
                str(done),
                f"{res['seconds']:.1f} s",
                f"{len(lat) / res['seconds']:.1f}",
                f"{1000 * percentile(lat, 50):.0f}" if lat else "-",
                f"{1000 * percentile(lat, 99):.0f}" if lat else "-",
                f"{len(shed)} ({100 * len(shed) / max(1, done):.0f}%)" if shed else "0",
                f"{n_err} ({errs})" if n_err else "0",
                rss,
                anon,
            ]
        )
    load_table = table(
        ["concurrency", "requests", "time", "answered/s", "p50 ms", "p99 ms",
         "shed (503 overloaded)", "errors", "peak RSS per worker (MB)",
         "peak anonymous per worker (MB)"],
        rows,
    )  # fmt: skip
    idle = ", ".join(f"{kb / 1024:.0f}" for kb in idle_rss.values())
    idle_a = ", ".join(f"{kb / 1024:.0f}" for kb in idle_anon.values())
    elapsed = time.perf_counter() - started
    report = "\n\n".join(
        [
            f"`searchsvc serve` with {args.workers} gunicorn workers on {HOST}, index of "
            f"{meta['documents']} documents; at most {args.requests} distinct queries and "
            f"{args.seconds:g} s per level; GET /api/search?q=…&per_page=10",
            load_table,
            f"RSS per worker after start-up and 20 warm-up requests: {idle} MB (anonymous: "
            f"{idle_a} MB). RSS includes the index files each worker maps (page cache, shared "
            "by the workers); anonymous memory is what each worker alone adds.",
        ]
    )
    print(report)
    print(f"\ntotal {elapsed:.0f} s; server log: {log}")
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
