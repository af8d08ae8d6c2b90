"""The one writer of an index's journal: applies pushed changes in batches, a generation each.

:class:`JournalWriter` loops: as soon as changes wait (it looks every
:data:`~searchsvc.settings.WRITER_POLL_S`), it takes the index's write lock without waiting
(``searchsvc index`` holding it: the changes wait in the journal, the writer tries again), and
applies everything that waits, within the batch bounds, as one new generation made like an
incremental ``searchsvc index`` run's (:func:`searchsvc.ingest.indexer.write_pushed`). The steps
of a batch, each durable before the next:

1. decide each change (applied, or refused: an id the corpus folder owns) and record it;
2. publish the generation, whose metadata names the journal and its last change;
3. mark the batch applied in the journal (the pushed documents and tasks take it).

A crash between 2 and 3 is settled by :meth:`Journal.recover` at the next batch (or
``searchsvc index`` run): the live generation holds the batch, so it is marked, not written
again. A crash before 2 leaves the batch waiting, to be decided again. A failure (a full
disk) leaves the live generation as it was and the batch waiting; it is tried again later.

Each batch adds a small segment; merging them is kept off the batches' path, so that a
merge never delays a pushed document. After a batch, when ten segments of one size tier
wait (:func:`~searchsvc.index.whoosh_internals.merging.merge_candidates`), their files are linked
into ``.merging/`` and a process of its own (niced) merges them there, while batches go
on; the next batch once it is done (or a generation of its own when nothing waits) puts the
merged segment in place of its sources, deleting in it what later batches deleted from them.
A merge that fails or is cut short is dropped: its sources stay, as they were.

Under ``searchsvc serve`` it runs in a process of its own (``python -m
searchsvc.ingest.writer INDEX``), started, watched and stopped by the server's master
(:mod:`searchsvc.web.serve`); it dies with that master.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from whoosh import index as whoosh_index

from searchsvc import errors
from searchsvc.index import collector, storage
from searchsvc.index.whoosh_internals.merging import (
    MergeDone,
    index_segments,
    merge_candidates,
    merge_in,
)
from searchsvc.ingest import indexer
from searchsvc.ingest.journal import APPLIED, PUT, Journal, Waiting
from searchsvc.settings import (
    MERGE_NICENESS,
    MERGE_RETRY_S,
    WRITER_MAX_BATCH_BYTES,
    WRITER_MAX_BATCH_CHANGES,
    WRITER_POLL_S,
    WRITER_RETRY_S,
)

log = logging.getLogger("searchsvc.writer")

# Why a change to an id of the corpus folder is refused (the first origin of an id owns it).
OWNED_BY_CORPUS = "the id belongs to a document of the corpus folder; change its file instead"
# Where the writer's merging process writes, beside the generations (never one of them).
MERGING_DIR = ".merging"


@dataclass
class Batch:
    """What one batch did: changes applied and refused, the generation published."""

    applied: int = 0
    refused: int = 0
    generation: str = ""
    seconds: float = 0.0
    # Changes found already in the live generation and only marked (after a crash).
    recovered: int = 0
    # Documents a merged segment put in place of its sources by this generation holds
    # (counting those later batches deleted from it).
    merged: int = 0


class JournalWriter:
    """Applies the journal of the index in ``root`` (see the module's docstring)."""

    def __init__(self, root: str | os.PathLike, *, limitmb: int = 128, merge: bool = True):
        """``merge``: merge the small segments batches add, in a process of its own."""
        self.root = Path(root)
        self.journal = Journal(self.root)
        self.limitmb = limitmb
        self._verifier = storage.Verifier()
        self._merges = merge
        self._pool: ProcessPoolExecutor | None = None
        self._merging: Future | None = None
        self._merge_failed_at = -float("inf")

    def close(self) -> None:
        """Close the journal; a merge in progress is stopped (its sources stay)."""
        self._stop_merging()
        self.journal.close()

    # -- merges, off the batches' path ----------------------------------------------------------

    def merging(self) -> bool:
        """Whether a merge is being written."""
        return self._merging is not None

    def _start_merge(self, generation: str) -> None:
        """Start merging what :func:`merge_candidates` picks in ``generation`` (just
        published), unless a merge is in progress; with the write lock held."""
        if not self._merges or self._merging is not None:
            return
        if time.monotonic() - self._merge_failed_at < MERGE_RETRY_S:
            return
        path = self.root / generation
        with contextlib.closing(whoosh_index.open_dir(path)) as ix:
            group = merge_candidates(index_segments(ix))
            if not group:
                return
            folder = self.root / MERGING_DIR
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            for seg in group:
                prefix = seg.segment_id() + "."
                for name in os.listdir(path):
                    if name.startswith(prefix):
                        storage.link_file(path / name, folder / name)
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_merging_process,
                    initargs=(os.getpid(),),
                )
            self._merging = self._pool.submit(merge_in, str(folder), ix.indexname, ix.schema, group)

    def _finished_merge(self) -> MergeDone | None:
        """The merge written, once done (None while it runs, or when it failed: its folder
        is then removed and its sources stay)."""
        future = self._merging
        if future is None or not future.done():
            return None
        self._merging = None
        try:
            return future.result()
        except Exception as e:  # a merge is an optimisation: its failure loses nothing
            if isinstance(e, BrokenProcessPool):
                self._pool = None
            self._merge_failed(e)
            return None

    def _merge_failed(self, e: Exception) -> None:
        """Say why a merge failed, once, and try again only after :data:`MERGE_RETRY_S`."""
        reason = errors.describe_error(e) if isinstance(e, OSError) else str(e) or repr(e)
        log.warning("writer: a merge of small segments failed (%s); they stay as they are", reason)
        self._merge_failed_at = time.monotonic()
        shutil.rmtree(self.root / MERGING_DIR, ignore_errors=True)

    def _stop_merging(self) -> None:
        """Stop the merging process (its merge is lost; nothing else is)."""
        pool, self._pool, self._merging = self._pool, None, None
        if pool is None:
            return
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                process.kill()
        with contextlib.suppress(Exception):
            pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.root / MERGING_DIR, ignore_errors=True)

    def apply_once(
        self, wait: bool = False, max_changes: int = WRITER_MAX_BATCH_CHANGES
    ) -> Batch | None:
        """Apply one batch of what waits (at most ``max_changes``); None when nothing waits. Raises
        :class:`~searchsvc.errors.IndexBusyError` when ``searchsvc index`` holds the lock (and
        ``wait`` is false), :class:`~searchsvc.errors.IndexStateError` or
        :class:`~searchsvc.errors.JournalError` when the batch cannot be written: the live
        generation is then untouched and the batch still waits."""
        merge_done = self._merging is not None and self._merging.done()
        if not self.journal.waiting() and not merge_done:
            return None
        started = time.monotonic()
        with collector.deferred(), storage.write_lock(self.root, wait=wait):
            storage.refuse_newer(self.root)
            storage.collect_garbage(self.root)
            storage.discard_unpublished(self.root)
            live = storage.current(self.root)
            batch = Batch()
            batch.recovered = self.journal.recover(live.meta.get("journal"))
            waiting = self.journal.next_batch(max_changes, WRITER_MAX_BATCH_BYTES)
            merge = self._finished_merge()
            try:
                if not waiting and merge is None:
                    return batch if batch.recovered else None
                # Only a whole live generation is built on (hashing each file once per process).
                self._verifier.check(live)
                outcomes, puts, deletes, new, replaced = self._decide(live, waiting)
                if waiting:
                    self.journal.decide(outcomes)
                    mark = {"id": self.journal.id, "seq": waiting[-1].seq}
                else:  # a merge alone: the generation holds what the live one holds
                    mark = live.meta.get("journal")
                if puts or deletes or merge is not None:
                    batch.generation = indexer.write_pushed(
                        self.root,
                        live,
                        puts,
                        deletes,
                        new,
                        mark,
                        self.limitmb,
                        replaced=replaced,
                        merge=merge,
                    )
                    if merge is not None and merge.installed:
                        batch.merged = merge.merged.doc_count_all()
                else:  # nothing to write (refused, deletions of unknown ids): no generation
                    batch.generation = live.name
                if waiting:
                    self.journal.finish(mark["seq"])
            finally:
                if merge is not None:
                    shutil.rmtree(merge.folder, ignore_errors=True)
            batch.applied = sum(1 for o in outcomes.values() if o == APPLIED)
            batch.refused = len(outcomes) - batch.applied
            try:
                self._start_merge(batch.generation)
            except OSError as e:  # the batch is live; only the merge waits
                self._merge_failed(e)
        batch.seconds = time.monotonic() - started
        return batch

    def _decide(
        self, live: storage.Generation, waiting: list[Waiting]
    ) -> tuple[dict[int, str], list[indexer.Document], list[str], int, set[str]]:
        """Each change's outcome, in order (the last write to an id wins), and what the
        generation must write: the documents put, the ids deleted, how many puts are new,
        the ids of the puts that replace a live document."""
        if not waiting:
            return {}, [], [], 0, set()
        ids = {w.doc_id for w in waiting}
        pushed = self.journal.pushed_ids(ids)
        with contextlib.closing(whoosh_index.open_dir(live.path)) as ix, ix.reader() as reader:
            in_live = _live_ids(reader, ids)
        present = set(in_live)  # as the batch goes
        mine = {doc_id for doc_id in ids if doc_id in pushed}
        outcomes: dict[int, str] = {}
        last: dict[str, Waiting] = {}
        for w in waiting:
            if w.doc_id in present and w.doc_id not in mine:
                outcomes[w.seq] = OWNED_BY_CORPUS
                continue
            outcomes[w.seq] = APPLIED
            last[w.doc_id] = w
            if w.op == PUT:
                present.add(w.doc_id)
                mine.add(w.doc_id)
            else:
                present.discard(w.doc_id)
                mine.discard(w.doc_id)
        puts, deletes, new, replaced = [], [], 0, set()
        for doc_id, w in last.items():
            if w.op == PUT:
                puts.append(indexer.pushed_document(doc_id, w.fields or {}))
                if doc_id in in_live:
                    replaced.add(doc_id)
                else:
                    new += 1
            elif doc_id in in_live:
                deletes.append(doc_id)
        return outcomes, puts, deletes, new, replaced

    def run(self, stop: threading.Event) -> None:
        """Apply batches until ``stop`` is set, retrying failures later (logged once per
        kind of failure until one batch goes through)."""
        delay = 0.0
        told = None
        last_prune = 0.0
        while not stop.is_set():
            try:
                batch = self.apply_once()
            except (errors.SearchsvcError, OSError) as e:
                if isinstance(e, errors.IndexBusyError):
                    reason = "waiting for `searchsvc index`, which holds the index's write lock"
                else:
                    reason = errors.describe_error(e) if isinstance(e, OSError) else str(e)
                if reason != told:
                    log.warning("writer: pushed changes wait: %s", reason)
                    told = reason
                low, high = WRITER_RETRY_S
                delay = min(high, max(low, delay * 2))
                stop.wait(delay)
                continue
            if told is not None:
                log.info("writer: applying pushed changes again")
                told = None
            delay = 0.0
            if batch is None:
                if time.monotonic() - last_prune > 3600:
                    with contextlib.suppress(errors.JournalError):
                        self.journal.prune_tasks()
                    last_prune = time.monotonic()
                stop.wait(WRITER_POLL_S)


def _live_ids(reader, ids: set[str]) -> set[str]:
    """Which of ``ids`` a live document of ``reader`` has. Each segment's term index is asked
    first, and postings are read only for an id it has (deleted documents keep their terms):
    most pushed ids are new, and ``document_number`` read postings, a raised error and all,
    for every id in every segment."""
    found: set[str] = set()
    for leaf, _base in reader.leaf_readers():
        for doc_id in ids - found:
            if ("id", doc_id) in leaf and leaf.postings("id", doc_id).is_active():
                found.add(doc_id)
    return found


_PR_SET_PDEATHSIG = 1


def _merging_process(parent: int) -> None:
    """Set up the writer's merging process: it dies with the writer, and yields the
    processors to searches and batches (a merge is never in a hurry). Forked from the writer,
    it would inherit the writer's SIGTERM handler (stop after the batch), which a merge never
    reads: the signal its writer's death sends would be lost and the merge left running."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    _die_with_parent(parent)
    with contextlib.suppress(OSError):
        os.nice(MERGE_NICENESS)


def _die_with_parent(parent: int | None) -> None:
    """Ask Linux to SIGTERM this process when the server's master (pid ``parent``) dies, even
    by SIGKILL, so that no writer outlives the server that started it. A master that died
    before the request took effect (this process is then another's child) ends it at once."""
    if parent is None or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    """The writer process: ``python -m searchsvc.ingest.writer INDEX [PARENT_PID]``, dying with
    ``PARENT_PID`` when given; SIGTERM or SIGINT stop it after the batch in progress."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2) or not (len(args) == 1 or args[1].isdigit()):
        print("usage: python -m searchsvc.ingest.writer INDEX [PARENT_PID]", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
    )
    _die_with_parent(int(args[1]) if len(args) == 2 else None)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        writer = JournalWriter(args[0])
    except errors.SearchsvcError as e:
        log.error("writer: cannot open the journal: %s", e)
        return 1
    log.info("writer: applying the pushed changes of %s", args[0])
    try:
        writer.run(stop)
    finally:
        writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
