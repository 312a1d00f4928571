"""Roofline timing of one verifier pass and the speedup ceiling.

``t_verify(P) = max(bytes / bandwidth, 2 * params * (P + 1) * batch / flops) + overhead``:
a forward pass over P draft tokens plus the one the verifier always gains
reads the weights once (memory-bound at small P) and does ``2 * params``
FLOPs per token (compute-bound at large P). A drafter costs ``draft_s`` per
draft token. Tokens per second are ``(E[X(P)] + 1) / (t_draft(P) +
t_verify(P))``, so the speedup over plain decoding (one token per
``t_verify(0)``) is ``(E[X(P)] + 1) t_verify(0) / (t_draft(P) + t_verify(P))``;
with E[X*(P)] from a bound it is a ceiling.

GPU presets are plain data (dense, no sparsity) from the vendors' datasheets;
override any field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import InputError

__all__ = ["GPU", "GPUS", "Timing", "best_p", "speedup"]


@dataclass(frozen=True)
class GPU:
    """Peak memory bandwidth (bytes/s) and dense BF16 tensor throughput (FLOP/s)."""

    name: str
    bandwidth: float
    flops: float
    source: str


#: Presets: dense BF16 tensor-core peaks (the datasheets also quote 2x "with sparsity").
GPUS: dict[str, GPU] = {
    "h100-sxm": GPU(
        "NVIDIA H100 SXM5 80GB",
        3.35e12,
        989.4e12,
        "NVIDIA H100 Tensor Core GPU datasheet (HBM3 3.35 TB/s; BF16 1,979 TFLOPS with sparsity)",
    ),
    "h200": GPU(
        "NVIDIA H200 SXM 141GB",
        4.8e12,
        989.4e12,
        "NVIDIA H200 Tensor Core GPU datasheet (HBM3e 4.8 TB/s; BF16 1,979 TFLOPS with sparsity)",
    ),
    "a100-80gb": GPU(
        "NVIDIA A100 80GB SXM",
        2.039e12,
        312e12,
        "NVIDIA A100 Tensor Core GPU datasheet (HBM2e 2,039 GB/s; BF16 312 TFLOPS dense)",
    ),
    "l4": GPU(
        "NVIDIA L4 24GB",
        300e9,
        121e12,
        "NVIDIA L4 Tensor Core GPU datasheet (GDDR6 300 GB/s; BF16 242 TFLOPS with sparsity)",
    ),
}


@dataclass(frozen=True)
class Timing:
    """Everything the roofline needs; times in seconds."""

    gpu: GPU
    params: float
    batch: int = 1
    bytes_per_param: float = 2.0
    extra_bytes: float = 0.0
    overhead_s: float = 0.0
    draft_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("bandwidth", "flops"):
            v = getattr(self.gpu, name)
            if not (math.isfinite(v) and v > 0):
                raise InputError(f"--{name} must be a finite number > 0, got {v}")
        for name in ("params", "bytes_per_param"):
            if not getattr(self, name) > 0:
                raise InputError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.batch < 1:
            raise InputError(f"--batch must be at least 1, got {self.batch}")
        for name in ("extra_bytes", "overhead_s", "draft_s"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")

    @classmethod
    def preset(cls, gpu: str, params: float, **overrides: float) -> Timing:
        """Build a timing model for a preset GPU by name (see ``GPUS``); ``bandwidth``/``flops`` override its peaks."""
        if gpu not in GPUS:
            raise InputError(f"--gpu {gpu!r} is not one of {', '.join(GPUS)}")
        g = GPUS[gpu]
        hw = {k: overrides.pop(k) for k in ("bandwidth", "flops") if overrides.get(k) is not None}
        overrides = {k: v for k, v in overrides.items() if v is not None}
        return cls(gpu=replace(g, **hw), params=params, **overrides)  # type: ignore[arg-type]

    def verify_s(self, p: np.ndarray | float) -> np.ndarray:
        """Seconds for one verifier pass over P draft tokens (P = 0: plain decoding).

        Parameters
        ----------
        p
            Draft tokens P checked in the pass: a number or an array.

        Returns
        -------
        ndarray
            ``max(memory time, compute time) + overhead_s`` in seconds, of the shape of ``p``.

        """
        pp = np.asarray(p, dtype=np.float64)
        memory = (self.params * self.bytes_per_param + self.extra_bytes) / self.gpu.bandwidth
        compute = 2.0 * self.params * (pp + 1.0) * self.batch / self.gpu.flops
        return np.maximum(memory, compute) + self.overhead_s

    def knee(self) -> float:
        """Return the P where the pass turns compute-bound.

        Returns
        -------
        float
            The P at which compute time equals memory time (not rounded; may be below 0); above it the
            pass is compute-bound.

        """
        memory = (self.params * self.bytes_per_param + self.extra_bytes) / self.gpu.bandwidth
        return memory * self.gpu.flops / (2.0 * self.params * self.batch) - 1.0


def speedup(expected_accepted: np.ndarray, p: np.ndarray, timing: Timing) -> np.ndarray:
    """``(E[X(P)] + 1) t_verify(0) / (P t_draft + t_verify(P))``.

    Parameters
    ----------
    expected_accepted
        E[X(P)], the expected accepted draft tokens per verifier call, at each P.
    p
        Verifier capacities P (draft tokens per pass).
    timing
        The roofline model (``draft_s`` is ``t_draft``, seconds per draft token).

    Returns
    -------
    ndarray
        The speedup over plain decoding at each P; a ceiling when ``expected_accepted`` is an upper bound.

    """
    pp = np.asarray(p, dtype=np.float64)
    return (np.asarray(expected_accepted) + 1.0) * timing.verify_s(0.0) / (pp * timing.draft_s + timing.verify_s(pp))


def best_p(expected_accepted: np.ndarray, p: np.ndarray, timing: Timing) -> tuple[float, float]:
    """Return the P of largest speedup on the given grid, and that speedup.

    Parameters
    ----------
    expected_accepted
        E[X(P)], the expected accepted draft tokens per verifier call, at each P.
    p
        The grid of verifier capacities P.
    timing
        The roofline model.

    Returns
    -------
    tuple of float
        ``(P, speedup)`` at the largest :func:`speedup` (NaN values ignored).

    """
    s = speedup(expected_accepted, p, timing)
    i = int(np.nanargmax(s))
    return float(np.asarray(p)[i]), float(s[i])
