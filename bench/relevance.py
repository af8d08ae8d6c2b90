"""Known-item relevance: can people find a document again with the words they would type?

A seeded sample of documents is drawn from the corpus; for each one, queries of several kinds
are derived from its own text, and the rank of that document in each engine's top 10 is
recorded. Reported per query kind: MRR@10, success@1 and success@10.

Query kinds (each seeded and deterministic; a document that cannot give a kind skips it):

* ``title``       the whole title, lower-case and without accents (titles shared by several
                  documents are left out: the target would be ambiguous);
* ``title_part``  2-4 consecutive title words, lower-case, without accents;
* ``body_words``  2-4 distinctive body words (high idf, seen in 2+ documents), as written;
* ``inflected``   the same, with one word put in another inflection by simple French rules
                  (plural s/x/aux, feminine e/euse/ive, -er <-> -é/-ée/-ent/-ait/-ez) — only
                  when the new form is a real word (found elsewhere in the corpus) and is not
                  in the document itself;
* ``unaccented``  2-4 distinctive body words, one or more of them accented, typed without
                  accents;
* ``apostrophe``  an elided word (``l'entreprise``) with the other apostrophe (' <-> ’) plus
                  1-2 distinctive words;
* ``phrase``      a quoted 2-4 word exact phrase from the body.

Natural kinds (issue 30), read from the development set ``bench/natural_questions.jsonl``
(written by reading the documents only, see ``bench/natural_questions.md``), reported in a
table of their own so that the figures of the kinds above stay as they were:

* ``question``    a question as a person types it (« comment afficher … sous linux »);
* ``keywords``    2-5 everyday words for the same need.

Engines, side by side in the same run:

* ``searchsvc``  the product: ``reindex`` then ``SearchEngine.search`` (its query language),
                 with its did-you-mean step stubbed out, as it cannot change the ranks and
                 can take most of the time (``--exact-product`` keeps it);
* ``nostem``     the same schema with no stemming: searchsvc's index queried on its exact
                 (folded, unstemmed) terms only, with Whoosh's MultifieldParser;
* ``whoosh-fr``  Whoosh's stock ``LanguageAnalyzer("fr")``: stemming, no accent folding;
* ``fts5``       SQLite FTS5, ``unicode61 remove_diacritics 2``, bm25 (title weight 2);
* ``es-french``  Elasticsearch's built-in ``french`` analyzer rebuilt in Whoosh (elision,
                 lowercase, Snowball's French stop words, Savoy's light stemmer
                 ``light_french``: ``bench/light_french.py``), BM25F as ``whoosh-fr``;
* ``es-french-fold``  the same chain with ``asciifolding`` after ``lowercase``;
* ``es-french-or``  the ``es-french`` chain and index queried as Elasticsearch's ``match``
                 does by default (``operator: or``): a document with any word matches, ranked
                 by the sum of its words' BM25F (``es-french`` is ``operator: and``);
* ``fts5-or``    FTS5 with the words joined by OR instead of AND.

The two OR engines run on the natural kinds only: an OR query took 65-200 ms here (2 shared
cores), 7 to 20 minutes more over the 6,415 generated queries, whose figures would not change;
``--engines`` without them leaves them out.

``--kinds question,keywords`` runs only those kinds (the natural ones need no query generation:
a couple of minutes with cached indexes), to iterate on a ranking strategy; a run of some kinds
only writes no ``bench/RESULTS.md``. The natural kinds' report also splits searchsvc's queries
by how it answered them: documents with every word, those followed by partial matches
(documents with some of the words), partial matches alone, close words (its fuzzy fallback),
or nothing, with the MRR of each group.

Usage: ``.venv/bin/python bench/relevance.py [CORPUS] [--docs N] [--sample 1000] [--seed 1]``
Built indexes are cached in ``bench/.work/indexes/`` (``--rebuild`` to force).
``--weights as_typed=15,slop=80`` asks what searchsvc's ranks would be with other ranking
weights (``searchsvc.settings.Weights``), without writing ``bench/RESULTS.md``.
``--synonyms bench/synonyms.txt`` adds the engine ``searchsvc+syn`` (searchsvc with that
synonyms file, as ``SEARCHSVC_SYNONYMS`` gives it) beside ``searchsvc``, per kind, and ranks
``SYNONYM_QUERIES``, words a person types where the documents write a synonym, with and
without it; it writes no ``bench/RESULTS.md`` either.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import random
import re
import sqlite3
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from functools import lru_cache
from pathlib import Path

import common
import references
from common import WORK, Status, Timer, digest, file_key, table
from unidecode import unidecode

GENERATOR_VERSION = 4
ENGINES = (
    "searchsvc",
    "nostem",
    "whoosh-fr",
    "fts5",
    "es-french",
    "es-french-fold",
    "es-french-or",
    "fts5-or",
)
# Index kinds, in the order their builds start (the longest first).
INDEX_KINDS = ("searchsvc", "whoosh-fr", "fts5", "es-french", "es-french-fold")
KINDS = ("title", "title_part", "body_words", "inflected", "unaccented", "apostrophe", "phrase")
NATURAL_KINDS = ("question", "keywords")
NATURAL_FILE = Path(__file__).resolve().parent / "natural_questions.jsonl"
# Engines run on the natural kinds only.
NATURAL_ONLY = frozenset({"es-french-or", "fts5-or"})
# What the column of each engine is called in the natural kinds' table, which compares the
# two operators of Elasticsearch's `match` (issue 30).
NATURAL_LABEL = {"es-french": "es-french-and", "fts5": "fts5-and"}
ENGINE_NOTES = {
    "searchsvc": "the product: reindex + SearchEngine.search (query language, snippets; "
    "did-you-mean stubbed out unless --exact-product: it does not change the ranks)",
    "nostem": "searchsvc's index and analyzer, exact (folded) terms only — no stemming; "
    "Whoosh MultifieldParser",
    "whoosh-fr": 'Whoosh stock LanguageAnalyzer("fr"): Snowball stemming, no accent folding',
    "fts5": "SQLite FTS5 unicode61 remove_diacritics 2, bm25 (title weight 2), words ANDed; "
    "`fts5-and` in the natural kinds' table",
    "es-french": "Elasticsearch's `french` analyzer (elision, lowercase, Snowball French stop "
    "words, light_french stemmer) in Whoosh, BM25F, MultifieldParser (AND), title boost 2; "
    "`es-french-and` in the natural kinds' table",
    "es-french-fold": "the same with asciifolding after lowercase",
    "es-french-or": "es-french's chain and index, MultifieldParser with OrGroup: ES `match` "
    "with its default `operator: or` (any word matches, ranked by the sum of BM25F); "
    "natural kinds only",
    "fts5-or": "fts5 with the words joined by OR; natural kinds only",
    "searchsvc+syn": "searchsvc with the synonyms file of --synonyms (SEARCHSVC_SYNONYMS)",
}
# The index each engine searches: "nostem" reads searchsvc's own index, whose exact terms are
# the folded, unstemmed words (a separately built exact-only index ranked the same queries
# within 0.006 MRR@10 per kind, and its build cost three minutes of the ten this run may take).
INDEX_OF = {
    "searchsvc": "searchsvc",
    "searchsvc+syn": "searchsvc",
    "nostem": "searchsvc",
    "whoosh-fr": "whoosh-fr",
    "fts5": "fts5",
    "es-french": "es-french",
    "es-french-fold": "es-french-fold",
    "es-french-or": "es-french",
    "fts5-or": "fts5",
}
K = 10

# What a person types where the documents write a synonym of it (bench/synonyms.txt), beside
# the words the documents use: the target of each is the first result of the latter, the
# document that typing the corpus's own words finds first.
SYNONYM_QUERIES = [
    ("mdp oublié", "mot de passe oublié"),
    ("changer mdp", "changer mot de passe"),
    ("envoyer un mail", "envoyer un courriel"),
    ("screenshot", "capture d'écran"),
    ("wifi masqué", "réseau sans fil masqué"),
    ("clef usb démarrer", "clé usb démarrer"),
    ("vider la poubelle", "vider la corbeille"),
    ("laptop clavier", "ordinateur portable clavier"),
    ("mdp root", "mot de passe superutilisateur"),
    ("download debian", "télécharger debian"),
    ("préférences imprimante", "paramètres imprimante"),
]


# ===========================================================================================
# Query generation
# ===========================================================================================

WORD_RE = re.compile(r"[^\W\d_]+")
TOKEN_RE = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
# Title words as typed: "6.3.5", "edu/skolelinux", "d'api" and "apt-get" stay whole.
TITLE_TOKEN_RE = re.compile(r"[^\W_]+(?:[./'\u2019-][^\W_]+)*")
# Elided forms that WORD_RE cuts out of "jusqu'à", "aujourd'hui": never distinctive words.
ELIDED_PARTS = frozenset("jusqu lorsqu puisqu quoiqu presqu quelqu aujourd".split())
ELISION_RE = re.compile(
    r"(?<![\w'\u2019-])(l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu)(['\u2019])([^\W\d_]{4,})(?![\w'\u2019-])",
    re.IGNORECASE,
)
CLAUSE_SPLIT_RE = re.compile(r"[^\w\s'\u2019-]+|\n")
SPACES_RE = re.compile(r"[ \t]+")


@lru_cache(maxsize=1 << 18)
def _fold(word: str) -> str:
    return unidecode(word.lower())


def _stop_words() -> frozenset[str]:
    """Words no engine is expected to search: searchsvc's list and Whoosh's French one."""
    from whoosh.lang import stopwords_for_language

    from searchsvc.text.analysis import STOP_WORDS

    return frozenset(STOP_WORDS) | {_fold(w) for w in stopwords_for_language("fr")} | ELIDED_PARTS


class Vocabulary:
    """Document frequencies of lower-case words, as written and folded."""

    def __init__(self, docs):
        self.surface: Counter[str] = Counter()
        self.folded: Counter[str] = Counter()
        self.titles: Counter[str] = Counter()
        for doc in docs:
            words = set(WORD_RE.findall((doc.title + "\n" + doc.body).lower()))
            self.surface.update(words)
            self.folded.update({_fold(w) for w in words})
            self.titles[" ".join(title_tokens(doc.title))] += 1
        self.n = max(1, sum(self.titles.values()))


def title_tokens(title: str) -> list[str]:
    """Title words as people type them: lower-case, no accents, leading numbers dropped."""
    toks = [_fold(t) for t in TITLE_TOKEN_RE.findall(title)]
    while toks and not any(c.isalpha() for c in toks[0]):
        toks.pop(0)
    return toks


VERB_SUFFIXES = ("er", "é", "ée", "és", "ées", "ent", "ait", "aient", "ez", "ant")


def inflections(word: str) -> list[str]:
    """Other inflections of a lower-case French word by simple surface rules."""
    w = word
    out: list[str] = []
    # number
    if w.endswith(("s", "x")) and len(w) > 4:
        out.append(w[:-1])
    else:
        out.append(w + "s")
    if w.endswith("al"):
        out.append(w[:-2] + "aux")
    if w.endswith("aux"):
        out.append(w[:-3] + "al")
    if w.endswith(("eau", "eu")):
        out.append(w + "x")
    # gender
    if w.endswith("e") and not w.endswith("ée"):
        out.append(w[:-1])
    elif not w.endswith(("e", "s", "x")):
        out.append(w + "e")
    for masc, fem in (
        ("eux", "euse"),
        ("if", "ive"),
        ("ien", "ienne"),
        ("el", "elle"),
        ("er", "ère"),
    ):
        if w.endswith(masc):
            out.append(w[: -len(masc)] + fem)
        elif w.endswith(fem):
            out.append(w[: -len(fem)] + masc)
    # verbs (first group): infinitive <-> participle, present, imperfect
    for suf in VERB_SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            stem = w[: -len(suf)]
            out.extend(stem + s for s in VERB_SUFFIXES if s != suf)
            break
    seen, result = {w}, []
    for v in out:
        if v not in seen:
            seen.add(v)
            result.append(v)
    return result


def real_variants(word: str, vocab: Vocabulary, doc_folded: set[str]) -> list[str]:
    """Inflections of ``word`` that the corpus has and the document does not."""
    good = []
    for v in inflections(word):
        if vocab.surface[v] < 1 or _fold(v) in doc_folded or _fold(v) == _fold(word):
            continue
        # A verb-form swap needs the stem to look like a verb (three or more of its forms in
        # the corpus), so that "parent" does not become "parer".
        vs = next((s for s in VERB_SUFFIXES if v.endswith(s) and len(v) - len(s) >= 3), None)
        ws = next((s for s in VERB_SUFFIXES if word.endswith(s) and len(word) - len(s) >= 3), None)
        if vs and ws and v[: -len(vs)] == word[: -len(ws)]:
            stem = v[: -len(vs)]
            if sum(vocab.surface[stem + s] > 0 for s in VERB_SUFFIXES) < 3:
                continue
        good.append(v)
    return good


class QueryMaker:
    def __init__(self, vocab: Vocabulary, seed: int):
        self.vocab = vocab
        self.seed = seed
        self.stops = _stop_words()
        self.max_df = max(3, int(0.05 * vocab.n))
        self.rare_df = max(3, int(0.02 * vocab.n))
        self.skipped: Counter[str] = Counter()

    def distinctive(self, body: str) -> list[tuple[str, int]]:
        """Body words by tf-idf, best first: (lower-case word as written, first offset)."""
        lowered = body.lower()
        tf: Counter[str] = Counter()
        first: dict[str, int] = {}
        for m in WORD_RE.finditer(lowered):
            w = m.group()
            tf[w] += 1
            first.setdefault(w, m.start())
        best: dict[str, tuple[float, str]] = {}
        n = self.vocab.n
        for w, count in tf.items():
            f = _fold(w)
            if len(w) < 4 or f in self.stops:
                continue
            df = self.vocab.folded[f]
            if not 2 <= df <= self.max_df:
                continue
            score = count * math.log(n / df)
            if f not in best or score > best[f][0]:
                best[f] = (score, w)
        ranked = sorted(best.values(), key=lambda x: (-x[0], x[1]))[:12]
        return [(w, first[w]) for _s, w in ranked]

    def make(self, doc) -> list[dict]:
        rng = random.Random(f"{self.seed}:{doc.id}")
        queries: list[dict] = []

        def add(kind: str, text: str | None, note: str = "") -> None:
            if text:
                queries.append({"doc": doc.id, "kind": kind, "q": text, "note": note})
            else:
                self.skipped[kind] += 1

        add("title", self.title(doc))
        add("title_part", self.title_part(doc, rng))
        top = self.distinctive(doc.body)
        add("body_words", self.body_words(top, rng))
        inflected = self.inflected(doc, top, rng)
        add("inflected", *(inflected or (None,)))
        add("unaccented", self.unaccented(top, rng))
        add("apostrophe", self.apostrophe(doc, top, rng))
        add("phrase", self.phrase(doc, rng))
        return queries

    # -- kinds ---------------------------------------------------------------------------

    def title(self, doc) -> str | None:
        toks = title_tokens(doc.title)
        text = " ".join(toks)
        if not toks or self.vocab.titles[text] > 1:
            return None
        return text

    def title_part(self, doc, rng: random.Random) -> str | None:
        toks = title_tokens(doc.title)
        spans = []
        for length in (2, 3, 4):
            for i in range(len(toks) - length + 1):
                span = toks[i : i + length]
                if length >= len(toks):
                    continue
                content = [t for t in span if len(t) >= 3 and t not in self.stops]
                if not content:
                    continue
                rare = any(
                    self.vocab.folded[w] <= self.rare_df
                    for t in content
                    for w in WORD_RE.findall(t)
                )
                spans.append((rare, span))
        if not spans:
            return None
        preferred = [s for rare, s in spans if rare] or [s for _r, s in spans]
        return " ".join(rng.choice(preferred))

    def _pick(self, top, rng, must: list[str] | None = None) -> list[str] | None:
        """2-4 words from the top candidates, including ``must``, in document order."""
        must = must or []
        others = [w for w in top if w[0] not in must]
        k = rng.choice((2, 3, 4))
        extra = max(0, k - len(must))
        if len(must) + min(extra, len(others)) < 2:
            return None
        chosen = [w for w in top if w[0] in must] + rng.sample(others, min(extra, len(others)))
        chosen.sort(key=lambda x: x[1])
        return [w for w, _pos in chosen]

    def body_words(self, top, rng) -> str | None:
        words = self._pick(top, rng)
        return " ".join(words) if words else None

    def inflected(self, doc, top, rng) -> tuple[str, str] | None:
        doc_folded = {_fold(w) for w in WORD_RE.findall((doc.title + "\n" + doc.body).lower())}
        options = []
        for w, _pos in top:
            variants = real_variants(w, self.vocab, doc_folded)
            if variants:
                options.append((w, variants))
        if not options:
            return None
        word, variants = rng.choice(options)
        variant = rng.choice(variants)
        words = self._pick(top, rng, must=[word])
        if not words:
            return None
        return " ".join(variant if w == word else w for w in words), f"{word} -> {variant}"

    def unaccented(self, top, rng) -> str | None:
        accented = [w for w, _p in top if not w.isascii()]
        if not accented:
            return None
        words = self._pick(top, rng, must=[rng.choice(accented)])
        return " ".join(_fold(w) for w in words) if words else None

    def apostrophe(self, doc, top, rng) -> str | None:
        found = []
        for m in ELISION_RE.finditer(doc.body):
            host = m.group(3).lower()
            f = _fold(host)
            if f in self.stops or not 2 <= self.vocab.folded[f] <= self.max_df:
                continue
            found.append(m)
        if not found:
            return None
        m = rng.choice(found)
        other_apostrophe = "\u2019" if m.group(2) == "'" else "'"
        elided = m.group(1).lower() + other_apostrophe + m.group(3).lower()
        host_fold = _fold(m.group(3))
        others = [(w, p) for w, p in top if _fold(w) != host_fold]
        if not others:
            return None
        extra = rng.sample(others, min(len(others), rng.choice((1, 2))))
        words = [(elided, m.start()), *extra]
        words.sort(key=lambda x: x[1])
        return " ".join(w for w, _p in words)

    def phrase(self, doc, rng) -> str | None:
        by_length: dict[int, list[str]] = defaultdict(list)
        for clause in CLAUSE_SPLIT_RE.split(doc.body):
            toks = list(TOKEN_RE.finditer(clause))
            for length in (2, 3, 4):
                for i in range(len(toks) - length + 1):
                    span = toks[i : i + length]
                    gaps = [clause[a.end() : b.start()] for a, b in itertools.pairwise(span)]
                    if any(not g or g.strip() for g in gaps):
                        continue
                    words = [w for t in span for w in WORD_RE.findall(t.group())]
                    if len(words) < len(span):
                        continue  # a token without letters
                    if not any(
                        _fold(w) not in self.stops and self.vocab.folded[_fold(w)] <= self.rare_df
                        for w in words
                        if len(w) >= 3
                    ):
                        continue
                    by_length[length].append(" ".join(t.group() for t in span).lower())
        lengths = [n for n in (2, 3, 4) if by_length[n]]
        if not lengths:
            return None
        return '"' + rng.choice(by_length[rng.choice(lengths)]) + '"'


def make_queries(docs, sample: int, seed: int, status: Status) -> tuple[list[dict], Counter]:
    vocab = Vocabulary(docs)
    ids = sorted(d.id for d in docs)
    chosen = set(random.Random(seed).sample(ids, min(sample, len(ids))))
    maker = QueryMaker(vocab, seed)
    queries = []
    for doc in docs:
        if doc.id in chosen:
            queries.extend(maker.make(doc))
    status.note(f"queries: {len(queries)} from {len(chosen)} documents")
    return queries, maker.skipped


# ===========================================================================================
# Engines (each function runs in a worker process)
# ===========================================================================================


def eval_engine(
    engine: str,
    target: str,
    queries: list[str],
    exact_product: bool = False,
    weights: dict[str, float] | None = None,
    synonyms: str | None = None,
) -> tuple[list[list[str]], float, int, list[tuple[str, int] | None]]:
    """Top-10 ids for each query; also the seconds taken, the number of errors and, for
    searchsvc, how it answered each query and its result count (:func:`answered_by`,
    ``total``; None for other engines).

    ``SearchEngine.search`` may run a did-you-mean step after it has ranked the hits (an
    edit-distance scan of the vocabulary for every word), which cannot change them and can
    take most of a search; it is stubbed out in this worker (the suggestion is None) unless
    ``exact_product``. search_latency.py measures it. ``weights`` changes searchsvc's
    ranking weights (``--weights``); ``synonyms`` is the file ``searchsvc+syn`` reads.
    """
    path = Path(target)
    errors = 0
    out: list[list[str]] = []
    modes: list[tuple[str, int] | None] = []
    if engine in ("searchsvc", "searchsvc+syn"):
        from searchsvc.engine.search import SearchEngine
        from searchsvc.errors import QueryError
        from searchsvc.settings import Weights

        # Did-you-mean changes no rank, and costs time: off unless the product is measured.
        chosen = dataclasses.replace(Weights(), **(weights or {}))
        se = SearchEngine(
            path,
            did_you_mean=exact_product,
            weights=chosen,
            synonyms=_synonyms(synonyms) if engine == "searchsvc+syn" else None,
        )

        def run(q: str) -> list[str]:
            result = se.search(q, page=1, per_page=K)
            modes.append((answered_by(result), result.total))
            return [h.id for h in result.hits]

        close = se.close
        expected: tuple[type[BaseException], ...] = (QueryError,)
    elif engine in ("fts5", "fts5-or"):
        searcher = Fts5OrSearcher if engine == "fts5-or" else references.Fts5Searcher
        fs = searcher(references.searchable_path("fts5", path))
        run, close, expected = fs.search, fs.close, ()
    else:
        ws = references.WhooshSearcher(
            references.searchable_path(INDEX_OF[engine], path), exact_only=engine == "nostem"
        )
        if engine == "es-french-or":
            from whoosh import qparser

            ws.plain.group = ws.phrase.group = qparser.OrGroup
        run, close, expected = ws.search, ws.close, ()
    started = time.perf_counter()
    try:
        for q in queries:
            try:
                out.append(run(q))
            except expected:
                errors += 1
                out.append([])
                if engine.startswith("searchsvc"):
                    modes.append(("error", 0))
    finally:
        close()
    seconds = time.perf_counter() - started
    if engine in ("fts5", "fts5-or"):
        errors += fs.errors
    return out, seconds, errors, modes or [None] * len(out)


# How searchsvc answered a query (SearchResult's counts and flags).
ANSWERED_BY = (
    "every word",
    "every word, then some",
    "some words",
    "close words",
    "nothing",
    "error",
)


def answered_by(result) -> str:
    """How searchsvc's result page was made: only documents holding every word the query
    requires (its filler aside); those followed by documents holding some of them (partial
    matches, issue 30); partial matches alone (no document holds them all:
    ``SearchResult.relaxed``); close words for words that matched nothing (its fuzzy
    fallback); or nothing at all."""
    if result.approximate:
        return "close words"
    if not result.total:
        return "nothing"
    every = result.total if result.every_word is None else result.every_word
    if every == 0:
        return "some words"
    return "every word" if every == result.total else "every word, then some"


class Fts5OrSearcher(references.Fts5Searcher):
    """FTS5 with the query's words and phrases joined by OR (a document with any of them
    matches, ranked by bm25), the way people compare an OR ranking with FTS5."""

    def search(self, text: str, limit: int = 10, snippets: bool = False) -> list[str]:
        parts = [references.fts5_query(m.group()) for m in re.finditer(r'"[^"]*"?|\S+', text)]
        query = " OR ".join(p for p in parts if p)
        if not query:
            return []
        try:
            rows = self.con.execute(
                "SELECT id FROM docs WHERE docs MATCH ? "
                f"ORDER BY bm25(docs, 0.0, {references.TITLE_WEIGHT}, 1.0) LIMIT ?",
                (query, limit),
            ).fetchall()
        except sqlite3.OperationalError:
            self.errors += 1
            return []
        return [r[0] for r in rows]


def _synonyms(path: str):
    """The synonyms file, or exit with its one-line error."""
    from searchsvc.query.synonyms import Synonyms

    found = Synonyms(path)
    if found.error:
        raise SystemExit(f"--synonyms: {found.error}")
    return found


def synonym_ranks(index: Path, path: str, exact_product: bool) -> str:
    """The table of SYNONYM_QUERIES: each typed query's target (the first result of the
    corpus's words) and its rank without and with the synonyms, and what they added."""
    from searchsvc.engine.search import SearchEngine

    plain = SearchEngine(index, did_you_mean=exact_product)
    expanded = SearchEngine(index, did_you_mean=exact_product, synonyms=_synonyms(path))
    rows, before, after = [], [], []
    try:
        for typed, written in SYNONYM_QUERIES:
            first = plain.search(written, per_page=1).hits
            if not first:
                continue
            target = first[0]
            ranks = []
            for se in (plain, expanded):
                result = se.search(typed, per_page=K)
                hits = [h.id for h in result.hits]
                ranks.append(hits.index(target.id) + 1 if target.id in hits else None)
            before.append(ranks[0])
            after.append(ranks[1])
            title = target.title if len(target.title) <= 50 else target.title[:49] + "…"
            rows.append(
                [
                    repr(typed),
                    f"{target.id} {title}",
                    str(ranks[0] or "-"),
                    str(ranks[1] or "-"),
                    ", ".join(result.also),
                ]
            )
    finally:
        plain.close()
        expanded.close()
    rows.append(
        [
            "MRR@10",
            f"{len(rows)} queries",
            f"{metrics(before)[0]:.3f}",
            f"{metrics(after)[0]:.3f}",
            "",
        ]
    )
    headers = ["typed", "target (first result of the corpus's words)", "without", "with", "also"]
    return (
        f"Queries typed with a synonym (--synonyms {path}): the target's rank in the top "
        f"{K} ('-': not in it)\n\n" + table(headers, rows)
    )


# ===========================================================================================
# Main
# ===========================================================================================


def parse_args(argv=None) -> argparse.Namespace:
    p = common.arg_parser(__doc__)
    p.add_argument("--sample", type=int, default=1000, help="documents to derive queries from")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset")
    p.add_argument("--rebuild", action="store_true", help="ignore cached indexes")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (builds, queries)")
    p.add_argument(
        "--examples",
        type=int,
        default=3,
        help="per kind, queries where searchsvc ranks the target lower than another engine",
    )
    p.add_argument(
        "--exact-product",
        action="store_true",
        help="run SearchEngine.search untouched, did-you-mean included (slower; same ranks)",
    )
    p.add_argument("--no-results", action="store_true", help="do not update bench/RESULTS.md")
    p.add_argument(
        "--kinds",
        default="",
        help="comma-separated query kinds to run (default: all); e.g. question,keywords, the "
        "natural kinds alone, in a couple of minutes; a run of some kinds writes no RESULTS.md",
    )
    p.add_argument(
        "--weights",
        default="",
        help="what-if: searchsvc's ranking weights changed, as NAME=VALUE,... of "
        "searchsvc.settings.Weights (as_typed=15,slop=80); never written to RESULTS.md",
    )
    p.add_argument(
        "--synonyms",
        metavar="FILE",
        default=None,
        help="also run searchsvc with this synonyms file (engine searchsvc+syn) and rank the "
        "queries typed with a synonym; never written to RESULTS.md",
    )
    args = p.parse_args(argv)
    args.weights = parse_weights(args.weights)
    every_kind = (*KINDS, *NATURAL_KINDS)
    wanted = [k.strip() for k in args.kinds.split(",") if k.strip()] or list(every_kind)
    unknown = [k for k in wanted if k not in every_kind]
    if unknown:
        p.error(f"--kinds: unknown {', '.join(unknown)} (known: {', '.join(every_kind)})")
    args.kinds = [k for k in every_kind if k in wanted]
    return args


def parse_weights(text: str) -> dict[str, float]:
    """``as_typed=15,slop=80`` as Weights fields (their types kept); unknown names refused."""
    from searchsvc.settings import Weights

    known = {f.name: f.type for f in dataclasses.fields(Weights)}
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _sep, value = item.partition("=")
        if name not in known:
            raise SystemExit(f"--weights: no weight {name!r} (known: {', '.join(known)})")
        out[name] = int(value) if known[name] in (int, "int") else float(value)
    return out


def metrics(ranks: list[int | None]) -> tuple[float, float, float]:
    n = len(ranks) or 1
    mrr = sum(1 / r for r in ranks if r) / n
    s1 = sum(1 for r in ranks if r == 1) / n
    s10 = sum(1 for r in ranks if r) / n
    return mrr, s1, s10


def natural_queries(kinds: list[str]) -> list[dict]:
    """The development set's entries as queries of the natural kinds asked for."""
    queries = []
    with open(NATURAL_FILE, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                entry = json.loads(line)
                for kind in kinds:
                    queries.append({"doc": entry["id"], "kind": kind, "q": entry[kind], "note": ""})
    return queries


def natural_report(
    queries: list[dict],
    idx: list[int],
    engines: list[str],
    ranks: dict[str, dict[int, int | None]],
    how: dict[int, tuple[str, int]],
    missing: list[str],
) -> str:
    """The natural kinds' tables: each engine's MRR@10, success@1 and success@10 per kind,
    then how searchsvc answered the queries (every word or a fallback) and its MRR in each
    group, beside the OR ranking's on the same queries."""
    kinds = [k for k in NATURAL_KINDS if any(queries[i]["kind"] == k for i in idx)]
    by_kind = {k: [i for i in idx if queries[i]["kind"] == k] for k in kinds}
    groups = {"all": idx, **by_kind} if len(kinds) > 1 else dict(by_kind)
    entries = len({queries[i]["doc"] for i in idx})

    def scores(e: str, which: int) -> list[float]:
        return [metrics([ranks[e][i] for i in ids])[which] for ids in groups.values()]

    def cells(values_by_engine: dict[str, list[float]], pct: bool) -> dict[str, list[str]]:
        columns = list(zip(*values_by_engine.values(), strict=True))
        best = [max(c) for c in columns]
        return {
            e: [
                (f"{100 * v:.1f}%" if pct else f"{v:.3f}") + ("*" if v == b else " ")
                for v, b in zip(vals, best, strict=True)
            ]
            for e, vals in values_by_engine.items()
        }

    label = {e: NATURAL_LABEL.get(e, e) for e in engines}
    mrr = cells({e: scores(e, 0) for e in engines}, pct=False)
    found = cells({e: scores(e, 2)[:1] for e in engines}, pct=True)
    main_rows = [[label[e], *mrr[e], *found[e]] for e in engines]
    first = next(iter(groups))
    main_table = table(["engine (MRR@10)", *groups, f"found in the top {K} ({first})"], main_rows)
    s1 = cells({e: scores(e, 1) for e in engines}, pct=True)
    s10 = cells({e: scores(e, 2) for e in engines}, pct=True)
    detail = table(
        ["engine", *(f"success@1 {g}" for g in groups), *(f"success@10 {g}" for g in groups)],
        [[label[e], *s1[e], *s10[e]] for e in engines],
    )
    counts = ", ".join(f"{g} {len(ids)}" for g, ids in groups.items())
    parts = [
        f"Development set `bench/natural_questions.jsonl`: {entries} documents, one question "
        f"and one keywords query each; queries: {counts}. The target is the document the "
        "entry was written for (* = best in column). `es-french-and` is the engine "
        "`es-french` (ES `match`, `operator: and`), `es-french-or` the same chain and index "
        "with `operator: or` (ES's default); `fts5-and` is the engine `fts5`.",
        main_table,
        detail,
    ]
    if how:
        others = [e for e in ("es-french-or", "fts5-or") if e in engines]
        rows = []
        for g, ids in groups.items():
            for mode in ANSWERED_BY:
                chosen = [i for i in ids if how[i][0] == mode]
                if not chosen:
                    continue
                totals = sorted(how[i][1] for i in chosen)
                mine = metrics([ranks["searchsvc"][i] for i in chosen])
                row = [
                    g,
                    mode,
                    str(len(chosen)),
                    str(totals[len(totals) // 2]),
                    f"{mine[0]:.3f}",
                    f"{100 * mine[2]:.1f}%",
                ]
                for other in others:
                    row.append(f"{metrics([ranks[other][i] for i in chosen])[0]:.3f}")
                rows.append(row)
        headers = ["kind", "searchsvc answered with", "queries", "median results", "MRR@10"]
        headers.append(f"found in the top {K}")
        headers += [f"{other} MRR@10 (same queries)" for other in others]
        parts.append(
            "How searchsvc answered them: only documents holding *every word* the query "
            "requires (filler words aside); *every word, then some*: those followed by partial "
            "matches, documents holding some of the words; *some words*: partial matches "
            "alone (no document holds them all, `SearchResult.relaxed`); *close words* for "
            "words that matched nothing (its fuzzy fallback); *nothing*. Median results: the "
            "median of the result count (`total`) in the group.\n\n" + table(headers, rows)
        )
    if missing:
        parts.append(f"Targets not in the corpus: {', '.join(missing)}.")
    return "\n\n".join(parts)


def main(argv=None) -> int:
    args = parse_args(argv)
    status = Status()
    started = time.perf_counter()
    code = common.code_note()  # the code measured, noted before it can change
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        raise SystemExit(f"unknown engines: {', '.join(sorted(unknown))}")
    generated = [k for k in args.kinds if k in KINDS]
    natural = [k for k in args.kinds if k in NATURAL_KINDS]
    if not natural:
        engines = [e for e in engines if e not in NATURAL_ONLY]
    if not engines:
        raise SystemExit("no engine to run on these kinds")
    if args.synonyms:
        _synonyms(args.synonyms).current()  # a bad file stops the run before anything
        if "searchsvc" not in engines:
            engines.insert(0, "searchsvc")
        engines.insert(engines.index("searchsvc") + 1, "searchsvc+syn")
    corpus_file = args.corpus
    if not corpus_file.exists():
        raise SystemExit(f"corpus not found: {corpus_file}")
    folder = common.corpus_dir(corpus_file, args.docs)
    corpus_key = f"{file_key(corpus_file)}:{args.docs}"

    # -- indexes: start the missing builds at once, the longest first ----------------------
    indexes = [i for i in INDEX_KINDS if i in {INDEX_OF[e] for e in engines}]
    paths = {i: references.index_path(i, corpus_key) for i in indexes}
    build_seconds: dict[str, float] = {}
    cached: dict[str, bool] = {}
    for i in indexes:
        meta = references.cached_meta(paths[i])
        if meta and not args.rebuild:
            build_seconds[i] = meta["seconds"]
            cached[i] = True
    to_build = [i for i in indexes if i not in cached]
    for i in to_build:
        paths[i].parent.mkdir(parents=True, exist_ok=True)
        references.prune_cache(i, paths[i])

    pool = ProcessPoolExecutor(max_workers=max(1, args.jobs))
    pending = {}
    for i in to_build:
        status.note(f"building {i} index ({paths[i].name}) …")
        fut = pool.submit(references.build_index, i, str(folder), str(paths[i]))
        pending[fut] = ("build", i, None)

    # -- queries (while the indexes build) ---------------------------------------------------
    queries: list[dict] = []
    skipped: Counter[str] = Counter()
    if generated:
        qcache = (
            WORK
            / "queries"
            / f"relevance-{digest(corpus_key, args.sample, args.seed, GENERATOR_VERSION)}.json"
        )
        if qcache.exists():
            data = json.loads(qcache.read_text())
            queries, skipped = data["queries"], Counter(data["skipped"])
            status.note(f"queries: {len(queries)} (cached {qcache.name})")
        else:
            from searchsvc.ingest.corpus.walk import read_corpus

            with Timer() as t:
                docs = list(read_corpus(folder))
                queries, skipped = make_queries(docs, args.sample, args.seed, status)
                del docs
            status.note(f"queries made in {t.seconds:.1f} s")
            qcache.parent.mkdir(parents=True, exist_ok=True)
            qcache.write_text(
                json.dumps({"queries": queries, "skipped": skipped}, ensure_ascii=False)
            )
        queries = [q for q in queries if q["kind"] in generated]
    n_generated = len(queries)
    missing: list[str] = []
    if natural:
        queries += natural_queries(natural)
        known = {d["id"] for d in common.iter_jsonl(folder)}
        missing = sorted({q["doc"] for q in queries[n_generated:]} - known)
        status.note(f"natural queries: {len(queries) - n_generated} ({', '.join(natural)})")
    texts = [q["q"] for q in queries]
    # The queries each engine runs: the OR engines, the natural kinds only.
    todo = {
        e: [i for i in range(len(queries)) if i >= n_generated or e not in NATURAL_ONLY]
        for e in engines
    }

    # -- evaluation: small chunks, so that both workers stay busy to the end ------------------
    size = max(50, math.ceil(len(texts) / (8 * max(1, args.jobs))))
    results: dict[str, dict[int, list[str]]] = {e: {} for e in engines}
    # How searchsvc answered each query: (answered_by, total).
    how: dict[int, tuple[str, int]] = {}
    eval_seconds: dict[str, float] = defaultdict(float)
    errors: Counter[str] = Counter()

    def submit_evals(index: str) -> None:
        # The slowest engine first: the pool takes tasks in order.
        users = [e for e in engines if INDEX_OF[e] == index]
        for e in sorted(users, key=lambda e: not e.startswith("searchsvc")):
            for start in range(0, len(todo[e]), size):
                chunk = todo[e][start : start + size]
                fut = pool.submit(
                    eval_engine,
                    e,
                    str(paths[index]),
                    [texts[i] for i in chunk],
                    args.exact_product,
                    args.weights,
                    args.synonyms,
                )
                pending[fut] = ("eval", e, chunk)

    for i in indexes:
        if i in cached:
            submit_evals(i)
    try:
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in done:
                what, name, chunk = pending.pop(fut)
                if what == "build":
                    build_seconds[name] = fut.result()["seconds"]
                    cached[name] = False
                    status.note(f"built {name} in {build_seconds[name]:.1f} s")
                    submit_evals(name)
                else:
                    hits, seconds, errs, modes = fut.result()
                    for i, found, mode in zip(chunk, hits, modes, strict=True):
                        results[name][i] = found
                        if name == "searchsvc":
                            how[i] = mode
                    eval_seconds[name] += seconds
                    errors[name] += errs
                    left = len(todo[name]) - len(results[name])
                    if not left:
                        status.note(f"evaluated {name} ({eval_seconds[name]:.1f} s)")
                    else:
                        status.tick(f"{name}: {left} queries left")
    finally:
        pool.shutdown(cancel_futures=True)

    # -- scores --------------------------------------------------------------------------
    ranks: dict[str, dict[int, int | None]] = {}
    for e in engines:
        ranks[e] = {}
        for i, hits in results[e].items():
            doc = queries[i]["doc"]
            ranks[e][i] = hits.index(doc) + 1 if doc in hits else None
    # A what-if run (--weights, --synonyms) keeps its ranks apart: relevance_limits.py reads
    # the last real one, of the generated kinds (the natural kinds' go to a file of their own).
    whatif = args.weights or args.synonyms
    every_kind = args.kinds == [*KINDS, *NATURAL_KINDS]
    ranks_files = []
    for first, last, name in (
        (0, n_generated, "relevance-whatif.jsonl" if whatif else "relevance-last.jsonl"),
        (n_generated, len(queries), f"relevance-natural{'-whatif' if whatif else ''}.jsonl"),
    ):
        if first == last or (name == "relevance-last.jsonl" and generated != list(KINDS)):
            continue  # a run of some generated kinds leaves the last full run's ranks alone
        ranks_files.append(WORK / name)
        with open(WORK / name, "w", encoding="utf-8") as fh:
            for i in range(first, last):
                row = dict(queries[i], ranks={e: ranks[e][i] for e in engines if i in ranks[e]})
                if i in how:
                    row["searchsvc_answered_by"], row["searchsvc_total"] = how[i]
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(queries):
        by_kind[q["kind"]].append(i)
    kinds = [k for k in KINDS if by_kind[k]]
    gen_engines = [e for e in engines if e not in NATURAL_ONLY]

    def rows_for(which: int) -> list[list[str]]:
        rows = []
        for kind in [*kinds, "all"]:
            idx = by_kind[kind] if kind != "all" else range(n_generated)
            vals = [metrics([ranks[e][i] for i in idx])[which] for e in gen_engines]
            best = max(vals) if vals else 0
            cells = [
                (f"{v:.3f}" if which == 0 else f"{100 * v:.1f}%") + ("*" if v == best else " ")
                for v in vals
            ]
            rows.append([kind, str(len(idx)), *cells])
        return rows

    headers = ["kind", "queries", *gen_engines]
    sections = []
    if generated:
        for which, name in enumerate(("MRR@10", "success@1", "success@10")):
            sections.append(f"{name} (* = best in row)\n\n" + table(headers, rows_for(which)))
    natural_txt = ""
    if natural:
        natural_txt = natural_report(
            queries, list(range(n_generated, len(queries))), engines, ranks, how, missing
        )
    timing_rows = []
    for e in engines:
        per_q = 1000 * eval_seconds[e] / max(1, len(todo[e]))
        i = INDEX_OF[e]
        if i != e:
            build = f"({i}'s)"
        else:
            build = f"{build_seconds[i]:.1f} s" + (" (cached)" if cached.get(i) else "")
        timing_rows.append(
            [
                e,
                build,
                str(len(todo[e])),
                f"{eval_seconds[e]:.1f} s",
                f"{per_q:.1f} ms",
                str(errors[e]),
            ]
        )
    timing = table(
        ["engine", "index build", "queries run", "query time", "per query", "errors"], timing_rows
    )
    skipped_txt = ", ".join(f"{k} {skipped[k]}" for k in generated if skipped.get(k))
    total = time.perf_counter() - started
    ndocs = references.cached_meta(paths[indexes[0]])["documents"]
    header = f"corpus {corpus_file} ({ndocs} documents), "
    if generated:
        header += f"sample {args.sample} documents, seed {args.seed}, {n_generated} queries"
        if natural:
            header += f" (and {len(queries) - n_generated} natural ones)"
    else:
        header += f"natural kinds only: {len(queries)} queries"
    if args.kinds != [*KINDS, *NATURAL_KINDS]:
        header += f"; kinds {', '.join(args.kinds)}"
    notes = common.engine_notes(engines, ENGINE_NOTES)
    report = "\n\n".join(
        [
            header,
            *sections,
            *(
                [f"### Natural questions (issue 30, development set)\n\n{natural_txt}"]
                * bool(natural)
            ),
            "Build and query time (builds run side by side with --jobs "
            f"{args.jobs}; query time is the sum over workers; "
            + (
                "searchsvc untouched"
                if args.exact_product
                else "searchsvc without its did-you-mean step, which does not change the ranks"
            )
            + ")\n\n"
            + timing,
            *([f"Kinds left out for lack of material: {skipped_txt or 'none'}."] * bool(generated)),
        ]
    )
    print(report)
    if args.synonyms:
        print("\n" + synonym_ranks(paths["searchsvc"], args.synonyms, args.exact_product))
    print(f"\ntotal {total:.0f} s; per-query ranks in {', '.join(map(str, ranks_files))}")

    # -- examples where searchsvc loses ------------------------------------------------------
    if "searchsvc" in engines and args.examples > 0 and len(engines) > 1:
        lines = []
        for kind in [*kinds, *natural]:
            shown = 0
            for i in by_kind[kind]:
                mine = ranks["searchsvc"][i] or 99
                others = {e: ranks[e][i] for e in engines if e != "searchsvc" and i in ranks[e]}
                if any((r or 99) < mine for r in others.values()):
                    q = queries[i]
                    rk = ", ".join(f"{e} {r or '-'}" for e, r in others.items())
                    extra = f"  [{q['note']}]" if q.get("note") else ""
                    mine_txt = ranks["searchsvc"][i] or "-"
                    lines.append(
                        f"{kind:<11} {q['q']!r} -> {q['doc']}: searchsvc {mine_txt}; {rk}{extra}"
                    )
                    shown += 1
                    if shown >= args.examples:
                        break
        if lines:
            print("\nQueries where searchsvc ranks the target lower than another engine:")
            print("\n".join(lines))
    if natural:
        span = range(n_generated, len(queries))
        lost = [i for i in span if not any(ranks[e].get(i) for e in engines)]
        found_docs = {queries[i]["doc"] for i in span if i not in lost}
        lost_docs = {queries[i]["doc"] for i in lost}
        print(
            f"\nNatural queries whose target no engine has in its top {K}: {len(lost)}, of "
            f"{len(lost_docs)} entries ({len(lost_docs - found_docs)} with no query found):"
        )
        for i in lost:
            q = queries[i]
            mark = "  (no query found)" if q["doc"] not in found_docs else ""
            print(f"  {q['doc']} {q['kind']:<8} {q['q']!r}{mark}")

    if args.weights or args.synonyms:
        changed = f"weights {args.weights}" if args.weights else ""
        changed += " and " if args.weights and args.synonyms else ""
        changed += f"synonyms {args.synonyms}" if args.synonyms else ""
        print(f"\nsearchsvc {changed} (RESULTS.md left as it was)")
    elif not every_kind:
        print("\nsome kinds only: RESULTS.md left as it was")
    elif not args.no_results:
        common.write_results(
            "Relevance",
            code,
            report,
            "Engines:\n\n" + notes,
            f"Whole run: {total:.0f} s. Per-query ranks: `bench/.work/relevance-last.jsonl` "
            "(natural kinds: `bench/.work/relevance-natural.jsonl`).",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
