"""What is on disk and how it is read: the schema, the generations and their manifests, the
segment files (the only code that touches Whoosh's private internals) and the caches that
live as long as an index reader."""
