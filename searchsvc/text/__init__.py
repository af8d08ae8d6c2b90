"""The French analyzer: from raw text to the terms a document is indexed under and a query
is matched by (exact forms, stems, lemma stems, elisions, accent variants).

``analysis`` is the analyzer itself, ``variants`` spells the accent variant terms, and
``whoosh_analyzer`` is the thin adapter the index schema holds."""
