"""The recommended tree, and the best chain, in each engine's own settings: vLLM, SGLang, llama.cpp, TensorRT-LLM.

A :class:`Target` (P draft tokens in D levels, with rank paths where a static tree is known) becomes each
engine's settings. Nothing here searches: the callers (``tree``, the advice of ``compare`` and ``report``,
``bound``) choose the tree and the best chain; tree engines realise the tree, chain-only engines (and
configurations) run the chain, never a truncated tree. Each engine's flags, limits and the source they were
read from: docs/cli.md, "Settings in your engine's terms".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FAMILIES",
    "EngineSettings",
    "LlamaCppSettings",
    "SglangSettings",
    "Target",
    "TensorRTSettings",
    "VllmSettings",
    "engine_settings",
    "family_of",
]

#: Each drafter family's method name in vLLM, SGLang, llama.cpp and TensorRT-LLM.
FAMILIES: dict[str, dict[str, str]] = {
    "eagle": {"vllm": "eagle3", "sglang": "EAGLE3", "llama.cpp": "draft-eagle3", "tensorrt_llm": "Eagle3"},
    "draft": {
        "vllm": "draft_model",
        "sglang": "STANDALONE",
        "llama.cpp": "draft-simple",
        "tensorrt_llm": "Draft_Target",
    },
    "ngram": {"vllm": "ngram", "sglang": "NGRAM", "llama.cpp": "ngram-simple", "tensorrt_llm": "NGram"},
}
#: TensorRT-LLM methods that draft a tree (its n-gram and draft-target methods are linear only).
_TRT_TREES = {"Eagle3"}
#: The longest eagle_choices a text line spells out (the rest: the rank paths the command lists, and --json).
_INLINE_PATHS = 16


def family_of(name: str) -> str:
    """Return the drafter family a name says: ``ngram``, ``draft`` (a separate or early-exit model) or ``eagle``.

    Parameters
    ----------
    name
        ``ceiling`` or a measured drafter's name (``ngram tree``, ``early-exit:24 chain``, ...).

    Returns
    -------
    str
        A key of :data:`FAMILIES`; ``eagle`` (an EAGLE-3 head) for the ceiling and any other name.

    """
    low = name.lower()
    if "ngram" in low or "n-gram" in low or "lookup" in low:
        return "ngram"
    if "early-exit" in low or "draft" in low:
        return "draft"
    return "eagle"


@dataclass(frozen=True)
class Target:
    """A tree of P draft tokens in ``depth`` levels (its rank paths where known), or a chain (depth = P).

    Attributes
    ----------
    P : int
        Draft tokens per verifier call.
    depth : int or None
        Levels; None where the recommendation leaves it open (a drafter cost that does not grow with depth).
    paths : tuple or None
        The static tree's 0-based rank paths (``(0, 1)``: the second-ranked child of the top-ranked token), or
        None where no static tree is known (the grafted ceiling adapts its tree to every position).
    speedup : float or None
        Its expected speedup on the GPU, where a timing model gave one.
    who : str
        ``ceiling`` or the measured drafter it comes from.
    family : str
        The drafter family (:data:`FAMILIES`): the method each engine runs it with.
    source : str
        Where it comes from, in words.

    """

    P: int
    depth: int | None
    paths: tuple[tuple[int, ...], ...] | None = None
    speedup: float | None = None
    who: str = "ceiling"
    family: str = "eagle"
    source: str = ""

    def __post_init__(self) -> None:
        if self.P < 1:
            raise ValueError(f"a target needs P >= 1, got {self.P}")
        if self.depth is not None and not 1 <= self.depth <= self.P:
            raise ValueError(f"depth {self.depth} of a {self.P}-token target")
        if self.family not in FAMILIES:
            raise ValueError(f"unknown drafter family {self.family!r}")
        if self.paths is not None:
            known = set(self.paths)
            if len(known) != self.P or len(self.paths) != self.P:
                raise ValueError(f"{len(self.paths)} paths for P = {self.P}")
            if any(not p or min(p) < 0 or (len(p) > 1 and p[:-1] not in known) for p in self.paths):
                raise ValueError("rank paths must be non-empty, non-negative and closed under prefixes")
            if self.depth != max(len(p) for p in self.paths):
                raise ValueError(f"depth {self.depth} is not the paths' depth")

    @property
    def chain(self) -> bool:
        """Whether it is a chain: one token per level."""
        return self.depth == self.P

    @property
    def off(self) -> bool:
        """Whether it runs slower than plain decoding (leave speculation off)."""
        return self.speedup is not None and self.speedup < 1.0

    def to_dict(self) -> dict[str, Any]:
        """Return the target for ``--json``.

        Returns
        -------
        dict
            Every field; ``paths`` as lists (None where no static tree is known).

        """
        return {
            "P": self.P,
            "depth": self.depth,
            "shape": "chain" if self.chain else "tree",
            "paths": [list(p) for p in self.paths] if self.paths is not None else None,
            "speedup": self.speedup,
            "who": self.who,
            "family": self.family,
            "source": self.source,
        }


def _speed(t: Target) -> str:
    return f", {t.speedup:.2f}x" if t.speedup is not None else ""


def _off_line(engine: str, t: Target, what: str) -> str:
    return f"{engine}: leave speculation off (the best {what} here runs at {t.speedup:.2f}x)"


def _sglang_shape(paths: tuple[tuple[int, ...], ...]) -> tuple[int, int]:
    """Return SGLang's ``(num_steps, eagle_topk)`` under which its dynamic tree holds a static tree.

    Step 1 drafts the root's ``topk`` best children; each later step expands the ``topk`` best-scoring nodes of
    the last level by their ``topk`` best children; the best-scoring nodes of that pool are verified. A tree fits
    when it is at most ``num_steps`` deep, its ranks are below ``topk`` and no level has more than ``topk`` nodes
    with children; it is then the very tree SGLang verifies when the drafter's scores order the nodes as the
    acceptance rates do (the tree's nodes are the best ones, its inner nodes the best of their level).
    """
    inner: dict[int, int] = {}
    for p in {q[:-1] for q in paths if len(q) > 1}:
        inner[len(p)] = inner.get(len(p), 0) + 1
    top = max(max(p) for p in paths) + 1
    return max(len(p) for p in paths), max(top, max(inner.values(), default=0))


def _sglang_topk_for(p: int, depth: int) -> int:
    """Return the smallest topk whose pool (k nodes at step 1, then k^2 per step) holds P nodes in ``depth`` steps."""
    k = 1
    while k + (depth - 1) * k * k < p:
        k += 1
    return k


def _eagle_choices(paths: tuple[tuple[int, ...], ...]) -> list[list[int]]:
    """Return TensorRT-LLM's ``eagle_choices``: the rank paths as lists, in the order ``check_eagle_choices`` sorts."""
    return [list(p) for p in sorted(paths, key=lambda q: (len(q), q))]


@dataclass(frozen=True)
class VllmSettings:
    """vLLM's ``--speculative-config``: the best chain (no vLLM method takes a tree).

    Attributes
    ----------
    method : str
        ``eagle3``, ``draft_model`` or ``ngram``.
    num_speculative_tokens : int
        The chain's length K.
    target : Target
        The chain.

    """

    method: str
    num_speculative_tokens: int
    target: Target

    @property
    def config(self) -> dict[str, Any]:
        """The ``--speculative-config`` JSON object (add ``model``, your draft's path, for a model drafter)."""
        return {"method": self.method, "num_speculative_tokens": self.num_speculative_tokens}

    @property
    def line(self) -> str:
        """The one line of text: the flag, or that speculation is best left off."""
        if self.target.off:
            return _off_line("vLLM", self.target, "chain")
        return f"vLLM (chain{_speed(self.target)}): --speculative-config '{json.dumps(self.config)}'"

    def to_dict(self) -> dict[str, Any]:
        """Return the settings for ``--json``.

        Returns
        -------
        dict
            ``speculative_config``, ``args``, ``off`` and the chain it realises (``realises``).

        """
        args = ["--speculative-config", json.dumps(self.config)]
        return {
            "speculative_config": self.config,
            "args": args,
            "off": self.target.off,
            "realises": self.target.to_dict(),
        }


@dataclass(frozen=True)
class SglangSettings:
    """SGLang's speculative flags for the tree, and for the best chain where only topk 1 is possible.

    Attributes
    ----------
    algorithm : str
        ``--speculative-algorithm``.
    num_steps, eagle_topk : int or None
        ``--speculative-num-steps`` and ``--speculative-eagle-topk``; None where SGLang chooses (NGRAM) or the
        depth is open.
    num_draft_tokens : int
        ``--speculative-num-draft-tokens``: P + 1 (the last verified token is verified with the drafts).
    target : Target
        The tree.
    chain : Target or None
        The best chain, for configurations that take topk 1 only (None for NGRAM).
    note : str
        What is left open, if anything.

    """

    algorithm: str
    num_steps: int | None
    eagle_topk: int | None
    num_draft_tokens: int
    target: Target
    chain: Target | None = None
    note: str = ""

    @property
    def args(self) -> list[str]:
        """The flags: ``--speculative-algorithm`` and the numbers that are set."""
        out = ["--speculative-algorithm", self.algorithm]
        if self.num_steps is not None:
            out += ["--speculative-num-steps", str(self.num_steps)]
        if self.eagle_topk is not None:
            out += ["--speculative-eagle-topk", str(self.eagle_topk)]
        return [*out, "--speculative-num-draft-tokens", str(self.num_draft_tokens)]

    @property
    def topk1_args(self) -> list[str] | None:
        """The flags of the best chain (steps K, topk 1, K + 1 draft tokens); None without a chain."""
        if self.chain is None:
            return None
        k = str(self.chain.P)
        algo = FAMILIES[self.chain.family]["sglang"]
        return [
            *("--speculative-algorithm", algo, "--speculative-num-steps", k, "--speculative-eagle-topk", "1"),
            *("--speculative-num-draft-tokens", str(self.chain.P + 1)),
        ]

    @property
    def line(self) -> str:
        """The one line of text: the flags, the topk-1 chain in brief, and what is left open."""
        if self.target.off:
            return _off_line("SGLang", self.target, "tree")
        shape = "chain" if self.target.chain else "tree"
        out = f"SGLang ({shape}{_speed(self.target)}): {' '.join(self.args)}"
        if self.chain is not None and not self.target.chain and not self.chain.off:
            out += f" (topk 1 only: steps {self.chain.P}, draft tokens {self.chain.P + 1}{_speed(self.chain)})"
        return out + (f"; {self.note}" if self.note else "")

    def to_dict(self) -> dict[str, Any]:
        """Return the settings for ``--json``.

        Returns
        -------
        dict
            The three numbers, ``args``, ``topk1_args`` (the best chain), ``off``, ``note`` and what they realise.

        """
        return {
            "speculative_algorithm": self.algorithm,
            "speculative_num_steps": self.num_steps,
            "speculative_eagle_topk": self.eagle_topk,
            "speculative_num_draft_tokens": self.num_draft_tokens,
            "args": self.args,
            "topk1_args": self.topk1_args,
            "off": self.target.off,
            "note": self.note,
            "realises": self.target.to_dict(),
            "topk1_realises": self.chain.to_dict() if self.chain is not None else None,
        }


@dataclass(frozen=True)
class LlamaCppSettings:
    """llama-server's speculative flags: the best chain (llama.cpp drafts chains only).

    Attributes
    ----------
    spec_type : str
        ``--spec-type``.
    n_max : int
        The chain's length K.
    target : Target
        The chain.

    """

    spec_type: str
    n_max: int
    target: Target

    @property
    def args(self) -> list[str]:
        """The flags: K with ``--spec-draft-p-min 0`` (every draft K long), or the n-gram's draft length."""
        if self.spec_type.startswith("ngram"):
            return ["--spec-type", self.spec_type, "--spec-ngram-simple-size-m", str(self.n_max)]
        return ["--spec-type", self.spec_type, "--spec-draft-n-max", str(self.n_max), "--spec-draft-p-min", "0"]

    @property
    def line(self) -> str:
        """The one line of text: the flags, or that speculation is best left off."""
        if self.target.off:
            return _off_line("llama.cpp", self.target, "chain")
        return f"llama.cpp (chain{_speed(self.target)}): {' '.join(self.args)}"

    def to_dict(self) -> dict[str, Any]:
        """Return the settings for ``--json``.

        Returns
        -------
        dict
            ``spec_type``, ``n_max``, ``args``, ``off`` and the chain it realises.

        """
        d = {"spec_type": self.spec_type, "n_max": self.n_max, "args": self.args, "off": self.target.off}
        return {**d, "realises": self.target.to_dict()}


@dataclass(frozen=True)
class TensorRTSettings:
    """TensorRT-LLM's ``speculative_config``: a static EAGLE-3 tree, a dynamic one, or a chain.

    Attributes
    ----------
    config : dict
        The ``speculative_config`` fields (``decoding_type``, ``max_draft_len``, and ``eagle_choices`` or the
        dynamic tree's fields); add ``speculative_model``, your draft's path.
    target : Target
        What it realises.
    note : str
        What is left open, if anything.

    """

    config: dict[str, Any]
    target: Target
    note: str = ""

    @property
    def line(self) -> str:
        """The one line of text: the config as JSON (a long ``eagle_choices`` named, not spelled out)."""
        shape = "chain" if self.target.chain else "tree"
        if self.target.off:
            return _off_line("TensorRT-LLM", self.target, shape)
        text = json.dumps(self.config)
        choices = self.config.get("eagle_choices")
        if choices is not None and len(choices) > _INLINE_PATHS:
            text = text.replace(json.dumps(choices), f"<the {len(choices)} rank paths listed below>")
        note = f"; {self.note}" if self.note else ""
        return f"TensorRT-LLM ({shape}{_speed(self.target)}): speculative_config {text}{note}"

    def to_dict(self) -> dict[str, Any]:
        """Return the settings for ``--json``.

        Returns
        -------
        dict
            ``speculative_config``, ``off``, ``note`` and what it realises.

        """
        t = self.target
        return {"speculative_config": self.config, "off": t.off, "note": self.note, "realises": t.to_dict()}


@dataclass(frozen=True)
class EngineSettings:
    """The settings of all four engines for one recommendation.

    Attributes
    ----------
    vllm, llamacpp : VllmSettings or LlamaCppSettings or None
        The chain-only engines (None without a chain).
    sglang, tensorrt : SglangSettings or TensorRTSettings
        The tree engines (TensorRT-LLM's n-gram and draft-target methods are linear: they run the chain).
    notes : list of str
        What the settings assume.

    """

    vllm: VllmSettings | None
    sglang: SglangSettings
    llamacpp: LlamaCppSettings | None
    tensorrt: TensorRTSettings
    notes: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        """One line per engine: vLLM, SGLang, llama.cpp, TensorRT-LLM."""
        named = (
            ("vLLM", self.vllm),
            ("SGLang", self.sglang),
            ("llama.cpp", self.llamacpp),
            ("TensorRT-LLM", self.tensorrt),
        )
        return [s.line if s is not None else f"{name}: no chain was computed" for name, s in named]

    def to_dict(self) -> dict[str, Any]:
        """Return every engine's settings for ``--json``.

        Returns
        -------
        dict
            ``vllm``, ``sglang``, ``llama.cpp``, ``tensorrt_llm`` (None where no chain was computed) and ``notes``.

        """
        return {
            "vllm": self.vllm.to_dict() if self.vllm else None,
            "sglang": self.sglang.to_dict(),
            "llama.cpp": self.llamacpp.to_dict() if self.llamacpp else None,
            "tensorrt_llm": self.tensorrt.to_dict(),
            "notes": self.notes,
        }


def _sglang(tree: Target, chain: Target | None) -> SglangSettings:
    algo = FAMILIES[tree.family]["sglang"]
    ndt = tree.P + 1
    if chain is not None and FAMILIES[chain.family]["sglang"] == "NGRAM":
        chain = None  # NGRAM takes no topk: no topk-1 chain to give
    if algo == "NGRAM":  # the n-gram trie's BFS shapes the tree; SGLang sets topk from its breadth flag
        return SglangSettings(algo, None, None, ndt, tree, None, "NGRAM shapes its own tree from the n-gram trie")
    if tree.paths is not None:
        steps, topk = _sglang_shape(tree.paths)
    elif tree.depth is not None:
        steps, topk = tree.depth, _sglang_topk_for(tree.P, tree.depth)
    else:
        note = "steps and topk need the tree's depth, left open here (see the notes)"
        return SglangSettings(algo, None, None, ndt, tree, chain, note)
    return SglangSettings(algo, steps, topk, ndt, tree, chain)


def _tensorrt(tree: Target, chain: Target | None) -> TensorRTSettings:
    kind = FAMILIES[tree.family]["tensorrt_llm"]
    if kind not in _TRT_TREES or tree.chain:  # a linear method, or a chain: the chain's own method and length
        t = tree if tree.chain or chain is None else chain
        return TensorRTSettings({"decoding_type": FAMILIES[t.family]["tensorrt_llm"], "max_draft_len": t.P}, t)
    if tree.paths is not None:
        return TensorRTSettings(
            {"decoding_type": kind, "max_draft_len": tree.depth, "eagle_choices": _eagle_choices(tree.paths)}, tree
        )
    if tree.depth is None:
        note = "max_draft_len needs the tree's depth, left open here (see the notes)"
        return TensorRTSettings({"decoding_type": kind, "max_total_draft_tokens": tree.P}, tree, note)
    k = math.ceil(tree.P / tree.depth)
    cfg = {
        "decoding_type": kind,
        "max_draft_len": tree.depth,
        "use_dynamic_tree": True,
        "dynamic_tree_max_topK": k,
        "max_total_draft_tokens": tree.P,
    }
    return TensorRTSettings(cfg, tree)


def engine_settings(tree: Target, chain: Target | None) -> EngineSettings:
    """Return the four engines' settings: tree engines realise ``tree``, chain-only engines run ``chain``.

    Parameters
    ----------
    tree
        The recommended tree (or chain).
    chain
        The best chain under the same model and timing, computed by the caller (never a truncated tree); None
        where none was computed. Its family names the chain engines' method.

    Returns
    -------
    EngineSettings
        vLLM and llama.cpp run ``chain``; SGLang and TensorRT-LLM ``tree`` (TensorRT-LLM's n-gram and
        draft-target methods are linear: they run ``chain``), with SGLang's topk-1 chain beside.

    """
    if tree.chain and chain is None:
        chain = tree
    notes = []
    if tree.paths is None and tree.depth is not None and not tree.chain and FAMILIES[tree.family]["sglang"] != "NGRAM":
        notes.append(
            "no static tree is known (the recommendation is a size and a depth; the ceiling adapts its tree to every "
            "position): SGLang and TensorRT-LLM get budgets for their own dynamic (EAGLE-2) trees of that size and depth"
        )
    vllm = llama = None
    if chain is not None:
        fam = FAMILIES[chain.family]
        vllm = VllmSettings(fam["vllm"], chain.P, chain)
        llama = LlamaCppSettings(fam["llama.cpp"], chain.P, chain)
    return EngineSettings(vllm, _sglang(tree, chain), llama, _tensorrt(tree, chain), notes)
