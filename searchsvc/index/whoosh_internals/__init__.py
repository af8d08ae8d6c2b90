"""Where searchsvc reaches into Whoosh's private internals, checked against the pinned version.

Each module here does one job that needs Whoosh's private names or behaviour:
:mod:`.writing` writes new segments and :mod:`.values` the bytes of a posting's value and a
field's length, :mod:`.updates` writes an incremental update, :mod:`.merging` merges
segments, :mod:`.multiprocess` runs a build in helper processes, :mod:`.abandoning` gives a
failed writer up, :mod:`.reading` reads positions, lengths and columns in bulk,
:mod:`.reopening` opens a new generation keeping its unchanged segments' readers,
:mod:`.matching` fixes Whoosh's exclusion matcher, :mod:`.segment_keys` names a segment
whichever reader reads it, and :mod:`.categorizers` gives Whoosh's sorting a column reader
of ours. Outside this package only :mod:`searchsvc.index.codec`, itself a Whoosh codec,
touches Whoosh's internals (and takes the names it imports from here).

The package imports only on the Whoosh version it was written against, so an upgrade fails
at start-up, not while writing or reading an index: the check below runs before any of its
modules, whichever is imported first. Nothing is re-exported here: each name is imported
from the module that owns it.
"""

from __future__ import annotations

import whoosh

PINNED_WHOOSH = (2, 7, 5)
if tuple(whoosh.__version__[:3]) != PINNED_WHOOSH:  # pragma: no cover - guards upgrades
    raise ImportError(
        f"searchsvc needs Whoosh {'.'.join(map(str, PINNED_WHOOSH))} (whoosh-reloaded), found "
        f"{whoosh.versionstring()}: searchsvc.index.whoosh_internals uses its private internals"
    )
