"""What one batch of pushed documents costs the journal writer, phase by phase.

A copy of an index (``--index``, copied under /tmp, never written to), a journal filled with
``--batches`` batches of ``--batch`` documents (bench corpus texts under new ids), then the
writer (:class:`searchsvc.ingest.writer.JournalWriter`) applies them one batch at a time, in
this process, each phase timed: reading the journal, deciding, the Whoosh writer's deletions
and additions, the new segment, the commit's merges, the manifest, the document count,
publishing, garbage collection, marking the batch applied. Printed: each phase's mean and
largest time per batch, and after each batch the live generation's segments and whether a
merge (written by the writer's merging process, beside the batches) was put in place.

Usage: ``.venv/bin/python bench/push_phases.py --index /tmp/push-ix [--batch 100]
[--batches 10]``
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections import defaultdict

import common
from whoosh import index as whoosh_index

from searchsvc.index import storage
from searchsvc.index.whoosh_internals.updates import UpdateWriter
from searchsvc.index.whoosh_internals.writing import SegmentBuilder
from searchsvc.ingest import indexer, journal, writer

TIMES: dict[str, list[float]] = defaultdict(list)


def timed(owner, name: str, label: str) -> None:
    """Replace ``owner.name`` by a wrapper adding its time to ``TIMES[label]``."""
    inner = getattr(owner, name)

    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            TIMES[label].append(time.perf_counter() - t)

    setattr(owner, name, wrapper)


def instrument() -> None:
    J = journal.Journal
    timed(J, "recover", "journal: recover")
    timed(J, "next_batch", "journal: read batch")
    timed(J, "decide", "journal: decide")
    timed(J, "finish", "journal: finish")
    timed(writer.JournalWriter, "_decide", "decide (ids in live)")
    timed(storage.Verifier, "check", "verify live")
    timed(storage, "link_generation", "link files")
    U = UpdateWriter
    timed(U, "update_document", "replace documents")
    timed(U, "add_document", "add documents")
    timed(U, "delete_by_term", "delete documents")
    timed(SegmentBuilder, "finish", "write new segment")
    timed(U, "commit", "commit (incl. segment, merges)")
    from whoosh import writing

    timed(writing.SegmentWriter, "_merge_segments", "merges in the commit")
    timed(indexer, "_publish", "publish (count, manifest, CURRENT)")
    timed(storage, "manifest", "manifest (hash new files)")
    timed(storage, "publish", "switch CURRENT")
    timed(storage, "collect_garbage", "garbage collection")
    timed(storage, "restamp_record", "restamp record")
    timed(indexer, "write_pushed", "write_pushed (all)")
    timed(writer.JournalWriter, "apply_once", "batch (all)")


def main() -> None:
    args = common.batch_args(__doc__, batches=10)
    docs = common.bench_docs(5000)
    with common.index_copy(args.index, "push-phases-") as index:
        j = journal.Journal(index)
        n = 0
        for _ in range(args.batches):
            changes = []
            for _ in range(args.batch):
                base = docs[n % len(docs)]
                fields = {"title": base["title"], "body": f"qzx{n} {base['body']}"}
                changes.append(journal.Change(journal.PUT, f"push-{n}", fields))
                n += 1
            j.submit(changes)
        j.close()
        instrument()
        w = writer.JournalWriter(index)
        segments = []
        with contextlib.closing(w):
            for _ in range(args.batches):
                batch = w.apply_once(max_changes=args.batch)
                if batch is None:
                    break
                live = storage.current(index)
                with contextlib.closing(whoosh_index.open_dir(live.path)) as ix:
                    sizes = [s.doc_count_all() for s in ix._segments()]
                segments.append((sizes, batch.merged, w.merging()))

    print(f"{args.batches} batches of {args.batch} documents on {args.index}")
    print(f"{'phase':<40} {'calls':>5} {'mean ms':>9} {'max ms':>9}")
    for label, values in TIMES.items():
        print(
            f"{label:<40} {len(values):>5} {1000 * sum(values) / len(values):>9.1f} "
            f"{1000 * max(values):>9.1f}"
        )
    for i, (sizes, merged, merging) in enumerate(segments, 1):
        small = sum(1 for n in sizes if n <= args.batch)
        print(
            f"after batch {i}: {len(sizes)} segments ({small} of a batch or less), largest "
            f"{sorted(sizes)[-3:]}; merge put in place: {merged} documents; merging: {merging}"
        )


if __name__ == "__main__":
    main()
