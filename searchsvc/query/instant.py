"""The instant query: what a search box's text searches while its last word is still being
typed, and that text split around that word (which the completions read too, see
:mod:`searchsvc.engine.completion`).

"Instant" is the one word for "being typed" in the engine: the instant text, the instant
word, the instant query. (The web layer's ``typing=1`` and ``search_as_you_type`` name the
same idea where the API shows it.)

While the last word is still being typed, an instant query reads it as the word itself
(exact form and stems) or one of its most frequent completions, each weighted by how common
it is, so that ``rés`` ranks *réseau* before *resolver*; it never looks for close words or a
correction of that word (see :class:`InstantQueryBuilder`). A word that begins no index word
is not being typed but misspelt: the query is then searched as it is.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from whoosh import query as wq

from searchsvc.index.caches import LRU, Key, per_reader
from searchsvc.index.schema import FIELD_ALIASES, TEXT_FIELDS
from searchsvc.query import language as ql
from searchsvc.query.nodes import Union
from searchsvc.query.plan import QueryBuilder
from searchsvc.settings import (
    CONTEXT_WORDS,
    EXPANSIONS_CACHED,
    MAX_EXPANDED_POSTINGS,
    MAX_EXPANSIONS,
    MAX_SCAN,
)
from searchsvc.text.analysis import (
    STEM_MARK,
    STOP_WORDS,
    content_term,
    fold,
    normalise,
    split_elision,
    token_matches,
    token_pieces,
)

# What may stand before the word itself in the last chunk typed: a sign, a field, an
# opening parenthesis or quote (``-titre:"pré``).
_FIELDS = "|".join(sorted(FIELD_ALIASES, key=len, reverse=True))
_LEAD_RE = re.compile(rf'^[-+]?(?:(?P<field>{_FIELDS}):)?[("]*', re.IGNORECASE)


@dataclass(frozen=True)
class InstantText:
    """The text of a search box split around the word being typed (the instant word)."""

    lead: str  # what comes before the word, written back as it is (spaces collapsed)
    word: str  # the word being typed, without sign, field, quote or elided article
    prefix: str  # its folded form
    context: tuple[str, ...]  # folded words just before it (stop words included)
    with_accents: bool  # the word is written with accents (``pré``), not plain (``pre``)
    stop: bool = False  # the word is a function word written in full (``de``)
    article: str = ""  # the elided article written before the word, folded (``l'``), if any


def split_instant(text: str) -> InstantText | None:
    """Split ``text`` around the word being typed; None when nothing is being typed (the text
    is empty or ends with a space) or it cannot be completed (a ``source:`` value)."""
    m = re.match(r"(.*?)(\S+)\Z", text, re.DOTALL)
    if m is None:
        return None
    head, last = " ".join(m.group(1).split()), m.group(2)
    lead = _LEAD_RE.match(last)
    marks = lead.group(0)
    field = FIELD_ALIASES.get((lead.group("field") or "").lower())
    if field == "source":
        return None
    rest = last[len(marks) :]
    cut = split_elision(normalise(rest))
    article, word = rest[:cut], rest[cut:]
    prefix = fold(word)
    if not prefix:
        return None
    context = () if marks.startswith("-") else context_words(f"{head} {marks}{article}")
    return InstantText(
        lead=(head + " " if head else "") + marks + article,
        word=word,
        prefix=prefix,
        context=context,
        with_accents=not word.isascii(),
        stop=not marks.startswith("-") and prefix in STOP_WORDS,
        article=fold(article) + "'" if article else "",
    )


def context_words(head: str) -> tuple[str, ...]:
    """The last folded words of ``head`` once the query syntax is left out; none after
    ``OR``, since the next word is then an alternative, not a continuation."""
    chunks = head.replace('"', " ").replace("(", " ").replace(")", " ").split()
    if not chunks or chunks[-1] in ql.OR_WORDS:
        return ()
    cleaned = " ".join(_LEAD_RE.sub("", chunk) for chunk in chunks)
    return tuple(exact for exact, _surface, _start in words(cleaned))[-CONTEXT_WORDS:]


def words(text: str) -> Iterator[tuple[str, str, int]]:
    """``(folded form, form as written, offset)`` of each word of ``text``, as a reader sees
    them: an elided article is a word of its own (*l'élection* gives ``l`` then
    *élection*), a compound is one word (*mot-clé*, folded as the index joins it:
    ``motcle``), function words are included."""
    for m in token_matches(text):
        yield from token_words(m)


def token_words(m: re.Match) -> list[tuple[str, str, int]]:
    """The words of one token of the tokenizer, as :func:`words` gives them."""
    token = m.group()
    for terms, alt, start, end, _kind, _role in token_pieces(m.lastgroup, token):
        if not alt:
            if start and token[start - 1] == "'":  # its elided article first: "l'"
                article = token[: start - 1].rsplit("'", 1)[-1]
                return [
                    (fold(article), article + "'", m.start()),
                    (terms.exact, token[start:end], m.start() + start),
                ]
            return [(terms.exact, token[start:end], m.start() + start)]
    return []


@dataclass(frozen=True)
class InstantWord(ql.Prefix):
    """The word being typed, in a parsed query: itself or one of its completions."""


def expansions(reader, prefix: str) -> list[tuple[str, int]]:
    """Index words starting with ``prefix`` (folded) as ``(word, documents)``, most documents
    first, at most ``MAX_EXPANSIONS``; function words and elided forms left out."""
    cache = per_reader(reader, Key.EXPANSIONS, lambda: LRU(EXPANSIONS_CACHED))
    found = cache.get(prefix)
    if found is None:
        counts: Counter = Counter()
        # Segment by segment: each reads its words in order, where the index as a whole
        # would look each word up in every segment.
        for leaf, _offset in reader.leaf_readers():
            for f in TEXT_FIELDS:
                for n, (raw, info) in enumerate(leaf.iter_prefix(f, prefix)):
                    if n >= MAX_SCAN:
                        break
                    counts[raw] += info.doc_frequency()
        counts = Counter({t: n for raw, n in counts.items() if content_term(t := _text(raw))})
        found = sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))[:MAX_EXPANSIONS]
        cache.put(prefix, found)
    return found


def _text(raw) -> str:
    return raw.decode("utf-8") if isinstance(raw, bytes) else raw


def instant_tree(tree: ql.Node, text: str, reader) -> ql.Node | None:
    """The query to run while the last word of ``text`` is being typed, or None when ``text``
    is to be searched as it is.

    It is None when the text ends with a space (the word is finished), when its last word is
    not a plain word (a phrase, a prefix, an exclusion, a source), when that word begins no
    index word (it is misspelt, and the usual fallbacks should help) and when it is a single
    letter typed alone. A letter or a function word being typed after other words is left
    out: it does not narrow the results yet (``configuration r`` shows the results of
    ``configuration``).
    """
    if not text or text[-1].isspace():
        return None
    end = len(text)
    last = ql.last_leaf(tree)
    if last is None:
        return None
    leaf, negated = last
    if negated or not isinstance(leaf, ql.Word) or leaf.field == "source" or leaf.end != end:
        return None
    instant = split_instant(text)
    if instant is None:
        return None
    alone = sum(1 for _ in ql.leaves(tree)) == 1
    if len(instant.prefix) < 2:  # one letter: too little to guess from
        return None if alone else ql.without_leaf(tree, leaf)
    if not alone and not any(content_term(w) for w, *_ in words(leaf.text)):
        return ql.without_leaf(tree, leaf)
    if not expansions(reader, instant.prefix):
        return None
    return ql.replace_leaf(tree, leaf, InstantWord(leaf.text, leaf.field, leaf.start, leaf.end))


class InstantQueryBuilder(QueryBuilder):
    """:class:`~searchsvc.query.plan.QueryBuilder` that reads an :class:`InstantWord` as one
    of the most frequent words it begins (itself included, when it is a word of the index).

    Each of those words counts in proportion to its share of the documents of the most
    frequent one: BM25 favours rare words, while a word being typed more likely becomes a
    common one (``rés`` is *réseau* before *res_init*). The stems of the word as written come
    in at the stems' weight, so a word written in full finds its inflections as a finished
    word does. Nothing else is added: no bonus for the form written (it is not finished),
    and no close words, whatever fallback is asked for.
    """

    def prefix(self, node: ql.Prefix, negated: bool = False) -> wq.Query | None:
        if not isinstance(node, InstantWord):
            return super().prefix(node, negated)
        instant = split_instant(node.text)
        if instant is None:
            return None
        reader = self.reader
        found = expansions(reader, instant.prefix)
        most = found[0][1] if found else 1
        shares: dict[str, float] = {}
        postings = 0
        for term, count in found:
            postings += count
            if shares and postings > MAX_EXPANDED_POSTINGS:
                break
            shares[term] = count / most
        fields = (node.field,) if node.field in TEXT_FIELDS else TEXT_FIELDS
        if instant.prefix not in shares and content_term(instant.prefix):
            itself = sum(reader.doc_frequency(f, instant.prefix) for f in fields)
            if itself:
                shares[instant.prefix] = min(itself / most, 1.0)
        w = self.weights
        options: list[wq.Query] = []
        for term, share in shares.items():
            if not negated:
                self.highlights.exact.add(term)
            for f in fields:
                options.append(wq.Term(f, term, boost=self._field_weight(f) * w.exact * share))
        if instant.prefix in shares and instant.prefix.isalpha():
            share = shares[instant.prefix]
            for stem in self.stems_for(instant.prefix):
                if not negated:
                    self.highlights.stems.add(stem)
                for f in fields:
                    weight = self._field_weight(f) * w.stem * share
                    options.append(wq.Term(f, STEM_MARK + stem, boost=weight))
        if not options:
            return None
        return options[0] if len(options) == 1 else Union(options)
