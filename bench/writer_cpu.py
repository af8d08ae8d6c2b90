"""The journal writer's CPU per pushed document: ``--batches`` batches of ``--batch`` bench
documents (new ids) applied one at a time by :class:`searchsvc.ingest.writer.JournalWriter`
(merges off) in this process, on a copy of ``--index`` (never written to). Printed: the mean
wall and CPU time of a batch (the first left out: it reads the live index), and per document.

Usage: ``.venv/bin/python bench/writer_cpu.py --index /tmp/push-ix [--batch 100] [--batches 12]``
"""

from __future__ import annotations

import contextlib
import time

import common

from searchsvc.ingest import journal, writer


def main() -> None:
    args = common.batch_args(__doc__, batches=12)
    docs = common.bench_docs(args.batch * args.batches)
    walls, cpus = [], []
    with common.index_copy(args.index, "writer-cpu-") as index:
        j = journal.Journal(index)
        w = writer.JournalWriter(index, merge=False)
        with contextlib.closing(w), contextlib.closing(j):
            for b in range(args.batches):
                j.submit(common.pushed_batch(docs, b, args.batch, "cpu"))
                wall, cpu = time.perf_counter(), time.process_time()
                w.apply_once()
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
    walls, cpus = walls[1:], cpus[1:]
    wall, cpu = sum(walls) / len(walls), sum(cpus) / len(cpus)
    print(
        f"batches of {args.batch}: wall {1000 * wall:.0f} ms, CPU {1000 * cpu:.0f} ms a batch; "
        f"{1000 * cpu / args.batch:.2f} ms CPU a document ({len(cpus)} batches)"
    )


if __name__ == "__main__":
    main()
