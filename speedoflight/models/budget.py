"""What a model run may ask for, checked before it starts: the model's context, and the memory it will fill.

:func:`check_context` refuses prompts that, with the tokens asked for after them, run past the positions the model
was built for (a RoPE model runs on past them, silently wrong). :func:`check_memory` refuses a run whose arrays cannot
fit in the memory free now, before any of them is allocated (``dump --samples-per-prompt``, ``oracle --pmax``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..errors import InputError

__all__ = ["available_bytes", "check_context", "check_memory", "context_length", "kv_bytes_per_token"]

#: The configuration keys that give a model's context, by family (Llama, GPT-2, BLOOM/MPT, ...).
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


def context_length(model: Any) -> int | None:
    """Return the positions a model was built for (its configuration's), or None where it does not say.

    Parameters
    ----------
    model
        A transformers model (anything with a ``config``).

    Returns
    -------
    int or None
        The context length.

    """
    cfg = getattr(model, "config", None)
    cfg = getattr(cfg, "get_text_config", lambda: cfg)() if cfg is not None else None
    for key in _CONTEXT_KEYS:
        v = getattr(cfg, key, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def check_context(
    model: Any,
    lengths: Sequence[int],
    extra: int,
    param: str,
    what: str = "prompt",
    labels: Sequence[int] | None = None,
) -> None:
    """Refuse a prefix that, with ``extra`` tokens after it, runs past the model's context (before any forward).

    Parameters
    ----------
    model
        The loaded model.
    lengths
        Tokens of each prefix, in order.
    extra
        Tokens the run adds after every prefix (``--max-new-tokens``; the oracle's deepest node).
    param
        The parameter that sets ``extra`` (``max_new_tokens``), named in the message.
    what
        What a prefix is, for the message.
    labels
        Each prefix's number in the message (its line of the prompt file); default its place in ``lengths``.

    Raises
    ------
    InputError
        Naming the first prefix too long, its length and the largest ``extra`` that fits.

    """
    ctx = context_length(model)
    if ctx is None or not lengths:
        return
    at = max(range(len(lengths)), key=lambda i: lengths[i])
    n = lengths[at]
    longest = at if labels is None else labels[at]
    if n + extra > ctx:
        fit = ctx - n
        fix = f"lower {{{param}}} to {fit} or less" if fit > 0 else f"shorten {what} {longest}"
        raise InputError(
            f"{what} {longest} has {n} tokens and {{{param}}} {extra} asks for {extra} more: {n + extra} positions, "
            f"past the model's context of {ctx}; {fix}",
            param=param,
        )


def available_bytes(device: str = "cpu") -> int | None:
    """Return the memory free now on ``device`` (CPU: MemAvailable; CUDA: the device's free bytes), None if unknown.

    Parameters
    ----------
    device
        ``cpu``, ``cuda`` or ``mps``.

    Returns
    -------
    int or None
        Bytes.

    """
    if device == "cuda":
        try:
            import torch

            return int(torch.cuda.mem_get_info()[0])
        except Exception:  # no CUDA here: nothing to say
            return None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return None


def check_memory(need: float, what: str, fix: str, device: str = "cpu", param: Sequence[str] = ()) -> None:
    """Refuse a run whose arrays need more than the memory free now, before allocating them.

    Parameters
    ----------
    need
        Bytes the run will hold at least (a lower bound: refusing is then never wrong).
    what
        What asks for them (``{samples_per_prompt} 8``), for the message.
    fix
        What to lower, for the message.
    device
        Where they live.
    param
        The parameters that ``what`` and ``fix`` name as ``{name}`` (see :class:`~speedoflight.errors.InputError`).

    Raises
    ------
    InputError
        When ``need`` exceeds the free memory.

    """
    free = available_bytes(device)
    if free is not None and need > free:
        raise InputError(
            f"{what} needs at least {need / 2**30:,.1f} GiB of {device} memory, more than the "
            f"{free / 2**30:,.1f} GiB free; {fix}",
            param=tuple(param),
        )


def kv_bytes_per_token(model: Any) -> int:
    """Return the bytes one token's keys and values take in the model's cache (all layers).

    Parameters
    ----------
    model
        A transformers model.

    Returns
    -------
    int
        ``2 * layers * kv_heads * head_dim * bytes per value`` (0 where the configuration does not say).

    """
    cfg = getattr(model, "config", None)
    cfg = getattr(cfg, "get_text_config", lambda: cfg)() if cfg is not None else None
    layers = getattr(cfg, "num_hidden_layers", None)
    heads = getattr(cfg, "num_attention_heads", None)
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    hidden = getattr(cfg, "hidden_size", None)
    head_dim = getattr(cfg, "head_dim", None) or (hidden // heads if hidden and heads else None)
    if not all(isinstance(v, int) and v > 0 for v in (layers, kv_heads, head_dim)):
        return 0
    try:
        size = next(model.parameters()).element_size()
    except (AttributeError, StopIteration, TypeError):
        size = 4
    return 2 * int(layers) * int(kv_heads) * int(head_dim) * int(size)  # type: ignore[arg-type]
