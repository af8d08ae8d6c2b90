"""New segments written from documents through Whoosh's codec, by :class:`SegmentBuilder`.

Whoosh's ``SegmentWriter`` puts every posting as a tuple in a pool, sorts the tuples (spilling
sorted runs to disk and merging them back), then looks each document's field length up in
the column file it has just written, once per posting. The builder gathers a chunk of
documents' texts as arrays (:mod:`searchsvc.index.text_postings`: one stable sort by term when
the segment is written), keeps the other fields' postings term by term and the lengths in
arrays, and hands the codec each field's terms whole (``add_terms``), the usual records made
together (:func:`~searchsvc.index.codec.whole_records`): the same files, byte for byte (a test
compares them). :func:`publish_segments` writes the table of contents that lists them.
"""

from __future__ import annotations

from array import array
from itertools import accumulate, chain, pairwise

import numpy as np
from whoosh.index import TOC, clean_files

from searchsvc.index import codec, text_postings
from searchsvc.index.whoosh_internals.values import stored_length
from searchsvc.settings import BUILDER_CHUNK_CHARS, BUILDER_CHUNK_DOCS


def new_codec() -> codec.Codec:
    """The codec searchsvc writes with (:class:`searchsvc.index.codec.Codec`)."""
    return codec.Codec()


# Memory a posting held by SegmentBuilder costs besides its value bytes (docnum, weight and
# the value's end in arrays), and a term's own cost: what its limit counts. A text's term
# occurrence, held as arrays (term, document, position), costs a few numbers, and a term
# its place in those of the whole segment when it is written.
POSTING_BYTES = 16
TERM_BYTES = 500
OCCURRENCE_BYTES = 32
# Terms whose records are made together (codec.whole_records), at most: the arrays it makes
# hold tens of bytes a posting and a position, so a segment's are made a slice at a time.
RECORDS_TOGETHER = 4096


class SegmentBuilder:
    """Writes documents into new segments of an index, through Whoosh's codec.

    What a document gives is what ``SegmentWriter.add_document`` gives (each field's
    ``index()`` terms, stored values, lengths, column values), and the files are those
    ``SegmentWriter`` would write for the same documents. When the postings held in memory
    reach ``limitmb``, they are written out as a segment and a new one begins, so memory
    stays flat whatever the corpus. :meth:`finish` returns the segments, for a table of
    contents (:func:`publish_segments`).
    """

    def __init__(
        self,
        ix,
        limitmb: int = 128,
        chunk_docs: int = BUILDER_CHUNK_DOCS,
        chunk_chars: int = BUILDER_CHUNK_CHARS,
    ):
        """``chunk_docs``: documents gathered before their texts are turned into postings
        (:mod:`~searchsvc.index.text_postings`), or fewer once their texts hold
        ``chunk_chars`` characters (a few long documents); the memory limit is checked after
        each chunk."""
        self.ix = ix
        self.storage, self.indexname = ix.storage, ix.indexname
        self.schema = ix.schema
        self.codec = new_codec()
        # Fields whose postings are gathered as arrays: "text" (analysed French text) or
        # "variants" (the variant terms of a document's texts), by the field's own word.
        self._arrays = {
            name: field.bulk_postings
            for name, field in self.schema.items()
            if getattr(field, "bulk_postings", None)
        }
        self.limit = limitmb * 1024 * 1024
        self._chunk_docs, self._chunk_chars = max(1, chunk_docs), chunk_chars
        self.segments: list = []
        self._perdoc = None
        self._start()

    def _start(self) -> None:
        self._segment = self.codec.new_segment(self.storage, self.indexname)
        self._perdoc = self.codec.per_document_writer(self.storage, self._segment)
        self._docnum = 0
        self._numbers = text_postings.term_numbers()
        # Documents added, not yet written: a chunk's texts become postings arrays together.
        self._pending: list[dict] = []
        self._pending_chars = 0
        self._texts = {name: text_postings.FieldPostings() for name in self._arrays}
        # Fields of other kinds (ids, dates): field name -> term bytes -> (docnums, weights,
        # values one after the other, where each value ends): a few bytes a posting, where a
        # tuple or a bytes object each would cost tens.
        self._postings: dict[str, dict[bytes, tuple]] = {}
        # field name -> the length each document's postings are written with
        self._lengths: dict[str, array] = {}
        self._size = 0

    def add_document(self, **fields) -> None:
        """Add one document: field names and values, as for Whoosh's writers (a
        ``_stored_<field>`` value is stored, and put in the column, in place of the indexed
        one). It is written with its chunk (:meth:`finish` writes what is gathered)."""
        self._pending.append(fields)
        for name, kind in self._arrays.items():
            value = fields.get(name)
            if kind == "text" and value is not None:
                self._pending_chars += len(_text_of(value))
        if len(self._pending) >= self._chunk_docs or self._pending_chars >= self._chunk_chars:
            self._add_pending()
            if self._size >= self.limit:
                self._flush()
                self._start()

    def _add_pending(self) -> None:
        """Write the gathered documents' stored fields and columns, and hold their postings."""
        docs, self._pending, self._pending_chars = self._pending, [], 0
        if not docs:
            return
        lengths = self._text_postings(docs)
        schema, perdoc = self.schema, self._perdoc
        for docnum, fields in enumerate(docs, self._docnum):
            perdoc.start_doc(docnum)
            size = 0
            for fieldname in sorted(name for name in fields if not name.startswith("_")):
                value = fields[fieldname]
                if value is None:
                    continue
                field = schema[fieldname]
                length = 0
                if fieldname in self._arrays:
                    if field.scorable:
                        length = lengths[fieldname].get(docnum, 0)
                elif field.indexed:
                    held_size, freqs = self._index(fieldname, field, value, docnum)
                    size += held_size
                    if field.scorable:
                        length = freqs
                if length:
                    held = self._lengths.setdefault(fieldname, array("I"))
                    held.extend([0] * (docnum + 1 - len(held)))
                    held[docnum] = stored_length(length)
                stored = fields.get(f"_stored_{fieldname}", value)
                perdoc.add_field(fieldname, field, stored if field.stored else None, length)
                column = field.column_type
                if column and stored is not None:
                    perdoc.add_column_value(fieldname, column, field.to_column_value(stored))
            perdoc.finish_doc()
            self._size += size
        self._docnum += len(docs)

    def _text_postings(self, docs: list[dict]) -> dict[str, dict[int, int]]:
        """Turn the chunk's texts into postings arrays (each text read once, whichever
        fields index it); return each text field's length by document number."""
        numbers, first = self._numbers, self._docnum
        tokens_of: dict[int, list] = {}  # a text object's tokens, by its id (docs hold it)

        def tokens(value) -> list:
            found = tokens_of.get(id(value))
            if found is None:
                found = tokens_of[id(value)] = numbers.text(_text_of(value))
            return found

        lengths = {}
        for name, kind in self._arrays.items():
            docnums, texts = [], []
            for docnum, fields in enumerate(docs, first):
                value = fields.get(name)
                if value is None:
                    continue
                docnums.append(docnum)
                if kind == "variants":
                    several = not (isinstance(value, str) or hasattr(value, "text"))
                    texts.append([tokens(t) for t in (value if several else (value,))])
                else:
                    texts.append(tokens(value))
            postings = self._texts[name]
            before = postings.occurrences
            if kind == "variants":
                postings.add_variants(docnums, texts)
            else:
                found = postings.add_texts(docnums, texts).tolist()
                lengths[name] = dict(zip(docnums, found, strict=True))
            self._size += OCCURRENCE_BYTES * (postings.occurrences - before)
        return lengths

    def _index(self, fieldname: str, field, value, docnum: int) -> tuple[int, int]:
        """Hold the postings ``field.index(value)`` gives for one document; return the
        memory they cost and the sum of their frequencies (the document's field length)."""
        terms = self._postings.setdefault(fieldname, {})
        size = length = 0
        for tbytes, freq, weight, vbytes in field.index(value):
            length += freq
            entry = terms.get(tbytes)
            if entry is None:
                entry = terms[tbytes] = (array("I"), array("d"), bytearray(), array("I"))
                size += TERM_BYTES
            entry[0].append(docnum)
            entry[1].append(weight)
            if vbytes:
                entry[2].extend(vbytes)
            entry[3].append(len(entry[2]))
            size += POSTING_BYTES + len(vbytes or b"")
        return size, length

    def close_files(self) -> None:
        """Close the current segment's per-document files if they are open: what giving the
        builder up after a failure takes (:mod:`.abandoning`). A failed close raises."""
        if self._perdoc is not None and not self._perdoc.is_closed:
            self._perdoc.close()

    def _flush(self) -> None:
        """Write the postings held as the current segment's term and posting files."""
        self._add_pending()
        self._perdoc.close()
        if not self._docnum:
            return
        writer = self.codec.field_writer(self.storage, self._segment)
        try:
            for fieldname in sorted({*self._postings, *self._texts}):
                field = self.schema[fieldname]
                lengths = self._lengths.get(fieldname)
                if fieldname in self._texts:
                    texts = self._texts[fieldname]
                    if not texts:  # Whoosh starts only the fields that have terms
                        continue
                    held = np.zeros(self._docnum, np.uint32)
                    if lengths is not None:
                        held[: len(lengths)] = np.frombuffer(lengths, np.uint32)
                    records = _array_records(
                        field.format, texts.grouped(self._numbers, held), lengths
                    )
                else:
                    terms = self._postings[fieldname]
                    if not terms:
                        continue
                    records = _term_records(field.format, terms, lengths)
                writer.start_field(fieldname, field)
                writer.add_terms(records)
                writer.finish_field()
        finally:
            writer.close()
        self._segment.set_doc_count(self._docnum)
        self.segments.append(self._segment)
        self._postings, self._lengths = {}, {}
        self._texts = {name: text_postings.FieldPostings() for name in self._arrays}

    def finish(self) -> list:
        """Write what is held and return every segment written."""
        self._flush()
        return self.segments

    def commit(self) -> None:
        """Write what is held and make every segment written the index's documents."""
        publish_segments(self.ix, self.finish())
        # The column writers' scratch folder, as SegmentWriter removes it when it finishes.
        self.storage.temp_storage(f"{self.indexname}.tmp").destroy()


def _text_of(value) -> str:
    """The text of a text field's value: an ``AnalysedText``'s, or a plain string."""
    return value if isinstance(value, str) else value.text


def _term_records(format_, terms: dict, lengths):
    """A field's terms in order, each with its record and statistics, as the codec's field
    writer takes them whole (``add_terms``), for a field held term by term (ids, dates: see
    :meth:`SegmentBuilder._index`). Most terms have a few postings of weight 1 (an
    ``Existence`` field's): their records are made from lists by
    :func:`~searchsvc.index.codec.whole_record`; the others go the general way
    (:func:`_term_arrays`, :func:`~searchsvc.index.codec.term_record`), the same bytes."""
    count = len(lengths) if lengths is not None else 0
    whole_record = codec.whole_record
    for tbytes in sorted(terms):
        entry = terms[tbytes]
        ids = entry[0]
        found = None
        n = len(ids)
        if n <= codec.BLOCK and not entry[2]:
            weights = entry[1].tolist()
            if weights.count(1.0) == n:
                ids = ids.tolist()
                known = [lengths[d] if d < count else 0 for d in ids]
                found = whole_record(ids, [1] * n, codec.NO_VALUES, None, known)
        if found is None:
            found = codec.term_record(*_term_arrays(format_, entry, lengths, False))
        yield tbytes, *found


_KINDS = {
    text_postings.POSITIONS: codec.POSITIONS,
    text_postings.FREQUENCY: codec.FREQUENCY,
    text_postings.PRESENT: codec.NO_VALUES,
}


def _array_records(format_, grouped: text_postings.Grouped, lengths):
    """:func:`_term_records` for a field held as arrays (``grouped``: see
    :meth:`~searchsvc.index.text_postings.FieldPostings.grouped`). A term's weights are its
    counts (positions, frequency, or 1) times the field's boost: with a boost of 1, the
    records of a kind are made together by :func:`~searchsvc.index.codec.whole_records`;
    a term it leaves (many postings) and every term of another boost take the general way,
    held as :class:`SegmentBuilder` holds a field's terms (what :func:`_term_arrays` reads)."""
    whole = format_.field_boost == 1.0
    names = grouped.names
    for lo, hi, groups in grouped.ranges:
        found: list = [None] * (hi - lo)
        for group in groups:
            count = len(group.ranks)
            ranks = group.ranks.tolist()
            for first in range(0, count, RECORDS_TOGETHER):  # bounds the arrays made at once
                last = min(first + RECORDS_TOGETHER, count)
                made = _whole_records(group, first, last) if whole else None
                for t in range(first, last):
                    record = stats = None
                    if made is not None:
                        record, stats = made.records[t - first], made.stats[t - first]
                    if record is None:
                        record, stats = _general_record(format_, group, t, lengths)
                    found[ranks[t] - lo] = (record, stats)
        for name, (record, stats) in zip(names[lo:hi], found, strict=True):
            yield name, record, stats


def _whole_records(group: text_postings.TermGroup, first: int, last: int):
    """:func:`~searchsvc.index.codec.whole_records` of ``group``'s terms ``first`` to ``last``."""
    a, b = group.bounds[first], group.bounds[last]
    positions = position_bounds = None
    if group.positions is not None:
        position_bounds = group.position_bounds[first : last + 1]
        positions = group.positions[position_bounds[0] : position_bounds[-1]]
        position_bounds = position_bounds - position_bounds[0]
    return codec.whole_records(
        group.bounds[first : last + 1] - a,
        group.docs[a:b],
        group.counts[a:b],
        group.lengths[a:b],
        _KINDS[group.kind],
        positions,
        position_bounds,
    )


def _general_record(format_, group: text_postings.TermGroup, t: int, lengths) -> tuple:
    """Term ``t`` of ``group``'s record and statistics, the general way."""
    a, b = group.bounds[t], group.bounds[t + 1]
    ids, counts = group.docs[a:b].tolist(), group.counts[a:b].tolist()
    positions = None
    if group.positions is not None:
        positions = group.positions[group.position_bounds[t] : group.position_bounds[t + 1]]
        positions = positions.tolist()
    entry = _held(format_, group.kind, ids, counts, positions)
    return codec.term_record(
        *_term_arrays(format_, entry, lengths, group.kind != text_postings.PRESENT)
    )


def _held(format_, kind: str, ids: list, counts: list, positions: list | None) -> tuple:
    """One term's postings as the builder holds a term (see :func:`_term_arrays`): for
    positions (docnums, positions, each posting's end), for a frequency (docnums,
    frequencies), for a variant term (docnums, weights, no value bytes, value ends)."""
    if kind == text_postings.POSITIONS:
        return array("I", ids), array("I", positions), array("I", accumulate(counts))
    if kind == text_postings.FREQUENCY:
        return array("I", ids), array("I", counts)
    boost = format_.field_boost
    return array("I", ids), array("d", [boost] * len(ids)), bytearray(), array("I", [0] * len(ids))


def _term_arrays(format_, entry: tuple, lengths, positional: bool) -> tuple:
    """One term's postings as the codec's writer takes them whole (``add_arrays``):
    document numbers, weights, each posting's field length as stored (0 when unknown) and
    its values (:class:`searchsvc.index.codec.TermValues`), classified as the codec would
    classify the same values handed to it one posting at a time. ``entry`` is what
    :class:`SegmentBuilder` holds for the term."""
    ids = entry[0]
    if len(ids) <= codec.SMALL_TERM:  # most terms: numpy's calls would cost more
        count = len(lengths) if lengths is not None else 0
        known = [lengths[d] if d < count else 0 for d in ids]
        if positional:
            boost = format_.field_boost
            if len(entry) == 3:  # positions, and the frequency is their count
                counts = [b - a for a, b in pairwise(chain((0,), entry[2]))]
                weights = [c * boost for c in counts]
                return ids, weights, known, codec.TermValues(codec.POSITIONS, counts, entry[1])
            weights = [f * boost for f in entry[1]]  # a stem: its frequency, no positions
            return ids, weights, known, codec.TermValues(codec.FREQUENCY)
        _ids, weights, data, _ends = entry
        if not len(data):
            return ids, weights, known, codec.TermValues(codec.NO_VALUES)
    ids = np.frombuffer(ids, np.uint32)
    if lengths is None:
        known = np.zeros(len(ids), np.int64)
    else:
        inside = ids < len(lengths)
        known = np.zeros(len(ids), np.int64)
        known[inside] = np.frombuffer(lengths, np.uint32)[ids[inside]]
    if positional:
        boost = format_.field_boost
        if len(entry) == 3:
            counts = np.diff(np.frombuffer(entry[2], np.uint32), prepend=0)
            weights = counts * boost
            values = codec.TermValues(codec.POSITIONS, counts, np.frombuffer(entry[1], np.uint32))
        else:  # a stem: its frequency, no positions
            weights = np.frombuffer(entry[1], np.uint32) * boost
            values = codec.TermValues(codec.FREQUENCY)
        return ids, weights, known, values
    _ids, weights, data, ends = entry
    weights = np.frombuffer(weights, np.float64)
    if not len(data):
        values = codec.TermValues(codec.NO_VALUES)
    else:
        stops = list(ends)
        values = codec.values_of(
            format_, [bytes(data[a:b]) for a, b in zip([0, *stops], stops, strict=False)], weights
        )
    return ids, weights, known, values


def publish_segments(ix, segments: list) -> None:
    """Write the table of contents that makes ``segments`` the index's documents."""
    generation = ix.latest_generation() + 1
    TOC(ix.schema, segments, generation).write(ix.storage, ix.indexname)
    clean_files(ix.storage, ix.indexname, generation, segments)
