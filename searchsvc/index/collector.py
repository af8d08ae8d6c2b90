"""Python's cycle collector held off while a unit of documents is written.

Writing documents allocates millions of short-lived objects, and every few thousand of them
the collector runs; every tenth run or so walks every object the process holds (the analysis
caches, the lemma table, Whoosh's readers) though none of them is garbage. In the journal
writer that was about 15 % of a batch's CPU (bench/RESULTS.md, "The writer's CPU, and what
pushing costs searches"), for a few thousand objects in cycles a batch. So a unit of work (a
pushed batch, a helper's share of a full build) runs with the collector off; after it, the
young objects are collected, and the whole heap once every :data:`FULL_COLLECTION_S`.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager

from searchsvc.settings import FULL_COLLECTION_S

_last_full = time.monotonic()


@contextmanager
def deferred() -> Iterator[None]:
    """Run the block with the cycle collector off, then collect what it left (see the
    module's docstring). Nested or with the collector already off, it changes nothing."""
    global _last_full
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        now = time.monotonic()
        if now - _last_full >= FULL_COLLECTION_S:
            gc.collect()
            _last_full = now
        else:
            gc.collect(1)
