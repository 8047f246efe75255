"""The 1:N section of the report: plain values for the HTML and Markdown templates.

:func:`build_identification` reads the audit's ``identification`` section and returns
rows and sentences; the templates only lay them out. Intervals and support flags are
shown where the results carry them (``--intervals``); where not, the tables say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from faceparity.render.figures import Chart
from faceparity.render.formatting import (
    fmt_count,
    fmt_interval,
    fmt_number,
    fmt_rate,
    fmt_ratio,
    support_text,
)
from faceparity.render.identification.charts import point_title_1n
from faceparity.results.audit import AuditResult
from faceparity.results.common import Interval, RateMeasures, SummaryMeasure, Support
from faceparity.results.identification import (
    IdentificationPoint,
    IdentificationResult,
    SearchRates,
)

__all__ = ["IdentificationSection", "build_identification"]

NO_INTERVAL = "no interval computed"


@dataclass(frozen=True)
class IdentRow:
    """One probe group (or all searches) at one 1:N operating point, formatted."""

    label: str
    threshold: str
    fpir: str
    fpir_ci: str
    fpir_counts: str
    fnir: str
    fnir_ci: str
    fnir_counts: str
    candidates: str
    same_share: str
    gallery_share: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class IdentPoint:
    """A 1:N operating point: its table, false-candidate matrix, notes and charts."""

    anchor: str
    title: str
    policy: str
    threshold: str
    rows: tuple[IdentRow, ...]
    threshold_ci: str
    matrix_header: tuple[str, ...]
    matrix_rows: tuple[tuple[str, ...], ...]
    spread_rows: tuple[tuple[str, str, str, str], ...]
    notes: tuple[str, ...]
    charts: tuple[Chart, ...]


@dataclass(frozen=True)
class IdentificationSection:
    """Everything the report says about the 1:N audit."""

    paragraphs: tuple[str, ...]
    uncertainty: str
    rules: tuple[str, ...]
    exclusions: tuple[str, ...]
    cmc_header: tuple[str, ...]
    cmc_rows: tuple[tuple[str, ...], ...]
    points: tuple[IdentPoint, ...]
    curve_title: str
    curve_header: tuple[str, ...]
    curve_rows: tuple[tuple[str, ...], ...]
    curve_notes: tuple[str, ...]
    curve_charts: tuple[Chart, ...]


def describe_policy_1n(policy: str) -> str:
    """A 1:N threshold policy in words."""
    if policy == "global":
        return "one threshold, set on all non-mated searches"
    if policy == "per-group":
        return "each group its own threshold, set on its own non-mated searches"
    if policy.startswith("reference:"):
        return (
            f"one threshold, set on the non-mated searches of the reference group "
            f"{policy.removeprefix('reference:')}; every group is read at it (NIST's practice)"
        )
    return policy


def _flag(support: Support | None) -> str:
    """``*`` after a rate its data do not support (rule of 30)."""
    return "*" if support is not None and not support.sufficient else ""


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _interval(ci: Interval | None, fmt: Any = fmt_rate) -> str:
    """An interval, or why there is none."""
    if ci is None:
        return NO_INTERVAL
    if ci.ci_low is None or ci.ci_high is None:
        return ci.method
    return fmt_interval(ci, fmt)


def _spread(point: IdentificationPoint) -> tuple[tuple[str, str, str, str], ...]:
    """(rate, measure, value, interval) of every spread measure at a point."""
    if point.summary is None:
        return ()
    rows = []
    for rate in ("fpir", "fnir"):
        measures: RateMeasures = getattr(point.summary, rate)
        for name, words, fmt in (
            ("max_min", "highest / lowest", fmt_ratio),
            ("max_geomean", "highest / geometric mean", fmt_ratio),
            ("gini", "Gini coefficient", fmt_number),
        ):
            m: SummaryMeasure = getattr(measures, name)
            value = fmt(m.value) if m.value is not None else f"n/a ({m.undefined_reason})"
            rows.append((rate.upper(), words, value, _interval(m.value_ci, fmt)))
    return tuple(rows)


def _point(ident: IdentificationResult, index: int, charts: Sequence[Chart]) -> IdentPoint:
    point = ident.operating_points[index]
    matrix = point.false_candidates
    rows = []
    items: list[tuple[int, SearchRates]] = list(enumerate(point.groups))
    if point.overall is not None:
        items.append((-1, point.overall))
    for i, g in items:
        rows.append(
            IdentRow(
                label=g.label if i >= 0 else "all searches",
                threshold=fmt_number(g.threshold),
                fpir=fmt_rate(g.fpir) + _flag(g.fpir_support),
                fpir_ci=_interval(g.fpir_ci),
                fpir_counts=f"{fmt_count(g.n_false_positive_searches)} / "
                f"{fmt_count(g.n_non_mated_searches)}",
                fnir=fmt_rate(g.fnir) + _flag(g.fnir_support),
                fnir_ci=_interval(g.fnir_ci),
                fnir_counts=f"{fmt_count(g.n_false_negative_searches)} / "
                f"{fmt_count(g.n_mated_searches)}",
                candidates=fmt_number(g.false_candidates_per_search),
                same_share=_share(matrix.same_group_share[i]) if i >= 0 else "",
                gallery_share=_share(matrix.gallery_share[i]) if i >= 0 else "100%",
                notes=tuple(g.notes)
                + tuple(
                    f"{rate}: {text}"
                    for rate, text in (
                        ("FPIR", support_text(g.fpir_support)),
                        ("FNIR", support_text(g.fnir_support)),
                    )
                    if text
                ),
            )
        )
    matrix_rows = tuple(
        (label, *(fmt_count(c) for c in row), fmt_count(n))
        for label, row, n in zip(matrix.probe_groups, matrix.counts, matrix.n_searches, strict=True)
    )
    threshold = fmt_number(point.threshold) if point.threshold is not None else "each group its own"
    return IdentPoint(
        anchor=f"ident-point-{index}",
        title=point_title_1n(point),
        policy=describe_policy_1n(point.policy),
        threshold=threshold,
        threshold_ci=_interval(point.threshold_ci, fmt_number)
        if point.threshold is not None
        else "",
        rows=tuple(rows),
        spread_rows=_spread(point),
        matrix_header=("searched group", *matrix.candidate_groups, "non-mated searches"),
        matrix_rows=matrix_rows,
        notes=tuple(point.notes),
        charts=tuple(c for c in charts if c.key.endswith(f"-{index}") and "ident" in c.key),
    )


def build_identification(
    results: AuditResult, charts: Sequence[Chart] = ()
) -> IdentificationSection | None:
    """The 1:N section of the report, or None when the results have none."""
    ident = results.identification
    if ident is None:
        return None
    p = ident.protocol
    if p.kind == "split":
        how = f"a user-given split (metadata column {p.split_column!r})"
    else:
        how = (
            f"the seeded protocol (seed {p.seed}): {p.gallery_samples} enrolment "
            f"sample(s) per enrolled subject, {p.non_mated_fraction} of each group's "
            "subjects withheld from the gallery"
        )
    paragraphs = (
        "An evaluation of open-set 1:N search on the labelled evaluation data; faceparity "
        "offers no live identification, watch-list alerting or search service.",
        f"Gallery and searches from {how}: N = {fmt_count(p.n_enrolled_subjects)} "
        f"enrolled subjects ({fmt_count(p.n_gallery_samples)} samples), "
        f"{fmt_count(p.n_mated_searches)} mated searches (other samples of enrolled "
        f"subjects) and {fmt_count(p.n_non_mated_searches)} non-mated searches "
        f"(subjects not enrolled); candidate lists of at most R = {ident.rank}.",
        "FPIR(N, T): the fraction of non-mated searches that return at least one candidate "
        "(a score at or above the threshold T). FNIR(N, R, T): the fraction of mated searches "
        "whose mate is not returned (rank worse than R or score below T). CMC(r): the fraction "
        "of mated searches whose mate is at rank r or better, with no threshold. ISO/IEC "
        "19795-1:2021 (3.22-3.24); NIST IR 8271 (FRVT Part 2). Thresholds are set for a "
        "target FPIR under each policy, as NIST fixes one on a reference group.",
    )
    unc = ident.uncertainty
    if unc is None:
        uncertainty = "No interval was computed for the 1:N rates."
    else:
        uncertainty = f"Intervals: {unc.method}, {100 * unc.level:g}% level"
        if unc.replicates is not None:
            uncertainty += f", {fmt_count(unc.replicates)} replicates (seed {unc.seed})"
        uncertainty += f"; {unc.caveat}. A rate marked * is not supported by its data "
        uncertainty += "(fewer than 30 errors expected at the target FPIR, or seen for FNIR)."
    rules = tuple(f"{k.replace('_', ' ')}: {v}" for k, v in ident.rules.items())
    exclusions = tuple(f"{fmt_count(e.count)} {e.unit}: {e.reason}" for e in ident.exclusions)
    ranks = list(range(1, ident.rank + 1))
    cmc_rows = tuple(
        (
            g.label if g is not ident.overall else "all searches",
            fmt_count(g.n_mated_searches),
            *(fmt_rate(v) for v in g.cmc),
        )
        for g in [*ident.groups, ident.overall]
    )
    points = tuple(_point(ident, i, charts) for i in range(len(ident.operating_points)))
    curve = ident.gallery_size
    curve_rows: list[tuple[str, ...]] = []
    if curve:
        for c in [*curve.groups, curve.overall]:
            label = c.label if c is not curve.overall else "all searches"
            curve_rows.append((label, "FPIR measured", *(fmt_rate(v) for v in c.fpir)))
            curve_rows.append(
                ("", "FPIR, 1 - (1 - FMR)^N", *(fmt_rate(v) for v in c.fpir_independence))
            )
            curve_rows.append(("", "FNIR", *(fmt_rate(v) for v in c.fnir)))
    return IdentificationSection(
        paragraphs=paragraphs,
        uncertainty=uncertainty,
        rules=rules,
        exclusions=exclusions,
        cmc_header=("searched group", "mated searches", *(f"rank {r}" for r in ranks)),
        cmc_rows=cmc_rows,
        points=points,
        curve_title=(
            f"Gallery size at threshold {fmt_number(curve.threshold)} (target FPIR "
            f"{curve.target_fpir:g}, policy {curve.policy}), R = {curve.rank}"
            if curve
            else "Gallery size: no single-threshold operating point, so no curve"
        ),
        curve_header=("searched group", "", *(f"N = {fmt_count(n)}" for n in curve.sizes))
        if curve
        else (),
        curve_rows=tuple(curve_rows),
        curve_notes=tuple(curve.notes) if curve else (),
        curve_charts=tuple(c for c in charts if c.key == "chart-ident-gallery"),
    )
