"""Shared helpers for the benchmarks: paths, corpus preparation, caching keys, timing,
percentiles, plain-text tables and the ``bench/RESULTS.md`` file.

The benchmarks are scripts run by hand (``.venv/bin/python bench/<name>.py``), never by pytest.
Everything they build goes under ``bench/.work/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work"
RESULTS = BENCH / "RESULTS.md"

# The shared benchmark data, relative to the repository root as the README of the data says.
DEFAULT_CORPUS = REPO / ".." / "shared" / "bench" / "frdocs.jsonl.gz"
DEFAULT_QUERIES = REPO / ".." / "shared" / "bench" / "queries.txt"

if str(REPO) not in sys.path:  # the scripts run from bench/; searchsvc is installed editable
    sys.path.insert(0, str(REPO))


# -- progress ------------------------------------------------------------------------------


class Status:
    """Progress lines on stderr: rewritten in place on a terminal, plain lines otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self._last = 0.0
        self._open = False

    def note(self, message: str) -> None:
        """A line that stays."""
        self._clear()
        print(message, file=self.stream, flush=True)

    def tick(self, message: str, every: float = 0.5) -> None:
        """A transient progress message: live on a terminal, dropped otherwise."""
        if not self.tty:
            return
        now = time.monotonic()
        if now - self._last < every:
            return
        self._last = now
        self.stream.write("\r\033[K" + message)
        self.stream.flush()
        self._open = True

    def _clear(self) -> None:
        if self._open:
            self.stream.write("\r\033[K")
            self._open = False


# -- corpus --------------------------------------------------------------------------------


def file_key(path: Path) -> str:
    """Identity of a data file for caches: absolute path, size and modification time."""
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def digest(*parts: object, length: int = 12) -> str:
    """Short stable hash of some values."""
    h = hashlib.sha1()
    for p in parts:
        h.update(repr(p).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:length]


def code_version(*paths: Path) -> str:
    """Hash of source files: a cache made by other code is not reused."""
    h = hashlib.sha1()
    for p in sorted(paths):
        h.update(p.relative_to(REPO).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def searchsvc_index_code() -> str:
    """Version of the searchsvc code that decides what an index contains."""
    pkg = REPO / "searchsvc"
    names = (
        "text/analysis.py",
        "text/variants.py",
        "text/whoosh_analyzer.py",  # pickled into the schema
        "index/schema.py",
        "ingest/indexer.py",
        "ingest/corpus/",
        "index/storage.py",
        "index/whoosh_internals/",  # writes the segments
        "index/codec.py",  # the postings' format
    )
    # A name ending in "/" is a package: every module in it.
    paths = [
        p for n in names for p in (sorted((pkg / n).glob("*.py")) if n.endswith("/") else [pkg / n])
    ]
    return code_version(*paths)


def open_lines(path: Path):
    """Open a .jsonl or .jsonl.gz file as text."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def corpus_dir(corpus: Path, docs: int | None) -> Path:
    """A corpus folder holding ``corpus`` (or its first ``docs`` lines) for ``reindex``.

    ``searchsvc`` reads folders; the benchmark data is one JSONL file. The whole file is
    linked, a prefix is written out once and reused. ``docs`` beyond the file's length
    repeats it with new ids (``d000001-r1``…), for measuring growth (100,000 documents).
    """
    corpus = corpus.resolve()
    if corpus.is_dir():
        if docs:
            raise SystemExit("--docs needs a JSONL file, not a folder")
        return corpus
    key = digest(file_key(corpus), docs)
    target = WORK / "corpora" / key
    name = corpus.name if not docs else "docs.jsonl"
    done = target / name
    if done.is_symlink():  # made by an older version of this function: see below
        done.unlink()
    if done.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    if not docs:
        # A hard link (a copy across file systems), not a symlink: searchsvc skips links
        # that leave the corpus folder.
        tmp = target / (name + ".tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(corpus, tmp)
        except OSError:
            shutil.copyfile(corpus, tmp)
        os.replace(tmp, done)
        return target
    tmp = target / (name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        n = repeat = 0
        while n < docs:
            with open_lines(corpus) as src:
                for line in src:
                    if not line.strip():
                        continue
                    if repeat:
                        doc = json.loads(line)
                        doc["id"] = f"{doc['id']}-r{repeat}"
                        line = json.dumps(doc, ensure_ascii=False)
                    out.write(line if line.endswith("\n") else line + "\n")
                    n += 1
                    if n >= docs:
                        break
            repeat += 1
    os.replace(tmp, done)
    return target


def corpus_files(folder: Path) -> list[Path]:
    """The JSONL files of a prepared corpus folder."""
    return sorted(
        p for p in folder.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz")) and p.is_file()
    )


def iter_jsonl(folder: Path) -> Iterator[dict]:
    """Plain reading of the JSONL files of a corpus folder: one dict per line."""
    for path in corpus_files(folder):
        with open_lines(path) as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)


def scratch_corpus(name: str, corpus: Path, docs: int | None) -> tuple[Path, Path, Path, list]:
    """A fresh ``WORK/name`` folder holding a copy of the bench corpus (``corpus/base.jsonl``)
    for a script that changes it; returns the folder, the corpus, the index path and the
    corpus documents."""
    work = WORK / name
    shutil.rmtree(work, ignore_errors=True)
    target, index = work / "corpus", work / "index"
    target.mkdir(parents=True)
    source = corpus_dir(corpus, docs)
    shutil.copy(corpus_files(source)[0], target / "base.jsonl")
    return work, target, index, list(iter_jsonl(source))


def sections(*parts: str) -> str:
    """A report made of the non-empty parts, separated by blank lines."""
    return "\n\n".join(p for p in parts if p)


def engine_notes(engines: Iterable[str], notes: dict[str, str]) -> str:
    """One Markdown bullet per engine: its name and what it is."""
    return "\n".join(f"- `{e}`: {notes[e]}" for e in engines)


def corpus_bytes(folder: Path) -> int:
    """Bytes of text (title + body, UTF-8) in a corpus folder, for MB/s figures."""
    total = 0
    for d in iter_jsonl(folder):
        total += len((d.get("title") or "").encode()) + len(d["body"].encode())
    return total


def pushed_batch(docs: Sequence[dict], number: int, size: int, prefix: str) -> list:
    """Batch ``number`` of ``size`` pushed documents (the journal's changes): bench texts in
    turn, under new ids ``<prefix>-<number>-<k>``."""
    from searchsvc.ingest import journal

    changes = []
    for k in range(size):
        doc = docs[(number * size + k) % len(docs)]
        fields = {"title": doc["title"], "body": doc["body"]}
        changes.append(journal.Change(journal.PUT, f"{prefix}-{number}-{k}", fields))
    return changes


def batch_args(doc: str, batches: int) -> argparse.Namespace:
    """The options of the benchmarks that apply pushed batches in process: ``--index`` (an
    index, copied, never written to), ``--batch`` documents, ``--batches``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--batches", type=int, default=batches)
    return parser.parse_args()


def bench_docs(count: int) -> list[dict]:
    """The first ``count`` documents of the bench corpus."""
    with gzip.open(DEFAULT_CORPUS, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(count), fh, strict=False)]


@contextlib.contextmanager
def index_copy(index: Path, prefix: str) -> Iterator[Path]:
    """A copy of ``index`` in a scratch folder, removed on leaving."""
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        copy = scratch / "index"
        shutil.copytree(index, copy, symlinks=True)
        yield copy
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def search_cpu(engine, query: str) -> float:
    """CPU milliseconds of the searching thread for one search, its result cache emptied
    first (a cache must not flatter the figure); a refused query counts as searched."""
    from searchsvc.errors import QueryError

    engine._pages.clear()
    started = time.thread_time()
    with contextlib.suppress(QueryError):
        engine.search(query)
    return 1000 * (time.thread_time() - started)


def load_queries(path: Path) -> list[str]:
    """Non-empty query lines."""
    with open(path, encoding="utf-8") as fh:
        return [q.strip() for q in fh if q.strip()]


# -- measuring -----------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (``p`` in 0..100) of unsorted values."""
    if not values:
        return float("nan")
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def median(values: Iterable[float]) -> float:
    vals = list(values)
    return statistics.median(vals) if vals else float("nan")


def dir_size(path: Path) -> int:
    """Bytes of the files under ``path`` (or of one file)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.started


# -- output --------------------------------------------------------------------------------


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], right: Iterable[int] = ()
) -> str:
    """A pipe table that reads well in a terminal and is valid Markdown.

    Columns whose index is in ``right`` (default: all but the first) are right-aligned.
    """
    rows = [[str(c) for c in r] for r in rows]
    right = set(right) or set(range(1, len(headers)))
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, c in enumerate(cells):
            out.append(c.rjust(widths[i]) if i in right else c.ljust(widths[i]))
        return "| " + " | ".join(out) + " |"

    sep = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 10 else f"{seconds:.2f} s"


def fmt_mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def command_line() -> str:
    """The command that is running, as one would type it from the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_txt = str(script.relative_to(REPO))
    except ValueError:
        script_txt = str(script)
    return " ".join([".venv/bin/python", script_txt, *map(shlex.quote, sys.argv[1:])])


def machine_note() -> str:
    """The machine a figure was measured on, with its load when the run started (another
    process busy on its cores makes every figure noisier)."""
    cpus = os.cpu_count() or 0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpus} cores, Python {platform.python_version()}, load average {load:.1f} at start"


def update_results(section: str, body: str) -> None:
    """Create or replace the ``## {section}`` part of ``bench/RESULTS.md``."""
    heading = f"## {section}"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    block = f"{heading}\n\n{body.strip()}\n\n"
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    tmp = RESULTS.with_suffix(".md.tmp")
    tmp.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    os.replace(tmp, RESULTS)


def write_results(section: str, code: str, report: str, *paragraphs: str, note: str = "") -> None:
    """Write a results section: run date, machine, code, the command, the report, then notes."""
    header = f"Latest run: {stamp()} — {machine_note()}; {code}.{note}"
    command = f"Command (from the repository root):\n\n    {command_line()}"
    update_results(section, "\n\n".join([header, command, report, *paragraphs]))


def arg_parser(doc: str, corpus_help: str = "JSONL(.gz) corpus") -> argparse.ArgumentParser:
    """The options every benchmark takes: the corpus (positional) and ``--docs``."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument(
        "corpus",
        nargs="?",
        type=Path,
        default=DEFAULT_CORPUS,
        help=f"{corpus_help} (default: ../shared/bench/frdocs.jsonl.gz)",
    )
    p.add_argument("--docs", type=int, default=None, help="use only the first N documents")
    return p


def stamp() -> str:
    """Date line for RESULTS.md."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- child processes -----------------------------------------------------------------------


def _proc_kb(path: str, label: str) -> int:
    """The kB figure on the ``label`` line of a /proc file (0 if the process is gone)."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(label):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pid: int) -> int:
    """Resident set size of one process in kB (0 if it is gone)."""
    return _proc_kb(f"/proc/{pid}/status", "VmRSS:")


def anon_kb(pid: int) -> int:
    """Anonymous memory of one process in kB (heap and the like: what it alone costs; its
    RSS also counts the index files it maps, which are page cache shared by every worker)."""
    return _proc_kb(f"/proc/{pid}/smaps_rollup", "Anonymous:")


def tree_rss_kb(pid: int) -> int:
    """RSS of a process and all its descendants, in kB."""
    from searchsvc.testing import process_tree

    tree = process_tree()
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss_kb(p)
        stack.extend(tree.get(p, ()))
    return total


@dataclass
class ChildRun:
    """What a benchmark child process reported and what it cost."""

    output: dict
    wall: float  # seconds from start to exit, interpreter start-up included
    cpu: float  # user + system seconds, its waited-for descendants included
    maxrss_kb: int  # peak RSS of the largest single process (getrusage of the child)
    tree_peak_kb: int  # peak RSS of the child and its descendants together (sampled)


def run_child(cmd: Sequence[str], sample_every: float = 0.2, env: dict | None = None) -> ChildRun:
    """Run a child that prints one JSON object last on stdout; measure its resources.

    ``os.wait4`` gives this child's own rusage (``RUSAGE_CHILDREN`` would keep the maximum
    over every child waited for so far); a sampler adds up RSS over its process tree.
    """
    import subprocess
    import threading

    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss_kb(proc.pid))
            stop.wait(sample_every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
    finally:
        stop.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with status {proc.returncode}")
    lines = [ln for ln in out.decode().splitlines() if ln.strip()]
    return ChildRun(
        output=json.loads(lines[-1]),
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        maxrss_kb=usage.ru_maxrss,
        tree_peak_kb=max(peak, usage.ru_maxrss),
    )


def code_note() -> str:
    """Which searchsvc code was measured: commit, whether searchsvc/ had uncommitted changes,
    and a hash of its sources (read-only git commands)."""
    import subprocess

    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    pkg = REPO / "searchsvc"
    sources = code_version(*pkg.rglob("*.py"))
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--", "searchsvc"],
            capture_output=True,
            env=env,
        ).returncode
    except (OSError, subprocess.CalledProcessError):
        return f"searchsvc sources {sources}"
    return f"searchsvc at {head}{' + uncommitted changes' if dirty else ''} (sources {sources})"
