"""Partial matches (issue 30) as the API, the search page and the instant page show them:
every-word documents first and counted, then the others, each marked; filler words named."""

from __future__ import annotations

import pytest

from searchsvc.ingest.indexer import reindex
from searchsvc.testing import write_files

from .partial_corpus import DOCS, QUESTION
from .test_pages import get_page


@pytest.fixture(scope="module")
def partial_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("partial-web")
    reindex(write_files(root / "corpus", DOCS), root / "index", full=True)
    return root / "index"


@pytest.fixture
def client(make_app, partial_index):
    return make_app(INDEX_DIR=str(partial_index)).test_client()


def test_the_api_counts_every_word_documents_and_names_the_filler(client):
    data = client.get("/api/search", query_string={"q": QUESTION}).get_json()
    assert (data["total"], data["every_word"], data["relaxed"]) == (4, 1, False)
    assert data["filler"] == ["comment", "sous"]
    titles = [h["title"] for h in data["hits"]]
    assert titles[:2] == ["Chemin absolu d'un fichier sous Linux", "Le chemin absolu"]
    # Filler is never marked: « comment » and « sous » are not what is looked for.
    assert "<mark>sous</mark>" not in data["hits"][0]["title_html"]
    assert "<mark>Linux</mark>" in data["hits"][0]["title_html"]
    quoted = client.get("/api/search", query_string={"q": '"chemin absolu"'}).get_json()
    assert quoted["every_word"] == quoted["total"] == 2


def test_the_page_says_which_results_hold_every_word(client):
    page, html = get_page(client, "/?" + "q=" + QUESTION.replace(" ", "+"))
    assert "4 résultats" in page.text
    assert (
        "1 document contient tous les mots ; les suivants n’en contiennent qu’une partie."
        in page.text
    )
    assert "Mots non exigés : « comment », « sous »." in page.text
    assert html.count('class="hit partial"') == 3 and html.count('class="hit"') == 1
    assert html.count("Une partie des mots seulement") == 3


def test_no_document_with_every_word_says_so_once(client):
    page, _html = get_page(client, "/?q=chemin+racine+linux")
    assert "Aucun document ne contient tous les mots" in page.text
    assert "contient tous les mots ;" not in page.text  # not both notices


def test_the_instant_page_keeps_results_while_a_question_is_typed(client):
    typed = ""
    for word in QUESTION.split():
        typed = f"{typed} {word}".strip()
        r = client.get("/instant", query_string={"q": typed, "typing": "1"})
        assert r.status_code == 200
        if word not in ("le", "d'un"):
            assert 'class="hit' in r.get_json()["html"], typed
