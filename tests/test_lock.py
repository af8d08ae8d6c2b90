"""The lock, constraints.txt: one pinned version of every package that `make` (so CI) and the
Dockerfile install, within the ranges of pyproject.toml, and what they really install."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"
# Pinned beside what pyproject.toml asks for: the installer, and the tool that writes the lock.
TOOLS = ("pip", "uv")


def locked() -> dict[str, list[Requirement]]:
    """The lock's requirements by normalised name (a name may have one pin per platform or
    Python version, each with its marker)."""
    pins: dict[str, list[Requirement]] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            pins.setdefault(canonicalize_name(req.name), []).append(req)
    return pins


def pinned_version(req: Requirement) -> Version:
    [spec] = req.specifier
    return Version(spec.version)


def wanted() -> list[Requirement]:
    """What the lock must cover: the dependencies, the dev extra, the build backend, the tools."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    names = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["dev"],
        *project["build-system"]["requires"],
        *TOOLS,
    ]
    return [Requirement(name) for name in names]


def test_every_pin_is_one_exact_version():
    pins = locked()
    assert pins
    for name, reqs in pins.items():
        for req in reqs:
            [spec] = req.specifier  # one specifier…
            assert spec.operator == "==" and "*" not in spec.version, req  # …an exact version
            assert not req.extras and not req.url, req
        markers = [str(req.marker) for req in reqs]
        assert len(reqs) == 1 or all(markers), f"{name}: several pins, not told apart: {reqs}"


@pytest.mark.parametrize("req", wanted(), ids=str)
def test_the_lock_covers_pyproject_within_its_ranges(req):
    pins = locked().get(canonicalize_name(req.name))
    assert pins, f"{req.name} is not in constraints.txt: run `make lock`"
    for pin in pins:
        assert req.specifier.contains(pinned_version(pin), prereleases=True), (
            f"constraints.txt pins {pin}, outside pyproject.toml's {req}: run `make lock`"
        )
    assert any(pin.marker is None or pin.marker.evaluate() for pin in pins), (
        f"no pin of {req.name} in constraints.txt is for this platform: run `make lock`"
    )


def test_the_installed_packages_are_the_locked_ones():
    """`make install-dev` (as `make test` and CI run it) installed exactly the lock: a package
    at another version means an install that ignored it (or a lock changed since)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    # The build backend is installed in pip's isolated build environment, not here (where
    # `python -m venv` may have left a setuptools of its own).
    backend = {canonicalize_name(Requirement(r).name) for r in project["build-system"]["requires"]}
    differ = []
    for name, pins in locked().items():
        if name in backend:
            continue
        for pin in pins:
            if pin.marker is not None and not pin.marker.evaluate():
                continue
            try:
                installed = Version(metadata.version(name))
            except metadata.PackageNotFoundError:
                continue  # uv, say: installed by `make lock` only
            if installed != pinned_version(pin):
                differ.append(f"{name} {installed} (locked: {pinned_version(pin)})")
    assert not differ, "installed but not as locked (run `make install-dev`): " + ", ".join(differ)


def make_dry_run(*targets: str, tmp_path: Path) -> list[str]:
    """The commands `make` would run for ``targets`` in a new venv, not running them."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        [make, "--dry-run", "--always-make", f"VENV={tmp_path / 'venv'}", *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    joined = result.stdout.replace("\\\n", " ")  # a command continued over several lines
    return [" ".join(line.split()) for line in joined.splitlines()]


@pytest.mark.parametrize("target", ["run", "test", "install", "install-dev"])
def test_make_installs_every_python_package_with_the_lock(target, tmp_path):
    commands = make_dry_run(target, tmp_path=tmp_path)
    installs = [c for c in commands if re.search(r"/pip install ", c)]
    assert installs, commands
    for command in installs:
        assert "--constraint constraints.txt" in command, command
        assert "--upgrade" not in command, command  # the lock decides, not the newest release
        if re.search(r" -e ['\"]?\.", command):  # builds the package: the locked setuptools
            assert "--build-constraint constraints.txt" in command, command
    assert re.search(r"/pip install .*--constraint constraints.txt pip$", installs[0])
    assert any(re.search(r" -e ['\"]?\.", c) for c in installs)


def test_make_lock_is_one_command_that_writes_the_lock_from_pyproject(tmp_path):
    commands = make_dry_run("lock", tmp_path=tmp_path)
    [compile_] = [c for c in commands if " pip compile " in c]
    assert "pyproject.toml" in compile_ and "--extra dev" in compile_
    assert "--output-file constraints.txt" in compile_
    assert "--custom-compile-command 'make lock'" in compile_
    assert LOCK.read_text(encoding="utf-8").startswith(
        "# This file was autogenerated by uv via the following command:\n#    make lock\n"
    )
    upgrade = make_dry_run("lock-upgrade", tmp_path=tmp_path)
    assert any(" pip compile " in c and c.endswith("--upgrade") for c in upgrade), upgrade


def test_the_docs_say_how_to_update_the_lock():
    development = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    assert "constraints.txt" in development and "make lock" in development
