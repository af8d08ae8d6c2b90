"""A new segment's terms written in bulk write what they wrote a term at a time (issue 25).

``SegmentBuilder`` hands the codec's field writer a field's terms whole
(:meth:`PackedFieldWriter.add_terms`), most records made from lists by
:func:`codec.whole_record`, and the term index's hash tables are written a table at a time:
the term index and postings files must be those of ``start_term`` / ``add_arrays`` /
``finish_term`` for each term and of Whoosh's own hash table writer, byte for byte, whatever
the terms (widths of 1, 2 or 4 bytes, weights that are not whole, raw values, terms of one
posting, of a block and of several).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from whoosh import fields
from whoosh.codec import whoosh3
from whoosh.filedb.filestore import FileStorage

from searchsvc.index import codec
from searchsvc.index.whoosh_internals.values import stored_length
from searchsvc.index.whoosh_internals.writing import _term_records

KINDS = [codec.POSITIONS, codec.FREQUENCY, codec.NO_VALUES, codec.RAW]


@st.composite
def terms(draw) -> dict[bytes, tuple]:
    """A field's terms: each one's document numbers, weights, field lengths and values."""
    out = {}
    for tbytes in draw(st.sets(st.binary(min_size=1, max_size=8), min_size=1, max_size=12)):
        n = draw(st.sampled_from([1, 1, 2, 3, 24, 25, 128, 129, 300]))
        first = draw(st.integers(0, 2**31 - 1 - 70_000 * n))
        gaps = draw(st.lists(st.sampled_from([1, 2, 300, 70_000]), min_size=n - 1, max_size=n - 1))
        ids = np.cumsum([first, *gaps]).tolist()
        kind = draw(st.sampled_from(KINDS))
        counts = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
        if kind == codec.POSITIONS and draw(st.booleans()):
            weights = [float(c) for c in counts]  # a positional field of boost 1
        else:
            weight = st.sampled_from([0.0, 1.0, 2.0, 255.0, 256.0, 65_535.0, 65_536.0, 1.5])
            weights = draw(st.lists(weight, min_size=n, max_size=n))
        if kind == codec.POSITIONS:
            top = draw(st.sampled_from([200, 60_000, 2**32 - 1]))
            data = draw(st.lists(st.integers(0, top), min_size=sum(counts), max_size=sum(counts)))
            values = codec.TermValues(kind, counts, data)
        elif kind == codec.RAW:
            values = codec.TermValues(kind, counts, b"".join(b"v" * c for c in counts))
        else:
            values = codec.TermValues(kind)
        length = st.sampled_from([0, 1, 7, 300, 200_000])
        lengths = [stored_length(x) for x in draw(st.lists(length, min_size=n, max_size=n))]
        out[tbytes] = (ids, weights, lengths, values)
    return out


def record_of(ids, weights, lengths, values) -> tuple:
    """A term's record and statistics the way ``SegmentBuilder`` makes them: by lists when
    ``whole_record`` takes the term, else the general way."""
    whole = [int(w) for w in weights]
    if whole == weights and (values.kind != codec.POSITIONS or values.counts == whole):
        found = codec.whole_record(ids, whole, values.kind, values.data, lengths)
        if found is not None:
            return found
    return codec.term_record(ids, weights, lengths, values)


def write(folder: Path, fieldsets: list[dict], bulk: bool) -> dict[str, bytes]:
    """The term index and postings files written for these fields' terms, a term at a time
    and closed by Whoosh's own writer, or in bulk; by file extension."""
    folder.mkdir()
    storage = FileStorage(str(folder))
    ours = codec.Codec()
    segment = ours.new_segment(storage, "MAIN")
    writer = ours.field_writer(storage, segment)
    for i, terms_ in enumerate(fieldsets):
        writer.start_field(f"f{i}", fields.TEXT())
        if bulk:
            writer.add_terms((t, *record_of(*terms_[t])) for t in sorted(terms_))
        else:
            for tbytes in sorted(terms_):
                writer.start_term(tbytes)
                writer._postwriter.add_arrays(*terms_[tbytes])
                writer.finish_term()
        writer.finish_field()
    if bulk:
        writer.close()
    else:  # Whoosh's hash tables, a slot at a time
        whoosh3.W3FieldWriter.close(writer)
    return {p.name.split(".", 1)[1]: p.read_bytes() for p in folder.iterdir()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fieldsets=st.lists(terms(), min_size=1, max_size=3))
def test_terms_written_in_bulk_are_the_bytes_written_a_term_at_a_time(tmp_path_factory, fieldsets):
    root = tmp_path_factory.mktemp("flush")
    assert write(root / "bulk", fieldsets, True) == write(root / "each", fieldsets, False)


@settings(max_examples=200, deadline=None)
@given(fieldsets=terms())
def test_a_record_made_from_lists_is_the_general_ones(fieldsets):
    for ids, weights, lengths, values in fieldsets.values():
        assert record_of(ids, weights, lengths, values) == codec.term_record(
            ids, weights, lengths, values
        )


@pytest.mark.parametrize("written_every", [codec._WRITTEN_EVERY, 100], ids=["once", "by-100-bytes"])
def test_full_hash_tables_are_written_as_whoosh_writes_them(tmp_path, monkeypatch, written_every):
    """5,000 terms: ~20 keys a bucket, so that keys collide and probe past the table's end;
    written at once and a few records at a time."""
    monkeypatch.setattr(codec, "_WRITTEN_EVERY", written_every)
    rng = np.random.default_rng(25)
    many = {}
    for i in range(5000):
        n = int(rng.integers(1, 4))
        ids = sorted({int(x) for x in rng.integers(0, 100, n)})
        lengths = [stored_length(int(x)) for x in rng.integers(1, 500, len(ids))]
        counts = [1] * len(ids)
        values = codec.TermValues(codec.POSITIONS, counts, [i % 300] * len(ids))
        many[f"mot{i}".encode()] = (ids, [1.0] * len(ids), lengths, values)
    assert write(tmp_path / "bulk", [many], True) == write(tmp_path / "each", [many], False)


def test_the_builders_records_are_the_general_ones():
    """What ``SegmentBuilder`` holds for a text field (positions, stems, variant terms, as
    arrays) and for an ``Existence`` one (term by term), through its bulk path and through
    the general one."""
    from array import array

    from searchsvc.index.text_postings import FREQUENCY, POSITIONS, PRESENT, Grouped, TermGroup
    from searchsvc.index.whoosh_internals.writing import _array_records, _held, _term_arrays

    lengths = array("I", [0, 5, 9, 300])
    known = [0, 5, 9, 300, 0, 0]  # as the builder reads them: 0 past the lengths held
    arrays = [  # term, kind, documents, counts, positions
        (b"a", POSITIONS, [1, 3], [2, 1], [0, 4, 2]),
        (b"b", FREQUENCY, [2], [70_000], None),  # a stem: a frequency past 0xFFFF
        (b"c", POSITIONS, [0, 5], [1, 1], [1, 2]),  # past the lengths held
        (b"d", PRESENT, [0, 4], [1, 1], None),
        (b"e", POSITIONS, list(range(0, 260, 2)), [1] * 130, list(range(130))),  # 2 blocks
    ]
    groups = []
    for kind in (POSITIONS, FREQUENCY, PRESENT):
        mine = [(rank, *row) for rank, row in enumerate(arrays) if row[1] == kind]
        docs = [d for row in mine for d in row[3]]
        groups.append(
            TermGroup(
                kind,
                np.array([row[0] for row in mine]),
                np.cumsum([0, *(len(row[3]) for row in mine)]),
                np.array(docs),
                np.array([c for row in mine for c in row[4]]),
                np.array([known[d] if d < 6 else 0 for d in docs]),
                np.array([p for row in mine for p in row[5]]) if kind == POSITIONS else None,
                np.cumsum([0, *(len(row[5]) for row in mine)]) if kind == POSITIONS else None,
            )
        )
    names = [row[0] for row in arrays]
    for format_ in (fields.TEXT().format, fields.TEXT(field_boost=2.0).format):
        got = list(_array_records(format_, Grouped(names, [(0, len(names), groups)]), lengths))
        expected = [
            (
                t,
                *codec.term_record(
                    *_term_arrays(format_, _held(format_, k, d, c, p), lengths, k != PRESENT)
                ),
            )
            for t, k, d, c, p in arrays
        ]
        assert got == expected
    existence = {
        b"x": (array("I", [0, 3]), array("d", [1.0, 1.0]), bytearray(), array("I", [0, 0])),
        b"y": (array("I", [2]), array("d", [2.5]), bytearray(), array("I", [0])),
    }
    format_ = fields.ID().format
    got = list(_term_records(format_, existence, None))
    expected = [
        (t, *codec.term_record(*_term_arrays(format_, existence[t], None, False)))
        for t in sorted(existence)
    ]
    assert got == expected


@st.composite
def whole_terms(draw) -> tuple:
    """Terms of one value kind for whole_records: postings of 1 to 200, documents past the
    format's limit at times, weights and positions of each width."""
    kind = draw(st.sampled_from([codec.POSITIONS, codec.FREQUENCY, codec.NO_VALUES]))
    terms = []
    for _ in range(draw(st.integers(1, 8))):
        n = draw(st.sampled_from([1, 1, 2, 3, 128, 129, 200]))
        first = draw(st.sampled_from([0, 5, 300, 70_000, 2**31 - 1 - 3 * n, 2**31 + 5]))
        gaps = draw(st.lists(st.sampled_from([1, 2, 300, 70_000]), min_size=n - 1, max_size=n - 1))
        ids = np.cumsum([first, *gaps]).tolist()
        lengths = draw(st.lists(st.sampled_from([0, 5, 9, 300, 1000]), min_size=n, max_size=n))
        if kind == codec.POSITIONS:
            top = draw(st.sampled_from([10, 300, 70_000]))
            positions = [
                sorted(draw(st.sets(st.integers(0, top), min_size=1, max_size=3))) for _ in range(n)
            ]
            weights = [len(p) for p in positions]
        else:
            values = [1, 2, 300, 70_000] if kind == codec.FREQUENCY else [1]
            weights = draw(st.lists(st.sampled_from(values), min_size=n, max_size=n))
            positions = None
        terms.append((ids, weights, lengths, positions))
    return kind, terms


@settings(max_examples=100, deadline=None)
@given(drawn=whole_terms())
def test_records_made_together_are_those_made_one_by_one(drawn):
    kind, terms = drawn
    flat = [[x for term in terms for x in term[i]] for i in range(3)]
    bounds = np.cumsum([0, *(len(t[0]) for t in terms)])
    positions = position_bounds = None
    if kind == codec.POSITIONS:
        positions = np.array([p for t in terms for posting in t[3] for p in posting])
        position_bounds = np.cumsum([0, *(sum(map(len, t[3])) for t in terms)])
    made = codec.whole_records(bounds, *map(np.array, flat), kind, positions, position_bounds)
    for i, (ids, weights, lengths, held) in enumerate(terms):
        each = None if held is None else [p for posting in held for p in posting]
        expected = codec.whole_record(ids, weights, kind, each, lengths)
        got = None if made.records[i] is None else (made.records[i], made.stats[i])
        assert got == expected


@pytest.mark.parametrize("where", ["outside a field", "within a term"])
def test_bulk_terms_are_refused_outside_a_field_or_within_a_term(tmp_path, where):
    ours = codec.Codec()
    storage = FileStorage(str(tmp_path))
    writer = ours.field_writer(storage, ours.new_segment(storage, "MAIN"))
    try:
        if where == "within a term":
            writer.start_field("f", fields.TEXT())
            writer.start_term(b"a")
        with pytest.raises(RuntimeError):
            writer.add_terms([])
    finally:
        whoosh3.W3FieldWriter.close(writer)
