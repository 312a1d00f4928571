"""The timing model's old address, kept so that code written before the move goes on working.

Deprecated: import from :mod:`speedoflight.timing` (the model is in :mod:`speedoflight.timing.roofline`, the
devices in :mod:`speedoflight.timing.hardware`). This module only re-exports those names.
"""

from ..timing import (
    BANDWIDTH_EFFICIENCY,
    CONTEXT,
    FLOP_EFFICIENCY,
    GPU,
    GPU_ALIASES,
    GPUS,
    DraftCost,
    Latency,
    Timing,
    best_p,
    kv_bytes_estimate,
    read_latency,
    resolve_gpu,
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
