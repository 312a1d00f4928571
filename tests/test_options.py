"""ReadOptions and RunOptions replace the reading and running keywords; the old keywords still work, deprecated."""

from __future__ import annotations

import dataclasses
import warnings

import pytest

from speedoflight.options import READ_FIELDS, ReadOptions, RunOptions, split_legacy


def test_options_are_frozen_values():
    read = ReadOptions(kind="logprobs", vocab_size=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.kind = "probs"  # type: ignore[misc]
    assert read == ReadOptions(kind="logprobs", vocab_size=10)
    assert hash(RunOptions(seed=3)) == hash(RunOptions(seed=3))
    assert tuple(f.name for f in dataclasses.fields(ReadOptions)) == READ_FIELDS
    assert read.source_kwargs() == {"kind": "logprobs", "vocab_size": 10, "temperature": 1.0, "tensor": None}


def test_old_keywords_fold_into_the_options_with_one_warning():
    with pytest.warns(DeprecationWarning, match=r"f\(seed=, kind=\) is deprecated: pass read=ReadOptions\(kind"):
        read, run = split_legacy(
            "f", {"seed": 5, "kind": "probs"}, read=(ReadOptions, ReadOptions(tensor="t")), run=(RunOptions, None)
        )
    assert read == ReadOptions(kind="probs", tensor="t")  # the given options keep their other fields
    assert run == RunOptions(seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no old keyword: no warning, the defaults
        assert split_legacy("f", {}, run=(RunOptions, None)) == (RunOptions(),)
    with pytest.raises(TypeError, match="f\\(\\) got an unexpected keyword argument 'sed'"):
        split_legacy("f", {"sed": 1}, run=(RunOptions, None))


def test_estimate_with_the_old_keywords_equals_the_options():
    from speedoflight.theory.estimator import estimate

    new = estimate("data/smollm2-t1.npz", n_boot=50, read=ReadOptions(temperature=1.0), run=RunOptions(seed=7))
    with pytest.warns(DeprecationWarning, match="estimate"):
        old = estimate("data/smollm2-t1.npz", n_boot=50, temperature=1.0, seed=7)
    assert old.to_dict() == new.to_dict()
    other = estimate("data/smollm2-t1.npz", n_boot=50, run=RunOptions(seed=8))
    assert (other.mu, other.mu2) == (new.mu, new.mu2)  # the seed moves the bootstrap only
    assert other.to_dict() != new.to_dict()


def test_the_orchestrators_take_the_options_not_the_old_keywords():
    import inspect

    from speedoflight.analysis.compare import compare
    from speedoflight.analysis.report import run_report
    from speedoflight.simulation.grafted import optimum
    from speedoflight.theory.curve import bound_curve
    from speedoflight.theory.estimator import estimate

    old = {"kind", "vocab_size", "temperature", "tensor", "chunk_bytes", "seed", "progress", "client"}
    for fn in (compare, run_report, optimum, bound_curve, estimate):
        params = inspect.signature(fn).parameters
        assert not old & set(params), fn.__name__
        assert "run" in params, fn.__name__


def test_run_report_takes_a_device_not_its_name():
    """``run_report(gpu=)``: a parsed :class:`GPU` (the CLI parses ``--gpu``); a name still works, deprecated."""
    from speedoflight.analysis.report import _device
    from speedoflight.errors import InputError
    from speedoflight.timing import GPUS, resolve_gpu

    assert _device(None) == GPUS["h100-sxm"]
    mine = resolve_gpu("a100", bandwidth=1e12, flops=1e14)
    assert _device(mine) is mine
    with pytest.warns(DeprecationWarning, match=r"resolve_gpu\('h100'\)"):
        assert _device("h100") == resolve_gpu("h100")
    with (
        pytest.warns(DeprecationWarning, match="gpu='nope'"),
        pytest.raises(InputError, match=r"^gpu 'nope' is not one of"),
    ):
        _device("nope")
