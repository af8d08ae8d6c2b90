"""Index generations on disk: where the live index is, switching to a new one atomically.

Layout of an index directory::

    index/
      CURRENT          name of the live generation ("g000003"), replaced atomically
      g000003/         a Whoosh index plus searchsvc.json (format version, counts)
      .write.lock      held (flock) by the one process writing at a time

A full rebuild writes a new generation beside the live one and switches ``CURRENT`` with
``os.replace``: readers of the old generation keep working, and a crash before the switch
leaves the live index untouched. Incremental updates go into the live generation through
Whoosh's own atomic commits.

Only the holder of the write lock changes anything under the index directory, so what it finds
there that is not live (a ``.building`` directory, a generation newer than ``CURRENT``) was
left by a writer that died, and it may delete it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from searchsvc.schema import VERSION

CURRENT = "CURRENT"
META = "searchsvc.json"
LOCK = ".write.lock"
_GEN_RE = re.compile(r"^g(\d{6,})$")
# Generations kept besides the live one, so searchers opened just before a switch can finish.
KEEP_OLD = 1

# Descriptors of the write locks this process holds. A child forked while one is held (Whoosh's
# multi-process writer forks helpers) closes its copy at once: a flock belongs to the open file,
# so a helper that outlived a killed indexer would otherwise keep the index locked.
_HELD_LOCKS: set[int] = set()


def _drop_inherited_locks() -> None:
    for fd in _HELD_LOCKS:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_inherited_locks)


class IndexStateError(Exception):
    """Base for index problems a user can act on; the message says what to do."""


class NoIndexError(IndexStateError):
    """There is no usable index yet."""


class IndexVersionError(IndexStateError):
    """The index was built by another version of the schema or analyzer."""


class IndexBusyError(IndexStateError):
    """Another process is writing the index."""


@dataclass(frozen=True)
class Generation:
    """One complete index on disk and its metadata."""

    name: str
    path: Path
    meta: dict


def generation_name(number: int) -> str:
    """Return the directory name of generation ``number``."""
    return f"g{number:06d}"


def list_generations(root: Path) -> list[str]:
    """Return the generation directories under ``root``, oldest first."""
    if not root.is_dir():
        return []
    names = [p.name for p in root.iterdir() if _GEN_RE.match(p.name) and p.is_dir()]
    return sorted(names, key=lambda n: int(n[1:]))


def current_name(root: Path) -> str | None:
    """Return the live generation's name, or None when there is none."""
    try:
        name = (root / CURRENT).read_text(encoding="ascii").strip()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return None
    return name if _GEN_RE.match(name) else None


def read_meta(path: Path) -> dict:
    """Read a generation's metadata (empty dict when missing or damaged)."""
    try:
        return json.loads((path / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def current(root: Path) -> Generation:
    """Return the live generation, checking that this code can read it."""
    name = current_name(root)
    if name is None or not (root / name).is_dir():
        raise NoIndexError(f"no index in {root}: run `searchsvc index` first")
    path = root / name
    meta = read_meta(path)
    if meta.get("version") != VERSION:
        found = meta.get("version", "unknown")
        raise IndexVersionError(
            f"the index in {root} was built by another version of searchsvc "
            f"(index format {found}, this is {VERSION}): reindex with --full"
        )
    return Generation(name, path, meta)


def write_meta(path: Path, **fields: object) -> None:
    """Write a generation's metadata atomically."""
    meta = {"version": VERSION, **fields}
    tmp = path / (META + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    os.replace(tmp, path / META)


def new_generation(root: Path) -> tuple[str, Path]:
    """Create an empty directory for the next generation; return its name and a temp path.

    The directory is built under a ``.building`` name and only gets its final name when
    complete, so a crash never leaves a half-built generation that looks whole.
    """
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(n[1:]) for n in list_generations(root)]
    building = [p.name for p in root.glob("g*.building")]
    numbers += [int(n[1:].split(".")[0]) for n in building if n[1:].split(".")[0].isdigit()]
    name = generation_name(max(numbers, default=0) + 1)
    tmp = root / f"{name}.building"
    tmp.mkdir()
    return name, tmp


def publish(root: Path, name: str, tmp: Path) -> None:
    """Give a built generation its final name and make it the live one, atomically."""
    final = root / name
    os.replace(tmp, final)
    _fsync_dir(root)
    pointer = root / (CURRENT + ".tmp")
    with open(pointer, "w", encoding="ascii") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer, root / CURRENT)
    _fsync_dir(root)


def collect_garbage(root: Path, keep_old: int = KEEP_OLD) -> list[str]:
    """Delete leftovers of interrupted builds and generations older than the ones kept."""
    live = current_name(root)
    removed = []
    for leftover in root.glob("g*.building"):
        shutil.rmtree(leftover, ignore_errors=True)
        removed.append(leftover.name)
    names = list_generations(root)
    if live in names:
        older = names[: names.index(live)]
        for name in older[: max(0, len(older) - keep_old)]:
            shutil.rmtree(root / name, ignore_errors=True)
            removed.append(name)
    return removed


def discard_unpublished(root: Path) -> list[str]:
    """Delete complete generations newer than the live one; only with the write lock held.

    Such a generation was left by a build killed after naming it but before switching
    ``CURRENT`` to it: it never went live, so no reader has it open. Kept, each such crash
    would leave a whole index on disk for good, since later builds number themselves after it.
    """
    live = current_name(root)
    names = list_generations(root)
    if live not in names:  # no live generation: nothing is known to be newer than it
        return []
    newer = names[names.index(live) + 1 :]
    for name in newer:
        shutil.rmtree(root / name, ignore_errors=True)
    return newer


@contextlib.contextmanager
def write_lock(
    root: Path,
    wait: bool = True,
    timeout: float | None = None,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Hold the index's write lock; the kernel releases it if the process dies.

    ``on_wait`` is called once if the lock is busy and this call is going to wait for it.
    """
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait or (deadline is not None and time.monotonic() >= deadline):
                    raise IndexBusyError(
                        f"another `searchsvc index` is writing {root}; try again when it ends"
                    ) from None
                if on_wait and not waited:
                    on_wait()
                waited = True
                time.sleep(0.1)
        _HELD_LOCKS.add(fd)
        yield
    finally:
        _HELD_LOCKS.discard(fd)
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
