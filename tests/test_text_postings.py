"""A new segment's text postings gathered as arrays (issue 25) are each text's analysis.

The segment builder no longer takes :func:`analyze_text`'s dictionaries: it numbers each
token's terms and groups a chunk's occurrences with numpy. For any texts, what
:class:`FieldPostings` gives back per document (positions of exact terms, frequencies of
stems, variant terms, field lengths) must be what ``analyze_text`` finds in each text, and
the tokenizer's shortcut for texts without combining accents must split as the full pattern.
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from searchsvc.index.text_postings import (
    FREQUENCY,
    POSITIONS,
    PRESENT,
    FieldPostings,
    TermNumbers,
)
from searchsvc.text import analysis
from searchsvc.text.analysis import analyze_text, normalise

# Letters with and without accents, a combining accent, apostrophes and hyphens (with their
# look-alikes), digits and separators, handles: what the tokenizer cuts on or keeps.
ALPHABET = "aeélLdœÉ\u0301'\u2019-\u2011 ,.@#3_"
WORDS = ["l'élection", "Delanoë", "micro-blogging", "aujourd'hui", "à", "3,5", "@jack", "été"]
texts = st.lists(st.text(ALPHABET, max_size=30) | st.sampled_from(WORDS), max_size=12).map(" ".join)


def by_document(postings: FieldPostings, numbers: TermNumbers, documents: int) -> dict:
    """Each document's terms, as postings give them back: exact terms' positions, stems'
    frequencies, variant terms."""
    out: dict[int, dict] = {d: {} for d in range(documents)}
    grouped = postings.grouped(numbers, np.zeros(documents, np.uint32))
    groups = [group for _lo, _hi, range_groups in grouped.ranges for group in range_groups]
    for group in groups:
        bounds, docs, counts = group.bounds.tolist(), group.docs.tolist(), group.counts.tolist()
        for t, rank in enumerate(group.ranks.tolist()):
            term = grouped.names[rank]
            at = group.position_bounds[t] if group.kind == POSITIONS else 0
            for doc, count in zip(
                docs[bounds[t] : bounds[t + 1]], counts[bounds[t] : bounds[t + 1]], strict=True
            ):
                if group.kind == POSITIONS:
                    out[doc][term] = group.positions[at : at + count].tolist()
                    at += count
                else:
                    assert group.kind in (FREQUENCY, PRESENT)
                    out[doc][term] = count
    assert grouped.names == sorted(set(grouped.names))
    return out


@settings(max_examples=60, deadline=None)
@given(docs=st.lists(st.tuples(texts, texts), min_size=1, max_size=6))
@example(docs=[("", "L'e\u0301te\u0301 de Delanoe\u0308")])  # combining accents
def test_postings_gathered_as_arrays_are_each_texts_analysis(docs):
    numbers = TermNumbers()
    fields = {"title": FieldPostings(), "body": FieldPostings()}
    variants = FieldPostings()
    docnums = list(range(len(docs)))
    tokens = [[numbers.text(t) for t in doc] for doc in docs]
    lengths = {
        name: fields[name].add_texts(docnums, [doc[i] for doc in tokens]).tolist()
        for i, name in enumerate(fields)
    }
    variants.add_variants(docnums, tokens)
    got = {name: by_document(fields[name], numbers, len(docs)) for name in fields}
    got_variants = by_document(variants, numbers, len(docs))
    for d, doc in enumerate(docs):
        for i, name in enumerate(fields):
            expected = analyze_text(doc[i])
            assert got[name][d] == {**expected.exact, **expected.stems}
            assert lengths[name][d] == expected.length
        expected = set().union(*(analyze_text(t).variants for t in doc))
        assert got_variants[d] == {v.encode(): 1 for v in expected}


@settings(max_examples=200, deadline=None)
@given(text=st.text(ALPHABET.replace("\u0301", "") + "\u00e8\u0153\u00e0x9", max_size=60))
def test_the_tokenizer_shortcut_splits_as_the_full_pattern(text):
    text = normalise(text)
    assert analysis._UNMARKED_TOKEN_RE.findall(text) == analysis._TOKEN_RE.findall(text)
