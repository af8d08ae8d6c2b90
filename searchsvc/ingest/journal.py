"""The durable journal of documents pushed over HTTP, beside the index (``journal.sqlite3``).

A push is acknowledged once its changes are committed here (SQLite in WAL mode with
``synchronous=FULL``: the commit is fsynced), never later: what was acknowledged survives a
``kill -9`` of any process or a power loss. The one writer (:mod:`searchsvc.ingest.writer`)
applies the waiting changes in order, in batches, each batch one new generation.

Tables:

- ``changes``: the acknowledged changes not yet applied, numbered by ``seq`` (AUTOINCREMENT:
  a number is never given twice, even after the rows before it were deleted). A batch's
  outcome per change (applied, or refused with a reason) is recorded before its generation is
  published, so that a crash between the two is finished the same way (see :meth:`recover`).
- ``pushed``: the pushed documents as they are now (last write wins), with their fields. They
  are the index's second source besides the corpus folder: ``searchsvc index --full`` reads
  them back, so a full rebuild keeps them.
- ``tasks``: one per request, with its counts and refused documents, kept a bounded time.
- ``meta``: this journal's random id, the last ``seq`` applied and the waiting totals (for the
  back-pressure check without counting rows).

Exactly once: each published generation records in its metadata ``{"journal": {"id", "seq"}}``,
the last change it holds. A batch is marked applied only after its generation is live; when a
writer dies in between, the next one sees the live generation already holds the batch and
only marks it (:meth:`recover`), never writing it twice.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from searchsvc import errors
from searchsvc.settings import (
    JOURNAL_BUSY_S,
    JOURNAL_FILE,
    JOURNAL_MAX_TASKS,
    JOURNAL_MAX_WAITING_BYTES,
    JOURNAL_MAX_WAITING_CHANGES,
    JOURNAL_RETRY_AFTER_S,
    JOURNAL_RETRY_RATE,
    JOURNAL_TASKS_KEPT_S,
    JOURNAL_WAIT_POLL_S,
)

PUT, DELETE = "put", "delete"
ENQUEUED, PROCESSING, SUCCEEDED, FAILED = "enqueued", "processing", "succeeded", "failed"
FINISHED = (SUCCEEDED, FAILED)
# The journal's own format, in its meta table: a journal written by a later format is refused.
FORMAT = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL,
    enqueued_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    received INTEGER NOT NULL,
    applied INTEGER NOT NULL DEFAULT 0,
    waiting INTEGER NOT NULL,
    errors TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_finished ON tasks (finished_at);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task INTEGER NOT NULL,
    op TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    fields TEXT,
    size INTEGER NOT NULL,
    outcome TEXT
);
CREATE TABLE IF NOT EXISTS pushed (
    doc_id TEXT PRIMARY KEY,
    fields TEXT NOT NULL,
    seq INTEGER NOT NULL
);
"""
# Ids a query looks up at once (SQLite's limit on parameters is 32,766 since 3.32; older
# builds allow 999).
_IDS_PER_QUERY = 900
# ``changes.outcome``: NULL while undecided, "" when the batch applies it, else the reason it
# is refused (written before the batch's generation is published).
APPLIED = ""


@dataclass(frozen=True)
class Change:
    """One acknowledged change: ``put`` a document (its checked ``fields``: title, body and
    optional url, date, source) or ``delete`` one, by id."""

    op: str
    doc_id: str
    fields: dict | None = None


@dataclass
class Task:
    """What became of one request's changes; times are ISO 8601 UTC."""

    id: int
    status: str
    enqueued_at: str
    started_at: str | None
    finished_at: str | None
    received: int
    applied: int
    errors: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        """The task as the API answers it."""
        return {
            "id": self.id,
            "status": self.status,
            "enqueued_at": self.enqueued_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "received": self.received,
            "applied": self.applied,
            "errors": list(self.errors),
        }


@dataclass(frozen=True)
class Waiting:
    """A change waiting in the journal, as the writer reads it."""

    seq: int
    task: int
    op: str
    doc_id: str
    fields: dict | None


def journal_path(index_dir: str | os.PathLike) -> Path:
    """Where the journal of the index in ``index_dir`` lives."""
    return Path(index_dir) / JOURNAL_FILE


def exists(index_dir: str | os.PathLike) -> bool:
    """Whether anything was ever pushed to this index (its journal exists)."""
    return journal_path(index_dir).is_file()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _unwritable(e: sqlite3.Error) -> bool:
    """Whether a SQLite error means the disk cannot take the write: full, over quota, read-only,
    or an I/O error writing or syncing."""
    code = getattr(e, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR)
    text = str(e).lower()
    return any(w in text for w in ("disk is full", "readonly", "read-only", "disk i/o"))


def _disk_full(e: BaseException) -> errors.JournalDiskFullError:
    return errors.JournalDiskFullError(
        f"the journal of pushed documents cannot be written ({e}): free some disk space; "
        "nothing acknowledged before is lost"
    )


class Journal:
    """The journal of one index folder, opened (or created) beside its generations.

    Thread-safe within a process (one connection, used in turn); several processes (the
    server's workers, the writer, ``searchsvc index``) share the file through SQLite's locks.
    A connection is never used across a fork: a forked child opens its own.
    """

    def __init__(self, index_dir: str | os.PathLike):
        self.root = Path(index_dir)
        self.path = journal_path(self.root)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        try:
            self._connect()
        except sqlite3.Error as e:
            if _unwritable(e):
                raise _disk_full(e) from None
            raise

    # -- connection --------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self.root.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=JOURNAL_BUSY_S, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
            conn.execute("BEGIN IMMEDIATE")
            found = conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
            if found is None:
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("format", str(FORMAT)),
                        ("id", uuid.uuid4().hex),
                        ("applied_seq", "0"),
                        ("waiting_changes", "0"),
                        ("waiting_bytes", "0"),
                    ],
                )
            elif int(found[0]) > FORMAT:
                raise errors.IndexTooNewError(
                    f"the journal {self.path} was written by a newer searchsvc: upgrade it"
                )
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            conn.close()
            raise
        self._conn, self._pid = conn, os.getpid()
        return conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed (and fsynced) when the block ends; a SQLite error
        saying the disk cannot take it becomes :class:`~searchsvc.errors.JournalDiskFullError`."""
        with self._lock:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as e:
                with contextlib.suppress(sqlite3.Error):
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                if _unwritable(e):
                    raise _disk_full(e) from None
                raise

    def _read(self, sql: str, args: Sequence = ()) -> list[tuple]:
        with self._lock:
            return self._connect().execute(sql, args).fetchall()

    def close(self) -> None:
        """Close the connection (what was submitted is already durable)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # -- for the web: submit and follow ------------------------------------------------------

    def submit(self, changes: Sequence[Change], refused: Sequence[dict] = ()) -> Task:
        """Record ``changes`` (in their order) as one task, with the documents ``refused``
        before submission (``{"id", "reason"}``); return once durable.

        Raises :class:`~searchsvc.errors.JournalBehindError` when too much already waits,
        :class:`~searchsvc.errors.JournalDiskFullError` when the disk cannot take it; either
        way nothing of this request was recorded. A task without changes is finished at once:
        ``failed`` when documents were refused, ``succeeded`` when there was nothing at all.
        """
        rows = []
        size = 0
        for change in changes:
            if change.op not in (PUT, DELETE):
                raise ValueError(f"unknown change {change.op!r}")
            encoded = json.dumps(change.fields, ensure_ascii=False) if change.op == PUT else None
            nbytes = len(change.doc_id.encode()) + len(encoded.encode() if encoded else b"")
            rows.append((change.op, change.doc_id, encoded, nbytes))
            size += nbytes
        refused = [dict(r) for r in refused]
        now = _now()
        with self._transaction() as conn:
            if rows:
                waiting, waiting_bytes = self._waiting(conn)
                if (
                    waiting + len(rows) > JOURNAL_MAX_WAITING_CHANGES
                    or waiting_bytes + size > JOURNAL_MAX_WAITING_BYTES
                ) and waiting:
                    low, high = JOURNAL_RETRY_AFTER_S
                    retry = min(high, max(low, math.ceil(waiting / JOURNAL_RETRY_RATE)))
                    raise errors.JournalBehindError(
                        f"{waiting:,} changes wait to be applied; try again in {retry} s",
                        retry_after=retry,
                    )
            status = ENQUEUED if rows else (FAILED if refused else SUCCEEDED)
            finished = None if rows else now
            task_id = conn.execute(
                "INSERT INTO tasks (status, enqueued_at, started_at, finished_at, received,"
                " waiting, errors) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    status,
                    now,
                    finished,
                    finished,
                    len(rows) + len(refused),
                    len(rows),
                    json.dumps(refused, ensure_ascii=False),
                ),
            ).lastrowid
            conn.executemany(
                "INSERT INTO changes (task, op, doc_id, fields, size) VALUES (?, ?, ?, ?, ?)",
                [(task_id, *row) for row in rows],
            )
            if rows:
                self._add_waiting(conn, len(rows), size)
        return Task(task_id, status, now, finished, finished, len(rows) + len(refused), 0, refused)

    def task(self, task_id: int) -> Task | None:
        """The task ``task_id`` as it stands, or None (unknown, or pruned)."""
        rows = self._read(
            "SELECT id, status, enqueued_at, started_at, finished_at, received, applied, errors"
            " FROM tasks WHERE id = ?",
            (task_id,),
        )
        if not rows:
            return None
        *head, errs = rows[0]
        return Task(*head, json.loads(errs))

    def wait(self, task_id: int, timeout: float) -> Task | None:
        """The task once finished (succeeded or failed: its changes are live), or as it stands
        after ``timeout`` seconds; None for an unknown task."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.task(task_id)
            if task is None or task.status in FINISHED or time.monotonic() >= deadline:
                return task
            time.sleep(min(JOURNAL_WAIT_POLL_S, max(0.0, deadline - time.monotonic())))

    # -- for the writer and the indexer ------------------------------------------------------

    def _meta(self, conn: sqlite3.Connection, key: str) -> str:
        return conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    def _set_meta(self, conn: sqlite3.Connection, key: str, value: object) -> None:
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(value), key))

    def _waiting(self, conn: sqlite3.Connection) -> tuple[int, int]:
        return int(self._meta(conn, "waiting_changes")), int(self._meta(conn, "waiting_bytes"))

    def _add_waiting(self, conn: sqlite3.Connection, changes: int, nbytes: int) -> None:
        waiting, waiting_bytes = self._waiting(conn)
        self._set_meta(conn, "waiting_changes", waiting + changes)
        self._set_meta(conn, "waiting_bytes", waiting_bytes + nbytes)

    @property
    def id(self) -> str:
        """This journal's random id, recorded by each generation with its last ``seq``: a
        journal made anew (deleted, restored from elsewhere) is never taken for the old one."""
        return self._read("SELECT value FROM meta WHERE key = 'id'")[0][0]

    def waiting(self) -> int:
        """How many changes wait to be applied."""
        return int(self._read("SELECT value FROM meta WHERE key = 'waiting_changes'")[0][0])

    def applied_seq(self) -> int:
        """The last change applied (0 when none was)."""
        return int(self._read("SELECT value FROM meta WHERE key = 'applied_seq'")[0][0])

    def mark(self) -> dict:
        """What a generation records of this journal: its id and the last change it holds."""
        with self._lock:
            conn = self._connect()
            return {"id": self._meta(conn, "id"), "seq": int(self._meta(conn, "applied_seq"))}

    def recover(self, live_mark: object) -> int:
        """Settle a batch a writer left between deciding and marking: the changes the live
        generation holds (``live_mark``, its ``journal`` metadata) are marked applied as
        decided; the others go back to undecided. Return how many were marked applied."""
        live_seq = 0
        if isinstance(live_mark, dict) and live_mark.get("id") == self.id:
            live_seq = int(live_mark.get("seq") or 0)
        decided = self._read("SELECT max(seq) FROM changes WHERE outcome IS NOT NULL")[0][0]
        if decided is None:
            return 0
        marked = self.finish(live_seq) if live_seq else 0
        with self._transaction() as conn:
            conn.execute("UPDATE changes SET outcome = NULL WHERE outcome IS NOT NULL")
        return marked

    def next_batch(self, max_changes: int, max_bytes: int) -> list[Waiting]:
        """The oldest waiting changes, in order, at most ``max_changes`` and about
        ``max_bytes`` (one at least)."""
        rows = self._read(
            "SELECT seq, task, op, doc_id, fields, size FROM changes ORDER BY seq LIMIT ?",
            (max_changes,),
        )
        batch, total = [], 0
        for seq, task, op, doc_id, fields, size in rows:
            if batch and total + size > max_bytes:
                break
            total += size
            batch.append(Waiting(seq, task, op, doc_id, json.loads(fields) if fields else None))
        return batch

    def decide(self, outcomes: dict[int, str]) -> None:
        """Record what the batch being written does with each change (``seq`` → ``APPLIED``
        or the reason it is refused), durably, before its generation is published; its tasks
        become ``processing``."""
        now = _now()
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE changes SET outcome = ? WHERE seq = ?",
                [(reason, seq) for seq, reason in outcomes.items()],
            )
            conn.execute(
                "UPDATE tasks SET status = ?, started_at = coalesce(started_at, ?)"
                " WHERE id IN (SELECT DISTINCT task FROM changes WHERE outcome IS NOT NULL)"
                " AND status = ?",
                (PROCESSING, now, ENQUEUED),
            )

    def finish(self, upto: int) -> int:
        """Mark the decided changes up to ``upto`` applied, once the generation holding them is
        live: the pushed documents take them (in order, the last write winning), their tasks
        count them, and they leave the journal. Return how many."""
        now = _now()
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT seq, task, op, doc_id, fields, size, outcome FROM changes"
                " WHERE seq <= ? AND outcome IS NOT NULL ORDER BY seq",
                (upto,),
            ).fetchall()
            if not rows:
                return 0
            per_task: dict[int, list] = {}
            nbytes = 0
            for seq, task, op, doc_id, fields, size, outcome in rows:
                nbytes += size
                counts = per_task.setdefault(task, [0, 0, []])
                counts[0] += 1
                if outcome == APPLIED:
                    counts[1] += 1
                    if op == PUT:
                        conn.execute(
                            "INSERT INTO pushed (doc_id, fields, seq) VALUES (?, ?, ?)"
                            " ON CONFLICT (doc_id) DO UPDATE SET fields = excluded.fields,"
                            " seq = excluded.seq",
                            (doc_id, fields, seq),
                        )
                    else:
                        conn.execute("DELETE FROM pushed WHERE doc_id = ?", (doc_id,))
                else:
                    counts[2].append({"id": doc_id, "reason": outcome})
            for task, (done, applied, refused) in per_task.items():
                row = conn.execute(
                    "SELECT waiting, applied, errors FROM tasks WHERE id = ?", (task,)
                ).fetchone()
                if row is None:  # pruned meanwhile (cannot happen while it waits)
                    continue
                waiting, was_applied, errs = row[0] - done, row[1] + applied, json.loads(row[2])
                errs.extend(refused)
                status, finished = PROCESSING, None
                if waiting <= 0:
                    status = SUCCEEDED if was_applied or not errs else FAILED
                    finished = now
                conn.execute(
                    "UPDATE tasks SET waiting = ?, applied = ?, errors = ?, status = ?,"
                    " started_at = coalesce(started_at, ?), finished_at = ? WHERE id = ?",
                    (
                        waiting,
                        was_applied,
                        json.dumps(errs, ensure_ascii=False),
                        status,
                        now,
                        finished,
                        task,
                    ),
                )
            last = rows[-1][0]
            conn.execute("DELETE FROM changes WHERE seq <= ? AND outcome IS NOT NULL", (upto,))
            self._add_waiting(conn, -len(rows), -nbytes)
            self._set_meta(conn, "applied_seq", max(last, int(self._meta(conn, "applied_seq"))))
        return len(rows)

    def prune_tasks(self) -> int:
        """Delete finished tasks older than :data:`JOURNAL_TASKS_KEPT_S`, and the oldest
        finished ones past :data:`JOURNAL_MAX_TASKS`; return how many went."""
        cutoff = (datetime.now(UTC) - timedelta(seconds=JOURNAL_TASKS_KEPT_S)).isoformat(
            timespec="milliseconds"
        )
        with self._transaction() as conn:
            gone = conn.execute(
                "DELETE FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ?",
                (cutoff.replace("+00:00", "Z"),),
            ).rowcount
            (count,) = conn.execute("SELECT count(*) FROM tasks").fetchone()
            if count > JOURNAL_MAX_TASKS:
                gone += conn.execute(
                    "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE finished_at IS"
                    " NOT NULL ORDER BY id LIMIT ?)",
                    (count - JOURNAL_MAX_TASKS,),
                ).rowcount
        return gone

    def pushed_ids(self, among: Iterable[str] | None = None) -> set[str]:
        """The ids of the pushed documents (only those ``among`` these ids, when given: a
        batch's, looked up by the table's key rather than reading every pushed id)."""
        if among is None:
            return {row[0] for row in self._read("SELECT doc_id FROM pushed")}
        wanted = list(dict.fromkeys(among))
        found: set[str] = set()
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            chunk = wanted[start : start + _IDS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            rows = self._read(f"SELECT doc_id FROM pushed WHERE doc_id IN ({marks})", chunk)
            found.update(row[0] for row in rows)
        return found

    def pushed_documents(self) -> Iterator[tuple[str, dict]]:
        """Every pushed document as it is now, ``(id, fields)``, in id order; read in pages so
        that memory stays flat however many there are."""
        after = ""  # ids are never empty
        while True:
            rows = self._read(
                "SELECT doc_id, fields FROM pushed WHERE doc_id > ? ORDER BY doc_id LIMIT 1000",
                (after,),
            )
            if not rows:
                return
            for doc_id, fields in rows:
                yield doc_id, json.loads(fields)
            after = rows[-1][0]
