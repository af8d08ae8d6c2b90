"""The search page and document view as served without JavaScript (server-rendered)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest

from searchsvc import settings
from searchsvc.settings import MAX_QUERY_CHARS


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
    assert "2 résultats" in page.text  # all on this page: "Résultats 1–10 sur 269" otherwise
    assert " ms" not in page.text  # no developer noise
    api = client.get("/api/search?q=delanoe").get_json()
    doc_links = [link for link in page.links() if link.startswith("/doc/")]
    assert doc_links == [f"/doc/{hit['id']}?q=delanoe" for hit in api["hits"]]
    assert html.count("<mark>Delanoë</mark>") >= 2
    # Titles are highlighted too.
    assert re.search(r'<h2 class="hit-title"><a [^>]+>[^<]*<mark>Delanoë</mark>', html)
    [box] = page.find("input", id="q")
    assert box["value"] == "delanoe"
    assert page.find("ol", class_="hits", start="1")
    assert "<title>delanoe – Recherche · searchsvc</title>" in html


def test_suggestion_is_a_link_and_the_empty_state_helps(client):
    page, html = get_page(client, "/?q=twiter")
    assert "Vouliez-vous dire : twitter ?" in page.text
    # French typography: a no-break space before ":" and inside « », a narrow one before "?".
    assert re.search(r"Vouliez-vous dire&nbsp;: <a [^>]+>twitter</a>&#8239;\?", html)
    assert "/?q=twitter" in page.links()
    assert "Aucun document ne contient « twiter » : résultats pour des mots proches." in page.text
    assert "«&nbsp;twiter&nbsp;»&nbsp;: résultats" in html
    page, html = get_page(client, "/?q=zzyzxqwv")
    assert "Aucun résultat" in page.text
    assert "Aucun article ne correspond à « zzyzxqwv »" in page.text
    assert "«&nbsp;<strong>zzyzxqwv</strong>&nbsp;»" in html
    assert "Vérifiez l’orthographe" in page.text


def test_stop_words_only(client):
    page, _ = get_page(client, "/?q=le+la")
    assert "mots très courants" in page.text


def test_one_result_is_singular(client):
    page, _ = get_page(client, "/?q=titre:entreprises")
    assert re.search(r"\b1 résultat\b", page.text) and "Résultats" not in page.text


def test_pagination_links(paged):
    page1, _ = get_page(paged, "/?q=twitter")
    assert "Résultats 1–2 sur 5" in page1.text
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
    assert "Résultats 5–5 sur 5" in page3.text
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
        ("/?q=twitter&page=10001", "premiers résultats peuvent être parcourus"),
        ("/?q=" + "a" * (MAX_QUERY_CHARS + 1), "La recherche est trop longue"),
        ("/?q=" + "+".join(f"m{i}" for i in range(60)), "trop de termes"),
    ],
)
def test_bad_input_gets_a_french_message_and_400(client, url, message):
    page, _ = get_page(client, url, status=400)
    assert message in page.text
    assert page.find("input", id="q")


def test_a_query_too_costly_gets_a_french_message_and_400(client, monkeypatch):
    monkeypatch.setattr(settings, "MAX_PREFIX_TERMS", 1)
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
    body = html.split('class="doc-body"')[1]
    body_marks = re.findall(r'<mark id="passage-(\d+)">Delanoë</mark>', body)
    assert len(body_marks) == doc["body"].count("Delanoë") > 2
    assert body_marks == [str(n) for n in range(1, len(body_marks) + 1)]
    assert doc["body"][-40:].strip().split()[-1] in page.text  # the whole text, to the end
    assert page.find("a", href="/?q=delanoe")
    assert "Retour aux résultats" in page.text
    assert re.search(r"\d+ passages surlignés pour « delanoe »", page.text)
    # A way to the first passage, and a search box to search again from here.
    assert page.find("a", href="#passage-1")
    assert "Aller au premier passage" in page.text
    [box] = page.find("input", id="q")
    assert box["value"] == "delanoe" and page.find("form", role="search")


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


def test_no_date_sort_nor_filters_when_no_document_has_them(client):
    page, html = get_page(client, "/?q=twitter")  # the seed corpus: no dates, no sources
    assert "Trier par" not in page.text and "sort=date" not in html
    assert "Affiner" not in page.text and "Année" not in page.text
    # An address asking for the date sort still gets a way back to relevance.
    page, _ = get_page(client, "/?q=twitter&sort=date")
    assert "/?q=twitter" in page.links()
    assert any(link.startswith("/doc/") for link in page.links())


# -- headings, filters in a side column, the instant endpoint ----------------------------------


@pytest.fixture(scope="module")
def facet_index(tmp_path_factory):
    from .facet_corpus import build_index

    return build_index(tmp_path_factory.mktemp("facets"))


@pytest.fixture
def facets(make_app, facet_index):
    """A client over the corpus with sources and dates (tests/web/facet_corpus.py)."""
    return make_app(INDEX_DIR=str(facet_index), PAGE_SIZE=3).test_client()


@pytest.mark.parametrize("url", ["/", "/?q=delanoe", "/?q=zzyzxqwv", "/?q=twiter"])
def test_every_search_page_has_one_h1(client, url):
    page, _ = get_page(client, url)
    assert len(page.find("h1")) == 1
    assert page.find("label", for_="q")


def test_source_facet_short_labels_full_value_in_tooltip_five_then_more(facets):
    page, html = get_page(facets, "/?q=réseau")
    assert "Résultats 1–3 sur 9" in page.text
    assert page.find("aside", class_="refine")
    assert "Affiner" in page.text
    section = html.split('id="refine-source"')[1].split("</section>")[0]
    shown, more = section.split('class="facet-more"')
    labels = re.findall(r'title="([^"]+)"><span class="facet-label">([^<]+)</span>', section)
    assert len(re.findall(r'class="facet-label"', shown)) == 5  # five, then "plus…"
    assert "plus…" in more
    assert dict(labels) == {
        "debian-handbook/usr/share/doc/fr/reseau.html": "reseau.html",  # told apart
        "debian-handbook/usr/share/doc/fr/reseau.pdf": "reseau.pdf",
        "Journal du réseau": "Journal du réseau",
        "gimp-help-fr/usr/share/gimp/help/fr/filters.html": "filters",
        "https://www.example.org/articles/reseaux": "example.org",
        "lyx-common/usr/share/lyx/doc/fr/UserGuide.lyx": "UserGuide",
        "manpages-fr:man8/ip": "ip",
    }
    # Counts, most first; a screen reader hears "3 résultats".
    assert re.search(r"reseau\.html</span><span class=\"facet-count\">.*?3<span", shown)
    assert '<span class="visually-hidden"> résultats</span>' in shown
    link = "/?q=r%C3%A9seau&source=debian-handbook/usr/share/doc/fr/reseau.html"
    assert link in page.links()


def test_a_chosen_source_is_shown_and_can_be_removed(facets):
    source = "debian-handbook/usr/share/doc/fr/reseau.html"
    page, html = get_page(facets, "/?" + urlencode({"q": "réseau", "source": source}))
    assert "3 résultats" in page.text
    assert "1 filtre actif" in page.text
    assert '<li class="facet-chosen"><span class="facet-label" title="' + source in html
    assert "/?q=r%C3%A9seau" in page.links()  # "Toutes les sources"
    # Links keep the filter: pages, sort, documents, and the search box (hidden field).
    assert all(
        "source=" in link for link in page.links() if link.startswith(("/doc/", "/?q=r%C3%A9seau&"))
    )
    [hidden] = page.find("input", type="hidden", name="source")
    assert hidden["value"] == source


def test_date_sort_and_year_facet_when_documents_have_dates(facets):
    page, html = get_page(facets, "/?q=réseau")
    assert "Trier par : pertinence · date" in page.text
    assert "/?q=r%C3%A9seau&sort=date" in page.links()
    years = html.split('id="refine-year"')[1].split("</section>")[0]
    assert re.findall(r'class="facet-label">(\d{4})<', years) == [
        "2014",
        "2013",
        "2012",
        "2011",
        "2010",
        "2009",
        "2008",
    ]
    assert years.index("2010") < years.index("plus…") < years.index("2009")  # five, "plus…"
    assert "/?q=r%C3%A9seau&date_from=2014&date_to=2014" in page.links()

    page, _ = get_page(facets, "/?q=réseau&date_from=2014&date_to=2014")
    assert "2 résultats" in page.text
    assert "Toutes les années" in page.text
    page, _ = get_page(facets, "/?q=réseau&sort=date")
    ids = [link.split("?")[0] for link in page.links() if link.startswith("/doc/")]
    assert ids == ["/doc/net-8", "/doc/net-7", "/doc/net-6"]  # newest first


def test_instant_answers_the_results_area_and_completions_in_one_request(facets):
    r = facets.get("/instant", query_string={"q": "mot de pa", "typing": "1", "complete": "1"})
    assert r.status_code == 200 and r.mimetype == "application/json"
    data = r.get_json()
    assert data["completions"][0] == "mot de passe"
    assert data["url"] == "/?q=mot+de+pa"
    assert data["title"] == "mot de pa – Recherche · searchsvc"
    assert "Résultats 1–3 sur" in data["html"] and "<mark>" in data["html"]
    # Without typing=1 the area is exactly what the page shows (filters and sort included).
    query = {"q": "réseau", "source": "manpages-fr:man8/ip", "sort": "date"}
    data = facets.get("/instant", query_string=query).get_json()
    page = facets.get("/", query_string=query).get_data(as_text=True)
    assert data["html"].strip() in page
    assert data["completions"] == []


def test_instant_treats_the_last_word_as_a_prefix_without_corrections(facets):
    typed = facets.get("/instant", query_string={"q": "configuration rés", "typing": "1"})
    html = typed.get_json()["html"]
    assert "Vouliez-vous dire" not in html and "mots proches" not in html
    assert "<mark>réseau</mark>" in html
    # Finished (Enter): the same words are searched as typed, with the fallbacks.
    done = facets.get("/instant", query_string={"q": "configuration rés"}).get_json()["html"]
    assert "<mark>réseau</mark>" not in done


def test_instant_errors_carry_the_servers_french_message(facets, make_app, tmp_path):
    r = facets.get("/instant", query_string={"q": " ".join(f"m{i}" for i in range(60))})
    assert r.status_code == 400
    assert "trop de termes" in r.get_json()["html"]
    client = make_app(INDEX_DIR=str(tmp_path / "none")).test_client()
    r = client.get("/instant", query_string={"q": "réseau", "typing": "1", "complete": "1"})
    assert r.status_code == 503 and "Retry-After" not in r.headers
    data = r.get_json()
    assert "pas prêt" in data["html"] and data["completions"] == []


# Issue 16: an unclosed quote is read as plain words, and the page says so.
def test_page_shows_what_was_understood_when_it_differs(client):
    page, html = get_page(client, "/?q=%22twitter+paris")
    assert "5 résultats" in page.text
    assert "3 documents contiennent tous les mots ; les suivants" in page.text
    assert "Recherche de : twitter paris" in page.text
    shown = '<p class="notice understood">Recherche de&nbsp;: <strong>twitter paris</strong></p>'
    assert shown in html
    [box] = page.find("input", id="q")
    assert box["value"] == '"twitter paris'  # the box keeps what was typed
    for q in ["twitter paris", '"bertrand delanoë"', "paris OU lyon"]:
        page, _html = get_page(client, "/?" + urlencode({"q": q}))
        assert "Recherche de" not in page.text, q


def test_understood_is_escaped(client):
    _page, html = get_page(client, "/?" + urlencode({"q": '"<b>twitter</b> <i>'}))
    assert "Recherche de&nbsp;: <strong>&lt;b&gt;twitter&lt;/b&gt; &lt;i&gt;</strong>" in html


def test_instant_shows_what_was_understood_not_the_prefix_being_typed(client):
    for typing in ("1", "0"):
        query = {"q": '"twitter paris', "typing": typing}
        html = client.get("/instant", query_string=query).get_json()["html"]
        assert "Recherche de&nbsp;: <strong>twitter paris</strong>" in html, typing
    # While a word is typed, its prefix reading (twit*) is the engine's business, not news.
    html = client.get("/instant", query_string={"q": "twitter par", "typing": "1"}).get_json()
    assert "Recherche de" not in html["html"]


def test_instant_completions_only(facets):
    data = facets.get("/instant?q=mot+de+pa&complete=1&results=0").get_json()
    assert data["html"] == "" and data["completions"][0] == "mot de passe"


def test_french_spacing_filter():
    from searchsvc.web.pages import fr_typo

    assert fr_typo("Date invalide : écrivez-la ; vraiment ? oui ! « ici »") == (
        "Date invalide\u00a0: écrivez-la\u202f; vraiment\u202f? oui\u202f! «\u00a0ici\u00a0»"
    )
    assert fr_typo("https://exemple.fr à 10:30") == "https://exemple.fr à 10:30"
