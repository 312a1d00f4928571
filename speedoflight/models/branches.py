"""``dump --branch-at T --branches N``: more continuations from interior points of the sampled ones (issue 31).

Each sampled continuation is continued ``N`` more times from its first ``T`` tokens, to the same end; the rows are
stored beside the dump's as ``branch_*`` arrays (:data:`speedoflight.readers.contscan.BRANCH_ARRAYS`), read only by
the grafted tree (docs/theory.md section 8.6).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..errors import InputError
from ..readers.contscan import BRANCH_ARRAYS
from .loading import LoadedModel

__all__ = ["branch_meta", "check_branches", "sample_branches"]


def check_branches(
    branch_at: list[int] | None, branches: int, max_new_tokens: int, early_exit: list[int] | None
) -> list[int]:
    """Check ``--branch-at`` and ``--branches``; return the branch positions, sorted, without repeats.

    Parameters
    ----------
    branch_at, branches
        Positions to branch at (tokens into each continuation) and branches per position.
    max_new_tokens, early_exit
        The dump's other settings (a branch must leave a token to sample; views are not branched).

    Returns
    -------
    list of int
        The positions (empty without ``--branch-at``).

    """
    if not branch_at:
        if branches:
            raise InputError(
                "{branches} N goes with {branch_at} POSITIONS (where each continuation branches)",
                param=("branches", "branch_at"),
            )
        return []
    if branches < 1:
        raise InputError(
            "{branch_at} needs {branches} N >= 1 (continuations sampled at each branch point)",
            param=("branch_at", "branches"),
        )
    bad = [t for t in branch_at if not 1 <= t < max_new_tokens]
    if bad:
        raise InputError(
            f"{{branch_at}} {bad[0]}: branch points lie inside a continuation, 1..{max_new_tokens - 1} tokens in "
            "(more continuations from the prompt's end are {samples_per_prompt})",
            param=("branch_at", "samples_per_prompt"),
        )
    if early_exit:
        raise InputError(
            "{branch_at} and {early_exit} cannot be combined yet: the views are not branched; dump twice",
            param=("branch_at", "early_exit"),
        )
    return sorted(set(branch_at))


def sample_branches(
    lm: LoadedModel,
    done: dict[tuple[int, int], dict[str, Any]],
    jobs: list[tuple[int, int]],
    encoded: dict[int, list[int]],
    plan: tuple[list[int], int, int, int | None],
    size: int,
    sampling: tuple[int, float, int, int],
    progress: bool,
) -> dict[str, np.ndarray]:
    """Sample ``branches`` continuations from each sampled continuation's prefix at each branch point.

    A branch from continuation (i, j) at position t continues the prompt plus that continuation's first t
    tokens, with a generator of its own, to the same length (``max_new_tokens - t`` rows at positions t, ...);
    its rows are stored as ``branch_<name>`` (:data:`speedoflight.readers.contscan.BRANCH_ARRAYS`), its ``seq``
    numbered after every continuation's, its ``parent`` the ``seq`` it leaves.

    Parameters
    ----------
    lm, done, jobs, encoded
        The model, the sampled continuations by (prompt line, sample), the jobs in sequence order, the prompts'
        token ids by line.
    plan
        ``(branch_at, branches, samples_per_prompt, first)``: only the first ``first`` continuations of each prompt
        branch (None: all).
    size, sampling, progress
        Sequences per forward pass; ``(max_new_tokens, temperature, top_k, seed)``; a progress bar on stderr.

    Returns
    -------
    dict
        The branch arrays.

    """
    from tqdm import tqdm

    from .dump import sample_batch  # the dump's own sampler (dump imports this module)
    from .loading import _out_of_memory

    branch_at, branches, k, first = plan
    max_new_tokens, temperature, top_k, seed = sampling
    first_branch = (max(i for i, _ in jobs) + 1) * k
    todo = [(i, j, t, b) for i, j in jobs if first is None or j < first for t in branch_at for b in range(branches)]
    got: dict[tuple[int, int, int, int], dict[str, Any]] = {}
    bar = tqdm(total=len(todo), disable=not progress, file=sys.stderr, unit="branch")
    for t in branch_at:  # one length per batch
        mine = [job for job in todo if job[2] == t]
        for lo in range(0, len(mine), size):
            chunk = mine[lo : lo + size]
            prompts = [encoded[i] + done[i, j]["next_token"][:t].astype(int).tolist() for i, j, _, _ in chunk]
            seeds = [
                int(np.random.SeedSequence([seed, i, j, t, b, 0xB7A4C]).generate_state(1)[0]) for i, j, _, b in chunk
            ]
            try:
                rows = sample_batch(lm, prompts, max_new_tokens - t, temperature, top_k, seeds)
            except _out_of_memory() as exc:
                raise InputError(
                    f"out of {lm.device} memory with {{batch_size}} {size} ({str(exc).splitlines()[0][:120]}); "
                    "give a smaller {batch_size}",
                    param="batch_size",
                ) from None
            got.update(zip(chunk, rows, strict=True))
            bar.update(len(chunk))
    bar.close()
    out: dict[str, list[np.ndarray]] = {f"branch_{name}": [] for name in BRANCH_ARRAYS}
    for n, (i, j, t, b) in enumerate(todo):
        r = got[i, j, t, b]
        length = len(r["next_token"])
        for name in ("topk_ids", "topk_logprobs", "next_token", "next_surprisal"):
            out[f"branch_{name}"].append(r[name])
        out["branch_seq"].append(np.full(length, first_branch + n, dtype=np.int64))
        out["branch_pos"].append(np.arange(t, t + length, dtype=np.int32))
        out["branch_parent"].append(np.full(length, i * k + j, dtype=np.int64))
    return {name: np.concatenate(v) for name, v in out.items()}


def branch_meta(
    branch_at: list[int], branches: int, n_seq: int, max_new_tokens: int, arrays: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Return what the metadata says of the branches, with their cost in tokens sampled.

    Parameters
    ----------
    branch_at, branches
        The branch points and the continuations sampled at each.
    n_seq, max_new_tokens
        The sampled continuations and their length (the cost is said against their tokens).
    arrays
        The branch arrays (:func:`sample_branches`).

    Returns
    -------
    dict
        ``branch_at``, ``branches``, ``branch_rows`` and ``branch_cost`` (a sentence).

    """
    extra = len(arrays["branch_seq"])
    return {
        "branch_at": branch_at,
        "branches": branches,
        "branch_rows": extra,
        "branch_cost": (
            f"{extra} more tokens sampled ({extra / max(n_seq * max_new_tokens, 1):.2f}x the continuations' "
            f"{n_seq * max_new_tokens}), each branch one more prefill of its prompt and prefix"
        ),
    }
