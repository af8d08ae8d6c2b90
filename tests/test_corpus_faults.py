"""A corpus full of faults, indexed by the ``searchsvc index`` command.

Every bad file or line is reported (path, line when there is one, reason) and skipped, every
good document is still indexed and found, and the exit status says whether anything was
skipped. The readers' individual cases are in ``test_corpus.py``; this is the whole path.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import sys
import traceback
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchsvc.cli.commands import EXIT_SKIPPED, main
from searchsvc.engine.search import SearchEngine
from searchsvc.ingest.corpus import files as corpus_files
from searchsvc.ingest.corpus.documents import Skipped
from searchsvc.ingest.corpus.walk import read_corpus

HUNDRED_MB = 100 * 1024 * 1024
DEPTH = 40  # folders nested in the corpus below (the recursion limit has its own test)
DEEP = 400  # folders nested in the recursion test


def good(title: str) -> str:
    return f"{title}\n\nUn texte tout à fait correct sur la question des {title.lower()}.\n"


def nested(root: Path, depth: int) -> Path:
    """Folders ``n/n/…/n`` ``depth`` deep under ``root``, made one by one (no recursion)."""
    folder = os.fspath(root)
    os.makedirs(folder, exist_ok=True)
    for _ in range(depth):
        folder = os.path.join(folder, "n")
        os.mkdir(folder)
    return Path(folder)


@pytest.fixture
def faulty_corpus(tmp_path, monkeypatch) -> Path:
    """Good documents (ids ``ok-*``, ``jsonl-ok*``) among one case of each kind of fault."""
    root = tmp_path / "corpus"
    root.mkdir()
    files: dict[str, bytes] = {
        "ok-hiboux.txt": good("Hiboux").encode(),
        "ok-chouettes.md": ("# Chouettes\n\n" + good("Chouettes")).encode(),
        "ok-latin1.txt": good("Éléphants").encode("cp1252"),  # not UTF-8: read as cp1252
        "vide.txt": b"",
        "blancs.md": b"  \n\t\n",
        "binaire.txt": b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4,
        "utf16-casse.txt": codecs.BOM_UTF16_LE + "Texte".encode("utf-16-le") + b"\x00",
        "vide.html": b"<html><script>x()</script></html>",
    }
    lines = [
        json.dumps({"id": "jsonl-ok1", "title": "Castors", "body": good("Castors")}),
        '{"id": "cassé", "body": ',
        json.dumps({"title": "Sans identifiant", "body": "x"}),
        json.dumps({"id": "sans-corps"}),
        json.dumps(["pas", "un", "objet"]),
        json.dumps({"id": "ok-hiboux", "body": "Doublon d'un fichier."}),
        json.dumps({"id": "jsonl-ok2", "title": "Loutres", "body": good("Loutres")}),
        json.dumps({"id": "jsonl-ok1", "body": "Doublon dans le même fichier."}),
        "\x00\x01",
    ]
    files["lot.jsonl"] = "\n".join(lines[:-1]).encode() + b"\n"
    files["lot-binaire.jsonl"] = (lines[0].replace("jsonl-ok1", "autre") + "\n").encode()
    files["lot-binaire.jsonl"] += b"\x00\x01\x02\n"
    # Issue 23: the line after a NUL byte is read (a NUL used to end the file in silence).
    files["lot-binaire.jsonl"] += (lines[0].replace("jsonl-ok1", "apres-nul") + "\n").encode()
    files[".cache/cache.txt"] = good("Caches").encode()  # hidden: told, not counted
    for name, content in files.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(content)

    # 100 MB files, sparse so that the test writes almost nothing.
    for name, head in (("enorme.txt", good("Baleines")), ("enorme.jsonl", lines[0] + "\n")):
        with open(root / name, "wb") as fh:
            fh.write(head.replace("jsonl-ok1", "enorme").encode())
            fh.truncate(HUNDRED_MB)

    deep = nested(root / "profond", DEPTH)
    (deep / "ok-profond.txt").write_text(good("Abysses"), encoding="utf-8")
    (root / "boucle").mkdir()
    (root / "boucle" / "ok-dans-boucle.txt").write_text(good("Cercles"), encoding="utf-8")
    os.symlink("..", root / "boucle" / "retour")
    os.symlink("absent.txt", root / "lien-casse.txt")
    os.symlink("/etc/passwd", root / "passwd.txt")  # out of the corpus: not read

    # An unreadable file: chmod 000 means nothing to root, so refuse the open itself.
    real_open = open

    def guarded_open(path, *args, **kwargs):
        if os.fspath(path).endswith("secret.txt"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, *args, **kwargs)

    (root / "secret.txt").write_text(good("Secrets"), encoding="utf-8")
    (root / "secret.txt").chmod(0)
    monkeypatch.setattr(corpus_files, "open", guarded_open, raising=False)
    return root


# (path, line, start of the reason) of every fault in the corpus above.
EXPECTED = {
    ("binaire.txt", None, "not valid text (binary data)"),
    ("blancs.md", None, "empty file"),
    ("boucle/retour", None, "symlink loop"),
    ("enorme.jsonl", 2, "line too large"),
    ("enorme.txt", None, "file too large"),
    ("lien-casse.txt", None, "broken symlink"),
    ("lot-binaire.jsonl", 2, "not valid text (binary data)"),
    ("lot.jsonl", 2, "invalid JSON"),
    ("lot.jsonl", 3, "missing field 'id'"),
    ("lot.jsonl", 4, "missing field 'body'"),
    ("lot.jsonl", 5, "not a JSON object"),
    ("lot.jsonl", 8, "duplicate id 'jsonl-ok1'"),
    ("passwd.txt", None, "link outside the corpus"),
    ("ok-hiboux.txt", None, "duplicate id 'ok-hiboux'"),  # lot.jsonl comes first
    ("secret.txt", None, "permission denied"),
    ("utf16-casse.txt", None, "undecodable"),
    ("vide.html", None, "no text content"),
    ("vide.txt", None, "empty file"),
}
GOOD_IDS = {
    "ok-hiboux",
    "ok-chouettes",
    "ok-latin1",
    "jsonl-ok1",
    "jsonl-ok2",
    "autre",
    "apres-nul",
    "enorme",  # the first line of the huge JSONL file is fine
    "boucle/ok-dans-boucle",
    "profond/" + "n/" * DEPTH + "ok-profond",
}


def run_index(tmp_path: Path, root: Path, *args: str):
    env = {"SEARCHSVC_CORPUS": str(root), "SEARCHSVC_INDEX": str(tmp_path / "index"), "CI": "1"}
    return CliRunner().invoke(main, ["index", *args], env=env, catch_exceptions=False)


def reported(stderr: str) -> set[tuple[str, int | None, str]]:
    """(path, line, reason) of each "skipped PATH[:LINE]: REASON" line."""
    out = set()
    for m in re.finditer(r"^skipped (.+?)(?::(\d+))?: (.*)$", stderr, re.MULTILINE):
        out.add((m.group(1), int(m.group(2)) if m.group(2) else None, m.group(3)))
    return out


def test_every_fault_is_reported_and_every_good_document_indexed(faulty_corpus, tmp_path):
    result = run_index(tmp_path, faulty_corpus, "--full")
    assert result.exit_code == EXIT_SKIPPED, result.output
    got = reported(result.stderr)
    assert len(got) == len(EXPECTED), sorted(got)
    for path, line, reason in EXPECTED:
        assert any(g[:2] == (path, line) and g[2].startswith(reason) for g in got), (path, line)
    assert f"{len(GOOD_IDS)} added" in result.stdout
    assert f"{len(EXPECTED)} skipped, 1 hidden ignored" in result.stdout
    assert "ignored .cache: hidden folder" in result.stderr.splitlines()

    with closing(SearchEngine(tmp_path / "index")) as engine:
        assert engine.stats()["documents"] == len(GOOD_IDS)
        assert all(engine.document(doc_id) is not None for doc_id in GOOD_IDS)
        assert engine.document("ok-latin1").title == "Éléphants"
        assert [hit.id for hit in engine.search("abysses").hits] == [
            "profond/" + "n/" * DEPTH + "ok-profond"
        ]
        assert [hit.id for hit in engine.search("loutres").hits] == ["jsonl-ok2"]

    # An incremental run skips the same files and keeps every document.
    again = run_index(tmp_path, faulty_corpus)
    assert again.exit_code == EXIT_SKIPPED
    assert reported(again.stderr) == got
    assert f"0 added, 0 updated, 0 deleted, {len(GOOD_IDS)} unchanged" in again.stdout


def test_a_clean_corpus_exits_0(tmp_path):
    root = tmp_path / "corpus"
    nested(root, 3)
    (root / "a.txt").write_text(good("Hiboux"), encoding="utf-8")
    (root / "n" / "n" / "n" / "b.txt").write_text(good("Chouettes"), encoding="utf-8")
    result = run_index(tmp_path, root)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "2 added" in result.stdout


def test_folders_nested_deeper_than_the_stack_allows_are_read(tmp_path):
    """The walk keeps its own stack: how deep folders nest is limited by the file system, not
    by Python's recursion limit (lowered here so that a few hundred levels exceed it)."""
    bottom = nested(tmp_path / "deep", DEEP)
    (bottom / "fond.txt").write_text(good("Fonds"), encoding="utf-8")
    (tmp_path / "deep" / "haut.txt").write_text(good("Sommets"), encoding="utf-8")
    skipped: list[Skipped] = []
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(traceback.extract_stack()) + DEEP // 4)
    try:
        docs = list(read_corpus(tmp_path / "deep", on_skip=skipped.append))
    finally:
        sys.setrecursionlimit(limit)
    assert [d.id for d in docs] == ["haut", "n/" * DEEP + "fond"]
    assert skipped == []


def test_a_path_too_long_for_the_system_is_reported(tmp_path):
    # Folders whose full path is longer than PATH_MAX (4096): made step by step, relatively.
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "ok.txt").write_text(good("Hiboux"), encoding="utf-8")
    here = os.open(root, os.O_RDONLY)
    try:
        for _ in range(30):
            os.mkdir("d" * 200, dir_fd=here)
            inner = os.open("d" * 200, os.O_RDONLY, dir_fd=here)
            os.close(here)
            here = inner
        fd = os.open("loin.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=here)
        os.write(fd, good("Lointains").encode())
        os.close(fd)
    finally:
        os.close(here)
    skipped: list[Skipped] = []
    docs = list(read_corpus(root, on_skip=skipped.append))
    assert [d.id for d in docs] == ["ok"]
    assert len(skipped) == 1 and "too long" in skipped[0].reason
