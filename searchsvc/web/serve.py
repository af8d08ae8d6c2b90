"""Run the web app under gunicorn (never Flask's development server).

``searchsvc serve`` builds a :class:`Service` (a gunicorn application configured in code, so
no config file or ``GUNICORN_CMD_ARGS`` is read) and runs it in the foreground.
"""

from __future__ import annotations

import contextlib
import gc
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gunicorn.http.wsgi
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from searchsvc import settings
from searchsvc.web import security

# gunicorn names itself in a Server header on every response; say nothing about the stack.
SERVER_NAME = "searchsvc"
# Request threads per worker: those the app lets work or queue at once, plus spare ones that
# answer /healthz and shed the excess with a quick 503 when searches saturate the worker,
# instead of leaving everything queued behind them (see searchsvc.web.security). A waiting
# thread costs a few kB and no CPU.
SPARE_THREADS = 2
THREADS = settings.MAX_IN_FLIGHT + settings.MAX_QUEUED + SPARE_THREADS
TIMEOUT_S = 30
# gunicorn's gthread worker, with its own error responses in JSON (see searchsvc.web.worker).
WORKER_CLASS = "searchsvc.web.worker.ThreadWorker"
# gunicorn's access-log line without its %(u)s, the user name it decodes from a Basic
# Authorization header: a client sending the admin key that way would have it logged. No
# header of a request is logged (the admin key travels in Authorization: Bearer).
ACCESS_LOG_FORMAT = '%(h)s %(l)s - %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'


class Service(BaseApplication):
    """gunicorn serving ``searchsvc.web.create_app`` with the given settings."""

    def __init__(self, options: dict[str, Any], app_config: dict[str, Any]):
        self.options = options
        self.app_config = app_config
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self):
        from searchsvc.web import create_app

        return create_app(self.app_config)

    def run(self) -> None:
        """gunicorn's master, which also keeps the journal's writer running (see
        :class:`JournalWriterProcess`)."""
        arbiter = _Arbiter(self)
        arbiter.writer = JournalWriterProcess(self.app_config["INDEX_DIR"], arbiter.log)
        try:
            arbiter.run()
        except RuntimeError as e:
            print(f"\nError: {e}\n", file=sys.stderr)
            sys.exit(1)


class JournalWriterProcess:
    """The process applying the index's journal of pushed documents
    (``python -m searchsvc.ingest.writer``), run by the server's master beside its workers.

    A process of its own: a worker's crash or restart does not stop it, and the master's
    loop never waits for a batch. It runs once the index folder holds a journal (something
    was pushed) and only where the folder can be written: a replica serving a read-only copy
    never starts one. The master looks at it at every turn of its loop (at least once a
    second): one that died is logged in one line and started again, after a delay that grows
    while it keeps dying young. It dies with the master (Linux's parent-death signal).
    """

    def __init__(self, index_dir: str | os.PathLike, log):
        self.root = Path(index_dir)
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.next_start = 0.0
        self.delay = settings.WRITER_RESTART_S[0]
        self.stopping = False

    def wanted(self) -> bool:
        """Whether this server should run a writer: the folder has a journal and is writable."""
        from searchsvc.ingest import journal

        return journal.exists(self.root) and os.access(self.root, os.W_OK)

    def watch(self) -> None:
        """Start the writer if it is wanted and not running; notice one that died."""
        if self.stopping:
            return
        if self.proc is not None and self.proc.poll() is not None:
            code = self.proc.returncode
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            low, high = settings.WRITER_RESTART_S
            young = time.monotonic() - self.started_at < 60
            self.delay = min(high, self.delay * 2) if young else low
            self.log.warning(
                "journal writer (pid %s) died (%s); restarting it in %.0f s",
                self.proc.pid,
                how,
                self.delay,
            )
            self.proc = None
            self.next_start = time.monotonic() + self.delay
        if self.proc is None and time.monotonic() >= self.next_start and self.wanted():
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "searchsvc.ingest.writer", str(self.root), str(os.getpid())]
            )
            self.started_at = time.monotonic()
            self.log.info("journal writer started (pid %s)", self.proc.pid)

    def reap(self) -> None:
        """Collect the writer's exit status before gunicorn's reaping of any child does."""
        if self.proc is not None:
            self.proc.poll()

    def stop(self) -> None:
        """Stop the writer: SIGTERM (it ends after its batch), SIGKILL after
        :data:`~searchsvc.settings.WRITER_STOP_S` (what it had not published waits in the
        journal for the next one)."""
        self.stopping = True
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=settings.WRITER_STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class _Arbiter(Arbiter):
    """gunicorn's master, looking after the journal writer at each turn of its loop."""

    writer: JournalWriterProcess

    def manage_workers(self) -> None:
        super().manage_workers()
        self.writer.watch()

    def reap_workers(self) -> None:
        self.writer.reap()
        super().reap_workers()

    def stop(self, graceful: bool = True) -> None:
        super().stop(graceful)
        self.writer.stop()


def post_worker_init(worker) -> None:
    """gunicorn's hook, in each worker before it takes a request: warm the app up (index read,
    searcher open, one request of each kind), so the first queries of a fresh server are not
    slow and do not queue behind a cold start. Then the collector leaves what the warm-up read
    alone and runs full collections less often (see ``WORKER_FULL_COLLECTION_EVERY``)."""
    worker.log.info(security.warm_up_index(worker.wsgi).summary())
    gc.collect()
    gc.freeze()
    young, middle, _full = gc.get_threshold()
    gc.set_threshold(young, middle, settings.WORKER_FULL_COLLECTION_EVERY)


def worker_exit(server, worker) -> None:
    """gunicorn's hook, in a worker as it exits: write the searches its analytics still hold
    (at most a second's worth)."""
    from searchsvc.web.admin import close_analytics

    app = getattr(worker, "wsgi", None)
    if app is not None:
        close_analytics(app)


def child_exit(server, worker) -> None:
    """gunicorn's hook, in the master when a worker has exited: the metrics library forgets
    the gauges of the dead process (its counters stay counted)."""
    from prometheus_client import multiprocess

    path = os.environ.get(METRICS_DIR_ENV)
    if path:
        multiprocess.mark_process_dead(worker.pid, path)


# Where prometheus_client's multiprocess mode keeps each worker's metrics (searchsvc.web.metrics).
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextlib.contextmanager
def metrics_folder() -> Iterator[str]:
    """The folder of the workers' metrics, empty, named in the environment the workers
    inherit, for as long as the server runs: ``PROMETHEUS_MULTIPROC_DIR`` when set (its
    ``*.db`` files, left by an earlier run, deleted first), else a new temporary folder,
    removed afterwards. Set before anything imports prometheus_client, which reads it then."""
    owner = os.getpid()
    given = os.environ.get(METRICS_DIR_ENV)
    if given:
        os.makedirs(given, exist_ok=True)
        for stale in glob.glob(os.path.join(glob.escape(given), "*.db")):
            os.remove(stale)
        yield given
        return
    path = tempfile.mkdtemp(prefix="searchsvc-metrics-")
    os.environ[METRICS_DIR_ENV] = path
    try:
        yield path
    finally:
        # A worker leaves serve() by the same stack when it exits: only the master cleans up.
        if os.getpid() == owner:
            os.environ.pop(METRICS_DIR_ENV, None)
            shutil.rmtree(path, ignore_errors=True)


def bind_address(host: str, port: int) -> str:
    """gunicorn's bind string; IPv6 addresses go in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def options(host: str, port: int, workers: int, threads: int = THREADS) -> dict[str, Any]:
    """The gunicorn settings ``serve`` uses."""
    return {
        "bind": [bind_address(host, port)],
        "workers": workers,
        # gthread, answering gunicorn's own refusals (the limits below, malformed requests) in
        # the API's JSON error shape rather than gunicorn's HTML pages.
        "worker_class": WORKER_CLASS,
        "threads": threads,
        # Open connections per worker, those still sending their request included (they wait
        # on the worker's event loop, not in a thread: see searchsvc.web.worker).
        "worker_connections": settings.MAX_CONNECTIONS_PER_WORKER,
        "timeout": TIMEOUT_S,
        "graceful_timeout": 10,
        "keepalive": 5,
        # What gunicorn buffers of a request before the app sees it (they bound a worker's
        # memory); beyond, the worker answers 414 (request line) or 431 (header fields) in
        # JSON. The request line is gunicorn's longest, so that a query string up to it reaches
        # the app and gets its own 414 (see searchsvc.web.MAX_QUERY_STRING_BYTES).
        "limit_request_line": settings.MAX_REQUEST_LINE_BYTES,
        "limit_request_fields": settings.MAX_HEADER_FIELDS,
        "limit_request_field_size": settings.MAX_HEADER_FIELD_BYTES,
        "post_worker_init": post_worker_init,
        "worker_exit": worker_exit,
        "child_exit": child_exit,
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "searchsvc",
        # gunicorn >= 25.1 opens a control socket under $HOME by default; one service per
        # machine would then be the limit. Ignored by older versions (see load_config).
        "control_socket_disable": True,
    }


def serve(host: str, port: int, workers: int, index_dir: str | os.PathLike) -> None:
    """Serve the search page and API on ``host:port`` until stopped (SIGINT/SIGTERM)."""
    gunicorn.http.wsgi.SERVER = SERVER_NAME
    app_config = {"INDEX_DIR": str(Path(index_dir)), "DEBUG": False, "TESTING": False}
    with metrics_folder():
        Service(options(host, port, workers), app_config).run()
