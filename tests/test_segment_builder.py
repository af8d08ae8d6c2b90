"""The full build's writer (``SegmentBuilder``) writes what Whoosh's own writer writes.

Issue 13: the bulk writer replaced Whoosh's posting pool for full builds, so an index must
read back the same whichever path wrote it. For one segment the files are compared byte for
byte; when the memory limit splits the build into several segments, every term's postings
(documents, weights, positions), every stored document and every field length read back the
same.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from whoosh import index as whoosh_index

from searchsvc.index import schema, text_postings
from searchsvc.index.codec import POSTINGS_EXT, Codec
from searchsvc.index.schema import TEXT_FIELDS, build_schema, document_fields
from searchsvc.index.whoosh_internals.updates import UpdateWriter
from searchsvc.index.whoosh_internals.writing import SegmentBuilder
from searchsvc.ingest.corpus.documents import Document
from searchsvc.ingest.indexer import _fields, _without_none

WORDS = [
    "le", "la", "l'élection", "d'été", "présidentielle", "Delanoë", "micro-blogging",
    "aujourd'hui", "chevaux", "cheval", "réseau", "réseaux", "configurés", "Paris", "à",
    "qu'il", "île", "Noël", "été", "2012", "œuvre", "naïve", "x", "zèbre",
]  # fmt: skip

texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=40).map(" ".join)
documents = st.lists(
    st.tuples(
        texts,
        texts,
        st.none() | st.sampled_from(["2012-06-30", "2013", "1999-01"]),
        st.none() | st.sampled_from(["lemonde", "blog/été", "a b"]),
    ),
    min_size=1,
    max_size=25,
)


FIXTURE = [HealthCheck.function_scoped_fixture]


def docs_of(rows) -> list[dict]:
    return [
        _without_none(
            _fields(Document(f"d{i}", title, body, f"p/{i}.txt", date=date, source=source))
        )
        for i, (title, body, date, source) in enumerate(rows)
    ]


def build(
    folder: Path, docs: list[dict], bulk: bool, limitmb: int = 64, **chunks
) -> whoosh_index.Index:
    """An index of ``docs`` written by the builder (``chunks``: its chunk bounds) or, not
    ``bulk``, by Whoosh's own writer."""
    folder.mkdir(parents=True)
    ix = whoosh_index.create_in(folder, build_schema())
    # Whoosh's own writer, with the codec searchsvc writes with: the same files, byte for byte.
    if bulk:
        writer = SegmentBuilder(ix, limitmb, **chunks)
    else:
        writer = ix.writer(compound=False, codec=Codec())
    for fields in docs:
        writer.add_document(**fields)
    writer.commit()
    return ix


def file_digests(folder: Path) -> dict[str, str]:
    """Each of the segment files' SHA-256 by its extension (segment names are random)."""
    return {
        p.name.split(".", 1)[1]: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.iterdir()
        if p.name.startswith("MAIN_") and p.is_file() and p.name != "MAIN_WRITELOCK"
    }


def contents(ix) -> dict:
    """Everything a reader gets back, by document id rather than document number."""
    with ix.reader() as reader:
        ids = {n: fields["id"] for n, fields in reader.iter_docs()}
        out = {"stored": {ids[n]: fields for n, fields in reader.iter_docs()}}
        for field in (*TEXT_FIELDS, "variants", "id", "source", "date"):
            postings = {}
            for term in reader.lexicon(field):
                matcher = reader.postings(field, term)
                rows = []
                while matcher.is_active():
                    rows.append((ids[matcher.id()], matcher.weight(), matcher.value()))
                    matcher.next()
                if rows:  # a term only deleted documents held reads as no term
                    postings[term] = sorted(rows)
            out[field] = postings
        out["lengths"] = {
            (ids[n], f): reader.doc_field_length(n, f) for n in ids for f in TEXT_FIELDS
        }
        # A segment left with no document counts for nothing: UpdateWriter's merge policy drops
        # it, where Whoosh's writer may keep it, its deleted documents' lengths in its totals.
        out["totals"] = {
            f: sum(leaf.field_length(f) for leaf, _ in reader.leaf_readers() if leaf.doc_count())
            for f in TEXT_FIELDS
        }
        out["count"] = reader.doc_count()
    return out


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=documents)
def test_one_segment_is_written_byte_for_byte_as_whoosh_writes_it(tmp_path_factory, rows):
    root = tmp_path_factory.mktemp("same")
    docs = docs_of(rows)
    build(root / "whoosh", docs, bulk=False).close()
    build(root / "bulk", docs, bulk=True).close()
    assert file_digests(root / "bulk") == file_digests(root / "whoosh")
    assert len(list((root / "bulk").glob("*" + POSTINGS_EXT))) == 1


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=documents)
def test_the_codec_reads_back_what_whooshs_default_codec_writes(tmp_path_factory, rows):
    """Blocks compressed at another zlib level change the files, not what they hold: the same
    postings, values, lengths and stored fields."""
    root = tmp_path_factory.mktemp("codec")
    docs = docs_of(rows)
    (root / "plain").mkdir()
    plain = whoosh_index.create_in(root / "plain", build_schema())
    writer = plain.writer(compound=False)  # Whoosh's default codec
    for fields in docs:
        writer.add_document(**fields)
    writer.commit()
    ours = build(root / "ours", docs, bulk=True)
    try:
        assert contents(ours) == contents(plain)
    finally:
        plain.close()
        ours.close()


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=documents)
def test_several_segments_read_back_as_one(tmp_path_factory, rows):
    # A limit of 0 MB writes a segment per chunk of documents: here, per document.
    reads_back_as_one(tmp_path_factory.mktemp("split"), docs_of(rows), chunk_docs=1)


def reads_back_as_one(root: Path, docs: list[dict], **chunks) -> None:
    """The builder under a limit of 0 MB (a segment per chunk) writes a segment per document
    with these chunk bounds, and they read back as Whoosh's one segment."""
    one = build(root / "whoosh", docs, bulk=False)
    split = build(root / "bulk", docs, bulk=True, limitmb=0, **chunks)
    try:
        assert len(split._read_toc().segments) == len(docs)
        assert contents(split) == contents(one)
    finally:
        one.close()
        split.close()


def test_a_chunk_of_long_texts_is_written_before_its_count_of_documents(tmp_path):
    """Documents are gathered 256 at a time, or fewer once their texts are long: with a
    memory limit of 0 (a segment per chunk), texts over the chunk's characters give a
    segment each, and the segments read back as Whoosh's one."""
    rows = [
        (f"Titre {i}", " ".join(["chevaux", "réseau", f"mot{i}"] * 30), None, None)
        for i in range(4)
    ]
    reads_back_as_one(tmp_path, docs_of(rows), chunk_docs=256, chunk_chars=200)


@pytest.mark.parametrize("occurrences", [7, 300])
def test_postings_grouped_a_range_of_terms_at_a_time_are_written_the_same(
    tmp_path, monkeypatch, occurrences
):
    """A segment's postings are grouped by ranges of terms of a bounded count of occurrences
    (whatever the segment's size): the files are Whoosh's, byte for byte, however cut."""
    monkeypatch.setattr(text_postings, "OCCURRENCES_GROUPED", occurrences)
    rows = [
        (
            f"Titre {i}",
            f"Les chevaux du réseau {i % 5} à l'Élysée, Delanoë et mot{i % 3}",
            None,
            None,
        )
        for i in range(40)
    ]
    docs = docs_of(rows)
    build(tmp_path / "whoosh", docs, bulk=False).close()
    build(tmp_path / "bulk", docs, bulk=True).close()
    assert file_digests(tmp_path / "bulk") == file_digests(tmp_path / "whoosh")


def test_long_posting_lists_are_cut_into_the_same_blocks(tmp_path):
    """Terms in 128, 129, 256 and 300 documents: one block, a full block and one more..."""
    rows = []
    for i in range(300):
        words = ["commun"]  # 300 documents: three blocks
        words += ["cent"] if i < 128 else []  # exactly one full block
        words += ["plus"] if i < 129 else []  # a full block and a posting
        words += ["deux"] if i < 256 else []  # two full blocks
        words += [f"mot{i % 7}"] * (1 + i % 3)  # weights and lengths that vary
        rows.append((f"Titre {i}", " ".join(words), None, None))
    docs = docs_of(rows)
    build(tmp_path / "whoosh", docs, bulk=False).close()
    build(tmp_path / "bulk", docs, bulk=True).close()
    assert file_digests(tmp_path / "bulk") == file_digests(tmp_path / "whoosh")


changes = st.lists(
    st.tuples(st.sampled_from(["add", "update", "delete"]), st.integers(0, 40), texts),
    min_size=1,
    max_size=15,
)


@settings(max_examples=10, deadline=None, suppress_health_check=FIXTURE)
@given(rows=documents, edits=changes)
@example(rows=[("le", "le", None, None)], edits=[("update", 0, "le")])  # a segment emptied
def test_an_update_reads_back_as_whooshs_own_update(tmp_path_factory, rows, edits):
    """UpdateWriter (deletions by Whoosh, new documents by the builder) against Whoosh's
    writer doing the same adds, updates and deletes on the same index."""
    root = tmp_path_factory.mktemp("update")
    docs = docs_of(rows)
    indexes = [build(root / name, docs, bulk=False) for name in ("whoosh", "ours")]
    present = {d["id"] for d in docs}
    writers = [indexes[0].writer(compound=False, codec=Codec()), UpdateWriter(indexes[1])]
    for op, n, text in edits:
        doc_id = f"d{n}"
        fields = docs_of([(text, text, None, None)])[0] | {"id": doc_id, "path": f"p/{n}.txt"}
        for writer in writers:
            if op == "delete" and doc_id in present:
                writer.delete_by_term("id", doc_id)
            elif op == "update" and doc_id in present:
                writer.update_document(**fields)
            elif op != "delete" and doc_id not in present:
                writer.add_document(**fields)
        if op == "delete":
            present.discard(doc_id)
        else:
            present.add(doc_id)
    for writer in writers:
        writer.commit()
    try:
        whoosh_view, ours = (contents(whoosh_index.open_dir(root / n)) for n in ("whoosh", "ours"))
        assert ours == whoosh_view
    finally:
        for ix in indexes:
            ix.close()


@pytest.mark.parametrize("bulk", [True, False])
def test_a_documents_texts_are_analysed_once_for_all_their_fields(tmp_path, monkeypatch, bulk):
    """The title and body fields and the variants field share one analysis of each text,
    with either writer (the builder reads its tokens, Whoosh's takes the analysis), and the
    texts are stored as they are."""
    analysed = []
    module, name = (text_postings, "text_tokens") if bulk else (schema, "analyze_text")
    original = getattr(module, name)
    monkeypatch.setattr(module, name, lambda t: analysed.append(t) or original(t))
    docs = docs_of([("L'Élysée et Delanoë", "Les élections à l'Élysée", None, None)])
    ix = build(tmp_path / "ix", docs, bulk=bulk)
    try:
        assert sorted(analysed) == ["L'Élysée et Delanoë", "Les élections à l'Élysée"]
        with ix.reader() as reader:
            stored = reader.stored_fields(0)
            assert {f: stored[f] for f in TEXT_FIELDS} == {
                "title": "L'Élysée et Delanoë",
                "body": "Les élections à l'Élysée",
            }
            assert [t.decode() for t in reader.lexicon("variants")] == [
                "delanoe delanoë",
                "elections élections",
                "elysee élysée",
            ]
    finally:
        ix.close()


def test_document_fields_keep_their_shared_analysis_through_pickling():
    """A multi-process build pickles each document to a helper: the variants field must still
    get the very texts its text fields analyse, and the analysis is not sent along."""
    fields = document_fields("L'Élysée", "Delanoë")
    assert fields["variants"] == (fields["title"], fields["body"])
    assert fields["body"].analysis.stems[b"~delano"] == 1
    data = pickle.dumps(fields, 2)
    assert b"~delano" not in data  # the analysis made here is not sent
    copy = pickle.loads(data)
    assert copy["variants"][0] is copy["title"]
    assert copy["variants"][1] is copy["body"]
    assert (copy["_stored_title"], copy["_stored_body"]) == ("L'Élysée", "Delanoë")
    assert copy["body"].analysis == fields["body"].analysis


def test_stems_are_written_without_positions(tmp_path):
    """Only exact terms keep positions (phrases and the proximity bonus use exact forms); a
    stem's value holds its frequency and no positions, and reads back as such."""
    docs = docs_of([("Les chevaux", "un cheval, des chevaux et les chevaux", None, None)])
    ix = build(tmp_path / "bulk", docs, bulk=True)
    try:
        with ix.reader() as reader:
            stem = reader.postings("body", "~cheval")
            assert stem.weight() == 3
            assert stem.value_as("frequency") == 3
            assert stem.value_as("positions") == []
            exact = reader.postings("body", "chevaux")
            assert exact.value_as("positions") == [3, 6]
    finally:
        ix.close()


def test_a_builder_given_up_closes_its_open_files_through_its_own_method(tmp_path):
    """``abandon`` closes a SegmentBuilder by ``close_files`` (no reaching into its private
    per-document writer): the segment's open files closed, and a second close harmless."""
    from searchsvc.index.whoosh_internals.abandoning import abandon

    folder = tmp_path / "ix"
    folder.mkdir()
    ix = whoosh_index.create_in(folder, build_schema())
    builder = SegmentBuilder(ix, 64)
    for fields in docs_of([("Titre", "le réseau configuré", None, None)]):
        builder.add_document(**fields)
    assert not builder._perdoc.is_closed  # the segment under way
    abandon(builder)
    builder.close_files()  # already closed: nothing to do
    assert builder._perdoc.is_closed
