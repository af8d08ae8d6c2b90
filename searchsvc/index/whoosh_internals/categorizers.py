"""Whoosh's column categorizer (sorting and facets) given a column reader of ours."""

from __future__ import annotations


def use_column_reader(categorizer, open_column) -> None:
    """Make a Whoosh ``ColumnCategorizer`` read its column from ``open_column(fieldname,
    reverse)`` (a cached reader, say) instead of the one it would open per segment: it keeps
    its field, direction and reader in private attributes."""
    categorizer._creader = open_column(categorizer._fieldname, categorizer._reverse)
