"""Charts of the 1:N section of an audit (drawn only when it is present).

Palette, figure and SVG as in :mod:`faceparity.render.figures`: matplotlib imported
lazily, Okabe-Ito colours and line styles, every chart with a caption and a text
alternative.

- FPIR and FNIR per probe group at each operating point (the 1:N audit computes no
  interval, and the chart says so);
- the false-candidate matrix (probe group x candidate group) at each operating point
  where a non-mated search returned anything: each row's share of false candidates,
  in a sequential colour-blind-safe map (cividis), labelled with the counts;
- the gallery-size curves: measured FPIR per probe group against the gallery size
  with the independence approximation ``1 - (1 - FMR)^N`` dashed, and FNIR.
"""

from __future__ import annotations

from typing import Any

from faceparity.render.figures import (
    OKABE_ITO,
    Chart,
    figure,
    label_width,
    line_style,
    log_scale,
    rate_span,
    tex_safe,
)
from faceparity.render.formatting import fmt_percent
from faceparity.results.audit import AuditResult
from faceparity.results.identification import IdentificationPoint, IdentificationResult

__all__ = ["identification_charts", "point_title_1n"]


def point_title_1n(point: IdentificationPoint) -> str:
    """``target FPIR 0.002, policy global, R = 1``."""
    return f"target FPIR {point.target_fpir:g}, policy {point.policy}, R = {point.rank}"


def rates_chart_1n(ident: IdentificationResult, index: int) -> Chart | None:
    """FPIR and FNIR per probe group at one 1:N operating point."""
    point = ident.operating_points[index]
    groups = [g for g in point.groups if g.fpir is not None or g.fnir is not None]
    if not groups:
        return None
    ys = list(range(len(groups)))
    labels = [tex_safe(g.label) for g in groups]
    title = point_title_1n(point)

    def draw() -> Any:
        fig = figure(
            8.0,
            max(2.5, 0.35 * len(groups) + 1.5),
            left=0.3 + label_width(labels),
            bottom=0.55,
            top=0.4,
            gap=0.25,
        )
        axes = fig.subplots(1, 2, sharey=True)
        for ax, rate in zip(axes, ("fpir", "fnir"), strict=True):
            values = [g.fpir if rate == "fpir" else g.fnir for g in groups]
            shown = [(y, v) for y, v in zip(ys, values, strict=True) if v is not None]
            for y, g in zip(ys, groups, strict=True):
                ci = g.fpir_ci if rate == "fpir" else g.fnir_ci
                if ci is not None and ci.ci_low is not None and ci.ci_high is not None:
                    ax.plot([ci.ci_low, ci.ci_high], [y, y], color=OKABE_ITO[4], linewidth=1.5)
            ax.plot([x for _, x in shown], [y for y, _ in shown], "o", color=OKABE_ITO[4])
            if rate == "fpir":
                ax.axvline(point.target_fpir, color=OKABE_ITO[5], linestyle="--", linewidth=1,
                           label="target FPIR")  # fmt: skip
                ax.legend(fontsize="x-small", loc="lower right")
            ax.set_xlabel(f"{rate.upper()} (fraction)")
            ax.set_xlim(left=0)
            ax.grid(True, axis="x", linewidth=0.4, color="#cccccc")
        axes[0].set_yticks(ys, labels, fontsize="small")
        axes[0].invert_yaxis()
        fig.suptitle(tex_safe(title), fontsize="small")
        return fig

    alt = (
        f"Dot plots of FPIR and FNIR for {len(groups)} probe groups at {title}: "
        f"{rate_span(groups, 'fpir')}; {rate_span(groups, 'fnir')}."
    )
    has_bars = any(
        ci is not None and ci.ci_low is not None for g in groups for ci in (g.fpir_ci, g.fnir_ci)
    )
    intervals = (
        "Bars: the intervals the results carry."
        if has_bars
        else "No interval was computed (the results carry none), so no bars are drawn."
    )
    caption = (
        f"1:N FPIR (non-mated searches returning a candidate) and FNIR (mated searches whose "
        f"mate is not returned) per probe group at {title}; the dashed line marks the target "
        f"FPIR. {intervals}"
    )
    if point.threshold is None:
        caption += " Each group is read at its own threshold."
    key = f"chart-ident-rates-{index}"
    return Chart(key, f"1:N rates per group, {title}", caption, alt, draw)


def candidates_chart(ident: IdentificationResult, index: int) -> Chart | None:
    """The false-candidate matrix at one operating point, as row shares."""
    point = ident.operating_points[index]
    matrix = point.false_candidates
    counts = matrix.counts
    totals = [sum(row) for row in counts]
    if not any(totals):
        return None
    rows, cols = matrix.probe_groups, matrix.candidate_groups
    shares = [[c / t if t else None for c in row] for row, t in zip(counts, totals, strict=True)]
    title = point_title_1n(point)

    def draw() -> Any:
        import numpy as np

        share = np.array([[np.nan if v is None else v for v in row] for row in shares])
        size = max(4.0, 0.55 * len(cols) + 2.5)
        x_margin = label_width(cols)
        fig = figure(size + 1.2, size, left=0.55 + label_width(rows), right=0.85,
                     bottom=0.6 + 0.75 * x_margin, top=0.35)  # fmt: skip
        ax = fig.add_subplot()
        image = ax.imshow(np.ma.masked_invalid(share), cmap="cividis", vmin=0.0, vmax=1.0)
        ax.set_facecolor("#eeeeee")
        ax.set_xticks(range(len(cols)), [tex_safe(c) for c in cols], rotation=45, ha="right",
                      fontsize="small")  # fmt: skip
        ax.set_yticks(range(len(rows)), [tex_safe(r) for r in rows], fontsize="small")
        ax.set_xlabel("group of the false candidate")
        ax.set_ylabel("group of the non-mated search")
        for a, row in enumerate(counts):
            for b, c in enumerate(row):
                value = share[a, b]
                ax.text(b, a, str(c), ha="center", va="center", fontsize="x-small",
                        color="black" if value == value and value > 0.6 else "white"
                        if value == value else "black")  # fmt: skip
        bar = fig.colorbar(image, ax=ax, shrink=0.8)
        bar.set_label("share of the row's false candidates")
        ax.set_title(tex_safe(title), fontsize="small")
        return fig

    same = [
        (r, s, g)
        for r, s, g in zip(rows, matrix.same_group_share, matrix.gallery_share, strict=True)
        if s is not None
    ]
    alt = (
        f"Heatmap of the false candidates returned to non-mated searches at {title}: "
        f"{sum(totals)} false candidates in all, rows are the searched groups, columns the "
        "groups of the candidates."
    )
    if same:
        alt += (
            " Share of each row's false candidates in the searched person's own group: "
            + "; ".join(
                f"{r} {fmt_percent(s)} (gallery share {fmt_percent(g)})" for r, s, g in same
            )
            + "."
        )
    caption = (
        f"Who is returned to non-mated searches at {title}: each row is a searched group, "
        "coloured by the share of its false candidates in each group and labelled with the "
        "counts. Rows with no false candidate are grey. Compare the diagonal with each group's "
        "share of the gallery (in the table)."
    )
    key = f"chart-ident-candidates-{index}"
    return Chart(key, f"False candidates by group, {title}", caption, alt, draw)


def gallery_chart(ident: IdentificationResult) -> Chart | None:
    """FPIR (measured and independence approximation) and FNIR against the gallery size."""
    curve = ident.gallery_size
    if curve is None:
        return None
    sizes = curve.sizes
    groups = curve.groups
    title = (
        f"threshold {curve.threshold:.6g} (target FPIR {curve.target_fpir:g}, "
        f"policy {curve.policy}), R = {curve.rank}"
    )

    def draw() -> Any:
        fig = figure(8.0, 4.0, left=0.85, bottom=0.55, top=0.4, gap=0.85)
        ax_fpir, ax_fnir = fig.subplots(1, 2, sharex=True)
        for i, g in enumerate(groups):
            style = line_style(i)
            label = tex_safe(g.label)
            pts = [(n, v) for n, v in zip(sizes, g.fpir, strict=True) if v is not None]
            ax_fpir.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3,
                         color=style["color"], linestyle="-", label=label)  # fmt: skip
            pts = [(n, v) for n, v in zip(sizes, g.fpir_independence, strict=True) if v is not None]
            ax_fpir.plot([p[0] for p in pts], [p[1] for p in pts], color=style["color"],
                         linestyle="--", linewidth=1)  # fmt: skip
            pts = [(n, v) for n, v in zip(sizes, g.fnir, strict=True) if v is not None]
            ax_fnir.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3,
                         label=label, **style)  # fmt: skip
        for ax, name in ((ax_fpir, "FPIR"), (ax_fnir, "FNIR")):
            log_scale(ax, "x")
            ax.set_xlabel("gallery size N (enrolled subjects, log scale)")
            ax.set_ylabel(f"{name} (fraction)")
            ax.grid(True, linewidth=0.4, color="#cccccc")
        ax_fpir.legend(fontsize="x-small", loc="upper left")
        fig.suptitle(tex_safe(f"Gallery size at {title}"), fontsize="small")
        return fig

    o = curve.overall
    alt = (
        f"Two panels against the gallery size from {sizes[0]} to {sizes[-1]} subjects, for "
        f"{len(groups)} probe groups at {title}. All searches: FPIR "
        + ", ".join(fmt_percent(v) for v in o.fpir)
        + "; independence approximation "
        + ", ".join(fmt_percent(v) for v in o.fpir_independence)
        + "; FNIR "
        + ", ".join(fmt_percent(v) for v in o.fnir)
        + "."
    )
    caption = (
        "FPIR and FNIR as the gallery grows (nested random sub-galleries) at a fixed "
        "threshold: solid lines measured, dashed lines the independence approximation "
        "FPIR(N) = 1 - (1 - FMR)^N with each group's measured per-comparison FMR. Where the "
        "solid line falls below the dashed one, false matches cluster on some searches."
    )
    key = "chart-ident-gallery"
    return Chart(key, "FPIR and FNIR against the gallery size", caption, alt, draw)


def identification_charts(results: AuditResult) -> list[Chart]:
    """Every 1:N chart the results support (none without an ``identification`` section)."""
    ident = results.identification
    if ident is None:
        return []
    n = len(ident.operating_points)
    charts = [rates_chart_1n(ident, i) for i in range(n)]
    charts += [candidates_chart(ident, i) for i in range(n)]
    charts.append(gallery_chart(ident))
    return [c for c in charts if c is not None]
