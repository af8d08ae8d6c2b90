"""Exact ties are ordered by document id: the same corpus gives the same page however a build
laid its documents into segments (issue 29)."""

from __future__ import annotations

import json
import random
import tempfile
from contextlib import closing
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchsvc.engine import termwise
from searchsvc.engine.search import SearchEngine
from searchsvc.index import columns
from searchsvc.ingest.indexer import reindex

# Documents that tie exactly (same title, same body, same date: only their ids differ), ids
# chosen so that no build order puts them in id order by chance.
TWINS = [f"t{n}" for n in (5, 2, 9, 1, 7, 3, 8, 4, 6)]
QUERIES = ["jardin", "jardin potager", "jardin -rosier", "rosier", "jard*"]


def _docs() -> list[dict]:
    docs = [
        {
            "id": tid,
            "title": "Le jardin potager",
            "body": "Un jardin potager au printemps, des salades et des radis.",
            "date": "2021-05-03",
        }
        for tid in TWINS
    ]
    # Others that match the same words with other scores (and another date, or none).
    for n in range(8):
        doc = {
            "id": f"o{n}",
            "title": f"Notes {n} sur le jardin",
            "body": "Le jardin et le rosier. " * (n + 1) + "Un potager plus loin.",
        }
        if n % 2:
            doc["date"] = "2020"
        docs.append(doc)
    return docs


def _write(path: Path, docs: list[dict]) -> None:
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), "utf-8")


def _build(root: Path, parts: list[list[dict]]) -> Path:
    """An index of ``parts``: the first by a full build, each next one added by an update,
    so each part is a segment of its own, in this order."""
    corpus, index = root / "corpus", root / "index"
    corpus.mkdir(parents=True)
    for i, part in enumerate(parts):
        _write(corpus / f"part{i}.jsonl", part)
        reindex(corpus, index, full=i == 0)
    return index


def _pages(index: Path, monkeypatch=None) -> dict:
    """Every page of interest, as lists of ids: by relevance (2 per page, so that pages cut
    through the ties), by date, and by relevance again through Whoosh's collectors."""
    found = {}
    with closing(SearchEngine(index)) as engine:
        for text in QUERIES:
            for page in (1, 2, 3, 4):
                hits = engine.search(text, page, 2).hits
                found[text, page] = [h.id for h in hits]
            found[text, "all"] = [h.id for h in engine.search(text, 1, 50).hits]
            by_date = engine.search(text, 1, 50, sort="date").hits
            found[text, "date"] = [h.id for h in by_date]
            found[text, "page 2 by date"] = [
                h.id for h in engine.search(text, 2, 3, sort="date").hits
            ]
    if monkeypatch is not None:
        with closing(SearchEngine(index)) as engine, monkeypatch.context() as m:
            m.setattr(termwise, "supports", lambda q: False)
            for text in QUERIES:
                found[text, "whoosh"] = [h.id for h in engine.search(text, 1, 50).hits]
                for page in (1, 2, 3):
                    hits = engine.search(text, page, 2, sort="date").hits
                    found[text, "whoosh by date", page] = [h.id for h in hits]
    return found


def _twins_in_id_order(ids: list[str]) -> bool:
    twins = [i for i in ids if i in TWINS]
    return twins == sorted(twins)


def test_the_same_pages_whatever_the_segments_order(tmp_path, monkeypatch):
    """Twins split over two segments, built in one order then the other: every page (either
    way of ranking, by relevance or by date) is the same, ties in id order."""
    docs = _docs()
    first = [d for d in docs if d["id"] in ("t5", "t9", "t7", "t8", "o1", "o2", "o5")]
    second = [d for d in docs if d not in first]
    one = _pages(_build(tmp_path / "one", [first, second]), monkeypatch)
    other = _pages(_build(tmp_path / "other", [second, first]), monkeypatch)
    assert one == other
    for key in ("all", "date", "whoosh"):
        for text in QUERIES:
            assert _twins_in_id_order(one[text, key]), (text, key, one[text, key])
    assert [i for i in one["jardin potager", "all"] if i in TWINS] == sorted(TWINS)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.randoms(use_true_random=False), st.integers(1, 3))
def test_any_insertion_order_and_split_gives_the_same_ranked_ids(rng, segments):
    """Property: the documents written in any order, into one to three segments, rank the
    same ids in the same order (the reference: sorted insertion, one segment)."""
    docs = _docs()
    shuffled = docs[:]
    rng.shuffle(shuffled)
    cuts = sorted(rng.sample(range(1, len(docs)), segments - 1))
    parts = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(docs)], strict=True)]
    with tempfile.TemporaryDirectory() as tmp:
        got = _pages(_build(Path(tmp) / "shuffled", parts))
    assert got == _reference()


_REFERENCE: dict = {}


def _reference() -> dict:
    if not _REFERENCE:
        docs = sorted(_docs(), key=lambda d: d["id"])
        with tempfile.TemporaryDirectory() as tmp:
            _REFERENCE.update(_pages(_build(Path(tmp) / "sorted", [docs])))
    return _REFERENCE


def test_the_top_breaks_exact_ties_by_the_keys_given():
    matches = termwise.Matches(np.array([3, 5, 7, 9]), np.array([2.0, 1.0, 1.0, 1.0]))
    keys = np.zeros(10, dtype=np.intp)
    keys[[5, 7, 9]] = [2, 0, 1]  # ids ranked: 7's first, then 9's, then 5's
    assert matches.top(2, lambda: keys) == [(-2.0, 3), (-1.0, 7)]
    assert matches.top(10, lambda: keys) == [(-2.0, 3), (-1.0, 7), (-1.0, 9), (-1.0, 5)]
    assert matches.top(2) == [(-2.0, 3), (-1.0, 5)]  # without keys: document order


def test_the_keys_are_asked_for_only_when_scores_tie():
    matches = termwise.Matches(np.array([3, 5, 7]), np.array([2.0, 1.0, 0.5]))

    def never():
        raise AssertionError("no tie: no id needed")

    assert matches.top(3, never) == [(-2.0, 3), (-1.0, 5), (-0.5, 7)]


def test_id_ranks_follow_the_ids_across_segments(tmp_path):
    docs = _docs()
    rng = random.Random(3)
    rng.shuffle(docs)
    index = _build(tmp_path, [docs[:7], docs[7:]])
    with closing(SearchEngine(index)) as engine, engine.searcher() as s:
        ranks = columns.id_ranks(s.reader())
        ids = [s.stored_fields(n)["id"] for n in range(s.doc_count_all())]
    assert sorted(range(len(ids)), key=ranks.__getitem__) == sorted(
        range(len(ids)), key=ids.__getitem__
    )
