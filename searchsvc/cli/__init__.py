"""The ``searchsvc`` command: index, search, check and serve."""

from searchsvc.cli.commands import main

__all__ = ["main"]
