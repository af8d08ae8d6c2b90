"""Search analytics: what people searched for, kept in a small SQLite file beside the index.

Each search a served worker answers becomes one row (the query as typed and as understood,
the results, the page, the milliseconds, the time, the did-you-mean suggestion; never who
asked). A worker appends rows to a list in memory (:class:`Recorder`) and a thread of its own
writes them in one short transaction at most every second, so a request pays for an append,
and two gunicorn workers take SQLite's write lock (WAL mode) a few times a second at most.
Rows older than the retention are deleted as it goes, and the rows kept are capped, so the
store stays bounded. :meth:`AnalyticsStore.stats` answers ``searchsvc stats`` and
``/api/stats``.

Nothing here knows Flask or the command line; the web records, the CLI reads.
"""

from __future__ import annotations

import atexit
import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from searchsvc.errors import QueryError
from searchsvc.settings import (
    ANALYTICS_BUSY_S,
    ANALYTICS_DAYS,
    ANALYTICS_FILE,
    ANALYTICS_FLUSH_ROWS,
    ANALYTICS_FLUSH_S,
    ANALYTICS_MAX_PENDING,
    ANALYTICS_MAX_ROWS,
    ANALYTICS_PRUNE_S,
    STATS_TOP,
)

# The kinds of search recorded: the JSON API, the search page, the page's instant search.
KINDS = ("api", "page", "instant")
# The store's schema version (PRAGMA user_version); a file of another version is not written.
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS searches (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    typing INTEGER NOT NULL,
    query TEXT NOT NULL,
    normalized TEXT NOT NULL,
    understood TEXT NOT NULL,
    results INTEGER NOT NULL,
    page INTEGER NOT NULL,
    took_ms REAL NOT NULL,
    suggestion TEXT
);
CREATE INDEX IF NOT EXISTS searches_at ON searches (at);
"""
_INSERT = (
    "INSERT INTO searches (at, kind, typing, query, normalized, understood, results, page, "
    "took_ms, suggestion) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Latency percentiles reported.
PERCENTILES = (50, 90, 99)
_SPACES = re.compile(r"\s+")
_SINCE_AGO = re.compile(r"^(\d{1,5})([dh])$")
DAY_S = 86_400


def analytics_path(index_dir: str | Path) -> Path:
    """Where the analytics of the index in ``index_dir`` are kept."""
    return Path(index_dir) / ANALYTICS_FILE


def normalize(query: str) -> str:
    """What two queries must share to count as one in the stats: case and runs of spaces
    never matter (``Mot de  passe`` is ``mot de passe``)."""
    return _SPACES.sub(" ", query).strip().casefold()


@dataclass(frozen=True)
class Search:
    """One search as recorded: ``at`` in seconds since the epoch (UTC); ``typing``: an instant
    search made while the last word was being typed (its text is a prefix, not a query)."""

    at: float
    kind: str
    query: str
    understood: str
    results: int
    page: int
    took_ms: float
    suggestion: str | None = None
    typing: bool = False

    def row(self) -> tuple:
        return (
            self.at,
            self.kind,
            int(self.typing),
            self.query,
            normalize(self.query),
            self.understood,
            self.results,
            self.page,
            self.took_ms,
            self.suggestion,
        )


def parse_since(text: str, now: float | None = None) -> float:
    """The time ``--since`` (``since=``) names, in seconds since the epoch: a UTC day
    (``2026-12-01``) or a span back from now (``7d``, ``12h``); QueryError otherwise."""
    now = time.time() if now is None else now
    value = text.strip()
    ago = _SINCE_AGO.match(value)
    if ago:
        count, unit = int(ago.group(1)), ago.group(2)
        return now - count * (DAY_S if unit == "d" else 3600)
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise QueryError(
            f"since must be a day like 2026-12-01 or a span like 7d or 12h (got {text!r})",
            field="since",
        ) from None
    return day.timestamp()


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


class AnalyticsStore:
    """The SQLite file of one index's analytics: appends, deletions past the retention, and
    the statistics. One connection, to be used by one thread at a time."""

    def __init__(
        self,
        path: str | Path,
        retention_days: int = ANALYTICS_DAYS,
        *,
        max_rows: int = ANALYTICS_MAX_ROWS,
        busy_s: float = ANALYTICS_BUSY_S,
    ):
        self.path = Path(path)
        self.retention_s = retention_days * DAY_S
        self.max_rows = max_rows
        self.busy_s = busy_s
        self._conn: sqlite3.Connection | None = None
        self._readonly = False

    # -- connections ------------------------------------------------------------------------

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        """The open connection; None when the file does not exist and ``create`` is false.
        A new file gets the schema, in WAL mode (readers never block the writer)."""
        if self._conn is not None:
            return self._conn
        if not create and not self.path.exists():
            return None
        mode = "rwc" if create else "rw"
        try:
            conn = self._open(mode)
        except sqlite3.OperationalError:
            if create:
                raise
            conn, self._readonly = self._open("ro"), True  # a read-only copy or mount
        try:  # (the connection's timeout is SQLite's busy timeout)
            if not self._readonly:
                self._set_up(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _open(self, mode: str) -> sqlite3.Connection:
        uri = f"{self.path.absolute().as_uri()}?mode={mode}"
        return sqlite3.connect(
            uri, uri=True, timeout=self.busy_s, isolation_level=None, check_same_thread=False
        )

    def _set_up(self, conn: sqlite3.Connection) -> None:
        """WAL mode and the schema, once per file (both are kept in it); two workers starting
        at once both try, in a transaction each."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise sqlite3.DatabaseError(
                f"{self.path} holds analytics of another version ({version}); move it aside"
            )
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        # Durable enough for analytics (a power cut may lose the last second), and a commit
        # costs no fsync of the log.
        conn.execute("PRAGMA synchronous = NORMAL")
        if version == 0:
            with self._transaction(conn):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @staticmethod
    def _transaction(conn: sqlite3.Connection):
        """BEGIN IMMEDIATE ... COMMIT (the write lock taken at once, waiting up to the busy
        timeout), ROLLBACK on error."""

        class _Tx:
            def __enter__(self):
                conn.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type, *_):
                conn.execute("COMMIT" if exc_type is None else "ROLLBACK")

        return _Tx()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- writing ----------------------------------------------------------------------------

    def append(self, searches: Sequence[Search]) -> None:
        """Write ``searches`` in one transaction (the file made if need be)."""
        if not searches:
            return
        conn = self._connect(create=True)
        assert conn is not None
        rows = [s.row() for s in searches]
        with self._transaction(conn):
            conn.executemany(_INSERT, rows)

    def prune(self, now: float | None = None) -> int:
        """Delete the rows older than the retention, and the oldest past ``max_rows``; how
        many went."""
        conn = self._connect(create=False)
        if conn is None or self._readonly:
            return 0
        now = time.time() if now is None else now
        with self._transaction(conn):
            gone = conn.execute("DELETE FROM searches WHERE at < ?", (now - self.retention_s,))
            deleted = gone.rowcount
            newest = conn.execute("SELECT max(id) FROM searches").fetchone()[0]
            if newest is not None:
                # Ids only grow, so the newest max_rows have the highest ones.
                over = conn.execute("DELETE FROM searches WHERE id <= ?", (newest - self.max_rows,))
                deleted += over.rowcount
        return deleted

    # -- reading ----------------------------------------------------------------------------

    def stats(self, since: float | None = None, top: int = STATS_TOP, now=None) -> dict:
        """What people searched for from ``since`` (by default, all that the retention keeps):
        the searches by kind, the most frequent queries, those that found nothing, those
        did-you-mean corrected most often, and the latency percentiles (milliseconds).

        The query lists leave out instant searches made while a word was being typed (their
        text is a prefix); the counts and latencies include them."""
        now = time.time() if now is None else now
        start = now - self.retention_s
        if since is not None:
            start = max(start, since)
        result: dict = {
            "since": _iso(start),
            "until": _iso(now),
            "searches": 0,
            "by_kind": dict.fromkeys(KINDS, 0),
            "top_queries": [],
            "no_results": [],
            "corrected": [],
            "latency_ms": {**{f"p{p}": None for p in PERCENTILES}, "max": None},
        }
        conn = self._connect(create=False)
        if conn is None:
            return result
        window = "at >= ? AND at <= ?"
        span = (start, now)
        try:
            rows = conn.execute(
                f"SELECT kind, count(*) FROM searches WHERE {window} GROUP BY kind", span
            ).fetchall()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):  # made, not yet set up (or another program's file)
                return result
            raise
        for kind, count in rows:
            result["by_kind"][kind] = count
        total = result["searches"] = sum(count for _kind, count in rows)
        typed = f"{window} AND typing = 0"
        order = f"ORDER BY count(*) DESC, min(query) LIMIT {int(top)}"
        result["top_queries"] = [
            {"query": q, "count": n, "results": round(r)}
            for q, n, r in conn.execute(
                f"SELECT min(query), count(*), avg(results) FROM searches WHERE {typed} "
                f"GROUP BY normalized {order}",
                span,
            )
        ]
        result["no_results"] = [
            {"query": q, "count": n}
            for q, n in conn.execute(
                f"SELECT min(query), count(*) FROM searches WHERE {typed} AND results = 0 "
                f"GROUP BY normalized {order}",
                span,
            )
        ]
        result["corrected"] = [
            {"query": q, "suggestion": s, "count": n}
            for q, s, n in conn.execute(
                f"SELECT min(query), suggestion, count(*) FROM searches WHERE {typed} "
                f"AND suggestion IS NOT NULL GROUP BY normalized, suggestion {order}",
                span,
            )
        ]
        if total:
            latency = result["latency_ms"]
            for p in PERCENTILES:
                rank = max(math.ceil(p / 100 * total) - 1, 0)  # nearest rank
                latency[f"p{p}"] = conn.execute(
                    f"SELECT took_ms FROM searches WHERE {window} ORDER BY took_ms "
                    "LIMIT 1 OFFSET ?",
                    (*span, rank),
                ).fetchone()[0]
            latency["max"] = conn.execute(
                f"SELECT max(took_ms) FROM searches WHERE {window}", span
            ).fetchone()[0]
        return result


# Writes a closing recorder tries before it gives up what still waits (each may wait for the
# other worker's lock up to the busy timeout).
CLOSE_ATTEMPTS = 3


class Recorder:
    """The searches one process answered, written to its store by a thread of its own: at
    most every ``flush_s`` seconds, or as soon as ``flush_rows`` wait. Rows past the
    retention are deleted every ``prune_s`` seconds. Made in the process that records (a
    served worker makes its own after the fork).

    Writing never fails a request: an error (a read-only folder, a full disk, a damaged file)
    drops the rows that were waiting and is reported through ``on_error``, once a minute at
    most; past ``max_pending`` rows waiting, new ones are dropped and counted."""

    def __init__(
        self,
        store: AnalyticsStore,
        *,
        flush_s: float = ANALYTICS_FLUSH_S,
        flush_rows: int = ANALYTICS_FLUSH_ROWS,
        max_pending: int = ANALYTICS_MAX_PENDING,
        prune_s: float = ANALYTICS_PRUNE_S,
        on_error: Callable[[str], None] | None = None,
    ):
        self.store = store
        self.flush_s, self.flush_rows = flush_s, flush_rows
        self.max_pending, self.prune_s = max_pending, prune_s
        self.on_error = on_error
        self._pending: list[Search] = []
        self._lock = threading.Lock()  # the pending list
        self._writing = threading.Lock()  # the store's connection
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._pruned_at = 0.0
        self._dropped = 0
        self._reported_at = -math.inf

    def record(self, search: Search) -> None:
        """Keep ``search`` for the next write (a list append; the writer thread starts with
        the first one)."""
        with self._lock:
            if self._closed:
                return
            if len(self._pending) >= self.max_pending:
                self._dropped += 1
                return
            self._pending.append(search)
            due = len(self._pending) >= self.flush_rows
            if self._thread is None:
                self._start()
        if due:
            self._wake.set()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="searchsvc-analytics", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write the waiting searches now (and delete old rows when due); how many were
        written."""
        with self._writing:
            with self._lock:
                batch, self._pending = self._pending, []
                dropped, self._dropped = self._dropped, 0
            try:
                self.store.append(batch)
                now = time.monotonic()
                if batch and now - self._pruned_at >= self.prune_s:
                    self._pruned_at = now
                    self.store.prune()
            except (sqlite3.Error, OSError) as e:
                self.store.close()  # opened afresh next time
                # Kept for the next write (a lock the other worker held too long, a full
                # disk that frees up); only what exceeds the bound on waiting searches goes.
                with self._lock:
                    kept = (batch + self._pending)[-self.max_pending :]
                    lost = len(batch) + len(self._pending) - len(kept)
                    self._pending, self._dropped = kept, self._dropped + lost
                self._report(f"search analytics not written yet ({len(batch)} searches): {e}")
                return 0
            if dropped:
                self._report(f"search analytics: {dropped} searches dropped (too many waiting)")
            return len(batch)

    def _report(self, message: str) -> None:
        now = time.monotonic()
        if self.on_error is not None and now - self._reported_at >= 60:
            self._reported_at = now
            self.on_error(message)

    def close(self) -> None:
        """Write what waits and stop the thread; later searches are not recorded."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.store.busy_s + 1)
        for _attempt in range(CLOSE_ATTEMPTS):  # what a failed write kept, tried again
            self.flush()
            with self._lock:
                if not self._pending:
                    break
        with self._writing:
            self.store.close()
