"""The grafted tree: the real optimum predicted from logged continuations, against exact cases and a heapq twin."""

from __future__ import annotations

import json
import math
import zlib

import numpy as np
import pytest

from speedoflight.cli.app import main
from speedoflight.errors import InputError
from speedoflight.kernels.grafted import grafted_heap
from speedoflight.options import RunOptions
from speedoflight.readers.continuations import grafted_input
from speedoflight.readers.dumpfile import write_dump
from speedoflight.simulation.grafted import optimum

from .reference import _MASK, _mix64, grafted_reference

V = 12


def _row_of_context(ctx: tuple[int, ...], alpha: float) -> np.ndarray:
    """A toy model: the next-token distribution is a fixed function of the context."""
    rng = np.random.default_rng(zlib.crc32(repr(ctx).encode()))
    return rng.dirichlet(np.full(V, alpha))


def _dump(path, prompts=3, conts=3, length=6, k=4, alpha=0.3, seed=0, deterministic=False):
    """Continuations sampled from the toy model; rows are its top-k, exact for every shared context."""
    rng = np.random.default_rng(seed)
    cols = {n: [] for n in ("topk_ids", "topk_logprobs", "entropy", "m2", "seq", "pos", "next_token", "next_surprisal")}
    cols["prompt"] = []
    seqs = []
    s = 0
    for p in range(prompts):
        for _ in range(conts):
            ctx: tuple[int, ...] = (p,)
            toks = []
            for d in range(length):
                if deterministic:
                    probs = np.zeros(V)
                    probs[(p + d) % V] = 1.0
                else:
                    probs = _row_of_context(ctx, alpha)
                order = np.argsort(-probs, kind="stable")[:k]
                with np.errstate(divide="ignore"):
                    lp = np.log(probs)
                t = int(rng.choice(V, p=probs))
                cols["topk_ids"].append(order)
                cols["topk_logprobs"].append(lp[order])
                ent = -float(np.sum(probs[probs > 0] * lp[probs > 0]))
                cols["entropy"].append(ent)
                cols["m2"].append(float(np.sum(probs[probs > 0] * lp[probs > 0] ** 2)))
                cols["seq"].append(s)
                cols["pos"].append(d)
                cols["next_token"].append(t)
                cols["next_surprisal"].append(-float(lp[t]))
                cols["prompt"].append(p)
                toks.append(t)
                ctx = (*ctx, t)
            seqs.append((p, toks))
            s += 1
    arrays = {n: np.asarray(v) for n, v in cols.items()}
    arrays["topk_logprobs"] = arrays["topk_logprobs"].astype(np.float32)
    meta = {
        "model": {"name": "Toy"},
        "vocab_size": V,
        "temperature": 1.0,
        "seed": seed,
        "top_k": k,
        "prompt_source": {},
        "versions": {},
        "samples_per_prompt": conts,
    }
    write_dump(str(path), arrays, meta)
    return seqs


def _known_paths(dump, prompt):
    """The reference's view of a prompt's trie, from the dump's own arrays: context (token path) -> first row."""
    with np.load(dump) as z:
        seq, pos, nxt, pr = z["seq"], z["pos"], z["next_token"], z["prompt"]
    known: dict[tuple[int, ...], int] = {}
    for s in np.unique(seq[pr == prompt]):
        rows = np.flatnonzero(seq == s)
        rows = rows[np.argsort(pos[rows])]
        toks = [int(t) for t in nxt[rows]]
        for d, r in enumerate(rows.tolist()):
            known.setdefault(tuple(toks[:d]), r)
    return known


def _kernel_curve(
    g, prompt: int, node: int, depth: int, rid: int, pmax: int, max_depth=None, max_width=None, profile_p=0, mass=None
) -> np.ndarray:
    """One replicate of the numba kernel below trie node ``node`` (at ``depth``) with the prompt's pools."""
    curve = np.zeros(pmax)
    grafted_heap(
        g.neglogp,
        g.ids,
        g.node_row,
        g.child_ptr,
        g.child_tok,
        g.child_node,
        g.pool_rows,
        g.row_bin,
        g.depth_bin,
        g.prompt_pool_lo[prompt],
        g.prompt_pool_n[prompt],
        node,
        g.node_row[node],
        depth,
        np.uint64(rid),
        pmax if max_depth is None else max_depth,
        g.neglogp.shape[1] if max_width is None else max_width,
        profile_p,
        mass if mass is not None else np.zeros(0),
        curve,
    )
    return curve


@pytest.fixture
def toy(tmp_path):
    path = tmp_path / "toy.npz"
    _dump(path)
    return path


@pytest.mark.parametrize("tail", ["drop", "lump"])
def test_kernel_pops_what_the_heapq_twin_pops(toy, tail):
    g = grafted_input(str(toy), tail=tail)
    for prompt in range(3):
        known = _known_paths(toy, prompt)
        lo, n = int(g.prompt_pool_lo[prompt, 0]), int(g.prompt_pool_n[prompt, 0])
        pool = g.pool_rows[lo : lo + n].tolist()
        for rid in (1, 0xDEADBEEF, (1 << 63) + 12345):
            for pmax in (1, 7, 60):
                curve = _kernel_curve(g, prompt, g.prompt_root[prompt], 0, rid, pmax)
                ref = grafted_reference(g.neglogp, g.ids, known, pool, (), rid & _MASK, pmax)
                np.testing.assert_allclose(curve, ref, rtol=1e-13, atol=0)


def _entropy_pools(dump, prompt, bins=4):
    """The pools of ``draw="entropy"`` from their definition, with plain loops over the dump's own arrays.

    A row's listed entropy is sum p (-log p) over its listed tokens (the top k, and the sampled token where the top
    k lacks it). Bin edges are the dump's quartiles of it. Row r of the prompt belongs to bin b when the row
    before it in its continuation has entropy bin b; a bin with no row is the prompt's whole pool.
    """
    with np.load(dump) as z:
        ids, lp, seq, pos = z["topk_ids"], z["topk_logprobs"].astype(np.float64), z["seq"], z["pos"]
        nxt, nxs, pr = z["next_token"], z["next_surprisal"], z["prompt"]
    ent = []
    for r in range(len(seq)):
        terms = [math.exp(v) * -v for v in lp[r].tolist() if math.isfinite(v)]
        if int(nxt[r]) not in ids[r].tolist():
            terms.append(math.exp(-float(nxs[r])) * float(nxs[r]))
        ent.append(math.fsum(sorted(terms)))
    edges = np.quantile(np.array(ent), [b / bins for b in range(1, bins)])
    row_bin = [sum(e >= x for x in edges) for e in ent]
    where = {(int(seq[r]), int(pos[r])): r for r in range(len(seq))}
    mine = [r for r in range(len(seq)) if pr[r] == prompt]
    pools = {}
    for b in range(bins):
        rows = [
            r
            for r in mine
            if (int(seq[r]), int(pos[r]) - 1) in where and row_bin[where[(int(seq[r]), int(pos[r]) - 1)]] == b
        ]
        pools[b] = rows or mine
    return pools, row_bin


@pytest.mark.parametrize("tail", ["drop", "lump"])
def test_entropy_draw_pops_what_the_heapq_twin_pops(tmp_path, tail):
    """Pool rows drawn by the parent's entropy quartile: the kernel and the twin, with pools built independently."""
    path = tmp_path / "toy.npz"
    _dump(path, prompts=3, conts=4, length=8, k=3, alpha=0.5, seed=3)
    g = grafted_input(str(path), tail=tail, draw="entropy")
    for prompt in range(3):
        known = _known_paths(path, prompt)
        pools, row_bin = _entropy_pools(path, prompt)
        assert g.row_bin.tolist() == row_bin
        for rid in (7, 0xFEEDFACE):
            for pmax in (5, 80):
                curve = _kernel_curve(g, prompt, g.prompt_root[prompt], 0, rid, pmax)
                ref = grafted_reference(g.neglogp, g.ids, known, pools, (), rid, pmax, row_bin=row_bin)
                np.testing.assert_allclose(curve, ref, rtol=1e-13, atol=0)


def _depth_pools(dump, prompt, block=8):
    """The pools of ``draw="depth"`` from their definition: the prompt's rows at positions of each block of 8."""
    with np.load(dump) as z:
        pos, pr = z["pos"], z["prompt"]
    depth_bin = [d // block for d in range(int(pos.max()) + 1)]
    pools = {}
    for b in sorted(set(depth_bin)):
        pools[b] = [r for r in range(len(pos)) if pr[r] == prompt and depth_bin[int(pos[r])] == b]
    return pools, depth_bin


@pytest.mark.parametrize("root_pos", [0, 3, 9])
def test_depth_draw_pops_what_the_heapq_twin_pops(tmp_path, root_pos):
    """Pool rows drawn by depth (blocks of 8 positions), at the prompt's end and at interior roots."""
    path = tmp_path / "toy.npz"
    _dump(path, prompts=2, conts=3, length=20, k=3, alpha=0.4, seed=4)
    g = grafted_input(str(path), draw="depth")
    with np.load(path) as z:
        seq, pos, nxt = z["seq"], z["pos"], z["next_token"]
    for prompt in range(2):
        known = _known_paths(path, prompt)
        pools, depth_bin = _depth_pools(path, prompt)
        assert g.depth_bin.tolist() == depth_bin
        s0 = 3 * prompt  # the prompt's first continuation
        toks = [int(t) for t in nxt[seq == s0][np.argsort(pos[seq == s0])]]
        root_path = tuple(toks[:root_pos])
        node = int(g.seq_nodes[s0][root_pos])
        assert int(g.node_depth[node]) == root_pos
        for rid in (11, 0xABCDEF12345):
            for pmax in (6, 90):
                curve = _kernel_curve(g, prompt, node, root_pos, rid, pmax)
                ref = grafted_reference(
                    g.neglogp, g.ids, known, pools, root_path, rid, pmax, depth_bin=depth_bin, root_depth=root_pos
                )
                np.testing.assert_allclose(curve, ref, rtol=1e-13, atol=0)


def test_uniform_draw_is_one_bin(toy):
    """``draw="uniform"`` is one pool per prompt: every row's bin is 0 and the prompt's rows in file order."""
    g = grafted_input(str(toy))
    assert g.prompt_pool_lo.shape == (3, 1)
    assert not g.row_bin.any()
    with np.load(toy) as z:
        pr = z["prompt"]
    for p in range(3):
        lo, n = int(g.prompt_pool_lo[p, 0]), int(g.prompt_pool_n[p, 0])
        assert g.pool_rows[lo : lo + n].tolist() == np.flatnonzero(pr == p).tolist()


def test_the_driver_averages_the_same_trees(toy):
    """optimum() runs root node u, replicate r on the tree of id child_id(seed id r, u): the heapq twin agrees."""
    from speedoflight.simulation.grafted import _seed_ids

    res = optimum(str(toy), pmax=20, replicates=3, run=RunOptions(seed=5))
    g = grafted_input(str(toy))
    gamma = 0x9E3779B97F4A7C15
    for j, prompt in enumerate(range(3)):
        known = _known_paths(toy, prompt)
        lo, n = int(g.prompt_pool_lo[prompt, 0]), int(g.prompt_pool_n[prompt, 0])
        pool = g.pool_rows[lo : lo + n].tolist()
        runs = [
            grafted_reference(
                g.neglogp,
                g.ids,
                known,
                pool,
                (),
                _mix64((int(s) + (int(g.prompt_root[prompt]) + 1) * gamma) & _MASK),
                20,
            )
            for s in _seed_ids(5, 3)
        ]
        np.testing.assert_allclose(res.main.curves[j], np.mean(runs, axis=0), rtol=1e-12)


def test_a_deterministic_verifier_gives_p(tmp_path):
    path = tmp_path / "det.npz"
    _dump(path, prompts=2, conts=1, length=3, deterministic=True)
    res = optimum(str(path), pmax=10, replicates=2, tail="both")
    np.testing.assert_allclose(res.lower.mean, np.arange(1, 11))
    np.testing.assert_allclose(res.upper.mean, np.arange(1, 11))


def _enumerate_known(g, dump, prompt):
    """Every child of a known node with its probability; and the largest probability of a node not below one."""
    known = _known_paths(dump, prompt)
    cands = []
    for path, row in known.items():
        prob = 1.0
        # the path's probability: product over its ancestors' rows
        for d in range(len(path)):
            r = known[path[:d]]
            rank = int(np.flatnonzero(g.ids[r] == path[d])[0])
            prob *= math.exp(-g.neglogp[r, rank])
        for rank in range(g.neglogp.shape[1]):
            if np.isfinite(g.neglogp[row, rank]):
                tok = int(g.ids[row, rank])
                cands.append((prob * math.exp(-g.neglogp[row, rank]), (*path, tok) in known))
    cands.sort(reverse=True)
    unknown_top = max((p for p, k in cands if not k), default=0.0)
    return [p for p, _ in cands], unknown_top


def test_continuations_that_cover_the_top_p_set_give_the_exact_sum(tmp_path):
    """When every node of the top-P set hangs below a logged row, no pool row matters: the exact top-P sum."""
    path = tmp_path / "cover.npz"
    _dump(path, prompts=1, conts=40, length=8, k=12, alpha=0.05, seed=3)  # peaked rows, many continuations
    g = grafted_input(str(path))
    probs, unknown_top = _enumerate_known(g, path, 0)
    pmax = max(p for p in range(1, 64) if probs[p - 1] > unknown_top)  # every rank up to pmax beats any pool subtree
    assert pmax >= 8
    want = np.cumsum(probs[:pmax])
    for seed in (0, 1, 2):
        res = optimum(str(path), pmax=pmax, replicates=4, run=RunOptions(seed=seed))
        np.testing.assert_allclose(res.main.curves[0], want, rtol=1e-12)


def test_with_only_the_root_known_it_is_the_iid_simulation_with_that_root(tmp_path):
    """P = 2 has a closed form: p1 + E_q[max(p2, p1 q1)] over the pool rows q."""
    path = tmp_path / "root.npz"
    _dump(path, prompts=30, conts=1, length=1, k=4, alpha=0.5, seed=1)  # 30 different rows, one per prompt
    g = grafted_input(str(path), pool="all")
    root_row = g.node_row[g.prompt_root[0]]
    p1, p2 = np.exp(-g.neglogp[root_row, :2])
    # the root's sampled child is in the trie but has no logged row (length 1): every child draws from the pool
    q1 = np.exp(-g.neglogp[g.pool_rows, 0])
    want = p1 + np.mean(np.maximum(p2, p1 * q1))
    res = optimum(str(path), pmax=2, replicates=20000, pool="all", run=RunOptions(seed=0))
    reps = res.main.curves[0, 1]
    assert abs(reps - want) < 4 * np.std(np.maximum(p2, p1 * q1)) / math.sqrt(20000) + 1e-12


def test_rows_gain_the_sampled_token_and_lump_the_rest(tmp_path):
    path = tmp_path / "rows.npz"
    _dump(path, prompts=2, conts=2, length=5, k=2, alpha=0.8, seed=4)
    with np.load(path) as z:
        ids, nxt, nxs = z["topk_ids"], z["next_token"], z["next_surprisal"]
    drop = grafted_input(str(path), tail="drop")
    lump = grafted_input(str(path), tail="lump")
    outside = ~(ids == nxt[:, None]).any(axis=1)
    assert outside.any()
    assert drop.added_sampled == int(outside.sum())
    for i in np.flatnonzero(outside):
        j = int(np.flatnonzero(drop.ids[i] == nxt[i])[0])
        assert drop.neglogp[i, j] == pytest.approx(nxs[i])
    listed = np.exp(-drop.neglogp).sum(axis=1)
    np.testing.assert_allclose(np.exp(-lump.neglogp).sum(axis=1), 1.0, atol=1e-6)  # the rest lumped
    assert (lump.ids == -1).sum(axis=1).min() >= 1  # the lumped token is never in the trie
    assert np.all(listed <= 1 + 1e-6)
    assert np.all(np.diff(drop.neglogp, axis=1)[np.isfinite(drop.neglogp[:, 1:])] >= 0)


def test_positions_all_and_list(toy):
    res = optimum(str(toy), pmax=8, replicates=2, positions="all")
    assert len(res.root_seq) == 9 * 6  # every position of every continuation
    assert res.positions == "all"
    assert np.all(res.root_continuations >= 1)
    some = optimum(str(toy), pmax=8, replicates=2, positions=[0, 3])
    assert sorted(set(some.root_pos.tolist())) == [0, 3]
    # a root at position 0 is the prompt's end: the same tree as --positions start
    start = optimum(str(toy), pmax=8, replicates=2)
    at0 = some.main.curves[some.root_pos == 0]
    assert np.allclose(at0[::3], start.main.curves)  # three continuations per prompt share that root
    with pytest.raises(InputError, match="beyond"):
        optimum(str(toy), pmax=8, positions=[6])


def test_intervals_and_determinism(toy):
    a = optimum(str(toy), pmax=16, replicates=4, tail="both", run=RunOptions(seed=9))
    b = optimum(str(toy), pmax=16, replicates=4, tail="both", run=RunOptions(seed=9))
    np.testing.assert_array_equal(a.lower.curves, b.lower.curves)
    assert np.all(a.lower.mean <= a.upper.mean + 1e-12)
    assert np.all(a.lower.ci_low <= a.lower.mean)
    assert np.all(a.lower.mean <= a.lower.ci_high)
    d = a.to_dict()
    for key in ("P", "mean", "ci_low", "ci_high", "lower", "upper", "prompts", "curves", "positions"):
        assert key in d
    assert d["continuations_per_prompt"] == 3
    assert d["replicates"] == 4
    assert d["prompts"] == [0, 1, 2]


def test_cli_optimum_json_and_out(toy, tmp_path, capsys):
    out = tmp_path / "curves.npz"
    code = main(["optimum", "--dump", str(toy), "--pmax", "16", "--replicates", "4", "--json", "--out", str(out)])
    assert code == 0
    d = json.loads(capsys.readouterr().out)
    assert len(d["curves"]) == 3
    with np.load(out) as z:
        assert z["curves"].shape == (3, 16)
        np.testing.assert_allclose(z["mean"], d["mean"])
    code = main(["optimum", "--dump", str(toy), "--pmax", "16", "--replicates", "4"])
    text = capsys.readouterr().out
    assert code == 0
    assert text.startswith("speedoflight optimum: the ceiling")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--positions", "99"], "beyond the continuations"),
        (["--positions", "x,1"], "--positions"),
        (["--pmax", "0"], "positive integer"),
        (["--pmax", "100000000", "--positions", "all"], "GiB"),
        (["--tail", "sideways"], "invalid choice"),
    ],
)
def test_cli_optimum_user_errors(toy, tmp_path, capsys, argv, message):
    out = tmp_path / "never.npz"
    code = main(["optimum", "--dump", str(toy), "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_a_dump_without_token_ids_or_with_duplicate_ids_is_refused(tmp_path, capsys):
    rows = np.log(np.full((4, 3), 1 / 3))
    np.save(tmp_path / "plain.npy", rows)
    assert main(["optimum", "--dump", str(tmp_path / "plain.npy")]) == 2
    assert "speedoflight dump" in capsys.readouterr().err
    path = tmp_path / "dup.npz"
    _dump(path, prompts=1, conts=1, length=2, k=3)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "metadata"}
        meta = json.loads(str(z["metadata"]))
    arrays["topk_ids"][1, 2] = arrays["topk_ids"][1, 0]
    meta.pop("format")
    meta.pop("version")
    write_dump(str(path), arrays, meta)
    assert main(["optimum", "--dump", str(path)]) == 2
    assert "twice" in capsys.readouterr().err


def _as_api_log(dump, path, layout):
    """Write the dump's continuations as an API log: one line per prompt, its continuations as the n choices."""
    with np.load(dump) as z:
        ids, lp, nxt, nxs = z["topk_ids"], z["topk_logprobs"], z["next_token"], z["next_surprisal"]
        seq, pos, pr = z["seq"], z["pos"], z["prompt"]
    lines = []
    for p in np.unique(pr):
        choices = []
        for s in np.unique(seq[pr == p]):
            rows = np.flatnonzero(seq == s)
            rows = rows[np.argsort(pos[rows])]
            if layout == "vllm":
                positions = []
                for r in rows:
                    d = {
                        str(int(t)): {"logprob": float(v), "rank": k + 1}
                        for k, (t, v) in enumerate(zip(ids[r], lp[r], strict=True))
                    }
                    if str(int(nxt[r])) not in d:  # vLLM lists the sampled token beside the top k
                        d[str(int(nxt[r]))] = {"logprob": -float(nxs[r]), "rank": len(d) + 1}
                    positions.append(d)
                choices.append({"token_ids": [int(nxt[r]) for r in rows], "logprobs": positions})
            else:
                content = []
                for r in rows:
                    top = [{"token": f"t{int(t)}", "logprob": float(v)} for t, v in zip(ids[r], lp[r], strict=True)]
                    content.append({"token": f"t{int(nxt[r])}", "logprob": -float(nxs[r]), "top_logprobs": top})
                choices.append({"index": len(choices), "logprobs": {"content": content}})
        line = {"prompt": f"prompt {int(p)}"}
        line.update({"outputs": choices} if layout == "vllm" else {"choices": choices})
        lines.append(json.dumps(line))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("layout", ["vllm", "openai-chat"])
def test_an_api_log_of_the_same_continuations_gives_the_same_curves(toy, tmp_path, layout):
    log = _as_api_log(toy, tmp_path / "log.jsonl", layout)
    a = optimum(str(toy), pmax=24, replicates=3, tail="both", positions="all")
    b = optimum(str(log), pmax=24, replicates=3, tail="both", positions="all")
    np.testing.assert_allclose(b.lower.curves, a.lower.curves, rtol=1e-12)
    np.testing.assert_allclose(b.upper.curves, a.upper.curves, rtol=1e-12)
    assert b.continuations_per_prompt == 3  # a response's n choices are one prompt's continuations


def test_api_log_lines_with_one_prompt_are_grouped(toy, tmp_path, capsys):
    log = _as_api_log(toy, tmp_path / "log.jsonl", "vllm")
    # split every line's choices over three lines of the same prompt: the same grouping, the same result
    out = []
    for line in log.read_text().splitlines():
        obj = json.loads(line)
        for ch in obj["outputs"]:
            out.append(json.dumps({"prompt": obj["prompt"], "outputs": [ch]}))
    split = tmp_path / "split.jsonl"
    split.write_text("\n".join(out) + "\n")
    a = optimum(str(log), pmax=12, replicates=2)
    b = optimum(str(split), pmax=12, replicates=2)
    np.testing.assert_allclose(b.main.curves, a.main.curves, rtol=1e-12)
    assert main(["optimum", "--dump", str(split), "--pmax", "12", "--replicates", "2", "--tail", "both"]) == 0
    assert "the ceiling of the verifier" in capsys.readouterr().out


def test_roots_name_the_dumps_own_sequences(tmp_path):
    """Sequence ids with gaps (dumps made with --per-kind): each interior root names its continuation's own seq."""
    path = tmp_path / "toy.npz"
    _dump(path, prompts=2, conts=2, length=5)
    with np.load(path) as z:
        arrays = {k: np.asarray(z[k]) for k in z.files if k != "metadata"}
        meta = json.loads(str(z["metadata"]))
    arrays["seq"] = arrays["seq"] * 7 + 3  # 3, 10, 17, 24
    gappy = tmp_path / "gappy.npz"
    write_dump(str(gappy), arrays, {k: v for k, v in meta.items() if k not in ("format", "version")})
    res = optimum(str(gappy), pmax=4, replicates=2, positions=[1, 3])
    assert sorted(set(res.root_seq.tolist())) == [3, 10, 17, 24]
    assert res.root_pos.tolist() == [1, 3] * 4
    plain = optimum(str(path), pmax=4, replicates=2, positions=[1, 3])
    np.testing.assert_array_equal(res.main.curves, plain.main.curves)


@pytest.mark.parametrize("root_pos", [0, 5])
@pytest.mark.parametrize("max_depth", [1, 2, 4])
def test_depth_capped_kernel_pops_what_the_heapq_twin_pops(tmp_path, root_pos, max_depth):
    """The best tree of depth <= D (drafters that pay per level): kernel and twin, at the end and inside."""
    path = tmp_path / "toy.npz"
    _dump(path, prompts=2, conts=3, length=12, k=3, alpha=0.4, seed=6)
    g = grafted_input(str(path), draw="depth")
    with np.load(path) as z:
        seq, pos, nxt = z["seq"], z["pos"], z["next_token"]
    for prompt in range(2):
        known = _known_paths(path, prompt)
        pools, depth_bin = _depth_pools(path, prompt)
        s0 = 3 * prompt
        toks = [int(t) for t in nxt[seq == s0][np.argsort(pos[seq == s0])]]
        node = int(g.seq_nodes[s0][root_pos])
        for rid in (3, 0xC0FFEE):
            curve = _kernel_curve(g, prompt, node, root_pos, rid, 40, max_depth=max_depth)
            ref = grafted_reference(
                g.neglogp,
                g.ids,
                known,
                pools,
                tuple(toks[:root_pos]),
                rid,
                40,
                depth_bin=depth_bin,
                root_depth=root_pos,
                max_depth=max_depth,
            )
            np.testing.assert_allclose(curve, ref, rtol=1e-13, atol=0)
            free = _kernel_curve(g, prompt, node, root_pos, rid, 40)
            assert np.all(curve <= free + 1e-12)  # a cap can only lose


def test_depth_one_is_the_roots_top_p_tokens(toy):
    """D = 1: the tree is the root's P most likely tokens, so E[X*(P)] is the sum of the root row's top P."""
    res = optimum(str(toy), pmax=6, replicates=2, max_depth=1, tail="drop")
    g = grafted_input(str(toy))
    for j, prompt in enumerate(range(3)):
        row = g.neglogp[g.node_row[g.prompt_root[prompt]]]
        probs = np.exp(-row[np.isfinite(row)])  # the rows are sorted: -log p increasing
        want = np.cumsum(probs)[np.minimum(np.arange(6), len(probs) - 1)]
        np.testing.assert_allclose(res.main.curves[j], want, rtol=1e-12)
    with pytest.raises(InputError, match="max_depth"):
        optimum(str(toy), pmax=6, max_depth=0)


@pytest.mark.parametrize("max_width", [1, 2, None])
def test_width_caps_and_depth_profiles_match_the_twin(tmp_path, max_width):
    """max_width 1 is the greedy chain; the per-depth mass of the first P pops is P(X >= d) of that tree."""
    path = tmp_path / "toy.npz"
    _dump(path, prompts=2, conts=3, length=10, k=3, alpha=0.4, seed=8)
    g = grafted_input(str(path), draw="depth")
    for prompt in range(2):
        known = _known_paths(path, prompt)
        pools, depth_bin = _depth_pools(path, prompt)
        for rid in (5, 0xBADC0DE):
            mass = np.zeros(16)
            curve = _kernel_curve(
                g, prompt, g.prompt_root[prompt], 0, rid, 30, max_width=max_width, profile_p=12, mass=mass
            )
            popped: list[tuple[float, int]] = []
            ref = grafted_reference(
                g.neglogp, g.ids, known, pools, (), rid, 30, depth_bin=depth_bin, max_width=max_width, popped=popped
            )
            np.testing.assert_allclose(curve, ref, rtol=1e-13, atol=0)
            want = np.zeros(16)
            for prob, d in popped[:12]:
                if d <= 16:
                    want[d - 1] += prob
            np.testing.assert_allclose(mass, want, rtol=1e-13, atol=1e-300)
            if max_width == 1:
                assert [d for _, d in popped] == list(range(1, len(popped) + 1))  # a chain: one node per depth
            assert mass.sum() == pytest.approx(curve[11])  # the profile sums to E[X] of the 12-node tree
