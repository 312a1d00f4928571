"""The timing model: what a verifier pass and a drafter cost on a device, and the speedup they allow.

:mod:`.hardware` holds the devices (GPU presets with their sources, measured latency tables) and
:mod:`.roofline` the model built on them (:class:`Timing`: the roofline of one verifier pass or a measured
table; :class:`DraftCost`; :func:`speedup`; :func:`best_p`). Both need numpy only, so importing this package
is light. It sits below the theory (``theory.curve`` turns a bound into a speedup ceiling with it) and imports
nothing of the package but its errors.
"""

from .hardware import GPU, GPU_ALIASES, GPUS, Latency, read_latency, resolve_gpu
from .roofline import (
    BANDWIDTH_EFFICIENCY,
    CONTEXT,
    FLOP_EFFICIENCY,
    DraftCost,
    Timing,
    best_p,
    kv_bytes_estimate,
    speedup,
)

__all__ = [
    "BANDWIDTH_EFFICIENCY",
    "CONTEXT",
    "FLOP_EFFICIENCY",
    "GPU",
    "GPUS",
    "GPU_ALIASES",
    "DraftCost",
    "Latency",
    "Timing",
    "best_p",
    "kv_bytes_estimate",
    "read_latency",
    "resolve_gpu",
    "speedup",
]
