"""From a library parameter to the flag that sets it: how the CLI writes an :class:`~speedoflight.errors.InputError`.

The library's messages name Python parameters (``{mu} must be >= 0`` reads ``mu must be >= 0``); the CLI prints
the flag the user typed (``--mu must be >= 0``). The flag comes from the parser that ran: the flag spelled like the
parameter, else the flag whose ``dest`` is the parameter. Only the parameters that the library names otherwise than
any flag's ``dest`` are listed, in :data:`PARAM_FLAGS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable

from ..errors import InputError

__all__ = ["PARAM_FLAGS", "as_flag", "flag_namer", "message"]

#: Library parameters whose flag is not spelled like them (nor has them as ``dest``); used where the flag exists.
PARAM_FLAGS: dict[str, tuple[str, ...]] = {
    "dumps": ("--dump",),
    "oracles": ("--oracle",),
    "pools": ("--oracle-dump", "--pool"),
    "n_boot": ("--bootstrap",),
    "client": ("--scheduler",),
    "ps": ("-P",),
    "sources": ("--from",),
    "draft": ("--cost-draft",),
    "intermediate": ("--cost-intermediate",),
    "target": ("--cost-target",),
}


def as_flag(param: str) -> str:
    """Write ``param`` as a flag when no parser is at hand (an argparse type's check): the table, else ``--param``.

    Parameters
    ----------
    param
        The library's name.

    Returns
    -------
    str
        The flag.

    """
    return PARAM_FLAGS.get(param, ("--" + param.replace("_", "-"),))[0]


def _options(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Every option string of ``parser`` -> the option to print, and every ``dest`` -> its first long option."""
    flags: dict[str, str] = {}
    dests: dict[str, str] = {}
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        longs = [o for o in action.option_strings if o.startswith("--")] or list(action.option_strings)
        for o in action.option_strings:
            flags.setdefault(o, o)
        dests.setdefault(action.dest, longs[0])
    return {**{"dest:" + d: f for d, f in dests.items()}, **flags}


def _lookup(param: str, table: dict[str, str]) -> str | None:
    for flag in PARAM_FLAGS.get(param, ()):
        if flag in table:
            return flag
    spelled = "--" + param.replace("_", "-")
    if spelled in table:
        return spelled
    return table.get("dest:" + param)


def _subparsers(parser: argparse.ArgumentParser) -> Iterable[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.values()


def flag_namer(parser: argparse.ArgumentParser, command: str | None) -> Callable[[str], str]:
    """How the CLI writes a parameter: the flag of the subcommand that ran, else of any subcommand, else the name.

    Parameters
    ----------
    parser
        The whole parser (:func:`speedoflight.cli.app.build_parser`).
    command
        The subcommand that ran (None: none yet).

    Returns
    -------
    callable
        ``name(param)`` -> the flag (``"mu"`` -> ``"--mu"``, ``"dumps"`` -> ``"--dump"``).

    """
    subs = {p.prog.split()[-1]: p for p in _subparsers(parser)}
    running = _options(subs[command]) if command in subs else {}
    every: dict[str, str] = {}
    for sp in subs.values():
        for k, v in _options(sp).items():
            every.setdefault(k, v)

    def name(param: str) -> str:
        return _lookup(param, running) or _lookup(param, every) or param

    return name


def message(exc: InputError, parser: argparse.ArgumentParser | None = None, command: str | None = None) -> str:
    """Write the message of ``exc`` as the CLI prints it: each parameter as its flag.

    Parameters
    ----------
    exc
        The library's error.
    parser, command
        The parser and the subcommand that ran (no parser: :func:`as_flag`).

    Returns
    -------
    str
        The message.

    """
    return exc.render(flag_namer(parser, command) if parser is not None else as_flag)
