"""Comparisons and reports: measured drafters against the ceiling, the real optimum against the theory.

:mod:`.compare` (measured drafters against the ceiling; its function
``compare`` is ``speedoflight.compare``, since the module holds that name
here), :mod:`.evidence` (the real optimum against the theory),
:mod:`.report` (the whole report), :mod:`.export` (engine settings from the
ceiling or a measured drafter), :mod:`.advice` and :mod:`.settings` (the best
P and depth, in each engine's terms), :mod:`.validation`, and the figures:
:mod:`.figures` and :mod:`.plots` draw, :mod:`.styles` says how. matplotlib
is imported only when a figure is drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._util.lazy import lazy_exports

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .advice import Advice as Advice
    from .advice import advise as advise
    from .compare import Comparison as Comparison
    from .compare import write_comparison as write_comparison
    from .evidence import RealComparison as RealComparison
    from .evidence import compare_real as compare_real
    from .evidence import figure as evidence_figure
    from .evidence import write_evidence as write_evidence
    from .export import Export as Export
    from .export import export_ceiling as export_ceiling
    from .export import export_measured as export_measured
    from .figures import compare_figure as compare_figure
    from .figures import position_figure as position_figure
    from .plots import law_figure as law_figure
    from .plots import save_figure as save_figure
    from .plots import tradeoff_figure as tradeoff_figure
    from .report import run_report as run_report
    from .settings import EngineSettings as EngineSettings
    from .settings import engine_settings as engine_settings
    from .styles import CURVE_STYLES as CURVE_STYLES
    from .styles import POLICY_STYLES as POLICY_STYLES
    from .styles import CurveStyle as CurveStyle
    from .styles import curve_style as curve_style
    from .styles import drafter_style as drafter_style
    from .styles import drafter_styles as drafter_styles
    from .styles import policy_style as policy_style
    from .validation import against_oracle as against_oracle
    from .validation import thinned as thinned

#: The public names by the module that defines them, each imported on first use.
_LAZY = {
    ".compare": ["Comparison", "write_comparison"],
    ".evidence": ["compare_real", "RealComparison", "write_evidence", "evidence_figure=figure"],
    ".report": ["run_report"],
    ".export": ["export_ceiling", "export_measured", "Export"],
    ".advice": ["advise", "Advice"],
    ".settings": ["engine_settings", "EngineSettings"],
    ".validation": ["against_oracle", "thinned"],
    ".figures": ["compare_figure", "position_figure"],
    ".plots": ["tradeoff_figure", "law_figure", "save_figure"],
    ".styles": [
        "curve_style",
        "drafter_style",
        "drafter_styles",
        "policy_style",
        "CURVE_STYLES",
        "POLICY_STYLES",
        "CurveStyle",
    ],
}

__all__ = [
    "CURVE_STYLES",
    "POLICY_STYLES",
    "Advice",
    "Comparison",
    "CurveStyle",
    "EngineSettings",
    "Export",
    "RealComparison",
    "advise",
    "against_oracle",
    "compare_figure",
    "compare_real",
    "curve_style",
    "drafter_style",
    "drafter_styles",
    "engine_settings",
    "evidence_figure",
    "export_ceiling",
    "export_measured",
    "law_figure",
    "policy_style",
    "position_figure",
    "run_report",
    "save_figure",
    "thinned",
    "tradeoff_figure",
    "write_comparison",
    "write_evidence",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
