"""Per-root intervals for the grafted prediction: where one root's exact optimum lies, at a stated rate.

The drop..lump range of :func:`~speedoflight.simulation.grafted.optimum` brackets the mean over roots, not one
root's optimum. For one root (a prompt's end or a position inside a continuation) the interval at tree size P is

    [ max(K, lower - a(P) s),  upper + b(P) s ]

(docs/theory.md section 8.9):

- ``lower``, ``upper``: the grafted means with the top-k tails dropped and lumped (the headline numbers);
- ``s``: the spread (standard deviation) of that root's draws, tails dropped, at least ``FLOOR`` times ``lower``:
  how far the pool's completions of the unknown subtrees move this root's optimum;
- ``K``: the best tree of P nodes that uses only what the root's trie knows (its logged rows and the listed
  children of them, every subtree below an unsampled token left empty). Every node of it is in the real tree with
  its real probability, so the real optimum is at least ``K``;
- ``a(P)``, ``b(P)``: constants fitted once, split-conformal style
  (:func:`~speedoflight.analysis.interval_fit.fit_constants`), on the fit half of the prompts of every shipped
  oracle (:data:`~speedoflight.analysis.interval_fit.FIT_SET`: SmolLM2 and Gemma 3, prose and code, prompts' ends,
  interior and branched interior roots, and SmolLM2's markup prompts), apart for the roots whose trie rests on one
  continuation and those on several (:data:`GROUPS`; a lone path leaves far more of the tree to the pool): at each
  P, the ``(n + 1)(1 + rate) / 2``-th smallest of the group's scores ``(lower - exact) / s`` and
  ``(exact - upper) / s``, so that about (1 - rate) / 2 of its fit roots fall out on each side, then the running
  maximum over P. They are checked on the other half of the prompts, which the fit never saw on either model
  (:func:`~speedoflight.analysis.interval_fit.coverage`).

:func:`root_spread` computes what the interval needs from a dump and :func:`root_intervals` the interval;
:mod:`~speedoflight.analysis.interval_fit` fits the constants and states how often the interval holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = [
    "COVERS",
    "FLOOR",
    "GROUPS",
    "RATE",
    "TOLERANCE",
    "Constants",
    "RootIntervals",
    "RootSpread",
    "root_intervals",
    "root_spread",
]

#: The rate the shipped constants were fitted for: the share of roots whose exact optimum the interval holds.
RATE = 0.9
#: The spread used is at least this share of the root's lower estimate (roots whose best tree is all known have
#: no spread at all; their error is the rounding of the logged log-probabilities and the unlisted tail).
FLOOR = 0.01
#: Relative tolerance of "the interval holds the exact value": the dumps store float32 log-probabilities.
TOLERANCE = 1e-5
#: The groups of roots that get constants of their own: a trie on one continuation, or on several.
GROUPS = ("one", "several")

# a(P) and b(P) per group for P = 1..128 (interval_fit.fit_constants(): the fit half of interval_fit.FIT_SET, rounded
# up to 3 decimals); past the end, the last pair.
# fmt: off
_LOW: dict[str, tuple[float, ...]] = {
    "one": (
        0, 0.608, 1.36, 1.556, 1.556, 1.642, 1.642, 1.642, 1.658, 1.693, 1.779, 1.833, 1.862, 1.862, 1.862, 1.862,
        1.862, 1.862, 1.862, 1.867, 1.887, 1.906, 1.924, 1.941, 1.957, 1.971, 1.985, 2, 2.014, 2.028, 2.042, 2.057,
        2.072, 2.086, 2.1, 2.114, 2.127, 2.141, 2.154, 2.166, 2.178, 2.19, 2.201, 2.213, 2.224, 2.235, 2.246, 2.256,
        2.266, 2.277, 2.287, 2.297, 2.306, 2.316, 2.325, 2.334, 2.343, 2.352, 2.361, 2.37, 2.379, 2.388, 2.397, 2.405,
        2.508, 2.512, 2.516, 2.52, 2.525, 2.529, 2.533, 2.536, 2.54, 2.544, 2.547, 2.55, 2.553, 2.556, 2.559, 2.562,
        2.565, 2.568, 2.572, 2.576, 2.581, 2.585, 2.589, 2.594, 2.598, 2.603, 2.608, 2.612, 2.617, 2.622, 2.627, 2.631,
        2.636, 2.641, 2.645, 2.649, 2.654, 2.658, 2.663, 2.667, 2.671, 2.675, 2.679, 2.683, 2.687, 2.691, 2.694, 2.698,
        2.702, 2.706, 2.71, 2.713, 2.716, 2.719, 2.723, 2.726, 2.729, 2.732, 2.734, 2.737, 2.74, 2.743, 2.745, 2.748,
    ),
    "several": (
        0, 0.309, 0.51, 0.702, 0.827, 0.955, 1.004, 1.092, 1.125, 1.218, 1.253, 1.285, 1.292, 1.34, 1.349, 1.421, 1.488,
        1.496, 1.522, 1.533, 1.533, 1.539, 1.606, 1.676, 1.676, 1.676, 1.676, 1.705, 1.738, 1.767, 1.788, 1.804, 1.808,
        1.808, 1.857, 1.868, 1.875, 1.883, 1.89, 1.89, 1.89, 1.89, 1.89, 1.894, 1.894, 1.894, 1.894, 1.894, 1.894,
        1.894, 1.896, 1.899, 1.901, 1.903, 1.905, 1.908, 1.91, 1.911, 1.913, 1.914, 1.915, 1.916, 1.917, 1.917, 2.229,
        2.243, 2.256, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269,
        2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269,
        2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269,
        2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269, 2.269,
    ),
}
_HIGH: dict[str, tuple[float, ...]] = {
    "one": (
        0, 2.451, 3.222, 3.222, 3.222, 3.222, 3.222, 3.253, 3.253, 3.253, 3.292, 3.314, 3.685, 3.685, 3.845, 4.086,
        4.287, 4.401, 4.401, 4.424, 4.479, 4.54, 4.594, 4.636, 4.636, 4.636, 4.636, 4.679, 4.769, 4.794, 4.821, 4.849,
        4.879, 4.911, 4.944, 4.974, 5.004, 5.034, 5.064, 5.096, 5.128, 5.161, 5.194, 5.227, 5.259, 5.259, 5.259, 5.259,
        5.259, 5.259, 5.259, 5.259, 5.259, 5.261, 5.262, 5.264, 5.266, 5.267, 5.269, 5.272, 5.273, 5.274, 5.277, 5.279,
        7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059,
        7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059,
        7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059,
        7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059, 7.059,
    ),
    "several": (
        0, 0, 0, 0, 0.155, 0.286, 0.316, 0.512, 0.534, 0.622, 0.711, 0.84, 0.84, 1.086, 1.18, 1.269, 1.336, 1.449,
        1.499, 1.6, 1.66, 1.808, 1.934, 1.946, 1.99, 2.061, 2.061, 2.061, 2.061, 2.061, 2.061, 2.061, 2.224, 2.24, 2.24,
        2.24, 2.24, 2.24, 2.24, 2.24, 2.24, 2.24, 2.24, 2.24, 2.24, 2.24, 2.24, 2.24, 2.24, 2.24, 2.24, 2.24, 2.24,
        2.24, 2.24, 2.268, 2.364, 2.365, 2.367, 2.369, 2.37, 2.371, 2.373, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376,
        2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376,
        2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376,
        2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376,
        2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376, 2.376,
    ),
}
# fmt: on


@dataclass(frozen=True)
class RootSpread:
    """Per root, what its interval is built from (all ``[roots, pmax]``).

    Attributes
    ----------
    lower, upper : ndarray
        The grafted means over draws, tails dropped and lumped (:func:`~speedoflight.simulation.grafted.optimum`'s
        per-root curves, bit for bit).
    spread : ndarray
        The standard deviation of the root's draws, tails dropped.
    known : ndarray
        The best tree of each size on what the root's trie knows: a floor of the root's real optimum.
    root_prompt, root_seq, root_pos : ndarray
        Per root, as in :class:`~speedoflight.simulation.grafted.OptimumResult`.
    root_paths : ndarray
        Per root, the continuations its trie rests on (``root_continuations``): 1 puts it in group ``"one"``.

    """

    lower: np.ndarray
    upper: np.ndarray
    spread: np.ndarray
    known: np.ndarray
    root_prompt: np.ndarray
    root_seq: np.ndarray
    root_pos: np.ndarray
    root_paths: np.ndarray

    @property
    def group(self) -> np.ndarray:
        """Per root, its group of :data:`GROUPS`: ``"one"`` (its trie is one continuation) or ``"several"``."""
        return np.where(self.root_paths <= 1, GROUPS[0], GROUPS[1])


@dataclass(frozen=True)
class RootIntervals:
    """Per-root intervals ``[low, high]`` (``[roots, pmax]``) at ``rate``.

    ``calibrated_to``: per group, the largest P its constants were fitted at (larger P use that P's).
    """

    low: np.ndarray
    high: np.ndarray
    rate: float
    calibrated_to: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Return the intervals as lists, with their rate and what they cover.

        Returns
        -------
        dict
            ``rate``, ``calibrated_to``, ``covers``, ``low`` and ``high`` (per root, P = 1..pmax).

        """
        return {
            "rate": self.rate,
            "calibrated_to": self.calibrated_to,
            "covers": COVERS.format(rate=self.rate),
            "low": self.low.tolist(),
            "high": self.high.tolist(),
        }


#: What a per-root interval states, in one line (the CLI and the JSON repeat it).
COVERS = (
    "each root's own exact optimum E[X*(P)] (the real model's best tree, oracle's number) lies in its interval for "
    "{rate:.0%} of roots: fitted on half the prompts of SmolLM2's and Gemma 3's oracles, it held 92-94% of the other "
    "half's roots (76-100% by model, kind of prompt and kind of root; lowest on code) and, fitted on one model "
    "alone, 72-100% of the other model's (docs/theory.md section 8.9); a share of roots, not a probability for any "
    "one root, not checked above P = 128, and not about realised acceptance, which also varies with the sampled "
    "tokens"
)


def _known_floor(g: Any, roots: np.ndarray, pmax: int) -> np.ndarray:
    """Return the best tree of 1..pmax nodes on the trie's known rows alone (every pool row an empty one)."""
    from ..kernels.grafted import grafted_roots
    from ..simulation.grafted import _seed_ids

    empty = g.neglogp.shape[0]
    neglogp = np.vstack([g.neglogp, np.full((1, g.neglogp.shape[1]), np.inf)])
    ids = np.vstack([g.ids, np.full((1, g.ids.shape[1]), -1, dtype=g.ids.dtype)])
    lo = np.zeros_like(g.prompt_pool_lo[g.node_prompt[roots]])
    curves = np.zeros((len(roots), pmax))
    grafted_roots(
        neglogp,
        ids,
        g.node_row,
        g.child_ptr,
        g.child_tok,
        g.child_node,
        np.array([empty], dtype=g.pool_rows.dtype),
        g.row_bin,
        g.depth_bin,
        roots,
        lo,
        np.ones_like(lo),
        g.node_depth[roots],
        _seed_ids(0, 1),
        pmax,
        neglogp.shape[1],
        0,
        np.zeros((len(roots), 0)),
        curves,
        np.zeros((0, 0)),
    )
    return curves


def _spread(g: Any, roots: np.ndarray, pmax: int, replicates: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per root the mean over draws (as ``optimum``'s curves, bit for bit) and the draws' standard deviation."""
    from ..kernels.grafted import grafted_roots
    from ..simulation.grafted import _search_args

    uniq, inverse = np.unique(roots, return_inverse=True)
    mean = np.zeros((len(uniq), pmax))
    var = np.zeros((len(uniq), pmax))
    grafted_roots(
        *_search_args(g, uniq, seed, replicates),
        pmax,  # no depth cap, no width cap, no depth profile
        g.neglogp.shape[1],
        0,
        np.zeros((len(uniq), 0)),
        mean,
        var,
    )
    sd = np.sqrt(var * (replicates / (replicates - 1)))
    return mean[inverse], sd[inverse]


def root_spread(
    dumps: str | Sequence[str],
    *,
    pmax: int = 128,
    positions: str | Sequence[int] = "start",
    replicates: int = 64,
    seed: int = 0,
    pool: str = "prompt",
    draw: str = "depth",
    inputs: Mapping[str, Any] | None = None,
    upper: np.ndarray | None = None,
) -> RootSpread:
    """Compute per root the grafted means, the draws' spread and the known floor (what an interval is built from).

    Parameters
    ----------
    dumps, pmax, positions, replicates, seed, pool, draw
        As for :func:`~speedoflight.simulation.grafted.optimum` (the same roots, in the same order).
    inputs
        ``{"drop": ..., "lump": ...}`` grafted inputs already built (:func:`~speedoflight.readers.continuations.
        grafted_inputs` with this ``pool`` and ``draw``); None builds them from ``dumps``.
    upper
        The per-root curves with tails lumped, where :func:`~speedoflight.simulation.grafted.optimum` already
        computed them for these roots and settings (``res.upper.curves``); None searches again.

    Returns
    -------
    RootSpread
        Per root and tree size.

    """
    from ..readers.continuations import grafted_inputs
    from ..simulation.grafted import _roots, run_roots

    if pmax < 1:
        raise InputError(f"{{pmax}} must be at least 1, got {pmax}", param="pmax")
    if replicates < 2:
        raise InputError(
            f"{{replicates}} {replicates}: a spread over draws needs at least 2; give 64", param="replicates"
        )
    if inputs is None or "drop" not in inputs or "lump" not in inputs:
        inputs = grafted_inputs(dumps, tails=("drop", "lump"), pool=pool, draw=draw)
    g = inputs["drop"]
    roots, seqs, poss, _ = _roots(g, positions)
    lower, sd = _spread(g, roots, pmax, replicates, seed)
    if upper is None:
        uniq, inverse = np.unique(roots, return_inverse=True)
        upper = run_roots(inputs["lump"], uniq, pmax, replicates, seed)[0][inverse]
    elif upper.shape != lower.shape:
        raise ValueError(f"upper curves {upper.shape} for {lower.shape} roots x P")
    return RootSpread(
        lower=lower,
        upper=upper,
        spread=sd,
        known=_known_floor(g, roots, pmax),
        root_prompt=g.prompts[g.node_prompt[roots]],
        root_seq=np.where(seqs >= 0, g.seq_ids[np.maximum(seqs, 0)], -1),
        root_pos=poss,
        root_paths=g.node_conts[roots].astype(np.int64),
    )


def _scale(s: RootSpread) -> np.ndarray:
    return np.maximum(s.spread, FLOOR * s.lower)


#: Fitted constants: per group, ``(a, b)`` over P = 1, 2, ...
Constants = Mapping[str, tuple[Sequence[float], Sequence[float]]]


def root_intervals(s: RootSpread, constants: Constants | None = None, rate: float = RATE) -> RootIntervals:
    """Return each root's interval from its spread and the fitted constants.

    Parameters
    ----------
    s
        What :func:`root_spread` computed.
    constants
        Per group, ``(a, b)`` over P = 1, 2, ... (:func:`fit_constants`); None: the shipped ones (rate
        :data:`RATE`). Past their end the last pair is used.
    rate
        The rate the constants were fitted for (stated with the intervals).

    Returns
    -------
    RootIntervals
        ``low``, ``high`` per root and P.

    """
    if constants is None:
        constants = {k: (_LOW[k], _HIGH[k]) for k in GROUPS}
    pmax = s.lower.shape[1]
    aa = np.zeros(s.lower.shape)
    bb = np.zeros(s.lower.shape)
    group = s.group
    for k in sorted(set(group.tolist())):
        if k not in constants or not len(constants[k][0]) or len(constants[k][0]) != len(constants[k][1]):
            raise ValueError(f"no per-root interval constants for group {k!r}: fit them with fit_constants")
        a, b = constants[k]
        idx = np.minimum(np.arange(pmax), len(a) - 1)
        aa[group == k] = np.asarray(a, dtype=np.float64)[idx]
        bb[group == k] = np.asarray(b, dtype=np.float64)[idx]
    scale = _scale(s)
    low = np.maximum(s.known, s.lower - aa * scale)
    high = np.maximum(s.upper + bb * scale, low)
    return RootIntervals(
        low=low, high=high, rate=rate, calibrated_to={k: len(v[0]) for k, v in sorted(constants.items())}
    )
