"""Tests for the caches shared by a process's threads (gunicorn's gthread workers): each one
safe by construction, whatever lock its callers hold or not, and the per-reader keys named."""

from __future__ import annotations

import string
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from searchsvc.engine import snippets, titles
from searchsvc.engine.snippets import highlight
from searchsvc.index import caches
from searchsvc.index.caches import LRU, Key, per_reader
from searchsvc.query.plan import Highlights

THREADS = 4


def _letters(n: int) -> str:
    """``n`` written in letters (``a``, ``b``, … ``ba``): words the analyzer keeps whole."""
    out = ""
    while True:
        n, r = divmod(n, 26)
        out = string.ascii_lowercase[r] + out
        if not n:
            return out


@contextmanager
def _switching_often() -> Iterator[None]:
    """Threads handed the interpreter every microsecond, so that races show within a test."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _hammer(work: Callable[[int], None], rounds: int) -> list[BaseException]:
    """Run ``work(i)`` for ``rounds`` values of ``i`` in each of ``THREADS`` threads started
    together; the exceptions raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def run(offset: int) -> None:
        start.wait()
        try:
            for i in range(rounds):
                work(offset + i)
        except BaseException as e:  # reported by the test, not lost in a thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(t * 7,)) for t in range(THREADS)]
    with _switching_often():
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return errors


def test_highlight_from_many_threads_marks_what_one_thread_marks(monkeypatch):
    """``web/pages.document_page`` marks a document without holding the searcher: threads
    marking texts at once, with the snippets' token cache so small that each text empties it,
    still mark every text as one thread alone does."""
    tokens = snippets._Tokens(capacity=30)
    monkeypatch.setattr(snippets, "_TOKENS", tokens)
    count = 40
    # Each text has a word of its own that the query marks, among words of its own.
    texts = [
        f"cible{_letters(i)} "
        + " ".join(f"mot{_letters(i)}x{_letters(j)}" for j in range(40))
        + f" fin{_letters(i)}"
        for i in range(count)
    ]
    highlights = Highlights(exact={f"cible{_letters(i)}" for i in range(count)})
    expected = [highlight(text, highlights) for text in texts]
    assert all(h.startswith(f"<mark>cible{_letters(i)}</mark>") for i, h in enumerate(expected))
    wrong: list[int] = []

    def work(i: int) -> None:
        if highlight(texts[i % count], highlights) != expected[i % count]:
            wrong.append(i % count)

    errors = _hammer(work, rounds=1000)
    assert not errors
    assert not wrong, f"{len(wrong)} of {THREADS * 1000} texts marked otherwise"
    assert len(tokens._seen) <= 42  # bounded: a text's 42 tokens at most


def test_an_lru_shared_by_threads_stays_whole_and_bounded():
    """Threads getting and putting at once in an LRU smaller than what they put: no error
    (another thread's put can drop the entry a get is moving), its size the sum of its
    entries' and within its capacity, every entry found the value put for it."""
    lru = LRU(capacity=16)

    def work(i: int) -> None:
        key = i % 40
        found = lru.get(key)
        assert found is None or found == key * 2
        lru.put(key, key * 2, size=1 + i % 3)

    for _trial in range(5):
        errors = _hammer(work, rounds=10_000)
        assert not errors, errors[:3]
        entries = list(lru._entries.items())
        assert lru.size == sum(size for _key, (_value, size) in entries)
        assert lru.size <= lru.capacity and len(lru) == len(entries)
        assert all(value == key * 2 for key, (value, _size) in entries)


def test_title_words_from_many_threads_are_those_of_one_thread(monkeypatch):
    """The titles' process-wide cache, made tiny, hammered by threads: each title analysed
    as one thread alone analyses it."""
    monkeypatch.setattr(titles, "_titles", LRU(8))
    texts = [f"Le titre numéro {_letters(i)} des archives" for i in range(30)]
    expected = [titles.title_sequence(t) for t in texts]
    wrong: list[int] = []

    def work(i: int) -> None:
        if titles.title_sequence(texts[i % 30]) != expected[i % 30]:
            wrong.append(i)

    errors = _hammer(work, rounds=1000)
    assert not errors, errors[:3]
    assert not wrong
    assert len(titles._titles) <= 8


class _Reader:
    """Something a per-reader value can be kept for (any object a weak reference reaches)."""


def test_per_reader_takes_only_the_named_keys():
    reader = _Reader()
    assert per_reader(reader, Key.STEMS, dict) == {}
    assert per_reader(reader, (Key.LENGTHS, "body"), lambda: 3) == 3
    for wrong in ("stems", ("lengths", "body"), (), None):
        with pytest.raises(TypeError):
            per_reader(reader, wrong, dict)
    with pytest.raises(TypeError):  # a string never finds a named key's value either
        per_reader(reader, Key.STEMS.value, dict)


def test_per_reader_values_are_one_per_reader_whoever_asks_first():
    """Threads asking at once for a reader's value made slowly all get the one object
    kept, so what one thread puts in it the others find."""
    reader = _Reader()
    start = threading.Barrier(THREADS)
    got: list[object] = []

    def make() -> LRU:
        return LRU(10)

    def run() -> None:
        start.wait()
        got.append(per_reader(reader, Key.EXPANSIONS, make))

    with _switching_often():
        threads = [threading.Thread(target=run) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(got) == THREADS and all(g is got[0] for g in got)
    assert per_reader(reader, Key.EXPANSIONS, make) is got[0]


def test_per_reader_values_go_with_their_reader():
    reader = _Reader()
    per_reader(reader, Key.STEMS, dict)
    assert reader in caches._per_reader
    del reader
    assert not any(isinstance(r, _Reader) for r in caches._per_reader)
