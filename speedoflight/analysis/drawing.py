"""Figures drawn by a second Python process while the numbers are still being computed.

``report`` writes three figures. Drawn in its own process they took about two fifths of the run: importing
matplotlib and laying out the text of the panels are Python code that holds the GIL, so a thread cannot overlap
them with the computing. A :class:`Drawer` starts a child interpreter at once; the child imports matplotlib and
the figure modules on the other core, then draws each figure it is sent while the parent goes on computing.

What travels: the parent sends the figure's name (one of :data:`FIGURES`), its inputs pickled, and the file to
write, over the child's standard input; the child answers one line of JSON per figure on its own pipe: the file
and ``null``, or the error's text. The parent never unpickles anything. The child unpickles only what its parent
wrote to its private pipe, and even that through :class:`_Jobs`, which builds no object but the package's own
classes, numpy arrays and a few builtins: nothing a user's file can reach.

Whatever goes wrong with the child (it cannot start, it dies, a figure fails, it is not done within
:data:`TIMEOUT` seconds), the parent draws the figures it has not received itself, with the same functions, so
the files are the same and an error is raised in the parent exactly as without a child. Where matplotlib is
already imported (a notebook, perhaps with its own rcParams and backend), on Windows, or without an interpreter
to start, there is no child and every figure is drawn in the parent.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import queue
import selectors
import subprocess
import sys
import threading
import time
from typing import IO, Any

__all__ = ["FIGURES", "TIMEOUT", "Drawer"]

#: The figures a child may draw: name -> (module, function), each returning a matplotlib figure.
FIGURES = {
    "compare": ("speedoflight.analysis.figures", "compare_figure"),
    "positions": ("speedoflight.analysis.figures", "position_figure"),
    "evidence": ("speedoflight.analysis.evidence", "figure"),
}

#: The modules of the figures' inputs, imported by the child before the first job so that unpickling it waits for
#: nothing (``Comparison`` pulls in the simulations' modules, most of a second).
_INPUTS = ("speedoflight.analysis.compare", "speedoflight.analysis.evidence", "speedoflight.formats.measured")

#: Seconds the parent waits for the child's last figure once it has sent them all; then it draws them itself.
TIMEOUT = 300.0

_CHILD = "from speedoflight.analysis.drawing import _serve; _serve()"


def _draw(name: str, args: tuple[Any, ...], path: str) -> None:
    """Draw figure ``name`` from ``args`` and save it to ``path`` (in whichever process runs this)."""
    from .plots import save_figure

    module, function = FIGURES[name]
    save_figure(getattr(importlib.import_module(module), function)(*args), path)


class Drawer:
    """Draw figures in a child process (see the module's text); use as a context manager.

    Parameters
    ----------
    child
        None: a child unless matplotlib is already imported here; True: a child wherever one can run; False:
        every figure is drawn in this process.

    """

    def __init__(self, child: bool | None = None) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._sent: list[tuple[str, tuple[Any, ...], str]] = []
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        #: The files the child drew, once :meth:`finish` returned (the others were drawn here).
        self.by_child: list[str] = []
        if child is None:
            child = "matplotlib" not in sys.modules  # a notebook's own matplotlib draws its figures
        if child and os.name == "posix" and sys.executable:
            self._proc = _start()
        if self._proc is None:
            from .plots import preload_pyplot

            preload_pyplot()  # drawn here: at least the import overlaps the numbers
            return
        stdin = self._proc.stdin
        assert stdin is not None
        self._writer = threading.Thread(target=_write, args=(stdin, self._queue), name="speedoflight-draw", daemon=True)
        self._writer.start()

    @property
    def child(self) -> bool:
        """Whether a child process draws (False: every figure is drawn in this process)."""
        return self._proc is not None

    def draw(self, name: str, args: tuple[Any, ...], path: str) -> None:
        """Have a figure drawn into a file: by the child (this returns at once), or here before it returns.

        Parameters
        ----------
        name
            A key of :data:`FIGURES`.
        args
            The figure function's arguments (pickled at once for the child: later changes to them do not show).
        path
            The file to write (PNG, PDF or SVG by its extension).

        """
        if name not in FIGURES:
            raise ValueError(f"unknown figure {name!r}")
        try:
            job = None if self._proc is None else pickle.dumps((name, args, path), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError):
            job = None  # inputs that cannot travel: this one is drawn here
        if job is None:
            _draw(name, args, path)
            return
        self._sent.append((name, args, path))
        self._queue.put(job)

    def finish(self, timeout: float = TIMEOUT) -> None:
        """Wait for every figure sent; draw here those the child did not (an error is raised here, as without it).

        Parameters
        ----------
        timeout
            Seconds to wait for the child's last answer; then it is stopped and the rest is drawn here.

        """
        if self._proc is None:
            return
        self._queue.put(None)  # the writer closes the child's input: the child ends after the last figure
        done = _replies(self._proc, len(self._sent), timeout)
        self.close()
        for name, args, path in self._sent:
            if done.get(path, "missing") is None:
                self.by_child.append(path)
            else:
                _draw(name, args, path)
        self._sent = []

    def close(self) -> None:
        """Stop the child if it still runs (after :meth:`finish`, or on an error or Ctrl-C in the parent)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self._queue.put(None)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
        if self._writer is not None:
            self._writer.join(timeout=5)

    def __enter__(self) -> Drawer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _package() -> str:
    """Return the folder of this copy of the package (the child must import this one, not another install)."""
    return os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _start() -> subprocess.Popen[bytes] | None:
    """Start the child, finding this copy of the package; None where it cannot start.

    The folder above the package goes first on the child's path unless it is a site folder (an installed package
    is found there anyway, and a site folder first would shadow the standard library); the child checks that it
    imported this copy and ends at once otherwise, so the parent draws.
    """
    import site

    here = os.path.dirname(_package())
    env = dict(os.environ)
    sites = {os.path.realpath(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if here not in sites:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
    try:
        return subprocess.Popen(
            [sys.executable, "-c", _CHILD, _package()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # a child's failure shows as the parent's own, when it draws that figure
            env=env,
            close_fds=True,
        )
    except (OSError, ValueError):
        return None


def _write(stdin: IO[bytes], jobs: queue.SimpleQueue[bytes | None]) -> None:
    """Send each job to the child (it may still be importing), then close its input: the parent's writer thread."""
    try:
        while (job := jobs.get()) is not None:
            stdin.write(job)
            stdin.flush()
    except (OSError, ValueError):  # the child is gone: the parent draws what it did not
        pass
    finally:
        try:
            stdin.close()
        except (OSError, ValueError):
            pass


def _replies(proc: subprocess.Popen[bytes], expected: int, timeout: float) -> dict[str, str | None]:
    """Read the child's answers (``{path: None or error}``) until all came, it ended, or ``timeout`` passed."""
    out: dict[str, str | None] = {}
    stdout = proc.stdout
    if stdout is None or expected == 0:
        return out
    deadline = time.monotonic() + timeout
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(stdout, selectors.EVENT_READ)
        while len(out) < expected:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                break  # the child ended
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                try:
                    path, error = json.loads(line)
                except (ValueError, TypeError):
                    return out  # not our child's answer: trust none that follows
                out[str(path)] = None if error is None else str(error)
    return out


class _Jobs(pickle.Unpickler):
    """The child's reader of its parent's jobs: only the package's classes, numpy arrays and a few builtins."""

    ALLOWED = frozenset(
        {
            ("numpy", "dtype"),
            ("numpy", "ndarray"),
            *((m, f) for m in ("numpy._core.numeric", "numpy.core.numeric") for f in ("_frombuffer",)),
            *((m, f) for m in ("numpy._core.multiarray", "numpy.core.multiarray") for f in ("_reconstruct", "scalar")),
            *(("builtins", f) for f in ("set", "frozenset", "complex", "slice", "range")),
            ("collections", "OrderedDict"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        if module.startswith("speedoflight.") and "." not in name:
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not a figure's input")


def _serve() -> None:
    """Import the figures' modules, then draw each job read from standard input until it closes: the child."""
    if len(sys.argv) < 2 or _package() != sys.argv[1]:
        return  # another copy of the package than the parent's: the parent draws every figure
    answers = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # whatever a library prints goes nowhere, never into the answers
    sys.stdout = sys.stderr
    from .plots import pyplot

    pyplot()
    for module in {m for m, _ in FIGURES.values()} | set(_INPUTS):
        importlib.import_module(module)
    _warm_up()
    jobs = sys.stdin.buffer
    while True:
        try:
            name, args, path = _Jobs(jobs).load()  # written by this process's parent, never by anyone else
        except EOFError:
            return
        try:
            if name not in FIGURES:
                raise ValueError(f"unknown figure {name!r}")
            _draw(name, args, path)
            error = None
        except Exception as exc:  # the parent draws it again and raises it there
            error = f"{type(exc).__name__}: {exc}"
        answers.write((json.dumps([path, error]) + "\n").encode())
        answers.flush()


def _warm_up() -> None:
    """Draw a small figure nobody sees, while the parent still computes: fonts, text layout, constrained layout."""
    from .plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(3, 2), layout="constrained")
    ax[0].plot([1, 2], [1, 2], label="a")
    ax[0].fill_between([1, 2], [0, 1], [2, 3], alpha=0.2)
    ax[0].set_xscale("log", base=2)
    ax[0].set_xlabel("P")
    ax[0].legend()
    fig.suptitle("warm-up")
    fig.canvas.draw()
    plt.close(fig)
