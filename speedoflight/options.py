"""The options every orchestrator shares: how to read a source, and how a run goes.

:class:`ReadOptions` replaces the reading parameters (``kind``, ``vocab_size``, ``temperature``, ``tensor``,
``chunk_bytes``) and :class:`RunOptions` the running ones (``seed``, ``progress``, ``client``) that
:func:`~speedoflight.estimate`, :func:`~speedoflight.bound_curve`, :func:`~speedoflight.compare`,
:func:`~speedoflight.optimum` and :func:`~speedoflight.run_report` each repeated. They still take the old keywords,
with a :class:`DeprecationWarning`, through :func:`split_legacy`. Like :mod:`speedoflight.errors`, this module sits
beside the layers: every layer may import it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields, replace
from typing import Any

from ._config import DEFAULT_CHUNK_BYTES

__all__ = ["READ_FIELDS", "RUN_FIELDS", "ReadOptions", "RunOptions", "split_legacy"]


@dataclass(frozen=True)
class ReadOptions:
    """The reading parameters of :func:`~speedoflight.readers.open_source`, shared by every orchestrator.

    Attributes
    ----------
    kind
        What the values are: ``"logits"``, ``"logprobs"`` or ``"probs"`` (None: from the file, else guessed).
    vocab_size
        The vocabulary's size, for top-k rows that do not record it.
    temperature
        Divides logits (or log-probabilities) before the softmax.
    tensor
        The array to read inside an ``.npz``/``.pt``/``.safetensors`` holding several.
    chunk_bytes
        The memory of one chunk of rows.

    """

    kind: str | None = None
    vocab_size: int | None = None
    temperature: float = 1.0
    tensor: str | None = None
    chunk_bytes: int = DEFAULT_CHUNK_BYTES

    def source_kwargs(self) -> dict[str, Any]:
        """Give the keywords of :func:`~speedoflight.readers.open_source` (``chunk_bytes`` goes to the scan).

        Returns
        -------
        dict
            ``kind``, ``vocab_size``, ``temperature`` and ``tensor``.

        """
        return {
            "kind": self.kind,
            "vocab_size": self.vocab_size,
            "temperature": self.temperature,
            "tensor": self.tensor,
        }


#: The fields of :class:`ReadOptions`, the old keywords of the orchestrators.
READ_FIELDS = ("kind", "vocab_size", "temperature", "tensor", "chunk_bytes")


@dataclass(frozen=True)
class RunOptions:
    """How a computation runs, not what it computes (the numbers depend only on ``seed``).

    Attributes
    ----------
    seed
        The random seed of every draw (simulation, bootstrap, pool sampling).
    progress
        Show progress bars and name the stages on stderr.
    client
        A dask client (:func:`speedoflight._util.dist.connect`), or None to run here.

    """

    seed: int = 0
    progress: bool = False
    client: Any = None


#: The fields of :class:`RunOptions`, the old keywords of the orchestrators.
RUN_FIELDS = ("seed", "progress", "client")


def split_legacy(where: str, legacy: dict[str, Any], **options: tuple[type[Any], Any]) -> tuple[Any, ...]:
    """Fold the old keywords of ``where`` into its option values, with one DeprecationWarning.

    Parameters
    ----------
    where
        The function's name, for the warning and for an unknown keyword's TypeError.
    legacy
        The keywords given besides the function's own (its ``**legacy``).
    **options
        For each option parameter (``read=``, ``run=``): its class and the value given (None: the defaults).

    Returns
    -------
    tuple
        One value per option, in the order given: the value, with the old keywords of its fields replaced.

    Raises
    ------
    TypeError
        A keyword that is no field of any option, as Python says for an unknown keyword.

    """
    known = {f.name: name for name, (cls, _) in options.items() for f in fields(cls)}
    unknown = sorted(set(legacy) - set(known))
    if unknown:
        raise TypeError(f"{where}() got an unexpected keyword argument {unknown[0]!r}")
    if legacy:
        warnings.warn(
            f"{where}({', '.join(f'{k}=' for k in legacy)}) is deprecated: pass "
            + " and ".join(
                f"{name}={cls.__name__}({', '.join(f'{k}=...' for k in legacy if known[k] == name)})"
                for name, (cls, _) in options.items()
                if any(known[k] == name for k in legacy)
            ),
            DeprecationWarning,
            stacklevel=3,
        )
    out = []
    for name, (cls, value) in options.items():
        value = cls() if value is None else value
        mine = {k: v for k, v in legacy.items() if known[k] == name}
        out.append(replace(value, **mine) if mine else value)
    return tuple(out)
