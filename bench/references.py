"""Reference engines the benchmarks compare searchsvc with.

* SQLite FTS5 (stdlib ``sqlite3``): ``unicode61 remove_diacritics 2`` tokenizer, ``bm25`` with a
  title weight — an outside reference.
* tantivy-py (the ``tantivy`` package, the bench extra: ``make bench-tools``): tantivy's French
  Snowball stemmer with ASCII folding, BM25, title boost 2 — the engine a Python user would
  pick instead. Imported only when asked for.
* Whoosh indexes with the same fields as searchsvc's (id, title, body; BM25F; title boost 2)
  and another analyzer:

  - ``stock``: Whoosh's stock ``LanguageAnalyzer("fr")`` (no accent folding);
  - ``plain``: the French analysis written the obvious way, one generator filter per step,
    with the pure-Python Snowball stemmer — the baseline of the speed benchmarks;
  - ``es-french``: Elasticsearch's built-in ``french`` analyzer rebuilt step by step
    (standard tokenizer, elision, lowercase, Snowball's French stop words, Savoy's light
    stemmer ``light_french``, see ``light_french.py``); ``es-french-fold`` adds
    ``asciifolding`` after ``lowercase``, as people add it to that chain.

Whoosh pickles analyzers into the index, so the filters here are top-level classes and the
module must be importable as ``references`` (the scripts run from ``bench/``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

import light_french
from snowballstemmer.french_stemmer import FrenchStemmer
from unidecode import unidecode
from whoosh import fields, qparser, scoring
from whoosh import index as whoosh_index
from whoosh.analysis import (
    Filter,
    LanguageAnalyzer,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
)
from whoosh.highlight import ContextFragmenter, HtmlFormatter
from whoosh.lang import stopwords_for_language

from searchsvc.text.analysis import WordTerms
from searchsvc.text.whoosh_analyzer import FrenchAnalyzer

TITLE_WEIGHT = 2.0
LIMIT_MB = 256  # as searchsvc's writer


# -- documents -----------------------------------------------------------------------------


def doc_hash(title: str, body: str) -> str:
    return hashlib.blake2b((title + "\0" + body).encode("utf-8"), digest_size=16).hexdigest()


# -- the "obvious" French analyzer -----------------------------------------------------------

_APOSTROPHES = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc\u00b4\u0060\u2032", "'"))
_ELIDED = re.compile(r"^(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu)'", re.IGNORECASE)


class ApostropheFilter(Filter):
    """Typographic apostrophes to ASCII."""

    def __call__(self, tokens):
        for t in tokens:
            t.text = t.text.translate(_APOSTROPHES)
            yield t


class PlainElisionFilter(Filter):
    """Drop an elided article or pronoun: l'arbre -> arbre."""

    def __call__(self, tokens):
        for t in tokens:
            if "'" in t.text:
                t.text = _ELIDED.sub("", t.text)
            yield t


class UnidecodeFilter(Filter):
    """Strip accents."""

    def __call__(self, tokens):
        for t in tokens:
            t.text = unidecode(t.text)
            yield t


_pure_stemmer = FrenchStemmer()


def pure_stem(word: str) -> str:
    """Snowball French, pure Python (not PyStemmer)."""
    return _pure_stemmer.stemWord(word)


def plain_analyzer():
    """Tokenize (apostrophes kept in words), normalise apostrophes, elision, lowercase,
    stop words, unidecode, pure-Python Snowball (Whoosh's StemFilter, with its cache)."""
    return (
        RegexTokenizer(r"\w+(?:['\u2019]\w+)*")
        | ApostropheFilter()
        | PlainElisionFilter()
        | LowercaseFilter()
        | StopFilter(stoplist=stopwords_for_language("fr"))
        | UnidecodeFilter()
        | StemFilter(stemfn=pure_stem)
    )


# -- Elasticsearch's "french" analyzer --------------------------------------------------------

# The standard tokenizer (Unicode word boundaries, UAX #29) as far as French text needs it:
# runs of letters, digits and underscores ("p910nd_opts"), kept together across an
# apostrophe, dot or colon between two letters ("l'arbre", "weatherapp.js") and across a dot,
# comma, semicolon or apostrophe between two digits ("3,5"); the rest splits.
ES_TOKEN = r"\w+(?:(?:(?<=[^\W\d_])['\u2019.:](?=[^\W\d_])|(?<=\d)[.,;'\u2019](?=\d))\w+)*"
# The elision filter of the ``french`` analyzer (articles_case: any case).
ES_ELISION_ARTICLES = frozenset("l m t qu n s j d c jusqu quoiqu lorsqu puisqu".split())
# ``_french_``: Snowball's French stop list (Lucene's ``french_stop.txt``).
ES_FRENCH_STOP = frozenset(
    """
    au aux avec ce ces dans de des du elle en et eux il je la le leur lui ma mais me même
    mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes
    toi ton tu un une vos votre vous c d j l à m n s t y été étée étées étés étant suis es
    est sommes êtes sont serai seras sera serons serez seront serais serait serions seriez
    seraient étais était étions étiez étaient fus fut fûmes fûtes furent sois soit soyons
    soyez soient fusse fusses fût fussions fussiez fussent ayant eu eue eues eus ai as avons
    avez ont aurai auras aura aurons aurez auront aurais aurait aurions auriez auraient avais
    avait avions aviez avaient eut eûmes eûtes eurent aie aies ait ayons ayez aient eusse
    eusses eût eussions eussiez eussent ceci cela celà cet cette ici ils les leurs quel quels
    quelle quelles sans soi
    """.split()
)


class EsElisionFilter(Filter):
    """Lucene's ElisionFilter: the text before the first apostrophe goes when it is one of
    the articles (any case)."""

    def __call__(self, tokens):
        for t in tokens:
            for i, c in enumerate(t.text):
                if c in "'\u2019":
                    if t.text[:i].lower() in ES_ELISION_ARTICLES:
                        t.text = t.text[i + 1 :]
                    break
            yield t


class AsciiFoldingFilter(Filter):
    """``asciifolding``: letters to their ASCII look-alikes (é -> e, œ -> oe)."""

    def __call__(self, tokens):
        for t in tokens:
            if not t.text.isascii():
                t.text = unidecode(t.text)
            yield t


def es_french_analyzer(fold: bool):
    """Elasticsearch's ``french`` analyzer: standard tokenizer, elision, lowercase, French
    stop words (position gaps closed, as Whoosh phrases need), ``light_french``; with
    ``fold``, ``asciifolding`` after ``lowercase``."""
    chain = RegexTokenizer(ES_TOKEN) | EsElisionFilter() | LowercaseFilter()
    if fold:
        chain = chain | AsciiFoldingFilter()
    return (
        chain
        | StopFilter(stoplist=ES_FRENCH_STOP, minsize=1)
        | StemFilter(stemfn=light_french.stem, cachesize=-1)
    )


def whoosh_analyzer(kind: str):
    if kind == "stock":
        return LanguageAnalyzer("fr")
    if kind == "plain":
        return plain_analyzer()
    if kind == "es-french":
        return es_french_analyzer(fold=False)
    if kind == "es-french-fold":
        return es_french_analyzer(fold=True)
    raise ValueError(kind)


# -- Whoosh reference indexes ---------------------------------------------------------------


def whoosh_schema(kind: str, stored: bool) -> fields.Schema:
    analyzer = whoosh_analyzer(kind)
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        hash=fields.ID(stored=True),
        title=fields.TEXT(analyzer=analyzer, stored=stored),
        body=fields.TEXT(analyzer=analyzer, stored=stored),
    )


def build_whoosh(kind: str, docs: Iterable[tuple[str, str, str]], path: Path, stored: bool) -> int:
    """Index (id, title, body) triples in a fresh Whoosh index at ``path``; return the count."""
    path.mkdir(parents=True, exist_ok=True)
    ix = whoosh_index.create_in(str(path), whoosh_schema(kind, stored))
    writer = ix.writer(limitmb=LIMIT_MB)
    n = 0
    try:
        for doc_id, title, body in docs:
            writer.add_document(id=doc_id, hash=doc_hash(title, body), title=title, body=body)
            n += 1
        writer.commit()
    except BaseException:
        writer.cancel()
        raise
    finally:
        ix.close()
    return n


def update_whoosh(docs: Iterable[tuple[str, str, str]], path: Path) -> dict:
    """Incremental update the straightforward way: compare stored hashes, rewrite changed."""
    ix = whoosh_index.open_dir(str(path))
    counts = {"added": 0, "updated": 0, "deleted": 0, "unchanged": 0}
    try:
        with ix.searcher() as s:
            known = {f["id"]: f["hash"] for _n, f in s.iter_docs()}
        writer = ix.writer(limitmb=LIMIT_MB)
        seen = set()
        for doc_id, title, body in docs:
            seen.add(doc_id)
            h = doc_hash(title, body)
            old = known.get(doc_id)
            if old == h:
                counts["unchanged"] += 1
                continue
            writer.update_document(id=doc_id, hash=h, title=title, body=body)
            counts["updated" if old else "added"] += 1
        for doc_id in known.keys() - seen:
            writer.delete_by_term("id", doc_id)
            counts["deleted"] += 1
        writer.commit()
    finally:
        ix.close()
    return counts


def _keep_plugins(parser, keep: tuple[type, ...]):
    for plugin in list(parser.plugins):
        if not isinstance(plugin, keep):
            parser.remove_plugin(plugin)
    return parser


class _ExactTerms(FrenchAnalyzer):
    """searchsvc's analysis, its exact (folded) form only: the ``nostem`` reference's queries.
    (searchsvc's schema analyzer gives Whoosh's query mode every index term of a word, stems
    included, which a Whoosh parser would require all of.)"""

    def terms(self, word: WordTerms) -> tuple[str, ...]:
        return (word.exact,)


def _exact_schema(schema: fields.Schema) -> fields.Schema:
    """A copy of searchsvc's schema whose text fields parse queries into exact terms only."""
    exact = copy.deepcopy(schema)
    for name in ("title", "body"):
        exact[name].analyzer = _ExactTerms()
    return exact


class WhooshSearcher:
    """BM25F search over title and body with MultifieldParser (AND), title boost 2.

    ``plain`` parses words only (no operators, fields or wildcards); ``phrase`` also reads
    quoted phrases. ``exact_only`` (on searchsvc's index) parses words into their exact
    terms alone, leaving the stems out.
    """

    def __init__(self, path: Path, exact_only: bool = False):
        self.ix = whoosh_index.open_dir(str(path))
        self.searcher = self.ix.searcher(weighting=scoring.BM25F())
        schema = _exact_schema(self.ix.schema) if exact_only else self.ix.schema
        boosts = {"title": TITLE_WEIGHT, "body": 1.0}
        keep = (qparser.WhitespacePlugin, qparser.MultifieldPlugin)
        self.plain = _keep_plugins(
            qparser.MultifieldParser(["title", "body"], schema, fieldboosts=boosts), keep
        )
        self.phrase = _keep_plugins(
            qparser.MultifieldParser(["title", "body"], schema, fieldboosts=boosts),
            (*keep, qparser.PhrasePlugin),
        )
        self.fragmenter = ContextFragmenter(maxchars=180, surround=60)
        self.formatter = HtmlFormatter(tagname="mark")

    def parse(self, text: str):
        parser = self.phrase if '"' in text else self.plain
        return parser.parse(text)

    def search_query(self, q, limit: int = 10, snippets: bool = False) -> list[str]:
        results = self.searcher.search(q, limit=limit)
        if not snippets:
            return [hit["id"] for hit in results]
        results.fragmenter = self.fragmenter
        results.formatter = self.formatter
        out = []
        for hit in results:
            hit.highlights("body", top=3)
            out.append(hit["id"])
        return out

    def search(self, text: str, limit: int = 10, snippets: bool = False) -> list[str]:
        return self.search_query(self.parse(text), limit, snippets)

    def close(self) -> None:
        self.searcher.close()
        self.ix.close()


# -- SQLite FTS5 -----------------------------------------------------------------------------

FTS5_TOKENIZE = "unicode61 remove_diacritics 2"


def build_fts5(docs: Iterable[tuple[str, str, str]], path: Path, optimize: bool = True) -> int:
    """A fresh FTS5 database at ``path`` with (id, title, body) and an id -> hash table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute(
            f"CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, body, "
            f"tokenize='{FTS5_TOKENIZE}')"
        )
        con.execute("CREATE TABLE hashes(id TEXT PRIMARY KEY, rid INTEGER, hash TEXT)")
        n = 0
        with con:
            for doc_id, title, body in docs:
                cur = con.execute(
                    "INSERT INTO docs(id, title, body) VALUES (?, ?, ?)", (doc_id, title, body)
                )
                con.execute(
                    "INSERT INTO hashes VALUES (?, ?, ?)",
                    (doc_id, cur.lastrowid, doc_hash(title, body)),
                )
                n += 1
        if optimize:
            with con:
                con.execute("INSERT INTO docs(docs) VALUES ('optimize')")
    finally:
        con.close()
    return n


def update_fts5(docs: Iterable[tuple[str, str, str]], path: Path) -> dict:
    """Incremental update the straightforward way: compare hashes, rewrite changed rows."""
    con = sqlite3.connect(path)
    counts = {"added": 0, "updated": 0, "deleted": 0, "unchanged": 0}
    try:
        known = {i: (rid, h) for i, rid, h in con.execute("SELECT id, rid, hash FROM hashes")}
        seen = set()
        with con:
            for doc_id, title, body in docs:
                seen.add(doc_id)
                h = doc_hash(title, body)
                old = known.get(doc_id)
                if old and old[1] == h:
                    counts["unchanged"] += 1
                    continue
                if old:
                    con.execute("DELETE FROM docs WHERE rowid = ?", (old[0],))
                    con.execute("DELETE FROM hashes WHERE id = ?", (doc_id,))
                cur = con.execute(
                    "INSERT INTO docs(id, title, body) VALUES (?, ?, ?)", (doc_id, title, body)
                )
                con.execute("INSERT INTO hashes VALUES (?, ?, ?)", (doc_id, cur.lastrowid, h))
                counts["updated" if old else "added"] += 1
            for doc_id in known.keys() - seen:
                con.execute("DELETE FROM docs WHERE rowid = ?", (known[doc_id][0],))
                con.execute("DELETE FROM hashes WHERE id = ?", (doc_id,))
                counts["deleted"] += 1
    finally:
        con.close()
    return counts


_WORD_CHARS = re.compile(r"\w")


_FTS5_PARTS = re.compile(r'"([^"]*)"?|(\S+)')


def fts5_query(text: str) -> str | None:
    """A query as people type it, as FTS5 syntax: each word and each "quoted phrase" becomes
    an FTS5 string (quotes doubled), all ANDed."""
    parts = []
    for m in _FTS5_PARTS.finditer(text):
        part = m.group(1) if m.group(1) is not None else m.group(2)
        if part and _WORD_CHARS.search(part):
            prefix = m.group(2) is not None and part.endswith("*")  # word* is a prefix
            parts.append('"' + part.rstrip("*").replace('"', '""') + '"' + ("*" if prefix else ""))
    if not parts:
        return None
    return " AND ".join(parts)


class Fts5Searcher:
    def __init__(self, path: Path):
        self.con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.errors = 0

    def search(self, text: str, limit: int = 10, snippets: bool = False) -> list[str]:
        q = fts5_query(text)
        if q is None:
            return []
        cols = "id, snippet(docs, 2, '<mark>', '</mark>', '…', 24)" if snippets else "id"
        try:
            rows = self.con.execute(
                f"SELECT {cols} FROM docs WHERE docs MATCH ? "
                f"ORDER BY bm25(docs, 0.0, {TITLE_WEIGHT}, 1.0) LIMIT ?",
                (q, limit),
            ).fetchall()
        except sqlite3.OperationalError:
            self.errors += 1
            return []
        return [r[0] for r in rows]

    def close(self) -> None:
        self.con.close()


# -- tantivy-py ------------------------------------------------------------------------------

TANTIVY_MISSING = "tantivy-py is not installed: install it with `make bench-tools`"
# Our name for the analyzer below: tantivy keeps a field's tokenizer name in the index but not
# the chain, so every process that opens the index registers it again.
TANTIVY_TOKENIZER = "fr_fold_stem"
TANTIVY_LONGEST = 40  # tokens longer than this are dropped, as tantivy's own fr_stem does


def tantivy_module():
    """The ``tantivy`` package, or one line saying how to install it (a bench-only extra)."""
    try:
        import tantivy
    except ImportError:
        raise SystemExit(TANTIVY_MISSING) from None
    return tantivy


def tantivy_analyzer(tantivy, stem: bool = True):
    """tantivy's ``fr_stem`` chain (simple tokenizer, long tokens dropped, lowercase, Snowball
    French) with ``ascii_fold`` before the stemmer: a query typed without accents then meets
    the same stems as accented text (folded first, both go through the stemmer alike), as
    with Elasticsearch's ``french`` analyzer plus ``asciifolding``. No stop words, as FTS5.
    Without ``stem``, the folded words (for prefixes, which must not be stemmed)."""
    chain = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(TANTIVY_LONGEST))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
    )
    if stem:
        chain = chain.filter(tantivy.Filter.stemmer("french"))
    return chain.build()


def open_tantivy(path: Path, create: bool = False):
    """The tantivy module and the index at ``path`` (a new one with ``create``), its French
    analyzer registered."""
    tantivy = tantivy_module()
    if create:
        schema = tantivy.SchemaBuilder()
        schema.add_text_field("id", stored=True, tokenizer_name="raw")
        for name in ("title", "body"):  # stored, as FTS5's content: for results and snippets
            schema.add_text_field(name, stored=True, tokenizer_name=TANTIVY_TOKENIZER)
        ix = tantivy.Index(schema.build(), path=str(path), reuse=False)
    else:
        ix = tantivy.Index.open(str(path))
    ix.register_tokenizer(TANTIVY_TOKENIZER, tantivy_analyzer(tantivy))
    return tantivy, ix


def build_tantivy(docs: Iterable[tuple[str, str, str]], path: Path) -> int:
    """A fresh tantivy index at ``path`` with (id, title, body); its writer's defaults (128 MB
    of heap, one indexing thread per core), one commit, the merges it starts waited for."""
    path.mkdir(parents=True, exist_ok=True)
    tantivy, ix = open_tantivy(path, create=True)
    writer = ix.writer()
    n = 0
    try:
        for doc_id, title, body in docs:
            writer.add_document(tantivy.Document(id=doc_id, title=title, body=body))
            n += 1
        writer.commit()
        writer.wait_merging_threads()
    except BaseException:
        writer.rollback()
        raise
    return n


class TantivySearcher:
    """BM25 over title (boost 2) and body, every word or "quoted phrase" required (the words
    of ``fts5_query``), ``word*`` a prefix; snippets from tantivy's SnippetGenerator."""

    def __init__(self, path: Path):
        self.tantivy, self.ix = open_tantivy(path)
        self.schema = self.ix.schema
        self.searcher = self.ix.searcher()
        self.analyzer = tantivy_analyzer(self.tantivy)
        self.folder = tantivy_analyzer(self.tantivy, stem=False)
        self.errors = 0

    def parse(self, text: str):
        """The query object of a query as people type it, or None when it has no word."""
        query, occur = self.tantivy.Query, self.tantivy.Occur
        required = []
        for m in _FTS5_PARTS.finditer(text):
            part = m.group(1) if m.group(1) is not None else m.group(2)
            if not part or not _WORD_CHARS.search(part):
                continue
            prefix = m.group(2) is not None and part.endswith("*")
            words = (self.folder if prefix else self.analyzer).analyze(part.rstrip("*"))
            if not words:
                continue
            either = []
            for name, boost in (("title", TITLE_WEIGHT), ("body", 1.0)):
                if prefix:
                    q = query.phrase_prefix_query(self.schema, name, words)
                elif len(words) == 1:
                    q = query.term_query(self.schema, name, words[0], index_option="freq")
                else:  # "l'arbre", or a quoted phrase
                    q = query.phrase_query(self.schema, name, words)
                either.append((occur.Should, query.boost_query(q, boost) if boost != 1 else q))
            required.append((occur.Must, query.boolean_query(either)))
        return query.boolean_query(required) if required else None

    def search_query(self, q, limit: int = 10, snippets: bool = False) -> list[str]:
        if q is None:
            return []
        try:
            hits = self.searcher.search(q, limit, count=False).hits
        except ValueError:
            self.errors += 1
            return []
        make = None
        if snippets and hits:
            make = self.tantivy.SnippetGenerator.create(self.searcher, q, self.schema, "body")
        out = []
        for _score, address in hits:
            doc = self.searcher.doc(address)
            if make is not None:
                make.snippet_from_doc(doc).to_html()
            out.append(doc.get_first("id"))
        return out

    def search(self, text: str, limit: int = 10, snippets: bool = False) -> list[str]:
        return self.search_query(self.parse(text), limit, snippets)


def read_plain_jsonl(paths: Iterable[Path]):
    """(id, title, body) triples from JSONL files, parsed the plain way (json.loads)."""
    from common import open_lines

    for path in paths:
        with open_lines(path) as fh:
            for line in fh:
                if line.strip():
                    d = json.loads(line)
                    yield str(d["id"]), d.get("title") or "", d["body"]


# -- cached benchmark indexes ------------------------------------------------------------------

# Bump when the code building a reference index changes what it writes.
REFERENCE_VERSION = {
    "whoosh-fr": 1,
    "plain": 1,
    "fts5": 1,
    "es-french": 2,
    "es-french-fold": 2,
    "tantivy": 1,
}
INDEX_KINDS = ("searchsvc", "whoosh-fr", "plain", "fts5", "es-french", "es-french-fold", "tantivy")


def index_code(kind: str) -> str:
    """What decides the content of an index of this kind: code and library versions."""
    import whoosh
    from common import digest, searchsvc_index_code

    if kind == "searchsvc":
        return searchsvc_index_code()
    if kind == "fts5":
        return digest(REFERENCE_VERSION[kind], sqlite3.sqlite_version)
    if kind == "tantivy":
        return digest(REFERENCE_VERSION[kind], tantivy_module().__version__)
    if kind.startswith("es-french"):
        from common import code_version

        here = Path(__file__).resolve().parent
        code = code_version(here / "light_french.py")
        return digest(REFERENCE_VERSION[kind], whoosh.versionstring(), code)
    return digest(REFERENCE_VERSION[kind], whoosh.versionstring())


def index_path(kind: str, corpus_key: str) -> Path:
    """Cache folder of an index of ``kind`` for a corpus (``common.file_key`` + doc limit)."""
    from common import WORK, digest

    return WORK / "indexes" / f"{kind}-{digest(corpus_key, index_code(kind))}"


def cached_meta(path: Path) -> dict | None:
    meta = path / "bench-meta.json"
    return json.loads(meta.read_text()) if meta.exists() else None


def prune_cache(kind: str, keep: Path, others: int = 2) -> None:
    """Remove all but the ``others`` most recent caches of ``kind`` besides ``keep``."""
    old, now = [], time.time()
    for p in keep.parent.glob(f"{kind}-*"):
        if p == keep or not p.is_dir():
            continue
        if ".building" in p.name and now - p.stat().st_mtime < 3600:
            continue  # another run may be building it right now
        old.append(p)
    old.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for p in old[others:]:
        shutil.rmtree(p, ignore_errors=True)


def read_documents(corpus: Path):
    """(id, title, body) as searchsvc reads them, so every engine indexes the same text."""
    from searchsvc.ingest.corpus.walk import read_corpus

    for d in read_corpus(corpus):
        yield d.id, d.title, d.body


def build_index(kind: str, corpus: str, target: str) -> dict:
    """Build an index of ``kind`` from a corpus folder at ``target`` (replacing it).

    searchsvc: ``reindex(full=True)`` (the product). fts5: FTS5 table with its content.
    tantivy: tantivy-py, French stems, id, title and body stored.
    whoosh-fr: stock ``LanguageAnalyzer("fr")``, nothing stored; es-french(-fold): the
    Elasticsearch ``french`` chain, nothing stored. plain: the obvious analyzer
    chain with title and body stored (for highlighting). Returns the metadata written.
    """
    from common import dir_size, stamp

    corpus_path, final = Path(corpus), Path(target)
    # Several runs (several people) may build the same cache at once: each in its own folder.
    tmp = final.with_name(f"{final.name}.building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.perf_counter()
    if kind == "searchsvc":
        from searchsvc.ingest.indexer import reindex

        count = reindex(corpus_path, tmp, full=True).documents
    elif kind == "fts5":
        tmp.mkdir(parents=True)
        count = build_fts5(read_documents(corpus_path), tmp / "fts5.db")
    elif kind == "tantivy":
        count = build_tantivy(read_documents(corpus_path), tmp / "tantivy")
    elif kind == "whoosh-fr":
        count = build_whoosh("stock", read_documents(corpus_path), tmp, stored=False)
    elif kind == "plain":
        count = build_whoosh("plain", read_documents(corpus_path), tmp, stored=True)
    elif kind in ("es-french", "es-french-fold"):
        count = build_whoosh(kind, read_documents(corpus_path), tmp, stored=False)
    else:
        raise ValueError(kind)
    meta = {
        "kind": kind,
        "seconds": time.perf_counter() - started,
        "documents": count,
        "bytes": dir_size(tmp),
        "built": stamp(),
    }
    (tmp / "bench-meta.json").write_text(json.dumps(meta))
    old = final.with_name(f"{final.name}.old-{os.getpid()}")
    if final.exists():  # --rebuild: searchers still open on the old files keep them
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except OSError:  # another run finished the same cache first: use theirs
        theirs = cached_meta(final)
        if theirs is None:
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        meta = theirs
    shutil.rmtree(old, ignore_errors=True)
    return meta


def searchable_path(kind: str, path: Path) -> Path:
    """Where to open an index of ``kind`` cached at ``path`` with Whoosh, SQLite or tantivy."""
    if kind == "searchsvc":
        from searchsvc.index import storage

        return path / storage.current_name(path)
    if kind == "fts5":
        return path / "fts5.db"
    if kind == "tantivy":
        return path / "tantivy"
    return path
