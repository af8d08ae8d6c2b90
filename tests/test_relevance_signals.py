"""The relevance work of issue 14: the lemma lexicon, title coverage, phrases scored by how
often they occur, and every form that matched highlighted (API, page, CLI)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from searchsvc import settings
from searchsvc.cli import main
from searchsvc.engine import titles
from searchsvc.engine.search import SearchEngine
from searchsvc.query.language import parse
from searchsvc.query.plan import Highlights
from searchsvc.testing import build_index
from searchsvc.text.analysis import STEM_MARK, index_terms, lemma, word_terms
from searchsvc.web import create_app

# -- the lexicon: forms Snowball keeps apart meet on a shared stem term ------------------------


@pytest.mark.parametrize(
    ("one", "other", "shared"),
    [
        ("semblent", "semblé", "sembl"),  # sembler
        ("rendez", "rendent", "rendr"),  # rendre
        ("comportent", "comporter", "comport"),
        ("vérifiez", "vérifiée", "vérifi"),  # vérifier
        ("jeux", "jeu", "jeu"),
        ("chevaux", "cheval", "cheval"),
        ("peuvent", "pouvez", "pouvoir"),
        ("contient", "contenir", "conten"),
    ],
)
def test_lexicon_forms_share_a_stem_term(one, other, shared):
    assert shared in word_terms(one).stems
    assert shared in word_terms(other).stems
    # and the index holds it for both forms
    assert STEM_MARK + shared in index_terms(one)
    assert STEM_MARK + shared in index_terms(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("entre", "entrer"),  # a preposition is not the verb
        ("sous", "sou"),
    ],
)
def test_lexicon_keeps_apart_what_it_should(one, other):
    assert not set(word_terms(one).stems) & set(word_terms(other).stems)


def test_lemma_lookup():
    assert lemma("semblent") == "sembler"
    assert lemma("chevaux") == "cheval"
    assert lemma("zzyzx") is None


def test_a_word_its_own_lemma_or_stemmed_alike_gets_no_lemma_term():
    assert word_terms("fichiers").lemmas == ()  # fichier: its own stem already
    assert word_terms("comporter").lemmas == ()
    assert index_terms("fichiers") == ["fichiers", "~fichi"]


def test_stop_words_and_numbers_get_no_lemma():
    assert word_terms("sont").lemmas == ()
    assert word_terms("G7").stems == ()


# -- an index that exercises the signals ---------------------------------------------------------

CORPUS = {
    # lemma: "semblent" (sembler) only here; the other document has the very form "semblé"
    "lemme-a.txt": (
        "Réglages de l'écran\n\nLes couleurs semblent délavées sur cet écran de portable.\n"
    ),
    "lemme-b.txt": ("Couleurs\n\nLa couleur a semblé délavée après la mise à jour du pilote.\n"),
    # title coverage: the exact short title, and longer titles that repeat the words
    "writer-court.txt": (
        "Raccourcis clavier dans LibreOffice Writer\n\n"
        "Les touches les plus utiles du traitement de texte.\n"
    ),
    "writer-long.txt": (
        "Raccourcis clavier dans LibreOffice Writer — Raccourcis clavier de LibreOffice Calc\n\n"
        "Les raccourcis clavier communs à LibreOffice Writer et à LibreOffice Calc.\n"
    ),
    "writer-acces.txt": (
        "Utilisation des raccourcis clavier (accessibilité dans LibreOffice Writer)\n\n"
        "Raccourcis clavier pour LibreOffice Writer, raccourcis clavier pour l'accessibilité.\n"
    ),
    # a title typed with its stop words: "style de" starts the second title, is not the first
    "style-seul.txt": ("Style\n\nLe style. Un style, des styles, style sur style.\n"),
    "style-caracteres.txt": (
        "Style de caractères — Gestion\n\nGérer les styles appliqués aux caractères.\n"
    ),
    "programmation-chapitre.txt": (
        "Chapitre 12. Programmation\n\nProgrammation, programmation et programmation : "
        "la programmation au quotidien.\n"
    ),
    "programmation-lycee.txt": (
        "Algorithmique et programmation au lycée — Annexe C\n\nLes biais des langages.\n"
    ),
    # phrases: twice the phrase, against the phrase once and its words everywhere
    "phrase-deux.txt": (
        "Notes\n\nLe mode opératoire est simple. Relisez le mode opératoire avant de commencer.\n"
    ),
    "phrase-une.txt": (
        "Notes diverses\n\nLe mode opératoire. Mode sombre, mode clair, mode nuit, mode jour, "
        "mode avion, mode texte, mode graphique, mode expert, mode opératoire.\n"
    ),
}


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    _corpus, target = build_index(tmp_path_factory.mktemp("signals"), CORPUS)
    return target


@pytest.fixture(scope="module")
def engine(index_dir):
    eng = SearchEngine(index_dir)
    yield eng
    eng.close()


def ids(result) -> list[str]:
    return [h.id for h in result.hits]


# -- lemma matches: found, ranked below exact forms, highlighted everywhere ------------------------


def test_lemma_finds_a_form_snowball_keeps_apart(engine):
    result = engine.search("semblé délavées")
    assert set(ids(result)) == {"lemme-a", "lemme-b"}


def test_exact_forms_rank_above_lemma_matches(engine):
    assert ids(engine.search("semblé"))[0] == "lemme-b"
    assert ids(engine.search("semblent"))[0] == "lemme-a"


def test_lemma_match_highlighted_in_the_api_snippet(engine):
    hits = {h.id: h for h in engine.search("semblé").hits}
    assert "<mark>semblent</mark>" in hits["lemme-a"].snippet
    assert "<mark>semblé</mark>" in hits["lemme-b"].snippet


def test_highlights_match_a_token_through_any_of_its_stems():
    marks = Highlights(exact={"semble"}, stems={"sembl"})
    assert marks.matches("semblent", word_terms("semblent").stems)
    assert marks.matches("semblent", ("semblent", "sembl"))
    assert not marks.matches("semblent", ("semblent",))
    assert marks.matches("semble", "")  # its exact form; a single stem may be a string


def test_lemma_match_highlighted_on_the_document_page(index_dir):
    app = create_app({"INDEX_DIR": str(index_dir), "TESTING": True})
    try:
        page = app.test_client().get("/doc/lemme-a?q=semblé").get_data(as_text=True)
        assert ">semblent</mark>" in page  # <mark id="passage-1">
        api = app.test_client().get("/api/search?q=semblé").get_json()
        snippets = {h["id"]: h["snippet"] for h in api["hits"]}
        assert "<mark>semblent</mark>" in snippets["lemme-a"]
    finally:
        engine = app.extensions.get("searchsvc.engine")
        if engine is not None:
            engine.close()


def test_lemma_match_highlighted_in_the_cli(index_dir, monkeypatch):
    for name in ("SEARCHSVC_INDEX", "SEARCHSVC_CORPUS", "CI"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(
        main, ["search", "--index", str(index_dir), "semblé"], catch_exceptions=False
    )
    assert result.exit_code == 0
    assert "[semblent]" in result.stdout
    as_json = CliRunner().invoke(
        main, ["search", "--json", "--index", str(index_dir), "semblé"], catch_exceptions=False
    )
    snippets = {h["id"]: h["snippet"] for h in json.loads(as_json.stdout)["hits"]}
    assert "<mark>semblent</mark>" in snippets["lemme-a"]


# -- titles ---------------------------------------------------------------------------------------


def test_a_query_that_is_a_whole_title_ranks_that_document_first(engine):
    result = engine.search("raccourcis clavier dans libreoffice writer")
    assert ids(result)[0] == "writer-court"
    assert set(ids(result)) == {"writer-court", "writer-long", "writer-acces"}


WRITER_WORDS = tuple(
    (w, (word_terms(w).stem,)) for w in ("raccourcis", "clavier", "libreoffice", "writer")
)


def test_title_bonus_grows_with_coverage_and_the_words_side_by_side():
    marks = Highlights(exact={w for w, _stems in WRITER_WORDS})
    signals = titles.Signals(marks, WRITER_WORDS)
    whole = titles.bonus("Raccourcis clavier dans LibreOffice Writer", signals)
    repeated = titles.bonus(
        "Raccourcis clavier dans LibreOffice Writer — Raccourcis clavier de LibreOffice Writer",
        signals,
    )
    short = titles.bonus("Raccourcis clavier de LibreOffice Writer Calc", signals)
    apart = titles.bonus(
        "Utilisation des raccourcis clavier (accessibilité dans LibreOffice Writer)", signals
    )
    little = titles.bonus("Utilisation avancée des raccourcis du tableur et des modèles", signals)
    assert whole == settings.WHOLE_TITLE + settings.TITLE_PHRASE
    # each of its 4 distinct words twice: covered by half, under 60 %; the phrase's points only
    assert repeated == settings.TITLE_PHRASE
    # 4 of its 5 words, side by side: (4/5)² of the coverage points, and the phrase's
    assert short == pytest.approx(settings.COVERAGE * 0.64 + settings.TITLE_PHRASE)
    assert apart == pytest.approx(settings.COVERAGE * (4 / 6) ** 2)  # apart: no phrase points
    assert little == 0  # under 60 % of its words
    assert titles.bonus("Raccourcis clavier", titles.Signals(marks, ())) == 0


def test_a_title_covered_by_part_of_the_query_counts_for_that_part():
    words = (("curseur", ("curseur",)), ("inserer", ("insér",)))
    signals = titles.Signals(Highlights(exact={"curseur", "inserer"}), words)
    assert titles.bonus("Insérer", signals) == pytest.approx(settings.COVERAGE / 2)
    assert titles.bonus("Insérer le curseur", signals) == (
        settings.WHOLE_TITLE + settings.TITLE_PHRASE
    )


def test_a_title_holding_the_query_as_typed_stop_words_included_ranks_first(engine):
    # "Style" has every plain word of ``style de``, but not its wording; the other has both
    assert ids(engine.search("style de"))[0] == "style-caracteres"
    # the body says "programmation" five times; the title holds "programmation au"
    assert ids(engine.search("programmation au"))[0] == "programmation-lycee"


def test_query_wording_follows_plain_queries_only():
    def wording(text):
        return titles.query_wording(parse(text), text)

    assert wording("Style de") == ("style", "de")
    assert wording("l'arbre de Noël") == ("l'arbre", "de", "noel")
    assert wording("mot-clé du jour") == ("mot", "cle", "du", "jour")
    assert wording('"mot de passe" oublié') == ("mot", "de", "passe", "oublie")
    assert wording("debuild(1) debuild") == ("debuild", "1", "debuild")  # a repeat is wording too
    for other in ("style OR mode", "style -mode", "sty* de", "source:gimp style", "title:style"):
        assert wording(other) == ()


def test_typed_stop_words_decide_the_whole_title_and_the_wording_bonus():
    words = (("style", (word_terms("style").stem,)),)
    signals = titles.Signals(Highlights(exact={"style", "de"}), words, ("style", "de"))
    # every plain word, half of the wording: half the coverage points, not the whole title's
    assert titles.bonus("Style", signals) == settings.COVERAGE / 2
    # the wording, word for word, in a title it is a third of
    assert titles.bonus("Style de caractères — Gestion", signals) == pytest.approx(
        settings.TITLE_PHRASE + settings.TYPED_COVERAGE / 3
    )
    # the words, not side by side: nothing (one word of three)
    assert titles.bonus("Caractères de style", signals) == 0
    # the whole title, wording included
    whole = titles.Signals(signals.highlights, words, ("style", "des"))
    assert titles.bonus("Style des", whole) == (
        settings.WHOLE_TITLE + settings.TITLE_PHRASE + settings.TYPED_COVERAGE
    )


def test_the_wording_in_order_gets_its_points_stop_words_or_not():
    typed = ("raccourcis", "clavier")
    words = tuple((w, (word_terms(w).stem,)) for w in typed)
    signals = titles.Signals(Highlights(exact=set(typed)), words, typed)
    whole = settings.WHOLE_TITLE + settings.TITLE_PHRASE
    assert titles.bonus("Raccourcis clavier", signals) == whole + settings.TYPED_COVERAGE
    # side by side but not in the order typed: the phrase's points, not the wording's
    assert titles.bonus("Clavier, raccourcis", signals) == whole
    third = 2 / 3  # "Raccourcis clavier de Calc": two of its three words
    assert titles.bonus("Raccourcis clavier de Calc", signals) == pytest.approx(
        settings.COVERAGE * third * third + settings.TITLE_PHRASE + settings.TYPED_COVERAGE * third
    )


_TITLE_BITS = st.sampled_from(
    [
        "l’Élysée",
        "d'abandonnées",
        "micro-blogging",
        "a-t-il",
        "aujourd'hui",
        "#AÝ",
        "3,5",
        "G7",
        "de",
        "la",
        "au",
        "Style",
        "caractères",
        "—",
        "(2)",
    ]
)


@given(
    st.lists(st.one_of(_TITLE_BITS, st.text(alphabet="abcéèàçA-'’ .:()", max_size=10)), max_size=12)
)
@hyp_settings(max_examples=200, deadline=None, derandomize=True)
def test_a_title_typed_as_a_query_holds_its_own_wording(bits):
    # the query side (analyze_query) and the title side (iter_terms) agree on every word
    title = " ".join(bits)
    wording = titles.query_wording(parse(title), title)
    if wording:
        assert titles.analysed(title).holds(wording), (title, wording)


def test_title_words_leave_stop_words_out_and_keep_compounds_whole():
    words = titles.title_words("Le micro-blogging dans la presse")
    assert [[t.exact for t in position] for position in words] == [
        ["microblogging", "micro"],
        ["blogging"],
        ["presse"],
    ]


def test_title_signals_do_not_change_the_total_or_the_date_sort(engine):
    relevance = engine.search("raccourcis clavier")
    by_date = engine.search("raccourcis clavier", sort="date")
    assert relevance.total == by_date.total == 3


def test_paging_after_the_title_signals_is_consistent(engine):
    whole = ids(engine.search("raccourcis clavier", per_page=3))
    pages = [ids(engine.search("raccourcis clavier", page=p, per_page=1)) for p in (1, 2, 3)]
    assert [p[0] for p in pages] == whole


# -- phrases: scored by how often they occur --------------------------------------------------


def test_phrase_found_twice_ranks_above_its_words_found_often(engine):
    assert ids(engine.search('"mode opératoire"')) == ["phrase-deux", "phrase-une"]
