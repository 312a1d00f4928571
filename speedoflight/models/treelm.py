"""Forward passes over token trees hanging below prefixes (the ``[model]`` extra).

A :class:`TreeBatch` runs a batch of prefixes once (left-padded) and keeps their
KV cache. Tree nodes are then appended to that cache, each node attending to
its own prefix and its own ancestors only (a 4-D boolean attention mask;
position = prefix length + depth - 1), the way tree verification in EAGLE,
Medusa or SpecInfer works. A node's keys and values depend only on its path,
so each node is computed once, in whatever order nodes are added, and its
output is the model's next-token distribution after prefix + path.

All prefixes of a batch take one forward pass per step (on a CPU a pass costs
about the same for one sequence or sixteen: it is bound by reading the
weights). Prefixes that ask for fewer nodes in a step are padded with dummy
nodes that attend only to themselves and are never anybody's ancestor.

Works with any transformers causal LM that accepts a 4-D attention mask with a
cache (Llama, Gemma 3 and most decoder-only models). Contexts should stay
within a sliding-window model's window (512 tokens for Gemma 3).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ._hf import cache_kwargs, logits_to_keep_kwargs

__all__ = ["TreeBatch"]


class TreeBatch:
    """A batch of prefixes with their KV cache, plus per-prefix trees of appended nodes.

    Parameters
    ----------
    model
        A transformers causal LM (``eval()`` mode).
    prefixes
        Token ids per prefix (each at least one).
    temperature
        Softmax temperature (> 0) of the returned log-probabilities.

    Attributes
    ----------
    parent, token, depth : list of list of int
        Per prefix, per appended node (local ids 0, 1, ...): parent node
        (-1 for a child of the prefix), token id, depth (1 under the prefix).
    forwards, tokens_forwarded : int
        Forward passes run and real tokens they processed (prefixes included).

    """

    def __init__(self, model: Any, prefixes: list[list[int]], temperature: float) -> None:
        import torch
        from transformers import DynamicCache

        if not prefixes:
            raise InputError("no prefixes")
        if any(len(p) == 0 for p in prefixes):
            raise InputError("a prefix tokenises to no tokens")
        if not temperature > 0:
            raise InputError(f"the temperature must be > 0 here, got {temperature}")
        self._torch = torch
        self.model = model
        self.temperature = float(temperature)
        b = len(prefixes)
        self.lengths = [len(p) for p in prefixes]
        self.width = max(self.lengths)
        pad = 0
        ids = torch.full((b, self.width), pad, dtype=torch.long)
        mask = torch.zeros((b, self.width), dtype=torch.long)
        for i, p in enumerate(prefixes):
            ids[i, self.width - len(p) :] = torch.tensor(p)
            mask[i, self.width - len(p) :] = 1
        self._prefix_mask = mask.bool()
        pos = (mask.cumsum(dim=1) - 1).clamp(min=0)
        self.parent: list[list[int]] = [[] for _ in range(b)]
        self.token: list[list[int]] = [[] for _ in range(b)]
        self.depth: list[list[int]] = [[] for _ in range(b)]
        self._slot: list[list[int]] = [[] for _ in range(b)]  # local node -> cache slot
        self._anc = torch.zeros((b, 0, 0), dtype=torch.bool)  # over slots
        self._cache = DynamicCache()  # full layers: the 4-D mask says who attends to what
        with torch.inference_mode():
            out = model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=pos,
                **cache_kwargs(model, self._cache),
                **logits_to_keep_kwargs(model, 1),
            )
        self._root = out.logits[:, -1]
        self.forwards = 1
        self.tokens_forwarded = sum(self.lengths)

    @property
    def batch_size(self) -> int:
        """Number of prefixes."""
        return len(self.lengths)

    def size(self, b: int) -> int:
        """Return the number of nodes appended under prefix ``b``.

        Parameters
        ----------
        b
            Index of the prefix.

        Returns
        -------
        int
            Nodes appended under it so far.

        """
        return len(self.token[b])

    def path(self, b: int, node: int) -> list[int]:
        """Token ids from prefix ``b`` down to ``node`` (inclusive).

        Parameters
        ----------
        b
            Index of the prefix.
        node
            Local id of a node appended under it.

        Returns
        -------
        list of int
            The tokens of the path, from the prefix's child down to ``node``.

        """
        out = []
        while node >= 0:
            out.append(self.token[b][node])
            node = self.parent[b][node]
        return out[::-1]

    @property
    def root_logits(self) -> Any:
        """``[batch, vocab]`` logits tensor of the next token after each prefix (before the temperature)."""
        return self._root

    def root_logprobs(self) -> np.ndarray:
        """``[batch, vocab]`` float64 next-token log-probabilities after each prefix.

        Returns
        -------
        np.ndarray
            Log-softmax of the root logits divided by the temperature.

        """
        return self._log_softmax(self._root)

    def root_top(self, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per prefix, the k most likely next tokens: (surprisals increasing, token ids).

        Parameters
        ----------
        k
            Tokens kept (at most the vocabulary size).

        Returns
        -------
        list of tuple of (np.ndarray, np.ndarray)
            Per prefix, ``-log p`` at the temperature, increasing, and the matching token ids.

        """
        return self._top(self._root, k)

    def _log_softmax(self, logits: Any) -> np.ndarray:
        torch = self._torch
        return torch.log_softmax(logits.to(torch.float64) / self.temperature, dim=-1).numpy()

    def _top(self, logits: Any, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        torch = self._torch
        z = logits.to(torch.float64) / self.temperature
        log_z = torch.logsumexp(z, dim=-1, keepdim=True)
        k = min(k, z.shape[-1])
        top = torch.topk(z, k, dim=-1)  # sorted by decreasing value
        s = (log_z - top.values).numpy()
        ids = top.indices.numpy()
        return [(s[i], ids[i]) for i in range(z.shape[0])]

    def extend(self, requests: list[list[tuple[int, int]]]) -> Any:
        """Append nodes ``(parent, token)`` under each prefix; one forward pass for all.

        ``requests[b]`` lists prefix b's new nodes (a parent is an existing
        node, -1 for the prefix, or an earlier node of the same request).
        Returns the logits tensor ``[batch, M, vocab]``; row ``[b, i]`` is
        the i-th requested node of prefix b (rows past a prefix's request
        are padding). Use :meth:`extend_logprobs` or :meth:`extend_top`.

        Parameters
        ----------
        requests
            One list of ``(parent, token)`` per prefix.

        Returns
        -------
        Any
            The logits tensor ``[batch, M, vocab]``, M the longest request (before the temperature).

        """
        torch = self._torch
        b_n = self.batch_size
        if len(requests) != b_n:
            raise ValueError("one request list per prefix")
        m = max(len(r) for r in requests)
        if m == 0:
            raise ValueError("nothing to extend")
        s0 = self._anc.shape[1]
        s1 = s0 + m
        anc = torch.zeros((b_n, s1, s1), dtype=torch.bool)
        anc[:, :s0, :s0] = self._anc
        toks = torch.zeros((b_n, m), dtype=torch.long)
        pos = torch.zeros((b_n, m), dtype=torch.long)
        for b, req in enumerate(requests):
            for i in range(m):
                slot = s0 + i
                anc[b, slot, slot] = True
                if i >= len(req):
                    pos[b, i] = self.lengths[b] - 1
                    continue  # a dummy: attends only to itself
                par, tok = req[i]
                n_local = len(self.token[b])
                if not -1 <= par < n_local:
                    raise ValueError(f"parent {par} of a new node does not exist yet")
                if par >= 0:
                    ps = self._slot[b][par]
                    anc[b, slot, :slot] = anc[b, ps, :slot]
                self.parent[b].append(par)
                self.token[b].append(int(tok))
                d = 1 if par < 0 else self.depth[b][par] + 1
                self.depth[b].append(d)
                self._slot[b].append(slot)
                toks[b, i] = int(tok)
                pos[b, i] = self.lengths[b] - 1 + d
        self._anc = anc
        prefix_part = self._prefix_mask[:, None, :].expand(b_n, m, self.width)
        mask = torch.cat([prefix_part, anc[:, s0:s1]], dim=2)[:, None]
        with torch.inference_mode():
            out = self.model(
                input_ids=toks, attention_mask=mask, position_ids=pos, **cache_kwargs(self.model, self._cache)
            )
        self.forwards += 1
        self.tokens_forwarded += sum(len(r) for r in requests)
        return out.logits

    def extend_logprobs(self, requests: list[list[tuple[int, int]]]) -> list[np.ndarray]:
        """:meth:`extend`, returning per prefix ``[len(request), vocab]`` float64 log-probabilities.

        Parameters
        ----------
        requests
            As in :meth:`extend`.

        Returns
        -------
        list of np.ndarray
            Per prefix, the next-token log-probabilities at the temperature after each of its new nodes.

        """
        logits = self.extend(requests)
        return [self._log_softmax(logits[b, : len(r)]) for b, r in enumerate(requests)]

    def extend_top(self, requests: list[list[tuple[int, int]]], k: int) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        """:meth:`extend`, returning per prefix and node the k most likely tokens (surprisals, ids).

        Parameters
        ----------
        requests
            As in :meth:`extend`.
        k
            Tokens kept per node (at most the vocabulary size).

        Returns
        -------
        list of list of tuple of (np.ndarray, np.ndarray)
            Per prefix and new node, ``-log p`` at the temperature, increasing, and the matching token ids.

        """
        logits = self.extend(requests)
        return [self._top(logits[b, : len(r)], k) if r else [] for b, r in enumerate(requests)]
