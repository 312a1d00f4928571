"""Names a package hands on from its modules, imported on first use.

A package's ``__init__`` lists its public names by the module that defines
them and calls :func:`lazy_exports`; the module is imported when a name of it
is first looked up (``speedoflight.estimate``, ``from speedoflight.theory
import estimate``), so importing the package stays light: no numba, no
scipy.stats, no matplotlib (``tests/test_startup.py``). A name that moved gets
a :class:`DeprecationWarning` naming its new home.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, by_module: Mapping[str, Sequence[str]], moved: Mapping[str, str] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return a package's ``__getattr__`` and ``__dir__`` that import its names from their modules on first use.

    Parameters
    ----------
    package
        The package's ``__name__``.
    by_module
        ``{module: names}``: each module relative to the package (``".compare"``); a name ``"alias=name"``
        hands on the module's ``name`` as ``alias``.
    moved
        ``{name: new home}`` of names the package no longer lists: each still resolves, from its new home (an
        absolute module path), with a :class:`DeprecationWarning` that names it. They are left out of ``dir()``.

    Returns
    -------
    tuple
        ``(__getattr__, __dir__)`` for the package's namespace.

    """
    where: dict[str, tuple[str, str]] = {}
    for module, names in by_module.items():
        for entry in names:
            alias, _, name = entry.partition("=")
            where[alias] = (module, name or alias)
    old = dict(moved or {})

    def __getattr__(name: str) -> Any:
        if name in where:
            module, attr = where[name]
            value = getattr(importlib.import_module(module, package), attr)
            setattr(sys.modules[package], name, value)  # the next lookup finds it without this function
            return value
        if name in old:
            warnings.warn(
                f"{package}.{name} is deprecated: import it from {old[name]}", DeprecationWarning, stacklevel=2
            )
            return getattr(importlib.import_module(old[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__
