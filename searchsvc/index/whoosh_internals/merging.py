"""Merging segments: which to merge (a tiered policy), and the merge itself, each term's
postings as arrays."""

from __future__ import annotations

import os

import numpy as np
from whoosh.filedb.filestore import FileStorage
from whoosh.reading import SegmentReader

from searchsvc import settings
from searchsvc.index import codec as packed
from searchsvc.index.whoosh_internals.writing import new_codec


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
    tier holding :data:`MERGE_FACTOR` segments (see there). The settings are read at each
    call, so that a test may make tiers of a few segments."""
    factor, floor, most = settings.MERGE_FACTOR, settings.MERGE_FLOOR_DOCS, settings.MERGE_MAX_DOCS
    tiers: dict[int, list] = {}
    for seg in segments:
        if seg.doc_count() == 0 or seg.doc_count_all() > most:
            continue
        tier, bound = 0, floor
        while seg.doc_count_all() > bound:
            tier, bound = tier + 1, bound * factor
        tiers.setdefault(tier, []).append(seg)
    for tier in sorted(tiers):
        group = tiers[tier]
        if len(group) >= factor and sum(s.doc_count() for s in group) <= most:
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


def index_segments(ix) -> list:
    """The segments of an open index, as its table of contents lists them (Whoosh's index
    gives them by a private method)."""
    return ix._segments()
