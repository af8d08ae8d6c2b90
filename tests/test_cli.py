"""Tests for searchsvc.cli through click's CliRunner (no terminal: no colours, no progress)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from searchsvc import storage
from searchsvc.cli import EXIT_SKIPPED, _terminal_snippet, main


@pytest.fixture
def runner(monkeypatch):
    for name in ("SEARCHSVC_INDEX", "SEARCHSVC_CORPUS", "CI"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def run(runner, *args, **env):
    env = {f"SEARCHSVC_{k.upper()}": str(v) for k, v in env.items()}
    return runner.invoke(main, list(args), env=env, catch_exceptions=False)


# -- index -----------------------------------------------------------------------------------


def test_index_prints_one_line_summary(runner, tiny_corpus, tmp_path):
    index_dir = tmp_path / "index"
    result = run(runner, "index", corpus=tiny_corpus, index=index_dir)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("full reindex: 3 added, 0 updated, 0 deleted, 0 unchanged")
    assert "3 documents in g000001" in lines[0]
    assert storage.current_name(index_dir) == "g000001"

    again = run(runner, "index", corpus=tiny_corpus, index=index_dir)
    assert again.exit_code == 0
    assert again.stdout.startswith(
        "incremental reindex: 0 added, 0 updated, 0 deleted, 3 unchanged"
    )


def test_index_options_override_environment(runner, tiny_corpus, tmp_path):
    index_dir = tmp_path / "index"
    result = run(
        runner,
        "index",
        "--corpus",
        str(tiny_corpus),
        "--index",
        str(index_dir),
        "--full",
        corpus=tmp_path / "absent",
        index=tmp_path / "other",
    )
    assert result.exit_code == 0
    assert storage.current_name(index_dir) == "g000001"
    assert not (tmp_path / "other").exists()


def test_index_skipped_files_exit_3(runner, tiny_corpus, tmp_path):
    (tiny_corpus / "vide.txt").write_bytes(b"")
    (tiny_corpus / "binaire.txt").write_bytes(b"\x00\x01\x02\x03 binary")
    result = run(runner, "index", corpus=tiny_corpus, index=tmp_path / "index")
    assert result.exit_code == EXIT_SKIPPED == 3
    assert "skipped binaire.txt: " in result.stderr
    assert "skipped vide.txt: " in result.stderr
    assert "3 added" in result.stdout
    assert "2 skipped" in result.stdout


def test_index_missing_corpus_clean_error(runner, tmp_path):
    result = run(runner, "index", corpus=tmp_path / "absent", index=tmp_path / "index")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: corpus not found: {tmp_path / 'absent'}"
    assert "Traceback" not in result.output


# Issue 13: a corpus that is one file, and a file of no kind searchsvc reads.
def test_index_a_corpus_that_is_one_file(runner, tmp_path):
    path = tmp_path / "lot.jsonl"
    lines = [json.dumps({"id": f"d{i}", "title": "Titre", "body": "Un zèbre."}) for i in range(3)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(runner, "index", corpus=path, index=tmp_path / "index")
    assert result.exit_code == 0, result.output
    assert "3 added" in result.stdout and "3 documents in g000001" in result.stdout


def test_index_a_corpus_file_of_another_kind_clean_error(runner, tmp_path):
    path = tmp_path / "notes.pdf"
    path.write_bytes(b"%PDF")
    result = run(runner, "index", corpus=path, index=tmp_path / "index")
    assert result.exit_code == 1
    assert "is a file of no kind searchsvc reads" in result.stderr
    assert "Traceback" not in result.output


def test_index_no_wait_while_locked(runner, tiny_corpus, tmp_path):
    index_dir = tmp_path / "index"
    with storage.write_lock(index_dir):
        result = run(runner, "index", "--no-wait", corpus=tiny_corpus, index=index_dir)
    assert result.exit_code == 1
    assert "another `searchsvc index` is writing" in result.stderr


# -- search ----------------------------------------------------------------------------------


def test_search_prints_titles_with_bracketed_marks(runner, seed_index, engine):
    titles = {h.title for h in engine.search("delanoe").hits}
    result = run(runner, "search", "delanoe", index=seed_index)
    assert result.exit_code == 0
    assert result.stdout.startswith("2 résultats")
    for title in titles:
        assert title in result.stdout
    assert "[Delanoë]" in result.stdout
    assert "\x1b[" not in result.stdout
    assert "<mark>" not in result.stdout
    assert "1. " in result.stdout and "2. " in result.stdout


def test_search_joins_words_and_takes_index_option(runner, seed_index):
    result = run(runner, "search", "--index", str(seed_index), "bertrand", "delanoë")
    assert result.exit_code == 0
    assert result.stdout.startswith("2 résultats")


def test_search_json(runner, seed_index):
    result = run(runner, "search", "--json", "delanoe", index=seed_index)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["total"] == 2
    assert data["pages"] == 1
    assert data["suggestion"] is None
    assert sorted(h["id"][:4] for h in data["hits"]) == ["001_", "002_"]
    assert all("<mark>Delanoë</mark>" in h["snippet"] for h in data["hits"])
    assert {"query", "understood", "page", "per_page", "took_ms", "notice"} <= data.keys()


def test_search_json_suggestion(runner, seed_index):
    data = json.loads(run(runner, "search", "--json", "twiter", index=seed_index).stdout)
    assert data["suggestion"] == "twitter"
    assert data["approximate"] == ["twiter"]


def test_search_text_suggestion_and_stop_words(runner, seed_index):
    assert "Vouliez-vous dire : twitter" in run(runner, "search", "twiter", index=seed_index).stdout
    out = run(runner, "search", "le", "la", "les", index=seed_index).stdout
    assert out.startswith("0 résultat")
    assert "que des mots trop courants" in out


def test_search_pagination(runner, seed_index, engine):
    second = engine.search("twitter", page=2, per_page=1).hits[0]
    result = run(runner, "search", "twitter", "--page", "2", "--per-page", "1", index=seed_index)
    assert result.exit_code == 0
    assert "page 2/5" in result.stdout
    assert f"2. {second.title}  ({second.id}," in result.stdout


def test_search_terminal_unescapes_html(runner, tiny_index):
    result = run(runner, "search", "alert", index=tiny_index)
    assert '<script>[alert](1)</script> & "quotes"' in result.stdout


def test_search_bad_query_clean_error(runner, seed_index):
    result = run(runner, "search", "a" * 10_000, index=seed_index)
    assert result.exit_code == 1
    assert "Error: the query is too long (10000 characters; the limit is 1000)" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["--page", "0"], ["--per-page", "0"], ["--per-page", "101"]])
def test_search_bad_paging_is_usage_error(runner, seed_index, args):
    result = run(runner, "search", "twitter", *args, index=seed_index)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_search_without_index_says_run_index(runner, tmp_path):
    result = run(runner, "search", "delanoe", index=tmp_path / "index")
    assert result.exit_code == 1
    assert "run `searchsvc index` first" in result.stderr
    assert "Traceback" not in result.output


def test_search_other_version_says_full(runner, tiny_corpus, tmp_path):
    index_dir = tmp_path / "index"
    run(runner, "index", corpus=tiny_corpus, index=index_dir)
    meta = index_dir / storage.current_name(index_dir) / storage.META
    meta.write_text(json.dumps({"version": "0.0"}))
    result = run(runner, "search", "zèbre", index=index_dir)
    assert result.exit_code == 1
    assert "--full" in result.stderr
    assert run(runner, "index", "--full", corpus=tiny_corpus, index=index_dir).exit_code == 0
    assert run(runner, "search", "zèbre", index=index_dir).stdout.startswith("2 résultats")


def test_search_requires_a_query(runner, seed_index):
    result = run(runner, "search", index=seed_index)
    assert result.exit_code == 2


def test_terminal_snippet_colour_and_brackets():
    snippet = "a &lt;b&gt; <mark>Delanoë</mark> &amp; c"
    assert _terminal_snippet(snippet, color=False) == "a <b> [Delanoë] & c"
    coloured = _terminal_snippet(snippet, color=True)
    assert "\x1b[" in coloured and "Delanoë" in coloured and "[Delanoë]" not in coloured


# -- help ------------------------------------------------------------------------------------


def test_main_help_lists_commands(runner):
    result = run(runner, "--help")
    assert result.exit_code == 0
    for name in main.commands:
        assert name in result.stdout


@pytest.mark.parametrize("name", sorted(main.commands))
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_has_help(runner, name, flag):
    command = main.commands[name]
    assert command.help and command.help.strip()
    result = run(runner, name, flag)
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: ")
    assert f" {name} " in result.stdout.splitlines()[0]
    assert command.help.strip().splitlines()[0] in result.stdout
