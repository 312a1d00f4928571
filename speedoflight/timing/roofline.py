"""The timing model: one verifier pass (the roofline, or a measured table), what a drafter costs, the speedup.

The verifier (the roofline): a forward pass over P draft tokens plus the one the verifier always gains reads the
weights once and each of the ``batch`` sequences' KV cache (``context`` tokens of ``kv_bytes_per_token``), which
makes it memory-bound at small P, and does ``2 * params`` FLOPs per token per sequence, compute-bound at large P::

    t_verify(P) = max((weights + batch * context * kv) / (bandwidth * bandwidth_efficiency),
                      2 * params * (P + 1) * batch / (flops * flop_efficiency)) + overhead

Peaks are datasheet numbers that no kernel reaches: by default the pass streams memory at 70% of peak bandwidth
(:data:`BANDWIDTH_EFFICIENCY`) and multiplies at 50% of dense peak FLOP/s (:data:`FLOP_EFFICIENCY`). The KV cache
per token, where not given, is that of a Llama-3-style model of the verifier's size (:func:`kv_bytes_estimate`).
The roofline still leaves out attention's own FLOPs, kernel launch and scheduling costs, and the poor efficiency
of skinny matrix products at a few dozen tokens, so measured pass times rise earlier than it says: a measured
latency table (:class:`Latency`, ``--latency FILE``, written by ``speedoflight latency --url``) replaces it.

The drafter (:class:`DraftCost`): per depth level for tree drafters (one
drafter pass per level, EAGLE-style), per token for chain drafters, nothing
for n-gram lookup, and for an early-exit drafter running L of the verifier's
n layers, ``L / n`` of a verifier pass over the level's tokens per level.

Tokens per second are ``(E[X] + 1) / (t_draft(P, D) + t_verify(P))``, so the
speedup over plain decoding (one token per ``t_verify(0)``) is
``(E[X] + 1) t_verify(0) / (t_draft(P, D) + t_verify(P))``; with E[X] from a
bound it is a ceiling.

GPU presets are plain data (dense peaks, no sparsity) with their sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InputError
from .hardware import GPU, Latency, resolve_gpu

__all__ = [
    "BANDWIDTH_EFFICIENCY",
    "CONTEXT",
    "FLOP_EFFICIENCY",
    "DraftCost",
    "Timing",
    "best_p",
    "kv_bytes_estimate",
    "speedup",
]


@dataclass(frozen=True)
class DraftCost:
    """What drafting a tree of P tokens in D depth levels costs.

    ``t_draft(P, D) = D * per_level_s + P * per_token_s + D * layer_fraction * t_pass(ceil(P / D) tokens)``:
    one drafter pass per level (tree drafters, EAGLE-style), one per token (chain drafters), and for an early-exit
    drafter that runs ``layer_fraction`` of the verifier's layers, that fraction of a verifier pass over the level's
    tokens.

    Attributes
    ----------
    per_level_s, per_token_s, layer_fraction : float
        The three parts (all >= 0).
    label : str
        What was assumed, shown in every output.

    """

    per_level_s: float = 0.0
    per_token_s: float = 0.0
    layer_fraction: float = 0.0
    label: str = "free drafter (no cost given)"

    def __post_init__(self) -> None:
        for name in ("per_level_s", "per_token_s", "layer_fraction"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise InputError(f"drafter cost {name} must be a finite number >= 0, got {v}")

    @property
    def free(self) -> bool:
        """Whether drafting costs nothing."""
        return self.per_level_s == 0 and self.per_token_s == 0 and self.layer_fraction == 0

    @property
    def depth_matters(self) -> bool:
        """Whether the cost grows with the depth D (so a shallower tree may be faster)."""
        return self.per_level_s > 0 or self.layer_fraction > 0

    @classmethod
    def from_flags(cls, per_level_ms: float = 0.0, per_token_ms: float = 0.0) -> DraftCost:
        """Return the cost given with ``--draft-ms`` (per level) and ``--draft-ms-per-token``.

        Parameters
        ----------
        per_level_ms, per_token_ms
            Milliseconds per depth level and per draft token.

        Returns
        -------
        DraftCost
            Labelled with the flags; a free drafter says so.

        """
        if per_level_ms == 0 and per_token_ms == 0:
            return cls(label="free drafter assumed (give --draft-ms per level or --draft-ms-per-token)")
        parts = [f"{per_level_ms:g} ms per level"] if per_level_ms else []
        parts += [f"{per_token_ms:g} ms per draft token"] if per_token_ms else []
        return cls(per_level_ms / 1e3, per_token_ms / 1e3, 0.0, "drafter " + " + ".join(parts) + " (flags)")

    @classmethod
    def for_drafter(cls, name: str, n_layers: int | None, fallback: DraftCost) -> DraftCost:
        """Return the cost a measured drafter's own name says (``ngram``, ``early-exit:L``), else ``fallback``.

        Parameters
        ----------
        name
            The drafter's label (e.g. ``early-exit:24``, ``ngram chain``).
        n_layers
            The verifier's layers (for ``early-exit:L``); None where unknown.
        fallback
            The cost from the flags, for every other drafter.

        Returns
        -------
        DraftCost

        """
        import re

        low = name.lower()
        m = re.search(r"early-exit[:=](-?\d+)", low)
        if m:
            layer = int(m.group(1))
            layer = layer + n_layers if n_layers and layer < 0 else layer
            if n_layers and 0 < layer <= n_layers:
                return cls(
                    layer_fraction=layer / n_layers,
                    label=f"early exit at layer {layer} of {n_layers}: {layer}/{n_layers} of a verifier pass per level",
                )
            if fallback.free:  # never cost an early exit as free
                why = (
                    f"layer {m.group(1)} is not one of the verifier's {n_layers} layers"
                    if n_layers
                    else "the verifier's layer count is unknown"
                )
                raise InputError(
                    f"{name}: an early-exit drafter costs L/n of a verifier pass per level, but {why}; give "
                    "{verifier_layers} N (or its cost with {draft_ms})",
                    param=("verifier_layers", "draft_ms"),
                )
            return replace(fallback, label=f"{fallback.label}; its layer count unknown, so the flags' cost")
        if re.search(r"\b(n-?gram|prompt[- ]lookup|lookup)\b", low):
            return cls(label="n-gram lookup: no model pass (free)")
        return fallback


#: Fraction of peak memory bandwidth a decode or verify pass streams at. Measured "model bandwidth utilisation"
#: of LLM decoding is 60-85% on tuned CUDA stacks (MosaicML/Databricks, "LLM Inference Performance Engineering:
#: Best Practices", 2023, reported about 60% on A100s at batch 1; vLLM and TensorRT-LLM reach 70-80% on H100s).
BANDWIDTH_EFFICIENCY = 0.7
#: Fraction of dense peak FLOP/s a verification's matrix products reach: large GEMMs reach 60-75% on H100s, the
#: skinny ones of a pass over tens to hundreds of tokens less.
FLOP_EFFICIENCY = 0.5
#: Tokens of context per sequence whose KV cache every pass reads, where not given (a chat turn with history).
CONTEXT = 2048


def kv_bytes_estimate(params: float) -> float:
    """Return the KV-cache bytes per token of a Llama-3-style model of ``params`` parameters (16-bit cache).

    Grouped-query attention with 8 key/value heads of 128 dimensions in each of ``L`` layers, keys and values
    of 2 bytes each: ``2 * L * 8 * 128 * 2`` bytes, with ``L = round(0.016 * params^(1/3))`` (16 layers at 1B,
    32 at 8B, 66 at 70B, 118 at 405B; Llama 3 has 16, 32, 80 and 126). 128 KiB per token at 8B.

    Parameters
    ----------
    params
        The verifier's parameters.

    Returns
    -------
    float
        Bytes per token of context.

    """
    layers = max(1, round(0.016 * float(params) ** (1.0 / 3.0)))
    return float(2 * layers * 8 * 128 * 2)


def _check_positive(name: str, v: float) -> None:
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"{{{name}}} must be a finite number > 0, got {v}", param=name)


@dataclass(frozen=True)
class Timing:
    """Everything the speedup needs; times in seconds.

    Attributes
    ----------
    gpu : GPU
        The device of the roofline.
    params : float
        Verifier parameters.
    batch : int
        Sequences sharing each verifier pass: the compute term grows with it, so each request's share of the GPU
        shrinks and the compute-bound knee moves down to ``knee(1) / batch``.
    bytes_per_param, extra_bytes : float
        Weight bytes per parameter, and other bytes read once per pass.
    context : int
        Tokens of context per sequence whose KV cache each pass reads (:data:`CONTEXT` by default).
    kv_bytes_per_token : float or None
        KV-cache bytes per token of context; None: :func:`kv_bytes_estimate` of ``params``.
    bandwidth_efficiency, flop_efficiency : float
        Fractions of peak bandwidth and peak FLOP/s a pass reaches (:data:`BANDWIDTH_EFFICIENCY`,
        :data:`FLOP_EFFICIENCY`).
    overhead_s : float
        Fixed time per pass.
    draft : DraftCost
        What drafting costs (default: free, and every output says so).
    latency : Latency or None
        Measured verifier latency that replaces the roofline.

    """

    gpu: GPU
    params: float
    batch: int = 1
    bytes_per_param: float = 2.0
    extra_bytes: float = 0.0
    context: int = CONTEXT
    kv_bytes_per_token: float | None = None
    bandwidth_efficiency: float = BANDWIDTH_EFFICIENCY
    flop_efficiency: float = FLOP_EFFICIENCY
    overhead_s: float = 0.0
    draft: DraftCost = field(default_factory=DraftCost)
    latency: Latency | None = None

    def __post_init__(self) -> None:
        _check_positive("bandwidth", self.gpu.bandwidth)
        _check_positive("flops", self.gpu.flops)
        _check_positive("params", self.params)
        _check_positive("bytes_per_param", self.bytes_per_param)
        if self.batch < 1:
            raise InputError(f"{{batch}} must be at least 1, got {self.batch}", param="batch")
        for name in ("extra_bytes", "overhead_s", "context"):
            if not getattr(self, name) >= 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.kv_bytes_per_token is not None and not (
            math.isfinite(self.kv_bytes_per_token) and self.kv_bytes_per_token >= 0
        ):
            raise InputError(
                f"{{kv_bytes_per_token}} must be a finite number >= 0, got {self.kv_bytes_per_token}",
                param="kv_bytes_per_token",
            )
        for name in ("bandwidth_efficiency", "flop_efficiency"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 < v <= 1):
                raise InputError(f"{{{name}}} must be a fraction of the peak, 0 < f <= 1, got {v}", param=name)

    @property
    def kv_per_token(self) -> float:
        """KV-cache bytes per token of context: as given, else :func:`kv_bytes_estimate`."""
        return kv_bytes_estimate(self.params) if self.kv_bytes_per_token is None else float(self.kv_bytes_per_token)

    def memory_s(self) -> float:
        """Return the memory-bound time of a pass: weights, other bytes and every sequence's KV cache, streamed.

        Returns
        -------
        float
            Seconds.

        """
        moved = self.params * self.bytes_per_param + self.extra_bytes + self.batch * self.context * self.kv_per_token
        return moved / (self.gpu.bandwidth * self.bandwidth_efficiency)

    @classmethod
    def preset(cls, gpu: str | None, params: float, **overrides: object) -> Timing:
        """Build a timing model for a preset GPU by name or alias (see ``GPUS``).

        Parameters
        ----------
        gpu
            Preset or alias; None for a custom device given by ``bandwidth`` and ``flops``.
        params
            Verifier parameters.
        **overrides
            ``bandwidth``/``flops`` (relabel the device ``custom``), any field of :class:`Timing`, and
            ``draft_s`` (seconds per draft token, the former spelling of ``draft=DraftCost(per_token_s=...)``).

        Returns
        -------
        Timing

        """
        hw = {k: overrides.pop(k) for k in ("bandwidth", "flops") if k in overrides}
        g = resolve_gpu(gpu, hw.get("bandwidth"), hw.get("flops"))  # type: ignore[arg-type]
        kw = {k: v for k, v in overrides.items() if v is not None}
        if "draft_s" in kw:
            per_token = float(kw.pop("draft_s"))  # type: ignore[arg-type]
            kw["draft"] = DraftCost.from_flags(0.0, per_token * 1e3)
        return cls(gpu=g, params=params, **kw)  # type: ignore[arg-type]

    def with_batch(self, batch: int) -> Timing:
        """Return the same model at another batch size (a measured latency table holds for its own batch only).

        Parameters
        ----------
        batch
            Sequences per verifier pass.

        Returns
        -------
        Timing

        """
        return replace(self, batch=batch)

    def pass_s(self, tokens: np.ndarray | float) -> np.ndarray:
        """Return the seconds of one verifier forward pass over ``tokens`` tokens per sequence.

        Parameters
        ----------
        tokens
            Tokens per sequence in the pass (P + 1 for a verification).

        Returns
        -------
        ndarray
            The roofline, or the latency table at P = tokens - 1 (NaN beyond it).

        """
        tt = np.asarray(tokens, dtype=np.float64)
        if self.latency is not None:
            return self.latency.at(np.maximum(tt - 1.0, 0.0))
        compute = 2.0 * self.params * tt * self.batch / (self.gpu.flops * self.flop_efficiency)
        return np.maximum(self.memory_s(), compute) + self.overhead_s

    def verify_s(self, p: np.ndarray | float) -> np.ndarray:
        """Seconds for one verifier pass over P draft tokens (P = 0: plain decoding).

        Parameters
        ----------
        p
            Draft tokens P checked in the pass: a number or an array.

        Returns
        -------
        ndarray
            ``max(memory time, compute time) + overhead_s`` (or the measured latency) in seconds, of the shape of
            ``p``; NaN beyond a latency table's largest P.

        """
        return self.pass_s(np.asarray(p, dtype=np.float64) + 1.0)

    def draft_s(self, p: np.ndarray | float, depth: np.ndarray | float | None = None) -> np.ndarray:
        """Seconds the drafter spends on a tree of P tokens in ``depth`` levels.

        Parameters
        ----------
        p
            Tree sizes.
        depth
            Depth levels (at most P); None: one level, the least any drafter spends on P tokens, so that a speedup
            computed from an upper bound on E[X] stays an upper bound.

        Returns
        -------
        ndarray
            :class:`DraftCost`'s formula, of the broadcast shape.

        """
        c = self.draft
        pp = np.asarray(p, dtype=np.float64)
        d = np.ones_like(pp) if depth is None else np.minimum(np.asarray(depth, dtype=np.float64), np.maximum(pp, 1))
        out = d * c.per_level_s + pp * c.per_token_s
        if c.layer_fraction > 0:
            out = out + d * c.layer_fraction * self.pass_s(np.ceil(pp / d))
        return out

    def knee(self) -> float:
        """Return the P where the pass turns compute-bound (roofline; NaN with a latency table).

        Returns
        -------
        float
            The P at which compute time equals memory time (not rounded; may be below 0); above it the
            pass is compute-bound.

        """
        if self.latency is not None:
            return math.nan
        return self.memory_s() * self.gpu.flops * self.flop_efficiency / (2.0 * self.params * self.batch) - 1.0

    def describe(self) -> str:
        """Return one line: the verifier's timing and the drafter's assumed cost.

        Returns
        -------
        str

        """
        if self.latency is not None:
            head = f"measured latency ({self.latency.source}, P <= {self.latency.pmax:.0f})"
        else:
            peaks = f" ({self.gpu.bandwidth / 1e12:.3g} TB/s, {self.gpu.flops / 1e12:.4g} TFLOP/s dense)"
            kv = "given" if self.kv_bytes_per_token is not None else "Llama-3-style estimate"
            head = (
                f"roofline: {self.gpu.name}{'' if self.gpu.name.startswith('custom') else peaks}, "
                f"{self.params:.3g} parameters, {self.bytes_per_param:g} bytes each, KV cache of {self.context} "
                f"tokens at {self.kv_per_token / 1024:.0f} KiB per token ({kv}), "
                f"{100 * self.bandwidth_efficiency:.0f}% of peak bandwidth and {100 * self.flop_efficiency:.0f}% of "
                "peak FLOP/s" + (f", {self.overhead_s * 1e3:g} ms overhead per pass" if self.overhead_s else "")
            )
        return f"{head}; batch {self.batch}; {self.draft.label}"

    @property
    def caveat(self) -> str | None:
        """One line saying the timing is a roofline estimate and how to measure it (None with a latency table)."""
        if self.latency is not None:
            return None
        return (
            "the timing is a roofline estimate, which puts the best P too high: measured passes slow down well "
            "before the roofline's compute-bound knee; measure yours with `speedoflight latency --url URL` and "
            "give the CSV to --latency"
        )

    def to_dict(self) -> dict[str, object]:
        """Return the model for ``--json``.

        Returns
        -------
        dict
            The device, the roofline's inputs, the drafter cost, the latency table and the knee.

        """
        g = self.gpu
        return {
            "gpu": g.name,
            "bandwidth": g.bandwidth,
            "flops": g.flops,
            "source": g.source,
            "params": self.params,
            "batch": self.batch,
            "bytes_per_param": self.bytes_per_param,
            "context": self.context,
            "kv_bytes_per_token": self.kv_per_token,
            "kv_bytes_per_token_estimated": self.kv_bytes_per_token is None,
            "bandwidth_efficiency": self.bandwidth_efficiency,
            "flop_efficiency": self.flop_efficiency,
            "overhead_s": self.overhead_s,
            "draft": {
                "per_level_s": self.draft.per_level_s,
                "per_token_s": self.draft.per_token_s,
                "layer_fraction": self.draft.layer_fraction,
                "assumed": self.draft.label,
            },
            "latency": None
            if self.latency is None
            else {
                "P": self.latency.P.tolist(),
                "seconds": self.latency.seconds.tolist(),
                "source": self.latency.source,
            },
            "compute_bound_from_P": self.knee(),
            "caveat": self.caveat,
        }


def speedup(
    expected_accepted: np.ndarray, p: np.ndarray, timing: Timing, depth: np.ndarray | float | None = None
) -> np.ndarray:
    """``(E[X(P)] + 1) t_verify(0) / (t_draft(P, D) + t_verify(P))``.

    Parameters
    ----------
    expected_accepted
        E[X(P)], the expected accepted draft tokens per verifier call, at each P.
    p
        Verifier capacities P (draft tokens per pass).
    timing
        The timing model (its ``draft`` is ``t_draft``).
    depth
        The trees' depth D (None: one level, the least a drafter can spend; see :meth:`Timing.draft_s`).

    Returns
    -------
    ndarray
        The speedup over plain decoding at each P; a ceiling when ``expected_accepted`` is an upper bound; NaN
        beyond a latency table.

    """
    pp = np.asarray(p, dtype=np.float64)
    return (
        (np.asarray(expected_accepted) + 1.0) * timing.verify_s(0.0) / (timing.draft_s(pp, depth) + timing.verify_s(pp))
    )


def best_p(expected_accepted: np.ndarray, p: np.ndarray, timing: Timing) -> tuple[float, float]:
    """Return the P of largest speedup on the given grid, and that speedup.

    Parameters
    ----------
    expected_accepted
        E[X(P)], the expected accepted draft tokens per verifier call, at each P.
    p
        The grid of verifier capacities P.
    timing
        The timing model.

    Returns
    -------
    tuple of float
        ``(P, speedup)`` at the largest :func:`speedup` (NaN values ignored).

    """
    s = speedup(expected_accepted, p, timing)
    if not np.any(np.isfinite(s)):
        raise InputError(
            "no P on the grid has a latency: the {latency} table must reach the P values asked for", param="latency"
        )
    i = int(np.nanargmax(s))
    return float(np.asarray(p)[i]), float(s[i])
