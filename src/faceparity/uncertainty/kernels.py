"""Compiled loops of the subject bootstrap (numba; this module is imported on first use).

Each replicate of :mod:`faceparity.uncertainty.bootstrap` draws a weight for every
subject, reweights the scores a view holds and reads thresholds, counts and an EER
from the cumulative weights; these loops do each in one pass without intermediate
arrays. They are compiled on first use and cached on disk.
"""

# mypy: disable-error-code="no-untyped-def"

from __future__ import annotations

import numpy as np

from faceparity._jit import jit

__all__ = ["cumulative", "eer", "linear_total", "poisson_inverse", "warm"]


@jit()
def poisson_inverse(uniforms, cdf, out):
    """Poisson(1) draws by inversion: the number of CDF values at or below each uniform.

    The first eight are compared without a branch (a loop the compiler vectorises);
    the rare larger draws (P(X >= 8) < 1e-5) are finished one by one.
    """
    c0, c1, c2, c3, c4, c5, c6, c7 = (
        cdf[0],
        cdf[1],
        cdf[2],
        cdf[3],
        cdf[4],
        cdf[5],
        cdf[6],
        cdf[7],
    )
    for i in range(uniforms.size):
        u = uniforms[i]
        out[i] = (
            np.int32(u >= c0)
            + np.int32(u >= c1)
            + np.int32(u >= c2)
            + np.int32(u >= c3)
            + np.int32(u >= c4)
            + np.int32(u >= c5)
            + np.int32(u >= c6)
            + np.int32(u >= c7)
        )
    for i in range(uniforms.size):
        if out[i] == 8:
            k = 8
            while k < cdf.size and uniforms[i] >= cdf[k]:
                k += 1
            out[i] = k


@jit()
def cumulative(w, a, b, mated):
    """Cumulative weights of the held comparisons: ``w_a`` (mated) or ``w_a * w_b``."""
    out = np.empty(a.size, dtype=np.int64)
    total = 0
    for k in range(a.size):
        if mated:
            total += w[a[k]]
        else:
            total += w[a[k]] * w[b[k]]
        out[k] = total
    return out


@jit()
def linear_total(w, subjects, degrees, n):
    """``n + sum_a (w_a - 1) d_a`` over the subjects of a view."""
    total = n
    for k in range(subjects.size):
        total += (w[subjects[k]] - 1) * degrees[k]
    return total


@jit(inline="always")
def at_or_above(values, cum, t):
    held = cum[-1] if cum.size else 0
    k = np.searchsorted(values, t, side="left")
    return held - (cum[k - 1] if k > 0 else 0)


@jit()
def last_true(c, strict, mv, mcum, m_total, nv, ncum, nm_total):
    # The last index of c where FNMR <= FMR (strict: <) holds, -1 if none; it
    # holds up to some index and fails after it.
    lo, hi = -1, c.size - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        t = c[mid]
        fmr = at_or_above(nv, ncum, t) / nm_total
        fnmr = (m_total - at_or_above(mv, mcum, t)) / m_total
        if (fnmr < fmr) if strict else (fnmr <= fmr):
            lo = mid
        else:
            hi = mid - 1
    return lo


@jit()
def eer(mv, mcum, m_total, m_distinct, nv, ncum, nm_total, floor, nm_distinct):
    """``equal_error_rate_of`` (faceparity.metrics.rates) on two weighted lists, step for step.

    Returns ``(found, eer, low, high, threshold)``.
    """
    # The candidates at or above the floor: a suffix of each ascending list (no copy).
    mc = m_distinct[np.searchsorted(m_distinct, floor, side="left") :]
    nc = nm_distinct[np.searchsorted(nm_distinct, floor, side="left") :]
    if mc.size == 0 and nc.size == 0:
        return False, 0.0, 0.0, 0.0, 0.0
    top = -np.inf
    if mc.size:
        top = max(top, mc[-1])
    if nc.size:
        top = max(top, nc[-1])
    sentinel = np.array([np.nextafter(top, np.inf)])
    t1, t2 = -np.inf, np.inf
    found_below, found_above = False, False
    for which in range(3):
        c = mc if which == 0 else (nc if which == 1 else sentinel)
        if c.size == 0:
            continue
        i = last_true(c, False, mv, mcum, m_total, nv, ncum, nm_total)
        if i >= 0:
            t1 = max(t1, c[i])
            found_below = True
        j = last_true(c, True, mv, mcum, m_total, nv, ncum, nm_total) + 1
        if j < c.size:
            t2 = min(t2, c[j])
            found_above = True
    if not found_below or not found_above:
        return False, 0.0, 0.0, 0.0, 0.0
    fmr1 = at_or_above(nv, ncum, t1) / nm_total
    fnmr1 = (m_total - at_or_above(mv, mcum, t1)) / m_total
    fmr2 = at_or_above(nv, ncum, t2) / nm_total
    fnmr2 = (m_total - at_or_above(mv, mcum, t2)) / m_total
    if fnmr1 + fmr1 <= fnmr2 + fmr2:
        return True, (fnmr1 + fmr1) / 2.0, fnmr1, fmr1, t1
    return True, (fmr2 + fnmr2) / 2.0, fmr2, fnmr2, t2


def warm():
    """Load every loop here now (from numba's cache): each called on tiny inputs.

    The inputs have the bootstrap's types (no other specialisation is compiled), so
    that a command can load the loops on a second thread while its engine runs
    (:mod:`faceparity.workflow.preload`).
    """
    weights, subjects = np.ones(2, dtype=np.int32), np.zeros(2, dtype=np.int64)
    cumulative(weights, subjects, subjects, False)
    cumulative(weights, subjects, subjects, True)
    linear_total(weights, subjects, subjects, 2)
    poisson_inverse(np.zeros(2), np.linspace(0.5, 1.0, 8), np.empty(2, dtype=np.int32))
    values, cum = np.array([0.0, 1.0]), np.array([1, 2], dtype=np.int64)
    eer(values, cum, 2, values, values, cum, 2, -np.inf, values)
