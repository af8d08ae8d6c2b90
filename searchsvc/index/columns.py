"""Column readers kept open per index segment, for facet counts and sorting.

Whoosh opens a fresh column reader for every segment of every search that groups or sorts
by a column, a cost paid per segment at every search (its measure on the bench index is in
bench/RESULTS.md). A segment never changes once written, so its readers can be reused for
as long as the segment reader that opened them lives.
"""

from __future__ import annotations

import numpy as np
from whoosh import sorting

from searchsvc.index.caches import Key, per_reader, per_segment
from searchsvc.index.whoosh_internals.categorizers import use_column_reader


def column_reader(segment_reader, fieldname: str, reverse: bool = False):
    """The column reader of ``fieldname`` in one segment, opened once per segment reader."""
    return per_reader(
        segment_reader,
        (Key.COLUMN, fieldname, reverse),
        lambda: segment_reader.column_reader(fieldname, reverse=reverse, translate=False),
    )


def column_values(segment_reader, fieldname: str) -> list:
    """Every document's value of ``fieldname`` in one segment, read once per segment (the
    next generation, which shares it, finds them read)."""
    return per_segment(
        segment_reader,
        (Key.VALUES, fieldname),
        lambda: list(segment_reader.column_reader(fieldname)),
    )


def column_codes(segment_reader, fieldname: str, key=None):
    """Every document's value of ``fieldname`` in one segment as ``(codes, names)``: an array
    of small integers, one per document, and the value each stands for; counting values
    over many documents is then one ``bincount``. With ``key`` (a module-level function),
    the values are ``key(value)`` (a date's year). Read once per segment."""

    def make():
        names: dict = {}
        values = column_values(segment_reader, fieldname)
        if key is not None:
            values = map(key, values)
        codes = [names.setdefault(v, len(names)) for v in values]
        return np.array(codes, dtype=np.intp), list(names)

    return per_segment(segment_reader, (Key.CODES, fieldname, key), make)


def id_ranks(reader) -> np.ndarray:
    """For each document (global number) of the index reader, the rank of its id among all
    the reader's ids: a key for equal scores or dates that does not depend on how a build
    laid the documents into segments. Made once per reader, from each segment's id column
    (read once per segment)."""

    def make() -> np.ndarray:
        ids: list = []
        for leaf, _offset in reader.leaf_readers():  # in the order of their offsets
            if leaf.has_column("id"):
                ids.extend(column_values(leaf, "id"))
            else:  # an index written before ids had a column: the stored ones
                stored = (leaf.stored_fields(n) for n in range(leaf.doc_count_all()))
                ids.extend(fields.get("id", "") for fields in stored)
        order = np.argsort(np.array(ids, dtype=str), kind="stable")
        ranks = np.empty(len(ids), dtype=np.intp)
        ranks[order] = np.arange(len(ids), dtype=np.intp)
        return ranks

    return per_reader(reader, Key.ID_RANKS, make)


class _Categorizer(sorting.ColumnCategorizer):
    def set_searcher(self, segment_searcher, docoffset):
        reader = segment_searcher.reader()
        use_column_reader(self, lambda field, reverse: column_reader(reader, field, reverse))


class FieldFacet(sorting.FieldFacet):
    """Whoosh's ``FieldFacet`` for a sortable (column) field, with cached column readers."""

    def categorizer(self, global_searcher):
        fieldobj = global_searcher.schema[self.fieldname]
        reversible = fieldobj.column_type.reversible or not self.reverse
        if self.allow_overlap or not reversible:
            return super().categorizer(global_searcher)
        if not global_searcher.reader().has_column(self.fieldname):
            return super().categorizer(global_searcher)
        return _Categorizer(global_searcher, self.fieldname, self.reverse)
