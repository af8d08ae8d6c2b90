"""Savoy's light French stemmer, as Elasticsearch's ``light_french`` stemmer applies it.

A reference for ``bench/relevance.py`` only (the ES ``french`` analyzer's columns), written
from the description of the algorithm: J. Savoy, "A stemming procedure and stopword list for
general French corpora" (JASIS 50(10), 1999), in the light variant Lucene ships as
``FrenchLightStemmer`` — the one Elasticsearch's ``french`` analyzer uses. It works on one
lower-case word:

1. plurals: a final ``x`` goes (``-aux`` becomes ``-al`` unless it is ``-eaux``), then a
   final ``s``;
2. one derivational or inflectional suffix is rewritten, the first that applies from a fixed
   list (``-issement``/``-issant`` -> ``-ir``, ``-ement`` -> ``-e``/``-if``, agent nouns
   ``-atrice``/``-ateur`` -> ``-er``, ``-euse``, ``-ive`` -> ``-if``, ``-nnelle``, ``-ique``,
   ``-esse``, ``-isation``, ``-ation``, ``-ition``…), each only on words long enough;
3. normalisation of what is left, when it is longer than 4 letters: accents removed,
   doubled letters made single, a final ``-ie``, then ``-r``, ``-e``, ``-e`` and a doubled
   last letter dropped.

The steps and thresholds are the algorithm's (its quirks included: ``personnel`` is too short
for ``-nnel``); the code is ours.
"""

from __future__ import annotations

from functools import lru_cache

_UNACCENT = str.maketrans("àáâôèéêùûîç", "aaaoeeeuuic")


def _ends(word: str, suffix: str, longer_than: int) -> bool:
    return len(word) > longer_than and word.endswith(suffix)


@lru_cache(maxsize=1 << 17)
def stem(word: str) -> str:
    """The light stem of a lower-case French word."""
    w = word
    # 1. plurals: chevaux -> cheval, hiboux -> hibou, anneaux -> anneau, barons -> baron
    if _ends(w, "x", 5):
        w = w[:-2] + "l" if w[-3:-1] == "au" and w[-4] != "e" else w[:-1]
    if _ends(w, "x", 3):
        w = w[:-1]
    if _ends(w, "s", 3):
        w = w[:-1]
    return _suffix(w)


def _suffix(w: str) -> str:
    """Step 2 (the first rule that applies), then the normalisation of step 3."""
    if _ends(w, "issement", 9):
        return _norm(w[:-7] + "r")  # investissement -> investir
    if _ends(w, "issant", 8):
        return _norm(w[:-5] + "r")  # assourdissant -> assourdir
    if _ends(w, "ement", 6):
        w = w[:-4]  # pratiquement -> pratique
        if _ends(w, "ive", 3):
            w = w[:-2] + "f"  # administrativement -> administratif
        return _norm(w)
    if _ends(w, "ficatrice", 11):
        return _norm(w[:-7] + "er")  # justificatrice -> justifier
    if _ends(w, "ficateur", 10):
        return _norm(w[:-6] + "er")
    if _ends(w, "catrice", 9):
        return _norm(w[:-7] + "quer")  # éducatrice -> éduquer
    if _ends(w, "cateur", 8):
        return _norm(w[:-6] + "quer")
    if _ends(w, "atrice", 8):
        return _norm(w[:-6] + "er")  # accompagnatrice -> accompagner
    if _ends(w, "ateur", 7):
        return _norm(w[:-5] + "er")
    if _ends(w, "trice", 6):
        w = w[:-5] + "teur"  # productrice -> producteur, then the rules below
    if _ends(w, "ième", 5):
        return _norm(w[:-4])
    if _ends(w, "teuse", 7):
        return _norm(w[:-3] + "r")  # acheteuse -> acheter
    if _ends(w, "teur", 6):
        return _norm(w[:-2] + "r")  # acheteur -> acheter
    if _ends(w, "euse", 5):
        return _norm(w[:-2])  # poreuse -> poreu
    if _ends(w, "ère", 8):
        return _norm(w[:-3] + "er")  # bijoutière -> bijoutier
    if _ends(w, "ive", 7):
        return _norm(w[:-2] + "f")  # abrasive -> abrasif
    if _ends(w, "folle", 4) or _ends(w, "molle", 4):
        return _norm(w[:-3] + "u")  # folle -> fou
    if _ends(w, "nnelle", 9):
        return _norm(w[:-5])  # personnelle -> person
    if _ends(w, "nnel", 9):
        return _norm(w[:-3])
    if _ends(w, "ète", 4):
        w = w[:-3] + "et"  # complète -> complet, then the rules below
    if _ends(w, "ique", 8):
        w = w[:-4]  # aromatique -> aromat, then the rules below
    if _ends(w, "esse", 8):
        return _norm(w[:-3])  # faiblesse -> faible
    if _ends(w, "inage", 7):
        return _norm(w[:-3])  # patinage -> patin
    if _ends(w, "isation", 9):
        w = w[:-7]
        if _ends(w, "ual", 5):
            w = w[:-2] + "el"  # ritualisation -> rituel
        return _norm(w)
    if _ends(w, "isateur", 9):
        return _norm(w[:-7])
    if _ends(w, "ation", 8):
        return _norm(w[:-5])  # nomination -> nomin
    if _ends(w, "ition", 8):
        return _norm(w[:-5])  # disposition -> dispos
    return _norm(w)


def _norm(w: str) -> str:
    """Step 3: on words over 4 letters, accents and doubled letters, then the ending."""
    if len(w) > 4:
        w = w.translate(_UNACCENT)
        out = [w[0]]
        for c in w[1:]:
            if not (c == out[-1] and c.isalpha()):
                out.append(c)
        w = "".join(out)
    if _ends(w, "ie", 4):
        w = w[:-2]
    if len(w) > 4:
        if w[-1] == "r":
            w = w[:-1]
        if w[-1] == "e":
            w = w[:-1]
        if w[-1] == "e":
            w = w[:-1]
        if w[-1] == w[-2] and w[-1].isalpha():
            w = w[:-1]
    return w
