"""How the French analysis' caches (``text/analysis``: ``word_terms``, ``elided_terms``,
``token_pieces``) fare over a corpus analysed once, as a build analyses it: the distinct
words, elided forms and tokens met (each cache's misses), and its hits, at the sizes
``settings.py`` gives them. Prints its figures; they explain those sizes.

Usage: ``.venv/bin/python bench/analysis_caches.py [CORPUS]`` (JSON Lines, gzipped or not;
the bench corpus by default).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import common

from searchsvc.text import analysis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=common.DEFAULT_CORPUS)
    args = parser.parse_args()
    start, documents = time.perf_counter(), 0
    with common.open_lines(args.corpus) as lines:
        for line in lines:
            doc = json.loads(line)
            analysis.analyze_text(f"{doc.get('title') or ''}\n{doc.get('body') or ''}")
            documents += 1
    print(f"{documents} documents analysed in {time.perf_counter() - start:.1f} s")
    for cache in (analysis.word_terms, analysis.elided_terms, analysis.token_pieces):
        info = cache.cache_info()
        asked = info.hits + info.misses
        print(
            f"{cache.__name__}: {info.misses} distinct, {info.hits} hits of {asked} "
            f"({info.hits / max(asked, 1):.1%}), {info.currsize} kept of {info.maxsize}"
        )


if __name__ == "__main__":
    main()
