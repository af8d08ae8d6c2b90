"""How ``searchsvc index`` shows where it is: a bar at a terminal, a plain line elsewhere.

At a terminal, click's progress bar shows the share of the corpus read (its bytes, counted
before reading), the documents read, the rate and the time left; when the documents are all
read it gives way to the named writing phase. Off a terminal (CI, a log file) a plain line
every few seconds says the same, and nothing moves the cursor.
"""

from __future__ import annotations

import time
from typing import IO

import click

from searchsvc.ingest.indexer import Progress

# Seconds between two plain lines, and between two redraws of the bar.
PLAIN_EVERY_S = 5.0
REDRAW_EVERY_S = 0.1
WRITING = "writing the index…"


class IndexProgress:
    """A progress handler for :func:`searchsvc.ingest.indexer.reindex` that draws on ``stream``."""

    def __init__(self, stream: IO[str], live: bool):
        """``live``: a person watches a terminal (draw a bar), else print plain lines."""
        self.stream, self.live = stream, live
        self.started = time.monotonic()
        self._bar = None
        self._shown = 0  # bytes the bar shows
        self._last = self.started  # when something was last drawn or printed
        self._phase = "reading"

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if progress.phase != self._phase:
            self._phase = progress.phase
            # A run over in a moment says nothing of its phases (only its summary).
            if self._bar is not None or now - self.started >= PLAIN_EVERY_S:
                self._end_bar(progress)
                self._print(f"{WRITING} ({progress.documents:,} documents read)")
            return
        if self.live:
            if now - self._last >= REDRAW_EVERY_S:
                self._draw(progress)
                self._last = now
        elif now - self._last >= PLAIN_EVERY_S:
            self._print(self.line(progress, now - self.started))
            self._last = now

    @staticmethod
    def line(progress: Progress, elapsed: float) -> str:
        """The plain line: documents, share of the corpus read, time spent and left."""
        share = progress.done / progress.total if progress.total else 0.0
        text = (
            f"reading: {progress.documents:,} documents, {share:.0%} of "
            f"{progress.total / 1e6:,.1f} MB, {_clock(elapsed)} elapsed"
        )
        if 0.02 <= share < 1:
            text += f", about {_clock(elapsed * (1 - share) / share)} left"
        return text

    def interrupt(self) -> None:
        """Clear the bar's line, so that another message can be printed (it redraws later)."""
        if self._bar is not None:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def close(self) -> None:
        """End the display (after success or failure), leaving the cursor on a clean line."""
        if self._bar is not None:
            self.interrupt()
            self._bar = None

    def _draw(self, progress: Progress) -> None:
        if self._bar is None:
            self._bar = click.progressbar(
                length=max(progress.total, 1),
                label="reading",
                file=self.stream,
                show_eta=True,
                show_percent=True,
                item_show_func=lambda docs: f"{docs:,} documents" if docs is not None else None,
            )
            self._bar.__enter__()
        step = max(0, min(progress.done, progress.total) - self._shown)
        self._shown += step
        self._bar.update(step, progress.documents)

    def _end_bar(self, progress: Progress) -> None:
        if self._bar is not None:
            self._bar.update(max(0, progress.total - self._shown), progress.documents)
            self._bar.render_finish()
            self._bar = None

    def _print(self, text: str) -> None:
        click.echo(text, file=self.stream)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
