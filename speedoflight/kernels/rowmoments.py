"""Per-row entropy H and second log-moment M2 of logged distributions.

:func:`row_moments` is the thin public face of the kernels in
:mod:`speedoflight.kernels.moments`: it validates the request, picks the kernel for
the storage dtype, and turns a bad row into an :class:`InputError` naming the
file and the row.

Temperature
-----------
Logits ``z`` at temperature ``T`` give ``softmax(z / T)``. Full-vocabulary
log-probabilities differ from logits by a per-row constant, so dividing them
by ``T`` gives exactly the same distribution; for probabilities the package
uses ``log p / T``, also exact. For top-k rows the tail is unknown, so a
temperature other than 1 cannot be applied and is refused. ``T = 0`` means
greedy decoding: every row has ``H = M2 = 0``.
"""

from __future__ import annotations

import functools

import numpy as np

from .._config import MIN_TEMPERATURE, MISSING_LOGPROB, sum_tolerance
from ..errors import InputError
from . import moments as K

__all__ = ["check_rows", "row_moments"]

_KIND_CODE = {"logits": K.KIND_LOGITS, "logprobs": K.KIND_LOGPROBS, "probs": K.KIND_PROBS}
_STATUS_TEXT = {
    K.STATUS_NAN: "contains NaN; re-export the values (NaN cannot be a logit or a probability)",
    K.STATUS_POSINF: "contains +inf; re-export the values (+inf cannot be a logit or a log-probability)",
    K.STATUS_NO_MASS: "has no finite entry (all -inf or all missing); drop the row or fix the export",
    K.STATUS_LOGPROB_POSITIVE: "has a log-probability above 0; these may be logits (pass {{kind}} logits)",
    K.STATUS_PROB_RANGE: "has a probability outside [0, 1]; these may be logits or log-probabilities ({{kind}})",
    K.STATUS_SUM_NOT_ONE: (
        "does not sum to 1 (tolerance {tol:g}); a row as wide as the vocabulary is read as a whole distribution: "
        "if it holds only the top k, give the full vocabulary's size with {{vocab_size}}"
    ),
    K.STATUS_SUM_ABOVE_ONE: "has top-k probabilities summing above 1 (tolerance {tol:g}); check {{kind}}",
    K.STATUS_TAIL_INFEASIBLE: (
        "lists too little mass for its vocabulary: the rest cannot fit in the unlisted tokens "
        "below the smallest listed probability; check {{vocab_size}}"
    ),
}


@functools.lru_cache(maxsize=16)
def _table(dtype_name: str, kind: str, temperature: float, full: bool, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """``(e^x, x e^x, x^2 e^x, x)`` and status bits for all 65,536 codes of a 16-bit float."""
    codes = np.arange(65536, dtype=np.uint16)
    with np.errstate(invalid="ignore"):  # the NaN codes
        if dtype_name == "float16":
            v = codes.view(np.float16).astype(np.float64)
        else:
            import ml_dtypes  # only for bfloat16 input (its import costs about half a second)

            v = codes.view(ml_dtypes.bfloat16).astype(np.float64)
    flags = np.zeros(65536, dtype=np.int64)
    nan = np.isnan(v)
    flags[nan] |= 1 << K.STATUS_NAN
    with np.errstate(all="ignore"):
        if kind == "probs":
            flags[~nan & ((v < 0) | (v > 1 + tol))] |= 1 << K.STATUS_PROB_RANGE
            x = np.where(v > 0, np.log(np.where(v > 0, v, 1.0)), -np.inf)
        else:
            x = v.copy()
            flags[x == np.inf] |= 1 << K.STATUS_POSINF
            if kind == "logprobs":
                flags[~nan & (x > tol) & (x < np.inf)] |= 1 << K.STATUS_LOGPROB_POSITIVE
        if not full:
            x[x <= MISSING_LOGPROB] = -np.inf
        x = x / temperature
        e = np.exp(x)
        xe = np.where(e > 0, x * e, 0.0)
        x2e = np.where(e > 0, x * x * e, 0.0)
    table = np.ascontiguousarray(np.stack([e, xe, x2e, x], axis=1))
    table.setflags(write=False)
    return table, flags


def row_moments(
    values: np.ndarray,
    kind: str,
    *,
    vocab_size: int | None = None,
    temperature: float = 1.0,
    caps: np.ndarray | None = None,
    where: str = "input",
    row_offset: int = 0,
) -> np.ndarray:
    """Entropy and second log-moment of each row, as intervals.

    Parameters
    ----------
    values
        ``[n, w]`` array (float16, bfloat16, float32 or float64).
    kind
        ``"logits"``, ``"logprobs"`` or ``"probs"``.
    vocab_size
        Vocabulary size; ``w < vocab_size`` marks top-k rows (not for logits).
    temperature
        Divides the log-scale values; must be 1 for top-k rows, >= 0 otherwise.
    caps
        Optional ``[n]`` bound on an unlisted token's probability (NaN: use
        the smallest listed one).
    where, row_offset
        Used in error messages (file name; index of the first row).

    Returns
    -------
    numpy.ndarray
        ``[n, 4]`` float64: ``H_lo, H_hi, M2_lo, M2_hi`` in nats. For full
        rows the two ends agree; for top-k rows they bound the unknown tail
        between "packed" and "spread" (see the package docs).

    """
    if not isinstance(values, np.ndarray):
        raise InputError(f"{where}: values must be a numpy array [rows, vocab], got {type(values).__name__}")
    if values.ndim != 2:
        raise InputError(f"{where}: expected a 2-D array [rows, vocab], got shape {values.shape}")
    n, w = values.shape
    if vocab_size is not None and (isinstance(vocab_size, bool) or not isinstance(vocab_size, int | np.integer)):
        raise InputError(f"vocab_size must be a whole number, got {vocab_size!r}")
    if vocab_size is not None and vocab_size < 1:
        raise InputError(f"vocab_size must be at least 1, got {vocab_size}")
    if not isinstance(temperature, int | float | np.floating) or isinstance(temperature, bool):
        raise InputError(f"temperature must be a number, got {temperature!r}")
    if caps is not None:
        caps = np.asarray(caps)
        if caps.shape != (n,):
            raise InputError(f"{where}: caps must hold one value per row, shape ({n},), got {caps.shape}")
    vocab = w if vocab_size is None else int(vocab_size)
    full = w >= vocab
    if kind not in _KIND_CODE:
        raise InputError(f"{{kind}} {kind!r} is not one of {', '.join(_KIND_CODE)}", param="kind")
    if not full and kind == "logits":
        raise InputError(f"{where}: top-k rows ({w} < vocabulary {vocab}) must be log-probabilities or probabilities")
    if not np.isfinite(temperature) or temperature < 0:
        raise InputError(f"{{temperature}} must be a finite number >= 0, got {temperature}", param="temperature")
    if 0 < temperature < MIN_TEMPERATURE:
        raise InputError(
            f"{{temperature}} {temperature:g} is below {MIN_TEMPERATURE:g}, where 1/T overflows; use 0 for greedy decoding",
            param="temperature",
        )
    if not full and temperature != 1.0:
        raise InputError(
            f"{where}: a temperature other than 1 cannot be applied to top-k rows (the tail is unknown); "
            "dump the distributions at the temperature you want"
        )
    greedy = temperature == 0.0
    t_eff = 1.0 if greedy else float(temperature)
    tol = sum_tolerance(values.dtype)
    check_sum = full and kind != "logits"
    out = np.empty((n, 4))
    status = np.zeros(n, dtype=np.int64)
    caps_arr = np.full(n, np.nan) if caps is None else np.ascontiguousarray(caps, dtype=np.float64)
    name = values.dtype.name
    if name in ("float16", "bfloat16"):
        codes = np.ascontiguousarray(values).view(np.uint16)
        if check_sum and t_eff != 1.0:
            table1, flags1 = _table(name, kind, 1.0, full, tol)
            K.moments_table(codes, table1, flags1, full, vocab, tol, True, caps_arr, out, status)
            _raise_on_status(status, where, row_offset, tol)
        table, flags = _table(name, kind, t_eff, full, tol)
        K.moments_table(codes, table, flags, full, vocab, tol, check_sum and t_eff == 1.0, caps_arr, out, status)
    elif name in ("float32", "float64"):
        vals = np.ascontiguousarray(values)
        code = _KIND_CODE[kind]
        if check_sum and t_eff != 1.0:
            K.moments_float(vals, code, 1.0, full, vocab, tol, True, caps_arr, out, status)
            _raise_on_status(status, where, row_offset, tol)
        K.moments_float(vals, code, 1.0 / t_eff, full, vocab, tol, check_sum and t_eff == 1.0, caps_arr, out, status)
    else:
        raise InputError(f"{where}: dtype {values.dtype} is not float16, bfloat16, float32 or float64")
    _raise_on_status(status, where, row_offset, tol)
    if greedy:
        out[:] = 0.0
    return out


def check_rows(
    values: np.ndarray,
    kind: str,
    *,
    vocab_size: int | None = None,
    caps: np.ndarray | None = None,
    where: str = "input",
    row_offset: int = 0,
) -> None:
    """Refuse rows that no distribution gives: the one validation of rows, shared by every reader of them.

    It is :func:`row_moments`'s own check (NaN, +inf, a log-probability above 0, a probability outside [0, 1], a
    row with no mass, sums that are not 1 or exceed it, a tail that cannot fit), run on the values as stored:
    ``estimate`` runs it as it computes the moments; :func:`speedoflight.readers.scan.scan` runs it for passes
    without the estimator, and the grafted tree's readers (``optimum``, ``oracle``) for the rows they read whole.

    Parameters
    ----------
    values
        ``[n, w]`` rows as stored.
    kind
        ``"logits"``, ``"logprobs"`` or ``"probs"``.
    vocab_size
        The vocabulary's size; rows narrower than it are top-k rows.
    caps
        Optional ``[n]`` bound on an unlisted token's probability.
    where, row_offset
        The file and the index of the first row, for the message.

    Raises
    ------
    InputError
        Naming the file, the first bad row and what is wrong with it.

    """
    row_moments(values, kind, vocab_size=vocab_size, caps=caps, where=where, row_offset=row_offset)


def _raise_on_status(status: np.ndarray, where: str, row_offset: int, tol: float) -> None:
    bad = np.flatnonzero(status)
    if bad.size:
        r = int(bad[0])
        more = f" ({bad.size} rows in this chunk are bad)" if bad.size > 1 else ""
        text = _STATUS_TEXT[int(status[r])].format(tol=tol)
        raise InputError(f"{where}: row {row_offset + r} {text}{more}", param=("kind", "vocab_size"))
