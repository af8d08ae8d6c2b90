"""French text analysis: tokenizing, elision, compounds, folding, stop words and stemming.

One analyzer serves indexing and queries, so a query always meets the index halfway. Every
word other than a stop word yields two kinds of term at the same position (a stop word gives
its exact term only, for phrases; queries otherwise ignore stop words):

* the *exact* term: lower-cased, accent-folded, unstemmed (``Delanoë`` -> ``delanoe``); it
  serves exact-form ranking, phrases, prefixes and spelling suggestions;
* the *stem* term: ``STEM_MARK`` + the Snowball stem of the lower-cased *accented* word
  (``abandonnée`` -> ``~abandon``), because Snowball reads accents and folding first would
  change a quarter of the stems;
* the *lemma stem* term, when the word's lemma stems otherwise: ``STEM_MARK`` + the Snowball
  stem of its lemma in a French lexicon (simplemma's table). Snowball keeps verb forms and
  some plurals apart that a reader takes as one word (``semblent`` -> ``~semblent``,
  ``semblé`` -> ``~sembl``; ``jeux``/``jeu``); the lemma (``sembler``, ``jeu``) brings them
  together: ``semblent`` also gives ``~sembl``, ``jeux`` also ``~jeu``. Most words need
  nothing more (``fichiers`` -> ``fichier`` -> ``~fichi``, their own stem).

A word written with an elided article or pronoun (``l'introduction``) also yields its
*elided* term, article included, at the word's position: a query typed with the article can
rank the documents that use that very form first, as a phrase would.

A third output, the *variants* terms (``"elysee élysée"``), records which accented spellings
an unaccented word stands for, so that a query typed without accents can be stemmed from the
accented forms the corpus really has (see :mod:`searchsvc.query.language`).

Filters are top-level classes with plain attributes because Whoosh pickles the analyzer
into the index; per-word work is cached in module-level functions, not on the instances.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

import snowballstemmer
from unidecode import unidecode
from whoosh.analysis import Composable, Filter, Token, Tokenizer

# Re-exported for engine/search.py until it decodes with searchsvc.text.variants; drop then.
from searchsvc.text.variants import VARIANT_SEP as VARIANT_SEP
from searchsvc.text.variants import encode_variant

# Bump when a change alters the terms written to the index: an index built by another
# version is refused until it is rebuilt with ``--full``. The lexicon is part of it: its
# package is pinned in pyproject.toml, and upgrading it means a bump here.
# 4: lemma stems (simplemma 2.0.0's French table).
ANALYZER_VERSION = 4

STEM_MARK = "~"

# Apostrophe look-alikes that French text uses (typographic, modifier letter, acute accent,
# grave accent, prime); each is one code point, so replacing it keeps character offsets.
_APOSTROPHES = "\u2019\u2018\u02bc\u00b4\u0060\u2032\u02b9"
_HYPHENS = "\u2010\u2011"
_NORMALISE = [(c, "'") for c in _APOSTROPHES] + [(c, "-") for c in _HYPHENS]

# A word character: a letter or digit, or a combining accent (text pasted in decomposed form,
# "e" + U+0301, must stay one word).
_W = r"(?:[^\W_]|[\u0300-\u036f])"
# @handles and #tags (not inside a word, so e-mail addresses stay words); decimal numbers
# (3,5 or 1.25) before words so the separator stays inside; then words, possibly joined by
# hyphens or apostrophes into one compound that the later filters take apart.
TOKEN_PATTERN = rf"""
    (?P<handle>(?<![\w@#])[@#][^\W_]\w*)
  | (?P<number>\d+(?:[.,]\d+)+(?![^\W_]))
  | (?P<word>[^\W_]{_W}*(?:['-]{_W}+)*)
    """
_TOKEN_RE = re.compile(TOKEN_PATTERN, re.VERBOSE)

ELISIONS = frozenset("l d j m n s t c qu jusqu lorsqu puisqu quoiqu presqu quelqu".split())

# Words whose apostrophe belongs to the word: kept as one term.
APOSTROPHE_WORDS = frozenset(
    """
    aujourd'hui prud'homme prud'hommes prud'homal prud'homale prud'hommal prud'hommale
    presqu'île presqu'îles presqu'ile presqu'iles quelqu'un quelqu'une quelqu'uns quelqu'unes
    entr'acte entr'actes
    """.split()
)

# French function words, compared on the folded form so that accented and unaccented
# spellings (``à``/``a``, ``été``/``ete``) are both stopped.
STOP_WORDS = frozenset(
    unidecode(w)
    for w in """
    a à au aux avec ce ces cet cette c ça d dans de des du elle elles en et eux il ils
    je j l la le les leur leurs lui m ma mais me même mêmes mes moi mon n ne ni nos notre
    nous on ou où par pas pour qu que quel quelle quels quelles qui s sa se ses si son sur
    t ta te tes toi ton tu un une vos votre vous y
    ai aie aient aies ait as aura aurai auraient aurais aurait auras aurez auriez aurions
    aurons auront avaient avais avait avez aviez avions avons ayant ayez ayons eu eue eues
    eurent eus eut ont
    es est étaient étais était étant été étiez étions êtes furent fus fut sera serai
    seraient serais serait seras serez seriez serions serons seront soient sois soit
    sommes sont soyez soyons suis
    """.split()
)

_stemmer = snowballstemmer.stemmer("french")


@dataclass(frozen=True, slots=True)
class WordTerms:
    """The terms one word contributes: exact (folded) form, stem ("" when the word takes no
    stem term), accented base, stop flag, and the stems of its lemmas that differ from its
    own stem (``semblent``: stem ``semblent``, lemma stem ``sembl`` of *sembler*)."""

    exact: str
    stem: str
    base: str
    stop: bool
    lemmas: tuple[str, ...] = ()

    @property
    def stems(self) -> tuple[str, ...]:
        """Every stem term of the word (without the mark): its own, then its lemmas'."""
        return (self.stem, *self.lemmas) if self.stem else self.lemmas


def content_term(term: str) -> bool:
    """Tell whether an exact term is a content word, not a stop word or an elided form
    (``l'onglet``): both are indexed for phrases only, and make poor completions or key terms."""
    return term not in STOP_WORDS and "'" not in term


def normalise(text: str) -> str:
    """Replace apostrophe and hyphen look-alikes by ASCII ones, keeping every offset.

    One ``str.replace`` per look-alike present: a hundred times faster than
    ``str.translate``, which looks every character up in a dictionary.
    """
    for lookalike, plain in _NORMALISE:
        if lookalike in text:
            text = text.replace(lookalike, plain)
    return text


def fold(word: str) -> str:
    """Lower-case and strip accents (``Œuvre`` -> ``oeuvre``); keep letters and digits only."""
    lowered = word.lower()
    if lowered.isascii():
        folded = lowered
    else:
        folded = unidecode(unicodedata.normalize("NFC", lowered)).lower()
    if not folded.isalnum():
        folded = "".join(c for c in folded if c.isalnum())
    # Symbols unidecode cannot transliterate (emoji, some scripts) keep their own form.
    return folded or "".join(c for c in lowered if c.isalnum())


def stem(word: str) -> str:
    """Snowball French stem of a lower-case (accented) word."""
    return _stemmer.stemWord(word)


# -- the lemma lexicon ----------------------------------------------------------------------
#
# simplemma's French table (about 250,000 inflected forms -> lemma), read from the installed
# package the first time a word is analysed: 0.3 s and about 30 MB per process. Nothing is
# downloaded. simplemma is MIT-licensed; its tables are compiled from Michal Měchura's
# lemmatization lists (Open Database License), Wiktionary via Kaikki, FreeLing, spaCy's
# lookups, UniMorph and Wikinflection (see the README, "How French text is analysed").

_lexicon_lock = threading.Lock()
_lexicon_table: Mapping[str, str] | None = None


def _lexicon() -> Mapping[str, str]:
    global _lexicon_table
    if _lexicon_table is None:
        with _lexicon_lock:
            if _lexicon_table is None:
                from simplemma.strategies.dictionaries import DefaultDictionaryFactory

                _lexicon_table = DefaultDictionaryFactory(cache_max_size=1).get_dictionary("fr")
    return _lexicon_table


def lemma(word: str) -> str | None:
    """The lexicon's lemma of a lower-case (accented) word, lower-cased; None when the word is
    not in it. ``semblent`` -> ``sembler``, ``jeux`` -> ``jeu``, ``chevaux`` -> ``cheval``."""
    found = _lexicon().get(word)
    return found.lower() if found else None


def lemma_stems(word: str, own_stem: str) -> tuple[str, ...]:
    """The stem of the word's lemma when it is not the word's own stem, else ``()``."""
    found = lemma(word)
    if not found or found == word or not found.isalpha():
        return ()
    stemmed = stem(found) if len(found) > 2 else found
    return (stemmed,) if stemmed != own_stem else ()


@lru_cache(maxsize=1 << 18)
def word_terms(word: str) -> WordTerms:
    """Analyse one word (already split from its elision and compound); cached: French is Zipfian."""
    lowered = word.lower()
    if not lowered.isascii():
        lowered = unicodedata.normalize("NFC", lowered)
    base = lowered if lowered.isalnum() else "".join(c for c in lowered if c.isalnum())
    exact = fold(base) if base else fold(lowered)
    if exact in STOP_WORDS:
        return WordTerms(exact, "", base, True)
    if not base.isalpha():
        # Words with digits (G7, 2013) are not inflected: they get no stem term.
        return WordTerms(exact, "", base or exact, False)
    stemmed = stem(base) if len(base) > 2 else base
    return WordTerms(exact, stemmed, base, False, lemma_stems(base, stemmed))


def split_elision(word: str) -> int:
    """Return how many leading characters of ``word`` are an elided article or pronoun."""
    cut = 0
    while True:
        i = word.find("'", cut)
        if i <= cut or i == len(word) - 1:
            return cut
        rest = word[cut:]
        if fold(rest) in _FOLDED_APOSTROPHE_WORDS:
            return cut
        if fold(word[cut:i]) not in ELISIONS:
            return cut
        cut = i + 1


_FOLDED_APOSTROPHE_WORDS = frozenset(fold(w) for w in APOSTROPHE_WORDS)


def elided_form(word: str, cut: int) -> str | None:
    """The article and word an elided term is made of (``L'Éducation``), or None.

    ``cut`` is :func:`split_elision`'s answer. Only plain words take an elided term:
    compounds (``l'après-midi``) and stop words (``qu'il``) do not.
    """
    if not cut:
        return None
    rest = word[cut:]
    if "-" in rest or "'" in rest or word_terms(rest).stop:
        return None
    return word[: cut - 1].rsplit("'", 1)[-1] + "'" + rest


@lru_cache(maxsize=1 << 16)
def elided_terms(form: str) -> WordTerms:
    """The term of an elided form: folded article, apostrophe, folded word (``l'education``)."""
    article, word = form.split("'", 1)
    exact = fold(article) + "'" + word_terms(word).exact
    return WordTerms(exact, "", exact, False)


class FrenchTokenizer(Tokenizer):
    """Split text into words, compounds, decimal numbers, @handles and #tags.

    Apostrophe and hyphen look-alikes are normalised first; ``startchar``/``endchar`` point
    into the original text. Each token carries ``kind``: "word", "number" or "handle".
    """

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs,
    ) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        text = normalise(value)
        if not tokenize:
            matches = [(text, 0, len(text), "word")]
        else:
            matches = (
                (m.group(), m.start(), m.end(), m.lastgroup) for m in _TOKEN_RE.finditer(text)
            )
        for pos, (word, start, end, kind) in enumerate(matches, start_pos):
            t.text = word
            t.kind = kind
            t.alt = False
            t.boost = 1.0
            t.stopped = False
            if keeporiginal:
                t.original = word
            if positions:
                t.pos = pos
            if chars:
                t.startchar = start_char + start
                t.endchar = start_char + end
            yield t


class ElisionFilter(Filter):
    """Strip elided articles and pronouns (``l'``, ``d'``, ``qu'``, ``jusqu'``…), any case.

    ``aujourd'hui`` and words like it stay whole. A plain word that lost its article is
    followed by a token of kind "elided" (``L'Élysée``), an alt at the same position.
    """

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        for t in tokens:
            if t.kind != "word" or "'" not in t.text:
                yield t
                continue
            cut = split_elision(t.text)
            form = elided_form(t.text, cut)
            if cut:
                t.text = t.text[cut:]
                if t.chars:
                    t.startchar += cut
            if form is None:
                yield t
                continue
            start = t.startchar if t.chars else 0
            end = t.endchar if t.chars else 0
            yield t
            # The elided term shares the word's position (later filters changed the token).
            t.text, t.kind, t.alt, t.stopped = form, "elided", True, False
            if t.chars:
                t.startchar, t.endchar = start, end
            yield t


def compound_pieces(word: str) -> list[tuple[str, int, str | None, bool]]:
    """Split a compound into ``(text, offset, role, alt)`` pieces, as indexed.

    ``micro-blogging`` gives the joined form ``microblogging`` (role "joined"), then its
    parts (role "part"; the first shares the joined form's position: ``alt``). A compound
    with a single word that is not a stop word (``précise-t-il``) gives just its pieces, no
    joined junk; one made only of stop words (``a-t-il``) gives nothing. A plain word, or an
    apostrophe word like ``aujourd'hui``, is one piece.
    """
    if ("-" not in word and "'" not in word) or fold(word) in _FOLDED_APOSTROPHE_WORDS:
        return [(word, 0, None, False)]
    split = _COMPOUND_SPLIT_RE.split(word)
    content = sum(not word_terms(p).stop for p in split[::2])
    if not content:
        return []
    joined = content > 1
    pieces: list[tuple[str, int, str | None, bool]] = []
    if joined:
        pieces.append(("".join(split[::2]), 0, "joined", False))
    offset = 0
    for i, piece in enumerate(split):
        if i % 2 == 0:
            pieces.append((piece, offset, "part" if joined else None, joined and i == 0))
        offset += len(piece)
    return pieces


class CompoundFilter(Filter):
    """Make hyphenated and apostrophe compounds findable whole, by parts and joined.

    See :func:`compound_pieces`. ``@jack`` at indexing also yields ``jack`` as an alt, so a
    plain word finds the handle; a query ``@jack`` means the handle only.
    """

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        for t in tokens:
            t.role = None
            if t.kind == "handle":
                yield t
                if t.mode != "query" and not word_terms(t.text[1:]).stop:
                    t.text = t.text[1:]
                    t.kind = "word"
                    t.alt = True
                    yield t
                continue
            if t.kind != "word":
                yield t
                continue
            text = t.text
            start = t.startchar if t.chars else 0
            pieces = compound_pieces(text)
            for piece, offset, role, alt in pieces:
                if len(pieces) > 1 and word_terms(piece).stop:
                    continue  # stop words inside compounds (vis-à-vis) are not indexed
                t.text, t.role, t.alt = piece, role, alt
                if t.chars:
                    t.startchar = start + offset
                    t.endchar = start + offset + (len(text) if role == "joined" else len(piece))
                yield t


_COMPOUND_SPLIT_RE = re.compile(r"(['-])")


def token_terms(kind: str, text: str) -> WordTerms:
    """The terms of one token of the tokenizer's ``kind`` (word, number or handle)."""
    if kind == "word":
        return word_terms(text)
    if kind == "elided":
        return elided_terms(text)
    if kind == "number":
        number = text.replace(".", ",")
        return WordTerms(number, "", number, False)
    handle = text[0] + fold(text[1:])  # "@jack", "#tag"
    return WordTerms(handle, "", handle, False)


def token_matches(text: str) -> Iterator[re.Match]:
    """The tokenizer's split of ``text``: one match per token, its kind in ``lastgroup``."""
    return _TOKEN_RE.finditer(normalise(text))


def token_kind(token: str) -> str:
    """The tokenizer's kind (word, number or handle) of one token it made."""
    return _TOKEN_RE.match(token).lastgroup


@lru_cache(maxsize=1 << 16)
def token_pieces(kind: str, token: str) -> tuple[tuple[WordTerms, bool, int, int], ...]:
    """The indexed words of one token as ``(terms, alt, start, end)``, offsets within the
    token; cached, since a text repeats its tokens (French is Zipfian)."""
    if kind != "word":
        pieces = [(token_terms(kind, token), False, 0, len(token))]
        if kind == "handle":
            plain = word_terms(token[1:])
            if not plain.stop:
                pieces.append((plain, True, 0, len(token)))
        return tuple(pieces)
    word, start, end = token, 0, len(token)
    form = None
    if "'" in word:
        cut = split_elision(word)
        form = elided_form(word, cut)
        word, start = word[cut:], cut
    if "-" not in word and "'" not in word:
        # Stop words are indexed too (exact term only), for phrases: "pomme de terre".
        pieces = [(word_terms(word), False, start, end)]
        if form is not None:
            pieces.append((elided_terms(form), True, start, end))
        return tuple(pieces)
    out = []
    for piece, offset, role, alt in compound_pieces(word):
        terms = word_terms(piece)
        if not terms.stop:
            if role == "joined":
                out.append((terms, alt, start, end))
            else:
                out.append((terms, alt, start + offset, start + offset + len(piece)))
    return tuple(out)


def iter_terms(text: str) -> Iterator[tuple[WordTerms, bool, int, int]]:
    """Yield ``(terms, alt, start, end)`` for every indexed word of ``text``, in order.

    The same words, in the same order, as :func:`FrenchAnalyzer` at indexing, without a
    Token object per term (the indexer's and the highlighter's hot path). ``alt`` words
    share the previous word's position; ``start``/``end`` point into ``text``.
    """
    for m in token_matches(text):
        start = m.start()
        for terms, alt, s, e in token_pieces(m.lastgroup, m.group()):
            yield terms, alt, start + s, start + e


@lru_cache(maxsize=8)
def index_postings(text: str) -> tuple[dict[str, list[int]], frozenset[str]]:
    """Index terms of ``text`` with their positions, and its variant terms, in one pass.

    Gives exactly what :func:`FrenchAnalyzer` yields at indexing (``"terms"`` and
    ``"variants"`` outputs). The last few results are kept, so the fields of one document
    share one analysis; treat the returned mapping as read-only.
    """
    postings: dict[str, list[int]] = {}
    variants: set[str] = set()
    pos = -1
    for terms, alt, _start, _end in iter_terms(text):
        if not alt:
            pos += 1
        postings.setdefault(terms.exact, []).append(pos)
        for stemmed in terms.stems:
            postings.setdefault(STEM_MARK + stemmed, []).append(pos)
        if terms.base != terms.exact and not terms.stop:
            variants.add(encode_variant(terms.exact, terms.base))
    return postings, frozenset(variants)


class FrenchTermFilter(Filter):
    """Turn each word into its index terms: folded exact form, stem, or accent variant.

    ``output`` picks what is emitted: ``"terms"`` (exact then stems, sharing a position;
    in query mode only the exact term, with ``stem`` and ``base`` attributes),
    ``"exact"`` (exact only) or ``"variants"`` (``"folded accented"`` for accented words).
    At indexing, stop words keep their positions and give their exact term only, so that
    phrases can match them; in query mode they are dropped (unless ``removestops=False``)
    and positions renumbered.
    """

    def __init__(self, output: str = "terms"):
        if output not in ("terms", "exact", "variants"):
            raise ValueError(f"unknown output {output!r}")
        self.output = output

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        output = self.output
        pos = -1
        for t in tokens:
            kind = t.kind
            terms = token_terms(kind, t.text)
            # Indexing keeps stop words (exact term only, for phrases); queries drop them
            # unless asked not to.
            indexed = output == "terms" and t.mode != "query"
            if terms.stop and t.removestops and not indexed:
                continue
            if not t.alt:
                pos += 1
            if t.positions:
                t.pos = pos
            if output == "variants":
                if kind == "word" and terms.base != terms.exact and not terms.stop:
                    t.text = encode_variant(terms.exact, terms.base)
                    yield t
                continue
            t.text = terms.exact
            if t.mode == "query" or output == "exact":
                t.stem = terms.stem
                t.base = terms.base
                yield t
                continue
            yield t
            for stemmed in terms.stems:
                t.text = STEM_MARK + stemmed
                yield t


def FrenchAnalyzer(output: str = "terms") -> Composable:
    """Build the French analyzer chain; ``output`` as in :class:`FrenchTermFilter`."""
    return FrenchTokenizer() | ElisionFilter() | CompoundFilter() | FrenchTermFilter(output)


@dataclass(frozen=True, slots=True)
class QueryToken:
    """One analysed query word: exact term, accented base, stem, position and flags;
    ``elided`` is the elided term when the word was typed with its article (``l'eau``)."""

    exact: str
    base: str
    stem: str
    kind: str
    role: str | None
    pos: int
    alt: bool
    startchar: int
    endchar: int
    elided: str = ""


_QUERY_ANALYZER = FrenchAnalyzer()


def analyze_query(text: str, removestops: bool = True) -> list[QueryToken]:
    """Analyse query text into tokens the query builder turns into index terms.

    An elided term is not a token of its own: it rides on its word's ``elided``.
    """
    tokens: list[QueryToken] = []
    for t in _QUERY_ANALYZER(
        text, positions=True, chars=True, mode="query", removestops=removestops
    ):
        if t.kind == "elided":
            tokens[-1] = replace(tokens[-1], elided=t.text)
            continue
        tokens.append(
            QueryToken(t.text, t.base, t.stem, t.kind, t.role, t.pos, t.alt, t.startchar, t.endchar)
        )
    return tokens


def index_terms(text: str) -> list[str]:
    """Return the terms indexing ``text`` writes (handy for tests and debugging)."""
    return [t.text for t in _INDEX_ANALYZER(text, mode="index")]


_INDEX_ANALYZER = FrenchAnalyzer()
