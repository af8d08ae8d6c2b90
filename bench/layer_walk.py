"""Walk searches through the code and count how often they climb back up a layer (issue 29).

The layers, top to bottom: the interfaces (``web``, ``cli``), ``engine``, ``query``, ``index``,
``text``; a search should go down them, each layer calling the ones below. Every call the
search makes from one searchsvc module into another is traced (``sys.setprofile``); a call
whose callee sits in a higher layer than its caller is a climb (``query/plan.py`` calling
``engine/termwise.py``), and a call back into a module the walk already left for another
module of the same layer is a re-entry. Both are counted as distinct (caller, callee) function
pairs, so a loop over documents counts once. Returns are not calls: they never count.

The searches (see :func:`walks`: each path a search can take) run once to warm the caches (a
first search reads and builds what later ones find made), then traced.

Usage::

    PYTHONPATH=/path/to/tree .venv/bin/python bench/layer_walk.py INDEX ["query"]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import searchsvc
from searchsvc.engine.search import SearchEngine

LAYERS = {"web": 0, "cli": 0, "engine": 1, "query": 2, "index": 3, "ingest": 3, "text": 4}
QUESTION = "comment afficher le chemin absolu d'un fichier sous linux"


def module_of(code, root: str) -> str | None:
    """The searchsvc module a code object belongs to ("engine/termwise"), or None."""
    path = code.co_filename
    if not path.startswith(root):
        return None
    return path[len(root) :].removesuffix(".py")


def layer_of(module: str) -> int | None:
    return LAYERS.get(module.split("/", 1)[0])


def walks(engine: SearchEngine, text: str) -> list:
    """What a search can go through: relevance term-wise, a phrase and ``OR`` through Whoosh's
    collectors, a misspelt word (close words, did-you-mean), the sort by date, a query being
    typed and its completions, a count."""
    return [
        lambda: engine.search(text),
        lambda: engine.search('"chemin absolu" OR linux -windows'),
        lambda: engine.search('"chemin absolu" source:debian'),
        lambda: engine.search("chemn absolu"),
        lambda: engine.search(text, sort="date"),
        lambda: engine.search_as_you_type("chemin abs"),
        lambda: engine.complete("chemin abs"),
        lambda: engine.count(text),
    ]


def trace_search(engine: SearchEngine, text: str, root: str) -> list[tuple[str, str, str, str]]:
    """The distinct (caller module, caller function, callee module, callee function) of every
    call between two searchsvc modules while the :func:`walks` of ``text`` run."""
    edges: dict[tuple[str, str, str, str], None] = {}

    def profile(frame, event, _arg):
        if event != "call":
            return
        callee = module_of(frame.f_code, root)
        back = frame.f_back
        caller = module_of(back.f_code, root) if back is not None else None
        if callee and caller and callee != caller:
            edges[(caller, back.f_code.co_name, callee, frame.f_code.co_name)] = None

    for walk in walks(engine, text):
        engine._pages.clear()
        sys.setprofile(profile)
        try:
            walk()
        finally:
            sys.setprofile(None)
    return list(edges)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("index")
    parser.add_argument("query", nargs="?", default=QUESTION)
    parser.add_argument("--list", action="store_true", help="print every climb and re-entry")
    args = parser.parse_args(argv)
    root = str(Path(searchsvc.__file__).resolve().parent) + "/"
    engine = SearchEngine(args.index)
    for walk in walks(engine, args.query):  # warm: what a first search makes, later ones find
        walk()
    edges = trace_search(engine, args.query, root)
    climbs = []
    reentries = []
    left: set[str] = set()
    for caller, caller_fn, callee, callee_fn in edges:
        up, down = layer_of(caller), layer_of(callee)
        if up is None or down is None:
            continue
        if down < up:
            climbs.append(f"{caller}.{caller_fn} -> {callee}.{callee_fn}")
        elif down == up and callee in left:
            reentries.append(f"{caller}.{caller_fn} -> {callee}.{callee_fn}")
        left.add(caller)
    print(
        f"{root}: {len(edges)} distinct calls between modules; climbs {len(climbs)}, "
        f"re-entries {len(reentries)} (query {args.query!r})"
    )
    if args.list:
        for line in climbs:
            print("  climb   ", line)
        for line in reentries:
            print("  re-entry", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
