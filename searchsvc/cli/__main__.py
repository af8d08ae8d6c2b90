"""``python -m searchsvc.cli``: the ``searchsvc`` command."""

from searchsvc.cli.commands import main

main()
