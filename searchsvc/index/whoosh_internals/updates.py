"""An incremental update's writer: deletions through Whoosh's writer, new documents
through a :class:`~searchsvc.index.whoosh_internals.writing.SegmentBuilder`, one table of
contents."""

from __future__ import annotations

from searchsvc.index.whoosh_internals.merging import tiered_merge
from searchsvc.index.whoosh_internals.writing import SegmentBuilder, new_codec


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
