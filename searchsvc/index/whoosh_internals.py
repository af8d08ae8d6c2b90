"""Where searchsvc reaches into Whoosh's private internals, checked against the pinned version.

:class:`SegmentBuilder` writes a full build's segments through Whoosh's codec directly:
Whoosh's ``SegmentWriter`` puts every posting as a tuple in a pool, sorts the tuples (spilling
sorted runs to disk and merging them back), then looks each document's field length up in
the column file it has just written, once per posting. The builder keeps each term's postings
together in memory and the lengths in arrays, so only the terms are sorted, and it writes the
same files, byte for byte (a test compares them).

Whoosh's multi-process writer (``whoosh.multiproc.MpWriter``) loses work in silence: a helper
process that dies (a full disk, a document it cannot encode) leaves its documents out of the
index while the commit succeeds, and when both helpers are dead the parent waits for ever to
hand them more work. :class:`CheckedMpWriter` keeps Whoosh's division of labour (helpers write
their own segments, the parent writes the table of contents) but every wait is bounded by the
helpers' liveness and every helper must report success, or the commit raises
:class:`HelperFailed` with the helper's own reason.

On the reading side, :func:`read_postings` decodes a term's postings block by block into
arrays (document numbers and weights) for :mod:`searchsvc.engine.termwise`, keeping where each block
starts so that positions are read only for the documents a phrase asks about, and
:func:`field_lengths` reads a field's length column in one go.

This module imports only on the Whoosh version it was written against, so an upgrade fails at
start-up, not while writing or reading an index.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import os
import queue
import weakref
from array import array
from collections.abc import Iterator
from itertools import accumulate

import numpy as np
import whoosh
from whoosh.codec import whoosh3
from whoosh.columns import NumericColumn, VarBytesColumn
from whoosh.compat import pickle
from whoosh.index import TOC, clean_files
from whoosh.matching import AndNotMatcher, FilterMatcher
from whoosh.multiproc import MpWriter, SubWriterTask
from whoosh.system import pack_uint
from whoosh.util import random_name
from whoosh.util.numeric import byte_to_length, length_to_byte

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


# Posting blocks are compressed at zlib's fastest level: Whoosh's default (3) saves about 1 %
# of the index for about a tenth of the build's time. (Whoosh can also keep short posting
# lists in the term file, once its inlining is mended: 2.7.5 calls a method that does not
# exist. Measured: a fifth less build time, but relaxed queries then score differently,
# because Whoosh's matchers for inlined lists count matching terms their own way.)
BLOCK_COMPRESSION = 1


class Codec(whoosh3.W3Codec):
    """The codec searchsvc writes with: Whoosh's own (W3), its blocks compressed fast.
    Whoosh reads it as it reads any W3 segment."""

    def __init__(self) -> None:
        super().__init__(compression=BLOCK_COMPRESSION)


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
        self.codec = Codec()
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
        # would cost tens
        self._postings: dict[str, dict[bytes, tuple[array, array, bytearray, array]]] = {}
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
                for tbytes, freq, weight, vbytes in field.index(value):
                    if scorable:
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
                count = len(lengths) if lengths is not None else 0
                writer.start_field(fieldname, self.schema[fieldname])
                for tbytes in sorted(terms):
                    writer.start_term(tbytes)
                    _fill_blocks(writer._postwriter, *terms[tbytes], lengths, count)
                    writer.finish_term()
                writer.finish_field()
        finally:
            writer.close()
        scorable = {f: t for f, t in self._postings.items() if t and self.schema[f].scorable}
        write_arrays(self.storage, self._segment, scorable)
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
    of the bench corpus, most of an update's time); its merge policy still merges the small
    segments earlier updates left.
    """

    def __init__(self, ix, limitmb: int = 128):
        self.writer = ix.writer(limitmb=limitmb, compound=False, codec=Codec())
        self.builder = SegmentBuilder(ix, limitmb)
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
        self.writer.commit()


def _fill_blocks(
    postings,
    docnums: array,
    weights: array,
    values: bytearray,
    ends: array,
    lengths: array | None,
    count: int,
) -> None:
    """Put one term's postings into Whoosh's posting writer a block at a time.

    What ``W3PostingsWriter.add_posting`` does one posting at a time (a block written each
    time ``blocklimit`` postings are buffered, the last block left for ``finish_postings``,
    the block's largest weight and shortest and longest field lengths kept beside it), done
    with slices: the same blocks, without a Python call per posting.
    """
    limit = postings._blocklimit
    for start in range(0, len(docnums), limit):
        if start:
            postings._write_block()
        end = start + limit
        ids = docnums[start:end]
        block_weights = weights[start:end]
        postings._ids = ids
        postings._weights = array("f", block_weights)
        begin = ends[start - 1] if start else 0
        block_values = []
        for stop in ends[start:end]:
            if stop > begin:  # Whoosh keeps only the values that are not empty
                value = bytes(values[begin:stop])
                block_values.append(_SHARED_VALUES.get(value, value))
            begin = stop
        postings._values = block_values
        heaviest = max(block_weights)
        postings._maxweight = heaviest if heaviest > 0 else 0
        known = [lengths[d] for d in ids if d < count and lengths[d]] if lengths else []
        postings._minlength = min(known) if known else None
        postings._maxlength = max(known) if known else 0


# Values many postings have (a stem's, see positionless_value), one object each: a block's
# pickle writes an object it has met before as a two-byte reference, where protocol 2 writes a
# bytes value as a call to codecs.encode (about 50 bytes). The text fields hand Whoosh's own
# writer these same objects, so both writers write the same bytes.
_SHARED_VALUES: dict[bytes, bytes] = {}


def positionless_value(freq: int) -> bytes:
    """A Positions-format posting value with its frequency and no positions: what a stem term
    stores (its positions are never read). Not empty: Whoosh's posting blocks keep only
    non-empty values, and a block whose values do not line up with its postings cannot be
    read (or merged) back. One object per frequency, shared by every block, and made once:
    every stem posting of a build asks for it."""
    found = _POSITIONLESS.get(freq)
    if found is None:
        value = pack_uint(freq) + pickle.dumps([], 2)
        found = _POSITIONLESS[freq] = _SHARED_VALUES.setdefault(value, value)
    return found


_POSITIONLESS: dict[int, bytes] = {}


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
        super().__init__(ix, procs=procs, multisegment=True, codec=Codec(), **kwargs)
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


# -- reading postings as arrays ----------------------------------------------------------------


class TermPostings:
    """One term's postings in one segment: document numbers (ascending) and weights as arrays,
    and positions read back on demand, block by block, for the documents asked about.

    Positions are read only when a phrase needs them (most terms never do), a block at a
    time, kept encoded, and decoded for the documents asked about (in one call for all those
    of a block, see :func:`_position_gaps`), then kept as gaps.
    """

    __slots__ = (
        "_blocks",
        "_gaps",
        "_held",
        "_inline_values",
        "_lasts",
        "_matcher",
        "_offsets",
        "_source",
        "ids",
        "weights",
    )

    def __init__(
        self, ids, weights, matcher=None, offsets=(), lasts=(), inline_values=None, source=None
    ):
        self.ids: np.ndarray = ids  # document numbers in the segment (ascending integers)
        # term frequencies: float64, or whole numbers as unsigned integers
        self.weights: np.ndarray = weights
        self._matcher = matcher
        self._offsets = offsets
        self._lasts = np.asarray(lasts, dtype=np.intp)
        self._inline_values = inline_values
        # (reader, field, term) when the postings came from the segment's arrays: where the
        # blocks are is then looked up in Whoosh's posting file only if positions are asked for
        self._source = source
        # block -> (its document numbers, their encoded positions), once a phrase read it;
        # document -> its positions as gaps, once asked for
        self._blocks: dict[int, tuple[np.ndarray, tuple]] = {}
        self._gaps: dict[int, list[int]] = {}
        self._held = 0  # bytes the positions read take

    def positions(self, docs: np.ndarray, decode) -> dict[int, list[int]]:
        """Positions of the term in each of ``docs`` (sorted document numbers that have the
        term); ``decode`` is the field format's ``decode_positions``, for values that cannot
        be decoded many at a time."""
        out: dict[int, list[int]] = {}
        if not len(docs):
            return out
        if self._source is not None:
            self._locate()
        if self._matcher is None:  # one block, stored inline
            blocks = np.zeros(len(docs), np.intp)
        else:
            blocks = np.searchsorted(self._lasts, docs)  # the block each document is in
        gaps = self._gaps
        for b in np.unique(blocks).tolist():
            wanted = docs[blocks == b].tolist()
            missing = [d for d in wanted if d not in gaps]
            if missing:
                ids, values = self._block(b)
                where = np.searchsorted(ids, missing).tolist()
                decoded = _position_gaps([values[i] for i in where], decode)
                for d, doc_gaps in zip(missing, decoded, strict=True):
                    gaps[d] = doc_gaps
                    self._held += 120 + 8 * len(doc_gaps)  # a list of small ints, its entry
            for d in wanted:
                out[d] = list(accumulate(gaps[d]))
        return out

    def _block(self, b: int) -> tuple[np.ndarray, tuple]:
        """A block's document numbers and encoded positions, read once."""
        found = self._blocks.get(b)
        if found is None:
            if self._matcher is None:
                found = (self.ids, tuple(self._inline_values))
            else:
                m = self._matcher
                m._goto(self._offsets[b])
                m._read_ids()
                m._read_values()
                found = (np.asarray(m._ids, dtype=np.intp), tuple(m._values))
                self.release()
            self._blocks[b] = found
            # bytes objects (33 bytes each besides their data) in a tuple (8 bytes each)
            self._held += found[0].nbytes + 41 * len(found[1]) + sum(map(len, found[1]))
        return found

    def _locate(self) -> None:
        """Find where the term's blocks start in Whoosh's posting file (reading only each
        block's header), or read its inline postings' values."""
        reader, fieldname, text = self._source
        self._source = None
        matcher = _raw_postings(reader, fieldname, text)
        if not isinstance(matcher, whoosh3.W3LeafMatcher):
            self._inline_values = _read_inline(matcher)[2]
            return
        offsets, lasts = [], []
        offset = matcher._baseoffset
        while matcher.is_active():
            offsets.append(offset)
            lasts.append(matcher.block_max_id())
            offset = matcher._nextoffset
            matcher._next_block()
        self._matcher, self._offsets = matcher, offsets
        self._lasts = np.asarray(lasts, dtype=np.intp)

    def release(self) -> None:
        """Drop the raw block the matcher holds (positions included)."""
        m = self._matcher
        if m is not None:
            m._data = m._ids = m._weights = m._values = None

    @property
    def nbytes(self) -> int:
        """Memory the term holds, the positions read and decoded so far included."""
        return self.ids.nbytes + self.weights.nbytes + self._held


# How Whoosh's Positions format writes a value: the count of positions (4 bytes), then the
# gaps between positions as a pickled list (protocol 2), its STOP opcode sometimes left out.
_POSITIONS_PICKLE = b"\x80\x02"


def _position_gaps(values, decode) -> list[list[int]]:
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


def _raw_postings(reader, fieldname: str, text: str):
    """Whoosh's matcher of a term's postings in a segment, from its first posting, deleted
    documents included (``reader.postings`` wraps it in a filter that has already moved it
    past the first deleted ones, whole blocks at times)."""
    terms = getattr(reader, "_terms", None)
    if terms is not None:
        tbytes = reader._text_to_bytes(fieldname, text)
        return terms.matcher(fieldname, tbytes, reader.schema[fieldname].format)
    matcher = reader.postings(fieldname, text)
    while isinstance(matcher, FilterMatcher):
        matcher = matcher.child
    return matcher


def _read_inline(matcher) -> tuple[list, list, list]:
    """Document numbers, weights and values of postings stored inline (a short list)."""
    ids, weights, values = [], [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        values.append(matcher.value())
        matcher.next()
    return ids, weights, values


def read_postings(
    reader,
    fieldname: str,
    text: str,
    arrays: SegmentArrays | None = None,
    count: int | None = None,
) -> TermPostings | None:
    """A term's postings in one segment reader, deleted documents included (the caller masks
    them), or None when the segment does not have the term: from the segment's ``arrays``
    when it has them (every term of its scorable fields), else decoded from Whoosh's blocks.
    ``count``: the term's document frequency in the segment, when the caller knows it."""
    if arrays is not None and reader.schema[fieldname].scorable:
        found = arrays.postings(fieldname, text)
        if found is None:
            return None
        ids, weights = found
        return TermPostings(ids, weights, source=(reader, fieldname, text))
    if count is None:
        count = reader.doc_frequency(fieldname, text)
    if not count:
        return None
    matcher = _raw_postings(reader, fieldname, text)
    if not isinstance(matcher, whoosh3.W3LeafMatcher):  # short lists are stored inline
        ids, weights, values = _read_inline(matcher)
        return TermPostings(
            np.array(ids, dtype=np.intp),
            np.array(weights, dtype=np.float64),
            inline_values=values,
        )
    id_parts, weight_parts, offsets, lasts = [], [], [], []
    offset = matcher._baseoffset
    while matcher.is_active():
        # A block's data is (document number deltas, weights, values): decoded here as arrays
        # rather than by the matcher's Python loops.
        matcher._read_data()
        deltas, weights = matcher._data[0], matcher._data[1]
        size = matcher._blocklength
        id_parts.append(np.cumsum(np.array(deltas, dtype=np.intp)))
        if weights is None:
            weight_parts.append(np.ones(size))
        elif isinstance(weights, float):
            weight_parts.append(np.full(size, weights))
        else:
            weight_parts.append(np.array(weights, dtype=np.float64))
        offsets.append(offset)
        lasts.append(matcher.block_max_id())
        offset = matcher._nextoffset
        matcher._next_block()
    if not id_parts:
        return None
    postings = TermPostings(
        np.concatenate(id_parts),
        np.concatenate(weight_parts),
        matcher,
        offsets,
        lasts,
    )
    postings.release()
    return postings


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


# -- a segment's postings as arrays -------------------------------------------------------------

# A file beside each segment SegmentBuilder writes: every term of its scorable fields (its
# 64-bit key, in key order, and its field and text, to rule out collisions) with its postings'
# document numbers and frequencies, as arrays read without decoding (what a search reads of a
# term). Whoosh's own files stay the index of record: a segment without
# this file (written by Whoosh's writer: an update's merge) is read from its blocks.
ARRAYS_EXT = ".postarrays"
_ARRAYS_MAGIC = b"SSVPOST3"
_HEADER = np.dtype(
    [("magic", "S8"), ("terms", "<i8"), ("postings", "<i8"), ("flags", "<i8"), ("names", "<i8")]
)
# Flags: frequencies as four-byte floats (else two-byte whole numbers); document numbers in
# two bytes (a segment of at most 65,536 documents: each of the bench corpus's two is).
_WIDE_WEIGHTS = 1
_NARROW_IDS = 2


def term_key(fieldname: str, tbytes: bytes) -> int:
    """A term's 64-bit key in the arrays file (stable across processes and machines)."""
    digest = hashlib.blake2b(_term_name(fieldname, tbytes), digest_size=8)
    return int.from_bytes(digest.digest(), "little")


def write_arrays(storage, segment, fields: dict[str, dict[bytes, tuple]]) -> None:
    """Write the arrays file of a segment from its postings held in memory: field name ->
    term bytes -> (document numbers, weights, ...) as :class:`SegmentBuilder` holds them."""
    keys, names, ids, weights = [], [], [], []
    for fieldname in sorted(fields):
        for tbytes, (docnums, term_weights, *_rest) in fields[fieldname].items():
            keys.append(term_key(fieldname, tbytes))
            names.append(_term_name(fieldname, tbytes))
            ids.append(docnums)
            weights.append(term_weights)
    key_array = np.array(keys, dtype="<u8")
    order = np.argsort(key_array, kind="stable")
    names_in_order = [names[i] for i in order.tolist()]
    name_ends = np.zeros(len(order) + 1, "<i8")
    np.cumsum([len(n) for n in names_in_order], out=name_ends[1:])
    name_bytes = b"".join(names_in_order)
    counts = np.fromiter((len(ids[i]) for i in order.tolist()), np.int64, len(order))
    starts = np.zeros(len(order) + 1, "<i8")
    np.cumsum(counts, out=starts[1:])
    flat_ids = np.concatenate([np.asarray(ids[i], "<i4") for i in order.tolist()] or [[]])
    flat_weights = np.concatenate(
        [np.asarray(weights[i], np.float64) for i in order.tolist()] or [[]]
    )
    # Frequencies are whole numbers: two bytes each, unless one does not fit.
    wide = bool(len(flat_weights)) and (
        flat_weights.max() > 65535 or not np.array_equal(flat_weights, np.round(flat_weights))
    )
    flat_weights = flat_weights.astype("<f4" if wide else "<u2")
    narrow = not len(flat_ids) or int(flat_ids.max()) <= 0xFFFF
    flags = (_WIDE_WEIGHTS if wide else 0) | (_NARROW_IDS if narrow else 0)
    header = np.array([(_ARRAYS_MAGIC, len(order), len(flat_ids), flags, len(name_bytes))], _HEADER)
    f = storage.create_file(segment.make_filename(ARRAYS_EXT))
    try:
        for part in (header, key_array[order], starts, name_ends):
            f.write(part.tobytes())
        f.write(name_bytes)
        for part in (flat_ids.astype("<u2" if narrow else "<i4"), flat_weights):
            f.write(part.tobytes())
    finally:
        f.close()


def _term_name(fieldname: str, tbytes: bytes) -> bytes:
    return fieldname.encode("utf-8") + b"\0" + tbytes


class ArraysFileError(ValueError):
    """A segment's postings arrays file is not one this code reads (damaged, cut short, or
    written by another version)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.file, self.reason = os.path.basename(path), reason


class SegmentArrays:
    """A segment's arrays file: its term keys and where each term's postings start, held in
    memory; the postings themselves read with ``pread`` when a term is asked for.

    Not a memory map: a file cut short under a mapping kills the process that reads it
    (SIGBUS), where a short read is an error the caller reports as damage.
    """

    def __init__(self, path: str):
        self.path = path
        fd = os.open(path, os.O_RDONLY)
        self._closer = weakref.finalize(self, os.close, fd)
        self._fd = fd
        size = os.fstat(fd).st_size
        head = self._read(0, _HEADER.itemsize)
        header = np.frombuffer(head, _HEADER, 1)[0]
        terms, postings = int(header["terms"]), int(header["postings"])
        names, flags = int(header["names"]), int(header["flags"])
        self._weight_type = np.dtype("<f4" if flags & _WIDE_WEIGHTS else "<u2")
        self._id_type = np.dtype("<u2" if flags & _NARROW_IDS else "<i4")
        id_width = self._id_type.itemsize
        index_bytes = 8 * terms + 2 * 8 * (terms + 1) + names
        expected = (
            _HEADER.itemsize + index_bytes + postings * (id_width + self._weight_type.itemsize)
        )
        if header["magic"] != _ARRAYS_MAGIC or min(terms, names) < 0 or size != expected:
            raise ArraysFileError(path, "not a postings arrays file of the expected size")
        index = self._read(_HEADER.itemsize, index_bytes)
        self.keys = np.frombuffer(index, "<u8", terms)
        self.starts = np.frombuffer(index, "<i8", terms + 1, 8 * terms)
        self._name_ends = np.frombuffer(index, "<i8", terms + 1, 8 * terms + 8 * (terms + 1))
        self._names = index[8 * terms + 16 * (terms + 1) :]
        self._ids_at = _HEADER.itemsize + index_bytes
        self._weights_at = self._ids_at + id_width * postings

    def _read(self, offset: int, count: int) -> bytes:
        data = os.pread(self._fd, count, offset)
        if len(data) != count:
            raise ArraysFileError(self.path, f"cut short (read {len(data)} of {count} bytes)")
        return data

    def find(self, fieldname: str, text: str) -> tuple[int, int] | None:
        """Where a term's postings start and end in the file, or None without the term."""
        tbytes = text.encode("utf-8")
        key = term_key(fieldname, tbytes)
        # As a uint64 scalar: a Python int above 2**63 would be compared as an object.
        i = int(self.keys.searchsorted(np.uint64(key)))
        name = _term_name(fieldname, tbytes)
        ends = self._name_ends
        while i < len(self.keys) and int(self.keys[i]) == key:  # a collision: next one
            if self._names[int(ends[i]) : int(ends[i + 1])] == name:
                return int(self.starts[i]), int(self.starts[i + 1])
            i += 1
        return None

    def count(self, fieldname: str, text: str) -> int:
        """A term's document frequency in the segment (0 without the term)."""
        found = self.find(fieldname, text)
        return found[1] - found[0] if found else 0

    def postings(self, fieldname: str, text: str):
        """``(document numbers, weights)`` of a term, or None without it."""
        found = self.find(fieldname, text)
        if found is None:
            return None
        start, end = found
        count = end - start
        id_width = self._id_type.itemsize
        raw_ids = self._read(self._ids_at + id_width * start, id_width * count)
        # Two-byte numbers widened: arithmetic on them must not wrap around at 65,536.
        ids = np.frombuffer(raw_ids, self._id_type).astype(np.int32, copy=False)
        width = self._weight_type.itemsize
        raw = self._read(self._weights_at + width * start, width * count)
        weights = np.frombuffer(raw, self._weight_type)
        # Whole-number frequencies stay two-byte integers: arithmetic with a Python float
        # gives float64, as Whoosh's scores are.
        if weights.dtype.kind == "f":
            weights = weights.astype(np.float64)
        return ids, weights

    def close(self) -> None:
        self._closer()


def segment_arrays(reader) -> SegmentArrays | None:
    """The arrays file of a segment reader's segment, opened; None when it has none."""
    storage, segment = getattr(reader, "_storage", None), getattr(reader, "_segment", None)
    folder = getattr(storage, "folder", None)
    if folder is None or segment is None:
        return None
    path = os.path.join(folder, segment.make_filename(ARRAYS_EXT))
    if not os.path.exists(path):
        return None
    return SegmentArrays(path)


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
