"""Every setting in one place: where the service reads and listens (:class:`Settings`, from
``SEARCHSVC_*`` environment variables), and below it the limits, budgets and cache sizes the
code obeys, each with why it has its value."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number (got {raw!r})") from None


@dataclass(frozen=True)
class Settings:
    """Where the corpus and index live and how the service listens."""

    corpus: Path = Path("corpus")
    index: Path = Path("index")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2

    @classmethod
    def from_env(cls) -> Settings:
        """Read ``SEARCHSVC_CORPUS``, ``SEARCHSVC_INDEX``, ``SEARCHSVC_HOST``, ``SEARCHSVC_PORT``,
        ``SEARCHSVC_WORKERS``; unset ones keep their defaults."""
        env = os.environ
        return cls(
            corpus=Path(env.get("SEARCHSVC_CORPUS") or cls.corpus),
            index=Path(env.get("SEARCHSVC_INDEX") or cls.index),
            host=env.get("SEARCHSVC_HOST") or cls.host,
            port=_env_int("SEARCHSVC_PORT", cls.port),
            workers=_env_int("SEARCHSVC_WORKERS", cls.workers),
        )


# -- searching -----------------------------------------------------------------------------

# Results a page may hold.
MAX_PER_PAGE = 100
# Deepest result a page may reach (page x per_page): deep paging costs scoring every hit.
MAX_RESULT_WINDOW = 10_000
# Completions a search box may ask for.
MAX_COMPLETIONS = 10
# Values of a facet counted and shown, most frequent first.
MAX_FACET_VALUES = 10
# Years a result page counts its results in, at most.
MAX_YEARS = 50
# "More like this": how many documents, from how many key terms of how much text.
MAX_SIMILAR = 20
SIMILAR_TERMS = 20
SIMILAR_TEXT_CHARS = 20_000
# "Did you mean" is looked for only when a query finds fewer results than this.
SUGGEST_BELOW = 10
# Index words the prefixes (``prési*``) of one query may stand for in all (title and body apart).
# Each is a posting list to merge: on the 30,000-document bench index ``pre*`` (903 words)
# took 2 s through Whoosh, and 35 two-letter prefixes OR'ed (9,089 words) took 45 s.
MAX_PREFIX_TERMS = 1_000
# Seconds one search may spend matching documents (its fallbacks, counts and did-you-mean
# included) before it is refused; time spent waiting for the searcher does not count.
SEARCH_TIME_LIMIT = 2.0

# -- serving -------------------------------------------------------------------------------

# Result pages kept per process, so a repeated search (a reload, the back button, a popular
# query) costs a dictionary look-up until the index changes.
RESULT_PAGES_CACHED = 256
# Titles a served worker reads and analyses before its first request (SearchEngine.warm_up):
# all of them on the 30,508-document bench index, in about 2 s.
WARM_TITLES = 50_000
# Seconds between two checks of the live index's files while serving (a stat of each file;
# a file whose size or time changed is hashed again).
VERIFY_EVERY_S = 1.0
