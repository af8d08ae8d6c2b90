"""The README and the reference in docs/: every link between them leads to a file and a heading
that exist, every docs file is linked from the README, and the README's one-server setup
(deploy/searchsvc.service behind deploy/nginx.conf) agrees with those files."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
NGINX = Path("/usr/sbin/nginx")

_LINK_RE = re.compile(r"\]\(([^)\s]+)\)|<(https?://[^>]+)>")
_FENCE_RE = re.compile(r"^```.*?^```", re.M | re.S)


def prose(path: Path) -> str:
    """A Markdown file without its code blocks (where `#` starts comments, not headings)."""
    return _FENCE_RE.sub("", path.read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", prose(path), re.M)}


def local_links(path: Path) -> list[str]:
    """The targets of a Markdown file's links to files of the repository."""
    found = [m.group(1) for m in _LINK_RE.finditer(prose(path)) if m.group(1)]
    return [t for t in found if not re.match(r"[a-z]+:", t)]


def test_every_link_of_the_readme_and_the_docs_resolves():
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        for target in local_links(page):
            file, _, anchor = target.partition("#")
            resolved = (page.parent / file).resolve() if file else page
            assert resolved.is_file(), f"{page.name}: {target}"
            if anchor:
                assert resolved.suffix == ".md", f"{page.name}: {target}"
                assert anchor in anchors(resolved), f"{page.name}: {target}"


def test_the_readme_links_every_docs_file():
    linked = {
        (ROOT / t.partition("#")[0]).resolve() for t in local_links(README) if t.startswith("docs/")
    }
    docs = {p.resolve() for p in DOCS.glob("*.md")}
    assert len(docs) >= 4
    assert sorted(p.name for p in docs - linked) == []


def one_server_section() -> str:
    readme = README.read_text(encoding="utf-8")
    return readme.split("\n## One server behind nginx\n", 1)[1].split("\n## ", 1)[0]


def unit_settings() -> dict[str, str]:
    """The unit's ExecStart, ReadWritePaths and Environment= settings, by name."""
    text = (ROOT / "deploy" / "searchsvc.service").read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "Environment":
            name, _, setting = value.partition("=")
            found[name] = setting
        elif key in ("ExecStart", "ReadWritePaths", "User"):
            found[key] = value
    return found


def one_server_nginx_conf() -> str:
    """deploy/nginx.conf put through the README's `sed` line for one server."""
    section = one_server_section()
    command = re.search(r"^sed .*?deploy/nginx\.conf", section, re.M | re.S).group(0)
    args = shlex.split(command.replace("\\\n", " "))
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_the_one_server_setup_agrees_with_the_unit_and_nginx_conf():
    unit = unit_settings()
    assert unit["ExecStart"].split()[-1] == "serve"
    assert unit["ExecStart"].split()[0].endswith("/.venv/bin/searchsvc")
    assert unit["ReadWritePaths"] == unit["SEARCHSVC_INDEX"]
    address = f"{unit['SEARCHSVC_HOST']}:{unit['SEARCHSVC_PORT']}"
    assert unit["SEARCHSVC_TRUSTED_PROXIES"] == unit["SEARCHSVC_HOST"]  # nginx on the machine

    section = one_server_section()
    assert "cp deploy/searchsvc.service /etc/systemd/system/" in section
    assert f"--corpus {unit['SEARCHSVC_CORPUS']} --index {unit['SEARCHSVC_INDEX']}" in section
    assert f"-u {unit['User']} " in section
    assert f"http://{address}/healthz" in section

    conf = one_server_nginx_conf()
    upstreams = re.findall(r"^upstream (\S+) \{(.*?)^\}", conf, re.M | re.S)
    assert [name for name, _ in upstreams] == ["searchsvc", "searchsvc_builder"]
    for _name, body in upstreams:  # searches and writes both go to the one server
        assert re.findall(r"^\s*server (\S+?)[;\s]", body, re.M) == [address]


def test_the_one_server_nginx_conf_is_valid(tmp_path):
    if not NGINX.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{NGINX} is missing; CI is set, so this test must run")
        pytest.skip(f"{NGINX} is missing (apt-get install nginx-light)")
    site = one_server_nginx_conf().replace("/var/log/nginx/access.log", str(tmp_path / "a.log"))
    (tmp_path / "searchsvc.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path / 'nginx.pid'};\n"
        f"error_log {tmp_path / 'error.log'};\n"
        "events { worker_connections 64; }\n"
        f"http {{\n{temp}\n    include {tmp_path / 'searchsvc.conf'};\n}}\n"
    )
    args = [str(NGINX), "-t", "-p", f"{tmp_path}/", "-c", str(conf), "-e", str(tmp_path / "e")]
    checked = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


# A reference from code or configuration to a section of the README, of docs/ or of the
# benchmark results, as ``(README, "One server behind nginx")`` or ``(docs/site.md, "Behind
# your nginx")``; a heading's trailing "(issue N)" may be left out.
_SECTION_REF_RE = re.compile(r'\b(README|docs/[a-z-]+\.md|bench/RESULTS\.md),\s+"([^"]+)"')
REFERRING = ["searchsvc", "deploy", "bench", "Makefile", "Dockerfile"]


def section_references() -> list[tuple[Path, str, str]]:
    """Every section reference in the code, the deployment files and the benchmarks, their
    comments' line breaks and markers joined."""
    found = []
    for name in REFERRING:
        top = ROOT / name
        paths = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in paths:
            if ".work" in path.parts or path.suffix not in (
                "",
                ".py",
                ".conf",
                ".yaml",
                ".sh",
                ".service",
            ):
                continue
            if not path.is_file():
                continue
            text = re.sub(r"\s*\n\s*(?:#\s*)?", " ", path.read_text(encoding="utf-8"))
            for page, heading in _SECTION_REF_RE.findall(text):
                found.append((path, page, heading))
    return found


def test_every_section_the_code_names_exists_where_it_says():
    references = section_references()
    assert len(references) >= 8
    for path, page, heading in references:
        target = README if page == "README" else ROOT / page
        assert target.is_file(), (path.name, page)
        named = anchors(target) | {
            slug(re.sub(r" \([^()]*\)$", "", h))
            for h in re.findall(r"^#{1,6} (.+)$", prose(target), re.M)
        }
        assert slug(heading) in named, f"{path.relative_to(ROOT)}: {page}, {heading!r}"


def test_the_one_server_nginx_answers_name_no_replica():
    """nginx's own JSON errors are served by the one-server setup too: they speak of the
    search service, not of replicas it does not have."""
    messages = re.findall(r'"message": "([^"]+)"', one_server_nginx_conf())
    assert len(messages) >= 3
    assert [m for m in messages if "replica" in m] == []
