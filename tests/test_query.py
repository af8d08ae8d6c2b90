"""Tests for searchsvc.query.language: parsing queries, rendering them back, and limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchsvc.errors import QueryError
from searchsvc.query.language import (
    All,
    Any,
    Not,
    Phrase,
    Prefix,
    Word,
    last_leaf,
    leaves,
    parse,
    render,
    replace_leaf,
    understood_if_different,
    without_leaf,
)
from searchsvc.settings import MAX_QUERY_CHARS, MAX_TERMS


def shape(node):
    """The tree without character offsets, as nested tuples, for readable expectations."""
    if isinstance(node, Not):
        return ("not", shape(node.node))
    if isinstance(node, All):
        return ("all", *(shape(n) for n in node.nodes))
    if isinstance(node, Any):
        return ("any", *(shape(n) for n in node.nodes))
    kind = {Word: "word", Phrase: "phrase", Prefix: "prefix"}[type(node)]
    return (kind, node.text, node.field) if node.field else (kind, node.text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("twitter", ("word", "twitter")),
        ("twitter delanoe", ("all", ("word", "twitter"), ("word", "delanoe"))),
        ('"bertrand delanoë"', ("phrase", "bertrand delanoë")),
        ("-delanoe", ("not", ("word", "delanoe"))),
        ("+twitter", ("word", "twitter")),
        ("twitter -delanoe", ("all", ("word", "twitter"), ("not", ("word", "delanoe")))),
        ('-"bertrand delanoë"', ("not", ("phrase", "bertrand delanoë"))),
        ("-(paris lyon)", ("not", ("all", ("word", "paris"), ("word", "lyon")))),
        ("paris OR lyon", ("any", ("word", "paris"), ("word", "lyon"))),
        ("paris OU lyon", ("any", ("word", "paris"), ("word", "lyon"))),
        ("a OR b OR c", ("any", ("word", "a"), ("word", "b"), ("word", "c"))),
        (
            "x a OR b",
            ("all", ("word", "x"), ("any", ("word", "a"), ("word", "b"))),
        ),
        ("paris or lyon", ("all", ("word", "paris"), ("word", "or"), ("word", "lyon"))),
        ("prési*", ("prefix", "prési")),
        ("title:twitter", ("word", "twitter", "title")),
        ("titre:twitter", ("word", "twitter", "title")),
        ("TITRE:twitter", ("word", "twitter", "title")),
        ("body:twitter", ("word", "twitter", "body")),
        ("texte:twitter", ("word", "twitter", "body")),
        ("source:lemonde", ("word", "lemonde", "source")),
        ("title:prési*", ("prefix", "prési", "title")),
        ('title:"bertrand delanoë"', ("phrase", "bertrand delanoë", "title")),
        (
            "title:(twitter paris)",
            ("all", ("word", "twitter", "title"), ("word", "paris", "title")),
        ),
        ("-title:delanoe", ("not", ("word", "delanoe", "title"))),
        ("auteur:jack", ("word", "auteur:jack")),  # not a field: plain text
        ("(twitter)", ("word", "twitter")),
    ],
)
def test_parse_query_language(text, expected):
    assert shape(parse(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"unclosed', ("word", "unclosed")),
        ('"unclosed phrase', ("all", ("word", "unclosed"), ("word", "phrase"))),
        ("title:", ("word", "title")),
        ("titre:", ("word", "titre")),
        ("(((", ("all",)),
        ("))", ("all",)),
        ("(twitter", ("word", "twitter")),
        ("twitter)", ("word", "twitter")),
        ("*", ("all",)),
        ("**", ("all",)),
        ("*a*", ("word", "a")),
        ("t*", ("word", "t")),  # a one-letter prefix would expand to everything
        ("*twit", ("word", "twit")),
        ("-", ("all",)),  # punctuation alone is nothing to search
        ("OR", ("word", "OR")),
        ("OU", ("word", "OU")),
        ("OR twitter", ("all", ("word", "OR"), ("word", "twitter"))),
        ("twitter OR", ("word", "twitter")),  # a trailing OR, still being typed, is dropped
        ('""', ("all",)),
        ('" "', ("all",)),
        ("", ("all",)),
        ("   ", ("all",)),
        (":", ("all",)),
        ("()", ("all",)),
        ("-()", ("all",)),
    ],
)
def test_parse_malformed_input_never_raises(text, expected):
    assert shape(parse(text)) == expected


# Issue 16: a quote nothing closes is ignored, not a phrase running to the end of the query
# (`"twitter paris` found nothing where `twitter paris` finds 3 seed documents).
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"twitter paris', ("all", ("word", "twitter"), ("word", "paris"))),
        ('twitter "paris', ("all", ("word", "twitter"), ("word", "paris"))),
        ('twitter paris"', ("all", ("word", "twitter"), ("word", "paris"))),
        ('"a b" "c d', ("all", ("phrase", "a b"), ("word", "c"), ("word", "d"))),
        ('"a b" c "d e"', ("all", ("phrase", "a b"), ("word", "c"), ("phrase", "d e"))),
        ('title:"twitter paris', ("all", ("word", "twitter", "title"), ("word", "paris"))),
        ('-"twitter paris', ("all", ("not", ("word", "twitter")), ("word", "paris"))),
        ('-" twitter', ("word", "twitter")),
        ('"prési*', ("prefix", "prési")),
        ('"', ("all",)),
        ('"""', ("all",)),
    ],
)
def test_parse_unclosed_quote_reads_as_plain_words(text, expected):
    assert shape(parse(text)) == expected


def test_search_unclosed_quote_finds_what_the_words_find(engine):
    words = engine.search("twitter paris")
    assert words.every_word == 3
    unclosed = engine.search('"twitter paris')
    assert (unclosed.total, unclosed.every_word) == (words.total, words.every_word)
    assert unclosed.understood == "twitter paris"


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ('"twitter paris', "twitter paris"),
        ("fichier fichier", "fichier"),
        ("x a OR b", "x (a OR b)"),
        ("- twitter", "twitter"),
        ("twitter OR", "twitter"),
        ("twitter paris", None),
        ("  twitter   paris ", None),
        ("paris OU lyon", None),
        ("TITRE:twitter", None),
        ('"  bertrand   delanoë "', None),
        ('-"bertrand delanoë" prési*', None),
        ("(((", None),  # nothing understood: nothing to show
    ],
)
def test_understood_is_shown_only_when_it_reads_otherwise(typed, shown):
    assert understood_if_different(typed, render(parse(typed))) == shown


@pytest.mark.parametrize("text", ['"unclosed', "title:", "(((", "*", "*a*", "))", "-", "OR"])
def test_search_malformed_input_never_raises(engine, text):
    result = engine.search(text)
    assert result.total >= 0


def test_parse_deep_nesting_is_flattened_not_recursed():
    text = "(" * 200 + "twitter" + ")" * 200
    assert shape(parse(text)) == ("word", "twitter")


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("twitter  delanoe", "twitter delanoe"),
        ("paris OU lyon", "paris OR lyon"),
        ("x a OR b", "x (a OR b)"),
        ("titre:twitter", "title:twitter"),
        ("texte:(twitter paris)", "body:twitter body:paris"),
        ('titre:"bertrand delanoë"', 'title:"bertrand delanoë"'),
        ('"  bertrand   delanoë "', '"bertrand   delanoë"'),
        ("-(paris lyon)", "-(paris lyon)"),
        ("prési*", "prési*"),
        ('"unclosed', "unclosed"),
        ("(((", ""),
    ],
)
def test_render_normalises(text, rendered):
    assert render(parse(text)) == rendered


@pytest.mark.parametrize(
    "text",
    [
        "twitter delanoe",
        '"bertrand delanoë" -twitter',
        "x (a OR b) title:prési*",
        "-(paris lyon) body:twitter",
    ],
)
def test_render_round_trips(text):
    assert render(parse(render(parse(text)))) == render(parse(text))
    assert shape(parse(render(parse(text)))) == shape(parse(text))


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("twitter -delanoe", ["twitter", "delanoe"]),
        ("titre:Élysée prési*", ["Élysée", "prési"]),
        ("*a* (b OR c)", ["a", "b", "c"]),
    ],
)
def test_parse_leaf_offsets_point_into_the_query(text, spans):
    assert [text[leaf.start : leaf.end] for leaf, _ in leaves(parse(text))] == spans


def test_leaves_report_negation():
    tree = parse("a -b -(c -d)")
    assert [(leaf.text, negated) for leaf, negated in leaves(tree)] == [
        ("a", False),
        ("b", True),
        ("c", True),
        ("d", False),
    ]


# -- rewriting a tree ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "last"),
    [
        ("twitter delanoe", ("delanoe", False)),
        ("a -(b OR c)", ("c", True)),
        ('titre:"mot de pa', ("pa", False)),
        ("(a b) c*", ("c", False)),
    ],
)
def test_last_leaf_is_the_one_ending_last(text, last):
    leaf, negated = last_leaf(parse(text))
    assert (leaf.text, negated) == last
    assert text[leaf.start : leaf.end] == leaf.text


def test_last_leaf_of_a_tree_without_leaves_is_none():
    assert last_leaf(parse("")) is None
    assert last_leaf(All(())) is None


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("twitter delanoe", "twitter nouveau*"),
        ("a -(b OR delanoe)", "a -(b OR nouveau*)"),
        ("delanoe", "nouveau*"),
    ],
)
def test_replace_leaf_puts_a_node_in_place_of_that_leaf(text, rendered):
    tree = parse(text)
    leaf, _negated = last_leaf(tree)
    new = replace_leaf(tree, leaf, Prefix("nouveau"))
    assert render(new) == rendered
    assert render(tree) == render(parse(text))  # the tree itself is left as it was


def test_replace_leaf_replaces_that_very_leaf_not_an_equal_one():
    first, second = Word("mot"), Word("mot")
    tree = All((first, second))
    assert replace_leaf(tree, second, Word("autre")) == All((first, Word("autre")))
    assert replace_leaf(tree, Word("absent"), Word("autre")) == tree


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("configuration r", "configuration"),
        ("a b c", "a b"),
        ("a (b OR c)", "a b"),
        ("a -c", "a -c"),  # under a Not directly: nothing would be left of that clause
        ("c", "c"),  # the whole tree
    ],
)
def test_without_leaf_leaves_it_out_of_its_groups(text, rendered):
    tree = parse(text)
    leaf, _negated = last_leaf(tree)
    assert render(without_leaf(tree, leaf)) == rendered


@given(st.text(alphabet='ab -()"*:OR', max_size=40))
@settings(max_examples=100, deadline=None, derandomize=True)
def test_rewriting_any_parsed_tree_never_fails(text):
    tree = parse(text)
    last = last_leaf(tree)
    if last is None:
        return
    leaf, _negated = last
    render(replace_leaf(tree, leaf, Word("x")))
    render(without_leaf(tree, leaf))


# -- limits --------------------------------------------------------------------------------


def test_parse_query_at_length_limit_is_accepted():
    parse("a" * MAX_QUERY_CHARS)


def test_parse_too_long_query_raises_clear_error():
    with pytest.raises(QueryError, match=r"too long \(10000 characters; the limit is 1000\)"):
        parse("a" * 10_000)


def test_search_too_long_query_raises_query_error(engine):
    with pytest.raises(QueryError, match="too long"):
        engine.search("twitter " * 1250)


def test_parse_term_limit_is_accepted():
    parse(" ".join(f"mot{i}" for i in range(MAX_TERMS)))


@pytest.mark.parametrize(
    "text",
    [
        " ".join(f"mot{i}" for i in range(MAX_TERMS + 1)),
        " ".join(f"-mot{i}" for i in range(MAX_TERMS + 1)),
        " OR ".join(f"mot{i}" for i in range(MAX_TERMS + 1)),
    ],
)
def test_parse_too_many_terms_raises_clear_error(text):
    with pytest.raises(QueryError, match=r"too many terms \(51; the limit is 50\)"):
        parse(text)


def test_query_error_is_a_value_error():
    assert issubclass(QueryError, ValueError)


# Queries made of syntax pieces and random text, so quotes, groups and fields meet often.
QUERY_SOUP = st.lists(
    st.one_of(
        st.sampled_from([*'"():*-+ ’', "OR ", "OU ", "title:", "titre:", "source:"]),
        st.text(max_size=4),
    ),
    max_size=200,
).map("".join)


@given(st.text(max_size=1200))
@settings(max_examples=100, deadline=None, derandomize=True)
def test_parse_arbitrary_text_raises_only_query_error(text):
    try:
        tree = parse(text)
    except QueryError:
        return
    render(tree)


@given(QUERY_SOUP)
@settings(max_examples=100, deadline=None, derandomize=True)
def test_parse_syntax_soup_raises_only_query_error(text):
    try:
        tree = parse(text)
    except QueryError:
        return
    for leaf, _negated in leaves(tree):
        assert leaf.text
        if not isinstance(leaf, Phrase):
            assert text[leaf.start : leaf.end] == leaf.text


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("fichier fichier fichier", "fichier"),
        ("x -y -y", "x -y"),
        ("fichier twitter fichier OR paris", "fichier twitter (fichier OR paris)"),
    ],
)
def test_parse_drops_repeated_clauses_but_not_before_or(text, rendered):
    # Issue 6: "fichier" typed 50 times cost ~80 ms per repeat; a repeat adds nothing.
    assert render(parse(text)) == rendered
