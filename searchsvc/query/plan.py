"""Turn a parsed query into a :class:`Plan`: Whoosh queries over the index's exact, stem and
variant terms, and what the result page needs to know of them.

A plain word matches its exact (folded) form and its stems; the stems come from the accented
spellings the corpus has for that folded form (the ``variants`` field), so ``elysee`` is
stemmed as ``élysée`` would be. Everything here depends only on the folded query text, which
is what makes accents, case and apostrophes irrelevant to what a query finds. The query nodes
of searchsvc's own that a plan holds are in :mod:`searchsvc.query.nodes`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from math import log

from whoosh import query as wq
from whoosh.reading import IndexReader

from searchsvc.index.caches import Key, expand_prefix, frequency, per_reader
from searchsvc.index.schema import TEXT_FIELDS
from searchsvc.query import language as ql
from searchsvc.query import spelling
from searchsvc.query.filler import is_filler
from searchsvc.query.nodes import Coverage, ExactPhrase, Exclude, FromSource, Union
from searchsvc.query.scoring import PHRASE_IDF_FIELD
from searchsvc.query.sources import sources_named
from searchsvc.query.synonyms import Synonym, SynonymSet, unit_keys
from searchsvc.settings import STEMS_CACHED, Weights
from searchsvc.text.analysis import (
    STEM_MARK,
    STOP_WORDS,
    QueryToken,
    analyze_query,
    word_terms,
)
from searchsvc.text.variants import decode_variant, variant_prefix


@dataclass
class Highlights:
    """Terms a snippet should mark: exact forms, stems (without the mark) and prefixes."""

    exact: set[str] = field(default_factory=set)
    stems: set[str] = field(default_factory=set)
    prefixes: set[str] = field(default_factory=set)

    def matches(self, exact: str, stems: tuple[str, ...] | str = ()) -> bool:
        """Tell whether a token with these terms (its exact form, and its stems: its own and
        its lemmas', see :attr:`~searchsvc.text.analysis.WordTerms.stems`) is one the query
        looked for."""
        if exact in self.exact:
            return True
        if isinstance(stems, str):
            stems = (stems,) if stems else ()
        if not self.stems.isdisjoint(stems):
            return True
        return bool(self.prefixes) and exact.startswith(tuple(self.prefixes))


@dataclass(frozen=True)
class Plan:
    """What :meth:`QueryBuilder.build` makes of a parsed query: the queries to run, and what
    the page shows of them. ``query`` is None when nothing is left to search (stop words)."""

    query: wq.Query | None
    # The documents holding some of the content words but not all (partial mode; None when
    # the query has no such matches to look for, see Coverage).
    partial_query: wq.Query | None = None
    highlights: Highlights = field(default_factory=Highlights)  # what snippets should mark
    # The plain words searched (not negated), in order: exact form and stems.
    words: tuple[tuple[str, tuple[str, ...]], ...] = ()
    approximate: frozenset[str] = frozenset()  # words matched through close words
    filler: tuple[str, ...] = ()  # the words taken as filler (not required), as typed
    also: tuple[str, ...] = ()  # the synonyms added to the query, as the file writes them


class QueryBuilder:
    """Build plans for one index reader (the variants lookup needs the index); one builder
    serves the several builds of a search (its fallbacks), each with a state of its own."""

    def __init__(
        self,
        reader: IndexReader,
        weights: Weights | None = None,
        *,
        synonyms: SynonymSet | None = None,
        partial: bool = False,
    ):
        """``synonyms``: words a rule names also match its synonyms (see :meth:`_siblings`);
        ``partial``: filler words of the top level (:mod:`searchsvc.query.filler`) are not
        required, and :attr:`Plan.partial_query` finds the documents holding only some of
        the content words (see :class:`~searchsvc.query.nodes.Coverage`)."""
        self.reader = reader
        self.weights = weights or Weights()
        self.synonyms = synonyms or None
        self.partial = partial
        self._stems = _stems_seen(reader)
        # What a word looked up gave, kept for the builder's life: a search builds its plan,
        # the partial matches' clauses and its fuzzy fallback from the same words.
        self._close: dict[str, list[str]] = {}
        self._named: dict[str, frozenset[str]] = {}
        self._start(fuzzy=False)

    def _start(self, fuzzy: bool) -> None:
        """The state of one build, filled along the way (what :class:`Plan` returns)."""
        self.fuzzy = fuzzy
        self.highlights = Highlights()
        self.approximate: set[str] = set()
        self.words: list[tuple[str, tuple[str, ...]]] = []
        self.also: list[str] = []
        self.partial_query: wq.Query | None = None
        self.filler: list[str] = []
        self._expanding = False  # building a synonym: weighed down, no as-typed bonus
        self._untyped = False  # building the partial matches' clauses: no as-typed bonus
        self._quiet = False  # building filler clauses: not marked, no bonus (see _optional)
        self._sources = False  # building content words of several: found in source names too
        self._depth = 0

    def build(self, node: ql.Node, *, fuzzy: bool = False) -> Plan:
        """The plan of ``node``. ``fuzzy``: a word that matches nothing also matches close
        words (typo tolerance), listed in :attr:`Plan.approximate`."""
        self._start(fuzzy)
        query = self._build(node, negated=False)
        return Plan(
            query,
            self.partial_query,
            self.highlights,
            tuple(self.words),
            frozenset(self.approximate),
            tuple(self.filler),
            tuple(self.also),
        )

    # -- tree ----------------------------------------------------------------------------

    def _build(self, node: ql.Node, negated: bool) -> wq.Query | None:
        if isinstance(node, ql.Not):
            inner = self._build(node.node, not negated)
            return None if inner is None else wq.Not(inner)
        if isinstance(node, ql.All):
            self._depth += 1
            try:
                return self._all(node, negated)
            finally:
                self._depth -= 1
        if isinstance(node, ql.Any):
            parts = [q for q in (self._build(n, negated) for n in node.nodes) if q is not None]
            return _one_or(parts, Union)
        if isinstance(node, ql.Phrase):
            return self.phrase(node, negated)
        if isinstance(node, ql.Prefix):
            return self.prefix(node, negated)
        if self.synonyms is not None and not negated:
            return _one_or(self._siblings([node], negated), wq.And)
        return self.word(node, negated)

    def _all(self, node: ql.All, negated: bool) -> wq.Query | None:
        negative, children = [], []
        for child in node.nodes:
            if isinstance(child, ql.Not):
                q = self._build(child.node, not negated)
                if q is not None:
                    negative.append(q)
            else:
                children.append(child)
        top = self._depth == 1 and not negated
        filler = self._filler(children) if self.partial and top else []
        content = [c for c in children if c not in filler]
        # A word may name a document's source when other words say what is looked for.
        outer, self._sources = self._sources, self.partial and top and len(content) > 1
        try:
            positive = self._siblings(content, negated)
        finally:
            self._sources = outer
        optional = self._optional(filler)
        if not positive and not negative and not optional:
            return None
        base = _one_or(positive, wq.And) if positive else wq.Every()
        if optional:  # counted where found, never required
            base = wq.AndMaybe(base, _one_or(optional, Union))
        if len(positive) + len(optional) > 1 and not negated:
            near = self._proximity(node)
            if near is not None:
                base = wq.AndMaybe(base, near)
        if self.partial and top and len(positive) > 1:
            partial = self._coverage(content)
            self.partial_query = Exclude(partial, _one_or(negative, Union)) if negative else partial
        if negative:
            return Exclude(base, _one_or(negative, Union))
        return base

    def _filler(self, children: list[ql.Node]) -> list[ql.Node]:
        """The plain words among ``children`` that are filler (see
        :func:`~searchsvc.query.filler.is_filler`); none when every word is."""
        found = []
        for child in children:
            if not isinstance(child, ql.Word) or child.field == "source":
                continue
            tokens = [t for t in analyze_query(child.text) if t.role != "joined"]
            if tokens and all(
                is_filler(self.reader, t, self.stems_for(t.exact) if t.kind == "word" else [])
                for t in tokens
            ):
                found.append(child)
        if len(found) == len(children):
            return []  # « comment faire »: nothing else to look for
        self.filler = [n.text for n in found]
        return found

    def _optional(self, filler: list[ql.Node]) -> list[wq.Query]:
        """Filler words' clauses: a document holding them scores their BM25F, nothing more
        (no as-typed bonus, no title signal, no mark in snippets: they are not what is
        looked for)."""
        self._quiet = True
        try:
            return [q for q in (self._build(n, False) for n in filler) if q is not None]
        finally:
            self._quiet = False

    def _coverage(self, content: list[ql.Node]) -> Coverage:
        """The query of the partial matches: the content clauses built again without the
        as-typed bonus (measured: it ranks a partial match by a count of words, not by
        their meaning), each with its share of their idf. Filler plays no part."""
        self._untyped, outer, self._sources = True, self._sources, True
        try:
            clauses = self._siblings(content, False)
        finally:
            self._untyped, self._sources = False, outer
        idfs = [self._idf(q) for q in clauses]
        total = sum(idfs) or 1.0
        return Coverage(clauses, [x / total for x in idfs])

    def _idf(self, q: wq.Query) -> float:
        """BM25's idf of a clause, from how many documents may hold it: a union at least as
        many as its most frequent term, a conjunction or phrase at most as its rarest."""
        n = self.reader.doc_count_all()
        df = min(_documents(self.reader, q), n)
        return log(1 + (n - df + 0.5) / (df + 0.5))

    def _proximity(self, node: ql.All) -> wq.Query | None:
        """Reward documents where the plain words of ``node`` stand close together."""
        words = []
        for child in node.nodes:
            if isinstance(child, ql.Word) and child.field != "source":
                tokens = analyze_query(child.text)
                if len(tokens) == 1 and tokens[0].kind == "word":
                    words.append(tokens[0].exact)
        if len(words) < 2 or not self.weights.proximity:
            return None
        w = self.weights
        return _one_or(
            [
                wq.Phrase(f, words, slop=w.slop, boost=w.proximity * self._field_weight(f))
                for f in TEXT_FIELDS
            ],
            Union,
        )

    # -- synonyms ------------------------------------------------------------------------

    def _siblings(self, nodes: list[ql.Node], negated: bool) -> list[wq.Query]:
        """Build clauses that must all match; with synonyms, a run of plain words a rule
        names (``mot de passe``) matches them or the rule's synonyms (``mdp``).

        The words keep their weights and bonus; a synonym counts ``Weights.synonym`` of them
        and no as-typed bonus, so a document with the words typed comes first; a synonym of
        several words is a phrase. Negated words and quoted phrases are never expanded.
        """
        spans = self._synonym_spans(nodes) if self.synonyms is not None and not negated else {}
        built, i = [], 0
        while i < len(nodes):
            if i in spans:
                end, synonyms = spans[i]
                q = self._with_synonyms(nodes[i:end], synonyms)
                i = end
            else:
                node = nodes[i]
                q = (
                    self.word(node, negated)
                    if isinstance(node, ql.Word)
                    else self._build(node, negated)
                )
                i += 1
            if q is not None:
                built.append(q)
        return built

    def _synonym_spans(self, nodes: list[ql.Node]) -> dict[int, tuple[int, tuple[Synonym, ...]]]:
        """Where runs of words name a rule: first node -> (node after the run, synonyms);
        the longest rule first, a run made of whole words in one field."""
        spans: dict[int, tuple[int, tuple[Synonym, ...]]] = {}
        keys: list[frozenset[str]] = []  # the run's words (compounds joined), by unit_keys
        owner: list[int] = []  # the node each of them comes from
        for i, node in enumerate([*nodes, None]):
            same = isinstance(node, ql.Word) and node.field != "source"
            if same and owner and nodes[owner[-1]].field != node.field:
                same = False
            if not same:
                self._match_run(keys, owner, spans)
                keys, owner = [], []
            if isinstance(node, ql.Word) and node.field != "source":
                for joined, parts in _units(analyze_query(node.text)):
                    token = joined or parts[0]
                    stems = self.stems_for(token.exact) if token.kind == "word" else []
                    keys.append(unit_keys(token.exact, stems) | _written_keys(token))
                    owner.append(i)
        return spans

    def _match_run(self, keys: list[frozenset[str]], owner: list[int], spans: dict) -> None:
        """Add to ``spans`` the rules a run of words names, left to right, longest first."""
        u = 0
        while u < len(keys):
            match = None
            if u == 0 or owner[u - 1] != owner[u]:  # a rule starts at a word's start
                match = self.synonyms.longest(
                    keys, u, lambda end: end == len(keys) or owner[end] != owner[end - 1]
                )
            if match is None:
                u += 1
                continue
            length, synonyms = match
            spans[owner[u]] = (owner[u + length - 1] + 1, synonyms)
            u += length

    def _with_synonyms(self, nodes: list[ql.Node], synonyms: tuple[Synonym, ...]) -> wq.Query:
        """The words of ``nodes``, or any of ``synonyms`` (weighed down, marked in snippets)."""
        words = _one_or([q for q in (self.word(n) for n in nodes) if q is not None], wq.And)
        fields = _fields(nodes[0].field)
        added = []
        with self._as_synonym():
            for syn in synonyms:
                if syn.phrase:
                    tokens = analyze_query(syn.text, removestops=False)
                    phrase = [t.elided or t.exact for t in tokens if t.role != "joined"]
                    added.append(self._phrase(phrase, fields, False))
                else:
                    added.append(self.word(ql.Word(syn.text, nodes[0].field)))
                if syn.text not in self.also:
                    self.also.append(syn.text)
        return _one_or([q for q in (words, *added) if q is not None], Union)

    @contextmanager
    def _as_synonym(self) -> Iterator[None]:
        self._expanding = True
        try:
            yield
        finally:
            self._expanding = False

    # -- leaves --------------------------------------------------------------------------

    def word(self, node: ql.Word, negated: bool = False) -> wq.Query | None:
        """Match a word by its exact form and its stems, in title and body."""
        if node.field == "source":
            return wq.Term("source", node.text)
        fields = _fields(node.field)
        units = _units(analyze_query(node.text))
        queries = []
        for joined, parts in units:
            options = []
            if joined is not None:
                options.append(self._token(joined, fields, negated))
            if len(parts) > 1:
                options.append(self._phrase([p.exact for p in parts], fields, negated))
            elif parts and joined is None:
                options.append(self._token(parts[0], fields, negated))
            q = _one_or([o for o in options if o is not None], Union)
            if q is not None:
                queries.append(q)
        return _one_or(queries, wq.And)

    def phrase(self, node: ql.Phrase, negated: bool = False) -> wq.Query | None:
        """Match words standing together in order, by their exact (folded) forms."""
        fields = _fields(node.field)
        tokens = analyze_query(node.text, removestops=False)
        words = [t.elided or t.exact for t in tokens if t.role != "joined"]
        if all(w in STOP_WORDS for w in words):
            # Nothing but function words ("de la"): every document has them, and matching
            # their positions everywhere takes seconds. Searched like unquoted stop words.
            return None
        if len(words) == 1:
            if not negated:
                self.highlights.exact.add(words[0])
            return _one_or([self._term(f, words[0]) for f in fields], Union)
        # Stop words count in the phrase; snippets never mark them (see snippets.match_spans).
        return self._phrase(words, fields, negated)

    def prefix(self, node: ql.Prefix, negated: bool = False) -> wq.Query | None:
        """Match every exact form starting with the (folded) prefix."""
        if node.field == "source":
            return wq.Prefix("source", node.text)
        tokens = analyze_query(node.text, removestops=False)
        if len(tokens) != 1:
            return self.word(ql.Word(node.text, node.field, node.start, node.end), negated)
        text = tokens[0].exact
        if not negated:
            self.highlights.prefixes.add(text)
        fields = _fields(node.field)
        return _one_or([wq.Prefix(f, text, boost=self._field_weight(f)) for f in fields], Union)

    # -- terms ---------------------------------------------------------------------------

    def stems_for(self, exact: str) -> list[str]:
        """Stems a folded word stands for: those of its accented spellings in the corpus,
        and of their lemmas (``semblent`` stands for ``semblent`` and ``sembl``)."""
        cached = self._stems.get(exact)
        if cached is not None:
            return cached
        bases = [
            decode_variant(term.decode("utf-8"))[1]
            for term in expand_prefix(self.reader, "variants", variant_prefix(exact))
        ]
        terms = [word_terms(b) for b in bases] if bases else [word_terms(exact)]
        stems = sorted({s for t in terms for s in t.stems})
        self._stems[exact] = stems
        return stems

    def _token(self, token: QueryToken, fields: tuple[str, ...], negated: bool) -> wq.Query:
        stems = self.stems_for(token.exact) if token.kind == "word" else []
        own = not self._expanding  # a synonym is no word typed: no close words, no bonus
        typed_bonus = own and not self._untyped and not self._quiet
        close = self._close_words(token, stems) if self.fuzzy and not negated and own else []
        if not negated and not self._quiet:
            self.highlights.exact.add(token.exact)
            self.highlights.stems.update(stems)
            self.highlights.exact.update(close)
            if typed_bonus:
                self.words.append((token.exact, tuple(stems)))
        w = self.weights
        scale = w.synonym if self._expanding else 1.0
        options: list[wq.Query] = []
        for f in fields:
            fw = self._field_weight(f) * scale
            options.append(self._term(f, token.exact, fw * w.exact))
            options.extend(self._term(f, STEM_MARK + s, fw * w.stem) for s in stems)
            options.extend(self._term(f, c, fw * w.fuzzy) for c in close)
        if token.kind == "word" and self._sources and w.source and not negated and own:
            named = self._named.get(token.exact)
            if named is None:
                named = self._named[token.exact] = sources_named(self.reader, token.exact)
            if named:
                options.append(FromSource(token.exact, named, w.source))
        found = _one_or(options, Union)
        if token.kind == "word" and w.as_typed and not negated and typed_bonus:
            typed = _one_or([self._term(f, token.elided or token.exact) for f in fields], Union)
            found = wq.AndMaybe(found, wq.ConstantScoreQuery(typed, score=w.as_typed))
        return found

    def _close_words(self, token: QueryToken, stems: list[str]) -> list[str]:
        """Close words for a word that matches nothing in the index (else none)."""
        if token.kind != "word":
            return []
        close = self._close.get(token.exact)
        if close is None:
            close = self._close[token.exact] = self._find_close_words(token.exact, stems)
        if close:
            self.approximate.add(token.exact)
        return close

    def _find_close_words(self, exact: str, stems: list[str]) -> list[str]:
        reader = self.reader
        if any(reader.doc_frequency(f, exact) for f in TEXT_FIELDS):
            return []
        if any(reader.doc_frequency(f, STEM_MARK + s) for f in TEXT_FIELDS for s in stems):
            return []
        return spelling.close_words(reader, exact)

    def _phrase(self, words: list[str], fields: tuple[str, ...], negated: bool) -> wq.Query:
        if not negated and not self._quiet:
            self.highlights.exact.update(words)
        scale = self.weights.synonym if self._expanding else 1.0
        return _one_or(
            [ExactPhrase(f, words, boost=self._field_weight(f) * scale) for f in fields], Union
        )

    def _term(self, fieldname: str, text: str, boost: float = 1.0) -> wq.Term:
        return wq.Term(fieldname, text, boost=boost)

    def _field_weight(self, fieldname: str) -> float:
        return self.weights.title if fieldname == "title" else self.weights.body


def _stems_seen(reader: IndexReader) -> dict[str, list[str]]:
    """The stems already looked up on this reader (emptied past ``STEMS_CACHED`` words)."""
    found = per_reader(reader, Key.STEMS, dict)
    if len(found) > STEMS_CACHED:
        found.clear()
    return found


def _documents(reader: IndexReader, q: wq.Query) -> int:
    """About how many documents ``q`` matches, from its terms' document frequencies in the
    body (``PHRASE_IDF_FIELD``: a title's short vocabulary makes every word look rare)."""
    if isinstance(q, wq.Term):
        return frequency(reader, q.fieldname, q.text) if q.fieldname == PHRASE_IDF_FIELD else 0
    if isinstance(q, wq.Phrase):
        if q.fieldname != PHRASE_IDF_FIELD:
            return 0
        return min((frequency(reader, q.fieldname, w) for w in q.words), default=0)
    if isinstance(q, wq.Prefix):  # its words' (the first thousand: a bound is enough)
        if q.fieldname != PHRASE_IDF_FIELD:
            return 0
        terms = islice(q.expanded_terms(reader), 1000)
        return sum(frequency(reader, fieldname, t) for fieldname, t in terms)
    if isinstance(q, FromSource):
        return 0  # a word's share of the meaning is its text's: never its sources'
    if isinstance(q, wq.ConstantScoreQuery):
        return _documents(reader, q.child)
    if isinstance(q, wq.AndMaybe | wq.AndNot):
        return _documents(reader, q.a)
    counts = [_documents(reader, c) for c in q.children()]
    if not counts:
        return reader.doc_count_all() if isinstance(q, wq.Every) else 0
    return min(counts) if isinstance(q, wq.And) else max(counts)


def _written_keys(token: QueryToken) -> frozenset[str]:
    """A query word's stems as typed (``vélos`` typed with its accent, even where the index
    spells it otherwise), matched against a synonyms rule beside those of the index."""
    return unit_keys(token.exact, word_terms(token.base).stems if token.kind == "word" else ())


def _fields(fieldname: str | None) -> tuple[str, ...]:
    return (fieldname,) if fieldname in TEXT_FIELDS else TEXT_FIELDS


def _units(tokens: list[QueryToken]) -> list[tuple[QueryToken | None, list[QueryToken]]]:
    """Group tokens into (joined compound form, its parts) or (None, [single word])."""
    units: list[tuple[QueryToken | None, list[QueryToken]]] = []
    for t in tokens:
        if t.role == "joined":
            units.append((t, []))
        elif t.role == "part" and units and units[-1][0] is not None:
            units[-1][1].append(t)
        else:
            units.append((None, [t]))
    return units


def _one_or(queries: list[wq.Query], combine: type) -> wq.Query | None:
    if not queries:
        return None
    if len(queries) == 1:
        return queries[0]
    return combine(queries)
