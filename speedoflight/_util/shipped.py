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


def shipped_data(*files: str) -> Path:
    """Return the folder of the shipped data.

    Parameters
    ----------
    *files
        The files (or folders, such as ``"pair"``) of ``data/`` the caller needs; none: every file of
        :data:`REPORT_FILES`.

    Returns
    -------
    Path
        ``./data`` if it holds them, else the repository's ``data/`` beside
        the package (a source checkout or an editable install), else the copy
        inside an installed wheel (which holds :data:`REPORT_FILES` only).

    Raises
    ------
    InputError
        When none of them holds the files; it names those a wheel does not carry.

    """
    package = Path(__file__).resolve().parents[1]  # speedoflight/ (this file is in speedoflight/_util/)
    need = files or tuple(REPORT_FILES)
    for folder in (Path.cwd() / "data", package.parent / "data", package / "_data"):
        if all((folder / f).exists() for f in need):
            return folder
    only_in_git = [f for f in need if f not in REPORT_FILES]
    if only_in_git:
        raise InputError(
            f"{', '.join(only_in_git)}: not found; only a checkout of the repository has them in its data/ (an "
            f"installed wheel carries {', '.join(REPORT_FILES)}): run from the repository's root folder"
        )
    raise InputError(
        "the shipped data (data/smollm2-t1-x8.npz, ...) was not found; run from the repository's root folder, "
        "reinstall the package, or give {dump} and {measured}",
        param=("dump", "measured"),
    )
