"""Talking to a running server: collect the verifier's log-probabilities over its OpenAI-compatible API.

:mod:`.http` holds the client (retries, one-line errors), :mod:`.probe` what a server says about itself, and
:mod:`.collect` the collection that ``speedoflight collect`` runs (its function ``collect`` is
``speedoflight.collect``, since the module holds that name here). httpx is imported only when a server is asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._util.lazy import lazy_exports

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .collect import CollectResult as CollectResult
    from .latency import LatencyResult as LatencyResult
    from .latency import measure_latency as measure_latency
    from .options import CollectOptions as CollectOptions
    from .probe import ServerInfo as ServerInfo

#: The public names by the module that defines them, each imported on first use.
_LAZY = {
    ".options": ["CollectOptions"],
    ".collect": ["CollectResult"],
    ".probe": ["ServerInfo"],
    ".latency": ["measure_latency", "LatencyResult"],
}

__all__ = [
    "CollectOptions",
    "CollectResult",
    "LatencyResult",
    "ServerInfo",
    "measure_latency",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
