"""Tests for searchsvc.spelling and the engine's did-you-mean suggestions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchsvc import spelling
from searchsvc.spelling import closest, frequency, max_edits


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


def test_frequency_counts_documents_in_title_or_body(reader):
    assert frequency(reader, "twitter") == 5
    assert frequency(reader, "delanoe") == 2
    assert frequency(reader, "absentissime") == 0


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("twiter", "twitter"),
        ("twittr", "twitter"),
        ("dorsay", "dorsey"),
        ("delanoa", "delanoe"),
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


_letters = st.sampled_from("abcdeéilmnoprstuz")


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["president", "elysee", "delanoe", "twitter", "journalistes", "paris"]),
    st.lists(st.tuples(st.integers(1, 12), st.sampled_from("ids"), _letters), max_size=3),
    st.integers(1, 2),
)
def test_close_words_are_those_of_whooshs_levenshtein_automaton(engine, word, edits, dist):
    """``_within`` keeps Whoosh's ``terms_within(prefix=1)`` answer, only faster."""
    for at, op, letter in edits:  # typos after the first letter
        at = min(at, len(word))
        if op == "i":
            word = word[:at] + letter + word[at:]
        elif op == "d" and len(word) > 2:
            word = word[:at] + word[at + 1 :]
        else:
            word = word[:at] + letter + word[at + 1 :]
    with engine.searcher() as s:
        reader = s.reader()
        expected: set[str] = set()
        for f in ("body", "title"):
            for leaf, _offset in reader.leaf_readers():
                expected.update(leaf.terms_within(f, word, dist, prefix=1))
            expected.discard(word)
            if expected:
                break
        assert spelling._within(reader, word, dist) == expected
