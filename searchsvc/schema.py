"""The index schema: which fields a document has and how each is analysed and stored.

The schema (analyzer included) is pickled into the index by Whoosh, so it is part of the
on-disk format: ``INDEX_FORMAT`` and the analyzer version are stored beside it and checked.
"""

from __future__ import annotations

from whoosh import fields, formats

from searchsvc.analysis import ANALYZER_VERSION, FrenchAnalyzer

# Bump when the schema changes (fields added, removed or configured differently).
INDEX_FORMAT = 2

# The version an index must carry to be read by this code.
VERSION = f"{INDEX_FORMAT}.{ANALYZER_VERSION}"

# Fields a query may name (``title:word``), with French aliases people type.
TEXT_FIELDS = ("title", "body")
FIELD_ALIASES = {
    "title": "title",
    "titre": "title",
    "body": "body",
    "texte": "body",
    "source": "source",
}


class VariantsField(fields.FieldType):
    """Index-only field of ``"folded accented"`` pairs: which accented words the corpus has."""

    def __init__(self) -> None:
        super().__init__(formats.Existence(), FrenchAnalyzer("variants"), scorable=False)


def build_schema() -> fields.Schema:
    """Return the schema every searchsvc index is built with."""
    return fields.Schema(
        id=fields.ID(stored=True, unique=True, sortable=True),
        hash=fields.ID(stored=True, sortable=True),
        path=fields.ID(stored=True, sortable=True),
        title=fields.TEXT(analyzer=FrenchAnalyzer(), stored=True),
        body=fields.TEXT(analyzer=FrenchAnalyzer(), stored=True),
        variants=VariantsField(),
        url=fields.STORED(),
        date=fields.ID(stored=True, sortable=True),
        source=fields.ID(stored=True),
    )
