"""Shared helpers with no speedoflight dependencies: atomic writes, JSON, notices, shipped data, lazy exports.

Private to the package: import from the modules; nothing is listed here.
"""

__all__: list[str] = []
