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
``sha256sum`` can check it by hand. Beside the manifest, the verification record
(``searchsvc.verified.json``) keeps what ``stat`` said of each file when its SHA-256 last
matched, so that the indexer's hashing serves the workers that open the generation after it:
a file is hashed again only when its inode, size, modification or change time moved since.

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
    IndexStateError,
    IndexTooNewError,
    IndexVersionError,
    NoIndexError,
)
from searchsvc.index.schema import VERSION
from searchsvc.settings import VERIFY_LOCK_WAIT_S

CURRENT = "CURRENT"
META = "searchsvc.json"
# A generation's verification record (see Verifier), and the lock held by the process
# hashing the generation's files, so that workers starting together hash them once.
VERIFIED = "searchsvc.verified.json"
VERIFIED_LOCK = "searchsvc.verified.lock"
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


def is_generation_name(name: str) -> bool:
    """Whether ``name`` is that of a generation's folder (``g`` and six digits or more)."""
    return _GEN_RE.match(name) is not None


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


def write_meta(
    path: Path,
    *,
    linked_from: Generation | None = None,
    record_as: str | None = None,
    **fields: object,
) -> None:
    """Write a generation's metadata atomically, with the manifest of its files.

    ``linked_from``: the generation whose files this one links to, whose manifest entries
    serve for them (the same inode is the same, already verified, content: the caller checked
    ``linked_from`` against its SHA-256 before linking). ``record_as``: the name the generation
    is published under; given, the files just hashed (and those linked) are written to its
    verification record, so that the workers opening it need not hash them again.
    """
    observed: dict[str, dict] = {}
    files = manifest(path, linked_from, observed)
    meta = {"version": VERSION, **fields, "files": files}
    tmp = path / (META + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(meta, indent=2))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path / META)
    if record_as is not None:
        _write_record(Generation(record_as, path, meta), observed)


# Read files in pieces this large when hashing them.
_CHUNK = 1 << 20


# Bytes this process hashed (file_digest), for a worker's start-up line.
_hashed = [0]
_hashed_lock = threading.Lock()


def file_digest(path: Path) -> str:
    """The SHA-256 of a file, in hex (what ``sha256sum`` prints)."""
    digest = hashlib.sha256()
    read = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            read += len(chunk)
    with _hashed_lock:
        _hashed[0] += read
    return digest.hexdigest()


def hashed_bytes() -> int:
    """How many bytes this process has hashed so far (files read whole by :func:`file_digest`)."""
    return _hashed[0]


def _index_files(path: Path) -> list[Path]:
    """The files of a generation that make up the index (everything but its metadata, its
    verification record and lock, and the lock Whoosh leaves)."""
    skip = {META, META + ".tmp", "MAIN_WRITELOCK", VERIFIED_LOCK}
    return sorted(
        p
        for p in path.iterdir()
        if p.is_file() and p.name not in skip and not p.name.startswith(VERIFIED)
    )


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


def manifest(
    path: Path, linked_from: Generation | None = None, observed: dict[str, dict] | None = None
) -> dict[str, dict]:
    """Name, size and SHA-256 of every file of the generation at ``path``, each synced to disk.

    A file that is a hard link to a file of ``linked_from`` keeps that file's entry.
    ``observed``, when given, receives the verification record's entry of each file whose
    ``stat`` did not move while it was hashed (see :class:`Verifier`).
    """
    known = linked_from.meta.get("files", {}) if linked_from else {}
    files = {}
    for p in _index_files(path):
        if p.name in known and _same_file(p, linked_from.path / p.name):
            files[p.name] = known[p.name]
            if observed is not None:
                observed[p.name] = _entry(known[p.name].get("sha256"), p.stat())
            continue
        with open(p, "rb") as f:
            os.fsync(f.fileno())
        before = p.stat()
        files[p.name] = {"size": before.st_size, "sha256": file_digest(p)}
        if observed is not None and _observed(p.stat()) == _observed(before):
            observed[p.name] = _entry(files[p.name]["sha256"], before)
    return files


# -- the verification record ------------------------------------------------------------------


def _observed(st: os.stat_result) -> list[int]:
    """What the record keeps of a file's ``stat``: device, inode, size, modification and
    change times. Writing a file in place moves its modification time; setting that back
    (``touch -r``, ``os.utime``) moves its change time, which no program can set."""
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _entry(sha256: object, st: os.stat_result) -> dict:
    return {"sha256": sha256, "stat": _observed(st)}


def _manifest_key(generation: Generation) -> str:
    """A digest of the generation's manifest: a record made for another manifest (another
    generation's, or this one's before it was written again) is never trusted."""
    files = generation.meta.get("files", {})
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def read_record(generation: Generation) -> dict[str, dict]:
    """The entries of ``generation``'s verification record: for each file, the SHA-256 that
    matched and the ``stat`` observed then. Empty when there is none, when it cannot be read,
    or when it was made for another generation or another manifest."""
    try:
        record = json.loads((generation.path / VERIFIED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if (
        not isinstance(record, dict)
        or record.get("generation") != generation.name
        or record.get("manifest") != _manifest_key(generation)
        or not isinstance(record.get("files"), dict)
    ):
        return {}
    return {n: e for n, e in record["files"].items() if isinstance(e, dict)}


def _write_record(generation: Generation, entries: dict[str, dict]) -> bool:
    """Replace ``generation``'s verification record atomically; False when the folder cannot
    be written (a read-only copy of the index: each process then hashes for itself)."""
    record = {
        "generation": generation.name,
        "manifest": _manifest_key(generation),
        "files": dict(sorted(entries.items())),
    }
    tmp = generation.path / f"{VERIFIED}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(record, indent=1))
        os.replace(tmp, generation.path / VERIFIED)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
    return True


def restamp_record(root: Path, name: str) -> None:
    """Stamp again the change times in the record of ``name``, the generation the writer has
    just published, after removing older generations: the files an incremental update shares
    with them by hard links lose a link, which moves their change time, and would otherwise be
    hashed again by every worker until one wrote the record anew. Only a file whose device,
    inode, size and modification time are the recorded ones is stamped; the writer calls this
    with its lock held, moments after it hashed or verified them (that is the only window in
    which a write with the modification time set back would go unseen)."""
    if current_name(root) != name:
        return
    try:
        generation = current(root)
    except IndexStateError:
        return
    record = read_record(generation)
    changed = False
    for file, entry in record.items():
        try:
            now = _observed((generation.path / file).stat())
        except OSError:
            continue
        seen = entry.get("stat")
        if isinstance(seen, list) and seen[:4] == now[:4] and seen != now:
            entry["stat"] = now
            changed = True
    if changed:
        _write_record(generation, record)


@contextlib.contextmanager
def _hashing_turn(path: Path, wait: float) -> Iterator[bool]:
    """Hold the generation's hashing lock, waiting at most ``wait`` seconds for another
    process hashing it; yields whether it is held (not when the folder is read-only or the
    other process took too long: this one then hashes without it)."""
    try:
        fd = os.open(path / VERIFIED_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield False
        return
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        os.close(fd)


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


def link_file(source: Path, target: Path) -> None:
    """Hard-link ``source`` as ``target`` (a copy across file systems)."""
    try:
        os.link(source, target)
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copy2(source, target)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file of a generation."""

    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


class Verifier:
    """Checks a generation's files against its manifest, hashing each file at most once.

    A file is hashed unless this verifier hashed it before with the same inode, size and
    modification time (so checking the live index again costs a ``stat`` per file, and hard
    links shared by successive generations are hashed once), or the generation's verification
    record holds the very ``stat`` it has now (inode, size, modification and change times),
    written by the process that last found its SHA-256 matching: the indexer that wrote it, a
    worker, ``searchsvc check``. What it hashes goes into that record, so the next worker to
    open the generation hashes nothing; workers opening it together take turns, so the
    first hashes and the others read the record. Thread-safe.
    """

    def __init__(self, lock_wait: float = VERIFY_LOCK_WAIT_S) -> None:
        self._known: dict[tuple[int, int, int, int], str] = {}
        self._lock = threading.Lock()
        self._lock_wait = lock_wait

    def problems(self, generation: Generation, fresh: bool = False) -> list[Problem]:
        """What is wrong with ``generation``'s files (empty when it is whole).

        ``fresh`` hashes every file again, whatever was hashed or recorded before.
        """
        files = generation.meta.get("files", {})
        record: dict[str, dict] = {}
        loaded = False

        def recorded() -> dict[str, dict]:  # read once, and only when a file needs it
            nonlocal record, loaded
            if not loaded:
                record, loaded = read_record(generation), True
            return record

        found: dict[str, str] = {}
        todo: dict[str, os.stat_result] = {}
        for name, expected in sorted(files.items()):
            outcome = self._look(generation.path / name, name, expected, recorded, fresh)
            if isinstance(outcome, str):
                found[name] = outcome
            elif outcome is not None:
                todo[name] = outcome
        with contextlib.ExitStack() as stack:
            if (
                todo
                and not fresh
                and stack.enter_context(_hashing_turn(generation.path, self._lock_wait))
            ):
                # Another worker may have hashed them while this one waited for its turn.
                record = read_record(generation)
                todo = {n: st for n, st in todo.items() if not self._trust(n, files[n], st, record)}
            if not todo and not found:
                return []
            entries = dict(recorded())
            for name, st in todo.items():
                problem, entry = self._hash(generation.path / name, st, files[name])
                if problem:
                    found[name] = problem
                elif entry:
                    entries[name] = entry
            for name in found:  # a damaged file is never vouched for again
                entries.pop(name, None)
            if entries != recorded():
                _write_record(generation, entries)
        return [Problem(name, found[name]) for name in sorted(found)]

    def check(self, generation: Generation, fresh: bool = False) -> None:
        """Raise :class:`IndexDamagedError` naming the first damaged file, if any."""
        problems = self.problems(generation, fresh)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise IndexDamagedError(
                f"the index {generation.name} is damaged: {problems[0]}{more}; "
                "run `searchsvc index` to rebuild it"
            )

    def _look(
        self,
        path: Path,
        name: str,
        expected: dict,
        recorded: Callable[[], dict[str, dict]],
        fresh: bool,
    ) -> str | os.stat_result | None:
        """A file checked without hashing it: a problem, None when it is known whole, or its
        ``stat`` when it is to be hashed."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return "missing"
        except OSError as e:
            return f"cannot be read ({_reason(e)})"
        if st.st_size != expected.get("size"):
            return f"size {st.st_size} bytes, expected {expected.get('size')}"
        if fresh:
            return st
        with self._lock:
            known = self._known.get(_memory_key(st))
        if known is None:
            if not self._trust(name, expected, st, recorded()):
                return st
            known = expected.get("sha256")
        if known != expected.get("sha256"):
            return "content changed (SHA-256 does not match)"
        return None

    def _trust(self, name: str, expected: dict, st: os.stat_result, record: dict) -> bool:
        """Whether the record vouches for the file as it is now (remembered when it does)."""
        entry = record.get(name)
        if (
            entry is None
            or entry.get("sha256") != expected.get("sha256")
            or entry.get("stat") != _observed(st)
        ):
            return False
        with self._lock:
            self._known[_memory_key(st)] = entry["sha256"]
        return True

    def _hash(
        self, path: Path, st: os.stat_result, expected: dict
    ) -> tuple[str | None, dict | None]:
        """Hash a file: its problem (or None), and its record entry when it matched and its
        ``stat`` did not move while it was read."""
        try:
            digest = file_digest(path)
            after = path.stat()
        except OSError as e:
            return f"cannot be read ({_reason(e)})", None
        steady = _observed(after) == _observed(st)
        if steady:
            with self._lock:
                self._known[_memory_key(st)] = digest
        if digest != expected.get("sha256"):
            return "content changed (SHA-256 does not match)", None
        return None, _entry(digest, st) if steady else None


def _memory_key(st: os.stat_result) -> tuple[int, int, int, int]:
    """What a verifier remembers a hashed file by while it runs (see :class:`Verifier`)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


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
