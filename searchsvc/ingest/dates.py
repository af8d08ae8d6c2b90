"""A document's date as the formats write it, turned into the ISO date the index stores.

Dates are stored and compared as text (``2024-08-03``), so every form a corpus format writes
is read into that one: an ISO date or timestamp (its date as written, not moved to UTC: an
article of the evening of the 3rd in Montréal is of the 3rd), a date or datetime that a
library already parsed (YAML front matter), a PDF date (``D:20240803140000+02'00'``), an
RFC 2822 date (``Sat, 03 Aug 2024 …``), a French date (``3 août 2024``, ``1er août 2024``,
``samedi 3 août 2024``, ``03/08/2024``). Anything else is refused with a reason, never
guessed.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import unicodedata

__all__ = ["DateError", "iso_date"]

# Years a document may be dated in: a typo ("0224", "20244") is refused rather than sorted
# before or after every real date.
YEARS = (1000, 2999)

_MONTHS = {
    "janvier": 1,
    "janv": 1,
    "fevrier": 2,
    "fevr": 2,
    "fev": 2,
    "mars": 3,
    "avril": 4,
    "avr": 4,
    "mai": 5,
    "juin": 6,
    "juillet": 7,
    "juil": 7,
    "aout": 8,
    "septembre": 9,
    "sept": 9,
    "octobre": 10,
    "oct": 10,
    "novembre": 11,
    "nov": 11,
    "decembre": 12,
    "dec": 12,
}
_WEEKDAYS = "lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche"

_ISO_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_PDF_RE = re.compile(r"D:(\d{4})(\d{2})?(\d{2})?(?:\d{0,6})(?:Z|[+-]\d{2}'?\d{0,2}'?)?.*")
_FRENCH_RE = re.compile(
    rf"(?:(?:{_WEEKDAYS}),?\s+)?(\d{{1,2}})(?:er)?\s+([a-z]+)\.?\s+(\d{{4}})"
    r"(?:,?\s+(?:a|à)?\s*\d{1,2}\s*[h:]\s*\d{0,2}.*)?"
)
_NUMERIC_RE = re.compile(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})")
_RFC2822_RE = re.compile(r"(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{2}:\d{2}.*")


class DateError(ValueError):
    """A date that is not one: the message says why, for the report of the file."""


def iso_date(value: object) -> str:
    """``value`` as an ISO date (``2024-08-03``), or DateError saying why it is not a date."""
    if isinstance(value, dt.datetime):
        return _checked(value.year, value.month, value.day, value)
    if isinstance(value, dt.date):
        return _checked(value.year, value.month, value.day, value)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DateError(f"not a date ({type(value).__name__})")
    text = " ".join(str(value).split())
    if not text:
        raise DateError("empty date")
    shown = text if len(text) <= 40 else text[:39] + "…"
    if m := _ISO_RE.fullmatch(text):
        return _checked(int(m[1]), int(m[2]), int(m[3]), shown)
    if m := _PDF_RE.fullmatch(text):
        if not (m[2] and m[3]):
            raise DateError(f"not a whole date: {shown!r} (no month or day)")
        return _checked(int(m[1]), int(m[2]), int(m[3]), shown)
    folded = _fold(text)
    if m := _FRENCH_RE.fullmatch(folded):
        month = _MONTHS.get(m[2])
        if month is None:
            raise DateError(f"not a date: {shown!r} ({m[2]!r} is no French month)")
        return _checked(int(m[3]), month, int(m[1]), shown)
    if m := _NUMERIC_RE.fullmatch(text):  # French order: day, month, year
        return _checked(int(m[3]), int(m[2]), int(m[1]), shown)
    if _RFC2822_RE.fullmatch(text):
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None:
            return _checked(parsed.year, parsed.month, parsed.day, shown)
    raise DateError(f"not a date in a known form: {shown!r}")


def _fold(text: str) -> str:
    """Lower case without accents, so that "Août", "aout" and "AOÛT" read alike."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _checked(year: int, month: int, day: int, shown: object) -> str:
    """The ISO date of a day that exists in :data:`YEARS`, or DateError."""
    if not YEARS[0] <= year <= YEARS[1]:
        raise DateError(f"year out of range: {shown!s} (from {YEARS[0]} to {YEARS[1]})")
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        raise DateError(f"no such day: {shown!s}") from None
