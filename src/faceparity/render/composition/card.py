"""The HTML composition card: rows, sentences and charts for the template; aggregates only."""

from __future__ import annotations

import functools
import re
from typing import Any

from faceparity.render.bars import bar_chart
from faceparity.render.environment import GENERATOR, template_environment
from faceparity.render.figures import Chart
from faceparity.render.formatting import NOT_AVAILABLE, fmt_count, fmt_percent
from faceparity.results.composition import CompositionGrouping, CompositionResult

__all__ = ["ETHICS", "coverage_sentence", "render_composition_html"]

ETHICS = (
    "The groups here are the labels of the user's data; faceparity never infers race or "
    "ethnicity to label people (EU AI Act, Art. 5(1)(g) prohibits categorising people by "
    "race from biometric data). Skin colour, where shown, is measured on the photographs: "
    "a colorimetric description of the images, not of anyone's identity.",
    "A group too small for a rate cannot show a differential, whatever the system does: "
    "the smallest rates are the floor below which this data set cannot speak.",
)

MEASURE_NAMES = {
    "ita": "ITA (degrees)",
    "skin_l": "skin lightness L*",
    "skin_hue": "skin hue angle h* (degrees)",
    "yaw": "yaw (degrees)",
    "roll": "roll (degrees)",
    "inter_eye_distance": "inter-eye distance (px)",
    "face_width": "face width (px)",
    "face_height": "face height (px)",
    "sharpness": "sharpness (Laplacian variance)",
    "brightness": "brightness (fraction)",
    "contrast": "contrast (RMS)",
}


def _num(value: float | None) -> str:
    return NOT_AVAILABLE if value is None else f"{value:.4g}"


def coverage_sentence(grouping: CompositionGrouping) -> str:
    """The coverage of a grouping against its reference, in words ("" without one)."""
    c = grouping.coverage
    if c is None:
        return ""
    parts = [
        f"Against the reference population, the {c.unit} by {grouping.name} are at a total "
        f"variation distance of {c.total_variation:.3f} (chi-square {c.chi_square:.1f} on "
        f"{c.dof} degrees of freedom, p = {c.p_value:.2g})."
    ]
    if c.under_represented:
        parts.append(
            "Under-represented (below 4/5 of the reference share): "
            f"{', '.join(c.under_represented)}."
        )
    if c.over_represented:
        parts.append(f"Over-represented (above 5/4): {', '.join(c.over_represented)}.")
    return " ".join(parts)


def _charts(index: int, grouping: CompositionGrouping, unit: str) -> list[Chart]:
    groups = grouping.groups
    labels = [g.label for g in groups]
    shares = [g.share_of_subjects if unit == "subjects" else g.share_of_images for g in groups]
    reference = [g.reference_share for g in groups] if grouping.coverage else None
    alt = "; ".join(f"{g.label}: {fmt_percent(s)}" for g, s in zip(groups, shares, strict=True))
    charts = [
        Chart(
            key=f"share-{index}",
            title=f"Share of {unit} by {grouping.name}",
            caption="Bars: the data set's shares"
            + ("; red ticks: the reference population's." if reference else "."),
            alt=f"Share of {unit} by {grouping.name}: {alt}",
            draw=lambda: bar_chart(
                labels, shares, xlabel=f"share of {unit} (%)", reference=reference
            ),
        )
    ]
    for name in ("skin_l", "ita", "yaw", "inter_eye_distance", "sharpness", "brightness"):
        found = [next((m for m in g.measures if m.name == name), None) for g in groups]
        if not any(m is not None and m.n for m in found):
            continue
        medians = [m.median if m is not None else None for m in found]
        lows = [m.q25 if m is not None else None for m in found]
        highs = [m.q75 if m is not None else None for m in found]
        if any(v is not None and v < 0 for v in [*medians, *lows]):
            continue  # signed measures (ITA, yaw) go in the table, not on a bar
        text = "; ".join(f"{lb}: {_num(v)}" for lb, v in zip(labels, medians, strict=True))
        key = re.sub(r"[^a-z0-9]+", "-", f"{name}-{index}")
        charts.append(
            Chart(
                key=key,
                title=f"{MEASURE_NAMES.get(name, name)} by {grouping.name}",
                caption="Bars: the median; whiskers: the quartiles.",
                alt=f"Median {MEASURE_NAMES.get(name, name)} by {grouping.name}: {text}",
                draw=functools.partial(
                    bar_chart,
                    labels,
                    medians,
                    lows=lows,
                    highs=highs,
                    xlabel=MEASURE_NAMES.get(name, name),
                    percent=False,
                ),
            )
        )
    return charts


def _grouping_view(
    index: int, grouping: CompositionGrouping, result: CompositionResult
) -> dict[str, Any]:
    unit = "subjects"
    rows = []
    for g in grouping.groups:
        share = g.share_of_subjects if unit == "subjects" else g.share_of_images
        rows.append(
            {
                "label": g.label,
                "images": fmt_count(g.n_images),
                "subjects": fmt_count(g.n_subjects),
                "share": fmt_percent(share),
                "reference": fmt_percent(g.reference_share),
                "representation": g.representation or "",
                "per_subject": f"{_num(g.images_per_subject_mean)}, {g.images_per_subject_max}",
                "min_image": _num(g.min_rate_per_image),
                "min_fnmr": _num(g.min_fnmr),
                "min_fmr": _num(g.min_fmr),
            }
        )
    measure_rows = [
        {
            "group": g.label,
            "name": MEASURE_NAMES.get(m.name, m.name),
            "n": fmt_count(m.n),
            **{k: _num(getattr(m, k)) for k in ("mean", "q05", "q25", "median", "q75", "q95")},
        }
        for g in grouping.groups
        for m in g.measures
        if m.n  # a measure no image of the data has (yaw without landmarks) is left out
    ]
    header: list[dict[str, Any]] = []
    category_rows = []
    kinds = sorted({k for g in grouping.groups for k in g.categories})
    for kind in kinds:
        names = sorted({n for g in grouping.groups for n in g.categories.get(kind, {})}, key=_order)
        for n in names:
            colour = None
            if kind == "monk":
                colour = result.monk_swatches[int(n.split()[-1]) - 1]
            header.append({"name": n if kind == "monk" else f"ITA {n}", "colour": colour})
    for g in grouping.groups:
        values = [
            fmt_count(g.categories.get(kind, {}).get(n, 0))
            for kind in kinds
            for n in sorted(
                {x for h in grouping.groups for x in h.categories.get(kind, {})}, key=_order
            )
        ]
        category_rows.append({"label": g.label, "counts": values})
    return {
        "name": grouping.name,
        "coverage": coverage_sentence(grouping),
        "has_reference": grouping.coverage is not None,
        "rows": rows,
        "charts": _charts(index, grouping, unit),
        "measure_rows": measure_rows,
        "category_header": header,
        "category_rows": category_rows if header else [],
    }


_BAND_ORDER = ("very light", "light", "intermediate", "tan", "brown", "dark")


def _order(name: str) -> tuple[int, str]:
    if name in _BAND_ORDER:
        return (_BAND_ORDER.index(name), name)
    digits = re.findall(r"\d+", name)
    return (int(digits[0]) if digits else 99, name)


def render_composition_html(result: CompositionResult, *, title: str | None = None) -> str:
    """The self-contained HTML composition card."""
    o = result.overall
    headline = [
        f"{fmt_count(o.n_images)} images of {fmt_count(o.n_subjects)} subjects "
        f"({_num(o.images_per_subject_mean)} images per subject on average, at most "
        f"{o.images_per_subject_max})."
    ]
    last = result.groupings[-1]
    smallest = min(last.groups, key=lambda g: g.n_subjects, default=None)
    if smallest is not None:
        headline.append(
            f"The smallest group by {last.name} is {smallest.label}: "
            f"{fmt_count(smallest.n_subjects)} subjects, {fmt_count(smallest.n_images)} "
            "images; the smallest per-image rate it can "
            f"support is {_num(smallest.min_rate_per_image)}, the smallest FMR "
            f"{_num(smallest.min_fmr)}."
        )
    headline.extend(coverage_sentence(g) for g in result.groupings if g.coverage is not None)
    card = {
        "title": title or f"Composition card: {result.source or 'data set'}",
        "headline": headline,
        "unit": "subjects",
        "groupings": [_grouping_view(i, g, result) for i, g in enumerate(result.groupings)],
        "ethics": ETHICS,
        "notes": result.notes,
    }
    template = template_environment("html").get_template("composition.html.j2")
    text: str = template.render(card=card, generator=GENERATOR)
    return text
