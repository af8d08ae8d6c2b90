"""What the tests and the benchmarks share to drive searchsvc from the outside: small indexes
built in a folder, the command line in a child process, a real gunicorn server on a free port,
the write-lock probe and the corpus churn writer.

Part of the package (as ``flask.testing`` is) so that ``bench/*.py``, run as scripts, and the
tests import one copy. It never imports pytest: the fixtures in ``tests/conftest.py`` wrap it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from searchsvc import errors
from searchsvc.index import storage
from searchsvc.ingest.indexer import reindex

HOST = "127.0.0.1"


# -- corpora and indexes ---------------------------------------------------------------------


def write_files(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write ``{relative path: text or bytes}`` under ``root`` (made if missing); return it."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def write_jsonl(path: Path, docs: Iterable[dict]) -> None:
    """Write documents as JSONL, one object per line, replacing ``path`` at once (a reindex
    running meanwhile sees the old file or the new one, never half of it)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def build_index(root: Path, files: Mapping[str, str | bytes]) -> tuple[Path, Path]:
    """Write ``files`` to ``root/corpus`` and build ``root/index`` from them with the real
    indexer (a full build); return both folders."""
    corpus = write_files(root / "corpus", files)
    index = root / "index"
    reindex(corpus, index, full=True)
    return corpus, index


def write_churn(
    path: Path, base: Sequence[dict], count: int, tag: object, marker: str, rng: random.Random
) -> list[str]:
    """Write ``count`` new documents to ``path`` (ids ``churn{tag}-N``), each a copy of a random
    ``base`` document with ``marker`` appended to its body so that a query tells whether they
    are in the index; return their ids."""
    docs = [
        {
            "id": f"churn{tag}-{i}",
            "title": src.get("title") or f"churn{tag}-{i}",
            "body": f"{src['body']}\n\n{marker}",
        }
        for i, src in enumerate(rng.sample(list(base), count))
    ]
    write_jsonl(path, docs)
    return [d["id"] for d in docs]


def lock_is_free(index_dir: Path) -> bool:
    """Whether the index's write lock can be taken at once (no reindex holds it)."""
    try:
        with storage.write_lock(index_dir, wait=False):
            return True
    except errors.IndexBusyError:
        return False


# -- the command line ------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment of a child ``searchsvc``: no ``SEARCHSVC_*`` overrides from the caller's
    shell, plain output (``CI``), unbuffered logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCHSVC_")}
    return {**env, "CI": "1", "PYTHONUNBUFFERED": "1"}


def cli_command(*args: str) -> list[str]:
    """The command line of ``searchsvc ARGS`` run by this interpreter (so the package on its
    path, a worktree's included, is the one run)."""
    return [sys.executable, "-m", "searchsvc.cli", *args]


def index_args(corpus: Path, index: Path, full: bool = False) -> list[str]:
    """The arguments of ``searchsvc index`` for ``corpus`` into ``index``."""
    args = ["index", "--corpus", str(corpus), "--index", str(index)]
    return [*args, "--full"] if full else args


def cli(
    *args: str, timeout: float | None = 120, capture: bool = True
) -> subprocess.CompletedProcess:
    """Run ``searchsvc ARGS`` in a child process as CI would; its output is captured as text
    unless ``capture`` is false (then it goes to this process's terminal)."""
    return subprocess.run(
        cli_command(*args), capture_output=capture, text=True, timeout=timeout, env=child_env()
    )


# -- files of other formats ----------------------------------------------------------------


def _pdf_string(text: str) -> bytes:
    """A PDF literal string in WinAnsi (Latin-1 for French; other characters as ?), with its
    specials escaped."""
    raw = text.encode("cp1252", "replace")
    for special in (b"\\", b"(", b")"):
        raw = raw.replace(special, b"\\" + special)
    return b"(" + raw + b")"


def pdf_bytes(pages: list[list[str]], info: dict[str, str] | None = None) -> bytes:
    """A small valid PDF written by hand (tests and benchmarks make the files they read): one
    page per list of lines (Helvetica, WinAnsi), an empty list making a page with no text (as
    a scan's), and an /Info dictionary."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below, once the pages are numbered
    pages_id = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for lines in pages:
        ops = [b"BT /F1 12 Tf 72 720 Td 14 TL"]
        ops += [_pdf_string(line) + b" Tj T*" for line in lines]
        ops.append(b"ET")
        stream = b"\n".join(ops) if lines else b""
        content = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, content, font)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    entries = b" ".join(b"/" + k.encode() + b" " + _pdf_string(v) for k, v in (info or {}).items())
    info_id = add(b"<< " + entries + b" >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        info_id,
        xref,
    )
    return bytes(out)


# -- processes -------------------------------------------------------------------------------


def process_tree() -> dict[int, list[int]]:
    """Parent pid -> child pids of every process, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ")".
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def child_pids(pid: int) -> list[int]:
    """The pids of the children of ``pid``, sorted."""
    return sorted(process_tree().get(pid, []))


def parent_pid(pid: int) -> int | None:
    """The parent of ``pid``, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def alive(pids: Iterable[int]) -> list[int]:
    """Those of ``pids`` still running (neither gone nor a zombie), sorted."""
    left = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                if fh.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                    left.append(pid)
        except (OSError, IndexError):
            pass
    return sorted(left)


# -- servers ---------------------------------------------------------------------------------


class ServerError(RuntimeError):
    """A server exited or did not answer ``/healthz`` in time."""


def free_port(host: str = HOST) -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until_healthy(
    url: str, proc: subprocess.Popen | None = None, timeout: float = 60.0
) -> None:
    """Poll ``url``/healthz until it answers 200; raise :class:`ServerError` with the reason
    when ``proc`` exits or ``timeout`` seconds pass."""
    parts = url.split("//", 1)[-1].rstrip("/")
    host, _, port = parts.rpartition(":")
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"the server exited with status {proc.returncode}")
        conn = http.client.HTTPConnection(host, int(port), timeout=2)
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                return
            last = f"HTTP {response.status}"
        except (OSError, http.client.HTTPException) as e:
            last = str(e) or type(e).__name__
        finally:
            conn.close()
        time.sleep(0.1)
    raise ServerError(f"{url} did not become healthy in {timeout:.0f} s ({last})")


def serve_command(port: int, index: Path, workers: int | None = None) -> list[str]:
    """``searchsvc serve`` on ``HOST:port`` for ``index``; ``workers`` None keeps serve's
    default."""
    cmd = cli_command("serve", "--host", HOST, "--port", str(port), "--index", str(index))
    return cmd if workers is None else [*cmd, "--workers", str(workers)]


class Server:
    """A server in a child process, its output in a log file; :meth:`stop` ends it, and only
    it and its workers, with bounded waits."""

    def __init__(self, command: Sequence[str], port: int, log: Path):
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            list(command), stdout=self._log, stderr=subprocess.STDOUT, env=child_env()
        )

    def workers(self) -> list[int]:
        """The pids of the server's worker processes (its children), sorted."""
        return child_pids(self.proc.pid)

    def wait_until_healthy(self, timeout: float = 60.0) -> None:
        """Wait until the server answers ``/healthz``; see :func:`wait_until_healthy`."""
        wait_until_healthy(self.url, self.proc, timeout)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; a worker a killed master left behind
        is killed too. Returns the exit status."""
        workers = self.workers()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for pid in workers:
            if parent_pid(pid) in (self.proc.pid, 1):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_server(
    index: Path,
    log: Path,
    workers: int | None = None,
    timeout: float = 60.0,
    command: Callable[[int], Sequence[str]] | None = None,
) -> Server:
    """Start ``searchsvc serve`` (gunicorn) for ``index`` on a free loopback port and return
    it once it answers ``/healthz``. ``{port}`` in the name of ``log`` becomes the port;
    ``command(port)`` replaces the ``serve`` command line."""
    port = free_port()
    log = log.with_name(log.name.replace("{port}", str(port)))
    server = Server(command(port) if command else serve_command(port, index, workers), port, log)
    try:
        server.wait_until_healthy(timeout)
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def app_in_thread(app, healthy: bool = True) -> Iterator[str]:
    """Serve a WSGI ``app`` over HTTP from a thread of this process (werkzeug, threaded) and
    yield its base URL, once it answers ``/healthz`` unless ``healthy`` is false (an app
    without an index answers 503 there); the server is shut down when the block ends."""
    from werkzeug.serving import make_server

    server = make_server(HOST, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://{HOST}:{server.server_port}"
    try:
        if healthy:
            wait_until_healthy(url)
        yield url
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def fill_disk(folder: Path, leave_kb: int) -> None:
    """Fill the file system under ``folder`` until about ``leave_kb`` KB are left (a file named
    ``ballast``): the full-disk tests' way, on a small tmpfs."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with open(folder / "ballast", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave_kb * 1024))
