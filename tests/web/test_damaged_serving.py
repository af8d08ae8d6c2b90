"""Issue 11 through the real server: a segment damaged while gunicorn serves it.

Two workers that have each cached what they read; then a posting file is truncated and a term
file scribbled. Whichever worker answers, every endpoint says 503 ``index_damaged`` in JSON
(the page in French), ``/healthz`` turns 503 with the file's name, nothing answers 500 and the
log holds no traceback. A full reindex heals it without a restart.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from searchsvc.index import storage
from searchsvc.ingest.indexer import reindex


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


ENDPOINTS = [
    "/api/search?q=" + urllib.parse.quote("zèbre"),
    "/api/search?q=girafes",
    "/api/documents/zebre-titre",
    "/api/documents/zebre-titre/similar",
    "/api/suggest?q=gir",
]


@pytest.mark.slow
def test_a_segment_damaged_while_serving_answers_503_and_heals(
    gunicorn_server, tiny_corpus, tmp_path
):
    index_dir = tmp_path / "index"
    reindex(tiny_corpus, index_dir, full=True)
    url = gunicorn_server(index_dir, workers=2)
    for _ in range(6):  # both workers open the index and cache what these read
        for path in ENDPOINTS:
            assert get(url + path)[0] == 200, path

    live = storage.current(index_dir)
    files = live.meta["files"]
    (pst,) = [live.path / n for n in files if n.endswith(".postings")]
    (trm,) = [live.path / n for n in files if n.endswith(".trm")]
    os.truncate(pst, pst.stat().st_size // 2)
    with open(trm, "r+b") as fh:
        fh.write(os.urandom(min(trm.stat().st_size, 1 << 20)))

    status, body = get(url + "/healthz")
    assert status == 503
    error = json.loads(body)["error"]
    assert error["code"] == "index_damaged" and ".postings" in error["message"]

    time.sleep(1.2)  # each worker checks the files again at most every second
    for _ in range(4):
        for path in ENDPOINTS:
            status, body = get(url + path)
            assert status == 503, (path, status, body[:200])
            assert json.loads(body)["error"]["code"] == "index_damaged", path
    status, body = get(url + "/?q=girafes")
    assert status == 503 and "endommagé" in body.decode()

    reindex(tiny_corpus, index_dir)  # sees the damage and rebuilds in full
    assert storage.current_name(index_dir) != live.name
    for _ in range(4):
        for path in ENDPOINTS:
            assert get(url + path)[0] == 200, path
    assert get(url + "/healthz")[0] == 200

    log = "".join(p.read_text(errors="replace") for p in tmp_path.glob("serve-*.log"))
    assert "Traceback" not in log
    assert " 500 " not in log
