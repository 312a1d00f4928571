"""The break-even batch: the largest batch size at which speculation still pays (speedup >= 1).

At batch B every sequence shares the verifier's pass, so the pass turns compute-bound at a P about B times smaller
and each draft token costs more of the GPU: the best speedup falls with B. The break-even batch is found by
doubling, then bisecting, on the same best-setting search the batch table uses (it assumes, as the roofline gives,
a speedup that does not rise with B).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["MAX_BATCH", "break_even"]

#: The largest batch size searched; beyond it the answer is "above MAX_BATCH".
MAX_BATCH = 4096


def break_even(speedup_at: Callable[[int], float], bmax: int = MAX_BATCH) -> int:
    """Return the largest batch B in 1..bmax at which ``speedup_at(B) >= 1``.

    Parameters
    ----------
    speedup_at
        The best speedup at batch B.
    bmax
        The largest batch searched.

    Returns
    -------
    int
        0 where speculation does not pay even at batch 1; ``bmax`` where it still pays there (the break-even batch
        lies beyond the search).

    """
    if not speedup_at(1) >= 1.0:
        return 0
    ok, bad = 1, 2
    while bad <= bmax and speedup_at(bad) >= 1.0:
        ok, bad = bad, 2 * bad
    if bad > bmax:
        return bmax if speedup_at(bmax) >= 1.0 else _bisect(speedup_at, ok, bmax)
    return _bisect(speedup_at, ok, bad)


def _bisect(speedup_at: Callable[[int], float], ok: int, bad: int) -> int:
    """Return the largest paying batch between ``ok`` (pays) and ``bad`` (does not)."""
    while bad - ok > 1:
        mid = (ok + bad) // 2
        if speedup_at(mid) >= 1.0:
            ok = mid
        else:
            bad = mid
    return ok
