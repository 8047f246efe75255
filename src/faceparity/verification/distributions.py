"""The score distributions of an audit: each group's scores beside the pooled ones.

Built from the audit's partition of the scores (:mod:`faceparity.verification.audit`),
exact or from the streaming engine's histograms, with the functions of
:mod:`faceparity.metrics.shifts`. Scores are turned back into the input's direction:
for distances the ``p``-quantile is minus the ``1 - p``-quantile of the similarities
(definition 7 is symmetric), the median shift changes sign and the Kolmogorov-Smirnov
distance does not change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceparity.metrics.distribution import HistogramScores
from faceparity.metrics.rates import SortedScores
from faceparity.metrics.shifts import Scores, density_counts, ks_distance, quantiles
from faceparity.model.config import FMRScope
from faceparity.model.grouping import Grouping
from faceparity.results.distributions import (
    GroupScoreDistributions,
    ScoreDistribution,
    ScoreDistributions,
)
from faceparity.verification.operating_points import Partition

__all__ = ["DENSITY_BINS", "PROBABILITIES", "score_distributions"]

PROBABILITIES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
"""The quantiles reported (the median is the shift's)."""
DENSITY_BINS = 40
"""About how many bins the densities are drawn with."""

NOTE_DEFINITIONS = (
    "quantiles interpolate linearly between order statistics (Hyndman and Fan 1996, "
    "definition 7); median shift: the group's median minus the pooled median; ks: the "
    "two-sample Kolmogorov-Smirnov distance between the group's scores and the pooled "
    "scores (which include the group's), with n the counts behind it; no p-value is "
    "given, as comparisons sharing a subject are not independent"
)


def _edges(mated: SortedScores, non_mated: Scores, n_bins: int) -> npt.NDArray[np.float64]:
    """Shared density edges covering every score (on the histogram's grid when there is one)."""
    ends = [quantiles(s, [0.0, 1.0]) for s in (mated, non_mated) if len(s)]
    lo = min(float(e[0]) for e in ends)
    hi = max(float(e[1]) for e in ends)
    if isinstance(non_mated, HistogramScores):
        grid = non_mated.grid
        first = math.floor(math.ldexp(lo, grid.exponent))
        last = math.ceil(math.ldexp(hi, grid.exponent)) + 1
        step = max(1, math.ceil((last - first) / n_bins))
        ticks = np.arange(first, last + step, step, dtype=np.float64)
        return np.ldexp(ticks, -grid.exponent)
    if hi <= lo:  # one score: a bin beside it, on the side where no float overflows
        span = max(1.0, abs(lo) * 2.0**-20)
        lo, hi = (lo - span, lo) if lo > 0 else (lo, lo + span)
    # Weighted means, not lo + step * i: the span of scores near the largest float overflows.
    t = np.arange(n_bins + 1, dtype=np.float64) / n_bins
    edges = lo * (1.0 - t) + hi * t
    edges[0], edges[-1] = lo, hi
    return np.unique(edges)  # ascending, without the repeats of a span of a few floats


def _one(
    scores: Scores,
    pooled: Scores,
    pooled_median: float,
    edges: npt.NDArray[np.float64],
    sign: float,
) -> ScoreDistribution:
    probs = np.asarray(PROBABILITIES) if sign > 0 else 1.0 - np.asarray(PROBABILITIES)
    q = sign * quantiles(scores, probs)
    median = sign * float(quantiles(scores, [0.5])[0])
    shift = median - pooled_median
    ks = ks_distance(scores, pooled)
    counts = density_counts(scores, edges) if len(scores) else np.zeros(edges.size - 1, np.int64)
    if sign < 0:
        counts = counts[::-1]
    return ScoreDistribution(
        n=len(scores),
        quantiles=[float(v) if math.isfinite(v) else None for v in q],
        median_shift=shift if math.isfinite(shift) else None,
        ks=None if ks is None else ks.value,
        density=[int(c) for c in counts],
        ks_high=None if ks is None or ks.high == ks.value else ks.high,
    )


NOTE_MATCHED = (
    "FMR scope matched: a group's non-mated scores are those of comparisons within the "
    "group, while the pooled non-mated scores include every cross-group comparison, which "
    "usually scores lower; so every group's non-mated median may lie above the pooled one"
)


def score_distributions(
    part: Partition[SortedScores],
    grouping: Grouping,
    *,
    sign: float,
    labels: Sequence[str] | None = None,
    fmr_scope: FMRScope = FMRScope.MATCHED,
) -> ScoreDistributions | None:
    """Quantiles, median shift, KS distance and densities of every group's scores.

    Parameters
    ----------
    part : Partition
        The audit's scores, as similarities.
    grouping : Grouping
        The groups, in the order of ``part``.
    sign : float
        1.0 for a similarity input, -1.0 for a distance input.
    labels : sequence of str, optional
        The groups' labels (default: the grouping's).
    fmr_scope : FMRScope
        Which non-mated comparisons are a group's (noted when ``matched``).

    Returns
    -------
    ScoreDistributions or None
        None when the audit has no score at all.

    """
    pooled_m, pooled_nm = part.overall_mated, part.overall_non_mated
    if not len(pooled_m) and not len(pooled_nm):
        return None
    assert isinstance(pooled_nm, SortedScores | HistogramScores)
    edges = _edges(pooled_m, pooled_nm, DENSITY_BINS)
    medians = [sign * float(quantiles(s, [0.5])[0]) for s in (pooled_m, pooled_nm)]

    def group(
        attributes: dict[str, str], label: str, mated: SortedScores, non_mated: Scores
    ) -> GroupScoreDistributions:
        return GroupScoreDistributions(
            attributes=attributes,
            label=label,
            mated=_one(mated, pooled_m, medians[0], edges, sign),
            non_mated=_one(non_mated, pooled_nm, medians[1], edges, sign),
        )

    names = list(labels) if labels is not None else [g.label for g in grouping.groups]
    groups = []
    for i, g in enumerate(grouping.groups):
        nm = part.group_non_mated[i]
        assert isinstance(nm, SortedScores | HistogramScores)
        groups.append(group(g.as_dict(), names[i], part.group_mated[i], nm))
    notes = [NOTE_DEFINITIONS]
    if fmr_scope is FMRScope.MATCHED:
        notes.append(NOTE_MATCHED)
    width = None
    if isinstance(pooled_nm, HistogramScores):
        width = pooled_nm.grid.width
        notes.append(
            f"non-mated scores from the streaming engine's histograms (bins of width "
            f"{width:.3g}, exact at or above {sign * pooled_nm.tail_edge!r}): their "
            "quantiles below the exact tail are within half a bin width of the exact ones, "
            "and their KS distance is read at the bin edges (a lower bound; ks_high bounds "
            "it from above); mated scores are exact"
        )
    shown = sign * edges if sign > 0 else (sign * edges)[::-1]
    return ScoreDistributions(
        probabilities=list(PROBABILITIES),
        edges=[float(e) for e in shown],
        reference="pooled",
        overall=group({}, "overall", pooled_m, pooled_nm),
        groups=groups,
        histogram_bin_width=width,
        notes=notes,
    )
