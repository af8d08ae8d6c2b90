"""The search page and document view as served without JavaScript (server-rendered)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from searchsvc import search
from searchsvc.query import MAX_QUERY_CHARS


class Page(HTMLParser):
    """Just enough of a page: its elements' attributes, and its text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.text_parts: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text_parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def find(self, tag: str, **attrs) -> list[dict]:
        return [
            a
            for t, a in self.elements
            if t == tag and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def links(self) -> list[str]:
        return [a["href"] for t, a in self.elements if t == "a" and "href" in a]


def get_page(client, url: str, status: int = 200) -> tuple[Page, str]:
    r = client.get(url)
    assert r.status_code == status, r.get_data(as_text=True)[:500]
    assert r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    return Page(html), html


@pytest.fixture
def paged(make_app, seed_index):
    """A client whose page shows two hits a page."""
    return make_app(INDEX_DIR=str(seed_index), PAGE_SIZE=2).test_client()


def test_home_page_has_a_labelled_autofocused_search_box(client):
    page, html = get_page(client, "/")
    assert re.search(r'<html lang="fr">', html)
    [box] = page.find("input", id="q")
    assert "autofocus" in box
    assert box["name"] == "q" and box["type"] == "search"
    assert page.find("label", for_="q")
    [form] = page.find("form", role="search")
    assert form["method"] == "get" and form["action"] == "/"
    assert page.find("meta", name="viewport")
    assert "Comment chercher" in page.text


def test_no_inline_script_or_style_and_no_external_resource(client):
    for url in ["/", "/?q=delanoe", "/doc/002_3db12bd2542f91a5?q=delanoe", "/nope"]:
        page, html = get_page(client, url, status=404 if url == "/nope" else 200)
        for attrs in page.find("script"):
            assert attrs.get("src", "").startswith("/static/")
        assert "<style" not in html and " style=" not in html
        assert not re.search(r" on[a-z]+=", html)
        for tag, attrs in page.elements:
            for name in ("src", "href"):
                value = attrs.get(name, "")
                if tag != "a":
                    assert not value.startswith(("http:", "https:", "//")), (tag, attrs)


def test_static_files_are_served(client):
    for name, mimetype in [
        ("search.js", "text/javascript"),
        ("style.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ]:
        with client.get(f"/static/{name}") as r:
            assert r.status_code == 200
            assert r.mimetype == mimetype


def test_results_are_rendered_on_the_server_with_highlights(client):
    page, html = get_page(client, "/?q=delanoe")
    assert re.search(r"2 résultats \(\d+,\d ms\)", page.text)
    api = client.get("/api/search?q=delanoe").get_json()
    doc_links = [link for link in page.links() if link.startswith("/doc/")]
    assert doc_links == [f"/doc/{hit['id']}?q=delanoe" for hit in api["hits"]]
    assert html.count("<mark>Delanoë</mark>") >= 2
    [box] = page.find("input", id="q")
    assert box["value"] == "delanoe"
    assert page.find("ol", class_="hits", start="1")
    assert "<title>delanoe – Recherche · searchsvc</title>" in html


def test_suggestion_is_a_link_and_the_empty_state_helps(client):
    page, _ = get_page(client, "/?q=twiter")
    assert "Vouliez-vous dire : twitter ?" in page.text
    assert "/?q=twitter" in page.links()
    assert "Aucun document ne contient « twiter » : résultats pour des mots proches." in page.text
    page, _ = get_page(client, "/?q=zzyzxqwv")
    assert "Aucun résultat" in page.text
    assert "Aucun article ne correspond à « zzyzxqwv »" in page.text
    assert "Vérifiez l'orthographe" in page.text


def test_stop_words_only(client):
    page, _ = get_page(client, "/?q=le+la")
    assert "mots très courants" in page.text


def test_one_result_is_singular(client):
    page, _ = get_page(client, "/?q=titre:entreprises")
    assert re.search(r"\b1 résultat \(", page.text)


def test_pagination_links(paged):
    page1, _ = get_page(paged, "/?q=twitter")
    assert "5 résultats" in page1.text
    assert page1.find("a", rel="next", href="/?q=twitter&page=2")
    assert not page1.find("a", rel="prev")
    assert page1.find("a", href="/?q=twitter", **{"aria-current": "page"})
    assert page1.find("a", href="/?q=twitter&page=3")

    page2, _ = get_page(paged, "/?q=twitter&page=2")
    assert page2.find("ol", class_="hits", start="3")
    assert page2.find("a", rel="prev", href="/?q=twitter")
    assert page2.find("a", rel="next", href="/?q=twitter&page=3")
    assert all("page=2" in link for link in page2.links() if link.startswith("/doc/"))

    page3, _ = get_page(paged, "/?q=twitter&page=3")
    assert not page3.find("a", rel="next")
    assert len(page3.find("li", class_="hit")) == 1

    ids = [
        link.split("?")[0]
        for p in (page1, page2, page3)
        for link in p.links()
        if link.startswith("/doc/")
    ]
    assert len(ids) == len(set(ids)) == 5


def test_a_page_past_the_end_offers_the_first(paged):
    page, _ = get_page(paged, "/?q=twitter&page=9")
    assert "Cette page est vide" in page.text
    assert "/?q=twitter" in page.links()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/?q=twitter&page=abc", "Le numéro de page doit être un nombre entier"),
        ("/?q=twitter&page=0", "Le numéro de page doit être un nombre entier"),
        ("/?q=twitter&page=5000", "premiers résultats peuvent être parcourus"),
        ("/?q=" + "a" * (MAX_QUERY_CHARS + 1), "La recherche est trop longue"),
        ("/?q=" + "+".join(f"m{i}" for i in range(60)), "trop de termes"),
    ],
)
def test_bad_input_gets_a_french_message_and_400(client, url, message):
    page, _ = get_page(client, url, status=400)
    assert message in page.text
    assert page.find("input", id="q")


def test_a_query_too_costly_gets_a_french_message_and_400(client, monkeypatch):
    monkeypatch.setattr(search, "MAX_PREFIX_TERMS", 1)
    page, _ = get_page(client, "/?q=pr*", status=400)
    assert "Cette recherche demanderait trop de calcul" in page.text
    assert page.find("input", id="q")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("sort=alpha", "Tri inconnu"),
        ("date_from=hier", "Date invalide"),
        ("date_to=2012-13-99x", "Date invalide"),
    ],
)
def test_bad_filters_get_their_own_french_message(client, params, message):
    page, _ = get_page(client, f"/?q=twitter&{params}", status=400)
    assert message in page.text
    assert "trop de termes" not in page.text


def test_user_input_is_escaped(client):
    attack = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    r = client.get("/", query_string={"q": attack})
    html = r.get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    r = client.get("/doc/002_3db12bd2542f91a5", query_string={"q": attack})
    html = r.get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html


def test_document_view_shows_the_full_text_with_the_query_marked(client):
    page, html = get_page(client, "/doc/002_3db12bd2542f91a5?q=delanoe")
    doc = client.get("/api/documents/002_3db12bd2542f91a5").get_json()
    assert "<h1" in html and "<mark>Delanoë</mark> courtise Twitter" in html
    body_marks = html.split('class="doc-body"')[1].count("<mark>Delanoë</mark>")
    assert body_marks == doc["body"].count("Delanoë") > 2
    assert doc["body"][-40:].strip().split()[-1] in page.text  # the whole text, to the end
    assert page.find("a", href="/?q=delanoe")
    assert "Retour aux résultats" in page.text
    assert re.search(r"\d+ passages surlignés pour « delanoe »", page.text)


def test_document_view_links_back_to_the_page_it_came_from(client):
    page, _ = get_page(client, "/doc/002_3db12bd2542f91a5?q=twitter&page=2")
    assert page.find("a", href="/?q=twitter&page=2")


def test_document_view_without_a_query(client):
    page, html = get_page(client, "/doc/001_6500ce3304fb4ba1")
    assert "<mark>" not in html
    assert "Nouvelle recherche" in page.text


def test_unknown_document_is_a_french_404_page(client):
    page, _ = get_page(client, "/doc/nope", status=404)
    assert "Page introuvable" in page.text
    assert "Aucun document ne porte cet identifiant" in page.text


def test_html_errors_are_french_pages(client):
    page, _ = get_page(client, "/nope", status=404)
    assert "Page introuvable" in page.text
    r = client.post("/")
    assert r.status_code == 405 and r.mimetype == "text/html"
    assert "Méthode non autorisée" in r.get_data(as_text=True)
    r = client.get("/?q=" + "a" * 9000)
    assert r.status_code == 414 and "Adresse trop longue" in r.get_data(as_text=True)


def test_pages_without_an_index(make_app, tmp_path):
    client = make_app(INDEX_DIR=str(tmp_path / "none")).test_client()
    get_page(client, "/")  # the box is there even before the first index
    page, _ = get_page(client, "/?q=delanoe", status=503)
    assert "Service indisponible" in page.text
    assert "index" in page.text


def test_document_page_lists_similar_articles(client):
    page, _ = get_page(client, "/doc/001_6500ce3304fb4ba1")
    assert "Articles proches" in page.text
    assert "/doc/002_3db12bd2542f91a5" in page.links()


def test_results_page_offers_sort_links_that_keep_the_query(client):
    page, _ = get_page(client, "/?q=twitter")
    assert "Trier par : pertinence · date" in page.text
    assert "/?q=twitter&sort=date" in page.links()
    page, _ = get_page(client, "/?q=twitter&sort=date")
    assert "/?q=twitter" in page.links()  # back to relevance
    assert any(link.startswith("/doc/") for link in page.links())
