"""Giving a writer up after a failure: every file closed, the lock released, never raising."""

from __future__ import annotations

import contextlib
import gc
import io
import os

from searchsvc.index.whoosh_internals.multiprocess import CheckedMpWriter
from searchsvc.index.whoosh_internals.updates import UpdateWriter
from searchsvc.index.whoosh_internals.writing import SegmentBuilder


def abandon(writer) -> None:
    """Give up a writer after a failure, never raising, its files closed and lock released.

    ``SegmentWriter.cancel`` closes the segment's files one after the other and stops at the
    first error, and on a full disk every flush fails: so each step is taken on its own.
    """
    parts = [writer.builder, writer.writer] if isinstance(writer, UpdateWriter) else [writer]
    for part in parts:
        for step in _closing_steps(part):
            with contextlib.suppress(Exception):
                step()
    folder = getattr(parts[0].storage, "folder", None)
    if folder:
        _close_files_under(str(folder))


def _closing_steps(writer) -> list:
    """What closing one writer takes, step by step."""
    if isinstance(writer, SegmentBuilder):
        return [writer.close_files]
    steps = [writer.stop_helpers] if isinstance(writer, CheckedMpWriter) else []
    return [
        *steps,
        lambda: writer.perdocwriter.is_closed or writer.perdocwriter.close(),
        lambda: writer.fieldwriter.is_closed or writer.fieldwriter.close(),
        writer.pool.cleanup,
        writer._finish,
    ]


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
