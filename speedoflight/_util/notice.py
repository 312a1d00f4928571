"""One-time notices on stderr that a person at a terminal should see: the first run compiles kernels.

The package's numba kernels are compiled on their first call and cached on
disk (``cache=True``), so only the first run of a command after an install
(or an upgrade of numba) pays for it, up to half a minute for ``simulate``.
The CLI turns the notice on for a terminal unless ``--quiet``
(:func:`announce_compiling`); :func:`speedoflight.kernels._jit._jit` calls
:func:`compiling` when numba starts compiling one of them, and the notice is
printed at most once per process. Library calls stay silent.
"""

from __future__ import annotations

__all__ = ["announce_compiling", "compiling"]

_STATE = {"enabled": False, "said": False}

MESSAGE = "speedoflight: compiling kernels, once per install (this run only; later runs start at once)"


def announce_compiling(enabled: bool) -> None:
    """Turn the compile notice on or off for this process.

    Parameters
    ----------
    enabled
        Print :data:`MESSAGE` on stderr the first time a kernel compiles.

    """
    _STATE["enabled"] = bool(enabled)


def compiling() -> None:
    """Print the compile notice, if it is on and not printed yet."""
    if _STATE["enabled"] and not _STATE["said"]:
        _STATE["said"] = True
        from .progress import say

        say(MESSAGE)  # above the progress line when one is shown
