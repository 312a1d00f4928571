"""fsspec URLs as inputs: the same numbers as the local files, read through fsspec's file objects.

``memory://`` is fsspec's in-process filesystem: its files have no descriptor to map, so every read goes
through the non-local path (seek and read), as it would on s3:// or gcs://. ``file://`` URLs reach the
workers of a LocalCluster, which open their own shards.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from speedoflight.errors import InputError
from speedoflight.options import ReadOptions, RunOptions

from .helpers import assert_user_error, run
from .test_readers import VOCAB, openai_chat_line

fsspec = pytest.importorskip("fsspec", reason="needs the [dist] extra (fsspec)")


@pytest.fixture
def memfs():
    fs = fsspec.filesystem("memory")
    fs.mkdir("/sol")
    yield fs
    fs.rm("/sol", recursive=True)


def _put(fs, local, name):
    with open(local, "rb") as src, fs.open(f"/sol/{name}", "wb") as dst:
        dst.write(src.read())
    return f"memory:///sol/{name}"


def _moments(m):
    d = m.to_dict()
    return {k: v for k, v in d.items() if k != "sources"}


def test_a_dump_at_a_url_gives_the_local_numbers(memfs):
    from speedoflight.theory.estimator import estimate

    url = _put(memfs, "data/smollm2-t1-x8.npz", "x8.npz")
    here = estimate("data/smollm2-t1-x8.npz", n_boot=100, run=RunOptions(seed=1))
    there = estimate(url, n_boot=100, run=RunOptions(seed=1))
    assert _moments(there) == _moments(here)
    assert there.n_rows == 25600


def test_stored_arrays_and_npy_at_a_url_are_read_without_mapping(memfs, tmp_path):
    """Uncompressed members and .npy files are memory-mapped locally; at a URL they are read chunk by chunk."""
    from speedoflight.theory.estimator import estimate

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(300, 64)).astype(np.float32) * 3
    np.savez(tmp_path / "dense.npz", logits=logits)  # stored, not deflated: mappable
    np.save(tmp_path / "dense.npy", logits)
    for name in ("dense.npz", "dense.npy"):
        url = _put(memfs, tmp_path / name, name)
        here = estimate(str(tmp_path / name), n_boot=50, read=ReadOptions(kind="logits", chunk_bytes=4096))
        there = estimate(
            url, n_boot=50, read=ReadOptions(kind="logits", chunk_bytes=4096)
        )  # many chunks: offsets exercised
        assert _moments(there) == _moments(here)
        # and against the definition: the mean entropy of the softmax rows
        lp = logits.astype(np.float64) - np.log(np.exp(logits.astype(np.float64)).sum(axis=1, keepdims=True))
        assert there.mu == pytest.approx(float(np.mean(-(np.exp(lp) * lp).sum(axis=1))), rel=1e-9)


def test_an_api_log_at_a_url(memfs, tmp_path):
    from speedoflight.theory.estimator import estimate

    log = tmp_path / "chat.jsonl"
    log.write_text("\n".join(json.dumps(openai_chat_line()) for _ in range(4)) + "\n")
    url = _put(memfs, log, "chat.jsonl")
    here = estimate(str(log), n_boot=20, read=ReadOptions(vocab_size=VOCAB))
    there = estimate(url, n_boot=20, read=ReadOptions(vocab_size=VOCAB))
    assert _moments(there) == _moments(here)


def test_globs_and_folders_at_a_url(memfs):
    from speedoflight._util.paths import expand_paths

    for name in ("b.npz", "a.npz", "notes.txt"):
        with memfs.open(f"/sol/{name}", "wb") as fh:
            fh.write(b"x")
    assert expand_paths(["memory:///sol/*.npz"]) == ["memory:///sol/a.npz", "memory:///sol/b.npz"]
    assert expand_paths(["memory:///sol"]) == ["memory:///sol/a.npz", "memory:///sol/b.npz"]  # shards only
    assert expand_paths(["memory:///sol/b.npz", "data/smollm2-t1.npz"]) == [
        "memory:///sol/b.npz",
        "data/smollm2-t1.npz",
    ]


def test_bound_from_a_url_on_the_command_line(memfs, capsys):
    url = _put(memfs, "data/smollm2-t1.npz", "t1.npz")
    argv = ["-P", "1,16,256", "--json", "--quiet", "--bootstrap", "50"]
    code, here, _ = run(capsys, "bound", "--from", "data/smollm2-t1.npz", *argv)
    assert code == 0
    code, there, _ = run(capsys, "bound", "--from", url, *argv)
    assert code == 0
    a, b = json.loads(here), json.loads(there)
    assert a["rows"] == b["rows"]
    assert math.isfinite(b["rows"][-1]["trajectory"])


def test_url_user_errors(memfs, capsys, tmp_path):
    assert_user_error(capsys, ["estimate", "xyz://bucket/a.npz"], "xyz://bucket/a.npz", "check the scheme")
    assert_user_error(capsys, ["estimate", "memory:///sol/none-*.npz"], "matches no file")
    assert_user_error(capsys, ["estimate", "memory:///sol/missing.npz"], "no such file")
    assert_user_error(capsys, ["estimate", "memory:///sol"], "holds no shard")
    with memfs.open("/sol/empty.npz", "wb"):
        pass
    assert_user_error(capsys, ["estimate", "memory:///sol/empty.npz"], "empty")
    with memfs.open("/sol/x.safetensors", "wb") as fh:
        fh.write(b"12345678")
    assert_user_error(capsys, ["estimate", "memory:///sol/x.safetensors"], "local")


def test_a_protocol_whose_package_is_missing_names_it(monkeypatch):
    import fsspec.core

    from speedoflight._util.remote import expand_url

    def missing(url, **kw):
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(fsspec.core, "url_to_fs", missing)
    with pytest.raises(InputError, match=r"s3://b/x\.npz: Install s3fs to access S3"):
        expand_url("s3://b/x.npz", (".npz",))


def test_without_fsspec_a_url_names_the_extra(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "fsspec", None)
    monkeypatch.setitem(sys.modules, "fsspec.core", None)
    assert_user_error(capsys, ["estimate", "s3://bucket/a.npz"], "[dist]")


def test_the_grafted_optimum_from_a_url(memfs):
    """optimum reads the continuations (token ids, sampled tokens) through fsspec too: the same curves."""
    from speedoflight.simulation.grafted import optimum

    url = _put(memfs, "data/smollm2-t1-x8.npz", "x8.npz")
    there = optimum(url, pmax=8, replicates=2, tail="both", run=RunOptions(seed=1))
    here = optimum("data/smollm2-t1-x8.npz", pmax=8, replicates=2, tail="both", run=RunOptions(seed=1))
    for a, b in ((here.lower, there.lower), (here.upper, there.upper)):
        np.testing.assert_array_equal(a.curves, b.curves)


class _ClientPayloadError(Exception):
    """Stands for an HTTP client's own error type (aiohttp's are not OSError)."""


_ClientPayloadError.__module__ = "aiohttp.client_exceptions"


@pytest.fixture
def flaky(memfs):
    """``flaky://``: memory://'s files, whose store fails as told (``Flaky.fail``) in listing, opening or reading."""
    from fsspec.implementations.memory import MemoryFile, MemoryFileSystem

    class FlakyFile(MemoryFile):
        def read(self, length=-1):
            if Flaky.fail.get("read") and self.tell() > 0:
                raise Flaky.fail["read"]
            return super().read(length)

    class Flaky(MemoryFileSystem):
        protocol = "flaky"
        fail: dict = {}  # noqa: RUF012

        @classmethod
        def _strip_protocol(cls, path):
            return MemoryFileSystem._strip_protocol(path.replace("flaky://", "memory://", 1))

        def info(self, path, **kw):
            if "info" in Flaky.fail:
                raise Flaky.fail["info"]
            return super().info(path, **kw)

        def _open(self, path, mode="rb", **kw):
            f = super()._open(path, mode, **kw)
            if "b" in mode and "r" in mode:
                return FlakyFile(self, path, f.getvalue())
            return f

    fsspec.register_implementation("flaky", Flaky, clobber=True)
    Flaky.store = memfs.store  # the same in-process files as memory://
    Flaky.pseudo_dirs = memfs.pseudo_dirs
    yield Flaky
    Flaky.fail = {}


@pytest.mark.parametrize(
    ("where", "exc", "says"),
    [
        ("info", ConnectionRefusedError(111, "Connection refused"), "ConnectionRefusedError"),
        ("info", TimeoutError(), "did not answer in time"),
        ("read", ConnectionResetError(104, "Connection reset by peer"), "ConnectionResetError"),
        ("read", TimeoutError(), "did not answer in time"),
        ("read", _ClientPayloadError("Response payload is not completed"), "_ClientPayloadError"),
    ],
    ids=["refused", "info-timeout", "reset-mid-read", "read-timeout", "client-error"],
)
def test_a_store_that_fails_is_one_line(flaky, memfs, capsys, where, exc, says):
    """Connection errors and time-outs while listing or mid-read are one line naming the URL, not a traceback."""
    _put(memfs, "data/smollm2-t1.npz", "t1.npz")
    flaky.fail = {where: exc}
    assert_user_error(capsys, ["estimate", "flaky:///sol/t1.npz"], "flaky:///sol/t1.npz", says)


def test_a_bug_is_not_called_a_store_failure():
    """Only the store's failures become one line: a TypeError from this package's code stays a traceback."""
    from speedoflight._util.remote import _answers

    with pytest.raises(TypeError), _answers("memory:///x"):
        raise TypeError("a bug")
    with pytest.raises(InputError, match="could not be read"), _answers("memory:///x"):
        raise _ClientPayloadError("cut")
