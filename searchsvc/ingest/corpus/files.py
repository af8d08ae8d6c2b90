"""One corpus file into documents, or reports of why not: its kind from its name, its bytes
read within the limits, JSON Lines line by line here, the other kinds through their readers,
the date, source and url each file gives checked."""

from __future__ import annotations

import codecs
import errno
import gzip
import json
import os
import stat
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path

from searchsvc.index.schema import url_problem
from searchsvc.ingest.corpus.documents import (
    Document,
    ReadHandler,
    SkipHandler,
    SkipKind,
    Skipped,
    source_hash,
)
from searchsvc.ingest.corpus.text import (
    LONE_SURROGATE_RE,
    SPACES_RE,
    decode_bytes,
    escape_surrogates,
    first_sentence,
    looks_binary,
    normalize_text,
    title_and_body,
)
from searchsvc.ingest.dates import DateError, iso_date
from searchsvc.ingest.extracted import Extracted, FormatError
from searchsvc.ingest.html import read_html
from searchsvc.ingest.markdown import read_markdown
from searchsvc.settings import DEFAULT_MAX_FILE_BYTES

# Longest first: ".jsonl.gz" must win over a plain ".gz" (which is not read at all).
EXTENSIONS: tuple[tuple[str, str], ...] = (
    (".jsonl.gz", "jsonl"),
    (".jsonl", "jsonl"),
    (".txt", "text"),
    (".md", "markdown"),
    (".html", "html"),
    (".htm", "html"),
    (".pdf", "pdf"),
    (".odt", "odt"),
    (".docx", "docx"),
)
# Kinds read from their bytes by a library (searchsvc.ingest.office), not decoded as text.
_BINARY_KINDS = frozenset({"pdf", "odt", "docx"})


def file_kind(name: str) -> tuple[str, str] | None:
    """(extension, kind) of a file name we read, or None for files to ignore."""
    lower = name.lower()
    for ext, kind in EXTENSIONS:
        if lower.endswith(ext) and len(name) > len(ext):
            return ext, kind
    return None


def os_reason(exc: OSError) -> str:
    """A short human reason for an OS error on a file."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    return f"unreadable ({exc.strerror or exc})"


def _read_document_file(
    abs_path: str,
    rel_path: str,
    ext: str,
    kind: str,
    size: int,
    max_bytes: int,
    skip: SkipHandler,
    known: Mapping[str, str],
) -> Document | None:
    """Read one file of a kind other than JSON Lines into a Document, or report why not.

    A file whose digest is in ``known`` (source digest → id) is not parsed again.
    """
    if size > max_bytes:
        skip(Skipped(rel_path, f"file too large ({size} bytes > limit {max_bytes})"))
        return None
    try:
        with open(abs_path, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        skip(Skipped(rel_path, os_reason(exc)))
        return None
    if len(raw) > max_bytes:  # grew since stat
        skip(Skipped(rel_path, f"file too large (over limit {max_bytes} bytes)"))
        return None
    if not raw:
        skip(Skipped(rel_path, "empty file"))
        return None
    digest = source_hash(rel_path, raw)
    if digest in known:
        return Document.unchanged(known[digest], rel_path, digest)
    if kind in _BINARY_KINDS:
        found: Extracted | str = _read_binary(raw, kind)
    else:
        found = _read_text(raw, kind)
    if isinstance(found, str):
        skip(Skipped(rel_path, found))
        return None
    if found.draft:
        skip(
            Skipped(
                rel_path,
                "a draft (draft: true or published: false in its front matter)",
                kind=SkipKind.REFUSED,
            )
        )
        return None
    title, body = title_and_body(found, kind)
    if not body.strip():
        skip(Skipped(rel_path, "no text content"))
        return None
    doc = Document(
        id=rel_path[: -len(ext)], title=title, body=body, path=rel_path, source_hash=digest
    )
    return _with_metadata(doc, found, skip)


def _read_text(raw: bytes, kind: str) -> Extracted | str:
    """A .txt, .md or .html file's fields, or why it is not read (bad bytes, damaged)."""
    is_utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if b"\x00" in raw and not is_utf16:
        return "not valid text (binary data)"
    try:
        text = decode_bytes(raw)
    except UnicodeDecodeError as exc:
        return f"undecodable ({exc.reason})"
    if looks_binary(text):
        return "not valid text (binary data)"
    if not text.strip():
        return "empty file"
    try:
        if kind == "html":
            return read_html(text)
        if kind == "markdown":
            return read_markdown(normalize_text(text))
    except FormatError as exc:
        return str(exc)
    return Extracted(body=text)


def _read_binary(raw: bytes, kind: str) -> Extracted | str:
    """A PDF, .odt or .docx file's fields, or why it is not read (damaged, a scan, a
    library missing). Imported here: the office readers' libraries are an optional extra."""
    from searchsvc.ingest import office

    reader = {"pdf": office.read_pdf, "odt": office.read_odt, "docx": office.read_docx}[kind]
    try:
        return reader(raw)
    except FormatError as exc:
        return str(exc)
    except RecursionError:
        return f"damaged {kind.upper()} file (nested too deeply)"


def _with_metadata(doc: Document, found: Extracted, skip: SkipHandler) -> Document:
    """``doc`` with the date, source and url its file gives, each checked: a date that is
    none or a url that is not http or https is dropped and told (the document is indexed
    without it), as is the end of a text read only in part."""
    date = source = url = None
    if found.date is not None:
        try:
            date = iso_date(found.date)
        except DateError as exc:
            skip(Skipped(doc.path, f"date dropped ({exc})", kind=SkipKind.DROPPED, dropped="date"))
    if found.source:
        source = SPACES_RE.sub(" ", normalize_text(found.source)).strip() or None
    if found.url:
        url = found.url.strip()
        why = url_problem(url)
        if why is not None:
            skip(Skipped(doc.path, f"url dropped ({why})", kind=SkipKind.DROPPED))
            url = None
    for reason in found.cut:
        skip(Skipped(doc.path, f"partly read: {reason}", kind=SkipKind.DROPPED, dropped="text"))
    return replace(doc, date=date, source=source, url=url)


# JSON Lines lines between two reports of how far reading has come.
_POSITION_EVERY = 256


def ignore_position(_: int) -> None:
    """Default position handler: drop the report."""


NOTHING_KNOWN: Mapping[str, str] = {}


def _iter_lines(fh, limit: int) -> Iterator[tuple[int, bytes | None, int]]:
    """Yield (line number, bytes or None if over ``limit``, length) without reading whole lines."""
    lineno = 0
    while True:
        chunk = fh.readline(limit + 1)
        if not chunk:
            return
        lineno += 1
        if chunk.endswith(b"\n") or len(chunk) <= limit:
            yield lineno, chunk, len(chunk.rstrip(b"\r\n"))
            continue
        total = len(chunk)
        while True:  # consume the rest of an over-long line in bounded pieces
            more = fh.readline(1 << 20)
            if not more:
                break
            if more.endswith(b"\n"):
                total += len(more) - 1
                break
            total += len(more)
        yield lineno, None, total


def _meta(value: object) -> str | None:
    """An optional metadata value as a non-empty string, or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        text = LONE_SURROGATE_RE.sub("\ufffd", str(value)).strip()
        return text or None
    return None


def _jsonl_document(obj: object, rel_path: str, digest: str | None = None) -> Document | str:
    """Build a Document from one parsed JSONL value, or return the reason it is rejected."""
    if not isinstance(obj, dict):
        return f"not a JSON object ({type(obj).__name__})"
    for name in ("id", "body"):
        if name not in obj or obj[name] is None:
            return f"missing field {name!r}"
    raw_id = obj["id"]
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        return "field 'id' is not a string or integer"
    doc_id = escape_surrogates(str(raw_id))
    if not doc_id.strip():
        return "empty field 'id'"
    body, title = obj["body"], obj.get("title")
    if not isinstance(body, str):
        return "field 'body' is not a string"
    if title is not None and not isinstance(title, str):
        return "field 'title' is not a string"
    body = normalize_text(body)
    if not body:
        return "empty field 'body'"
    title = normalize_text(title) if title else ""
    title = SPACES_RE.sub(" ", title) if title else first_sentence(body)
    return Document(
        id=doc_id,
        title=title,
        body=body,
        path=rel_path,
        url=_meta(obj.get("url")),
        date=_meta(obj.get("date")),
        source=_meta(obj.get("source")),
        source_hash=digest,
    )


def _read_jsonl(
    abs_path: str,
    rel_path: str,
    gzipped: bool,
    max_bytes: int,
    skip: SkipHandler,
    at: Callable[[int], None] = ignore_position,
    known: Mapping[str, str] = NOTHING_KNOWN,
) -> Iterator[tuple[Document, int]]:
    """Stream (Document, line number) pairs from a .jsonl or .jsonl.gz file, reporting bad lines.

    ``at`` is told now and then how far into the file (its bytes on disk) reading has come.
    A line whose digest is in ``known`` (source digest → id) is not parsed again.
    """
    lineno = 0
    found = False
    try:
        raw_file = open(abs_path, "rb")  # noqa: SIM115 - closed by fh, or below
    except OSError as exc:
        skip(Skipped(rel_path, os_reason(exc)))
        return
    fh = gzip.GzipFile(fileobj=raw_file, mode="rb") if gzipped else raw_file
    with raw_file, fh:
        lines = _iter_lines(fh, max_bytes)
        while True:
            if lineno % _POSITION_EVERY == 0:
                at(raw_file.tell())
            try:
                item = next(lines, None)
            except (OSError, EOFError, zlib.error) as exc:
                # Nothing after a read error can be trusted to start on a line boundary (a
                # gzip stream cannot even be resumed): the rest of the file is left out, and
                # the report says from which line on.
                reason = "corrupt gzip data" if gzipped else "read error"
                skip(
                    Skipped(
                        rel_path,
                        f"{reason} ({exc}); nothing read from line {lineno + 1} on",
                        lineno + 1,
                    )
                )
                return
            if item is None:
                break
            lineno, raw, length = item
            if raw is None:
                skip(
                    Skipped(
                        rel_path, f"line too large ({length} bytes > limit {max_bytes})", lineno
                    )
                )
                found = True
                continue
            if not raw.strip():
                continue
            found = True
            digest = source_hash(rel_path, raw.rstrip(b"\r\n"))
            if digest in known:
                yield Document.unchanged(known[digest], rel_path, digest), lineno
                continue
            if b"\x00" in raw:  # this line only: the next line break ends it all the same
                skip(Skipped(rel_path, "not valid text (binary data)", lineno))
                continue
            if lineno == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = decode_bytes(raw)
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                skip(Skipped(rel_path, _json_reason(exc), lineno))
                continue
            except RecursionError:
                skip(Skipped(rel_path, "invalid JSON: nested too deeply", lineno))
                continue
            doc = _jsonl_document(obj, rel_path, digest)
            if isinstance(doc, str):
                skip(Skipped(rel_path, doc, lineno))
                continue
            why = None if doc.url is None else url_problem(doc.url)
            if why is not None:
                doc = replace(doc, url=None)
                skip(Skipped(rel_path, f"url dropped ({why})", lineno, SkipKind.DROPPED))
            yield doc, lineno
    if not found:
        skip(Skipped(rel_path, "empty file"))


def _json_reason(exc: json.JSONDecodeError) -> str:
    """Why a JSON Lines line is not JSON, whole: the parser's words end in "at" and rely on
    the position that ``msg`` leaves out."""
    what = exc.msg.removesuffix(" at").removesuffix(":")
    hint = ""
    if what.startswith("Invalid control character"):
        hint = " (a tab or line break inside a string must be written \\t or \\n)"
    return f"invalid JSON at column {exc.colno}: {what[:1].lower()}{what[1:]}{hint}"


def ignore_skip(_: Skipped) -> None:
    """Default skip handler: drop the report."""


def parse_located(
    abs_path: str,
    rel_path: str,
    skip: SkipHandler,
    max_file_bytes: int,
    on_read: ReadHandler = ignore_position,
    known: Mapping[str, str] = NOTHING_KNOWN,
) -> Iterator[tuple[Document, int | None]]:
    """Documents of one file with their JSONL line number (None for other kinds).

    ``on_read`` gets the bytes of the file read since its last call, its whole size in all
    (skipped files included), so that a progress bar over the corpus's size ends full.
    """
    found = file_kind(os.path.basename(abs_path))
    if found is None:
        return
    ext, kind = found
    try:
        st = os.stat(abs_path)
    except FileNotFoundError:
        reason = "broken symlink" if os.path.islink(abs_path) else "file not found"
        skip(Skipped(rel_path, reason))
        return
    except OSError as exc:
        skip(Skipped(rel_path, os_reason(exc)))
        return
    if not stat.S_ISREG(st.st_mode):
        skip(Skipped(rel_path, "not a regular file"))
        return
    reported = 0

    def at(position: int) -> None:
        nonlocal reported
        position = min(position, st.st_size)
        if position > reported:
            on_read(position - reported)
            reported = position

    try:
        if kind == "jsonl":
            gzipped = ext.endswith(".gz")
            yield from _read_jsonl(abs_path, rel_path, gzipped, max_file_bytes, skip, at, known)
            return
        doc = _read_document_file(
            abs_path, rel_path, ext, kind, st.st_size, max_file_bytes, skip, known
        )
        if doc is not None:
            yield doc, None
    finally:
        at(st.st_size)


def parse_file(
    path: str | os.PathLike[str],
    root: str | os.PathLike[str],
    on_skip: SkipHandler | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Iterator[Document]:
    """Documents of one corpus file (ids relative to ``root``); problems go to ``on_skip``.

    Unlike :func:`read_corpus` this does not drop duplicate ids.
    """
    abs_path = os.fspath(path)
    rel_path = escape_surrogates(Path(os.path.relpath(abs_path, os.fspath(root))).as_posix())
    for doc, _line in parse_located(abs_path, rel_path, on_skip or ignore_skip, max_file_bytes):
        yield doc
