"""Walking a corpus: the files to read under a folder, in sorted order, links out of it and
hidden entries reported, and :func:`read_corpus`, which reads them, each document id once."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Mapping

from searchsvc.ingest.corpus.documents import (
    Document,
    ReadHandler,
    SkipHandler,
    SkipKind,
    Skipped,
)
from searchsvc.ingest.corpus.files import (
    EXTENSIONS,
    NOTHING_KNOWN,
    file_kind,
    ignore_position,
    ignore_skip,
    os_reason,
    parse_located,
)
from searchsvc.ingest.corpus.text import escape_surrogates
from searchsvc.settings import DEFAULT_MAX_FILE_BYTES


def _sorted_entries(abs_dir: str, rel_dir: str, skip: SkipHandler) -> list[os.DirEntry]:
    """The entries of a folder by name, or none (reported) when it cannot be listed."""
    try:
        with os.scandir(abs_dir) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        skip(Skipped(rel_dir or ".", os_reason(exc)))
        return []


def _inside(path: str, real_root: str) -> bool:
    """Whether ``path``, every link on the way resolved, is ``real_root`` or under it."""
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root


def _walk(
    root: str, skip: SkipHandler, follow_outside_links: bool = False
) -> Iterator[tuple[str, str]]:
    """Yield paths of readable-kind files under ``root`` in sorted order, following symlinks.

    A link whose target (every link on the way resolved) leaves ``root`` is reported and not
    followed unless ``follow_outside_links``: a corpus should not serve ``/etc/passwd`` for
    a stray link. Hidden entries (names starting with ".") are reported, a folder once.
    Depth first with an explicit stack rather than recursion: folders may nest deeper than
    Python's recursion limit.
    """
    real_root = os.path.realpath(root)
    root_st = os.stat(root)
    root_key = (root_st.st_dev, root_st.st_ino)
    visited: dict[tuple[int, int], str] = {root_key: "."}
    ancestors = {root_key}  # the folders on the path being walked, to tell loops apart
    stack = [(iter(_sorted_entries(root, "", skip)), "", root_key)]
    while stack:
        entries, rel_dir, dir_key = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            ancestors.discard(dir_key)
            continue
        name = escape_surrogates(entry.name)
        rel = f"{rel_dir}/{name}" if rel_dir else name
        if entry.name.startswith("."):
            _report_hidden(entry, rel, skip)
            continue
        try:
            st = os.stat(entry.path)
        except FileNotFoundError:
            if entry.is_symlink():
                skip(Skipped(rel, "broken symlink"))
            continue  # otherwise it vanished while we walked
        except OSError as exc:
            skip(Skipped(rel, os_reason(exc)))
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if not is_dir and file_kind(entry.name) is None:
            continue  # not a kind we read, wherever it points
        if not follow_outside_links and entry.is_symlink() and not _inside(entry.path, real_root):
            target = escape_surrogates(os.path.realpath(entry.path))
            skip(Skipped(rel, f"link outside the corpus (to {target})", kind=SkipKind.REFUSED))
            continue
        if is_dir:
            key = (st.st_dev, st.st_ino)
            if key in ancestors:
                skip(Skipped(rel, "symlink loop"))
            elif key in visited:
                skip(Skipped(rel, f"directory already read as {visited[key]}"))
            else:
                visited[key] = rel
                ancestors.add(key)
                stack.append((iter(_sorted_entries(entry.path, rel, skip)), rel, key))
        else:
            yield entry.path, rel  # parse_located reports non-regular files


def _report_hidden(entry: os.DirEntry, rel: str, skip: SkipHandler) -> None:
    """Report a hidden folder once (its contents are not looked at) and a hidden file of a
    kind the corpus would read; other hidden files (``.DS_Store``) are ignored as any file of
    another kind is."""
    try:
        is_dir = entry.is_dir()  # through a link too: what would have been walked
    except OSError:
        is_dir = False
    if is_dir:
        skip(Skipped(rel, "hidden folder", kind=SkipKind.HIDDEN))
    elif file_kind(entry.name) is not None:
        skip(Skipped(rel, "hidden file", kind=SkipKind.HIDDEN))


def read_corpus(
    root: str | os.PathLike[str],
    on_skip: SkipHandler | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    on_read: ReadHandler | None = None,
    known: Mapping[str, str] | None = None,
    *,
    follow_outside_links: bool = False,
) -> Iterator[Document]:
    """Stream every document under ``root`` in sorted path order, reporting bad files to on_skip.

    ``known`` maps the source digests of documents already indexed to their ids: a source
    found unchanged is not parsed again and comes as :meth:`Document.unchanged` (an
    incremental reindex then only hashes the bytes of what did not change).

    ``root`` is a folder, or one file of a kind the corpus may hold (a JSON Lines file, say).
    ``on_read`` is told the bytes read as reading goes (see :func:`corpus_bytes`). Raises
    FileNotFoundError at once if ``root`` does not exist, ValueError if it is a file of
    another kind; bad files never raise. A document id seen twice keeps its first occurrence.

    Files and folders reached through a link that leaves ``root`` are reported (a
    :attr:`SkipKind.REFUSED` skip) and not read unless ``follow_outside_links``; hidden ones
    are reported as :attr:`SkipKind.HIDDEN`, and a JSON Lines url that is not http or https
    is dropped from its document and reported as :attr:`SkipKind.DROPPED`.
    """
    root_str = os.fspath(root)
    _check_root(root_str)
    return _read_corpus(
        root_str,
        on_skip or ignore_skip,
        max_file_bytes,
        on_read or ignore_position,
        NOTHING_KNOWN if known is None else known,
        follow_outside_links,
    )


def _check_root(root: str) -> None:
    if not os.path.exists(root):
        raise FileNotFoundError(errno.ENOENT, "corpus not found", root)
    if not os.path.isdir(root) and file_kind(os.path.basename(root)) is None:
        kinds = ", ".join(ext for ext, _kind_ in EXTENSIONS)
        raise ValueError(f"the corpus {root} is a file of no kind searchsvc reads ({kinds})")


def _files(
    root: str, skip: SkipHandler, follow_outside_links: bool = False
) -> Iterator[tuple[str, str]]:
    """``(path, path relative to the corpus)`` of each file to read under ``root``; a corpus
    that is one file is that file, named by its own name (wherever a link there points: it
    was named on purpose)."""
    if os.path.isdir(root):
        yield from _walk(root, skip, follow_outside_links)
    else:
        yield root, escape_surrogates(os.path.basename(root))


def corpus_bytes(root: str | os.PathLike[str], *, follow_outside_links: bool = False) -> int:
    """The bytes on disk of the files :func:`read_corpus` would read under ``root`` (the
    total of a progress bar: files are counted before they are read)."""
    root_str = os.fspath(root)
    _check_root(root_str)
    total = 0
    for path, _rel in _files(root_str, ignore_skip, follow_outside_links):
        with contextlib.suppress(OSError):
            total += os.stat(path).st_size
    return total


def _read_corpus(
    root: str,
    skip: SkipHandler,
    max_file_bytes: int,
    on_read: ReadHandler,
    known: Mapping[str, str],
    follow_outside_links: bool,
) -> Iterator[Document]:
    """Generator behind :func:`read_corpus` (split so argument errors raise immediately)."""
    seen: dict[str, tuple[str, int | None]] = {}
    for abs_path, rel_path in _files(root, skip, follow_outside_links):
        located = parse_located(abs_path, rel_path, skip, max_file_bytes, on_read, known)
        for doc, line in located:
            first = seen.get(doc.id)
            if first is not None:
                where = first[0] if first[1] is None else f"{first[0]}, line {first[1]}"
                skip(Skipped(doc.path, f"duplicate id {doc.id!r} (first seen in {where})", line))
                continue
            seen[doc.id] = (doc.path, line)
            yield doc
