"""Command-line interface: ``speedoflight SUBCOMMAND ...``.

Every user error prints one line ``speedoflight: error: ...`` on stderr and
exits with status 2; no traceback. Each subcommand is one module of this
package with ``add_parser(sub)`` (its flags; it sets ``run``) and
``run(args)``; :data:`COMMANDS` lists them in the order ``--help`` shows.
"""

from __future__ import annotations

import argparse
import atexit
import errno
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from .._util.notice import announce_compiling
from .._util.progress import progress_line
from .._version import __version__
from ..errors import InputError
from . import (
    bound,
    classic,
    collect,
    compare,
    dump,
    estimate,
    evidence,
    export,
    hierarchy,
    latency,
    markov,
    measure,
    optimum,
    oracle,
    report,
    scaling,
    simulate,
    tree,
    watch,
)
from ._common import Parser, progress
from ._params import message

__all__ = ["COMMANDS", "build_parser", "main", "run"]

#: The subcommands, in the order of ``speedoflight --help``.
COMMANDS = (
    estimate,
    bound,
    simulate,
    optimum,
    tree,
    dump,
    oracle,
    measure,
    evidence,
    collect,
    compare,
    watch,
    latency,
    export,
    report,
    classic,
    markov,
    scaling,
    hierarchy,
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (exposed for docs and tests).

    Returns
    -------
    argparse.ArgumentParser
        The parser with every subcommand of :data:`COMMANDS`.

    """
    parser = Parser(prog="speedoflight", description="The speed limit of speculative decoding.")
    parser.add_argument("--version", action="version", version=f"speedoflight {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


#: Commands that run for seconds to a minute: a progress line on a terminal (their stages named by the library).
LONG = frozenset({"report", "compare", "evidence", "optimum"})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 success, 2 user error).

    Parameters
    ----------
    argv
        The arguments after ``speedoflight`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 for a user error (one line on stderr, a full disk and a file-size limit included), 130
        when interrupted, 128 + the signal on SIGTERM or SIGHUP (handled as Ctrl-C: temporary files are removed),
        1 on a closed pipe.

    """
    if argv is None:
        _terminate_like_interrupt()
    parser, command = None, None
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:
            return int(exc.code) if isinstance(exc.code, int) else 2
        if args.command is None:
            parser.print_help()
            return 2
        command = args.command
        args.argv = list(sys.argv[1:] if argv is None else argv)
        _check_environment()
        refuse_output_over_input(args)
        announce_compiling(progress(args))
        with progress_line(progress(args) and args.command in LONG, f"speedoflight {args.command}"):
            code = int(args.run(args))
        if argv is None:
            sys.stdout.flush()  # a full device shows here, not as a traceback at exit
    except InputError as exc:
        _say(f"speedoflight: error: {message(exc, parser, command)}")
        return 2
    except _Terminated as exc:
        print(f"speedoflight: terminated (signal {exc.signum})", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("speedoflight: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:
        if exc.errno not in _NO_ROOM:
            raise
        where = exc.filename or "the output"
        print(
            f"speedoflight: error: cannot write {where}: {exc.strerror} (a full disk or a file-size limit); free "
            "space or write elsewhere",
            file=sys.stderr,
        )
        _quiet_stdout()
        return 2
    if argv is None:
        _finish_quietly()
    return code


#: Flags that name a file the command writes (``collect --out`` is meant to be resumed, so it is left out).
OUTPUT_FLAGS = (("--out", "out"), ("--per-row", "per_row"), ("--csv", "csv"))


def refuse_output_over_input(args: argparse.Namespace) -> None:
    """Refuse an output file that is one of the command's inputs (through a link or a glob too), before any work.

    Parameters
    ----------
    args
        The parsed flags.

    Raises
    ------
    InputError
        Naming the output flag and the input it would replace.

    """
    import os

    if args.command == "collect":
        return
    outs = [(flag, v) for flag, dest in OUTPUT_FLAGS if isinstance(v := getattr(args, dest, None), str)]
    outs = [(flag, v) for flag, v in outs if os.path.isfile(v)]  # a new file, or a folder, replaces no input
    if not outs:
        return
    from .._util.paths import expand_paths

    given: list[str] = []
    for dest, value in vars(args).items():
        if dest in {d for _, d in OUTPUT_FLAGS} or dest in ("argv", "run", "command"):
            continue
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str) and v and (os.path.exists(v) or any(c in v for c in "*?[")):
                given.append(v)
    inputs: list[str] = []
    for v in given:
        try:
            inputs.extend(expand_paths([v], once=False))
        except (InputError, OSError):
            continue
    for flag, out in outs:
        for inp in inputs:
            try:
                same = os.path.isfile(inp) and os.path.samefile(out, inp)
            except OSError:
                same = False
            if same:
                raise InputError(
                    f"{flag} {out} is the input {inp}: writing it would replace your data; choose another output path"
                )


#: errno values that mean "no room to write": a full device, a file-size limit (ulimit -f), a quota.
_NO_ROOM = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Ctrl-C would be, so that every cleanup runs as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _say(line: str) -> None:
    """Print one line on stderr; a closed stderr loses the line, never the exit status."""
    if sys.stderr is None:  # started with stderr closed: print would write to stdout
        return
    try:
        print(line, file=sys.stderr)
    except (OSError, ValueError, AttributeError):
        pass


def _check_environment() -> None:
    """Refuse, in one line, environment settings that would make numba fail with a traceback."""
    import os

    threads = os.environ.get("NUMBA_NUM_THREADS")
    if threads is not None and not (threads.strip().isdigit() and int(threads) > 0):
        raise InputError(
            f"NUMBA_NUM_THREADS={threads!r}: numba needs a whole number of threads > 0; unset it or set e.g. "
            "NUMBA_NUM_THREADS=2"
        )


def _raise_terminated(signum: int, _frame: object) -> None:
    raise _Terminated(signum)


def _terminate_like_interrupt() -> None:
    """Handle SIGTERM and SIGHUP (timeout, Slurm, Kubernetes, a closed ssh session) as Ctrl-C is handled."""
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            try:
                signal.signal(sig, _raise_terminated)
            except ValueError:  # pragma: no cover - not the main thread
                pass


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush of a full device says nothing more."""
    import os

    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError):
        pass


def _finish_quietly() -> None:
    """Ignore Ctrl-C from here on: the command is done and its output written, only shutdown remains.

    Without this, a SIGINT during shutdown (thread pools, caches) killed the process with exit -2 and no
    message after a complete run. Only for the program itself (``argv`` None), never for callers of main.
    """
    import signal

    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # pragma: no cover - not the main thread
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> NoReturn:
    """Run the CLI on ``sys.argv`` and end the process with its exit status (the ``speedoflight`` command).

    Exit handlers run and the output is flushed as at any exit; Python's own teardown is then skipped where no
    thread is left to wait for: tearing down numba's compiled kernels took about 0.2 s of every command that ran
    them (``report`` included), with nothing left to write.
    """
    code = main()
    if any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)  # a thread still to finish: the usual exit waits for it
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1  # output that cannot be written: not a success
    os._exit(code)
