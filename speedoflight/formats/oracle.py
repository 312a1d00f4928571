"""The ``speedoflight-oracle`` file: exact real-model curves E[X*(P)] per prefix (``speedoflight oracle``).

An ``.npz`` without pickles: ``curves [prefixes, P]``, ``depths`` (of every
popped node), ``kinds`` (prompt kinds) and ``metadata`` (JSON: format,
version, temperature, lookahead, work counters, model, prompts, versions,
command).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .._util.jsonsafe import loads as json_loads
from ..errors import InputError

__all__ = ["LoadedOracle", "OracleResult", "load_oracle", "save_oracle"]


@dataclass(frozen=True)
class OracleResult:
    """Per-prefix exact curves E[X*(P)], P = 1..pmax, and their mean over prefixes.

    ``ci_low``/``ci_high`` is a Student-t interval over prefixes (it reflects
    the between-prefix variance; NaN with one prefix). ``depths[j, i]`` is the
    depth of the i-th node popped for prefix j (the optimal tree of size P is
    the first P pops).
    """

    P: np.ndarray
    curves: np.ndarray
    mean: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    depths: np.ndarray
    kinds: list[str]
    temperature: float
    confidence: float
    lookahead: int
    forwards: int
    tokens_forwarded: int
    nodes_forwarded: int
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def forwards_per_s(self) -> float:
        """Forward passes per second (prefix passes included)."""
        return self.forwards / self.seconds if self.seconds > 0 else math.nan

    @property
    def wasted_fraction(self) -> float:
        """Fraction of forwarded tree nodes never popped (the cost of lookahead)."""
        popped = self.curves.size
        return 1.0 - popped / self.nodes_forwarded if self.nodes_forwarded else 0.0


def save_oracle(path: str, res: OracleResult) -> None:
    """Write an oracle result as ``.npz`` (no pickles) atomically: curves, depths, kinds, metadata JSON.

    Parameters
    ----------
    path
        File to write; must end in ``.npz``.
    res
        The result: its curves, depths (stored as int16), kinds, settings and work counters are
        written, with ``res.meta`` merged into the metadata.

    Raises
    ------
    InputError
        When ``path`` does not end in ``.npz``.

    """
    import json

    from .._util.atomic import atomic_path

    if not path.lower().endswith(".npz"):
        raise InputError(f"{{out}} {path}: oracle curves are written as .npz; end the name with .npz", param="out")
    meta = {
        "format": "speedoflight-oracle",
        "version": 1,
        "temperature": res.temperature,
        "lookahead": res.lookahead,
        "confidence": res.confidence,
        "forwards": res.forwards,
        "tokens_forwarded": res.tokens_forwarded,
        "nodes_forwarded": res.nodes_forwarded,
        "seconds": round(res.seconds, 2),
        **res.meta,
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            curves=res.curves,
            depths=res.depths.astype(np.int16),
            kinds=np.array(res.kinds),
            metadata=np.array(json.dumps(meta, sort_keys=True)),
        )


class LoadedOracle(NamedTuple):
    """An oracle file's arrays by name (a tuple too: ``curves, depths, kinds, meta = load_oracle(path)``).

    Attributes
    ----------
    curves : ndarray
        ``[prefixes, P]``: the exact curves E[X*(P)] per prefix.
    depths : ndarray
        The depth of every popped node per prefix.
    kinds : list of str
        The prompt kinds.
    meta : dict
        The metadata (``model``, ``prompt_index``, ``position``, ...).

    """

    curves: np.ndarray
    depths: np.ndarray
    kinds: list[str]
    meta: dict[str, Any]


def load_oracle(path: str) -> LoadedOracle:
    """Read a file written by :func:`save_oracle`: its curves, depths, kinds and metadata.

    Parameters
    ----------
    path
        An ``.npz`` file written by :func:`save_oracle`.

    Returns
    -------
    LoadedOracle
        ``(curves [prefixes, P], depths, kinds, meta)``, by name or unpacked: the exact curves E[X*(P)] per
        prefix, the depth of every popped node per prefix, the prompt kinds and the metadata dict.

    Raises
    ------
    InputError
        When the file is missing or is not a speedoflight oracle file.

    """
    import json
    import zipfile

    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            curves, depths, kinds = z["curves"], z["depths"], [str(k) for k in z["kinds"]]
            meta = json_loads(str(z["metadata"]))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except KeyError as exc:
        name = str(exc.args[0]).removesuffix(" is not a file in the archive") if exc.args else "?"
        raise InputError(
            f"{path}: not a speedoflight oracle file (no {name!r} array); make one with `speedoflight oracle --out`"
        ) from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a speedoflight oracle file ({exc}); re-create it with `oracle --out`") from None
    if not isinstance(meta, dict) or meta.get("format") != "speedoflight-oracle" or curves.ndim != 2:
        raise InputError(f"{path}: not a speedoflight oracle file; re-create it with `speedoflight oracle --out`")
    return LoadedOracle(curves, depths, kinds, meta)
