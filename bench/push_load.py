"""Documents pushed over HTTP while people search (issue 25's first target).

A copy of the bench index (``--index``, never written to: copied under /tmp), a fresh
``searchsvc serve`` (gunicorn, serve's default 2 workers) with an admin key, then:

1. idle: ``--clients`` search clients (one keep-alive connection each, distinct bench queries)
   for ``--seconds``: search p50/p99;
2. pushing: the same clients for the same time while one client pushes ``--rate`` documents a
   second in batches of ``--batch`` (``POST /api/documents``, bench corpus texts under new ids,
   each with a word of its own); each batch's task is followed from its 202 until it is
   ``succeeded`` (``GET /api/tasks/<id>?wait=10``), and its first document is then searched
   by its own word: by ``WATCHERS`` threads, each taking the oldest batch not yet taken.

Printed: search p50/p99 idle and while pushing and their ratio (target ≤ 2×); documents
pushed and their rate; time from each 202 to the batch being searchable, p50/p99/max
(targets p50 ≤ 1 s, worst ≤ 3 s); 503s (back-pressure) and other errors. Load goes to
127.0.0.1 only; the server is stopped by its process id.

Usage: ``.venv/bin/python bench/push_load.py [--index /work/bench-index] [--clients 8]
[--seconds 30] [--rate 1000] [--batch 100] [--push-elsewhere]``; ``--push-elsewhere`` sends the
pushes to a second server on its own copy of the index: what pushing costs searches through
the processors alone (the searched index does not change), apart from what a changing index
costs them.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import itertools
import json
import os
import resource
import shutil
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from common import load_queries, percentile

from searchsvc.testing import HOST, process_tree, serve_command, start_server

KEY = "bench-push-admin-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
CORPUS = Path("/work/shared/bench/frdocs.jsonl.gz")
QUERIES = Path("/work/shared/bench/queries.txt")


def own_word(n: int) -> str:
    """A word no document holds, one per n: letters only (the analyzer keeps it whole), and
    far from the others (n scattered over 26**9 words): as distinct as real words are, where
    a counter's words would each have thousands of neighbours within two edits (and each
    search of one, finding little, would weigh them all for a did-you-mean)."""
    n = (n * 2_654_435_761 + 97) % 26**9
    letters = []
    for _ in range(9):
        n, r = divmod(n, 26)
        letters.append(chr(ord("a") + r))
    return "qzx" + "".join(letters)


def searchers(port: int, queries: list[str], clients: int, seconds: float) -> dict:
    """``clients`` threads searching for ``seconds``: latencies of the 200s, other statuses."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    counter = itertools.count()

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        mine, seen = [], {}
        while time.monotonic() < deadline:
            q = queries[next(counter) % len(queries)]
            path = "/api/search?" + urllib.parse.urlencode({"q": q, "per_page": 10})
            t = time.perf_counter()
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                mine.append(time.perf_counter() - t)
            else:
                seen[resp.status] = seen.get(resp.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for k, v in seen.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"latencies": latencies, "statuses": statuses, "seconds": seconds}


def pusher(port: int, docs: list[dict], rate: float, batch: int, seconds: float, out: dict):
    """Push batches at ``rate`` documents a second for ``seconds``; for each batch, the time
    from its 202 to its task succeeded and its first document found by its own word."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    visible: list[float] = []
    statuses: dict[int, int] = {}
    missing = 0
    pending: list[tuple[int, float, str]] = []  # task id, time of the 202, its word
    following = 0  # batches a watcher has taken and not yet seen searchable
    lock = threading.Lock()
    done = threading.Event()

    def watcher() -> None:
        # Each watcher takes the oldest batch no watcher has taken, asks for its task with
        # ``wait`` (the server answers once it is searchable) and searches its first document
        # by its own word, as a script would, then takes the next. One watcher, two requests
        # a batch, could not keep up with ten batches a second beside 8 busy clients: the
        # figures were then its own lag, not the server's; WATCHERS of them can.
        nonlocal missing, following
        wconn = http.client.HTTPConnection(HOST, port, timeout=60)
        mine = None
        while mine is not None or not (done.is_set() and not pending):
            if mine is None:
                with lock:
                    if pending:
                        mine = pending.pop(0)
                        following += 1
                if mine is None:
                    time.sleep(0.02)
                    continue
            task_id, at, word = mine
            try:
                wconn.request("GET", f"/api/tasks/{task_id}?wait=10", headers=AUTH)
                task = json.loads(wconn.getresponse().read())
                if task.get("status") not in ("succeeded", "failed"):
                    continue
                wconn.request("GET", "/api/search?" + urllib.parse.urlencode({"q": word}))
                found = json.loads(wconn.getresponse().read())
            except (OSError, http.client.HTTPException):  # a closed keep-alive: again
                wconn.close()
                wconn = http.client.HTTPConnection(HOST, port, timeout=60)
                continue
            with lock:
                following -= 1
                if found.get("total", 0) >= 1:
                    visible.append(time.perf_counter() - at)
                else:
                    missing += 1
            mine = None
        wconn.close()

    watchers = [threading.Thread(target=watcher, daemon=True) for _ in range(WATCHERS)]
    for watch in watchers:
        watch.start()
    interval = batch / rate
    start = time.perf_counter()
    sent = 0
    n = 0
    while time.perf_counter() - start < seconds:
        due = start + (sent // batch) * interval
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        chunk = []
        for _ in range(batch):
            base = docs[n % len(docs)]
            word = own_word(n)
            chunk.append(
                {"id": f"push-{n}", "title": base["title"], "body": f"{word} {base['body']}"}
            )
            n += 1
        body = json.dumps(chunk).encode()
        conn.request("POST", "/api/documents", body, {**AUTH, "Content-Type": "application/json"})
        resp = conn.getresponse()
        task = json.loads(resp.read())
        now = time.perf_counter()
        statuses[resp.status] = statuses.get(resp.status, 0) + 1
        if resp.status == 202:
            with lock:
                pending.append((task["id"], now, chunk[0]["body"].split()[0]))
        sent += batch
    elapsed = time.perf_counter() - start
    done.set()
    end = time.monotonic() + 180  # for the batches still waiting to be applied
    for watch in watchers:
        watch.join(timeout=max(0.0, end - time.monotonic()))
    conn.close()
    out.update(
        visible=visible,
        statuses=statuses,
        missing=missing,
        sent=sent,
        elapsed=elapsed,
        pending=len(pending) + following,
    )


# Threads following the pushed batches (see pusher's watcher).
WATCHERS = 4
TICKS = os.sysconf("SC_CLK_TCK")


def server_processes(masters: list[int]) -> list[tuple[str, int]]:
    """``(role, pid)`` of the servers' processes: each master, its gunicorn workers, its
    journal writer and the writer's merging process."""
    tree = process_tree()
    found = []
    for master in masters:
        found.append(("master", master))
        for child in tree.get(master, []):
            try:
                with open(f"/proc/{child}/cmdline", "rb") as fh:
                    writer = b"searchsvc.ingest.writer" in fh.read()
            except OSError:  # gone
                continue
            found.append(("writer" if writer else "workers", child))
            if writer:
                found.extend(("merging", grandchild) for grandchild in tree.get(child, []))
    return found


def cpu_by_role(masters: list[int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the servers' processes, by role (see
    :func:`server_processes`), and by this process (the search clients and the pusher). A
    process gone since is not counted (none should go)."""
    roles: dict[str, float] = {"master": 0.0, "workers": 0.0, "writer": 0.0, "merging": 0.0}
    for role, pid in server_processes(masters):
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        roles[role] += (int(fields[11]) + int(fields[12])) / TICKS
    usage = resource.getrusage(resource.RUSAGE_SELF)
    roles["bench clients"] = usage.ru_utime + usage.ru_stime
    return roles


def worker_rss_mb(masters: list[int]) -> list[float]:
    """The resident memory (MB) of each of the servers' gunicorn workers, now."""
    found = []
    for role, pid in server_processes(masters):
        if role != "workers":
            continue
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as fh:
                found.extend(int(ln.split()[1]) / 1024 for ln in fh if ln.startswith("VmRSS:"))
        except OSError:
            continue
    return found


def cpu_line(label: str, before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    """The CPU each role used between two readings, as a share of one core."""
    shares = ", ".join(
        f"{role} {(after[role] - before.get(role, 0.0)) / seconds:.2f}" for role in after
    )
    return f"CPU {label} (cores): {shares}"


@contextlib.contextmanager
def served(source: Path, scratch: Path) -> Iterator:
    """``searchsvc serve`` with an admin key on a copy of ``source`` (never written to), its
    journal and writer started by a first small write."""
    scratch.mkdir(parents=True)
    index = scratch / "index"
    shutil.copytree(source, index, symlinks=True)  # cp -a: the bench index is never written
    env = [f"SEARCHSVC_ADMIN_KEY={KEY}", "SEARCHSVC_ANALYTICS=off"]
    with start_server(
        index,
        scratch / "serve.log",
        command=lambda port: ["env", *env, *serve_command(port, index)],
        timeout=120,
    ) as server:
        conn = http.client.HTTPConnection(HOST, server.port, timeout=60)
        conn.request(
            "POST",
            "/api/documents?wait=30",
            json.dumps([{"id": "push-warm", "body": "échauffement"}]).encode(),
            {**AUTH, "Content-Type": "application/json"},
        )
        first = json.loads(conn.getresponse().read())
        conn.close()
        print(f"first write on port {server.port}: task {first['id']} {first['status']}")
        yield server


def summary(label: str, run: dict) -> str:
    lat = run["latencies"]
    return (
        f"{label}: {len(lat)} searches ({len(lat) / run['seconds']:.0f}/s), "
        f"p50 {percentile(lat, 50) * 1000:.1f} ms, p99 {percentile(lat, 99) * 1000:.1f} ms, "
        f"other statuses {run['statuses'] or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=Path("/work/bench-index"))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--push-elsewhere",
        action="store_true",
        help="push to a second server on its own copy of the index, searches to the first: "
        "what pushing costs searches through the processors alone, the searched index unchanged",
    )
    args = parser.parse_args()

    queries = load_queries(QUERIES)
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        docs = [json.loads(line) for _, line in zip(range(5000), fh, strict=False)]
    scratch = Path(tempfile.mkdtemp(prefix="push-bench-"))
    try:
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(served(args.index, scratch / "searched"))
            target = server
            if args.push_elsewhere:  # the same pushes to a server of their own
                target = stack.enter_context(served(args.index, scratch / "pushed"))
            port = server.port
            searchers(port, queries, args.clients, 5)  # warm-up
            masters = [server.proc.pid] + ([target.proc.pid] if target is not server else [])
            cpu_start = cpu_by_role(masters)
            idle = searchers(port, queries[::-1], args.clients, args.seconds)
            cpu_idle = cpu_by_role(masters)
            rss_idle = worker_rss_mb([server.proc.pid])
            pushed: dict = {}
            push = threading.Thread(
                target=pusher,
                args=(target.port, docs, args.rate, args.batch, args.seconds, pushed),
            )
            push.start()
            busy = searchers(port, queries, args.clients, args.seconds)
            cpu_busy = cpu_by_role(masters)
            rss_busy = worker_rss_mb([server.proc.pid])
            push.join()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(summary("idle", idle))
    print(summary("while pushing", busy))
    print(cpu_line("idle", cpu_start, cpu_idle, args.seconds))
    print(cpu_line("while pushing", cpu_idle, cpu_busy, args.seconds))
    print(
        "searched workers' RSS (MB): after idle "
        + ", ".join(f"{mb:.0f}" for mb in rss_idle)
        + "; after pushing "
        + ", ".join(f"{mb:.0f}" for mb in rss_busy)
    )
    ratio = percentile(busy["latencies"], 99) / percentile(idle["latencies"], 99)
    print(f"search p99 while pushing / idle: {ratio:.2f}x (target <= 2x)")
    vis = pushed["visible"]
    print(
        f"pushed {pushed['sent']} documents in {pushed['elapsed']:.1f} s "
        f"({pushed['sent'] / pushed['elapsed']:.0f}/s), answers {pushed['statuses']}"
    )
    print(
        f"202 -> searchable ({len(vis)} batches): p50 {percentile(vis, 50):.2f} s, "
        f"p99 {percentile(vis, 99):.2f} s, max {max(vis, default=float('nan')):.2f} s "
        f"(targets p50 <= 1 s, worst <= 3 s); not found once succeeded: {pushed['missing']}, "
        f"never seen within 180 s of the end: {pushed['pending']}"
    )


if __name__ == "__main__":
    main()
