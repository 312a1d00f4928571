"""How the readers read a source: one frozen value instead of the same five parameters in every orchestrator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._config import DEFAULT_CHUNK_BYTES

__all__ = ["READ_FIELDS", "ReadOptions"]


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
