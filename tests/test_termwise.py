"""Term-at-a-time evaluation gives Whoosh's own matches and scores, only faster."""

from __future__ import annotations

import json
import random
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh import query as wq

from searchsvc.engine import ranking, termwise
from searchsvc.engine.results import Filters
from searchsvc.engine.search import SearchEngine
from searchsvc.index import caches, codec
from searchsvc.index.whoosh_internals.reading import field_lengths, position_gaps
from searchsvc.index.whoosh_internals.values import stored_length
from searchsvc.ingest.indexer import reindex
from searchsvc.query import language as ql
from searchsvc.query.plan import QueryBuilder
from searchsvc.settings import Weights

# Few enough words that the common ones fill several 128-posting blocks of 400 documents,
# with accents, elisions, compounds, stop words and inflections to exercise every term kind.
VOCABULARY = (
    "élève élèves eleve école l'école d'école écoles café cafés forêt forêts porte-monnaie "
    "mange mangeait mangé mangera pomme de terre la le les des pommes terres numéro 3,5 "
    "jardin jardins jardinier parisien Paris l'Élysée président présidente présidents "
    "rare étrange aujourd'hui qu'il lumière lumières village villages"
).split()


def _document(rng: random.Random, n: int) -> str:
    title = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(2, 6)))
    body = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(10, 80)))
    if rng.random() < 0.2:
        body += " une pomme de terre"
    return f"Document {n} {title}\n\n{body}\n"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """An index of 400 generated documents, then 30 changed and 20 removed: two segments
    and deleted documents, as a live index has after incremental runs."""
    rng = random.Random(5)
    corpus = tmp_path_factory.mktemp("tw-corpus")
    index_dir = tmp_path_factory.mktemp("tw-index")
    for n in range(400):
        (corpus / f"d{n:03}.txt").write_text(_document(rng, n), encoding="utf-8")
    reindex(corpus, index_dir, full=True)
    for n in range(0, 60, 2):
        (corpus / f"d{n:03}.txt").write_text(_document(rng, n) + " rare\n", encoding="utf-8")
    for n in range(100, 120):
        (corpus / f"d{n:03}.txt").unlink()
    reindex(corpus, index_dir)
    eng = SearchEngine(index_dir)
    with eng.searcher() as s:
        assert len(s.leaf_searchers()) == 2 and s.reader().has_deletions()
        first = s.leaf_searchers()[0][0].reader()
        assert first.doc_frequency("body", "jardin") > 128  # more than one block
    yield eng
    eng.close()


def _both(engine, text: str, weights: Weights | None = None):
    """(Whoosh's scores, termwise scores) for one query text, by document number; Whoosh's
    scores are None for a query with a prefix (it scores prefixes inconsistently, see
    ``test_a_prefix_scores_as_its_words_boosted``)."""
    with engine.searcher() as s:
        q = QueryBuilder(s.reader(), weights).build(ql.parse(text)).query
        assert q is not None and termwise.supports(q), text
        whoosh = {hit.docnum: hit.score for hit in s.search(q, limit=None)}
        ours = termwise.run(s, q, time.monotonic() + 10).scores
        if any(isinstance(leaf, wq.Prefix) for leaf in q.leaves()):
            whoosh = dict.fromkeys(whoosh)
    return whoosh, ours


def _assert_same(whoosh: dict, ours: dict) -> None:
    assert set(ours) == set(whoosh)
    for d, score in whoosh.items():
        if score is None:
            continue
        assert ours[d] == pytest.approx(score, rel=1e-9)


_word = st.sampled_from(VOCABULARY)
_clause = st.one_of(
    _word,
    _word.map(lambda w: "-" + w),
    st.tuples(_word, _word).map(lambda ws: f'"{ws[0]} {ws[1]}"'),
    _word.map(lambda w: "titre:" + w),
    _word.map(lambda w: w[:3] + "*"),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_clause, min_size=1, max_size=4))
def test_same_documents_and_scores_as_whoosh(engine, clauses):
    text = " ".join(clauses)
    with engine.searcher() as s:
        q = QueryBuilder(s.reader()).build(ql.parse(text)).query
        if q is None or not termwise.supports(q):
            return  # only negations or stop words left: nothing termwise is asked to do
    _assert_same(*_both(engine, text))


@settings(max_examples=100, deadline=None)
@given(st.lists(_clause, min_size=2, max_size=5), st.integers(1, 30))
def test_the_best_documents_are_exact_when_only_they_are_asked_for(engine, clauses, depth):
    """With ``depth``, the proximity bonus is worked out only for the documents that can reach
    the best ``depth``: those, and their scores, are the ones a full evaluation gives."""
    text = " ".join(clauses)
    with engine.searcher() as s:
        q = QueryBuilder(s.reader()).build(ql.parse(text)).query
        if q is None or not termwise.supports(q):
            return
        everything = termwise.run(s, q, time.monotonic() + 10)
        best = termwise.run(s, q, time.monotonic() + 10, depth=depth)
        counted = termwise.run(s, q, time.monotonic() + 10, depth=0)  # a count: matches alone
    assert len(best) == len(everything)
    assert best.top(depth) == everything.top(depth)
    assert np.array_equal(counted.docs, everything.docs)


@pytest.mark.parametrize(
    "text",
    [
        "jardin",  # several blocks
        "jard*",  # a prefix of several words: their frequencies added up
        "jardini*",  # a prefix of one word: that word's BM25 score
        "rare jardin",  # a rare word narrows which blocks of the common one are read
        "élèves école",
        "eleve l'ecole",
        "porte-monnaie",
        '"pomme de terre"',
        '"jardin jardin"',  # overlapping occurrences: each counts
        '"village jardin" école',
        '"de terre" village',
        "président -jardin",
        "titre:lumière village",
        "numéro 3,5",
        "village village",
    ],
)
def test_same_scores_as_whoosh_for_each_kind_of_word(engine, text):
    whoosh, ours = _both(engine, text)
    assert whoosh  # the query matches: the comparison means something
    _assert_same(whoosh, ours)


@pytest.mark.parametrize(("fieldname", "prefix"), [("body", "jard"), ("body", "jardini")])
def test_a_prefix_scores_as_its_words_boosted(engine, fieldname, prefix):
    """A prefix is scored as the sum of its words' own scores, times its boost, whether it
    stands for one word or several (Whoosh gives one word no boost, and on small segments
    gives every match of several words the same score)."""
    with engine.searcher() as s:
        words = sorted(s.reader().expand_prefix(fieldname, prefix))
        assert words
        as_words = wq.Or([wq.Term(fieldname, w.decode(), boost=1.5) for w in words])
        expected = {hit.docnum: hit.score for hit in s.search(as_words, limit=None)}
        q = wq.Prefix(fieldname, prefix, boost=1.5)
        assert expected and termwise.supports(q)
        _assert_same(expected, termwise.run(s, q, time.monotonic() + 10).scores)


def test_same_scores_with_other_weights(engine):
    weights = Weights(title=3.0, stem=0.5, as_typed=0.0, proximity=5.0, slop=3)
    _assert_same(*_both(engine, "jardin forêt lumière", weights))


def test_removed_and_replaced_documents_never_match(engine):
    with engine.searcher() as s:
        found = {}
        for text in ("jardin", "rare"):
            q = QueryBuilder(s.reader()).build(ql.parse(text)).query
            scores = termwise.run(s, q, time.monotonic() + 10).scores
            found[text] = [s.stored_fields(d) for d in scores]
    removed = {f"d{n:03}" for n in range(100, 120)}
    assert found["jardin"] and not {f["id"].split(".")[0] for f in found["jardin"]} & removed
    # "rare" is in the vocabulary, so old versions may have it too; each id appears once,
    # from its live version, and every changed document's new version is found.
    ids = [f["id"] for f in found["rare"]]
    assert len(ids) == len(set(ids))
    changed = {f"d{n:03}" for n in range(0, 60, 2)}
    assert changed <= {i.split(".")[0] for i in ids}


def test_filter_keeps_only_allowed_documents(engine):
    with engine.searcher() as s:
        q = QueryBuilder(s.reader()).build(ql.parse("jardin")).query
        everything = termwise.run(s, q, time.monotonic() + 10).scores
        allowed = set(sorted(everything)[::3])
        kept = termwise.run(s, q, time.monotonic() + 10, allowed).scores
    assert set(kept) == allowed
    assert all(kept[d] == everything[d] for d in kept)


def test_past_the_deadline_raises_whoosh_time_limit(engine):
    from whoosh import collectors

    with engine.searcher() as s:
        q = QueryBuilder(s.reader()).build(ql.parse("jardin village")).query
        with pytest.raises(collectors.TimeLimit):
            termwise.run(s, q, time.monotonic() - 1)


def test_top_orders_by_score_then_document_number():
    matches = termwise.Matches(np.array([3, 5, 7, 9]), np.array([2.0, 1.0, 1.0, 0.5]))
    assert matches.top(3) == [(-2.0, 3), (-1.0, 5), (-1.0, 7)]
    assert matches.top(2) == [(-2.0, 3), (-1.0, 5)]  # a tie cut in document order
    assert matches.top(10) == [(-2.0, 3), (-1.0, 5), (-1.0, 7), (-0.5, 9)]
    assert len(matches) == 4 and matches.scores == {3: 2.0, 5: 1.0, 7: 1.0, 9: 0.5}


@pytest.mark.parametrize(
    "q",
    [
        wq.Term("source", "x"),
        wq.Prefix("source", "x"),
        wq.And([wq.Term("body", "a"), wq.Every()]),
        wq.FuzzyTerm("body", "jardin"),
    ],
)
def test_shapes_left_to_whoosh(q):
    assert not termwise.supports(q)


@pytest.mark.parametrize(
    ("positions", "slop", "expected"),
    [
        ([[1], [2]], 1, True),
        ([[2], [1]], 1, False),  # in order only
        ([[1], [3]], 1, False),
        ([[1], [3]], 2, True),
        ([[1, 10], [12], [13]], 2, True),  # chains from the later start
        ([[1], [1]], 5, False),  # the same position is no sequence
        ([[4, 5], [5, 6]], 1, True),  # "a a": two consecutive occurrences
    ],
)
def test_in_sequence(positions, slop, expected):
    assert termwise._in_sequence(positions, slop) is expected


@pytest.mark.parametrize(
    "text", ["jardin", "rare jardin", "élèves -école", '"pomme de terre"', "zzzqq jardin"]
)
def test_engine_pages_are_the_same_either_way(engine, text, monkeypatch):
    """A whole result page (hits, scores, total, facets) does not depend on the path taken."""
    fast = engine.search(text, per_page=20)
    engine._pages.clear()
    monkeypatch.setattr(termwise, "supports", lambda q: False)
    slow = engine.search(text, per_page=20)
    engine._pages.clear()
    assert [h.id for h in fast.hits] == [h.id for h in slow.hits]
    assert [h.score for h in fast.hits] == pytest.approx([h.score for h in slow.hits])
    assert (fast.total, fast.facets, fast.suggestion) == (slow.total, slow.facets, slow.suggestion)


def test_lru_drops_the_least_recently_used_past_its_capacity():
    lru = caches.LRU(capacity=10)
    lru.put("a", 1, 4)
    lru.put("b", 2, 4)
    assert lru.get("a") == 1  # "b" is now the least recently used
    lru.put("c", 3, 4)
    assert (lru.get("a"), lru.get("b"), lru.get("c")) == (1, None, 3)
    assert lru.size == 8
    lru.put("huge", 4, 100)  # larger than the capacity: kept alone
    assert lru.get("huge") == 4 and lru.size == 100


def test_the_codecs_arrays_read_back_what_whooshs_matcher_reads(engine):
    """Every term of every segment: the arrays a search reads are the postings Whoosh's
    matcher gives (document numbers, frequencies), and a term the segment lacks is absent."""
    with engine.searcher() as s:
        for leaf, _offset in s.leaf_searchers():
            reader = leaf.reader()
            for fieldname in ("title", "body"):
                terms = [t.decode() for t in reader.lexicon(fieldname)]
                assert terms
                for text in terms:
                    packed = codec.term_postings(reader, fieldname, text)
                    through_whoosh = codec._from_matcher(reader, fieldname, text)
                    assert np.array_equal(packed.ids, through_whoosh.ids)
                    assert np.array_equal(packed.weights, through_whoosh.weights)
                    assert len(packed) == reader.doc_frequency(fieldname, text)
            assert codec.term_postings(reader, "body", "zzzabsent") is None


def test_positions_of_a_term_read_from_the_arrays(engine):
    """Positions (for phrases) are those Whoosh's matcher decodes."""
    with engine.searcher() as s:
        reader = s.leaf_searchers()[0][0].reader()
        for text in ("jardin", "rare", "pomme"):
            packed = codec.term_postings(reader, "body", text)
            docs = packed.ids[::7]
            fmt = reader.schema["body"].format
            matcher = reader._terms.matcher("body", text.encode(), fmt)  # deleted ones too
            expected = {}
            for d in docs.tolist():
                matcher.skip_to(d)
                expected[d] = matcher.value_as("positions")
            assert codec.positions_lists(packed, docs) == expected


def test_same_scores_from_a_segment_of_another_codec(engine, monkeypatch):
    """A segment of another codec (read through Whoosh's matcher, posting by posting) gives
    the same results."""
    caches.forget_all()
    texts = ("jardin forêt", '"pomme de terre"', "élèves -école", "jard*")
    packed = [_both(engine, t)[1] for t in texts]

    def through_whoosh(reader, field, text, entry=None):
        return codec._from_matcher(reader, field, text)

    monkeypatch.setattr(codec, "term_postings", through_whoosh)
    caches.forget_all()
    for text, expected in zip(texts, packed, strict=True):
        whoosh, ours = _both(engine, text)
        _assert_same(whoosh, ours)
        assert ours == expected
    caches.forget_all()


def test_a_repeated_term_is_read_once_per_segment(engine, monkeypatch):
    reads = []
    original = codec.TermPostings.read.__func__
    counted = classmethod(lambda cls, *a: reads.append(1) or original(cls, *a))
    monkeypatch.setattr(codec.TermPostings, "read", counted)
    with engine.searcher() as s:
        caches.forget_all()
        q = QueryBuilder(s.reader()).build(ql.parse("lumière")).query
        first = termwise.run(s, q, time.monotonic() + 10).scores
        read = len(reads)
        again = termwise.run(s, q, time.monotonic() + 10).scores
    assert read > 0 and len(reads) == read
    assert again == first


@pytest.mark.parametrize(
    "text", ["jardin", "jard* lumière", "vill* -jardin", "rare OR étrange", "élève mangé", "pom*"]
)
def test_count_agrees_with_the_total_of_a_search(engine, text):
    """Whichever way a query runs (termwise, or Whoosh for prefixes and OR), its count is the
    number of documents a search pages through."""
    result = engine.search(text, per_page=100)
    assert engine.count(text) == result.total
    if result.total <= 100:
        assert len(result.hits) == result.total


def test_lengths_read_in_one_go_are_whooshs(engine):
    """Each document's field length as read for scoring is the one Whoosh's scorer uses."""
    with engine.searcher() as s:
        for leaf, _offset in s.leaf_searchers():
            reader = leaf.reader()
            for fieldname in ("title", "body"):
                lengths = field_lengths(reader, fieldname)
                expected = [
                    reader.doc_field_length(d, fieldname, 1) or 1
                    for d in range(reader.doc_count_all())
                ]
                assert lengths.tolist() == expected


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 200_000), max_size=30).map(sorted), max_size=20),
    st.booleans(),
)
def test_a_blocks_positions_unpickled_at_once_are_whooshs(docs, strip_stop):
    """The one-call decoding of a block's positions gives what Whoosh's decoder gives, with
    or without the stop opcode Whoosh sometimes leaves out."""
    from itertools import accumulate

    from whoosh.formats import Positions

    fmt = Positions()
    values = [fmt.encode(positions) for positions in docs]
    if strip_stop:
        values = [v[:-1] for v in values]
    gaps = position_gaps(values, fmt.decode_positions)
    assert [list(accumulate(g)) for g in gaps] == [fmt.decode_positions(v) for v in values]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 70_000),
            st.one_of(st.just(1.0), st.integers(1, 300).map(float), st.floats(0.5, 1e6, width=32)),
            st.lists(st.integers(0, 2**32 - 1), max_size=6).map(sorted),
            st.integers(0, 200_000),
        ),
        min_size=1,
        max_size=300,
    ),
    st.integers(0, 2_100_000_000),
    st.sampled_from([codec.POSITIONS, codec.FREQUENCY, codec.NO_VALUES, codec.RAW]),
)
def test_a_record_reads_back_what_was_written(rows, first, kind):
    """Whatever the widths (gaps, weights, counts, positions of 1, 2 or 4 bytes, weights that
    are not whole numbers), a term's record reads back as written."""
    from whoosh.codec.whoosh3 import W3TermInfo

    gaps, weights, positions, lengths = zip(*rows, strict=True)
    ids = np.cumsum([first, *gaps[1:]])
    if ids[-1] >= 2**31:  # past Whoosh's document numbers
        return
    weights = np.array(weights)
    counts = np.array([len(p) for p in positions])
    if kind == codec.POSITIONS:
        values = codec.TermValues(kind, counts, np.array([x for p in positions for x in p]))
    elif kind == codec.RAW:
        raw = [str(p).encode() for p in positions]
        values = codec.TermValues(kind, np.array([len(r) for r in raw]), b"".join(raw))
    else:
        values = codec.TermValues(kind)
    lengths = [stored_length(n) for n in lengths]
    info = W3TermInfo()
    record = codec.encode_term(ids, weights, lengths, values, info)
    if len(ids) <= codec.BLOCK:  # the plain-Python encoding (one block) writes the same
        small, large = W3TermInfo(), W3TermInfo()
        small.set_extent(0, 0), large.set_extent(0, 0)
        small_record, small_stats = codec._small_record(ids, weights, lengths, values)
        large_record, large_stats = codec._array_record(ids, weights, lengths, values)
        assert small_record == large_record
        codec._fill(small, small_stats), codec._fill(large, large_stats)
        assert small.to_bytes() == large.to_bytes()
    postings = codec.TermPostings.read(codec._InMemory(record), 0, len(record))
    assert postings.ids.tolist() == ids.tolist()
    assert postings.weights.astype(float).tolist() == np.float32(weights).astype(float).tolist()
    blocks = [weights[i : i + codec.BLOCK] for i in range(0, len(weights), codec.BLOCK)]
    assert postings.block_max_weights.astype(float).tolist() == [
        float(np.float32(b.max())) for b in blocks
    ]
    assert info.doc_frequency() == len(ids) and info.max_id() == ids[-1]
    if kind == codec.POSITIONS:
        found = codec.positions_lists(postings, ids)
        assert [found[d] for d in ids.tolist()] == [list(p) for p in positions]
    if kind == codec.RAW:
        assert [postings.value_at(i, None) for i in range(len(ids))] == [
            str(p).encode() for p in positions
        ]


# Dates with ties, several precisions and undated documents, for the sort by date.
_DATES = ("2019-12-31", "2020", "2021-05", "2021-05-03", "2021-05-03", None)


def _dated_lines(rng: random.Random, first: int, count: int) -> str:
    lines = []
    for n in range(first, first + count):
        doc = {"id": f"d{n}", "title": f"Document {n}", "body": _document(rng, n)}
        date = rng.choice(_DATES)
        if date:
            doc["date"] = date
        lines.append(json.dumps(doc, ensure_ascii=False) + "\n")
    return "".join(lines)


@pytest.fixture(scope="module")
def dated_engine(tmp_path_factory):
    """300 dated documents in two segments, some replaced: ties and undated ones."""
    rng = random.Random(7)
    corpus = tmp_path_factory.mktemp("tw-dated-corpus")
    index_dir = tmp_path_factory.mktemp("tw-dated-index")
    (corpus / "a.jsonl").write_text(_dated_lines(rng, 0, 200), encoding="utf-8")
    reindex(corpus, index_dir, full=True)
    (corpus / "b.jsonl").write_text(_dated_lines(rng, 200, 100), encoding="utf-8")
    reindex(corpus, index_dir)
    eng = SearchEngine(index_dir)
    yield eng
    eng.close()


@settings(max_examples=80, deadline=None)
@given(st.lists(_clause, min_size=1, max_size=3), st.integers(1, 60))
def test_the_sort_by_date_orders_as_whoosh(dated_engine, clauses, limit):
    """Term-wise, the sort by date gives Whoosh's sorted collector's documents in its order
    (newest first, equal dates in the order of their ids, undated last) and the same total."""
    text = " ".join(clauses)
    with dated_engine.searcher() as s:
        q = QueryBuilder(s.reader()).build(ql.parse(text)).query
        if q is None or not termwise.supports(q):
            return
        deadline = time.monotonic() + 10
        whoosh = ranking._rank_whoosh(s, q, limit, deadline, Filters(), "date")
        ours = ranking._rank_termwise(s, q, limit, deadline, Filters(), "date")
    assert ours.total == whoosh.total
    assert [d for _, d in ours.top] == [d for _, d in whoosh.top]
    assert [k for k, _ in ours.top] == [k.decode() for k, _ in whoosh.top]
