"""``BoundCurve``: every bound and curve at a set of verifier capacities P.

:func:`bound_curve` takes either ``mu``/``mu2`` (closed forms only) or files
of logged distributions (then also the exact i.i.d. curve from the pool and,
when the files record sampled continuations, the trajectory bound), and
optionally a :class:`~speedoflight.timing.Timing` for the speedup ceiling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..options import ReadOptions, RunOptions, split_legacy
from ..timing import Timing, speedup
from . import bounds as B
from .iid import IIDCurve, iid_curve
from .registry import CURVES
from .trajectory import TrajectoryBound, TrajectoryScan, trajectory_bound

__all__ = ["MAX_P_POINTS", "BoundCurve", "CurveScan", "bound_curve", "curve_scan"]

#: The most capacities one -P range may ask for (each costs a row of every bound).
MAX_P_POINTS = 10_000  # the most tree sizes one curve evaluates (the CLI's -P range is held to it)

#: What each column is, for tables and JSON consumers (from the one registry, :mod:`.registry`).
LABELS = {k: c.description for k, c in CURVES.items()}


@dataclass(frozen=True)
class BoundCurve:
    """All bounds at each P (nats inside; E[X] is a count), with the inputs behind them."""

    P: np.ndarray
    mu: float
    mu2: float
    columns: dict[str, np.ndarray]
    intervals: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    mu_interval: tuple[float, float] | None = None
    mu2_interval: tuple[float, float] | None = None
    iid: IIDCurve | None = None
    iid_tail: str | None = None
    trajectory: TrajectoryBound | None = None
    timing: Timing | None = None
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    moments: Any = None
    _best: dict[float, dict[str, dict[str, float]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )  # best() by the grid's top: its search evaluates every bound on about 4,000 P

    def speedups(self) -> dict[str, np.ndarray]:
        """Speedup ceiling per column (needs a timing model).

        Returns
        -------
        dict of str to ndarray
            The speedup over plain decoding at each P, by column name; empty without a timing model.

        """
        if self.timing is None:
            return {}
        return {k: speedup(v, self.P, self.timing) for k, v in self.columns.items()}

    def at(self, p: np.ndarray) -> dict[str, np.ndarray]:
        """Every curve at other P values.

        Parameters
        ----------
        p
            Verifier capacities.

        Returns
        -------
        dict of str to ndarray
            E[X] of each curve at ``p``, by curve name.

        """
        return _evaluate(self, np.asarray(p, dtype=np.float64))

    def best(self, grid_max: float | None = None) -> dict[str, dict[str, float]]:
        """Best P and its speedup per curve, searched on a dense grid up to max(P).

        Parameters
        ----------
        grid_max
            Largest P of the search grid; None (or 0) searches up to max(P). The grid holds every
            integer up to ``min(grid_max, 4096)`` and 400 log-spaced, rounded values up to ``grid_max``.

        Returns
        -------
        dict of str to dict
            ``{"P": best P, "speedup": its speedup}`` by curve name; empty without a timing model.

        """
        if self.timing is None:
            return {}
        top = float(grid_max or self.P.max())
        if top not in self._best:
            self._best[top] = self._search_best(top)
        return {name: dict(found) for name, found in self._best[top].items()}

    def _search_best(self, top: float) -> dict[str, dict[str, float]]:
        timing = self.timing
        assert timing is not None
        grid = np.unique(np.concatenate([np.arange(1, min(top, 4096) + 1), np.round(np.geomspace(1, top, 400))]))
        out = {}
        for name, values in _evaluate(self, grid).items():
            s = speedup(values, grid, timing)
            if not np.any(np.isfinite(s)):
                continue  # beyond a latency table's range
            i = int(np.nanargmax(s))
            out[name] = {"P": float(grid[i]), "speedup": float(s[i])}
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"mu", "mu2", "rows": [{"P", ...}], ...}``.

        Returns
        -------
        dict
            ``mu`` and ``mu2`` (nats), ``units``, one row per P (every column, the intervals, the i.i.d.
            grid error, the trajectory interval and the speedups present), ``labels``, ``notes``, ``sources``,
            and, where present, the moment intervals, the i.i.d. and trajectory settings, the timing model
            and the best P per curve.

        """
        rows = []
        sp = self.speedups()
        for i, p in enumerate(self.P):
            row: dict[str, Any] = {"P": float(p)}
            for k, v in self.columns.items():
                row[k] = float(v[i])
            for k, (lo, hi) in self.intervals.items():
                row[f"{k}_interval"] = [float(lo[i]), float(hi[i])]
            if self.iid is not None:
                row["iid_grid_error"] = float(self.iid.grid_error[i])
            if self.trajectory is not None:
                row["trajectory_ci"] = [float(self.trajectory.ci_low[i]), float(self.trajectory.ci_high[i])]
            for k, v in sp.items():
                row[f"speedup_{k}"] = float(v[i])
            rows.append(row)
        d: dict[str, Any] = {
            "mu": self.mu,
            "mu2": self.mu2,
            "units": "nats",
            "rows": rows,
            "labels": {k: LABELS[k] for k in self.columns},
            "notes": list(self.notes),
            "sources": list(self.sources),
        }
        if self.mu_interval is not None:
            d["mu_interval"], d["mu2_interval"] = list(self.mu_interval), list(self.mu2_interval or ())
        if self.iid is not None:
            d["iid"] = {"tail": self.iid_tail, "grid_step": self.iid.h}
        if self.trajectory is not None:
            t = self.trajectory
            d["trajectory"] = {
                "prompts": t.n_prompts,
                "continuations": t.n_continuations,
                "tokens": t.tokens,
                "continuations_per_prompt": t.continuations_per_prompt,
                "t_cap": t.t_cap,
                "confidence": t.confidence,
                "bootstrap": t.n_boot,
                "seed": t.seed,
            }
        if self.timing is not None:
            d["timing"] = self.timing.to_dict()
            d["best"] = self.best()
        return d


def _closed(mu: float, mu2: float, p: np.ndarray) -> dict[str, np.ndarray]:
    return {name: fn(mu, mu2, p) for name, fn in B.CLOSED_FORMS.items()}


def _evaluate(c: BoundCurve, p: np.ndarray) -> dict[str, np.ndarray]:
    """Every column of a curve at other P values (for the best-P search)."""
    out = _closed(c.mu, c.mu2, p)
    if c.iid is not None:
        from .iid import gain_at, threshold_bound

        out["iid_exact"] = np.minimum(gain_at(c.iid.size, c.iid.g, p), p)
        out["iid_bound"] = np.minimum(threshold_bound(c.iid.g, c.iid.t, p), p)
    if c.trajectory is not None:
        out["trajectory"] = c.trajectory.plug_in_at(p)
        out["trajectory_conservative"] = c.trajectory.conservative_at(p)
    return out


@dataclass(frozen=True)
class CurveScan:
    """What one pass over files of logged distributions gives the curves: the moments, the i.i.d. pool, the paths.

    Built once by :func:`curve_scan` and handed to :func:`bound_curve` (``scanned=``) for any set of P, so a
    command that draws several curves from the same files reads them once.

    Attributes
    ----------
    sources : tuple of str
        The files, in order.
    moments : Moments
        mu and mu2 with their intervals (:func:`~speedoflight.theory.estimator.estimate` on the same files, bit
        for bit).
    atoms : object
        The i.i.d. pool of the exact i.i.d. curve (:class:`~speedoflight.theory.iid.AtomScan`).
    tail : str
        How the pool treats the mass top-k rows do not list.
    t_max : float
        The pool's largest surprisal: it serves P up to about ``e^(t_max - 12)``.
    trajectories : tuple or None
        ``(sequences, prompts)`` of the sampled continuations (None where the files record none).

    """

    sources: tuple[str, ...]
    moments: Any
    atoms: Any
    tail: str
    t_max: float
    trajectories: tuple[Any, Any] | None

    def serves(self, pmax: float) -> bool:
        """Whether the pool's range serves curves up to ``pmax`` (else scan again with that ``pmax``).

        Parameters
        ----------
        pmax
            The largest P wanted.

        Returns
        -------
        bool

        """
        return self.t_max >= _t_max(pmax)


def _t_max(pmax: float) -> float:
    return max(40.0, math.log(pmax) + 12)


def curve_scan(
    sources: Sequence[str],
    *,
    kind: str | None = None,
    vocab_size: int | None = None,
    temperature: float = 1.0,
    tensor: str | None = None,
    tail: str = "drop",
    pmax: float = 1.0,
    seed: int = 0,
    progress: bool = False,
    also: Sequence[Any] = (),
    client: Any = None,
) -> CurveScan:
    """Read files once for :func:`bound_curve`: the moments, the i.i.d. pool and the trajectories.

    Parameters
    ----------
    sources
        Files of logged distributions (every format the estimator reads).
    kind, vocab_size, temperature, tensor
        The estimator's reading flags.
    tail
        For top-k rows in the i.i.d. pool: ``"drop"`` or ``"lump"`` the unlisted mass.
    pmax
        The largest P any curve drawn from it will ask for (sizes the pool's range).
    seed
        Bootstrap seed of the moments.
    progress
        Show a progress bar while reading.
    also
        Further consumers of :func:`speedoflight.readers.scan.scan`, fed in the same pass.
    client
        A dask client, as for :func:`bound_curve`.

    Returns
    -------
    CurveScan

    """
    from .._config import DEFAULT_BOOTSTRAP
    from .._util.paths import expand_paths
    from ..readers.scan import scan
    from ..readers.sources import Sources
    from .estimator import MomentsScan
    from .iid import AtomScan

    files = expand_paths(sources)
    # opened one at a time, each checked against the first (one verifier: another model, view, vocabulary or
    # temperature is refused) and closed after its rows
    opened = Sources(files, kind=kind, vocab_size=vocab_size, tensor=tensor)
    # only dumps and API logs record the sampled tokens (and only at the dump's temperature): TrajectoryScan
    # gives nothing where a file of another format comes
    with_traj = temperature == 1.0
    moments = MomentsScan(opened.infos, temperature=temperature)
    t_max = _t_max(pmax)
    atoms = AtomScan(tail=tail, t_max=t_max)
    paths = TrajectoryScan() if with_traj else None
    consumers = [moments, atoms, *([paths] if paths else []), *also]
    if client is not None:
        from ..readers.scan import mergeable, scan_shards

        on_workers = [c for c in consumers if mergeable(c)]
        here = [c for c in consumers if not mergeable(c)]
        open_kw = {"kind": kind, "vocab_size": vocab_size, "tensor": tensor}
        infos = opened.check_all()
        scan_shards(client, infos, on_workers, open_kw=open_kw, temperature=temperature, progress=progress)
        if here:
            scan(opened, here, temperature=temperature, progress=progress)
    else:
        scan(opened, consumers, temperature=temperature, progress=progress)
    m = moments.finish(n_boot=DEFAULT_BOOTSTRAP, seed=seed)
    got = paths.finish() if paths is not None else None
    traj = got if got is not None and got[0] is not None else None
    return CurveScan(tuple(files), m, atoms.finish(), tail, t_max, traj)


def bound_curve(
    p: np.ndarray | Sequence[float],
    *,
    mu: float | None = None,
    mu2: float | None = None,
    base: float | str = "e",
    sources: Sequence[str] | None = None,
    tail: str = "drop",
    timing: Timing | None = None,
    n_boot: int = 500,
    also: Sequence[Any] = (),
    scanned: CurveScan | None = None,
    read: ReadOptions | None = None,
    run: RunOptions | None = None,
    **legacy: Any,
) -> BoundCurve:
    """Compute a :class:`BoundCurve` from moments or from files.

    Parameters
    ----------
    p
        Verifier capacities.
    mu, mu2, base
        Moments (in ``base``); or give ``sources``.
    sources
        Files of logged distributions (every format the estimator reads).
    tail
        For top-k rows in the i.i.d. pool: ``"drop"`` the unlisted mass (lower
        estimate) or ``"lump"`` it into one token (upper estimate).
    timing
        Roofline model for the speedup columns.
    n_boot
        Bootstrap of the trajectory bound (over prompts).
    also
        Further consumers of :func:`speedoflight.readers.scan.scan` (an i.i.d. pool for the simulator, say),
        fed in the same single pass over ``sources`` that gives the moments, the pool and the trajectories.
    scanned
        The files already read (:func:`curve_scan`, with this ``tail`` and ``seed``): nothing is read again;
        ``sources`` and the reading flags are then unused.

    read
        The estimator's reading parameters (:class:`~speedoflight.options.ReadOptions`).
    run
        The bootstrap's seed (over prompts), a progress bar while estimating, and a dask client
        (:class:`~speedoflight.options.RunOptions`; :func:`speedoflight._util.dist.connect`): one task per file,
        each returning its per-sequence sums, its histograms of the pool and its continuations' surprisals, never
        rows. The moments, the i.i.d. curve and the trajectory bound equal the single process's bit for bit.
        Consumers in ``also`` that keep rows (the simulator's pools) still read the files here.
    **legacy
        Deprecated: the old keywords ``kind``, ``vocab_size``, ``temperature``, ``tensor``, ``seed``, ``progress``, ``client``, folded into ``read`` and ``run`` with a DeprecationWarning.

    Returns
    -------
    BoundCurve
        Every bound and prediction at the capacities ``p``.

    """
    read, run = split_legacy("bound_curve", legacy, read=(ReadOptions, read), run=(RunOptions, run))
    kind, vocab_size, temperature, tensor = read.kind, read.vocab_size, read.temperature, read.tensor
    seed, progress, client = run.seed, run.progress, run.client
    from .._util.progress import stage as progress_stage

    progress_stage("the bounds and the simulated optimum (i.i.d. model)")
    pp = np.unique(B.check_p(p))
    notes = [
        "published: the O(1) term of the published form is left out (its constant is not given)",
        "every upper bound is capped at P",
    ]
    if sources or scanned is not None:
        if mu is not None or mu2 is not None:
            raise InputError("give either {mu}/{mu2} or {sources} FILES, not both", param=("mu", "mu2", "sources"))
        if scanned is None:
            scanned = curve_scan(
                list(sources or ()),
                kind=kind,
                vocab_size=vocab_size,
                temperature=temperature,
                tensor=tensor,
                tail=tail,
                pmax=float(pp.max()),
                seed=seed,
                progress=progress,
                also=also,
                client=client,
            )
        elif not scanned.serves(float(pp.max())) or scanned.tail != tail:
            raise ValueError("the scan's pool does not serve this curve: scan again with its tail and largest P")
        m = scanned.moments
        mu_n, mu2_n = m.mu, m.mu2
        cols = _closed(mu_n, mu2_n, pp)
        intervals = {}
        if m.truncated and m.mu_interval_ci and m.mu2_interval_ci:
            intervals = {
                k: B.closed_form_interval(k, m.mu_interval_ci, m.mu2_interval_ci, pp)
                for k in ("published", "lorden", "lorden_log_p", "asymptotic")
            }
        iid = iid_curve(scanned.atoms, pp)
        cols["iid_exact"], cols["iid_bound"] = iid.gain, iid.bound
        notes.append(
            f"iid_exact: top-k tails {'dropped (lower estimate)' if tail == 'drop' else 'lumped into one token (upper estimate)'}"
            if m.truncated or m.n_exact_rows
            else "iid_exact: full rows"
        )
        traj = None
        if scanned.trajectories is not None:
            seqs, prompts = scanned.trajectories
            traj = trajectory_bound(seqs, prompts, pp, n_boot=n_boot, seed=seed)
            cols["trajectory"], cols["trajectory_conservative"] = traj.plug_in, traj.conservative
            notes.append(
                f"trajectory: {traj.continuations_per_prompt:g} continuation(s) per prompt over "
                f"{traj.n_prompts} prompts; tight values need several per prompt"
            )
        return BoundCurve(
            P=pp,
            mu=mu_n,
            mu2=mu2_n,
            columns=cols,
            intervals=intervals,
            mu_interval=m.mu_interval_ci if m.truncated else None,
            mu2_interval=m.mu2_interval_ci if m.truncated else None,
            iid=iid,
            iid_tail=tail,
            trajectory=traj,
            timing=timing,
            sources=m.sources,
            notes=tuple(notes),
            moments=m,
        )
    if mu is None or mu2 is None:
        raise InputError(
            "give {mu} and {mu2} (nats, or bits with {base} 2), or {sources} FILES",
            param=("mu", "mu2", "base", "sources"),
        )
    mu_n, mu2_n = B.check_moments(*B.to_nats(mu, mu2, base))
    return BoundCurve(P=pp, mu=mu_n, mu2=mu2_n, columns=_closed(mu_n, mu2_n, pp), timing=timing, notes=tuple(notes))
