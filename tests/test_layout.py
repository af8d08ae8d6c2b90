"""ARCHITECTURE.md and the layout in docs/development.md name the package's real modules and
folders, and the core never imports the interfaces."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "searchsvc"
CORE = ("text", "ingest", "index", "query", "engine")


def test_every_module_architecture_md_names_exists():
    named = set(re.findall(r"`([a-z_/]+\.py|[a-z_]+/)`", (ROOT / "ARCHITECTURE.md").read_text()))
    assert len(named) > 20
    missing = sorted(n for n in named if not (PACKAGE / n).exists())
    assert missing == []


def test_the_documented_layout_lists_every_folder_and_top_level_module():
    development = (ROOT / "docs" / "development.md").read_text()
    layout = development.split("## Layout", 1)[1].split("\n## ", 1)[0]
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    modules = {p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    for name in sorted(folders):
        assert re.search(rf"^\s+{name}/\s", layout, re.M), name
    for name in sorted(modules):
        assert re.search(rf"^\s+{re.escape(name)}\s", layout, re.M), name


def test_the_core_knows_nothing_of_flask_click_or_the_interfaces():
    for folder in CORE:
        for path in (PACKAGE / folder).rglob("*.py"):  # subpackages too
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    assert top not in ("flask", "click", "werkzeug", "gunicorn"), (path, name)
                    assert not name.startswith(("searchsvc.web", "searchsvc.cli")), (path, name)


def _folder_imports() -> dict[str, set[str]]:
    """Each folder of the package -> the other folders its modules import."""
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    found: dict[str, set[str]] = {name: set() for name in folders}
    for folder in folders:
        for path in (PACKAGE / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    parts = name.split(".")
                    inside = parts[0] == "searchsvc" and len(parts) > 1
                    if inside and parts[1] in folders and parts[1] != folder:
                        found[folder].add(parts[1])
    return found


def test_the_imports_between_folders_are_the_arrows_architecture_md_draws():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    table = text.split("| folder | uses |", 1)[1].split("\n\n", 1)[0]
    drawn = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        drawn[cells[0].strip("`/")] = set(re.findall(r"`([a-z_]+)/`", cells[1]))
    actual = _folder_imports()
    assert set(drawn) == set(actual)
    assert drawn == actual


def test_no_folder_imports_one_drawn_above_it():
    order = ["cli", "web", "engine", "ingest", "query", "index", "text"]
    for folder, uses in _folder_imports().items():
        for used in uses:
            assert order.index(used) > order.index(folder), (folder, used)
