"""Build and update the index from a corpus folder.

``reindex`` is incremental by default: documents are compared by content hash, so only new
and changed ones are written and removed ones deleted. ``full=True`` builds every file anew.
Either way the result is a new generation, published only once complete and counted (see
:mod:`searchsvc.index.storage`): the live one is never written to.

A reindex may fail or be killed at any point: the live index stays whole, the kernel drops
the write lock, and the next run removes what the dead one left. Failures end in bounded
time as :class:`~searchsvc.errors.IndexStateError` subclasses with one line for people:
a full disk or a helper process that died is an ``IndexWriteError``. The helper processes of
a multi-process build die with the process that started them, so none is left holding files
or the lock. A damaged live index is noticed (its files are checked against their SHA-256)
and rebuilt in full.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import itertools
import os
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from whoosh import index as whoosh_index

from searchsvc import errors
from searchsvc.index import storage
from searchsvc.index.schema import build_schema, document_fields
from searchsvc.index.whoosh_internals.abandoning import abandon
from searchsvc.index.whoosh_internals.merging import MergeDone, keep_segments
from searchsvc.index.whoosh_internals.multiprocess import CheckedMpWriter, HelperFailed
from searchsvc.index.whoosh_internals.reading import text_column
from searchsvc.index.whoosh_internals.updates import UpdateWriter
from searchsvc.index.whoosh_internals.writing import SegmentBuilder
from searchsvc.ingest import journal as journal_mod
from searchsvc.ingest.corpus.documents import Document, SkipKind, Skipped
from searchsvc.ingest.corpus.text import first_sentence, normalize_text
from searchsvc.ingest.corpus.walk import corpus_bytes, read_corpus
from searchsvc.settings import (
    DEFAULT_LIMIT_MB,
    MAX_DELETED_SHARE,
    MIN_GUARDED_DELETIONS,
    PARALLEL_MIN_BYTES,
)


@dataclass
class IndexReport:
    """What a reindex did: counts, skipped files, time and the generation now live.

    ``skipped`` holds what counts as skipped (:attr:`Skipped.counted`: unreadable sources,
    links out of the corpus); ``hidden`` the hidden files and folders left out, ``dropped``
    the values dropped from indexed documents (a url that is not http or https, a date that
    is none, the end of a file read in part): both told,
    neither a failure.
    """

    full: bool
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    hidden: list[Skipped] = field(default_factory=list)
    dropped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    generation: str = ""
    # Documents the published generation holds, counted in it after writing.
    documents: int = 0
    # Why a full build was made when an incremental one was asked for, if it was.
    rebuilt_because: str | None = None

    def summary(self) -> str:
        """One line for people: counts and time."""
        kind = "full" if self.full else "incremental"
        told = f", {len(self.hidden):,} hidden ignored" if self.hidden else ""
        counts = Counter(problem.summary_words for problem in self.dropped)
        for (one, several), n in counts.items():  # "1 url dropped", "2 dates dropped"…
            told += f", {n:,} {one if n == 1 else several}"
        return (
            f"{kind} reindex: {self.added:,} added, {self.updated:,} updated, "
            f"{self.deleted:,} deleted, {self.unchanged:,} unchanged, "
            f"{len(self.skipped):,} skipped{told} — {self.documents:,} documents in "
            f"{self.generation or 'the live index'}, {self.seconds:.2f} s"
        )


@dataclass(frozen=True)
class Progress:
    """Where a reindex is, for a progress display: its phase, the documents read so far,
    and the corpus bytes read out of the total (counted before reading starts)."""

    phase: str  # "reading" (documents read, analysed and written), then "writing"
    documents: int
    done: int
    total: int


ProgressHandler = Callable[[Progress], None]


def _fields(doc: Document) -> dict:
    """The Whoosh fields of a document; its texts are analysed once, by the fields that index
    them (see :func:`~searchsvc.index.schema.document_fields`)."""
    return {
        "id": doc.id,
        "hash": doc.content_hash,
        "path": doc.path,
        **document_fields(doc.title, doc.body),
        "url": doc.url,
        "date": doc.date,
        "source": doc.source,
    }


def _without_none(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if v is not None}


# The ``path`` of a document pushed over HTTP: it has no file (a corpus path is never empty).
PUSHED_PATH = ""


def pushed_document(doc_id: str, fields: dict) -> Document:
    """The document a push holds (fields checked by ``ingest/pushed.py``): as a JSON Lines
    line would give it, its title the body's first sentence when it has none."""
    body = normalize_text(fields.get("body") or "")
    title = normalize_text(fields.get("title") or "") or first_sentence(body)
    return Document(
        id=doc_id,
        title=title,
        body=body,
        path=PUSHED_PATH,
        url=fields.get("url") or None,
        date=fields.get("date") or None,
        source=fields.get("source") or None,
    )


@dataclass
class _Pushed:
    """The pushed documents as ``searchsvc index`` sees them, with its write lock held: their
    ids (owned by the journal, so a corpus file of the same id is skipped and reported, and an
    incremental run never deletes them), the journal they come from, and its mark for the
    generation's metadata (the last change it holds)."""

    ids: set[str] = field(default_factory=set)
    journal: journal_mod.Journal | None = None
    mark: dict | None = None

    def documents(self) -> Iterator[Document]:
        if self.journal is not None:
            for doc_id, fields in self.journal.pushed_documents():
                yield pushed_document(doc_id, fields)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()


def _open_pushed(root: Path) -> _Pushed:
    """The pushed documents of the index in ``root`` (none when nothing was ever pushed),
    after settling a batch the writer left between publishing and marking it applied."""
    if not journal_mod.exists(root):
        return _Pushed()
    journal = journal_mod.Journal(root)
    live = storage.current_name(root)
    journal.recover(storage.read_meta(root / live).get("journal") if live else None)
    return _Pushed(journal.pushed_ids(), journal, journal.mark())


def _owned_by_push(doc: Document) -> Skipped:
    return Skipped(
        doc.path,
        f"its id {doc.id!r} belongs to a document pushed over HTTP (delete that one first)",
        kind=SkipKind.REFUSED,
    )


def reindex(
    corpus: str | os.PathLike,
    index_dir: str | os.PathLike,
    *,
    full: bool = False,
    on_skip: Callable[[Skipped], None] | None = None,
    progress: ProgressHandler | None = None,
    wait: bool = True,
    limitmb: int = DEFAULT_LIMIT_MB,
    procs: int | None = None,
    on_wait: Callable[[], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
    allow_deletions: bool = False,
    follow_outside_links: bool = False,
) -> IndexReport:
    """Bring the index in ``index_dir`` up to date with the documents in ``corpus`` (a folder,
    or a single file of a kind the corpus may hold).

    ``progress`` is called after each document read and once when writing begins;
    ``procs`` worker processes analyse and write a full build (default: one per core);
    ``limitmb`` bounds the memory each one buffers before flushing, so memory stays flat
    however large the corpus. ``on_wait`` is called once if another reindex holds the index
    and this one waits for it; ``on_notice`` gets a sentence when the live index cannot be
    updated (damaged, an older format) and is rebuilt in full instead. An index written by a
    newer searchsvc is left untouched: :class:`~searchsvc.errors.IndexTooNewError`, even
    with ``full``.

    A run, full or incremental, that would delete more of the live index's documents than
    :func:`deletes_too_many` allows stops before anything is published or deleted
    (:class:`~searchsvc.errors.TooManyDeletionsError`) unless ``allow_deletions``: a
    mistyped corpus path must not empty the index. ``follow_outside_links`` reads files
    and folders that links in the corpus lead to outside it (else reported and skipped).
    """
    corpus, root = Path(corpus), Path(index_dir)
    # FileNotFoundError, ValueError: no corpus to read
    total = corpus_bytes(corpus, follow_outside_links=follow_outside_links)
    started = time.monotonic()
    try:
        with (
            storage.write_lock(root, wait=wait, on_wait=on_wait),
            contextlib.ExitStack() as stack,
        ):
            # A newer searchsvc's index is refused before anything is deleted or rebuilt.
            storage.refuse_newer(root)
            storage.collect_garbage(root)
            storage.discard_unpublished(root)
            live, why = (None, None) if full else _updatable(root)
            report = IndexReport(full=live is None, rebuilt_because=why)
            pushed = stack.enter_context(contextlib.closing(_open_pushed(root)))
            if why and on_notice:
                on_notice(why)

            def skipped(problem: Skipped) -> None:
                if problem.kind is SkipKind.HIDDEN:
                    report.hidden.append(problem)
                elif problem.kind is SkipKind.DROPPED:
                    report.dropped.append(problem)
                else:
                    report.skipped.append(problem)
                if on_skip:
                    on_skip(problem)

            meter = _Meter(total, progress)

            def read(known: dict[str, str] | None = None) -> Iterator[Document]:
                docs = read_corpus(
                    corpus,
                    on_skip=skipped,
                    on_read=meter.read,
                    known=known,
                    follow_outside_links=follow_outside_links,
                )
                return meter.count(_without_pushed(docs, pushed.ids, skipped))

            if live is None:
                procs = procs or _default_procs(total)
                # A full build replaces the live index as surely as deletions do: it is
                # guarded alike when there is a whole live index to compare it with.
                before = _live_ids(root) if full else None
                docs = itertools.chain(read(), pushed.documents())
                _build(
                    root, docs, report, limitmb, procs, meter, before, allow_deletions, pushed.mark
                )
            else:
                _update(root, live, read, report, limitmb, meter, allow_deletions, pushed)
            storage.collect_garbage(root)
            if live is not None and report.generation not in ("", live.name):
                # Its files linked from the generations just removed lost a link (and so
                # moved their change time) since its verification record was written.
                storage.restamp_record(root, report.generation)
    except (OSError, HelperFailed) as e:
        raise errors.IndexWriteError(_failure(root, e)) from e
    report.seconds = time.monotonic() - started
    return report


def _without_pushed(
    docs: Iterable[Document], pushed: set[str], skipped: Callable[[Skipped], None]
) -> Iterator[Document]:
    """The corpus's documents but those whose id a push owns (each reported): the first
    origin of an id keeps it."""
    for doc in docs:
        if doc.id in pushed:
            skipped(_owned_by_push(doc))
        else:
            yield doc


def _failure(root: Path, e: OSError | HelperFailed) -> str:
    """The one line that says why a reindex failed and what to do."""
    helper = isinstance(e, HelperFailed)
    reason = str(e) if helper else errors.describe_error(e)
    where = " in a helper process" if helper else ""
    full = reason.startswith(os.strerror(errno.ENOSPC))
    hint = " (free some space, then run it again)" if full else ""
    return f"indexing into {root} failed{where}: {reason}; the live index is unchanged{hint}"


def _updatable(root: Path) -> tuple[storage.Generation | None, str | None]:
    """The live generation if an incremental update can start from it, else why not.

    No index yet is no reason worth telling; an older format or a damaged file is. (A newer
    format never gets here: ``reindex`` refuses it first.)
    """
    try:
        live = storage.current(root)
        storage.Verifier().check(live, fresh=True)
    except errors.NoIndexError:
        return None, None
    except errors.IndexStateError as e:  # damaged, or another format
        return None, f"{e} — rebuilding it in full"
    return live, None


def _live_ids(root: Path) -> set[str] | None:
    """The ids of the live index's documents, or None when there is no whole live index of
    this format to compare a full build with (none yet, damaged, another format: it is
    rebuilt whatever the corpus holds, since it cannot be served as it is)."""
    live, _why = _updatable(root)
    if live is None:
        return None
    with contextlib.closing(whoosh_index.open_dir(live.path)) as live_ix:
        known, _paths = _indexed_hashes(live_ix)
    return set(known)


def deletes_too_many(deleting: int, documents: int) -> bool:
    """Whether deleting ``deleting`` of the live index's ``documents`` needs confirming: more
    than :data:`~searchsvc.settings.MAX_DELETED_SHARE` of them, and at least
    :data:`~searchsvc.settings.MIN_GUARDED_DELETIONS`."""
    return deleting >= MIN_GUARDED_DELETIONS and deleting > MAX_DELETED_SHARE * documents


def _check_deletions(deleting: int, documents: int, allowed: bool) -> None:
    """Stop the run (nothing published, nothing deleted) when it deletes too many documents
    without being allowed to."""
    if allowed or not deletes_too_many(deleting, documents):
        return
    raise errors.TooManyDeletionsError(
        f"this run would delete {deleting:,} of the {documents:,} documents in the index "
        f"(more than {MAX_DELETED_SHARE:.0%}), so it stopped: the live index is unchanged. "
        "Check that the corpus is the right one",
        deleting=deleting,
        documents=documents,
    )


@dataclass
class CheckReport:
    """What ``check_index`` found: the live generation, its files and what is wrong."""

    generation: str
    files: int = 0
    bytes: int = 0
    documents: int = 0
    problems: list[storage.Problem] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people."""
        n = len(self.problems)
        state = f"DAMAGED ({n} problem{'s' if n > 1 else ''})" if n else "ok"
        return (
            f"{state}: {self.generation}, {self.files} files ({self.bytes / 1e6:,.1f} MB) "
            f"checked against their SHA-256, {self.documents:,} documents"
        )


def check_index(index_dir: str | os.PathLike) -> CheckReport:
    """Verify the live generation: every file against its SHA-256, no file unaccounted for,
    and the document count Whoosh reads against the one recorded.

    Raises :class:`~searchsvc.errors.IndexStateError` when there is no live generation to
    check (none built, a damaged pointer or metadata, another format).
    """
    live = storage.current(Path(index_dir))
    files = live.meta["files"]
    report = CheckReport(live.name, files=len(files), documents=live.meta.get("documents", 0))
    report.bytes = sum(int(f.get("size") or 0) for f in files.values())
    report.problems = storage.Verifier().problems(live, fresh=True)
    for extra in storage.unlisted_files(live):
        report.problems.append(storage.Problem(extra, "not part of the index (unlisted file)"))
    if not report.problems:
        try:
            with contextlib.closing(whoosh_index.open_dir(live.path)) as ix:
                counted = ix.doc_count()
        except Exception as e:
            report.problems.append(storage.Problem("(index)", f"Whoosh cannot open it: {e}"))
        else:
            if counted != report.documents:
                report.problems.append(
                    storage.Problem(
                        storage.META, f"records {report.documents:,} documents, holds {counted:,}"
                    )
                )
    return report


def _default_procs(corpus_size: int) -> int:
    """One writer process per core for a large corpus, a single one for a small corpus."""
    return (os.cpu_count() or 1) if corpus_size >= PARALLEL_MIN_BYTES else 1


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


_prctl = None


def _install_fork_hooks() -> None:
    """Have every child this process forks from now on ask to die with it (on Linux); done at
    the first build rather than at import, so that importing the indexer changes nothing."""
    global _prctl
    if _prctl is not None or not sys.platform.startswith("linux"):
        return
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up now, not in a forked child
    os.register_at_fork(before=_note_fork_parent, after_in_child=_die_with_parent)


@contextlib.contextmanager
def _helpers_die_with_this_process() -> Iterator[None]:
    global _builds
    with _builds_lock:
        _install_fork_hooks()
        _builds += 1
    try:
        yield
    finally:
        with _builds_lock:
            _builds -= 1


def _builder(ix: whoosh_index.Index, limitmb: int, procs: int):
    """The writer of a full build: :class:`SegmentBuilder` in this process, or in each of
    ``procs`` helper processes, each writing segments of its own that are kept as they are
    (merging them would cost a second pass).

    Every writer leaves segments as separate files (``compound=False``): Whoosh reads a
    compound segment file through a ``BytesIO`` copy of each part, so every searching
    process kept a private copy of the postings, term and column files (most of the index:
    see bench/RESULTS.md); separate files are read in place.
    """
    if procs > 1:
        return CheckedMpWriter(ix, procs=procs, limitmb=max(32, limitmb // procs), compound=False)
    return SegmentBuilder(ix, limitmb)


class _Meter:
    """Counts documents and corpus bytes read, and tells a progress handler."""

    def __init__(self, total: int, handler: ProgressHandler | None):
        self.total, self.handler = total, handler
        self.documents = self.done = 0

    def read(self, nbytes: int) -> None:
        self.done += nbytes

    def count(self, docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            yield doc
            self.documents += 1
            self.tell("reading")

    def tell(self, phase: str) -> None:
        if self.handler:
            self.handler(Progress(phase, self.documents, self.done, self.total))


def _build(
    root: Path,
    docs: Iterable[Document],
    report: IndexReport,
    limitmb: int,
    procs: int,
    meter: _Meter,
    before: set[str] | None = None,
    allow_deletions: bool = False,
    journal_mark: dict | None = None,
) -> None:
    """Write every document into a new generation and publish it. ``before`` holds the ids
    of the live index it replaces, if any: those it no longer holds are counted as deleted,
    and too many of them stop the build before its segments are committed."""
    name, tmp = storage.new_generation(root)
    try:
        ix = whoosh_index.create_in(tmp, build_schema())
        try:
            with _helpers_die_with_this_process():
                writer = _builder(ix, limitmb, procs)
                try:
                    written: set[str] = set()
                    for doc in docs:
                        writer.add_document(**_without_none(_fields(doc)))
                        report.added += 1
                        if before is not None:
                            written.add(doc.id)
                    if before is not None:
                        report.deleted = len(before - written)
                        _check_deletions(report.deleted, len(before), allow_deletions)
                    meter.tell("writing")
                    writer.commit()
                except BaseException:
                    abandon(writer)
                    raise
        finally:
            ix.close()
        report.documents = _publish(
            root, name, tmp, report.added, built=_now(), journal_mark=journal_mark
        )
    except BaseException:
        # The live generation is untouched; the partial one is removed now or by the next run.
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report.generation = name


def _update(
    root: Path,
    live: storage.Generation,
    read: Callable[[dict[str, str]], Iterator[Document]],
    report: IndexReport,
    limitmb: int,
    meter: _Meter,
    allow_deletions: bool = False,
    pushed: _Pushed | None = None,
) -> None:
    """Write the changes as a new generation that starts from links to the live one's files.

    ``read(known)`` gives the corpus's documents, those whose source digest is in ``known``
    unread (see :func:`searchsvc.ingest.corpus.walk.read_corpus`). The new generation is made at the
    first change only: a run that changes nothing writes nothing and publishes nothing.
    """
    pushed = pushed or _Pushed()
    with contextlib.closing(whoosh_index.open_dir(live.path)) as live_ix:
        known, paths = _indexed_hashes(live_ix)
    # Pushed documents are the journal's: never compared with the corpus, never deleted here.
    docs = read({digest: doc_id for doc_id, digest in known.items() if doc_id not in pushed.ids})
    name = tmp = ix = writer = None
    try:

        def open_writer():
            nonlocal name, tmp, ix, writer
            name, tmp = storage.new_generation(root)
            storage.link_generation(live, tmp)
            ix = whoosh_index.open_dir(tmp)
            writer = UpdateWriter(ix, limitmb)
            return writer

        seen: set[str] = set()
        for doc in docs:
            seen.add(doc.id)
            old = known.get(doc.id)
            if old == doc.content_hash:
                report.unchanged += 1
                continue
            fields = _without_none(_fields(doc))
            if old is None:
                (writer or open_writer()).add_document(**fields)
                report.added += 1
            else:
                (writer or open_writer()).update_document(**fields)
                report.updated += 1
        # A file that could not be read this time keeps its documents: a broken or
        # momentarily unreadable file (or folder) must not empty the index of what it held.
        # One left out by rule (a link out of the corpus) does not.
        kept_paths = {s.path for s in report.skipped if s.keeps_indexed}
        gone = sorted(
            doc_id
            for doc_id in known.keys() - seen - pushed.ids
            if not _was_skipped(paths.get(doc_id) or "", kept_paths)
        )
        # Before any deletion and before the commit writes the new segment: the generation
        # begun for the changes is then removed unpublished.
        _check_deletions(len(gone), len(known), allow_deletions)
        for doc_id in gone:
            (writer or open_writer()).delete_by_term("id", doc_id)
            report.deleted += 1
        expected = len(known) + report.added - report.deleted
        if writer is None:
            report.documents, report.generation = expected, live.name
            return
        meter.tell("writing")
        writer.commit()
        ix.close()
        report.documents = _publish(
            root,
            name,
            tmp,
            expected,
            built=live.meta.get("built"),
            linked_from=live,
            journal_mark=pushed.mark,
        )
        report.generation = name
    except BaseException:
        _discard(writer, ix, tmp if report.generation != name else None)
        raise


def write_pushed(
    root: Path,
    live: storage.Generation,
    puts: list[Document],
    deletes: list[str],
    new: int,
    journal_mark: dict,
    limitmb: int = DEFAULT_LIMIT_MB,
    *,
    replaced: set[str] | None = None,
    merge: MergeDone | None = None,
) -> str:
    """Publish the live generation plus a batch of pushed changes as a new generation, as an
    incremental run does (links to the live files, one new segment, the manifest hashing only
    the new files), recording ``journal_mark``; return its name. With the write lock held.

    ``puts`` replace the documents of their ids (``new`` of them are not in ``live``; when
    ``replaced`` names those that are, the others are added without looking for them);
    ``deletes`` are ids in ``live``. Nothing is merged but ``merge``, a merge written beside
    the index meanwhile, put in place of its segments (the writer merges off its batches'
    path). Whatever fails, the live generation stays as it was.
    """
    name, tmp = storage.new_generation(root)
    ix = writer = None
    published = False
    try:
        storage.link_generation(live, tmp)
        if merge is not None and merge.merged is not None:
            for file in merge.files():
                storage.link_file(Path(merge.folder) / file, tmp / file)
        ix = whoosh_index.open_dir(tmp)
        writer = UpdateWriter(ix, limitmb, merge=merge.policy if merge else keep_segments)
        for doc_id in deletes:
            writer.delete_by_term("id", doc_id)
        for doc in puts:
            if replaced is None or doc.id in replaced:
                writer.update_document(**_without_none(_fields(doc)))
            else:
                writer.add_document(**_without_none(_fields(doc)))
        writer.commit()
        ix.close()
        expected = int(live.meta.get("documents", 0)) + new - len(deletes)
        _publish(
            root,
            name,
            tmp,
            expected,
            built=live.meta.get("built"),
            linked_from=live,
            journal_mark=journal_mark,
        )
        published = True
    except (OSError, HelperFailed) as e:
        raise errors.IndexWriteError(_failure(root, e)) from e
    finally:
        if not published:
            _discard(writer, ix, tmp)
    storage.collect_garbage(root)
    storage.restamp_record(root, name)
    return name


def _discard(writer, ix, tmp: Path | None) -> None:
    """Give up a generation being written: its writer abandoned, its index closed, its folder
    (when given) removed; the live generation is untouched."""
    if writer is not None and not writer.is_closed:
        abandon(writer)
    if ix is not None:
        with contextlib.suppress(Exception):
            ix.close()
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(
    root: Path,
    name: str,
    tmp: Path,
    expected: int,
    built: str | None,
    linked_from: storage.Generation | None = None,
    journal_mark: dict | None = None,
) -> int:
    """Count the documents the written generation holds, record its metadata and manifest,
    and make it the live one; return the count.

    The count is the last guard against losing documents in silence: whatever went wrong on
    the way, a generation that holds fewer (or more) documents than were written is never
    published.
    """
    with contextlib.closing(whoosh_index.open_dir(tmp)) as ix:
        written = ix.doc_count()
    if written != expected:
        raise errors.IndexWriteError(
            f"the new index holds {written:,} documents where {expected:,} were written; "
            "it was not published and the live index is unchanged"
        )
    # The verification record too: the workers that open it trust the hashing done here. The
    # journal's mark says which pushed changes it holds (see searchsvc.ingest.journal).
    extra = {"journal": journal_mark} if journal_mark else {}
    storage.write_meta(
        tmp,
        linked_from=linked_from,
        record_as=name,
        documents=written,
        built=built,
        updated=_now(),
        **extra,
    )
    storage.publish(root, name, tmp)
    return written


def _was_skipped(path: str, skipped: set[str]) -> bool:
    """Whether the file at ``path``, or a folder holding it ("." is the corpus), was skipped."""
    return path in skipped or any(str(p) in skipped for p in PurePosixPath(path).parents)


def _indexed_hashes(ix: whoosh_index.Index) -> tuple[dict[str, str], dict[str, str]]:
    """Map every live document id to its content hash and its source path.

    Reads the sortable columns, not the stored documents, so bodies are never loaded.
    """
    with ix.reader() as reader:
        ids = dict(text_column(reader, "id"))
        hashes = dict(text_column(reader, "hash"))
        paths = dict(text_column(reader, "path"))
    by_id = {doc_id: hashes[docnum] for docnum, doc_id in ids.items()}
    by_path = {doc_id: paths[docnum] for docnum, doc_id in ids.items()}
    return by_id, by_path


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
