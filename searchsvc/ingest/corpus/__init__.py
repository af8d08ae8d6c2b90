"""Read documents from a corpus folder: plain text, Markdown, HTML, PDF, OpenDocument, Word
and JSON Lines files.

This package does no indexing; it only turns files into documents and reports every file (or
JSONL line) it had to leave out through an ``on_skip`` callback. Each format's reader
(:mod:`~searchsvc.ingest.markdown`, :mod:`~searchsvc.ingest.html`,
:mod:`~searchsvc.ingest.office`) says what the file gives; this package makes the one
mapping of it into a document: title, body, date (:mod:`~searchsvc.ingest.dates`), source,
url, and reports what it had to drop.

Its modules, each imported from directly (nothing is re-exported here): :mod:`.documents`
(:class:`~.documents.Document` and the reports, :class:`~.documents.Skipped`),
:mod:`.text` (a file's text made plain, split into title and body), :mod:`.files` (one file
into documents, JSON Lines read there) and :mod:`.walk` (the corpus walked,
:func:`~.walk.read_corpus`).
"""
