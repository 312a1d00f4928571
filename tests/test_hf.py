"""The transformers compatibility layer: keyword detection, and no deprecation warning on the installed version."""

from __future__ import annotations

import functools
import json
import shlex
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch (the [model] extra)")
transformers = pytest.importorskip("transformers", reason="needs transformers (the [model] extra)")

from speedoflight.cli.app import main  # noqa: E402
from speedoflight.models import _hf  # noqa: E402
from speedoflight.models.treelm import TreeBatch  # noqa: E402

from .tinylm import save_tiny, tiny_llama  # noqa: E402


def _renamed(old, new):
    """A stand-in for transformers' ``deprecate_kwarg``: a wrapper that keeps ``__wrapped__``."""

    def deco(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            if old in kwargs:
                kwargs[new] = kwargs.pop(old)
            return f(*args, **kwargs)

        return wrapper

    return deco


class _Old:
    def forward(self, input_ids=None, past_key_values=None, use_cache=None, num_logits_to_keep=0):
        return {"past_key_values": past_key_values}


class _New:
    @_renamed("past_key_values", "cache")
    def forward(self, input_ids=None, cache=None, use_cache=None, logits_to_keep=0, **kwargs):
        return {"cache": cache}


class _Neither:
    def forward(self, input_ids=None):
        return None


def test_keywords_follow_the_forward_signature():
    assert _hf.cache_kwargs(_Old(), "c") == {"past_key_values": "c", "use_cache": True}
    assert _hf.cache_kwargs(_New(), "c") == {"cache": "c", "use_cache": True}
    assert _hf.logits_to_keep_kwargs(_Old(), 1) == {"num_logits_to_keep": 1}
    assert _hf.logits_to_keep_kwargs(_New(), 1) == {"logits_to_keep": 1}
    assert _hf.logits_to_keep_kwargs(_Neither(), 1) == {}
    with pytest.raises(TypeError, match="neither"):
        _hf.cache_kwargs(_Neither(), None)


def test_returned_cache_reads_the_detected_name():
    class Out:
        cache = "new"
        past_key_values = "old"

    assert _hf.returned_cache(_New(), Out()) == "new"
    assert _hf.returned_cache(_Old(), Out()) == "old"


def test_installed_version_takes_the_detected_keywords():
    model = tiny_llama()
    kw = _hf.cache_kwargs(model, None)
    name = next(k for k in kw if k != "use_cache")
    installed = tuple(int(x) for x in transformers.__version__.split(".")[:2])
    # 5.24 renamed the cache keyword; 4.x and early 5.x take past_key_values
    assert name == ("cache" if installed >= (5, 24) else "past_key_values")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([[1, 2, 3]]), **kw, **_hf.logits_to_keep_kwargs(model, 1))
            assert out.logits.shape[1] == 1
            cache = _hf.returned_cache(model, out)
            assert cache.get_seq_length() == 3
            out2 = model(input_ids=torch.tensor([[4]]), **_hf.cache_kwargs(model, cache))
    # the cached step equals a full forward pass of the whole sequence
    with torch.inference_mode():
        full = model(input_ids=torch.tensor([[1, 2, 3, 4]])).logits[0, -1]
    np.testing.assert_allclose(out2.logits[0, -1].numpy(), full.numpy(), atol=1e-5)


def test_dtype_keyword_matches_the_version():
    installed = tuple(int(x) for x in transformers.__version__.split(".")[:2])
    assert _hf.dtype_kwargs(torch.float32) == {("dtype" if installed >= (4, 56) else "torch_dtype"): torch.float32}


def _no_deprecations(record, err):
    bad = [str(w.message) for w in record if issubclass(w.category, FutureWarning | DeprecationWarning)]
    assert bad == []
    assert "deprecated" not in err.lower()


def test_dump_emits_no_deprecation_warning(tmp_path, capfd):
    folder = save_tiny(tmp_path / "m", tiny_llama(scale=3.0))
    prompts = tmp_path / "p.txt"
    prompts.write_text("abc\nddb\n")
    argv = ["dump", "--model", str(folder), "--prompts", str(prompts), "--out", str(tmp_path / "d.npz")]
    argv += ["--max-new-tokens", "4", "--top-k", "3", "--samples-per-prompt", "2", "--early-exit", "1", "--quiet"]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert main(argv) == 0
    _no_deprecations(record, capfd.readouterr().err)
    with np.load(tmp_path / "d.npz") as z:
        meta = json.loads(str(z["metadata"]))
    assert meta["command"] == shlex.join(["speedoflight", *argv])  # as typed, not this machine's script path


def test_tree_batch_emits_no_deprecation_warning(capfd):
    model = tiny_llama()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        tb = TreeBatch(model, [[1, 2], [3]], 1.0)
        tb.extend_top([[(-1, 0), (0, 1)], [(-1, 2)]], 2)
        tb.extend_logprobs([[(1, 3)], [(0, 4)]])
    _no_deprecations(record, capfd.readouterr().err)
