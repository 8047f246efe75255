"""The page of ``faceparity mitigate``: who gained and who lost, with intervals.

:func:`mitigation_sections` turns a :class:`~faceparity.results.mitigation.MitigationResult`
into tables of text (one function, so a test can read the same rows the page shows);
:func:`render_mitigation_html` renders them into ``mitigation.html`` (self-contained,
no script). Rates are printed as fractions with their intervals, as in the audit's
report.
"""

from __future__ import annotations

from dataclasses import dataclass

from faceparity.render.environment import GENERATOR, template_environment
from faceparity.render.formatting import fmt_interval, fmt_number, fmt_rate, fmt_ratio
from faceparity.results.common import Interval
from faceparity.results.mitigation import MethodOutcome, MitigationResult, WorstGroupThreshold

__all__ = ["Section", "mitigation_sections", "render_mitigation_html"]


@dataclass(frozen=True)
class Section:
    """One table of the page: a heading, a sentence, the header and the rows."""

    anchor: str
    title: str
    text: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    worse: tuple[int, ...] = ()
    """Rows printed as worse (levelling down)."""


NO_MATED = " FNMR and EER: n/a, there is no mated comparison to read them on."


def _with_ci(value: float | None, ci: Interval | None, fmt: object = fmt_rate) -> str:
    shown = fmt(value)  # type: ignore[operator]
    interval = fmt_interval(ci, fmt)
    return f"{shown} {interval}" if interval else str(shown)


def _why(shown: str, reason: str | None) -> str:
    return f"{shown} ({reason})" if reason else shown


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3e}"


def _methods(result: MitigationResult) -> Section:
    rows = tuple(
        (
            m.name,
            m.description,
            "yes" if m.needs_group_labels else "no",
            "yes" if m.needs_embeddings else "no",
            m.reference,
            m.unavailable or f"ran: {m.results}",
        )
        for m in result.methods
    )
    return Section(
        "methods",
        "Methods",
        "Whether a method needs each sample's group label at deployment decides whether it "
        "may be deployed where labels are not collected.",
        ("method", "what it does", "group labels at deployment", "embeddings", "from", "status"),
        rows,
    )


def _worst(worst: WorstGroupThreshold) -> Section:
    rows = tuple(
        (
            g.label,
            fmt_rate(g.fmr),
            fmt_rate(g.fnmr),
            fmt_rate(g.fnmr_at_global),
            _with_ci(g.fnmr_cost, g.fnmr_cost_ci, _signed),
        )
        for g in worst.groups
    )
    text = (
        f"Threshold {_with_ci(worst.threshold, worst.threshold_ci, fmt_number)}, set by "
        f"{worst.set_by or 'no group'}; the global threshold is "
        f"{fmt_number(worst.global_threshold)}. "
        "Every group's FMR is at or below the target; the FNMR cost is the FNMR at this "
        "threshold minus that at the global one."
    )
    if all(g.fnmr is None for g in worst.groups):
        text += NO_MATED
    return Section(
        f"worst-{worst.target_fmr:g}",
        f"Worst-group threshold, target FMR {worst.target_fmr:g}",
        text,
        ("group", "FMR", "FNMR", "FNMR at the global threshold", "FNMR cost [interval]"),
        rows,
    )


def _outcome(outcome: MethodOutcome) -> list[Section]:
    sections = []
    name = outcome.method
    for point in outcome.points:
        rows = tuple(
            (
                g.label,
                _with_ci(g.fmr_before, g.fmr_before_ci),
                _with_ci(g.fmr_after, g.fmr_after_ci),
                _with_ci(g.fnmr_before, g.fnmr_before_ci),
                _with_ci(g.fnmr_after, g.fnmr_after_ci),
            )
            for g in point.groups
        )
        sections.append(
            Section(
                f"{name}-groups-{point.target_fmr:g}",
                f"{name}: groups at target FMR {point.target_fmr:g}",
                "FMR and FNMR of every group before and after, global threshold set on the "
                "held-out comparisons, with 95% intervals."
                + (
                    NO_MATED
                    if all(g.fnmr_before is None and g.fnmr_after is None for g in point.groups)
                    else ""
                ),
                ("group", "FMR before", "FMR after", "FNMR before", "FNMR after"),
                rows,
            )
        )
        measures = tuple(
            (
                m.name,
                _why(_with_ci(m.before, m.before_ci, fmt_ratio), m.before_reason),
                _why(_with_ci(m.after, m.after_ci, fmt_ratio), m.after_reason),
                fmt_ratio(m.change),
            )
            for m in point.measures
        )
        sections.append(
            Section(
                f"{name}-measures-{point.target_fmr:g}",
                f"{name}: summary measures at target FMR {point.target_fmr:g}",
                "Every summary measure of the differential, before and after "
                "(change = after - before).",
                ("measure", "before", "after", "change"),
                measures,
            )
        )
        down = tuple(
            (
                d.label,
                d.rate,
                fmt_rate(d.before),
                fmt_rate(d.after),
                _signed(d.change),
                {True: "yes", False: "no", None: "intervals not available"}[d.beyond_intervals],
            )
            for d in point.levelling_down
        )
        sections.append(
            Section(
                f"{name}-levelling-{point.target_fmr:g}",
                f"{name}: levelling-down check at target FMR {point.target_fmr:g}",
                "Every group whose FMR or FNMR got worse."
                if down
                else "No group's FMR or FNMR got worse.",
                ("group", "rate", "before", "after", "worse by", "intervals apart"),
                down,
                worse=tuple(range(len(down))),
            )
        )
    accuracy = tuple(
        (a.name, _with_ci(a.before, a.before_ci), _with_ci(a.after, a.after_ci))
        for a in outcome.accuracy
    )
    sections.append(
        Section(
            f"{name}-accuracy",
            f"{name}: global accuracy",
            "Over all held-out comparisons, at one global threshold."
            + (
                NO_MATED
                if all(a.before is None and a.after is None for a in outcome.accuracy)
                else ""
            ),
            ("measure", "before", "after"),
            accuracy,
        )
    )
    calibration = tuple(
        (c.label, fmt_rate(c.before), fmt_rate(c.after)) for c in outcome.calibration
    )
    sections.append(
        Section(
            f"{name}-calibration",
            f"{name}: calibration error per group (KS)",
            "KS calibration error of the probabilities of the comparisons within each group "
            "(before: a global calibration of the raw scores)."
            + (
                " Not available: the training comparisons hold no mated one to calibrate on."
                if all(c.before is None and c.after is None for c in outcome.calibration)
                else ""
            ),
            ("group", "before", "after"),
            calibration,
        )
    )
    return sections


def mitigation_sections(result: MitigationResult) -> list[Section]:
    """Every table of the page, in order."""
    sections = [_methods(result)]
    sections += [_worst(w) for w in result.worst_group]
    for outcome in result.outcomes:
        sections += _outcome(outcome)
    return sections


def render_mitigation_html(result: MitigationResult) -> str:
    """``mitigation.html``: a self-contained page (no script, no external resource)."""
    template = template_environment("html").get_template("mitigation.html.j2")
    return str(template.render(r=result, sections=mitigation_sections(result), generator=GENERATOR))
