"""What bench/relevance.py's queries leave to a ranker, kind by kind (issue 14's targets):
searchsvc's MRR@10 split by how many documents answer the query as well as the target does,
and beside what the obvious ordering of those documents would give.

* ``title_part``: a span of a title (2-4 words) is often shared by a family of titles
  ("Fonctions de base de données — Exemple 4", "— Généralités", …). Split by the number of
  titles holding the span; the obvious ordering: every document whose title holds it first,
  in random order (the expected MRR@10).
* ``inflected``: the query names the document's word in a form the document does not have.
  Split by the number of documents that have every word as typed (searchsvc puts them first);
  the obvious ordering: searchsvc's own ranking of the query with the document's form put
  back, which is the most a perfect conflation of the two forms could give.
* ``phrase``: split by the number of documents holding the phrase; the obvious ordering: by
  how often they hold it, ties in random order.

It reads the queries and ranks of the last ``bench/relevance.py`` run
(``bench/.work/relevance-last.jsonl``) and searches searchsvc's cached index of that run.

Usage: ``.venv/bin/python bench/relevance_limits.py [CORPUS]`` after ``bench/relevance.py``.
"""

from __future__ import annotations

import json
import re
import sys

import common
import references
from common import WORK, file_key, table
from relevance import K, metrics, title_tokens
from unidecode import unidecode

LAST_RUN = WORK / "relevance-last.jsonl"
_NOT_WORD = re.compile(r"[^\w']+")


def expected_mrr(above: int, tied: int) -> float:
    """MRR@K of a document placed at random among ``tied`` equals after ``above`` others."""
    if tied < 1:
        return 0.0
    return sum(1 / (above + k) for k in range(1, tied + 1) if above + k <= K) / tied


def folded(text: str) -> str:
    """Lower-case, unaccented words between single spaces, with a space at each end."""
    words = _NOT_WORD.sub(" ", unidecode(text.lower()).replace("\u2019", "'")).split()
    return " " + " ".join(words) + " "


def bucket(n: int) -> str:
    return "0" if n == 0 else "1" if n == 1 else "2-9" if n < 10 else "10+"


def title_part(queries: list[dict], docs: list[dict]) -> tuple[list[str], float]:
    """Per query, how many titles hold its span; the expected MRR of random order among them."""
    titles = [" " + " ".join(title_tokens(d["title"])) + " " for d in docs]
    buckets, total = [], 0.0
    for q in queries:
        span = " " + q["q"] + " "
        holding = sum(span in t for t in titles)
        buckets.append(bucket(holding))
        total += expected_mrr(0, holding)
    return buckets, total / len(queries)


def phrase(queries: list[dict], texts: dict[str, str]) -> tuple[list[str], float]:
    """Per query, how many documents hold the phrase; the expected MRR of ordering them by how
    often they hold it. ``texts``: each document's title and body, :func:`folded`."""
    buckets, total = [], 0.0
    for q in queries:
        words = folded(q["q"].strip('"'))
        counts = [t.count(words) for t in texts.values()]
        mine = texts[q["doc"]].count(words)
        buckets.append(bucket(sum(c > 0 for c in counts)))
        if mine:
            total += expected_mrr(sum(c > mine for c in counts), sum(c == mine for c in counts))
    return buckets, total / len(queries)


def inflected(queries: list[dict], texts: dict[str, str], index) -> tuple[list[str], float]:
    """Per query, how many documents have every word as typed; searchsvc's MRR with the
    document's own form put back in the query."""
    from searchsvc.engine.search import SearchEngine

    words = [set(text.split()) for text in texts.values()]
    buckets, total = [], 0.0
    engine = SearchEngine(index, did_you_mean=False)
    try:
        for q in queries:
            typed = set(folded(q["q"]).split())
            buckets.append(bucket(sum(typed <= w for w in words)))
            original, variant = q["note"].split(" -> ")
            text = " ".join(original if w == variant else w for w in q["q"].split(" "))
            hits = [h.id for h in engine.search(text, per_page=K).hits]
            total += 1 / (hits.index(q["doc"]) + 1) if q["doc"] in hits else 0.0
    finally:
        engine.close()
    return buckets, total / len(queries)


def main(argv=None) -> int:
    p = common.arg_parser(__doc__)
    p.add_argument("--no-results", action="store_true", help="do not update bench/RESULTS.md")
    args = p.parse_args(argv)
    if not LAST_RUN.exists():
        raise SystemExit(f"no {LAST_RUN}: run bench/relevance.py first")
    runs = [json.loads(line) for line in LAST_RUN.read_text(encoding="utf-8").splitlines()]
    if not runs or any("searchsvc" not in q["ranks"] for q in runs):
        raise SystemExit(f"{LAST_RUN} holds no searchsvc ranks: run bench/relevance.py with it")
    root = references.index_path("searchsvc", f"{file_key(args.corpus)}:{args.docs}")
    if not references.cached_meta(root):
        raise SystemExit(f"searchsvc's index of the last run is not cached ({root})")
    docs = list(common.iter_jsonl(common.corpus_dir(args.corpus, args.docs)))
    texts = {d["id"]: folded(d["title"] + "\n" + d["body"]) for d in docs}
    kinds = {
        "title_part": ("titles holding the span", lambda qs: title_part(qs, docs)),
        "inflected": ("documents with every word as typed", lambda qs: inflected(qs, texts, root)),
        "phrase": ("documents holding the phrase", lambda qs: phrase(qs, texts)),
    }
    split, overall = [], []
    for kind, (what, measure) in kinds.items():
        queries = [q for q in runs if q["kind"] == kind]
        ranks = [q["ranks"].get("searchsvc") for q in queries]
        buckets, obvious = measure(queries)
        for b in ("0", "1", "2-9", "10+"):
            chosen = [r for r, qb in zip(ranks, buckets, strict=True) if qb == b]
            if chosen:
                split.append([kind, f"{b} {what}", str(len(chosen)), f"{metrics(chosen)[0]:.3f}"])
        overall.append([kind, str(len(queries)), f"{metrics(ranks)[0]:.3f}", f"{obvious:.3f}"])
        print(f"{kind}: done", file=sys.stderr, flush=True)
    report = "\n\n".join(
        [
            f"MRR@10 on the {len(runs)} queries of the last bench/relevance.py run",
            table(["kind", "queries", "searchsvc", "obvious ordering"], overall),
            "searchsvc's MRR@10, split by",
            table(["kind", "split by", "queries", "searchsvc"], split, right=(2, 3)),
        ]
    )
    print(report)
    if not args.no_results:
        common.write_results(
            "Relevance: what the queries leave to a ranker",
            common.code_note(),
            report,
            "What the columns mean: see the docstring of `bench/relevance_limits.py`.",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
