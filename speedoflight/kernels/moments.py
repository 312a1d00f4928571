"""Private numba kernels, behind one factory.

:func:`speedoflight.kernels._jit._jit` is the only numba decorator of the package; the
flags it uses come from :mod:`speedoflight._config`. Public code calls the
kernels through :func:`speedoflight.kernels.rowmoments.row_moments`, which validates input and
turns status codes into :class:`~speedoflight.errors.InputError`.

Per row the kernels return ``(H_lo, H_hi, M2_lo, M2_hi)`` (equal pairs for a
full row) and a status code (see ``STATUS_*``). Notation: ``x`` is a row's
value on the log scale (a logit divided by the temperature, a
log-probability, or the log of a probability).

Full rows use the sums ``S_k = sum_i e^{x_i} x_i^k`` (k = 0, 1, 2), from which
``log Z = log S_0``, ``H = log Z - S_1/S_0`` and
``M2 = S_2/S_0 - 2 log Z S_1/S_0 + (log Z)^2``. For 16-bit input the three
terms ``e^x, x e^x, x^2 e^x`` come from a 65,536-entry table, so the hot loop
has no ``exp`` at all; rows whose ``S_0`` leaves a safe range are recomputed
with the usual max shift.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .._config import MISSING_LOGPROB
from ._jit import _jit

__all__ = [
    "KIND_LOGITS",
    "KIND_LOGPROBS",
    "KIND_PROBS",
    "STATUS_LOGPROB_POSITIVE",
    "STATUS_NAN",
    "STATUS_NO_MASS",
    "STATUS_OK",
    "STATUS_POSINF",
    "STATUS_PROB_RANGE",
    "STATUS_SUM_ABOVE_ONE",
    "STATUS_SUM_NOT_ONE",
    "STATUS_TAIL_INFEASIBLE",
    "TAIL_DROP",
    "TAIL_LUMP",
    "atom_histogram",
    "moments_float",
    "moments_table",
    "threshold_infimum",
    "threshold_replicates",
]

#: Below this, ``exp(y)`` is exactly 0.0 in float64 (the least subnormal is exp(-744.44)), so a term is skipped
#: without changing any sum. Comparing with -inf instead let a temperature of 1e-19 through with y near -1e20,
#: whose vectorised exp and y*y gave NaN: the greedy limit came out as n/a.
EXP_UNDERFLOW = -746.0

# What the values of a row are.
KIND_LOGITS = 0
KIND_LOGPROBS = 1
KIND_PROBS = 2

# Row status codes; bit ``1 << code`` is set in a row's flag word.
STATUS_OK = 0
STATUS_NAN = 1
STATUS_POSINF = 2
STATUS_NO_MASS = 3
STATUS_LOGPROB_POSITIVE = 4
STATUS_PROB_RANGE = 5
STATUS_SUM_NOT_ONE = 6
STATUS_SUM_ABOVE_ONE = 7
STATUS_TAIL_INFEASIBLE = 8

# The unshifted fast path is used only while e^{-40} < S_0 < e^{40}, which
# keeps |log Z| <= 40 and the cancellation in M2 below ~1e-12 absolute.
_S0_LO = math.exp(-40.0)
_S0_HI = math.exp(40.0)
_INV_E = math.exp(-1.0)


@_jit()
def _first_status(bits):
    for code in range(1, 16):
        if bits & (1 << code):
            return code
    return STATUS_OK


@_jit()
def _element_bits(v, kind, full, tol):
    """Return (x on the log scale before temperature, flag bits) for a value."""
    bits = 0
    if v != v:
        return -np.inf, 1 << STATUS_NAN
    if kind == KIND_PROBS:
        if v < 0.0 or v > 1.0 + tol:
            bits |= 1 << STATUS_PROB_RANGE
        x = math.log(v) if v > 0.0 else -np.inf
    else:
        x = v
        if x == np.inf:
            bits |= 1 << STATUS_POSINF
        elif kind == KIND_LOGPROBS and x > tol:
            bits |= 1 << STATUS_LOGPROB_POSITIVE
    if not full and x <= MISSING_LOGPROB:
        x = -np.inf
    return x, bits


@_jit()
def _tail_interval(r, cap, slots):
    """Bounds on the tail's contribution to (H, M2).

    ``r`` tail mass, spread over at most ``slots`` tokens of probability at
    most ``cap`` each. Packed (fewest, largest tokens) gives the lower end,
    spread evenly the upper end, by concavity of ``-x log x`` on (0, 1) and of
    ``x log^2 x`` on (0, 1/e). Where tail tokens may exceed 1/e the lower end
    for M2 falls back to ``r log^2(max token)``, which still holds because
    ``log^2`` decreases on (0, 1).
    """
    if r <= 0.0:
        return 0.0, 0.0, 0.0, 0.0
    q = r / slots
    lq = math.log(q)
    h_hi = -r * lq
    m_hi = r * lq * lq
    lc = math.log(cap)
    n_full = math.floor(r / cap)
    rem = r - n_full * cap
    h_lo = -n_full * cap * lc
    m_lo = n_full * cap * lc * lc
    if rem > 0.0:
        lr = math.log(rem)
        h_lo -= rem * lr
        m_lo += rem * lr * lr
    biggest = min(cap, r)
    if biggest > _INV_E:
        lb = math.log(biggest)
        m_lo = r * lb * lb
    return min(h_lo, h_hi), h_hi, min(m_lo, m_hi), m_hi


@_jit()
def _finish_full(s0, s1, s2, out, r):
    """Entropy and second log-moment of a full row from its sums S_0..S_2."""
    log_z = math.log(s0)
    ex = s1 / s0
    ex2 = s2 / s0
    h = log_z - ex
    m2 = ex2 - 2.0 * log_z * ex + log_z * log_z
    # Rounding can leave H a hair below 0 or M2 a hair below H^2.
    h = max(h, 0.0)
    m2 = max(m2, h * h)
    out[r, 0] = h
    out[r, 1] = h
    out[r, 2] = m2
    out[r, 3] = m2


@_jit()
def _truncated_row(xs, cap_r, vocab, tol, out, status, r):
    """Interval for a top-k row of log-probabilities ``xs``: listed part exactly, tail between packed and spread."""
    mass = 0.0
    h_listed = 0.0
    m_listed = 0.0
    count = 0
    p_min = np.inf
    for x in xs:
        if x > MISSING_LOGPROB:
            p = math.exp(x)
            if p > 0.0:
                mass += p
                h_listed -= p * x
                m_listed += p * x * x
                count += 1
                p_min = min(p_min, p)
    if count == 0:
        status[r] = STATUS_NO_MASS
        return
    if mass > 1.0 + tol:
        status[r] = STATUS_SUM_ABOVE_ONE
        return
    tail = max(1.0 - mass, 0.0)
    cap = cap_r if cap_r == cap_r else p_min
    slots = vocab - count
    if tail > tol and (slots <= 0 or tail - tol > slots * cap):
        status[r] = STATUS_TAIL_INFEASIBLE
        return
    if slots <= 0:
        tail = 0.0
        slots = 1
    tail = min(tail, slots * cap)
    h_lo, h_hi, m_lo, m_hi = _tail_interval(tail, cap, slots)
    out[r, 0] = h_listed + h_lo
    out[r, 1] = h_listed + h_hi
    out[r, 2] = m_listed + m_lo
    out[r, 3] = m_listed + m_hi


@_jit(parallel=True)
def moments_table(codes, table, flags, full, vocab, tol, check_sum, caps, out, status):
    """Row moments for 16-bit input given as raw codes (uint16).

    ``table[c] = (e^x, x e^x, x^2 e^x, x)`` for the value with code ``c``
    (already divided by the temperature), ``flags[c]`` its status bits.
    ``check_sum`` asks for ``|sum_i e^{x_i} - 1| <= tol`` on full rows.
    """
    n, w = codes.shape
    for r in numba.prange(n):
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        bits = 0
        for j in range(w):
            c = codes[r, j]
            s0 += table[c, 0]
            s1 += table[c, 1]
            s2 += table[c, 2]
            bits |= flags[c]
        status[r] = _first_status(bits)
        if status[r] != STATUS_OK:
            continue
        if not full:
            xs = np.empty(w)
            for j in range(w):
                xs[j] = table[codes[r, j], 3]
            _truncated_row(xs, caps[r], vocab, tol, out, status, r)
            continue
        if s0 > _S0_LO and s0 < _S0_HI:
            if check_sum and abs(s0 - 1.0) > tol:
                status[r] = STATUS_SUM_NOT_ONE
                continue
            _finish_full(s0, s1, s2, out, r)
            continue
        # Slow path: shift by the row max.
        m = -np.inf
        for j in range(w):
            m = max(m, table[codes[r, j], 3])
        if m == -np.inf:
            status[r] = STATUS_NO_MASS
            continue
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        for j in range(w):
            y = table[codes[r, j], 3] - m
            if y > EXP_UNDERFLOW:  # exp(y) is exactly 0 below: skipping changes no sum, and y*y cannot overflow
                e = math.exp(y)
                s0 += e
                s1 += e * y
                s2 += e * y * y
        if check_sum and abs(m + math.log(s0)) > tol:
            status[r] = STATUS_SUM_NOT_ONE
            continue
        _finish_full(s0, s1, s2, out, r)


@_jit(parallel=True)
def moments_float(values, kind, inv_t, full, vocab, tol, check_sum, caps, out, status):
    """Row moments for float32/float64 values of the given kind.

    Two passes per row: the max (with validation), then the shifted sums.
    ``inv_t`` multiplies the log-scale values (1/temperature); the sum check
    applies to the scaled values, so callers ask for it only with ``inv_t = 1``.
    """
    n, w = values.shape
    for r in numba.prange(n):
        m = -np.inf
        bits = 0
        for j in range(w):
            x, b = _element_bits(values[r, j], kind, full, tol)
            bits |= b
            m = max(m, x)
        status[r] = _first_status(bits)
        if status[r] != STATUS_OK:
            continue
        if m == -np.inf:
            status[r] = STATUS_NO_MASS
            continue
        if not full:
            xs = np.empty(w)
            for j in range(w):
                xs[j] = _element_bits(values[r, j], kind, full, tol)[0]
            _truncated_row(xs, caps[r], vocab, tol, out, status, r)
            continue
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        ms = m * inv_t
        for j in range(w):
            v = values[r, j]
            x = (math.log(v) if v > 0.0 else -np.inf) if kind == KIND_PROBS else v
            # shift, then scale: x * inv_t - ms, contracted to one fused multiply-add, left the max entry at the
            # rounding error of m * inv_t (+2,000 at T = 1e-19: exp overflowed and the row came out NaN)
            y = (x - m) * inv_t
            if y > EXP_UNDERFLOW:  # exp(y) is exactly 0 below: skipping changes no sum, and y*y cannot overflow
                e = math.exp(y)
                s0 += e
                s1 += e * y
                s2 += e * y * y
        if check_sum and abs(ms + math.log(s0)) > tol:
            status[r] = STATUS_SUM_NOT_ONE
            continue
        _finish_full(s0, s1, s2, out, r)


TAIL_DROP = 0
TAIL_LUMP = 1


@_jit()
def atom_histogram(lp, inv_h, tail_mode, full, weights, counts):
    """Add rows of log-probabilities to histograms of the surprisal atoms.

    Each token i of a row is an atom at ``x = -log p_i`` (bin ``round(x / h)``)
    carrying probability ``p_i`` (into ``weights``) and one node (into
    ``counts``); atoms beyond the last bin are left out. For top-k rows
    (``full`` false) the unlisted mass is dropped or lumped into one token.
    Missing entries are ``-inf`` or at most ``MISSING_LOGPROB``.
    """
    n, w = lp.shape
    n_bins = weights.shape[0]
    for r in range(n):
        mass = 0.0
        for j in range(w):
            x = lp[r, j]
            if x > MISSING_LOGPROB and x > -np.inf:
                p = math.exp(x)
                mass += p
                k = int(-x * inv_h + 0.5)
                if k < n_bins:
                    weights[k] += p
                    counts[k] += 1.0
        if not full and tail_mode == TAIL_LUMP:
            rest = 1.0 - mass
            if rest > 1e-12:
                k = int(-math.log(rest) * inv_h + 0.5)
                if k < n_bins:
                    weights[k] += rest
                    counts[k] += 1.0


@_jit()
def threshold_infimum(breaks, g_before, p_values, t_cap):
    """``min over t in [0, t_cap] of G(t) + P e^{-t}`` for a right-continuous step G.

    ``breaks`` (sorted, distinct, >= 0) are G's jump points and ``g_before[j]``
    the value of G just before ``breaks[j]`` (``g_before[len]`` after the last).
    On each step G is constant while ``P e^{-t}`` falls, so the infimum over a
    step is approached at its right end: the candidates are ``g_before[j] +
    P e^{-breaks[j]}`` and ``G(t_cap) + P e^{-t_cap}``.
    """
    out = np.empty(p_values.shape[0])
    nb = breaks.shape[0]
    for i in range(p_values.shape[0]):
        P = p_values[i]
        best = np.inf
        last = 0
        for j in range(nb):
            if breaks[j] > t_cap or g_before[j] >= best:
                break  # G only grows: no later candidate can do better
            v = g_before[j] + P * math.exp(-breaks[j])
            if v < best:
                best = v
            last = j + 1
        v = g_before[last] + P * math.exp(-t_cap)
        if v < best:
            best = v
        out[i] = best
    return out


@_jit(parallel=True)
def threshold_replicates(breaks, owner, weights, p_values, t_cap, idx, reps, g_reps):
    """:func:`threshold_infimum` for every bootstrap replicate of a weighted step function, in one call.

    Replicate ``b``'s G jumps by ``weights[b, owner[j]]`` at ``breaks[j]`` (``owner[j]`` the continuation the
    break belongs to), so ``g_before = [0, cumsum(weights[b, owner])]``. Fills ``reps[b, i]`` with the infimum
    at ``p_values[i]``, capped at it, and ``g_reps[b, k]`` with ``g_before[idx[k]]`` (G on a grid). The sums run in
    the order ``numpy.cumsum`` adds them, so the values equal the one-replicate-at-a-time ones bit for bit
    (replicates run in parallel, each on its own).
    """
    nb = breaks.shape[0]
    for b in numba.prange(weights.shape[0]):  # replicates apart: each its own G, the same values in any order
        gb = np.empty(nb + 1)
        gb[0] = 0.0
        acc = 0.0
        for j in range(nb):
            acc += weights[b, owner[j]]
            gb[j + 1] = acc
        vals = threshold_infimum(breaks, gb, p_values, t_cap)
        for i in range(p_values.shape[0]):
            reps[b, i] = min(vals[i], p_values[i])
        for k in range(idx.shape[0]):
            g_reps[b, k] = gb[idx[k]]
