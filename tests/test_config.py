"""Tests for searchsvc.settings: settings from SEARCHSVC_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from searchsvc.settings import Settings

VARIABLES = ("CORPUS", "INDEX", "HOST", "PORT", "WORKERS")


@pytest.fixture
def env(monkeypatch):
    """A clean SEARCHSVC_* environment; returns a setter."""
    for name in VARIABLES:
        monkeypatch.delenv(f"SEARCHSVC_{name}", raising=False)

    def set_env(**values):
        for key, value in values.items():
            monkeypatch.setenv(f"SEARCHSVC_{key.upper()}", value)

    return set_env


def test_settings_defaults(env):
    assert Settings.from_env() == Settings(
        corpus=Path("corpus"), index=Path("index"), host="127.0.0.1", port=8000, workers=2
    )


def test_settings_from_environment(env):
    env(corpus="/data/corpus", index="/data/index", host="0.0.0.0", port="9000", workers="4")
    assert Settings.from_env() == Settings(
        corpus=Path("/data/corpus"),
        index=Path("/data/index"),
        host="0.0.0.0",
        port=9000,
        workers=4,
    )


@pytest.mark.parametrize("key", [k.lower() for k in VARIABLES])
def test_settings_blank_values_keep_defaults(env, key):
    env(**{key: ""})
    assert Settings.from_env() == Settings()


def test_settings_whitespace_number_is_default(env):
    env(port="   ")
    assert Settings.from_env().port == 8000


def test_settings_number_with_spaces(env):
    env(port=" 8080 ")
    assert Settings.from_env().port == 8080


@pytest.mark.parametrize(
    ("key", "value"), [("port", "http"), ("port", "80.5"), ("workers", "two"), ("workers", "1e3")]
)
def test_settings_bad_number_names_the_variable(env, key, value):
    env(**{key: value})
    with pytest.raises(ValueError, match=f"SEARCHSVC_{key.upper()} must be a whole number"):
        Settings.from_env()


def test_settings_frozen(env):
    with pytest.raises(AttributeError):
        Settings.from_env().port = 1
