"""Issue 13: what `searchsvc index` shows while it works, at a terminal and off one."""

from __future__ import annotations

import io

import pytest

from searchsvc.cli import progress as cli_progress
from searchsvc.cli.progress import IndexProgress
from searchsvc.ingest.indexer import Progress


class Clock:
    """A stand-in for time.monotonic that tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(cli_progress.time, "monotonic", fake)
    return fake


def feed(display: IndexProgress, clock: Clock, steps: int = 40, seconds: float = 1.0) -> None:
    """Read a 40 MB corpus of 4,000 documents in ``steps`` steps, then start writing."""
    total = 40_000_000
    for i in range(1, steps + 1):
        clock.now += seconds
        display(Progress("reading", i * 100, i * total // steps, total))
    clock.now += seconds
    display(Progress("writing", steps * 100, total, total))
    display.close()


def test_off_a_terminal_a_plain_line_every_few_seconds_then_the_phase(clock):
    out = io.StringIO()
    feed(IndexProgress(out, live=False), clock)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "\033" not in out.getvalue()
    assert lines[0] == (
        "reading: 500 documents, 12% of 40.0 MB, 0:00:05 elapsed, about 0:00:35 left"
    )
    assert len(lines) == 40 // 5 + 1
    assert lines[-1] == "writing the index… (4,000 documents read)"


def test_a_quick_run_prints_nothing_off_a_terminal(clock):
    out = io.StringIO()
    feed(IndexProgress(out, live=False), clock, steps=3, seconds=0.01)
    assert out.getvalue() == ""


def test_at_a_terminal_a_bar_with_percent_and_documents_then_the_phase(clock):
    out = io.StringIO()
    out.isatty = lambda: True  # click draws its bar only for a terminal
    feed(IndexProgress(out, live=True), clock)
    text = out.getvalue()
    frames = [f for f in text.split("\r") if f.strip()]
    assert any("reading" in f and "  50%  2,000 documents" in f for f in frames)
    assert "100%  4,000 documents" in text
    assert text.rstrip().endswith("writing the index… (4,000 documents read)")


def test_interrupt_clears_the_bar_line_for_another_message(clock):
    out = io.StringIO()
    out.isatty = lambda: True
    display = IndexProgress(out, live=True)
    clock.now += 1
    display(Progress("reading", 10, 100, 1000))
    display.interrupt()
    assert out.getvalue().endswith("\r\033[K")
