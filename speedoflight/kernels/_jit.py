"""The package's one numba factory: every kernel is compiled through :func:`_jit`, with the flags of ``_config``.

Kernels are cached on disk (``cache=True``) so that only the first run after an install compiles them. numba looks
for a writable place next to the source (``__pycache__``) or in the user's cache folder; where there is none (a
non-root user of a root-owned install with an unwritable HOME, a read-only root filesystem: ``docker run --user
1000``), numba refuses to cache and every kernel import failed with "no locator available". The factory then caches
in a private folder under the system's temporary folder (created for this user alone, refused if another user owns
it or can write it), or, where even that is impossible, compiles without a cache; either way it says so once on
stderr.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import numba
import numba.core.config
import numba.core.event

from .._config import FASTMATH
from .._util import notice as _notice

__all__ = ["_jit", "cache_state", "preload_numba"]

_STATE: dict[str, Any] = {"mode": "package", "said": False}


class _CompileListener(numba.core.event.Listener):
    """Tell :mod:`speedoflight._util.notice` when numba starts compiling a kernel of the package (cache misses)."""

    def on_start(self, event: Any) -> None:
        dispatcher = (event.data or {}).get("dispatcher")
        if getattr(getattr(dispatcher, "py_func", None), "__module__", "").startswith("speedoflight."):
            _notice.compiling()

    def on_end(self, event: Any) -> None:
        pass


numba.core.event.register("numba:compile", _CompileListener())


def cache_state() -> str:
    """Return where the kernels are cached: ``"package"`` (numba's own places), ``"temporary"`` or ``"none"``.

    Returns
    -------
    str
        The fallback in use.

    """
    return str(_STATE["mode"])


def _private_folder() -> str | None:
    """Return a folder under the temporary folder that only this user owns and can write, or None."""
    try:
        uid = os.getuid()
        path = os.path.join(tempfile.gettempdir(), f"speedoflight-numba-{uid}")
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return None  # another user's folder (or a link): its cached code must never be loaded
        probe = tempfile.NamedTemporaryFile(dir=path)
        probe.close()
    except OSError:
        return None
    return path


def _say(text: str) -> None:
    if not _STATE["said"]:
        _STATE["said"] = True
        print(f"speedoflight: note: {text}", file=sys.stderr, flush=True)


def _no_locator(exc: RuntimeError) -> bool:
    return "no locator available" in str(exc)


def _jit(*, parallel: bool = False) -> Callable[[Any], Any]:
    """Return the package's numba decorator (the only ``njit`` call site), falling back where it cannot cache.

    Parameters
    ----------
    parallel
        Compile with numba's parallel loops.

    Returns
    -------
    callable
        A decorator: ``numba.njit`` with the package's flags, cached where possible.

    """
    options: dict[str, Any] = {"fastmath": set(FASTMATH), "error_model": "numpy", "nogil": True, "parallel": parallel}

    def decorate(func: Any) -> Any:
        if _STATE["mode"] != "none":
            try:
                return numba.njit(cache=True, **options)(func)
            except RuntimeError as exc:
                if not _no_locator(exc):
                    raise
            config: Any = numba.core.config  # CACHE_DIR is set from the environment at import: not in the stubs
            folder = None if config.CACHE_DIR else _private_folder()
            if folder is not None:
                config.CACHE_DIR = folder
                try:
                    compiled = numba.njit(cache=True, **options)(func)
                except RuntimeError as exc:
                    if not _no_locator(exc):
                        raise
                else:
                    _STATE["mode"] = "temporary"
                    _say(
                        f"numba cannot cache beside the package or in your home folder; kernels are cached in {folder}"
                    )
                    return compiled
            _STATE["mode"] = "none"
            _say("numba finds no writable place to cache kernels; they are compiled on every run (slower starts)")
        return numba.njit(cache=False, **options)(func)

    return decorate


def preload_numba() -> None:
    """Start numba's own set-up (its lowering registries, about 0.3 s) in a background thread.

    numba does it at the first kernel a process loads. A command that reads compressed files before its first
    kernel starts it here: decompression releases the GIL, so the two overlap. The set-up runs under numba's
    compiler lock, which every kernel load takes too, so a load waits for it rather than racing it; where numba's
    internals differ from these, nothing is started and the first kernel does the set-up as before.
    """
    try:
        from numba.core.compiler_lock import global_compiler_lock
        from numba.core.registry import cpu_target
    except ImportError:
        return

    def setup() -> None:
        try:
            with global_compiler_lock:
                cpu_target.target_context.refresh()
        except Exception:  # the first kernel's own set-up reports whatever went wrong
            pass

    threading.Thread(target=setup, name="speedoflight-numba", daemon=True).start()
