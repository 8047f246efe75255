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

from faceparity.render.figures import (
    OKABE_ITO,
    Chart,
    figure,
    line_style,
    positive_pairs,
    rate_span,
    svg,
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
    fig = figure(7.0, 4.6)
    ax = fig.add_subplot()
    dropped = 0
    for i, (g, x, y, d) in enumerate(curves):
        dropped += d
        ax.plot(x, y, label=_label(g), linewidth=1.6, **line_style(i))
    for t in results.config.target_fmrs:
        ax.axvline(t, color="#777777", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("FMR (false match rate, log scale)")
    ax.set_ylabel("FNMR (false non-match rate, log scale)")
    ax.grid(True, which="major", linewidth=0.4, color="#cccccc")
    ax.legend(fontsize="small", ncols=2 if len(groups) > 6 else 1, loc="best")
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
    return Chart("chart-det", "DET curves per group", caption, alt, svg(fig, "chart-det", alt))


def threshold_chart(results: AuditResult) -> Chart | None:
    """FMR and FNMR against the threshold per group, from the DET samples."""
    dets = [(g, g.det) for g in results.groups if g.det is not None and g.det.threshold]
    if not dets:
        return None
    groups = [g for g, _ in dets]
    fig = figure(8.0, 4.0)
    ax_fmr, ax_fnmr = fig.subplots(1, 2, sharex=True)
    dropped = 0
    for i, (g, det) in enumerate(dets):
        # thresholds may be negative (distances, cosine): keep them, drop only zero rates
        pairs = [
            (t, r)
            for t, r in zip(det.threshold, det.fmr, strict=True)
            if t is not None and r is not None and r > 0
        ]
        dropped += len(det.fmr) - len(pairs)
        ax_fmr.plot([p[0] for p in pairs], [p[1] for p in pairs], label=_label(g), **line_style(i))
        pairs = [
            (t, r)
            for t, r in zip(det.threshold, det.fnmr, strict=True)
            if t is not None and r is not None
        ]
        ax_fnmr.plot([p[0] for p in pairs], [p[1] for p in pairs], label=_label(g), **line_style(i))
    for p in results.operating_points:
        if p.threshold is not None:
            for ax in (ax_fmr, ax_fnmr):
                ax.axvline(p.threshold, color="#777777", linewidth=0.8, linestyle=":")
    positive = any(r is not None and r > 0 for _, det in dets for r in det.fmr)
    if positive:
        ax_fmr.set_yscale("log")
    ax_fmr.set_ylabel("FMR (log scale)" if positive else "FMR")
    ax_fnmr.set_ylabel("FNMR")
    kind = results.input.score_kind
    for ax in (ax_fmr, ax_fnmr):
        ax.set_xlabel(f"threshold ({kind})")
        ax.grid(True, linewidth=0.4, color="#cccccc")
    ax_fnmr.legend(fontsize="small", loc="best")
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
        svg(fig, "chart-threshold", alt),
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
    import numpy as np

    limit = max([1.0, *finite])
    grid = np.ma.masked_invalid(
        np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)
    )
    size = max(4.0, 0.55 * n + 2.5)
    fig = figure(size + 1.2, size)
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="PuOr_r", vmin=-limit, vmax=limit)
    ax.set_facecolor("#eeeeee")
    labels = [_label(g) for g in groups]
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
    ax.set_title(tex_safe(point_title(point)), fontsize="small")
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
    return Chart(key, f"Cross-group FMR, {point_title(point)}", caption, alt, svg(fig, key, alt))


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
    fig = figure(8.0, max(2.5, 0.35 * len(groups) + 1.5))
    axes = fig.subplots(1, 2, sharey=True)
    ys = list(range(len(groups)))
    with_ci = []
    for ax, rate in zip(axes, ("fmr", "fnmr"), strict=True):
        xs = [g.fmr if rate == "fmr" else g.fnmr for g in groups]
        shown = [(y, x) for y, x in zip(ys, xs, strict=True) if x is not None]
        errors = _interval_errors(groups, rate)
        if errors is not None:
            with_ci.append(rate.upper())
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
    axes[0].set_yticks(ys, [_label(g) for g in groups], fontsize="small")
    axes[0].invert_yaxis()
    fig.suptitle(tex_safe(point_title(point)), fontsize="small")

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
    return Chart(key, f"Rates per group, {point_title(point)}", caption, alt, svg(fig, key, alt))
