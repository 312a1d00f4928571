"""Dask: one task per shard on a LocalCluster of 2 worker processes; the result equals the single process's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speedoflight.errors import InputError

from .test_cli import assert_user_error, run

distributed = pytest.importorskip("distributed", reason="needs the [dist] extra (dask, distributed)")

SHARDS = 8


def _shard(src, out_dir, n=SHARDS, edit=None):
    """Split a dump by sequence into n shards (whole sequences each), as a fleet would write them."""
    out_dir.mkdir(exist_ok=True)
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    seqs = np.unique(arrays["seq"])
    paths = []
    for i, part in enumerate(np.array_split(seqs, n)):
        rows = np.isin(arrays["seq"], part)
        shard = {k: (v[rows] if k != "metadata" else v) for k, v in arrays.items()}
        if edit is not None and i == n // 2:
            shard = edit(shard)
        path = out_dir / f"shard-{i:02d}.npz"
        np.savez_compressed(path, **shard)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return _shard("data/smollm2-t1.npz", tmp_path_factory.mktemp("shards"))


def test_estimate_on_the_cluster_equals_the_single_process_bit_for_bit(client, shards):
    from speedoflight.theory.estimator import estimate

    one = estimate(shards, n_boot=200, seed=3)
    many = estimate(shards, n_boot=200, seed=3, client=client)
    assert many.to_dict() == one.to_dict()  # means, standard errors and the seeded bootstrap's interval, exactly
    whole = estimate("data/smollm2-t1.npz", n_boot=200, seed=3)
    assert many.mu == pytest.approx(whole.mu, rel=1e-12)  # the shards hold the same rows
    assert many.mu2 == pytest.approx(whole.mu2, rel=1e-12)
    assert many.n_rows == whole.n_rows
    assert many.n_sequences == whole.n_sequences


def test_a_worker_that_dies_changes_nothing(client, shards):
    """Kill one worker while the tasks run: dask recomputes its tasks on the other, and the result is the same."""
    import os
    import signal
    import threading

    from speedoflight.theory.estimator import estimate

    want = estimate(shards, n_boot=100, seed=1).to_dict()
    pids = client.run(os.getpid)  # worker address -> its process
    got: dict = {}
    t = threading.Thread(target=lambda: got.update(m=estimate(shards, n_boot=100, seed=1, client=client)))
    t.start()
    killed = None
    for _ in range(4000):  # wait until a task runs, then kill the worker running it
        busy = [w for w, tasks in client.processing().items() if tasks and w in pids]
        if busy:
            killed = busy[0]
            os.kill(pids[killed], signal.SIGKILL)
            break
        t.join(0.002)
    t.join(120)
    assert killed is not None, "no task was seen running: the kill did not happen"
    assert got["m"].to_dict() == want
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it, for the next test


def test_a_folder_of_shards_and_the_cli(capsys, shards):
    folder = str(shards[0]).rsplit("/", 1)[0]
    code, out, _ = run(capsys, "estimate", folder, "--json", "--quiet", "--bootstrap", "50")
    assert code == 0
    single = json.loads(out)
    code, out, _ = run(capsys, "estimate", folder, "--json", "--quiet", "--bootstrap", "50", "--scheduler", "local:2")
    assert code == 0
    assert json.loads(out) == single


def test_shards_of_another_verifier_are_refused(client, tmp_path):
    def other_model(shard):
        meta = json.loads(str(shard["metadata"]))
        meta["model"]["name"] = "Llama-3.1-8B"
        return {**shard, "metadata": np.array(json.dumps(meta))}

    paths = _shard("data/smollm2-t1.npz", tmp_path / "mixed", edit=other_model)
    from speedoflight.theory.estimator import estimate

    with pytest.raises(InputError, match=r"shard-04\.npz: its model is 'Llama-3.1-8B'"):
        estimate(paths, client=client)


def test_scheduler_user_errors(capsys, monkeypatch):
    assert_user_error(
        capsys,
        ["estimate", "data/smollm2-t1.npz", "--scheduler", "tcp://127.0.0.1:9"],
        "tcp://127.0.0.1:9",
        "no scheduler answered",
    )
    assert_user_error(capsys, ["estimate", "data/smollm2-t1.npz", "--scheduler", "local:0"], "local:N")
    assert_user_error(capsys, ["estimate", "data/smollm2-t1.npz", "--scheduler", "nowhere"], "tcp://host")
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # as without the [dist] extra
    assert_user_error(capsys, ["estimate", "data/smollm2-t1.npz", "--scheduler", "local"], "[dist]")


def test_the_grafted_optimum_on_the_cluster_equals_the_single_process(client, capsys):
    """One task per batch of prompts: every root's curve, both tails and the bootstrap identical."""
    from speedoflight.simulation.grafted import optimum

    kw = {"pmax": 24, "positions": "all", "replicates": 2, "seed": 4, "tail": "both", "n_boot": 100}
    one = optimum("data/smollm2-t1.npz", **kw)
    many = optimum("data/smollm2-t1.npz", **kw, client=client)
    for a, b in ((one.lower, many.lower), (one.upper, many.upper)):
        np.testing.assert_array_equal(a.curves, b.curves)
        np.testing.assert_array_equal(a.mean, b.mean)
        np.testing.assert_array_equal(a.ci_low, b.ci_low)
    argv = ["optimum", "--dump", "data/smollm2-t1.npz", "--pmax", "8", "--replicates", "2", "--json"]
    code, single, _ = run(capsys, *argv)
    assert code == 0
    code, dist, _ = run(capsys, *argv, "--scheduler", "local:2")
    assert code == 0
    assert json.loads(dist) == json.loads(single)
