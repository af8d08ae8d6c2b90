"""Whoosh's multi-process writer, its failures made loud.

Whoosh's multi-process writer (``whoosh.multiproc.MpWriter``) loses work in silence: a helper
process that dies (a full disk, a document it cannot encode) leaves its documents out of the
index while the commit succeeds, and when both helpers are dead the parent waits for ever to
hand them more work. :class:`CheckedMpWriter` keeps Whoosh's division of labour (helpers write
their own segments, the parent writes the table of contents) but every wait is bounded by the
helpers' liveness and every helper must report success, or the commit raises
:class:`HelperFailed` with the helper's own reason.
"""

from __future__ import annotations

import contextlib
import os
import queue

from whoosh.compat import pickle
from whoosh.multiproc import MpWriter, SubWriterTask
from whoosh.util import random_name

from searchsvc.errors import describe_error
from searchsvc.index import collector
from searchsvc.index.whoosh_internals.writing import SegmentBuilder, new_codec

# How often a waiting parent looks whether its helpers are still alive.
POLL_S = 0.5
# After a helper has exited, how long its last message may take to arrive.
GRACE_S = 5.0


class HelperFailed(Exception):
    """A helper process of a multi-process build failed; the message says why."""


class _CheckedTask(SubWriterTask):
    """A helper that writes its documents with a :class:`SegmentBuilder` and always reports:
    ``("ok", pid, segments)`` or ``("failed", pid, reason)``."""

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
        self.builder = SegmentBuilder(ix, self.kwargs.get("limitmb", 128))
        self.temp = self.storage.temp_storage(f"{self.indexname}.tmp")
        while True:
            job = self.jobqueue.get()
            if job is None:
                break
            self._process_file(*job)
        self.resultqueue.put(("ok", os.getpid(), self.builder.finish()))

    def _process_file(self, filename: str, doc_count: int) -> None:
        """Add the documents of one job file the parent wrote, then delete it."""
        with self.temp.open_file(filename).raw_file() as f, collector.deferred():
            for _ in range(doc_count):
                _code, fields = pickle.load(f)
                self.builder.add_document(**fields)
        self.temp.delete_file(filename)


class CheckedMpWriter(MpWriter):
    """Whoosh's multi-segment, multi-process writer with failures that cannot pass unseen.

    Each helper writes segments of its own, kept as they are (no merge pass). Handing out
    work and waiting for results both watch the helpers: one that exits without reporting
    success ends the build with :class:`HelperFailed`.
    """

    def __init__(self, ix, procs: int, **kwargs):
        super().__init__(ix, procs=procs, multisegment=True, codec=new_codec(), **kwargs)
        # What each helper reported, by pid: ("ok", its segments) or ("failed", reason).
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
        """Every helper's segments; raise :class:`HelperFailed` if any helper failed."""
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
        return [segment for _status, segments in reported.values() for segment in segments]

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
