"""Issue 23, the corpus side: a hostile or mistaken corpus, run through ``searchsvc index``.

A bad JSON Lines line is one skipped line; links out of the corpus are not followed unless
asked; hidden entries are told; a run that would empty the index stops and says which flag
confirms it; only http and https urls are kept; bad SEARCHSVC_* settings are one line.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchsvc import errors
from searchsvc.cli.commands import EXIT_SKIPPED, main
from searchsvc.engine.search import SearchEngine
from searchsvc.index import storage
from searchsvc.ingest.corpus.documents import SkipKind, Skipped
from searchsvc.ingest.corpus.walk import read_corpus
from searchsvc.ingest.indexer import deletes_too_many, reindex
from searchsvc.settings import MAX_DELETED_SHARE, MIN_GUARDED_DELETIONS
from searchsvc.testing import (
    build_index,
    child_env,
    cli,
    cli_command,
    index_args,
    lock_is_free,
    write_files,
    write_jsonl,
)


def article(title: str) -> str:
    return f"{title}\n\nUn article tout à fait correct sur la question des {title.lower()}.\n"


def line(doc_id: str, **extra) -> dict:
    return {"id": doc_id, "title": doc_id.capitalize(), "body": f"Le corps de {doc_id}.", **extra}


def run_index(corpus: Path, index: Path, *args: str):
    """``searchsvc index`` in this process (CliRunner), as CI runs it; stderr apart."""
    env = {"SEARCHSVC_CORPUS": str(corpus), "SEARCHSVC_INDEX": str(index), "CI": "1"}
    return CliRunner().invoke(main, ["index", *args], env=env, catch_exceptions=False)


def indexed(index: Path) -> set[str]:
    with closing(SearchEngine(index)) as engine:
        return {hit.id for hit in engine.search("corps", per_page=100).hits}


def reports(stderr: str, word: str = "skipped") -> list[tuple[str, int | None, str]]:
    """(path, line, reason) of each "WORD PATH[:LINE]: REASON" line."""
    found = re.finditer(rf"^{word} (.+?)(?::(\d+))?: (.*)$", stderr, re.MULTILINE)
    return [(m[1], int(m[2]) if m[2] else None, m[3]) for m in found]


# -- defect 5: a NUL byte in one JSON Lines line ----------------------------------------------

SEVEN = [f"l{n}" for n in range(1, 8)]


def with_nul_on_line_2() -> bytes:
    lines = [json.dumps(line(doc_id)).encode() for doc_id in SEVEN]
    lines[1] = lines[1].replace(b"Le corps", b"Le\x00corps")
    return b"\n".join(lines) + b"\n"


@pytest.mark.parametrize("name", ["nul.jsonl", "nul.jsonl.gz"])
def test_a_nul_byte_skips_its_line_and_no_other(tmp_path, name):
    """The issue's 7-line file: line 2 is reported and skipped, lines 1 and 3-7 indexed
    (they were lost in silence: neither indexed nor counted)."""
    data = with_nul_on_line_2()
    corpus = write_files(tmp_path / "corpus", {name: gzip.compress(data) if "gz" in name else data})
    result = cli(*index_args(corpus, tmp_path / "index"))
    assert result.returncode == EXIT_SKIPPED, result.stderr
    assert reports(result.stderr) == [(name, 2, "not valid text (binary data)")]
    assert "6 added" in result.stdout and "1 skipped" in result.stdout
    assert indexed(tmp_path / "index") == set(SEVEN) - {"l2"}


def test_a_truncated_gzip_says_from_which_line_nothing_was_read(tmp_path):
    data = b"".join(json.dumps(line(f"g{n}")).encode() + b"\n" for n in range(400))
    packed = gzip.compress(data)
    corpus = write_files(tmp_path / "corpus", {"coupe.jsonl.gz": packed[: len(packed) // 2]})
    skipped: list[Skipped] = []
    docs = list(read_corpus(corpus, on_skip=skipped.append))
    assert docs and [d.id for d in docs] == [f"g{n}" for n in range(len(docs))]
    [problem] = skipped
    assert problem.line == len(docs) + 1
    assert problem.reason.startswith("corrupt gzip data")
    assert problem.reason.endswith(f"nothing read from line {len(docs) + 1} on")


# -- defect 6: links out of the corpus, hidden files --------------------------------------------


@pytest.fixture
def linked_corpus(tmp_path) -> Path:
    """A corpus with links out of it (to system files and a folder), and links within it."""
    outside = write_files(tmp_path / "dehors", {"secret.txt": article("Secrets")})
    corpus = write_files(
        tmp_path / "corpus",
        {"a.txt": article("Hiboux"), "dossier/b.txt": article("Chouettes")},
    )
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    (corpus / "status.txt").symlink_to("/proc/self/status")
    (corpus / "fuite").symlink_to(outside, target_is_directory=True)
    (corpus / "fuite-fichier.txt").symlink_to(outside / "secret.txt")
    (corpus / "dedans.txt").symlink_to("a.txt")  # within the corpus: still read
    (corpus / "raccourci").symlink_to("dossier", target_is_directory=True)  # read once
    (corpus / "dossier" / "monte.txt").symlink_to(Path("..") / "a.txt")
    return corpus


OUTSIDE = ["fuite", "fuite-fichier.txt", "passwd.txt", "status.txt"]


def test_links_out_of_the_corpus_are_skipped_and_reported(linked_corpus, tmp_path):
    index = tmp_path / "index"
    result = run_index(linked_corpus, index)
    assert result.exit_code == EXIT_SKIPPED, result.output
    got = reports(result.stderr)
    refused = sorted(path for path, _line, why in got if why.startswith("link outside the corpus"))
    assert refused == OUTSIDE
    assert ("passwd.txt", None, "link outside the corpus (to /etc/passwd)") in got
    assert ("raccourci", None, "directory already read as dossier") in got
    assert len(got) == len(OUTSIDE) + 1
    with closing(SearchEngine(index)) as engine:
        assert engine.stats()["documents"] == 4
        for doc_id in ("a", "dossier/b", "dedans", "dossier/monte"):
            assert engine.document(doc_id) is not None
        for doc_id in ("passwd", "status", "fuite/secret", "fuite-fichier"):
            assert engine.document(doc_id) is None
        assert engine.search("root").total == 0 and engine.search("secrets").total == 0


def test_links_out_of_the_corpus_are_read_when_asked(linked_corpus, tmp_path):
    skipped: list[Skipped] = []
    docs = list(read_corpus(linked_corpus, on_skip=skipped.append))
    assert sorted(s.path for s in skipped if s.kind is SkipKind.REFUSED) == OUTSIDE
    assert all(s.counted and not s.keeps_indexed for s in skipped if s.kind is SkipKind.REFUSED)
    assert not {"passwd", "status", "fuite/secret", "fuite-fichier"} & {d.id for d in docs}
    docs = list(read_corpus(linked_corpus, follow_outside_links=True))
    assert {"passwd", "status", "fuite/secret", "fuite-fichier"} <= {d.id for d in docs}

    index = tmp_path / "index"
    result = run_index(linked_corpus, index, "--follow-outside-links")
    assert result.exit_code == EXIT_SKIPPED  # the folder linked twice, still
    assert all("link outside" not in why for _p, _l, why in reports(result.stderr))
    with closing(SearchEngine(index)) as engine:
        assert engine.document("fuite/secret") is not None

    # Without the flag, the next run deletes what they held: they are not kept as a file
    # that could not be read this time would be.
    again = run_index(linked_corpus, index)
    assert again.exit_code == EXIT_SKIPPED
    assert "4 deleted" in again.stdout
    with closing(SearchEngine(index)) as engine:
        assert engine.document("fuite/secret") is None and engine.document("passwd") is None


def test_hidden_entries_are_told_once_and_do_not_fail_the_run(tmp_path):
    corpus = write_files(
        tmp_path / "corpus",
        {
            "a.txt": article("Hiboux"),
            ".brouillon.txt": article("Brouillons"),
            ".DS_Store": b"\x00\x01",  # not a kind the corpus holds: nothing to tell
            ".git/HEAD": "ref: refs/heads/main\n",
            **{f".git/notes/n{n}.txt": article("Notes") for n in range(5)},
            "sous/.cache/c.md": "# Cache\n\nTexte.",
        },
    )
    result = run_index(corpus, tmp_path / "index")
    assert result.exit_code == 0, result.output
    assert reports(result.stderr, "ignored") == [
        (".brouillon.txt", None, "hidden file"),
        (".git", None, "hidden folder"),
        ("sous/.cache", None, "hidden folder"),
    ]
    assert reports(result.stderr) == []
    assert "1 added" in result.stdout
    assert "0 skipped, 3 hidden ignored" in result.stdout


# -- defect 7: one mistyped command empties the index -------------------------------------------

NINETEEN = {f"sport/article-{n:02d}.md": f"# Article {n}\n\nLe corps {n}.\n" for n in range(18)}
NINETEEN["sport/tour-de-france.md"] = "# Le Tour de France\n\nLe corps du Tour.\n"


@pytest.fixture
def nineteen(tmp_path) -> tuple[Path, Path]:
    return build_index(tmp_path, NINETEEN)


def generations(index: Path) -> list[str]:
    return sorted(p.name for p in index.iterdir() if p.is_dir())


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_a_run_that_would_empty_the_index_stops_and_changes_nothing(nineteen, full):
    """The issue's command: one file as the corpus of a 19-document index."""
    corpus, index = nineteen
    live = storage.current(index)
    files = {p: p.read_bytes() for p in sorted(live.path.iterdir())}
    result = cli(*index_args(corpus / "sport" / "tour-de-france.md", index, full=full))
    assert result.returncode == 1, result.stdout
    [message] = result.stderr.splitlines()
    assert "would delete 19 of the 19 documents" in message
    assert "(more than 50%), so it stopped: the live index is unchanged" in message
    assert message.endswith("run it again with --allow-deletions")
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert lock_is_free(index)
    assert storage.current_name(index) == live.name and generations(index) == [live.name]
    assert {p: p.read_bytes() for p in sorted(live.path.iterdir())} == files
    with closing(SearchEngine(index)) as engine:
        assert engine.stats()["documents"] == 19

    confirmed = cli(
        *index_args(corpus / "sport" / "tour-de-france.md", index, full=full), "--allow-deletions"
    )
    assert confirmed.returncode == 0, confirmed.stderr
    assert "1 added" in confirmed.stdout and "19 deleted" in confirmed.stdout
    assert "— 1 documents" in confirmed.stdout


def test_the_guard_stops_before_the_commit(nineteen, monkeypatch):
    corpus, index = nineteen
    from searchsvc.index.whoosh_internals.updates import UpdateWriter

    def no_commit(self, *args, **kwargs):
        raise AssertionError("committed a run that deletes too many")

    (corpus / "nouveau.txt").write_text(article("Nouveautés"), encoding="utf-8")
    for name in list(NINETEEN)[:12]:
        (corpus / name).unlink()
    monkeypatch.setattr(UpdateWriter, "commit", no_commit)
    with pytest.raises(errors.TooManyDeletionsError) as refused:
        reindex(corpus, index)
    assert (refused.value.deleting, refused.value.documents) == (12, 19)
    assert isinstance(refused.value, errors.IndexStateError)  # the CLI's one line, exit 1
    assert lock_is_free(index) and generations(index) == ["g000001"]


def test_deleting_up_to_half_or_a_few_documents_needs_no_confirming(nineteen, tmp_path):
    corpus, index = nineteen
    for name in list(NINETEEN)[:9]:  # 9 of 19: under half
        (corpus / name).unlink()
    assert run_index(corpus, index).exit_code == 0
    # A small index: deleting 2 of its 3 documents is more than half, but only 2.
    small_corpus, small = build_index(
        tmp_path / "small", {f"{n}.txt": article("Ours") for n in "abc"}
    )
    (small_corpus / "a.txt").unlink()
    (small_corpus / "b.txt").unlink()
    result = run_index(small_corpus, small)
    assert result.exit_code == 0, result.output
    assert "2 deleted" in result.stdout


def test_the_share_and_the_minimum():
    assert MAX_DELETED_SHARE == 0.5 and MIN_GUARDED_DELETIONS == 10
    assert deletes_too_many(18, 19) and deletes_too_many(10, 19) and deletes_too_many(10, 10)
    assert not deletes_too_many(9, 19)  # half or less
    assert not deletes_too_many(1, 2) and not deletes_too_many(9, 9)  # too few to ask
    assert deletes_too_many(1000, 1999) and not deletes_too_many(1000, 2000)


# -- only http and https urls are kept ----------------------------------------------------------

URLS = {
    "bon1": ("https://www.lemonde.fr/article", None),
    "bon2": ("HTTP://exemple.fr", None),
    "js": ("javascript:alert(1)", "scheme javascript: is not http or https"),
    "js2": (" JavaScript:alert(document.cookie)", "scheme javascript: is not http or https"),
    "js3": ("java\tscript:alert(1)", "scheme javascript: is not http or https"),
    "data": ("data:text/html,<script>alert(1)</script>", "scheme data: is not http or https"),
    "file": ("file:///etc/passwd", "scheme file: is not http or https"),
    "vb": ("vbscript:msgbox", "scheme vbscript: is not http or https"),
    "relatif": ("/articles/x", "not an absolute http or https address"),
    "protocole": ("//evil.example/x", "not an absolute http or https address"),
    "nu": ("www.exemple.fr", "not an absolute http or https address"),
    "sanshote": ("https:///chemin", "an http address without a host"),
    "crochet": ("http://[::1/x", "not a valid address"),
}


def test_only_http_and_https_urls_are_kept(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_jsonl(corpus / "lot.jsonl", [line(doc_id, url=url) for doc_id, (url, _) in URLS.items()])
    index = tmp_path / "index"
    result = run_index(corpus, index)
    assert result.exit_code == 0, result.output  # a warning, not a skip
    dropped = [(doc_id, why) for doc_id, (_url, why) in URLS.items() if why]
    assert reports(result.stderr, "warning") == [
        ("lot.jsonl", n, f"url dropped ({why})")
        for n, (doc_id, (_url, why)) in enumerate(URLS.items(), 1)
        if why
    ]
    assert f"{len(URLS)} added" in result.stdout
    assert f"0 skipped, {len(dropped)} urls dropped" in result.stdout
    with closing(SearchEngine(index)) as engine:
        for doc_id, (url, why) in URLS.items():
            assert engine.document(doc_id).url == (None if why else url.strip())


# -- bad settings: one line, exit 1 -------------------------------------------------------------

BAD_SETTINGS = [
    ("WORKERS", "abc", "SEARCHSVC_WORKERS must be a whole number (got 'abc')"),
    ("WORKERS", "0", "SEARCHSVC_WORKERS must be 1 or more (got 0)"),
    ("PORT", "http", "SEARCHSVC_PORT must be a whole number (got 'http')"),
    ("PORT", "0", "SEARCHSVC_PORT must be from 1 to 65535 (got 0)"),
    ("PORT", "70000", "SEARCHSVC_PORT must be from 1 to 65535 (got 70000)"),
]


@pytest.mark.parametrize("command", [["serve"], ["index"], ["check"], ["search", "mot"]])
@pytest.mark.parametrize(("name", "value", "message"), BAD_SETTINGS)
def test_a_bad_setting_is_one_line_and_exit_1(tmp_path, command, name, value, message):
    env = {f"SEARCHSVC_{name}": value, "SEARCHSVC_INDEX": str(tmp_path / "index"), "CI": "1"}
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr == f"Error: {message}\n"


def test_searchsvc_workers_abc_serve_prints_no_traceback(tmp_path):
    """The issue's command, in a process of its own."""
    env = {**child_env(), "SEARCHSVC_WORKERS": "abc", "SEARCHSVC_INDEX": str(tmp_path)}
    done = subprocess.run(cli_command("serve"), capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert done.stderr == "Error: SEARCHSVC_WORKERS must be a whole number (got 'abc')\n"


def test_settings_accept_the_ends_of_their_ranges(monkeypatch):
    from searchsvc.settings import Settings

    monkeypatch.setenv("SEARCHSVC_PORT", "65535")
    monkeypatch.setenv("SEARCHSVC_WORKERS", "1")
    assert (Settings.from_env().port, Settings.from_env().workers) == (65535, 1)
    monkeypatch.setenv("SEARCHSVC_PORT", "1")
    assert Settings.from_env().port == 1
    monkeypatch.setenv("SEARCHSVC_PORT", "65536")
    with pytest.raises(ValueError, match=r"^SEARCHSVC_PORT must be from 1 to 65535 \(got 65536\)$"):
        Settings.from_env()
