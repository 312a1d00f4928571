"""Fitting and checking the per-root intervals of :mod:`~speedoflight.analysis.intervals` on exact oracles.

The constants ``a(P)``, ``b(P)`` are fitted split-conformal style (docs/theory.md section 8.9) on the shipped
oracles of both models, SmolLM2-135M and Gemma 3 270M, and on the markup prompts (:data:`FIT_SET`). Each oracle
set's prompts are split in two halves by a seeded draw (:func:`split_prompts`, seed :data:`SPLIT_SEED`): the fit
half sets the constants, the check half states the rate. A prompt's roots stay on one side: its end, the interior
roots of its continuation and their branched re-dumps, on both models (the two models share ``prompts.jsonl``, so
no prompt of a check half was seen by the fit on either model). The draw is stratified by kind of prompt and by
whether the prompt has interior roots, so each half holds half of every kind of root.

:func:`matched` pairs a dump's roots with an oracle's exact curves, :func:`matched_set` does it for every case of
:data:`FIT_SET` and marks each root's half, :func:`calibrate` fits the constants on such roots,
:func:`fit_constants` fits them on one half of :data:`FIT_SET` (what the shipped ones are), and :func:`cover` and
:func:`coverage` state how often the interval holds the exact optimum.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from .intervals import GROUPS, RATE, TOLERANCE, Constants, RootSpread, _scale, root_intervals

__all__ = [
    "FIT_SET",
    "SPLIT_SEED",
    "Matched",
    "calibrate",
    "cover",
    "coverage",
    "fit_constants",
    "matched",
    "matched_set",
    "split_prompts",
]

#: One oracle set: ``(dump, oracle, positions, the dump the prefixes came from)``, file names in ``data/``.
Case = tuple[str, str, str | tuple[int, ...], str | None]

#: The roots the shipped constants were fitted and checked on, by the prompt file their prompts come from: every
#: shipped oracle with the dumps that predict it. ``prompts.jsonl``: SmolLM2 and Gemma 3, 100 prompts' ends (50
#: prose, 50 code) from 8 continuations each and (SmolLM2) from one, 72 interior roots at positions 8, 16, 24 of
#: 24 of those prompts, and the same roots with branched continuations; ``prompts-markup.jsonl``: SmolLM2's 48
#: markup prompts' ends, and 72 interior roots of 24 of them with and without branches.
FIT_SET: dict[str, tuple[Case, ...]] = {
    "prompts.jsonl": (
        ("smollm2-t1-x8.npz", "oracle-smollm2-t1.npz", "start", None),
        ("smollm2-t1.npz", "oracle-smollm2-t1.npz", "start", None),
        ("smollm2-t1.npz", "oracle-smollm2-interior.npz", (8, 16, 24), None),
        ("smollm2-interior-branched.npz", "oracle-smollm2-interior.npz", (8, 16, 24), "smollm2-t1.npz"),
        ("gemma3-270m-t1-x8.npz", "oracle-gemma3-270m-t1.npz", "start", None),
        ("gemma3-270m-t1-x8.npz", "oracle-gemma3-270m-interior.npz", (8, 16, 24), None),
        (
            "gemma3-270m-interior-branched.npz",
            "oracle-gemma3-270m-interior.npz",
            (8, 16, 24),
            "gemma3-270m-t1-x8.npz",
        ),
    ),
    "prompts-markup.jsonl": (
        ("smollm2-markup-x8.npz", "oracle-smollm2-markup.npz", "start", None),
        ("smollm2-markup-x8.npz", "oracle-smollm2-markup-interior.npz", (8, 16, 24), None),
        (
            "smollm2-markup-interior-branched.npz",
            "oracle-smollm2-markup-interior.npz",
            (8, 16, 24),
            "smollm2-markup-x8.npz",
        ),
    ),
}
#: The seed of the draw that splits each prompt file's prompts into the fit and the check half.
SPLIT_SEED = 0


def matched(
    dump: str,
    oracle_file: str,
    *,
    positions: str | Sequence[int] = "start",
    prefixes_from: str | None = None,
    replicates: int = 64,
    seed: int = 0,
) -> tuple[RootSpread, np.ndarray, list[str]]:
    """Return the roots of ``dump`` that ``oracle_file`` computed exactly: their spread, exact curves and kinds.

    Roots are matched as in :func:`~speedoflight.analysis.validation.against_oracle` (by prompt index at prompts'
    ends; by continuation and position inside them, ``prefixes_from`` naming the dump the prefixes were cut from).

    Parameters
    ----------
    dump, oracle_file, positions, prefixes_from
        As for :func:`~speedoflight.analysis.validation.against_oracle`.
    replicates, seed
        Draws per root and their seed.

    Returns
    -------
    tuple
        ``(spread, exact [roots, P], kinds)`` with P the oracle's largest tree size.

    """
    from .intervals import root_spread
    from .validation import _load_oracle, _same_prefixes

    curves, kinds, ometa = _load_oracle(oracle_file, dump, positions, prefixes_from)
    s = root_spread(dump, pmax=curves.shape[1], positions=positions, replicates=replicates, seed=seed)
    if positions == "start":
        index = {int(p): i for i, p in enumerate(ometa.get("prompt_index", []))}
        keys = np.array([index.get(int(p), -1) for p in s.root_prompt], dtype=np.int64)
    else:
        where = {
            (int(q), int(t)): i
            for i, (q, t) in enumerate(zip(ometa.get("sequence", []), ometa.get("position", []), strict=True))
        }
        keys = np.array([where.get((int(q), int(t)), -1) for q, t in zip(s.root_seq, s.root_pos, strict=True)])
        if prefixes_from is not None:
            same = _same_prefixes(dump, prefixes_from, int(max(ometa.get("position", [0]))))
            keys = np.array(
                [k if k >= 0 and same.get(int(q), False) else -1 for k, q in zip(keys, s.root_seq, strict=True)]
            )
    ok = keys >= 0
    if ok.sum() < 2:
        raise InputError(f"{oracle_file} and {dump} share fewer than two roots; give files of one prompt file")
    return _subset(s, ok), np.asarray(curves)[keys[ok]], [str(kinds[k]) for k in keys[ok]]


def split_prompts(strata: Mapping[int, Hashable], seed: int = SPLIT_SEED) -> frozenset[int]:
    """Return the fit half of the prompts: within each stratum, a seeded half (the larger half where odd).

    Parameters
    ----------
    strata
        Prompt index -> its stratum (any hashable; strata are taken in the order of their ``repr``).
    seed
        The draw's seed.

    Returns
    -------
    frozenset
        The prompt indices of the fit half; the others are the check half.

    """
    rng = np.random.default_rng(seed)
    groups: dict[Hashable, list[int]] = {}
    for p, key in sorted(strata.items()):
        groups.setdefault(key, []).append(int(p))
    fit: set[int] = set()
    for key in sorted(groups, key=repr):
        ps = np.array(groups[key], dtype=np.int64)
        fit.update(ps[rng.permutation(len(ps))[: (len(ps) + 1) // 2]].tolist())
    return frozenset(fit)


@dataclass(frozen=True)
class Matched:
    """One case of :data:`FIT_SET`: its roots' spread, exact curves and kinds, and which roots are in the fit half."""

    family: str
    case: Case
    spread: RootSpread
    exact: np.ndarray
    kinds: np.ndarray
    fit: np.ndarray

    def part(self, half: str) -> tuple[RootSpread, np.ndarray, list[str]]:
        """Return the roots of one half.

        Parameters
        ----------
        half
            ``"fit"``, ``"check"`` or ``"all"``.

        Returns
        -------
        tuple
            ``(spread, exact, kinds)`` of those roots.

        """
        if half not in ("fit", "check", "all"):
            raise ValueError(f"half {half!r}: give fit, check or all")
        keep = self.fit if half == "fit" else ~self.fit if half == "check" else np.ones_like(self.fit)
        return _subset(self.spread, keep), self.exact[keep], self.kinds[keep].tolist()


def _subset(s: RootSpread, keep: np.ndarray) -> RootSpread:
    return RootSpread(*(np.asarray(getattr(s, f))[keep] for f in RootSpread.__dataclass_fields__))


def matched_set(
    cases: Mapping[str, Sequence[Case]] | None = None,
    *,
    root: str = "data",
    replicates: int = 64,
    seed: int = 0,
    split_seed: int = SPLIT_SEED,
) -> list[Matched]:
    """Match every case's roots with its oracle and split each prompt file's prompts into the fit and check half.

    Parameters
    ----------
    cases
        Prompt file -> its cases (:data:`FIT_SET` where None), files under ``root``.
    root
        The folder of the files.
    replicates, seed
        Draws per root and their seed.
    split_seed
        The seed of :func:`split_prompts`; the strata are the prompt's kind and whether any case has interior
        roots of it.

    Returns
    -------
    list of Matched
        One per case, in order.

    """
    out: list[Matched] = []
    for family, group in (FIT_SET if cases is None else cases).items():
        got = []
        kind_of: dict[int, str] = {}
        interior: dict[int, bool] = {}
        for case in group:
            dump, oracle_file, positions, prefixes_from = case
            s, exact, kinds = matched(
                os.path.join(root, dump),
                os.path.join(root, oracle_file),
                positions=positions if isinstance(positions, str) else list(positions),
                prefixes_from=None if prefixes_from is None else os.path.join(root, prefixes_from),
                replicates=replicates,
                seed=seed,
            )
            got.append((case, s, exact, np.array(kinds)))
            for p, k in zip(s.root_prompt.tolist(), kinds, strict=True):
                kind_of[int(p)] = k
                interior[int(p)] = interior.get(int(p), False) or positions != "start"
        fit = split_prompts({p: (kind_of[p], interior[p]) for p in kind_of}, split_seed)
        for case, s, exact, kind_arr in got:
            out.append(Matched(family, case, s, exact, kind_arr, np.isin(s.root_prompt, sorted(fit))))
    return out


def _scores(s: RootSpread, exact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far each root's exact value lies below ``lower`` and above ``upper``, in units of its scale."""
    n = exact.shape[1]
    scale = _scale(s)[:, :n]
    below = (s.lower[:, :n] - exact * (1 + TOLERANCE)) / scale
    above = (exact * (1 - TOLERANCE) - s.upper[:, :n]) / scale
    return below, above


def _quantile(scores: np.ndarray, level: float) -> float:
    """Return the ceil((n + 1) level)-th smallest score (the split-conformal quantile), at least 0."""
    n = len(scores)
    k = min(n, math.ceil((n + 1) * level))
    return max(0.0, float(np.sort(scores)[k - 1]))


def fit_constants(
    cases: Mapping[str, Sequence[Case]] | None = None,
    *,
    half: str = "fit",
    rate: float = RATE,
    root: str = "data",
    replicates: int = 64,
    seed: int = 0,
    split_seed: int = SPLIT_SEED,
) -> dict[str, tuple[list[float], list[float]]]:
    """Fit ``a(P)``, ``b(P)`` per group on one half of the roots of ``cases`` (the shipped ones: ``FIT_SET``, fit half).

    Parameters
    ----------
    cases
        As for :func:`matched_set` (:data:`FIT_SET` where None).
    half
        ``"fit"``, ``"check"`` or ``"all"`` of each case's roots.
    rate
        The share of roots to cover; (1 - rate) / 2 may fall out on each side.
    root, replicates, seed, split_seed
        As for :func:`matched_set`.

    Returns
    -------
    dict
        Per group, ``(a, b)``: lists over P = 1..(the largest P of its roots' oracles), rounded up to 3 decimals
        and made non-decreasing in P (a larger tree rests more on the pool).

    """
    got = matched_set(cases, root=root, replicates=replicates, seed=seed, split_seed=split_seed)
    return calibrate([m.part(half)[:2] for m in got], rate=rate)


def calibrate(
    pairs: Sequence[tuple[RootSpread, np.ndarray]], *, rate: float = RATE
) -> dict[str, tuple[list[float], list[float]]]:
    """Fit ``a(P)``, ``b(P)`` per group on roots whose exact curves are known (the step of :func:`fit_constants`).

    Parameters
    ----------
    pairs
        ``(spread, exact)``: the roots' :class:`RootSpread` and their exact curves ``[roots, P]`` (P may differ
        between pairs; at each P the roots that have it count).
    rate
        The share of roots to cover; (1 - rate) / 2 may fall out on each side.

    Returns
    -------
    dict
        Per group that has roots, ``(a, b)`` over P = 1..(the largest P its roots have), rounded up to 3 decimals,
        non-decreasing in P.

    """
    if not 0.0 < rate < 1.0:
        raise InputError(f"the rate must lie in (0, 1), got {rate}")
    side = (1 + rate) / 2
    out: dict[str, tuple[list[float], list[float]]] = {}
    for k in GROUPS:
        scores = []
        for s, exact in pairs:
            mine = s.group == k
            if mine.any():
                below, above = _scores(s, exact)
                scores.append((below[mine], above[mine]))
        if not scores:
            continue
        a: list[float] = []
        b: list[float] = []
        for i in range(max(lo.shape[1] for lo, _ in scores)):
            lo = np.concatenate([x[:, i] for x, _ in scores if x.shape[1] > i])
            hi = np.concatenate([y[:, i] for _, y in scores if y.shape[1] > i])
            a.append(max([math.ceil(_quantile(lo, side) * 1000) / 1000, *a[-1:]]))
            b.append(max([math.ceil(_quantile(hi, side) * 1000) / 1000, *b[-1:]]))
        out[k] = (a, b)
    return out


def cover(
    s: RootSpread,
    exact: np.ndarray,
    kinds: Sequence[str],
    *,
    ps: Sequence[int] = (8, 32, 64, 128),
    constants: Constants | None = None,
) -> dict[str, Any]:
    """How often the per-root interval holds the root's exact optimum, overall, per group and per kind of prompt.

    Parameters
    ----------
    s, exact, kinds
        The roots (as :func:`matched` returns them).
    ps
        Tree sizes (those above the oracle's largest P are left out).
    constants
        As for :func:`~speedoflight.analysis.intervals.root_intervals` (None: the shipped ones).

    Returns
    -------
    dict
        ``P``, ``roots``, ``rate``, ``coverage`` (per P), ``below`` and ``above`` (the shares of roots whose exact
        optimum lies below the interval, and above it), ``width`` (the median of (high - low) / exact),
        ``range_coverage`` (the drop..lump range's, for comparison), ``by_group`` and ``by_kind`` (``{name:
        {"roots", "coverage"}}``).

    """
    iv = root_intervals(s, constants)
    cols = np.array([p - 1 for p in ps if p <= exact.shape[1]], dtype=np.int64)
    y = exact[:, cols]
    low, high = iv.low[:, cols], iv.high[:, cols]
    below = low > y * (1 + TOLERANCE)
    above = high < y * (1 - TOLERANCE)
    inside = ~below & ~above
    in_range = (s.lower[:, cols] <= y * (1 + TOLERANCE)) & (y * (1 - TOLERANCE) <= s.upper[:, cols])
    kind_arr = np.array(kinds)
    group = s.group
    return {
        "P": (cols + 1).tolist(),
        "roots": len(kind_arr),
        "rate": iv.rate,
        "coverage": inside.mean(axis=0).tolist(),
        "below": below.mean(axis=0).tolist(),
        "above": above.mean(axis=0).tolist(),
        "width": np.median((high - low) / y, axis=0).tolist(),
        "range_coverage": in_range.mean(axis=0).tolist(),
        "by_kind": {
            k: {"roots": int((kind_arr == k).sum()), "coverage": inside[kind_arr == k].mean(axis=0).tolist()}
            for k in sorted(set(kind_arr.tolist()))
        },
        "by_group": {
            k: {"roots": int((group == k).sum()), "coverage": inside[group == k].mean(axis=0).tolist()}
            for k in GROUPS
            if (group == k).any()
        },
    }


def coverage(
    dump: str,
    oracle_file: str,
    *,
    ps: Sequence[int] = (8, 32, 64, 128),
    positions: str | Sequence[int] = "start",
    prefixes_from: str | None = None,
    constants: Constants | None = None,
    prompts: Collection[int] | None = None,
    replicates: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """How often the per-root interval holds the exact optimum of the roots ``dump`` and ``oracle_file`` share.

    Parameters
    ----------
    dump, oracle_file, positions, prefixes_from
        As for :func:`matched`.
    ps, constants
        As for :func:`cover`.
    prompts
        Only the roots of these prompt indices (e.g. a check half); None: all.
    replicates, seed
        Draws per root and their seed.

    Returns
    -------
    dict
        As :func:`cover`.

    """
    s, exact, kinds = matched(
        dump, oracle_file, positions=positions, prefixes_from=prefixes_from, replicates=replicates, seed=seed
    )
    if prompts is not None:
        keep = np.isin(s.root_prompt, sorted(prompts))
        if not keep.any():
            raise InputError(f"none of the given prompts has a root that {dump} and {oracle_file} share")
        s, exact, kinds = _subset(s, keep), exact[keep], [k for k, y in zip(kinds, keep, strict=True) if y]
    return cover(s, exact, kinds, ps=ps, constants=constants)
