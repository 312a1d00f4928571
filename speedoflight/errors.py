"""The one exception type users can cause.

Every problem that a user can fix (a bad file, a bad parameter, bad numbers)
raises :class:`InputError` with a message that names the file, the row or
the parameter, and says what to do. The CLI prints the message on one line and
exits with status 2.

A message names a parameter through a placeholder, ``{name}``, listed in
``param``: the library's message names the Python parameter
(``InputError("{mu} must be >= 0, got -1", param="mu")`` reads
``mu must be >= 0, got -1``), and only the CLI turns it into its flag
(``--mu must be >= 0, got -1``), through :meth:`InputError.render`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["InputError", "SpeedOfLightError"]


class SpeedOfLightError(Exception):
    """Base class of the package's own exceptions."""


class InputError(SpeedOfLightError, ValueError):
    """Bad input that the user can fix; the message says how.

    Parameters
    ----------
    message
        The message; ``{name}`` for each name of ``param`` stands for that parameter (nothing else in it is a
        placeholder: a file name with braces stays as it is).
    param
        The parameter (or parameters, the one to fix first) that the message names, as the Python function calls
        it: ``str(error)`` writes the name, the CLI its flag.

    Attributes
    ----------
    template
        The message with its placeholders.
    params
        Every parameter named, the one to fix first.

    """

    def __init__(self, message: str, *, param: str | Sequence[str] | None = None) -> None:
        self.template = message
        self.params: tuple[str, ...] = (param,) if isinstance(param, str) else tuple(param or ())
        super().__init__(self.render())

    @property
    def param(self) -> str | None:
        """The parameter to fix first (None: the message names none)."""
        return self.params[0] if self.params else None

    def render(self, name: Callable[[str], str] | None = None) -> str:
        """Write the message, each parameter as ``name`` writes it (default: its Python name).

        Parameters
        ----------
        name
            Writes one parameter, e.g. as the flag the CLI gave it.

        Returns
        -------
        str
            The message, with no placeholder left for the parameters of ``params``.

        """
        text = self.template
        for p in self.params:
            text = text.replace("{" + p + "}", name(p) if name is not None else p)
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the template and the parameters (a dask worker's error comes back whole)."""
        return (_rebuild, (type(self), self.template, self.params))


def _rebuild(cls: type[InputError], template: str, params: tuple[str, ...]) -> InputError:
    return cls(template, param=params)
