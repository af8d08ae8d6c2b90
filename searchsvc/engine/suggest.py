"""Did-you-mean: a corrected query when some words look misspelt and the correction finds
more, written with the accents the documents use."""

from __future__ import annotations

from whoosh.searching import Searcher

from searchsvc.engine import ranking
from searchsvc.query import language as ql
from searchsvc.query import spelling
from searchsvc.query.plan import QueryBuilder
from searchsvc.settings import Weights
from searchsvc.text.analysis import analyze_query
from searchsvc.text.variants import decode_variant, variant_prefix


def did_you_mean(
    s: Searcher, tree: ql.Node, text: str, total: int, weights: Weights, deadline: float
) -> str | None:
    """``text`` with each word that looks misspelt replaced by its closest index word, when
    that finds more than ``total`` documents; None otherwise. Counting the corrected query
    is bounded by the search's ``deadline``."""
    reader = s.reader()
    edits: list[tuple[int, int, str]] = []
    for leaf, negated in ql.leaves(tree):
        if negated or not isinstance(leaf, ql.Word) or leaf.field == "source":
            continue
        tokens = analyze_query(leaf.text)
        if len(tokens) != 1 or tokens[0].kind != "word":
            continue
        fixed = spelling.closest(reader, tokens[0].exact)
        if fixed:
            t = tokens[0]
            edits.append(
                (leaf.start + t.startchar, leaf.start + t.endchar, accented(reader, fixed))
            )
    if not edits:
        return None
    suggestion = text
    for start, end, word in sorted(edits, reverse=True):
        suggestion = suggestion[:start] + word + suggestion[end:]
    wq = QueryBuilder(reader, weights).build(ql.parse(suggestion)).query
    if wq is None or ranking.count(s, wq, deadline) <= total:
        return None
    return suggestion


def accented(reader, exact: str) -> str:
    """The most common accented spelling of a folded word, or the word itself."""
    best, best_df = exact, 0
    for raw in reader.expand_prefix("variants", variant_prefix(exact)):
        term = raw.decode("utf-8")
        df = reader.doc_frequency("variants", term)
        if df > best_df:
            best, best_df = decode_variant(term)[1], df
    plain = spelling.max_field_frequency(reader, exact)
    return best if best_df * 2 >= plain else exact
