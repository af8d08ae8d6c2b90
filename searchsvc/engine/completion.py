"""Completions of the word being typed, for the search box: what the query may become.

They read the index alone (no Flask, no HTTP), and the text split around the word being
typed (:func:`~searchsvc.query.instant.split_instant`). They complete the query, not only
the word: first the words that follow the words already typed in the documents matching
them (``mot de pa`` -> *mot de passe*), then the most frequent words of the index starting
so. A completion is always a word as the documents write it: never the joined form the index
keeps of a compound (``motcle`` for *mot-clé*, which is offered instead), nor words glued
together in the text (``ConfigurationAfficher``, a menu path).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from whoosh import query as wq

from searchsvc.engine import suggest
from searchsvc.index.caches import LRU, Key, per_reader
from searchsvc.index.schema import TEXT_FIELDS
from searchsvc.query.instant import InstantText, expansions, token_words
from searchsvc.settings import (
    CONTEXT_WORDS,
    FORM_SCAN_CHARS,
    FORMS_CACHED,
    MIN_FOLLOWING,
    MIN_FOLLOWING_BOTH,
    SAMPLE_CHARS,
)
from searchsvc.text.analysis import content_term, fold, token_matches, token_pieces

# A lower-case letter followed by a capital: words glued in the text ("ConfigurationAfficher")
# or a brand written so ("LibreOffice"); see _glued().
_CAMEL_RE = re.compile(r"(?<=[a-zß-öø-ÿ])(?=[A-ZÀ-ÖØ-Þ])")


def after_word(instant: InstantText) -> InstantText:
    """What follows the word being typed once it is finished: any word, after it and its
    context."""
    return InstantText(
        lead=instant.lead + instant.word + " ",
        word="",
        prefix="",
        context=(*instant.context, instant.prefix)[-CONTEXT_WORDS:],
        with_accents=False,
    )


def following(texts: list[str], instant: InstantText) -> Counter:
    """How often each word starting with the prefix being typed follows the context words in
    ``texts``: two words of context matched count a hundred times one word matched, so
    *mot de passe* comes before any *de pa…*."""
    counts: Counter = Counter()
    context, prefix = instant.context, instant.prefix
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
            units = token_words(m)
            if not units:
                continue
            exact = units[-1][0]
            if not (exact.startswith(prefix) and content_term(exact)):
                continue
            before = [u[0] for u in units[:-1]]
            j = i - 1
            while len(before) < size and j >= 0:
                before = [u[0] for u in token_words(tokens[j])] + before
                j -= 1
            if before[-size:] == wanted:
                counts[exact] += 100 if size > 1 else 1
            elif size > 1 and before[-1:] == last:
                counts[exact] += 1
    return counts


def written_form(searcher, term: str, summed_frequency) -> str | None:
    """How the documents write the index word ``term``, lower-cased, or None when they never
    write it as a word of its own (only glued to another).

    The first document holding the word is read: a compound's joined form is offered as the
    compound (``motcle`` -> *mot-clé*); a form glued from two words that are each more
    frequent than it (``configurationafficher``) is refused, a brand is kept
    (*LibreOffice*: ``libreoffice`` is more frequent than ``office``).
    ``summed_frequency(word)`` says how common an index word is (see :func:`complete`).
    Answers are kept per index reader.
    """
    reader = searcher.reader()
    cache = per_reader(reader, Key.WRITTEN_FORMS, lambda: LRU(FORMS_CACHED))
    key = (term,)
    found = cache.get(key)
    if found is None:
        found = (_read_form(searcher, term, summed_frequency),)
        cache.put(key, found)
    return found[0]


def _read_form(searcher, term: str, summed_frequency) -> str | None:
    for f in TEXT_FIELDS:
        docs = searcher.docs_for_query(wq.Term(f, term))
        docnum = next(iter(docs), None)
        if docnum is None:
            continue
        text = searcher.stored_fields(docnum).get(f, "")[:FORM_SCAN_CHARS]
        forms = [surface for exact, surface in _all_words(text) if exact == term]
        for surface in forms:
            if not _glued(surface, term, summed_frequency):
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


def _glued(surface: str, term: str, summed_frequency) -> bool:
    """Whether a word is two words glued together in the text: written with a capital inside
    (``ConfigurationAfficher``) and each part more frequent than the whole."""
    if "-" in surface or "'" in surface:
        return False
    parts = [p for p in _CAMEL_RE.split(surface) if p]
    if len(parts) < 2:
        return False
    whole = summed_frequency(term)
    return all(len(p) > 1 and summed_frequency(fold(p)) > whole for p in parts)


def complete(s, instant: InstantText, sample: list[str], limit: int) -> list[str]:
    """The completions of ``instant`` (see :meth:`SearchEngine.complete`), best first:
    ``sample`` holds the texts of the documents the words already typed find."""
    reader = s.reader()

    def summed_frequency(word: str) -> int:
        # How common an index word is: the documents holding it in the title plus those
        # holding it in the body (a document with it in both counts twice).
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

    def best_following(text: InstantText, least: int) -> list[str]:
        follows = following(sample, text)
        return sorted(
            (w for w, n in follows.items() if n >= least),
            key=lambda w: (-follows[w], -summed_frequency(w), w),
        )

    ranked: list[str] = []
    nexts: list[str] = []
    if instant.stop and instant.context:
        # A function word typed in full after others ("mot de"): the words that
        # follow both come first ("mot de passe"), then those it begins ("mot défaut").
        after = after_word(instant)
        least = MIN_FOLLOWING_BOTH
        nexts = [after.lead + w for w in best_following(after, least)[: limit // 2]]
    if instant.context:
        ranked = best_following(instant, MIN_FOLLOWING)
    if len(instant.prefix) > 1 or not instant.context:
        # (After other words, a single letter is completed from what follows them
        # only: its thousands of index words would cost more than they help.)
        ranked += [w for w, _count in expansions(reader, instant.prefix)]
    words: list[str] = []
    seen: set[str] = set()
    for word in ranked:
        if word in seen:
            continue
        seen.add(word)
        if instant.article and not summed_frequency(instant.article + word):
            continue  # no document writes it after this article (``l'élections``)
        form = written_form(s, word, summed_frequency)
        if form is None:
            continue
        if "-" not in form:
            form = accented(word)
        words.append(form)
        if len(words) == 2 * limit:
            break
    nexts = [n[: -len(w)] + accented(w) for n, w in ((n, n.rsplit(" ", 1)[-1]) for n in nexts)]
    if instant.with_accents:
        # Written with accents: the words spelt so first ("pré" offers "président" first).
        start = instant.word.lower()
        words.sort(key=lambda w: not w.startswith(start))
    return (nexts + [instant.lead + w for w in words])[:limit]
