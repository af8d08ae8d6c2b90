"""Turn a parsed query into a Whoosh query over the index's exact, stem and variant terms.

A plain word matches its exact (folded) form and its stems; the stems come from the accented
spellings the corpus has for that folded form (the ``variants`` field), so ``elysee`` is
stemmed as ``élysée`` would be. Everything here depends only on the folded query text, which
is what makes accents, case and apostrophes irrelevant to what a query finds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from whoosh import matching
from whoosh import query as wq
from whoosh.reading import IndexReader

from searchsvc.index.caches import Key, per_reader
from searchsvc.index.schema import TEXT_FIELDS
from searchsvc.index.whoosh_internals.matching import ExcludingMatcher
from searchsvc.query import language as ql
from searchsvc.query import spelling
from searchsvc.query.synonyms import Synonym, SynonymSet, unit_keys
from searchsvc.settings import PHRASE_B, PHRASE_TIE_BREAK, STEMS_CACHED, Weights
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


# Its idf is its words' in the body, whichever field it is found in: a title's short
# vocabulary makes every word look rare there, and the phrase then counts twice in a title.
PHRASE_IDF_FIELD = "body"


def phrase_score(
    occurrences: int,
    words_score: float,
    length: float,
    idf: float,
    avgfl: float,
    k1: float,
    b: float,
    boost: float,
) -> float:
    """BM25 of a phrase found ``occurrences`` times in a field of ``length`` (its words' idf
    summed), plus the tie-breaking share of its words' own scores; one formula for Whoosh's
    matcher and for :mod:`searchsvc.engine.termwise`, so that both give the same scores
    (termwise passes numpy arrays, one entry per document)."""
    tf = occurrences * 1.0
    bm25 = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgfl))
    return boost * (bm25 + PHRASE_TIE_BREAK * words_score)


class ExactPhrase(wq.Phrase):
    """A quoted phrase: its words side by side, in order (``slop`` 1).

    Whoosh scores a phrase by its words' own frequencies, so a document that uses one of its
    words often, the phrase once, comes first. Here the phrase counts as a term whose
    frequency is the number of times it occurs, weighed by BM25 with the field's length, as
    SQLite FTS5 and Lucene score phrases (see :func:`phrase_score`, ``PHRASE_IDF_FIELD`` and
    ``PHRASE_B``).
    """

    def __init__(self, fieldname, words, slop=1, boost=1.0, char_ranges=None):
        super().__init__(fieldname, words, slop=1, boost=boost, char_ranges=char_ranges)

    def matcher(self, searcher, context=None):
        from searchsvc.engine import termwise  # it imports this module

        inner = wq.Phrase(self.fieldname, self.words).matcher(searcher, context)
        if not inner.is_active():
            return matching.NullMatcher()
        parent = searcher.get_parent()
        weighting = searcher.weighting
        fieldname = self.fieldname
        params = _PhraseParams(
            lengths=termwise.lengths(searcher.reader(), fieldname),
            idf=sum(parent.idf(PHRASE_IDF_FIELD, w) for w in self.words),
            avgfl=parent.avg_field_length(fieldname) or 1,
            k1=weighting.K1,
            b=PHRASE_B,
            boost=self.boost,
        )
        return _PhraseMatcher(inner, params)


@dataclass(frozen=True)
class _PhraseParams:
    lengths: list
    idf: float
    avgfl: float
    k1: float
    b: float
    boost: float


class _PhraseMatcher(matching.WrappingMatcher):
    """Whoosh's phrase matcher (its spans are the phrase's occurrences), scored by
    :func:`phrase_score`."""

    def __init__(self, child, params: _PhraseParams):
        super().__init__(child)
        self.params = params

    def _replacement(self, newchild):
        return self.__class__(newchild, self.params)

    def copy(self):
        return self.__class__(self.child.copy(), self.params)

    def supports_block_quality(self):
        return False  # no skipping on bounds that would not hold

    def score(self):
        p, child = self.params, self.child
        length = p.lengths[child.id()]
        return phrase_score(
            len(child.spans()), child.score(), length, p.idf, p.avgfl, p.k1, p.b, p.boost
        )


class Union(wq.Or):
    """``Or`` that always merges lazily; Whoosh's automatic choice preloads every match of
    every clause on segments under 5,000 documents, which costs more than it saves here."""

    matcher_type = wq.Or.DEFAULT_MATCHER


class Exclude(wq.AndNot):
    """``a ANDNOT b`` that always excludes (see
    :class:`~searchsvc.index.whoosh_internals.ExcludingMatcher`)."""

    def matcher(self, searcher, context=None):
        scored = self.a.matcher(searcher, context)
        excluded = self.b.matcher(searcher, searcher.boolean_context())
        return ExcludingMatcher(scored, excluded)


class QueryBuilder:
    """Build Whoosh queries for one index reader (the variants lookup needs the index)."""

    def __init__(
        self,
        reader: IndexReader,
        weights: Weights | None = None,
        *,
        fuzzy: bool = False,
        relaxed: bool = False,
        synonyms: SynonymSet | None = None,
    ):
        """``fuzzy``: a word that matches nothing also matches close words (typo tolerance);
        ``relaxed``: the top-level words need not all match, the more the better;
        ``synonyms``: words a rule names also match its synonyms (see :meth:`_siblings`)."""
        self.reader = reader
        self.weights = weights or Weights()
        self.fuzzy = fuzzy
        self.relaxed = relaxed
        self.highlights = Highlights()
        self.approximate: set[str] = set()  # words matched through close words
        # The plain words searched (not negated), in order: exact form and stems.
        self.words: list[tuple[str, tuple[str, ...]]] = []
        self.relaxed_used = False
        self.synonyms = synonyms or None
        self.also: list[str] = []  # the synonyms added to the query, as the file writes them
        self._expanding = False  # building a synonym: weighed down, no as-typed bonus
        self._stems = _stems_seen(reader)
        self._depth = 0

    def build(self, node: ql.Node) -> wq.Query | None:
        """Return the Whoosh query for ``node``, or None when nothing is left to search."""
        return self._build(node, negated=False)

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
        positive = self._siblings(children, negated)
        if not positive and not negative:
            return None
        if self.relaxed and self._depth == 1 and len(positive) > 1 and not negated:
            # Documents with more of the words first: Whoosh's coordination bonus.
            base = Union(positive, scale=self.weights.coordination)
            self.relaxed_used = True
        else:
            base = _one_or(positive, wq.And) if positive else wq.Every()
        if len(positive) > 1 and not negated:
            near = self._proximity(node)
            if near is not None:
                base = wq.AndMaybe(base, near)
        if negative:
            return Exclude(base, _one_or(negative, Union))
        return base

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
            for term in self.reader.expand_prefix("variants", variant_prefix(exact))
        ]
        terms = [word_terms(b) for b in bases] if bases else [word_terms(exact)]
        stems = sorted({s for t in terms for s in t.stems})
        self._stems[exact] = stems
        return stems

    def _token(self, token: QueryToken, fields: tuple[str, ...], negated: bool) -> wq.Query:
        stems = self.stems_for(token.exact) if token.kind == "word" else []
        own = not self._expanding  # a synonym is no word typed: no close words, no bonus
        close = self._close_words(token, stems) if self.fuzzy and not negated and own else []
        if not negated:
            self.highlights.exact.add(token.exact)
            self.highlights.stems.update(stems)
            self.highlights.exact.update(close)
            if own:
                self.words.append((token.exact, tuple(stems)))
        w = self.weights
        scale = w.synonym if self._expanding else 1.0
        options: list[wq.Query] = []
        for f in fields:
            fw = self._field_weight(f) * scale
            options.append(self._term(f, token.exact, fw * w.exact))
            options.extend(self._term(f, STEM_MARK + s, fw * w.stem) for s in stems)
            options.extend(self._term(f, c, fw * w.fuzzy) for c in close)
        found = _one_or(options, Union)
        if token.kind == "word" and w.as_typed and not negated and own:
            typed = _one_or([self._term(f, token.elided or token.exact) for f in fields], Union)
            found = wq.AndMaybe(found, wq.ConstantScoreQuery(typed, score=w.as_typed))
        return found

    def _close_words(self, token: QueryToken, stems: list[str]) -> list[str]:
        """Close words for a word that matches nothing in the index (else none)."""
        if token.kind != "word":
            return []
        reader = self.reader
        if any(reader.doc_frequency(f, token.exact) for f in TEXT_FIELDS):
            return []
        if any(reader.doc_frequency(f, STEM_MARK + s) for f in TEXT_FIELDS for s in stems):
            return []
        close = spelling.close_words(reader, token.exact)
        if close:
            self.approximate.add(token.exact)
        return close

    def _phrase(self, words: list[str], fields: tuple[str, ...], negated: bool) -> wq.Query:
        if not negated:
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
