"""The word being typed: what it may become, for the search box's completions and for the
results shown while typing (instant search).

Both read the index alone (no Flask, no HTTP):

* While the last word is still being typed, an instant search reads it as the word itself
  (exact form and stems) or one of its most frequent completions, each weighted by how
  common it is, so that ``rés`` ranks *réseau* before *resolver*; it never looks for close
  words or a correction of that word (see :class:`InstantQueryBuilder`). A word that begins
  no index word is not being typed but misspelt: the query is then searched as typed.
* Completions complete the query, not only the word: first the words that follow the words
  already typed in the documents matching them (``mot de pa`` -> *mot de passe*), then the
  most frequent words of the index. A completion is always a word as the documents write it:
  never the joined form the index keeps of a compound (``motcle`` for *mot-clé*, which is
  offered instead), nor words glued together in the text (``ConfigurationAfficher``, a menu
  path).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from whoosh import query as wq

from searchsvc.engine import suggest
from searchsvc.index.caches import LRU, Key, per_reader
from searchsvc.index.schema import FIELD_ALIASES, TEXT_FIELDS
from searchsvc.query import language as ql
from searchsvc.query.plan import QueryBuilder, Union
from searchsvc.settings import (
    CONTEXT_WORDS,
    EXPANSIONS_CACHED,
    FORM_SCAN_CHARS,
    FORMS_CACHED,
    MAX_EXPANDED_POSTINGS,
    MAX_EXPANSIONS,
    MAX_SCAN,
    MIN_FOLLOWING,
    MIN_FOLLOWING_BOTH,
    SAMPLE_CHARS,
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
# A lower-case letter followed by a capital: words glued in the text ("ConfigurationAfficher")
# or a brand written so ("LibreOffice"); see _glued().
_CAMEL_RE = re.compile(r"(?<=[a-zß-öø-ÿ])(?=[A-ZÀ-ÖØ-Þ])")


@dataclass(frozen=True)
class Typed:
    """The text of a search box split around the word being typed."""

    lead: str  # what comes before the word, written back as typed (spaces collapsed)
    word: str  # the word being typed, without sign, field, quote or elided article
    prefix: str  # its folded form
    context: tuple[str, ...]  # folded words just before it (stop words included)
    typed_accents: bool  # the word was typed with accents (``pré``), not plain (``pre``)
    stop: bool = False  # the word is a function word typed in full (``de``)
    article: str = ""  # the elided article typed before the word, folded (``l'``), if any


def split_typed(text: str) -> Typed | None:
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
    return Typed(
        lead=(head + " " if head else "") + marks + article,
        word=word,
        prefix=prefix,
        context=context,
        typed_accents=not word.isascii(),
        stop=not marks.startswith("-") and prefix in STOP_WORDS,
        article=fold(article) + "'" if article else "",
    )


def after_word(typed: Typed) -> Typed:
    """What follows the typed word once it is finished: any word, after it and its context."""
    return Typed(
        lead=typed.lead + typed.word + " ",
        word="",
        prefix="",
        context=(*typed.context, typed.prefix)[-CONTEXT_WORDS:],
        typed_accents=False,
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
        yield from _units(m)


def _units(m: re.Match) -> list[tuple[str, str, int]]:
    """The words of one token of the tokenizer (see :func:`words`)."""
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


# -- instant search --------------------------------------------------------------------------


@dataclass(frozen=True)
class TypedWord(ql.Prefix):
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


def typing_tree(tree: ql.Node, text: str, reader) -> ql.Node | None:
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
    last = _last_leaf(tree)
    if last is None:
        return None
    leaf, negated = last
    if negated or not isinstance(leaf, ql.Word) or leaf.field == "source" or leaf.end != end:
        return None
    typed = split_typed(text)
    if typed is None:
        return None
    alone = sum(1 for _ in ql.leaves(tree)) == 1
    if len(typed.prefix) < 2:  # one letter: too little to guess from
        return None if alone else _without(tree, leaf)
    if not alone and not any(content_term(w) for w, *_ in words(leaf.text)):
        return _without(tree, leaf)
    if not expansions(reader, typed.prefix):
        return None
    return _replace(tree, leaf, TypedWord(leaf.text, leaf.field, leaf.start, leaf.end))


def _last_leaf(tree: ql.Node) -> tuple[ql.Leaf, bool] | None:
    found = list(ql.leaves(tree))
    return max(found, key=lambda ln: ln[0].end) if found else None


def _replace(node: ql.Node, leaf: ql.Leaf, new: ql.Node) -> ql.Node:
    if node is leaf:
        return new
    if isinstance(node, ql.Not):
        return ql.Not(_replace(node.node, leaf, new))
    if isinstance(node, ql.All | ql.Any):
        return type(node)(tuple(_replace(n, leaf, new) for n in node.nodes))
    return node


def _without(node: ql.Node, leaf: ql.Leaf) -> ql.Node:
    if isinstance(node, ql.Not):
        return ql.Not(_without(node.node, leaf))
    if isinstance(node, ql.All | ql.Any):
        kept = tuple(_without(n, leaf) for n in node.nodes if n is not leaf)
        return kept[0] if len(kept) == 1 else type(node)(kept)
    return node


class InstantQueryBuilder(QueryBuilder):
    """:class:`~searchsvc.query.plan.QueryBuilder` that reads a :class:`TypedWord` as one of
    the most frequent words it begins (itself included, when it is a word of the index).

    Each of those words counts in proportion to its share of the documents of the most
    frequent one: BM25 favours rare words, while a word being typed more likely becomes a
    common one (``rés`` is *réseau* before *res_init*). The stems of the word as typed come
    in at the stems' weight, so a word typed in full finds its inflections as a finished word
    does. Nothing else is added: no bonus for the form typed (it is not finished), and no
    close words, whatever fallback is asked for.
    """

    def prefix(self, node: ql.Prefix, negated: bool = False) -> wq.Query | None:
        if not isinstance(node, TypedWord):
            return super().prefix(node, negated)
        typed = split_typed(node.text)
        if typed is None:
            return None
        reader = self.reader
        found = expansions(reader, typed.prefix)
        most = found[0][1] if found else 1
        shares: dict[str, float] = {}
        postings = 0
        for term, count in found:
            postings += count
            if shares and postings > MAX_EXPANDED_POSTINGS:
                break
            shares[term] = count / most
        fields = (node.field,) if node.field in TEXT_FIELDS else TEXT_FIELDS
        if typed.prefix not in shares and content_term(typed.prefix):
            itself = sum(reader.doc_frequency(f, typed.prefix) for f in fields)
            if itself:
                shares[typed.prefix] = min(itself / most, 1.0)
        w = self.weights
        options: list[wq.Query] = []
        for term, share in shares.items():
            if not negated:
                self.highlights.exact.add(term)
            for f in fields:
                options.append(wq.Term(f, term, boost=self._field_weight(f) * w.exact * share))
        if typed.prefix in shares and typed.prefix.isalpha():
            share = shares[typed.prefix]
            for stem in self.stems_for(typed.prefix):
                if not negated:
                    self.highlights.stems.add(stem)
                for f in fields:
                    weight = self._field_weight(f) * w.stem * share
                    options.append(wq.Term(f, STEM_MARK + stem, boost=weight))
        if not options:
            return None
        return options[0] if len(options) == 1 else Union(options)


# -- completions -----------------------------------------------------------------------------


def following(texts: list[str], typed: Typed) -> Counter:
    """How often each word starting with the typed prefix follows the context words in
    ``texts``: two words of context matched count a hundred times one word matched, so
    *mot de passe* comes before any *de pa…*."""
    counts: Counter = Counter()
    context, prefix = typed.context, typed.prefix
    if not context:
        return counts
    size, wanted, last = len(context), list(context), list(context[-1:])
    first = prefix[:1]
    for text in texts:
        tokens = list(token_matches(text[:SAMPLE_CHARS]))
        for i, m in enumerate(tokens):
            token = m.group()
            # Most tokens cannot begin with the prefix: told from their first letter alone.
            if first and "'" not in token and fold(token[:1])[:1] != first:
                continue
            units = _units(m)
            if not units:
                continue
            exact = units[-1][0]
            if not (exact.startswith(prefix) and content_term(exact)):
                continue
            before = [u[0] for u in units[:-1]]
            j = i - 1
            while len(before) < size and j >= 0:
                before = [u[0] for u in _units(tokens[j])] + before
                j -= 1
            if before[-size:] == wanted:
                counts[exact] += 100 if size > 1 else 1
            elif size > 1 and before[-1:] == last:
                counts[exact] += 1
    return counts


def written_form(searcher, term: str, frequency) -> str | None:
    """How the documents write the index word ``term``, lower-cased, or None when they never
    write it as a word of its own (only glued to another).

    The first document holding the word is read: a compound's joined form is offered as the
    compound (``motcle`` -> *mot-clé*); a form glued from two words that are each more
    frequent than it (``configurationafficher``) is refused, a brand is kept
    (*LibreOffice*: ``libreoffice`` is more frequent than ``office``). ``frequency(word)``
    gives the documents holding an index word. Answers are kept per index reader.
    """
    reader = searcher.reader()
    cache = per_reader(reader, Key.WRITTEN_FORMS, lambda: LRU(FORMS_CACHED))
    key = (term,)
    found = cache.get(key)
    if found is None:
        found = (_read_form(searcher, term, frequency),)
        cache.put(key, found)
    return found[0]


def _read_form(searcher, term: str, frequency) -> str | None:
    for f in TEXT_FIELDS:
        docs = searcher.docs_for_query(wq.Term(f, term))
        docnum = next(iter(docs), None)
        if docnum is None:
            continue
        text = searcher.stored_fields(docnum).get(f, "")[:FORM_SCAN_CHARS]
        forms = [surface for exact, surface in _all_words(text) if exact == term]
        for surface in forms:
            if not _glued(surface, term, frequency):
                return surface.lower()
        return None
    return None


def _all_words(text: str) -> Iterator[tuple[str, str]]:
    """``(folded form, form as written)`` of every word the index holds for ``text``: a
    compound as a whole (``motcle``, *mot-clé*) and each of its parts (*mot*, *clé*)."""
    for m in token_matches(text):
        token = m.group()
        for piece in token_pieces(m.lastgroup, token):
            yield piece.terms.exact, token[piece.start : piece.end]


def _glued(surface: str, term: str, frequency) -> bool:
    """Whether a word is two words glued together in the text: written with a capital inside
    (``ConfigurationAfficher``) and each part more frequent than the whole."""
    if "-" in surface or "'" in surface:
        return False
    parts = [p for p in _CAMEL_RE.split(surface) if p]
    if len(parts) < 2:
        return False
    whole = frequency(term)
    return all(len(p) > 1 and frequency(fold(p)) > whole for p in parts)


def complete(s, typed: Typed, sample: list[str], limit: int) -> list[str]:
    """The completions of ``typed`` (see :meth:`SearchEngine.complete`), best first:
    ``sample`` holds the texts of the documents the words already typed find."""
    reader = s.reader()

    def frequency(word: str) -> int:
        return sum(reader.doc_frequency(f, word) for f in TEXT_FIELDS)

    # Each word's accented spelling, kept per reader: completions come back
    # keystroke after keystroke, and looking one up reads the index a dozen times.
    spellings = per_reader(reader, Key.ACCENTED, lambda: LRU(FORMS_CACHED))

    def accented(word: str) -> str:
        found = spellings.get(word)
        if found is None:
            found = suggest.accented(reader, word)
            spellings.put(word, found)
        return found

    def best_following(typed: Typed, least: int) -> list[str]:
        follows = following(sample, typed)
        return sorted(
            (w for w, n in follows.items() if n >= least),
            key=lambda w: (-follows[w], -frequency(w), w),
        )

    ranked: list[str] = []
    nexts: list[str] = []
    if typed.stop and typed.context:
        # A function word typed in full after others ("mot de"): the words that
        # follow both come first ("mot de passe"), then those it begins ("mot défaut").
        after = after_word(typed)
        least = MIN_FOLLOWING_BOTH
        nexts = [after.lead + w for w in best_following(after, least)[: limit // 2]]
    if typed.context:
        ranked = best_following(typed, MIN_FOLLOWING)
    if len(typed.prefix) > 1 or not typed.context:
        # (After other words, a single letter is completed from what follows them
        # only: its thousands of index words would cost more than they help.)
        ranked += [w for w, _count in expansions(reader, typed.prefix)]
    words: list[str] = []
    seen: set[str] = set()
    for word in ranked:
        if word in seen:
            continue
        seen.add(word)
        if typed.article and not frequency(typed.article + word):
            continue  # no document writes it after this article (``l'élections``)
        form = written_form(s, word, frequency)
        if form is None:
            continue
        if "-" not in form:
            form = accented(word)
        words.append(form)
        if len(words) == 2 * limit:
            break
    nexts = [n[: -len(w)] + accented(w) for n, w in ((n, n.rsplit(" ", 1)[-1]) for n in nexts)]
    if typed.typed_accents:
        # Typed with accents: the words spelt so first ("pré" offers "président" first).
        start = typed.word.lower()
        words.sort(key=lambda w: not w.startswith(start))
    return (nexts + [typed.lead + w for w in words])[:limit]
