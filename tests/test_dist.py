"""Dask: one task per shard on a LocalCluster of 2 worker processes; the result equals the single process's."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from speedoflight.errors import InputError
from speedoflight.options import RunOptions

from .helpers import assert_user_error, run

pytestmark = pytest.mark.e2e

distributed = pytest.importorskip("distributed", reason="needs the [dist] extra (dask, distributed)")

SHARDS = 8


def _shard(src, out_dir, n=SHARDS, edit=None, by="seq"):
    """Split a dump by sequence (or prompt) into n shards (whole ones each), as a fleet would write them."""
    out_dir.mkdir(exist_ok=True)
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    seqs = np.unique(arrays[by])
    paths = []
    for i, part in enumerate(np.array_split(seqs, n)):
        rows = np.isin(arrays[by], part)
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

    one = estimate(shards, n_boot=200, run=RunOptions(seed=3))
    many = estimate(shards, n_boot=200, run=RunOptions(seed=3, client=client))
    assert many.to_dict() == one.to_dict()  # means, standard errors and the seeded bootstrap's interval, exactly
    whole = estimate("data/smollm2-t1.npz", n_boot=200, run=RunOptions(seed=3))
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

    want = estimate(shards, n_boot=100, run=RunOptions(seed=1)).to_dict()
    pids = client.run(os.getpid)  # worker address -> its process
    got: dict = {}
    t = threading.Thread(
        target=lambda: got.update(m=estimate(shards, n_boot=100, run=RunOptions(seed=1, client=client)))
    )
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
        estimate(paths, run=RunOptions(client=client))
    from speedoflight.theory.curve import bound_curve

    with pytest.raises(InputError, match=r"shard-04\.npz: its model is 'Llama-3.1-8B'"):
        bound_curve([1, 8], sources=paths, run=RunOptions(client=client))


def _edit_meta(**change):
    def edit(shard):
        meta = json.loads(str(shard["metadata"]))
        for key, value in change.items():
            meta[key] = value
            if key == "vocab_size":
                meta["model"]["vocab_size"] = value
        return {**shard, "metadata": np.array(json.dumps(meta))}

    return edit


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"temperature": 0.7}, r"shard-04\.npz: its temperature is 0\.7 but .*shard-00\.npz's is 1\.0"),
        ({"vocab_size": 50000}, r"shard-04\.npz: vocabulary of 50000 tokens, but .*shard-00\.npz has 49152"),
    ],
)
def test_shards_of_another_temperature_or_vocabulary_are_refused(client, tmp_path, change, says):
    from speedoflight.theory.estimator import estimate

    paths = _shard("data/smollm2-t1.npz", tmp_path / "mixed", edit=_edit_meta(**change))
    with pytest.raises(InputError, match=says):
        estimate(paths, run=RunOptions(client=client))


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


@pytest.fixture
def listener():
    """A local TCP server that is no dask scheduler: it sends ``reply`` (an HTTP error, or nothing) to each caller."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    state = {"reply": b"", "held": []}

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            state["held"].append(conn)
            if state["reply"]:
                try:
                    conn.sendall(state["reply"])
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    yield state, f"tcp://127.0.0.1:{srv.getsockname()[1]}"
    srv.close()
    for conn in state["held"]:
        conn.close()


def test_an_address_that_is_no_scheduler_gives_one_line(capsys, listener):
    """A web server answers garbage; a silent listener answers nothing: one line each, never a hang."""
    import time

    from speedoflight._util.dist import connect

    state, address = listener
    state["reply"] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4
    assert_user_error(capsys, ["estimate", "data/smollm2-t1.npz", "--scheduler", address], address, "not a dask")
    state["reply"] = b""
    t0 = time.monotonic()
    with pytest.raises(InputError, match=r"said nothing within 1 s"), connect(address, timeout=1):
        pass
    assert time.monotonic() - t0 < 30


def test_the_grafted_optimum_on_the_cluster_equals_the_single_process(client, capsys):
    """One task per batch of prompts: every root's curve, both tails and the bootstrap identical."""
    from speedoflight.simulation.grafted import optimum

    kw = {"pmax": 24, "positions": "all", "replicates": 2, "tail": "both", "n_boot": 100}
    one = optimum("data/smollm2-t1.npz", **kw, run=RunOptions(seed=4))
    many = optimum("data/smollm2-t1.npz", **kw, run=RunOptions(seed=4, client=client))
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


@pytest.fixture(scope="module")
def prompt_shards(tmp_path_factory):
    """8 continuations per prompt, whole prompts per shard: the trajectory bound's prompts span the shards."""
    return _shard("data/smollm2-t1-x8.npz", tmp_path_factory.mktemp("x8"), by="prompt")


def test_the_shard_protocol_without_dask(prompt_shards):
    """blank/part/merge in this process, file by file, give exactly what one scan over the files gives."""
    from speedoflight.readers import open_source
    from speedoflight.readers.scan import mergeable, scan, shard_parts
    from speedoflight.theory.estimator import MomentsScan
    from speedoflight.theory.iid import AtomScan
    from speedoflight.theory.trajectory import TrajectoryScan

    sources = [open_source(p) for p in prompt_shards]
    one = [MomentsScan(sources), AtomScan(tail="drop"), TrajectoryScan()]
    scan(sources, one)
    many = [MomentsScan(sources), AtomScan(tail="drop"), TrajectoryScan()]
    assert all(mergeable(c) for c in many)
    blanks = [c.blank() for c in many]
    for i, path in enumerate(prompt_shards):
        parts = shard_parts(path, {}, [b.blank() for b in blanks], 1.0, 1 << 20)
        for c, part in zip(many, parts, strict=True):
            c.merge(i, part)
    assert many[0].finish(n_boot=100, seed=5).to_dict() == one[0].finish(n_boot=100, seed=5).to_dict()
    a, b = one[1].finish(), many[1].finish()
    assert a.n_rows == b.n_rows
    for k in ("weights", "counts", "weights_fine", "counts_fine"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    (seqs_a, prompts_a), (seqs_b, prompts_b) = one[2].finish(), many[2].finish()
    assert len(seqs_a) == len(seqs_b) == 800
    for x, y in zip(seqs_a, seqs_b, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(prompts_a, prompts_b)
    assert prompts_b.max() + 1 == 100  # 100 prompts of 8 continuations, numbered across the shards
    assert np.all(np.bincount(prompts_b) == 8)


def test_bound_on_the_cluster_equals_the_single_process_bit_for_bit(client, prompt_shards):
    from speedoflight.theory.curve import bound_curve

    p = [1, 4, 16, 64, 256, 1e4]
    one = bound_curve(p, sources=prompt_shards, n_boot=100, run=RunOptions(seed=2))
    many = bound_curve(p, sources=prompt_shards, n_boot=100, run=RunOptions(seed=2, client=client))
    assert many.trajectory is not None
    assert many.trajectory.n_prompts == 100
    assert many.to_dict() == one.to_dict()  # every column, the trajectory bootstrap and the i.i.d. curve, exactly
    whole = bound_curve(p, sources=["data/smollm2-t1-x8.npz"], n_boot=100, run=RunOptions(seed=2))
    for k in whole.columns:  # the shards hold the same rows: the same curves up to the order of the sums
        np.testing.assert_allclose(many.columns[k], whole.columns[k], rtol=1e-12)


def test_bound_and_compare_cli_with_a_scheduler(capsys, shards):
    argv = ["bound", "--from", *shards, "-P", "1,8,64", "--json", "--quiet", "--bootstrap", "50"]
    code, single, _ = run(capsys, *argv)
    assert code == 0
    code, dist, _ = run(capsys, *argv, "--scheduler", "local:2")
    assert code == 0
    assert json.loads(dist) == json.loads(single)
    folder = str(shards[0]).rsplit("/", 1)[0]
    argv = ["compare", "--dump", folder, "--measured", "data/measured-smollm2-t1.jsonl", "--pmax", "16"]
    argv += ["--tree-size", "8", "--replicates", "4", "--json", "--quiet"]
    code, single, _ = run(capsys, *argv)
    assert code == 0
    code, dist, _ = run(capsys, *argv, "--scheduler", "local:2")
    assert code == 0
    assert json.loads(dist) == json.loads(single)
    assert json.loads(dist)["ceiling"] is not None  # a folder of shards is read as its files: the grafted ceiling


def test_compare_on_the_cluster_equals_the_single_process(client, shards):
    from speedoflight.analysis.compare import compare
    from speedoflight.logs.acceptance import read_many
    from speedoflight.timing import Timing

    measured = read_many(["data/measured-smollm2-t1.jsonl"], None, None)
    timing = Timing.preset("h100", params=135e6)
    kw = {"replicates": 4, "n_boot": 50, "pmax": 16, "tree_size": 8, "timing": timing}
    one = compare(shards, measured, **kw, run=RunOptions(seed=3))
    many = compare(shards, measured, **kw, run=RunOptions(seed=3, client=client))
    assert one.ceiling is not None
    assert one.advice is not None  # the depth-capped ceilings ran too (early-exit drafters pay per level)
    assert many.to_dict() == one.to_dict()


def test_bound_scheduler_user_errors(capsys):
    assert_user_error(capsys, ["bound", "--mu", "2", "--mu2", "9", "--scheduler", "local"], "--from")


def test_shards_at_a_url_on_the_cluster(client, shards):
    """A folder given as a file:// URL: listed by fsspec on the driver, each shard opened by its worker."""
    from pathlib import Path

    from speedoflight.theory.curve import bound_curve
    from speedoflight.theory.estimator import estimate

    url = Path(shards[0]).parent.as_uri()
    assert url.startswith("file:///")

    def numbers(d):
        return {k: v for k, v in d.items() if k != "sources"}

    one = estimate(shards, n_boot=100, run=RunOptions(seed=2))
    many = estimate(url, n_boot=100, run=RunOptions(seed=2, client=client))
    assert numbers(many.to_dict()) == numbers(one.to_dict())
    assert many.to_dict()["sources"] == [f"{url}/{Path(p).name}" for p in shards]
    p = [1, 16, 256]
    assert (
        bound_curve(p, sources=[url], n_boot=50, run=RunOptions(client=client)).to_dict()["rows"]
        == (bound_curve(p, sources=shards, n_boot=50).to_dict()["rows"])
    )


def test_one_byte_then_nothing_is_refused_within_the_deadline(listener):
    """A listener that sends one byte passes the greeting probe, then held distributed's handshake forever."""
    import time

    from speedoflight._util.dist import connect

    state, address = listener
    state["reply"] = b"\x00"
    t0 = time.monotonic()
    with pytest.raises(InputError, match="never completed a dask handshake"), connect(address, timeout=1):
        pass
    assert time.monotonic() - t0 < 15


def test_local_workers_are_bounded_and_ascii(capsys):
    from speedoflight._util.dist import _most_workers

    most = _most_workers()
    assert 1 <= most <= 4 * (os.cpu_count() or 1)
    assert_user_error(capsys, ["estimate", "data/smollm2-t1.npz", "--scheduler", "local:²"], "local:N")
    assert_user_error(
        capsys, ["estimate", "data/smollm2-t1.npz", "--scheduler", f"local:{most + 1}"], f"1 to {most}", "cores"
    )


def test_a_user_error_on_a_worker_is_one_line_and_not_retried(client, tmp_path):
    """A task's InputError comes back as a value: raised once on the driver, never retried (it was run 4 times)."""
    from speedoflight._util.dist import run_tasks

    tally = tmp_path / "calls.txt"

    def fail(x, path):
        with open(path, "a") as fh:
            fh.write("called\n")
        raise InputError(f"shard {x}: damaged")

    with pytest.raises(InputError, match="shard 1: damaged"):
        run_tasks(client, fail, [(1, str(tally))])
    assert tally.read_text().count("called") == 1


def test_a_dump_and_its_early_exit_view_are_not_pooled_on_the_cluster(client, tmp_path):
    """The full model's dump and its early-exit view are two distributions of one model: refused, not pooled."""
    import shutil

    for f in ("data/smollm2-t1.npz", "data/pair/smollm2-t1-early-exit-12.npz"):
        shutil.copy(f, tmp_path)
    from speedoflight.theory.curve import bound_curve
    from speedoflight.theory.estimator import estimate

    says = r"its view is 'full' but .*early-exit-12\.npz's is 'early-exit:12'"
    with pytest.raises(InputError, match=says):
        estimate(str(tmp_path), run=RunOptions(client=client))
    with pytest.raises(InputError, match=says):
        bound_curve([1, 8], sources=[str(tmp_path)], run=RunOptions(client=client))
