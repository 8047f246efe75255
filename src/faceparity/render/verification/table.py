"""A readable per-group table of an :class:`~faceparity.results.audit.AuditResult` for a terminal.

Plain text only (stdout stays data that can be piped); rates are fractions written
in scientific notation, undefined rates as ``-`` with the reason below the table.
"""

from __future__ import annotations

from collections.abc import Callable

from faceparity.render.formatting import text_grid
from faceparity.results.audit import AuditResult, OperatingPoint, SummaryMeasure
from faceparity.results.common import Interval, Support

__all__ = ["format_table"]


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3e}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _interval(ci: Interval | None, fmt: Callable[[float | None], str]) -> str:
    """``[low, high]``, or ``-`` where no interval was computed."""
    if ci is None or ci.ci_low is None:
        return "-"
    return f"[{fmt(ci.ci_low)}, {fmt(ci.ci_high)}]"


def _supported(rate: str, support: Support | None) -> str:
    """The rate, marked ``*`` where the comparisons cannot support it (rule of 30)."""
    return rate if support is None or support.sufficient else f"{rate}*"


def _measure(value: SummaryMeasure) -> str:
    text = _ratio(value.value)
    ci = value.value_ci
    return text if ci is None or ci.ci_low is None else f"{text} {_interval(ci, _ratio)}"


def _point_lines(result: AuditResult, point: OperatingPoint) -> list[str]:
    rule = result.config.match_rule
    if point.threshold is None:
        title = (
            f"target FMR {point.target_fmr:g}, policy {point.policy} (each group its own threshold)"
        )
    else:
        title = (
            f"target FMR {point.target_fmr:g}, policy {point.policy}: "
            f"threshold {point.threshold!r} (match when {rule})"
        )
        if point.threshold_ci and point.threshold_ci.ci_low is not None:
            title += f", interval {_interval(point.threshold_ci, lambda v: f'{v:.6g}')}"
    level = f"{result.uncertainty.level:.0%}" if result.uncertainty else ""
    header = [
        "group",
        "FMR",
        f"FMR {level} CI".replace("  ", " "),
        "false matches",
        "non-mated",
        "FNMR",
        f"FNMR {level} CI".replace("  ", " "),
        "false non-matches",
        "mated",
    ]
    if point.threshold is None:
        header.insert(1, "threshold")
    rows = []
    footnotes: list[str] = []
    for g in point.groups:
        row = [
            g.label,
            _supported(_rate(g.fmr), g.fmr_support),
            _interval(g.fmr_ci, _rate),
            str(g.n_false_matches),
            str(g.n_non_mated),
            _supported(_rate(g.fnmr), g.fnmr_support),
            _interval(g.fnmr_ci, _rate),
            str(g.n_false_non_matches),
            str(g.n_mated),
        ]
        if point.threshold is None:
            row.insert(1, "-" if g.threshold is None else f"{g.threshold:.6g}")
        rows.append(row)
        footnotes.extend(f"{g.label}: {note}" for note in g.notes)
    if point.overall is not None:
        o = point.overall
        rows.append(
            [
                "overall",
                _supported(_rate(o.fmr), o.fmr_support),
                _interval(o.fmr_ci, _rate),
                str(o.n_false_matches),
                str(o.n_non_mated),
                _supported(_rate(o.fnmr), o.fnmr_support),
                _interval(o.fnmr_ci, _rate),
                str(o.n_false_non_matches),
                str(o.n_mated),
            ]
        )
    s = point.summary
    summary = (
        f"FMR  max/min {_measure(s.fmr.max_min)}, "
        f"max/geomean {_measure(s.fmr.max_geomean)}, "
        f"Gini {_measure(s.fmr.gini)}\n"
        f"FNMR max/min {_measure(s.fnmr.max_min)}, "
        f"max/geomean {_measure(s.fnmr.max_geomean)}, "
        f"Gini {_measure(s.fnmr.gini)}\n"
        f"GARBE {_measure(s.garbe)}, FDR {_measure(s.fdr)}, "
        f"inequity rate {_measure(s.inequity_rate)}"
    )
    if any(
        r.fmr_support
        and not r.fmr_support.sufficient
        or r.fnmr_support
        and not r.fnmr_support.sufficient
        for r in point.groups
    ):
        footnotes.append(
            "* fewer than 30 errors expected (FMR: at the target) or seen (FNMR): the "
            "comparisons cannot support this rate (Doddington's rule of 30)"
        )
    for path, measure in s.named():
        if measure.value is None and measure.undefined_reason is not None:
            name = f"{path[0].upper()} {path[1]}" if len(path) == 2 else path[0]
            footnotes.append(f"{name}: {measure.undefined_reason}")
    lines = [title, *text_grid(header, rows), summary, *_cross_group_lines(point)]
    lines.extend(f"  note: {n}" for n in (*point.notes, *dict.fromkeys(footnotes)))
    return lines


def _cross_group_lines(point: OperatingPoint) -> list[str]:
    """The cross-group FMR matrix (symmetric; each unordered pair is one cell)."""
    if not point.cross_group:
        return []
    labels = [g.label for g in point.groups]
    index = {tuple(sorted(g.attributes.items())): i for i, g in enumerate(point.groups)}
    cells = [["" for _ in labels] for _ in labels]
    for cell in point.cross_group:
        i = index[tuple(sorted(cell.a.items()))]
        j = index[tuple(sorted(cell.b.items()))]
        cells[i][j] = cells[j][i] = _rate(cell.fmr)
    rows = [[label, *row] for label, row in zip(labels, cells, strict=True)]
    return [
        "cross-group FMR (non-mated comparisons with one side in each group)",
        *text_grid(["", *labels], rows),
    ]


def format_table(result: AuditResult) -> str:
    """The per-group table for every operating point, as plain text."""
    inp = result.input
    head = [
        f"faceparity audit of {inp.source or 'comparisons'}",
        f"{inp.n_comparisons} comparisons ({inp.n_mated} mated, "
        f"{inp.n_non_mated} non-mated), "
        f"{'unknown' if inp.n_subjects is None else inp.n_subjects} subjects; "
        f"groups by {' x '.join(result.config.group_by)}; "
        f"FMR scope {result.config.fmr_scope}",
    ]
    for e in result.exclusions:
        head.append(f"excluded ({e.scope}): {e.count} {e.unit}: {e.reason}")
    if result.uncertainty:
        u = result.uncertainty
        runs = f", {u.replicates} replicates, seed {u.seed}" if u.replicates else ""
        head.append(f"intervals: {u.method} at {u.level:.0%}{runs}; {u.caveat}")
    blocks = ["\n".join(head)]
    blocks.extend("\n".join(_point_lines(result, p)) for p in result.operating_points)
    return "\n\n".join(blocks) + "\n"
