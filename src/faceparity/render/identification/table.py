"""Readable terminal tables of the 1:N section of a result and of a scenario (plain text)."""

from __future__ import annotations

from faceparity.render.formatting import text_grid
from faceparity.results.common import Interval
from faceparity.results.identification import IdentificationPoint, IdentificationResult
from faceparity.review.scenario import ScenarioResult

__all__ = ["format_identification_table", "format_scenario_table"]


def _rate(value: float | None, ci: Interval | None = None) -> str:
    """A rate, and its interval where the results carry one with bounds."""
    if value is None:
        return "-"
    if ci is None or ci.ci_low is None or ci.ci_high is None:
        return f"{value:.3e}"
    return f"{value:.3e} [{ci.ci_low:.2e}, {ci.ci_high:.2e}]"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _point(point: IdentificationPoint) -> list[str]:
    if point.threshold is None:
        title = (
            f"1:N, target FPIR {point.target_fpir:g}, policy {point.policy} "
            f"(each group its own threshold), rank R = {point.rank}"
        )
    else:
        title = (
            f"1:N, target FPIR {point.target_fpir:g}, policy {point.policy}: threshold "
            f"{point.threshold!r}, rank R = {point.rank} (a candidate is returned when "
            "score >= threshold and rank <= R)"
        )
    header = [
        "probe group",
        "FPIR",
        "false pos.",
        "non-mated",
        "FNIR",
        "false neg.",
        "mated",
        "false cand./search",
        "same-group share",
        "gallery share",
    ]
    if point.threshold is None:
        header.insert(1, "threshold")
    matrix = point.false_candidates
    rows = []
    for i, g in enumerate(point.groups):
        row = [
            g.label,
            _rate(g.fpir, g.fpir_ci),
            str(g.n_false_positive_searches),
            str(g.n_non_mated_searches),
            _rate(g.fnir, g.fnir_ci),
            str(g.n_false_negative_searches),
            str(g.n_mated_searches),
            _share(g.false_candidates_per_search),
            _share(matrix.same_group_share[i]),
            _share(matrix.gallery_share[i]),
        ]
        if point.threshold is None:
            row.insert(1, "-" if g.threshold is None else f"{g.threshold:.6g}")
        rows.append(row)
    if point.overall is not None:
        o = point.overall
        rows.append(
            [
                "overall",
                _rate(o.fpir, o.fpir_ci),
                str(o.n_false_positive_searches),
                str(o.n_non_mated_searches),
                _rate(o.fnir, o.fnir_ci),
                str(o.n_false_negative_searches),
                str(o.n_mated_searches),
                _share(o.false_candidates_per_search),
                "",
                "1.00",
            ]
        )
    counts = [
        [label, *(str(c) for c in row)]
        for label, row in zip(matrix.probe_groups, matrix.counts, strict=True)
    ]
    lines = [title, *text_grid(header, rows)]
    lines.append(
        "false candidates returned to non-mated searches "
        "(row: probe group, column: candidate group)"
    )
    lines.extend(text_grid(["", *matrix.candidate_groups], counts))
    notes = [*point.notes, *(f"{g.label}: {n}" for g in point.groups for n in g.notes)]
    lines.extend(f"  note: {n}" for n in dict.fromkeys(notes))
    return lines


def format_identification_table(ident: IdentificationResult) -> str:
    """The 1:N results as plain text: counts, CMC, each operating point, gallery sizes."""
    p = ident.protocol
    if p.kind == "split":
        how = f"user split (column {p.split_column!r})"
    else:
        how = (
            f"seeded protocol (seed {p.seed}): {p.gallery_samples} gallery "
            f"sample(s) per subject, non-mated fraction {p.non_mated_fraction}"
        )
    head = [
        f"1:N identification audit, {how}",
        f"gallery N = {p.n_enrolled_subjects} subjects ({p.n_gallery_samples} "
        f"samples); {p.n_mated_searches} mated and {p.n_non_mated_searches} "
        f"non-mated searches; candidate lists of R = {ident.rank}",
    ]
    head.extend(f"excluded ({e.scope}): {e.count} {e.unit}: {e.reason}" for e in ident.exclusions)
    ranks = list(range(1, ident.rank + 1))
    cmc_rows = [
        [g.label, str(g.n_mated_searches), *(_rate(v) for v in g.cmc)]
        for g in [*ident.groups, ident.overall]
    ]
    blocks = ["\n".join(head)]
    blocks.append(
        "\n".join(
            [
                "CMC: rank-r identification rate of the mated searches (no threshold)",
                *text_grid(["probe group", "mated", *(f"rank {r}" for r in ranks)], cmc_rows),
            ]
        )
    )
    blocks.extend("\n".join(_point(pt)) for pt in ident.operating_points)
    curve = ident.gallery_size
    if curve is not None:
        rows = []
        for g in [*curve.groups, curve.overall]:
            rows.append([g.label, "FPIR", *(_rate(v) for v in g.fpir)])
            rows.append(["", "1-(1-FMR)^N", *(_rate(v) for v in g.fpir_independence)])
            rows.append(["", "FNIR", *(_rate(v) for v in g.fnir)])
        blocks.append(
            "\n".join(
                [
                    f"gallery size: nested random sub-galleries at threshold {curve.threshold!r} "
                    f"(target FPIR {curve.target_fpir:g}, policy {curve.policy}), R = {curve.rank}",
                    *text_grid(["probe group", "", *(f"N={n}" for n in curve.sizes)], rows),
                ]
            )
        )
    return "\n\n".join(blocks) + "\n"


def format_scenario_table(scenario: ScenarioResult) -> str:
    """The scenario as plain text: one row per searched group, then the assumptions."""
    src, dep = scenario.source, scenario.deployment
    target = (
        f"target FMR {src['target_fmr']:g}"
        if "target_fmr" in src
        else f"target FPIR {src['target_fpir']:g}"
    )
    rank = "no limit" if dep["rank"] is None else str(dep["rank"])
    head = [
        f"scenario: gallery of {dep['gallery_size']:,} enrolled subjects "
        + "("
        + ", ".join(f"{k} {v:,}" for k, v in dep["gallery"].items())
        + "), "
        f"candidate lists of R = {rank}",
        f"rates: {src['kind']} audit, {target}, policy {src['policy']}, "
        f"threshold {src['threshold']!r}",
    ]

    def num(v: float | None, bounds: list[float] | None = None, fmt: str = "{:,.3g}") -> str:
        if v is None:
            return "-"
        text = fmt.format(v)
        if bounds:
            text += " [" + ", ".join(fmt.format(b) for b in bounds) + "]"
        return text

    header = [
        "searched group",
        "searches/day",
        "FPIR",
        "false cand./search",
        "false cand./day",
        "false cand./year",
        "ratio to best",
    ]
    rows = [
        [
            g.label,
            f"{g.searches_per_day:,g}",
            num(g.fpir, g.fpir_bounds, "{:.3e}"),
            num(g.false_candidates_per_search, g.false_candidates_per_search_bounds, "{:.3e}"),
            num(g.false_candidates_per_day, g.false_candidates_per_day_bounds),
            num(g.false_candidates_per_year, g.false_candidates_per_year_bounds),
            "-" if g.ratio_to_best is None else f"{g.ratio_to_best:.2f}",
        ]
        for g in scenario.groups
    ]
    lines = [*head, *text_grid(header, rows)]
    if scenario.best_served is not None:
        lines.append(
            f"best-served group: {scenario.best_served} (fewest false candidates per search)"
        )
    lines.extend(
        f"  note: {n}"
        for n in [*scenario.notes, *(f"{g.label}: {n}" for g in scenario.groups for n in g.notes)]
    )
    lines.append("assumptions:")
    lines.extend(f"  - {a}" for a in scenario.assumptions)
    return "\n".join(lines) + "\n"
