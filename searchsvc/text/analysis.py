"""French text analysis: tokenizing, elision, compounds, folding, stop words and stemming.

This is the one French analyzer: indexing (:func:`analyze_text`), queries
(:func:`analyze_query`), snippets, titles and completion all read text through
:func:`token_pieces`, and Whoosh sees it through the thin adapter in
:mod:`searchsvc.text.whoosh_analyzer`. Every word other than a stop word yields two kinds of
term at the same position (a stop word gives its exact term only, for phrases; queries
otherwise ignore stop words):

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

An accented word also yields a *variant* term (``"elysee élysée"``, spelled by
:mod:`searchsvc.text.variants`) for the ``variants`` field: which accented spellings an
unaccented word stands for, so that a query typed without accents can be stemmed from the
accented forms the corpus really has (see :mod:`searchsvc.query.plan`).

Per-word and per-token work is cached in module-level functions: French is Zipfian.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import accumulate, chain
from operator import itemgetter
from typing import NamedTuple

import snowballstemmer
from unidecode import unidecode

from searchsvc.settings import ANALYSED_TOKENS_CACHED, ANALYSED_WORDS_CACHED, ELIDED_FORMS_CACHED

# How a variant term is spelled ("elysee élysée"): each accented token's ``variant``; those
# who read the terms back (query/plan.py, engine/suggest.py) decode them with variants.py.
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
# The same pattern for a text with no combining accent (nearly every text): a word character
# is then one character class, which the regular expression engine steps through a third
# faster than the alternation (what indexing spends most of its tokenizing in).
_UNMARKED_TOKEN_RE = re.compile(TOKEN_PATTERN.replace(_W, r"[^\W_]"), re.VERBOSE)
_COMBINING_RE = re.compile("[\u0300-\u036f]")

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
# PyStemmer (which snowballstemmer hands out when installed) keeps its own cache of 10,000
# words and prunes it when full: a word new to word_terms' cache (which holds the words met)
# is then stemmed 2.5 times slower than with no cache at all (bench/RESULTS.md).
if hasattr(_stemmer, "maxCacheSize"):
    _stemmer.maxCacheSize = 0


@dataclass(frozen=True, slots=True)
class WordTerms:
    """The terms one word contributes: exact (folded) form, stem ("" when the word takes no
    stem term), accented base, stop flag, and the stems of its lemmas that differ from its
    own stem (``semblent``: stem ``semblent``, lemma stem ``sembl`` of *sembler*).

    ``indexed`` (exact term, then marked stems) and ``variant`` (its variant term, or "")
    are worked out once per word, as the index writes them for every occurrence.
    """

    exact: str
    stem: str
    base: str
    stop: bool
    lemmas: tuple[str, ...] = ()
    indexed: tuple[str, ...] = field(init=False, repr=False, compare=False)
    variant: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        marked = tuple(STEM_MARK + s for s in self.stems)
        object.__setattr__(self, "indexed", (self.exact, *marked))
        accented = self.base != self.exact and not self.stop
        variant = encode_variant(self.exact, self.base) if accented else ""
        object.__setattr__(self, "variant", variant)

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
# package the first time a word is analysed, once per process (its time and memory are in
# bench/RESULTS.md). Nothing is downloaded. simplemma is MIT-licensed; its tables are
# compiled from Michal Měchura's lemmatization lists (Open Database License), Wiktionary
# via Kaikki, FreeLing, spaCy's lookups, UniMorph and Wikinflection (see
# docs/how-search-works.md, "How French text is analysed").

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


@lru_cache(maxsize=ANALYSED_WORDS_CACHED)
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


@lru_cache(maxsize=ELIDED_FORMS_CACHED)
def elided_terms(form: str) -> WordTerms:
    """The term of an elided form: folded article, apostrophe, folded word (``l'education``)."""
    article, word = form.split("'", 1)
    exact = fold(article) + "'" + word_terms(word).exact
    return WordTerms(exact, "", exact, False)


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


_COMPOUND_SPLIT_RE = re.compile(r"(['-])")


def token_matches(text: str) -> Iterator[re.Match]:
    """The tokenizer's split of ``text``: one match per token, its kind (word, number or
    handle) in ``lastgroup``; offsets point into ``text`` (look-alikes are replaced one code
    point for one)."""
    return _TOKEN_RE.finditer(normalise(text))


def token_kind(token: str) -> str:
    """The tokenizer's kind (word, number or handle) of one token it made."""
    return _TOKEN_RE.match(token).lastgroup


class Piece(NamedTuple):
    """One indexed word of a token: its terms, whether it shares the previous word's
    position (``alt``), its span within the token, its kind ("word", "number", "handle" or
    "elided") and its role in a compound ("joined", "part" or None)."""

    terms: WordTerms
    alt: bool
    start: int
    end: int
    kind: str
    role: str | None = None


def _symbol_terms(kind: str, token: str) -> WordTerms:
    """The term of a number (``1.25`` -> ``1,25``) or of a handle (``@Jack`` -> ``@jack``)."""
    if kind == "number":
        number = token.replace(".", ",")
        return WordTerms(number, "", number, False)
    handle = token[0] + fold(token[1:])  # "@jack", "#tag"
    return WordTerms(handle, "", handle, False)


@lru_cache(maxsize=ANALYSED_TOKENS_CACHED)
def token_pieces(kind: str, token: str) -> tuple[Piece, ...]:
    """The indexed words of one token of the tokenizer's ``kind``, in index order.

    A word loses its elided article (and is followed by its elided term, an alt), a compound
    gives its joined form and parts (see :func:`compound_pieces`), a handle is followed by
    its plain word (an alt: ``jack`` finds ``@jack``). Stop words are pieces too (exact term
    only, for phrases: "pomme de terre"), except inside compounds. Cached, since a text
    repeats its tokens (French is Zipfian).
    """
    if kind != "word":
        pieces = [Piece(_symbol_terms(kind, token), False, 0, len(token), kind)]
        if kind == "handle":
            plain = word_terms(token[1:])
            if not plain.stop:
                pieces.append(Piece(plain, True, 0, len(token), "word"))
        return tuple(pieces)
    word, start, end = token, 0, len(token)
    form = None
    if "'" in word:
        cut = split_elision(word)
        form = elided_form(word, cut)
        word, start = word[cut:], cut
    if "-" not in word and "'" not in word:
        pieces = [Piece(word_terms(word), False, start, end, "word")]
        if form is not None:
            pieces.append(Piece(elided_terms(form), True, start, end, "elided"))
        return tuple(pieces)
    out = []
    for piece, offset, role, alt in compound_pieces(word):
        terms = word_terms(piece)
        if not terms.stop:
            if role == "joined":
                out.append(Piece(terms, alt, start, end, "word", role))
            else:
                piece_start = start + offset
                out.append(Piece(terms, alt, piece_start, piece_start + len(piece), "word", role))
    return tuple(out)


def iter_terms(text: str) -> Iterator[tuple[WordTerms, bool, int, int]]:
    """Yield ``(terms, alt, start, end)`` for every indexed word of ``text``, in order.

    ``alt`` words share the previous word's position; ``start``/``end`` point into ``text``.
    """
    for m in token_matches(text):
        start = m.start()
        for terms, alt, s, e, _kind, _role in token_pieces(m.lastgroup, m.group()):
            yield terms, alt, start + s, start + e


class TextAnalysis(NamedTuple):
    """What indexing writes for one text, its terms as the index stores them (UTF-8 bytes):
    each exact form or elided form with its positions, each stem with its frequency (a stem's
    positions are never read, see ``schema.FrenchTextField``), the text's variant terms, and
    its length (every occurrence of every term, stems included)."""

    exact: dict[bytes, list[int]]
    stems: dict[bytes, int]
    variants: frozenset[str]
    length: int


class TokenTerms(NamedTuple):
    """What one token adds to a text's analysis, worked out once per token: its exact terms
    in order, each one's position less the previous exact term's (the last token's last one
    is at the position before this token's first word), its stem terms, and its variants."""

    exact: tuple[bytes, ...]
    steps: tuple[int, ...]
    stems: tuple[bytes, ...]
    variants: tuple[str, ...]


def text_tokens(text: str) -> list[tuple[str, str, str]]:
    """The tokenizer's groups of each token of ``text`` (handle, number, word: one is the
    token), in order: what :func:`token_terms` takes."""
    text = normalise(text)
    return (_TOKEN_RE if _COMBINING_RE.search(text) else _UNMARKED_TOKEN_RE).findall(text)


def token_terms(groups: tuple[str, str, str]) -> TokenTerms:
    """The :class:`TokenTerms` of one token, from the tokenizer's groups (one is the token);
    cached, as a text repeats its tokens."""
    return _TOKEN_TERMS.get(groups) or _token_terms(groups)


def _token_terms(groups: tuple[str, str, str]) -> TokenTerms:
    """:func:`token_terms` for a token not in the cache."""
    handle, number, word = groups
    kind, token = ("handle", handle) if handle else ("number", number) if number else ("word", word)
    exact, steps, stems, variants = [], [], [], []
    pos = last = 0
    for piece in token_pieces(kind, token):
        if not piece.alt:
            pos += 1
        terms = piece.terms
        exact.append(terms.exact.encode("utf-8"))
        steps.append(pos - last)
        last = pos
        stems.extend(term.encode("utf-8") for term in terms.indexed[1:])
        if terms.variant:
            variants.append(terms.variant)
    found = TokenTerms(tuple(exact), tuple(steps), tuple(stems), tuple(variants))
    if len(_TOKEN_TERMS) >= ANALYSED_TOKENS_CACHED:
        _TOKEN_TERMS.clear()  # the common tokens come back at once
    _TOKEN_TERMS[groups] = found
    return found


# The tokenizer's groups of a token -> its TokenTerms: a plain dict (one C look-up per token,
# where lru_cache would build a key), emptied when full.
_TOKEN_TERMS: dict[tuple[str, str, str], TokenTerms] = {}
_EXACT, _STEPS, _STEMS, _VARIANTS = (itemgetter(i) for i in range(4))


def analyze_text(text: str) -> TextAnalysis:
    """Analyse a text to index, in one pass: its postings and its variant terms.

    This is the indexer's hot path, so each token's terms are looked up whole
    (:class:`TokenTerms`) and joined by C loops (``chain``, ``accumulate``, ``Counter``):
    Python steps once per exact term occurrence only, to group its positions.
    """
    found = _TOKEN_TERMS.get
    tokens = [found(g) or _token_terms(g) for g in text_tokens(text)]
    exact_terms = list(chain.from_iterable(map(_EXACT, tokens)))
    positions = accumulate(chain.from_iterable(map(_STEPS, tokens)), initial=-1)
    next(positions)
    exact: defaultdict[bytes, list[int]] = defaultdict(list)
    for term, pos in zip(exact_terms, positions, strict=True):
        exact[term].append(pos)
    stems = Counter(chain.from_iterable(map(_STEMS, tokens)))
    variants = frozenset(chain.from_iterable(map(_VARIANTS, tokens)))
    length = len(exact_terms) + stems.total()
    return TextAnalysis(dict(exact), dict(stems), variants, length)


def index_terms(text: str) -> list[str]:
    """The terms indexing ``text`` writes, in order (handy for tests and debugging)."""
    return [term for terms, _alt, _start, _end in iter_terms(text) for term in terms.indexed]


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


def analyze_query(text: str, removestops: bool = True) -> list[QueryToken]:
    """Analyse query text into tokens the query builder turns into index terms.

    The pieces indexing makes, read as a query: stop words are left out (unless
    ``removestops`` is false) and positions counted without them; a handle means the handle
    only (``@jack``, not ``jack``); an elided term is not a token of its own but rides on its
    word's ``elided``.
    """
    tokens: list[QueryToken] = []
    pos = -1
    for m in token_matches(text):
        kind, offset = m.lastgroup, m.start()
        pieces = token_pieces(kind, m.group())
        if kind == "handle":
            pieces = pieces[:1]
        for terms, alt, start, end, piece_kind, role in pieces:
            if terms.stop and removestops:
                continue
            if piece_kind == "elided":
                tokens[-1] = replace(tokens[-1], elided=terms.exact)
                continue
            if not alt:
                pos += 1
            tokens.append(
                QueryToken(
                    terms.exact,
                    terms.base,
                    terms.stem,
                    piece_kind,
                    role,
                    pos,
                    alt,
                    offset + start,
                    offset + end,
                )
            )
    return tokens
