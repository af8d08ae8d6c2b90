"""How to rank the documents that hold only some of a question's words (issue 30): the
strategies people use, measured side by side on the natural development set.

Each query of ``bench/natural_questions.jsonl`` (its question and its keywords) is split into
its top-level words; each word is evaluated alone through searchsvc's own query builder and
term-wise evaluation (its BM25F over title and body, exact form and stems, without the
as-typed bonus; and where it is found as typed). The strategies then combine those per-word
matches document by document, so every strategy sees the same scores and only the
combination differs. Proximity and the title signals are left out (the engine adds them to
all strategies alike), so the figures compare strategies; ``bench/relevance.py`` measures the
engine itself.

Strategies (filler: question words and words in more than ``--filler-share`` of the
documents, see ``searchsvc.query.filler``):

* ``and``            every word required (the engine before issue 30, without its fallback);
* ``and+relaxed``    that, or when nothing has every word, more words first (Whoosh's
                     coordination bonus: the engine's old relaxed fallback);
* ``or``             BM25F summed over the words found (a plain OR engine), with or without
                     the as-typed bonus of 50 a word;
* ``msm``            Elasticsearch's ``minimum_should_match`` (75 %, 50 %): at least that share
                     of the words, then BM25F;
* ``last``           Meilisearch's ``matchingStrategy: last``: drop words from the end until
                     something matches;
* ``frequency``      Meilisearch's ``frequency``: drop the most frequent words first;
* ``coordination``   BM25F times (words found / words)^p, Lucene's classic coord factor;
* ``coverage``       BM25F of the content words times their idf-weighted coverage^p;
* ``tiers``          what the engine does: documents with every content word first (BM25F
                     plus the as-typed bonus), then the others by coverage^p (``tiers+source``:
                     a word of a document's source name counts as found, as the engine's
                     ``Weights.source`` makes it).

Usage: ``.venv/bin/python bench/partial_strategies.py [--index DIR]`` (default: the bench
index ``bench/relevance.py`` builds, or any searchsvc index of ``../shared/bench``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from searchsvc.engine import termwise
from searchsvc.engine.search import SearchEngine
from searchsvc.index.caches import stored_fields
from searchsvc.query import language as ql
from searchsvc.query.filler import QUESTION_WORDS
from searchsvc.query.plan import QueryBuilder
from searchsvc.query.sources import sources_named
from searchsvc.settings import FILLER_SHARE, Weights
from searchsvc.text.analysis import analyze_query

HERE = Path(__file__).resolve().parent
NATURAL = HERE / "natural_questions.jsonl"
K = 10
AS_TYPED = 50.0


def word_matches(s, text: str, source_docs) -> list[dict]:
    """Each top-level word of ``text``: its documents, BM25F scores, where found as typed,
    and the documents whose source name holds it."""
    tree = ql.parse(text)
    nodes = tree.nodes if isinstance(tree, ql.All) else [tree]
    words = []
    for node in nodes:
        if isinstance(node, ql.Not):
            continue
        bare = QueryBuilder(s.reader(), Weights(as_typed=0, source=0)).build(node).query
        if bare is None:
            continue
        found = termwise.run(s, bare, float("inf"))
        typed_q = QueryBuilder(s.reader(), Weights(as_typed=AS_TYPED, source=0)).build(node).query
        typed = termwise.run(s, typed_q, float("inf"))
        tokens = analyze_query(getattr(node, "text", ""))
        named = set()
        for t in tokens:
            named.update(sources_named(s.reader(), t.exact))
        words.append(
            {
                "text": getattr(node, "text", ""),
                "docs": found.docs,
                "scores": found.values,
                "typed": (typed.values - found.values) > AS_TYPED / 2,
                "source_docs": source_docs(named),
                "question": all(t.exact in QUESTION_WORDS for t in tokens) and bool(tokens),
            }
        )
    return words


def rank(target: int | None, docs, score, tier=None) -> int | None:
    """The target's rank (1-based) among ``docs`` ordered by tier then score, ties by
    document number; None past the top K or not found."""
    if target is None:
        return None
    where = np.flatnonzero(docs == target)
    if not len(where):
        return None
    tier = np.zeros(len(docs)) if tier is None else tier
    i = where[0]
    better = (tier > tier[i]) | ((tier == tier[i]) & (score > score[i]))
    ties = (tier == tier[i]) & (score == score[i]) & (docs < docs[i])
    r = int(better.sum() + ties.sum()) + 1
    return r if r <= K else None


def strategies(words: list[dict], n_docs: int, target, share: float) -> dict[str, int | None]:
    words = [w for w in words if len(w["docs"])]
    if not words:
        return {}
    docs = np.unique(np.concatenate([w["docs"] for w in words]))
    with_source = np.unique(np.concatenate([docs, *[w["source_docs"] for w in words]]))
    m = np.zeros((len(words), len(with_source)))
    held = np.zeros_like(m, bool)
    typed = np.zeros_like(m, bool)
    held_or_source = np.zeros_like(m, bool)
    for i, w in enumerate(words):
        at = np.searchsorted(with_source, w["docs"])
        m[i, at], held[i, at], typed[i, at] = w["scores"], True, w["typed"]
        held_or_source[i, at] = True
        if len(w["source_docs"]):
            held_or_source[i, np.searchsorted(with_source, w["source_docs"])] = True
    dfs = np.array([len(w["docs"]) for w in words])
    idfs = np.log(1 + (n_docs - dfs + 0.5) / (dfs + 0.5))
    filler = np.array(
        [w["question"] or d > share * n_docs for w, d in zip(words, dfs, strict=True)]
    )
    if filler.all():
        filler[:] = False
    content = ~filler
    bm = m.sum(0)
    bonus = AS_TYPED * typed.sum(0)
    found = held.any(0)
    out: dict[str, int | None] = {}

    def keep(mask, score, tier=None, name=""):
        sel = mask & found if tier is None else mask
        out[name] = rank(target, with_source[sel], score[sel], None if tier is None else tier[sel])

    every = held.all(0)
    keep(every, bm + bonus, name="and")
    if every.any():
        out["and+relaxed"] = out["and"]
    else:
        t = len(words)
        keep(
            found,
            (bm + bonus + (held.sum(0) - 1) / (t - 0.9) ** 2) * (t - 1) / t,
            name="and+relaxed",
        )
    keep(found, bm, name="or")
    keep(found, bm + bonus, name="or + as typed")
    for frac in (0.75, 0.5):
        need = max(1, math.floor(frac * len(words)))
        keep(held.sum(0) >= need, bm + bonus, name=f"msm {int(frac * 100)} %")
    for k in range(len(words), 0, -1):
        mask = held[:k].all(0)
        if mask.any():
            keep(mask, bm + bonus, name="last")
            break
    order = np.argsort(-dfs, kind="stable")
    for drop in range(len(words)):
        kept = np.ones(len(words), bool)
        kept[order[:drop]] = False
        mask = held[kept].all(0)
        if mask.any():
            keep(mask, bm + bonus, name="frequency")
            break
    for p in (1, 2):
        keep(found, bm * (held.sum(0) / len(words)) ** p, name=f"coordination p={p}")
    for matrix, suffix in ((held, ""), (held_or_source, "+source")):
        coverage = (idfs[content, None] * matrix[content]).sum(0) / idfs[content].sum()
        tier = matrix[content].all(0)
        any_content = matrix[content].any(0)
        bm_content = (m * content[:, None]).sum(0)
        for p in (1, 2, 3):
            if not suffix:
                keep(found, bm_content * coverage**p, name=f"coverage p={p}")
            score = np.where(tier, bm + bonus, bm_content * coverage**p)
            keep(any_content, score, tier.astype(float), name=f"tiers{suffix} p={p}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", help="a searchsvc index of the bench corpus")
    parser.add_argument("--filler-share", type=float, default=FILLER_SHARE)
    args = parser.parse_args(argv)
    index = args.index or max(
        (HERE / ".work" / "indexes").glob("searchsvc-*"), key=lambda p: p.stat().st_mtime
    )
    entries = [json.loads(line) for line in NATURAL.open(encoding="utf-8") if line.strip()]
    started = time.perf_counter()
    engine = SearchEngine(index)
    ranks: dict[str, dict[str, list]] = {}
    with engine.searcher() as s:
        n_docs = s.doc_count_all()
        by_id = {stored_fields(s, d)["id"]: d for d in range(n_docs)}
        codes, names = termwise._index_codes(s, "source")

        def source_docs(values) -> np.ndarray:
            wanted = [i for i, name in enumerate(names) if name in values]
            return np.flatnonzero(np.isin(codes, wanted)) if wanted else np.zeros(0, int)

        for entry in entries:
            for kind in ("question", "keywords"):
                words = word_matches(s, entry[kind], source_docs)
                got = strategies(words, n_docs, by_id.get(entry["id"]), args.filler_share)
                for name, r in got.items():
                    ranks.setdefault(name, {}).setdefault(kind, []).append(r)
    print(f"index {index}; {len(entries)} entries; filler share {args.filler_share}")
    print(f"{'strategy':22} {'all':>6} {'question':>9} {'keywords':>9} {'top 10':>7}")
    for name, by_kind in ranks.items():
        mrr = {k: sum(1 / r for r in v if r) / len(entries) for k, v in by_kind.items()}
        top = sum(r is not None for v in by_kind.values() for r in v) / (2 * len(entries))
        both = (mrr.get("question", 0) + mrr.get("keywords", 0)) / 2
        print(
            f"{name:22} {both:6.3f} {mrr.get('question', 0):9.3f} "
            f"{mrr.get('keywords', 0):9.3f} {100 * top:6.1f}%"
        )
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
