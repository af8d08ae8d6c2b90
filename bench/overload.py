"""Load and overload: ``searchsvc serve`` with its default workers, on 127.0.0.1.

1. Steady load: closed-loop client threads (one keep-alive connection each) at a few
   concurrency levels, distinct queries from the benchmark query file; reports requests/s,
   latency p50/p95/p99 and errors per level. The best rate without errors is taken as the
   sustainable rate.
2. Overload: an open-loop client sends requests at twice that rate (each on a new connection,
   as independent visitors do) for ``--overload-seconds``, while a probe asks ``/healthz``
   every quarter second. Reports what came back: 200s, 503 ``overloaded`` (shed), other
   errors, time-outs, latencies, and how the health check fared.
3. Recovery: once the load stops, how long until searches answer at their steady-load speed
   again, without anyone touching the service.

``--compare`` runs the overload once more against the same gunicorn without load shedding
(4 threads per worker, ``MAX_IN_FLIGHT=0``), to show what happens without it. Everything is
bounded in requests and time, goes to 127.0.0.1 only, and the servers are stopped by their
process ids. Usage: ``.venv/bin/python bench/overload.py [--docs 10000] [--compare]``
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import sys
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import common
from common import WORK, Status, file_key, percentile, table
from load import run_level

from searchsvc import errors, settings, testing
from searchsvc.index import storage
from searchsvc.ingest.indexer import reindex
from searchsvc.testing import HOST, Server
from searchsvc.web import serve


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", nargs="?", type=Path, default=common.DEFAULT_CORPUS)
    p.add_argument("--queries", type=Path, default=common.DEFAULT_QUERIES)
    p.add_argument("--docs", type=int, default=10_000, help="first N documents (0: all)")
    p.add_argument("--levels", default="1,4,8", help="closed-loop concurrency levels")
    p.add_argument("--seconds", type=float, default=20, help="per steady level")
    p.add_argument("--requests", type=int, default=2000, help="at most, per steady level")
    p.add_argument("--overload-seconds", type=float, default=30)
    p.add_argument("--factor", type=float, default=2.0, help="overload rate / sustainable rate")
    p.add_argument("--compare", action="store_true", help="also without load shedding")
    # Internal: run as the server without load shedding (a child process of --compare).
    p.add_argument("--serve-unlimited", nargs=2, metavar=("PORT", "INDEX"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


STEADY_HEADERS = ["concurrency", "requests", "time", "req/s", "p50 ms", "p95 ms", "p99 ms",
                  "errors"]  # fmt: skip
OVERLOAD_HEADERS = ["server", "rate", "sent", "200", "503 shed", "other", "200 p50/p95/p99 ms",
                    "503 p50/p99 ms", "/healthz", "recovered in"]  # fmt: skip


def ms(values: list[float], p: float) -> str:
    return f"{1000 * percentile(values, p):.0f}" if values else "-"


# -- open-loop client ----------------------------------------------------------------------


async def fetch(port: int, path: str, timeout: float) -> tuple[int | str, float]:
    """One request on a new connection: (status or error name, seconds)."""
    started = time.perf_counter()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout - (time.perf_counter() - started))
        status: int | str = int(data.split(b" ", 2)[1]) if data else "closed"
    except TimeoutError:
        status = "timeout"
    except (OSError, ValueError, IndexError) as e:
        status = type(e).__name__
    finally:
        if writer is not None:
            writer.close()
    return status, time.perf_counter() - started


async def open_loop(port: int, queries: list[str], rate: float, seconds: float) -> dict:
    """Send ``rate`` searches a second for ``seconds`` whatever the answers; probe /healthz."""
    results: list[tuple[int | str, float]] = []
    health: list[tuple[float, int | str, float]] = []
    done = asyncio.Event()

    async def probe() -> None:
        t0 = time.perf_counter()
        while not done.is_set():
            status, took = await fetch(port, "/healthz", 5.0)
            health.append((time.perf_counter() - t0, status, took))
            await asyncio.sleep(0.25)

    async def one(path: str) -> None:
        results.append(await fetch(port, path, 30.0))

    prober = asyncio.create_task(probe())
    tasks = []
    started = time.perf_counter()
    n = int(rate * seconds)
    for i in range(n):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        q = queries[i % len(queries)]
        path = "/api/search?" + urllib.parse.urlencode({"q": q, "per_page": 10})
        tasks.append(asyncio.create_task(one(path)))
    sent = time.perf_counter() - started
    await asyncio.gather(*tasks)
    done.set()
    await prober
    return {"results": results, "health": health, "sent_in": sent, "sent": n}


def recovery(port: int, queries: list[str], target: float, limit: float = 60.0) -> float | None:
    """Seconds after the load until 10 searches in a row answer 200 within ``target``."""
    import http.client

    started = time.monotonic()
    streak = 0
    i = 0
    while time.monotonic() - started < limit:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        t = time.perf_counter()
        try:
            conn.request("GET", "/api/search?" + urllib.parse.urlencode({"q": queries[i]}))
            resp = conn.getresponse()
            resp.read()
            ok = resp.status == 200 and time.perf_counter() - t <= target
        except (OSError, http.client.HTTPException):
            ok = False
        finally:
            conn.close()
        i = (i + 1) % len(queries)
        streak = streak + 1 if ok else 0
        if streak >= 10:
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def overload_report(res: dict, rate: float) -> tuple[list[str], dict]:
    statuses = Counter(s for s, _ in res["results"])
    ok = [t for s, t in res["results"] if s == 200]
    shed = [t for s, t in res["results"] if s == 503]
    health_ok = [took for _, s, took in res["health"] if s == 200]
    health_bad = [s for _, s, _ in res["health"] if s != 200]
    row = [
        f"{rate:.0f}/s",
        str(res["sent"]),
        str(statuses.get(200, 0)),
        str(statuses.get(503, 0)),
        str(sum(v for k, v in statuses.items() if k not in (200, 503))),
        f"{ms(ok, 50)} / {ms(ok, 95)} / {ms(ok, 99)}",
        f"{ms(shed, 50)} / {ms(shed, 99)}",
        f"{len(health_ok)}/{len(res['health'])} ok, max {ms(health_ok, 100)} ms",
    ]
    other = {k: v for k, v in statuses.items() if k not in (200, 503)}
    return row, {"other": other, "health_bad": Counter(health_bad)}


# -- servers ---------------------------------------------------------------------------------


def serve_unlimited(port: int, index: Path) -> None:
    """gunicorn with serve's settings but no load shedding: 2 workers of 4 threads each, and
    the app's ``MAX_IN_FLIGHT`` set to 0 (its switch for shedding); runs until stopped."""
    config = {"INDEX_DIR": str(index), "DEBUG": False, "TESTING": False, "MAX_IN_FLIGHT": 0}
    serve.Service(serve.options(HOST, port, 2, threads=4), config).run()


def start(index: Path, shedding: bool, log: Path) -> Server:
    """A ready server (``searchsvc serve`` with its defaults, or :func:`serve_unlimited` in a
    child process of this script), warmed up with a few searches."""

    def unlimited(port: int) -> list[str]:
        return [sys.executable, __file__, "--serve-unlimited", str(port), str(index)]

    server = testing.start_server(index, log, command=None if shedding else unlimited)
    run_level(server.port, [f"warm {i}" for i in range(20)], 2, 30)
    return server


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.serve_unlimited:
        port, index = args.serve_unlimited
        serve_unlimited(int(port), Path(index))
        return 0
    status = Status()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # many sockets at once
    docs = args.docs or None
    folder = common.corpus_dir(args.corpus, docs)
    index = WORK / "overload" / f"index-{common.digest(file_key(args.corpus), docs)}"
    try:
        documents = storage.current(index).meta["documents"]
    except errors.IndexStateError:  # none yet, or built by another version: build it
        status.note(f"building the searchsvc index of {docs or 'all'} documents …")
        shutil.rmtree(index, ignore_errors=True)
        documents = reindex(folder, index, full=True).documents
    queries = common.load_queries(args.queries)
    levels = [int(c) for c in args.levels.split(",") if c.strip()]

    server = start(index, True, WORK / "overload" / "server.log")
    port = server.port
    steady_rows, overload_rows, notes = [], [], []
    try:
        best, best_p50 = 0.0, 0.1
        offset = 0
        for c in levels:
            chunk = queries[offset : offset + args.requests] or queries[: args.requests]
            offset += len(chunk)
            status.note(f"steady load, concurrency {c} …")
            res = run_level(port, chunk, c, args.seconds)
            lat, failed = res["latencies"], res["errors"]
            n_err = sum(failed.values())
            rps = (len(lat) + n_err) / res["seconds"]
            steady_rows.append(
                [str(c), str(len(lat) + n_err), f"{res['seconds']:.1f} s", f"{rps:.1f}",
                 ms(lat, 50), ms(lat, 95), ms(lat, 99),
                 str(n_err) + (f" ({dict(failed)})" if n_err else "")]
            )  # fmt: skip
            if not n_err and rps > best:
                best, best_p50 = rps, percentile(lat, 50)
        rate = args.factor * best
        for shedding in [True, False] if args.compare else [True]:
            if not shedding:
                server.stop()
                server = start(index, False, WORK / "overload" / "server-unlimited.log")
                port = server.port
            status.note(f"overload at {rate:.0f} requests/s for {args.overload_seconds:g} s …")
            res = asyncio.run(open_loop(port, queries, rate, args.overload_seconds))
            row, extra = overload_report(res, rate)
            back = recovery(port, queries, target=max(1.0, 4 * best_p50))
            label = "with shedding (default)" if shedding else "without (4 threads, no limit)"
            overload_rows.append([label, *row, "-" if back is None else f"{back:.1f} s"])
            if extra["other"] or extra["health_bad"]:
                notes.append(f"{label}: other answers {dict(extra['other'])}, health check "
                             f"failures {dict(extra['health_bad'])}")  # fmt: skip
            workers_alive = len(server.workers())
            notes.append(f"{label}: {workers_alive} workers alive after the overload")
    finally:
        server.stop()

    report = "\n\n".join(
        [
            f"`searchsvc serve` with default settings (2 workers x {serve.THREADS} threads, at "
            f"most {settings.MAX_IN_FLIGHT} searches running and {settings.MAX_QUEUED} queued "
            f"per worker) on {HOST}; index of {documents} "
            "documents; GET /api/search?q=…&per_page=10 with distinct benchmark queries; the "
            "client runs on the same 2 cores",
            "Steady load (closed loop, keep-alive):",
            table(STEADY_HEADERS, steady_rows),
            f"Overload: open loop at {args.factor:g}x the best error-free rate "
            f"({best:.1f} req/s), new connection per request, {args.overload_seconds:g} s; "
            "/healthz probed every 0.25 s (5 s time-out):",
            table(OVERLOAD_HEADERS, overload_rows),
            "\n".join(f"- {n}" for n in notes),
        ]
    )
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
