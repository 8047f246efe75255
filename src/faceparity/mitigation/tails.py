"""Calibration of similarity scores to a context's own empirical non-mated tail.

A score ``s`` of a group becomes ``-ln FMR_g(s)``, with ``FMR_g(s)`` the share of the
group's non-mated training comparisons scoring at least ``s`` (the audit's rule: a
comparison matches when its score is at or above the threshold). The map is the
empirical survival function of the non-mated scores, interpolated: linear in ``-ln FMR``
between knots (the distinct training scores, every one of the top
:data:`EXACT_TOP` counts, then one per 2% step of the count), and continued beyond the
lowest and highest knots along the slope of the :data:`EDGE_SPAN` outermost knots, so it
is strictly increasing everywhere and keeps the order of every group's scores.

A global threshold on the mapped scores at ``-ln t`` is then, at the knots, each
group's own threshold at FMR ``t`` (the per-group thresholds of Robinson et al. 2020 at
every target at once); the probability of a false match per group is what the
calibration claims, which is the part of "calibration per group" that an FMR-based
audit reads. Only non-mated comparisons are read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceparity.mitigation.contexts import each_side, log_shares
from faceparity.results.mitigation import ContextTail

__all__ = ["EDGE_SPAN", "EXACT_TOP", "MIN_TAIL", "combine_tails", "fit_tail", "tail_scores"]

FloatArray = npt.NDArray[np.float64]

EXACT_TOP = 200
"""Counts (scores at or above a knot) up to which every distinct score is a knot."""

STEP = 1.02
"""Above :data:`EXACT_TOP`, one knot per this factor of the count."""

EDGE_SPAN = 10
"""Knots over which the slope of the continuation beyond either end is measured."""

MIN_TAIL = 10
"""Fewest non-mated comparisons a group needs for its own map (else it reads the global one)."""


def fit_tail(context: str, non_mated: FloatArray, *, minimum: int = MIN_TAIL) -> ContextTail:
    """The empirical tail map of ``non_mated`` (similarities).

    Its knots are None with fewer than ``minimum`` scores or fewer than two distinct ones.

    Examples
    --------
    >>> t = fit_tail("F", np.array([0.1, 0.2, 0.2, 0.4] * 3))
    >>> t.scores, [round(v, 3) for v in t.neg_log_fmr]
    ([0.1, 0.2, 0.4], [0.0, 0.288, 1.386])

    """
    values = np.sort(np.asarray(non_mated, dtype=np.float64))
    n = len(values)
    distinct, first = np.unique(values, return_index=True)
    if n < minimum or len(distinct) < 2:
        return ContextTail(context, None, None, n)
    count = n - first  # scores at or above each distinct value: decreasing
    step = np.floor(np.log(np.maximum(count, 1) / EXACT_TOP) / np.log(STEP))
    bucket = np.where(count <= EXACT_TOP, -1 - np.arange(len(count)), step)
    # One knot per bucket (its lowest score), every knot among the top counts, and the minimum.
    _, keep = np.unique(bucket, return_index=True)
    keep = np.union1d(keep, [0])
    z = np.log(n) - np.log(count[keep])
    return ContextTail(context, distinct[keep].tolist(), z.tolist(), n)


def _slopes(x: FloatArray, z: FloatArray) -> tuple[float, float]:
    """Slopes of ``z`` over the lowest and highest :data:`EDGE_SPAN` knots."""
    m = min(EDGE_SPAN, len(x) - 1)
    low = (z[m] - z[0]) / (x[m] - x[0])
    high = (z[-1] - z[-1 - m]) / (x[-1] - x[-1 - m])
    return float(low), float(high)


def tail_scores(tail: ContextTail, scores: FloatArray) -> FloatArray:
    """``-ln FMR`` of each score under ``tail``: interpolated, continued beyond its knots."""
    assert tail.scores is not None and tail.neg_log_fmr is not None
    x = np.asarray(tail.scores, dtype=np.float64)
    z = np.asarray(tail.neg_log_fmr, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    low, high = _slopes(x, z)
    out: FloatArray = np.interp(s, x, z)
    below, above = s < x[0], s > x[-1]
    out[below] = z[0] + low * (s[below] - x[0])
    out[above] = z[-1] + high * (s[above] - x[-1])
    return out


def combine_tails(
    scores: FloatArray,
    codes: npt.NDArray[np.integer],
    global_tail: ContextTail,
    tails: Sequence[ContextTail],
) -> FloatArray:
    """``-ln (theta FMR_a(s) + (1 - theta) FMR_b(s))`` of each comparison.

    ``FMR_a``, ``FMR_b``: each side's context map (the global one where it has none, or
    ``-1``); ``theta``: the share of side a's context in the two contexts' non-mated
    training comparisons (FairCal's combination of two contexts, Salvador et al. 2022).
    A comparison within one context reads that context's map.
    """
    maps = [t if t.scores is not None else global_tail for t in tails] + [global_tail]
    za, zb = each_side(scores, codes, maps, tail_scores)
    lt, l1t = log_shares(codes, [float(t.n_non_mated) for t in tails])
    combined: FloatArray = -np.logaddexp(lt - za, l1t - zb)
    return combined
