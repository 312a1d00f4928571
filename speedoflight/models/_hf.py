"""What the installed transformers offers, detected once, so the model code speaks every supported version.

transformers renamed the KV-cache keyword of ``forward`` from
``past_key_values`` to ``cache`` (5.24 deprecates the old name, 5.40 removes
it; model outputs carry the cache under the same new name), renamed
``num_logits_to_keep`` to ``logits_to_keep`` (4.50) and ``torch_dtype`` to
``dtype`` in ``from_pretrained`` (4.56). The model code never names any of
these keywords itself: it asks this module, which reads the installed
version's forward signature (the deprecation decorators keep
``__wrapped__``, so :func:`inspect.signature` sees the real parameters), and
so never triggers a deprecation warning.

Supported: transformers 4.53 (the first on which Gemma 3 runs) to the newest release;
``tests/test_hf.py`` checks the detection on the installed version.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

__all__ = ["cache_kwargs", "dtype_kwargs", "logits_to_keep_kwargs", "returned_cache"]


_PARAMETERS: dict[type, frozenset[str]] = {}


def _forward_parameters(cls: type) -> frozenset[str]:
    """Return the keyword names ``cls.forward`` accepts (its real signature, through any decorators)."""
    if cls not in _PARAMETERS:
        _PARAMETERS[cls] = frozenset(inspect.signature(cls.forward).parameters)  # type: ignore[attr-defined]
    return _PARAMETERS[cls]


def _cache_name(model: Any) -> str:
    params = _forward_parameters(type(model))
    if "cache" in params:
        return "cache"
    if "past_key_values" in params:
        return "past_key_values"
    raise TypeError(f"{type(model).__name__}.forward takes neither `cache` nor `past_key_values`")


def cache_kwargs(model: Any, cache: Any) -> dict[str, Any]:
    """Keyword arguments that pass ``cache`` (a transformers ``Cache`` or None) to ``model`` and ask for it back.

    Parameters
    ----------
    model
        A transformers causal LM.
    cache
        The KV cache to extend, or None for a new one.

    Returns
    -------
    dict
        ``{"cache": cache, "use_cache": True}`` where forward takes ``cache``,
        else ``{"past_key_values": cache, "use_cache": True}``.

    """
    return {_cache_name(model): cache, "use_cache": True}


def returned_cache(model: Any, out: Any) -> Any:
    """Return the KV cache a forward pass of ``model`` returned, read under the name this version gives it.

    Parameters
    ----------
    model
        The model that produced ``out``.
    out
        Its output (a ``ModelOutput``).

    Returns
    -------
    Cache
        ``out.cache`` on versions that renamed it, else ``out.past_key_values``.

    """
    return getattr(out, _cache_name(model))


def logits_to_keep_kwargs(model: Any, n: int) -> dict[str, int]:
    """Ask ``model`` for the logits of the last ``n`` positions only, where its forward supports that.

    Parameters
    ----------
    model
        A transformers causal LM.
    n
        Positions to keep (from the end).

    Returns
    -------
    dict
        ``{"logits_to_keep": n}``, ``{"num_logits_to_keep": n}``, or ``{}``
        where forward has neither (the caller then slices the logits itself).

    """
    params = _forward_parameters(type(model))
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in params:
            return {name: n}
    return {}


def dtype_kwargs(dtype: Any) -> dict[str, Any]:
    """Keyword arguments of ``from_pretrained`` that load the weights in ``dtype``.

    Parameters
    ----------
    dtype
        A torch dtype.

    Returns
    -------
    dict
        ``{"dtype": dtype}`` on transformers 4.56 and newer (which deprecate
        ``torch_dtype``), else ``{"torch_dtype": dtype}``.

    """
    return {"dtype" if _version_at_least(4, 56) else "torch_dtype": dtype}


@functools.cache
def _version_at_least(major: int, minor: int) -> bool:
    import transformers

    parts = []
    for piece in transformers.__version__.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts) >= (major, minor)
