"""Indexing speed: a full build of the benchmark corpus, then an incremental run with 1 % of
the documents changed, for searchsvc and two references measured in the same run.

* ``searchsvc``  ``reindex(corpus, index, full=True)`` from a JSONL corpus folder, then
                 ``reindex(changed corpus, index)`` (incremental, by content hash);
* ``fts5``       SQLite FTS5 (stdlib), ``unicode61 remove_diacritics 2``, content stored,
                 ``optimize`` at the end; incremental: compare stored hashes, rewrite changed;
* ``plain``      Whoosh written the obvious way: one generator filter per step (apostrophes,
                 tokenize, elision, lowercase, stop words, unidecode, pure-Python Snowball),
                 title and body stored, one process; incremental like fts5;
* ``tantivy``    tantivy-py (the bench extra, ``make bench-tools``): French Snowball stems
                 with ASCII folding, id, title and body stored, the writer's defaults (one
                 indexing thread per core), merges waited for; full build only.

Each build runs in its own process; reported: wall time of the build (measured inside the
child, interpreter start-up excluded), CPU time, documents/s, MB/s of text, index size on
disk, peak RSS of the largest process (``wait4`` rusage) and of all its processes together
(sampled from /proc every 0.2 s). ``--repeat N`` gives medians; engines alternate within a
repeat so that machine noise spreads over all of them.

With ``--formats N`` it then measures each corpus format apart (issue 28): the first N
documents of the corpus written as ``.txt`` files (the plain-text figure), Markdown with front
matter and markup, HTML news pages with their chrome (menu, cookie banner, related links,
footer), PDF, ``.docx`` and ``.odt`` files; for each, documents per second read (the format's
reader alone, ``read_corpus``) and built (a full ``reindex`` of that folder, in its own
process). PDF and Word need the office extra, and writing .odt needs odfpy (the dev extra).

Usage: ``.venv/bin/python bench/indexing.py [CORPUS] [--docs N] [--repeat N] [--formats N]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
import time
from pathlib import Path

import common
from common import WORK, Status, digest, file_key, fmt_mb, median, table

from searchsvc import testing

ENGINES = ("searchsvc", "fts5", "plain", "tantivy")
# Engines measured by their full build only (no incremental run written for them).
FULL_ONLY = ("tantivy",)
NOTES = {
    "searchsvc": "searchsvc `reindex` (full, then incremental)",
    "fts5": "SQLite FTS5 unicode61 remove_diacritics 2, content stored, optimize",
    "plain": "Whoosh, obvious filter chain, pure-Python Snowball, 1 process, title/body stored",
    "tantivy": "tantivy-py, Snowball French with ASCII folding, id/title/body stored, its "
    "default writer (a thread per core), merges waited for; full build only",
}
RUNS = WORK / "indexing"


# -- child side --------------------------------------------------------------------------------


def child(kind: str, mode: str, corpus: Path, target: Path) -> dict:
    """One build or update, timed here; returns what the parent prints."""
    import resource

    import references

    def cpu() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    files = common.corpus_files(corpus)
    cpu_started = cpu()
    started = time.perf_counter()
    if kind == "searchsvc":
        from searchsvc.ingest.indexer import reindex

        report = reindex(corpus, target, full=(mode == "full"))
        out = {
            "documents": report.documents,
            "added": report.added,
            "updated": report.updated,
            "deleted": report.deleted,
        }
    elif kind == "fts5":
        db = target / "fts5.db"
        if mode == "full":
            target.mkdir(parents=True, exist_ok=True)
            out = {"documents": references.build_fts5(references.read_plain_jsonl(files), db)}
        else:
            out = references.update_fts5(references.read_plain_jsonl(files), db)
    elif kind == "plain":
        docs = references.read_plain_jsonl(files)
        if mode == "full":
            out = {"documents": references.build_whoosh("plain", docs, target, stored=True)}
        else:
            out = references.update_whoosh(docs, target)
    elif kind == "tantivy" and mode == "full":
        docs = references.read_plain_jsonl(files)
        out = {"documents": references.build_tantivy(docs, target / "tantivy")}
    else:
        raise SystemExit(f"unknown engine {kind}")
    out["seconds"] = time.perf_counter() - started
    out["cpu"] = cpu() - cpu_started
    return out


# -- parent side -------------------------------------------------------------------------------


def changed_corpus(base: Path, percent: float, seed: int) -> tuple[Path, int]:
    """A copy of the corpus folder with ``percent`` % of its lines given a modified body."""
    files = common.corpus_files(base)
    key = digest([file_key(f) for f in files], percent, seed)
    target = RUNS / f"changed-{key}"
    marker = target / ".done"
    if marker.exists():
        return target, int(marker.read_text())
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    rng = random.Random(seed)
    changed = 0
    for path in files:
        lines = [ln for ln in common.open_lines(path) if ln.strip()]
        picked = set(rng.sample(range(len(lines)), max(1, round(len(lines) * percent / 100))))
        out_path = target / path.name
        opener = gzip.open if path.name.endswith(".gz") else open
        kwargs = {"compresslevel": 6} if path.name.endswith(".gz") else {}
        with opener(out_path, "wt", encoding="utf-8", **kwargs) as out:
            for i, line in enumerate(lines):
                if i in picked:
                    d = json.loads(line)
                    d["body"] += (
                        f"\n\nRévision {i} : ce passage a été modifié pour le banc d'essai."
                    )
                    line = json.dumps(d, ensure_ascii=False) + "\n"
                    changed += 1
                out.write(line)
    marker.write_text(str(changed))
    return target, changed


def run(kind: str, mode: str, corpus: Path, target: Path) -> common.ChildRun:
    cmd = [sys.executable, __file__, "--child", kind, mode, str(corpus), str(target)]
    return common.run_child(cmd)


def parse_args(argv=None) -> argparse.Namespace:
    p = common.arg_parser(__doc__)
    p.add_argument("--repeat", type=int, default=1, help="runs per engine (medians reported)")
    p.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset")
    p.add_argument("--changed", type=float, default=1.0, help="percent of documents changed")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-results", action="store_true", help="do not update bench/RESULTS.md")
    p.add_argument(
        "--formats",
        type=int,
        default=0,
        metavar="N",
        help="also measure each file format on N documents (0: not measured)",
    )
    p.add_argument(
        "--formats-only", action="store_true", help="measure the formats only (with --formats)"
    )
    p.add_argument(
        "--child", nargs=4, metavar=("ENGINE", "MODE", "CORPUS", "TARGET"), help=argparse.SUPPRESS
    )
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        kind, mode, corpus, target = args.child
        print(json.dumps(child(kind, mode, Path(corpus), Path(target))), flush=True)
        return 0
    status = Status()
    if args.formats_only:
        print(formats_report(args, status))
        return 0
    started = time.perf_counter()
    code = common.code_note()  # the code measured, noted before it can change
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if set(engines) - set(ENGINES):
        raise SystemExit(f"unknown engines: {', '.join(sorted(set(engines) - set(ENGINES)))}")
    if not args.corpus.exists():
        raise SystemExit(f"corpus not found: {args.corpus}")
    if "tantivy" in engines:
        import references

        references.tantivy_module()  # one line saying how to install it, before any work
    base = common.corpus_dir(args.corpus, args.docs)
    text_bytes = common.corpus_bytes(base)
    changed_dir, n_changed = changed_corpus(base, args.changed, args.seed)
    status.note(
        f"corpus {args.corpus} ({fmt_mb(text_bytes)} of text); {n_changed} documents changed "
        f"for the incremental run"
    )

    full: dict[str, list[common.ChildRun]] = {e: [] for e in engines}
    incr: dict[str, list[common.ChildRun]] = {e: [] for e in engines}
    sizes: dict[str, int] = {}
    for r in range(args.repeat):
        for e in engines:
            target = RUNS / "run" / e
            shutil.rmtree(target, ignore_errors=True)
            status.note(f"[{r + 1}/{args.repeat}] {e}: full build …")
            res = run(e, "full", base, target)
            full[e].append(res)
            sizes[e] = common.dir_size(target)
            if e in FULL_ONLY:
                status.note(f"[{r + 1}/{args.repeat}] {e}: {res.output['seconds']:.1f} s")
                continue
            status.note(
                f"[{r + 1}/{args.repeat}] {e}: {res.output['seconds']:.1f} s; incremental …"
            )
            inc = run(e, "update", changed_dir, target)
            incr[e].append(inc)
            status.note(f"[{r + 1}/{args.repeat}] {e}: incremental {inc.output['seconds']:.1f} s")
    shutil.rmtree(RUNS / "run", ignore_errors=True)

    def med(runs, f):
        return median(f(x) for x in runs)

    ndocs = full[engines[0]][0].output["documents"]
    rows = []
    for e in engines:
        secs = med(full[e], lambda x: x.output["seconds"])
        rows.append(
            [
                e,
                f"{secs:.1f} s",
                f"{med(full[e], lambda x: x.output['cpu']):.1f} s",
                f"{ndocs / secs:,.0f}",
                f"{text_bytes / 1e6 / secs:.2f}",
                fmt_mb(sizes[e]),
                f"{med(full[e], lambda x: x.maxrss_kb) / 1024:.0f} MB",
                f"{med(full[e], lambda x: x.tree_peak_kb) / 1024:.0f} MB",
            ]
        )
    build_table = table(
        ["engine", "wall", "CPU", "docs/s", "MB/s", "index size", "peak RSS", "peak RSS all procs"],
        rows,
    )
    rows = []
    for e in engines:
        if not incr[e]:
            rows.append([e, "—", "—", "not measured", "—", "—"])
            continue
        out = incr[e][-1].output
        rows.append(
            [
                e,
                f"{med(incr[e], lambda x: x.output['seconds']):.1f} s",
                f"{med(incr[e], lambda x: x.output['cpu']):.1f} s",
                str(out.get("updated", 0) + out.get("added", 0)),
                f"{med(incr[e], lambda x: x.maxrss_kb) / 1024:.0f} MB",
                f"{med(incr[e], lambda x: x.tree_peak_kb) / 1024:.0f} MB",
            ]
        )
    incr_table = table(
        ["engine", "wall", "CPU", "docs rewritten", "peak RSS", "peak RSS all procs"], rows
    )

    ratio_txt = ""
    if "searchsvc" in engines and len(engines) > 1:
        rows = []

        def ratio(f, runs_of):
            return med(runs_of["searchsvc"], f) / max(1e-9, med(runs_of[ref], f))

        for ref in engines:
            if ref == "searchsvc":
                continue
            rows.append(
                [
                    f"searchsvc ÷ {ref}",
                    f"{ratio(lambda x: x.output['seconds'], full):.2f}×",
                    f"{ratio(lambda x: x.output['cpu'], full):.2f}×",
                    f"{sizes['searchsvc'] / max(1, sizes[ref]):.2f}×",
                    f"{ratio(lambda x: x.tree_peak_kb, full):.2f}×",
                    f"{ratio(lambda x: x.output['seconds'], incr):.2f}×" if incr[ref] else "—",
                ]
            )
        ratio_txt = table(
            ["ratio", "build wall", "build CPU", "index size", "peak RSS", "incremental wall"],
            rows,
        )

    total = time.perf_counter() - started
    report = common.sections(
        f"{ndocs} documents, {fmt_mb(text_bytes)} of text (title + body); "
        f"median of {args.repeat} run(s); {n_changed} documents changed for the incremental "
        "run",
        "Full build\n\n" + build_table,
        f"Incremental run ({args.changed:g} % of documents changed)\n\n" + incr_table,
        ("Ratios (above 1: searchsvc slower / larger)\n\n" + ratio_txt) if ratio_txt else "",
    )
    if args.formats:
        report += "\n\n" + formats_report(args, status)
        total = time.perf_counter() - started
    print(report)
    print(f"\ntotal {total:.0f} s")
    if not args.no_results:
        notes = common.engine_notes(engines, NOTES)
        common.write_results(
            "Indexing",
            code,
            report,
            "Engines:\n\n" + notes,
            "Wall and CPU = the build inside its process (start-up excluded; CPU includes "
            "worker processes); peak RSS = largest process (wait4), all procs = sum over the "
            f"process tree, sampled. Whole run: {total:.0f} s.",
        )
    return 0


# -- per format ----------------------------------------------------------------------------------

FORMATS = ("txt", "md", "html", "pdf", "docx", "odt")

_PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{title} | Le Site
</title><meta property="og:site_name" content="Le Site"><meta property="article:published_time"
content="2024-08-03T14:00:00+02:00"><link rel="canonical" href="https://site.example/{n}"></head>
<body><div class="cookie-banner"><p>Nous utilisons des cookies pour mesurer l'audience. En
poursuivant votre navigation, vous acceptez leur utilisation.</p><button>Accepter</button></div>
<header><nav><ul><li><a href="/">Accueil</a></li><li><a href="/sport">Sport</a></li><li>
<a href="/compte">Mon compte</a></li></ul></nav></header><main><article><h1>{title}</h1>{body}
</article><aside><h3>Les plus lus</h3><ul><li><a href="/a">Un autre article du site</a></li>
</ul></aside></main><footer><p>Mentions légales. Tous droits réservés.</p></footer></body></html>
"""


def _paragraphs(body: str) -> list[str]:
    return [p.strip() for p in body.split("\n\n") if p.strip()] or [body]


def _pdf(title: str, body: str) -> bytes:
    """A PDF written by hand (``searchsvc.testing.pdf_bytes``): 45 lines of 90 characters a
    page, the title and a date in its metadata."""
    import textwrap

    lines = [w for p in _paragraphs(body) for w in [*textwrap.wrap(p, 90), ""]]
    pages = [lines[i : i + 45] for i in range(0, len(lines), 45)] or [[]]
    return testing.pdf_bytes(pages, {"Title": title, "CreationDate": "D:20240803140000"})


def _docx(title: str, body: str) -> bytes:
    import io

    import docx

    document = docx.Document()
    document.core_properties.title = title[:255]  # the longest a core property may be
    for p in _paragraphs(body):
        document.add_paragraph(p)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _odt(title: str, body: str) -> bytes:
    import io

    from odf import dc, text
    from odf.opendocument import OpenDocumentText

    document = OpenDocumentText()
    document.meta.addElement(dc.Title(text=title))
    for p in _paragraphs(body):
        document.text.addElement(text.P(text=p))
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def _file(fmt: str, n: int, doc: dict) -> str | bytes:
    """One corpus document written as a file of format ``fmt``."""
    title, body = doc.get("title") or "", doc["body"]
    if fmt == "txt":
        return f"{title}\n\n{body}"
    if fmt == "md":
        paragraphs = _paragraphs(body)
        marked = [
            f"Selon **la rédaction** et [le site](https://site.example/{n}) : {paragraphs[0]}"
        ]
        marked += [
            f"## Partie {k}\n\n{p}" if k % 3 == 0 else p for k, p in enumerate(paragraphs[1:])
        ]
        front = json.dumps(title, ensure_ascii=False)
        return (
            f"---\ntitle: {front}\ndate: 2024-08-03\nsource: Le Site\n"
            f"url: https://site.example/{n}\n---\n" + "\n\n".join(marked)
        )
    if fmt == "html":
        import html

        ps = "".join(f"<p>{html.escape(p)}</p>" for p in _paragraphs(body))
        return _PAGE.format(title=html.escape(title), body=ps, n=n)
    return {"pdf": _pdf, "docx": _docx, "odt": _odt}[fmt](title, body)


def format_corpus(base: Path, fmt: str, count: int) -> Path:
    """A folder of the first ``count`` corpus documents as ``fmt`` files, made once."""
    target = (
        RUNS / f"format-{fmt}-{digest([file_key(f) for f in common.corpus_files(base)], count)}"
    )
    if (target / ".done").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for n, doc in enumerate(common.iter_jsonl(base)):
        if n >= count:
            break
        content = _file(fmt, n, doc)
        path = target / f"d{n:06d}.{fmt}"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    (target / ".done").write_text("")
    return target


def formats_report(args: argparse.Namespace, status: Status) -> str:
    """Documents per second of each format, read and built, plain text first."""
    from searchsvc.ingest.corpus.walk import read_corpus

    base = common.corpus_dir(args.corpus, args.docs)
    rows = []
    for fmt in FORMATS:
        try:
            folder = format_corpus(base, fmt, args.formats)
        except ImportError as exc:
            rows.append([fmt, "—", "—", "—", f"not measured: {exc}"])
            continue
        size = sum(f.stat().st_size for f in folder.iterdir() if not f.name.startswith("."))
        reads, skipped = [], []
        for _ in range(max(1, args.repeat)):
            started = time.perf_counter()
            docs = sum(1 for _doc in read_corpus(folder, on_skip=skipped.append))
            reads.append(time.perf_counter() - started)
        builds = []
        for _ in range(max(1, args.repeat)):
            target = RUNS / "run" / f"format-{fmt}"
            shutil.rmtree(target, ignore_errors=True)
            builds.append(run("searchsvc", "full", folder, target).output["seconds"])
        shutil.rmtree(RUNS / "run", ignore_errors=True)
        status.note(f"format {fmt}: {docs} documents, read {median(reads):.2f} s")
        rows.append(
            [
                fmt,
                f"{docs:,}",
                f"{docs / median(reads):,.0f}",
                f"{docs / median(builds):,.0f}",
                f"{fmt_mb(size)} on disk" + (f"; {len(skipped)} reports" if skipped else ""),
            ]
        )
    return (
        f"Per format: the first {args.formats} documents of the corpus as files of each "
        f"format; median of {max(1, args.repeat)} run(s)\n\n"
        + table(["format", "documents", "read docs/s", "build docs/s", "files"], rows)
    )


if __name__ == "__main__":
    sys.exit(main())
