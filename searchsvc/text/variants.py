"""How an accent variant term is spelled: the folded form, ``VARIANT_SEP``, the accented form.

The ``variants`` field holds one such term per accented spelling a document uses
(``"elysee élysée"``), so that a query typed without accents can find which accented forms
the corpus has for it. This module is the only one that knows the spelling: the analyzer
encodes, the query side decodes.
"""

from __future__ import annotations

# A space never occurs inside a folded or accented word, so it cannot be part of either form.
VARIANT_SEP = " "


def encode_variant(folded: str, accented: str) -> str:
    """The variant term saying that ``folded`` is written ``accented`` (``elysee élysée``)."""
    return folded + VARIANT_SEP + accented


def decode_variant(term: str) -> tuple[str, str]:
    """The folded and accented forms of a variant term: :func:`encode_variant` undone."""
    folded, accented = term.split(VARIANT_SEP, 1)
    return folded, accented


def variant_prefix(folded: str) -> str:
    """The prefix shared by every variant term of ``folded``, to list them in the index."""
    return folded + VARIANT_SEP
