"""What writing a new small segment costs: the CPU of ``SegmentBuilder``'s flush (its term
index and postings files, from the postings it holds) for segments of 100 and 1,000 bench
documents, as the journal writer makes one per batch (issue 25).

For each size of ``--sizes``: ``--rounds`` segments of consecutive corpus documents, each
written by a new :class:`SegmentBuilder` into a scratch index (never published); the first
is a warm-up and not counted. Printed per size: p50 and mean CPU milliseconds of the flush,
of adding the documents (their analysis) for scale, the terms per segment, and a digest of
the segments' files (by extension: segment names are random) so that two versions of the
code can be shown to write the same bytes.

Usage: ``.venv/bin/python bench/segment_flush.py [--sizes 100,1000] [--rounds 11]``. To
compare with another version, run it from that version's tree (``PYTHONPATH=<tree>``).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import itertools
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import common

from searchsvc.index.schema import build_schema
from searchsvc.index.whoosh_internals.writing import SegmentBuilder
from searchsvc.ingest import indexer


def load_docs(corpus: Path, count: int) -> list[dict]:
    """The first ``count`` documents of the JSON Lines corpus."""
    with gzip.open(corpus, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in itertools.islice(fh, count)]


def segment_digest(folder: Path, names: set[str], digest) -> None:
    """Feed ``digest`` the files of the segment named in ``names``, ordered by extension."""
    files = sorted(
        (p for p in folder.iterdir() if p.name.split(".", 1)[0] in names),
        key=lambda p: p.name.split(".", 1)[1],
    )
    for path in files:
        digest.update(path.name.split(".", 1)[1].encode())
        digest.update(path.read_bytes())


def run(size: int, rounds: int, docs: list[dict]) -> dict:
    """Flush and add CPU milliseconds of ``rounds`` segments of ``size`` documents."""
    from whoosh.filedb.filestore import FileStorage

    scratch = Path(tempfile.mkdtemp(prefix="segment-flush-"))
    try:
        ix = FileStorage(str(scratch)).create_index(build_schema())
        flushes, adds, terms = [], [], []
        digest = hashlib.sha256()
        for r in range(rounds):
            batch = docs[r * size : (r + 1) * size]
            fields = [
                indexer._fields(indexer.pushed_document(f"s{size}-{r}-{d['id']}", d)) for d in batch
            ]
            builder = SegmentBuilder(ix)
            started = time.process_time()
            for f in fields:
                builder.add_document(**f)
            added = time.process_time()
            count = sum(len(t) for t in builder._postings.values())
            segments = builder.finish()
            done = time.process_time()
            segment_digest(scratch, {s.segment_id() for s in segments}, digest)
            if r:  # the first round warms up
                adds.append(1000 * (added - started))
                flushes.append(1000 * (done - added))
                terms.append(count)
        return {"flush": flushes, "add": adds, "terms": terms, "digest": digest.hexdigest()[:16]}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=common.DEFAULT_CORPUS)
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--rounds", type=int, default=11, help="segments per size (first: warm-up)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    docs = load_docs(args.corpus, max(sizes) * args.rounds)
    print(f"code: {Path(indexer.__file__).parents[2]}")
    print(f"{'docs':>6} {'terms':>7} {'flush p50':>10} {'flush mean':>11} {'add p50':>8}  files")
    for size in sizes:
        out = run(size, args.rounds, docs)
        print(
            f"{size:>6} {statistics.median(out['terms']):>7.0f}"
            f" {statistics.median(out['flush']):>8.1f}ms {statistics.mean(out['flush']):>9.1f}ms"
            f" {statistics.median(out['add']):>6.1f}ms  {out['digest']}"
        )


if __name__ == "__main__":
    main()
