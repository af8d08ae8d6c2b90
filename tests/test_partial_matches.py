"""Questions as people type them (issue 30): documents with every content word first, then
those with some of them ranked by how much of the query's meaning they hold; question words
and the corpus's most common words not required; quoted phrases still strict."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web.partial_corpus import DOCS, QUESTION
from whoosh import query as wq

from searchsvc.engine import termwise
from searchsvc.engine.search import SearchEngine
from searchsvc.ingest.indexer import reindex
from searchsvc.query import filler
from searchsvc.query import language as ql
from searchsvc.query.nodes import Coverage
from searchsvc.query.plan import QueryBuilder
from searchsvc.testing import write_files, write_jsonl


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    root = tmp_path_factory.mktemp("partial")
    corpus = write_files(root / "corpus", DOCS)
    reindex(corpus, root / "index", full=True)
    eng = SearchEngine(root / "index")
    yield eng
    eng.close()


def ids(result) -> list[str]:
    return [h.id.split("_", 1)[0] if "_" in h.id else h.id for h in result.hits]


def names(result) -> list[str]:
    return [h.title for h in result.hits]


def test_every_content_word_first_then_partial_matches_by_meaning(engine):
    result = engine.search(QUESTION)
    titles = names(result)
    assert titles[0] == "Chemin absolu d'un fichier sous Linux"
    assert result.every_word == 1 and not result.relaxed
    # Then the partial matches, the one holding most of the meaning first.
    assert titles[1] == "Le chemin absolu"
    assert set(titles[2:]) == {"Valeur absolue", "Comment faire une sauvegarde sous Linux"}
    assert result.total == 4 and engine.count(QUESTION) == 4
    assert "Recette du gâteau" not in titles
    # Scores fall from one tier to the next: every content word outranks any partial match.
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)


def test_question_words_are_neither_required_nor_counted(engine):
    result = engine.search(QUESTION)
    assert result.filler == ["comment", "sous"]
    # Without them the same document holds every word, and the partial matches keep their
    # order: « comment » and « sous » count for nothing in how much of the meaning they hold.
    plain = engine.search("afficher chemin absolu fichier linux")
    assert plain.filler == [] and plain.every_word == 1
    assert names(plain) == names(result)


def test_only_question_words_are_all_required(engine):
    result = engine.search("comment faire")
    assert result.filler == []
    assert names(result) == ["Comment faire une sauvegarde sous Linux"]
    assert result.every_word == result.total == 1


def test_a_quoted_phrase_still_means_its_words_side_by_side(engine):
    result = engine.search('"chemin absolu"')
    assert sorted(names(result)) == ["Chemin absolu d'un fichier sous Linux", "Le chemin absolu"]
    assert result.every_word == result.total
    # As a clause of a longer query: a document holding its words apart does not hold it.
    mixed = engine.search('"chemin absolu" racine')
    assert names(mixed)[0] == "Le chemin absolu"
    assert "Valeur absolue" not in names(mixed)


def test_no_document_with_every_word_is_relaxed(engine):
    result = engine.search("chemin racine linux")
    assert result.every_word == 0 and result.relaxed
    assert names(result)[0] == "Le chemin absolu"


def test_negated_words_exclude_partial_matches_too(engine):
    result = engine.search("chemin absolu fichier -racine")
    assert "Le chemin absolu" not in names(result)
    assert result.every_word == 1 and result.total == 2  # realpath, then « apart »


def test_the_corpus_tells_its_filler_words(engine, monkeypatch):
    """A word most documents hold is filler once the index is large enough to say so."""
    monkeypatch.setattr(filler, "FILLER_MIN_DOCS", 1)
    monkeypatch.setattr(filler, "FILLER_SHARE", 0.5)
    with engine.searcher() as s:
        # « chemin »: 3 documents of 5; « gare »: 1.
        builder = QueryBuilder(s.reader(), partial=True)
        assert list(builder.build(ql.parse("chemin gare")).filler) == ["chemin"]
        # Every word common: all of them are what is looked for.
        assert list(builder.build(ql.parse("chemin absolu")).filler) == []
    monkeypatch.setattr(filler, "FILLER_MIN_DOCS", 1_000)
    with engine.searcher() as s:
        builder = QueryBuilder(s.reader(), partial=True)
        assert list(builder.build(ql.parse("chemin gare")).filler) == []  # too few documents


def test_instant_search_of_a_question_never_empties(engine):
    typed = ""
    for word in QUESTION.split():
        typed = f"{typed} {word}".strip()
        result = engine.search_as_you_type(typed)
        if word not in ("le", "d'un"):  # stop words alone find nothing
            assert result.total, typed
    assert names(result)[0] == "Chemin absolu d'un fichier sous Linux"


def test_completions_read_the_partial_matches(engine):
    # No document holds « recette » and « chemin »: completions still come from the
    # documents that hold some of the words.
    assert engine.complete("recette chemin abs")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    words=st.lists(
        st.sampled_from(
            ["chemin", "absolu", "fichier", "linux", "comment", "sous", "racine", "gare",
             "sucre", "rsync", '"chemin absolu"', "-racine", "zzzqq", "affiche*"]
        ),
        min_size=2,
        max_size=5,
    )
)  # fmt: skip
def test_termwise_and_whoosh_rank_partial_matches_alike(engine, words):
    """The two evaluation paths give the same partial matches, with the same scores."""
    text = " ".join(words)
    with engine.searcher() as s:
        plan = QueryBuilder(s.reader(), partial=True).build(ql.parse(text))
        if plan.query is None or plan.partial_query is None:
            return
        q = plan.partial_query
        assert termwise.supports(q)
        fast = termwise.run(s, q, deadline=float("inf")).scores
        slow = {hit.docnum: hit.score for hit in s.search(q, limit=None)}
        assert fast.keys() == slow.keys()
        for docnum, score in fast.items():
            assert score == pytest.approx(slow[docnum], rel=1e-12)
        counted = len(termwise.run(s, q, deadline=float("inf"), depth=0))
        assert counted == len(fast)


def test_coverage_needs_a_share_per_clause():
    with pytest.raises(ValueError):
        Coverage([wq.Term("body", "a"), wq.Term("body", "b")], [1.0])


SOURCED = [
    {"id": "calc1", "title": "Insérer une feuille", "body": "Choisissez Insertion puis Feuille.",
     "source": "LibreOffice Calc"},
    {"id": "calc2", "title": "Fonctions", "body": "La fonction SOMME additionne.",
     "source": "LibreOffice Calc"},
    {"id": "writer", "title": "Insérer une feuille de style", "body": "Le styliste insère.",
     "source": "LibreOffice Writer"},
    {"id": "note", "title": "Calc et feuille", "body": "Une feuille de calc à insérer.",
     "source": "Blog"},
]  # fmt: skip


@pytest.fixture(scope="module")
def sourced(tmp_path_factory):
    root = tmp_path_factory.mktemp("sourced")
    (root / "corpus").mkdir()
    write_jsonl(root / "corpus" / "docs.jsonl", SOURCED)
    reindex(root / "corpus", root / "index", full=True)
    eng = SearchEngine(root / "index")
    yield eng
    eng.close()


def test_a_word_of_a_source_name_is_found_in_its_documents(sourced):
    # « calc » is in the text of « note » and in the name of calc1's source: both hold every
    # word; the document writing the word comes first.
    result = sourced.search("insérer feuille calc")
    assert [h.id for h in result.hits[: result.every_word]] == ["note", "calc1"]
    assert "writer" in [h.id for h in result.hits[result.every_word :]]
    # One word alone is that word: no document of the source without it.
    assert [h.id for h in sourced.search("calc").hits] == ["note"]
    # calc2 holds « calc » through its source only: a partial match, last.
    assert result.hits[-1].id == "calc2" and result.total == 4


def test_source_words_read_the_same_term_wise_and_through_whoosh(sourced):
    with sourced.searcher() as s:
        plan = QueryBuilder(s.reader(), partial=True).build(ql.parse("insérer feuille calc"))
        for q in (plan.query, plan.partial_query):
            assert termwise.supports(q)
            fast = termwise.run(s, q, deadline=float("inf")).scores
            slow = {hit.docnum: hit.score for hit in s.search(q, limit=None)}
            assert fast.keys() == slow.keys()
            for docnum, score in fast.items():
                assert score == pytest.approx(slow[docnum], rel=1e-12)
