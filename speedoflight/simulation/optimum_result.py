"""What :func:`speedoflight.simulation.grafted.optimum` returns: the curves per tail rule, per root and overall."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["OptimumResult", "TailCurve"]


@dataclass(frozen=True)
class TailCurve:
    """The grafted prediction for one tail rule: the mean over roots with its interval over prompts.

    Attributes
    ----------
    tail : str
        ``"drop"`` (lower estimate) or ``"lump"`` (upper estimate).
    mean, se, ci_low, ci_high : ndarray
        E[X*(P)] at P = 1..pmax, averaged over roots; standard error and interval from a bootstrap over prompts.
    curves : ndarray
        ``[roots, pmax]``: per root, the mean over replicates.
    pops : int
        Nodes popped in all.

    """

    tail: str
    mean: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    curves: np.ndarray
    pops: int

    def to_dict(self) -> dict[str, Any]:
        """Return the mean and interval as lists.

        Returns
        -------
        dict
            ``tail``, ``mean``, ``se``, ``ci_low``, ``ci_high``.

        """
        return {
            "tail": self.tail,
            "mean": self.mean.tolist(),
            "se": self.se.tolist(),
            "ci_low": self.ci_low.tolist(),
            "ci_high": self.ci_high.tolist(),
        }


@dataclass(frozen=True)
class OptimumResult:
    """The predicted real optimum E[X*(P)], P = 1..pmax, from the grafted tree.

    Attributes
    ----------
    P : ndarray
        1..pmax.
    lower, upper : TailCurve or None
        Tails dropped (lower estimate) and lumped (upper); one of them with ``--tail drop|lump``.
    positions : str
        ``"start"``, ``"all"`` or the list of positions given.
    root_prompt : ndarray
        Per root, the dump's prompt index.
    root_seq, root_pos : ndarray
        Per root, the continuation (the dump's ``seq`` value) and the position it sits at (-1, 0 for prompt ends).
    root_continuations, root_known : ndarray
        Per root, the continuations its trie rests on and the logged rows (known nodes) below it, itself included.
    continuations_per_prompt : float
        Mean continuations per prompt.
    replicates, seed : int
        Draws of the unknown rows per root, and their seed.
    confidence : float
        Level of the intervals.
    notes : tuple of str
        How the rows were completed, and anything the user should know.
    pool, draw : str
        Where and how unknown nodes drew their rows.
    profile : ndarray or None
        P(X >= d), d = 1, 2, ..., of the best tree of the requested size, averaged over roots (``optimum(profile=)``).
    profile_roots : ndarray or None
        The same per root, ``[roots, depth]`` (the mean over replicates).
    sampled_from : int or None
        The roots ``positions`` gives, where the roots are a seeded sample of them (``optimum(sample=)``); None:
        every root.
    capped : dict or None
        ``{tail: {D: mean}}``: the mean curve of the best tree of depth <= D over the same roots and draws
        (``optimum(caps=)``); None where no caps were asked.

    """

    P: np.ndarray
    lower: TailCurve | None
    upper: TailCurve | None
    positions: str
    root_prompt: np.ndarray
    root_seq: np.ndarray
    root_pos: np.ndarray
    root_continuations: np.ndarray
    root_known: np.ndarray
    continuations_per_prompt: float
    replicates: int
    seed: int
    confidence: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    pool: str = "prompt"
    draw: str = "depth"
    profile: np.ndarray | None = None
    profile_roots: np.ndarray | None = None
    sampled_from: int | None = None
    capped: dict[str, dict[int, np.ndarray]] | None = None

    @property
    def main(self) -> TailCurve:
        """The headline curve: the lower estimate when it was computed, else the upper."""
        c = self.lower if self.lower is not None else self.upper
        assert c is not None
        return c

    def without_roots(self) -> OptimumResult:
        """Return the same result with its per-root arrays left empty: the curves and intervals alone.

        For what draws or prints the overall curves (a figure drawn in another process gets a few kilobytes, not
        every root's curve).

        Returns
        -------
        OptimumResult
            A copy whose ``curves``, ``root_*`` arrays and ``profile_roots`` have no roots; everything else is shared.

        """
        none = np.empty(0, dtype=np.int64)

        def slim(c: TailCurve | None) -> TailCurve | None:
            return None if c is None else replace(c, curves=np.empty((0, c.curves.shape[1])))

        return replace(
            self,
            lower=slim(self.lower),
            upper=slim(self.upper),
            root_prompt=none,
            root_seq=none,
            root_pos=none,
            root_continuations=none,
            root_known=none,
            profile_roots=None,
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the numeric arrays of the result, for ``--out`` (:func:`speedoflight.formats.optimum.write_optimum`).

        Returns
        -------
        dict
            ``P``, ``mean``, ``se``, ``ci_low``, ``ci_high``, ``curves`` of the headline tail; ``lower_*`` and
            ``upper_*`` where computed; and the per-root ``root_*`` arrays.

        """
        main = self.main
        out = {
            "P": self.P,
            "mean": main.mean,
            "se": main.se,
            "ci_low": main.ci_low,
            "ci_high": main.ci_high,
            "curves": main.curves,
            "root_prompt": self.root_prompt,
            "root_seq": self.root_seq,
            "root_pos": self.root_pos,
            "root_continuations": self.root_continuations,
            "root_known_rows": self.root_known,
        }
        for name, c in (("lower", self.lower), ("upper", self.upper)):
            if c is not None:
                out.update({f"{name}_mean": c.mean, f"{name}_ci_low": c.ci_low, f"{name}_ci_high": c.ci_high})
        return out

    def to_dict(self, per_root: bool = True) -> dict[str, Any]:
        """Return a JSON-ready summary.

        Parameters
        ----------
        per_root
            Include ``curves`` (per root, the mean over replicates); with False, per prompt instead.

        Returns
        -------
        dict
            ``P``, ``mean``, ``ci_low``, ``ci_high`` (the headline tail), ``lower`` and ``upper`` where computed,
            ``prompts`` (the dump's prompt index per curve), ``curves``, ``positions``,
            ``continuations_per_prompt``, ``replicates``, ``seed``, ``sampled_from`` and the per-root trie sizes.

        """
        main = self.main
        if per_root:
            prompts, curves = self.root_prompt, main.curves
        else:
            prompts = np.unique(self.root_prompt)
            curves = np.stack([main.curves[self.root_prompt == p].mean(axis=0) for p in prompts])
        out: dict[str, Any] = {
            "P": self.P.tolist(),
            "mean": main.mean.tolist(),
            "se": main.se.tolist(),
            "ci_low": main.ci_low.tolist(),
            "ci_high": main.ci_high.tolist(),
            "tail": main.tail,
            "confidence": self.confidence,
        }
        for name, c in (("lower", self.lower), ("upper", self.upper)):
            if c is not None:
                out[name] = c.to_dict()
        out.update(
            {
                "positions": self.positions,
                "curves_per": "root" if per_root else "prompt",
                "prompts": prompts.tolist(),
                "curves": curves.tolist(),
                "root_seq": self.root_seq.tolist() if per_root else None,
                "root_pos": self.root_pos.tolist() if per_root else None,
                "root_continuations": self.root_continuations.tolist() if per_root else None,
                "root_known_rows": self.root_known.tolist() if per_root else None,
                "continuations_per_prompt": self.continuations_per_prompt,
                "replicates": self.replicates,
                "seed": self.seed,
                "pool": self.pool,
                "draw": self.draw,
                "sampled_from": self.sampled_from,
                "notes": list(self.notes),
            }
        )
        return out
