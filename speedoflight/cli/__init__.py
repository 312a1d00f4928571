"""The command line: ``speedoflight SUBCOMMAND ...`` (``main`` in :mod:`speedoflight.cli.app`; ``run`` ends the process with its status)."""

from .app import main, run

__all__ = ["main", "run"]
