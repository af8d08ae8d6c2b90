"""HTTP fuzzing: thousands of random and adversarial requests to ``searchsvc serve`` (gunicorn,
default settings) on 127.0.0.1, over raw sockets so that any byte can be sent.

The index holds the first ``--docs`` benchmark documents plus documents carrying HTML and ids
shaped like paths. Cases, drawn from a seeded generator: query strings mixing the query
language's syntax, random Unicode, NUL and control bytes, invalid percent-encoding, encoded
surrogates, up to 10,000 characters; random ``page``/``per_page``/``limit``; random document
ids (path traversal, encodings); known expensive queries (``*a*``, many prefixes, thousands of
terms); malformed HTTP. Checked for each answer: no 5xx, no traceback, no unescaped markup in
an HTML page; the time it took. At the end: the gunicorn workers are the same processes as at
the start (none died or was restarted), and the server log holds no traceback or time-out.

Usage: ``.venv/bin/python bench/fuzz_http.py [--cases 5000] [--docs 3000]``
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import common
from common import Status, percentile, table

from searchsvc import testing
from searchsvc.testing import HOST, cli, index_args

SYNTAX = ['"', "(", ")", "-", "*", ":", "OR", "OU", "AND", "title:", "titre:", "body:",
          "source:", "texte:", "a*", "*a*", "\\", "'", "’", "l'", "+", "~", "^", "zèbre",
          "écran", "fichier", "micro-blogging", "\x00", "\u200b", "\u202e", "🦓", "ﬁ",
          "e\u0301", "%", "&", "#", "?", "/", "..", "{", "}", "<script>", "</mark>",
          "\r\n"]  # fmt: skip
EXPENSIVE = [
    "*a*", "*", "a*", "**", "?*",
    " ".join(f"{c}*" for c in "abcdefghijklmnopqrstuvwxyz"),
    " OR ".join(f"{a}{b}*" for a in "abcdefg" for b in "aeiou")[:1000],
    " ".join(f"mot{i}" for i in range(5000)),
    " ".join(["de"] * 50), " ".join(["fichier"] * 50),
    '"' + " ".join(["le"] * 49) + '"',
    "(" * 500 + "a" + ")" * 500,
    "-a* " * 50,
]  # fmt: skip
HOSTILE_DOCS = [
    {"id": "xss", "title": "<script>alert(1)</script> Zèbres", "body": "<img src=x "
     "onerror=alert(2)> zèbre </textarea><script>alert(3)</script>", "url": "javascript:x"},
    {"id": "../../etc/passwd", "title": "Chemin", "body": "Un identifiant en forme de chemin."},
]  # fmt: skip
TRAVERSALS = ["../../../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/etc/passwd",
              "..%252F..%252Fetc", "%c0%ae%c0%ae/etc/passwd", "/etc/passwd", "..\\..\\x",
              "~root", "%00", "%ff%fe", "..;/x"]  # fmt: skip
RAW = [
    b"GET / HTTP/9.9\r\n\r\n", b"GARBAGE\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00" + bytes(60),
    b"GET /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nab",
    b"GET /api/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /api/search HTTP/1.1\r\nHost: x\r\nX: " + b"h" * 9000 + b"\r\n\r\n",
    b"GET /api/search HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 200 + b"\r\n",
    b"GET /api/search?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n", b"<script> / HTTP/1.1\r\n\r\n",
]  # fmt: skip
RAW_MARKUP = re.compile(rb'<script(?! src="/static/)|<img\b|<textarea|javascript:alert', re.I)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", nargs="?", type=Path, default=common.DEFAULT_CORPUS)
    p.add_argument("--docs", type=int, default=3000)
    p.add_argument("--cases", type=int, default=5000)
    p.add_argument("--clients", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args(argv)


def random_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.choice([0, 1, 2, 3, 5, 8, 20, 60])):
        kind = rng.random()
        if kind < 0.5:
            parts.append(rng.choice(SYNTAX))
        elif kind < 0.8:
            parts.append("".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(1, 8))))
        else:
            parts.append("".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(1, 4))))
    text = rng.choice([" ", "", "  "]).join(parts)
    if rng.random() < 0.03:
        text *= rng.randint(50, 500)
    return text


def encode(text: str, rng: random.Random) -> str:
    """Percent-encode text, sometimes damaging the encoding on purpose."""
    raw = text.encode("utf-8", "surrogatepass")
    out = quote(raw, safe="")
    r = rng.random()
    if r < 0.05:
        out += rng.choice(["%", "%z", "%zz", "%C3", "%ED%A0%80", "%F4%90%80%80", "%FF"])
    elif r < 0.08:
        out = out.replace("%20", "+")
    return out


def number(rng: random.Random) -> str:
    if rng.random() < 0.6:  # mostly absent or valid, so that the queries themselves are run
        return rng.choice(["", "1", "2", "10", "20"])
    return rng.choice(["", "0", "1", "2", "10", "100", "101", "-1", "1e3", "0x1", "９", "abc",
                       "999999999999", str(rng.randint(1, 20000)), " 1", "1.5"])  # fmt: skip


def make_case(rng: random.Random) -> tuple[str, bytes]:
    """(kind, raw HTTP request) for one random case."""
    r = rng.random()
    if r < 0.02:
        return "malformed HTTP", rng.choice(RAW)
    if r < 0.10:
        kind, path = "expensive query", "/api/search?q=" + encode(rng.choice(EXPENSIVE), rng)
        path += "&per_page=100"
    elif r < 0.55:
        kind = "search"
        path = f"/api/search?q={encode(random_text(rng), rng)}"
        path += f"&page={encode(number(rng), rng)}&per_page={encode(number(rng), rng)}"
    elif r < 0.70:
        kind = "suggest"
        path = f"/api/suggest?q={encode(random_text(rng), rng)}&limit={encode(number(rng), rng)}"
    elif r < 0.85:
        kind = "document"
        doc_id = rng.choice(TRAVERSALS) if rng.random() < 0.4 else encode(random_text(rng), rng)
        path = rng.choice(["/api/documents/", "/doc/"]) + (doc_id or "x")
        path += rng.choice(["", "", "/similar", f"?q={encode(random_text(rng), rng)}"])
    else:
        kind = "page"
        path = f"/?q={encode(random_text(rng), rng)}&page={encode(number(rng), rng)}"
    return kind, make_request(path)


def make_request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()


def exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection((HOST, port), timeout=60) as sock:
        sock.sendall(request)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def main(argv=None) -> int:
    args = parse_args(argv)
    status = Status()
    work, corpus, index, _base = common.scratch_corpus("fuzz-http", args.corpus, args.docs)
    testing.write_jsonl(corpus / "hostile.jsonl", HOSTILE_DOCS)
    if cli(*index_args(corpus, index, full=True), timeout=None, capture=False).returncode:
        raise SystemExit("the index build failed")

    server = testing.start_server(index, work / "server.log")  # serve's default settings
    port = server.port
    rng = random.Random(args.seed)
    cases = [make_case(rng) for _ in range(args.cases)]
    results: list[tuple[str, int | str, float]] = []
    problems: list[str] = []
    expensive: list[list[str]] = []
    slowest: list[tuple[float, str, str]] = []
    lock = threading.Lock()
    try:
        deadline = time.monotonic() + 20
        while len(server.workers()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers_before = server.workers()
        for q in EXPENSIVE:  # one at a time first, for clean timings
            request = make_request(f"/api/search?q={quote(q)}&per_page=100")
            t = time.perf_counter()
            answer = exchange(port, request)
            code = int(answer.split(b" ", 2)[1]) if answer else "closed"
            expensive.append([repr(q if len(q) < 40 else q[:37] + "..."), str(len(q)), str(code),
                              f"{1000 * (time.perf_counter() - t):.0f}"])  # fmt: skip
        started = time.monotonic()
        queue = iter(enumerate(cases))

        def client() -> None:
            while True:
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                n, (kind, request) = item
                t = time.perf_counter()
                error = None
                try:
                    answer = exchange(port, request)
                except OSError as e:
                    answer, error = b"", type(e).__name__
                took = time.perf_counter() - t
                code: int | str = error or "closed"
                if answer:
                    try:
                        code = int(answer.split(b" ", 2)[1])
                    except (IndexError, ValueError):
                        code = "unparsable"
                head, _, body = answer.partition(b"\r\n\r\n")
                if code == 503 and b"retry-after:" in head.lower():
                    code = "503 overloaded"  # shed by design while slow queries hold the slots
                trouble = []
                if isinstance(code, int) and code >= 500:
                    trouble.append(f"status {code}")
                if kind != "malformed HTTP" and (code in ("closed", "unparsable") or error):
                    trouble.append(str(code))
                if b"Traceback" in answer:
                    trouble.append("traceback")
                if b"text/html" in head.lower() and RAW_MARKUP.search(body):
                    trouble.append("unescaped markup")
                if b"root:x:" in answer:
                    trouble.append("file content leaked")
                with lock:
                    results.append((kind, code, took))
                    target = [*request.split(b" ", 2), b"", b""][1] or request[:40]
                    slowest.append((took, kind, target[:110].decode("latin-1")))
                    problems.extend(f"case {n} ({kind}): {t}: {request[:120]!r}" for t in trouble)
                    if len(results) % 500 == 0:
                        status.note(f"{len(results)} cases …")

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        workers_after = server.workers()
    finally:
        server.stop()
    log = (work / "server.log").read_text(errors="replace")

    rows = []
    for kind in sorted({k for k, _, _ in results}):
        mine = [(c, t) for k, c, t in results if k == kind]
        codes = Counter(c for c, _ in mine)
        times = [t for _, t in mine]
        rows.append([kind, str(len(mine)), ", ".join(f"{c}: {n}" for c, n in codes.most_common()),
                     f"{1000 * percentile(times, 50):.0f}", f"{1000 * percentile(times, 99):.0f}",
                     f"{1000 * max(times):.0f}"])  # fmt: skip
    fives = sum(1 for _, c, _ in results if isinstance(c, int) and c >= 500)
    shed = sum(1 for _, c, _ in results if c == "503 overloaded")
    report = "\n\n".join(
        [
            f"{len(results)} cases in {elapsed:.0f} s from {args.clients} clients against "
            f"`searchsvc serve` (default settings) on {HOST}, index of {args.docs} benchmark "
            f"documents + {len(HOSTILE_DOCS)} hostile ones; seed {args.seed}",
            table(["kind", "cases", "answers", "p50 ms", "p99 ms", "max ms"], rows),
            "Slowest cases:\n"
            + "\n".join(f"- {1000 * t:.0f} ms {k}: {path}" for t, k, path in sorted(slowest)[-8:]),
            "Expensive queries, each alone (per_page=100):",
            table(["query", "chars", "status", "ms"], expensive),
            f"5xx answers: {fives} (besides {shed} shed with 503 overloaded); problems: "
            f"{len(problems)}; workers replaced: "
            f"{'none' if workers_before == workers_after else 'YES'}"
            f"; tracebacks in the server log: {log.count('Traceback')}; worker time-outs: "
            f"{log.count('WORKER TIMEOUT')}",
        ]
        + (["\n".join(f"- {p}" for p in problems[:20])] if problems else [])
    )
    print(report)
    bad = problems or fives or workers_before != workers_after or "Traceback" in log
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
