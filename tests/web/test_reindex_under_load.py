"""Reindexing while the app serves a steady load: no failed request, every answer consistent,
new documents found as soon as the reindex ends, without a restart.

A small in-process version (Flask test clients in threads, a few hundred documents); the real
one, against gunicorn with thousands of documents and a second process sending the load, is
``bench/reindex_under_load.py``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from urllib.parse import quote

from searchsvc.ingest.indexer import reindex

CLIENTS = 3
CYCLES = 4
QUERIES = ["commun", "campagne", "sujet", "ville commun", "churn", "nouveau", "article"]


def write_base(corpus, n: int) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    with open(corpus / "base.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n):
            doc = {"id": f"base{i}", "title": f"Article {i}", "body": f"Texte commun {i}. " * 20}
            fh.write(json.dumps(doc) + "\n")


def churn_text(word: str) -> str:
    return f"Nouveau churn {word}\n\nUn article nouveau et commun, marqué {word}.\n"


class Load:
    """Client threads searching and fetching every hit until stopped; they record problems."""

    def __init__(self, app):
        self.app = app
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.requests = 0
        self.problems: list[str] = []
        # id -> (time its removal started, time the reindex removing it finished)
        self.removed: dict[str, tuple[float, float]] = {}
        self.threads = [
            threading.Thread(target=self.run, args=(seed,), daemon=True) for seed in range(CLIENTS)
        ]

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)

    def run(self, seed: int) -> None:
        rng = random.Random(seed)
        client = self.app.test_client()
        while not self.stop.is_set():
            q, page, per_page = rng.choice(QUERIES), rng.randint(1, 3), rng.randint(1, 20)
            started = time.monotonic()
            r = client.get("/api/search", query_string={"q": q, "page": page, "per_page": per_page})
            count = 1
            if r.status_code != 200:
                self.problem(f"search {q!r}: {r.status_code} {r.get_data(as_text=True)[:200]}")
                continue
            data = r.get_json()
            offset = (page - 1) * per_page
            if len(data["hits"]) != max(0, min(data["total"] - offset, per_page)):
                self.problem(f"search {q!r}: {len(data['hits'])} hits, total {data['total']}")
            for hit in data["hits"]:
                gone = self.removed.get(hit["id"])
                if gone and gone[1] < started:
                    self.problem(f"{hit['id']} found after the reindex that removed it")
                doc = client.get("/api/documents/" + quote(hit["id"], safe=""))
                count += 1
                if doc.status_code == 404 and gone:
                    continue  # removed between the search and this fetch
                if doc.status_code != 200:
                    self.problem(f"document {hit['id']}: {doc.status_code}")
            with self.lock:
                self.requests += count
            self.stop.wait(0.005)  # a steady load, not a saturating one

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def test_reindexing_under_load_never_fails_a_request(make_app, tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_base(corpus, 120)
    reindex(corpus, index_dir, full=True)
    app = make_app(INDEX_DIR=str(index_dir))
    probe = app.test_client()
    delays = []
    with Load(app) as load:
        time.sleep(0.3)
        for cycle in range(CYCLES):
            word = f"marque{cycle}x"
            (corpus / f"churn{cycle}.txt").write_text(churn_text(word), encoding="utf-8")
            gone = f"churn{cycle - 1}"
            if cycle:  # remove the previous cycle's document
                (corpus / f"{gone}.txt").unlink()
                load.removed[gone] = (time.monotonic(), float("inf"))
            reindex(corpus, index_dir, full=cycle % 2 == 1)
            finished = time.monotonic()
            if cycle:
                load.removed[gone] = (load.removed[gone][0], finished)
            while not probe.get(f"/api/search?q={word}").get_json()["hits"]:
                assert time.monotonic() - finished < 5, f"{word} not found 5 s after reindexing"
                time.sleep(0.02)
            delays.append(time.monotonic() - finished)
    assert load.problems == []
    assert load.requests > 50
    assert max(delays) < 5
