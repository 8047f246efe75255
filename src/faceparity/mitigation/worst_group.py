"""The worst-group threshold: one threshold that keeps every group's FMR at or below the target.

It is the highest of the groups' own thresholds for the target (each on the group's
demographically matched non-mated comparisons, by the audit's rule), so the group that
sets it is read at the target and every other below it; every group pays for it in
FNMR against the global threshold. Its interval, and those of each group's FNMR cost,
are percentile intervals of the subject bootstrap (Poisson(1) subject weights, product
weights for non-mated comparisons; :mod:`faceparity.uncertainty.bootstrap`), each
replicate rerunning the rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceparity.metrics.rates import SortedScores
from faceparity.model.comparisons import ComparisonSet
from faceparity.model.config import ScoreKind
from faceparity.model.grouping import Grouping
from faceparity.results.common import Interval
from faceparity.results.mitigation import WorstGroupGroup, WorstGroupThreshold
from faceparity.uncertainty.bootstrap import (
    NotHeld,
    WeightedScores,
    percentile_interval,
    poisson_weights,
)

__all__ = ["worst_group_thresholds"]

METHOD = "subject bootstrap (Poisson(1) subject weights), percentile"


class _Scores:
    """Scores of a selection, ascending, with the subjects that weight them."""

    def __init__(self, s: npt.NDArray[np.float64], subjects: npt.NDArray[np.int64]) -> None:
        order = np.argsort(s, kind="stable")
        self.values = s[order]
        self.subjects = subjects[order]

    def exact(self) -> SortedScores:
        return SortedScores.from_sorted(self.values)

    def weighted(self, w: npt.NDArray[np.int32]) -> WeightedScores:
        weights = np.prod(w[self.subjects], axis=1) if self.subjects.ndim == 2 else w[self.subjects]
        return WeightedScores.build(self.values, weights, int(weights.sum()), -np.inf)


def _rule(
    non_mated: Sequence[SortedScores | WeightedScores],
    mated: Sequence[SortedScores | WeightedScores],
    overall: SortedScores | WeightedScores,
    target: float,
) -> tuple[float | None, int | None, list[float | None], list[float | None]]:
    """The worst-group threshold, the group that sets it, each group's FNMR there and at global."""
    thresholds = [nm.threshold_at_fmr(target) if len(nm) else None for nm in non_mated]
    known = [(t, g) for g, t in enumerate(thresholds) if t is not None]
    if not known:
        return None, None, [None] * len(mated), [None] * len(mated)
    t, setter = max(known)
    global_t = overall.threshold_at_fmr(target)
    fnmr = [int(m.count_below(t)) / len(m) if len(m) else None for m in mated]
    at_global = [int(m.count_below(global_t)) / len(m) if len(m) else None for m in mated]
    return t, setter, fnmr, at_global


def worst_group_thresholds(
    comparisons: ComparisonSet,
    grouping: Grouping,
    target_fmrs: Sequence[float],
    *,
    replicates: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> list[WorstGroupThreshold]:
    """The worst-group threshold at each target, with intervals (none for ``replicates=0``)."""
    s = comparisons.similarity
    sign = 1.0 if comparisons.score_kind is ScoreKind.SIMILARITY else -1.0
    codes = grouping.codes
    mated = comparisons.mated
    n_groups = len(grouping.groups)
    nm_parts, m_parts = [], []
    for g in range(n_groups):
        both = (codes[:, 0] == g) & (codes[:, 1] == g)
        nm_parts.append(_Scores(s[both & ~mated], comparisons.subject[both & ~mated]))
        m_parts.append(_Scores(s[both & mated], comparisons.subject[both & mated, 0]))
    overall = _Scores(s[~mated], comparisons.subject[~mated])
    exact = [
        _rule([p.exact() for p in nm_parts], [p.exact() for p in m_parts], overall.exact(), t)
        for t in target_fmrs
    ]
    draws: list[list[list[float]]] = [[] for _ in target_fmrs]
    for w in poisson_weights(len(comparisons.subject_ids), replicates, seed) if replicates else ():
        nm_w = [p.weighted(w) for p in nm_parts]
        m_w = [p.weighted(w) for p in m_parts]
        all_w = overall.weighted(w)
        for i, target in enumerate(target_fmrs):
            try:
                t, _, fnmr, at_global = _rule(nm_w, m_w, all_w, target)
            except NotHeld:
                t, fnmr, at_global = None, [None] * n_groups, [None] * n_groups
            row = [np.nan if t is None else sign * t]
            row += [
                np.nan if a is None or b is None else a - b
                for a, b in zip(fnmr, at_global, strict=True)
            ]
            draws[i].append(row)
    out = []
    for i, target in enumerate(target_fmrs):
        t, setter, fnmr, at_global = exact[i]
        values = np.asarray(draws[i], dtype=np.float64).reshape(-1, n_groups + 1)

        def interval(column: int, values: npt.NDArray[np.float64] = values) -> Interval | None:
            if not replicates:
                return None
            low, high, n = percentile_interval(values[:, column], level)
            if sign < 0 and column == 0 and low is not None and high is not None:
                low, high = min(low, high), max(low, high)
            return Interval(low, high, METHOD, n)

        groups = []
        for g, group in enumerate(grouping.groups):
            nm = nm_parts[g].exact()
            fmr = int(nm.count_at_or_above(t)) / len(nm) if t is not None and len(nm) else None
            cost = None if fnmr[g] is None or at_global[g] is None else fnmr[g] - at_global[g]  # type: ignore[operator]
            groups.append(
                WorstGroupGroup(
                    label=group.label,
                    fmr=fmr,
                    fnmr=fnmr[g],
                    fnmr_at_global=at_global[g],
                    fnmr_cost=cost,
                    fnmr_cost_ci=interval(g + 1),
                )
            )
        global_t = overall.exact().threshold_at_fmr(target)
        out.append(
            WorstGroupThreshold(
                target_fmr=target,
                threshold=None if t is None else sign * t,
                set_by=None if setter is None else grouping.groups[setter].label,
                global_threshold=sign * global_t,
                groups=groups,
                threshold_ci=interval(0),
            )
        )
    return out
