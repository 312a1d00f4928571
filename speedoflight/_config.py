"""Numerical settings in one place: tolerances and the jit flags.

Nothing else in the package sets a fastmath flag (``tests/test_project.py``
checks that), and the row checks of the kernels take their tolerance from
:func:`sum_tolerance`.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_CONFIDENCE",
    "FASTMATH",
    "KEEP_CAP",
    "KEEP_FLOOR",
    "MIN_TEMPERATURE",
    "MISSING_LOGPROB",
    "TAIL_MASS",
    "sum_tolerance",
]

#: The default truncation of the rows the simulations use (``--top-k`` not given; docs/theory.md section 3.6): a
#: row keeps its largest tokens until the mass it leaves out is below TAIL_MASS, with at least KEEP_FLOOR (all it
#: lists where it lists fewer) and at most KEEP_CAP entries. A best tree of P nodes never uses a token past its
#: parent's P-th, so with full rows the dropped-tail value is exact for P <= KEEP_FLOOR; KEEP_CAP bounds memory.
TAIL_MASS = 0.01
KEEP_FLOOR = 256
KEEP_CAP = 4096

#: The least temperature > 0 the rows are rescaled to. Below it 1/T overflows float64, while at it every row of
#: float32 or 16-bit values is already the greedy one-hot (neighbouring values differ by >= 1e-45, times 1e300);
#: use 0 for greedy decoding.
MIN_TEMPERATURE = 1e-300

#: fastmath flags for the kernels: reassociation lets LLVM vectorise the row
#: sums; no ``nnan``/``ninf``, because the kernels must see NaN and inf to
#: report them.
FASTMATH = frozenset({"reassoc", "contract", "arcp", "nsz"})

#: Tolerance for "probabilities sum to one" and "log-probabilities sum to one"
#: on full rows, by storage dtype: the larger of 1e-4 and the dtype's machine
#: epsilon (a rounded row of n values can drift by up to n * eps / 2 relative
#: per element, but in total by at most eps / 2 of the row's mass). The same
#: tolerance lets a log-probability be a hair above 0 and a probability a hair
#: above 1 (log_softmax in float32 can give +1e-7 for a certain token).
_SUM_TOL_FLOOR = 1e-4


def sum_tolerance(dtype: np.dtype | str) -> float:
    """Return the tolerance on a row's total probability for a storage dtype.

    Parameters
    ----------
    dtype
        Storage dtype of the values (float16, bfloat16, float32, float64).

    Returns
    -------
    float
        ``max(1e-4, eps(dtype))``: 1e-4 for float32/float64, about 9.8e-4
        for float16 and 7.8e-3 for bfloat16.

    """
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    eps = {"float16": 2.0**-10, "bfloat16": 2.0**-7}.get(name, 0.0)
    return max(_SUM_TOL_FLOOR, eps)


#: Values at or below this are "not in the top k" markers (OpenAI uses -9999).
MISSING_LOGPROB = -9999.0

#: Default bytes per chunk when reading arrays (bounds the working memory).
DEFAULT_CHUNK_BYTES = 64 * 2**20

#: Defaults for the confidence intervals.
DEFAULT_CONFIDENCE = 0.95
DEFAULT_BOOTSTRAP = 2000
