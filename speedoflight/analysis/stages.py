"""Everything a command needs from the verifier's dumps, read in one pass and built once: the first stage.

``compare``, ``report`` and the real-model comparison each need, from the same files, the moments, the i.i.d.
pool, the trajectories, the simulator's two pools (tails dropped and lumped), the arrays of the grafted tree and
the model's name. :func:`read_dumps` reads the files once, feeding every consumer in the same pass
(:func:`speedoflight.readers.scan.scan`), builds the grafted inputs once (both tails, shared by the ceiling, its
depth caps, the depth profiles and the oracle section), and returns them frozen; the later stages take it instead
of the file names, so nothing is read or built twice (``report`` on the shipped data reads each file once).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

__all__ = ["DumpStage", "read_dumps"]


@dataclass(frozen=True)
class DumpStage:
    """The verifier's dumps, read once.

    Attributes
    ----------
    files : tuple of str
        The files, expanded (a folder or a glob of shards: its files), in order.
    scan : CurveScan
        The moments, the i.i.d. pool and the trajectories (:func:`~speedoflight.theory.curve.curve_scan`).
    pools : tuple
        The simulator's pools, tails dropped and lumped (:class:`~speedoflight.simulation.simulate.Distribution`).
    parts : list of dict or None
        The arrays of the grafted tree per file (None where the files hold no continuations with token ids).
    inputs : dict or None
        The grafted inputs, ``{"drop": GraftedInput, "lump": GraftedInput}``; None where they cannot be built.
    missing : str
        Why there are no grafted inputs ('' where there are).
    model : str
        The model the first file names ('' where none).
    n_layers : int or None
        Its layer count where the metadata records it.
    metadata : dict
        The first file's metadata (empty where it has none).

    """

    files: tuple[str, ...]
    scan: Any
    pools: tuple[Any, Any]
    parts: list[dict[str, Any]] | None
    inputs: dict[str, Any] | None
    missing: str
    model: str
    n_layers: int | None
    metadata: dict[str, Any]

    @property
    def moments(self) -> Any:
        """The moments of the files (what :func:`~speedoflight.theory.estimator.estimate` gives, bit for bit)."""
        return self.scan.moments

    def same_files(self, files: Sequence[str]) -> bool:
        """Whether ``files`` are this stage's files (the same paths once resolved, in the same order).

        Parameters
        ----------
        files
            File names.

        Returns
        -------
        bool

        """
        from .._util.paths import expand_paths

        try:
            mine = [os.path.realpath(f) for f in self.files]
            return mine == [os.path.realpath(f) for f in expand_paths(list(files))]
        except InputError:
            return False


def read_dumps(
    dumps: Sequence[str],
    *,
    kind: str | None = None,
    vocab_size: int | None = None,
    temperature: float = 1.0,
    tensor: str | None = None,
    pmax: float = 1.0,
    seed: int = 0,
    progress: bool = False,
    client: Any = None,
) -> DumpStage:
    """Read the verifier's dumps once and build what every later stage takes from them.

    Parameters
    ----------
    dumps
        Files of the verifier's logged distributions (any format the estimator reads; a folder or a glob of
        shards is its files).
    kind, vocab_size, temperature, tensor
        How to read them (as for :func:`~speedoflight.theory.estimator.estimate`).
    pmax
        The largest P a curve drawn from them will ask for.
    seed
        Bootstrap seed of the moments.
    progress
        Progress bars on stderr.
    client
        A dask client (the moments, the pool and the trajectories are summed on its workers; see
        :func:`~speedoflight.theory.curve.bound_curve`).

    Returns
    -------
    DumpStage

    """
    from .._util.paths import expand_paths
    from ..readers.continuations import ContinuationScan, grafted_inputs
    from ..readers.scan import ModelNameScan
    from ..simulation.simulate import PoolScan
    from ..theory.curve import curve_scan

    if not dumps:
        raise InputError("give at least one --dump of the verifier's distributions")
    files = expand_paths(list(dumps))  # a folder or a glob of shards: the files, so each is a dump of its own
    drop, lump, conts, named = PoolScan(tail="drop"), PoolScan(tail="lump"), ContinuationScan(), ModelNameScan()
    scanned = curve_scan(  # one pass over the dumps: moments, i.i.d. pool, trajectories, both pools, continuations
        files,
        kind=kind,
        vocab_size=vocab_size,
        temperature=temperature,
        tensor=tensor,
        pmax=pmax,
        seed=seed,
        progress=progress,
        also=[drop, lump, conts, named],
        client=client,
    )
    n_files = len(scanned.moments.sources)
    parts = conts.parts()
    inputs, missing = None, conts.reason
    if parts is not None:
        try:
            inputs = grafted_inputs(files, parts=parts)
        except InputError as exc:
            missing = str(exc)
    return DumpStage(
        files=tuple(files),
        scan=scanned,
        pools=(drop.finish(n_files), lump.finish(n_files)),
        parts=parts,
        inputs=inputs,
        missing=missing,
        model=named.name,
        n_layers=named.n_layers,
        metadata=named.metadata,
    )
