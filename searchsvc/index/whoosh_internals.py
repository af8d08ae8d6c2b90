"""Where searchsvc reaches into Whoosh's private internals, checked against the pinned version.

:class:`SegmentBuilder` writes a full build's segments through Whoosh's codec directly:
Whoosh's ``SegmentWriter`` puts every posting as a tuple in a pool, sorts the tuples (spilling
sorted runs to disk and merging them back), then looks each document's field length up in
the column file it has just written, once per posting. The builder keeps each term's postings
(positions included, as numbers) together in memory and the lengths in arrays, so only the
terms are sorted, and hands the codec each term whole: the same files, byte for byte (a test
compares them).

Whoosh's multi-process writer (``whoosh.multiproc.MpWriter``) loses work in silence: a helper
process that dies (a full disk, a document it cannot encode) leaves its documents out of the
index while the commit succeeds, and when both helpers are dead the parent waits for ever to
hand them more work. :class:`CheckedMpWriter` keeps Whoosh's division of labour (helpers write
their own segments, the parent writes the table of contents) but every wait is bounded by the
helpers' liveness and every helper must report success, or the commit raises
:class:`HelperFailed` with the helper's own reason.

The postings themselves are written and read by searchsvc's own codec
(:mod:`searchsvc.index.codec`, which takes the Whoosh names it needs from here); on the
reading side, :func:`field_lengths` reads a field's length column in one go.

This module imports only on the Whoosh version it was written against, so an upgrade fails at
start-up, not while writing or reading an index.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import queue
from array import array
from collections.abc import Iterator

import numpy as np
import whoosh
from whoosh.codec import whoosh3
from whoosh.columns import NumericColumn, VarBytesColumn
from whoosh.compat import pickle
from whoosh.index import TOC, clean_files
from whoosh.matching import AndNotMatcher
from whoosh.multiproc import MpWriter, SubWriterTask
from whoosh.system import pack_uint
from whoosh.util import random_name
from whoosh.util.numeric import _length_byte_cache, byte_to_length, length_to_byte

from searchsvc.errors import describe_error

PINNED_WHOOSH = (2, 7, 5)
if tuple(whoosh.__version__[:3]) != PINNED_WHOOSH:  # pragma: no cover - guards upgrades
    raise ImportError(
        f"searchsvc needs Whoosh {'.'.join(map(str, PINNED_WHOOSH))} (whoosh-reloaded), found "
        f"{whoosh.versionstring()}: searchsvc.index.whoosh_internals uses its private internals"
    )

# How often a waiting parent looks whether its helpers are still alive.
POLL_S = 0.5
# After a helper has exited, how long its last message may take to arrive.
GRACE_S = 5.0


def new_codec():
    """The codec searchsvc writes with (:class:`searchsvc.index.codec.Codec`), which imports
    Whoosh's private names from this module, so it is imported when first asked for."""
    from searchsvc.index.codec import Codec

    return Codec()


class HelperFailed(Exception):
    """A helper process of a multi-process build failed; the message says why."""


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
            name for name, field in self.schema.items() if hasattr(field, "index_positions")
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
        # would cost tens. For a field that gives its positions (``index_positions``), the
        # values are the positions themselves (none for a term that keeps none).
        self._postings: dict[str, dict[bytes, tuple[array, array, object, array]]] = {}
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
                    for tbytes, freq, weight, positions in field.index_positions(value):
                        if scorable:
                            length += freq
                        entry = terms.get(tbytes)
                        if entry is None:
                            entry = terms[tbytes] = (array("I"), array("d"), array("I"), array("I"))
                            size += TERM_BYTES
                        entry[0].append(docnum)
                        entry[1].append(weight)
                        if positions:
                            entry[2].extend(positions)
                            size += 4 * len(positions)
                        entry[3].append(len(entry[2]))
                        size += POSTING_BYTES
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
                    lengths[docnum] = _stored_length(length)
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
                for tbytes in sorted(terms):
                    writer.start_term(tbytes)
                    ids, weights, data, ends = terms[tbytes]
                    writer._postwriter.add_arrays(
                        *_term_arrays(field.format, ids, weights, data, ends, lengths, positional)
                    )
                    writer.finish_term()
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


class UpdateWriter:
    """An incremental update: deletions through Whoosh's writer, new and changed documents
    through a :class:`SegmentBuilder` in a segment of their own, one table of contents.

    Whoosh's writer alone would write the new documents through its posting pool (for 1 %
    of the bench corpus, most of an update's time). The small segments earlier updates left
    are merged by :func:`tiered_merge`, postings array by array.
    """

    def __init__(self, ix, limitmb: int = 128, merge=None):
        """``merge``: the merge policy of the commit (:func:`tiered_merge` by default)."""
        self.writer = ix.writer(limitmb=limitmb, compound=False, codec=new_codec())
        self.builder = SegmentBuilder(ix, limitmb)
        self._merge = tiered_merge if merge is None else merge
        self._unique = [name for name, field in ix.schema.items() if field.unique]

    @property
    def is_closed(self) -> bool:
        return self.writer.is_closed

    def add_document(self, **fields) -> None:
        """Add a new document."""
        self.builder.add_document(**fields)

    def update_document(self, **fields) -> None:
        """Replace the document with the same unique field values (``id``)."""
        for name in self._unique:
            if name in fields:
                self.writer.delete_by_term(name, fields[name])
        self.builder.add_document(**fields)

    def delete_by_term(self, fieldname: str, text: str) -> None:
        """Delete the documents with this term."""
        self.writer.delete_by_term(fieldname, text)

    def commit(self) -> None:
        """Write the new segments, then the table of contents that lists them beside the
        live ones (Whoosh's commit deletes the files of any segment it does not list)."""
        added = self.builder.finish()
        write_toc = self.writer._commit_toc
        self.writer._commit_toc = lambda segments: write_toc(segments + added)
        self.writer.commit(mergetype=self._merge)


def merge_segments(storage, indexname: str, schema, segments: list, target=None):
    """Write the live documents of ``segments`` (read from ``storage``; their deletions
    dropped) as one new segment in ``target`` (``storage`` by default) and return it (None
    when none is left); see :func:`merge_mapped`."""
    return merge_mapped(storage, indexname, schema, segments, target)[0]


def merge_mapped(storage, indexname: str, schema, segments: list, target=None) -> tuple:
    """The merged segment (None when no document is left) and, for each segment merged, an
    array giving each of its document numbers the merged one (-1: deleted).

    What Whoosh's writer does when its merge policy merges (``SegmentWriter.add_reader``),
    without its posting pool: the stored fields, lengths and columns document by document
    as Whoosh copies them, but the postings a term at a time, as arrays
    (:func:`searchsvc.index.codec.merged_term`; a term of a segment that lost no document is
    its record copied), where Whoosh's pool takes each posting on its own, pickles its value
    and sorts them all again (seconds for a thousand documents: the pushed documents' writer
    fell minutes behind on it)."""
    from whoosh.reading import SegmentReader

    from searchsvc.index import codec as packed

    codec = new_codec()
    target = storage if target is None else target
    segment = codec.new_segment(target, indexname)
    perdoc = codec.per_document_writer(target, segment)
    readers = [SegmentReader(storage, schema, seg) for seg in segments]
    try:
        names = sorted(schema.names())
        docnum = 0
        docmaps, bases = [], []
        # field name -> each merged document's length as stored (0: none)
        lengths: dict[str, list[int]] = {name: [] for name in names if schema[name].scorable}
        for reader in readers:
            docmap = np.full(reader.doc_count_all(), -1, np.int64)
            columns = {}
            for name in names:
                column = schema[name].column_type
                if column and reader.has_column(name):
                    columns[name] = reader.column_reader(name, column, translate=False)
            for old, stored in reader.iter_docs():
                docmap[old] = docnum
                perdoc.start_doc(docnum)
                for name in names:
                    field = schema[name]
                    length = reader.doc_field_length(old, name)
                    if name in lengths:
                        lengths[name].append(length or 0)
                    perdoc.add_field(name, field, stored.get(name), length)
                    if name in columns:
                        perdoc.add_column_value(name, field.column_type, columns[name][old])
                perdoc.finish_doc()
                docnum += 1
            docmaps.append(docmap)
            # Where the segment's documents start, when it lost none (a shift is enough).
            whole = not reader.has_deletions() and len(docmap)
            bases.append(int(docmap[0]) if whole else None)
        perdoc.close()
        if not docnum:
            return None, docmaps
        # field name -> term bytes -> (reader index, term info), every segment's terms
        terms: dict[str, dict[bytes, list]] = {}
        for i, reader in enumerate(readers):
            for (name, tbytes), info in reader._terms.items():
                if name in schema:
                    terms.setdefault(name, {}).setdefault(tbytes, []).append((i, info))
        writer = codec.field_writer(target, segment)
        try:
            for name in sorted(terms):
                field = schema[name]
                known = np.asarray(lengths.get(name, ()), np.int64)
                started = False
                for tbytes in sorted(terms[name]):
                    found = terms[name][tbytes]
                    if len(found) == 1 and bases[found[0][0]] is not None:
                        # In one segment that lost no document: its record, moved.
                        i, info = found[0]
                        if not started:
                            writer.start_field(name, field)
                            started = True
                        writer.start_term(tbytes)
                        postfile = readers[i]._terms._postfile
                        writer._postwriter.add_record(
                            packed.read_record(postfile, info), info, bases[i]
                        )
                        writer.finish_term()
                        continue
                    merged = None
                    if all(info.doc_frequency() <= packed.SMALL_TERM for _i, info in found):
                        records = [
                            (packed.read_record(readers[i]._terms._postfile, info), docmaps[i])
                            for i, info in found
                        ]
                        merged = packed.merged_small_term(records, field.format)
                    if merged is None:
                        parts = []
                        for i, info in found:
                            postfile = readers[i]._terms._postfile
                            postings = packed.TermPostings.read(postfile, *packed._extent(info))
                            parts.append((postings, docmaps[i]))
                        merged = packed.merged_term(parts, field.format)
                    if merged is None or not len(merged[0]):  # every posting deleted
                        continue
                    ids, weights, values = merged
                    if not started:
                        writer.start_field(name, field)
                        started = True
                    if len(known):
                        term_lengths = known[np.asarray(ids, np.int64)]
                    else:
                        term_lengths = np.zeros(len(ids), np.int64)
                    writer.start_term(tbytes)
                    writer._postwriter.add_arrays(ids, weights, term_lengths, values)
                    writer.finish_term()
                if started:
                    writer.finish_field()
        finally:
            writer.close()
        segment.set_doc_count(docnum)
        return segment, docmaps
    finally:
        for reader in readers:
            reader.close()


def merge_candidates(segments: list) -> list:
    """The segments :func:`tiered_merge` would merge now (empty when none): the smallest
    tier holding :data:`MERGE_FACTOR` segments (see there)."""
    from searchsvc.settings import MERGE_FACTOR, MERGE_FLOOR_DOCS, MERGE_MAX_DOCS

    tiers: dict[int, list] = {}
    for seg in segments:
        if seg.doc_count() == 0 or seg.doc_count_all() > MERGE_MAX_DOCS:
            continue
        tier, bound = 0, MERGE_FLOOR_DOCS
        while seg.doc_count_all() > bound:
            tier, bound = tier + 1, bound * MERGE_FACTOR
        tiers.setdefault(tier, []).append(seg)
    for tier in sorted(tiers):
        group = tiers[tier]
        if len(group) >= MERGE_FACTOR and sum(s.doc_count() for s in group) <= MERGE_MAX_DOCS:
            return group
    return []


def keep_segments(writer, segments: list) -> list:
    """A merge policy that merges nothing and drops the segments with no document left."""
    return [seg for seg in segments if seg.doc_count() > 0]


class MergeDone:
    """A merge written beside the index while batches went on (the pushed documents'
    writer, :mod:`searchsvc.ingest.writer`): the ``merged`` segment, in ``folder``, holds
    the live documents the ``sources`` (segment ids) had then; ``docmaps`` give each source
    document its merged number (-1: deleted then)."""

    def __init__(self, merged, sources: list[str], docmaps: list, folder: str):
        self.merged, self.sources, self.docmaps, self.folder = merged, sources, docmaps, folder
        self.installed = False

    def files(self) -> list[str]:
        """The merged segment's file names (in :attr:`folder`)."""
        prefix = self.merged.segment_id() + "."
        return sorted(n for n in os.listdir(self.folder) if n.startswith(prefix))

    def policy(self, writer, segments: list) -> list:
        """A merge policy putting the merged segment in place of its sources, the documents
        deleted from them since (later batches) deleted in it too; when a source is gone
        (``searchsvc index`` rewrote the index meanwhile) the merge is dropped."""
        by_id = {seg.segment_id(): seg for seg in segments}
        if self.merged is None or not all(sid in by_id for sid in self.sources):
            return keep_segments(writer, segments)
        merged = self.merged
        for sid, docmap in zip(self.sources, self.docmaps, strict=True):
            for old in by_id[sid].deleted_docs():
                new = int(docmap[old]) if old < len(docmap) else -1
                if new >= 0:
                    merged.delete_document(new)
        self.installed = True
        rest = [seg for seg in segments if seg.segment_id() not in set(self.sources)]
        return [*keep_segments(writer, rest), merged]


def merge_in(folder: str, indexname: str, schema, segments: list) -> MergeDone:
    """Merge ``segments``, whose files are in ``folder`` (links to the live ones), into a
    new segment written there: what the writer's merging process runs."""
    from whoosh.filedb.filestore import FileStorage

    storage = FileStorage(folder)
    merged, docmaps = merge_mapped(storage, indexname, schema, segments)
    storage.temp_storage(f"{indexname}.tmp").destroy()
    return MergeDone(merged, [seg.segment_id() for seg in segments], docmaps, folder)


def tiered_merge(writer, segments: list) -> list:
    """The merge policy of incremental updates and pushed batches: a Whoosh merge policy
    (given the writer and the index's segments, it returns those kept, having merged the
    others).

    Segments are grouped in tiers by size (up to :data:`MERGE_FLOOR_DOCS` documents, then
    each tier :data:`MERGE_FACTOR` times larger); when one tier holds :data:`MERGE_FACTOR`
    segments, they are merged into one, which belongs to the next tier (as Lucene's tiered
    merges do). Segments over :data:`MERGE_MAX_DOCS` are never merged, so a commit never
    rewrites the bulk of the index; segments with every document deleted are dropped.
    Whoosh's own policy (``MERGE_SMALL``) could merge a growing share of the index at any
    commit, and did so a posting at a time.
    """
    group = merge_candidates(segments)
    ids = {seg.segment_id() for seg in group}
    kept = keep_segments(writer, [seg for seg in segments if seg.segment_id() not in ids])
    if group:
        merged = merge_segments(writer.storage, writer.indexname, writer.schema, group)
        if merged is not None:
            kept.append(merged)
    return kept


def _term_arrays(format_, ids, weights, data, ends, lengths, positional: bool) -> tuple:
    """One term's postings as the codec's writer takes them whole (``add_arrays``):
    document numbers, weights, each posting's field length as stored (0 when unknown) and
    its values (:class:`searchsvc.index.codec.TermValues`), classified as the codec would
    classify the same values handed to it one posting at a time."""
    from searchsvc.index import codec

    if len(ids) <= codec.SMALL_TERM:  # most terms: numpy's calls would cost more
        count = len(lengths) if lengths is not None else 0
        known = [lengths[d] if d < count else 0 for d in ids]
        if positional:
            if len(data):
                counts = [b - a for a, b in zip([0, *ends], ends, strict=False)]
                return ids, weights, known, codec.TermValues(codec.POSITIONS, counts, data)
            return ids, weights, known, codec.TermValues(codec.FREQUENCY)
        if not len(data):
            return ids, weights, known, codec.TermValues(codec.NO_VALUES)
    ids = np.frombuffer(ids, np.uint32)
    weights = np.frombuffer(weights, np.float64)
    if lengths is None:
        known = np.zeros(len(ids), np.int64)
    else:
        inside = ids < len(lengths)
        known = np.zeros(len(ids), np.int64)
        known[inside] = np.frombuffer(lengths, np.uint32)[ids[inside]]
    if positional:
        if len(data):
            counts = np.diff(np.frombuffer(ends, np.uint32), prepend=0)
            values = codec.TermValues(codec.POSITIONS, counts, np.frombuffer(data, np.uint32))
        else:  # a stem: its frequency, no positions
            values = codec.TermValues(codec.FREQUENCY)
    elif not len(data):
        values = codec.TermValues(codec.NO_VALUES)
    else:
        stops = list(ends)
        values = codec.values_of(
            format_, [bytes(data[a:b]) for a, b in zip([0, *stops], stops, strict=False)], weights
        )
    return ids, weights, known, values


def positionless_value(freq: int) -> bytes:
    """A Positions-format posting value with its frequency and no positions: what a stem term
    is (its positions are never read), as Whoosh's readers decode it. One object per
    frequency, made once: every stem posting read through Whoosh's matcher asks for it."""
    found = _POSITIONLESS.get(freq)
    if found is None:
        found = _POSITIONLESS[freq] = pack_uint(freq) + pickle.dumps([], 2)
    return found


_POSITIONLESS: dict[int, bytes] = {}


def length_byte_codes(lengths: np.ndarray) -> np.ndarray:
    """Whoosh's one-byte code (``length_to_byte``) of each of these field lengths."""
    return np.minimum(np.searchsorted(_LENGTH_BYTES, lengths, "left"), 255)


_LENGTH_BYTES = np.array(_length_byte_cache, np.int64)


def _stored_length(length: int) -> int:
    """A field length as a reader gets it back: stored in one byte, so rounded."""
    byte = length_to_byte(length)
    return byte_to_length(byte) if byte else 0


def publish_segments(ix, segments: list) -> None:
    """Write the table of contents that makes ``segments`` the index's documents."""
    generation = ix.latest_generation() + 1
    TOC(ix.schema, segments, generation).write(ix.storage, ix.indexname)
    clean_files(ix.storage, ix.indexname, generation, segments)


class _CheckedTask(SubWriterTask):
    """A helper that writes its documents with a :class:`SegmentBuilder` and always reports:
    ``("ok", pid, segments)`` or ``("failed", pid, reason)``."""

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # anything at all: the parent must hear of it
            # No traceback on the user's terminal: the parent says in one line what went wrong.
            with contextlib.suppress(BaseException):
                self.resultqueue.put(("failed", os.getpid(), describe_error(exc)))
                self.resultqueue.close()
                self.resultqueue.join_thread()
            os._exit(1)

    def _run(self) -> None:
        ix = self.storage.open_index(self.indexname)
        self.builder = SegmentBuilder(ix, self.kwargs.get("limitmb", 128))
        self.temp = self.storage.temp_storage(f"{self.indexname}.tmp")
        while True:
            job = self.jobqueue.get()
            if job is None:
                break
            self._process_file(*job)
        self.resultqueue.put(("ok", os.getpid(), self.builder.finish()))

    def _process_file(self, filename: str, doc_count: int) -> None:
        """Add the documents of one job file the parent wrote, then delete it."""
        with self.temp.open_file(filename).raw_file() as f:
            for _ in range(doc_count):
                _code, fields = pickle.load(f)
                self.builder.add_document(**fields)
        self.temp.delete_file(filename)


class CheckedMpWriter(MpWriter):
    """Whoosh's multi-segment, multi-process writer with failures that cannot pass unseen.

    Each helper writes segments of its own, kept as they are (no merge pass). Handing out
    work and waiting for results both watch the helpers: one that exits without reporting
    success ends the build with :class:`HelperFailed`.
    """

    def __init__(self, ix, procs: int, **kwargs):
        super().__init__(ix, procs=procs, multisegment=True, codec=new_codec(), **kwargs)
        # What each helper reported, by pid: ("ok", its segments) or ("failed", reason).
        self._reported: dict[int, tuple[str, object]] = {}

    def _new_task(self):
        task = _CheckedTask(
            self.storage,
            self.indexname,
            self.jobqueue,
            self.resultqueue,
            self.subargs,
            True,
        )
        self.tasks.append(task)
        task.start()
        return task

    def _enqueue(self) -> None:
        # Whoosh's own, but the job goes on the queue through _put, which watches the helpers.
        filename = f"{random_name()}.doclist"
        with self.temp_storage().create_file(filename).raw_file() as f:
            for item in self.docbuffer:
                pickle.dump(item, f, 2)
        if len(self.tasks) < self.procs:
            self._new_task()
        self._put((filename, len(self.docbuffer)))
        self.docbuffer = []

    def _put(self, job) -> None:
        """Queue a job, waiting for room only while every helper is alive."""
        while True:
            try:
                self.jobqueue.put(job, timeout=POLL_S)
                return
            except queue.Full:
                self._raise_if_a_helper_died()

    def _raise_if_a_helper_died(self) -> None:
        """Raise :class:`HelperFailed` when a helper exited without reporting success."""
        for task in self.tasks:
            if task.exitcode is None:
                continue
            reason = self._last_word(task)
            if reason is not None:
                raise HelperFailed(reason)

    def _last_word(self, task) -> str | None:
        """The failure of a helper that has exited, from its message or its exit code."""
        try:
            while task.pid not in self._reported:
                status, pid, payload = self.resultqueue.get(timeout=GRACE_S)
                self._reported[pid] = (status, payload)
        except queue.Empty:
            return f"a helper process stopped without a word (exit code {task.exitcode})"
        status, payload = self._reported[task.pid]
        return str(payload) if status == "failed" else None

    def _results(self) -> list:
        """Every helper's segments; raise :class:`HelperFailed` if any helper failed."""
        reported = self._reported
        while len(reported) < len(self.tasks):
            try:
                status, pid, payload = self.resultqueue.get(timeout=POLL_S)
            except queue.Empty:
                self._raise_if_a_helper_died()
                continue
            reported[pid] = (status, payload)
        failures = [payload for status, payload in reported.values() if status != "ok"]
        if failures:
            raise HelperFailed(str(failures[0]))
        for task in self.tasks:
            task.join(timeout=GRACE_S)
        return [segment for _status, segments in reported.values() for segment in segments]

    def _commit(self, mergetype, optimize, merge) -> None:
        if self.docbuffer:
            self._enqueue()
        for _ in self.tasks:
            self._put(None)
        segments = self._merge_segments(mergetype, optimize, merge)
        segments += self._results()
        if self._added:
            segments.append(self._finalize_segment())
        else:
            self._close_segment()
        self._commit_toc(segments)
        self._finish()

    def stop_helpers(self, timeout: float = 10.0) -> None:
        """Kill the helpers and wait for them (bounded).

        ``MpWriter.cancel`` only flags the helpers in this process, so they would go on
        waiting for work, and a process waits for its helpers before it exits.
        """
        for task in self.tasks:
            if task.is_alive():
                task.kill()
        for task in self.tasks:
            task.join(timeout=timeout)


def abandon(writer) -> None:
    """Give up a writer after a failure, never raising, its files closed and lock released.

    ``SegmentWriter.cancel`` closes the segment's files one after the other and stops at the
    first error, and on a full disk every flush fails: so each step is taken on its own.
    """
    parts = [writer.builder, writer.writer] if isinstance(writer, UpdateWriter) else [writer]
    for part in parts:
        for step in _closing_steps(part):
            with contextlib.suppress(Exception):
                step()
    folder = getattr(parts[0].storage, "folder", None)
    if folder:
        _close_files_under(str(folder))


def _closing_steps(writer) -> list:
    """What closing one writer takes, step by step."""
    if isinstance(writer, SegmentBuilder):
        return [lambda: writer._perdoc.is_closed or writer._perdoc.close()]
    steps = [writer.stop_helpers] if isinstance(writer, CheckedMpWriter) else []
    return [
        *steps,
        lambda: writer.perdocwriter.is_closed or writer.perdocwriter.close(),
        lambda: writer.fieldwriter.is_closed or writer.fieldwriter.close(),
        writer.pool.cleanup,
        writer._finish,
    ]


def _close_files_under(folder: str) -> None:
    """Close the files this process still has open in ``folder``.

    A segment's files belong to nested codec writers, and a close that fails part way (a
    flush on a full disk) leaves the rest open with no handle left to reach them. Only on
    the failure path, so walking the heap once is affordable.
    """
    prefix = os.path.join(folder, "")
    for obj in gc.get_objects():
        if isinstance(obj, io.IOBase) and not obj.closed:
            name = getattr(obj, "name", None)
            if isinstance(name, str) and name.startswith(prefix):
                with contextlib.suppress(Exception):
                    obj.close()


# -- reading postings ---------------------------------------------------------------------------

# How Whoosh's Positions format writes a value: the count of positions (4 bytes), then the
# gaps between positions as a pickled list (protocol 2), its STOP opcode sometimes left out.
_POSITIONS_PICKLE = b"\x80\x02"


def position_gaps(values, decode) -> list[list[int]]:
    """The position gaps of each of these values, unpickled in one call: the values' pickled
    lists, stripped of their count, protocol and stop opcodes, become the items of one list
    (a call per value costs several times more). Values of another shape are decoded one by
    one with ``decode``, into gaps."""
    fragments = []
    for v in values:
        if v[4:6] != _POSITIONS_PICKLE:
            break
        fragments.append(v[6:-1] if v.endswith(b".") else v[6:])
    else:
        try:
            gaps = pickle.loads(_POSITIONS_PICKLE + b"(" + b"".join(fragments) + b"l.")
        except Exception:  # any surprise: the slow, sure way below
            gaps = None
        if isinstance(gaps, list) and len(gaps) == len(values):
            return gaps
    out = []
    for v in values:
        positions = decode(v)
        out.append([b - a for a, b in zip([0, *positions], positions, strict=False)])
    return out


def field_lengths(reader, fieldname: str) -> np.ndarray:
    """Each document's length in ``fieldname`` as Whoosh's scorers see it (one byte per
    document, decoded; 1 where a document has none), for one segment reader."""
    perdoc = getattr(reader, "_perdoc", None)
    if isinstance(perdoc, whoosh3.W3PerDocReader):
        column = perdoc._cached_reader(whoosh3._lenfield(fieldname), whoosh3.LENGTHS_COLUMN)
        codes = None
        if isinstance(column, NumericColumn.Reader) and column._typecode == "B":
            # One read of the column's bytes (its load() unpacks them one call at a time);
            # documents past the stored ones have the default, as its reader gives them.
            codes = np.full(column._doccount, column._default, np.uint8)
            stored = min(column._count, column._doccount)
            codes[:stored] = np.frombuffer(column._dbfile.get(column._basepos, stored), np.uint8)
        elif column is not None:
            codes = np.asarray(column.load(), dtype=np.uint8)
        if codes is not None:
            return np.where(codes > 0, _BYTE_LENGTHS[codes], 1.0)
    n = reader.doc_count_all()
    return np.array([reader.doc_field_length(d, fieldname, 1) or 1 for d in range(n)], float)


# The length each of the 256 stored bytes stands for.
_BYTE_LENGTHS = np.array([float(byte_to_length(b)) for b in range(256)])


def text_column(reader, fieldname: str) -> Iterator[tuple[int, str]]:
    """``(document number, value)`` of every live document in a text column (an ``ID``
    field's, sortable), each segment's values read in one piece: Whoosh's column reader reads
    a file slice per document, which made comparing an index's 30,000 ids and hashes take
    most of an incremental run."""
    for leaf, base in reader.leaf_readers():
        raw = leaf.column_reader(fieldname, translate=False)
        if not isinstance(raw, VarBytesColumn.Reader):  # no column file: defaults, say
            values = leaf.column_reader(fieldname)
            for docnum in leaf.all_doc_ids():
                yield base + docnum, values[docnum]
            continue
        offsets, lengths = raw._offsets, raw._lengths
        size = max((o + n for o, n in zip(offsets, lengths, strict=True)), default=0)
        data = raw._dbfile.get(raw._basepos, size) if size else b""
        for docnum in leaf.all_doc_ids():
            start = offsets[docnum]
            yield base + docnum, data[start : start + lengths[docnum]].decode("utf-8")


def field_b(weighting, fieldname: str) -> float:
    """BM25F's length normalisation ``B`` for one field (Whoosh keeps the per-field ones in a
    private dictionary)."""
    return weighting._field_B.get(fieldname, weighting.B)


class ArraysFileError(ValueError):
    """A segment's postings arrays file is not one this code reads (damaged, cut short, or
    written by another version)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.file, self.reason = os.path.basename(path), reason


# -- matching and segments ---------------------------------------------------------------------


class ExcludingMatcher(AndNotMatcher):
    """Whoosh's ``AndNotMatcher`` with its start fixed: Whoosh checks the first document
    only when both sides start on the same one, so when the excluded side starts earlier,
    the first document of each segment was kept even if it had an excluded word."""

    def _find_first(self):
        if self.a.is_active() and self.b.is_active():
            self._find_next()


def segment_key(reader) -> tuple[str, str] | None:
    """``(index folder, segment id)`` of a segment reader (what stays true of its words
    while the segment lives, whichever reader reads it); None for an in-memory reader."""
    storage = getattr(reader, "_storage", None)
    segment = reader.segment() if hasattr(reader, "segment") else None
    if segment is None:
        return None
    return getattr(storage, "folder", str(id(storage))), segment.segment_id()


def stable_segment_key(reader) -> tuple[str, str] | None:
    """``(index folder, segment id)`` of a segment reader of a generation: the same in every
    generation that shares the segment (they hold its files by hard links, and a segment id
    is never reused within an index folder); None for an in-memory reader."""
    key = segment_key(reader)
    if key is None:
        return None
    folder, segment_id = key
    return os.path.dirname(os.path.normpath(folder)), segment_id
