"""Synonyms applied to queries, read from a file in Solr's format (which Elasticsearch and
OpenSearch read too), and reloaded when it changes.

One rule a line; blank lines and lines starting with ``#`` are skipped::

    vélo, bicyclette              # no: a comment takes a whole line
    vélo, bicyclette, biclou      each stands for the others (equivalent)
    TGV => train à grande vitesse the left side also finds the right side, not back (one way)

Each side is analysed as a query is (:func:`~searchsvc.text.analysis.analyze_query`): case,
accents, elisions and stop words do not matter, and a word matches a rule by its exact form
or a stem (``vélos`` matches ``vélo``). Unlike Solr, where ``=>`` replaces the left side,
the words typed are always searched too, and first: a synonym only adds (see
:class:`~searchsvc.query.plan.QueryBuilder`). Nothing is indexed: a change needs no reindex.

:class:`Synonyms` holds the file's last good rules (:class:`SynonymSet`) and looks for a
change at most once a second; a bad line is one error naming the file and the line, logged,
and the rules in force stay so.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from searchsvc.settings import (
    MAX_SYNONYMS_BYTES,
    MAX_SYNONYMS_PER_WORD,
    SYNONYMS_CHECK_EVERY_S,
)
from searchsvc.text.analysis import analyze_query, fold, word_terms

log = logging.getLogger("searchsvc.synonyms")

# Unescaped ``=>`` and ``,`` (Solr's parser lets ``\\,`` stand for a comma inside a term).
_ARROW_RE = re.compile(r"(?<!\\)=>")
_COMMA_RE = re.compile(r"(?<!\\),")
_ESCAPE_RE = re.compile(r"\\(.)")
_SPACES_RE = re.compile(r"\s+")
# Each successful load gets the next number: result pages cached under an older set are
# never served once it is replaced.
_versions = itertools.count(1)


class SynonymsError(ValueError):
    """A synonyms file that cannot be used: its message is one line naming the file, and the
    line when one is at fault (``synonyms.txt:3: …``)."""


def unit_keys(exact: str, stems: Iterable[str] = ()) -> frozenset[str]:
    """What a word is matched by: its exact (folded) form and its stems, folded, so that a
    rule written with or without accents matches alike."""
    return frozenset((exact, *(fold(s) for s in stems if s)))


@dataclass(frozen=True)
class Synonym:
    """One term of a rule: its text as written (spaces collapsed) and its analysed words, one
    set of :func:`unit_keys` per word (stop words left out, a compound one word)."""

    text: str
    units: tuple[frozenset[str], ...]
    # The words' exact forms: two terms with the same are one term (``Vélo``, ``velo``).
    key: tuple[str, ...]

    @property
    def phrase(self) -> bool:
        """Several words: matched as a phrase (``train à grande vitesse``)."""
        return len(self.units) > 1


@dataclass(frozen=True)
class SynonymSet:
    """Parsed rules, by the keys of their first word: what a run of query words adds."""

    version: int = 0
    # First word's key -> (a term's units, the synonyms it brings), longest terms first.
    rules: dict[str, list[tuple[tuple[frozenset[str], ...], tuple[Synonym, ...]]]] = field(
        default_factory=dict
    )
    count: int = 0  # rule lines

    def __bool__(self) -> bool:
        return bool(self.rules)

    def longest(self, words: Sequence[frozenset[str]], start: int, ends: Callable[[int], bool]):
        """The rule terms matching ``words`` from ``start`` (each word given by its
        :func:`unit_keys`), longest first, whose end ``ends`` accepts (a word boundary of the
        query); ``(length, synonyms)`` of the longest, merged across rules, or None."""
        found: dict[int, dict[tuple[str, ...], Synonym]] = {}
        seen: set[int] = set()
        for key in words[start]:
            for units, synonyms in self.rules.get(key, ()):
                if id(units) in seen:
                    continue
                seen.add(id(units))
                end = start + len(units)
                if end > len(words) or not ends(end):
                    continue
                typed = words[start:end]
                if _same(units, typed):
                    bucket = found.setdefault(len(units), {})
                    for syn in synonyms:
                        if not _same(syn.units, typed):  # not the words typed once more
                            bucket.setdefault(syn.key, syn)
        found = {length: bucket for length, bucket in found.items() if bucket}
        if not found:
            return None
        length = max(found)
        return length, tuple(found[length].values())


def _same(units: Sequence[frozenset[str]], words: Sequence[frozenset[str]]) -> bool:
    """Whether a rule's words are these query words (each by its form or a stem)."""
    return len(units) == len(words) and all(
        not u.isdisjoint(w) for u, w in zip(units, words, strict=True)
    )


EMPTY = SynonymSet()


def parse(text: str, source: str = "synonyms") -> SynonymSet:
    """Parse rules in Solr's format; :class:`SynonymsError` at the first bad line, naming
    ``source`` and the line."""
    # Term's units -> the synonyms it brings, in the order the file gives them.
    mapping: dict[tuple[str, ...], tuple[tuple[frozenset[str], ...], dict]] = {}
    count = 0
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            sides = _rule(line)
        except SynonymsError as e:
            raise SynonymsError(f"{source}:{number}: {e}") from None
        count += 1
        for term, added in sides:
            units, brought = mapping.setdefault(term.key, (term.units, {}))
            for syn in added:
                if syn.key != term.key:
                    brought.setdefault(syn.key, syn)
            if len(brought) > MAX_SYNONYMS_PER_WORD:
                raise SynonymsError(
                    f"{source}:{number}: {term.text!r} has more than {MAX_SYNONYMS_PER_WORD} "
                    "synonyms (each is searched with it)"
                )
    rules: dict[str, list] = {}
    for units, brought in mapping.values():
        if not brought:
            continue
        entry = (units, tuple(brought.values()))
        for key in units[0]:
            rules.setdefault(key, []).append(entry)
    for entries in rules.values():
        entries.sort(key=lambda e: -len(e[0]))
    return SynonymSet(next(_versions), rules, count)


def _rule(line: str) -> list[tuple[Synonym, list[Synonym]]]:
    """One line as ``(term, synonyms it brings)`` pairs; SynonymsError saying what is wrong."""
    sides = _ARROW_RE.split(line)
    if len(sides) > 2:
        raise SynonymsError("more than one '=>' in a rule")
    if len(sides) == 2:
        right = _terms(sides[1], "right")
        return [(term, right) for term in _terms(sides[0], "left")]
    terms = _terms(line, None)
    if len(terms) < 2:
        raise SynonymsError(
            f"a rule needs two synonyms or more, separated by commas (got {terms[0].text!r})"
        )
    return [(term, [t for t in terms if t is not term]) for term in terms]


def _terms(side: str, which: str | None) -> list[Synonym]:
    """The comma-separated terms of one side of a rule, each analysed."""
    where = f" on the {which} of '=>'" if which else ""
    raw = [_SPACES_RE.sub(" ", _ESCAPE_RE.sub(r"\1", t)).strip() for t in _COMMA_RE.split(side)]
    if len(raw) == 1 and not raw[0]:
        raise SynonymsError(f"nothing{where}")
    terms = []
    for text in raw:
        if not text:
            raise SynonymsError(f"an empty synonym between commas{where}")
        if re.search(r"\s#", text):
            raise SynonymsError(
                f"{text!r}: a comment takes a whole line (a line starting with '#')"
            )
        words = [t for t in analyze_query(text) if t.role != "part"]
        if not words:
            raise SynonymsError(f"{text!r} has no word to search (only common words)")
        terms.append(Synonym(text, tuple(_keys(t) for t in words), tuple(t.exact for t in words)))
    return terms


def _keys(token) -> frozenset[str]:
    """A rule word's :func:`unit_keys`: its exact form and the stems of its form as written
    (a compound is its joined form; the parts of a compound ride on it, as in a query)."""
    return unit_keys(token.exact, word_terms(token.base).stems if token.kind == "word" else ())


def load(path: str | os.PathLike) -> SynonymSet:
    """Read and parse a synonyms file (UTF-8); :class:`SynonymsError` with one line naming
    the file (and the line) when it cannot be read or a line is bad."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SynonymsError(f"{path}: cannot read the synonyms file ({e.strerror})") from None
    if len(data) > MAX_SYNONYMS_BYTES:
        raise SynonymsError(
            f"{path}: the synonyms file is over {MAX_SYNONYMS_BYTES // 1024} kB ({len(data)} bytes)"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise SynonymsError(f"{path}:{line}: not UTF-8 text") from None
    return parse(text, str(path))


class Synonyms:
    """A synonyms file and its last good rules, reloaded when the file changes.

    :meth:`current` looks at the file (its size, time and inode) at most every
    ``check_every`` seconds, so a search costs a clock read; a change is parsed at once, and
    a file that cannot be read or has a bad line is logged (``searchsvc.synonyms``), kept in
    :attr:`error`, and leaves the rules in force as they were. Safe to share between threads.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        check_every: float = SYNONYMS_CHECK_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        """Read the file at once: :attr:`error` says when it could not be used (a command
        stops on it; a server starts without synonyms, logged, and picks up a fixed file)."""
        self.path = Path(path)
        self.check_every = check_every
        self._clock = clock
        self._lock = threading.Lock()
        self._set = EMPTY
        self._stamp: tuple | None = None
        self.error: str | None = None
        self._checked = clock()
        self._reload()

    def current(self) -> SynonymSet:
        """The rules in force, the file looked at again when ``check_every`` has passed."""
        now = self._clock()
        if now - self._checked < self.check_every:
            return self._set
        with self._lock:
            if now - self._checked >= self.check_every:
                self._checked = now
                self._reload()
        return self._set

    def _reload(self) -> None:
        try:
            st = os.stat(self.path)
            stamp: tuple = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
        except OSError as e:
            stamp = ("missing", e.errno)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._set = load(self.path)
        except SynonymsError as e:
            self.error = str(e)
            n = self._set.count
            kept = f"keeping the {n} rule{'s' if n > 1 else ''} in force" if n else "no synonyms"
            log.error("%s; %s", e, kept)
            return
        self.error = None
