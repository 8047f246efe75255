"""The HTML report of an attribute-classifier audit: rows and sentences for the template.

Only aggregates are read (counts, rates, intervals): no image, no sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from faceparity.render.bars import bar_chart
from faceparity.render.environment import GENERATOR, template_environment
from faceparity.render.figures import Chart
from faceparity.render.formatting import (
    NOT_AVAILABLE,
    fmt_count,
    fmt_interval,
    fmt_percent,
    fmt_ratio,
    support_text,
)
from faceparity.results.attributes import AttributeAuditResult, AttributeGroup, Grouping

__all__ = ["ETHICS", "render_attributes_html", "worst_sentence"]

ETHICS = (
    "faceparity audits a classifier the user supplies against labels the user supplies. "
    "It never infers race or ethnicity to label people: the groups here are the user's "
    "own labels. Inferring a person's race, political opinions, religion or sex life from "
    "biometric data to categorise them is prohibited in the EU (AI Act, Art. 5(1)(g)).",
    "A classifier of sex or gender from a face assumes a binary, visible category; a low "
    "error rate does not make such a use appropriate (Buolamwini and Gebru 2018; Keyes 2018).",
)


def worst_sentence(grouping: Grouping) -> str:
    """The grouping's worst and best groups by error rate, their ratio and difference."""
    d = grouping.disparity
    if d.worst is None or d.best is None:
        return f"No comparison by {grouping.name}: {d.undefined_reason}."
    worst = next(g for g in grouping.groups if g.label == d.worst)
    best = next(g for g in grouping.groups if g.label == d.best)
    text = (
        f"By {grouping.name}, the classifier fails most on {d.worst} "
        f"({fmt_percent(worst.error_rate)} of {fmt_count(worst.n_samples)} samples"
        f"{_ci(worst)}) and least on {d.best} ({fmt_percent(best.error_rate)} of "
        f"{fmt_count(best.n_samples)}{_ci(best)})"
    )
    if d.ratio is not None:
        text += f": {fmt_ratio(d.ratio)} times the error rate"
        if d.ratio_ci is not None and d.ratio_ci.ci_low is not None:
            text += f" (interval {fmt_interval(d.ratio_ci, fmt_ratio)})"
    else:
        text += f"; no ratio ({d.undefined_reason})"
    if d.difference is not None:
        text += f", a difference of {100 * d.difference:.1f} percentage points"
        if d.difference_ci is not None and d.difference_ci.ci_low is not None:
            lo, hi = d.difference_ci.ci_low, d.difference_ci.ci_high
            assert hi is not None
            text += f" (interval [{100 * lo:.1f}, {100 * hi:.1f}])"
    return text + "."


def _ci(group: AttributeGroup) -> str:
    ci = group.error_rate_ci
    if ci is None or ci.ci_low is None:
        return ""
    return f", interval {fmt_interval(ci, fmt_percent)}"


@dataclass(frozen=True)
class _GroupingView:
    name: str
    sentence: str
    rows: list[dict[str, str]]
    class_rows: list[dict[str, str]]
    chart: Chart


def _rows(groups: Sequence[AttributeGroup]) -> list[dict[str, str]]:
    return [
        {
            "label": g.label,
            "n": fmt_count(g.n_samples),
            "subjects": fmt_count(g.n_subjects),
            "errors": fmt_count(g.n_errors),
            "rate": fmt_percent(g.error_rate),
            "ci": fmt_interval(g.error_rate_ci, fmt_percent),
            "mae": NOT_AVAILABLE
            if g.mean_absolute_error is None
            else f"{g.mean_absolute_error:.2f}",
            "support": support_text(g.error_rate_support),
        }
        for g in groups
    ]


def _class_rows(groups: Sequence[AttributeGroup]) -> list[dict[str, str]]:
    return [
        {
            "group": g.label,
            "label": c.label,
            "fnr": fmt_percent(c.fnr),
            "fnr_ci": fmt_interval(c.fnr_ci, fmt_percent),
            "fpr": fmt_percent(c.fpr),
            "fpr_ci": fmt_interval(c.fpr_ci, fmt_percent),
        }
        for g in groups
        for c in g.classes
    ]


def _chart(index: int, grouping: Grouping) -> Chart:
    groups = grouping.groups
    labels = [g.label for g in groups]
    values = [g.error_rate for g in groups]
    lows = [g.error_rate_ci.ci_low if g.error_rate_ci else None for g in groups]
    highs = [g.error_rate_ci.ci_high if g.error_rate_ci else None for g in groups]
    alt = "; ".join(f"{g.label}: {fmt_percent(g.error_rate)}" for g in groups)
    return Chart(
        key=f"error-rate-{index}",
        title=f"Error rate by {grouping.name}",
        caption="Bars: each group's error rate; whiskers: its interval.",
        alt=f"Error rate by {grouping.name}: {alt}",
        draw=lambda: bar_chart(labels, values, lows=lows, highs=highs, xlabel="error rate (%)"),
    )


def render_attributes_html(result: AttributeAuditResult, *, title: str | None = None) -> str:
    """The self-contained HTML report of an attribute audit."""
    task = result.task
    groupings = [
        _GroupingView(
            name=g.name,
            sentence=worst_sentence(g),
            rows=_rows(g.groups),
            class_rows=_class_rows(g.groups),
            chart=_chart(i, g),
        )
        for i, g in enumerate(result.groupings)
    ]
    facts: list[tuple[str, Any]] = [
        ("source", result.source or "not recorded"),
        ("true label column", task.truth),
        ("prediction column", task.prediction),
        ("task", task.kind + (f" (tolerance {task.tolerance:g})" if task.tolerance else "")),
        ("classes", ", ".join(task.classes) or "none (a regressed value)"),
        ("samples", fmt_count(result.overall.n_samples)),
        ("subjects", fmt_count(result.overall.n_subjects)),
        ("overall error rate", fmt_percent(result.overall.error_rate)),
        ("intervals", f"{result.interval_method}, level {result.level:g}"),
    ]
    facts.extend(
        (f"excluded ({e.unit})", f"{fmt_count(e.count)}: {e.reason}") for e in result.exclusions
    )
    confusions = []
    for grouping in result.groupings[-1:]:
        for g in grouping.groups:
            if g.confusion:
                confusions.append(
                    {"label": g.label, "rows": list(zip(task.classes, g.confusion, strict=True))}
                )
    card = {
        "title": title or f"Attribute classifier audit: {task.prediction} against {task.truth}",
        "headline": [worst_sentence(g) for g in result.groupings[-1:]],
        "facts": facts,
        "groupings": groupings,
        "regression": task.kind == "regression",
        "classes": task.classes,
        "confusions": confusions,
        "ethics": ETHICS,
        "notes": result.notes,
    }
    template = template_environment("html").get_template("attributes.html.j2")
    text: str = template.render(card=card, generator=GENERATOR)
    return text
