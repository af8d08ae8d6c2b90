"""The service follows the index on disk: new generations and incremental commits are served
without a restart, and an index that appears after start-up is picked up."""

from __future__ import annotations

from searchsvc.ingest.indexer import reindex

NEW_ARTICLE = """Le zeppelin revient au-dessus de Paris

Un dirigeable survole la capitale pour la première fois depuis des décennies.
"""


def hits(client, q: str) -> list[str]:
    r = client.get("/api/search", query_string={"q": q})
    assert r.status_code == 200
    return [hit["id"] for hit in r.get_json()["hits"]]


def test_a_full_reindex_is_served_without_a_restart(make_app, own_corpus, own_index):
    client = make_app(INDEX_DIR=str(own_index)).test_client()
    before = client.get("/healthz").get_json()
    assert hits(client, "zeppelin") == []

    (own_corpus / "zeppelin.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    reindex(own_corpus, own_index, full=True)

    after = client.get("/healthz").get_json()
    assert after["generation"] != before["generation"]
    assert after["documents"] == before["documents"] + 1
    assert hits(client, "zeppelin") == ["zeppelin"]
    page = client.get("/?q=zeppelin").get_data(as_text=True)
    assert "Le <mark>zeppelin</mark> revient au-dessus de Paris</a>" in page


def test_an_incremental_reindex_is_served_without_a_restart(make_app, own_corpus, own_index):
    client = make_app(INDEX_DIR=str(own_index)).test_client()
    generation = client.get("/healthz").get_json()["generation"]
    assert hits(client, "dirigeable") == []

    (own_corpus / "zeppelin.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    reindex(own_corpus, own_index)
    assert hits(client, "dirigeable") == ["zeppelin"]

    (own_corpus / "zeppelin.txt").unlink()
    reindex(own_corpus, own_index)
    assert hits(client, "dirigeable") == []
    # Each update is published as a new generation; the live one is never written to.
    assert client.get("/healthz").get_json()["generation"] > generation
    assert client.get("/api/documents/zeppelin").status_code == 404


def test_an_index_built_after_start_up_is_picked_up(make_app, own_corpus, tmp_path):
    index_dir = tmp_path / "later"
    client = make_app(INDEX_DIR=str(index_dir)).test_client()
    assert client.get("/healthz").status_code == 503
    reindex(own_corpus, index_dir, full=True)
    assert client.get("/healthz").status_code == 200
    assert len(hits(client, "delanoe")) == 2


def test_ids_with_slashes_work_in_the_api_and_the_pages(make_app, own_corpus, own_index):
    (own_corpus / "archives" / "2012").mkdir(parents=True)
    (own_corpus / "archives" / "2012" / "zeppelin.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    reindex(own_corpus, own_index)
    client = make_app(INDEX_DIR=str(own_index)).test_client()
    assert hits(client, "zeppelin") == ["archives/2012/zeppelin"]
    assert client.get("/api/documents/archives/2012/zeppelin").get_json()["title"] == (
        "Le zeppelin revient au-dessus de Paris"
    )
    page = client.get("/?q=zeppelin").get_data(as_text=True)
    assert 'href="/doc/archives/2012/zeppelin?q=zeppelin"' in page
    doc = client.get("/doc/archives/2012/zeppelin?q=zeppelin")
    assert doc.status_code == 200
    assert "<mark>zeppelin</mark>" in doc.get_data(as_text=True)
