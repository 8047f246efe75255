"""The subject-level bootstrap of every number of an audit.

Scheme
------
Each replicate draws a weight ``w_s ~ Poisson(1)`` for every subject, independently,
and reweights the comparisons: a non-mated comparison of subjects ``a`` and ``b``
enters with multiplicity ``w_a * w_b``, a mated comparison of subject ``s`` with
``w_s``. This is resampling subjects with replacement (a subject drawn twice brings
all its comparisons twice; one not drawn, none), in the Poisson form of Hanley &
MacGibbon (2006, "Creating non-parametric bootstrap samples using Poisson
frequencies", Computer Methods and Programs in Biomedicine 83:57-62), with product
weights for the crossed, two-subject structure of non-mated comparisons (Owen &
Eckles 2012, "Bootstrapping data arrays of arbitrary order", Annals of Applied
Statistics 6(3):895-927, who show such product-weight bootstraps are mildly
conservative for crossed random effects). Independent Poisson weights need no
stratification, so a subject who falls in two groups (an age band that changes
between captures) is handled like any other, and every weight is a whole number:
a replicate is a data set with multiplicities, on which the audit's own rules
(thresholds, FMR counting, summary measures) run unchanged.

Each replicate recomputes the operating points, thresholds, per-group and
cross-group rates, every summary measure and the EERs; an interval is the
percentile interval of the replicates (Efron & Tibshirani 1993, ch. 13). A number
that a replicate cannot compute (no comparisons left in a group, a threshold below
the scores held) is left out of that replicate; when more than
:data:`MAX_UNDEFINED` of the replicates cannot compute it, no interval is given.

Speed: only the highest non-mated scores of each view are reweighted, enough to
reach several times the largest target FMR and the EER (``coverage``); the
replicate's total of non-mated comparisons comes from counts per pair of subjects.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceparity.metrics.rates import max_false_matches

__all__ = ["MAX_UNDEFINED", "NotHeld", "View", "WeightedScores", "percentile_interval"]

MAX_UNDEFINED = 0.05
"""Largest share of replicates that may fail to compute a number that still gets an interval."""


class NotHeld(ValueError):
    """A count or threshold needs scores below those the bootstrap keeps."""


@dataclass(frozen=True)
class WeightedScores:
    """Similarity scores with whole-number multiplicities (a :class:`ScoreCounts`).

    Parameters
    ----------
    values : ndarray of float64
        The scores held, ascending, each with a positive weight.
    cum : ndarray of int64
        Cumulative weights of ``values`` (inclusive).
    total : int
        Total weight, including the scores below ``floor`` that are not held.
    floor : float
        Counts at or above a threshold are exact for thresholds ``>= floor``;
        ``-inf`` when every score is held.

    """

    values: npt.NDArray[np.float64]
    cum: npt.NDArray[np.int64]
    total: int
    floor: float
    distinct: npt.NDArray[np.float64] | None = None

    @classmethod
    def build(
        cls,
        values: npt.NDArray[np.float64],
        weights: npt.NDArray[np.integer],
        total: int,
        floor: float,
        distinct: npt.NDArray[np.float64] | None = None,
    ) -> WeightedScores:
        """From ascending ``values`` and their weights (zero weights count nothing).

        ``distinct`` may give the distinct values (the same in every replicate).
        """
        return cls(values, np.cumsum(weights, dtype=np.int64), int(total), floor, distinct)

    def __len__(self) -> int:
        return self.total

    @property
    def _below(self) -> int:
        """Weight of the scores not held (all below ``floor``)."""
        return self.total - (int(self.cum[-1]) if self.cum.size else 0)

    def count_at_or_above(self, t: float | npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Weighted number of scores ``>= t``."""
        held = int(self.cum[-1]) if self.cum.size else 0
        if np.ndim(t) == 0:  # one threshold: the bisections of the EER ask many
            if t < self.floor:
                raise NotHeld("a count below the scores held")
            k = int(self.values.searchsorted(t, side="left"))
            return np.int64(held - (int(self.cum[k - 1]) if k else 0))  # type: ignore[return-value]
        t_arr = np.asarray(t, dtype=np.float64)
        if np.any(t_arr < self.floor):
            raise NotHeld("a count below the scores held")
        i = np.searchsorted(self.values, t_arr, side="left")
        before = np.where(i > 0, self.cum[np.maximum(i - 1, 0)], 0) if self.cum.size else 0
        return np.asarray(held - before, dtype=np.int64)

    def count_below(self, t: float | npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Weighted number of scores ``< t`` (mated scores, all held)."""
        return self.total - self.count_at_or_above(t)

    def threshold_at_fmr(self, target_fmr: float) -> float:
        """The rule of :meth:`SortedScores.threshold_at_fmr` on the weighted scores."""
        if self.total == 0:
            raise NotHeld("no comparisons in this replicate")
        k = max_false_matches(self.total, target_fmr)
        position = self.total - 1 - k - self._below  # among the scores held, ascending
        if position < 0:
            raise NotHeld("the threshold lies below the scores held")
        i = int(np.searchsorted(self.cum, position, side="right"))
        return float(np.nextafter(self.values[i], np.inf))

    def candidates(self) -> npt.NDArray[np.float64]:
        """Distinct scores held.

        Scores of zero weight may be among them: the counts, step functions that
        change only at scores of positive weight, are the same there as at the next
        candidate up, so the EER read over them is unchanged.
        """
        if self.distinct is not None:
            return self.distinct
        v = self.values
        return v[np.r_[True, v[1:] != v[:-1]]] if v.size else v

    def representable(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Where the counts are exact: at or above ``floor``."""
        return np.asarray(t >= self.floor)


@dataclass(frozen=True)
class View:
    """The comparisons of one view (a group, a cell, overall), ready to reweight.

    It holds the highest scores of the view (ascending) with the subjects of each;
    ``pair_*`` give the number of comparisons of each pair of subjects in the whole
    view, for the replicate's total.
    """

    scores: npt.NDArray[np.float64]
    subject_a: npt.NDArray[np.int64]
    subject_b: npt.NDArray[np.int64]
    floor: float
    pair_a: npt.NDArray[np.int64]
    pair_b: npt.NDArray[np.int64]
    pair_count: npt.NDArray[np.int64]
    mated: bool

    @property
    def distinct(self) -> npt.NDArray[np.float64]:
        """The distinct scores held (computed once)."""
        cached = self.__dict__.get("_distinct")
        if cached is None:
            v = self.scores
            cached = v[np.r_[True, v[1:] != v[:-1]]] if v.size else v
            object.__setattr__(self, "_distinct", cached)
        return cached

    @classmethod
    def of(
        cls,
        scores: npt.NDArray[np.float64],
        subject_a: npt.NDArray[np.int64],
        subject_b: npt.NDArray[np.int64],
        keep: int | None,
        *,
        mated: bool = False,
    ) -> View:
        """The view of ascending ``scores``, holding at least its top ``keep`` (all if None).

        Ties with the lowest score held are held too, so counts are exact from it up.
        """
        n = scores.size
        start = 0 if keep is None or keep >= n else n - keep
        if start > 0:
            start = int(np.searchsorted(scores, scores[start], side="left"))
        floor = -math.inf if start == 0 else float(scores[start])
        lo, hi = np.minimum(subject_a, subject_b), np.maximum(subject_a, subject_b)
        width = int(hi.max(initial=0)) + 1
        keys, counts = np.unique(lo * width + hi, return_counts=True)
        return cls(
            scores[start:],
            subject_a[start:],
            subject_b[start:],
            floor,
            keys // width,
            keys % width,
            counts.astype(np.int64),
            mated,
        )

    @classmethod
    def held(
        cls,
        scores: npt.NDArray[np.float64],
        subject_a: npt.NDArray[np.int64],
        subject_b: npt.NDArray[np.int64],
        floor: float,
        *,
        mated: bool = False,
    ) -> View:
        """A view of the scores held only.

        Its total is given to :meth:`weighted`, or is the weight of its scores when it
        holds every one (``floor = -inf``).
        """
        order = np.argsort(scores, kind="stable")
        empty = np.empty(0, dtype=np.int64)
        return cls(
            scores[order], subject_a[order], subject_b[order], floor, empty, empty, empty, mated
        )

    def weighted(
        self, subject_weight: npt.NDArray[np.int64], total: int | None = None
    ) -> WeightedScores:
        """The view in a replicate where subject ``s`` counts ``subject_weight[s]`` times.

        A non-mated comparison of ``a`` and ``b`` counts ``w_a * w_b`` times; a mated
        comparison of subject ``s``, ``w_s`` times. The replicate's number of
        comparisons comes from the counts per pair of subjects, unless given.
        """
        w = subject_weight
        if self.mated:
            entry, per_pair = w[self.subject_a], w[self.pair_a]
        else:
            entry = w[self.subject_a] * w[self.subject_b]
            per_pair = w[self.pair_a] * w[self.pair_b]
        if total is None and not self.pair_count.size:  # a view that holds every score
            if self.floor != -math.inf:
                raise ValueError("a view that does not hold every score needs its total")
            total = int(entry.sum())
        elif total is None:
            total = int(np.dot(per_pair, self.pair_count))
        return WeightedScores.build(self.scores, entry, total, self.floor, self.distinct)


def percentile_interval(
    values: npt.NDArray[np.float64], level: float
) -> tuple[float | None, float | None, int]:
    """Percentile interval of replicate values (NaN = not computed); and how many were.

    Gives ``(None, None, n)`` when more than :data:`MAX_UNDEFINED` of the replicates
    could not compute the number.
    """
    finite = values[np.isfinite(values)]
    if not values.size or finite.size < (1.0 - MAX_UNDEFINED) * values.size:
        return None, None, int(finite.size)
    alpha = 1.0 - level
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high), int(finite.size)


def poisson_weights(n_subjects: int, replicates: int, seed: int) -> Iterator[npt.NDArray[np.int32]]:
    """Subject weights of each replicate, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    for _ in range(replicates):
        yield rng.poisson(1.0, size=n_subjects).astype(np.int32)


def flatten(numbers: dict[str, float | None]) -> Sequence[str]:
    """The keys of ``numbers`` in a stable order."""
    return sorted(numbers)
