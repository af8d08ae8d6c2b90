"""Expensive clients: 16 clients sending the most expensive queries the API accepts, and one
client doing simple searches meanwhile (issue 23, defect 4).

Serves the bench index with ``searchsvc serve`` (its default 2 workers) on 127.0.0.1. The
hostile queries are worked out first, in process, from the index and the engine's own
estimate (:func:`searchsvc.engine.ranking.estimate`): for each kind (many common words, OR'ed
phrases of common words, common words sorted by date, 100 hits a page, deep pages, prefixes),
the largest query still under ``MAX_QUERY_SECONDS``; each request reshuffles its words so
that the result cache never helps. The 16 hostile clients (one keep-alive connection each,
closed loop) run in a child process, each from its own loopback address 127.0.0.X (its socket
bound there), as separate machines would; ``--same-address`` sends them all from 127.0.0.1.
The simple client sends distinct bench queries one after the other from 127.0.0.200.
Prints the simple client's p50/p95/p99, its 503s and errors, and what the hostile clients got
(answered, refused 400, shed 503). Bounded by ``--seconds``; 127.0.0.0/8 only.

``--calibrate`` instead runs, in process, the 1,000 bench queries and a set of hostile ones
through the engine, printing each one's estimate beside its time (and whether it was refused):
how ``QUERY_COST`` and ``MAX_QUERY_SECONDS`` in settings.py were chosen.

Usage: ``.venv/bin/python bench/expensive_clients.py [--index /work/bench-index]
[--seconds 30] [--same-address] [--calibrate]``
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import common
from common import WORK, percentile

from searchsvc import settings, testing
from searchsvc.engine import ranking
from searchsvc.engine.search import SearchEngine
from searchsvc.errors import QueryTooExpensive
from searchsvc.query import language as ql
from searchsvc.text.analysis import STEM_MARK, STOP_WORDS

DEFAULT_INDEX = Path("/work/bench-index")
HOSTILE = 16
SIMPLE_ADDRESS = "127.0.0.200"
STOPS = ["de", "la", "le", "les", "et", "des", "du", "en", "un", "une", "pour", "dans"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    p.add_argument("--queries", type=Path, default=common.DEFAULT_QUERIES)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--clients", type=int, default=HOSTILE)
    p.add_argument("--same-address", action="store_true", help="every client from 127.0.0.1")
    p.add_argument("--calibrate", action="store_true", help="estimate vs time, in process")
    p.add_argument("--seed", type=int, default=23)
    return p.parse_args(argv)


# -- the hostile queries -------------------------------------------------------------------


def common_words(engine: SearchEngine, n: int = 80) -> list[str]:
    """The ``n`` most frequent plain words of the index's bodies (not stop words)."""
    with engine.searcher() as s:
        frequencies = [(ti.doc_frequency(), w.decode()) for w, ti in s.reader().iter_field("body")]
    frequencies.sort(reverse=True)
    words = [w for _f, w in frequencies if w.isalpha() and w not in STOP_WORDS]
    return [w for w in words if not w.startswith(STEM_MARK)][:n]


def estimate(engine: SearchEngine, text: str, **options) -> float | None:
    """The engine's estimate of the whole search (its fallbacks included), None if refused."""
    seen: list[float] = []
    real = ranking.check_cost

    def spy(*args, **kwargs):
        total = real(*args, **kwargs)
        seen.append(total)
        return total

    ranking.check_cost = spy
    try:
        engine._forget_results()
        engine.search(text, **options)
    except QueryTooExpensive:
        return None
    finally:
        ranking.check_cost = real
    return max(seen, default=0.0)


def grow(engine, make, options: dict) -> tuple[str, float] | None:
    """The query ``make(n)`` for the largest ``n`` the engine still accepts, and its estimate."""
    best = None
    for n in range(1, 51):
        text = make(n)
        try:
            ql.parse(text)
        except Exception:
            break
        cost = estimate(engine, text, **options)
        if cost is None:
            break
        best = (text, cost)
    return best


def hostile_queries(engine: SearchEngine, rnd: random.Random) -> list[tuple[str, dict, float]]:
    """The most expensive queries of each kind the engine accepts: (text, options, estimate)."""
    words = common_words(engine)
    pairs = [f'"{rnd.choice(words)} {rnd.choice(words)}"' for _ in range(50)]
    stop_phrases = [f'"{rnd.choice(STOPS)} {w} {rnd.choice(STOPS)}"' for w in words[:50]]
    kinds = [
        ("words", lambda n: " ".join(words[:n]), {}),
        ("OR words", lambda n: " OR ".join(words[:n]), {}),
        ("phrases", lambda n: " OR ".join(pairs[:n]), {}),
        ("stop phrases", lambda n: " OR ".join(stop_phrases[:n]), {}),
        ("by date", lambda n: " OR ".join(words[:n]), {"sort": "date"}),
        ("100 a page", lambda n: " OR ".join(words[:n]), {"per_page": 100}),
        ("deep page", lambda n: " OR ".join(words[:n]), {"page": 100, "per_page": 100}),
        ("prefixes", lambda n: " ".join(f"{w[:4]}*" for w in words[:n]), {}),
    ]
    found = []
    for _name, make, options in kinds:
        best = grow(engine, make, options)
        if best is not None:
            found.append((best[0], options, best[1]))
    return found


def reshuffled(text: str, rnd: random.Random) -> str:
    """The same query, its clauses in another order (a new text: the cache misses)."""
    joint = " OR " if " OR " in text else " "
    parts = text.split(joint)
    rnd.shuffle(parts)
    return joint.join(parts)


# -- calibration ---------------------------------------------------------------------------


def calibrate(args) -> None:
    """Each bench query's and each hostile query's estimate beside its time, in process."""
    engine = SearchEngine(args.index, time_limit=30)  # the clock cannot be what refuses
    engine.warm_up()
    rnd = random.Random(args.seed)
    words = common_words(engine)
    rows = []

    def run(kind: str, text: str, **options):
        cost = estimate(engine, text, **options)  # refused: None
        engine._forget_results()
        started = time.perf_counter()
        try:
            engine.search(text, **options)
            took = time.perf_counter() - started
        except QueryTooExpensive:
            took = time.perf_counter() - started
        rows.append((kind, text, options, cost, took))

    for text in common.load_queries(args.queries):
        run("bench", text)
    for n in (10, 20, 40, 50):
        run(f"{n} common words", " ".join(rnd.sample(words, n)))
    for n in (5, 10, 25):
        pairs = zip(words[:n], words[n : 2 * n], strict=True)
        run(f"{n} phrases OR", " OR ".join(f'"{a} {b}"' for a, b in pairs))
    run("stop phrases", '"de la" "le la les" ' + " ".join(rnd.sample(words, 3)))
    for n in (2, 10, 30):
        run(f"{n} words by date", " OR ".join(words[:n]), sort="date")
        run(f"{n} words, 100 a page", " OR ".join(words[:n]), per_page=100)
        run(f"{n} words, page 100x100", " OR ".join(words[:n]), page=100, per_page=100)
    for text in ("pre*", "con* fic*", "util* fich* comm* conf* syst* prog* doc* inst*"):
        run("prefixes", text)
    for text in ("fichier", "utiliser", "aujourd format défaut"):
        run("one or three words by date", text, sort="date")
    for text, options, _cost in hostile_queries(engine, rnd):
        run("hostile (accepted)", text, **options)

    bench = [r for r in rows if r[0] == "bench"]
    refused = [r for r in bench if r[3] is None]
    times = [r[4] for r in bench]
    print(f"MAX_QUERY_SECONDS {settings.MAX_QUERY_SECONDS}, {settings.QUERY_COST}")
    print(
        f"bench queries: {len(bench)}, refused {len(refused)}; estimate max "
        f"{1000 * max(r[3] or 0 for r in bench):.0f} ms; time p50 "
        f"{1000 * percentile(times, 50):.1f} p99 {1000 * percentile(times, 99):.1f} max "
        f"{1000 * max(times):.0f} ms"
    )
    for kind, text, _options, cost, took in sorted(bench, key=lambda r: -(r[3] or 0))[:5]:
        print(f"  {kind:26} est {_ms(cost):>9} took {1000 * took:7.1f} ms  {text[:60]}")
    print("hostile:")
    for kind, text, options, cost, took in rows[len(bench) :]:
        extra = " ".join(f"{k}={v}" for k, v in options.items())
        print(f"  {kind:26} est {_ms(cost):>9} took {1000 * took:7.1f} ms  {extra} {text[:50]}")
    accepted = [r[4] for r in rows[len(bench) :] if r[3] is not None]
    print(f"accepted hostile: {len(accepted)}, slowest {1000 * max(accepted):.0f} ms")


def _ms(cost: float | None) -> str:
    return "refused" if cost is None else f"{1000 * cost:.0f} ms"


# -- the load ------------------------------------------------------------------------------


def get(conn: http.client.HTTPConnection, path: str) -> int:
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return response.status


def connect(port: int, source: str) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(testing.HOST, port, timeout=30, source_address=(source, 0))


def hostile_client(port, source, queries, stop_at, seed, counts, lock) -> None:
    """One hostile client: closed loop on one connection until ``stop_at``."""
    rnd = random.Random(seed)
    conn = connect(port, source)
    mine: Counter = Counter()
    while time.time() < stop_at:
        text, options, _cost = rnd.choice(queries)
        path = "/api/search?" + urlencode({"q": reshuffled(text, rnd), **options})
        try:
            mine[get(conn, path)] += 1
        except (OSError, http.client.HTTPException) as e:
            mine[type(e).__name__] += 1
            conn.close()
            conn = connect(port, source)
    conn.close()
    with lock:
        counts.update(mine)


def hostile_process(port, queries, stop_at, clients, same_address, seed, out) -> None:
    """The hostile clients, threads of one child process; their status counts to ``out``."""
    counts: Counter = Counter()
    lock = threading.Lock()
    threads = []
    for n in range(clients):
        source = "127.0.0.1" if same_address else f"127.0.0.{10 + n}"
        args = (port, source, queries, stop_at, seed + n, counts, lock)
        threads.append(threading.Thread(target=hostile_client, args=args, daemon=True))
        threads[-1].start()
    for t in threads:
        t.join(timeout=max(1.0, stop_at - time.time() + 40))
    out.put({str(k): v for k, v in counts.items()})


def load(args) -> None:
    rnd = random.Random(args.seed)
    engine = SearchEngine(args.index)
    queries = hostile_queries(engine, rnd)
    engine.close()
    print("hostile queries (the most expensive of each kind the API accepts):")
    for text, options, cost in queries:
        extra = " ".join(f"{k}={v}" for k, v in options.items())
        print(f"  est {1000 * cost:4.0f} ms  {extra:22} {text[:70]}…")
    simple = common.load_queries(args.queries)
    rnd.shuffle(simple)
    WORK.mkdir(parents=True, exist_ok=True)
    log = WORK / "expensive_clients.{port}.log"
    server = testing.start_server(args.index, log, timeout=300)
    try:
        variants = [args.same_address] if args.same_address else [False, True]
        for same in variants:
            run_variant(args, server.port, queries, simple, same)
    finally:
        server.stop()


def run_variant(args, port: int, queries, simple: list[str], same: bool) -> None:
    where = "all from 127.0.0.1" if same else "each from its own 127.0.0.X"
    source = "127.0.0.1" if same else SIMPLE_ADDRESS
    stop_at = time.time() + args.seconds
    out = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(
        target=hostile_process,
        args=(port, queries, stop_at, args.clients, same, args.seed, out),
    )
    child.start()
    time.sleep(min(2.0, args.seconds / 10))  # the hostile clients are at it
    latencies, statuses = [], Counter()
    conn = connect(port, source)
    n = 0
    while time.time() < stop_at:
        text = f"{simple[n % len(simple)]}"
        n += 1
        started = time.perf_counter()
        try:
            status = get(conn, "/api/search?" + urlencode({"q": text}))
        except (OSError, http.client.HTTPException) as e:
            status = type(e).__name__
            conn.close()
            conn = connect(port, source)
        statuses[status] += 1
        if status == 200:
            latencies.append(time.perf_counter() - started)
        time.sleep(0.05)  # a person, not a loop
    conn.close()
    hostile = out.get(timeout=120)
    child.join(timeout=30)
    print(f"\n{args.clients} hostile clients {where}, {args.seconds:g} s:")
    pct = " ".join(
        f"p{p} {1000 * percentile(latencies, p):.0f} ms" for p in (50, 95, 99)
    ) if latencies else "-"  # fmt: skip
    others = {k: v for k, v in statuses.items() if k != 200}
    print(f"  simple client: {sum(statuses.values())} searches, 200: {statuses[200]}, {pct}")
    print(f"    503: {statuses[503]}, other: {others or 'none'}")
    answered, refused, shed = hostile.get("200", 0), hostile.get("400", 0), hostile.get("503", 0)
    rest = {k: v for k, v in hostile.items() if k not in ("200", "400", "503")}
    print(
        f"  hostile clients: answered {answered}, refused (400) {refused}, shed (503) {shed}, "
        f"other {rest or 'none'}"
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    print(common.machine_note())
    if args.calibrate:
        calibrate(args)
    else:
        load(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
