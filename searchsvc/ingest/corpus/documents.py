"""What reading a corpus gives: :class:`Document`, and a report (:class:`Skipped`) of each
file, line or value left out."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


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
