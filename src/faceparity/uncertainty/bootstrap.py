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
reach several times the largest target FMR and the EER (``coverage``); a streaming
audit's views leave out the rates no replicate can read (thresholds below its exact
tail). Each replicate's reweighting (compiled loops) runs on a second thread while the
previous replicate's numbers are read (:func:`ahead`). The
replicate's total of non-mated comparisons comes from counts per pair of subjects,
or, in a view so large that the pairs would cost more than the scores, from its
first-order (linear) expansion in the subject weights,
``sum_ab c_ab w_a w_b = n + sum_a (w_a - 1) d_a + sum_ab c_ab (w_a - 1)(w_b - 1)``
without the last term (``d_a``: the view's comparisons of subject ``a``; ``c_ab``:
of the pair). That term has mean zero and variance ``sum_ab c_ab^2`` (at most
``sum over comparisons of min(d_a, d_b)``, as ``c_ab <= min(d_a, d_b)``). A view is
expanded when that is cheaper (more pairs of subjects than subjects) and the variance
is at most :data:`LINEAR_TOTAL_MULTIPLICITY` times its ``n`` comparisons (``n`` when no
pair of subjects repeats): relative to ``n^2`` it is then at most ``2 / n``, against
the ``1 / (n r)`` relative variance of the count of errors at a rate ``r``; leaving it
out narrows a rate's variance by at most ``2 r`` of itself (2% at FMR 0.01), and the
counts of the scores held stay exact. The expansion is the linearisation of the
bootstrap total (Efron & Tibshirani 1993, ch. 21, "the jackknife and the delta method").
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from faceparity.metrics.rates import max_false_matches

T = TypeVar("T")
A = TypeVar("A")

__all__ = [
    "LINEAR_TOTAL_MULTIPLICITY",
    "MAX_UNDEFINED",
    "NotHeld",
    "View",
    "WeightedScores",
    "ahead",
    "percentile_interval",
    "weighted_eer",
]

MAX_UNDEFINED = 0.05
"""Largest share of replicates that may fail to compute a number that still gets an interval."""

LINEAR_TOTAL_MULTIPLICITY = 2.0
"""Largest variance of the term a linear total leaves out, per comparison of the view."""


class NotHeld(ValueError):
    """A count or threshold needs scores below those the bootstrap keeps."""


def kernels() -> Any:
    """The compiled loops (:mod:`faceparity.uncertainty.kernels`), imported on first use."""
    from faceparity.uncertainty import kernels as compiled

    return compiled


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

    It holds the highest scores of the view (ascending) with the subjects of each.
    A replicate's number of comparisons comes from ``pair_*``, the number of
    comparisons of each pair of subjects in the whole view; or, for a view whose
    total is linear (``n`` comparisons, ``degree_subject`` and ``degree``: how many
    of them each subject is in), from ``n + sum_a (w_a - 1) d_a``; or, for a view
    that holds every score and has neither, from the weights of its scores.
    """

    scores: npt.NDArray[np.float64]
    subject_a: npt.NDArray[np.int64]
    subject_b: npt.NDArray[np.int64]
    floor: float
    pair_a: npt.NDArray[np.int64]
    pair_b: npt.NDArray[np.int64]
    pair_count: npt.NDArray[np.int64]
    mated: bool
    n: int = 0
    degree_subject: npt.NDArray[np.int64] | None = None
    degree: npt.NDArray[np.int64] | None = None

    @property
    def distinct(self) -> npt.NDArray[np.float64]:
        """The distinct scores held (computed once)."""
        cached = self.__dict__.get("_distinct")
        if cached is None:
            v = self.scores
            cached = v[np.r_[True, v[1:] != v[:-1]]] if v.size else v
            object.__setattr__(self, "_distinct", cached)
        return cached

    @property
    def linear(self) -> bool:
        """Whether a replicate's total is the linear expansion (see the module docstring)."""
        return self.degree is not None

    @classmethod
    def of(
        cls,
        scores: npt.NDArray[np.float64],
        subject_a: npt.NDArray[np.int64],
        subject_b: npt.NDArray[np.int64],
        keep: int | None,
        *,
        mated: bool = False,
        n_subjects: int | None = None,
    ) -> View:
        """The view of ascending ``scores``, holding at least its top ``keep`` (all if None).

        Ties with the lowest score held are held too, so counts are exact from it up.
        A view that holds every score totals the weights of its scores; a non-mated
        view that does not is linear when the bound of the module docstring allows
        (subject codes below ``n_subjects``), else it counts its pairs of subjects.
        """
        n = scores.size
        start = 0 if keep is None or keep >= n else n - keep
        if start > 0:
            start = int(np.searchsorted(scores, scores[start], side="left"))
        floor = -math.inf if start == 0 else float(scores[start])
        empty = np.empty(0, dtype=np.int64)
        held = (scores[start:], subject_a[start:], subject_b[start:], floor)
        if start == 0:
            return cls(*held, empty, empty, empty, mated, n)
        if not mated and n_subjects is not None:
            degree = np.bincount(subject_a, minlength=n_subjects)
            degree += np.bincount(subject_b, minlength=n_subjects)
            bound = float(np.minimum(degree[subject_a], degree[subject_b]).sum())
            present = np.flatnonzero(degree)
            linear = (*held, empty, empty, empty, mated, n, present, degree[present])
            if bound <= LINEAR_TOTAL_MULTIPLICITY * n and present.size < n:
                return cls(*linear)
        lo, hi = np.minimum(subject_a, subject_b), np.maximum(subject_a, subject_b)
        width = int(hi.max(initial=0)) + 1
        keys, counts = np.unique(lo * width + hi, return_counts=True)
        if (
            not mated
            and n_subjects is not None
            and keys.size > linear[-2].size
            and float(np.dot(counts, counts)) <= LINEAR_TOTAL_MULTIPLICITY * n
        ):
            return cls(*linear)  # fewer terms than the pairs, within the bound
        return cls(*held, keys // width, keys % width, counts.astype(np.int64), mated, n)

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
            scores[order],
            subject_a[order],
            subject_b[order],
            floor,
            empty,
            empty,
            empty,
            mated,
            scores.size,
        )

    def weighted(
        self, subject_weight: npt.NDArray[np.integer], total: int | None = None
    ) -> WeightedScores:
        """The view in a replicate where subject ``s`` counts ``subject_weight[s]`` times.

        A non-mated comparison of ``a`` and ``b`` counts ``w_a * w_b`` times; a mated
        comparison of subject ``s``, ``w_s`` times. The replicate's number of
        comparisons is ``total`` when given, else as the class docstring says.
        """
        compiled = kernels()
        w = subject_weight
        cum = compiled.cumulative(w, self.subject_a, self.subject_b, self.mated)
        if total is not None:
            pass
        elif self.degree is not None:
            total = int(compiled.linear_total(w, self.degree_subject, self.degree, self.n))
        elif self.pair_count.size:
            per_pair = w[self.pair_a] if self.mated else w[self.pair_a] * w[self.pair_b]
            total = int(np.dot(per_pair, self.pair_count))
        elif self.floor == -math.inf:  # a view that holds every score
            total = int(cum[-1]) if cum.size else 0
        else:
            raise ValueError("a view that does not hold every score needs its total")
        return WeightedScores(self.scores, cum, total, self.floor, self.distinct)


def weighted_eer(
    mated: WeightedScores, non_mated: WeightedScores
) -> tuple[float, float, float, float] | None:
    """:func:`~faceparity.metrics.rates.equal_error_rate_of` of two weighted lists, compiled.

    The same candidates, bisections and choice, on the cumulative weights (a
    replicate's EER costs a few dozen binary searches); ``(eer, low, high,
    threshold)``, or None where the curves do not cross at scores held.
    """
    if not len(mated) or not len(non_mated):
        return None
    found, e, low, high, t = kernels().eer(
        mated.values,
        mated.cum,
        mated.total,
        mated.candidates(),
        non_mated.values,
        non_mated.cum,
        non_mated.total,
        non_mated.floor,
        non_mated.candidates(),
    )
    return (float(e), float(low), float(high), float(t)) if found else None


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


DRAW_AHEAD_SUBJECTS = 100_000
"""From this many subjects on, a replicate's weights are drawn while the previous one is used."""

POISSON_CDF = np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(20)])
"""``P(X <= k)`` of Poisson(1), k = 0..19 (the rest, below 1e-18, is past a double's reach)."""


def poisson_weights(
    n_subjects: int, replicates: int, seed: int, *, start: int = 0
) -> Iterator[npt.NDArray[np.int32]]:
    """Subject weights of each replicate, reproducible from ``seed``.

    Poisson(1) by inversion (Devroye 1986, "Non-Uniform Random Variate Generation",
    sec. X.3.3): one uniform of ``numpy.random.default_rng(seed)`` a draw, compared
    with :data:`POISSON_CDF` in compiled code; several times faster than numpy's
    ``poisson``, which spends two uniforms and a product loop on each draw. For many
    subjects the next replicate's weights are drawn on a second thread while the
    caller uses these (numpy and the compiled loop release the GIL); the draws are
    the same, in the same order.

    With ``start``, the weights of replicates ``start`` to ``start + replicates - 1``
    of the same stream: each replicate spends ``n_subjects`` draws of the generator
    (one 64-bit output a uniform), which are skipped without being drawn.
    """
    bits = np.random.PCG64(seed)  # what numpy.random.default_rng(seed) draws from
    if start:
        bits.advance(start * n_subjects)
    rng = np.random.Generator(bits)
    inverse = kernels().poisson_inverse
    # One buffer of uniforms for every draw (one draw at a time): a fresh one a
    # replicate would be mapped page by page again, slower than drawing into it.
    uniforms = np.empty(n_subjects, dtype=np.float64)

    def draw() -> npt.NDArray[np.int32]:
        out = np.empty(n_subjects, dtype=np.int32)
        inverse(rng.random(out=uniforms), POISSON_CDF, out)
        return out

    if n_subjects < DRAW_AHEAD_SUBJECTS or replicates < 2:
        for _ in range(replicates):
            yield draw()
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceparity-weights") as pool:
        pending = pool.submit(draw)
        for r in range(replicates):
            weights = pending.result()
            if r + 1 < replicates:
                pending = pool.submit(draw)
            yield weights


def ahead(make: Callable[[A], T], inputs: Iterable[A], workers: int | None = None) -> Iterator[T]:
    """``make(x)`` for each ``x`` of ``inputs``, in order, made on worker threads ahead of use.

    A replicate's partition (compiled loops that release the GIL) is built by one of
    ``workers`` threads (default: the processor count, at most 4) while the caller reads
    the operating points of an earlier one; ``inputs`` is read on the caller's thread
    only, one item ahead of each worker. The items and their order are those of a plain
    loop; an error raised in ``make`` is raised to the caller at that item.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    n = workers if workers is not None else max(1, min(4, os.cpu_count() or 1))
    source = iter(inputs)
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="faceparity-replicates") as pool:
        pending = deque(pool.submit(make, x) for x in itertools.islice(source, n + 1))
        try:
            while pending:
                item = pending.popleft().result()
                for x in itertools.islice(source, 1):
                    pending.append(pool.submit(make, x))
                yield item
        finally:
            for future in pending:
                future.cancel()


def flatten(numbers: dict[str, float | None]) -> Sequence[str]:
    """The keys of ``numbers`` in a stable order."""
    return sorted(numbers)
