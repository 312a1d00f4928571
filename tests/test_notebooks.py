"""Notebooks run top to bottom, end with a figure, and are committed with the outputs of such a run.

The committed outputs are what GitHub shows. ``notebooks/execute.py`` writes them; here a fresh run must give
outputs of the same structure (kinds and mime types per code cell; the numbers and pixels may move).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import pathlib

import pytest

pytestmark = pytest.mark.e2e

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXTRA = "needs the [test] extra (nbclient, nbformat, ipykernel)"
MAX_BYTES = 400_000  # figures as PNG at matplotlib's default 100 dpi: the largest notebook is about 280 kB


def _load_execute():
    spec = importlib.util.spec_from_file_location("notebooks_execute", ROOT / "notebooks" / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


execute = _load_execute()


def _fix(path: pathlib.Path) -> str:
    return f"regenerate it: python3 notebooks/execute.py {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes_and_matches_its_committed_outputs(path, tmp_path, monkeypatch):
    pytest.importorskip("nbformat", reason=EXTRA)
    pytest.importorskip("nbclient", reason=EXTRA)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel inherits it; Agg would hide every figure
    committed = json.loads(path.read_text(encoding="utf-8"))
    first = committed["cells"][0]
    assert first["cell_type"] == "markdown"
    assert "Question" in "".join(first["source"])
    nb = execute.execute(path, str(tmp_path))  # once, in a temporary folder, as notebooks/execute.py does
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert any("image/png" in o.get("data", {}) for o in last.outputs)
    problem = execute.mismatch(committed, nb)
    assert problem is None, f"{path.name}: committed outputs do not match a fresh run: {problem}; {_fix(path)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_with_its_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert execute.has_figure(nb), f"{path.name} is committed without its figures; {_fix(path)}"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1)), _fix(path)
    assert not [c for c in nb["cells"] if "execution" in c.get("metadata", {})], _fix(path)  # timings churn diffs
    assert path.stat().st_size < MAX_BYTES, f"{path.name}: {path.stat().st_size} bytes; smaller figures?"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_ends_with_a_takeaway_in_prose(path):
    """The last cell says what the figures and tables showed, with numbers; never a bare heading such as '## Figure'."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    last = cells[-1]
    assert last["cell_type"] == "markdown", f"{path.name} ends on a code cell, with no takeaway after it"
    prose = [ln for ln in "".join(last["source"]).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    words = " ".join(prose).split()
    assert len(words) >= 40, f"{path.name}: the last cell is a heading or a line, not a takeaway"
    assert any(ch.isdigit() for ch in " ".join(prose)), f"{path.name}: the takeaway states no numbers"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_finds_its_data_under_any_install(path):
    code = "".join(
        "".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"
    )
    assert "shipped_data(" in code, path.name
    for fragile in ("parents[", "__file__", "../data", '"data/'):
        assert fragile not in code, f"{path.name} finds files through {fragile!r}; use speedoflight.shipped_data"


def _stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def _figure(pixels: str) -> dict:
    data = {"image/png": pixels, "text/plain": "<Figure size 800x500 with 1 Axes>"}
    return {"output_type": "display_data", "data": data, "metadata": {}}


def _notebook(*outputs: list[dict]) -> dict:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "**Question.** What?"}]
    for i, outs in enumerate(outputs, start=1):
        cells.append({"cell_type": "code", "execution_count": i, "metadata": {}, "outputs": outs, "source": "x"})
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_the_structure_check_ignores_values_and_catches_stripped_or_changed_outputs():
    committed = _notebook([_stream("mu = 1.234\n")], [_figure("iVBORw0KGgo=")])
    # other numbers, other pixels, one print delivered in two chunks: the same structure
    fresh = _notebook([_stream("mu = 1."), _stream("235\n")], [_figure("iVBORw0KGgoAAAA=")])
    assert execute.mismatch(committed, fresh) is None

    stripped = copy.deepcopy(committed)
    for cell in stripped["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    assert "no figure" in execute.mismatch(stripped, fresh)

    warned = _notebook([_stream("mu = 1.235\n"), _stream("RuntimeWarning\n", "stderr")], [_figure("x")])
    assert "code cell 1" in execute.mismatch(committed, warned)
    svg = _notebook([_stream("mu = 1.235\n")], [_figure("x")])
    svg["cells"][2]["outputs"][0]["data"]["image/svg+xml"] = "<svg/>"
    assert "code cell 2" in execute.mismatch(committed, svg)
    longer = _notebook([_stream("mu = 1.235\n")], [_figure("x")], [])
    assert "2 code cells committed, 3" in execute.mismatch(committed, longer)


def test_the_committed_notebooks_with_their_outputs_stripped_fail_the_check():
    for path in NOTEBOOKS:
        committed = json.loads(path.read_text(encoding="utf-8"))
        assert execute.mismatch(committed, committed) is None
        stripped = copy.deepcopy(committed)
        for cell in stripped["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"] = []
        assert execute.mismatch(stripped, committed) is not None, path.name


def test_normalise_strips_what_varies_between_runs():
    nbformat = pytest.importorskip("nbformat", reason=EXTRA)
    nb = _notebook([_stream("a"), _stream("b\n"), _stream("w\n", "stderr")], [_figure("x")])
    nb["metadata"] = {"language_info": {"name": "python", "version": "3.11.7"}}
    nb["cells"][1]["execution_count"] = 7
    nb["cells"][1]["metadata"]["execution"] = {"iopub.execute_input": "2025-01-01T00:00:00Z"}
    result = {"output_type": "execute_result", "execution_count": 9, "data": {}, "metadata": {}}
    nb["cells"][2]["outputs"].append(result)
    node = nbformat.from_dict(nb)
    execute.normalise(node)
    code = [c for c in node.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2]
    assert code[1].outputs[-1].execution_count == 2
    assert [(o.name, o.text) for o in code[0].outputs] == [("stdout", "ab\n"), ("stderr", "w\n")]
    assert "execution" not in code[0].metadata
    assert node.metadata.language_info == {"name": "python"}
