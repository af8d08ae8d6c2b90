"""Tests for searchsvc.engine.snippets: marking matches on the original text, safely escaped."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchsvc.engine.snippets import ELLIPSIS, highlight, mark, match_spans, snippet, split_tokens
from searchsvc.query.plan import Highlights
from searchsvc.settings import FRAGMENT_CHARS, MAX_FRAGMENTS
from searchsvc.text.analysis import normalise, token_matches

TAG_RE = re.compile(r"<[^>]*>")


def marked(text_html: str) -> list[str]:
    return re.findall(r"<mark>(.*?)</mark>", text_html)


@pytest.mark.parametrize(
    ("text", "highlights", "expected"),
    [
        ("Bertrand Delanoë à Paris", Highlights(exact={"delanoe"}), ["Delanoë"]),
        ("L’ÉLYSÉE et l'Élysée", Highlights(exact={"elysee"}), ["ÉLYSÉE", "Élysée"]),
        ("Les élections, une élection", Highlights(stems={"élect"}), ["élections", "élection"]),
        ("la présidentielle", Highlights(prefixes={"presi"}), ["présidentielle"]),
        ("le micro-blogging", Highlights(exact={"blogging"}), ["blogging"]),
        ("le micro-blogging", Highlights(exact={"microblogging"}), ["micro-blogging"]),
        # the joined form and its parts overlap: one merged span
        ("le micro-blogging", Highlights(exact={"microblogging", "micro"}), ["micro-blogging"]),
        ("sur le compte @Jack", Highlights(exact={"jack"}), ["@Jack"]),
        ("sur le compte @Jack", Highlights(exact={"@jack"}), ["@Jack"]),
        ("3,5 millions", Highlights(exact={"3,5"}), ["3,5"]),
        ("rien à voir", Highlights(exact={"delanoe"}), []),
    ],
)
def test_highlight_marks_original_words(text, highlights, expected):
    assert marked(highlight(text, highlights)) == expected


def test_match_spans_sorted_and_merged():
    text = "micro-blogging et Delanoë"
    spans = match_spans(text, Highlights(exact={"microblogging", "blogging", "delanoe"}))
    assert spans == [(0, 14), (18, 25)]
    assert [text[a:b] for a, b in spans] == ["micro-blogging", "Delanoë"]


def test_match_spans_stop_words_never_marked():
    assert match_spans("le la les", Highlights(exact={"le", "la", "les"})) == []


def test_match_spans_limit_bounds_the_scan():
    text = "x " * 100 + "Delanoë"
    assert match_spans(text, Highlights(exact={"delanoe"}), limit=50) == []
    assert match_spans(text, Highlights(exact={"delanoe"})) == [(200, 207)]


@pytest.mark.parametrize(
    ("text", "spans", "expected"),
    [
        ('<b>&"x"</b>', [], '&lt;b&gt;&amp;"x"&lt;/b&gt;'),
        ("a<b>c", [(1, 4)], "a<mark>&lt;b&gt;</mark>c"),
        ("abcdef", [(1, 2), (4, 5)], "a<mark>b</mark>cd<mark>e</mark>f"),
    ],
)
def test_mark_escapes_everything_outside_and_inside_marks(text, spans, expected):
    assert mark(text, spans) == expected


def test_mark_clips_spans_to_window():
    assert mark("abcdef", [(0, 3), (5, 6)], start=2, end=5) == "<mark>c</mark>de"


def test_highlight_escapes_markup_in_text():
    text = 'Une page contenait <script>alert(1)</script> & "quotes" selon Delanoë.'
    out = highlight(text, Highlights(exact={"delanoe", "script"}))
    assert "&lt;" in out and "&amp;" in out
    assert "<script>" not in out
    assert set(TAG_RE.findall(out)) == {"<mark>", "</mark>"}


def test_snippet_without_match_is_start_of_text():
    assert snippet("Court texte.", Highlights(exact={"absent"})) == "Court texte."
    long_text = "mot " * 200
    out = snippet(long_text, Highlights(exact={"absent"}))
    assert out.endswith(ELLIPSIS)
    assert len(out) <= 2 * FRAGMENT_CHARS + 10


def test_snippet_short_text_whole_with_mark():
    out = snippet("Bertrand Delanoë à Paris.", Highlights(exact={"delanoe"}))
    assert out == "Bertrand <mark>Delanoë</mark> à Paris."


def test_snippet_long_text_fragments_around_matches():
    filler = "Le texte continue sans rien dire de particulier ici. " * 20
    text = filler + "Delanoë parle. " + filler + "Twitter répond. " + filler
    out = snippet(text, Highlights(exact={"delanoe", "twitter"}))
    assert marked(out) == ["Delanoë", "Twitter"]
    assert out.startswith(ELLIPSIS) and out.endswith(ELLIPSIS)
    assert len(out) < len(text) / 3
    assert out.count(ELLIPSIS) <= 2 * MAX_FRAGMENTS


def test_snippet_at_most_max_fragments():
    filler = " ".join(["remplissage"] * 40)
    text = " ".join(f"{filler} Delanoë{i}" for i in range(10))
    highlights = Highlights(prefixes={"delanoe"})
    out = snippet(text, highlights)
    assert 1 <= len(marked(out)) <= MAX_FRAGMENTS
    assert len(marked(snippet(text, highlights, fragments=1))) == 1


def test_snippet_collapses_whitespace():
    out = snippet("Bertrand\n\n   Delanoë\tà Paris", Highlights(exact={"delanoe"}))
    assert out == "Bertrand <mark>Delanoë</mark> à Paris"


FRENCH_TEXT = st.text(
    alphabet=st.sampled_from(list("abcdeéèàçœ DELANOË<>&\"'’-@#\n.,;")), max_size=300
)


@given(FRENCH_TEXT, st.sampled_from(["delanoe", "a", "e", "le", "ab", "de"]))
@settings(max_examples=100, deadline=None, derandomize=True)
def test_highlight_is_lossless_and_only_marks(text, word):
    out = highlight(text, Highlights(exact={word}, prefixes={word}))
    assert set(TAG_RE.findall(out)) <= {"<mark>", "</mark>"}
    assert html.unescape(TAG_RE.sub("", out)) == text


@given(FRENCH_TEXT, st.sampled_from(["delanoe", "a", "e", "ab", "de"]))
@settings(max_examples=100, deadline=None, derandomize=True)
def test_snippet_only_marks_and_balanced(text, word):
    out = snippet(text, Highlights(exact={word}), width=40)
    tags = TAG_RE.findall(out)
    assert set(tags) <= {"<mark>", "</mark>"}
    assert tags == ["<mark>", "</mark>"] * (len(tags) // 2)
    plain = html.unescape(TAG_RE.sub("", out)).replace(ELLIPSIS, " ")
    for piece in plain.split():
        assert piece in text


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(
                ["Élysée", "l’élection", "élections", "porte-monnaie", "présidents", "de", "3,5"]
            ),
            max_size=12,
        ).map(" ".join),
        min_size=1,
        max_size=4,
    )
)
def test_snippets_sharing_one_query_mark_what_each_alone_would(texts):
    """The snippets of a page share the query's memo of matching tokens: it never leaks."""

    def query() -> Highlights:
        return Highlights(exact={"elysee", "monnaie"}, stems={"élect"}, prefixes={"pres"})

    shared = query()
    assert [snippet(t, shared) for t in texts] == [snippet(t, query()) for t in texts]


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from([*"aeéE1 ,.'-_@#\u0301\u2019x3", "œ", "\n"]),
        max_size=40,
    )
)
def test_the_fast_split_gives_the_tokenizers_tokens_and_offsets(text):
    """``split_tokens`` (two regular expressions, chosen by the text) cuts every text where
    the analyzer's tokenizer does."""
    text = normalise(text)
    pieces = split_tokens(text)
    tokens, offsets, at = [], [], 0
    for i, piece in enumerate(pieces):
        if i % 2:
            tokens.append(piece)
            offsets.append(at)
        at += len(piece)
    expected = [(m.group(), m.start()) for m in token_matches(text)]
    assert list(zip(tokens, offsets, strict=True)) == expected
