"""``python -m speedoflight``."""

from .cli.app import run

__all__: list[str] = []

run()
