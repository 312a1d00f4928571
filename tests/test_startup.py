"""Start-up a person does not notice: ``import speedoflight`` and every ``--help`` stay off the heavy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

HEAVY = ("numba", "scipy.stats", "ml_dtypes", "matplotlib", "torch", "transformers")


def _loaded_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; return which HEAVY modules it left loaded, and what it printed."""
    probe = f"""
import io, json, sys, contextlib
out = io.StringIO()
with contextlib.redirect_stdout(out):
{chr(10).join("    " + line for line in code.strip().splitlines())}
print(json.dumps({{"heavy": [m for m in {HEAVY!r} if m in sys.modules], "out": out.getvalue()}}))
"""
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_import_is_light():
    assert _loaded_after("import speedoflight")["heavy"] == []


def test_every_help_is_light():
    from speedoflight.cli.app import build_parser

    subs = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction").choices
    assert {"estimate", "simulate", "report", "compare", "dump", "classic"} <= set(subs)
    code = f"""
from speedoflight.cli.app import main
for argv in [["--help"], ["--version"], *[[s, "--help"] for s in {sorted(subs)!r}]]:
    try:
        main(argv)
    except SystemExit:
        pass
"""
    res = _loaded_after(code)
    assert res["heavy"] == []
    assert res["out"].count("usage: speedoflight") == len(subs) + 1  # each help really printed


def test_lazy_names_resolve_and_light_ones_stay_light():
    import speedoflight

    for name in speedoflight.__all__:
        assert name in dir(speedoflight)
        assert getattr(speedoflight, name) is not None
    with pytest.raises(AttributeError):
        speedoflight.no_such_name  # noqa: B018
    # the timing model needs numpy only
    assert (
        _loaded_after("from speedoflight import Timing\nfrom speedoflight.timing import GPUS, speedup")["heavy"] == []
    )
    assert _loaded_after("from speedoflight import read_acceptance")["heavy"] == []


def test_every_subpackage_imports_light():
    subs = ["analysis", "beyond", "cli", "formats", "kernels", "logs", "models", "readers", "serving", "simulation"]
    code = "\n".join(f"import speedoflight.{s}" for s in [*subs, "theory", "timing"])
    assert _loaded_after(code)["heavy"] == []


def test_estimate_loads_only_what_it_needs(tmp_path):
    rows = tmp_path / "z.npy"
    np.save(rows, np.random.default_rng(0).normal(size=(6, 40)).astype(np.float32))
    res = _loaded_after(
        f"from speedoflight.cli.app import main\nmain(['estimate', {str(rows)!r}, '--kind', 'logits', '--quiet'])"
    )
    assert "mu" in res["out"]
    assert res["heavy"] == ["numba"]  # the kernels; ml_dtypes only for bfloat16 files, no scipy.stats, no plots


def _run_on_a_terminal(argv: list[str], cache, tty: bool = True) -> tuple[int, str]:
    """Run the CLI in a fresh interpreter with its own numba cache, stderr on a pseudo-terminal (or a pipe)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    cmd = [sys.executable, "-m", "speedoflight", *argv]
    if not tty:
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        return res.returncode, res.stderr
    master, slave = os.openpty()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=slave, env=env, timeout=600)
    finally:
        os.close(slave)
    chunks = []
    while True:
        try:
            block = os.read(master, 1 << 16)
        except OSError:  # EIO: the terminal's other side is closed and drained
            break
        if not block:
            break
        chunks.append(block)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.e2e
def test_compile_notice_once_on_a_terminal_and_only_when_compiling(tmp_path):
    from speedoflight._util.notice import MESSAGE

    rows = tmp_path / "z.npy"
    np.save(rows, np.random.default_rng(0).normal(size=(6, 40)).astype(np.float32))
    argv = ["estimate", str(rows), "--kind", "logits"]
    code, err = _run_on_a_terminal(argv, tmp_path / "a", tty=False)  # compiles, but nobody is watching
    assert code == 0
    assert MESSAGE not in err
    code, err = _run_on_a_terminal(argv, tmp_path / "a")  # cached: nothing to say
    assert code == 0
    assert MESSAGE not in err
    code, err = _run_on_a_terminal(argv, tmp_path / "b")  # a fresh cache: compiles, says so once
    assert code == 0
    assert err.count(MESSAGE) == 1
    code, err = _run_on_a_terminal([*argv, "--quiet"], tmp_path / "c")
    assert code == 0
    assert MESSAGE not in err
