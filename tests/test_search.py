"""Tests for searchsvc.engine.search: ranked hits on the seed index, and their invariants."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from unidecode import unidecode

from searchsvc import settings as limits
from searchsvc.engine import ranking
from searchsvc.engine.results import Filters, StoredDocument
from searchsvc.engine.search import SearchEngine
from searchsvc.errors import Kind, QueryError, QueryTooExpensive
from searchsvc.index.schema import TEXT_FIELDS
from searchsvc.ingest.indexer import reindex
from searchsvc.query.language import OR_WORDS
from searchsvc.settings import MAX_PER_PAGE, MAX_RESULT_WINDOW

SEED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"
DELANOE_PREFIXES = ("001_", "002_")
WORD_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def seed_texts() -> dict[str, str]:
    return {f.stem: f.read_text(encoding="utf-8") for f in sorted(SEED_CORPUS.glob("*.txt"))}


def seed_ids_containing(folded: str) -> set[str]:
    """Ids of seed documents whose accent-folded, lower-cased text contains ``folded``."""
    return {doc_id for doc_id, text in seed_texts().items() if folded in unidecode(text).lower()}


def ids(engine, query: str) -> set[str]:
    return {h.id for h in engine.search(query, per_page=100).hits}


# -- what a query finds --------------------------------------------------------------------


@pytest.mark.parametrize("query", ["delanoe", "Delanoë", "DELANOË", "delanoë", "Delanoe"])
def test_search_delanoe_any_spelling_finds_the_two_articles(engine, query):
    result = engine.search(query)
    assert result.total == 2
    assert sorted(h.id[:4] for h in result.hits) == list(DELANOE_PREFIXES)
    for hit in result.hits:
        assert "<mark>Delanoë</mark>" in hit.snippet


@pytest.mark.parametrize("query", ["elysee", "Élysée", "ELYSEE", "l'Elysée"])
def test_search_elysee_finds_the_elysee_article(engine, query):
    expected = seed_ids_containing("elysee")
    assert expected  # the seed corpus spells it "Elysée"
    assert ids(engine, query) == expected


def test_search_elision_and_apostrophes_same_hits(engine):
    hits = ids(engine, "l'election")
    assert hits
    assert ids(engine, "l’élection") == hits
    assert ids(engine, "election") >= hits


def test_search_compound_and_joined_same_documents(engine):
    hits = ids(engine, "micro-blogging")
    assert hits == ids(engine, "microblogging")
    assert hits == seed_ids_containing("micro-blogging") | seed_ids_containing("microblogging")


def test_documents_with_every_word_come_first_then_those_with_some(engine):
    result = engine.search("delanoe twitter", per_page=50)
    every = {h.id for h in result.hits[: result.every_word]}
    assert every and every == ids(engine, "delanoe") & ids(engine, "twitter")
    rest = {h.id for h in result.hits[result.every_word :]}
    assert rest and rest == (ids(engine, "delanoe") | ids(engine, "twitter")) - every
    assert result.total == len(every) + len(rest) and not result.relaxed
    # No document has both: every result holds some of the words, and the result says so.
    relaxed = engine.search("delanoe hippopotame")
    assert relaxed.relaxed and relaxed.every_word == 0 and relaxed.total


def test_search_phrase(engine):
    assert {i[:4] for i in ids(engine, '"bertrand delanoë"')} == set(DELANOE_PREFIXES)
    assert ids(engine, '"delanoë bertrand"') == set()
    assert ids(engine, '"Jack Dorsey"') == ids(engine, "jack dorsey")


def test_search_exclusion(engine):
    twitter = ids(engine, "title:twitter")
    hits = ids(engine, "title:twitter -delanoe")
    assert hits
    assert not any(h.startswith(DELANOE_PREFIXES) for h in hits)
    assert hits == twitter - ids(engine, "delanoe")
    assert ids(engine, "-delanoe") == ids(engine, "twitter") - ids(engine, "delanoe")


def test_search_titre_alias(engine):
    assert ids(engine, "titre:delanoë") == ids(engine, "title:delanoe")
    assert {i[:4] for i in ids(engine, "title:delanoe")} == {"002_"}


def test_search_body_field(engine):
    assert ids(engine, "body:delanoe") == ids(engine, "delanoe")


@pytest.mark.parametrize("operator", ["OR", "OU"])
def test_search_or(engine, operator):
    hits = ids(engine, f"delanoe {operator} elysee")
    assert hits == ids(engine, "delanoe") | ids(engine, "elysee")
    assert len(hits) == 3


def test_search_prefix(engine):
    result = engine.search("prési*", per_page=100)
    assert result.total >= 1
    for hit in result.hits:
        marks = re.findall(r"<mark>(.*?)</mark>", hit.snippet)
        assert marks and all(unidecode(m).lower().startswith("presi") for m in marks)


@pytest.mark.parametrize("query", ["@jack", "@Jack"])
def test_search_handle_finds_only_the_handle(engine, query):
    assert ids(engine, query) == seed_ids_containing("@jack")
    assert ids(engine, "jack") >= ids(engine, query)


def test_search_numbers(engine):
    assert ids(engine, "2013") == seed_ids_containing("2013")
    assert ids(engine, "3,9") == seed_ids_containing("3,9")


@pytest.mark.parametrize("query", ["le la les", "à été où", "Le LA les"])
def test_search_stop_words_only(engine, query):
    result = engine.search(query)
    assert result.total == 0
    assert result.hits == []
    assert result.notice == "stop_words_only"


def test_search_empty_query_no_notice(engine):
    result = engine.search("   ")
    assert (result.total, result.hits, result.notice) == (0, [], None)


def test_search_title_match_ranks_above_body_only(tiny_engine):
    for query in ("zèbre", "zebre", "ZÈBRE"):
        result = tiny_engine.search(query)
        assert [h.id for h in result.hits] == ["zebre-titre", "zebre-corps"]
        assert result.hits[0].score > result.hits[1].score


def test_search_elided_form_as_typed_ranks_first(make_corpus, tmp_path):
    # Same words, same lengths; only one writes "l'introduction" as the query does.
    corpus = make_corpus(
        {
            "une.txt": "Notes\n\nUne introduction rapide au noyau pour les utilisateurs.\n",
            "elle.txt": "Notes\n\nAvant l'introduction du noyau pour les utilisateurs.\n",
        }
    )
    reindex(corpus, tmp_path / "index", full=True)
    engine = SearchEngine(tmp_path / "index")
    try:
        for query in ("utilisateurs l’introduction", "UTILISATEURS L'INTRODUCTION"):
            assert [h.id for h in engine.search(query).hits] == ["elle", "une"]
        # Without the article both match alike; a quoted elided form is that form only.
        assert {h.id for h in engine.search("introduction").hits} == {"elle", "une"}
        assert [h.id for h in engine.search('"l’introduction du noyau"').hits] == ["elle"]
        assert [h.id for h in engine.search("-l'introduction noyau").hits] == []
    finally:
        engine.close()


@pytest.mark.parametrize("termwise", [True, False], ids=["termwise", "whoosh"])
def test_search_exclusion_holds_for_the_first_document_too(
    make_corpus, tmp_path, termwise, monkeypatch
):
    # The excluded word's first document (a) comes before the first with both words (b):
    # Whoosh's own AndNotMatcher kept b, since it only checks a first document both share.
    corpus = make_corpus(
        {
            "a.txt": "Chiens\n\nUn chien dans la rue.\n",
            "b.txt": "Oiseaux et chiens\n\nUn oiseau et un chien.\n",
            "c.txt": "Oiseaux\n\nUn oiseau sur la branche.\n",
        }
    )
    reindex(corpus, tmp_path / "index", full=True)
    if not termwise:
        monkeypatch.setattr(ranking.termwise, "supports", lambda q: False)
    engine = SearchEngine(tmp_path / "index")
    try:
        assert [h.id for h in engine.search("oiseau -chien").hits] == ["c"]
        assert engine.search("oiseau -chien").total == 1
        assert engine.count("oiseau -chien") == 1
    finally:
        engine.close()


def test_search_hits_sorted_by_score(engine):
    scores = [h.score for h in engine.search("twitter", per_page=100).hits]
    assert scores == sorted(scores, reverse=True)


def test_search_result_fields(engine):
    result = engine.search("Delanoë  twitter")
    assert result.query == "Delanoë  twitter"
    assert result.understood == "Delanoë twitter"
    assert (result.page, result.per_page) == (1, 10)
    assert result.took_ms >= 0
    hit = result.hits[0]
    assert hit.title and hit.snippet and hit.score > 0


# -- pagination ----------------------------------------------------------------------------


def test_search_pagination_second_hit(engine):
    everything = engine.search("twitter", per_page=100)
    assert everything.total == 5
    page = engine.search("twitter", page=2, per_page=1)
    assert [h.id for h in page.hits] == [everything.hits[1].id]
    assert page.total == everything.total
    assert page.pages == 5
    assert (page.page, page.per_page) == (2, 1)


def test_search_pagination_pages_cover_every_hit_once(engine):
    everything = [h.id for h in engine.search("twitter", per_page=100).hits]
    paged = [h.id for p in (1, 2, 3) for h in engine.search("twitter", page=p, per_page=2).hits]
    assert paged == everything


def test_search_pagination_past_the_end_is_empty(engine):
    result = engine.search("twitter", page=4, per_page=2)
    assert result.hits == []
    assert result.total == 5


@pytest.mark.parametrize(
    ("page", "per_page", "message"),
    [
        (0, 10, "page must be 1 or more"),
        (-1, 10, "page must be 1 or more"),
        (1, 0, "per_page must be between 1 and 100"),
        (1, MAX_PER_PAGE + 1, "per_page must be between 1 and 100"),
        (MAX_RESULT_WINDOW + 1, 1, "page must be at most 10000"),
        (MAX_RESULT_WINDOW + 1, 100, "page must be at most 10000"),
    ],
)
def test_search_bad_paging_raises_query_error(engine, page, per_page, message):
    with pytest.raises(QueryError, match=message):
        engine.search("twitter", page=page, per_page=per_page)


def test_search_paging_at_the_window_limit_is_accepted(engine):
    assert engine.search("twitter", page=MAX_RESULT_WINDOW // 100, per_page=100).hits == []


@pytest.mark.parametrize(
    ("page", "per_page"), [(MAX_RESULT_WINDOW // 100 + 1, 100), (MAX_RESULT_WINDOW, 1)]
)
def test_a_page_past_the_window_is_empty_and_says_so_only_when_results_lie_there(
    engine, page, per_page
):
    result = engine.search("twitter", page=page, per_page=per_page)
    assert result.hits == [] and result.total > 0
    assert result.notice is None  # the few results all lie before the window's end


def test_a_page_cut_by_the_window_shows_what_is_left_of_it(engine, monkeypatch):
    from searchsvc.engine import search as search_module

    monkeypatch.setattr(search_module, "MAX_RESULT_WINDOW", 3)
    full = engine.search("paris OR twitter OR le OR maire", per_page=2)
    assert full.total > 4
    cut = engine.search("paris OR twitter OR le OR maire", page=2, per_page=2)
    assert len(cut.hits) == 1 and cut.notice == "beyond_window"
    assert cut.hits[0].id == engine.search("paris OR twitter OR le OR maire", per_page=3).hits[2].id
    beyond = engine.search("paris OR twitter OR le OR maire", page=3, per_page=2)
    assert beyond.hits == [] and beyond.notice == "beyond_window"


# -- documents, completion, counts -----------------------------------------------------------


def test_document_returns_stored_document(engine):
    doc_id = next(iter(ids(engine, "delanoe")))
    doc = engine.document(doc_id)
    assert isinstance(doc, StoredDocument)
    assert doc.id == doc_id
    assert doc.path == doc_id + ".txt"
    assert "Delanoë" in doc.body
    assert doc.title


def test_document_unknown_id_is_none(engine):
    assert engine.document("nope") is None
    assert engine.document("") is None


def test_complete_pre_offers_pre_words_first(engine):
    words = engine.complete("pré")
    assert words
    assert words[0].startswith("pré")
    starts = [w.startswith("pré") for w in words]
    assert starts == sorted(starts, reverse=True)  # all "pré…" before any other
    assert all(unidecode(w).startswith("pre") for w in words)


def test_complete_keeps_the_words_before(engine):
    words = engine.complete("jack twit")
    assert words and words[0] == "jack twitter"


@pytest.mark.parametrize("text", ["", "   ", "zzzq", "'"])
def test_complete_nothing(engine, text):
    assert engine.complete(text) == []


def test_complete_limit(engine):
    assert len(engine.complete("p", limit=3)) == 3


def test_count_and_stats(engine):
    assert engine.count("delanoe") == 2
    assert engine.count("le la") == 0
    stats = engine.stats()
    assert stats["documents"] == 5
    assert re.fullmatch(r"g\d{6}", stats["generation"])
    assert stats["index_version"]


def test_highlights_for_document_view(engine):
    highlights = engine.highlights('delanoe -twitter "bertrand delanoë" prési*')
    assert highlights.exact == {"delanoe", "bertrand"}
    assert highlights.prefixes == {"presi"}
    assert "twitter" not in highlights.exact


# -- snippets are safe HTML --------------------------------------------------------------------


@pytest.mark.parametrize("query", ["script", "alert", "quotes", "chercheur", "piégée"])
def test_search_snippet_escapes_html(tiny_engine, query):
    (hit,) = tiny_engine.search(query).hits
    assert set(re.findall(r"<[^>]*>", hit.snippet)) <= {"<mark>", "</mark>"}
    assert re.findall(r"<mark>", hit.snippet)
    text = re.sub(r"</?mark>", "", hit.snippet)
    assert '&lt;script&gt;alert(1)&lt;/script&gt; &amp; "quotes"' in text


def test_search_snippet_escapes_html_around_mark(tiny_engine):
    (hit,) = tiny_engine.search("alert").hits
    assert "&lt;script&gt;<mark>alert</mark>(1)&lt;/script&gt; &amp;" in hit.snippet


def test_document_keeps_raw_text(tiny_engine):
    assert "<script>alert(1)</script>" in tiny_engine.document("securite").body


# -- properties --------------------------------------------------------------------------------

# Words of each seed document. Words that upper-case into the OR operator ("ou") are left out:
# "paris OU lyon" is the query language's OR, so upper-casing them changes the query's meaning.
SEED_WORDS = [
    [w for w in WORD_RE.findall(text) if w.upper() not in OR_WORDS]
    for text in seed_texts().values()
]


@st.composite
def seed_queries(draw) -> str:
    """1 to 3 words of one seed document, or a quoted run of 2 or 3 consecutive words."""
    words = draw(st.sampled_from(SEED_WORDS))
    if draw(st.booleans()):
        return " ".join(draw(st.lists(st.sampled_from(words), min_size=1, max_size=3)))
    start = draw(st.integers(0, len(words) - 3))
    return '"' + " ".join(words[start : start + draw(st.integers(2, 3))]) + '"'


def swap_apostrophes(text: str) -> str:
    return text.translate(str.maketrans({"’": "'", "'": "’"}))


VARIANTS = {
    "unidecode": unidecode,
    "upper": str.upper,
    "lower": str.lower,
    "title": str.title,
    "apostrophes": swap_apostrophes,
}


@given(seed_queries(), st.sampled_from(sorted(VARIANTS)))
@settings(max_examples=100, deadline=None, derandomize=True)
def test_search_accents_case_apostrophes_never_change_hits(engine, query, variant):
    assert ids(engine, VARIANTS[variant](query)) == ids(engine, query)


QUERY_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from("\"():*-+ ’'OR"), st.characters()), max_size=1000
)


@given(QUERY_TEXT)
@example('"(' * 500)
@example("-(" * 499 + "a*")
@example("title:" + "(a OR " * 165)
@example("*" * 1000)
@settings(max_examples=100, deadline=None, derandomize=True)
def test_search_arbitrary_text_raises_only_query_error(engine, text):
    try:
        result = engine.search(text)
    except QueryError:
        return
    assert result.total >= len(result.hits)


@pytest.mark.parametrize("typed", ["l'élec", "l’élec", "L'ELEC"])
def test_complete_strips_elision_of_the_word_being_typed(engine, typed):
    completions = engine.complete(typed)
    assert completions
    assert all(c.lower().startswith(typed[:2].lower()) for c in completions)
    assert any(c[2:].lower().startswith("élection") for c in completions)


def test_complete_collapses_spaces_between_words(engine):
    assert all(c.startswith("twitter pr") for c in engine.complete("twitter  pré"))


@pytest.mark.parametrize("query", ["(((", "*", "-", '""'])
def test_search_without_words_has_no_notice(engine, query):
    result = engine.search(query)
    assert result.total == 0
    assert result.notice is None


# -- fallbacks: typo tolerance, then relaxed matching (issue 4) ------------------------------


def test_search_typo_matches_close_word_and_still_suggests(engine):
    result = engine.search("twiter")
    assert result.total == 5  # every seed article has "Twitter"
    assert result.approximate == ["twiter"]
    assert not result.relaxed
    assert result.suggestion == "twitter"
    assert all("<mark>Twitter</mark>" in h.snippet for h in result.hits)


def test_search_exact_word_is_not_approximate(engine):
    result = engine.search("twitter")
    assert result.approximate == []
    assert not result.relaxed


@pytest.mark.parametrize("word", ["twit", "paris"])
def test_search_short_or_known_words_get_no_close_words(engine, word):
    assert engine.search(word).approximate == []


def test_search_relaxed_when_no_document_has_all_words(engine):
    assert not engine.search("delanoe bureaux").relaxed
    relaxed = engine.search("delanoe zzyzx")
    assert relaxed.relaxed
    assert {h.id[:3] for h in relaxed.hits} == {"001", "002"}


def test_search_relaxed_ranks_documents_with_more_words_first(engine):
    result = engine.search("delanoe bureaux zzyzx")
    assert result.relaxed
    assert result.hits[0].id.startswith("001")  # the one with delanoe and bureaux


def test_search_relaxed_keeps_exclusions(engine):
    result = engine.search("delanoe bureaux zzyzx -printemps")
    assert all(not h.id.startswith("001") for h in result.hits)


def test_similar_finds_the_other_delanoe_article_first(engine):
    hits = engine.similar("001_6500ce3304fb4ba1")
    assert hits[0].id.startswith("002")
    assert all(h.id != "001_6500ce3304fb4ba1" for h in hits)


def test_similar_unknown_id_is_none_and_limit_is_checked(engine):
    assert engine.similar("nope") is None
    with pytest.raises(QueryError):
        engine.similar("001_6500ce3304fb4ba1", limit=0)


# -- filters, facets and sorting (issue 4) ---------------------------------------------------

NEWS = [
    {
        "id": "a1",
        "title": "Twitter à Paris",
        "body": "Twitter ouvre un bureau à Paris.",
        "source": "Le Monde",
        "date": "2012-06-30",
    },
    {
        "id": "a2",
        "title": "Twitter en France",
        "body": "Twitter compte des millions d'utilisateurs.",
        "source": "Le Monde",
        "date": "2013-01-15T10:00:00",
    },
    {
        "id": "a3",
        "title": "Le réseau Twitter",
        "body": "Le réseau social Twitter grandit.",
        "source": "Les Echos",
        "date": "2011-03-01",
    },
    {"id": "a4", "title": "Sans date", "body": "Twitter sans date ni source."},
]


@pytest.fixture(scope="module")
def news_engine(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("news")
    (corpus / "news.jsonl").write_text(
        "\n".join(json.dumps(d, ensure_ascii=False) for d in NEWS), encoding="utf-8"
    )
    index_dir = tmp_path_factory.mktemp("news-index")
    reindex(corpus, index_dir, full=True)
    eng = SearchEngine(index_dir)
    yield eng
    eng.close()


def test_facets_count_sources_over_all_results(news_engine):
    result = news_engine.search("twitter", per_page=1)
    assert [(f.value, f.count) for f in result.facets["source"]] == [
        ("Le Monde", 2),
        ("Les Echos", 1),
    ]


def test_filter_by_source(news_engine):
    result = news_engine.search("twitter", filters=Filters(source="Le Monde"))
    assert {h.id for h in result.hits} == {"a1", "a2"} and result.total == 2


@pytest.mark.parametrize(
    ("date_from", "date_to", "expected"),
    [
        ("2012", None, {"a1", "a2"}),
        (None, "2012-06-30", {"a1", "a3"}),
        ("2012-07", "2013-01", {"a2"}),
    ],
)
def test_filter_by_date_range(news_engine, date_from, date_to, expected):
    result = news_engine.search("twitter", filters=Filters(date_from=date_from, date_to=date_to))
    assert {h.id for h in result.hits} == expected


def test_sort_by_date_newest_first_undated_last(news_engine):
    assert [h.id for h in news_engine.search("twitter", sort="date").hits] == [
        "a2",
        "a1",
        "a3",
        "a4",
    ]


@pytest.mark.parametrize(
    "bad", [{"date_from": "hier"}, {"date_to": "2012/01/01"}, {"source": "x" * 5000}]
)
def test_bad_filters_raise_query_error(bad):
    with pytest.raises(QueryError):
        Filters(**bad)


def test_bad_sort_raises_query_error(news_engine):
    with pytest.raises(QueryError, match="sort must be one of"):
        news_engine.search("twitter", sort="alpha")


def test_filter_sort_and_facets_together(news_engine):
    result = news_engine.search("twitter", filters=Filters(source="Le Monde"), sort="date")
    assert [h.id for h in result.hits] == ["a2", "a1"] and result.total == 2
    assert [(f.value, f.count) for f in result.facets["source"]] == [("Le Monde", 2)]


# -- what a query may cost (issue 6) -----------------------------------------------------------


def prefix_words(engine, prefix: str) -> int:
    """How many index words start with ``prefix``, title and body counted apart."""
    with engine.searcher() as s:
        reader = s.reader()
        return sum(sum(1 for _ in reader.expand_prefix(f, prefix)) for f in TEXT_FIELDS)


def test_prefixes_may_stand_for_up_to_the_limit_of_words(engine, monkeypatch):
    words = prefix_words(engine, "pr")
    assert words > 2
    monkeypatch.setattr(limits, "MAX_PREFIX_TERMS", words)
    assert engine.search("pr*").total > 0
    monkeypatch.setattr(limits, "MAX_PREFIX_TERMS", words - 1)
    with pytest.raises(QueryTooExpensive, match=r"prefixes \(word\*\) match too many words"):
        engine.search("PR*")  # the same prefix; another text, so not a cached page


@pytest.mark.parametrize("query", ["pr* OR de*", "twitter -pr* -de*", "(pr* de*) OR paris"])
def test_the_words_of_every_prefix_add_up(engine, monkeypatch, query):
    both = prefix_words(engine, "pr") + prefix_words(engine, "de")
    monkeypatch.setattr(limits, "MAX_PREFIX_TERMS", both - 1)
    with pytest.raises(QueryError) as refused:
        engine.search(query)
    assert refused.value.kind == Kind.TOO_EXPENSIVE
    with pytest.raises(QueryTooExpensive):
        engine.count(query)
    monkeypatch.setattr(limits, "MAX_PREFIX_TERMS", both)
    engine.search(query)


@pytest.mark.parametrize(
    "options", [{}, {"sort": "date"}, {"filters": Filters(source="Le Monde")}, {"page": 2}]
)
def test_a_search_past_its_time_budget_is_refused(news_engine, options):
    # A budget of 0 s is spent before the first matching document, whatever the machine.
    hurried = SearchEngine(news_engine.root, time_limit=0.0)
    try:
        with pytest.raises(QueryTooExpensive, match=r"takes too long to run \(the limit is 0 s\)"):
            hurried.search("twitter", per_page=1, **options)
        assert hurried.search("zzzzqx").total == 0  # nothing to match, nothing to time out
    finally:
        hurried.close()


def test_a_count_past_its_time_budget_is_refused(news_engine):
    hurried = SearchEngine(news_engine.root, time_limit=0.0)
    try:
        with pytest.raises(QueryTooExpensive, match=r"takes too long to run \(the limit is 0 s\)"):
            hurried.count("twitter")
    finally:
        hurried.close()


def test_a_did_you_mean_past_the_deadline_is_dropped_and_the_results_stay(news_engine, monkeypatch):
    from whoosh.collectors import TimeLimit

    assert news_engine.search("twiter").suggestion == "twitter"

    def out_of_time(*args, **kwargs):
        raise TimeLimit

    monkeypatch.setattr(ranking, "count", out_of_time)  # the suggestion's count only
    result = news_engine.search("twiter", page=2)  # not the cached page
    assert result.suggestion is None
    assert result.total == news_engine.search("twiter").total


def test_did_you_mean_can_be_turned_off(news_engine):
    quiet = SearchEngine(news_engine.root, did_you_mean=False)
    try:
        assert news_engine.search("twiter").suggestion == "twitter"
        result = quiet.search("twiter")
        assert result.suggestion is None
        assert result.total == news_engine.search("twiter").total
    finally:
        quiet.close()


def test_the_time_budget_starts_when_the_searcher_is_free(tiny_engine, hold_searcher):
    tiny_engine.time_limit = 0.5
    try:
        with hold_searcher(tiny_engine, seconds=1.0):  # the search waits longer than its budget
            assert tiny_engine.search("zèbre").total == 2
    finally:
        tiny_engine.time_limit = limits.SEARCH_TIME_LIMIT


def test_stats_never_wait_for_the_searcher(tiny_engine, hold_searcher):
    with hold_searcher(tiny_engine) as holder:
        stats = tiny_engine.stats()
        assert holder.is_alive()  # answered while the searcher was still held
    assert stats["documents"] == 3 and stats["generation"] == "g000001"


def test_repeated_search_served_from_the_page_cache_until_the_index_changes(tiny_corpus, tmp_path):
    index_dir = tmp_path / "index"
    reindex(tiny_corpus, index_dir, full=True)
    engine = SearchEngine(index_dir)
    try:
        first = engine.search("zèbre")
        again = engine.search("zèbre")
        assert again.hits is first.hits  # the same page, not a new search
        assert [h.id for h in engine.search("zèbre", per_page=1).hits] == [first.hits[0].id]
        (tiny_corpus / "zebre-nouveau.txt").write_text(
            "Un zèbre\n\nLe zèbre du zoo, un zèbre de plaine, zèbre encore.\n", encoding="utf-8"
        )
        reindex(tiny_corpus, index_dir)
        assert engine.search("zèbre").total == first.total + 1
        (tiny_corpus / "zebre-nouveau.txt").unlink()
        reindex(tiny_corpus, index_dir, full=True)  # a new generation
        assert engine.search("zèbre").total == first.total
    finally:
        engine.close()


def test_phrase_with_stop_words_matches_them_exactly(make_corpus, tmp_path):
    corpus = make_corpus(
        {
            "de.txt": "Potager\n\nLa pomme de terre pousse bien ici.\n",
            "a.txt": "Verger\n\nUne pomme à terre pourrit vite.\n",
            "les.txt": "Maison\n\nLes fondations sont solides.\n",
        }
    )
    reindex(corpus, tmp_path / "index", full=True)
    engine = SearchEngine(tmp_path / "index")
    try:
        assert [h.id for h in engine.search('"pomme de terre"').hits] == ["de"]
        assert [h.id for h in engine.search('"Pomme À Terre"').hits] == ["a"]
        assert {h.id for h in engine.search("pomme terre").hits} == {"de", "a"}
        assert [h.id for h in engine.search('"les fondations"').hits] == ["les"]
        assert engine.search('"des fondations"').total == 0
        # Stop words are searchable in phrases only, and never marked in snippets.
        assert engine.search("de").notice == "stop_words_only"
        assert engine.search('"de la"').notice == "stop_words_only"
        assert engine.search('"la pomme"').total == 1
        (hit,) = engine.search('"pomme de terre"').hits
        assert "<mark>pomme</mark> de <mark>terre</mark>" in hit.snippet
        assert engine.complete("d") == []  # "de" is indexed, but no completion
        assert engine.complete("so") == ["solides"]  # not "sont"
    finally:
        engine.close()


def test_warm_up_analyses_the_titles_before_the_first_query(tiny_index, monkeypatch):
    """A warmed-up engine's first queries analyse no title: the title signals find them all
    done (a served worker calls warm_up before its first request)."""
    from searchsvc.engine import titles
    from searchsvc.index import caches

    engine = SearchEngine(tiny_index)
    try:
        caches.forget_all()
        titles._titles.clear()
        assert engine.warm_up() == 3
        analysed = []
        original = titles.iter_terms
        monkeypatch.setattr(titles, "iter_terms", lambda t: analysed.append(t) or original(t))
        assert engine.search("faune africaine").total == 2
        assert analysed == []
    finally:
        engine.close()


def test_documents_without_a_source_do_not_crowd_out_the_tenth_source():
    """The ten most frequent sources are shown, however many results have no source."""
    counts = {"": 100, **{f"s{i}": 50 for i in range(9)}, "rare": 3, "rarer": 2}
    shown = ranking.facet_counts(counts)["source"]
    assert [f.value for f in shown] == [*(f"s{i}" for i in range(9)), "rare"]
