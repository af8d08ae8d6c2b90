"""Slow clients (slowloris) against ``searchsvc serve``, on 127.0.0.1.

Serves the bench index with ``searchsvc serve`` as shipped (its default workers), then, kind by
kind, keeps ``--connections`` slow connections open for ``--seconds`` each (a connection the
server closes is opened again at once, as an attacker would):

* ``line``: the request line, one byte every ``--tick`` seconds;
* ``headers``: a request line, then one header field every 2 s;
* ``body``: a whole POST head announcing 1,000 bytes, then the body one byte a tick;
* ``nothing``: connections that send nothing.

Meanwhile one client searches distinct queries from the benchmark query file (one kept-alive
connection, in sequence) and another asks ``/healthz`` every 0.1 s. A first phase without
slow clients gives the baseline. Prints, per phase, the searches' p50/p99, the slowest
``/healthz``, errors, and what the slow connections got (408 answers, closes). Targets (issue
23): search p99 <= 250 ms and ``/healthz`` always <= 100 ms under each kind.

Everything is bounded in time and goes to 127.0.0.1 only; the server is stopped by its process
id. Usage: ``.venv/bin/python bench/slow_clients.py [--index /work/bench-index] [--seconds 60]``
"""

from __future__ import annotations

import argparse
import http.client
import resource
import socket
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import common
from common import WORK, Status, percentile, table

from searchsvc import testing
from searchsvc.testing import HOST

DEFAULT_INDEX = Path("/work/bench-index")
HEADERS = ["phase", "searches", "p50 ms", "p99 ms", "max ms", "/healthz", "max /healthz ms",
           "errors", "slow conns opened", "408s", "closed"]  # fmt: skip


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    p.add_argument("--queries", type=Path, default=common.DEFAULT_QUERIES)
    p.add_argument("--connections", type=int, default=500, help="slow connections per kind")
    p.add_argument("--seconds", type=float, default=60, help="per kind")
    p.add_argument("--tick", type=float, default=0.5, help="seconds between two slow bytes")
    p.add_argument("--kinds", default="line,headers,body,nothing")
    p.add_argument("--workers", type=int, default=None, help="default: serve's own")
    return p.parse_args(argv)


# -- the slow clients ----------------------------------------------------------------------

PIECES = {
    "line": lambda tick: b"GET /api/search?q=ville HTTP/1.1\r\n"[tick : tick + 1],
    "headers": lambda tick: (
        b"GET /api/search?q=ville HTTP/1.1\r\nHost: x\r\n"
        if tick == 0
        else (b"X-Slow-%d: a\r\n" % tick if tick % 4 == 0 else b"")
    ),
    "body": lambda tick: (
        b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        if tick == 0
        else b"a"
    ),
    "nothing": lambda tick: b"",
}


class SlowClients(threading.Thread):
    """``count`` connections of one kind, kept open (reopened when closed) until ``until``."""

    def __init__(self, port: int, kind: str, count: int, tick: float, until: float):
        super().__init__(daemon=True)
        self.port, self.piece, self.count, self.tick_s, self.until = (
            port,
            PIECES[kind],
            count,
            tick,
            until,
        )
        self.stats: Counter[str] = Counter()
        self.conns: list[list] = []  # [socket, ticks sent, answered]

    def _open(self) -> list | None:
        try:
            sock = socket.create_connection((HOST, self.port), timeout=2)
        except OSError:
            self.stats["connect errors"] += 1
            return None
        sock.setblocking(False)
        self.stats["opened"] += 1
        return [sock, 0, False]

    def _step(self, conn: list) -> bool:
        """Send the connection's next piece; False when the server closed it."""
        sock = conn[0]
        try:
            while data := sock.recv(65536):
                if not conn[2] and data.startswith(b"HTTP/1.1 408"):
                    self.stats["408"] += 1
                conn[2] = True
            self.stats["closed"] += 1
            return False
        except BlockingIOError:
            pass
        except OSError:
            self.stats["closed"] += 1
            return False
        if not conn[2]:
            piece = self.piece(conn[1])
            conn[1] += 1
            if piece:
                try:
                    sock.send(piece)
                except OSError:
                    self.stats["closed"] += 1
                    return False
        return True

    def run(self) -> None:
        while len(self.conns) < self.count and time.monotonic() < self.until:
            if (conn := self._open()) is not None:
                self.conns.append(conn)
        started = time.monotonic()
        rounds = 0
        while time.monotonic() < self.until:
            kept = []
            for conn in self.conns:
                if self._step(conn):
                    kept.append(conn)
                else:
                    conn[0].close()
                    if (new := self._open()) is not None:
                        kept.append(new)
            self.conns = kept
            rounds += 1
            time.sleep(max(0.0, min(self.until, started + rounds * self.tick_s) - time.monotonic()))
        for conn in self.conns:
            conn[0].close()


# -- the measuring clients -----------------------------------------------------------------


class Client(threading.Thread):
    """GETs in sequence on one kept-alive connection (a new one when it breaks), each with a
    10 s timeout, until ``until``; records (seconds, status or error)."""

    def __init__(self, port: int, paths, until: float, pause: float = 0.0):
        super().__init__(daemon=True)
        self.port, self.paths, self.until, self.pause = port, paths, until, pause
        self.times: list[float] = []
        self.errors: Counter[str] = Counter()

    def run(self) -> None:
        conn = None
        for path in self.paths:
            if time.monotonic() >= self.until:
                break
            if conn is None:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
            started = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                self.times.append(time.perf_counter() - started)
                if response.status != 200:
                    self.errors[f"HTTP {response.status}"] += 1
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                self.errors[type(e).__name__] += 1
                conn.close()
                conn = None
            if self.pause:
                time.sleep(self.pause)
        if conn is not None:
            conn.close()


def health_paths():
    while True:
        yield "/healthz"


def run_phase(
    port: int, kind: str | None, args, queries: list[str], start: int
) -> tuple[list, int]:
    """One phase: the measuring clients, with slow clients of ``kind`` (None: none)."""
    slow = None
    if kind is not None:
        # The slow connections first, given a few seconds to be all open and under way.
        slow = SlowClients(port, kind, args.connections, args.tick, time.monotonic() + 1e9)
        slow.start()
        ramp = time.monotonic() + 10
        while len(slow.conns) < args.connections and time.monotonic() < ramp:
            time.sleep(0.1)
        time.sleep(min(2.0, args.seconds / 4))
    until = time.monotonic() + args.seconds
    if slow is not None:
        slow.until = until
    paths = ("/api/search?" + urllib.parse.urlencode({"q": q}) for q in queries[start:] + queries)
    searcher = Client(port, paths, until)
    health = Client(port, health_paths(), until, pause=0.1)
    searcher.start()
    health.start()
    for thread in (searcher, health, slow):
        if thread is not None:
            thread.join(timeout=args.seconds + 30)
    errors = searcher.errors + health.errors
    stats = slow.stats if slow else Counter()
    row = [
        kind or "baseline (no slow clients)",
        str(len(searcher.times)),
        f"{1000 * percentile(searcher.times, 50):.0f}",
        f"{1000 * percentile(searcher.times, 99):.0f}",
        f"{1000 * max(searcher.times, default=0):.0f}",
        str(len(health.times)),
        f"{1000 * max(health.times, default=0):.0f}",
        ", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "0",
        str(stats["opened"]) if slow else "-",
        str(stats["408"]) if slow else "-",
        str(stats["closed"]) if slow else "-",
    ]
    return row, start + len(searcher.times)


def main(argv=None) -> None:
    args = parse_args(argv)
    status = Status()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # many sockets at once
    queries = common.load_queries(args.queries)
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(kinds) - set(PIECES)
    if unknown:
        raise SystemExit(f"unknown kinds: {', '.join(sorted(unknown))}")
    log = WORK / "slow_clients" / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    status.note(f"serving {args.index} (log: {log}) …")
    rows = []
    with testing.start_server(args.index, log, workers=args.workers, timeout=120) as server:
        workers = len(server.workers())
        done = 0
        for kind in [None, *kinds]:
            status.note(f"phase: {kind or 'baseline'} ({args.seconds:g} s) …")
            row, done = run_phase(server.port, kind, args, queries, done % len(queries))
            rows.append(row)
    server_log = log.read_text(errors="replace")
    print(
        f"searchsvc serve ({workers} workers) on {HOST}, index {args.index}; "
        f"{args.connections} slow connections per kind, {args.seconds:g} s each, a byte every "
        f"{args.tick:g} s; {common.machine_note()}"
    )
    print(table(HEADERS, rows))
    print(
        f"server log: {server_log.count('Request timeout: ')} 'Request timeout' lines, "
        f"{server_log.count('Idle timeout: ')} 'Idle timeout' lines, "
        f"{server_log.count('Traceback')} tracebacks"
    )
    print(f"command: {common.command_line()}")


if __name__ == "__main__":
    main()
