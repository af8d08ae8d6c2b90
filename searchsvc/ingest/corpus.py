"""Read documents from a corpus folder: plain text, Markdown, HTML, PDF, OpenDocument, Word
and JSON Lines files.

This module does no indexing; it only turns files into :class:`Document` objects and reports
every file (or JSONL line) it had to leave out through an ``on_skip`` callback. Each format's
reader (:mod:`~searchsvc.ingest.markdown`, :mod:`~searchsvc.ingest.html`,
:mod:`~searchsvc.ingest.office`) says what the file gives; this module makes the one
mapping of it into a document: title, body, date (:mod:`~searchsvc.ingest.dates`), source,
url, and reports what it had to drop.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import gzip
import hashlib
import json
import os
import re
import stat
import unicodedata
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from searchsvc.index.schema import url_problem
from searchsvc.ingest.dates import DateError, iso_date
from searchsvc.ingest.extracted import Extracted, FormatError
from searchsvc.ingest.html import read_html
from searchsvc.ingest.markdown import read_markdown
from searchsvc.settings import DEFAULT_MAX_FILE_BYTES, TITLE_MAX_CHARS

__all__ = [
    "Document",
    "SkipKind",
    "Skipped",
    "corpus_bytes",
    "decode_bytes",
    "escape_surrogates",
    "first_sentence",
    "normalize_text",
    "parse_file",
    "parse_html",
    "parse_markdown",
    "parse_text",
    "read_corpus",
    "strip_trailing_boilerplate",
]


# Longest first: ".jsonl.gz" must win over a plain ".gz" (which is not read at all).
_EXTENSIONS: tuple[tuple[str, str], ...] = (
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

# Whole-line patterns (case-insensitive) of site chrome found at the start of scraped articles.
LEADING_BOILERPLATE = [
    r"subscribe",
    r"s[’']abonner",
    r"abonnez-vous",
    r"menu",
    r"accueil",
    r"publicit[ée]",
    r"advertisement",
    r"se connecter",
    r"connexion",
    r"rechercher",
    r"search",
    r"skip to (main )?content",
    r"aller au contenu( principal)?",
    r"partager",
    r"share",
    r"tweet",
]

# Whole-line patterns (case-insensitive) of site chrome found at the end of scraped articles.
TRAILING_BOILERPLATE = [
    r"(à )?lire aussi\s*:?",
    r"voir aussi\s*:?",
    r"sur le même sujet\s*:?",
    r"lire la biographie de l.auteur.*",
    r"masquer la biographie de l.auteur.*",
    r"partager( sur .*| cet article.*| l.article.*)?\s*:?",
    r"share( this( article)?)?\s*:?",
    r"articles? (liés?|similaires|connexes)\s*:?",
    r"leave a (reply|comment)",
    r"laisser un commentaire",
    r"your email address will not be published\..*",
    r"votre adresse (e-?mail|de messagerie) ne sera pas publiée.*",
    r"related( posts| articles)?\s*:?",
    r"quitter la version mobile",
    r"subscribe",
    r"s[’']abonner.*",
    r"abonnez-vous.*",
    r"newsletter",
    r"tweet",
    r"imprimer",
    r"e-?mail",
    r"facebook",
    r"linkedin",
    r"commentaires?( \(\d+\))?\s*:?",
    r"\d+ commentaires?",
    r"retour en haut( de la page)?",
    r"haut de page",
    r"publicité",
    r"advertisement",
]

_LEADING_RE = re.compile("|".join(f"(?:{p})" for p in LEADING_BOILERPLATE), re.IGNORECASE)
_TRAILING_RE = re.compile("|".join(f"(?:{p})" for p in TRAILING_BOILERPLATE), re.IGNORECASE)

# A rubric line: one or two words, no sentence punctuation ("Marketing", "Réseaux sociaux").
_RUBRIC_RE = re.compile(r"[^\W\d_][\w&'’-]*(?:[ \u00a0][\w&'’-]+)?")
_RUBRIC_MAX_CHARS = 40

# Sentence end: terminal punctuation, optional closing quotes/brackets, then whitespace.
_SENTENCE_END_RE = re.compile(r"(?:[.!?…]+)[\u00a0\u202f ]*[»”\"’)\]]?(?=\s)")
_ABBREVIATIONS = frozenset(
    "m mm mme mmes mlle dr pr me st ste cf ex p pp vol no fig réf env av apr etc".split()
)
_WORD_BEFORE_RE = re.compile(r"([\w°-]+)$")
_NEXT_CHAR_RE = re.compile(r"\s*(\S)")

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_SURROGATE_RE = re.compile(r"[\udc80-\udcff]")
_LONE_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
_BLANK_RUNS_RE = re.compile(r"\n{3,}")
_OTHER_NEWLINES = ("\x0b", "\x0c", "\x85", "\u2028", "\u2029")
_SPACES_RE = re.compile(r"\s+")
_BINARY_CONTROL_RATIO = 0.05


@dataclass(frozen=True)
class Document:
    """One searchable document, as read from a corpus file (or one JSONL line).

    ``source_hash`` is the digest of what it was read from (see :func:`source_hash`); a
    document made some other way has none, and its content is hashed instead.
    """

    id: str
    title: str
    body: str
    path: str
    url: str | None = None
    date: str | None = None
    source: str | None = None
    source_hash: str | None = field(default=None, compare=False)

    @property
    def content_hash(self) -> str:
        """Hex digest that changes when the document does, so unchanged documents can skip
        reindexing: its source's digest, else its content's."""
        if self.source_hash:
            return self.source_hash
        payload = json.dumps(
            [self.title, self.body, self.url, self.date, self.source], ensure_ascii=False
        )
        return hashlib.blake2b(payload.encode("utf-8"), digest_size=20).hexdigest()

    @classmethod
    def unchanged(cls, doc_id: str, path: str, digest: str) -> Document:
        """A document whose source is byte for byte the one indexed: not read again, so it
        has only its id, path and source digest."""
        return cls(doc_id, "", "", path, source_hash=digest)


# Bump when reading turns the same bytes into another document (parsing, normalisation), so
# that sources unchanged on disk are read again by the next incremental run. 2: a url that is
# not an http or https address is dropped. 3: Markdown front matter and HTML metadata read
# (date, source, url), Markdown rendered to plain text, an HTML page's chrome left out.
READER_VERSION = 3


def source_hash(rel_path: str, raw: bytes) -> str:
    """The digest of a document's source: its path in the corpus and its bytes (a text
    file's, or one JSON Lines line's without its line break)."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{READER_VERSION}\0{rel_path}\0".encode())
    digest.update(raw)
    return digest.hexdigest()


class SkipKind(StrEnum):
    """What a report means for the run: whether it counts as skipped (``searchsvc index``
    then exits 3) and whether an incremental run keeps what the source held before."""

    # A source that could not be read (bad bytes, unreadable, too large): counted, and what
    # it held before is kept, since it may read well again next time.
    FAULT = "fault"
    # A source left out by rule (a link out of the corpus): counted, and what it held before
    # is deleted, since it is not to be served.
    REFUSED = "refused"
    # A hidden file or folder (its name starts with "."): told once, not counted: a ``.git``
    # folder is there on purpose and must not make every run exit 3.
    HIDDEN = "hidden"
    # A document indexed without one of its values (a url that is not http or https, a date
    # that is none) or without the end of its text (a file read in part, within the limits):
    # told, not counted, since the document itself is indexed.
    DROPPED = "dropped"


@dataclass(frozen=True)
class Skipped:
    """A file (or JSONL line) left out of the corpus, with the reason, for the user to fix
    (or, by ``kind``, a hidden entry left out, or a value dropped from an indexed document)."""

    path: str
    reason: str
    line: int | None = None
    kind: SkipKind = SkipKind.FAULT
    # For a DROPPED report, what the document lost: "url", "date", or "text" (read in part).
    dropped: str = "url"

    @property
    def summary_words(self) -> tuple[str, str]:
        """How the run's summary counts a DROPPED report: one, and several."""
        if self.dropped == "text":
            return "file partly read", "files partly read"
        return f"{self.dropped} dropped", f"{self.dropped}s dropped"

    @property
    def counted(self) -> bool:
        """Whether this makes the run one that skipped something (exit status 3)."""
        return self.kind in (SkipKind.FAULT, SkipKind.REFUSED)

    @property
    def keeps_indexed(self) -> bool:
        """Whether an incremental run keeps the documents this source held before."""
        return self.kind is SkipKind.FAULT


SkipHandler = Callable[[Skipped], None]
# Told the bytes of corpus files read since it was last called.
ReadHandler = Callable[[int], None]


# --------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------


def decode_bytes(raw: bytes) -> str:
    """Decode file bytes as UTF-8 (BOM stripped), else cp1252/latin-1, as scraped French text is."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")  # may raise UnicodeDecodeError: caller reports it
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # cp1252 leaves 0x81, 0x8D, 0x8F, 0x90 and 0x9D undefined; map those as latin-1 does.
    text = raw.decode("cp1252", errors="surrogateescape")
    return _SURROGATE_RE.sub(lambda m: chr(ord(m.group()) - 0xDC00), text)


def normalize_text(text: str) -> str:
    """Normalise newlines, NFC, control characters and blank-line runs so all sources look alike."""
    # str methods with cheap membership tests: this runs on every JSONL body (tens of MB).
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    for separator in _OTHER_NEWLINES:
        if separator in text:
            text = text.replace(separator, "\n")
    if _LONE_SURROGATE_RE.search(text):  # from JSON escapes: no encoding can store them
        text = _LONE_SURROGATE_RE.sub("\ufffd", text)
    text = unicodedata.normalize("NFC", text)
    if _CONTROL_RE.search(text):
        text = _CONTROL_RE.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    if "\n\n\n" in text:
        text = _BLANK_RUNS_RE.sub("\n\n", text)
    return text.strip("\n")


def escape_surrogates(name: str) -> str:
    """Name text without loss where it holds lone surrogates, which cannot be stored.

    Python decodes each byte of a file name that is not UTF-8 as a lone surrogate; it
    becomes ``%XX`` (``bad\\xff.txt`` → ``bad%FF.txt``), and a lone surrogate that stands for
    no byte (``"\\ud800"`` in JSON) becomes ``%uD800``. Ids and paths made this way can be
    stored, printed and linked, and two names give the same text only if one literally holds
    the escape.
    """
    if not _LONE_SURROGATE_RE.search(name):
        return name
    return _LONE_SURROGATE_RE.sub(_escaped, name)


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"%{code - 0xDC00:02X}" if 0xDC80 <= code <= 0xDCFF else f"%u{code:04X}"


def _looks_binary(text: str) -> bool:
    """Whether decoded text has so many control characters it cannot be prose."""
    if not text:
        return False
    return len(_CONTROL_RE.findall(text)) / len(text) > _BINARY_CONTROL_RATIO


def _shorten(text: str, limit: int = TITLE_MAX_CHARS) -> str:
    """Cut text to at most ``limit`` characters on a word boundary, marking the cut with '…'."""
    text = _SPACES_RE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


def _sentence_breaks(text: str) -> Iterator[int]:
    """Offsets just after each sentence end in ``text`` (abbreviations and initials excluded)."""
    for m in _SENTENCE_END_RE.finditer(text):
        nxt = _NEXT_CHAR_RE.match(text, m.end())
        if nxt and nxt.group(1).islower():
            continue  # "p. ex. une", "etc. et": not a sentence start
        if text[m.start()] == ".":
            word = _WORD_BEFORE_RE.search(text, max(0, m.start() - 40), m.start())
            if word and (
                word.group(1).lower() in _ABBREVIATIONS
                or (len(word.group(1)) == 1 and word.group(1).isupper())
            ):
                continue
        yield m.end()


def first_sentence(text: str, limit: int = TITLE_MAX_CHARS) -> str:
    """First sentence of the first paragraph (cut to ``limit`` chars), used as a fallback title."""
    paragraph = text.strip().split("\n\n", 1)[0]
    paragraph = _SPACES_RE.sub(" ", paragraph).strip()
    end = next(_sentence_breaks(paragraph), len(paragraph))
    return _shorten(paragraph[:end], limit)


def _is_boilerplate(line: str, pattern: re.Pattern[str]) -> bool:
    """Whether a whole (stripped) line matches a boilerplate pattern."""
    return pattern.fullmatch(_SPACES_RE.sub(" ", line).strip()) is not None


def _is_rubric(line: str) -> bool:
    """Whether a line is a one- or two-word section label such as "Marketing" or "Cloud"."""
    line = line.strip()
    return len(line) <= _RUBRIC_MAX_CHARS and _RUBRIC_RE.fullmatch(line) is not None


def _is_headline(line: str, next_line: str | None) -> bool:
    """Whether a line reads as a headline: short, one sentence, no final period, not wrapped."""
    line = line.strip()
    if not line or len(line) > TITLE_MAX_CHARS or line.endswith((".", "…", ",", ";", ":")):
        return False
    if next(_sentence_breaks(line), None) is not None:
        return False
    # A hard-wrapped paragraph continues on the next line with a lowercase word.
    return not (next_line and next_line.strip()[:1].islower())


def strip_trailing_boilerplate(text: str) -> str:
    """Drop site chrome ("Lire aussi :", "Leave a Reply", …) from the end of an article body."""
    lines = text.split("\n")
    while lines and (not lines[-1].strip() or _is_boilerplate(lines[-1], _TRAILING_RE)):
        lines.pop()
    return "\n".join(lines)


def _join_body(lines: list[str]) -> str:
    """Join body lines back into text with collapsed blank lines."""
    return normalize_text("\n".join(lines))


def parse_text(text: str) -> tuple[str, str]:
    """Split a scraped article into (title, body), skipping site chrome and rubric labels."""
    text = normalize_text(text)
    lines = text.split("\n")
    n = len(lines)

    def next_content(i: int) -> int:
        while i < n and not lines[i].strip():
            i += 1
        return i

    def headline_at(k: int) -> bool:
        return k < n and _is_headline(lines[k], lines[k + 1] if k + 1 < n else None)

    # Leading chrome ("Subscribe"), then rubric labels that sit right above a real headline
    # (a short line above a paragraph is more likely a short headline than a rubric).
    i = next_content(0)
    while i < n and _is_boilerplate(lines[i], _LEADING_RE):
        i = next_content(i + 1)
    k = i
    while k < n and _is_rubric(lines[k]):
        k = next_content(k + 1)
        if headline_at(k) and not _is_rubric(lines[k]):
            i = k
            break
    if i >= n:  # nothing but chrome: keep the text as it is rather than lose the file
        return first_sentence(text), text

    if not headline_at(i):
        body = strip_trailing_boilerplate(_join_body(lines[i:]))
        return first_sentence(body), body

    title = _SPACES_RE.sub(" ", lines[i]).strip()
    j = next_content(i + 1)
    rubrics = 0
    while (
        j < n and rubrics < 2 and (_is_rubric(lines[j]) or _is_boilerplate(lines[j], _LEADING_RE))
    ):
        j = next_content(j + 1)
        rubrics += 1
    body = strip_trailing_boilerplate(_join_body(lines[j:]))
    return title, body or title


def parse_markdown(text: str) -> tuple[str, str]:
    """Split Markdown into (title, body): the body rendered to plain text (see
    :mod:`searchsvc.ingest.markdown`), the title from the front matter or the first level-1
    heading, else as :func:`parse_text` finds one. A file it cannot read gives ("", "")."""
    try:
        found = read_markdown(normalize_text(text))
    except FormatError:
        return "", ""
    return _title_and_body(found, "markdown")


def parse_html(html: str) -> tuple[str, str]:
    """Split an HTML page into (title, its article's text) (see :mod:`searchsvc.ingest.html`);
    never raises on malformed markup (a page it cannot read gives ("", ""))."""
    try:
        found = read_html(html)
    except FormatError:
        return "", ""
    return _title_and_body(found, "html")


def _title_and_body(found: Extracted, kind: str) -> tuple[str, str]:
    """A reader's title and body made into the corpus's: text normalised, chrome lines cut
    from the end of a page, the title cut to TITLE_MAX_CHARS, or found in the text when the
    file names none (a Markdown file's first line may be its headline, as a text's)."""
    if kind == "text":
        return parse_text(found.body)
    body = normalize_text(found.body)
    if kind in ("markdown", "html"):
        body = strip_trailing_boilerplate(body)
    title = _SPACES_RE.sub(" ", normalize_text(found.title or "")).strip()
    if title:
        first, _, rest = body.partition("\n\n")
        if _SPACES_RE.sub(" ", first).strip().casefold() == title.casefold():
            body = rest  # the title written again as the first paragraph (a heading)
        return _shorten(title), body or _shorten(title)
    if kind == "markdown":
        return parse_text(body)
    return first_sentence(body), body


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _kind(name: str) -> tuple[str, str] | None:
    """(extension, kind) of a file name we read, or None for files to ignore."""
    lower = name.lower()
    for ext, kind in _EXTENSIONS:
        if lower.endswith(ext) and len(name) > len(ext):
            return ext, kind
    return None


def _os_reason(exc: OSError) -> str:
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
        skip(Skipped(rel_path, _os_reason(exc)))
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
    title, body = _title_and_body(found, kind)
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
    if _looks_binary(text):
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
        source = _SPACES_RE.sub(" ", normalize_text(found.source)).strip() or None
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


def _ignore_position(_: int) -> None:
    """Default position handler: drop the report."""


_NOTHING_KNOWN: Mapping[str, str] = {}


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
        text = _LONE_SURROGATE_RE.sub("\ufffd", str(value)).strip()
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
    title = _SPACES_RE.sub(" ", title) if title else first_sentence(body)
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
    at: Callable[[int], None] = _ignore_position,
    known: Mapping[str, str] = _NOTHING_KNOWN,
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
        skip(Skipped(rel_path, _os_reason(exc)))
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


def _ignore_skip(_: Skipped) -> None:
    """Default skip handler: drop the report."""


def _parse_located(
    abs_path: str,
    rel_path: str,
    skip: SkipHandler,
    max_file_bytes: int,
    on_read: ReadHandler = _ignore_position,
    known: Mapping[str, str] = _NOTHING_KNOWN,
) -> Iterator[tuple[Document, int | None]]:
    """Documents of one file with their JSONL line number (None for other kinds).

    ``on_read`` gets the bytes of the file read since its last call, its whole size in all
    (skipped files included), so that a progress bar over the corpus's size ends full.
    """
    found = _kind(os.path.basename(abs_path))
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
        skip(Skipped(rel_path, _os_reason(exc)))
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
    for doc, _line in _parse_located(abs_path, rel_path, on_skip or _ignore_skip, max_file_bytes):
        yield doc


# --------------------------------------------------------------------------------------------
# Corpus walk
# --------------------------------------------------------------------------------------------


def _sorted_entries(abs_dir: str, rel_dir: str, skip: SkipHandler) -> list[os.DirEntry]:
    """The entries of a folder by name, or none (reported) when it cannot be listed."""
    try:
        with os.scandir(abs_dir) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        skip(Skipped(rel_dir or ".", _os_reason(exc)))
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
            skip(Skipped(rel, _os_reason(exc)))
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if not is_dir and _kind(entry.name) is None:
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
            yield entry.path, rel  # _parse_located reports non-regular files


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
    elif _kind(entry.name) is not None:
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
        on_skip or _ignore_skip,
        max_file_bytes,
        on_read or _ignore_position,
        _NOTHING_KNOWN if known is None else known,
        follow_outside_links,
    )


def _check_root(root: str) -> None:
    if not os.path.exists(root):
        raise FileNotFoundError(errno.ENOENT, "corpus not found", root)
    if not os.path.isdir(root) and _kind(os.path.basename(root)) is None:
        kinds = ", ".join(ext for ext, _kind_ in _EXTENSIONS)
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
    for path, _rel in _files(root_str, _ignore_skip, follow_outside_links):
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
        located = _parse_located(abs_path, rel_path, skip, max_file_bytes, on_read, known)
        for doc, line in located:
            first = seen.get(doc.id)
            if first is not None:
                where = first[0] if first[1] is None else f"{first[0]}, line {first[1]}"
                skip(Skipped(doc.path, f"duplicate id {doc.id!r} (first seen in {where})", line))
                continue
            seen[doc.id] = (doc.path, line)
            yield doc
