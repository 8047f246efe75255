"""The charts of the 1:1 audit, drawn with matplotlib and returned as inline SVG.

Palette, figure and SVG as in :mod:`faceparity.render.figures`. Charts, each drawn only
when the result carries what it needs:

- DET per group (NIST FRVT style: log FMR on x, log FNMR on y), from ``groups[].det``;
- FMR and FNMR against the threshold per group, from the same samples (they carry thresholds);
- the cross-group FMR heatmap in log10(FMR / target), one per single-threshold operating point;
- FMR and FNMR per group at each operating point, with interval bars when the rates
  have intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from faceparity.render.figures import (
    OKABE_ITO,
    Chart,
    figure,
    label_width,
    line_style,
    log_scale,
    positive_pairs,
    rate_span,
    readable_scale,
    tex_safe,
)
from faceparity.render.formatting import describe_group, fmt_percent, point_title
from faceparity.results.audit import AuditResult, GroupOperatingPoint, GroupSummary

__all__ = ["det_chart", "heatmap_chart", "rates_chart", "threshold_chart"]


def _label(group: GroupSummary | GroupOperatingPoint) -> str:
    return tex_safe(group.label)


def det_chart(results: AuditResult) -> Chart | None:
    """DET curves per group on log FMR and log FNMR axes, target FMRs marked."""
    dets = [(g, g.det) for g in results.groups if g.det is not None and g.det.fmr]
    if not dets:
        return None
    groups = [g for g, _ in dets]
    curves = [(g, *positive_pairs(det.fmr, det.fnmr)) for g, det in dets]
    if not any(x for _, x, _, _ in curves):
        return None  # nothing can be drawn on log axes; the card says so
    dropped = sum(d for _, _, _, d in curves)
    targets = results.config.target_fmrs

    def draw() -> Any:
        fig = figure(7.0, 4.6, left=0.9, bottom=0.55)
        ax = fig.add_subplot()
        for i, (g, x, y, _) in enumerate(curves):
            ax.plot(x, y, label=_label(g), linewidth=1.6, **line_style(i))
        for t in targets:
            ax.axvline(t, color="#777777", linewidth=0.8, linestyle=":")
        log_scale(ax, "x")
        log_scale(ax, "y")
        ax.set_xlabel("FMR (false match rate, log scale)")
        ax.set_ylabel("FNMR (false non-match rate, log scale)")
        ax.grid(True, which="major", linewidth=0.4, color="#cccccc")
        ax.legend(fontsize="small", ncols=2 if len(groups) > 6 else 1, loc="best")
        return fig

    eers = [(g.eer.eer, g) for g in groups if g.eer is not None]
    alt = f"DET curves of {len(groups)} groups, FNMR against FMR on log axes."
    if eers:
        lo, hi = min(eers, key=lambda e: e[0]), max(eers, key=lambda e: e[0])
        alt += (
            f" The equal error rate ranges from {fmt_percent(lo[0])} "
            f"({describe_group(lo[1].attributes, lo[1].label)}) to "
            f"{fmt_percent(hi[0])} ({describe_group(hi[1].attributes, hi[1].label)})."
        )
    caption = (
        "DET per group: FNMR against FMR, both on log scales (lower left is better); "
        "dotted vertical lines mark the target FMRs. Sampled at log-spaced FMRs."
    )
    if dropped:
        caption += (
            f" {dropped} samples with a zero rate cannot be drawn on log axes and are left out."
        )
    return Chart("chart-det", "DET curves per group", caption, alt, draw)


def threshold_chart(results: AuditResult) -> Chart | None:
    """FMR and FNMR against the threshold per group, from the DET samples."""
    dets = [(g, g.det) for g in results.groups if g.det is not None and g.det.threshold]
    if not dets:
        return None
    groups = [g for g, _ in dets]
    fmr_curves, fnmr_curves = [], []
    for _, det in dets:
        # thresholds may be negative (distances, cosine): keep them, drop only zero rates
        fmr_curves.append(
            [
                (t, r)
                for t, r in zip(det.threshold, det.fmr, strict=True)
                if t is not None and r is not None and r > 0
            ]
        )
        fnmr_curves.append(
            [
                (t, r)
                for t, r in zip(det.threshold, det.fnmr, strict=True)
                if t is not None and r is not None
            ]
        )
    dropped = sum(len(det.fmr) - len(c) for (_, det), c in zip(dets, fmr_curves, strict=True))
    lines = [p.threshold for p in results.operating_points if p.threshold is not None]
    scale = readable_scale([t for c in fnmr_curves for t, _ in c] + lines)
    positive = any(r is not None and r > 0 for _, det in dets for r in det.fmr)
    kind = results.input.score_kind
    unit = f"{kind}, in units of {scale:g}" if scale != 1.0 else str(kind)

    def draw() -> Any:
        fig = figure(8.0, 4.0, left=0.85, bottom=0.55, gap=0.85)
        ax_fmr, ax_fnmr = fig.subplots(1, 2, sharex=True)
        for i, g in enumerate(groups):
            for ax, curve in ((ax_fmr, fmr_curves[i]), (ax_fnmr, fnmr_curves[i])):
                ax.plot(
                    [p[0] / scale for p in curve],
                    [p[1] for p in curve],
                    label=_label(g),
                    **line_style(i),
                )
        for t in lines:
            for ax in (ax_fmr, ax_fnmr):
                ax.axvline(t / scale, color="#777777", linewidth=0.8, linestyle=":")
        if positive:
            log_scale(ax_fmr, "y")
        ax_fmr.set_ylabel("FMR (log scale)" if positive else "FMR")
        ax_fnmr.set_ylabel("FNMR")
        for ax in (ax_fmr, ax_fnmr):
            ax.set_xlabel(f"threshold ({unit})")
            ax.grid(True, linewidth=0.4, color="#cccccc")
        ax_fnmr.legend(fontsize="small", loc="best")
        return fig

    alt = (
        f"Two panels: FMR{' (log scale)' if positive else ''} and FNMR of {len(groups)} "
        "groups against the threshold, "
        f"from {sum(len(det.threshold) for _, det in dets)} DET samples. "
        f"The match rule is: {results.config.match_rule}."
    )
    caption = (
        "FMR and FNMR against the threshold per group (from the DET samples); dotted "
        "vertical lines mark the thresholds of the single-threshold operating points."
    )
    if dropped:
        caption += f" {dropped} samples with FMR 0 are not drawn on the log scale."
    return Chart(
        "chart-threshold",
        "FMR and FNMR against the threshold",
        caption,
        alt,
        draw,
    )


def heatmap_chart(results: AuditResult, index: int) -> Chart | None:
    """Cross-group FMR in log10(FMR / target) at one single-threshold operating point."""
    point = results.operating_points[index]
    if point.threshold is None or not point.cross_group:
        return None
    groups = point.groups
    keys = {tuple(sorted(g.attributes.items())): i for i, g in enumerate(groups)}
    n = len(groups)
    target = float(point.target_fmr)
    values: list[list[float | None]] = [[None] * n for _ in range(n)]
    text: list[list[str]] = [["no comparisons"] * n for _ in range(n)]
    zero_cells = 0
    for cell in point.cross_group:
        i = keys.get(tuple(sorted(cell.a.items())))
        j = keys.get(tuple(sorted(cell.b.items())))
        if i is None or j is None:
            continue
        fmr = cell.fmr
        if fmr is None:
            label, value = "n/a", None
        elif fmr == 0:
            label, value = "0", None
            zero_cells += 1
        else:
            value = math.log10(fmr / target)
            label = f"{fmr / target:.2g}x"
        for a, b in ((i, j), (j, i)):
            values[a][b] = value
            text[a][b] = label
    finite = [abs(v) for row in values for v in row if v is not None]
    if not finite and not zero_cells:
        return None
    limit = max([1.0, *finite])
    labels = [_label(g) for g in groups]
    title = tex_safe(point_title(point))

    def draw() -> Any:
        import numpy as np

        grid = np.ma.masked_invalid(
            np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)
        )
        size = max(4.0, 0.55 * n + 2.5)
        margin = label_width(labels)
        fig = figure(
            size + 1.2, size, left=0.3 + margin, right=0.85, bottom=0.35 + 0.75 * margin, top=0.35
        )
        ax = fig.add_subplot()
        image = ax.imshow(grid, cmap="PuOr_r", vmin=-limit, vmax=limit)
        ax.set_facecolor("#eeeeee")
        ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize="small")
        ax.set_yticks(range(n), labels, fontsize="small")
        for a in range(n):
            for b in range(n):
                v = values[a][b]
                dark = v is not None and abs(v) > 0.6 * limit
                ax.text(
                    b,
                    a,
                    text[a][b] if text[a][b] != "no comparisons" else "-",
                    ha="center",
                    va="center",
                    fontsize="x-small",
                    color="white" if dark else "black",
                )
        bar = fig.colorbar(image, ax=ax, shrink=0.8)
        bar.set_label("log10(FMR / target FMR)")
        ax.set_title(title, fontsize="small")
        return fig

    cells = [(float(c.fmr), c) for c in point.cross_group if c.fmr is not None and c.fmr != 0]
    alt = (
        f"Heatmap of the cross-group FMR of {n} groups at {point_title(point)}, as multiples "
        f"of the target FMR {target:g}."
    )
    if cells:
        hi = max(cells, key=lambda c: c[0])
        lo = min(cells, key=lambda c: c[0])
        alt += (
            f" Highest: {describe_group(hi[1].a, '')} against "
            f"{describe_group(hi[1].b, '')}, {hi[0] / target:.2g} times the target; lowest: "
            f"{describe_group(lo[1].a, '')} against {describe_group(lo[1].b, '')}, "
            f"{lo[0] / target:.2g} times."
        )
    if zero_cells:
        alt += f" {zero_cells} cells had no false match (shown as 0)."
    caption = (
        f"Cross-group FMR at {point_title(point)}: non-mated comparisons with one side in the "
        "row group and the other in the column group, coloured by log10(FMR / target) "
        "(0 = at the target; orange above, purple below) and labelled with FMR / target. "
        "Cells with no false match are grey and labelled 0 (the logarithm is undefined)."
    )
    key = f"chart-heatmap-{index}"
    return Chart(key, f"Cross-group FMR, {point_title(point)}", caption, alt, draw)


def _interval_errors(
    groups: Sequence[GroupOperatingPoint], rate: str
) -> tuple[list[float], list[float]] | None:
    lows, highs = [], []
    any_ci = False
    for g in groups:
        ci = g.fmr_ci if rate == "fmr" else g.fnmr_ci
        value = g.fmr if rate == "fmr" else g.fnmr
        if (
            ci is not None
            and value is not None
            and ci.ci_low is not None
            and ci.ci_high is not None
        ):
            any_ci = True
            lows.append(max(0.0, value - ci.ci_low))
            highs.append(max(0.0, ci.ci_high - value))
        else:
            lows.append(0.0)
            highs.append(0.0)
    return (lows, highs) if any_ci else None


def rates_chart(results: AuditResult, index: int) -> Chart | None:
    """FMR and FNMR per group at one operating point, with interval bars when present."""
    point = results.operating_points[index]
    groups = [g for g in point.groups if g.fmr is not None or g.fnmr is not None]
    if not groups:
        return None
    ys = list(range(len(groups)))
    panels = []
    for rate in ("fmr", "fnmr"):
        xs = [g.fmr if rate == "fmr" else g.fnmr for g in groups]
        shown = [(y, x) for y, x in zip(ys, xs, strict=True) if x is not None]
        panels.append((rate, shown, _interval_errors(groups, rate)))
    with_ci = [rate.upper() for rate, _, errors in panels if errors is not None]
    labels = [_label(g) for g in groups]
    title = tex_safe(point_title(point))

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
        for ax, (rate, shown, errors) in zip(axes, panels, strict=True):
            if errors is not None:
                err = [[errors[0][y] for y, _ in shown], [errors[1][y] for y, _ in shown]]
                ax.errorbar(
                    [x for _, x in shown],
                    [y for y, _ in shown],
                    xerr=err,
                    fmt="o",
                    color=OKABE_ITO[4],
                    ecolor="#555555",
                    capsize=3,
                )
            else:
                ax.plot([x for _, x in shown], [y for y, _ in shown], "o", color=OKABE_ITO[4])
            if rate == "fmr":
                ax.axvline(
                    point.target_fmr,
                    color=OKABE_ITO[5],
                    linestyle="--",
                    linewidth=1,
                    label="target FMR",
                )
                ax.legend(fontsize="x-small", loc="lower right")
            ax.set_xlabel(f"{rate.upper()} (fraction)")
            ax.set_xlim(left=0)
            ax.grid(True, axis="x", linewidth=0.4, color="#cccccc")
        axes[0].set_yticks(ys, labels, fontsize="small")
        axes[0].invert_yaxis()
        fig.suptitle(title, fontsize="small")
        return fig

    alt = (
        f"Dot plots of FMR and FNMR for {len(groups)} groups at {point_title(point)}: "
        f"{rate_span(groups, 'fmr')}; {rate_span(groups, 'fnmr')}."
    )
    intervals = (
        f"Bars are the intervals of {' and '.join(with_ci)}."
        if with_ci
        else "No interval was computed (the results carry none), so no bars are drawn."
    )
    caption = (
        f"FMR and FNMR per group at {point_title(point)}; the dashed line marks the target "
        f"FMR. {intervals}"
    )
    if point.threshold is None:
        caption += " Each group is read at its own threshold."
    key = f"chart-rates-{index}"
    return Chart(key, f"Rates per group, {point_title(point)}", caption, alt, draw)
