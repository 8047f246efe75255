"""Intervals and support flags on an :class:`AuditResult`.

:func:`with_uncertainty` returns the result with, next to every rate ``X``, an
``X_ci`` (``ci_low``, ``ci_high``, ``method``) and an ``X_support``; next to every
threshold a ``threshold_ci``; in every summary measure a ``value_ci``; in every EER an
``eer_ci``; and a top-level ``uncertainty`` block saying how they were made.

Methods: ``bootstrap`` (the subject-level bootstrap, :mod:`.bootstrap`; needs the
comparisons with their subjects), ``clopper-pearson`` and ``wilson`` (closed form,
from the counts; rates only, with the caveat that they treat comparisons as
independent), ``none`` (support flags only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.accumulate.accumulator import Accumulator
from faceparity.errors import FaceparityError
from faceparity.model.comparisons import ComparisonSet
from faceparity.model.config import (
    AuditConfig,
    FMRScope,
    PolicyKind,
    ScoreKind,
    ThresholdPolicy,
)
from faceparity.model.grouping import Grouping, group_comparisons
from faceparity.results.audit import (
    AuditResult,
    EerResult,
    GroupSummary,
    Interval,
    OperatingPoint,
    RateRatio,
    SummaryMeasure,
    Support,
    UncertaintyRecord,
)
from faceparity.uncertainty.binomial import CORRELATION_CAVEAT, clopper_pearson, wilson
from faceparity.uncertainty.bootstrap import (
    NotHeld,
    WeightedScores,
    ahead,
    percentile_interval,
    poisson_weights,
    weighted_eer,
)
from faceparity.uncertainty.pair_views import PairStreamViews
from faceparity.uncertainty.processes import fill_rows
from faceparity.uncertainty.support import support_for
from faceparity.uncertainty.views import ExactViews, StreamViews
from faceparity.verification.operating_points import operating_point

__all__ = ["METHODS", "with_uncertainty"]

METHODS = ("bootstrap", "clopper-pearson", "wilson", "none")
BOOTSTRAP_METHOD = "subject bootstrap (Poisson(1) subject weights), percentile"

Key = tuple[Any, ...]


def with_uncertainty(
    result: AuditResult,
    *,
    method: str = "bootstrap",
    comparisons: ComparisonSet | None = None,
    group_by: list[str] | None = None,
    config: AuditConfig | None = None,
    accumulator: Accumulator | None = None,
    samples: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None,
    degree: npt.NDArray[np.integer] | None = None,
    replicates: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> AuditResult:
    """``result`` with intervals (by ``method``) and support flags on every number.

    The bootstrap needs the ``config`` the result was computed from and either the
    ``comparisons`` (with ``group_by``) of an exact audit, or the ``accumulator`` of an
    all-vs-all streaming audit with ``samples``: the subject code and group slot of
    every sample (its per-subject sufficient statistics), or the ``accumulator`` of a
    streamed pair table with ``degree``: each subject's non-mated comparisons per cell
    (:class:`~faceparity.uncertainty.pair_views.PairStreamViews`).
    """
    if method not in METHODS:
        raise ValueError(f"interval method: expected one of {', '.join(METHODS)}, got {method!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must lie in (0, 1), got {level}")
    intervals: dict[Key, dict[str, Any]] = {}
    block: dict[str, Any] = {"method": method, "level": level}
    if method == "bootstrap":
        if replicates < 10:
            raise ValueError(f"the bootstrap needs at least 10 replicates, got {replicates}")
        if config is None:
            raise ValueError("the bootstrap needs the audit's config")
        if comparisons is not None and group_by is not None:
            grouping = group_comparisons(comparisons, group_by)
            views: ExactViews | StreamViews | PairStreamViews = ExactViews.of(
                comparisons, grouping, config, result
            )
            sign = 1.0 if comparisons.score_kind is ScoreKind.SIMILARITY else -1.0
        elif accumulator is not None and samples is not None:
            grouping = StreamViews.grouping(result, accumulator.n_groups)
            views = StreamViews.of(accumulator, samples, config, result)
            sign = 1.0 if result.input.score_kind == "similarity" else -1.0
        elif accumulator is not None and degree is not None:
            grouping = StreamViews.grouping(result, accumulator.n_groups)
            views = PairStreamViews.of(accumulator, degree, config, result)
            sign = 1.0 if result.input.score_kind == "similarity" else -1.0
        else:
            raise ValueError(
                "the bootstrap needs the comparisons and group_by, or the accumulator and "
                "samples or degree"
            )
        intervals = _bootstrap(result, views, grouping, config, sign, replicates, level, seed)
        block.update(
            method=BOOTSTRAP_METHOD,
            replicates=replicates,
            seed=seed,
            caveat="intervals resample subjects, so comparisons that share a subject move "
            "together; a number computed by fewer than 95% of the replicates has no interval",
        )
    elif method in ("clopper-pearson", "wilson"):
        intervals = _closed_form(result, method, level)
        block.update(replicates=None, seed=None, caveat=CORRELATION_CAVEAT)
    else:
        block.update(replicates=None, seed=None, caveat="no intervals were computed")
    return _attach(result, intervals, block)


# --- numbers of a result, by key --------------------------------------------------------


def _numbers(
    points: list[OperatingPoint], groups: Sequence[EerResult | None], overall: EerResult | None
) -> Iterator[tuple[Key, float | None]]:
    """Every number that gets an interval, with a key that names it."""
    for p, point in enumerate(points):
        yield ("point", p, "threshold"), point.threshold
        if point.overall is not None:
            yield ("point", p, "overall", "fmr"), point.overall.fmr
            yield ("point", p, "overall", "fnmr"), point.overall.fnmr
        for g, row in enumerate(point.groups):
            yield ("point", p, "group", g, "threshold"), row.threshold
            yield ("point", p, "group", g, "fmr"), row.fmr
            yield ("point", p, "group", g, "fnmr"), row.fnmr
        for c, cell in enumerate(point.cross_group):
            yield ("point", p, "cell", c, "fmr"), cell.fmr
        for (a, b), ratios in _ratios(point).items():
            for rate, value in ratios.items():
                yield ("point", p, "ratio", a, b, rate), value
        for path, measure in point.summary.named():
            yield ("point", p, "summary", *path), measure.value
    for g, eer in enumerate(groups):
        yield ("group", g, "eer"), None if eer is None else eer.eer
    yield ("overall", "eer"), None if overall is None else overall.eer


# --- the bootstrap ----------------------------------------------------------------------


def _bootstrap(
    result: AuditResult,
    views: Any,
    grouping: Grouping,
    config: AuditConfig,
    sign: float,
    replicates: int,
    level: float,
    seed: int,
) -> dict[Key, dict[str, Any]]:
    # The numbers the result has (an undefined one, such as the common threshold of the
    # per-group policy, has no interval to give).
    keys = [
        key
        for key, value in _numbers(
            result.operating_points, [g.eer for g in result.groups], result.overall.eer
        )
        if value is not None
    ]
    # An EER below the scores held (a streaming tail that stops above it) cannot be
    # read in a replicate: it is not recomputed there, and gets no interval.
    tails = [*views.group_non_mated_views(), views.overall_non_mated]
    summaries = [*result.groups, result.overall]
    eer_held = [
        s.eer is not None and sign * s.eer.threshold >= v.floor
        for s, v in zip(summaries, tails, strict=True)
    ]
    values = np.full((replicates, len(keys)), np.nan)

    def fill(start: int, stop: int, rows: npt.NDArray[np.float64]) -> None:
        """The numbers of replicates ``start`` to ``stop - 1``, into ``rows``."""
        rows[...] = np.nan
        weights = poisson_weights(views.n_subjects, stop - start, seed, start=start)
        for r, part in enumerate(ahead(views.replicate, weights)):
            points: list[OperatingPoint | None] = []
            for policy in config.policies:
                for target in config.target_fmrs:
                    try:
                        points.append(operating_point(policy, target, grouping, part, config, sign))
                    except (NotHeld, ValueError, FaceparityError):
                        points.append(None)  # e.g. no comparisons left in the reference group
            eers = [
                _replicate_eer(part.group_mated[i], part.group_non_mated[i])
                if eer_held[i]
                else None
                for i in range(len(grouping.groups))
            ]
            overall = (
                _replicate_eer(part.overall_mated, part.overall_non_mated) if eer_held[-1] else None
            )
            row = _partial(points, eers, overall)
            for k, key in enumerate(keys):
                v = row.get(key)
                rows[r, k] = np.nan if v is None else v

    # Replicates are independent: a forked process reads the last part of them.
    fill_rows(fill, values)
    out: dict[Key, dict[str, Any]] = {}
    for k, key in enumerate(keys):
        low, high, n = percentile_interval(values[:, k], level)
        method = BOOTSTRAP_METHOD
        if low is None:
            method = (
                f"not computed: only {n} of {replicates} replicates could compute this number "
                "(a threshold below the exact scores held, or a rate undefined in the "
                "resampled data)"
            )
        out[key] = {"ci_low": low, "ci_high": high, "method": method, "replicates": n}
    not_held = {
        "ci_low": None,
        "ci_high": None,
        "method": "not computed: the EER lies below the exact scores the streaming engine "
        "keeps (a larger --tail-capacity reaches it)",
    }
    for i, held in enumerate(eer_held[:-1]):
        if not held and result.groups[i].eer is not None:
            out[("group", i, "eer")] = not_held
    if not eer_held[-1] and result.overall.eer is not None:
        out[("overall", "eer")] = not_held
    return out


def _ratios(point: OperatingPoint) -> dict[tuple[int, int], dict[str, float | None]]:
    """FMR and FNMR of group ``a`` over those of group ``b``, for every pair ``a < b``."""

    def ratio(x: float | None, y: float | None) -> float | None:
        return None if x is None or not y else x / y

    rows = point.groups
    return {
        (a, b): {
            "fmr": ratio(rows[a].fmr, rows[b].fmr),
            "fnmr": ratio(rows[a].fnmr, rows[b].fnmr),
        }
        for a in range(len(rows))
        for b in range(a + 1, len(rows))
    }


def _partial(
    points: list[OperatingPoint | None], eers: list[EerResult | None], overall: EerResult | None
) -> dict[Key, float | None]:
    """Numbers of a replicate (operating points that could not be computed are None)."""
    row: dict[Key, float | None] = {}
    for p, point in enumerate(points):
        if point is None:
            continue
        for key, value in _numbers([point], [], None):
            if key[0] == "point":
                row[("point", p, *key[2:])] = value
    for key, value in _numbers([], eers, overall):
        row[key] = value
    return row


def _replicate_eer(mated: WeightedScores, non_mated: WeightedScores) -> EerResult | None:
    """The EER of a replicate (only its value is read), or None where it cannot be."""
    e = weighted_eer(mated, non_mated)  # None where the curves cross below the scores held
    return None if e is None else EerResult(eer=e[0], low=e[1], high=e[2], threshold=e[3])


# --- closed-form intervals --------------------------------------------------------------


def _closed_form(result: AuditResult, method: str, level: float) -> dict[Key, dict[str, Any]]:
    interval = clopper_pearson if method == "clopper-pearson" else wilson
    out: dict[Key, dict[str, Any]] = {}

    def add(key: Key, k: int, n: int) -> None:
        if n <= 0:
            return
        low, high = interval(k, n, level)
        out[key] = {"ci_low": float(low), "ci_high": float(high), "method": method}

    for p, point in enumerate(result.operating_points):
        if point.overall is not None:
            add(
                ("point", p, "overall", "fmr"),
                point.overall.n_false_matches,
                point.overall.n_non_mated,
            )
            add(
                ("point", p, "overall", "fnmr"),
                point.overall.n_false_non_matches,
                point.overall.n_mated,
            )
        for g, row in enumerate(point.groups):
            if row.fmr is not None:
                add(("point", p, "group", g, "fmr"), row.n_false_matches, row.n_non_mated)
            if row.fnmr is not None:
                add(("point", p, "group", g, "fnmr"), row.n_false_non_matches, row.n_mated)
        for c, cell in enumerate(point.cross_group):
            add(("point", p, "cell", c, "fmr"), cell.n_false_matches, cell.n_non_mated)
    return out


# --- attaching ----------------------------------------------------------------------------


def _attach(
    result: AuditResult, intervals: dict[Key, dict[str, Any]], block: dict[str, Any]
) -> AuditResult:
    level = float(block["level"])

    def ci(key: Key, errors: int | None = None, n: int = 0) -> Interval | None:
        """The interval of a number; for a rate with no errors seen, the exact bound."""
        if errors == 0 and n > 0 and block["method"] != "none":
            low, high = clopper_pearson(0, n, level)
            return Interval(
                ci_low=float(low),
                ci_high=float(high),
                method="clopper-pearson (no errors seen: an exact upper bound, not a zero)",
            )
        found = intervals.get(key)
        return None if found is None else Interval(**found)

    pinned_note = {
        "ci_low": None,
        "ci_high": None,
        "method": "set by the threshold policy (the target, up to ties): its uncertainty is "
        "in threshold_ci",
    }
    points = []
    for p, point in enumerate(result.operating_points):
        pinned = _pinned(point, result.config.fmr_scope)
        if block["method"] == BOOTSTRAP_METHOD:
            for key in pinned:
                intervals[("point", p, *key)] = pinned_note
        overall = point.overall
        if overall is not None:
            overall = dataclasses.replace(
                overall,
                fmr_ci=ci(
                    ("point", p, "overall", "fmr"), overall.n_false_matches, overall.n_non_mated
                ),
                fnmr_ci=ci(
                    ("point", p, "overall", "fnmr"), overall.n_false_non_matches, overall.n_mated
                ),
                fmr_support=support_for(point.target_fmr, overall.n_non_mated, what="FMR"),
                fnmr_support=_observed_support(overall.fnmr, overall.n_mated),
            )
        groups = [
            dataclasses.replace(
                row,
                threshold_ci=ci(("point", p, "group", g, "threshold")),
                fmr_ci=ci(
                    ("point", p, "group", g, "fmr"),
                    row.n_false_matches if row.fmr is not None else None,
                    row.n_non_mated,
                ),
                fnmr_ci=ci(
                    ("point", p, "group", g, "fnmr"),
                    row.n_false_non_matches if row.fnmr is not None else None,
                    row.n_mated,
                ),
                fmr_support=support_for(point.target_fmr, row.n_non_mated, what="FMR"),
                fnmr_support=_observed_support(row.fnmr, row.n_mated),
            )
            for g, row in enumerate(point.groups)
        ]
        cells = [
            dataclasses.replace(
                cell,
                fmr_ci=ci(("point", p, "cell", c, "fmr"), cell.n_false_matches, cell.n_non_mated),
                fmr_support=support_for(point.target_fmr, cell.n_non_mated, what="FMR"),
            )
            for c, cell in enumerate(point.cross_group)
        ]

        def with_interval(
            path: tuple[str, ...], measure: SummaryMeasure, p: int = p
        ) -> SummaryMeasure:
            return dataclasses.replace(measure, value_ci=ci(("point", p, "summary", *path)))

        summary = point.summary.replaced(with_interval)
        ratios = [
            RateRatio(
                a=point.groups[a].label,
                b=point.groups[b].label,
                fmr_ratio=pair["fmr"],
                fmr_ratio_ci=ci(("point", p, "ratio", a, b, "fmr")),
                fnmr_ratio=pair["fnmr"],
                fnmr_ratio_ci=ci(("point", p, "ratio", a, b, "fnmr")),
            )
            for (a, b), pair in _ratios(point).items()
        ]
        points.append(
            dataclasses.replace(
                point,
                ratios=ratios,
                threshold_ci=ci(("point", p, "threshold")),
                overall=overall,
                groups=groups,
                cross_group=cells,
                summary=summary,
            )
        )

    def eer(summary: GroupSummary, key: Key) -> GroupSummary:
        if summary.eer is None:
            return summary
        return dataclasses.replace(summary, eer=dataclasses.replace(summary.eer, eer_ci=ci(key)))

    return dataclasses.replace(
        result,
        operating_points=points,
        groups=[eer(g, ("group", i, "eer")) for i, g in enumerate(result.groups)],
        overall=eer(result.overall, ("overall", "eer")),
        uncertainty=UncertaintyRecord(**block),
    )


def _pinned(point: OperatingPoint, fmr_scope: str | None) -> list[Key]:
    """FMRs that the policy sets rather than measures.

    Global: the overall FMR; per-group: each group's; reference: the reference group's,
    read on the comparisons it was set on.
    """
    policy = ThresholdPolicy.parse(point.policy)
    if policy.kind is PolicyKind.GLOBAL:
        return [("overall", "fmr")]
    if policy.kind is PolicyKind.PER_GROUP:
        return [("group", g, "fmr") for g in range(len(point.groups))]
    if fmr_scope != FMRScope.MATCHED.value or policy.reference is None:
        return []
    wanted = dict(policy.reference)
    return [("group", g, "fmr") for g, row in enumerate(point.groups) if row.attributes == wanted]


def _observed_support(rate: float | None, n: int) -> Support:
    """Support of a measured error rate (FNMR): the errors seen, by the rule of 30."""
    return support_for(rate, n, what="FNMR")
