"""Atomic file output: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from ..errors import InputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left as it
    was (absent, or with its previous content).
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise InputError(f"{target}: the folder {folder} does not exist; create it first")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(target), dir=folder)
    except OSError as exc:
        raise InputError(f"{target}: cannot write there ({exc.strerror}); choose another path") from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` whole.

    On any exception the temporary folder is removed and ``path`` is left as
    it was, so a failed run never leaves half a report.
    """
    import shutil

    target = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(target)
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(target) + "-", dir=parent)
    except OSError as exc:
        raise InputError(f"{target}: cannot write there ({exc.strerror}); choose another --out") from None
    try:
        yield tmp
        if os.path.exists(target) and not os.path.isdir(target):
            raise InputError(f"{target}: exists and is not a folder; choose another --out")
        if os.path.isdir(target):
            old = tempfile.mkdtemp(prefix=".tmp-old-", dir=parent)
            os.rename(target, os.path.join(old, "x"))
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
