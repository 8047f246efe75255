"""Exact 1:1 verification error rates on lists of comparison scores.

Definitions (ISO/IEC 19795-1): a comparison is declared a *match* when its
similarity score is at or above the threshold (a distance at or below it).

* FMR(t): the proportion of non-mated comparisons declared a match.
* FNMR(t): the proportion of mated comparisons not declared a match.

Every function takes the scores of mated and non-mated comparisons first and the
options keyword-only, with the score direction always explicit. Internally scores
are turned into similarities by exact negation, so a distance input and its negated
similarity give identical rates and thresholds that differ only in sign.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from faceparity.model.config import ScoreKind

__all__ = [
    "DetCurve",
    "MatedCounts",
    "ScoreCounts",
    "EqualErrorRate",
    "SortedScores",
    "det_curve",
    "equal_error_rate",
    "equal_error_rate_of",
    "fmr_fnmr",
    "fnmr_at_fmr",
    "max_false_matches",
    "threshold_at_fmr",
]


class ScoreCounts(Protocol):
    """What the audit asks of a set of non-mated similarity scores, however they are held."""

    def __len__(self) -> int: ...

    def count_at_or_above(self, t: float | npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Number of scores ``>= t``."""
        ...

    def threshold_at_fmr(self, target_fmr: float) -> float:
        """Most permissive threshold whose FMR is at most the target."""
        ...

    def candidates(self) -> npt.NDArray[np.float64]:
        """Thresholds at which the counts change (below the highest score)."""
        ...

    def representable(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Where the counts are exact."""
        ...


class MatedCounts(Protocol):
    """What the audit asks of a set of mated similarity scores, however they are held."""

    def __len__(self) -> int: ...

    def count_below(self, t: float | npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Number of scores ``< t``."""
        ...


def _similarity(
    scores: npt.ArrayLike, score_kind: ScoreKind, *, what: str = "scores"
) -> npt.NDArray[np.float64]:
    values = np.asarray(scores, dtype=np.float64).ravel()
    if what == "scores" and not np.all(np.isfinite(values)):
        raise ValueError("scores must be finite")
    if np.any(np.isnan(values)):
        raise ValueError(f"{what} must not be NaN")
    kind = ScoreKind(score_kind)
    return values if kind is ScoreKind.SIMILARITY else -values


def _oriented_threshold(t: float, score_kind: ScoreKind) -> float:
    """Turn a similarity threshold back into the caller's direction (exact)."""
    return t if ScoreKind(score_kind) is ScoreKind.SIMILARITY else -t


class SortedScores:
    """Similarity scores sorted once, for exact counts at many thresholds.

    Parameters
    ----------
    similarity : array-like of float
        Scores where higher means more alike.

    """

    __slots__ = ("values",)

    def __init__(self, similarity: npt.ArrayLike) -> None:
        self.values = np.sort(np.asarray(similarity, dtype=np.float64).ravel())

    @classmethod
    def from_sorted(cls, values: npt.NDArray[np.float64]) -> SortedScores:
        """Wrap scores that are already sorted in ascending order (not checked)."""
        obj = cls.__new__(cls)
        obj.values = values
        return obj

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def count_at_or_above(self, t: float | npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Number of scores ``>= t`` (matches)."""
        return len(self) - np.searchsorted(self.values, t, side="left")

    def count_below(self, t: float | npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Number of scores ``< t`` (non-matches)."""
        return np.searchsorted(self.values, t, side="left")

    def candidates(self) -> npt.NDArray[np.float64]:
        """Every distinct score: the thresholds at which the counts change."""
        v = self.values  # sorted: the distinct values without another sort
        return v[np.r_[True, v[1:] != v[:-1]]] if v.size else v

    def representable(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Where counts are exact: everywhere for a list of scores."""
        return np.ones(np.shape(t), dtype=bool)

    def threshold_at_fmr(self, target_fmr: float) -> float:
        """Most permissive similarity threshold whose FMR on these scores is <= target.

        See :func:`threshold_at_fmr`.
        """
        n = len(self)
        if n == 0:
            raise ValueError("no non-mated comparisons: a threshold cannot be set")
        k = max_false_matches(n, target_fmr)
        # The (k+1)-th highest score must be rejected; everything above it may match.
        v = float(self.values[n - 1 - k])
        return float(np.nextafter(v, np.inf))


def max_false_matches(n_non_mated: int, target_fmr: float) -> int:
    """Largest number of false matches k with ``k / n_non_mated <= target_fmr``.

    The comparison is the one a reader would make on the measured FMR, in floating
    point, so the result never disagrees with ``fmr <= target_fmr``.
    """
    if not 0.0 < target_fmr < 1.0:
        raise ValueError(f"target_fmr must be in (0, 1), got {target_fmr!r}")
    if n_non_mated < 1:
        raise ValueError("no non-mated comparisons: a false match count is undefined")
    k = min(math.floor(target_fmr * n_non_mated), n_non_mated - 1)
    while k + 1 < n_non_mated and (k + 1) / n_non_mated <= target_fmr:
        k += 1
    while k > 0 and k / n_non_mated > target_fmr:
        k -= 1
    return k


def threshold_at_fmr(
    non_mated: npt.ArrayLike, *, target_fmr: float, score_kind: ScoreKind
) -> float:
    """Most permissive threshold whose measured FMR does not exceed ``target_fmr``.

    With ``n`` non-mated scores, at most ``k = max{k : k / n <= target_fmr}`` may
    match. In similarity terms the threshold is the smallest float64 strictly above
    the (k+1)-th highest non-mated score, so exactly the scores above that one
    match. Ties are never split: when the (k+1)-th score is tied with higher ones,
    all of them are rejected and the FMR reached is below the target.

    Parameters
    ----------
    non_mated : array-like of float
        Scores of non-mated comparisons.
    target_fmr : float
        Target false match rate, in (0, 1).
    score_kind : ScoreKind
        Direction of the scores; the threshold is returned in the same direction.

    Returns
    -------
    float
        The threshold. For ``DISTANCE`` scores a comparison matches when
        ``score <= threshold``.

    Examples
    --------
    >>> threshold_at_fmr([0.1, 0.2, 0.3, 0.4], target_fmr=0.25,
    ...                  score_kind=ScoreKind.SIMILARITY) > 0.3
    True

    """
    t = SortedScores(_similarity(non_mated, score_kind)).threshold_at_fmr(target_fmr)
    return _oriented_threshold(t, score_kind)


def fmr_fnmr(
    mated: npt.ArrayLike,
    non_mated: npt.ArrayLike,
    thresholds: npt.ArrayLike,
    *,
    score_kind: ScoreKind,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """FMR and FNMR at each threshold.

    Parameters
    ----------
    mated, non_mated : array-like of float
        Scores of mated and non-mated comparisons.
    thresholds : array-like of float
        Thresholds in the direction of ``score_kind``.
    score_kind : ScoreKind
        Direction of scores and thresholds.

    Returns
    -------
    fmr, fnmr : ndarray of float
        Rates at each threshold; NaN where there are no comparisons of that kind.

    """
    kind = ScoreKind(score_kind)
    m = SortedScores(_similarity(mated, kind))
    nm = SortedScores(_similarity(non_mated, kind))
    t = _similarity(thresholds, kind, what="thresholds")
    with np.errstate(invalid="ignore", divide="ignore"):
        fmr = nm.count_at_or_above(t) / (len(nm) if len(nm) else np.nan)
        fnmr = m.count_below(t) / (len(m) if len(m) else np.nan)
    return np.asarray(fmr, dtype=np.float64), np.asarray(fnmr, dtype=np.float64)


def fnmr_at_fmr(
    mated: npt.ArrayLike,
    non_mated: npt.ArrayLike,
    *,
    target_fmr: float,
    score_kind: ScoreKind,
) -> float:
    """FNMR at the threshold :func:`threshold_at_fmr` sets on ``non_mated``."""
    t = threshold_at_fmr(non_mated, target_fmr=target_fmr, score_kind=score_kind)
    _, fnmr = fmr_fnmr(mated, non_mated, [t], score_kind=score_kind)
    return float(fnmr[0])


@dataclass(frozen=True)
class DetCurve:
    """Exact DET curve: FMR and FNMR at every distinct score.

    ``thresholds`` are in the caller's score direction, ordered from the most
    permissive to the strictest (FMR non-increasing, FNMR non-decreasing). The last
    point is the strictest threshold, where nothing matches (FMR 0, FNMR 1).
    """

    thresholds: npt.NDArray[np.float64]
    fmr: npt.NDArray[np.float64]
    fnmr: npt.NDArray[np.float64]


def _candidate_thresholds(*sorted_parts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    values = np.unique(np.concatenate(sorted_parts))
    top = np.nextafter(values[-1], np.inf) if values.size else np.inf
    return np.append(values, top)


def det_curve(mated: npt.ArrayLike, non_mated: npt.ArrayLike, *, score_kind: ScoreKind) -> DetCurve:
    """FMR and FNMR at every distinct score (the exact DET curve).

    Examples
    --------
    >>> c = det_curve([0.8, 0.9], [0.1, 0.85], score_kind=ScoreKind.SIMILARITY)
    >>> c.fmr.tolist(), c.fnmr.tolist()
    ([1.0, 0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5, 1.0])

    """
    kind = ScoreKind(score_kind)
    m = SortedScores(_similarity(mated, kind))
    nm = SortedScores(_similarity(non_mated, kind))
    if not len(m) or not len(nm):
        raise ValueError("a DET curve needs both mated and non-mated comparisons")
    t = _candidate_thresholds(m.values, nm.values)
    fmr = nm.count_at_or_above(t) / len(nm)
    fnmr = m.count_below(t) / len(m)
    thresholds = t if kind is ScoreKind.SIMILARITY else -t
    return DetCurve(thresholds=thresholds, fmr=fmr.astype(np.float64), fnmr=fnmr.astype(np.float64))


@dataclass(frozen=True)
class EqualErrorRate:
    """The equal error rate and the interval it was taken from.

    Attributes
    ----------
    eer : float
        Midpoint of ``[low, high]``.
    low, high : float
        The EER interval of Maio et al. (2002).
    threshold : float
        The threshold the interval was read at, in the caller's direction.

    """

    eer: float
    low: float
    high: float
    threshold: float


def equal_error_rate(
    mated: npt.ArrayLike, non_mated: npt.ArrayLike, *, score_kind: ScoreKind
) -> EqualErrorRate:
    """Equal error rate of a step-wise DET curve, as defined for FVC2000.

    With FMR non-increasing and FNMR non-decreasing in the threshold ``t`` over the
    candidate thresholds (every distinct score, plus one above the highest):
    ``t1 = max{t : FNMR(t) <= FMR(t)}`` and ``t2 = min{t : FNMR(t) >= FMR(t)}``.
    If ``FNMR(t1) + FMR(t1) <= FNMR(t2) + FMR(t2)`` the interval is
    ``[FNMR(t1), FMR(t1)]``, otherwise ``[FMR(t2), FNMR(t2)]``; the EER is its midpoint.

    Source: D. Maio, D. Maltoni, R. Cappelli, J. L. Wayman, A. K. Jain, "FVC2000:
    Fingerprint Verification Competition", IEEE TPAMI 24(3), 2002, section 3.

    Examples
    --------
    >>> equal_error_rate([3, 4], [1, 2], score_kind=ScoreKind.SIMILARITY).eer
    0.0

    """
    kind = ScoreKind(score_kind)
    m = SortedScores(_similarity(mated, kind))
    nm = SortedScores(_similarity(non_mated, kind))
    if not len(m) or not len(nm):
        raise ValueError("an EER needs both mated and non-mated comparisons")
    e = equal_error_rate_of(m, nm)
    t = e.threshold if kind is ScoreKind.SIMILARITY else -e.threshold
    return EqualErrorRate(eer=e.eer, low=e.low, high=e.high, threshold=t)


def equal_error_rate_of(mated: SortedScores, non_mated: ScoreCounts) -> EqualErrorRate:
    """The FVC2000 equal error rate of :func:`equal_error_rate` on similarity scores.

    ``non_mated`` may be any :class:`ScoreCounts`; the candidate thresholds are those
    where its counts are exact (every distinct score of a list; bin edges and tail
    scores of a histogram), so for a histogram the EER is read on that grid.

    ``FNMR(t) <= FMR(t)`` holds up to the crossing of the two curves and fails above it,
    so ``t1`` (the largest candidate where it holds) and ``t2`` (the smallest where
    ``FNMR >= FMR``) are found by bisection in each sorted list of candidates (the mated
    scores, the non-mated candidates, the threshold above all), with a few dozen counts
    rather than one at every candidate.
    """
    n_m, n_nm = len(mated), len(non_mated)
    lists = []
    for c in (mated.candidates(), non_mated.candidates()):
        c = c[non_mated.representable(c)]
        if c.size:
            lists.append(c)
    if not lists:
        raise IndexError("no threshold where the counts are exact")
    top = max(float(c[-1]) for c in lists)
    lists.append(np.array([np.nextafter(top, np.inf)]))

    def rates(t: float) -> tuple[float, float]:
        return int(non_mated.count_at_or_above(t)) / n_nm, int(mated.count_below(t)) / n_m

    def last_true(c: npt.NDArray[np.float64], holds: Callable[[float, float], bool]) -> int:
        lo, hi = -1, c.size - 1  # holds up to some index, fails after it
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if holds(*rates(float(c[mid]))):
                lo = mid
            else:
                hi = mid - 1
        return lo

    below = [float(c[i]) for c in lists if (i := last_true(c, lambda fmr, fnmr: fnmr <= fmr)) >= 0]
    above = []
    for c in lists:
        i = last_true(c, lambda fmr, fnmr: fnmr < fmr) + 1
        if i < c.size:
            above.append(float(c[i]))
    if not below or not above:
        raise IndexError("the FMR and FNMR curves do not cross where the counts are exact")
    t1, t2 = max(below), min(above)
    (fmr1, fnmr1), (fmr2, fnmr2) = rates(t1), rates(t2)
    if fnmr1 + fmr1 <= fnmr2 + fmr2:
        low, high, t = fnmr1, fmr1, t1
    else:
        low, high, t = fmr2, fnmr2, t2
    return EqualErrorRate(eer=(low + high) / 2.0, low=low, high=high, threshold=t)
