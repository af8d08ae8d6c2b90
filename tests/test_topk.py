"""The best documents a search asks for are those, with those scores, that scoring every match
gives: on random indexes of several segments with deleted documents, through the sparse
evaluation of :mod:`searchsvc.engine.termwise` and the proximity bonus worked out for the
best documents only."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchsvc.engine import ranking, termwise
from searchsvc.engine.search import SearchEngine
from searchsvc.ingest.indexer import reindex
from searchsvc.query import language as ql
from searchsvc.query.plan import QueryBuilder

# A small vocabulary, so that common words fill several blocks of 128 postings per segment
# and phrases of them occur; a few rare words for intersections that narrow.
COMMON = "chat chats chien maison maisons jardin la le de des porte rouge vert".split()
RARE = "ornithorynque zèbre xylophone".split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(
        rng.choice(RARE) if rng.random() < 0.02 else rng.choice(COMMON) for _ in range(words)
    )


def _write(corpus, rng: random.Random, n: int, suffix: str = "") -> None:
    title = _text(rng, rng.randint(1, 5))
    body = _text(rng, rng.randint(5, 60))
    (corpus / f"d{n:04}.txt").write_text(f"{title}\n\n{body}{suffix}\n", encoding="utf-8")


@pytest.fixture(scope="module", params=[11, 23])
def engine(request, tmp_path_factory):
    """A random index in three runs: 350 documents, then 120 more and 40 changed, then 30
    removed: several segments, deleted documents in them."""
    rng = random.Random(request.param)
    corpus = tmp_path_factory.mktemp("topk-corpus")
    index_dir = tmp_path_factory.mktemp("topk-index")
    for n in range(350):
        _write(corpus, rng, n)
    reindex(corpus, index_dir, full=True)
    for n in range(350, 470):
        _write(corpus, rng, n)
    for n in range(0, 80, 2):
        _write(corpus, rng, n, " ornithorynque")
    reindex(corpus, index_dir)
    for n in rng.sample(range(470), 30):
        (corpus / f"d{n:04}.txt").unlink(missing_ok=True)
    reindex(corpus, index_dir)
    eng = SearchEngine(index_dir)
    with eng.searcher() as s:
        assert len(s.leaf_searchers()) >= 2 and s.reader().has_deletions()
    yield eng
    eng.close()


_word = st.sampled_from(COMMON + RARE)
_clause = st.one_of(
    _word,
    _word,
    _word.map(lambda w: "-" + w),
    st.tuples(_word, _word).map(lambda ws: f'"{ws[0]} {ws[1]}"'),
    _word.map(lambda w: "titre:" + w),
    _word.map(lambda w: w[:3] + "*"),
)


def _built(s, text: str):
    q = QueryBuilder(s.reader()).build(ql.parse(text)).query
    return q if q is not None and termwise.supports(q) else None


@settings(max_examples=60, deadline=None)
@given(st.lists(_clause, min_size=1, max_size=4), st.sampled_from([10, 50]))
def test_pruned_best_documents_equal_the_exhaustive_ones(engine, clauses, depth):
    """The best 10 (a page) and 50 (the titles' rerank depth): same documents, same scores
    to the bit, same order (equal scores in document order); the same matches and count."""
    text = " ".join(clauses)
    with engine.searcher() as s:
        q = _built(s, text)
        if q is None:
            return
        everything = termwise.run(s, q, time.monotonic() + 10)
        pruned = termwise.run(s, q, time.monotonic() + 10, depth=depth)
        counted = termwise.run(s, q, time.monotonic() + 10, depth=0)
        whoosh_count = len(s.search(q, limit=None))
    assert pruned.top(depth) == everything.top(depth)
    assert np.array_equal(pruned.docs, everything.docs)
    assert np.array_equal(counted.docs, everything.docs)
    assert len(everything) == whoosh_count


@settings(max_examples=30, deadline=None)
@given(st.lists(_clause, min_size=1, max_size=3), st.randoms(use_true_random=False))
def test_pruned_best_documents_within_a_filter(engine, clauses, rng):
    """With only some documents allowed (a filter), the pruned best are still the exhaustive
    best among them."""
    text = " ".join(clauses)
    with engine.searcher() as s:
        q = _built(s, text)
        if q is None:
            return
        total = s.doc_count_all()
        allowed = set(rng.sample(range(total), total // 3))
        everything = termwise.run(s, q, time.monotonic() + 10, allowed)
        pruned = termwise.run(s, q, time.monotonic() + 10, allowed, depth=10)
    assert set(everything.docs.tolist()) <= allowed
    assert pruned.top(10) == everything.top(10)
    assert np.array_equal(pruned.docs, everything.docs)


@pytest.mark.parametrize("text", ["chat", "chat maison", '"la maison"', "jar*", "chat -chien"])
def test_facets_counted_from_every_match(engine, text):
    """The sources and the count of a ranked search are those of every match, counted one
    document at a time."""
    with engine.searcher() as s:
        q = _built(s, text)
        ranked = ranking.rank(s, q, 10, time.monotonic() + 10)
        docs = termwise.run(s, q, time.monotonic() + 10, depth=0).docs.tolist()
        expected: dict[str, int] = {}
        for d in docs:
            source = s.stored_fields(d).get("source") or ""
            expected[source] = expected.get(source, 0) + 1
    assert ranked.total == len(docs)
    assert {v: n for v, n in ranked.sources.items() if v} == {
        v: n for v, n in expected.items() if v
    }


@pytest.mark.parametrize("text", ["chat maison", "jar* -chat", "chat OR zèbre", "titre:chat rouge"])
def test_counting_and_the_sort_by_date_score_nothing(engine, text, monkeypatch):
    """A count (depth 0, also the sort by date) finds the matches without scoring a term:
    the same documents as a scored run."""
    with engine.searcher() as s:
        q = _built(s, text)
        scored = termwise.run(s, q, time.monotonic() + 10).docs

        def refuse(*_args, **_kwargs):
            raise AssertionError("a count scored a term")

        monkeypatch.setattr(termwise._Scored, "scores", refuse)
        counted = termwise.run(s, q, time.monotonic() + 10, depth=0).docs
    assert np.array_equal(counted, scored)
