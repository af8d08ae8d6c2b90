"""Tests for searchsvc.query.spelling and the engine's did-you-mean suggestions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchsvc.query import spelling
from searchsvc.query.spelling import closest, max_edits, max_field_frequency


@pytest.mark.parametrize(
    ("word", "edits"),
    [
        ("", 0),
        ("abcd", 0),
        ("abcde", 1),
        ("abcdefgh", 1),
        ("abcdefghi", 2),
        ("a" * 25, 2),
        ("a" * 26, 0),
    ],
)
def test_max_edits_by_length(word, edits):
    assert max_edits(word) == edits


@pytest.fixture
def reader(engine):
    with engine.searcher() as s:
        yield s.reader()


def test_max_field_frequency_counts_documents_in_title_or_body(reader):
    assert max_field_frequency(reader, "twitter") == 5
    assert max_field_frequency(reader, "delanoe") == 2
    assert max_field_frequency(reader, "absentissime") == 0


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("twiter", "twitter"),
        ("twittr", "twitter"),
        ("dorsay", "dorsey"),
        ("delanoa", "delanoe"),
        # two adjacent letters swapped: one edit (optimal string alignment), not two
        ("merkle", "merkel"),
        ("dorsye", "dorsey"),
        ("twitetr", "twitter"),
        ("presdient", "president"),
        ("twitter", None),  # spelt right
        ("dorsey", None),
        ("twit", None),  # too short to correct
        ("ywitter", None),  # the first letter is kept
        ("tw1tter", None),  # not a word
        ("zzzzzzz", None),  # nothing close
    ],
)
def test_closest(reader, word, expected):
    assert closest(reader, word) == expected


@pytest.mark.parametrize(
    ("query", "suggestion"),
    [
        ("twiter", "twitter"),
        ("TWITER", "twitter"),
        ("Dorsay", "dorsey"),
        ("dorsay jack", "dorsey jack"),
        ("twiter delanoe", "twitter delanoe"),
        ("title:twiter", "title:twitter"),
        # the accented spelling the corpus uses
        ("telvision", "télévision"),
        ("presidentiele", "présidentielle"),
        ("Merkle", "merkel"),
        ("dorsye jack", "dorsey jack"),
    ],
)
def test_search_suggests_correction(engine, query, suggestion):
    assert engine.search(query).suggestion == suggestion


@pytest.mark.parametrize(
    "query",
    [
        "delanoa",  # its stem already finds the Delanoë articles: nothing more to gain
        "twitter",
        "delanoe",
        "Delanoë",
        "jack dorsey",
        "twitter -twiter",
        '"twiter"',
        "twiter*",
    ],
)
def test_search_no_suggestion(engine, query):
    assert engine.search(query).suggestion is None


def test_search_matches_a_swapped_word_by_its_correction(engine):
    """``Merkle`` is in no document: the typo fallback finds ``Merkel`` (one swap)."""
    result = engine.search("Merkle")
    assert result.total >= 1
    assert result.approximate == ["merkle"]
    assert "<mark>Merkel</mark>" in " ".join(h.snippet for h in result.hits)


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance, the textbook dynamic programme (a reference)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("merkle", "merkel", 1), ("abcd", "acbd", 1), ("ca", "abc", 3), ("twitter", "twitter", 0)],
)
def test_osa_reference(a, b, distance):
    assert osa_distance(a, b) == distance


_letters = st.sampled_from("abcdeéilmnoprstuz")


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["president", "elysee", "delanoe", "twitter", "journalistes", "paris"]),
    st.lists(st.tuples(st.integers(1, 12), st.sampled_from("idst"), _letters), max_size=3),
    st.integers(1, 2),
)
def test_close_words_are_those_within_the_osa_distance(engine, word, edits, dist):
    """``_within`` gives the words (same first letter) within ``dist`` edits counted as
    optimal string alignment: Whoosh's ``terms_within(prefix=1)`` (Levenshtein) answer and
    the words a swap of adjacent letters brings within reach."""
    for at, op, letter in edits:  # typos after the first letter
        at = min(at, len(word))
        if op == "i":
            word = word[:at] + letter + word[at:]
        elif op == "d" and len(word) > 2:
            word = word[:at] + word[at + 1 :]
        elif op == "t" and 1 <= at < len(word) - 1:
            word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        else:
            word = word[:at] + letter + word[at + 1 :]
    with engine.searcher() as s:
        reader = s.reader()
        expected: set[str] = set()
        levenshtein: set[str] = set()
        for f in ("body", "title"):
            for leaf, _offset in reader.leaf_readers():
                for raw in leaf.lexicon(f):
                    term = raw.decode("utf-8")
                    if term[0] == word[0] and osa_distance(word, term) <= dist:
                        expected.add(term)
                levenshtein.update(leaf.terms_within(f, word, dist, prefix=1))
            expected.discard(word)
            levenshtein.discard(word)
            if expected:
                break
        found = spelling._within(reader, word, dist)
        assert found == expected
        assert levenshtein <= found
