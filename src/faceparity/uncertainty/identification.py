"""Intervals on the 1:N audit: a bootstrap of the probe subjects, given the gallery.

Each replicate gives every probe subject a weight ``w ~ Poisson(1)`` (resampling
subjects with replacement in the form of Hanley and MacGibbon 2006, as the 1:1
bootstrap of :mod:`faceparity.uncertainty.apply` does) and counts each search ``w``
times, ``w`` the weight of the subject of its probe sample; the searches of one
subject therefore move together. The gallery is held fixed: the intervals are
conditional on the enrolled subjects, which are part of the system under audit
(NIST IR 8271 reports 1:N error rates of a given gallery; removing enrolled subjects
in a replicate would change which candidates every search returns).

Each replicate reruns the policy's own rule: the most permissive threshold whose
weighted FPIR on the non-mated searches that set it is at most the target (the
threshold of :func:`faceparity.identification.threshold_at_fpir` on the searches
repeated by their weights, ties never split), then every probe group's FPIR and FNIR
at it, the overall rates and the spread measures (max/min, max/geomean, Gini of FPIR
and of FNIR across groups). The interval is the percentile interval of the
replicates; a number that more than 5% of the replicates cannot compute (a group
whose searches all drew weight 0) has none, and says so. A rate with no errors seen
gets the exact Clopper-Pearson bound ``[0, 1 - (alpha/2)^(1/n)]``, as in the 1:1
audit, and an FPIR the policy sets (the overall one under ``global``, each group's
under ``per-group``, the reference group's) has none: its uncertainty is in the
threshold's interval.

Cost: one pass over the searches per replicate and operating point (numpy), with the
non-mated top scores sorted once per threshold rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.identification.audit import Searches
from faceparity.metrics.differentials import gini, max_geomean_ratio, max_min_ratio
from faceparity.metrics.rates import max_false_matches
from faceparity.model.config import PolicyKind, ThresholdPolicy
from faceparity.model.grouping import Grouping
from faceparity.results.common import Interval, RateMeasures, UncertaintyRecord
from faceparity.results.identification import (
    IdentificationPoint,
    IdentificationResult,
    IdentificationSummary,
    SearchRates,
)
from faceparity.uncertainty.binomial import clopper_pearson, wilson
from faceparity.uncertainty.bootstrap import percentile_interval, poisson_weights
from faceparity.uncertainty.support import support_for

__all__ = ["CAVEAT", "identification_intervals", "weighted_threshold"]

BOOTSTRAP_METHOD = "probe-subject bootstrap (Poisson(1) weights, gallery fixed), percentile"
CAVEAT = (
    "1:N intervals resample the subjects of the probe samples (their searches move "
    "together) and hold the gallery fixed: they are conditional on the enrolled subjects"
)
PINNED = {
    "ci_low": None,
    "ci_high": None,
    "method": "set by the threshold policy (the target, up to ties): its uncertainty is "
    "in threshold_ci",
}
MEASURES: dict[str, Callable[..., Any]] = {
    "max_min": max_min_ratio,
    "max_geomean": max_geomean_ratio,
    "gini": gini,
}

Key = tuple[Any, ...]


def weighted_threshold(
    descending: npt.NDArray[np.float64], weights: npt.NDArray[np.int64], target: float
) -> float:
    """Most permissive threshold whose FPIR on weighted top scores is at most ``target``.

    Equal to :func:`faceparity.identification.threshold_at_fpir` on the scores each
    repeated by its weight: with ``W`` the total weight and ``k`` the most false
    positives the target allows of ``W`` searches, the smallest float64 above the
    ``(k+1)``-th highest repeated score. NaN when every weight is 0.

    Parameters
    ----------
    descending : ndarray of float64
        Top scores of the non-mated searches that set the threshold, highest first.
    weights : ndarray of int64
        Each score's weight, in the same order.
    target : float
        Target FPIR in (0, 1).

    Examples
    --------
    >>> s = np.array([0.9, 0.8, 0.7, 0.6])
    >>> float(weighted_threshold(s, np.array([0, 2, 1, 1]), 0.25)) > 0.8
    True

    """
    cumulative = np.cumsum(weights)
    total = int(cumulative[-1]) if len(cumulative) else 0
    if total == 0:
        return float("nan")
    k = max_false_matches(total, target)
    j = int(np.searchsorted(cumulative, k + 1, side="left"))
    return float(np.nextafter(descending[j], np.inf))


@dataclasses.dataclass(frozen=True)
class _Rule:
    """How one operating point's threshold is set: which searches set it, who reads it."""

    order: npt.NDArray[np.int64]  # the searches that set it, top score descending
    scores: npt.NDArray[np.float64]  # their top scores, in that order
    readers: npt.NDArray[np.bool_] | None  # the searches read at it; None: every search


def _rules(
    policy: ThresholdPolicy,
    searches: Searches,
    group_by: Sequence[str],
    top: npt.NDArray[np.float64],
) -> list[_Rule]:
    protocol = searches.protocol
    non_mated = protocol.probe_mate < 0

    def rule(sets: npt.NDArray[np.bool_], readers: npt.NDArray[np.bool_] | None) -> _Rule:
        index = np.flatnonzero(sets)
        order = index[np.argsort(-top[index], kind="stable")]
        return _Rule(order, top[order], readers)

    if policy.kind is PolicyKind.PER_GROUP:
        return [
            rule(non_mated & (protocol.probe_group == g), protocol.probe_group == g)
            for g in range(len(searches.groups))
        ]
    if policy.kind is PolicyKind.REFERENCE:
        assert policy.reference is not None
        empty = np.empty((0, 2), np.int32)
        ref = Grouping(tuple(group_by), searches.groups, empty).find(policy.reference)
        return [rule(non_mated & (protocol.probe_group == ref), None)]
    return [rule(non_mated, None)]


def _numbers(point: IdentificationPoint, p: int) -> list[tuple[Key, float | None]]:
    """Every number of one point that gets an interval, keyed."""
    out: list[tuple[Key, float | None]] = [(("point", p, "threshold"), point.threshold)]
    if point.overall is not None:
        out += [
            (("point", p, "overall", "fpir"), point.overall.fpir),
            (("point", p, "overall", "fnir"), point.overall.fnir),
        ]
    for g, row in enumerate(point.groups):
        out += [
            (("point", p, "group", g, "threshold"), row.threshold),
            (("point", p, "group", g, "fpir"), row.fpir),
            (("point", p, "group", g, "fnir"), row.fnir),
        ]
    if point.summary is not None:
        for rate in ("fpir", "fnir"):
            measures: RateMeasures = getattr(point.summary, rate)
            for name in MEASURES:
                out.append((("point", p, "summary", rate, name), getattr(measures, name).value))
    return out


def _ratio(numerator: npt.NDArray[np.float64], denominator: npt.NDArray[np.float64]) -> Any:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def _replicate(
    searches: Searches,
    rules: list[_Rule],
    target: float,
    weight: npt.NDArray[np.int64],
    arrays: dict[str, Any],
    p: int,
    single: bool,
) -> dict[Key, float]:
    """The numbers of one operating point in one replicate (NaN: not computable)."""
    n = len(weight)
    group = searches.protocol.probe_group
    n_groups = len(searches.groups)
    t = np.full(n, np.nan)
    thresholds = []
    for rule in rules:
        value = weighted_threshold(rule.scores, weight[rule.order], target)
        thresholds.append(value)
        if rule.readers is None:
            t[:] = value
        else:
            t[rule.readers] = value
    non_mated, mated = arrays["non_mated"], arrays["mated"]
    with np.errstate(invalid="ignore"):
        fp = non_mated & (arrays["top"] >= t)
        fn = mated & ~(arrays["found"] & (arrays["mated_score"] >= t))

    def by_group(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        counted: npt.NDArray[np.float64] = np.bincount(
            group[mask], weights=weight[mask], minlength=n_groups
        ).astype(np.float64)
        return counted

    w_nm, w_m = by_group(non_mated), by_group(mated)
    fpir = _ratio(by_group(fp), w_nm)
    fnir = _ratio(by_group(fn), w_m)
    unset = np.isnan(np.bincount(group, weights=t, minlength=n_groups))
    fnir[unset] = np.nan  # a group without its own threshold (per-group, no non-mated weight)
    out: dict[Key, float] = {}
    if single:
        out[("point", p, "threshold")] = thresholds[0]
        total_nm, total_m = float(w_nm.sum()), float(w_m.sum())
        out[("point", p, "overall", "fpir")] = (
            float(weight[fp].sum()) / total_nm if total_nm else np.nan
        )
        out[("point", p, "overall", "fnir")] = (
            float(weight[fn].sum()) / total_m if total_m else np.nan
        )
    labels = [g.label for g in searches.groups]
    for g in range(n_groups):
        own = thresholds[g] if not single else thresholds[0]
        out[("point", p, "group", g, "threshold")] = own
        out[("point", p, "group", g, "fpir")] = float(fpir[g])
        out[("point", p, "group", g, "fnir")] = float(fnir[g])
    for rate, values in (("fpir", fpir), ("fnir", fnir)):
        rates = {
            label: (None if np.isnan(v) else float(v))
            for label, v in zip(labels, values, strict=True)
        }
        for name, measure in MEASURES.items():
            value = measure(rates).value
            out[("point", p, "summary", rate, name)] = np.nan if value is None else value
    return out


def _bootstrap(
    ident: IdentificationResult,
    searches: Searches,
    group_by: Sequence[str],
    replicates: int,
    level: float,
    seed: int,
) -> dict[Key, dict[str, Any]]:
    result = searches.result
    protocol = searches.protocol
    top = result.top_score[:, 0].astype(np.float64)
    arrays = {
        "top": top,
        "non_mated": protocol.probe_mate < 0,
        "mated": protocol.probe_mate >= 0,
        "found": (result.rank > 0) & (result.rank <= ident.rank),
        "mated_score": result.mated_score.astype(np.float64),
    }
    _, subject = np.unique(searches.probe_subject, return_inverse=True)
    n_subjects = int(subject.max()) + 1 if len(subject) else 0
    points = []
    for p, point in enumerate(ident.operating_points):
        policy = ThresholdPolicy.parse(point.policy)
        points.append(
            (
                p,
                point,
                _rules(policy, searches, group_by, top),
                policy.kind is not PolicyKind.PER_GROUP,
            )
        )
    keys = [
        key for p, point, _, _ in points for key, value in _numbers(point, p) if value is not None
    ]
    column = {key: k for k, key in enumerate(keys)}
    values = np.full((replicates, len(keys)), np.nan)
    for r, drawn in enumerate(poisson_weights(n_subjects, replicates, seed)):
        weight = drawn.astype(np.int64)[subject]
        for p, point, rules, single in points:
            row = _replicate(searches, rules, point.target_fpir, weight, arrays, p, single)
            for key, value in row.items():
                k = column.get(key)
                if k is not None:
                    values[r, k] = value
    out: dict[Key, dict[str, Any]] = {}
    for key, k in column.items():
        low, high, n = percentile_interval(values[:, k], level)
        method = BOOTSTRAP_METHOD
        if low is None:
            method = (
                f"not computed: only {n} of {replicates} replicates could compute this number "
                "(a group whose searches all drew weight 0, or a rate undefined there)"
            )
        out[key] = {"ci_low": low, "ci_high": high, "method": method, "replicates": n}
    return out


def _closed_form(
    ident: IdentificationResult, method: str, level: float
) -> dict[Key, dict[str, Any]]:
    interval = clopper_pearson if method == "clopper-pearson" else wilson
    out: dict[Key, dict[str, Any]] = {}
    for p, point in enumerate(ident.operating_points):
        rows: list[tuple[Key, SearchRates]] = [
            (("group", g), row) for g, row in enumerate(point.groups)
        ]
        if point.overall is not None:
            rows.append((("overall",), point.overall))
        for where, row in rows:
            for rate, k, n in (
                ("fpir", row.n_false_positive_searches, row.n_non_mated_searches),
                ("fnir", row.n_false_negative_searches, row.n_mated_searches),
            ):
                if n and getattr(row, rate) is not None:
                    low, high = interval(k, n, level)
                    out[("point", p, *where, rate)] = {
                        "ci_low": float(low),
                        "ci_high": float(high),
                        "method": method,
                    }
    return out


def _pinned(point: IdentificationPoint, group_by: Sequence[str]) -> list[Key]:
    """FPIRs that the policy sets rather than measures."""
    policy = ThresholdPolicy.parse(point.policy)
    if policy.kind is PolicyKind.GLOBAL:
        return [("overall", "fpir")]
    if policy.kind is PolicyKind.PER_GROUP:
        return [("group", g, "fpir") for g in range(len(point.groups))]
    wanted = dict(policy.reference or ())
    return [("group", g, "fpir") for g, row in enumerate(point.groups) if row.attributes == wanted]


def _attach(
    ident: IdentificationResult,
    intervals: dict[Key, dict[str, Any]],
    record: UncertaintyRecord,
    group_by: Sequence[str],
) -> IdentificationResult:
    level = record.level
    bootstrap = record.method == BOOTSTRAP_METHOD

    def ci(key: Key, errors: int | None = None, n: int = 0) -> Interval | None:
        if errors == 0 and n > 0 and record.method != "none":
            low, high = clopper_pearson(0, n, level)
            return Interval(
                ci_low=float(low),
                ci_high=float(high),
                method="clopper-pearson (no errors seen: an exact upper bound, not a zero)",
            )
        found = intervals.get(key)
        return None if found is None else Interval(**found)

    def rates(row: SearchRates, p: int, where: Key, target: float) -> SearchRates:
        return dataclasses.replace(
            row,
            threshold_ci=ci(("point", p, *where, "threshold")) if where != ("overall",) else None,
            fpir_ci=ci(
                ("point", p, *where, "fpir"),
                row.n_false_positive_searches if row.fpir is not None else None,
                row.n_non_mated_searches,
            ),
            fnir_ci=ci(
                ("point", p, *where, "fnir"),
                row.n_false_negative_searches if row.fnir is not None else None,
                row.n_mated_searches,
            ),
            fpir_support=support_for(target, row.n_non_mated_searches, what="FPIR"),
            fnir_support=support_for(row.fnir, row.n_mated_searches, what="FNIR"),
        )

    points = []
    for p, point in enumerate(ident.operating_points):
        if bootstrap:
            for key in _pinned(point, group_by):
                intervals[("point", p, *key)] = PINNED
        target = point.target_fpir
        summary = point.summary
        if summary is not None:

            def measures(rate: str, old: RateMeasures, p: int = p) -> RateMeasures:
                return RateMeasures(
                    **{
                        name: dataclasses.replace(
                            getattr(old, name), value_ci=ci(("point", p, "summary", rate, name))
                        )
                        for name in MEASURES
                    }
                )

            summary = IdentificationSummary(
                fpir=measures("fpir", summary.fpir), fnir=measures("fnir", summary.fnir)
            )
        points.append(
            dataclasses.replace(
                point,
                threshold_ci=ci(("point", p, "threshold")),
                overall=None
                if point.overall is None
                else rates(point.overall, p, ("overall",), target),
                groups=[rates(row, p, ("group", g), target) for g, row in enumerate(point.groups)],
                summary=summary,
            )
        )
    return dataclasses.replace(ident, operating_points=points, uncertainty=record)


def identification_intervals(
    ident: IdentificationResult,
    searches: Searches,
    *,
    group_by: Sequence[str],
    method: str = "bootstrap",
    replicates: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> IdentificationResult:
    """``ident`` with intervals and support flags on its FPIRs, FNIRs and spread measures.

    Parameters
    ----------
    ident : IdentificationResult
        The 1:N audit of ``searches`` (:func:`faceparity.identification.audit_searches`).
    searches : Searches
        What the searches found, with the subject of every probe.
    group_by : sequence of str
        The attributes of the groups (to find a reference group).
    method : {"bootstrap", "clopper-pearson", "wilson", "none"}
        ``bootstrap``: the probe-subject bootstrap of this module; the closed forms
        treat searches as independent (rates only).
    replicates, level, seed
        Bootstrap replicates (at least 10), confidence level in (0, 1), seed.

    Returns
    -------
    IdentificationResult

    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must lie in (0, 1), got {level}")
    if method == "bootstrap":
        if replicates < 10:
            raise ValueError(f"the bootstrap needs at least 10 replicates, got {replicates}")
        intervals = _bootstrap(ident, searches, group_by, replicates, level, seed)
        record = UncertaintyRecord(BOOTSTRAP_METHOD, level, replicates, seed, CAVEAT)
    elif method in ("clopper-pearson", "wilson"):
        intervals = _closed_form(ident, method, level)
        record = UncertaintyRecord(
            method,
            level,
            None,
            None,
            "searches treated as independent: too narrow when a subject has several probe samples",
        )
    elif method == "none":
        intervals = {}
        record = UncertaintyRecord("none", level, None, None, "no intervals were computed")
    else:
        raise ValueError(f"interval method: unknown {method!r}")
    return _attach(ident, intervals, record, group_by)
