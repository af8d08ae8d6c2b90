"""The one table from an error kind to the web's answer: status, API code, French text."""

from __future__ import annotations

import pytest

from searchsvc.errors import IndexDamagedError, Kind, QueryError, QueryTooExpensive
from searchsvc.web.errors import ANSWERS, french


def test_every_kind_the_core_raises_has_an_answer():
    assert set(ANSWERS) == set(Kind)


@pytest.mark.parametrize("kind", list(Kind))
def test_every_french_text_fills_in_and_never_shows_a_placeholder(kind):
    text = french(QueryError("x", kind=kind, limit=10_000), length=1234)
    assert "{" not in text and text.strip()
    if "{limit}" in ANSWERS[kind].french:
        assert "10\u202f000" in text  # the French thousands separator


def test_bad_input_is_400_and_an_index_that_cannot_serve_is_503():
    for kind, answer in ANSWERS.items():
        expected = 503 if kind.value.startswith(("index_", "no_index", "journal_behind")) else 400
        if kind.value == "journal_unwritable":
            expected = 507  # a full disk: the write was not recorded
        assert answer.status == expected, kind


def test_the_typed_errors_carry_their_kind_field_and_limit():
    assert QueryTooExpensive("x").kind == Kind.TOO_EXPENSIVE
    assert IndexDamagedError("x").kind == Kind.INDEX_DAMAGED
    error = QueryError("too long", kind=Kind.QUERY_TOO_LONG, field="q", limit=1000)
    assert (error.kind, error.field, error.limit) == (Kind.QUERY_TOO_LONG, "q", 1000)
    assert isinstance(error, ValueError)  # bad input, for callers that catch ValueError


def test_a_page_picks_its_french_text_by_kind_not_by_message(client):
    # The engine's English message for a bad date says nothing the page matches on.
    response = client.get("/?q=twitter&date_from=hier")
    assert response.status_code == 400
    assert "Date invalide" in response.get_data(as_text=True)
