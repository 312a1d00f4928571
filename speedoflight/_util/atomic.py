"""Atomic output: files written beside their target and renamed into place; folders never replaced whole.

Three rules hold for every output of the package:

* a file output is written to a temporary file in the target's folder and renamed onto the target, so a reader
  (or a second writer) sees the old file or the new one, never half of one; an interrupted run leaves the old;
* a folder output (``--out DIR``) receives the command's own files, each replaced atomically, under a lock on the
  folder so that two runs finishing together each leave a complete set; nothing else in the folder is touched,
  and the folder keeps its permissions;
* the target is checked before any work (:func:`check_out_file`, :func:`check_out_dir`): an existing directory,
  device or FIFO where a file should go, a missing parent folder or an unknown extension is refused with one line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator

from ..errors import InputError

__all__ = ["atomic_dir", "atomic_path", "check_out_dir", "check_out_file"]


def _mode_for_new(path: str, is_dir: bool) -> None:
    """Give a file or folder made by mkstemp/mkdtemp (0600/0700) the usual permissions under the umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if is_dir else 0o666) & ~umask)


def check_out_file(path: str | os.PathLike[str], suffixes: Iterable[str] | None = None, flag: str = "") -> str:
    """Refuse an output file path that cannot be written as a regular file, before any work is done.

    Parameters
    ----------
    path
        The output path the user gave.
    suffixes
        Accepted extensions (lower case, with the dot); None accepts any.
    flag
        The flag that named the path, for the message (for example ``--per-row``).

    Returns
    -------
    str
        The path to write: ``path`` itself, or the file a symbolic link points to (the link is kept).

    """
    target = os.fspath(path)
    name = f"{flag} {target}" if flag else target
    if not target or target.endswith(os.sep):
        raise InputError(f"{name}: give a file name, not a folder")
    if suffixes is not None:
        allowed = tuple(suffixes)
        if not target.lower().endswith(allowed):
            raise InputError(f"{name}: unknown extension; give a name ending in {', '.join(allowed)}")
    real = os.path.realpath(target)
    if os.path.islink(target):  # resolved once here; the checks below are on the file it names
        if suffixes is not None and not real.lower().endswith(allowed):
            raise InputError(
                f"{name}: is a link to {real}, which does not end in {', '.join(allowed)}; give the file's own path"
            )
        parent = os.path.dirname(os.path.abspath(target))
        if os.stat(parent).st_mode & stat.S_ISVTX and os.lstat(target).st_uid not in (os.getuid(), 0):
            raise InputError(
                f"{name}: is another user's link in a shared folder; writing through it would replace {real}, so "
                "give the file's own path"
            )
    if os.path.lexists(real):
        mode = os.stat(real).st_mode if os.path.exists(real) else 0
        if not stat.S_ISREG(mode):
            what = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a device, FIFO or broken link)"
            raise InputError(f"{name}: exists and is {what}; give a new or regular file's path")
    folder = os.path.dirname(os.path.abspath(real))
    if not os.path.isdir(folder):
        raise InputError(f"{name}: the folder {os.path.dirname(target) or '.'} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{name}: cannot write in {os.path.dirname(target) or '.'} (permission denied)")
    return real


def check_out_dir(path: str | os.PathLike[str], param: str = "out") -> str:
    """Refuse an output folder that cannot be written, before any work is done.

    Parameters
    ----------
    path
        The folder the user gave (it may not exist yet; its parent must).
    param
        The parameter that named it, for the message (the CLI writes its flag).

    Returns
    -------
    str
        The folder's absolute path.

    """
    target = os.path.abspath(os.fspath(path))
    name = f"{{{param}}} {os.fspath(path)}"
    if os.path.lexists(target) and not os.path.isdir(target):
        raise InputError(f"{name}: exists and is not a folder; choose another {{{param}}}", param=param)
    probe = target if os.path.isdir(target) else os.path.dirname(target)
    if not os.path.isdir(probe):
        raise InputError(
            f"{name}: the folder {os.path.dirname(os.fspath(path)) or '.'} does not exist; create it first",
            param=param,
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(
            f"{name}: cannot write in {probe} (permission denied); choose another {{{param}}}", param=param
        )
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left as it
    was (absent, or with its previous content). A ``path`` that exists and is
    not a regular file (a folder, device, FIFO) is refused; a symbolic link to
    a file is followed, so the link stays and its file is replaced.

    Parameters
    ----------
    path
        The file to write.

    Yields
    ------
    str
        A temporary path in the same folder: write the whole file there.

    """
    target = check_out_file(path)
    folder = os.path.dirname(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(target), dir=folder)
    except OSError as exc:
        raise InputError(f"{os.fspath(path)}: cannot write there ({exc.strerror}); choose another path") from None
    os.close(fd)
    _mode_for_new(tmp, is_dir=False)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(folder: str) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` itself (no lock file is left behind)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary folder; on success its files are moved into ``path``, each replacing its namesake.

    Nothing else in ``path`` is touched and ``path`` keeps its permissions. A
    new ``path`` is created with the usual permissions. Two runs that finish
    together each move their whole set under a lock on the folder, so the
    folder ends with one run's complete set. On any exception the temporary
    folder is removed and ``path`` is left as it was.

    Parameters
    ----------
    path
        The output folder (``--out``); its parent must exist.

    Yields
    ------
    str
        A temporary folder: write the command's files there (files only).

    """
    target = check_out_dir(path)
    existed = os.path.isdir(target)
    stage_in = target if existed else os.path.dirname(target)
    try:
        tmp = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(target) + "-", dir=stage_in)
    except OSError as exc:
        raise InputError(
            f"{target}: cannot write there ({exc.strerror}); choose another {{out}}", param="out"
        ) from None
    try:
        yield tmp
        names = sorted(os.listdir(tmp))
        if any(os.path.isdir(os.path.join(tmp, n)) for n in names):
            raise RuntimeError("atomic_dir holds files only")
        for n in names:
            _mode_for_new(os.path.join(tmp, n), is_dir=False)
        if not existed:
            _mode_for_new(tmp, is_dir=True)
            try:
                os.rename(tmp, target)  # the whole new folder appears at once
                return
            except OSError:
                if not os.path.isdir(target):
                    raise
                # another run created it meanwhile: move the files in, as into any existing folder
        with _locked(target):
            for n in names:  # every target checked before the first is replaced: all or nothing
                dest = os.path.join(target, n)
                if os.path.lexists(dest) and not os.path.isfile(dest):
                    raise InputError(
                        f"{dest}: exists and is not a regular file; move it away or choose another {{out}}", param="out"
                    )
            for n in names:
                os.replace(os.path.join(tmp, n), os.path.join(target, n))
        shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
