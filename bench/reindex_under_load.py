"""Reindexing under load: ``searchsvc index`` (full and incremental) run again and again while
``searchsvc serve`` (gunicorn, default workers) answers a steady load from a second process.

The corpus is the first ``--docs`` benchmark documents plus churn files: every cycle adds a
file of new documents carrying a word of their own and deletes the previous cycle's file, then
runs ``searchsvc index`` (``--full`` every third cycle). Meanwhile a load process on 127.0.0.1
runs ``--clients`` threads, each sending distinct queries from the benchmark query file (and the
churn words) and fetching every hit through ``/api/documents/<id>``. Afterwards each answer is
checked against the times the reindexes started and ended:

- every request answered 200 (a document fetch may be 404 only if a reindex removing it had
  started by then); never a 5xx, never a failed connection;
- ``len(hits) == min(total - offset, per_page)`` for every page;
- no hit points at a document whose removal had been committed before the search started;
- each cycle's new documents are found over HTTP (several times in a row, so by every worker)
  within ``--within`` seconds of the reindex finishing, without restarting the service.

Bounded in time and requests; loopback only; the server is stopped by its process id at the
end. Usage: ``.venv/bin/python bench/reindex_under_load.py [--docs 3000] [--cycles 6]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import common
from common import Status, percentile, table

from searchsvc import testing
from searchsvc.testing import HOST, cli, index_args

CHURN = 100


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", nargs="?", type=Path, default=common.DEFAULT_CORPUS)
    p.add_argument("--queries", type=Path, default=common.DEFAULT_QUERIES)
    p.add_argument("--docs", type=int, default=3000)
    p.add_argument("--cycles", type=int, default=6)
    p.add_argument("--clients", type=int, default=4, help="concurrent load threads")
    p.add_argument("--max-requests", type=int, default=200_000, help="load bound")
    p.add_argument("--within", type=float, default=5.0, help="seconds to find new documents")
    p.add_argument("--seed", type=int, default=1)
    # Internal: run as the load process.
    p.add_argument("--load-port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--load-out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--load-stop", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--load-words", default="", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# -- the load process ------------------------------------------------------------------------


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int | str, bytes]:
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (OSError, http.client.HTTPException) as e:
        conn.close()
        return type(e).__name__, b""


def load_main(args: argparse.Namespace) -> int:
    """Search and fetch until the stop file appears; write one JSON record per search."""
    queries = common.load_queries(args.queries)
    words = [w for w in args.load_words.split(",") if w]
    lock = threading.Lock()
    count = [0]
    out = open(args.load_out, "w", encoding="utf-8")  # noqa: SIM115 - closed below

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection(HOST, args.load_port, timeout=30)
        n = seed
        while not args.load_stop.exists():
            with lock:
                if count[0] >= args.max_requests:
                    return
            n += args.clients
            q = queries[n % len(queries)] if rng.random() < 0.8 else rng.choice(words)
            page, per_page = rng.choice([1, 1, 1, 2, 3]), rng.choice([5, 10, 20])
            params = {"q": q, "page": page, "per_page": per_page}
            started = time.time()
            status, body = get(conn, "/api/search?" + urllib.parse.urlencode(params))
            record = {"q": q, "page": page, "per_page": per_page, "start": started}
            record["end"], record["status"], record["fetches"] = time.time(), status, []
            if status == 200:
                data = json.loads(body)
                record["total"], record["hits"] = data["total"], [h["id"] for h in data["hits"]]
                for doc_id in record["hits"]:
                    path = "/api/documents/" + urllib.parse.quote(doc_id, safe="")
                    status, _ = get(conn, path)
                    record["fetches"].append([doc_id, status, time.time()])
            with lock:
                count[0] += 1 + len(record["fetches"])
                out.write(json.dumps(record) + "\n")
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.close()
    return 0


# -- the orchestrator --------------------------------------------------------------------------


def write_churn(path: Path, cycle: int, base: list[dict], rng: random.Random) -> list[str]:
    """The churn file of a cycle: CHURN new documents carrying the word ``marqueur{cycle}x``."""
    return testing.write_churn(path, base, CHURN, cycle, f"marqueur{cycle}x", rng)


def found_everywhere(port: int, word: str, times: int = 6) -> bool:
    """Whether ``word`` finds documents ``times`` requests in a row (new connections, so the
    requests spread over the workers)."""
    for _ in range(times):
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        status, body = get(conn, "/api/search?q=" + urllib.parse.quote(word))
        conn.close()
        if status != 200 or not json.loads(body)["hits"]:
            return False
    return True


def analyse(records: list[dict], removed: dict[str, tuple[float, float]]) -> dict:
    """Count requests, failures and inconsistencies in the load's records."""
    stats = {"searches": 0, "fetches": 0, "failed": 0, "5xx": 0, "stale": 0, "count": 0}
    stats["late_404"] = 0
    examples: list[str] = []
    latencies = []
    for r in records:
        stats["searches"] += 1
        status = r["status"]
        if status != 200:
            stats["failed"] += 1
            stats["5xx"] += isinstance(status, int) and status >= 500
            examples.append(f"search {r['q']!r}: {status}")
            continue
        latencies.append(r["end"] - r["start"])
        offset = (r["page"] - 1) * r["per_page"]
        if len(r["hits"]) != max(0, min(r["total"] - offset, r["per_page"])):
            stats["count"] += 1
            examples.append(f"{r['q']!r}: {len(r['hits'])} hits for total {r['total']}")
        for doc_id in r["hits"]:
            gone = removed.get(doc_id)
            if gone and gone[1] < r["start"]:
                stats["stale"] += 1
                examples.append(f"{doc_id} found after its removal was committed")
        for doc_id, status, at in r["fetches"]:
            stats["fetches"] += 1
            gone = removed.get(doc_id)
            if status == 404 and gone and gone[0] <= at:
                stats["late_404"] += 1  # removed between the search and the fetch: fine
                continue
            if status != 200:
                stats["failed"] += 1
                stats["5xx"] += isinstance(status, int) and status >= 500
                examples.append(f"document {doc_id}: {status}")
    stats["examples"] = examples[:10]
    stats["latencies"] = latencies
    return stats


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.load_port:
        return load_main(args)
    status = Status()
    rng = random.Random(args.seed)
    work, corpus, index, base = common.scratch_corpus("reindex-under-load", args.corpus, args.docs)
    write_churn(corpus / "churn0.jsonl", 0, base, rng)
    if cli(*index_args(corpus, index, full=True), timeout=None, capture=False).returncode != 0:
        raise SystemExit("the first build failed")

    started = time.monotonic()
    server = testing.start_server(index, work / "server.log")  # serve's default workers
    port = server.port
    stop_file, out_file = work / "stop", work / "load.jsonl"
    removed: dict[str, tuple[float, float]] = {}
    cycles = []
    load = None
    try:
        words = ",".join(f"marqueur{c}x" for c in range(args.cycles + 1))
        load = subprocess.Popen(
            [sys.executable, __file__, "--load-port", str(port), "--load-out", str(out_file),
             "--load-stop", str(stop_file), "--load-words", words, "--clients",
             str(args.clients), "--max-requests", str(args.max_requests), "--queries",
             str(args.queries)],
        )  # fmt: skip
        time.sleep(3)
        previous = [f"churn0-{i}" for i in range(CHURN)]
        for cycle in range(1, args.cycles + 1):
            full = cycle % 3 == 0
            new = write_churn(corpus / f"churn{cycle}.jsonl", cycle, base, rng)
            (corpus / f"churn{cycle - 1}.jsonl").unlink()
            began = time.time()
            for doc_id in previous:
                removed[doc_id] = (began, float("inf"))
            t0 = time.monotonic()
            run = cli(*index_args(corpus, index, full), timeout=None)
            ended = time.time()
            took = time.monotonic() - t0
            for doc_id in previous:
                removed[doc_id] = (began, ended)
            word = f"marqueur{cycle}x"
            deadline = time.monotonic() + args.within
            while not found_everywhere(port, word) and time.monotonic() < deadline:
                time.sleep(0.05)
            delay = time.time() - ended
            visible = found_everywhere(port, word)
            cycles.append(
                [str(cycle), "full" if full else "incremental", run.returncode, f"{took:.1f} s",
                 f"{delay:.2f} s" if visible else f"not found in {args.within:g} s"]
            )  # fmt: skip
            status.note(" | ".join(map(str, cycles[-1])))
            previous = new
            time.sleep(2)  # some load between reindexes too
    finally:
        stop_file.touch()
        if load is not None:
            load.wait(timeout=120)
        server.stop()
    elapsed = time.monotonic() - started

    records = [json.loads(line) for line in out_file.read_text().splitlines() if line]
    stats = analyse(records, removed)
    lat = stats.pop("latencies")
    requests = stats["searches"] + stats["fetches"]
    log = (work / "server.log").read_text(errors="replace")
    examples = "\n".join(f"- {e}" for e in stats["examples"])
    report = "\n\n".join(
        [
            f"`searchsvc serve` (default workers) on {HOST}, index of {len(base)} benchmark "
            f"documents + {CHURN} churn documents replaced per cycle; {args.clients} client "
            f"threads in a second process; {args.cycles} reindex cycles",
            table(["cycle", "kind", "exit", "reindex", "new docs found after"], cycles, [2, 3, 4]),
            f"Requests: {requests} ({stats['searches']} searches, {stats['fetches']} document "
            f"fetches) in {elapsed:.0f} s; failed: {stats['failed']} (5xx: {stats['5xx']}); "
            f"hit counts not matching total: {stats['count']}; hits of documents already "
            f"removed: {stats['stale']}; fetches answered 404 because a reindex was removing "
            f"the document meanwhile: {stats['late_404']}.",
            f"Search latency p50 {1000 * percentile(lat, 50):.0f} ms, p95 "
            f"{1000 * percentile(lat, 95):.0f} ms, p99 {1000 * percentile(lat, 99):.0f} ms.",
            f"Tracebacks in the server log: {log.count('Traceback')}.",
        ]
        + ([f"Examples:\n{examples}"] if examples else [])
    )
    print(report)
    print(f"\nwork folder: {work}")
    bad = stats["failed"] or stats["count"] or stats["stale"] or log.count("Traceback")
    return 1 if bad or any(c[2] != 0 or "not found" in c[4] for c in cycles) else 0


if __name__ == "__main__":
    sys.exit(main())
