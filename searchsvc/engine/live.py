"""The live index of one index folder, kept open and checked while it is served.

:class:`LiveIndex` opens the generation ``CURRENT`` names after checking its files against
their SHA-256 (hashing only those its verification record does not vouch for, see
:class:`~searchsvc.index.storage.Verifier`: the indexer's hashing serves every worker), checks
them again (by a ``stat``) at most every ``verify_every`` seconds, and
follows reindexing on its own: a new generation is opened in place of the old one, a commit to
the open one gets a new searcher. A read error becomes :class:`~searchsvc.errors.IndexDamagedError`
when a file no longer matches, so a damaged index answers "damaged", never wrongly.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from whoosh import collectors, scoring
from whoosh import index as whoosh_index
from whoosh.searching import Searcher

from searchsvc import errors
from searchsvc.index import storage
from searchsvc.index.caches import forget_readers
from searchsvc.index.whoosh_internals.reading import ArraysFileError
from searchsvc.index.whoosh_internals.reopening import reader_reusing
from searchsvc.settings import VERIFY_EVERY_S


class GiveUpTurn(Exception):
    """Raised by a user of the searcher to give its turn up (a search found heavier than it
    may run in its turn); :meth:`LiveIndex.searcher` lets it through untouched."""


class _Turns:
    """A reentrant lock whose waiting holders take turns by urgency: a waiting urgent
    holder (a search) always goes before a waiting patient one (a heavy search), so heavy
    searches run between the others, never ahead of one that waits."""

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._urgent_waiting = 0

    @contextmanager
    def hold(self, urgent: bool = True) -> Iterator[None]:
        """Hold the lock (again, if this thread holds it already)."""
        me = threading.get_ident()
        with self._cond:
            if self._owner != me:
                if urgent:
                    self._urgent_waiting += 1
                    try:
                        while self._owner is not None:
                            self._cond.wait()
                    finally:
                        self._urgent_waiting -= 1
                else:
                    while self._owner is not None or self._urgent_waiting:
                        self._cond.wait()
                self._owner = me
            self._depth += 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if not self._depth:
                    self._owner = None
                    self._cond.notify_all()


class LiveIndex:
    """The open live generation of ``root`` and its one searcher, shared by threads in turn.

    One searcher per process, used by one thread at a time: Whoosh keeps a copy of what a
    reader opens in memory, so a searcher per thread multiplied that, and its file readers
    are not thread-safe. Searches are CPU-bound under the GIL, so taking turns costs little.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        verify_every: float = VERIFY_EVERY_S,
        on_new_searcher: Callable[[], None] = lambda: None,
    ):
        """``verify_every``: seconds between two checks of the live index's files;
        ``on_new_searcher``: called whenever the searcher is replaced (what was derived from
        the old one, such as cached result pages, is stale)."""
        self.root = Path(root)
        self.verify_every = verify_every
        self._on_new_searcher = on_new_searcher
        self._lock = threading.Lock()  # guards what is open
        self._use = _Turns()  # one user of the searcher at a time, urgent ones first
        self._searcher: Searcher | None = None
        self._searcher_epoch = 0
        self._ix: whoosh_index.Index | None = None
        self._generation: storage.Generation | None = None
        self._epoch = 0
        self._reuse = False
        self._verifier = storage.Verifier()
        self._verified_at = 0.0
        # The files the open index was opened from: a file replaced in place (a damaged
        # generation copied again) makes the index open afresh.
        self._opened_files: dict[str, tuple[int, int] | None] = {}

    @contextmanager
    def searcher(self, urgent: bool = True) -> Iterator[Searcher]:
        """Yield the searcher, brought up to date with the index on disk; one user at a time,
        those waiting with ``urgent`` (the default) before those waiting without."""
        with self._use.hold(urgent), self._reading():
            ix, epoch, reuse = self._index()
            current = self._searcher
            if current is None or self._searcher_epoch != epoch or not current.up_to_date():
                # Not Searcher.refresh(): it reuses segment readers by segment id, so they
                # keep stale deletions (updated and deleted documents still match), and it
                # shares them with the old searcher, so closing that one breaks the new one.
                # reader_reusing keeps only unchanged segments' readers, and says which of
                # the old ones to close.
                old = current.reader() if current is not None else None
                reader, unused = reader_reusing(ix, old if reuse else None)
                current = Searcher(
                    reader, weighting=scoring.BM25F(), closereader=False, fromindex=ix
                )
                self._searcher, self._searcher_epoch = current, epoch
                if old is not None:
                    closed = unused if reuse else [leaf for leaf, _o in old.leaf_readers()]
                    forget_readers(closed)
                    for leaf in unused if reuse else [old]:
                        leaf.close()
                self._on_new_searcher()
            yield current

    def stats(self) -> dict:
        """Documents, generation and format version of the live index, from its metadata.

        It never waits for the searcher, so a health check answers however busy searches are;
        it raises :class:`~searchsvc.errors.IndexStateError` when no usable index is live,
        :class:`~searchsvc.errors.IndexDamagedError` when one of its files changed.
        """
        generation = storage.current(self.root)
        self._verifier.check(generation)
        return {
            "documents": generation.meta.get("documents", 0),
            "generation": generation.name,
            "index_version": generation.meta.get("version"),
            "updated": generation.meta.get("updated"),
        }

    def close(self) -> None:
        """Release the searcher and the index."""
        with self._use.hold():
            if self._searcher is not None:
                self._searcher.close()
                reader = self._searcher.reader()  # searchers here leave their reader open
                forget_readers([leaf for leaf, _offset in reader.leaf_readers()])
                reader.close()
                self._searcher = None
        with self._lock:
            if self._ix is not None:
                self._ix.close()
                self._ix = None
                self._generation = None

    def _index(self) -> tuple[whoosh_index.Index, int, bool]:
        """Return the open live index, reopening it when a new generation went live, with the
        number of times one was opened (a new number means a new searcher is due) and whether
        the old searcher's unchanged segment readers may serve the new one (not when the
        index was opened afresh because one of its files was replaced)."""
        name = storage.current_name(self.root)
        with self._lock:
            if self._ix is None or self._generation is None or name != self._generation.name:
                self._open_live(storage.current(self.root), reuse=self._generation is not None)
            elif time.monotonic() - self._verified_at >= self.verify_every:
                self._verifier.check(self._generation)
                self._verified_at = time.monotonic()
                if storage.file_ids(self._generation) != self._opened_files:
                    self._open_live(self._generation, reuse=False)
            return self._ix, self._epoch, self._reuse

    def _open_live(self, generation: storage.Generation, reuse: bool) -> None:
        """Check and open ``generation`` in place of what is open; with ``self._lock`` held.
        ``reuse``: whether the next searcher may keep the current one's unchanged segments."""
        self._verifier.check(generation)
        ix = _open(generation)
        if self._ix is not None:
            self._ix.close()
        self._ix, self._generation = ix, generation
        self._opened_files = storage.file_ids(generation)
        self._verified_at = time.monotonic()
        self._epoch += 1
        self._reuse = reuse

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Turn an error Whoosh raises while reading a damaged file into
        :class:`~searchsvc.errors.IndexDamagedError`.

        Decoding a damaged posting or term file fails in many ways (``Block tag error``,
        ``IndexError``, ``struct.error``, ``zlib.error``...), so on any unexpected error the
        live generation's files are checked again, hashing each one: if one no longer
        matches its SHA-256, that is the error to report. If all match but one was replaced
        since it was opened (a damaged file copied again), the read failed on the old file:
        the index is opened afresh at the next request, and this one is told to retry. A
        postings arrays file that matches yet cannot be read (written by another version) is
        reported as damage too, with the rebuild to run. Otherwise the original error is a
        bug and is raised as it is.
        """
        try:
            yield
        except (errors.SearchsvcError, collectors.TimeLimit, GiveUpTurn):
            raise
        except ArraysFileError as e:
            self._raise_if_damaged()
            # Whole, as written, yet unreadable: from another version, or written wrong.
            raise errors.IndexDamagedError(
                f"the index cannot be read ({e.file}: {e.reason}); run `searchsvc index "
                "--full` to rebuild it"
            ) from None
        except Exception:
            self._raise_if_damaged()
            raise

    def _raise_if_damaged(self) -> None:
        """After a read error: raise :class:`~searchsvc.errors.IndexDamagedError` when a
        file of the live generation no longer matches its SHA-256, or was replaced since it
        was opened (then the index is opened afresh at the next request)."""
        generation = self._generation
        if generation is None:
            return
        try:
            self._verifier.check(generation, fresh=True)
        except errors.IndexDamagedError as damaged:
            raise damaged from None
        if storage.file_ids(generation) != self._opened_files:
            with self._lock:
                self._generation = None  # open it afresh at the next request
            raise errors.IndexDamagedError(
                f"a file of the index {generation.name} was replaced while it was read; retry"
            ) from None


def _open(generation: storage.Generation) -> whoosh_index.Index:
    try:
        return whoosh_index.open_dir(generation.path)
    except Exception as e:  # the manifest matched, yet Whoosh cannot read it
        raise errors.IndexDamagedError(
            f"the index {generation.name} cannot be opened ({e}); "
            "run `searchsvc index --full` to rebuild it"
        ) from e
