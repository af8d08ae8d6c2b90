"""No request can produce a 500 or a traceback: odd query strings, paths and parameters."""

from __future__ import annotations

from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ENDPOINTS = ["/api/search", "/api/suggest", "/", "/healthz", "/api/openapi.json"]

ODD_QUERY_STRINGS = [
    "q=%00",
    "q=a%00b&page=%00",
    "q=%",
    "q=%%",
    "q=%zz",
    "q=%E9t%E9",  # Latin-1, not UTF-8
    "q=%C3",  # truncated UTF-8
    "q=%ED%A0%80",  # an encoded surrogate
    "q=%F4%90%80%80",  # beyond U+10FFFF
    "q=\x7f\x01\x02",
    "q=((((((((((((((((((((a",
    "q=))))))",
    'q="',
    'q="""""',
    "q=-",
    "q=--a",
    "q=*",
    "q=a*",
    "q=**a**",
    "q=title:",
    "q=title:(",
    'q=titre:"',
    "q=source:",
    "q=OR",
    "q=OR+OR+OR",
    "q=a+OR",
    "q=-(a+OR+b)",
    "q=%2B%2B%2B",
    "q=%E2%80%AE%E2%80%8B",  # bidi override, zero-width space
    "q=%F0%9F%98%80",  # emoji
    "q=%EF%BF%BD",
    "q=" + "a" * 1000,
    "q=" + "a" * 1001,
    "q=" + "%C3%A9" * 1001,
    "q=" + "a+" * 500,
    "q=" + "(" * 200 + "a" + ")" * 200,
    "q=" + "a*+" * 60,
    "q=twitter&page=",
    "q=twitter&page=+1",
    "q=twitter&page=1e3",
    "q=twitter&page=0x10",
    "q=twitter&page=%EF%BC%91",  # fullwidth digit one
    "q=twitter&page=" + "9" * 10_000,
    "q=twitter&per_page=-0",
    "q=twitter&page=1&page=2",
    "q=a&q=b",
    "q",
    "=",
    "&&&",
    "q=twitter&limit=" + "1" * 7000,
    "q[]=x&page[]=1",
]

ODD_PATHS = [
    "/api/documents/%00",
    "/api/documents/%FF%FE",
    "/api/documents/" + "a" * 5000,
    "/api/documents/..%2F..%2Fetc%2Fpasswd",
    "/api/documents/a/../../b",
    "/doc/%00",
    "/doc/%FF?q=%00",
    "/doc/002_3db12bd2542f91a5?q=" + "a" * 1500,
    "/doc/002_3db12bd2542f91a5?q=%00&page=x",
    "/doc/002_3db12bd2542f91a5?q=" + "(" * 300,
    "//",
    "/%",
    "/static/",
    "/static/../pyproject.toml",
    "/static/%2e%2e/__init__.py",
    "/api/%00",
]


def check(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    assert b"Traceback" not in response.data
    if response.mimetype == "application/json" and response.status_code >= 400:
        assert set(response.get_json()["error"]) == {"code", "message"}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("query_string", ODD_QUERY_STRINGS)
def test_odd_query_strings_never_fail(client, endpoint, query_string):
    with client.get(endpoint + "?" + query_string) as response:
        check(response)


@pytest.mark.parametrize("path", ODD_PATHS)
def test_odd_paths_never_fail(client, path):
    with client.get(path) as response:
        check(response)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=300), endpoint=st.sampled_from(ENDPOINTS[:3]))
def test_any_bytes_as_q_never_fail(app, raw, endpoint):
    client = app.test_client()
    with client.get(endpoint + "?q=" + quote_from_bytes(raw, safe="")) as response:
        check(response)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.text(max_size=120),
    page=st.text(alphabet="0123456789-+. x", max_size=6),
    endpoint=st.sampled_from(ENDPOINTS[:3]),
)
def test_any_text_and_page_never_fail(app, text, page, endpoint):
    client = app.test_client()
    response = client.get(endpoint, query_string={"q": text, "page": page, "per_page": page})
    check(response)
