"""Score distributions and their shifts: quantiles, the Kolmogorov-Smirnov distance, densities.

ISO/IEC 19795-10 asks a demographic evaluation to report shifts in comparison score
by group. These functions read scores the way the audit holds them: exact and sorted
(:class:`~faceparity.metrics.rates.SortedScores`), or as a histogram with an exact tail
(:class:`~faceparity.metrics.distribution.HistogramScores`, the streaming engine's
non-mated scores), so that they cost nothing more at scale.

* Quantiles interpolate linearly between order statistics (Hyndman and Fan 1996,
  "Sample quantiles in statistical packages", definition 7; numpy's and R's default).
  From a histogram, an order statistic below the exact tail is its bin's midpoint, so a
  quantile is within half a bin width of the exact one.
* The two-sample Kolmogorov-Smirnov distance is ``sup_x |F_a(x) - F_b(x)|`` of the two
  empirical distribution functions (Kolmogorov 1933, Smirnov 1939; scipy's
  ``ks_2samp`` statistic). From histograms it is exact in the tail and read at the bin
  edges below it, a lower bound; :func:`ks_distance` also returns the largest value
  the bins allow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceparity.metrics.distribution import HistogramScores
from faceparity.metrics.rates import SortedScores

__all__ = ["Scores", "KsDistance", "count_below", "density_counts", "ks_distance", "quantiles"]

Scores = SortedScores | HistogramScores
"""Similarity scores as the audit holds them: exact and sorted, or binned with an exact tail."""


def count_below(scores: Scores, t: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Number of scores ``< t`` (exact for a histogram at bin edges and in its tail)."""
    t_arr = np.asarray(t, dtype=np.float64)
    if isinstance(scores, SortedScores):
        return np.asarray(np.searchsorted(scores.values, t_arr, side="left"), dtype=np.int64)
    return np.asarray(len(scores) - scores.count_at_or_above(t_arr), dtype=np.int64)


def _order_statistics(scores: Scores, ranks: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The scores at 0-based ``ranks``, ascending (bin midpoints below a histogram's tail)."""
    if isinstance(scores, SortedScores):
        return np.asarray(scores.values[ranks], dtype=np.float64)
    n_below_tail = len(scores) - scores.tail.size
    in_tail = ranks >= n_below_tail
    out = np.empty(ranks.shape, dtype=np.float64)
    out[in_tail] = scores.tail[ranks[in_tail] - n_below_tail]
    # below[b]: scores in bins < b; the bin of rank r is the last b with below[b] <= r.
    below = len(scores) - scores.above
    bins = np.searchsorted(below, ranks[~in_tail], side="right") - 1
    out[~in_tail] = scores.edges[bins] + 0.5 * scores.grid.width
    return out


def quantiles(
    scores: Scores, probabilities: Sequence[float] | npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Quantiles of ``scores`` at ``probabilities`` (Hyndman-Fan definition 7); NaN when empty.

    Examples
    --------
    >>> quantiles(SortedScores([1.0, 2.0, 3.0, 4.0]), [0.0, 0.5, 1.0]).tolist()
    [1.0, 2.5, 4.0]

    """
    p = np.asarray(probabilities, dtype=np.float64)
    n = len(scores)
    if n == 0:
        return np.full(p.shape, np.nan)
    h = (n - 1) * p
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    x_lo, x_hi = _order_statistics(scores, lo), _order_statistics(scores, hi)
    w = h - lo
    with np.errstate(over="ignore", invalid="ignore"):
        q = x_lo + w * (x_hi - x_lo)
    # Scores near the largest float overflow their difference: the weighted mean does not.
    far = ~np.isfinite(q)
    q[far] = (1.0 - w[far]) * x_lo[far] + w[far] * x_hi[far]
    return np.asarray(q, dtype=np.float64)


@dataclass(frozen=True)
class KsDistance:
    """The two-sample Kolmogorov-Smirnov distance and the largest value the data allow.

    ``high`` equals ``value`` when both samples are exact; from histograms, ``value`` is
    read at the bin edges (a lower bound) and ``high`` bounds it from above.
    """

    value: float
    high: float


def _points(scores: Scores) -> npt.NDArray[np.float64]:
    """Thresholds where counts are exact and every jump of the distribution function lies."""
    if isinstance(scores, SortedScores):
        return scores.values
    return scores.candidates()


def ks_distance(a: Scores, b: Scores) -> KsDistance | None:
    """``sup_x |F_a(x) - F_b(x)|`` of two samples' empirical distributions; None if one is empty.

    The supremum is taken over the left limits ``F(x-)`` at every score, which give the
    same supremum as the distribution functions themselves. A histogram is read at its
    bin edges below its tail (both samples must then share the grid and the tail edge,
    as the views of one accumulator do).
    """
    n_a, n_b = len(a), len(b)
    if not n_a or not n_b:
        return None
    if a is b:
        return KsDistance(value=0.0, high=0.0)
    if isinstance(a, SortedScores) and isinstance(b, SortedScores):
        return _ks_exact(a.values, b.values)
    if (
        isinstance(a, HistogramScores)
        and isinstance(b, HistogramScores)
        and a.grid == b.grid
        and a.tail_bin == b.tail_bin
    ):
        return _ks_binned(a, b)
    return _ks_points(a, b)


def _ks_points(a: Scores, b: Scores) -> KsDistance:
    """:func:`ks_distance` read at every point of both samples.

    A histogram's points are its bin edges below its tail and its tail's scores; a
    sorted sample's, its scores.
    """
    n_a, n_b = len(a), len(b)
    # The supremum over the points of both is the larger of the suprema over each:
    # no sorted union of the two (a million points each at a full tail) is made.
    value = 0.0
    for x in (_points(a), _points(b)):
        if x.size:
            diff = np.abs(count_below(a, x) / n_a - count_below(b, x) / n_b)
            value = max(value, float(diff.max()))
    high = value
    for hist in (s for s in (a, b) if isinstance(s, HistogramScores)):
        edges = hist.edges[: hist.tail_bin + 1]
        if edges.size < 2:
            continue
        ga, gb = count_below(a, edges) / n_a, count_below(b, edges) / n_b
        # Inside a bin, each F lies between its values at the bin's two edges.
        widest = np.maximum(ga[1:] - gb[:-1], gb[1:] - ga[:-1])
        high = max(high, float(widest.max()))
    return KsDistance(value=value, high=min(high, 1.0))


def _ks_binned(a: HistogramScores, b: HistogramScores) -> KsDistance:
    """:func:`ks_distance` of two histograms on one grid with one tail edge.

    Views of one accumulator: the same points and numbers as :func:`_ks_points`, the
    bin edges' counts read off the bins. Below the tail each distribution function at
    an edge is its count of the bins below it (no search per edge); only the scores of
    the two tails are searched.
    """
    n_a, n_b, k = len(a), len(b), a.tail_bin
    ga = (n_a - a.above[: k + 1]) / n_a
    gb = (n_b - b.above[: k + 1]) / n_b
    value = float(np.abs(ga - gb).max())
    for own, other in ((a, b), (b, a)):  # at the scores of each tail
        x = own.tail
        if x.size:
            below_own = len(own) - x.size + _first_of_runs(x)
            below_other = _below_in_tail(other, x)
            diff = np.abs(below_own / len(own) - below_other / len(other))
            value = max(value, float(diff.max()))
    high = value
    if k >= 1:  # inside a bin, each F lies between its values at the bin's two edges
        widest = np.maximum(ga[1:] - gb[:-1], gb[1:] - ga[:-1])
        high = max(high, float(widest.max()))
    return KsDistance(value=value, high=min(high, 1.0))


def _below_in_tail(scores: HistogramScores, x: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """:func:`count_below` at sorted points ``x`` at or above the histogram's tail edge.

    Many more points than tail scores: each tail score is searched among the points
    instead, and the counts summed along them.
    """
    tail = scores.tail
    if 8 * tail.size < x.size:
        # The points above tail score i are those from the i-th search result on.
        starts = np.searchsorted(x, tail, side="right")
        found = np.cumsum(np.bincount(starts, minlength=x.size + 1))[: x.size]
    else:
        found = np.searchsorted(tail, x, side="left")
    return np.asarray(len(scores) - tail.size + found, dtype=np.int64)


def _first_of_runs(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """For sorted ``values``, the index of the first value equal to each.

    A search of each in ``values`` itself (``side="left"``), in one pass.
    """
    index = np.arange(values.size, dtype=np.int64)
    index[1:][values[1:] == values[:-1]] = 0
    return np.asarray(np.maximum.accumulate(index), dtype=np.int64)


def _ks_exact(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> KsDistance:
    """The distance of two sorted samples, read at the points of the smaller one only.

    Between two consecutive points of the smaller sample its distribution function is
    constant and the other's only rises, so the largest difference on that stretch lies
    at one of its ends: the left limit at a point, or the value at a point. That costs
    a binary search per point of the smaller sample in the larger one, not a sort of both.
    """
    small, large = (a, b) if a.size <= b.size else (b, a)
    # The distinct values of the smaller sample and where each run of ties starts and ends.
    first = np.ones(small.size, dtype=bool)
    np.not_equal(small[1:], small[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], small.size)
    values = small[starts]
    value = 0.0
    for side, own in (("left", starts), ("right", ends)):
        f_large = np.searchsorted(large, values, side=side) / large.size  # type: ignore[call-overload]
        value = max(value, float(np.max(np.abs(own / small.size - f_large))))
    return KsDistance(value=value, high=value)


def density_counts(scores: Scores, edges: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Scores per bin ``[edges[i], edges[i + 1])``; scores outside the edges join the end bins.

    Exact for a histogram when every edge is one of its bin edges or lies in its tail.
    """
    below = count_below(scores, edges)
    counts = np.diff(below)
    counts[0] += below[0]
    counts[-1] += len(scores) - below[-1]
    return np.asarray(counts, dtype=np.int64)
