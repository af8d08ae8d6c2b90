"""Search analytics' store (searchsvc.analytics): what is kept, for how long, what the stats
say, concurrent writers, and the `searchsvc stats` command and settings that read it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from searchsvc.analytics import (
    AnalyticsStore,
    Recorder,
    Search,
    analytics_path,
    normalize,
    parse_since,
)
from searchsvc.errors import QueryError
from searchsvc.settings import Settings
from searchsvc.testing import cli

NOW = 1_796_000_000.0  # 2026-11-30
DAY = 86_400


def search(query: str, results: int = 3, at: float = NOW, **kw) -> Search:
    fields = {"kind": "api", "understood": query, "page": 1, "took_ms": 2.0, **kw}
    return Search(at=at, query=query, results=results, **fields)


@pytest.fixture
def store(tmp_path):
    s = AnalyticsStore(tmp_path / "analytics.sqlite3", retention_days=30)
    yield s
    s.close()


def test_stats_count_top_queries_no_results_corrections_and_latency(store):
    store.append(
        [
            search("Mot de passe", took_ms=1.0),
            search("mot de  passe", took_ms=2.0, kind="page"),
            search("mot de passe", took_ms=3.0, kind="instant"),
            search("twiter", results=0, suggestion="twitter", took_ms=4.0),
            search("twiter", results=0, suggestion="twitter", took_ms=5.0),
            search("zorglub", results=0, took_ms=6.0),
            # typed in the search box, its last word unfinished: counted, never listed
            search("mot de pa", results=0, kind="instant", typing=True, took_ms=100.0),
        ]
    )
    stats = store.stats(now=NOW + 1)
    assert stats["searches"] == 7
    assert stats["by_kind"] == {"api": 4, "page": 1, "instant": 2}
    assert stats["top_queries"][0] == {"query": "Mot de passe", "count": 3, "results": 3}
    assert [r["query"] for r in stats["top_queries"]] == ["Mot de passe", "twiter", "zorglub"]
    assert stats["no_results"] == [
        {"query": "twiter", "count": 2},
        {"query": "zorglub", "count": 1},
    ]
    assert stats["corrected"] == [{"query": "twiter", "suggestion": "twitter", "count": 2}]
    assert stats["latency_ms"] == {"p50": 4.0, "p90": 100.0, "p99": 100.0, "max": 100.0}


def test_stats_of_no_store_are_empty_and_make_no_file(tmp_path):
    store = AnalyticsStore(tmp_path / "none.sqlite3")
    stats = store.stats()
    assert stats["searches"] == 0 and stats["top_queries"] == []
    assert stats["latency_ms"]["p50"] is None
    assert not (tmp_path / "none.sqlite3").exists()


def test_the_store_is_in_wal_mode_beside_the_index(tmp_path, store):
    assert analytics_path(tmp_path / "index") == tmp_path / "index" / "analytics.sqlite3"
    store.append([search("x")])
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_retention_deletes_old_rows_as_it_goes(store):
    store.append([search("ancienne", at=NOW - 31 * DAY), search("récente", at=NOW - 29 * DAY)])
    # Past the retention, a row is not reported even before it is deleted...
    assert [r["query"] for r in store.stats(now=NOW)["top_queries"]] == ["récente"]
    # ...and pruning deletes it.
    assert store.prune(now=NOW) == 1
    rows = store._conn.execute("SELECT query FROM searches").fetchall()
    assert rows == [("récente",)]


def test_the_rows_kept_are_capped_whatever_the_retention(tmp_path):
    store = AnalyticsStore(tmp_path / "a.sqlite3", max_rows=3)
    store.append([search(f"q{i}", at=time.time()) for i in range(5)])
    assert store.prune() == 2
    assert [r[0] for r in store._conn.execute("SELECT query FROM searches")] == ["q2", "q3", "q4"]
    store.close()


def test_the_recorder_prunes_when_it_writes(tmp_path):
    store = AnalyticsStore(tmp_path / "a.sqlite3", retention_days=1)
    store.append([search("vieille", at=time.time() - 2 * DAY)])
    recorder = Recorder(store, flush_s=60)
    recorder.record(search("neuve", at=time.time()))
    assert recorder.flush() == 1
    assert [r[0] for r in store._conn.execute("SELECT query FROM searches")] == ["neuve"]
    recorder.close()


def test_since_takes_a_day_or_a_span():
    assert parse_since("2026-12-01") == 1_796_083_200.0
    assert parse_since("7d", now=NOW) == NOW - 7 * DAY
    assert parse_since("12h", now=NOW) == NOW - 12 * 3600
    for bad in ("yesterday", "2026-13-01", "7w", "-3d", ""):
        with pytest.raises(QueryError, match="since must be"):
            parse_since(bad)


def test_since_narrows_the_stats(store):
    store.append([search("avant", at=NOW - 3 * DAY), search("après", at=NOW - DAY)])
    stats = store.stats(since=NOW - 2 * DAY, now=NOW)
    assert [r["query"] for r in stats["top_queries"]] == ["après"]


def test_queries_are_counted_together_whatever_their_case_and_spaces():
    assert normalize("  Mot de\tPASSE ") == normalize("mot de passe")


def test_the_recorder_writes_in_the_background_within_its_interval(tmp_path):
    store = AnalyticsStore(tmp_path / "a.sqlite3")
    recorder = Recorder(store, flush_s=0.05)
    recorder.record(search("fond", at=time.time()))
    reader = AnalyticsStore(tmp_path / "a.sqlite3")
    deadline = time.monotonic() + 20
    while reader.stats()["searches"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reader.stats()["searches"] == 1
    reader.close()
    recorder.close()


def test_a_store_that_cannot_be_written_is_reported_once_and_fails_nothing(tmp_path):
    messages: list[str] = []
    missing = tmp_path / "no-such-folder" / "analytics.sqlite3"
    recorder = Recorder(AnalyticsStore(missing), flush_s=60, on_error=messages.append)
    recorder.record(search("a"))
    assert recorder.flush() == 0
    recorder.record(search("b"))
    recorder.flush()
    assert len(messages) == 1 and "not written yet (1 searches)" in messages[0]
    recorder.close()


def test_searches_a_failed_write_kept_are_written_by_the_next(tmp_path):
    """A write that fails (here the folder is missing; in service, the other worker holding
    SQLite's lock past the busy timeout) loses nothing: the next write takes its searches."""
    folder = tmp_path / "later"
    recorder = Recorder(AnalyticsStore(folder / "analytics.sqlite3"), flush_s=60)
    recorder.record(search("a"))
    assert recorder.flush() == 0
    folder.mkdir()
    recorder.record(search("b"))
    assert recorder.flush() == 2
    recorder.close()
    stats = AnalyticsStore(folder / "analytics.sqlite3").stats()
    assert stats["searches"] == 2


def test_pending_searches_are_bounded(tmp_path):
    recorder = Recorder(AnalyticsStore(tmp_path / "a.sqlite3"), flush_s=60, max_pending=2)
    for i in range(5):
        recorder.record(search(f"q{i}"))
    assert recorder.flush() == 2
    recorder.close()


WRITER = """
import sys, time
from searchsvc.analytics import AnalyticsStore, Recorder, Search
recorder = Recorder(AnalyticsStore(sys.argv[1]), flush_s=0.01, flush_rows=7)
for i in range(int(sys.argv[2])):
    recorder.record(Search(time.time(), "api", sys.argv[3], sys.argv[3], 1, 1, 1.0))
    if i % 50 == 0:
        time.sleep(0.001)
recorder.close()
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "analytics.sqlite3"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), "1500", name])
        for name in ("un", "deux")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    stats = AnalyticsStore(path).stats()
    assert stats["searches"] == 3000
    assert {r["query"]: r["count"] for r in stats["top_queries"]} == {"un": 1500, "deux": 1500}


# -- the command line and the settings -------------------------------------------------------


def test_stats_command_prints_the_stats_as_text_and_json(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    store = AnalyticsStore(analytics_path(index))
    now = time.time()
    store.append(
        [search("twiter", results=0, suggestion="twitter", at=now), search("vélo", at=now)]
    )
    store.close()
    text = cli("stats", "--index", str(index))
    assert text.returncode == 0, text.stderr
    assert "2 searches" in text.stdout and "twiter → twitter" in text.stdout
    assert "queries with no result:" in text.stdout and "p50" in text.stdout
    as_json = cli("stats", "--json", "--since", "7d", "--index", str(index))
    data = json.loads(as_json.stdout)
    assert data["searches"] == 2 and data["corrected"][0]["suggestion"] == "twitter"


def test_stats_command_refuses_a_bad_since_in_one_line(tmp_path):
    result = cli("stats", "--since", "hier", "--index", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: since must be a day like 2026-12-01 or a span like 7d or 12h (got 'hier')"
    ]


def test_stats_command_without_analytics_says_so(tmp_path):
    result = cli("stats", "--index", str(tmp_path))
    assert result.returncode == 0
    assert "0 searches" in result.stdout and "no analytics recorded" in result.stdout


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (True, 30, None)),
        ({"SEARCHSVC_ANALYTICS": "off", "SEARCHSVC_ANALYTICS_DAYS": "7"}, (False, 7, None)),
        ({"SEARCHSVC_ANALYTICS": "ON", "SEARCHSVC_ADMIN_KEY": "k" * 16}, (True, 30, "k" * 16)),
    ],
)
def test_analytics_settings(monkeypatch, env, expected):
    for name in ("SEARCHSVC_ANALYTICS", "SEARCHSVC_ANALYTICS_DAYS", "SEARCHSVC_ADMIN_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = Settings.from_env()
    assert (s.analytics, s.analytics_days, s.admin_key) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SEARCHSVC_ANALYTICS", "peut-être", "SEARCHSVC_ANALYTICS must be on or off"),
        ("SEARCHSVC_ANALYTICS_DAYS", "0", "SEARCHSVC_ANALYTICS_DAYS must be from 1 to 3650"),
        ("SEARCHSVC_ADMIN_KEY", "court-secret", "SEARCHSVC_ADMIN_KEY must be at least 16"),
        ("SEARCHSVC_ADMIN_KEY", "a key with spaces!!", "SEARCHSVC_ADMIN_KEY must be at least"),
    ],
)
def test_bad_analytics_settings_stop_a_command_in_one_line(tmp_path, name, value, message):
    env = {**os.environ, name: value, "CI": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "searchsvc.cli", "stats", "--index", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert value not in lines[0] or name != "SEARCHSVC_ADMIN_KEY"  # never the key itself


def test_the_admin_key_is_not_in_the_settings_repr(monkeypatch):
    monkeypatch.setenv("SEARCHSVC_ADMIN_KEY", "s3cret-s3cret-s3cret")
    assert "s3cret" not in repr(Settings.from_env())
