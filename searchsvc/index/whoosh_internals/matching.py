"""Whoosh's exclusion matcher (``AndNotMatcher``), its first document fixed."""

from __future__ import annotations

from whoosh.matching import AndNotMatcher


class ExcludingMatcher(AndNotMatcher):
    """Whoosh's ``AndNotMatcher`` with its start fixed: Whoosh checks the first document
    only when both sides start on the same one, so when the excluded side starts earlier,
    the first document of each segment was kept even if it had an excluded word."""

    def _find_first(self):
        if self.a.is_active() and self.b.is_active():
            self._find_next()
