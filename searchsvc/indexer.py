"""Build and update the index from a corpus folder.

``reindex`` is incremental by default: documents are compared by content hash, so only new
and changed ones are written and removed ones deleted. ``full=True`` builds a fresh
generation beside the live one and switches to it atomically (see :mod:`searchsvc.storage`).

A reindex may be killed at any point: the live index stays whole (a full build is switched to
only when complete, an incremental one is a Whoosh commit), the kernel drops the write lock, and
the next run removes what the dead one left. The helper processes of a multi-process build die
with the process that started them, so none is left holding files or the lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from whoosh import index as whoosh_index

from searchsvc import storage
from searchsvc.corpus import Document, Skipped, read_corpus
from searchsvc.schema import build_schema

# Memory Whoosh may use to buffer postings before flushing a segment, per writer.
DEFAULT_LIMIT_MB = 256


@dataclass
class IndexReport:
    """What a reindex did: counts, skipped files, time and the generation now live."""

    full: bool
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    generation: str = ""
    documents: int = 0

    def summary(self) -> str:
        """One line for people: counts and time."""
        kind = "full" if self.full else "incremental"
        return (
            f"{kind} reindex: {self.added} added, {self.updated} updated, "
            f"{self.deleted} deleted, {self.unchanged} unchanged, {len(self.skipped)} skipped "
            f"— {self.documents} documents in {self.generation}, {self.seconds:.2f} s"
        )


Progress = Callable[[int], None]


def _fields(doc: Document) -> dict:
    """The Whoosh fields of a document (analysis happens in the fields, see ``schema``)."""
    return {
        "id": doc.id,
        "hash": doc.content_hash,
        "path": doc.path,
        "title": doc.title,
        "body": doc.body,
        "variants": (doc.title, doc.body),
        "url": doc.url,
        "date": doc.date,
        "source": doc.source,
    }


def _without_none(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if v is not None}


def reindex(
    corpus: str | os.PathLike,
    index_dir: str | os.PathLike,
    *,
    full: bool = False,
    on_skip: Callable[[Skipped], None] | None = None,
    progress: Progress | None = None,
    wait: bool = True,
    limitmb: int = DEFAULT_LIMIT_MB,
    procs: int | None = None,
    on_wait: Callable[[], None] | None = None,
) -> IndexReport:
    """Bring the index in ``index_dir`` up to date with the documents in ``corpus``.

    ``procs`` worker processes analyse and write a full build (default: one per core);
    ``limitmb`` bounds the memory each one buffers before flushing, so memory stays flat
    however large the corpus. ``on_wait`` is called once if another reindex holds the index
    and this one waits for it.
    """
    corpus, root = Path(corpus), Path(index_dir)
    if not corpus.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {corpus}")
    started = time.monotonic()
    with storage.write_lock(root, wait=wait, on_wait=on_wait):
        storage.collect_garbage(root)
        storage.discard_unpublished(root)
        if not full:
            try:
                generation = storage.current(root)
            except (storage.NoIndexError, storage.IndexVersionError):
                # Nothing to update, or an index another version wrote: build it anew (the
                # old generation stays live until the new one is complete).
                full = True
        report = IndexReport(full=full)

        def skipped(problem: Skipped) -> None:
            report.skipped.append(problem)
            if on_skip:
                on_skip(problem)

        docs = _counted(read_corpus(corpus, on_skip=skipped), progress)
        if full:
            _build(root, docs, report, limitmb, procs or _default_procs(corpus))
        else:
            _update(generation, docs, report, limitmb)
        storage.collect_garbage(root)
    report.seconds = time.monotonic() - started
    return report


# Below this much text, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024


def _default_procs(corpus: Path) -> int:
    """One writer process per core for a large corpus, a single one for a small corpus."""
    total = 0
    for folder, _dirs, files in os.walk(corpus):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(folder, name)).st_size
        if total >= PARALLEL_MIN_BYTES:
            return os.cpu_count() or 1
    return 1


# Helper processes of a multi-process build ask the kernel to kill them when the process that
# forked them dies (Linux's PR_SET_PDEATHSIG): Whoosh's helpers otherwise wait on their job queue
# for ever once their parent is gone, each holding open files of a build that will never end.
_PR_SET_PDEATHSIG = 1
_builds = 0  # full builds running in this process
_builds_lock = threading.Lock()
_forking_pid = 0


def _note_fork_parent() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def _die_with_parent() -> None:
    global _builds
    if not _builds:
        return
    _builds = 0  # the helper itself builds nothing
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != _forking_pid:  # the parent died before the request took effect
        os._exit(1)


if sys.platform.startswith("linux"):
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up now, not in a forked child
    os.register_at_fork(before=_note_fork_parent, after_in_child=_die_with_parent)


@contextlib.contextmanager
def _helpers_die_with_this_process() -> Iterator[None]:
    global _builds
    with _builds_lock:
        _builds += 1
    try:
        yield
    finally:
        with _builds_lock:
            _builds -= 1


def _cancel(writer) -> None:
    """Cancel a writer; for a multi-process one, stop its helpers first.

    ``MpWriter.cancel`` only flags the helpers in this process, so they would go on waiting
    for work (and a process waits for its helpers before it exits).
    """
    for task in getattr(writer, "tasks", ()):
        if task.is_alive():
            task.terminate()
        task.join(timeout=10)
    writer.cancel()


def _writer(ix: whoosh_index.Index, limitmb: int, procs: int = 1):
    """A writer that leaves each segment as separate files (``compound=False``).

    Whoosh reads a compound segment file through a ``BytesIO`` copy of each part, so every
    searching process kept a private copy of the postings, term and column files (174 MB
    of the bench index); separate files are read in place. With several processes, each
    writes its own segment and they are kept as they are (``multisegment``), since merging
    them would cost a second pass.
    """
    if procs > 1:
        return ix.writer(
            procs=procs, limitmb=max(32, limitmb // procs), multisegment=True, compound=False
        )
    return ix.writer(limitmb=limitmb, compound=False)


def _counted(docs: Iterable[Document], progress: Progress | None) -> Iterable[Document]:
    for n, doc in enumerate(docs, 1):
        yield doc
        if progress:
            progress(n)


def _build(
    root: Path, docs: Iterable[Document], report: IndexReport, limitmb: int, procs: int
) -> None:
    name, tmp = storage.new_generation(root)
    try:
        ix = whoosh_index.create_in(tmp, build_schema())
        try:
            with _helpers_die_with_this_process():
                writer = _writer(ix, limitmb, procs)
                try:
                    for doc in docs:
                        writer.add_document(**_without_none(_fields(doc)))
                        report.added += 1
                    writer.commit()
                except BaseException:
                    _cancel(writer)
                    raise
        finally:
            ix.close()
        report.documents = report.added
        storage.write_meta(tmp, documents=report.documents, built=_now(), updated=_now())
        storage.publish(root, name, tmp)
    except BaseException:
        # The live generation is untouched; the partial one is removed now or by the next run.

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report.generation = name


def _update(
    generation: storage.Generation, docs: Iterable[Document], report: IndexReport, limitmb: int
) -> None:
    ix = whoosh_index.open_dir(generation.path)
    # The writer is opened at the first change only: opening one creates segment files that
    # a cancel leaves behind, and a run that changes nothing must write nothing.
    writer = None
    try:
        known, paths = _indexed_hashes(ix)
        try:
            seen: set[str] = set()
            for doc in docs:
                seen.add(doc.id)
                old = known.get(doc.id)
                if old == doc.content_hash:
                    report.unchanged += 1
                    continue
                fields = _without_none(_fields(doc))
                if writer is None:
                    writer = _writer(ix, limitmb)
                if old is None:
                    writer.add_document(**fields)
                    report.added += 1
                else:
                    writer.update_document(**fields)
                    report.updated += 1
            # A file that could not be read this time keeps its documents: a broken or
            # momentarily unreadable file (or folder) must not empty the index of what it held.
            kept_paths = {s.path for s in report.skipped}
            for doc_id in known.keys() - seen:
                if not _was_skipped(paths.get(doc_id) or "", kept_paths):
                    if writer is None:
                        writer = _writer(ix, limitmb)
                    writer.delete_by_term("id", doc_id)
                    report.deleted += 1
            if writer is not None:
                writer.commit()
        except BaseException:
            if writer is not None:
                _cancel(writer)
            raise
        report.documents = len(known) + report.added - report.deleted
    finally:
        ix.close()
    report.generation = generation.name
    if writer is None:
        return
    storage.write_meta(
        generation.path,
        documents=report.documents,
        built=generation.meta.get("built"),
        updated=_now(),
    )


def _was_skipped(path: str, skipped: set[str]) -> bool:
    """Whether the file at ``path``, or a folder holding it ("." is the corpus), was skipped."""
    return path in skipped or any(str(p) in skipped for p in PurePosixPath(path).parents)


def _indexed_hashes(ix: whoosh_index.Index) -> tuple[dict[str, str], dict[str, str]]:
    """Map every live document id to its content hash and its source path.

    Reads the sortable columns, not the stored documents, so bodies are never loaded.
    """
    with ix.reader() as reader:
        ids = reader.column_reader("id")
        hashes = reader.column_reader("hash")
        paths = reader.column_reader("path")
        by_id, by_path = {}, {}
        for docnum in reader.all_doc_ids():
            doc_id = ids[docnum]
            by_id[doc_id] = hashes[docnum]
            by_path[doc_id] = paths[docnum]
    return by_id, by_path


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
