"""Where searchsvc reaches into Whoosh's private internals, checked against the pinned version.

Whoosh's multi-process writer (``whoosh.multiproc.MpWriter``) loses work in silence: a helper
process that dies (a full disk, a document it cannot encode) leaves its documents out of the
index while the commit succeeds, and when both helpers are dead the parent waits for ever to
hand them more work. :class:`CheckedMpWriter` keeps Whoosh's division of labour (helpers write
their own segments, the parent writes the table of contents) but every wait is bounded by the
helpers' liveness and every helper must report success, or the commit raises
:class:`HelperFailed` with the helper's own reason.

This module imports only on the Whoosh version it was written against, so an upgrade fails at
start-up, not while writing an index.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import queue

import whoosh
from whoosh.compat import pickle
from whoosh.multiproc import MpWriter, SubWriterTask
from whoosh.util import random_name
from whoosh.writing import SegmentWriter

from searchsvc.storage import describe_error

PINNED_WHOOSH = (2, 7, 5)
if tuple(whoosh.__version__[:3]) != PINNED_WHOOSH:  # pragma: no cover - guards upgrades
    raise ImportError(
        f"searchsvc needs Whoosh {'.'.join(map(str, PINNED_WHOOSH))} (whoosh-reloaded), found "
        f"{whoosh.versionstring()}: its private internals are used in searchsvc.whoosh_internals"
    )

# How often a waiting parent looks whether its helpers are still alive.
POLL_S = 0.5
# After a helper has exited, how long its last message may take to arrive.
GRACE_S = 5.0


class HelperFailed(Exception):
    """A helper process of a multi-process build failed; the message says why."""


class _CheckedTask(SubWriterTask):
    """A helper that always reports: ``("ok", pid, segment)`` or ``("failed", pid, reason)``."""

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # anything at all: the parent must hear of it
            # No traceback on the user's terminal: the parent says in one line what went wrong.
            with contextlib.suppress(BaseException):
                self.resultqueue.put(("failed", os.getpid(), describe_error(exc)))
                self.resultqueue.close()
                self.resultqueue.join_thread()
            os._exit(1)

    def _run(self) -> None:
        ix = self.storage.open_index(self.indexname)
        # _lk=False: the parent holds the index's lock for the whole build.
        writer = self.writer = SegmentWriter(ix, _lk=False, **self.kwargs)
        while True:
            job = self.jobqueue.get()
            if job is None:
                break
            self._process_file(*job)
        segment = writer._finalize_segment()
        self.resultqueue.put(("ok", os.getpid(), segment))


class CheckedMpWriter(MpWriter):
    """Whoosh's multi-segment, multi-process writer with failures that cannot pass unseen.

    Each helper writes one segment of its own, kept as it is (no merge pass). Handing out
    work and waiting for results both watch the helpers: one that exits without reporting
    success ends the build with :class:`HelperFailed`.
    """

    def __init__(self, ix, procs: int, **kwargs):
        super().__init__(ix, procs=procs, multisegment=True, **kwargs)
        # What each helper reported, by pid: ("ok", segment) or ("failed", reason).
        self._reported: dict[int, tuple[str, object]] = {}

    def _new_task(self):
        task = _CheckedTask(
            self.storage,
            self.indexname,
            self.jobqueue,
            self.resultqueue,
            self.subargs,
            True,
        )
        self.tasks.append(task)
        task.start()
        return task

    def _enqueue(self) -> None:
        # Whoosh's own, but the job goes on the queue through _put, which watches the helpers.
        filename = f"{random_name()}.doclist"
        with self.temp_storage().create_file(filename).raw_file() as f:
            for item in self.docbuffer:
                pickle.dump(item, f, 2)
        if len(self.tasks) < self.procs:
            self._new_task()
        self._put((filename, len(self.docbuffer)))
        self.docbuffer = []

    def _put(self, job) -> None:
        """Queue a job, waiting for room only while every helper is alive."""
        while True:
            try:
                self.jobqueue.put(job, timeout=POLL_S)
                return
            except queue.Full:
                self._raise_if_a_helper_died()

    def _raise_if_a_helper_died(self) -> None:
        """Raise :class:`HelperFailed` when a helper exited without reporting success."""
        for task in self.tasks:
            if task.exitcode is None:
                continue
            reason = self._last_word(task)
            if reason is not None:
                raise HelperFailed(reason)

    def _last_word(self, task) -> str | None:
        """The failure of a helper that has exited, from its message or its exit code."""
        try:
            while task.pid not in self._reported:
                status, pid, payload = self.resultqueue.get(timeout=GRACE_S)
                self._reported[pid] = (status, payload)
        except queue.Empty:
            return f"a helper process stopped without a word (exit code {task.exitcode})"
        status, payload = self._reported[task.pid]
        return str(payload) if status == "failed" else None

    def _results(self) -> list:
        """Every helper's segment; raise :class:`HelperFailed` if any helper failed."""
        reported = self._reported
        while len(reported) < len(self.tasks):
            try:
                status, pid, payload = self.resultqueue.get(timeout=POLL_S)
            except queue.Empty:
                self._raise_if_a_helper_died()
                continue
            reported[pid] = (status, payload)
        failures = [payload for status, payload in reported.values() if status != "ok"]
        if failures:
            raise HelperFailed(str(failures[0]))
        for task in self.tasks:
            task.join(timeout=GRACE_S)
        return [payload for _status, payload in reported.values()]

    def _commit(self, mergetype, optimize, merge) -> None:
        if self.docbuffer:
            self._enqueue()
        for _ in self.tasks:
            self._put(None)
        segments = self._merge_segments(mergetype, optimize, merge)
        segments += self._results()
        if self._added:
            segments.append(self._finalize_segment())
        else:
            self._close_segment()
        self._commit_toc(segments)
        self._finish()

    def stop_helpers(self, timeout: float = 10.0) -> None:
        """Kill the helpers and wait for them (bounded).

        ``MpWriter.cancel`` only flags the helpers in this process, so they would go on
        waiting for work, and a process waits for its helpers before it exits.
        """
        for task in self.tasks:
            if task.is_alive():
                task.kill()
        for task in self.tasks:
            task.join(timeout=timeout)


def abandon(writer) -> None:
    """Give up a writer after a failure, never raising, its files closed and lock released.

    ``SegmentWriter.cancel`` closes the segment's files one after the other and stops at the
    first error, and on a full disk every flush fails: so each step is taken on its own.
    """
    if isinstance(writer, CheckedMpWriter):
        writer.stop_helpers()
    steps = (
        lambda: writer.perdocwriter.is_closed or writer.perdocwriter.close(),
        lambda: writer.fieldwriter.is_closed or writer.fieldwriter.close(),
        writer.pool.cleanup,
        writer._finish,
    )
    for step in steps:
        with contextlib.suppress(Exception):
            step()
    folder = getattr(writer.storage, "folder", None)
    if folder:
        _close_files_under(str(folder))


def _close_files_under(folder: str) -> None:
    """Close the files this process still has open in ``folder``.

    A segment's files belong to nested codec writers, and a close that fails part way (a
    flush on a full disk) leaves the rest open with no handle left to reach them. Only on
    the failure path, so walking the heap once is affordable.
    """
    prefix = os.path.join(folder, "")
    for obj in gc.get_objects():
        if isinstance(obj, io.IOBase) and not obj.closed:
            name = getattr(obj, "name", None)
            if isinstance(name, str) and name.startswith(prefix):
                with contextlib.suppress(Exception):
                    obj.close()
