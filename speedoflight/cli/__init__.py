"""The command line: ``speedoflight SUBCOMMAND ...`` (``main`` in :mod:`speedoflight.cli.app`)."""

from .app import main

__all__ = ["main"]
