"""Synonyms (searchsvc.query.synonyms): Solr's format, applied to queries with no reindex,
reloaded when the file changes, a bad line refused with the last good rules kept."""

from __future__ import annotations

import logging
import os

import pytest
from click.testing import CliRunner

from searchsvc.cli.commands import main
from searchsvc.engine.search import SearchEngine
from searchsvc.query import synonyms as sy
from searchsvc.testing import build_index
from searchsvc.web import create_app

CORPUS = {
    "velo.txt": "Le vélo en ville\n\nLe vélo est pratique pour aller au travail.\n",
    "bicyclette.txt": (
        "Souvenirs d’enfance\n\nLa vieille bicyclette rouge de mon grand-père dort au garage.\n"
    ),
    "grande-vitesse.txt": (
        "Voyager vite\n\nLe train à grande vitesse relie Paris à Lyon en deux heures.\n"
    ),
    "lent.txt": ("Le tortillard\n\nCe train lent traverse une grande plaine, à faible vitesse.\n"),
    "tgv.txt": "Horaires\n\nLe TGV de 8 h 10 part du quai 3.\n",
    "compte.txt": (
        "Accès au compte\n\nVous avez oublié votre mot de passe ? Demandez-en un nouveau.\n"
    ),
    "courriel.txt": "Messagerie\n\nEnvoyez-nous un courriel pour toute question.\n",
}


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    _corpus, index_dir = build_index(tmp_path_factory.mktemp("synonyms"), CORPUS)
    return index_dir


@pytest.fixture
def rules_file(tmp_path):
    """Return ``write(text)``, which (re)writes the synonyms file and returns its path."""
    path = tmp_path / "synonyms.txt"

    def write(text: str):
        path.write_text(text, encoding="utf-8")
        # A second write within the file system's time resolution must still be seen.
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + write.count * 1_000_000))
        write.count += 1
        return path

    write.count = 1
    return write


@pytest.fixture
def engine_with(index):
    """Return ``make(path)``: an engine over the test index whose synonyms file is looked at
    before every search; closed afterwards."""
    made = []

    def make(path) -> SearchEngine:
        engine = SearchEngine(index, did_you_mean=False, synonyms=sy.Synonyms(path, check_every=0))
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


def ids(result) -> list[str]:
    return [h.id for h in result.hits]


# -- the file format -------------------------------------------------------------------------


def test_parse_solr_format_comments_blank_lines_both_kinds():
    rules = sy.parse(
        "# transports\n\nvélo, bicyclette\n   \nTGV => train à grande vitesse\nmot de passe, mdp\n"
    )
    assert rules.count == 3
    words = [frozenset({"velo"})]
    length, found = rules.longest(words, 0, lambda end: True)
    assert (length, [s.text for s in found]) == (1, ["bicyclette"])
    # One way: the right side brings nothing back.
    train = [frozenset({"train"}), frozenset({"grande"}), frozenset({"vitesse"})]
    assert rules.longest(train, 0, lambda end: True) is None
    assert [s.text for s in rules.longest([frozenset({"tgv"})], 0, lambda e: True)[1]] == [
        "train à grande vitesse"
    ]


def test_rules_are_analysed_like_queries():
    """Case, accents, elisions and inflections do not matter; stop words neither."""
    rules = sy.parse("Vélo, bicyclette\nl’ordinateur, PC\nMot de Passe, MDP\n")
    assert rules.longest([sy.unit_keys("velo")], 0, lambda e: True)[1][0].text == "bicyclette"
    assert rules.longest([sy.unit_keys("ordinateur")], 0, lambda e: True)[1][0].text == "PC"
    mot_passe = [sy.unit_keys("mot"), sy.unit_keys("passe", ["pass"])]
    assert rules.longest(mot_passe, 0, lambda e: True)[1][0].text == "MDP"


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("vélo bicyclette", "two synonyms or more"),
        ("a => b => c", "more than one '=>'"),
        ("vélo, , bicyclette", "empty synonym"),
        ("vélo, bicyclette,", "empty synonym"),
        ("TGV =>", "nothing on the right"),
        ("=> TGV", "nothing on the left"),
        ("de, la", "no word to search"),
        ("vélo, bicyclette # transports", "a comment takes a whole line"),
    ],
)
def test_a_bad_line_is_one_error_naming_file_and_line(line, says):
    with pytest.raises(sy.SynonymsError) as caught:
        sy.parse(f"# ok\nvélo, biclou\n{line}\n", "conf/synonyms.txt")
    message = str(caught.value)
    assert message.startswith("conf/synonyms.txt:3: ")
    assert says in message
    assert "\n" not in message


def test_a_file_that_is_not_utf8_or_missing_is_one_error(tmp_path):
    path = tmp_path / "syn.txt"
    path.write_bytes("vélo, bicyclette\n".encode() + b"caf\xe9, bistrot\n")
    with pytest.raises(sy.SynonymsError, match=r"syn\.txt:2: not UTF-8"):
        sy.load(path)
    with pytest.raises(sy.SynonymsError, match="cannot read the synonyms file"):
        sy.load(tmp_path / "missing.txt")


def test_too_many_synonyms_for_one_word_is_refused():
    many = ", ".join(f"mot{i}" for i in range(30))
    with pytest.raises(sy.SynonymsError, match=r"^s:1: .*more than \d+ synonyms"):
        sy.parse(many, "s")


# -- searching with them -----------------------------------------------------------------------


def test_a_synonyms_file_changes_results_and_highlights_without_reindex(engine_with, rules_file):
    path = rules_file("# rien encore\n")
    engine = engine_with(path)
    before = engine.search("vélo")
    assert ids(before) == ["velo"] and before.also == []
    rules_file("vélo, bicyclette\n")  # the next search sees it, the cached page is not served
    after = engine.search("vélo")
    assert ids(after) == ["velo", "bicyclette"]
    assert after.also == ["bicyclette"]
    assert "<mark>bicyclette</mark>" in after.hits[1].snippet
    rules_file("# plus rien\n")
    assert ids(engine.search("vélo")) == ["velo"]


def test_exact_word_ranks_above_its_synonym(engine_with, rules_file):
    engine = engine_with(rules_file("vélo, bicyclette\n"))
    assert ids(engine.search("vélo")) == ["velo", "bicyclette"]
    assert ids(engine.search("bicyclette")) == ["bicyclette", "velo"]
    assert engine.search("bicyclette").also == ["vélo"]
    # In capitals, without accents: the rule still applies.
    assert ids(engine.search("VELO")) == ["velo", "bicyclette"]


def test_one_way_rule_applies_one_way(engine_with, rules_file):
    engine = engine_with(rules_file("TGV => train à grande vitesse\n"))
    tgv = engine.search("tgv")
    assert ids(tgv) == ["tgv", "grande-vitesse"]
    assert tgv.also == ["train à grande vitesse"]
    back = engine.search("train à grande vitesse")
    assert "tgv" not in ids(back) and back.also == []


def test_multi_word_synonym_is_matched_as_a_phrase(engine_with, rules_file):
    engine = engine_with(rules_file("TGV => train à grande vitesse\n"))
    found = engine.search("tgv")
    # "lent" has train, grande and vitesse, apart: not the phrase.
    assert "lent" not in ids(found)
    snippet = found.hits[1].snippet
    assert "<mark>train</mark>" in snippet and "<mark>vitesse</mark>" in snippet


def test_words_typed_that_name_a_multi_word_rule(engine_with, rules_file):
    engine = engine_with(rules_file("mot de passe, mdp\ncourriel, e-mail, mail\n"))
    found = engine.search("mdp oublié")
    assert ids(found) == ["compte"] and found.also == ["mot de passe"]
    assert engine.search("mot de passe").also == ["mdp"]
    # A compound as typed: "e-mail" is one word of the rule.
    mail = engine.search("e-mail")
    assert ids(mail) == ["courriel"] and mail.also == ["courriel", "mail"]


def test_negated_and_quoted_words_are_not_expanded(engine_with, rules_file):
    engine = engine_with(rules_file("vélo, bicyclette\n"))
    assert engine.search('"vélo"').also == []
    excluded = engine.search("garage -bicyclette")
    assert excluded.total == 0 and excluded.also == []


def test_a_bad_line_keeps_the_last_good_rules_and_says_where(engine_with, rules_file, caplog):
    engine = engine_with(rules_file("vélo, bicyclette\n"))
    assert ids(engine.search("vélo")) == ["velo", "bicyclette"]
    path = rules_file("vélo, bicyclette\n# ok\nvélo biclou\n")
    with caplog.at_level(logging.ERROR, logger="searchsvc.synonyms"):
        kept = engine.search("vélo")
    assert ids(kept) == ["velo", "bicyclette"] and kept.also == ["bicyclette"]
    assert engine.synonyms.error.startswith(f"{path}:3: ")
    logged = [r.getMessage() for r in caplog.records if r.name == "searchsvc.synonyms"]
    assert len(logged) == 1 and logged[0].startswith(f"{path}:3: ")
    assert logged[0].endswith("; keeping the 1 rule in force")
    # Searching again does not log it again; a fixed file is taken at once.
    with caplog.at_level(logging.ERROR, logger="searchsvc.synonyms"):
        engine.search("vélo")
    assert len([r for r in caplog.records if r.name == "searchsvc.synonyms"]) == 1
    rules_file("vélo, bicyclette, TGV\n")
    assert engine.search("vélo").also == ["bicyclette", "TGV"]
    assert engine.synonyms.error is None


def test_the_file_is_looked_at_once_a_second_at_most(index, rules_file):
    now = [100.0]
    path = rules_file("vélo, bicyclette\n")
    synonyms = sy.Synonyms(path, check_every=1.0, clock=lambda: now[0])
    first = synonyms.current()
    rules_file("vélo, biclou\n")
    now[0] += 0.5
    assert synonyms.current() is first  # not looked at yet
    now[0] += 0.6
    assert synonyms.current() is not first and synonyms.current().version > first.version


# -- the API, the page and the command line ----------------------------------------------------


def test_api_and_page_say_what_was_added(index, rules_file):
    path = rules_file("vélo, bicyclette\n")
    app = create_app({"INDEX_DIR": str(index), "SYNONYMS": str(path), "TESTING": True})
    try:
        client = app.test_client()
        data = client.get("/api/search?q=v%C3%A9lo").get_json()
        assert data["also"] == ["bicyclette"]
        assert [h["id"] for h in data["hits"]] == ["velo", "bicyclette"]
        page = client.get("/?q=v%C3%A9lo").get_data(as_text=True)
        assert "Recherche aussi&nbsp;: <strong>bicyclette</strong>" in page
        plain = client.get("/api/search?q=garage").get_json()
        assert plain["also"] == []
    finally:
        app.extensions["searchsvc.engine"].close()


@pytest.fixture
def runner(monkeypatch):
    for name in ("SEARCHSVC_INDEX", "SEARCHSVC_SYNONYMS", "CI"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_cli_search_honours_searchsvc_synonyms(runner, index, rules_file):
    path = rules_file("vélo, bicyclette\n")
    env = {"SEARCHSVC_INDEX": str(index), "SEARCHSVC_SYNONYMS": str(path)}
    result = runner.invoke(main, ["search", "vélo"], env=env)
    assert result.exit_code == 0, result.output
    assert "Recherche aussi : bicyclette" in result.output
    assert "[bicyclette]" in result.output
    as_json = runner.invoke(main, ["search", "--json", "vélo"], env=env)
    assert '"also": [\n    "bicyclette"\n  ]' in as_json.output
    without = runner.invoke(main, ["search", "vélo"], env={"SEARCHSVC_INDEX": str(index)})
    assert "Recherche aussi" not in without.output and "bicyclette" not in without.output


@pytest.mark.parametrize("command", ["search", "serve"])
def test_cli_bad_synonyms_file_is_one_line_exit_1(runner, index, rules_file, command):
    path = rules_file("vélo, bicyclette\nvélo biclou\n")
    env = {"SEARCHSVC_INDEX": str(index), "SEARCHSVC_SYNONYMS": str(path)}
    args = ["search", "vélo"] if command == "search" else ["serve", "--port", "1"]
    result = runner.invoke(main, args, env=env)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {path}:2: a rule needs two synonyms or more, separated by commas "
        "(got 'vélo biclou')"
    ]
    missing = {**env, "SEARCHSVC_SYNONYMS": str(path) + ".missing"}
    result = runner.invoke(main, args, env=missing)
    assert result.exit_code == 1 and "cannot read the synonyms file" in result.output


def test_a_synonym_the_words_typed_already_match_is_not_added(engine_with, rules_file):
    engine = engine_with(rules_file("vélo, vélos, bicyclette\n"))
    assert engine.search("vélo").also == ["bicyclette"]
