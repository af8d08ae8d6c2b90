"""Tests for searchsvc.cli.commands through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from searchsvc.cli.commands import EXIT_SKIPPED, _terminal_snippet, main
from searchsvc.index import storage


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
    path = tmp_path / "notes.rtf"
    path.write_bytes(b"{\\rtf1}")
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
    assert {"years", "facets", "filters", "sort", "relaxed", "approximate", "also"} <= data.keys()
    assert all(h["title_html"] and "url" in h and "source" in h for h in data["hits"])


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


# Issue 16: what was understood is shown when it is not what was typed.
def test_search_text_shows_what_was_understood(runner, seed_index):
    words = run(runner, "search", "twitter", "paris", index=seed_index)
    assert words.stdout.startswith("5 résultats")
    assert "3 documents contiennent tous les mots ; les suivants" in words.stdout
    assert "Recherche de" not in words.stdout
    unclosed = run(runner, "search", '"twitter', "paris", index=seed_index)
    assert unclosed.exit_code == 0
    assert unclosed.stdout.startswith("5 résultats")
    assert unclosed.stdout.splitlines()[1] == "Recherche de : twitter paris"
    data = json.loads(run(runner, "search", "--json", '"twitter paris', index=seed_index).stdout)
    assert data["query"] == '"twitter paris' and data["understood"] == "twitter paris"
    assert (data["total"], data["every_word"]) == (5, 3)


# Issue 16: the API's source, date and sort options, with the API's checks and messages.
@pytest.fixture(scope="module")
def news_index(tmp_path_factory):
    from searchsvc.ingest.indexer import reindex

    corpus = tmp_path_factory.mktemp("news")
    docs = [
        ("a1", "Twitter à Paris", "Le Monde", "2012-06-30"),
        ("a2", "Twitter en France", "Les Echos", "2013-01-15"),
        ("a3", "Twitter à Lyon", "Le Monde", "2014-03-02"),
    ]
    lines = [
        json.dumps({"id": i, "title": t, "body": t + ".", "source": s, "date": d})
        for i, t, s, d in docs
    ]
    (corpus / "news.jsonl").write_text("\n".join(lines), encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("news-index")
    reindex(corpus, index_dir, full=True)
    return index_dir


def hit_ids(runner, index_dir, *args) -> list[str]:
    result = run(runner, "search", "--json", *args, index=index_dir)
    assert result.exit_code == 0, result.output
    return [h["id"] for h in json.loads(result.stdout)["hits"]]


def test_search_source_dates_and_sort(runner, news_index):
    assert sorted(hit_ids(runner, news_index, "twitter")) == ["a1", "a2", "a3"]
    assert sorted(hit_ids(runner, news_index, "twitter", "--source", "Le Monde")) == ["a1", "a3"]
    assert hit_ids(runner, news_index, "twitter", "--sort", "date") == ["a3", "a2", "a1"]
    dated = ["twitter", "--date-from", "2013", "--date-to", "2013-01", "--sort", "date"]
    assert hit_ids(runner, news_index, *dated) == ["a2"]
    assert sorted(hit_ids(runner, news_index, "twitter", "--date-to", "2013")) == ["a1", "a2"]
    # An empty value is no filter, as an empty API parameter is.
    assert len(hit_ids(runner, news_index, "twitter", "--source", "", "--date-from", "")) == 3


def test_search_text_shows_dates_and_sources(runner, news_index):
    result = run(runner, "search", "twitter", "--sort", "date", index=news_index)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[2].startswith("1. Twitter à Lyon  (a3,")
    assert lines[3] == "   2014-03-02 · Le Monde"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sort", "alpha"], "sort must be one of relevance, date (got 'alpha')"),
        (["--date-from", "hier"], "date_from must be a date like 2012-06-30 (got 'hier')"),
        (["--date-to", "2013/01"], "date_to must be a date like 2012-06-30 (got '2013/01')"),
        (["--source", "x" * 1001], "source is too long (the limit is 1000)"),
    ],
)
def test_search_bad_filter_or_sort_is_one_line_exit_1(runner, news_index, args, message):
    result = run(runner, "search", "twitter", *args, index=news_index)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""


def test_search_options_are_refused_like_the_api(runner, news_index):
    """The CLI goes through the same checks as GET /api/search (search.Filters, SORTS)."""
    from searchsvc.web import create_app

    app = create_app({"INDEX_DIR": str(news_index), "TESTING": True})
    client = app.test_client()
    try:
        for param, option, value in [
            ("sort", "--sort", "alpha"),
            ("date_from", "--date-from", "hier"),
            ("date_to", "--date-to", "2013/01"),
        ]:
            api = client.get("/api/search", query_string={"q": "twitter", param: value})
            assert api.status_code == 400
            cli_result = run(runner, "search", "twitter", option, value, index=news_index)
            assert cli_result.stderr == f"Error: {api.get_json()['error']['message']}\n"
    finally:
        engine = app.extensions.get("searchsvc.engine")
        if engine is not None:
            engine.close()


@pytest.mark.parametrize(
    "args",
    [
        ["twitter"],
        ["twitter", "--source", "Le Monde", "--date-from", "2012"],
        ["twiter", "--sort", "date", "--per-page", "1", "--page", "2"],
    ],
)
def test_search_json_is_the_apis_shape(runner, news_index, args):
    """Issue 29: one JSON shape for a page of results, whichever interface gives it: the
    command line's --json is GET /api/search's answer (its time aside)."""
    from searchsvc.web import create_app

    options = dict(zip(args[1::2], args[2::2], strict=True))
    query = {"q": args[0]} | {k[2:].replace("-", "_"): v for k, v in options.items()}
    app = create_app({"INDEX_DIR": str(news_index), "TESTING": True})
    try:
        api = app.test_client().get("/api/search", query_string=query)
        assert api.status_code == 200
        from_api = api.get_json()
    finally:
        engine = app.extensions.get("searchsvc.engine")
        if engine is not None:
            engine.close()
    cli_result = run(runner, "search", "--json", *args, index=news_index)
    assert cli_result.exit_code == 0, cli_result.output
    from_cli = json.loads(cli_result.stdout)
    assert from_cli.pop("took_ms") >= 0 and from_api.pop("took_ms") >= 0
    assert from_cli == from_api
    assert from_cli["hits"] and from_cli["years"]  # the page is not empty


# Issue 16: an index written by a newer searchsvc says "upgrade", and index leaves it alone.
def test_newer_version_index_says_upgrade_and_index_exits_1(runner, tiny_corpus, tmp_path):
    index_dir = tmp_path / "index"
    run(runner, "index", corpus=tiny_corpus, index=index_dir)
    meta_path = index_dir / storage.current_name(index_dir) / storage.META
    meta = json.loads(meta_path.read_text())
    fmt, analyzer = meta["version"].split(".")
    meta["version"] = f"{int(fmt) + 1}.{analyzer}"
    meta_path.write_text(json.dumps(meta))
    for args in (["search", "zèbre"], ["check"], ["index"], ["index", "--full"]):
        result = run(runner, *args, corpus=tiny_corpus, index=index_dir)
        assert result.exit_code == 1, args
        [line] = result.stderr.splitlines()
        assert line.startswith(f"Error: the index in {index_dir} was built by a newer version")
        assert "upgrade searchsvc" in line and "--full" not in line
    assert storage.current_name(index_dir) == "g000001"
    assert storage.list_generations(index_dir) == ["g000001"]


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
