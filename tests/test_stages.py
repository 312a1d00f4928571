"""Each input read once: the stage that reads the dumps gives what every separate reader gave, bit for bit."""

from __future__ import annotations

import os

import numpy as np
import pytest

from speedoflight.analysis.evidence import compare_real
from speedoflight.analysis.stages import read_dumps
from speedoflight.formats.oracle import load_oracle
from speedoflight.options import RunOptions
from speedoflight.simulation.simulate import pool
from speedoflight.theory.curve import bound_curve
from speedoflight.theory.estimator import estimate
from speedoflight.theory.iid import threshold_bound

X8 = "data/smollm2-t1-x8.npz"


@pytest.fixture(scope="module")
def stage():
    return read_dumps([X8])


def test_the_stage_moments_are_the_estimators(stage):
    assert stage.moments.to_dict() == estimate([X8]).to_dict()


@pytest.mark.parametrize("tail", ["drop", "lump"])
def test_the_stage_pools_are_pool(stage, tail):
    np.testing.assert_array_equal(stage.pools[tail == "lump"].neglogp, pool(X8, tail=tail).neglogp)


def test_a_curve_from_the_stage_is_the_curve_from_the_file(stage):
    p = [1, 2, 8, 64, 512]
    one = bound_curve(p, sources=[X8], n_boot=50, run=RunOptions(seed=0))
    two = bound_curve(p, n_boot=50, scanned=stage.scan, run=RunOptions(seed=0))
    assert one.to_dict() == two.to_dict()
    with pytest.raises(ValueError, match="scan again"):
        bound_curve([1, 2], tail="lump", scanned=stage.scan, run=RunOptions(seed=0))


def test_the_oracle_section_from_the_stage_is_the_same(stage):
    o = "data/oracle-smollm2-t1.npz"
    plain = compare_real(o, X8, replicates=100)
    shared = compare_real(o, X8, replicates=100, loaded=load_oracle(o), stage=stage)
    assert plain.to_dict() == shared.to_dict()
    assert shared.grafted  # the grafted prediction came from the stage's inputs


def test_the_threshold_bound_in_blocks_is_the_one_table():
    rng = np.random.default_rng(0)
    t = np.arange(3000) * 0.01
    g = np.cumsum(rng.random(3000))
    p = np.unique(np.round(np.geomspace(1, 1e6, 700)))
    np.testing.assert_array_equal(
        threshold_bound(g, t, p), np.min(g[None, :] + p[:, None] * np.exp(-t[None, :]), axis=1)
    )


def test_same_files(stage):
    assert stage.same_files([X8])
    assert stage.same_files([os.path.abspath(X8)])
    assert not stage.same_files(["data/gemma3-270m-t1-x8.npz"])
    assert not stage.same_files(["no/such/file.npz"])


@pytest.mark.e2e
def test_report_loads_each_oracle_once_and_streams_each_dump_once(tmp_path, monkeypatch):
    """The shipped report: every oracle and measure file loaded once; every dump's rows streamed once (one pass).

    The Inputs section still hashes every file's bytes (provenance), which parses nothing.
    """
    import speedoflight.formats.measured as M
    import speedoflight.formats.oracle as O
    from speedoflight.analysis.report import run_report
    from speedoflight.readers import Source

    loads: dict[str, int] = {}
    passes: dict[str, int] = {}
    real_load, real_chunks, real_measured = O.load_oracle, Source.chunks, M.read_measured

    def counting_measured(path, *args, **kwargs):
        loads[os.path.basename(str(path))] = loads.get(os.path.basename(str(path)), 0) + 1
        return real_measured(path, *args, **kwargs)

    def counting_load(path, *args, **kwargs):
        loads[os.path.basename(str(path))] = loads.get(os.path.basename(str(path)), 0) + 1
        return real_load(path, *args, **kwargs)

    def counting_chunks(self, *args, **kwargs):
        passes[os.path.basename(self.path)] = passes.get(os.path.basename(self.path), 0) + 1
        yield from real_chunks(self, *args, **kwargs)

    monkeypatch.setattr(O, "load_oracle", counting_load)
    monkeypatch.setattr(M, "read_measured", counting_measured)
    monkeypatch.setattr(Source, "chunks", counting_chunks)
    run_report(str(tmp_path / "r"), replicates=8)
    assert loads == {"oracle-smollm2-t1.npz": 1, "oracle-gemma3-270m-t1.npz": 1, "measured-smollm2-t1.jsonl": 1}
    assert passes == {"smollm2-t1-x8.npz": 1, "gemma3-270m-t1-x8.npz": 1}
