"""Before and after: what one method changed, read from the two audits of the held-out comparisons.

Per target FMR (global policy): every group's FMR and FNMR with their intervals, the
change of every summary measure, and the *levelling-down check*: every group whose FMR
or FNMR got worse, by how much, and whether the two intervals are apart (a
conservative test: Schenker and Gentleman 2001). Global accuracy: FNMR at each target
FMR (TPR at FPR 0.1% and 1% is one minus FNMR at FMR 1e-3 and 1e-2, as FairCal reports
it) and EER. Calibration: each group's KS calibration error (the comparisons with both
sides in the group) of the baseline's and the method's probabilities.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceparity.mitigation.calibration import ks_calibration_error
from faceparity.model.grouping import Grouping
from faceparity.results.audit import AuditResult, GroupOperatingPoint, OperatingPoint
from faceparity.results.common import Interval
from faceparity.results.mitigation import (
    Accuracy,
    GroupCalibrationError,
    GroupChange,
    LevellingDown,
    MeasureChange,
    MethodOutcome,
    PointChange,
)

__all__ = ["ACCURACY_FMRS", "compare_method", "global_point"]

ACCURACY_FMRS = (1e-3, 1e-2)
"""FMRs at which global accuracy is read as TPR (FairCal's FPR 0.1% and 1%)."""


def global_point(result: AuditResult, target: float) -> OperatingPoint | None:
    """The operating point of ``target`` under the global policy, if there is one."""
    for point in result.operating_points:
        if point.target_fmr == target and point.policy == "global":
            return point
    return None


def _apart(a: Interval | None, b: Interval | None) -> bool | None:
    if a is None or b is None or None in (a.ci_low, a.ci_high, b.ci_low, b.ci_high):
        return None
    return bool(b.ci_low > a.ci_high or a.ci_low > b.ci_high)  # type: ignore[operator]


def _group_change(before: GroupOperatingPoint, after: GroupOperatingPoint | None) -> GroupChange:
    return GroupChange(
        label=before.label,
        fmr_before=before.fmr,
        fmr_after=None if after is None else after.fmr,
        fnmr_before=before.fnmr,
        fnmr_after=None if after is None else after.fnmr,
        fmr_before_ci=before.fmr_ci,
        fmr_after_ci=None if after is None else after.fmr_ci,
        fnmr_before_ci=before.fnmr_ci,
        fnmr_after_ci=None if after is None else after.fnmr_ci,
    )


def _levelling_down(changes: list[GroupChange]) -> list[LevellingDown]:
    out = []
    for c in changes:
        for rate in ("fmr", "fnmr"):
            before, after = getattr(c, f"{rate}_before"), getattr(c, f"{rate}_after")
            if before is None or after is None or after <= before:
                continue
            apart = _apart(getattr(c, f"{rate}_before_ci"), getattr(c, f"{rate}_after_ci"))
            out.append(LevellingDown(c.label, rate.upper(), before, after, after - before, apart))
    return out


def _point(before: OperatingPoint, after: OperatingPoint) -> PointChange:
    by_label = {g.label: g for g in after.groups}
    groups = [_group_change(g, by_label.get(g.label)) for g in before.groups]
    after_measures = dict(after.summary.named())
    measures = []
    for path, m in before.summary.named():
        n = after_measures[path]
        change = None if m.value is None or n.value is None else n.value - m.value
        measures.append(
            MeasureChange(
                ".".join(path),
                m.value,
                n.value,
                change,
                m.value_ci,
                n.value_ci,
                before_reason=m.undefined_reason if m.value is None else None,
                after_reason=n.undefined_reason if n.value is None else None,
            )
        )
    return PointChange(before.target_fmr, groups, measures, _levelling_down(groups))


def _accuracy(before: AuditResult, after: AuditResult, targets: list[float]) -> list[Accuracy]:
    out = []
    for target in targets:
        p, q = global_point(before, target), global_point(after, target)
        if p is None or q is None or p.overall is None or q.overall is None:
            continue
        out.append(
            Accuracy(
                f"FNMR at FMR {target:g}",
                p.overall.fnmr,
                q.overall.fnmr,
                p.overall.fnmr_ci,
                q.overall.fnmr_ci,
            )
        )
    for target in ACCURACY_FMRS:
        p, q = global_point(before, target), global_point(after, target)
        if p is None or q is None or p.overall is None or q.overall is None:
            continue
        if p.overall.fnmr is None or q.overall.fnmr is None:
            continue

        def tpr(ci: Interval | None) -> Interval | None:
            if ci is None or ci.ci_low is None or ci.ci_high is None:
                return ci
            return Interval(1.0 - ci.ci_high, 1.0 - ci.ci_low, ci.method, ci.replicates)

        out.append(
            Accuracy(
                f"TPR at FPR {target * 100:g}%",
                1.0 - p.overall.fnmr,
                1.0 - q.overall.fnmr,
                tpr(p.overall.fnmr_ci),
                tpr(q.overall.fnmr_ci),
            )
        )
    eb, ea = before.overall.eer, after.overall.eer
    out.append(
        Accuracy(
            "EER",
            None if eb is None else eb.eer,
            None if ea is None else ea.eer,
            None if eb is None else eb.eer_ci,
            None if ea is None else ea.eer_ci,
        )
    )
    return out


def _calibration(
    grouping: Grouping,
    mated: npt.NDArray[np.bool_],
    before: npt.NDArray[np.float64] | None,
    after: npt.NDArray[np.float64] | None,
) -> list[GroupCalibrationError]:
    def ks(log_odds: npt.NDArray[np.float64] | None, rows: npt.NDArray[np.bool_]) -> float | None:
        return None if log_odds is None else ks_calibration_error(log_odds[rows], mated[rows])

    out = []
    codes = grouping.codes
    for g, group in enumerate(grouping.groups):
        rows = (codes[:, 0] == g) & (codes[:, 1] == g)
        out.append(GroupCalibrationError(group.label, ks(before, rows), ks(after, rows)))
    return out


def compare_method(
    name: str,
    before: AuditResult,
    after: AuditResult,
    *,
    targets: list[float],
    grouping: Grouping,
    mated: npt.NDArray[np.bool_],
    before_log_odds: npt.NDArray[np.float64] | None,
    after_log_odds: npt.NDArray[np.float64] | None,
) -> MethodOutcome:
    """What ``name`` changed between the baseline audit ``before`` and its own ``after``.

    ``grouping`` and ``mated`` are those of the held-out comparisons, in the order of
    the two arrays of log-odds (None where there were no mated training comparisons to
    calibrate on: the calibration errors are then None).
    """
    points = []
    for target in targets:
        p, q = global_point(before, target), global_point(after, target)
        if p is not None and q is not None:
            points.append(_point(p, q))
    return MethodOutcome(
        method=name,
        points=points,
        accuracy=_accuracy(before, after, targets),
        calibration=_calibration(grouping, mated, before_log_odds, after_log_odds),
    )
