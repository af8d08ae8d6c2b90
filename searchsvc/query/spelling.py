"""Did-you-mean: close, more frequent words from the index's exact (folded) vocabulary.

Closeness is the optimal string alignment distance: insertions, deletions, substitutions and
swaps of two adjacent letters each count one edit, so ``merkle`` is one edit from ``merkel``
(plain Levenshtein counts a swap as two, more than a six-letter word is allowed).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import zipfile
from collections.abc import Iterable, Iterator
from itertools import islice
from operator import itemgetter
from pathlib import Path

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA
from whoosh.reading import IndexReader

from searchsvc.index import storage
from searchsvc.index.caches import LRU, frequency
from searchsvc.index.schema import TEXT_FIELDS
from searchsvc.index.whoosh_internals.segment_keys import reader_serial, segment_key, stable_key
from searchsvc.settings import COMMON_DOCS, MAX_WORD_CHARS, VOCABULARIES_KEPT, WALK_STEP
from searchsvc.text.analysis import STEM_MARK


def max_edits(word: str) -> int:
    """Edits allowed for a word of this length: none under 5 letters, 1 from 5, 2 from 9."""
    n = len(word)
    if n > MAX_WORD_CHARS:
        return 0  # no word is this long: comparing it with the vocabulary is wasted time
    return 0 if n < 5 else 1 if n < 9 else 2


def max_field_frequency(reader: IndexReader, word: str) -> int:
    """The larger of ``word``'s document frequencies (an exact term) in the title and in the
    body: at least that many documents hold it, and none is counted twice. Read through the
    per-reader frequencies searches keep (one look-up a segment, where Whoosh's makes two;
    a misspelt word may have dozens of candidates)."""
    return max(frequency(reader, f, word) for f in TEXT_FIELDS)


def _within(reader: IndexReader, word: str, dist: int) -> set[str]:
    """Words within ``dist`` edits of ``word`` (same first letter): body words, else titles.

    Edits are counted as optimal string alignment (an adjacent swap is one edit), so these are
    Whoosh's ``terms_within(..., prefix=1)`` words (plain Levenshtein, walked with an automaton
    in Python, slow on a large index) plus those a swap brings within reach.
    Each segment's words are kept in memory, by first letter and length (see
    :class:`Vocabulary`), and compared in C.
    """
    for f in ("body", "title"):
        found: set[str] = set()
        for leaf, _offset in reader.leaf_readers():
            words = _vocabulary(leaf, f).words(word[0], len(word), dist)
            close = process.extract(word, words, scorer=OSA.distance, score_cutoff=dist, limit=None)
            found.update(w for w, _distance, _i in close)
        found.discard(word)
        if found:
            return found
    return set()


# Segments' vocabularies by (folder, segment, field), for the whole process: the
# VOCABULARIES_KEPT most recently used. The LRU takes its own lock, so request threads share
# it whatever they hold (two building one vocabulary at once both keep a whole one).
_vocabularies = LRU(VOCABULARIES_KEPT)


class _Build:
    """A vocabulary build begun by :func:`build_steps` and not finished: its steps, run by
    one thread at a time (a generator run by two at once raises), whether the start-up
    thread steps it or a search that needs the vocabulary finishes it."""

    def __init__(self, steps: Iterator[None]):
        self.steps = steps
        self.lock = threading.Lock()

    def step(self) -> bool:
        """Run one step; False once the build is over."""
        with self.lock:
            return next(self.steps, _OVER) is not _OVER

    def finish(self) -> None:
        with self.lock:
            for _ in self.steps:
                pass


_OVER = object()
# Builds underway, by (segment reader's serial, field): at most one per segment and field of
# the live index, each for the reader it reads (a segment read afresh, its old reader closed,
# builds on its own); each goes when its build ends or is dropped. Read and changed under
# _pending_lock. (Both a build and a search finishing it read the segment, so each holds the
# searcher meanwhile.)
_pending: dict[tuple, _Build] = {}
# Reentrant: a build dropped mid-way leaves _pending from its generator's finalizer, which
# may run in a thread that holds the lock already.
_pending_lock = threading.RLock()

# Where a segment's vocabulary is kept on disk once built, in the index folder beside the
# generations (never inside one: a published generation never changes, and `searchsvc check`
# reports any file its manifest does not list).
CACHE_DIR = "spelling.cache"
# The layout of a cached vocabulary; another value is never read (rebuilt instead).
_CACHE_FORMAT = 1
_SEPARATOR = "\n"  # no term holds it: the analyser splits words on white space
_FIELDS = ("body", "title")


class Vocabulary:
    """One segment's words of one field, stems left out, as one UTF-8 text sorted by first
    character, then length in characters, then the words themselves: the words that may be
    within ``d`` edits of a word (same first letter, length within ``d`` of its own, since
    each edit changes the length by at most one) are a few slices of it, made into strings
    only when a search asks. Read from a cache file, it costs no Python object per word."""

    def __init__(self, text: bytes, firsts, lengths, starts, ends):
        self.text = text
        # (first letter, length) -> where its words are in ``text``: (start, end) bytes.
        self._spans = {
            (chr(f), int(n)): (int(s), int(e))
            for f, n, s, e in zip(firsts.tolist(), lengths.tolist(), starts, ends, strict=True)
        }

    def words(self, first: str, length: int, spread: int) -> list[str]:
        """The words starting with ``first`` whose length is within ``spread`` of ``length``."""
        found: list[str] = []
        for n in range(max(1, length - spread), length + spread + 1):
            span = self._spans.get((first, n))
            if span is not None:
                found.extend(self.text[span[0] : span[1]].decode("utf-8").split(_SEPARATOR))
        return found

    def all_words(self) -> set[str]:
        """Every word (for tests and checks)."""
        return set(self.text.decode("utf-8").split(_SEPARATOR)) if self.text else set()

    @classmethod
    def build(cls, terms: list[str]) -> Vocabulary:
        """The vocabulary of these words (stems already left out), sorted without a Python
        step per word but the length and first letter read by ``map``."""
        n = len(terms)
        if not n:
            empty = np.zeros(0, dtype=np.int32)
            return cls(b"", empty, empty, [], [])
        lengths = np.fromiter(map(len, terms), dtype=np.int32, count=n)
        firsts = np.fromiter(map(ord, map(itemgetter(0), terms)), dtype=np.int32, count=n)
        order = np.lexsort((lengths, firsts))  # stable: words stay sorted within a group
        ordered = itemgetter(*order.tolist())(terms) if n > 1 else (terms[0],)
        text = _SEPARATOR.join(ordered).encode("utf-8")
        firsts, lengths = firsts[order], lengths[order]
        heads = np.concatenate(([0], np.flatnonzero(np.diff(firsts) | np.diff(lengths)) + 1))
        tails = np.append(heads[1:], n) - 1
        separators = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == ord(_SEPARATOR))
        word_starts = np.concatenate(([0], separators + 1))
        word_ends = np.append(separators, len(text))
        return cls(
            text,
            firsts[heads],
            lengths[heads],
            word_starts[heads].tolist(),
            word_ends[tails].tolist(),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """Its content as arrays, for the cache file."""
        groups = sorted(self._spans.items(), key=lambda g: g[1])
        return {
            "text": np.frombuffer(self.text, dtype=np.uint8),
            "firsts": np.array([ord(f) for (f, _n), _ in groups], dtype=np.int32),
            "lengths": np.array([n for (_f, n), _ in groups], dtype=np.int32),
            "starts": np.array([s for _, (s, _e) in groups], dtype=np.int64),
            "ends": np.array([e for _, (_s, e) in groups], dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, a) -> Vocabulary:
        return cls(
            a["text"].tobytes(), a["firsts"], a["lengths"], a["starts"].tolist(), a["ends"].tolist()
        )


def _vocabulary(leaf, fieldname: str) -> Vocabulary:
    """The words of one segment's field (see :class:`Vocabulary`): kept in the process, and
    on disk beside the index (:data:`CACHE_DIR`) so that the next worker reads it instead of
    walking the segment's lexicon again (seconds on a large index)."""
    segment = segment_key(leaf)
    if segment is None:
        return Vocabulary.build(list(_words(leaf.lexicon(fieldname))))  # nothing worth keeping
    found = _known(segment, fieldname)
    if found is None:
        with _pending_lock:
            build = _pending.get((reader_serial(leaf), fieldname))
        if build is not None:
            build.finish()  # the start-up thread's build, half done
            found = _vocabularies.get(_kept_as(segment, fieldname))
    if found is None:
        found = Vocabulary.build(list(_words(leaf.lexicon(fieldname))))
        _vocabularies.put(_kept_as(segment, fieldname), found)
        _keep(segment, fieldname, found)
    return found


def _kept_as(segment: tuple[str, str], fieldname: str) -> tuple[str, str, str]:
    """The key of a segment's vocabulary in the process: the segment's :func:`stable_key`, not
    its generation's folder, so that the generations that share a segment (one a second
    while documents are pushed) share its vocabulary too."""
    return (*stable_key(segment), fieldname)


def _words(raw_terms: Iterable[bytes]) -> Iterator[str]:
    """The words of a lexicon, stems left out."""
    for raw in raw_terms:
        term = raw.decode("utf-8")
        if term[0] != STEM_MARK:
            yield term


def _known(segment: tuple[str, str], fieldname: str) -> Vocabulary | None:
    """The vocabulary kept in the process, else read from its cache file (then kept)."""
    key = _kept_as(segment, fieldname)
    found = _vocabularies.get(key)
    if found is None:
        cache = _cache_path(segment, fieldname)
        found = _read_cache(cache) if cache else None
        if found is not None:
            _vocabularies.put(key, found)
    return found


def _keep(segment: tuple[str, str], fieldname: str, vocabulary: Vocabulary) -> None:
    cache = _cache_path(segment, fieldname)
    if cache is not None:
        _write_cache(cache, vocabulary)


def missing(reader: IndexReader) -> list[tuple[object, str]]:
    """The ``(segment reader, field)`` whose vocabulary is neither in the process nor in a
    cache file; those cached are read now (milliseconds), as a misspelt word would."""
    todo = []
    for leaf, _offset in reader.leaf_readers():
        segment = segment_key(leaf)
        for f in _FIELDS:
            if segment is None or _known(segment, f) is None:
                todo.append((leaf, f))
    return todo


def build_steps(leaf, fieldname: str, step: int | None = None) -> Iterator[None]:
    """See :func:`_build_steps`; a search that needs this vocabulary meanwhile finishes it."""
    segment = segment_key(leaf)
    steps = _build_steps(leaf, fieldname, segment, step)
    if segment is None:
        return steps
    key = (reader_serial(leaf), fieldname)  # its reader's own: another may be closed by then
    build = _Build(steps)
    with _pending_lock:
        _pending[key] = build

    def run() -> Iterator[None]:
        try:
            while build.step():
                yield
        finally:
            with _pending_lock:
                if _pending.get(key) is build:
                    del _pending[key]

    return run()


def _build_steps(leaf, fieldname: str, segment, step: int | None) -> Iterator[None]:
    """Build a segment's vocabulary ``step`` words at a time, yielding between two slices
    (so a start-up thread can let searches have the reader), then once more before writing
    it to its cache file, which needs no reader."""
    step = step or WALK_STEP
    lexicon = iter(leaf.lexicon(fieldname))
    words: list[str] = []
    while True:
        chunk = list(islice(lexicon, step))
        words.extend(_words(chunk))
        if len(chunk) < step:
            break
        yield
    if segment is None or _vocabularies.get(_kept_as(segment, fieldname)) is not None:
        return
    found = Vocabulary.build(words)
    _vocabularies.put(_kept_as(segment, fieldname), found)
    yield
    _keep(segment, fieldname, found)


def _cache_path(segment: tuple[str, str], fieldname: str) -> Path | None:
    """The cache file of a segment's field: named after the segment and the SHA-256 of its
    files as the generation's manifest lists them, so it is only ever read for those very
    files (a segment id is never reused, but a file damaged since is not its content).
    None when the segment is not in a generation with a manifest."""
    folder, segment_id = segment
    meta = storage.read_meta(Path(folder))
    files = meta.get("files") if isinstance(meta, dict) else None
    if not isinstance(files, dict):
        return None
    own = sorted((n, str(e.get("sha256"))) for n, e in files.items() if segment_id in n)
    if not own:
        return None
    digest = hashlib.sha256(json.dumps([_CACHE_FORMAT, fieldname, own]).encode()).hexdigest()
    return Path(folder).parent / CACHE_DIR / f"{segment_id}.{fieldname}.{digest[:32]}.npz"


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()


def _read_cache(path: Path) -> Vocabulary | None:
    """A cached vocabulary, or None when there is none or it is not whole (its checksum
    does not match: it is then built again)."""
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    checksum = arrays.pop("sha256", None)
    if checksum is None or str(checksum) != _checksum(arrays):
        return None
    try:
        return Vocabulary.from_arrays(arrays)
    except (KeyError, ValueError, TypeError):
        return None


def _write_cache(path: Path, vocabulary: Vocabulary) -> None:
    """Keep a vocabulary on disk, atomically; and drop those of segments no generation in the
    index folder has any more. Nothing when the folder cannot be written (a read-only copy)."""
    arrays = vocabulary.arrays()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, sha256=np.array(_checksum(arrays)), **arrays)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return
    _collect(path.parent)


def _collect(cache: Path) -> None:
    """Delete cached vocabularies whose segment no generation of the index folder lists."""
    root = cache.parent
    names = " ".join(
        name
        for generation in storage.list_generations(root)
        for name in storage.read_meta(root / generation).get("files", {})
    )
    for path in cache.iterdir():
        segment_id = path.name.split(".", 1)[0]
        if segment_id not in names:
            with contextlib.suppress(OSError):
                path.unlink()


def prepare(reader: IndexReader) -> int:
    """Load (or build and keep) the vocabulary of every segment and field of ``reader``, as
    the first misspelt word would; how many (for benchmarks and tests)."""
    made = 0
    for leaf, _offset in reader.leaf_readers():
        for f in _FIELDS:
            _vocabulary(leaf, f)
            made += 1
    return made


def close_words(reader: IndexReader, word: str, limit: int = 5) -> list[str]:
    """Up to ``limit`` words within :func:`max_edits` of ``word``, closest and commonest first."""
    edits = max_edits(word)
    if not edits or not word.isalpha():
        return []
    for dist in range(1, edits + 1):
        found = [w for w in _within(reader, word, dist) if w.isalpha()]
        if found:
            found.sort(key=lambda w: (-max_field_frequency(reader, w), w))
            return found[:limit]
    return []


def closest(reader: IndexReader, word: str, min_ratio: float = 3.0) -> str | None:
    """Return the best correction for ``word``, or None when it looks right as typed.

    A correction is a word within :func:`max_edits` edits, with the same first letter, found
    in at least ``min_ratio`` times as many documents (and at least one); among those, the
    fewest edits win, then the most documents.
    """
    edits = max_edits(word)
    if not edits or not word.isalpha():
        return None
    own = max_field_frequency(reader, word)
    if own >= COMMON_DOCS:
        return None  # a word this many documents use is spelt as people spell it
    best: tuple[int, int, str] | None = None
    for dist in range(1, edits + 1):
        candidates = _within(reader, word, dist)
        candidates.discard(word)
        for cand in candidates:
            if not cand.isalpha():
                continue
            df = max_field_frequency(reader, cand)
            if df >= max(1, own * min_ratio) and (best is None or df > best[1]):
                best = (dist, df, cand)
        if best:
            return best[2]
    return None
