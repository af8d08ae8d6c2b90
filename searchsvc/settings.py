"""Every setting in one place: where the service reads and listens (:class:`Settings`, from
``SEARCHSVC_*`` environment variables), and below it the limits, budgets and cache sizes the
code obeys, each with why it has its value."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path


def _env_int(name: str, default: int, low: int, high: int | None = None) -> int:
    """The whole number in environment variable ``name`` (blank or unset: ``default``),
    checked to lie in ``low..high``; ValueError with one line naming the variable if not."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number (got {raw!r})") from None
    if value < low or (high is not None and value > high):
        between = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise ValueError(f"{name} must be {between} (got {value})")
    return value


def _env_networks(name: str) -> tuple[str, ...]:
    """A comma-separated list of IP addresses or networks from the environment, each checked;
    ValueError with one line naming the variable and the entry if one is neither."""
    entries = tuple(e.strip() for e in os.environ.get(name, "").split(",") if e.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{name}: {entry!r} is not an IP address or network") from None
    return entries


def _env_switch(name: str, default: bool) -> bool:
    """An on/off setting from the environment (``on``/``off``, also ``1``/``0``, ``true``/
    ``false``, ``yes``/``no``, in any case; blank or unset: ``default``); ValueError with one
    line naming the variable otherwise."""
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("on", "1", "true", "yes"):
        return True
    if raw in ("off", "0", "false", "no"):
        return False
    raise ValueError(f"{name} must be on or off (got {os.environ[name]!r})")


def _env_key(name: str) -> str | None:
    """A secret key from the environment, or from the file ``<name>_FILE`` names (a Docker or
    systemd secret: the key stays out of the process's environment), or None when neither is
    set or the value is blank; ValueError with one line (never the key itself) when both are
    set, the file cannot be read, or the key is too short to resist guessing or is not
    printable ASCII (an HTTP header carries it)."""
    raw = (os.environ.get(name) or "").strip()
    key_file = (os.environ.get(f"{name}_FILE") or "").strip()
    if key_file:
        if raw:
            raise ValueError(f"set {name} or {name}_FILE, not both")
        try:
            with open(key_file, encoding="ascii", errors="replace") as fh:
                raw = fh.read(MAX_KEY_FILE_BYTES + 1).strip()
        except OSError as e:
            raise ValueError(f"{name}_FILE cannot be read: {e.strerror} ({key_file})") from None
        if not raw or len(raw) > MAX_KEY_FILE_BYTES:
            raise ValueError(f"{name}_FILE must hold one key of a line ({key_file})")
    if not raw:
        return None
    if len(raw) < MIN_ADMIN_KEY_CHARS or not all("!" <= c <= "~" for c in raw):
        raise ValueError(
            f"{name} must be at least {MIN_ADMIN_KEY_CHARS} printable ASCII characters "
            "without spaces (try: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return raw


# A path prefix the pages are served under (SEARCHSVC_BASE_PATH, a trusted proxy's
# X-Forwarded-Prefix): one or more segments of unreserved URL characters, so that it can be put
# in any link as it is (no "//", which a browser reads as another host, no "..", no quote).
BASE_PATH_PATTERN = re.compile(r"(?:/(?![.]{1,2}(?:/|$))[A-Za-z0-9._~-]+)+")
# An origin allowed to frame the pages (SEARCHSVC_FRAME_ANCESTORS): scheme, host, port only.
ORIGIN_PATTERN = re.compile(r"https?://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?")
# A stylesheet's address (SEARCHSVC_THEME_CSS): https, printable, nothing that would end an
# attribute or a CSP source (quotes, <, >, ;, comma, backslash).
THEME_URL_PATTERN = re.compile(
    r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/[^\x00-\x20\x7f-\uffff\"'<>;,\\]*"
)
# The page's name (SEARCHSVC_SITE_NAME): shown in its header and every title, so short.
MAX_SITE_NAME_CHARS = 80


def base_path(value: str) -> str | None:
    """``value`` as a path prefix (``/recherche/`` -> ``/recherche``; ``/`` or blank -> ``""``),
    or None when it is not one (see :data:`BASE_PATH_PATTERN`)."""
    value = value.strip().rstrip("/")
    if not value:
        return ""
    return value if BASE_PATH_PATTERN.fullmatch(value) else None


def _env_base_path(name: str) -> str:
    """A path prefix from the environment (``""``: none); ValueError with one line naming the
    variable if it is not one."""
    raw = os.environ.get(name) or ""
    value = base_path(raw)
    if value is None:
        raise ValueError(
            f"{name} must be a path such as /recherche (letters, digits, - . _ ~ between "
            f"slashes; got {raw!r})"
        )
    return value


def _env_origins(name: str) -> tuple[str, ...]:
    """A comma-separated list of web origins (``https://www.example.fr``, a port allowed,
    nothing after it); ValueError with one line naming the variable and the entry if one is
    not."""
    entries = tuple(e.strip().rstrip("/") for e in os.environ.get(name, "").split(","))
    for entry in entries:
        if entry and not ORIGIN_PATTERN.fullmatch(entry):
            raise ValueError(f"{name}: {entry!r} is not an origin such as https://www.example.fr")
    return tuple(e for e in entries if e)


def _env_site_name(name: str, default: str) -> str:
    """The page's name from the environment (blank or unset: ``default``); ValueError with one
    line if it is too long or holds control characters."""
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    if len(raw) > MAX_SITE_NAME_CHARS or not raw.isprintable():
        raise ValueError(
            f"{name} must be printable text of {MAX_SITE_NAME_CHARS} characters at most"
        )
    return raw


def _env_theme(name: str) -> str | None:
    """A stylesheet from the environment: an ``https://`` address, or the path of a file that
    exists; None when unset; ValueError with one line otherwise."""
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return None
    if raw.startswith("https://"):
        if not THEME_URL_PATTERN.fullmatch(raw):
            raise ValueError(f"{name}: {raw!r} is not an https:// address of a stylesheet")
        return raw
    if not Path(raw).is_file():
        raise ValueError(f"{name}: no file {raw!r} (a stylesheet's path or https:// address)")
    return raw


# What SEARCHSVC_PORT and SEARCHSVC_WORKERS may be: a TCP port, and one worker at least.
PORTS = (1, 65535)
MIN_WORKERS = 1
# Days of search analytics kept (SEARCHSVC_ANALYTICS_DAYS): a month shows what people look
# for without keeping their queries longer than that needs; ten years at most.
ANALYTICS_DAYS = 30
ANALYTICS_DAYS_RANGE = (1, 3650)
# The admin key (SEARCHSVC_ADMIN_KEY) opens /api/stats and /metrics: at least this long, so
# that it cannot be guessed over the network (16 random characters are over 90 bits).
MIN_ADMIN_KEY_CHARS = 16
# Bytes read of a key file (SEARCHSVC_ADMIN_KEY_FILE, SEARCHSVC_SEARCH_KEY_FILE): a key is a
# line, a few dozen characters; a file larger than this holds something else and is refused.
MAX_KEY_FILE_BYTES = 1024


@dataclass(frozen=True)
class Settings:
    """Where the corpus and index live and how the service listens."""

    corpus: Path = Path("corpus")
    index: Path = Path("index")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    # Proxies (addresses or networks) whose X-Forwarded-For names the client; none trusted.
    trusted_proxies: tuple[str, ...] = ()
    # Search analytics kept beside the index (searchsvc.analytics), and for how many days.
    analytics: bool = True
    analytics_days: int = ANALYTICS_DAYS
    # The key /api/stats and /metrics ask for (Authorization: Bearer); None: stats are off.
    # Never shown: it is left out of the settings' repr.
    admin_key: str | None = field(default=None, repr=False)
    # The key reads ask for too (SEARCHSVC_SEARCH_KEY): None, the default, leaves them open.
    search_key: str | None = field(default=None, repr=False)
    # A synonyms file in Solr's format, applied to queries (searchsvc.query.synonyms); None: none.
    synonyms: Path | None = None
    # Living inside a site (docs/site.md, "Behind your nginx"): the path prefix the pages are
    # served under, titles linking to the documents' own addresses, full texts kept private (no
    # /doc page, no body in /api/documents), the page's name, a stylesheet overriding its
    # colours, and the origins that may frame the pages.
    base_path: str = ""
    link_to_url: bool = False
    private_texts: bool = False
    site_name: str = "searchsvc"
    theme_css: str | None = None
    frame_ancestors: tuple[str, ...] = ()
    # The origins whose pages may call the JSON API from a browser (CORS: /searchbox.js on
    # another site); none by default.
    allowed_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> Settings:
        """Read ``SEARCHSVC_CORPUS``, ``SEARCHSVC_INDEX``, ``SEARCHSVC_HOST``, ``SEARCHSVC_PORT``,
        ``SEARCHSVC_WORKERS``, ``SEARCHSVC_TRUSTED_PROXIES``, ``SEARCHSVC_ANALYTICS``,
        ``SEARCHSVC_ANALYTICS_DAYS``, ``SEARCHSVC_ADMIN_KEY`` and ``SEARCHSVC_SEARCH_KEY`` (or
        their ``…_FILE``), ``SEARCHSVC_SYNONYMS`` (a path,
        read and checked by its users), ``SEARCHSVC_BASE_PATH``, ``SEARCHSVC_LINK_TO_URL``,
        ``SEARCHSVC_PRIVATE_TEXTS``, ``SEARCHSVC_SITE_NAME``, ``SEARCHSVC_THEME_CSS``,
        ``SEARCHSVC_FRAME_ANCESTORS``, ``SEARCHSVC_ALLOWED_ORIGINS``; unset ones keep their
        defaults.
        A number that is not one, out of range, or a proxy that is no address raises
        ValueError with one line naming the variable."""
        env = os.environ
        return cls(
            corpus=Path(env.get("SEARCHSVC_CORPUS") or cls.corpus),
            index=Path(env.get("SEARCHSVC_INDEX") or cls.index),
            host=env.get("SEARCHSVC_HOST") or cls.host,
            port=_env_int("SEARCHSVC_PORT", cls.port, *PORTS),
            workers=_env_int("SEARCHSVC_WORKERS", cls.workers, MIN_WORKERS),
            trusted_proxies=_env_networks("SEARCHSVC_TRUSTED_PROXIES"),
            analytics=_env_switch("SEARCHSVC_ANALYTICS", cls.analytics),
            analytics_days=_env_int(
                "SEARCHSVC_ANALYTICS_DAYS", cls.analytics_days, *ANALYTICS_DAYS_RANGE
            ),
            admin_key=_env_key("SEARCHSVC_ADMIN_KEY"),
            search_key=_env_key("SEARCHSVC_SEARCH_KEY"),
            synonyms=Path(env["SEARCHSVC_SYNONYMS"]) if env.get("SEARCHSVC_SYNONYMS") else None,
            base_path=_env_base_path("SEARCHSVC_BASE_PATH"),
            link_to_url=_env_switch("SEARCHSVC_LINK_TO_URL", cls.link_to_url),
            private_texts=_env_switch("SEARCHSVC_PRIVATE_TEXTS", cls.private_texts),
            site_name=_env_site_name("SEARCHSVC_SITE_NAME", cls.site_name),
            theme_css=_env_theme("SEARCHSVC_THEME_CSS"),
            frame_ancestors=_env_origins("SEARCHSVC_FRAME_ANCESTORS"),
            allowed_origins=_env_origins("SEARCHSVC_ALLOWED_ORIGINS"),
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


@dataclass(frozen=True)
class QueryCost:
    """Seconds each thing a query reads costs (see searchsvc.engine.ranking.Cost), measured on
    the bench index (``bench/expensive_clients.py --calibrate``, which prints every query's
    estimate beside its time): they are what MAX_QUERY_SECONDS is compared with."""

    base: float = 0.002  # parsing, building the query, the facets
    term: float = 60e-6  # a term looked up and scattered into arrays (term-wise)
    posting: float = 0.05e-6  # a posting scattered into arrays (term-wise)
    whoosh_term: float = 0.3e-3  # a term's matcher in Whoosh (sort by date, source: words)
    whoosh_posting: float = 4e-6  # a posting through Whoosh's matchers (sorted by date)
    # A posting's positions read and compared (phrases): arrays of the codec, compared with
    # numpy, far cheaper than unpickling each posting's positions as before (the figures:
    # bench/RESULTS.md, "Figures once quoted in the code").
    position: float = 0.2e-6
    kept: float = 1e-6  # a document kept among the best by Whoosh (deep pages)
    shown: float = 1e-3  # a hit shown: its stored fields, snippet and title


QUERY_COST = QueryCost()
# A search whose estimated time (QUERY_COST) is over this is refused at once with
# query_too_expensive, before it runs: long before SEARCH_TIME_LIMIT, so one client cannot
# make a worker spend 2 s a request. Calibrated on the bench index (30,508 documents, 2 shared
# cores) by bench/expensive_clients.py --calibrate, which prints each query's estimate beside
# its time: none of the 1,000 bench queries is refused, nor on the bench corpus repeated 10x
# (305,080 documents), nor the first 300 sorted by date; 40 or 50 common words, 10 OR'ed
# phrases of common words, `con* fic*` are refused at once; the most expensive of each kind
# accepted (20 common words, 5 phrases, 100 hits a page, page 100 x 100, prefixes, `utiliser`
# by date) stay far below SEARCH_TIME_LIMIT. The estimates and times measured:
# bench/RESULTS.md, "Figures once quoted in the code".
MAX_QUERY_SECONDS = 0.15
# Served, a search estimated to take longer than this is heavy: it waits apart, runs one at a
# time per worker and only when no other search waits (see searchsvc.web.security), so that
# a client sending heavy ones cannot make cheap ones wait behind them. It lies above the
# bench queries' estimates at the median and at p99, so only a few of the 1,000 are heavy
# (quoted phrases of stop words) (bench/RESULTS.md, "Figures once quoted in the code").
HEAVY_QUERY_SECONDS = 0.03

# -- the engine in a served worker ---------------------------------------------------------

# Result pages kept per process, so a repeated search (a reload, the back button, a popular
# query) costs a dictionary look-up until the index changes.
RESULT_PAGES_CACHED = 256
# Titles a served worker reads and analyses before its first request (SearchEngine.warm_up):
# all of them on the 30,508-document bench index, in about 2 s.
WARM_TITLES = 50_000
# Python's cycle collector in a served worker: what the warm-up read (the titles' analyses,
# a quarter of a million objects, none of them in a cycle) is frozen out of its walks, and a
# full collection waits for this many younger ones (Python's default is 10). Each full one
# walks every object the caches hold, 0.15-0.44 s on the bench index, six times per 2,000
# searches, while the worker answers nobody; searchers and readers a new generation replaces
# hold no cycle, so waiting keeps nothing large alive (bench/RESULTS.md,
# "The search path's CPU and the collector's pauses").
WORKER_FULL_COLLECTION_EVERY = 50
# Seconds between two checks of the live index's files while serving (a stat of each file;
# a file whose size or time changed is hashed again).
VERIFY_EVERY_S = 1.0
# Seconds a process opening a generation waits for another one hashing its files (so that
# workers starting together hash them once) before hashing them itself: hashing the 1.7 GB of
# a 300,000-document index takes about 4 s here; well below gunicorn's 30 s worker timeout.
VERIFY_LOCK_WAIT_S = 20.0

# -- the query language ----------------------------------------------------------------------

# Characters a query may have, and words (leaves) after parsing: past them it is refused.
MAX_QUERY_CHARS = 1000
MAX_TERMS = 50
# Parentheses nested deeper than this are read as plain text.
MAX_DEPTH = 8
# Letters or digits a prefix needs before its star (``p*`` is the word "p").
MIN_PREFIX_CHARS = 2

# -- ranking: the title signals (points added to the best documents' scores) -----------------

# See searchsvc.engine.titles. The best RERANK_DEPTH documents get: WHOLE_TITLE when the query
# covers all of the title and has every word of it; up to COVERAGE when it covers at least
# COVERED of it; TITLE_PHRASE when the query's words stand side by side in the title.
RERANK_DEPTH = 50
COVERAGE = 50.0
COVERED = 0.6
WHOLE_TITLE = 150.0
TITLE_PHRASE = 50.0
# A title that holds the query as typed, in order, gets TITLE_PHRASE and this much times the
# share of the title the query is (measured on bench/relevance.py's queries: title_part 0.483
# without the signal, 0.518 with the phrase's points alone, 0.548 with these; title 0.989 ->
# 0.996; on an earlier form of the rule, 20 instead of 50 gave 0.008 less, 100 and 200 the same).
TYPED_COVERAGE = 50.0

# -- snippets --------------------------------------------------------------------------------

# Only the start of very long documents is scanned for snippets: it bounds the cost.
MAX_ANALYZED_CHARS = 50_000
# A snippet is up to MAX_FRAGMENTS passages of about FRAGMENT_CHARS characters each.
FRAGMENT_CHARS = 180
MAX_FRAGMENTS = 3
# Characters a passage's edge moves to reach a space, at most: enough for any word or most
# web addresses; a longer run without spaces (minified code, CSV) is cut where it is, so a
# text without spaces costs no more than one with them (it once cost a walk to its end).
WORD_BOUNDARY_CHARS = 64
# The document page shows a long document a part at a time, about DOC_PART_CHARS characters
# each (cut at a line break or a space), and marks at most DOC_PART_MARKS matches in a part
# (some 30 bytes of markup each): so a page stays under about 1 MB of HTML whatever the
# document (a large one was once a page several times its own size, seconds to make:
# bench/RESULTS.md, "Figures once quoted in the code").
DOC_PART_CHARS = 100_000
DOC_PART_MARKS = 10_000
# Characters of a document read to find the part holding its first match, at most: analysing
# 100,000 characters of words never seen before costs up to 0.5 s.
FIRST_PASSAGE_SCAN_CHARS = 300_000
# Characters of a title the document page shows (a JSON Lines title has no length limit).
DOC_TITLE_CHARS = 1_000

# -- what a searcher keeps in memory ---------------------------------------------------------

# Postings of recently used terms kept for the process, counted in units of 24 bytes: decoded
# ones hold document number, weight and BM25 denominator (24 bytes a posting), those read
# from a segment's arrays only the denominator (8), and positions a phrase read count too.
# 1,000,000 units is 24 MB for the whole index (reading a term again from the arrays is one
# pread).
POSTINGS_CACHED = 1_000_000
# Document frequencies kept per segment (the same terms are asked for query after query).
FREQUENCIES_CACHED = 50_000
# Folded words whose stems a reader keeps: the variants look-up is costly for each word
# (bench/RESULTS.md, "Figures once quoted in the code").
STEMS_CACHED = 50_000
# Titles analysed recently, by text, in the process: a result page's titles come back query
# after query.
TITLE_WORDS_CACHED = 60_000
# Distinct title positions (a word with its forms) those titles share, in the process
# (emptied whole past it): the 30,508 bench titles have 14,022 of them.
TITLE_POSITIONS_CACHED = 100_000
# Distinct tokens of shown texts the snippets know the words of, in the process (emptied
# whole past it): the first pages of the 1,000 bench queries show about 70,000, so a worker
# rarely empties it (its memory a token: bench/RESULTS.md, "Figures once quoted in the
# code").
SNIPPET_TOKENS_CACHED = 100_000
# Tokens whose markable words (exact form and stems) the snippets keep, most recently used:
# a token missing costs its analysis again (its memory and that cost: bench/RESULTS.md,
# "Figures once quoted in the code").
SNIPPET_PIECES_CACHED = 1 << 16
# The French analysis' caches (searchsvc.text.analysis), per process, most recently used
# going first; French is Zipfian, so the words and tokens met are mostly met again:
# - words analysed (folded form, stem, lemma stem: word_terms): an entry is a few short
#   strings, and a miss costs a stemming and a lemma look-up, so this holds every distinct
#   word of a corpus the bench one's size, twice over;
ANALYSED_WORDS_CACHED = 1 << 18
# - elided forms (``l'education``: elided_terms): far fewer distinct ones than words, so
#   this holds all of the bench corpus' several times over;
ELIDED_FORMS_CACHED = 1 << 16
# - tokens split into their indexed words (token_pieces), an entry several words' worth:
#   fewer than a large corpus' distinct tokens, but the rare ones come and go while the
#   common ones stay, so a build of the bench corpus finds nearly every token there.
# (The counts and hit rates behind these: bench/RESULTS.md, "Figures once quoted in the code".)
ANALYSED_TOKENS_CACHED = 1 << 16
# Terms a process numbers for the segments it writes (searchsvc.index.text_postings), each
# distinct token's numbers with them: a segment begun past it starts a new numbering. The
# bench corpus gives 192,703 terms (exact forms, stems, variants) and 137,737 tokens, which
# take 63 MB (bench/RESULTS.md), so a writer keeps one numbering across its batches, and a
# build of a corpus ten times larger renumbers every few segments rather than growing.
TERMS_NUMBERED = 1 << 18
# Documents the segment builder gathers before it turns their texts into postings arrays
# (searchsvc.index.text_postings): enough for numpy's calls to cost little per document, few
# enough that a chunk's arrays stay small beside the memory limit.
BUILDER_CHUNK_DOCS = 256
# ... or fewer, once their texts hold this many characters: a chunk of long documents (a file
# may hold 20 MB) is not kept whole in memory beside its arrays.
BUILDER_CHUNK_CHARS = 4_000_000
# Term occurrences a segment's postings are grouped by at once, at most (a range of terms at a
# time): the grouping and the records made of it take tens of bytes an occurrence, so this
# bounds what writing a segment adds to the memory its postings hold, whatever its size (for
# a helper's segment of half the bench corpus, 5.5 million occurrences: +28 MB at this
# size, +85 MB at four times it, +23 MB for the builder before them; bench/RESULTS.md).
OCCURRENCES_GROUPED = 1 << 18

# Stored documents kept per searcher: a result page reads the bodies of the 10 shown, and the
# best documents of one query are often those of the next. Each costs a pickle load of the
# whole document otherwise.
STORED_CACHED = 2048
# Titles kept per searcher (the title signals read the titles of the best 50 of every query):
# about 100 bytes each.
TITLES_CACHED = 100_000

# -- serving over HTTP: what gunicorn reads, and how many searches run and wait --------------

# What gunicorn reads of a request before the app sees it (see searchsvc.web.serve): its worker
# answers a longer request line with 414, more or longer header fields with 431, in the API's
# JSON error shape (searchsvc.web.worker).
MAX_REQUEST_LINE_BYTES = 8190
MAX_HEADER_FIELDS = 50
MAX_HEADER_FIELD_BYTES = 8190
# A query string longer than this is refused (414) by the app before any parsing; it is below
# MAX_REQUEST_LINE_BYTES, so the app's message names the query string.
MAX_QUERY_STRING_BYTES = 8000
# Only the document endpoints read a body; anything larger than this sent elsewhere is
# refused (413).
MAX_BODY_BYTES = 16 * 1024
# Documents pushed over HTTP (searchsvc.web.documents): the body of one PUT or POST to
# /api/documents, at most. 1,000 bench documents (1.4 kB each on average) are 1.4 MB and a
# long report's text is a few MB: 8 MiB holds either with room to spare, while a worker holding
# a few such bodies at once (it reads each whole before a thread takes it, searchsvc.web.worker)
# stays within a few tens of MB. The worker refuses a longer body from the event loop (413).
MAX_PUSH_BYTES = 8 * 1024 * 1024
# Documents in one POST: a batch of 1,000 is applied in well under the writer's second, and a
# client with more sends several batches (each answered as soon as it is durable).
MAX_PUSH_DOCUMENTS = 1_000
# An id is named in an address (PUT /api/documents/<id>): 512 characters, percent-encoded as
# UTF-8 (up to 12 bytes each), stay within MAX_REQUEST_LINE_BYTES; no corpus path is longer.
MAX_DOCUMENT_ID_CHARS = 512
# A pushed title: the corpus cuts the titles it derives at TITLE_MAX_CHARS, and a given one
# five times as long is text sent in the wrong field, refused rather than cut unseen.
MAX_PUSHED_TITLE_CHARS = 1_000
# A pushed url and source: a url longer than 2,048 characters is refused by some browsers,
# and a source is a name such as "AFP" (a search's source filter takes MAX_QUERY_CHARS).
MAX_PUSHED_URL_CHARS = 2_048
MAX_PUSHED_SOURCE_CHARS = 200
# Seconds a write may wait, with ``wait=``, for its change to be searchable before answering
# with the task as it stands (202): the writer applies the journal at least once a second, so
# 30 s covers a busy writer many times over, and a request thread is not held longer.
MAX_PUSH_WAIT_S = 30.0
# Per worker: writes waiting (``wait=``) at once. Each holds a request thread while it waits,
# and a worker has a few dozen, sized for its searches (searchsvc.web.serve.THREADS): past
# this many, a write answers at once with its task as it stands (the client polls the task).
MAX_WAITING_WRITES = 4
# Seconds a connection has, from its first byte, to send its whole request (head and body)
# before it is answered 408 and closed; one that sends nothing is closed after serve's
# keep-alive time. Requests within the limits above are a few kB, sent in well under a second
# even on a slow link; a worker holds them in memory, without a request thread, until they are
# whole, so clients that trickle bytes (slowloris) cost a socket each (searchsvc.web.worker).
REQUEST_READ_TIMEOUT_S = 5.0
# Connections a worker keeps open at once (gunicorn's worker_connections, its default): those
# waiting to send a request count, so 500 idle connections per worker still leave room.
MAX_CONNECTIONS_PER_WORKER = 1000

# Per worker: searches running at once, waiting for a turn, and how long one may wait. Searches
# are CPU-bound and hold the GIL (and the engine runs one at a time), so more than two at once
# only slice one core thinner. The queue is long enough for 32 clients at once on one worker
# (gunicorn shares connections between workers unevenly) and short in time: a few
# milliseconds a search, so a full queue waits a fraction of a second; what waits longer than
# QUEUE_WAIT_S, or finds the queue full, is true overload and is shed (bench/load.py).
MAX_IN_FLIGHT = 2
MAX_QUEUED = 40
QUEUE_WAIT_S = 5.0
# Per worker: heavy searches (estimated over HEAVY_QUERY_SECONDS) running at once, and waiting
# (QUEUE_WAIT_S at most) apart from the others, which they do not hold back meanwhile. One
# at a time: they take the searcher only when no other search waits for it. The queue holds
# 16 clients sending them at once over two workers, twice over; past it they are shed (503).
HEAVY_IN_FLIGHT = 1
HEAVY_QUEUED = 16
# Seconds a client is told to wait before retrying a shed request.
RETRY_AFTER_S = 1

# -- the embeddable search box (/searchbox.js) and cross-origin calls --------------------------

# Seconds a browser may reuse a CORS preflight answer (Access-Control-Max-Age): Chromium caps
# it at 2 hours, so more would only be ignored; a removed origin is refused within that time.
CORS_MAX_AGE_S = 7200
# Seconds a browser or proxy may keep /searchbox.js under its plain address (which every site
# pastes, so a new version must reach them): an hour. Under ``?v=<its hash>`` it never changes
# and is kept for a year.
SEARCHBOX_MAX_AGE_S = 3600
SEARCHBOX_VERSIONED_MAX_AGE_S = 365 * 24 * 3600

# -- indexing --------------------------------------------------------------------------------

# A corpus file larger than this is skipped (and reported): one document should not hold
# the whole build's memory.
DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024
# Characters of a title taken from a document's first line or sentence, at most.
TITLE_MAX_CHARS = 200
# PDF, .odt and .docx files (searchsvc.ingest.office) are compressed: their text may be far
# larger than their bytes, and a hostile PDF can make a reader loop over pages or streams.
# Each is read within these bounds, the rest left out and reported ("partly read"):
# - pages of a PDF read: a 1,000-page report is a book; more is a hostile or scanned file;
OFFICE_MAX_PAGES = 1_000
# - characters of text kept from one file: DEFAULT_MAX_FILE_BYTES of plain text, at most;
OFFICE_MAX_TEXT_CHARS = DEFAULT_MAX_FILE_BYTES
# - seconds spent reading one file, checked between pages: 1,000 pages of plain text read in
#   2.4 s on the 2-core bench machine, so only a hostile or very heavy file reaches this;
OFFICE_MAX_SECONDS = 30.0
# - bytes of an .odt or .docx file once unzipped (each part and all of them): a zip bomb of
#   a few kB would otherwise fill memory; 200 MB is ten times a large book with its images.
OFFICE_MAX_UNZIPPED_BYTES = 200 * 1024 * 1024

# Memory the postings held in memory may take before they are written out as a segment, in
# all (a multi-process build shares it among its helpers). Each segment repeats the words it
# holds, and searches cost more per segment: at 512 MB, the bench corpus (30,508 documents)
# is written as one segment per helper.
DEFAULT_LIMIT_MB = 512
# Below this much text, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
# An index run (incremental or --full) that would delete more than this share of the live
# index's documents stops before publishing anything unless confirmed (--allow-deletions): a
# mistyped --corpus (one file, a subfolder, an empty mount) would otherwise empty the index
# in one run, where a real corpus loses documents a few at a time. More than half is never
# routine, and a replacement on purpose costs one flag.
MAX_DELETED_SHARE = 0.5
# ... and at least this many: deleting 1 of 2 (or 9 of 10) documents needs no confirming,
# since an index that small is rebuilt from its corpus in seconds, while the 18 of 19 a
# one-file --corpus deleted in issue 23 is stopped.
MIN_GUARDED_DELETIONS = 10

# -- completion (the search box) -------------------------------------------------------------

# Completions of the word being typed that an instant search looks for, most frequent first,
# and the documents they may hold in all (their postings to merge), past the first one:
# ``co`` stands for "comme" and "commande" (15,000 documents on the bench index), ``conf``
# for thirty words.
MAX_EXPANSIONS = 30
MAX_EXPANDED_POSTINGS = 12_000
# Index words scanned for one prefix, per field and segment: bounds a one-letter prefix.
MAX_SCAN = 20_000
# Prefixes whose completions each index reader keeps.
EXPANSIONS_CACHED = 4_096
# Words whose written form each index reader keeps (see written_form).
FORMS_CACHED = 50_000
# Documents (the best matches of the words typed) read for the words following them, and how
# many characters of each.
SAMPLE_DOCS = 20
SAMPLE_CHARS = 3_000
# Words before the one being typed that a completion is matched against, and the score
# (see following) a word needs to be offered for following them.
CONTEXT_WORDS = 2
MIN_FOLLOWING = 2
# ... and to be offered after a function word typed in full: following both words.
MIN_FOLLOWING_BOTH = 100
# Characters of a document scanned for a word's written form.
FORM_SCAN_CHARS = 50_000

# -- ranking: the weights of a query's terms, and quoted phrases -------------------------------


@dataclass(frozen=True)
class Weights:
    """Ranking knobs: how much a title match and an exact-form match count (the defaults; a
    SearchEngine may be given others)."""

    title: float = 1.5
    body: float = 1.0
    exact: float = 1.0
    stem: float = 0.25
    # Score added per word found as typed: its exact form, with its article when it was
    # typed with one (``l'onglet``). Large, so documents with more words as typed come
    # before those that only match through stems or another elision.
    as_typed: float = 50.0
    # Score of a close word standing in for a word that matched nothing (typo tolerance).
    fuzzy: float = 0.5
    # Extra score when the query's words stand within ``slop`` positions of each other.
    proximity: float = 2.0
    slop: int = 40
    # A synonym's terms count this much of the word typed (searchsvc.query.synonyms), and get
    # no as_typed bonus: a document with the word as typed comes before one with its synonym.
    synonym: float = 0.5
    # Score of a query word found in the name of a document's source (« debian », « lyx »)
    # rather than in its text (searchsvc.query.sources): about what one occurrence of a
    # common word scores, so that the documents writing the word come first.
    source: float = 1.0


# A quoted phrase is scored as one term of its own (see searchsvc.query.scoring); the
# words' scores, this much of them, only order the documents that use the phrase as often.
PHRASE_TIE_BREAK = 0.01
# Length normalisation of a phrase (BM25's b; words have 0.75): an occurrence of a phrase
# is rarer than a word's, so that a long document has it by chance is discounted more
# (measured: known-item phrase MRR@10 0.667 at 0.75, 0.670 at 0.85, 0.669 at 1).
PHRASE_B = 0.85

# -- partial matches: questions as people type them (searchsvc.query.filler) -------------------

# A plain word found in more than this share of the documents is filler (``utiliser``,
# ``peut``, ``tous`` in a technical corpus): neither required nor counted as the query's
# meaning. Lower shares make content words optional (« fichier », « texte »), and rank the
# natural questions worse (bench/RESULTS.md, "Questions as people type them").
FILLER_SHARE = 0.35
# ... but only on an index large enough for a share to mean something: on a few dozen
# documents every word of a query would look common.
FILLER_MIN_DOCS = 1_000
# A partial match (some of the query's content words, not all) scores its words' BM25F
# times its coverage (the idf-weighted share of the content words it holds) to this power,
# the best of 1, 2 and 3 on the development set (bench/RESULTS.md).
COVERAGE_EXPONENT = 2.0
# Partial matches follow the documents with every content word only when those do not fill
# a first page of ten: with more, no partial match would reach the first page, and counting
# them would cost each of those searches the union of its words (bench/RESULTS.md, issue 30).
PARTIAL_BELOW = 10
# Words of a source's name shorter than this find nothing there (« fr », « 12 » in a path).
SOURCE_WORD_MIN_CHARS = 3

# -- close words (typo fallback, did-you-mean) -----------------------------------------------

# A word found in at least this many documents is taken as correctly spelt: no look-up.
COMMON_DOCS = 20
# Longer "words" get no corrections at all.
MAX_WORD_CHARS = 25
# Vocabularies the process keeps, one per (segment, field): the words of one text field of
# one segment (grouped by first letter and length), so with the title and the body 32 is
# 16 segments' worth. A segment's words never change, so they outlive the reader that read
# them (a commit leaves most segments as they were).
VOCABULARIES_KEPT = 32
# Words a served worker's start-up thread reads from a segment's lexicon between two turns of
# the searcher, when no cached vocabulary exists (spelling.build_steps): a step is short,
# so a search arriving meanwhile waits little (the cost of a word: bench/RESULTS.md,
# "Figures once quoted in the code").
WALK_STEP = 2_000

# -- synonyms (searchsvc.query.synonyms) -----------------------------------------------------

# Seconds between two looks (a stat) at the synonyms file for a change: an edit is in force
# within a second, and a search costs a clock read otherwise.
SYNONYMS_CHECK_EVERY_S = 1.0
# A synonyms file larger than this is refused: a few thousand rules are a few hundred kB,
# and the file is parsed again by every worker at each change.
MAX_SYNONYMS_BYTES = 1024 * 1024
# Synonyms one word (or run of words) may bring into a query, at most: each adds its terms
# to every query with that word; a longer list is refused at the line that crosses it.
MAX_SYNONYMS_PER_WORD = 20

# -- search analytics and metrics ------------------------------------------------------------

# The analytics store's file, in the index folder (beside CURRENT and the generations).
ANALYTICS_FILE = "analytics.sqlite3"
# A served worker keeps the searches it answered in memory and writes them in one short
# transaction at most every ANALYTICS_FLUSH_S, or as soon as ANALYTICS_FLUSH_ROWS wait: a
# request only appends to a list, and two workers take SQLite's write lock a few times a
# second at most. A worker that dies unexpectedly loses at most that second.
ANALYTICS_FLUSH_S = 1.0
ANALYTICS_FLUSH_ROWS = 200
# Searches held in memory at most, should the store be slow or locked: the newest are
# dropped past it (and counted in the log), rather than the worker's memory growing.
ANALYTICS_MAX_PENDING = 10_000
# Seconds between two deletions of rows past the retention, per worker.
ANALYTICS_PRUNE_S = 60.0
# Rows kept at most whatever the retention: at some 150 bytes a row, about 300 MB, so that a
# flood of searches cannot fill the disk within the retention days.
ANALYTICS_MAX_ROWS = 2_000_000
# Seconds a writer waits for SQLite's lock held by the other worker (or by `searchsvc stats`).
ANALYTICS_BUSY_S = 5.0
# Queries each list of `searchsvc stats` and /api/stats shows.
STATS_TOP = 20

# -- documents pushed over HTTP: the journal and its writer (searchsvc.ingest.journal, writer) --

# The journal's file, in the index folder (beside CURRENT, never inside a generation): the
# changes acknowledged and not yet applied, the tasks, and the pushed documents themselves.
JOURNAL_FILE = "journal.sqlite3"
# Back-pressure: a submit is refused (JournalBehindError, 503 with Retry-After) while this many
# changes, or this many bytes of documents, wait to be applied. The writer applies several
# thousand documents a second on the bench machine, so 100,000 changes are under a minute of
# work, and 256 MB bounds the journal's disk whatever the documents' size.
JOURNAL_MAX_WAITING_CHANGES = 100_000
JOURNAL_MAX_WAITING_BYTES = 256 * 1024 * 1024
# What Retry-After says when the journal is behind: the waiting changes at this many a second
# (a cautious share of what the writer applies), within these bounds.
JOURNAL_RETRY_RATE = 2_000
JOURNAL_RETRY_AFTER_S = (1, 60)
# Finished tasks are kept this long (GET /api/tasks/<id> answers 404 after), and this many at
# most, so that the journal's size stays bounded however many requests come.
JOURNAL_TASKS_KEPT_S = 7 * 24 * 3600
JOURNAL_MAX_TASKS = 100_000
# Seconds a journal user waits for SQLite's lock held by another process (a worker submitting,
# the writer marking a batch applied: each holds it a few milliseconds).
JOURNAL_BUSY_S = 10.0
# How often Journal.wait looks at its task again.
JOURNAL_WAIT_POLL_S = 0.05
# The writer looks for waiting changes this often, and applies all that wait (at most the
# batch bounds below) as one generation: a batch a second at least, as soon as the last one
# is done under load, so a pushed document is searchable well within a second at p50.
WRITER_POLL_S = 0.05
WRITER_MAX_BATCH_CHANGES = 10_000
WRITER_MAX_BATCH_BYTES = 64 * 1024 * 1024
# After a failed batch (a full disk, the write lock held by `searchsvc index`) the writer tries
# again after this many seconds, doubling up to the second value while it keeps failing.
WRITER_RETRY_S = (0.5, 10.0)
# `searchsvc serve` restarts a writer process that died after at least this delay, doubling
# while it keeps dying soon after a start (a damaged index, say), up to the second value.
WRITER_RESTART_S = (1.0, 30.0)
# How the segments that incremental runs and pushed batches add are merged
# (index/whoosh_internals/merging.tiered_merge): ten segments of one size tier (up to 100 documents,
# then each tier ten times larger) become one, so a search reads a few segments, not one per
# batch, and each document is rewritten once per tier, not at every commit. A segment over
# MERGE_MAX_DOCS is never merged again (a full build's are larger): what one merge rewrites
# stays bounded (100,000 documents, a few minutes, done by the pushed documents' writer in a
# process of its own, off its batches' path; by `searchsvc index` within its run).
MERGE_FACTOR = 10
MERGE_FLOOR_DOCS = 100
MERGE_MAX_DOCS = 100_000
# Segments whose column values (index/caches.per_segment) a process keeps: a new generation,
# every second while documents are pushed, shares most segments with the one before and
# finds their values read (re-reading a column would cost each generation: bench/RESULTS.md,
# "Figures once quoted in the code"); a few dozen segments are live at a time.
PER_SEGMENT_CACHED = 64
# Segments of at most this many documents keep their terms of a field as a sorted list
# (index/caches.expand_prefix): pushed batches leave dozens of small segments, and Whoosh
# looked a prefix up in each by a binary search in Python (0.15 ms a segment, for every
# query word's accented spellings). A pushed batch's segment of 100 documents has 4,900 body
# words; larger ones (a build's 15,000 documents: 120,000 body words) use Whoosh's own
# search, one per prefix, rather than keep such lists.
LISTED_TERMS_DOCS = 5_000
# The niceness of the writer's merging process: searches and batches go first (10 starved
# it on a busy machine: segments piled up, which slows every search).
MERGE_NICENESS = 5
# Seconds before the writer tries a merge again after one failed (a full disk, say).
MERGE_RETRY_S = 60.0
# Seconds `searchsvc serve` gives its writer to finish its batch when stopping, before SIGKILL
# (what a killed batch had not published is applied by the next writer: nothing is lost).
WRITER_STOP_S = 10.0
# Seconds between full runs of Python's cycle collector in a process writing documents (the
# journal writer, a full build's helpers): each unit of work runs with the collector off and
# ends with a collection of the young objects only (index/collector.py); a full one walks
# every object the process holds (~0.1 s with the analysis caches full), a few thousand of
# which a batch leaves in cycles.
FULL_COLLECTION_S = 60.0
