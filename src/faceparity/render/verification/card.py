"""The 1:1 sections of the report: rows, measures and sentences as plain values.

:mod:`faceparity.render.report` assembles them with the 1:N and acquisition sections
into the card. Intervals, support flags and the ``uncertainty`` block are shown when
the audit has them and reported as absent otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from faceparity.render.figures import Chart
from faceparity.render.formatting import (
    SUMMARY_MEASURES,
    describe_group,
    describe_policy,
    fmt_count,
    fmt_interval,
    fmt_number,
    fmt_rate,
    fmt_ratio,
    point_title,
    support_text,
)
from faceparity.render.verification.sentence import differential
from faceparity.results.audit import (
    AuditResult,
    GroupOperatingPoint,
    OperatingPoint,
    RatePair,
    SummaryMeasure,
    SummaryMeasures,
)
from faceparity.results.common import Interval

__all__ = [
    "ETHICS",
    "INTENDED_USE",
    "OUT_OF_SCOPE",
    "OUT_OF_SCOPE_1N",
    "CellRow",
    "GroupRow",
    "MeasureRow",
    "PointSection",
    "caveats",
    "point_section",
    "with_ci",
]


INTENDED_USE = (
    "This report describes how the system's 1:1 verification errors differ between "
    "demographic groups on the evaluation data named below, at the stated thresholds. "
    "It supports decisions about whether those differentials are acceptable for a "
    "verification deployment that resembles this evaluation.",
)
OUT_OF_SCOPE = (
    "1:N identification (search against a gallery): its error rates are not the 1:1 rates here.",
    "Populations, capture conditions or image qualities unlike the evaluation data.",
    "Thresholds other than those reported: differentials change with the threshold.",
    "Judgements about individuals: rates describe groups of comparisons.",
)
OUT_OF_SCOPE_1N = (
    "Live identification, watch-list alerting or any search service: the 1:N section "
    "evaluates the model on labelled data, at the stated gallery size and composition; its "
    "rates change with both."
)
ETHICS = (
    "Demographic groups here are the labels of the evaluation data, not facts about "
    "people; coarse or annotated labels hide variation within groups and may be wrong "
    "for some people.",
    "A higher false match rate for a group exposes its members to impersonation and, in "
    "investigative use, to wrongful suspicion; a higher false non-match rate denies them "
    "service more often. Both are harms to weigh, not only accuracy figures.",
    "This report holds no face image and no embedding: only counts, rates, scores "
    "thresholds and the group labels.",
)


@dataclass(frozen=True)
class GroupRow:
    """One group (or the overall row) at one operating point, formatted."""

    label: str
    name: str
    threshold: str
    fmr: str
    fmr_ci: str
    fmr_counts: str
    fmr_support: str
    fnmr: str
    fnmr_ci: str
    fnmr_counts: str
    fnmr_support: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class MeasureRow:
    """A summary measure of the differential at one operating point."""

    name: str
    value: str
    ci: str
    n_groups: str
    note: str


@dataclass(frozen=True)
class CellRow:
    """One cell of the cross-group FMR matrix."""

    a: str
    b: str
    fmr: str
    ci: str
    counts: str
    support: str


@dataclass(frozen=True)
class PointSection:
    """An operating point: its sentences, tables, notes and charts."""

    anchor: str
    title: str
    policy: str
    threshold: str
    sentences: tuple[str, ...]
    rows: tuple[GroupRow, ...]
    measures: tuple[MeasureRow, ...]
    cells: tuple[CellRow, ...]
    notes: tuple[str, ...]
    charts: tuple[Chart, ...]
    has_intervals: bool


def _ci(ci: Interval | None, fmt: Any = fmt_rate) -> str:
    return fmt_interval(ci, fmt)


def with_ci(text: str, ci: Interval | None, fmt: Any) -> str:
    """``text`` followed by the interval, when there is one."""
    interval = _ci(ci, fmt)
    return f"{text} {interval}" if interval else text


def _group_row(
    g: GroupOperatingPoint | RatePair,
    *,
    name: str | None = None,
    threshold: float | None = None,
    threshold_ci: Interval | None = None,
) -> GroupRow:
    if isinstance(g, GroupOperatingPoint):
        label, attributes, notes = g.label, g.attributes, g.notes
        threshold, threshold_ci = g.threshold, g.threshold_ci
    else:
        label, attributes, notes = "overall", {}, []
    return GroupRow(
        label=label,
        name=name or describe_group(attributes, label),
        threshold=with_ci(fmt_number(threshold), threshold_ci, fmt_number),
        fmr=fmt_rate(g.fmr),
        fmr_ci=_ci(g.fmr_ci),
        fmr_counts=f"{fmt_count(g.n_false_matches)} / {fmt_count(g.n_non_mated)}",
        fmr_support=support_text(g.fmr_support),
        fnmr=fmt_rate(g.fnmr),
        fnmr_ci=_ci(g.fnmr_ci),
        fnmr_counts=f"{fmt_count(g.n_false_non_matches)} / {fmt_count(g.n_mated)}",
        fnmr_support=support_text(g.fnmr_support),
        notes=tuple(notes),
    )


def _measures(summary: SummaryMeasures) -> tuple[MeasureRow, ...]:
    rows = []
    for family, key, name in SUMMARY_MEASURES:
        m: SummaryMeasure = (
            getattr(getattr(summary, family), key) if family else getattr(summary, key)
        )
        rows.append(
            MeasureRow(
                name=name,
                value=fmt_ratio(m.value),
                ci=_ci(m.value_ci, fmt_ratio),
                n_groups=str(m.n_groups),
                note=m.undefined_reason or "",
            )
        )
    return tuple(rows)


def _has_intervals(point: OperatingPoint) -> bool:
    cis: list[Interval | None] = [
        ci for g in point.groups for ci in (g.threshold_ci, g.fmr_ci, g.fnmr_ci)
    ]
    cis += [c.fmr_ci for c in point.cross_group]
    if point.overall is not None:
        cis += [point.overall.fmr_ci, point.overall.fnmr_ci]
    return any(ci is not None for ci in cis)


def point_section(
    results: AuditResult, index: int, charts: Sequence[Chart], level: float | None
) -> PointSection:
    """The section of the operating point ``index``, with its charts among ``charts``."""
    point = results.operating_points[index]
    rows = [_group_row(g) for g in point.groups]
    if point.overall is not None:
        rows.append(_group_row(point.overall, name="all comparisons", threshold=point.threshold))
    cells = tuple(
        CellRow(
            a=describe_group(c.a, ""),
            b=describe_group(c.b, ""),
            fmr=fmt_rate(c.fmr),
            ci=_ci(c.fmr_ci),
            counts=f"{fmt_count(c.n_false_matches)} / {fmt_count(c.n_non_mated)}",
            support=support_text(c.fmr_support),
        )
        for c in point.cross_group
    )
    sentences = tuple(differential(point, rate=r, level=level).text for r in ("fmr", "fnmr"))
    mine = tuple(c for c in charts if c.key.endswith(f"-{index}"))
    threshold = (
        fmt_number(point.threshold)
        if point.threshold is not None
        else ("each group its own (see the table)")
    )
    tci = _ci(point.threshold_ci, fmt_number)
    return PointSection(
        anchor=f"point-{index}",
        title=point_title(point),
        policy=describe_policy(point.policy),
        threshold=f"{threshold} {tci}".strip(),
        sentences=sentences,
        rows=tuple(rows),
        measures=_measures(point.summary),
        cells=cells,
        notes=tuple(point.notes),
        charts=mine,
        has_intervals=_has_intervals(point),
    )


def caveats(results: AuditResult, points: Sequence[PointSection]) -> list[str]:
    """The caveats of the 1:1 audit: intervals, support, zero rates, input notes."""
    lines = []
    unc = results.uncertainty
    if unc is not None:
        text = (
            f"Intervals: {unc.method}"
            + f", {100 * unc.level:g}% level"
            + (f", {unc.replicates} replicates" if unc.replicates else "")
            + (f", seed {unc.seed}" if unc.seed is not None else "")
            + "."
        )
        if unc.caveat:
            text += f" {unc.caveat}"
        lines.append(text)
    else:
        lines.append(
            "No interval was computed for these results: every rate is a point estimate, and "
            "differences between groups may lie within sampling error."
        )
    unsupported = sorted(
        {
            f"{row.label} ({p.title})"
            for p in points
            for row in p.rows
            if row.fmr_support or row.fnmr_support
        }
    )
    if unsupported:
        lines.append(
            "Rates flagged as not supported by the data (too few comparisons or expected "
            f"errors): {'; '.join(unsupported)}."
        )
    zero = sorted({row.label for p in points for row in p.rows if row.fmr == fmt_rate(0.0)})
    if zero:
        lines.append(
            "A zero FMR means no false match was observed, not that none can happen; ratios "
            f"against it are unbounded (groups: {', '.join(zero)})."
        )
    lines.append(
        "Rates are measured on the evaluation data at the stated thresholds; they estimate "
        "what the system would do on similar data, nothing more."
    )
    for note in results.input.notes:
        lines.append(f"Input: {note}")
    return lines
