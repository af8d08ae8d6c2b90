"""Tests for searchsvc.spelling and the engine's did-you-mean suggestions."""

from __future__ import annotations

import pytest

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
