"""The project's own files: measured acceptance (``measure``) and exact oracle curves (``oracle``), read and written.

Also the files the project writes for others: engine settings snippets
(:mod:`.engines`), NVIDIA specdec_bench profiles (:mod:`.profile`), the
optimum's JSON (:mod:`.optimum`) and CSV/JSON tables (:mod:`.tables`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._util.lazy import lazy_exports

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .engines import engine_snippets as engine_snippets
    from .measured import MeasureRun as MeasureRun
    from .measured import read_measured as read_measured
    from .measured import write_measured as write_measured
    from .optimum import write_optimum as write_optimum
    from .oracle import OracleResult as OracleResult
    from .oracle import load_oracle as load_oracle
    from .oracle import save_oracle as save_oracle
    from .profile import build_profile as build_profile
    from .tables import read_table as read_table
    from .tables import write_table as write_table

#: The public names by the module that defines them, each imported on first use.
_LAZY = {
    ".measured": ["read_measured", "write_measured", "MeasureRun"],
    ".oracle": ["load_oracle", "save_oracle", "OracleResult"],
    ".profile": ["build_profile"],
    ".engines": ["engine_snippets"],
    ".optimum": ["write_optimum"],
    ".tables": ["read_table", "write_table"],
}

__all__ = [
    "MeasureRun",
    "OracleResult",
    "build_profile",
    "engine_snippets",
    "load_oracle",
    "read_measured",
    "read_table",
    "save_oracle",
    "write_measured",
    "write_optimum",
    "write_table",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
