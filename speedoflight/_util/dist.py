"""Dask (the ``[dist]`` extra): connect to a scheduler, run one task per shard, gather in order with progress.

``--scheduler local`` (or ``local:N``) starts a LocalCluster of worker processes on this machine, the embedded
default for one big machine; ``tcp://host:port`` (or ``host:port``) joins an existing cluster (started by hand,
dask-jobqueue, the dask Kubernetes operator). Tasks are submitted with retries, and dask recomputes the tasks of
a worker that dies on the others, so a lost worker changes nothing in the result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import InputError

__all__ = ["DIST_HINT", "TIMEOUT_S", "connect", "distributed", "run_tasks"]

DIST_HINT = "pip install 'speedoflight[dist]'"
#: Seconds to wait for a scheduler before saying it did not answer.
TIMEOUT_S = 10.0
#: Attempts of a task beyond the first (a task whose worker died is recomputed by dask anyway).
RETRIES = 2


def distributed() -> Any:
    """Return the ``distributed`` module, or raise the one-line error naming the extra.

    Returns
    -------
    module
        ``distributed``.

    Raises
    ------
    InputError
        Without the ``[dist]`` extra.

    """
    try:
        import distributed as dist
    except ImportError:
        raise InputError(
            f"{{scheduler}} needs the [dist] extra (dask and distributed): {DIST_HINT}", param="scheduler"
        ) from None
    return dist


@contextlib.contextmanager
def connect(address: str, timeout: float = TIMEOUT_S) -> Iterator[Any]:
    """Yield a dask client for ``address``: ``local``, ``local:N`` or a scheduler's ``tcp://host:port``.

    Parameters
    ----------
    address
        Where the work runs.
    timeout
        Seconds to wait for a remote scheduler.

    Yields
    ------
    distributed.Client
        Closed (with its LocalCluster) on exit.

    Raises
    ------
    InputError
        For a malformed address, or a scheduler that does not answer within ``timeout``.

    """
    dist = distributed()
    if address == "local" or address.startswith("local:"):
        n = address.partition(":")[2] or str(os.cpu_count() or 1)
        most = _most_workers()
        if not (n.isascii() and n.isdigit()) or not 1 <= int(n) <= most:
            raise InputError(
                f"{{scheduler}} {address}: give local, local:N with N workers (1 to {most}: {os.cpu_count() or 1} "
                f"cores, about {WORKER_MEMORY >> 20} MiB per worker), or tcp://host:port",
                param="scheduler",
            )
        cluster = dist.LocalCluster(
            n_workers=int(n), threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
        )
        client = dist.Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
        return
    if "://" not in address and ":" not in address:
        raise InputError(
            f"{{scheduler}} {address!r}: give local, local:N or a scheduler address like tcp://host:8786",
            param="scheduler",
        )
    _probe(address, timeout)
    try:
        client = _client_within(dist, address, timeout)
    except InputError:
        raise
    except (OSError, TimeoutError) as exc:
        raise _no_answer(address, timeout, exc) from None
    except Exception as exc:  # something else listens there (a web server, a proxy): its bytes
        # are no dask handshake, and distributed fails on them in any of many ways (even a huge allocation)
        raise InputError(
            f"{{scheduler}} {address}: what answered there is not a dask scheduler ({exc.__class__.__name__}); give "
            "the scheduler's own address (`dask scheduler` prints it, port 8786 by default)",
            param="scheduler",
        ) from None
    try:
        yield client
    finally:
        client.close()


#: Memory a worker process needs at least (the package, numpy and numba loaded, and a shard's sums).
WORKER_MEMORY = 512 << 20


def _most_workers() -> int:
    """Return the most local workers this machine holds: four per core, and no more than memory allows."""
    cores = os.cpu_count() or 1
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 0
    by_memory = max(1, memory // WORKER_MEMORY) if memory else 4 * cores
    return int(max(1, min(4 * cores, by_memory, 1024)))


def _client_within(dist: Any, address: str, timeout: float) -> Any:
    """``distributed.Client`` with a deadline on the whole handshake (a listener that sent one byte hung it)."""
    import threading

    box: dict[str, Any] = {}

    def make() -> None:
        try:
            box["client"] = dist.Client(address, timeout=timeout)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=make, daemon=True)
    worker.start()
    worker.join(timeout + 5.0)
    if worker.is_alive():
        raise InputError(
            f"{{scheduler}} {address}: something answered but never completed a dask handshake within {timeout:g} s, "
            "so it is not a dask scheduler; give the scheduler's own address (`dask scheduler` prints it)",
            param="scheduler",
        )
    if "error" in box:
        raise box["error"]
    return box["client"]


def _no_answer(address: str, timeout: float, exc: BaseException) -> InputError:
    """Return the one line for an address where no scheduler answers (refused, unreachable, timed out)."""
    return InputError(
        f"{{scheduler}} {address}: no scheduler answered within {timeout:g} s ({exc.__class__.__name__}); start "
        "one (`dask scheduler`) or use {scheduler} local",
        param="scheduler",
    )


def _probe(address: str, timeout: float) -> None:
    """Refuse a ``tcp://`` address where nothing speaks first within ``timeout``: a dask scheduler greets at once.

    distributed waits for that greeting without a deadline, so a silent listener would hang the client forever.
    """
    import socket

    scheme, sep, rest = address.rpartition("://")
    if sep and scheme != "tcp":
        return  # tls://, ucx://, ws://: left to distributed
    host, _, port = rest.rpartition(":")
    if not host or not (port.isascii() and port.isdigit()):
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
            sock.settimeout(timeout)
            greeting = sock.recv(1)
    except TimeoutError:
        greeting = b""
    except OSError as exc:
        raise _no_answer(address, timeout, exc) from None
    if not greeting:
        raise InputError(
            f"{{scheduler}} {address}: something listens there but said nothing within {timeout:g} s, so it is not a "
            "dask scheduler; give the scheduler's own address (`dask scheduler` prints it, port 8786 by default)",
            param="scheduler",
        )


def run_tasks(
    client: Any,
    fn: Callable[..., Any],
    calls: Sequence[tuple[Any, ...]],
    *,
    progress: bool = False,
    what: str = "shard",
) -> list[Any]:
    """Run ``fn(*args)`` once per entry of ``calls`` on the cluster; return the results in the order of ``calls``.

    Parameters
    ----------
    client
        A dask client.
    fn
        A module-level function (workers import it by name).
    calls
        One argument tuple per task.
    progress
        A progress bar on stderr (the driver's).
    what
        The bar's unit.

    Returns
    -------
    list
        ``fn``'s results, in order. A task's :class:`~speedoflight.errors.InputError` comes back as a value (never retried) and is raised here, once.

    """
    from tqdm import tqdm

    dist = distributed()
    futures = [client.submit(_guarded, fn, *args, retries=RETRIES, pure=False) for args in calls]
    with tqdm(total=len(futures), disable=not progress, file=sys.stderr, unit=what, leave=False) as bar:
        for _ in dist.as_completed(futures):
            bar.update(1)
    out = []
    for status, value in client.gather(futures):
        if status == "input-error":  # the user's error, raised where the user sees it: once, in one line
            raise InputError(value[0], param=value[1])
        out.append(value)
    return out


def _guarded(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """Run ``fn`` on a worker; a user error comes back as a value (no retry, no traceback in the worker's log)."""
    try:
        return "ok", fn(*args)
    except InputError as exc:
        return "input-error", (exc.template, exc.params)  # the parameters too, which the CLI writes as flags
