"""The journal writer's CPU per pushed document: ``--batches`` batches of ``--batch`` bench
documents (new ids) applied one at a time by :class:`searchsvc.ingest.writer.JournalWriter`
(merges off) in this process, on a copy of ``--index`` (never written to). Printed: the mean
wall and CPU time of a batch (the first left out: it reads the live index), and per document.

Usage: ``.venv/bin/python bench/writer_cpu.py --index /tmp/push-ix [--batch 100] [--batches 12]``
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import shutil
import tempfile
import time
from pathlib import Path

import common

from searchsvc.ingest import journal, writer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--batches", type=int, default=12)
    args = parser.parse_args()
    count = args.batch * args.batches
    with gzip.open(common.DEFAULT_CORPUS, "rt", encoding="utf-8") as fh:
        docs = [json.loads(line) for _, line in zip(range(count), fh, strict=False)]
    scratch = Path(tempfile.mkdtemp(prefix="writer-cpu-"))
    index = scratch / "index"
    walls, cpus = [], []
    try:
        shutil.copytree(args.index, index, symlinks=True)
        j = journal.Journal(index)
        w = writer.JournalWriter(index, merge=False)
        with contextlib.closing(w), contextlib.closing(j):
            for b in range(args.batches):
                j.submit(common.pushed_batch(docs, b, args.batch, "cpu"))
                wall, cpu = time.perf_counter(), time.process_time()
                w.apply_once()
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    walls, cpus = walls[1:], cpus[1:]
    wall, cpu = sum(walls) / len(walls), sum(cpus) / len(cpus)
    print(
        f"batches of {args.batch}: wall {1000 * wall:.0f} ms, CPU {1000 * cpu:.0f} ms a batch; "
        f"{1000 * cpu / args.batch:.2f} ms CPU a document ({len(cpus)} batches)"
    )


if __name__ == "__main__":
    main()
