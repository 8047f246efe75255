"""A :class:`~faceparity.review.leaderboard.Leaderboard` as text, Markdown, HTML or JSON.

The HTML page draws accuracy (overall FNMR) against the differential, one point per
system with its interval bars, the Pareto front joined by a line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from faceparity.render.environment import GENERATOR, template_environment
from faceparity.render.figures import OKABE_ITO, Chart, figure
from faceparity.render.formatting import NOT_AVAILABLE, fmt_number, fmt_rate, fmt_ratio, text_grid
from faceparity.review.leaderboard import (
    DIFFERENTIALS,
    PARETO_RULE,
    RANK_RULE,
    Estimate,
    Leaderboard,
)

__all__ = [
    "HEADER",
    "leaderboard_chart",
    "leaderboard_html",
    "leaderboard_json",
    "leaderboard_markdown",
    "leaderboard_rows",
    "leaderboard_text",
]

HEADER = (
    "system",
    "rank",
    "Pareto",
    "threshold",
    "FNMR [CI]",
    "FMR [CI]",
    "FMR max/min [CI]",
    "FMR max/geomean [CI]",
    "FNMR max/min [CI]",
    "FNMR max/geomean [CI]",
    "GARBE [CI]",
    "worst group FMR [CI]",
)


def _with_ci(estimate: Estimate, fmt: Callable[[float | None], str]) -> str:
    text = fmt(estimate.value)
    if estimate.has_interval:
        text += f" [{fmt(estimate.ci_low)}, {fmt(estimate.ci_high)}]"
    return text


def leaderboard_rows(board: Leaderboard) -> list[list[str]]:
    """One row of formatted cells per system, in the order of :data:`HEADER`."""
    rows = []
    for s in board.standings:
        pareto = "yes" if s.pareto else ""
        if s.dominated_beyond_intervals:
            pareto = "dominated beyond the intervals"
        worst = NOT_AVAILABLE
        if s.worst_group is not None:
            worst = f"{s.worst_group} {_with_ci(s.worst_group_fmr, fmt_rate)}"
        rows.append(
            [
                s.name,
                NOT_AVAILABLE if s.rank is None else str(s.rank),
                pareto,
                fmt_number(s.threshold),
                _with_ci(s.fnmr, fmt_rate),
                _with_ci(s.fmr, fmt_rate),
                *(_with_ci(s.differentials[k], fmt_ratio) for k in list(DIFFERENTIALS)[1:]),
                _with_ci(s.differentials["garbe"], fmt_ratio),
                worst,
            ]
        )
    return rows


def _rules(board: Leaderboard) -> list[str]:
    return [
        f"rank: {RANK_RULE}",
        PARETO_RULE.format(name=board.differential_name),
        "worst group: the highest group FMR at the threshold each system runs at this "
        "operating point",
    ]


def _title(board: Leaderboard) -> str:
    return f"Leaderboard at target FMR {board.target_fmr:g}, policy {board.policy}"


def leaderboard_text(board: Leaderboard) -> str:
    """A plain-text table for the terminal, then the rules and notes."""
    lines = [_title(board), *text_grid(HEADER, leaderboard_rows(board), left=frozenset({2}))]
    lines += [f"  {r}" for r in _rules(board)]
    lines += [f"  note: {n}" for n in board.notes]
    return "\n".join(lines) + "\n"


def leaderboard_json(board: Leaderboard) -> str:
    """JSON (:meth:`~faceparity.review.leaderboard.Leaderboard.to_dict`), indented."""
    return json.dumps(board.to_dict(), indent=2, allow_nan=False) + "\n"


def leaderboard_markdown(board: Leaderboard) -> str:
    """Markdown: the table, the rules, the notes."""
    template = template_environment("md").get_template("leaderboard.md.j2")
    text = str(
        template.render(
            title=_title(board),
            header=HEADER,
            rows=leaderboard_rows(board),
            rules=_rules(board),
            notes=board.notes,
            generator=GENERATOR,
        )
    )
    lines: list[str] = []
    for line in text.splitlines():
        if not (line.strip() == "" and lines and lines[-1] == ""):
            lines.append(line.rstrip())
    return "\n".join(lines).strip() + "\n"


def leaderboard_html(board: Leaderboard) -> str:
    """A self-contained HTML page (no script, no external resource) with the chart."""
    template = template_environment("html").get_template("leaderboard.html.j2")
    return str(
        template.render(
            title=_title(board),
            header=HEADER,
            rows=leaderboard_rows(board),
            rules=_rules(board),
            notes=board.notes,
            chart=leaderboard_chart(board),
            generator=GENERATOR,
        )
    )


def _error_bar(e: Estimate) -> list[float]:
    if not e.has_interval or e.value is None:
        return [0.0, 0.0]
    return [max(e.value - float(e.ci_low or 0.0), 0.0), max(float(e.ci_high or 0.0) - e.value, 0.0)]


def leaderboard_chart(board: Leaderboard) -> Chart:
    """FNMR against the differential, one point per system with interval bars."""
    name = board.differential_name
    drawn = [
        s
        for s in board.standings
        if s.fnmr.value is not None and s.differentials[board.differential].value is not None
    ]
    missing = len(board.standings) - len(drawn)
    alt = f"FNMR against {name} at target FMR {board.target_fmr:g}: " + "; ".join(
        f"{s.name} FNMR {fmt_rate(s.fnmr.value)}, {name} "
        f"{fmt_ratio(s.differentials[board.differential].value)}"
        + (", on the Pareto front" if s.pareto else "")
        for s in drawn
    )

    def draw() -> Any:
        fig = figure(6.4, 4.2, left=0.9, bottom=0.7)
        ax = fig.add_subplot(1, 1, 1)
        for i, s in enumerate(drawn):
            d = s.differentials[board.differential]
            ax.errorbar(
                [s.fnmr.value],
                [d.value],
                xerr=[[v] for v in _error_bar(s.fnmr)],
                yerr=[[v] for v in _error_bar(d)],
                fmt="o" if s.pareto else "s",
                color=OKABE_ITO[(i + 1) % len(OKABE_ITO)],
                markerfacecolor=None if s.pareto else "white",
                capsize=3,
                label=s.name + (" (Pareto front)" if s.pareto else ""),
            )
        front = sorted(
            (float(s.fnmr.value or 0.0), float(s.differentials[board.differential].value or 0.0))
            for s in drawn
            if s.pareto
        )
        if len(front) > 1:
            ax.step(
                [x for x, _ in front],
                [y for _, y in front],
                where="post",
                color="#555555",
                linestyle=":",
                linewidth=1.0,
            )
        ax.set_xlabel("overall FNMR (lower is more accurate)")
        ax.set_ylabel(f"{name} (lower is more equitable)")
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.legend(fontsize=8, frameon=False)
        return fig

    caption = (
        f"Each system's overall FNMR against its {name}, with 95% interval bars where the "
        "results carry them; filled circles are on the Pareto front (point estimates)."
    )
    if missing:
        caption += f" {missing} system(s) not drawn: FNMR or {name} undefined."
    return Chart(
        key="leaderboard", title=f"FNMR against {name}", caption=caption, alt=alt, draw=draw
    )
