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

#: Rows truncated at a time (a full-vocabulary row of 262,144 float64 is 2 MiB).
_BLOCK = 256
#: Entries (rows x width) the grafted tree's rows hold at most under the default truncation: past it, each row
#: keeps fewer tokens (never fewer than ``KEEP_FLOOR``), since the grafted tree needs every row (no sample).
GRAFTED_ENTRIES = 1 << 25

__all__ = ["DumpStage", "Truncation", "read_dumps", "truncate_parts"]


@dataclass(frozen=True)
class Truncation:
    """How the rows the simulations use were truncated (docs/theory.md section 3.6).

    Attributes
    ----------
    keep : int or None
        ``--top-k`` (None: the default rule, :func:`~speedoflight.simulation.simulate.keep_counts`).
    listed_min : int
        The fewest tokens a row of the inputs lists (0 where unknown). A best tree of P nodes uses no token past
        its parent's P-th, so for P up to the fewest tokens every row keeps, the dropped-tail value is exact.
    kept_min : int
        The fewest tokens a row keeps after the truncation (the grafted rows' and the pool's, whichever is fewer).
    cut : int
        Rows that keep fewer tokens than they list (0: the truncation is the inputs' own top-k).

    """

    keep: int | None
    listed_min: int
    kept_min: int
    cut: int


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
    truncation : Truncation
        How many tokens the rows list and keep.

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
    truncation: Truncation = Truncation(None, 0, 0, 0)

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
    keep: int | None = None,
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
    keep
        ``--top-k``: tokens kept per row of the simulator's pools and of the grafted tree (None: the default rule of
        :func:`~speedoflight.simulation.simulate.keep_counts`).

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
        raise InputError("give at least one dump of the verifier's distributions ({dumps})", param="dumps")
    files = expand_paths(list(dumps))  # a folder or a glob of shards: the files, so each is a dump of its own
    drop, lump = PoolScan(tail="drop", keep=keep), PoolScan(tail="lump", keep=keep)
    conts, named = ContinuationScan(), ModelNameScan()
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
    listed, kept, cut = drop.listed_min, drop.kept_min, drop.cut
    if parts is not None:
        parts, g_listed, g_kept, g_cut = truncate_parts(parts, keep)
        listed, kept, cut = min(listed, g_listed), min(kept, g_kept), max(cut, g_cut)
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
        truncation=Truncation(keep, listed, kept, cut),
    )


def truncate_parts(parts: list[dict[str, Any]], keep: int | None) -> tuple[list[dict[str, Any]], int, int, int]:
    """Truncate the grafted tree's rows as the simulator's pools are (``--top-k``, or the default rule).

    Each row keeps its largest listed tokens (:func:`~speedoflight.simulation.simulate.keep_counts`); the rest
    count as unlisted, so the grafted tree drops or lumps them with the row's unlisted mass, and a sampled token
    among them is added back with its exact log-probability, as one past the top k is. Rows no wider than they may
    keep are left as they are (the shipped dumps, bit for bit).

    Parameters
    ----------
    parts
        The per-dump arrays (``ContinuationScan.parts()``).
    keep
        ``--top-k`` (None: the default rule, each row at most ``GRAFTED_ENTRIES`` / rows tokens, at least
        ``KEEP_FLOOR``).

    Returns
    -------
    tuple
        The parts (new dicts where rows were cut), the fewest tokens a row lists, the fewest it keeps, and how many
        rows were cut.

    """
    import numpy as np

    from .._config import KEEP_FLOOR
    from ..simulation.simulate import keep_counts

    out, listed_min, kept_min, cut = [], 0, 0, 0
    n_rows = sum(len(part["topk_logprobs"]) for part in parts)
    most = max(KEEP_FLOOR, GRAFTED_ENTRIES // max(n_rows, 1)) if keep is None else None
    for part in parts:
        lp = np.asarray(part["topk_logprobs"])
        if not len(lp):
            out.append(part)
            continue
        ks, listeds = [], []
        for lo in range(0, len(lp), _BLOCK):  # blocks of rows: a full-vocabulary part is never sorted whole
            x = -np.sort(-lp[lo : lo + _BLOCK].astype(np.float64), axis=1)
            listed = np.isfinite(x).sum(axis=1)
            with np.errstate(under="ignore"):
                k_block = np.minimum(keep_counts(x, keep), np.maximum(listed, 1))
                ks.append(k_block if most is None else np.minimum(k_block, most))
            listeds.append(listed)
        k, listed = np.concatenate(ks), np.concatenate(listeds)
        low_l, low_k = int(listed.min()), int(k.min())
        listed_min = low_l if not listed_min else min(listed_min, low_l)
        kept_min = low_k if not kept_min else min(kept_min, low_k)
        n_cut = int((k < listed).sum())
        if not n_cut:
            out.append(part)
            continue
        cut += n_cut
        width = int(k.max())
        vals = np.empty((len(lp), width), dtype=lp.dtype)
        ids = np.empty((len(lp), width), dtype=np.int64)
        all_ids = np.asarray(part["topk_ids"])
        for lo in range(0, len(lp), _BLOCK):
            hi = min(lo + _BLOCK, len(lp))
            order = np.argsort(-lp[lo:hi], axis=1, kind="stable")[:, :width]
            v = np.take_along_axis(lp[lo:hi], order, axis=1)
            i = np.take_along_axis(all_ids[lo:hi], order, axis=1).astype(np.int64)
            beyond = np.arange(width)[None, :] >= k[lo:hi, None]
            v[beyond] = -np.inf
            i[beyond] = -2 - np.nonzero(beyond)[1]  # distinct ids that name no token: the rows' checks hold
            vals[lo:hi], ids[lo:hi] = v, i
        new = dict(part)
        new["topk_logprobs"], new["topk_ids"] = vals, ids
        out.append(new)
    return out, listed_min, kept_min, cut
