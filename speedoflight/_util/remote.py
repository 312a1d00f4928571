"""fsspec URLs as inputs (``s3://bucket/logs/*.npz``, ``gcs://...``, ``file:///...``): listed, globbed and read.

A URL is any input with ``://``. fsspec (installed with the ``[dist]`` extra) names the filesystem; its own
package (s3fs, gcsfs, adlfs, ...) must be installed for a cloud store. Files are read through fsspec's
random-access file objects, so opening a dump reads its zip directory and metadata, not its rows, and a worker
reads only the shard it was given. Nothing is downloaded beyond what the command reads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, Any

from ..errors import InputError

__all__ = ["FSSPEC_HINT", "expand_url", "is_url", "open_input", "open_url", "url_size"]

FSSPEC_HINT = "pip install 'speedoflight[dist]'"


def is_url(path: str) -> bool:
    """Whether ``path`` is a URL for fsspec (it holds ``://``).

    Parameters
    ----------
    path
        An input as the user gave it.

    Returns
    -------
    bool
        True for ``scheme://...``.

    """
    return "://" in path


def _fs(url: str) -> tuple[Any, str]:
    """Return fsspec's filesystem for ``url`` and the path inside it, or raise one line naming what is missing."""
    try:
        import fsspec.core
    except ImportError:
        raise InputError(
            f"{url}: URLs are read with fsspec, which comes with the [dist] extra: {FSSPEC_HINT}"
        ) from None
    try:
        return fsspec.core.url_to_fs(url)  # type: ignore[no-any-return]
    except ImportError as exc:  # the protocol's own package, e.g. "Install s3fs to access S3"
        raise InputError(f"{url}: {exc}; then run the command again") from None
    except ValueError as exc:  # "Protocol not known: xyz"
        raise InputError(f"{url}: fsspec does not read this address ({exc}); check the scheme") from None


#: Packages whose exceptions mean "the store could not be reached or read" (their own types, not OSError):
#: aiohttp under http(s), botocore under s3, google's under gcs, azure's under abfs, requests and urllib3.
_STORE_PACKAGES = ("aiohttp", "aiobotocore", "botocore", "google", "azure", "requests", "urllib3", "gcsfs", "s3fs")


def _from_the_store(exc: BaseException) -> bool:
    """Whether ``exc`` is a filesystem's failure (network, time-out, service), not a bug of this package."""
    if isinstance(exc, OSError):  # ConnectionError, TimeoutError (asyncio's too), socket errors
        return True
    return any(type(e).__module__.split(".")[0] in _STORE_PACKAGES for e in (exc, exc.__cause__) if e is not None)


@contextlib.contextmanager
def _answers(url: str) -> Iterator[None]:
    """Turn a filesystem's failure (missing object, no access, no network, a time-out) into one line naming the URL."""
    try:
        yield
    except FileNotFoundError:
        raise InputError(f"{url}: no such file; check the address") from None
    except PermissionError:
        raise InputError(f"{url}: access denied; check the credentials of its filesystem") from None
    except TimeoutError:
        raise InputError(f"{url}: the store did not answer in time; check the network and try again") from None
    except Exception as exc:
        if not _from_the_store(exc):
            raise
        what = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise InputError(
            f"{url}: could not be read ({exc.__class__.__name__}{': ' + what if what else ''}); check the network "
            "and the address, and try again"
        ) from None


class _Answering:
    """A remote file whose reads, seeks and closes fail as one line naming the URL (see :func:`_answers`).

    Every other attribute is the fsspec file's own.
    """

    def __init__(self, url: str, fh: IO[Any]) -> None:
        self._url = url
        self._fh = fh

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _Answering:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        with _answers(self._url):
            yield from self._fh

    def read(self, *args: Any) -> Any:
        with _answers(self._url):
            return self._fh.read(*args)

    def readinto(self, buf: Any) -> int:
        with _answers(self._url):
            return int(self._fh.readinto(buf))  # type: ignore[attr-defined]

    def readline(self, *args: Any) -> Any:
        with _answers(self._url):
            return self._fh.readline(*args)

    def seek(self, *args: Any) -> int:
        with _answers(self._url):
            return int(self._fh.seek(*args))

    def close(self) -> None:
        with _answers(self._url):
            self._fh.close()


def expand_url(url: str, suffixes: tuple[str, ...]) -> list[str]:
    """Expand a URL: a glob's matches, a folder's shards (names ending in ``suffixes``), or the file itself.

    Parameters
    ----------
    url
        ``scheme://...``, with glob characters or naming a folder or a file.
    suffixes
        The file names a folder contributes.

    Returns
    -------
    list of str
        Full URLs, sorted.

    Raises
    ------
    InputError
        Nothing matches, the folder holds no shard, or the filesystem cannot be reached.

    """
    fs, path = _fs(url)
    with _answers(url):
        if any(c in path for c in "*?["):
            hits = sorted(fs.glob(path))
            if not hits:
                raise InputError(f"{url}: the pattern matches no file")
        elif fs.isdir(path):
            hits = sorted(p for p in fs.ls(path, detail=False) if p.lower().endswith(suffixes) and fs.isfile(p))
            if not hits:
                raise InputError(f"{url}: the folder holds no shard ({', '.join(suffixes)} files)")
        else:
            return [url]
    return [fs.unstrip_protocol(p) for p in hits]


def url_size(url: str) -> int:
    """Return the size of the file at ``url`` in bytes, after checking it exists and is a file.

    Parameters
    ----------
    url
        ``scheme://...``.

    Returns
    -------
    int
        Bytes.

    Raises
    ------
    InputError
        No such file, a folder, or unreachable.

    """
    fs, path = _fs(url)
    with _answers(url):
        info = fs.info(path)  # not fs.exists, which answers False for a refused connection or a time-out
    if info.get("type") == "directory":
        raise InputError(f"{url}: is a folder, expected a file")
    return int(info.get("size") or 0)


def open_url(url: str, mode: str = "rb", **kwargs: Any) -> IO[Any]:
    """Open the file at ``url`` for reading (random access; ``"rt"`` for text, with ``encoding``/``errors``).

    Parameters
    ----------
    url
        ``scheme://...``.
    mode
        ``"rb"`` or ``"rt"``.
    **kwargs
        Passed to fsspec (``encoding``, ``errors`` for text).

    Returns
    -------
    file object
        Close it when done.

    """
    import fsspec

    with _answers(url):
        fh = fsspec.open(url, mode, **kwargs).open()
    return _Answering(url, fh)  # type: ignore[return-value]  # the file's own interface, each read answering


def open_input(path: str, mode: str = "rb", **kwargs: Any) -> IO[Any]:
    """Open a local file with :func:`open`, a URL with :func:`open_url`.

    Parameters
    ----------
    path
        A local path or ``scheme://...``.
    mode
        ``"rb"`` or ``"rt"`` (``"r"`` is text).
    **kwargs
        ``encoding``, ``errors`` for text.

    Returns
    -------
    file object
        Close it when done.

    """
    if is_url(path):
        return open_url(path, "rt" if mode == "r" else mode, **kwargs)
    return open(path, mode, **kwargs)
