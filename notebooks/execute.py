"""Execute the notebooks and save them in place with their outputs, so that GitHub shows the figures.

Usage::

    python3 notebooks/execute.py                  # all notebooks in this folder
    python3 notebooks/execute.py 03 08_grafted_prediction.ipynb   # some: file name, path or unique prefix

Each notebook runs top to bottom in a fresh ``python3`` kernel whose working directory is a temporary folder
(the notebooks find ``data/`` with ``speedoflight.shipped_data``, so nothing is written into the repository;
the kernel imports the package of this checkout, which leads its ``PYTHONPATH``),
then is written back atomically with volatile metadata stripped: no timing metadata, execution counts 1..n,
consecutive stream outputs merged, and no Python version in the notebook metadata. The notebooks use explicit
seeds, so re-running changes a diff only where the code or the data changed. A notebook that fails is left
untouched and the script exits 1. ``tests/test_notebooks.py`` checks that the committed outputs have the
structure of a fresh run (see :func:`structure` and :func:`mismatch`).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
TIMEOUT_S = 600  # per cell


def notebooks(names: list[str] | None = None) -> list[pathlib.Path]:
    """Return the notebooks named (file name, path or unique prefix), or all of them."""
    every = sorted(HERE.glob("*.ipynb"))
    if not names:
        return every
    chosen = []
    for name in names:
        base = pathlib.Path(name).name
        hits = [p for p in every if p.name == base or p.stem == base] or [p for p in every if p.name.startswith(base)]
        if len(hits) != 1:
            known = ", ".join(p.name for p in every)
            raise SystemExit(f"execute.py: {name!r} names {len(hits)} notebooks; known: {known}")
        chosen.append(hits[0])
    return chosen


def normalise(nb) -> None:
    """Strip what varies between runs of the same code: timing, counts, stream chunking, Python version."""
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        merged = []
        for out in cell.outputs:
            if out.output_type == "execute_result":
                out.execution_count = count
            prev = merged[-1] if merged else None
            if out.output_type == "stream" and prev is not None and prev.output_type == "stream":
                if prev.name == out.name:
                    prev.text += out.text
                    continue
            merged.append(out)
        cell.outputs = merged
    nb.metadata.get("language_info", {}).pop("version", None)
    for key in ("widgets", "papermill"):
        nb.metadata.pop(key, None)


def _output_shape(out) -> tuple[str, ...]:
    kind = out.get("output_type", "")
    if kind in ("display_data", "execute_result"):
        return (kind, *sorted(out.get("data", {})))
    if kind == "stream":
        return (kind, out.get("name", ""))
    if kind == "error":
        return (kind, out.get("ename", ""))
    return (kind,)


def structure(nb) -> list[list[tuple[str, ...]]]:
    """Per code cell, the outputs' kinds: (output_type, sorted mime types) or (stream, name); no values, no pixels.

    Consecutive stream outputs of the same name count once, since a kernel may deliver one print in chunks.
    ``nb`` is a notebook node or the plain dict that ``json.load`` gives.
    """
    cells = []
    for cell in nb["cells"]:
        if cell.get("cell_type") != "code":
            continue
        shapes: list[tuple[str, ...]] = []
        for out in cell.get("outputs", []):
            shape = _output_shape(out)
            if not (shape[0] == "stream" and shapes and shapes[-1] == shape):
                shapes.append(shape)
        cells.append(shapes)
    return cells


def has_figure(nb) -> bool:
    """Whether any code cell's outputs hold a PNG image."""
    return any(
        "image/png" in out.get("data", {})
        for cell in nb["cells"]
        if cell.get("cell_type") == "code"
        for out in cell.get("outputs", [])
    )


def mismatch(committed, fresh) -> str | None:
    """Say how the committed notebook's outputs differ in structure from a fresh run's, or None if they match."""
    if not has_figure(committed):
        return "the committed notebook has no figure in its outputs (saved without outputs?)"
    old, new = structure(committed), structure(fresh)
    if len(old) != len(new):
        return f"{len(old)} code cells committed, {len(new)} in the fresh run"
    for i, (a, b) in enumerate(zip(old, new, strict=True), start=1):
        if a != b:
            return f"code cell {i}: committed outputs {a}, fresh run {b}"
    return None


def execute(path: pathlib.Path, workdir: str):
    """Run the notebook at ``path`` in ``workdir`` and return it, executed and normalised."""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": workdir}},
    )
    # The kernel imports the package of this checkout (not another one installed in editable mode elsewhere,
    # such as the main worktree's), so a run tests the code beside the notebooks.
    path_entries = [str(HERE.parent), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    client.execute(env={**os.environ, "PYTHONPATH": os.pathsep.join(path_entries)})
    normalise(nb)
    return nb


def write_atomically(nb, path: pathlib.Path) -> None:
    """Write ``nb`` over ``path`` through a temporary file in the same folder, keeping the file's mode."""
    import nbformat

    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(nbformat.writes(nb) + "\n")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    """Execute the notebooks named on the command line (all by default) and save them with outputs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook file names, paths or unique prefixes (default: all)")
    args = parser.parse_args(argv)
    paths = notebooks(args.names)
    # The kernel inherits this environment: an MPLBACKEND such as Agg would stop plt.show() from showing figures.
    os.environ.pop("MPLBACKEND", None)
    os.environ["PYTHONHASHSEED"] = "0"
    failed = []
    start = time.perf_counter()
    for path in paths:
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="speedoflight-notebook-") as workdir:
            try:
                nb = execute(path, workdir)
            except Exception as exc:  # report and go on with the others; the file is left untouched
                print(f"FAILED {path.name}: {type(exc).__name__}: {str(exc).strip()[-2000:]}", file=sys.stderr)
                failed.append(path.name)
                continue
        write_atomically(nb, path)
        size = path.stat().st_size / 1024
        print(f"{path.name}: {time.perf_counter() - t0:.0f} s, {size:.0f} KiB", flush=True)
    print(f"{len(paths) - len(failed)} of {len(paths)} notebooks executed in {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
