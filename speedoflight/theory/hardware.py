"""The devices' old address, kept so that code written before the move goes on working.

Deprecated: import from :mod:`speedoflight.timing` (or :mod:`speedoflight.timing.hardware`, where they are
defined). This module only re-exports those names.
"""

from ..timing.hardware import GPU, GPU_ALIASES, GPUS, Latency, read_latency, resolve_gpu

__all__ = ["GPU", "GPUS", "GPU_ALIASES", "Latency", "read_latency", "resolve_gpu"]
