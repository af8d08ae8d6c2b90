"""Tests for searchsvc.query.plan: from the parsed query to Whoosh queries and highlights."""

from __future__ import annotations

import pytest
from whoosh import query as wq

from searchsvc.query.language import parse
from searchsvc.query.plan import Highlights, QueryBuilder, _units
from searchsvc.settings import Weights
from searchsvc.text.analysis import analyze_query


@pytest.fixture
def builder(engine):
    with engine.searcher() as s:
        yield QueryBuilder(s.reader())


@pytest.mark.parametrize(
    ("highlights", "exact", "stem", "expected"),
    [
        (Highlights(exact={"delanoe"}), "delanoe", "delano", True),
        (Highlights(stems={"élect"}), "elections", "élect", True),
        (Highlights(stems={"élect"}), "elections", "", False),
        (Highlights(prefixes={"presi"}), "presidentielle", "présidentiel", True),
        (Highlights(prefixes={"presi"}), "prendre", "prendr", False),
        (Highlights(), "twitter", "twitt", False),
    ],
)
def test_highlights_matches(highlights, exact, stem, expected):
    assert highlights.matches(exact, stem) is expected


@pytest.mark.parametrize(
    ("exact", "stems"),
    [
        ("elysee", ["elys"]),  # stemmed as the corpus spells it ("Elysée")
        ("election", ["élect"]),
        ("twitter", ["twitt"]),  # no accented variant: stemmed as typed
    ],
)
def test_stems_for_uses_accented_variants(builder, exact, stems):
    assert builder.stems_for(exact) == stems


@pytest.mark.parametrize("text", ["le la les", "(((", "*", "-", '""', "à été où"])
def test_build_nothing_searchable_is_none(builder, text):
    assert builder.build(parse(text)).query is None


def test_build_word_matches_exact_and_stem_in_both_fields(builder):
    q = builder.build(parse("delanoe")).query
    terms = {(t.fieldname, t.text) for t in q.leaves() if isinstance(t, wq.Term)}
    assert terms == {
        ("title", "delanoe"),
        ("title", "~delano"),
        ("body", "delanoe"),
        ("body", "~delano"),
    }


def test_build_title_field_only(builder):
    q = builder.build(parse("title:delanoe")).query
    assert {t.fieldname for t in q.leaves()} == {"title"}


def test_build_compound_joined_or_phrase_of_parts(builder):
    q = builder.build(parse("micro-blogging")).query
    assert any(isinstance(t, wq.Phrase) and t.words == ["micro", "blogging"] for t in q.leaves())
    assert ("body", "microblogging") in {
        (t.fieldname, t.text) for t in q.leaves() if isinstance(t, wq.Term)
    }


def test_build_negation_not_highlighted(builder):
    highlights = builder.build(parse("twitter -delanoe")).highlights
    assert "twitter" in highlights.exact
    assert "delanoe" not in highlights.exact


def test_one_builder_gives_each_build_a_plan_of_its_own(builder):
    """A search builds its fallbacks with one builder: each plan holds what its own build
    found, and a later build leaves a plan made before untouched."""
    fuzzy = builder.build(parse("twiter"), fuzzy=True)
    assert fuzzy.approximate == {"twiter"} and "twitter" in fuzzy.highlights.exact
    plain = builder.build(parse("delanoe"))
    assert not plain.approximate and "twitter" not in plain.highlights.exact
    assert plain.words == (("delanoe", ("delano",)),)
    assert builder.build(parse("twiter")).approximate == frozenset()  # fuzzy: asked per build
    assert fuzzy.approximate == {"twiter"} and "delanoe" not in fuzzy.highlights.exact


def test_build_weights_boost_title(engine):
    with engine.searcher() as s:
        q = QueryBuilder(s.reader(), Weights(title=5.0, as_typed=0)).build(parse("paris")).query
    boosts = {t.fieldname: t.boost for t in q.leaves() if t.text == "paris"}
    assert boosts == {"title": 5.0, "body": 1.0}


def test_build_word_as_typed_bonus_uses_the_elided_form(engine):
    with engine.searcher() as s:
        q = QueryBuilder(s.reader()).build(parse("l’Élysée")).query
        bare = QueryBuilder(s.reader(), Weights(as_typed=0)).build(parse("l’Élysée")).query
    bonus = [c for c in q.children() if isinstance(c, wq.ConstantScoreQuery)]
    assert [sorted(t.text for t in b.leaves()) for b in bonus] == [["l'elysee", "l'elysee"]]
    assert not any(isinstance(c, wq.ConstantScoreQuery) for c in bare.children())


def test_units_group_joined_compound_with_its_parts():
    units = _units(analyze_query("Delanoë micro-blogging"))
    assert [(j.exact if j else None, [p.exact for p in parts]) for j, parts in units] == [
        (None, ["delanoe"]),
        ("microblogging", ["micro", "blogging"]),
    ]
