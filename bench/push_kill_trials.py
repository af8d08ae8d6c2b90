"""Kill trials of pushed documents: a push stream over HTTP, and SIGKILL at a random moment of
the server (master and workers), of the journal's writer, or of both.

A small index (the first ``--docs`` benchmark documents) is served by ``searchsvc serve`` with
an admin key. Each trial starts the server and a pusher process, which sends batches (``POST
/api/documents``: new documents, new versions of earlier ones) and deletions (``DELETE``), and
writes each acknowledged request (a 202) to its log, fsynced, before sending the next; the
request in flight is written first as "sent". At a random moment (0–3 s after the first 202)
the target is killed with SIGKILL, and the pusher too. Then the server is started again, the
journal drains, and the trial checks:

- every acknowledged change is in the live index (each pushed id holds the body of its last
  acknowledged version, or of the request that was in flight; a deleted id is gone) and
  searchable over HTTP (a sample of ids, by the word only that version holds);
- the request in flight is all or nothing: all its documents at its version, or none;
- ``searchsvc check`` passes (exit 0).

Everything goes under ``bench/.work/push-kill/``. Usage (from the repository root):
``.venv/bin/python bench/push_kill_trials.py [--trials 24] [--docs 2000]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import common
from common import table

from searchsvc import testing
from searchsvc.index import storage
from searchsvc.ingest.indexer import reindex
from searchsvc.ingest.journal import Journal
from searchsvc.testing import alive, child_pids, cli, serve_command, start_server

KEY = "bench-push-kill-key-0123456789"
TARGETS = ("server", "writer", "both")
LETTERS = "bcdfghjklmnpqrstvwxz"


def word(n: int) -> str:
    """A made-up word, one per (id, version): what a search finds that version by."""
    out = "qu"
    for _ in range(6):
        n, r = divmod(n, len(LETTERS))
        out += LETTERS[r] + "aeiou"[r % 5]
    return out


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", nargs="?", type=Path, default=common.DEFAULT_CORPUS)
    p.add_argument("--docs", type=int, default=2000, help="benchmark documents to index")
    p.add_argument("--trials", type=int, default=24)
    p.add_argument("--batch", type=int, default=20, help="documents per POST")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--pusher", nargs=3, metavar=("URL", "LOG", "TRIAL"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


# -- the pusher process ------------------------------------------------------------------------


def _request(url: str, method: str, body: bytes | None = None) -> int:
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", f"Bearer {KEY}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:  # the server is being killed
        return 0


def pusher(url: str, log_path: str, trial: int, batch: int) -> None:
    """Push until killed: log each request as sent, then as acknowledged, fsynced."""
    rng = random.Random(trial)
    known: list[str] = []
    n = 0
    with open(log_path, "a", encoding="utf-8") as log:

        def note(entry: dict) -> None:
            log.write(json.dumps(entry) + "\n")
            log.flush()
            os.fsync(log.fileno())

        while True:
            n += 1
            if known and rng.random() < 0.15:
                doc_id = known.pop(rng.randrange(len(known)))
                entry = {"req": n, "op": "delete", "ids": [doc_id]}
                note({**entry, "state": "sent"})
                path = f"/api/documents/{urllib.parse.quote(doc_id)}"
                status = _request(url + path, "DELETE")
            else:
                docs = []
                for _ in range(batch):
                    if known and rng.random() < 0.3:
                        doc_id = rng.choice(known)
                    else:
                        doc_id = f"push-{trial}-{n}-{len(docs)}"
                        known.append(doc_id)
                    if any(d["id"] == doc_id for d in docs):
                        continue
                    version = trial * 10**7 + n * 1000 + len(docs)
                    docs.append(
                        {
                            "id": doc_id,
                            "title": f"Dépêche {doc_id}",
                            "body": f"Une dépêche poussée, version {word(version)} du jour.",
                        }
                    )
                entry = {"req": n, "op": "put", "docs": docs}
                note({**entry, "state": "sent"})
                status = _request(url + "/api/documents", "POST", json.dumps(docs).encode())
            if status == 202:
                note({"req": n, "state": "ack"})
            else:
                note({"req": n, "state": f"refused {status}"})
                time.sleep(0.2)


# -- the trials --------------------------------------------------------------------------------


def expected_state(log_path: Path) -> tuple[dict[str, str | None], dict | None]:
    """From the pusher's log: each id's body after the acknowledged requests (None: deleted),
    and the request sent but not acknowledged (the one in flight), if any."""
    sent: dict[int, dict] = {}
    acked: list[dict] = []
    text = log_path.read_text(encoding="utf-8") if log_path.exists() else ""
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the last line, cut by the kill
        if entry["state"] == "sent":
            sent[entry["req"]] = entry
        elif entry["state"] == "ack":
            acked.append(sent.pop(entry["req"]))
        else:
            sent.pop(entry["req"], None)
    state: dict[str, str | None] = {}
    for entry in acked:
        if entry["op"] == "delete":
            state[entry["ids"][0]] = None
        else:
            for doc in entry["docs"]:
                state[doc["id"]] = doc["body"]
    in_flight = max(sent.values(), key=lambda e: e["req"]) if sent else None
    return state, in_flight


def live_bodies(index: Path) -> dict[str, str]:
    """The pushed documents the live generation holds: id → body."""
    from whoosh import index as whoosh_index

    live = storage.current(index)
    bodies = {}
    with contextlib.closing(whoosh_index.open_dir(live.path)) as ix, ix.searcher() as s:
        for fields in s.all_stored_fields():
            if fields.get("id", "").startswith("push-"):
                bodies[fields["id"]] = fields.get("body")
    return bodies


def search_ids(url: str, q: str) -> list[str]:
    with urllib.request.urlopen(f"{url}/api/search?q={urllib.parse.quote(q)}", timeout=30) as a:
        return [h["id"] for h in json.load(a)["hits"]]


def kill_tree(server, target: str) -> str:
    workers = child_pids(server.proc.pid)
    writer = [p for p in workers if b"searchsvc.ingest.writer" in _cmdline(p)]
    if target == "writer":
        if not writer:
            return "no writer yet"
        os.kill(writer[0], signal.SIGKILL)
        return "writer"
    victims = [server.proc.pid, *workers] if target == "both" else [server.proc.pid]
    victims += [] if target == "both" else [p for p in workers if p not in writer]
    for pid in victims:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return target


def writers_left(index: Path, wait: float = 10.0) -> list[int]:
    """The writer and merging processes of ``index`` still running ``wait`` seconds after
    their server was killed (each dies with its parent: none should be left); killed."""
    mark = str(index).encode()
    deadline = time.monotonic() + wait
    while True:
        found = [
            int(p)
            for p in os.listdir("/proc")
            if p.isdigit()
            and b"searchsvc.ingest.writer" in _cmdline(int(p))
            and mark in _cmdline(int(p))
        ]
        found = alive(found)
        if not found or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for pid in found:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def serve(index: Path, log: Path):
    def command(port: int) -> list[str]:
        return ["env", f"SEARCHSVC_ADMIN_KEY={KEY}", *serve_command(port, index, workers=2)]

    return start_server(index, log, command=command)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.pusher:
        pusher(args.pusher[0], args.pusher[1], int(args.pusher[2]), 20)
        return 0
    work = Path(__file__).resolve().parent / ".work" / "push-kill"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    corpus = common.corpus_dir(args.corpus, args.docs)
    index = work / "index"
    reindex(corpus, index, full=True)
    rng = random.Random(args.seed)
    rows, failures, counts = [], [], Counter()
    logs = work / "logs"
    logs.mkdir()
    all_state: dict[str, str | None] = {}
    for trial in range(1, args.trials + 1):
        target = TARGETS[(trial - 1) % len(TARGETS)]
        server = serve(index, logs / f"serve-{trial}.log")
        push_log = logs / f"push-{trial}.jsonl"
        push = subprocess.Popen(
            [sys.executable, __file__, "--pusher", server.url, str(push_log), str(trial)],
            env=testing.child_env(),
        )
        # The kill comes at a random moment once the stream flows (its first 202).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            not push_log.exists() or '"ack"' not in push_log.read_text(encoding="utf-8")
        ):
            time.sleep(0.05)
        delay = rng.uniform(0.0, 3.0)
        time.sleep(delay)
        what = kill_tree(server, target)
        push.kill()
        push.wait()
        time.sleep(0.2)
        leftovers = alive(child_pids(server.proc.pid))
        server.stop(timeout=5)
        with contextlib.suppress(Exception):
            for pid in leftovers:
                os.kill(pid, signal.SIGKILL)
        orphans = writers_left(index)
        # Restart, let the journal drain, then check.
        server = serve(index, logs / f"serve-{trial}-after.log")
        problems = []
        if orphans:
            problems.append(f"{len(orphans)} writer or merging processes outlived their server")
        try:
            journal = Journal(index)
            deadline = time.monotonic() + 60
            while journal.waiting() and time.monotonic() < deadline:
                time.sleep(0.1)
            if journal.waiting():
                problems.append(f"{journal.waiting()} changes still waiting after 60 s")
            journal.close()
            state, in_flight = expected_state(push_log)
            acked = sum(1 for _ in state)
            before = dict(all_state)
            all_state.update(state)
            live = live_bodies(index)
            flight_ids = {}
            if in_flight is not None:
                if in_flight["op"] == "delete":
                    flight_ids = {in_flight["ids"][0]: None}
                else:
                    flight_ids = {d["id"]: d["body"] for d in in_flight["docs"]}
            for doc_id, body in all_state.items():
                got = live.get(doc_id)
                if got != body and not (doc_id in flight_ids and got == flight_ids[doc_id]):
                    problems.append(f"{doc_id}: expected {body!r}, live {got!r}")
            for doc_id in live.keys() - all_state.keys() - flight_ids.keys():
                problems.append(f"{doc_id}: live but never acknowledged nor in flight")
            applied_flight = None
            if flight_ids:
                seen = [live.get(i) == b for i, b in flight_ids.items()]
                was = [(all_state.get(i, before.get(i))) == b for i, b in flight_ids.items()]
                if all(seen) and not all(was):
                    applied_flight = "applied"
                    all_state.update(flight_ids)
                elif all(live.get(i) == all_state.get(i) for i in flight_ids):
                    applied_flight = "not applied"
                else:
                    problems.append(f"request {in_flight['req']} in flight half-applied")
            sample = [i for i, b in all_state.items() if b is not None]
            for doc_id in rng.sample(sample, min(10, len(sample))):
                token = all_state[doc_id].split("version ")[1].split()[0]
                if doc_id not in search_ids(server.url, token):
                    problems.append(f"{doc_id} not found by its word {token}")
        finally:
            server.stop()
        done = cli("check", "--index", str(index))
        if done.returncode != 0:
            problems.append("searchsvc check: " + done.stdout.strip()[-200:])
        counts["ok" if not problems else "failed"] += 1
        if problems:
            failures.append((trial, problems[:5]))
        rows.append(
            [
                str(trial),
                what,
                f"{delay:.2f}",
                str(acked),
                applied_flight or "none",
                "ok" if not problems else "FAILED",
            ]
        )
        print(" ".join(rows[-1]), flush=True)
    print()
    print(
        table(
            ["trial", "killed", "after s", "ids acked", "in flight", "result"],
            rows,
        )
    )
    print(f"\n{counts['ok']} of {args.trials} trials ok; pushed ids tracked: {len(all_state)}")
    for trial, problems in failures:
        print(f"trial {trial}: " + "; ".join(problems))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
