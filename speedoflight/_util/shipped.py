"""The shipped data the default ``speedoflight report`` reads, and where to find it.

The files live in the repository's ``data/``; a wheel carries them as
``speedoflight/_data/`` (``setup.py`` copies ``REPORT_FILES`` there), so
``pip install .`` followed by ``speedoflight report`` works from any folder.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

__all__ = ["REPORT_FILES", "SHIPPED", "shipped_data"]

#: The default report's inputs, by role (files in ``data/``).
SHIPPED: dict[str, list[str]] = {
    "dump": ["smollm2-t1-x8.npz"],
    "measured": ["measured-smollm2-t1.jsonl"],
    "oracle": ["oracle-smollm2-t1.npz", "oracle-gemma3-270m-t1.npz"],
    "pool": ["smollm2-t1-x8.npz", "gemma3-270m-t1-x8.npz"],
}

#: Every file of :data:`SHIPPED` once, in the order above: what the wheel carries (``setup.py`` reads this literal).
REPORT_FILES = [
    "smollm2-t1-x8.npz",
    "measured-smollm2-t1.jsonl",
    "oracle-smollm2-t1.npz",
    "oracle-gemma3-270m-t1.npz",
    "gemma3-270m-t1-x8.npz",
]


def shipped_data() -> Path:
    """Return the folder of the shipped data.

    Returns
    -------
    Path
        ``./data`` if it holds every file of :data:`REPORT_FILES`, else the
        repository's ``data/`` beside the package (a source checkout or an
        editable install), else the copy inside an installed wheel.

    Raises
    ------
    InputError
        When none of them holds the files.

    """
    package = Path(__file__).resolve().parents[1]  # speedoflight/ (this file is in speedoflight/_util/)
    for folder in (Path.cwd() / "data", package.parent / "data", package / "_data"):
        if all((folder / f).is_file() for f in REPORT_FILES):
            return folder
    raise InputError(
        "the shipped data (data/smollm2-t1-x8.npz, ...) was not found; run from the repository's root folder, "
        "reinstall the package, or give --dump and --measured"
    )
