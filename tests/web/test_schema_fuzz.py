"""The API fuzzed from its own OpenAPI document by Schemathesis, every check on: no server
error, every answer as documented (status, content type, headers, body schema), every request
the document allows accepted, every request it forbids refused. Run against gunicorn, as users
reach it, over the seed index."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from searchsvc.testing import serve_command, start_server

ROOT = Path(__file__).resolve().parents[2]
ST = Path(sys.executable).with_name("st")

pytestmark = pytest.mark.slow


KEY = "fuzz-admin-key-0123456789"


# Without keys (writes answer 403), and with an admin and a search key (writes journaled and
# applied, every read asking for a key), the admin key sent with every request.
@pytest.mark.skipif(not ST.exists(), reason="schemathesis is installed by the dev extra")
@pytest.mark.parametrize("keys", [False, True], ids=["no keys", "keys"])
def test_the_api_keeps_every_promise_of_its_openapi_document(seed_index, tmp_path, keys):
    index = tmp_path / "index"
    shutil.copytree(seed_index, index)
    env = [f"SEARCHSVC_ADMIN_KEY={KEY}", f"SEARCHSVC_SEARCH_KEY={KEY}-search"] if keys else []
    auth = ["--header", f"Authorization: Bearer {KEY}"] if keys else []
    with start_server(
        index,
        tmp_path / "server.log",
        command=lambda port: ["env", *env, *serve_command(port, index, 1)],
    ) as server:
        run = subprocess.run(
            [
                str(ST),
                "--config-file",
                str(ROOT / "schemathesis.toml"),
                "--no-color",
                "run",
                f"{server.url}/api/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                "60",
                "--seed",
                "23",
                "--report-dir",
                str(tmp_path / "report"),
                *auth,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            env={**os.environ, "NO_COLOR": "1"},
        )
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary
    assert " passed" in summary and "failure" not in summary.lower(), summary
