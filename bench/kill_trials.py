"""Kill trials: ``searchsvc index`` (full and incremental) killed with SIGKILL at random points.

A corpus of the first ``--docs`` benchmark documents plus a "churn" file whose documents change
every trial (some added, the previous ones deleted), so every run has work to do. Each trial
starts ``searchsvc index`` (``--full`` on even trials), waits (in turn: a random time anywhere
in an unkilled run's length, start-up included; a random time in its last 30 %; until a commit
is seen to begin, plus up to 0.3 s), notes what the index folder shows at that moment (which
phase the run was in) and kills the process with SIGKILL. Then it checks:

- the helper processes of a multi-process build died with it;
- the write lock is free (``.write.lock`` can be taken at once);
- the live generation opens and answers: document count, each probe query's total and the
  churn documents found are those from before the killed run or those after a complete one;
  no document id appears twice;
- the next ``searchsvc index`` of the same kind completes, and after it no ``*.building``
  folder is left and at most two generations are on disk.

Everything goes under ``bench/.work/kill-trials/``; nothing is served. Usage (from the
repository root): ``.venv/bin/python bench/kill_trials.py [--trials 24] [--docs 3000]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import common
from common import Status, dir_size, fmt_mb, table

from searchsvc import testing
from searchsvc.engine.search import SearchEngine
from searchsvc.index import storage
from searchsvc.testing import alive, child_pids, cli, index_args, lock_is_free

CHURN = 300  # documents replaced in every trial
MODES = ("anywhere", "late", "at commit")  # when to kill, in turn (each for a full and an incr.)
MARK = "zorglub"  # a word only the churn documents contain


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", nargs="?", type=Path, default=common.DEFAULT_CORPUS)
    p.add_argument("--queries", type=Path, default=common.DEFAULT_QUERIES)
    p.add_argument("--docs", type=int, default=3000, help="benchmark documents to index")
    p.add_argument("--trials", type=int, default=24)
    p.add_argument("--probes", type=int, default=20, help="queries compared after each kill")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args(argv)


def write_churn(corpus: Path, base: list[dict], trial: int, rng: random.Random) -> set[str]:
    """Replace the churn file with CHURN new documents; return their ids."""
    path = corpus / "churn.jsonl"
    return set(testing.write_churn(path, base, CHURN, trial, f"{MARK} essai {trial}.", rng))


def snapshot(index: Path, probes: list[str]) -> dict:
    """What the live index answers: document count, probe totals, churn ids, duplicate ids."""
    with contextlib.closing(SearchEngine(index)) as engine:
        out = {"generation": storage.current_name(index), "documents": engine.stats()["documents"]}
        out["totals"] = [engine.search(q, per_page=1).total for q in probes]
        churn = engine.search(MARK, per_page=100)
        ids = set()
        for page in range(1, churn.pages + 1):
            ids |= {h.id for h in engine.search(MARK, page=page, per_page=100).hits}
        out["churn"] = sorted(ids)
        with engine.searcher() as s:
            column = s.reader().column_reader("id")
            all_ids = [column[n] for n in s.reader().all_doc_ids()]
        out["duplicates"] = len(all_ids) - len(set(all_ids))
    return out


def same_content(a: dict, b: dict) -> bool:
    return all(a[k] == b[k] for k in ("documents", "totals", "churn"))


def phase(index: Path, full: bool, before_generation: str, before_files: set[str]) -> str:
    """Which part of the run the index folder shows it was in (best effort).

    Both kinds of run write a new generation under a ``.building`` name (an incremental one
    starts from links to the live files) and switch ``CURRENT`` to it at the end.
    """
    if storage.current_name(index) != before_generation:
        return "after the switch"
    building = list(index.glob("*.building"))
    if not building:
        return "start-up" if full else "start-up / comparing"
    with contextlib.suppress(OSError):
        files = {p.name for p in building[0].iterdir()} - before_files
        if any(n.endswith(".toc") and n != "_MAIN_0.toc" for n in files):  # 0: create_in
            return "committing"
        if storage.META in files:
            return "publishing"
    return "reading + writing"


def run_index(corpus: Path, index: Path, full: bool) -> tuple[int, float, str]:
    started = time.monotonic()
    done = cli(*index_args(corpus, index, full), timeout=None)
    return done.returncode, time.monotonic() - started, done.stdout.strip() + done.stderr.strip()


def main(argv=None) -> int:
    args = parse_args(argv)
    status = Status()
    rng = random.Random(args.seed)
    work, corpus, index, base = common.scratch_corpus("kill-trials", args.corpus, args.docs)
    probes = rng.sample(common.load_queries(args.queries), args.probes)

    churn_ids = write_churn(corpus, base, 0, rng)
    code, seconds, out = run_index(corpus, index, full=True)
    if code != 0:
        raise SystemExit(f"the first build failed: {out}")
    expected = {True: seconds, False: None}
    one_generation = dir_size(index / storage.current_name(index))
    status.note(f"first full build: {seconds:.1f} s, {fmt_mb(one_generation)}")
    before = snapshot(index, probes)
    assert before["churn"] == sorted(churn_ids)

    rows, problems = [], []
    phases: Counter = Counter()
    max_generations = 0
    started_all = time.monotonic()
    for trial in range(1, args.trials + 1):
        full = trial % 2 == 0
        kind = "full" if full else "incremental"
        write_churn(corpus, base, trial, rng)
        if expected[full] is None:  # calibrate an incremental run once, on a copy
            probe_index = work / "calibrate"
            shutil.copytree(index, probe_index)
            code, seconds, out = run_index(corpus, probe_index, full)
            shutil.rmtree(probe_index)
            expected[full] = seconds
            status.note(f"an unkilled incremental run: {seconds:.1f} s")
        # A third of the kills anywhere in the run, a third in its last 30 %, a third just
        # after a commit is seen to begin (a few hundred milliseconds at most).
        mode = MODES[(trial - 1) // 2 % len(MODES)]
        low = {"anywhere": 0.0, "late": 0.7, "at commit": 2.0}[mode]
        delay = rng.uniform(low, max(low, 1.1)) * expected[full]
        generation = storage.current_name(index)
        files = {p.name for p in (index / generation).iterdir()}

        proc = subprocess.Popen(
            testing.cli_command(*index_args(corpus, index, full)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=testing.child_env(),
        )
        started = time.monotonic()
        deadline = started + delay
        helpers: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            helpers |= set(child_pids(proc.pid))
            if mode == "at commit" and phase(index, full, generation, files) == "committing":
                time.sleep(rng.uniform(0.0, 0.3))
                break
            time.sleep(0.01)
        delay = time.monotonic() - started
        helpers |= set(child_pids(proc.pid))
        where = phase(index, full, generation, files) if proc.poll() is None else "finished"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        phases[(kind, where)] += 1

        trouble = []
        end = time.monotonic() + 10
        while alive(helpers) and time.monotonic() < end:
            time.sleep(0.05)
        orphans = alive(helpers)
        if orphans:
            trouble.append(f"helpers alive: {orphans}")
            for pid in orphans:  # ours: started by the killed run
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        if not lock_is_free(index):
            trouble.append("lock held")
        try:
            now = snapshot(index, probes)
        except Exception as e:  # the live index must always open and answer
            now = None
            trouble.append(f"live index broken: {type(e).__name__}: {e}")

        code, seconds, out = run_index(corpus, index, full)
        if code != 0:
            trouble.append(f"next run failed ({code}): {out[-300:]}")
        after = snapshot(index, probes)
        if now is not None:
            if not (same_content(now, before) or same_content(now, after)):
                trouble.append("live index neither before nor after")
            if now["duplicates"]:
                trouble.append(f"{now['duplicates']} duplicate ids")
        leftovers = sorted(p.name for p in index.glob("*.building"))
        generations = storage.list_generations(index)
        max_generations = max(max_generations, len(generations))
        if leftovers:
            trouble.append(f"left after the next run: {leftovers}")
        if len(generations) > 2:
            trouble.append(f"{len(generations)} generations on disk")
        if not lock_is_free(index):
            trouble.append("lock held after the next run")
        if now is not None and same_content(now, before) and code == 0:
            expected[full] = seconds  # the next run did the whole job: a fresh timing
        problems += [f"trial {trial}: {t}" for t in trouble]
        rows.append(
            [
                str(trial),
                kind,
                f"{delay:.2f} s",
                where,
                "before" if now and same_content(now, before) else "after" if now else "-",
                f"{seconds:.1f} s",
                "ok" if not trouble else "; ".join(trouble),
            ]
        )
        status.note(" | ".join(rows[-1]))
        before = after

    with contextlib.closing(SearchEngine(index)) as engine:
        answers = engine.search(MARK).total
    size = dir_size(index)
    report = "\n\n".join(
        [
            f"{args.trials} trials on {len(base)} benchmark documents + {CHURN} churn documents "
            "replaced each trial; killed (in turn) at a uniform time over 0-110 % or 70-110 % "
            "of the last complete run of the same kind (start-up included), or 0-0.3 s after "
            f"a commit is seen to begin; seed {args.seed}",
            table(
                ["trial", "kind", "killed after", "phase", "live index", "next run", "checks"],
                rows,
                right=[2, 5],
            ),
            "Kills by phase: " + ", ".join(f"{k} {p}: {n}" for (k, p), n in sorted(phases.items())),
            f"Problems: {len(problems)}"
            + ("" if not problems else "\n" + "\n".join(f"- {p}" for p in problems)),
            f"At the end: {len(storage.list_generations(index))} generation(s), at most "
            f"{max_generations} at any check; index folder {fmt_mb(size)} "
            f"({size / one_generation:.1f}x one generation); '{MARK}' finds {answers}.",
        ]
    )
    print(report)
    print(f"\ntotal {time.monotonic() - started_all:.0f} s; work folder: {work}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
