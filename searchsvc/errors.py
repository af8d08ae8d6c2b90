"""The errors a user can act on, each with a ``kind`` naming the problem and, for bad input,
the ``field`` it is about.

They carry no HTTP status and no French: the web layer turns a kind into a status, an API code
and a French message in one table (:mod:`searchsvc.web.errors`), and the CLI prints the
English message, which always says what to do. Anything else that goes wrong is a bug.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """Every problem searchsvc reports, by name."""

    # Bad input: the request can be fixed by whoever sent it.
    BAD_REQUEST = "bad_request"  # malformed, with no more precise kind
    QUERY_TOO_LONG = "query_too_long"
    TOO_MANY_TERMS = "too_many_terms"
    BAD_NUMBER = "bad_number"  # a parameter that should be a whole number
    BAD_PAGE = "bad_page"
    BAD_PER_PAGE = "bad_per_page"
    BEYOND_WINDOW = "beyond_window"  # a page past the deepest result that may be paged to
    BAD_SORT = "bad_sort"
    BAD_DATE = "bad_date"
    SOURCE_TOO_LONG = "source_too_long"
    BAD_LIMIT = "bad_limit"
    # Well formed, but too costly to run: prefixes standing for too many words, or a search
    # past its time budget.
    TOO_EXPENSIVE = "too_expensive"
    # The index cannot serve.
    NO_INDEX = "no_index"
    INDEX_VERSION = "index_version"
    INDEX_TOO_NEW = "index_too_new"
    INDEX_BUSY = "index_busy"
    INDEX_DAMAGED = "index_damaged"
    INDEX_PATH = "index_path"
    INDEX_WRITE = "index_write"
    # The journal of pushed documents cannot take a change now.
    JOURNAL_BEHIND = "journal_behind"  # too much waits to be applied: retry later
    JOURNAL_UNWRITABLE = "journal_unwritable"  # a full disk, or a read-only one


class SearchsvcError(Exception):
    """A problem a user can act on: ``kind`` says which, the message what to do.

    A subclass names its kind in its header (``class NoIndexError(IndexStateError,
    kind=Kind.NO_INDEX)``); one raise may name a more precise kind (``kind=...``).
    """

    kind: Kind

    def __init_subclass__(cls, kind: Kind | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if kind is not None:
            cls.kind = kind

    def __init__(
        self, message: str, *, kind: Kind | None = None, field: str | None = None, limit=None
    ):
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        self.field = field  # the input it is about (a request parameter), if any
        self.limit = limit  # the limit it broke, if any


class QueryError(SearchsvcError, ValueError, kind=Kind.BAD_REQUEST):
    """The input breaks a limit or a rule of the query language or the search options."""


class QueryTooExpensive(QueryError, kind=Kind.TOO_EXPENSIVE):
    """The query is well formed but would cost too much to run (prefixes, time budget)."""


class IndexStateError(SearchsvcError, kind=Kind.NO_INDEX):
    """The index cannot be used as it is; the message says what to do."""


class NoIndexError(IndexStateError, kind=Kind.NO_INDEX):
    """There is no usable index yet."""


class IndexVersionError(IndexStateError, kind=Kind.INDEX_VERSION):
    """The index was built by an older (or unknown) version of the schema or analyzer; a
    full rebuild replaces it."""


class IndexTooNewError(IndexStateError, kind=Kind.INDEX_TOO_NEW):
    """The index was written by a newer searchsvc: only upgrading searchsvc makes it usable,
    and rebuilding it would throw away what the newer version wrote, so nothing may."""


class IndexBusyError(IndexStateError, kind=Kind.INDEX_BUSY):
    """Another process is writing the index."""


class IndexDamagedError(IndexStateError, kind=Kind.INDEX_DAMAGED):
    """A file of the live index is missing, changed or unreadable; a full rebuild heals it."""


class IndexPathError(IndexStateError, kind=Kind.INDEX_PATH):
    """The index path is not a folder that can hold an index."""


class IndexWriteError(IndexStateError, kind=Kind.INDEX_WRITE):
    """Writing a new generation failed (a full disk, a helper process that died); the live
    generation is untouched."""


class TooManyDeletionsError(IndexWriteError):
    """An index run would delete more of the index than it may unconfirmed (a mistyped
    corpus path, most likely), so it stopped before publishing anything; ``deleting`` of
    the live index's ``documents`` would have gone."""

    def __init__(self, message: str, *, deleting: int, documents: int):
        super().__init__(message)
        self.deleting, self.documents = deleting, documents


class JournalError(SearchsvcError, kind=Kind.JOURNAL_UNWRITABLE):
    """A change pushed over HTTP could not be taken into the journal; nothing of it was
    acknowledged, and nothing acknowledged before is lost."""


class JournalBehindError(JournalError, kind=Kind.JOURNAL_BEHIND):
    """Too many changes wait to be applied (back-pressure): ``retry_after`` seconds is when
    the sender may try again."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class JournalDiskFullError(JournalError, kind=Kind.JOURNAL_UNWRITABLE):
    """The journal cannot be made durable: the disk is full, over quota or read-only."""


def check_between(value: int, low: int, high: int, *, kind: Kind, field: str) -> None:
    """Raise :class:`QueryError` of ``kind`` about ``field`` unless ``low <= value <= high``."""
    if not low <= value <= high:
        raise QueryError(
            f"{field} must be between {low} and {high} (got {value})",
            kind=kind,
            field=field,
            limit=high,
        )


def describe_error(exc: BaseException) -> str:
    """One line for an exception: an OS error's own words and file, else its class and text."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"
