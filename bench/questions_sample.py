"""The seeded sample of documents behind bench/natural_questions.jsonl (issue 30).

The natural-question set was written by reading documents drawn here, and only
those documents: no search engine is imported or run, so the questions cannot
lean on any engine's results.

How the sample is drawn: the line indexes of the corpus are shuffled with
``random.Random(30)`` and read in that order; a document is kept when its body
has at least 300 characters and it is mostly French (at least 12 % of its
words are common French function words, and that is more than its share of
common English ones), until 200 are kept.

Usage::

    python bench/questions_sample.py [--corpus ../shared/bench/frdocs.jsonl.gz]
                                     [--count 200] [--show]

prints the sampled ids one a line (with ``--show``: id, title and the start
of the body, to read while writing the questions). Standard library only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from pathlib import Path

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "frdocs.jsonl.gz"
SEED = 30
MIN_BODY = 300

FRENCH = set(
    "le la les un une des du de et est en que qui dans pour pas sur au aux par plus ce cette "
    "ces il elle ils on vous nous avec sont ou mais son sa ses leur leurs être avoir peut "
    "si ne se lors dont afin".split()
)
ENGLISH = set(
    "the and of to is in that for it with as are this be by on or from an which you "
    "not can if".split()
)
WORD = re.compile(r"[a-zà-öø-ÿœ]+", re.IGNORECASE)


def mostly_french(text: str) -> bool:
    """True when common French function words make up a fair share of the text."""
    words = [w.lower() for w in WORD.findall(text)]
    if not words:
        return False
    fr = sum(w in FRENCH for w in words)
    en = sum(w in ENGLISH for w in words)
    return fr / len(words) >= 0.12 and fr > en


def read_lines(corpus: Path) -> list[str]:
    opener = gzip.open if corpus.suffix == ".gz" else open
    with opener(corpus, "rt", encoding="utf-8") as handle:
        return handle.readlines()


def sample(corpus: Path = DEFAULT_CORPUS, count: int = 200) -> list[dict]:
    """The first ``count`` acceptable documents in the seeded order of line indexes."""
    lines = read_lines(corpus)
    order = random.Random(SEED).sample(range(len(lines)), len(lines))
    kept = []
    for index in order:
        doc = json.loads(lines[index])
        body = doc.get("body") or ""
        if len(body) >= MIN_BODY and mostly_french(body):
            kept.append(doc)
            if len(kept) == count:
                break
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--show", action="store_true", help="print title and body start too")
    args = parser.parse_args()
    for doc in sample(args.corpus, args.count):
        if args.show:
            print(f"== {doc['id']} | {doc['title']} | {doc.get('source', '')}")
            print(doc["body"][:1500])
            print()
        else:
            print(doc["id"])


if __name__ == "__main__":
    main()
