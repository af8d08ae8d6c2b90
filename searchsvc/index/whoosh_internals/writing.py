"""New segments written from documents through Whoosh's codec, by :class:`SegmentBuilder`.

Whoosh's ``SegmentWriter`` puts every posting as a tuple in a pool, sorts the tuples (spilling
sorted runs to disk and merging them back), then looks each document's field length up in
the column file it has just written, once per posting. The builder keeps each term's postings
(positions included, as numbers) together in memory and the lengths in arrays, so only the
terms are sorted, and hands the codec each field's terms whole (``add_terms``): the same
files, byte for byte (a test compares them). :func:`publish_segments` writes the table of
contents that lists them.
"""

from __future__ import annotations

from array import array
from itertools import chain, pairwise
from operator import sub

import numpy as np
from whoosh.index import TOC, clean_files

from searchsvc.index import codec
from searchsvc.index.whoosh_internals.values import stored_length


def new_codec() -> codec.Codec:
    """The codec searchsvc writes with (:class:`searchsvc.index.codec.Codec`)."""
    return codec.Codec()


# Memory a posting held by SegmentBuilder costs besides its value bytes (docnum, weight and
# the value's end in arrays), and a term's own cost: what its limit counts.
POSTING_BYTES = 16
TERM_BYTES = 500


class SegmentBuilder:
    """Writes documents into new segments of an index, through Whoosh's codec.

    What a document gives is what ``SegmentWriter.add_document`` gives (each field's
    ``index()`` terms, stored values, lengths, column values), and the files are those
    ``SegmentWriter`` would write for the same documents. When the postings held in memory
    reach ``limitmb``, they are written out as a segment and a new one begins, so memory
    stays flat whatever the corpus. :meth:`finish` returns the segments, for a table of
    contents (:func:`publish_segments`).
    """

    def __init__(self, ix, limitmb: int = 128):
        self.ix = ix
        self.storage, self.indexname = ix.storage, ix.indexname
        self.schema = ix.schema
        self.codec = new_codec()
        self._positional = {
            name for name, field in self.schema.items() if hasattr(field, "term_analysis")
        }
        self.limit = limitmb * 1024 * 1024
        self.segments: list = []
        self._perdoc = None
        self._start()

    def _start(self) -> None:
        self._segment = self.codec.new_segment(self.storage, self.indexname)
        self._perdoc = self.codec.per_document_writer(self.storage, self._segment)
        self._docnum = 0
        # field name -> term bytes -> (docnums, weights, values one after the other, where
        # each value ends): a few bytes a posting, where a tuple or a bytes object each
        # would cost tens. A field that gives its terms as numbers (``term_analysis``) holds
        # (docnums, positions one after the other, where each posting's end) for a term with
        # positions, (docnums, frequencies) for a stem: a weight is the frequency (the
        # positions' count) times the field's boost, worked out when the term is written.
        self._postings: dict[str, dict[bytes, tuple]] = {}
        # field name -> the length each document's postings are written with
        self._lengths: dict[str, array] = {}
        self._size = 0

    def add_document(self, **fields) -> None:
        """Add one document: field names and values, as for Whoosh's writers (a
        ``_stored_<field>`` value is stored, and put in the column, in place of the indexed
        one)."""
        schema, perdoc, docnum = self.schema, self._perdoc, self._docnum
        perdoc.start_doc(docnum)
        size = 0
        for fieldname in sorted(name for name in fields if not name.startswith("_")):
            value = fields[fieldname]
            if value is None:
                continue
            field = schema[fieldname]
            length = 0
            if field.indexed:
                terms = self._postings.setdefault(fieldname, {})
                scorable = field.scorable
                if fieldname in self._positional:
                    analysis = field.term_analysis(value)
                    if scorable:
                        length = analysis.length
                    new = len(terms)
                    for tbytes, positions in analysis.exact.items():
                        entry = terms.get(tbytes)
                        if entry is None:
                            entry = terms[tbytes] = (array("I"), array("I"), array("I"))
                        entry[0].append(docnum)
                        entry[1].extend(positions)
                        entry[2].append(len(entry[1]))
                    for tbytes, freq in analysis.stems.items():
                        entry = terms.get(tbytes)
                        if entry is None:
                            entry = terms[tbytes] = (array("I"), array("I"))
                        entry[0].append(docnum)
                        entry[1].append(freq)
                    postings = len(analysis.exact) + len(analysis.stems)
                    exact_positions = analysis.length - sum(analysis.stems.values())
                    size += (
                        TERM_BYTES * (len(terms) - new)
                        + POSTING_BYTES * postings
                        + 4 * exact_positions
                    )
                else:
                    for tbytes, freq, weight, vbytes in field.index(value):
                        if scorable:
                            length += freq
                        entry = terms.get(tbytes)
                        if entry is None:
                            entry = terms[tbytes] = (
                                array("I"),
                                array("d"),
                                bytearray(),
                                array("I"),
                            )
                            size += TERM_BYTES
                        entry[0].append(docnum)
                        entry[1].append(weight)
                        if vbytes:
                            entry[2].extend(vbytes)
                        entry[3].append(len(entry[2]))
                        size += POSTING_BYTES + len(vbytes or b"")
                if length:
                    lengths = self._lengths.setdefault(fieldname, array("I"))
                    lengths.extend([0] * (docnum + 1 - len(lengths)))
                    lengths[docnum] = stored_length(length)
            stored = fields.get(f"_stored_{fieldname}", value)
            perdoc.add_field(fieldname, field, stored if field.stored else None, length)
            column = field.column_type
            if column and stored is not None:
                perdoc.add_column_value(fieldname, column, field.to_column_value(stored))
        perdoc.finish_doc()
        self._docnum += 1
        self._size += size
        if self._size >= self.limit:
            self._flush()
            self._start()

    def close_files(self) -> None:
        """Close the current segment's per-document files if they are open: what giving the
        builder up after a failure takes (:mod:`.abandoning`). A failed close raises."""
        if self._perdoc is not None and not self._perdoc.is_closed:
            self._perdoc.close()

    def _flush(self) -> None:
        """Write the postings held as the current segment's term and posting files."""
        self._perdoc.close()
        if not self._docnum:
            return
        writer = self.codec.field_writer(self.storage, self._segment)
        try:
            for fieldname in sorted(self._postings):
                terms = self._postings[fieldname]
                if not terms:  # Whoosh starts only the fields that have terms
                    continue
                lengths = self._lengths.get(fieldname)
                field = self.schema[fieldname]
                positional = fieldname in self._positional
                writer.start_field(fieldname, field)
                writer.add_terms(_term_records(field.format, terms, lengths, positional))
                writer.finish_field()
        finally:
            writer.close()
        self._segment.set_doc_count(self._docnum)
        self.segments.append(self._segment)
        self._postings, self._lengths = {}, {}

    def finish(self) -> list:
        """Write what is held and return every segment written."""
        self._flush()
        return self.segments

    def commit(self) -> None:
        """Write what is held and make every segment written the index's documents."""
        publish_segments(self.ix, self.finish())
        # The column writers' scratch folder, as SegmentWriter removes it when it finishes.
        self.storage.temp_storage(f"{self.indexname}.tmp").destroy()


def _term_records(format_, terms: dict, lengths, positional: bool):
    """A field's terms in order, each with its record and statistics, as the codec's field
    writer takes them whole (``add_terms``). ``terms``: what :class:`SegmentBuilder` holds
    for the field. Most terms have a few postings with whole weights (positions, a stem's
    frequency, an ``Existence`` field's 1): their records are made from lists by
    :func:`~searchsvc.index.codec.whole_record`; the others go the general way
    (:func:`_term_arrays`, :func:`~searchsvc.index.codec.term_record`), the same bytes."""
    count = len(lengths) if lengths is not None else 0
    small = codec.BLOCK  # what whole_record takes
    # A positional field's weights are the frequencies times the boost: whole for a boost of 1.
    whole = not positional or format_.field_boost == 1.0
    whole_record = codec.whole_record
    for tbytes in sorted(terms):
        entry = terms[tbytes]
        ids = entry[0]
        found = None
        n = len(ids)
        if whole and n <= small:
            ids = ids.tolist()
            if n == 1:  # most terms
                known = [lengths[ids[0]] if ids[0] < count else 0]
            else:
                known = [lengths[d] if d < count else 0 for d in ids]
            if not positional:
                weights = entry[1].tolist()
                if not entry[2] and weights.count(1.0) == n:
                    found = whole_record(ids, [1] * n, codec.NO_VALUES, None, known)
            elif len(entry) == 3:  # positions, and the frequency is their count
                ends = entry[2].tolist()
                counts = ends if n == 1 else [ends[0], *map(sub, ends[1:], ends)]
                found = whole_record(ids, counts, codec.POSITIONS, entry[1].tolist(), known)
            else:  # a stem: its frequency, no positions
                found = whole_record(ids, entry[1].tolist(), codec.FREQUENCY, None, known)
        if found is None:
            found = codec.term_record(*_term_arrays(format_, entry, lengths, positional))
        yield tbytes, *found


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
