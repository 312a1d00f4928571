"""Start-up: how long a person waits before a command answers, as ratios against ``python -c "import numpy"``.

Each pass is a fresh interpreter, timed from outside (wall clock), median of
``--repeat`` runs, all in the same run as the baseline:

* baseline: ``python -c "import numpy"`` (the least any numpy program pays);
* ``speedoflight --help``, warm (the interpreter's files in the page cache);
* ``speedoflight estimate`` on a tiny file (8 rows x 50), warm: kernels cached on disk;
* the same ``estimate`` cold: a fresh, empty ``NUMBA_CACHE_DIR``, so numba compiles
  the kernels the command uses (once per install in real life);
* ``import speedoflight``, and ``python -m speedoflight report --help``.

Targets: warm ``--help`` at most 4x the baseline. Usage::

    python bench/bench_startup.py [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def wall(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def median_wall(cmd: list[str], repeat: int, env: dict[str, str] | None = None) -> float:
    wall(cmd, env)  # warm the page cache
    return statistics.median(wall(cmd, env) for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--cold-repeat", type=int, default=2, help="cold compiles (each with an empty cache)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        rows = os.path.join(tmp, "tiny.npy")
        np.save(rows, np.random.default_rng(0).normal(size=(8, 50)).astype(np.float32))
        estimate = [py, "-m", "speedoflight", "estimate", rows, "--kind", "logits", "--quiet"]
        res = {
            "numpy_import": median_wall([py, "-c", "import numpy"], args.repeat),
            "help": median_wall([py, "-m", "speedoflight", "--help"], args.repeat),
            "report_help": median_wall([py, "-m", "speedoflight", "report", "--help"], args.repeat),
            "import_speedoflight": median_wall([py, "-c", "import speedoflight"], args.repeat),
            "estimate_warm": median_wall(estimate, args.repeat),
        }
        cold = []
        for i in range(args.cold_repeat):
            env = {**os.environ, "NUMBA_CACHE_DIR": os.path.join(tmp, f"cache{i}")}
            cold.append(wall(estimate, env))
        res["estimate_cold"] = statistics.median(cold)
    base = res["numpy_import"]
    ratios = {k: v / base for k, v in res.items()}
    if args.json:
        print(json.dumps({"seconds": res, "ratio_to_numpy_import": ratios}, indent=2))
    else:
        print(f"python -c 'import numpy': {base:.3f} s (median of {args.repeat}); ratios to it:")
        for k, v in res.items():
            if k != "numpy_import":
                print(f"  {k:22s} {v:7.3f} s  {ratios[k]:6.2f}x")
        verdict = "met" if ratios["help"] <= 4 else "NOT met"
        print(f"target: warm --help <= 4x the numpy import: {ratios['help']:.2f}x, {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
