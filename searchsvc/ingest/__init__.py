"""The path of a document: corpus formats read into documents, and the indexer that writes
them into a new index generation and publishes it."""
