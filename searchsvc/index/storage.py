"""Index generations on disk: where the live index is, switching to a new one atomically.

Layout of an index directory::

    index/
      CURRENT          name of the live generation ("g000003"), replaced atomically
      g000003/         a Whoosh index plus searchsvc.json (format version, counts)
      .write.lock      held (flock) by the one process writing at a time

Every change makes a new generation beside the live one and switches ``CURRENT`` with
``os.replace``: readers of the old generation keep working, and a crash or a full disk before
the switch leaves the live index untouched. A full rebuild writes every file anew; an
incremental update starts from hard links to the live generation's files (Whoosh never
rewrites a file it has written) and adds its own segment. So a published generation never
changes, which is what lets readers verify it and replicas copy it (generations first,
``CURRENT`` last).

Each generation's metadata lists its files with their size and SHA-256 (the manifest), so a
damaged file is found before it is served: :class:`Verifier` checks what a reader opens, and
``sha256sum`` can check it by hand.

Only the holder of the write lock changes anything under the index directory, so what it finds
there that is not live (a ``.building`` directory, a generation newer than ``CURRENT``) was
left by a writer that died, and it may delete it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from searchsvc.errors import (
    IndexBusyError,
    IndexDamagedError,
    IndexPathError,
    IndexTooNewError,
    IndexVersionError,
    NoIndexError,
)
from searchsvc.index.schema import VERSION

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


_fork_hook_installed = False


def _drop_locks_in_children() -> None:
    """Install the fork hook above, once, at the first lock taken (not at import)."""
    global _fork_hook_installed
    if not _fork_hook_installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_drop_inherited_locks)
        _fork_hook_installed = True


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
        return _load_meta(path)
    except (OSError, ValueError):
        return {}


def _load_meta(path: Path) -> dict:
    meta = json.loads((path / META).read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise ValueError("not a JSON object")
    return meta


def check_root(root: Path) -> None:
    """Refuse an index path that exists but is not a folder (a file named by mistake)."""
    if root.exists() and not root.is_dir():
        raise IndexPathError(f"the index path {root} is a file, not a folder: name a folder")


def current(root: Path) -> Generation:
    """Return the live generation, checking that this code can read it.

    Raises :class:`NoIndexError` when nothing was ever built, :class:`IndexDamagedError` when
    the pointer or the metadata is damaged, :class:`IndexTooNewError` for a newer format and
    :class:`IndexVersionError` for another one.
    """
    check_root(root)
    pointer = root / CURRENT
    try:
        raw = pointer.read_bytes()
    except FileNotFoundError:
        raise NoIndexError(f"no index in {root}: run `searchsvc index` first") from None
    except OSError as e:
        raise IndexDamagedError(f"{pointer} cannot be read ({e.strerror})") from None
    name = current_name(root)
    if name is None:
        shown = raw[:40].decode("ascii", "backslashreplace").strip()
        raise IndexDamagedError(
            f"{pointer} is damaged: it should name a generation like g000001, it holds "
            f"{shown!r}; run `searchsvc index` to rebuild the index"
        )
    path = root / name
    if not path.is_dir():
        raise IndexDamagedError(
            f"{pointer} names {name}, which is missing; run `searchsvc index` to rebuild"
        )
    try:
        meta = _load_meta(path)
    except FileNotFoundError:
        raise IndexDamagedError(
            f"{path / META} is missing; run `searchsvc index` to rebuild the index"
        ) from None
    except (OSError, ValueError) as e:
        raise IndexDamagedError(
            f"{path / META} is damaged ({_reason(e)}); run `searchsvc index` to rebuild the index"
        ) from None
    if meta.get("version") != VERSION:
        found = meta.get("version", "unknown")
        if is_newer(found):
            raise _too_new(root, found)
        raise IndexVersionError(
            f"the index in {root} was built by another version of searchsvc "
            f"(index format {found}, this is {VERSION}): reindex with --full"
        )
    if not isinstance(meta.get("files"), dict):
        raise IndexDamagedError(
            f"{path / META} has no list of files; run `searchsvc index` to rebuild the index"
        )
    return Generation(name, path, meta)


def _version_key(version: object) -> tuple[int, ...] | None:
    """``"6.4"`` (index format 6, analyzer 4) as ``(6, 4)``; None when it is no version."""
    if isinstance(version, int) and not isinstance(version, bool):
        return (version,)
    if isinstance(version, str) and re.fullmatch(r"\d{1,9}(\.\d{1,9})*", version):
        return tuple(int(part) for part in version.split("."))
    return None


def is_newer(version: object) -> bool:
    """Whether an index's recorded ``version`` is above this code's :data:`VERSION`: written
    by a newer searchsvc (a newer index format, or the same format with a newer analyzer)."""
    found, ours = _version_key(version), _version_key(VERSION)
    return found is not None and ours is not None and found > ours


def _too_new(root: Path, found: object) -> IndexTooNewError:
    return IndexTooNewError(
        f"the index in {root} was built by a newer version of searchsvc (index format "
        f"{found}, this is {VERSION}): upgrade searchsvc to use it (it is left as it is; "
        "to build an index with this version, give another index folder)"
    )


def refuse_newer(root: Path) -> None:
    """Raise :class:`IndexTooNewError` when the live generation under ``root`` was written by
    a newer searchsvc; a writer checks this before it changes anything there. Anything else
    (no index, a damaged one, an older format) is left for :func:`current` to report."""
    name = current_name(root)
    if name is not None:
        found = read_meta(root / name).get("version")
        if is_newer(found):
            raise _too_new(root, found)


def _reason(e: BaseException) -> str:
    """A short reason for an I/O or decoding error, without the traceback's class names."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    if isinstance(e, json.JSONDecodeError):
        return f"not valid JSON: {e.msg.lower()} at line {e.lineno} column {e.colno}"
    if isinstance(e, UnicodeDecodeError):
        return "not valid UTF-8"
    return str(e) or type(e).__name__


def write_meta(path: Path, *, linked_from: Generation | None = None, **fields: object) -> None:
    """Write a generation's metadata atomically, with the manifest of its files.

    ``linked_from``: the generation whose files this one links to, whose manifest entries
    serve for them (the same inode is the same, already verified, content).
    """
    meta = {"version": VERSION, **fields, "files": manifest(path, linked_from)}
    tmp = path / (META + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(meta, indent=2))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path / META)


# Read files in pieces this large when hashing them.
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """The SHA-256 of a file, in hex (what ``sha256sum`` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _index_files(path: Path) -> list[Path]:
    """The files of a generation that make up the index (everything but its metadata and
    the lock Whoosh leaves)."""
    skip = {META, META + ".tmp", "MAIN_WRITELOCK"}
    return sorted(p for p in path.iterdir() if p.is_file() and p.name not in skip)


def file_ids(generation: Generation) -> dict[str, tuple[int, int] | None]:
    """Each listed file's ``(device, inode)``, None when missing: what tells a file
    replaced in place (copied again) from the one a reader opened."""
    ids: dict[str, tuple[int, int] | None] = {}
    for name in generation.meta.get("files", {}):
        try:
            st = (generation.path / name).stat()
        except OSError:
            ids[name] = None
        else:
            ids[name] = (st.st_dev, st.st_ino)
    return ids


def unlisted_files(generation: Generation) -> list[str]:
    """Files in a generation's folder that its manifest does not list."""
    listed = generation.meta.get("files", {})
    return [p.name for p in _index_files(generation.path) if p.name not in listed]


def manifest(path: Path, linked_from: Generation | None = None) -> dict[str, dict]:
    """Name, size and SHA-256 of every file of the generation at ``path``, each synced to disk.

    A file that is a hard link to a file of ``linked_from`` keeps that file's entry.
    """
    known = linked_from.meta.get("files", {}) if linked_from else {}
    files = {}
    for p in _index_files(path):
        if p.name in known and _same_file(p, linked_from.path / p.name):
            files[p.name] = known[p.name]
            continue
        with open(p, "rb") as f:
            os.fsync(f.fileno())
        files[p.name] = {"size": p.stat().st_size, "sha256": file_digest(p)}
    return files


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def link_generation(source: Generation, target: Path) -> None:
    """Fill the empty folder ``target`` with hard links to the files of ``source``.

    Whoosh never rewrites a file it has written (a commit adds new files and a new table of
    contents), so an incremental update can start from links instead of copies.
    """
    for name in source.meta.get("files", {}):
        try:
            os.link(source.path / name, target / name)
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            shutil.copy2(source.path / name, target / name)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file of a generation."""

    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


class Verifier:
    """Checks a generation's files against its manifest, hashing each file once.

    A file whose inode, size and modification time are unchanged since it was hashed is
    not hashed again, so checking the live index again costs a ``stat`` per file; hard
    links shared by successive generations are hashed once. Thread-safe.
    """

    def __init__(self) -> None:
        self._known: dict[tuple[int, int, int, int], str] = {}
        self._lock = threading.Lock()

    def problems(self, generation: Generation, fresh: bool = False) -> list[Problem]:
        """What is wrong with ``generation``'s files (empty when it is whole).

        ``fresh`` hashes every file again, whatever was hashed before.
        """
        found = []
        files = generation.meta.get("files", {})
        for name, expected in sorted(files.items()):
            problem = self._check(generation.path / name, expected, fresh)
            if problem:
                found.append(Problem(name, problem))
        return found

    def check(self, generation: Generation, fresh: bool = False) -> None:
        """Raise :class:`IndexDamagedError` naming the first damaged file, if any."""
        problems = self.problems(generation, fresh)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise IndexDamagedError(
                f"the index {generation.name} is damaged: {problems[0]}{more}; "
                "run `searchsvc index` to rebuild it"
            )

    def _check(self, path: Path, expected: dict, fresh: bool) -> str | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return "missing"
        except OSError as e:
            return f"cannot be read ({_reason(e)})"
        if st.st_size != expected.get("size"):
            return f"size {st.st_size} bytes, expected {expected.get('size')}"
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            known = None if fresh else self._known.get(key)
        if known is None:
            try:
                known = file_digest(path)
            except OSError as e:
                return f"cannot be read ({_reason(e)})"
            with self._lock:
                self._known[key] = known
        if known != expected.get("sha256"):
            return "content changed (SHA-256 does not match)"
        return None


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
    check_root(root)
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
        _drop_locks_in_children()
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
