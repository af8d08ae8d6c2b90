"""What dozens of small segments (pushed batches between merges) cost a search: a prefix's
expansion and the query-cost model, done per segment without Whoosh's merge of every
segment's terms in Python, and without summing a term's segment frequencies once per node.

Both must give exactly what Whoosh gives: the expansions are compared with Whoosh's
``expand_prefix`` on random multi-segment indexes with deletions, the cost figures with
the frequencies Whoosh reads segment by segment.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import tempfile

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from whoosh import fields
from whoosh import query as wq
from whoosh.filedb.filestore import FileStorage

from searchsvc.engine import ranking
from searchsvc.engine.search import SearchEngine
from searchsvc.index import caches
from searchsvc.ingest import journal, writer
from searchsvc.query import language as ql
from searchsvc.query.nodes import FromSource
from searchsvc.query.plan import QueryBuilder
from searchsvc.testing import build_index

_LETTERS = "abcé"
_WORDS = st.text(alphabet=_LETTERS, min_size=1, max_size=5)


def _whoosh(reader, fieldname: str, prefix: str) -> list[bytes]:
    return list(reader.expand_prefix(fieldname, prefix))


@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(
        st.lists(st.lists(_WORDS, min_size=1, max_size=4), min_size=1, max_size=5),
        min_size=1,
        max_size=6,
    ),
    deleted=st.sets(st.integers(0, 30), max_size=8),
    prefixes=st.lists(st.text(alphabet=_LETTERS, max_size=3), min_size=1, max_size=6),
    listed=st.sampled_from([0, 2, 1_000]),
)
def test_expansion_equals_whoosh_on_random_segments(
    tmp_path_factory, batches, deleted, prefixes, listed
):
    """Random documents committed as one segment a batch (never merged), some deleted: every
    prefix expands, over the whole index and in each segment, to Whoosh's terms in Whoosh's
    order, whether segments bisect their listed terms or make Whoosh's own search."""
    tmp_root = tmp_path_factory.getbasetemp()
    schema = fields.Schema(id=fields.ID(stored=True, unique=True), body=fields.TEXT)
    # On disk, each example in a folder of its own, in separate files as our indexes are:
    # segment values are kept per (folder, segment id), a compound file has no folder, and
    # Hypothesis seeds the ``random`` that Whoosh draws segment ids from.
    ix = FileStorage(tempfile.mkdtemp(dir=tmp_root) + "/ix").create().create_index(schema)
    n = 0
    for batch in batches:
        w = ix.writer(compound=False)
        for words in batch:
            w.add_document(id=str(n), body=" ".join(words))
            n += 1
        w.commit(merge=False)
    if deleted:
        w = ix.writer(compound=False)
        for docnum in deleted:
            w.delete_by_term("id", str(docnum))
        w.commit(merge=False)
    with pytest.MonkeyPatch.context() as mp, ix.reader() as reader:
        mp.setattr(caches, "LISTED_TERMS_DOCS", listed)
        for prefix in prefixes:
            assert caches.expand_prefix(reader, "body", prefix) == _whoosh(reader, "body", prefix)
            for leaf, _offset in reader.leaf_readers():
                assert caches.expand_prefix(leaf, "body", prefix) == _whoosh(leaf, "body", prefix)
        assert caches.expand_prefix(reader, "nofield", "a") == []


# -- a real index, made of a full build and pushed batches left unmerged -------------------

_VOCABULARY = (
    "présidence président présider présent présenter presse pression prix prière "
    "élection électeur élu élire école économie écrire écran"
).split()


def _text(rnd: random.Random, words: int) -> str:
    return " ".join(rnd.choice(_VOCABULARY) for _ in range(words))


@pytest.fixture(scope="module")
def pushed_index(tmp_path_factory):
    """A 40-document build, then 12 batches of 6 documents as 12 small segments, with
    documents of the build and of earlier batches deleted or replaced."""
    rnd = random.Random(25)
    files = {f"doc{n:02d}.txt": f"{_text(rnd, 3)}\n\n{_text(rnd, 30)}.\n" for n in range(40)}
    _corpus, index = build_index(tmp_path_factory.mktemp("pushed"), files)
    j = journal.Journal(index)
    w = writer.JournalWriter(index, merge=False)
    with contextlib.closing(w), contextlib.closing(j):
        for b in range(12):
            changes = [
                journal.Change(
                    journal.PUT,
                    f"push-{b}-{k}",
                    {"title": _text(rnd, 3), "body": _text(rnd, 20)},
                )
                for k in range(6)
            ]
            changes.append(journal.Change(journal.DELETE, f"push-{b - 1}-0"))
            changes.append(journal.Change(journal.DELETE, f"doc{b:02d}"))
            j.submit(changes)
            w.apply_once()
    return index


@pytest.fixture(scope="module")
def engine(pushed_index):
    found = SearchEngine(pushed_index)
    yield found
    found.close()


def test_pushed_index_has_small_segments(engine):
    with engine.searcher() as s:
        leaves = [leaf.reader() for leaf, _offset in s.leaf_searchers()]
        assert len(leaves) >= 10
        assert s.reader().has_deletions()


@hsettings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prefix=st.one_of(
        st.sampled_from(_VOCABULARY).flatmap(lambda w: st.integers(0, len(w)).map(lambda n: w[:n])),
        st.text(alphabet="aeéiloprsx\x1f", max_size=4),
    ),
    fieldname=st.sampled_from(["title", "body", "variants"]),
    listed=st.sampled_from([0, 5, 50_000]),
)
def test_expansion_equals_whoosh_on_pushed_segments(engine, prefix, fieldname, listed):
    """On an index of our format (segment values kept per segment, across generations), a
    prefix of any field, the accented spellings' ``variants`` included, expands as Whoosh's."""
    with pytest.MonkeyPatch.context() as mp, engine.searcher() as s:
        mp.setattr(caches, "LISTED_TERMS_DOCS", listed)
        reader = s.reader()
        assert caches.expand_prefix(reader, fieldname, prefix) == _whoosh(reader, fieldname, prefix)


def _old_cost(s, q: wq.Query) -> ranking.Cost:
    """The cost model as it read frequencies before: every term's summed over the segments
    at every node, a prefix's from Whoosh's term infos segment by segment (no proximity
    bonus: ``depth`` None)."""
    leaves = [leaf.reader() for leaf, _offset in s.leaf_searchers()]

    def df(fieldname, text):
        return sum(leaf.doc_frequency(fieldname, text) for leaf in leaves)

    def walk(q):
        if isinstance(q, wq.Term):
            return ranking.Cost(df(q.fieldname, q.text), 0, 1)
        if isinstance(q, wq.Phrase):
            counts = [df(q.fieldname, w) for w in q.words]
            if not counts:
                return ranking.Cost()
            return ranking.Cost(sum(counts), len(counts) * min(counts), len(counts))
        if isinstance(q, wq.Prefix):
            counts = [
                ti.doc_frequency()
                for leaf in leaves
                for _t, ti in leaf.iter_prefix(q.fieldname, q.text)
            ]
            return ranking.Cost(sum(counts), 0, len(counts))
        if isinstance(q, wq.Every):
            return ranking.Cost(s.doc_count_all(), 0, 1)
        if isinstance(q, FromSource):
            return ranking.Cost(0, 0, 1)
        total = ranking.Cost()
        for child in q.children():
            total += walk(child)
        return total

    return walk(q)


@pytest.mark.parametrize(
    "text",
    [
        "président élection",
        "pré*",
        "é* président",
        '"présider la presse" école',
        "présidence OR écran -prix",
        "prés* élect* écon*",
        "xyz*",
    ],
)
def test_cost_figures_as_read_segment_by_segment(engine, text):
    """The cost model's figures, from frequencies added up once per reader and prefixes
    expanded per segment, equal those from Whoosh's frequencies at every node."""
    with engine.searcher() as s:
        q = QueryBuilder(s.reader(), engine.weights).build(ql.parse(text)).query
        expected = _old_cost(s, q)
        assert expected.postings > 0 or text == "xyz*"
        assert ranking.query_cost(s, q) == expected
        assert ranking.query_cost(s, q) == expected  # the second time from the kept totals


def test_index_frequency_kept_per_reader(engine):
    """A term's whole-index frequency is its segments' added up, kept per reader."""
    with engine.searcher() as s:
        reader = s.reader()
        words = [t.decode("utf-8") for t in itertools.islice(reader.lexicon("body"), 20)]
        assert len(words) == 20
        for word in [*words, "absent"]:
            expected = sum(leaf.doc_frequency("body", word) for leaf, _o in reader.leaf_readers())
            assert caches.frequency(reader, "body", word) == expected
            assert caches.frequency(reader, "body", word) == expected
        kept = caches.per_reader(reader, caches.Key.INDEX_FREQUENCIES, dict)
        assert ("body", words[0]) in kept
        assert sum(caches.frequency(reader, "body", w) for w in words) > 40  # spread out
