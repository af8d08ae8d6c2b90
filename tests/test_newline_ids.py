"""A document whose id holds a newline (a corpus file ``new\\nline.txt``) is found by searches
and its links lead to it: the document page, the API document and its similar documents."""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urlsplit

import pytest
from web.conftest import make_app  # noqa: F401 - the fixture, shared with tests/web

from searchsvc.ingest.indexer import reindex

NEWLINE_ID = "new\nline"
CORPUS = {
    "new\nline.txt": "Retour à la ligne\n\nUn zeppelin traverse la ligne d'horizon.\n",
    "autre.txt": "Un autre dirigeable\n\nLe zeppelin survole la ville.\n",
}
HIT_LINK = re.compile(r'<h2 class="hit-title"><a href="([^"]+)"')


@pytest.fixture
def client(make_app, make_corpus, tmp_path):  # noqa: F811 - the fixture imported above
    """A test client over an index of CORPUS."""
    index_dir = tmp_path / "index"
    reindex(make_corpus(CORPUS), index_dir, full=True)
    return make_app(INDEX_DIR=str(index_dir)).test_client()


def test_the_search_page_link_opens_the_document(client):
    page = client.get("/?q=zeppelin")
    assert page.status_code == 200
    links = [html.unescape(href) for href in HIT_LINK.findall(page.text)]
    assert len(links) == 2
    [link] = [href for href in links if urlsplit(href).path == "/doc/new%0Aline"]
    document = client.get(link)
    assert document.status_code == 200
    text = html.unescape(re.sub(r"<[^>]+>", "", document.text))  # "zeppelin" is marked
    assert "Retour à la ligne" in text and "Un zeppelin traverse la ligne d'horizon." in text
    # The other document's page lists this one as similar, with a link that works too.
    other = client.get("/doc/autre")
    assert other.status_code == 200
    assert 'href="/doc/new%0Aline"' in other.text
    assert client.get("/doc/new%0Aline").status_code == 200


def test_the_api_hit_id_opens_the_document_and_its_similar_ones(client):
    hits = client.get("/api/search?q=zeppelin").get_json()["hits"]
    assert NEWLINE_ID in [hit["id"] for hit in hits]
    address = "/api/documents/" + quote(NEWLINE_ID, safe="")
    assert address == "/api/documents/new%0Aline"

    document = client.get(address)
    assert document.status_code == 200
    assert document.get_json()["id"] == NEWLINE_ID
    assert document.get_json()["title"] == "Retour à la ligne"

    similar = client.get(address + "/similar")
    assert similar.status_code == 200
    assert similar.get_json()["id"] == NEWLINE_ID
    assert [hit["id"] for hit in similar.get_json()["hits"]] == ["autre"]


def test_ids_are_still_never_empty(client):
    # No empty id: the document page is a 404; the API's address is the collection pushed
    # documents are POSTed to (405 to a GET).
    assert client.get("/doc/").status_code == 404
    assert client.get("/api/documents/").status_code in (404, 405)
    missing = client.get("/api/documents/%0A")  # a newline alone is an id, of nothing here
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
