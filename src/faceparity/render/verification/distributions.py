"""The report's score distributions: quantile tables and per-group densities on one axis.

Reads the ``score_distributions`` section of the results
(:mod:`faceparity.results.distributions`). The chart follows NIST FRVT Part 3 (Grother
et al. 2019, NISTIR 8280): each group's mated and non-mated score densities drawn on one
score axis, so a shift of a group's non-mated scores towards the threshold, which
raises its FMR, shows at a glance. It draws one line of a few dozen points per group
and panel, from the stored counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from faceparity.render.figures import Chart, figure, line_style, readable_scale, tex_safe
from faceparity.render.formatting import NOT_AVAILABLE, fmt_count
from faceparity.results.audit import AuditResult
from faceparity.results.distributions import (
    GroupScoreDistributions,
    ScoreDistribution,
    ScoreDistributions,
)

__all__ = ["DistributionRow", "DistributionsSection", "build_distributions", "density_chart"]

ANCHOR = "score-distributions"
"""The id of the section in the HTML report."""
CHART_KEY = "chart-score-distributions"


@dataclass(frozen=True)
class DistributionRow:
    """One group's mated or non-mated scores, formatted."""

    label: str
    n: str
    quantiles: tuple[str, ...]
    median_shift: str
    ks: str


@dataclass(frozen=True)
class DistributionsSection:
    """The section: its paragraphs, the quantile tables, the chart."""

    anchor: str
    paragraphs: tuple[str, ...]
    header: tuple[str, ...]
    mated: tuple[DistributionRow, ...]
    non_mated: tuple[DistributionRow, ...]
    notes: tuple[str, ...]
    largest_shift: str
    chart: Chart | None


def _score(value: float | None) -> str:
    """A score or a shift of scores: four significant digits."""
    return NOT_AVAILABLE if value is None else f"{value:.4g}"


def _ks(value: float | None) -> str:
    return NOT_AVAILABLE if value is None else f"{value:.3f}"


def _row(label: str, d: ScoreDistribution) -> DistributionRow:
    ks = _ks(d.ks)
    if d.ks is not None and d.ks_high is not None:
        ks = f"{ks} to {_ks(d.ks_high)}"
    return DistributionRow(
        label=label,
        n=fmt_count(d.n),
        quantiles=tuple(_score(q) for q in d.quantiles),
        median_shift=("+" if (d.median_shift or 0) > 0 else "") + _score(d.median_shift),
        ks=ks,
    )


def _largest(dist: ScoreDistributions, kind: str) -> str:
    shifts = [
        (abs(getattr(g, kind).median_shift), g)
        for g in dist.groups
        if getattr(g, kind).median_shift is not None
    ]
    if not shifts:
        return f"no group has a {kind.replace('_', '-')} median"
    _, g = max(shifts, key=lambda s: s[0])
    d: ScoreDistribution = getattr(g, kind)
    return (
        f"the largest {kind.replace('_', '-')} median shift is {_score(d.median_shift)} "
        f"({g.label}, KS distance {_ks(d.ks)} over {fmt_count(d.n)} scores)"
    )


def build_distributions(
    results: AuditResult, charts: Sequence[Chart] = ()
) -> DistributionsSection | None:
    """The score distributions section, or None when the results carry none.

    Its chart is the one of ``charts`` keyed ``chart-score-distributions``
    (:func:`density_chart`, made with the report's other charts), if any.
    """
    dist = results.score_distributions
    if dist is None:
        return None
    kind = results.input.score_kind
    rows = [(g.label, g) for g in dist.groups] + [("pooled", dist.overall)]
    header = tuple(f"{100 * p:g}%" for p in dist.probabilities)
    paragraphs = (
        f"Each group's {kind} scores, mated and non-mated, beside the pooled scores of every "
        "group (ISO/IEC 19795-10 asks for shifts in comparison score by group): quantiles, "
        "the shift of the median from the pooled median, and the two-sample "
        "Kolmogorov-Smirnov distance to the pooled scores (0: the same distribution, 1: no "
        "overlap).",
        f"Shifts: {_largest(dist, 'mated')}; {_largest(dist, 'non_mated')}.",
    )
    return DistributionsSection(
        anchor=ANCHOR,
        paragraphs=paragraphs,
        header=header,
        mated=tuple(_row(label, g.mated) for label, g in rows),
        non_mated=tuple(_row(label, g.non_mated) for label, g in rows),
        notes=tuple(dist.notes),
        largest_shift=_largest(dist, "non_mated"),
        chart=next((c for c in charts if c.key == CHART_KEY), None),
    )


def _densities(
    groups: list[GroupScoreDistributions], edges: list[float], kind: str
) -> list[list[float]]:
    widths = [b / 2 - a / 2 for a, b in zip(edges, edges[1:], strict=False)]  # half widths
    out = []
    for g in groups:
        d: ScoreDistribution = getattr(g, kind)
        total = max(d.n, 1)
        out.append(
            [c / (total * 2 * w) if w > 0 else 0.0 for c, w in zip(d.density, widths, strict=True)]
        )
    return out


def density_chart(results: AuditResult) -> Chart | None:
    """Mated and non-mated score densities of every group on one score axis (two panels)."""
    dist = results.score_distributions
    if dist is None or len(dist.edges) < 2 or not dist.groups:
        return None
    groups = [g for g in dist.groups if g.mated.n or g.non_mated.n]
    if not groups:
        return None
    edges = dist.edges
    scale = readable_scale(edges)
    # Halved before adding: edges near the largest float would overflow their sum.
    mids = [a / scale / 2 + b / scale / 2 for a, b in zip(edges, edges[1:], strict=False)]
    panels = {k: _densities(groups, edges, k) for k in ("non_mated", "mated")}
    # Thresholds within the scores' range only: one far outside would squash the densities.
    lines = [
        p.threshold / scale
        for p in results.operating_points
        if p.threshold is not None and edges[0] <= p.threshold <= edges[-1]
    ]
    kind = results.input.score_kind
    unit = f"{kind}, in units of {scale:g}" if scale != 1.0 else str(kind)

    def draw() -> Any:
        fig = figure(8.0, 3.6, left=0.75, bottom=0.55, gap=0.6)
        axes = fig.subplots(1, 2, sharex=True)
        for ax, (name, curves) in zip(axes, panels.items(), strict=True):
            for i, (g, ys) in enumerate(zip(groups, curves, strict=True)):
                ax.plot(mids, ys, label=tex_safe(g.label), linewidth=1.3, **line_style(i))
            for t in lines:
                ax.axvline(t, color="#777777", linewidth=0.8, linestyle=":")
            ax.set_title(name.replace("_", "-"), fontsize="medium")
            ax.set_xlabel(f"score ({unit})")
            ax.grid(True, linewidth=0.4, color="#cccccc")
        axes[0].set_ylabel("density")
        axes[1].legend(fontsize="small", loc="best")
        return fig

    alt = (
        f"Two panels, non-mated and mated score densities of {len(groups)} groups on one "
        f"{kind} axis; {_largest(dist, 'non_mated')}; {_largest(dist, 'mated')}."
    )
    caption = (
        f"Score densities per group (counts in {len(edges) - 1} bins, divided by the group's "
        "count and the bin width); dotted vertical lines mark the thresholds of the "
        "single-threshold operating points within the scores' range."
    )
    return Chart(CHART_KEY, "Score distributions per group", caption, alt, draw)
