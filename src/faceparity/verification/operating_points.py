"""One operating point of the 1:1 audit: a policy's threshold for a target FMR, the rates at it.

:func:`operating_point` reads a :class:`Partition` (the audit's scores split by group,
cross-group cell, mated and non-mated). The audit calls it once per policy and target;
the subject bootstrap (:mod:`faceparity.uncertainty`) calls it again on each replicate's
reweighted partition, so both follow the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from faceparity.errors import UsageError
from faceparity.metrics.differentials import summarize
from faceparity.metrics.rates import MatedCounts, ScoreCounts, max_false_matches
from faceparity.model.comparisons import Exclusion
from faceparity.model.config import AuditConfig, PolicyKind, ThresholdPolicy
from faceparity.model.grouping import Grouping
from faceparity.results.audit import (
    CrossGroupCell,
    GroupOperatingPoint,
    OperatingPoint,
    RateMeasures,
    RatePair,
    SummaryMeasure,
    SummaryMeasures,
)

__all__ = ["Partition", "below_resolution_note", "group_notes", "operating_point", "rate_of"]


M = TypeVar("M", bound=MatedCounts)


@dataclass
class Partition(Generic[M]):
    """Similarity scores of the audit split the ways the operating points need them."""

    overall_mated: M
    overall_non_mated: ScoreCounts
    group_mated: list[M]
    group_non_mated: Sequence[ScoreCounts]
    cells: Mapping[tuple[int, int], ScoreCounts]
    exclusions: list[Exclusion]


def operating_point(
    policy: ThresholdPolicy,
    target: float,
    grouping: Grouping,
    part: Partition[M],
    config: AuditConfig,
    sign: float,
) -> OperatingPoint:
    """Every rate of the audit at the threshold ``policy`` sets for ``target`` (an FMR).

    ``sign`` is +1 for similarity scores and -1 for distances (scores are held as
    similarities; thresholds are reported in the input's own direction).
    """
    groups = grouping.groups
    notes: list[str] = []
    common: float | None
    if policy.kind is PolicyKind.GLOBAL:
        common = part.overall_non_mated.threshold_at_fmr(target)
        basis = part.overall_non_mated
    elif policy.kind is PolicyKind.REFERENCE:
        assert policy.reference is not None
        ref = grouping.find(policy.reference)
        # Set on the reference group's demographically matched non-mated comparisons
        # (NISTIR 8280), whatever FMR scope the groups are read with.
        basis = part.cells[(ref, ref)]
        if not len(basis):
            raise UsageError(
                f"reference group {groups[ref].label!r} has no demographically matched "
                "non-mated comparisons to set a threshold on"
            )
        common = basis.threshold_at_fmr(target)
    else:
        common, basis = None, part.overall_non_mated
    if common is not None and max_false_matches(len(basis), target) == 0:
        notes.append(below_resolution_note(target, len(basis)))

    group_points = []
    for i, group in enumerate(groups):
        m, nm = part.group_mated[i], part.group_non_mated[i]
        t = common
        gnotes = group_notes(len(m), len(nm))
        if t is None and len(nm):
            t = nm.threshold_at_fmr(target)
            if max_false_matches(len(nm), target) == 0:
                gnotes.append(below_resolution_note(target, len(nm)))
        fm = int(nm.count_at_or_above(t)) if t is not None else 0
        fnm = int(m.count_below(t)) if t is not None else 0
        group_points.append(
            GroupOperatingPoint(
                attributes=group.as_dict(),
                label=group.label,
                threshold=None if t is None else sign * t,
                fmr=rate_of(fm, len(nm)) if t is not None else None,
                fnmr=rate_of(fnm, len(m)) if t is not None else None,
                n_false_matches=fm,
                n_non_mated=len(nm),
                n_false_non_matches=fnm,
                n_mated=len(m),
                notes=gnotes,
            )
        )

    overall: RatePair | None = None
    cells: list[CrossGroupCell] = []
    if common is not None:
        fm = int(part.overall_non_mated.count_at_or_above(common))
        fnm = int(part.overall_mated.count_below(common))
        overall = RatePair(
            fmr=rate_of(fm, len(part.overall_non_mated)),
            fnmr=rate_of(fnm, len(part.overall_mated)),
            n_false_matches=fm,
            n_non_mated=len(part.overall_non_mated),
            n_false_non_matches=fnm,
            n_mated=len(part.overall_mated),
        )
        for (i, j), cell in part.cells.items():
            cfm = int(cell.count_at_or_above(common))
            cells.append(
                CrossGroupCell(
                    a=groups[i].as_dict(),
                    b=groups[j].as_dict(),
                    fmr=rate_of(cfm, len(cell)),
                    n_false_matches=cfm,
                    n_non_mated=len(cell),
                )
            )
    else:
        notes.append(
            "per-group policy: each group is read at its own threshold; there is no single "
            "threshold, so no overall rates and no cross-group matrix"
        )

    summary_raw = summarize(
        {g.label: g.fmr for g in group_points},
        {g.label: g.fnmr for g in group_points},
        alpha=config.alpha,
    )

    def measure(m: Any) -> SummaryMeasure:
        return SummaryMeasure(m.value, m.n_groups, m.undefined_reason)

    def rate(name: str) -> RateMeasures:
        measures: dict[str, Any] = dict(summary_raw[name])  # type: ignore[arg-type]
        return RateMeasures(**{k: measure(m) for k, m in measures.items()})

    summary = SummaryMeasures(
        fmr=rate("fmr"),
        fnmr=rate("fnmr"),
        **{k: measure(summary_raw[k]) for k in ("garbe", "fdr", "inequity_rate")},
    )
    return OperatingPoint(
        target_fmr=target,
        policy=str(policy),
        threshold=None if common is None else sign * common,
        overall=overall,
        groups=group_points,
        cross_group=cells,
        summary=summary,
        notes=notes,
    )


def rate_of(errors: int, n: int) -> float | None:
    """``errors / n``, or None when there is nothing to count (``n == 0``)."""
    return errors / n if n else None


def below_resolution_note(target: float, n_non_mated: int) -> str:
    """The note of a target FMR below one false match among ``n_non_mated`` comparisons."""
    return (
        f"target FMR {target:g} is below 1/{n_non_mated} (one false match among the "
        "non-mated comparisons that set the threshold): the threshold rejects all of them"
    )


def group_notes(n_mated: int, n_non_mated: int) -> list[str]:
    """Why a group's rates are undefined, if they are (no mated or no non-mated comparisons)."""
    notes = []
    if not n_mated:
        notes.append("no mated comparisons: FNMR and EER are undefined")
    if not n_non_mated:
        notes.append("no non-mated comparisons: FMR, EER and a per-group threshold are undefined")
    return notes
