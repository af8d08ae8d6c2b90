"""What a format reader hands the corpus: a file's text and metadata as the file gives them,
before the corpus checks them (dates parsed, urls kept only if http or https, titles cut)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Extracted", "FormatError", "MissingLibraryError"]


@dataclass
class Extracted:
    """A file's fields as its format gives them; ``None`` where the file says nothing.

    ``date`` is raw (a string, or a date a library already parsed); ``cut`` holds why the
    file was read only in part (too many pages, say), one sentence each; ``draft`` marks a
    document its author has not published.
    """

    body: str
    title: str | None = None
    date: object = None
    source: str | None = None
    url: str | None = None
    draft: bool = False
    cut: list[str] = field(default_factory=list)


class FormatError(ValueError):
    """A file its format's reader cannot read (damaged, or with no text): the message is the
    reason reported for the skipped file."""


class MissingLibraryError(FormatError):
    """A file whose format needs a library that is not installed; the message names the
    extra that brings it."""
