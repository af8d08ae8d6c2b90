"""Scaling out (docs/scaling.md): one builder, two replicas on read-only copies, nginx.

The slow test runs what deploy/ describes, on loopback: the builder's index is copied by
deploy/publish.sh (rsync: generations first, CURRENT last) into each replica's folder, which
`searchsvc serve` reads through a read-only bind mount, behind nginx running deploy/nginx.conf
(only the replica addresses, the port and the log path replaced). While a bounded load goes
through nginx, the builder publishes two new generations (an incremental one, then a full
one): no request fails, nor needs nginx's retry, and both replicas serve the new documents
within 10 s. Then a replica is stopped under load, and nginx routes around it; with none left,
nginx answers in the service's JSON error shape.

It installs nothing: `make test` installs Debian's nginx-light and rsync (`make scaleout-tools`).
It needs root, to mount (it is skipped, saying so, where mounting is not permitted).
deploy/compose.yaml cannot run here (no Docker): it is checked for structure and consistency.
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest

from searchsvc.ingest.indexer import reindex
from searchsvc.testing import cli, free_port, serve_command, wait_until_healthy

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NGINX = Path("/usr/sbin/nginx")

# -- a generated French corpus -------------------------------------------------------------

WORDS = (
    "élection mairie budget transport école santé culture musée théâtre région député sénat "
    "réforme impôt hôpital université recherche énergie climat forêt rivière montagne village "
    "quartier marché économie entreprise emploi syndicat grève festival cinéma musique "
    "bibliothèque numérique réseau téléphone logiciel"
).split()
SOURCES = ("lemonde", "liberation", "lefigaro")
DOCUMENTS = 300
# What the load searches for: every word, accents dropped, pairs, a phrase, a prefix, an
# exclusion, an alternative, a field; each client thread takes its own share.
QUERIES = [
    *WORDS,
    "ecole",
    "hopital",
    "economie",
    "budget mairie",
    "forêt montagne",
    "transport région",
    '"la ville"',
    "élect*",
    "école -santé",
    "forêt OU rivière",
    "culture OR musique",
    "title:budget",
]
CLIENTS = 4
# Words no document has before the test adds one; nothing else in the corpus looks like them.
NEW_WORDS = ("zorglubine", "quetzalite")


def write_corpus(corpus: Path) -> None:
    rng = random.Random(17)
    corpus.mkdir(parents=True)
    with open(corpus / "base.jsonl", "w", encoding="utf-8") as fh:
        for i in range(DOCUMENTS):
            w = rng.sample(WORDS, 6)
            body = " ".join(
                f"Dans la ville, {a} et {b} font parler : {c}." for a, b, c in [w[:3], w[3:]] * 3
            )
            doc = {
                "id": f"doc{i:04d}",
                "title": f"{w[0].capitalize()} et {w[1]}, dossier {i}",
                "body": body,
                "date": f"2012-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "source": SOURCES[i % len(SOURCES)],
            }
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")


def add_document(corpus: Path, word: str) -> None:
    doc = {"id": f"new-{word}", "title": f"La {word} arrive", "body": f"On parle de {word}."}
    with open(corpus / "new.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(doc, ensure_ascii=False) + "\n")


# -- HTTP ----------------------------------------------------------------------------------


def get(url: str, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``: (status, headers, body), for errors too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), e.read()


def get_json(url: str) -> dict:
    status, _, body = get(url)
    assert status == 200, f"{url}: {status} {body[:300]!r}"
    return json.loads(body)


def search_url(base: str, q: str) -> str:
    return f"{base}/api/search?{urlencode({'q': q})}"


class Load:
    """CLIENTS threads searching through ``url`` until stopped, with at most ``max_requests``
    requests and ``max_seconds`` in all; every answer that is not a 200 is a problem."""

    def __init__(self, url: str, max_requests: int = 4000, max_seconds: float = 30.0):
        self.url = url
        self.max_requests = max_requests
        self.deadline = time.monotonic() + max_seconds
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.done = 0
        self.problems: list[str] = []
        self.pool = ThreadPoolExecutor(CLIENTS, thread_name_prefix="load")
        self.futures = []

    def run(self, client: int) -> None:
        queries = QUERIES[client::CLIENTS]
        n = 0
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            with self.lock:
                if self.done >= self.max_requests:
                    return
            q = queries[n % len(queries)]
            n += 1
            try:
                status, _, body = get(search_url(self.url, q))
                problem = None if status == 200 else f"{q!r}: {status} {body[:200]!r}"
                if status == 200 and "hits" not in json.loads(body):
                    problem = f"{q!r}: no hits in {body[:200]!r}"
            except (OSError, ValueError, http.client.HTTPException) as e:
                problem = f"{q!r}: {e!r}"
            with self.lock:
                self.done += 1
                if problem:
                    self.problems.append(problem)
            self.stop.wait(0.002)  # steady, not saturating

    def wait_for(self, requests: int, timeout: float = 10.0) -> None:
        """Wait until ``requests`` requests in all were answered."""
        deadline = time.monotonic() + timeout
        while self.done < requests:
            assert time.monotonic() < deadline, f"only {self.done} requests in {timeout} s"
            assert not any(f.done() for f in self.futures), "a load thread ended early"
            time.sleep(0.02)

    def __enter__(self) -> Load:
        self.futures = [self.pool.submit(self.run, i) for i in range(CLIENTS)]
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for future in self.futures:
            future.result(timeout=30)  # re-raises what a thread raised
        self.pool.shutdown()


# -- processes and mounts ------------------------------------------------------------------


def _unavailable(reason: str) -> None:
    """Skip on a developer's machine; in CI a missing tool is a failure, never a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so the scale-out test must run (`make scaleout-tools`)")
    pytest.skip(reason)


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Machines:
    """The processes and read-only mounts a test starts; all stopped and unmounted after."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []
        self.mounts: list[Path] = []

    def spawn(self, cmd: list[str], log: Path) -> subprocess.Popen:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.tmp_path,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.procs.append(proc)
        return proc

    def mount_read_only(self, source: Path, target: Path) -> None:
        """Show ``source`` at ``target`` through a read-only bind mount."""
        target.mkdir(parents=True)
        steps = [["mount", "--bind", str(source), str(target)]]
        steps.append(["mount", "-o", "remount,bind,ro", str(target)])
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=30)
            if done.returncode != 0:
                pytest.skip(
                    f"`{' '.join(step)}` failed ({done.stderr.strip()}): the scale-out test "
                    "serves replicas from read-only bind mounts, which needs the right to mount"
                )
            if step[1] == "--bind":
                self.mounts.append(target)
        try:
            (target / ".probe").write_bytes(b"")
        except OSError as e:
            assert e.errno == errno.EROFS, e
        else:
            pytest.fail(f"{target} is writable after `mount -o remount,bind,ro`")

    def close(self) -> None:
        for proc in reversed(self.procs):  # nginx first, then the replicas
            _stop(proc)
        for target in reversed(self.mounts):
            if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "--lazy", str(target)], capture_output=True)


@pytest.fixture
def machines(tmp_path) -> Iterator[Machines]:
    if not NGINX.exists():
        _unavailable(f"{NGINX} is missing (apt-get install nginx-light)")
    for tool in ("rsync", "flock", "mount"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} is missing (apt-get install {tool})")
    if os.geteuid() != 0:
        pytest.skip("the scale-out test mounts folders read-only, which needs root")
    m = Machines(tmp_path)
    try:
        yield m
    finally:
        m.close()


def publish(index: Path, *dests: Path) -> None:
    done = subprocess.run(
        [str(DEPLOY / "publish.sh"), str(index), *map(str, dests)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def nginx_site(upstreams: list[str], port: int, access_log: Path) -> str:
    """deploy/nginx.conf with loopback replicas, port and log file."""
    text = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    replaced = [
        ("server replica1:8000 ", f"server {upstreams[0]} "),
        ("server replica2:8000 ", f"server {upstreams[1]} "),
        ("server builder:8000;", f"server {upstreams[0]};"),  # writes: not sent by these tests
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("/var/log/nginx/access.log", str(access_log)),
    ]
    for old, new in replaced:
        assert text.count(old) == 1, f"deploy/nginx.conf should hold {old!r} once"
        text = text.replace(old, new)
    return text


def start_nginx(machines: Machines, upstreams: list[str]) -> tuple[str, Path]:
    """nginx in the foreground with deploy/nginx.conf; returns its URL and access log."""
    prefix = machines.tmp_path / "nginx"
    prefix.mkdir()
    port = free_port()
    access_log = prefix / "access.log"
    (prefix / "searchsvc.conf").write_text(nginx_site(upstreams, port, access_log))
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = prefix / "nginx.conf"
    conf.write_text(
        "daemon off;\n"
        "user root;\n"  # its workers read and write under tmp_path, which only root may enter
        "worker_processes 1;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} notice;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n{temp}\n    include {prefix / 'searchsvc.conf'};\n}}\n"
    )
    cmd = [str(NGINX), "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log")]
    checked = subprocess.run([*cmd, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    proc = machines.spawn(cmd, prefix / "stdout.log")
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, proc, timeout=10)
    return url, access_log


# -- nginx's access log (deploy/nginx.conf's `searchsvc` format) ---------------------------

LOG_LINE = re.compile(
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) .* upstream=(?P<upstream>.*) '
    r"upstream_status=(?P<upstream_status>.*) request_time="
)


def log_lines(access_log: Path, start: int = 0, end: int | None = None) -> list[dict[str, str]]:
    """The access log's lines ``start:end``, parsed."""
    lines = access_log.read_text(encoding="utf-8").splitlines()[start:end]
    parsed = [LOG_LINE.search(line) for line in lines]
    assert all(parsed), [line for line, m in zip(lines, parsed, strict=True) if not m][:3]
    return [m.groupdict() for m in parsed if m]


def line_count(access_log: Path) -> int:
    """Lines in the access log, once nginx has logged the requests it answered."""
    time.sleep(0.3)  # nginx logs a request just after answering it
    return len(access_log.read_text(encoding="utf-8").splitlines())


# -- the test ------------------------------------------------------------------------------


def wait_until(check: Callable[[], bool], deadline: float, what: str) -> None:
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def linked(root: Path, generation: str) -> list[str]:
    """Files of ``generation`` that are hard links to the same file of g000001."""
    old, new = root / "g000001", root / generation
    return sorted(
        f.name
        for f in new.iterdir()
        if (old / f.name).exists() and (old / f.name).stat().st_ino == f.stat().st_ino
    )


def served(url: str, generation: str, word: str) -> bool:
    """``url``'s health names ``generation`` and a search finds ``word``."""
    health = get_json(url + "/healthz")
    return health["generation"] == generation and get_json(search_url(url, word))["total"] >= 1


@pytest.mark.slow
def test_replicas_behind_nginx_take_new_generations_under_load(machines, tmp_path):
    corpus, builder = tmp_path / "corpus", tmp_path / "builder"
    write_corpus(corpus)
    first = reindex(corpus, builder, full=True)
    assert first.documents == DOCUMENTS and not first.skipped

    # Each replica: the folder the publisher writes, and the same read-only for `serve`.
    data = [tmp_path / f"replica{i}" / "index" for i in (1, 2)]
    for folder in data:
        folder.mkdir(parents=True)
    publish(builder, *data)
    mounts = [tmp_path / f"replica{i}" / "ro" for i in (1, 2)]
    for source, target in zip(data, mounts, strict=True):
        machines.mount_read_only(source, target)
    ports = [free_port(), free_port()]
    replicas, logs = [], []
    for n, (port, mount) in enumerate(zip(ports, mounts, strict=True), 1):
        logs.append(tmp_path / f"serve-{n}.log")
        replicas.append(machines.spawn(serve_command(port, mount, workers=2), logs[-1]))
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    for url, proc in zip(urls, replicas, strict=True):
        wait_until_healthy(url, proc)
    lb, access_log = start_nginx(machines, [f"127.0.0.1:{port}" for port in ports])

    # 1. Two publications under load: no failed request, the new documents on both replicas.
    with Load(lb) as load:
        load.wait_for(20)
        for word, full in zip(NEW_WORDS, (False, True), strict=True):
            assert all(get_json(search_url(url, word))["total"] == 0 for url in urls)
            add_document(corpus, word)
            report = reindex(corpus, builder, full=full)
            assert report.documents == DOCUMENTS + NEW_WORDS.index(word) + 1
            before = load.done
            publish(builder, *data)
            published = time.monotonic()
            assert load.done > before, "no request was answered while publishing"
            for url in urls:
                wait_until(
                    lambda url=url, gen=report.generation, word=word: served(url, gen, word),
                    published + 10,
                    f"{url} does not serve {report.generation} ({word}) 10 s after publishing",
                )
            if not full:  # rsync -H kept the files the generations share as hard links
                assert linked(data[0], report.generation) == linked(builder, report.generation)
                assert linked(data[0], report.generation)
            load.wait_for(load.done + 20)  # and more after the switch
    assert load.problems == []
    assert load.done >= 60
    phase1 = log_lines(access_log, 0, line_count(access_log))
    assert len(phase1) >= load.done
    # Not one request needed a retry: each went to one replica, which answered 200.
    assert {(e["status"], e["upstream_status"]) for e in phase1} == {("200", "200")}
    assert {e["upstream"] for e in phase1} == {f"127.0.0.1:{port}" for port in ports}

    # Each replica holds the builder's files (generation g000001 deleted after the switch),
    # and `searchsvc check` finds the read-only copy whole.
    def files(root: Path) -> dict[str, int]:
        return {
            str(p.relative_to(root)): p.stat().st_size
            for p in root.rglob("*")
            if p.is_file() and p.name != ".write.lock"
        }

    assert sorted(p.name for p in data[0].iterdir()) == ["CURRENT", "g000002", "g000003"]
    for mount in mounts:
        assert files(mount) == files(builder)
        check = cli("check", "--index", str(mount), timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr

    # 2. A replica stopped under load: nginx routes around it, no request fails.
    mark = line_count(access_log)
    with Load(lb) as load:
        load.wait_for(20)
        _stop(replicas[0])
        assert replicas[0].returncode == 0
        stopped = load.done
        load.wait_for(stopped + 100)
    assert load.problems == []
    phase2 = log_lines(access_log, mark)
    assert {e["status"] for e in phase2} == {"200"}
    # nginx met the stopped replica and retried those requests on the other one, which then
    # answered everything.
    assert any(len(e["upstream"].split(", ")) == 2 for e in phase2)
    survivor = f"127.0.0.1:{ports[1]}"
    assert all(e["upstream"].split(", ")[-1] == survivor for e in phase2[-50:])

    # 3. No replica left: nginx itself answers, in the service's JSON error shape.
    _stop(replicas[1])
    status, headers, body = get(search_url(lb, "budget"))
    assert status == 502
    assert headers["Content-Type"] == "application/json"
    assert headers["Retry-After"] == "1"
    data = json.loads(body)
    assert list(data) == ["error"] and sorted(data["error"]) == ["code", "message"]
    assert data["error"]["code"] == "bad_gateway" and data["error"]["message"]

    # `serve` never failed, nor tried to write to its read-only folder (it would have failed).
    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace")
        signs = ("Traceback", "[ERROR]", "Read-only file system", "index damaged", "unavailable")
        for sign in signs:
            assert sign not in text, f"{log.name}: {sign}\n{text[-3000:]}"


# -- what cannot run here ------------------------------------------------------------------


def test_compose_file_matches_the_dockerfile_and_nginx_conf():
    """deploy/compose.yaml (Docker is not available here): builder, two replicas on the index
    volume read-only, nginx with deploy/nginx.conf, all consistent with the Dockerfile."""
    yaml = pytest.importorskip("yaml")  # PyYAML, installed with the dev extra's validators
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"builder", "replica1", "replica2", "nginx"}

    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    env = dict(re.findall(r"(SEARCHSVC_\w+)=(\S+)", dockerfile))
    index_dir, port = env["SEARCHSVC_INDEX"], env["SEARCHSVC_PORT"]
    assert f'VOLUME ["{index_dir}"]' in dockerfile

    for name in ("builder", "replica1", "replica2"):
        service = services[name]
        assert service["image"] == services["builder"]["image"]
        context = (DEPLOY / service["build"]["context"]).resolve()
        assert context == ROOT and (context / service["build"]["dockerfile"]).is_file()
    volume = services["builder"]["volumes"][0].split(":")
    assert volume[1:] == [index_dir] and volume[0] in compose["volumes"]
    # The builder indexes, then serves the pushed documents' writes (its journal writer).
    command = " ".join(services["builder"]["command"])
    assert "searchsvc index" in command and command.endswith("exec searchsvc serve")
    assert "SEARCHSVC_ADMIN_KEY" in services["builder"]["environment"]
    for name in ("replica1", "replica2"):
        assert services[name]["volumes"] == [f"{volume[0]}:{index_dir}:ro"]
        assert "command" not in services[name]  # the image's CMD: searchsvc serve
        assert services[name]["depends_on"]["builder"] == {"condition": "service_healthy"}

    nginx = services["nginx"]
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    assert set(nginx["depends_on"]) == {"builder", "replica1", "replica2"}
    conf = (DEPLOY / "nginx.conf").read_text()
    upstreams = re.findall(r"^\s*server (\S+?);? ", conf, re.M)
    assert upstreams == [f"replica1:{port}", f"replica2:{port}"]
    assert re.search(rf"^\s*server builder:{port};", conf, re.M)


def scaling_out_section() -> str:
    """The reference on scaling out, which the README links to."""
    return (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")


def test_docs_give_the_publish_commands_publish_sh_runs():
    section = scaling_out_section()
    commands = [
        line.strip()
        for line in (DEPLOY / "publish.sh").read_text().splitlines()
        if line.strip().startswith(("rsync ", "flock ", "exec "))
    ]
    assert len(commands) == 5
    for command in commands:
        assert command in section, command


def test_docs_opensearch_examples_are_json():
    """The OpenSearch index configuration and query are on paper only, but valid JSON."""
    blocks = re.findall(r"```json\n(.*?)```", scaling_out_section(), re.S)
    assert len(blocks) == 2
    settings, query = (json.loads(block) for block in blocks)
    analyzers = settings["settings"]["analysis"]["analyzer"]
    fields = settings["mappings"]["properties"]
    for name in ("title", "body"):
        assert analyzers[fields[name]["analyzer"]]  # every analyzer named is defined
        assert analyzers[fields[name]["fields"]["stem"]["analyzer"]]
    assert query["query"]["bool"]["must"]
