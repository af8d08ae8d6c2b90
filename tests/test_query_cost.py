"""The cost of a query, estimated from its postings before it runs (issue 23, defect 4).

Queries of 40 common words used to be refused only after their whole 2 s budget, and four
clients sending them starved everyone else. Now a search too costly by its terms' document
frequencies is refused before any ranking; the estimate's calibration on the bench index is
measured by ``bench/expensive_clients.py --calibrate``, not here.
"""

from __future__ import annotations

import itertools
import time

import pytest
from whoosh import query as wq

from searchsvc import settings
from searchsvc.engine import ranking, termwise
from searchsvc.engine.search import SearchEngine
from searchsvc.errors import Kind, QueryTooExpensive
from searchsvc.query import language as ql
from searchsvc.query.nodes import Coverage
from searchsvc.query.plan import QueryBuilder
from searchsvc.testing import build_index

# Words every document of the corpus below has (so each has long postings), in several
# sentences, so that no two of them stand in a fixed order everywhere.
COMMON = (
    "fichier commande système exemple valeur option version texte ligne liste page nombre "
    "document programme serveur réseau utilisateur paquet module fonction tableau variable "
    "chaîne format erreur message client adresse projet source mémoire processus clavier "
    "écran image musique vidéo courrier navigateur dossier"
).split()
assert len(COMMON) == 40


def _corpus(docs: int = 120) -> dict[str, str]:
    files = {}
    for n in range(docs):
        words = COMMON[n % 40 :] + COMMON[: n % 40]
        body = ". ".join(" ".join(words[i : i + 5]) for i in range(0, 40, 5))
        files[f"doc{n:03d}.txt"] = f"Article {n}\n\n{body}. Le mot rare{n} une fois.\n"
    return files


@pytest.fixture(scope="module")
def common_index(tmp_path_factory):
    _corpus_dir, index = build_index(tmp_path_factory.mktemp("common"), _corpus())
    return index


@pytest.fixture
def engine(common_index):
    # A budget of 30 s: a refusal cannot come from the clock.
    eng = SearchEngine(common_index, time_limit=30)
    yield eng
    eng.close()


def _estimate(engine: SearchEngine, text: str, shown: int = 10) -> float:
    with engine.searcher() as s:
        wq = QueryBuilder(s.reader(), engine.weights).build(ql.parse(text)).query
        assert wq is not None
        return ranking.estimate(s, wq, whoosh=False, limit=10, shown=shown)


class RankSpy:
    """Counts the rankings run (term-wise or through Whoosh)."""

    def __init__(self, monkeypatch):
        self.calls = 0
        real = ranking.rank

        def rank(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(ranking, "rank", rank)


def test_a_query_of_many_common_words_is_refused_before_anything_is_ranked(engine, monkeypatch):
    many = " ".join(COMMON)
    # The limit as the bench index's calibration places it between ordinary queries and
    # 40 common words; this index is small, so the limit is scaled alike.
    limit = (_estimate(engine, "fichier commande") + _estimate(engine, many, shown=0)) / 2
    monkeypatch.setattr(settings, "MAX_QUERY_SECONDS", limit)
    spy = RankSpy(monkeypatch)
    started = time.monotonic()
    with pytest.raises(QueryTooExpensive) as refused:
        engine.search(many)
    assert time.monotonic() - started < 5  # at once, far from its 30 s budget
    assert spy.calls == 0  # nothing was ranked
    assert refused.value.kind is Kind.TOO_EXPENSIVE
    assert "more precise" in str(refused.value)
    with pytest.raises(QueryTooExpensive):
        engine.count(many)
    assert spy.calls == 0
    assert engine.search("fichier commande").total == 120  # an ordinary query still runs


def test_ordinary_queries_pass_at_the_shipped_limit(engine):
    for text in ("fichier", "rare7", '"fichier commande"', "fich*", "serveur -rare3"):
        assert engine.search(text).total >= 1, text
    assert engine.search("fichier", page=10, per_page=12).page == 10


def test_the_estimate_grows_with_every_word_added(engine):
    estimates = [_estimate(engine, " ".join(COMMON[:n])) for n in range(1, 41)]
    assert all(a < b for a, b in itertools.pairwise(estimates)), estimates


def test_a_phrase_costs_more_than_its_words_and_pages_cost_what_they_show(engine):
    words = _estimate(engine, "fichier commande")
    # The phrase reads its words' exact forms, and their positions besides.
    assert _estimate(engine, '"fichier commande"') > _estimate(engine, '"fichier" "commande"')
    with engine.searcher() as s:
        wq = QueryBuilder(s.reader(), engine.weights).build(ql.parse("fichier commande")).query
        shown = ranking.estimate(s, wq, whoosh=False, limit=100, shown=100)
        deep = ranking.estimate(s, wq, whoosh=True, limit=10_000, shown=100)
    assert words < shown < deep


def test_partial_matches_of_a_long_query_run_term_wise_rarest_words_first(engine, monkeypatch):
    # No document has every word (rare1 and rare2 are in different ones): only partial
    # matches come back, those holding a rare word first (it weighs most of the meaning),
    # counted and ranked term-wise, never through Whoosh's collectors.
    text = " ".join(COMMON[:30]) + " rare1 rare2"
    ran_by_whoosh, ran_termwise = [], []
    real_whoosh, real_run = ranking._rank_whoosh, termwise.run
    monkeypatch.setattr(
        ranking, "_rank_whoosh", lambda *a, **k: ran_by_whoosh.append(1) or real_whoosh(*a, **k)
    )
    monkeypatch.setattr(
        termwise, "run", lambda s, q, *a, **k: ran_termwise.append(q) or real_run(s, q, *a, **k)
    )
    result = engine.search(text)
    assert result.relaxed and result.every_word == 0 and result.total == 120
    assert {h.id for h in result.hits[:2]} == {"doc001", "doc002"}
    assert not ran_by_whoosh
    assert any(isinstance(_core(q), Coverage) for q in ran_termwise)
    # Its cost counts in the estimate: a limit the strict query passes alone refuses it.
    with engine.searcher() as s:
        plan = QueryBuilder(s.reader(), engine.weights, partial=True).build(ql.parse(text))
        alone = ranking.estimate(s, plan.query, whoosh=False, limit=10, shown=10)
        both = alone + ranking.estimate(s, plan.partial_query, whoosh=False, limit=10, shown=0)
    monkeypatch.setattr(settings, "MAX_QUERY_SECONDS", (alone + both) / 2)
    engine._pages.clear()
    with pytest.raises(QueryTooExpensive):  # nothing else to show: refused, as it says
        engine.search(text)
    # With documents holding every word, those alone (rare1 and one common word).
    assert engine.search(f"{COMMON[0]} rare1").every_word == 1


def _core(q):
    while isinstance(q, wq.AndNot):
        q = q.a
    return q
