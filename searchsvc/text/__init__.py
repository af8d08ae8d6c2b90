"""The French analyzer: from raw text to the terms a document is indexed under and a query
is matched by (exact forms, stems, lemma stems, elisions, accent variants)."""
