"""searchsvc's own postings codec (issue 24) reads back what Whoosh's W3 codec would.

The same documents, added, deleted and merged in the same steps, are written once with
Whoosh's W3 codec and once with :class:`searchsvc.index.codec.Codec`: every term's postings
(document numbers, weights, values and positions), its statistics and its per-block maxima
read back the same through Whoosh's matchers and as arrays; Whoosh's searches and
``termwise`` give the same matches and scores. And an index of the previous format is
rebuilt once, saying so.
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.codec import whoosh3

from searchsvc.engine import termwise
from searchsvc.engine.search import SearchEngine
from searchsvc.index import caches, codec, storage
from searchsvc.index.schema import INDEX_FORMAT, TEXT_FIELDS, VERSION, build_schema
from searchsvc.index.storage import META
from searchsvc.index.whoosh_internals.merging import merge_segments
from searchsvc.index.whoosh_internals.writing import SegmentBuilder
from searchsvc.ingest.corpus.documents import Document
from searchsvc.ingest.indexer import _fields, _without_none, reindex
from searchsvc.query import language as ql
from searchsvc.query.plan import QueryBuilder

# Few words, so that some fill several 128-posting blocks; stop words, elisions, accents.
WORDS = (
    "le la les de des un une l'école d'été élève élèves école écoles mange mangé pomme "
    "pommes terre jardin jardins Paris présidente rare lumière village x"
).split()

texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=30).map(" ".join)
rows = st.lists(st.tuples(texts, texts), min_size=1, max_size=60)
FIELDS = (*TEXT_FIELDS, "variants", "id", "path")


def document(i: int, title: str, body: str) -> dict:
    return _without_none(_fields(Document(f"d{i}", title, body, f"p/{i}.txt")))


def write_steps(folder: Path, steps, codec_) -> whoosh_index.Index:
    """The same steps on an index written with ``codec_``: each step's documents added (a
    segment each), then its deletions; with ``merge``, the last commit merges every segment
    into one (Whoosh's writer, through the codec's field writer)."""
    folder.mkdir(parents=True)
    ix = whoosh_index.create_in(folder, build_schema())
    for docs, deletions, merge in steps:
        writer = ix.writer(compound=False, codec=codec_)
        for fields in docs:
            writer.add_document(**fields)
        for doc_id in deletions:
            writer.delete_by_term("id", doc_id)
        writer.commit(optimize=merge, merge=merge)
    return ix


def steps_of(data) -> list:
    """Three batches of documents; deletions after the second and third; maybe a merge."""
    batches, deleted, merge = data
    steps, start, present = [], 0, []
    for b, batch in enumerate(batches):
        docs = [document(start + i, t, body) for i, (t, body) in enumerate(batch)]
        start += len(batch)
        present += [d["id"] for d in docs]
        gone = [present[i % len(present)] for i in deleted] if b else []
        steps.append((docs, sorted(set(gone)), merge and b == len(batches) - 1))
    return steps


def term_view(reader, fieldname: str, tbytes: bytes) -> dict:
    """Everything Whoosh reads back of one term in one segment, deleted documents too."""
    fmt = reader.schema[fieldname].format
    terms = reader._terms
    info = terms.term_info(fieldname, tbytes)
    m = terms.matcher(fieldname, tbytes, fmt)
    rows, blocks = [], []
    while m.is_active():
        if len(rows) % codec.BLOCK == 0:  # a block starts
            blocks.append((m.block_max_weight(), m.block_min_length(), m.block_max_id()))
        positions = m.value_as("positions") if fmt.supports("positions") else None
        rows.append((m.id(), m.weight(), m.value(), positions))
        m.next()
    stats = (
        info.doc_frequency(),
        info.weight(),
        info.max_weight(),
        info.min_length(),
        info.max_length(),
        info.min_id(),
        info.max_id(),
    )
    return {"rows": rows, "blocks": blocks, "stats": stats}


def segment_views(ix) -> list[dict]:
    out = []
    with ix.reader() as top:
        for reader, _base in top.leaf_readers():
            n = reader.doc_count_all()
            view = {"deleted": [d for d in range(n) if reader.is_deleted(d)], "count": n}
            for fieldname in FIELDS:
                for tbytes in reader.lexicon(fieldname):
                    view[fieldname, tbytes] = term_view(reader, fieldname, tbytes)
            out.append(view)
    return out


batches = st.tuples(rows, rows, rows)
deletions = st.lists(st.integers(0, 200), max_size=25)
SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking takes minutes here
)


@SETTINGS
@given(data=st.tuples(batches, deletions, st.booleans()))
def test_every_posting_reads_back_as_w3_gives_it(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("codec")
    steps = steps_of(data)
    w3 = write_steps(root / "w3", steps, whoosh3.W3Codec())
    ours = write_steps(root / "ours", steps, codec.Codec())
    try:
        expected, got = segment_views(w3), segment_views(ours)
        assert len(got) == len(expected) >= (1 if data[2] else 2)
        assert got == expected
        # and as arrays: documents, weights, positions and block maxima
        with ours.reader() as top:
            for (reader, _base), view in zip(top.leaf_readers(), got, strict=True):
                for key, term in view.items():
                    if not isinstance(key, tuple):
                        continue
                    fieldname, tbytes = key
                    postings = codec.term_postings(reader, fieldname, tbytes.decode())
                    ids = [r[0] for r in term["rows"]]
                    assert postings.ids.tolist() == ids
                    assert postings.weights.astype(float).tolist() == [r[1] for r in term["rows"]]
                    assert postings.block_max_weights.astype(float).tolist() == [
                        b[0] for b in term["blocks"]
                    ]
                    assert postings.block_min_lengths.tolist() == [b[1] for b in term["blocks"]]
                    if term["rows"][0][3] is not None:
                        positions = codec.positions_lists(postings, np.array(ids))
                        assert [positions[d] for d in ids] == [r[3] for r in term["rows"]]
    finally:
        w3.close()
        ours.close()


def per_document_view(ix) -> list:
    """Each live document's stored fields, field lengths and column values, in order."""
    out = []
    with ix.reader() as top:
        for reader, _base in top.leaf_readers():
            for docnum in reader.all_doc_ids():
                lengths = {f: reader.doc_field_length(docnum, f) for f in FIELDS}
                columns = {
                    f: reader.column_reader(f, translate=False)[docnum]
                    for f in ("id", "path", "hash")
                    if reader.has_column(f)
                }
                out.append((reader.stored_fields(docnum), lengths, columns))
    return out


@pytest.mark.parametrize("small_term", [codec.SMALL_TERM, 0], ids=["as-is", "all-as-arrays"])
@SETTINGS
@given(data=st.tuples(batches, deletions))
def test_a_merge_by_arrays_writes_what_whooshs_merge_writes(
    tmp_path_factory, monkeypatch, small_term, data
):
    """Segments merged by ``merge_segments`` (records copied, decoded in Python or remapped
    as arrays, deleted documents dropped) read back as those merged by Whoosh's writer, a
    posting at a time through its pool, with W3's codec and with ours. ``all-as-arrays``
    takes every term the numpy way, which the few documents here would rarely reach."""
    monkeypatch.setattr(codec, "SMALL_TERM", small_term)
    root = tmp_path_factory.mktemp("merge")
    steps = steps_of((*data, False))
    w3 = write_steps(root / "w3", steps, whoosh3.W3Codec())
    ours = write_steps(root / "ours", steps, codec.Codec())
    ours.close()
    shutil.copytree(root / "ours", root / "pooled")
    arrays = whoosh_index.open_dir(root / "ours")
    pooled = whoosh_index.open_dir(root / "pooled")
    try:
        w3.writer(compound=False, codec=whoosh3.W3Codec()).commit(optimize=True)
        pooled.writer(compound=False, codec=codec.Codec()).commit(optimize=True)
        writer = arrays.writer(compound=False, codec=codec.Codec())

        def by_arrays(w, segments):
            merged = merge_segments(w.storage, w.indexname, w.schema, segments)
            return [merged] if merged is not None else []

        writer.commit(mergetype=by_arrays)
        assert arrays.doc_count() == w3.doc_count()
        if not w3.doc_count():  # everything deleted: no segment left to compare
            return
        expected = segment_views(w3)
        assert len(expected) == 1
        assert segment_views(pooled) == expected
        assert segment_views(arrays) == expected
        assert per_document_view(arrays) == per_document_view(w3)
    finally:
        w3.close()
        arrays.close()
        pooled.close()


def test_a_merge_of_whole_segments_copies_their_records(tmp_path):
    """A term in one segment that lost no document is its record moved, not re-encoded:
    only the header's first document differs."""
    docs = [[document(i, "jardin", f"pomme {i} école")] for i in range(3)]
    ix = write_steps(tmp_path / "ix", [(d, [], False) for d in docs], codec.Codec())
    with ix.reader() as top:
        before = {
            base: codec.read_record(r._terms._postfile, r._terms.term_info("id", b"d%d" % n))
            for n, (r, base) in enumerate(top.leaf_readers())
        }
    writer = ix.writer(compound=False, codec=codec.Codec())
    writer.commit(
        mergetype=lambda w, segs: [merge_segments(w.storage, w.indexname, w.schema, segs)]
    )
    with ix.reader() as top:
        ((reader, _base),) = top.leaf_readers()
        for base, record in before.items():
            info = reader._terms.term_info("id", b"d%d" % base)
            after = codec.read_record(reader._terms._postfile, info)
            assert after == codec.shifted_record(record, base)
            assert after[16:] == record[16:]
            assert list(reader.postings("id", f"d{base}").all_ids()) == [base]
    ix.close()


QUERIES = [
    wq.Term("body", "jardin"),
    wq.Term("title", "élève"),
    wq.Phrase("body", ["pomme", "de", "terre"]),
    wq.Phrase("body", ["la", "le"], slop=3),
    wq.And([wq.Term("body", "jardin"), wq.Term("body", "mange")]),
    wq.Or([wq.Term("body", "rare"), wq.Term("title", "lumière"), wq.Term("body", "x")]),
    # (not a bare AndNot: Whoosh's own keeps a segment's first document, see
    # whoosh_internals.matching.ExcludingMatcher; the query builder's negations are tried below)
]


@SETTINGS
@given(data=st.tuples(batches, deletions, st.booleans()))
def test_whoosh_searches_and_termwise_give_w3s_matches_and_scores(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("search")
    steps = steps_of(data)
    w3 = write_steps(root / "w3", steps, whoosh3.W3Codec())
    ours = write_steps(root / "ours", steps, codec.Codec())
    try:
        with w3.searcher() as a, ours.searcher() as b:
            for q in QUERIES:
                expected = {h.docnum: h.score for h in a.search(q, limit=None)}
                assert {h.docnum: h.score for h in b.search(q, limit=None)} == expected
                # Whoosh's top 10 skips blocks by their maxima: the same ten
                assert [h.docnum for h in b.search(q, limit=10)] == [
                    h.docnum for h in a.search(q, limit=10)
                ]
                caches.forget_all()
                got = termwise.run(b, q, time.monotonic() + 30).scores
                assert set(got) == set(expected)
                for d, score in expected.items():
                    assert got[d] == pytest.approx(score, rel=1e-9)
            for text in ("jardin élèves", '"pomme de terre"', "la lumière -rare", "école*"):
                q = QueryBuilder(b.reader()).build(ql.parse(text)).query
                if q is None:
                    continue
                expected = {h.docnum: h.score for h in a.search(q, limit=None)}
                got = termwise.run(b, q, time.monotonic() + 30).scores
                assert set(got) == set(expected), text
    finally:
        w3.close()
        ours.close()


def test_a_built_index_keeps_its_postings_once_in_the_codecs_file(tmp_path):
    """The bulk writer writes the codec's postings file, and neither Whoosh's posting
    blocks nor a second copy of the postings."""
    ix = whoosh_index.create_in(tmp_path, build_schema())
    builder = SegmentBuilder(ix)
    for i in range(300):
        builder.add_document(**document(i, "Titre jardin", "le jardin de la pomme " * (i % 4 + 1)))
    builder.commit()
    names = [p.name for p in tmp_path.iterdir()]
    assert sum(n.endswith(codec.POSTINGS_EXT) for n in names) == 1
    assert not [n for n in names if n.endswith((".pst", ".postarrays"))]
    with ix.searcher() as s:
        reader = s.leaf_searchers()[0][0].reader()
        postings = codec.term_postings(reader, "body", "jardin")
        assert len(postings) == 300 and len(postings.block_max_weights) == 3
        assert postings.block_max_weights.tolist() == [4, 4, 4]
        assert codec.term_postings(reader, "body", "absent") is None
    ix.close()


def test_a_record_cut_short_is_reported_as_such(tmp_path):
    """A postings file shorter than its term index says reads as damage, not as postings."""
    ix = whoosh_index.create_in(tmp_path, build_schema())
    builder = SegmentBuilder(ix)
    for i in range(50):
        builder.add_document(**document(i, "Titre", "le jardin de la pomme " * 30))
    builder.commit()
    [path] = tmp_path.glob("*" + codec.POSTINGS_EXT)
    path.write_bytes(path.read_bytes()[:100])
    with ix.searcher() as s, pytest.raises(ValueError, match="postings"):
        reader = s.leaf_searchers()[0][0].reader()
        for tbytes in reader.lexicon("body"):
            codec.term_postings(reader, "body", tbytes.decode()).positions(np.array([0]))
    ix.close()


def test_an_index_of_the_previous_format_is_rebuilt_once_saying_so(tiny_corpus, tmp_path):
    index_dir = tmp_path / "index"
    reindex(tiny_corpus, index_dir, full=True)
    meta_path = storage.current(index_dir).path / META
    meta = json.loads(meta_path.read_text())
    meta["version"] = VERSION.replace(f"{INDEX_FORMAT}.", f"{INDEX_FORMAT - 1}.", 1)
    meta_path.write_text(json.dumps(meta))
    notices: list[str] = []
    report = reindex(tiny_corpus, index_dir, on_notice=notices.append)
    assert report.full and report.rebuilt_because
    assert len(notices) == 1 and "rebuilding it in full" in notices[0]
    assert f"index format {INDEX_FORMAT - 1}." in notices[0]
    again = reindex(tiny_corpus, index_dir, on_notice=notices.append)
    assert not again.full and len(notices) == 1  # once
    files = [p.name for p in storage.current(index_dir).path.iterdir()]
    assert any(n.endswith(codec.POSTINGS_EXT) for n in files)
    with closing(SearchEngine(index_dir)) as engine:
        assert engine.search("zèbre").total == 2


# -- one look-up of a term: its frequency and its postings ---------------------------------------


def two_lookups(reader, fieldname: str, text: str):
    """What searches read before a term's entry was kept: its frequency from Whoosh's own
    look-up, then its postings from a second one (Whoosh's ``term_info``)."""
    terms = reader._terms
    tbytes = reader._text_to_bytes(fieldname, text)
    df = (
        whoosh3.W3TermsReader.doc_frequency(terms, fieldname, tbytes)
        if (whoosh3.W3TermsReader.__contains__(terms, (fieldname, tbytes)))
        else 0
    )
    if not df:
        return 0, None
    info = whoosh3.W3TermsReader.term_info(terms, fieldname, tbytes)
    return df, codec.TermPostings.read(terms._postfile, *codec._extent(info))


@SETTINGS
@given(data=st.tuples(batches, deletions, st.booleans()))
def test_one_lookup_gives_the_frequency_and_postings_of_two(tmp_path_factory, data):
    """On several segments with deletions (maybe merged), each term's entry (one look-up)
    gives the frequency and the postings Whoosh's two look-ups gave; a term a segment does
    not have (another's, or no segment's) has none; the term index's answers (frequency,
    weight, term info, membership) are Whoosh's own."""
    steps = steps_of(data)
    ix = write_steps(tmp_path_factory.mktemp("lookup") / "ours", steps, codec.Codec())
    try:
        with ix.reader() as top:
            every = {(f, t) for f in TEXT_FIELDS for t in top.field_terms(f)}
            asked = sorted(every | {("body", "absent"), ("title", "x" * 70)})
            for reader, _base in top.leaf_readers():
                terms = reader._terms
                assert isinstance(terms, codec.PackedTermsReader)
                for fieldname, text in asked:
                    entry = codec.term_entry(reader, fieldname, text)
                    df, expected = two_lookups(reader, fieldname, text)
                    assert entry.df == df
                    got = codec.term_postings(reader, fieldname, text, entry)
                    if expected is None:
                        assert entry == codec.NO_ENTRY and got is None
                        continue
                    assert got.ids.tolist() == expected.ids.tolist()
                    assert got.weights.tolist() == expected.weights.tolist()
                    assert bytes(got.tail()) == bytes(expected.tail())
                    tbytes = reader._text_to_bytes(fieldname, text)
                    w3 = whoosh3.W3TermsReader
                    assert vars(terms.term_info(fieldname, tbytes)) == vars(
                        w3.term_info(terms, fieldname, tbytes)
                    )
                    assert terms.frequency(fieldname, tbytes) == w3.frequency(
                        terms, fieldname, tbytes
                    )
                    assert (fieldname, tbytes) in terms
    finally:
        ix.close()


def test_a_term_only_in_deleted_documents_keeps_its_entry(tmp_path):
    """Deleting documents does not change a segment's term index: a term whose documents
    are all deleted still has its frequency and postings (searches mask the deleted), and
    termwise finds no match for it; a term one segment lacks has no entry there."""
    steps = [
        ([document(0, "jardin", "pomme"), document(1, "village", "terre")], [], False),
        ([document(2, "rare", "lumière")], ["d1"], False),
    ]
    ix = write_steps(tmp_path / "ours", steps, codec.Codec())
    try:
        with ix.reader() as top:
            first, second = (r for r, _b in top.leaf_readers())
            assert first.is_deleted(1)
            entry = codec.term_entry(first, "title", "village")
            assert entry.df == 1 and entry.offset >= 0
            assert codec.term_postings(first, "title", "village", entry).ids.tolist() == [1]
            assert codec.term_entry(second, "title", "village") == codec.NO_ENTRY
            assert codec.term_postings(second, "title", "village") is None
            assert codec.term_entry(first, "no such field", "village") == codec.NO_ENTRY
        with ix.searcher() as s:
            caches.forget_all()
            found = termwise.run(s, wq.Term("title", "village"), time.monotonic() + 10)
            assert len(found) == 0
            found = termwise.run(s, wq.Term("title", "rare"), time.monotonic() + 10)
            assert found.docs.tolist() == [2]
    finally:
        ix.close()


def test_a_term_is_looked_up_once_per_segment(tmp_path, monkeypatch):
    """A search asks each segment's term index about a term once: its frequency (for the
    plan and the idf) and its postings come from that one look-up."""
    steps = [
        ([document(i, "jardin village", "pomme de terre") for i in range(3)], [], False),
        ([document(3 + i, "jardin", "terre rare") for i in range(3)], ["d0"], False),
    ]
    ix = write_steps(tmp_path / "ours", steps, codec.Codec())
    lookups = []
    with ix.reader() as top:
        terms_class = type(top.leaf_readers()[0][0]._terms)

    def counting(method):
        def counted(self, *args):
            lookups.append((id(self), args))
            return method(self, *args)

        return counted

    for name in ("term_info", "doc_frequency", "frequency", "__contains__"):
        monkeypatch.setattr(terms_class, name, counting(getattr(terms_class, name)))
    try:
        with ix.searcher() as s:
            caches.forget_all()
            q = wq.And([wq.Term("title", "jardin"), wq.Term("body", "terre")])
            found = termwise.run(s, q, time.monotonic() + 10)
        assert sorted(found.docs.tolist()) == [1, 2, 3, 4, 5]
        per_term = {}
        for reader_id, args in lookups:
            key = (reader_id, args[0], args[1])
            per_term[key] = per_term.get(key, 0) + 1
        assert len(per_term) == 4  # two terms, two segments
        assert set(per_term.values()) == {1}
    finally:
        ix.close()


def test_a_hash_table_lookup_finds_what_whooshs_finds(tmp_path):
    """The ``pread`` look-up of a Whoosh hash file finds every key Whoosh's finds, and no
    other: with every key's hash in one table and many on the same slots, so that probing
    runs past a read's few slots and round the table's end."""
    from whoosh.filedb.filestore import FileStorage
    from whoosh.filedb.filetables import HashReader, HashWriter

    from searchsvc.index.whoosh_internals.reading import hash_value

    def crowded(key: bytes) -> int:  # one table (3), 5 starting slots near its end
        return ((sum(key) % 5 + 37) << 8) | 3

    store = FileStorage(str(tmp_path))
    writer = HashWriter(store.create_file("t.hsh"))
    writer.hashfn = crowded
    items = {f"key{i}".encode(): f"value {i} ".encode() * (i % 12) for i in range(40)}
    for key, value in items.items():
        writer.add(key, value)
    writer.close()
    table = HashReader(store.open_file("t.hsh"), store.file_length("t.hsh"))
    table.hashfn = crowded
    try:
        for key in [*items, b"key40", b"other", b"key1 ", b""]:
            assert hash_value(table, key) == table.get(key)
        assert all(hash_value(table, key) == value for key, value in items.items())
        assert table.tables[3][1] == 80
    finally:
        table.close()
