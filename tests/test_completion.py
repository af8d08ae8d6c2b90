"""The word being typed: the instant query (the last word a prefix, searchsvc.query.instant)
and query completions (searchsvc.engine.completion)."""

from __future__ import annotations

import pytest
from web.facet_corpus import build_index

from searchsvc.engine.search import SearchEngine
from searchsvc.query.instant import split_instant


@pytest.fixture(scope="module")
def facets(tmp_path_factory):
    engine = SearchEngine(build_index(tmp_path_factory.mktemp("facets")))
    yield engine
    engine.close()


@pytest.mark.parametrize(
    ("text", "lead", "word", "context"),
    [
        ("mot de pa", "mot de ", "pa", ("mot", "de")),
        ("  mot   de  pa", "mot de ", "pa", ("mot", "de")),
        ("élection de l'élec", "élection de l'", "élec", ("de", "l")),
        ('-titre:"pré', '-titre:"', "pré", ()),
        ("paris OR ly", "paris OR ", "ly", ()),
        ('"réseau so', '"réseau ', "so", ("reseau",)),
    ],
)
def test_split_instant(text, lead, word, context):
    instant = split_instant(text)
    assert (instant.lead, instant.word, instant.context) == (lead, word, context)


@pytest.mark.parametrize("text", ["", "   ", "mot ", "source:abc", "'"])
def test_nothing_to_complete(text):
    assert split_instant(text) is None


def test_completions_follow_the_words_typed(facets):
    assert facets.complete("mot de pa")[0] == "mot de passe"
    assert facets.complete("configuration du r")[0] == "configuration du réseau"
    # A function word typed in full: what follows both first, then the words it begins.
    assert facets.complete("mot de")[0] == "mot de passe"
    assert "mot défaut" in facets.complete("mot de")


def test_completions_are_words_as_written_never_glued(facets):
    offered = facets.complete("configur") + facets.complete("configurationa")
    assert "configuration" in offered
    assert not [w for w in offered if "afficher" in w]  # "ConfigurationAfficher" is glued
    assert facets.complete("mot-c") == ["mot-clé"]  # not the joined "motcle"
    assert facets.complete("motc") == ["mot-clé"]


def test_instant_search_reads_the_last_word_as_a_prefix(facets):
    typed = facets.search_as_you_type("configuration rés")
    assert typed.total and typed.suggestion is None and not typed.approximate
    assert all("<mark>" in h.snippet for h in typed.hits)
    assert any("<mark>réseau</mark>" in h.title_html for h in typed.hits)
    finished = facets.search("configuration rés")
    assert not any("<mark>réseau</mark>" in h.title_html for h in finished.hits)


def test_instant_search_ignores_a_letter_or_function_word_still_being_typed(facets):
    assert facets.search_as_you_type("réseau l").total == facets.search("réseau").total
    assert facets.search_as_you_type("réseau de").total == facets.search("réseau").total


def test_instant_search_of_a_word_that_begins_nothing_is_corrected(facets):
    result = facets.search_as_you_type("resaeu")
    assert result.total and result.approximate == ["resaeu"]


def test_instant_search_as_typed_when_finished_or_not_a_plain_word(facets):
    for text in ("réseau ", '"réseau sans"', "-réseau", "rés*"):
        assert facets.search_as_you_type(text) == facets.search(text) or (
            facets.search_as_you_type(text).total == facets.search(text).total
        )


def test_a_common_completion_ranks_before_a_rare_one(facets):
    # "pa" begins "passe" (4 documents) and "page", "partage"… (fewer): "passe" comes first.
    top = facets.search_as_you_type("mot de pa").hits[0]
    assert "<mark>passe</mark>" in top.snippet


def test_years_only_when_documents_have_dates(facets, engine):
    assert [y.value for y in facets.search("réseau").years][:2] == ["2014", "2013"]
    assert engine.search("twitter").years == []  # the seed corpus has no dates
