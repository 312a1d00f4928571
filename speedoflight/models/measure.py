"""Measured acceptance of real drafters on a real verifier (the ``[model]`` extra).

Speculative iterations with deterministic draft trees: at every iteration a
drafter proposes a tree of at most P tokens below the current context; the
verifier samples its own next token, and while that token is a child of the
current tree node it is accepted and the walk goes on. X is the number of
draft tokens accepted; the verifier's token that leaves the tree is the bonus,
so every iteration produces X + 1 tokens.

The verifier's token at a position depends only on the context and its
random stream, never on the draft, so each sequence's continuation is
sampled once (one generator per sequence) and every drafter and every P is
scored against the same continuation: the iteration starting at position t
accepts the longest tree path that spells ``continuation[t:]``. This is
exactly what step-by-step verification with the same random stream gives
(tests check it against such a brute-force loop).

Drafters (each in a ``chain`` and a ``tree`` shape, P in {1, 2, 4, ..., 64}):

``ngram``
    prompt lookup as in vLLM's n-gram method: the latest earlier occurrence
    of the context's last n tokens (n from ``ngram_max`` down to
    ``ngram_min``) proposes the tokens that followed it. ``chain``: the
    latest match's continuation; ``tree``: the continuations of the latest
    ``ngram_matches`` matches merged into a trie, keeping the P nodes that
    most matches pass through (shallower first on ties).
``early-exit:L``
    the verifier cut after layer L (hidden state through the final norm and
    the output head), the self-speculative drafter. ``chain``: its greedy
    path; ``tree``: a dynamic tree in the manner of EAGLE-2 (expand the
    ``topk`` frontier nodes of highest drafter path confidence for ``depth``
    steps, each adding its ``topk`` most likely children, then keep the P
    nodes of highest confidence).

Output: :func:`speedoflight.formats.measured.write_measured` writes the JSONL format documented there.
"""

from __future__ import annotations

import copy
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..formats.measured import FORMAT, VERSION, MeasureRun
from ..options import RunOptions

__all__ = [
    "DEFAULT_P",
    "Trie",
    "accepted_length",
    "early_exit_model",
    "iterate",
    "ngram_tree",
    "run_measure",
]

DEFAULT_P = (1, 2, 4, 8, 16, 32, 64)


class Trie:
    """A draft tree as a trie: ``children[node]`` maps token -> child (node 0 is the context)."""

    def __init__(self) -> None:
        self.children: list[dict[int, int]] = [{}]

    @property
    def size(self) -> int:
        """Number of draft tokens (nodes other than the context)."""
        return len(self.children) - 1

    def add(self, parent: int, token: int) -> int:
        """Add (or find) the child ``token`` of ``parent``; return its node.

        Parameters
        ----------
        parent
            An existing node (0 for the context).
        token
            Token id of the child.

        Returns
        -------
        int
            The child's node.

        """
        child = self.children[parent].get(token)
        if child is None:
            child = len(self.children)
            self.children[parent][token] = child
            self.children.append({})
        return child

    @classmethod
    def chain(cls, tokens: Sequence[int]) -> Trie:
        """Build a chain of draft tokens."""
        t = cls()
        node = 0
        for tok in tokens:
            node = t.add(node, int(tok))
        return t


def accepted_length(tree: Trie, continuation: Sequence[int]) -> int:
    """Length of the longest tree path that spells a prefix of ``continuation``.

    Parameters
    ----------
    tree
        The draft tree below the current context.
    continuation
        The verifier's tokens from the iteration's start on.

    Returns
    -------
    int
        X, the draft tokens accepted.

    """
    node = 0
    x = 0
    for tok in continuation:
        node = tree.children[node].get(int(tok), -1)
        if node < 0:
            break
        x += 1
    return x


def iterate(accepted_at: Any, n: int) -> tuple[list[int], list[int]]:
    """Speculative iterations over a continuation of length ``n``.

    ``accepted_at(t)`` is X for the iteration starting at position t; the
    next iteration starts at t + X + 1. Returns (X per iteration, start positions).

    Parameters
    ----------
    accepted_at
        Callable giving X for the iteration that starts at position t.
    n
        Length of the continuation.

    Returns
    -------
    xs, starts : list of int
        X per iteration (capped at ``n - t - 1`` so that the bonus token lies inside the continuation) and the
        position each iteration starts at.

    """
    xs, starts = [], []
    t = 0
    while t < n:
        x = min(int(accepted_at(t)), n - t - 1)  # the bonus token must lie inside the continuation
        xs.append(x)
        starts.append(t)
        t += x + 1
    return xs, starts


def ngram_tree(context: Sequence[int], p: int, *, shape: str, n_max: int = 3, n_min: int = 1, matches: int = 8) -> Trie:
    """Prompt-lookup draft of at most ``p`` tokens (see the module docstring).

    Parameters
    ----------
    context
        Token ids of the prompt and the tokens so far.
    p
        Largest number of draft tokens.
    shape
        ``"chain"`` (the latest match's continuation) or ``"tree"`` (the continuations of several matches merged).
    n_max, n_min
        Longest and shortest n-gram of the context's tail looked up (longest first).
    matches
        Most matches merged into the tree.

    Returns
    -------
    Trie
        The draft tree (empty when no n-gram matches).

    """
    ctx = list(context)
    conts: list[list[int]] = []
    for n in range(min(n_max, len(ctx) - 1), n_min - 1, -1):
        tail = ctx[-n:]
        for start in range(len(ctx) - n - 1, -1, -1):  # latest first; the match must have a follower
            if ctx[start : start + n] == tail:
                conts.append(ctx[start + n : start + n + p])
                if shape == "chain" or len(conts) >= matches:
                    break
        if conts:
            break
    if not conts:
        return Trie()
    if shape == "chain":
        return Trie.chain(conts[0])
    count: dict[tuple[int, ...], int] = {}
    for c in conts:
        for d in range(1, len(c) + 1):
            count[tuple(c[:d])] = count.get(tuple(c[:d]), 0) + 1
    order = sorted(count, key=lambda path: (-count[path], len(path)))[:p]  # ancestors come first
    t = Trie()
    for path in sorted(order, key=len):
        node = 0
        for tok in path:
            node = t.add(node, tok)
    return t


def early_exit_model(model: Any, layer: int) -> Any:
    """Cut the verifier after ``layer`` decoder layers, keeping its final norm and output head.

    Shares all weights with ``model`` (no copy of any tensor). At
    ``layer == num_hidden_layers`` it is the verifier itself.

    Parameters
    ----------
    model
        A transformers decoder with ``model.model.layers``.
    layer
        Decoder layers kept (1..number of layers).

    Returns
    -------
    Any
        A shallow copy of ``model`` that runs only its first ``layer`` decoder layers.

    """
    inner: Any = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise InputError("early exit needs a decoder with model.model.layers (Llama, Gemma, Mistral, Qwen...)")
    n = len(layers)
    if not 1 <= layer <= n:
        raise InputError(
            f"early-exit:{layer}: the model has layers 1..{n}; give {{drafters}} early-exit:L inside them",
            param="drafters",
        )
    import torch

    cfg = copy.deepcopy(model.config)
    cfg.num_hidden_layers = layer
    if getattr(cfg, "layer_types", None):
        cfg.layer_types = list(cfg.layer_types)[:layer]
    short_inner = copy.copy(inner)
    short_inner._modules = dict(inner._modules)
    short_inner.layers = torch.nn.ModuleList(list(layers)[:layer])
    short_inner.config = cfg
    short = copy.copy(model)
    short._modules = dict(model._modules)
    short.model = short_inner
    short.config = cfg
    return short


def _greedy_along(model: Any, prompt: list[int], cont: list[int]) -> list[int]:
    """Return the drafter's most likely next token at every position of the continuation (teacher forcing)."""
    import torch

    ids = torch.tensor([prompt + cont[:-1]])
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 :]
    return [int(t) for t in torch.argmax(logits, dim=-1)]


def _eagle2_accepts(
    draft: Any, prompt: list[int], cont: list[int], ps: Sequence[int], topk: int, depth: int
) -> tuple[np.ndarray, np.ndarray]:
    """X and tree size of the EAGLE-2 style dynamic tree at every position, for every P.

    One :class:`~speedoflight.models.treelm.TreeBatch` per sequence: the continuation
    is appended as a chain, and the drafter's tree at position t hangs below
    chain node t - 1 (the prompt for t = 0), so nothing is recomputed; each
    expansion step runs the frontiers of all positions in one forward pass.
    """
    import torch

    from .treelm import TreeBatch

    n = len(cont)
    tb = TreeBatch(draft, [prompt], 1.0)
    topk = min(topk, int(tb.root_logits.shape[-1]))
    roots = [tb.root_logits[0]]
    if n > 1:
        chain = tb.extend([[(i - 1, cont[i]) for i in range(n - 1)]])[0]
        roots += [chain[i] for i in range(n - 1)]
    # per position: drafted nodes (log confidence, parent local id, token); the current layer; expanded nodes
    nodes: list[list[tuple[float, int, int]]] = []
    layers: list[list[int]] = []
    expanded: list[dict[int, int]] = [{} for _ in range(n)]
    for t in range(n):
        top = torch.topk(torch.log_softmax(roots[t].to(torch.float64), dim=-1), topk)
        nodes.append([(v, -1, tok) for v, tok in zip(top.values.tolist(), top.indices.tolist(), strict=True)])
        layers.append(list(range(len(nodes[t]))))
    for _ in range(depth - 1):
        req: list[tuple[int, int]] = []
        owner: list[tuple[int, int]] = []
        for t in range(n):
            conf_t = [c for c, _, _ in nodes[t]]
            frontier = sorted(layers[t], key=lambda i: -conf_t[i])[:topk]
            for i in frontier:
                _, par, tok = nodes[t][i]
                req.append((t - 1 if par < 0 else expanded[t][par], tok))
                owner.append((t, i))
        base = tb.size(0)
        logits = tb.extend([req])[0, : len(req)]
        top = torch.topk(torch.log_softmax(logits.to(torch.float64), dim=-1), topk, dim=-1)
        values, indices = top.values.tolist(), top.indices.tolist()
        layers = [[] for _ in range(n)]
        for j, (t, i) in enumerate(owner):
            expanded[t][i] = base + j
            for v, tok in zip(values[j], indices[j], strict=True):
                nodes[t].append((nodes[t][i][0] + v, i, tok))
                layers[t].append(len(nodes[t]) - 1)
    xs = np.zeros((len(ps), n), dtype=np.int64)
    sizes = np.zeros((len(ps), n), dtype=np.int64)
    for t in range(n):
        conf_t = [c for c, _, _ in nodes[t]]
        order = sorted(range(len(conf_t)), key=lambda i: -conf_t[i])
        for k, p in enumerate(ps):
            trie = Trie()
            at: dict[int, int] = {}
            for i in sorted(order[:p]):  # a parent precedes its children and, more confident, is kept
                _, par, tok = nodes[t][i]
                at[i] = trie.add(0 if par < 0 else at[par], tok)
            xs[k, t] = accepted_length(trie, cont[t:])
            sizes[k, t] = trie.size
    return xs, sizes


def measure_sequence(
    verifier: Any,
    prompt: list[int],
    cont: list[int],
    *,
    drafters: Sequence[str],
    ps: Sequence[int] = DEFAULT_P,
    topk: int = 8,
    depth: int = 6,
    ngram_max: int = 3,
    ngram_min: int = 1,
    ngram_matches: int = 8,
    shapes: Sequence[str] = ("chain", "tree"),
) -> list[dict[str, Any]]:
    """Run every drafter, shape and P over one continuation; return one record per (drafter, shape, P)."""
    n = len(cont)
    out = []
    for spec in drafters:
        name, _, arg = spec.partition(":")
        for shape in shapes:
            if name == "ngram":
                for p in ps:
                    trees: dict[int, Trie] = {}

                    def x_at(t: int, p: int = p, trees: dict[int, Trie] = trees, shape: str = shape) -> int:
                        trees[t] = ngram_tree(
                            prompt + cont[:t], p, shape=shape, n_max=ngram_max, n_min=ngram_min, matches=ngram_matches
                        )
                        return accepted_length(trees[t], cont[t:])

                    xs, starts = iterate(x_at, n)
                    out.append(_record(spec, shape, p, xs, [trees[t].size for t in starts], starts))
            elif name == "early-exit":
                layer = int(arg)
                draft = early_exit_model(verifier, layer)
                if shape == "chain":
                    greedy = _greedy_along(draft, prompt, cont)
                    run = np.zeros(n + 1, dtype=np.int64)  # run[t]: matches from t on
                    for t in range(n - 1, -1, -1):
                        run[t] = run[t + 1] + 1 if greedy[t] == cont[t] else 0
                    for p in ps:

                        def chain_x(t: int, p: int = p, run: np.ndarray = run) -> int:
                            return min(p, int(run[t]))

                        xs, starts = iterate(chain_x, n)
                        out.append(_record(spec, shape, p, xs, [p] * len(xs), starts))
                else:
                    xs_all, sizes = _eagle2_accepts(draft, prompt, cont, ps, topk, depth)
                    for k, p in enumerate(ps):

                        def tree_x(t: int, k: int = k, xs_all: np.ndarray = xs_all) -> int:
                            return int(xs_all[k, t])

                        xs, starts = iterate(tree_x, n)
                        out.append(_record(spec, shape, p, xs, [int(sizes[k, t]) for t in starts], starts))
            else:
                raise InputError(f"{{drafters}} {spec!r}: use ngram or early-exit:L", param="drafters")
    return out


def _record(drafter: str, shape: str, p: int, xs: list[int], sizes: list[int], starts: list[int]) -> dict[str, Any]:
    return {
        "drafter": drafter,
        "shape": shape,
        "P": int(p),
        "accepted": [int(x) for x in xs],
        "tree_size": [int(s) for s in sizes],
        "start": [int(s) for s in starts],
    }


def parse_drafters(text: str, n_layers: int | None = None) -> list[str]:
    """``ngram,early-exit:8`` -> checked drafter specs (a negative layer counts from the top)."""
    out = []
    for part in text.split(","):
        spec = part.strip()
        name, _, arg = spec.partition(":")
        if name == "ngram" and not arg:
            out.append(spec)
        elif name == "early-exit" and arg.lstrip("-").isdigit() and int(arg) != 0:
            layer = int(arg)
            if layer < 0 and n_layers is not None:
                layer += n_layers  # -6: six layers below the top
            if layer < 1 or (n_layers is not None and layer > n_layers):
                raise InputError(f"{{drafters}} {spec}: the model has layers 1..{n_layers}", param="drafters")
            out.append(f"early-exit:{layer}")
        else:
            raise InputError(
                f"{{drafters}}: unknown drafter {spec!r}; use ngram and/or early-exit:L (L a layer)", param="drafters"
            )
    if not out:
        raise InputError("{drafters}: name at least one drafter", param="drafters")
    return out


def run_measure(
    *,
    model: str,
    prompts: str,
    drafters: str = "ngram,early-exit:-6",
    ps: Sequence[int] = DEFAULT_P,
    tokens: int = 48,
    samples_per_prompt: int = 1,
    temperature: float = 1.0,
    per_kind: int | None = None,
    limit: int | None = None,
    topk: int = 8,
    depth: int = 6,
    batch_size: int = 16,
    command: str | None = None,
    run: RunOptions | None = None,
) -> MeasureRun:
    """Load the verifier, sample continuations and score every drafter on them.

    Parameters
    ----------
    model
        ``smollm2``, ``gemma3-270m`` or a local model folder (see :func:`~speedoflight.models.dump.load_model`).
    prompts
        The prompt file (see :func:`~speedoflight.models.dump.read_prompts`).
    drafters
        Comma-separated drafters: ``ngram`` and/or ``early-exit:L`` (a negative L counts from the top).
    ps
        Draft tree sizes P (each >= 1).
    tokens
        Continuation tokens sampled per sequence (>= 1).
    samples_per_prompt
        Continuations sampled per prompt.
    temperature
        Verifier sampling temperature (>= 0; 0 is greedy).
    per_kind
        Keep only the first N prompts of each kind (None: all).
    limit
        Keep at most this many prompts (after ``per_kind``; None: all).
    topk
        EAGLE-2 style tree: frontier nodes expanded per step, and children added per node.
    depth
        EAGLE-2 style tree: expansion steps.
    batch_size
        Sequences whose continuations are sampled together.
    command
        The command line recorded in the metadata (as typed, quoted for a shell), or None.

    run
        The base of every sequence's generator seed, and a progress bar on stderr
        (:class:`~speedoflight.options.RunOptions`; its ``client`` is unused).

    Returns
    -------
    MeasureRun
        One record per (prompt, sample, drafter, shape, P) with X (accepted draft tokens per verifier call) per
        iteration, tree sizes and starts, and the run's metadata.

    """
    run = run if run is not None else RunOptions()
    seed, progress = run.seed, run.progress
    from tqdm import tqdm

    from .._util.provenance import sha256_file, versions
    from .dump import choose_prompts, load_model, read_prompts, sample_batch

    if any(p < 1 for p in ps):
        raise InputError("{ps}: every value must be >= 1", param="ps")
    if tokens < 1:
        raise InputError(f"{{tokens}} must be >= 1, got {tokens}", param="tokens")
    if temperature < 0:
        raise InputError(f"{{temperature}} must be >= 0, got {temperature}", param="temperature")
    items = read_prompts(prompts)
    lm = load_model(model, progress=progress)
    specs = parse_drafters(drafters, len(lm.model.model.layers))
    chosen = choose_prompts(items, per_kind)[:limit]
    from .budget import check_context

    lengths = [len(lm.tokenizer(items[i][0]).input_ids) for i in chosen]
    check_context(lm.model, lengths, tokens, "tokens", labels=chosen)  # before any forward
    result = MeasureRun()
    started = time.time()
    jobs = [(i, j) for i in chosen for j in range(samples_per_prompt)]
    bar = tqdm(total=len(jobs), disable=not progress, file=sys.stderr, unit="sequence")
    for lo in range(0, len(jobs), batch_size):
        chunk = jobs[lo : lo + batch_size]
        # the verifier's continuations, sampled exactly as `dump --samples-per-prompt` samples them
        seeds = [seed * 1_000_003 + i + 1_000_000_007 * j for i, j in chunk]
        sampled = sample_batch(lm, [items[i][0] for i, _ in chunk], tokens, temperature, 1, seeds)
        for (i, j), seq in zip(chunk, sampled, strict=True):
            ids = lm.tokenizer(items[i][0]).input_ids
            cont = [int(t) for t in seq["next_token"]]
            for rec in measure_sequence(lm.model, ids, cont, drafters=specs, ps=ps, topk=topk, depth=depth):
                rec.update({"prompt": i, "sample": j, "kind": items[i][1]})
                result.records.append(rec)
            bar.update(1)
    bar.close()
    result.meta = {
        "format": FORMAT,
        "version": VERSION,
        "model": lm.description,
        "temperature": temperature,
        "seed": seed,
        "tokens": tokens,
        "samples_per_prompt": samples_per_prompt,
        "P": list(ps),
        "drafters": specs,
        "settings": {"ngram_max": 3, "ngram_min": 1, "ngram_matches": 8, "eagle2_topk": topk, "eagle2_depth": depth},
        "prompt_source": {"path": os.path.basename(prompts), "sha256": sha256_file(prompts), "n_prompts": len(chosen)},
        "versions": versions("numpy", "torch", "transformers"),
        "command": command,
        "seconds": round(time.time() - started, 1),
        "convention": "accepted = draft tokens accepted per iteration (X); tokens per verifier call = X + 1",
    }
    return result
