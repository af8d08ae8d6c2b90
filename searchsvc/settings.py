"""Settings from ``SEARCHSVC_*`` environment variables, with defaults for a checkout."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number (got {raw!r})") from None


@dataclass(frozen=True)
class Settings:
    """Where the corpus and index live and how the service listens."""

    corpus: Path = Path("corpus")
    index: Path = Path("index")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2

    @classmethod
    def from_env(cls) -> Settings:
        """Read ``SEARCHSVC_CORPUS``, ``SEARCHSVC_INDEX``, ``SEARCHSVC_HOST``, ``SEARCHSVC_PORT``,
        ``SEARCHSVC_WORKERS``; unset ones keep their defaults."""
        env = os.environ
        return cls(
            corpus=Path(env.get("SEARCHSVC_CORPUS") or cls.corpus),
            index=Path(env.get("SEARCHSVC_INDEX") or cls.index),
            host=env.get("SEARCHSVC_HOST") or cls.host,
            port=_env_int("SEARCHSVC_PORT", cls.port),
            workers=_env_int("SEARCHSVC_WORKERS", cls.workers),
        )
