"""A progress line on stderr for the long commands: what the run is doing and the time so far.

``report``, ``compare`` and ``evidence`` take from a few seconds to about a
minute (the first run compiles the kernels). On a terminal, unless
``--quiet``, the CLI opens :func:`progress_line` around the work; the library
names its stages with :func:`stage` (a no-op when no line is open, so library
calls stay silent), and a thread redraws the line twice a second so the
clock moves between stages. The command clears the line with :func:`finish`
before it prints its answer (and it is cleared when the run ends anyway);
other notices go through :func:`say`, above the line.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["finish", "progress_line", "say", "stage"]

_OPEN: list[tuple[Any, threading.Event, threading.Thread]] = []  # the line shown now (at most one): bar, stop, clock


@contextmanager
def progress_line(enabled: bool, what: str, first: str = "reading the inputs") -> Iterator[None]:
    """Show ``what, stage (elapsed)`` on stderr while the block runs (or until :func:`finish`); else nothing.

    Parameters
    ----------
    enabled
        Show it (the CLI's :func:`~speedoflight.cli._common.progress`: a terminal, no ``--quiet``).
    what
        The command, e.g. ``"speedoflight report"``.
    first
        The stage shown until the library names one.

    """
    if not enabled or _OPEN:
        yield
        return
    from tqdm import tqdm

    bar = tqdm(total=None, desc=what, bar_format="{desc}{postfix} ({elapsed})", file=sys.stderr, leave=False)
    bar.set_postfix_str(first, refresh=True)
    done = threading.Event()

    def tick() -> None:
        while not done.wait(0.5):
            bar.refresh()

    clock = threading.Thread(target=tick, name="speedoflight-progress", daemon=True)
    _OPEN.append((bar, done, clock))
    clock.start()
    try:
        yield
    finally:
        finish()


def finish() -> None:
    """Clear the progress line now (the answer is about to be printed); nothing when none is open."""
    while _OPEN:
        bar, done, clock = _OPEN.pop()
        done.set()
        clock.join()
        bar.close()


def stage(name: str) -> None:
    """Name the stage a run is in, on the progress line if one is open (nothing otherwise).

    Parameters
    ----------
    name
        What it does now, e.g. ``"simulating the optimal tree"``.

    """
    if _OPEN:
        _OPEN[-1][0].set_postfix_str(name, refresh=True)


def say(message: str) -> None:
    """Print a notice on stderr, above the progress line when one is open.

    Parameters
    ----------
    message
        One line.

    """
    if _OPEN:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr, flush=True)
