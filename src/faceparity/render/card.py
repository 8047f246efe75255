"""The content of the report, in Model Card order, shared by the HTML and Markdown renderers.

:func:`build_card` reads a ``results.json`` mapping and returns plain values
(strings, numbers, rows) grouped by section; the templates only lay them out, so the
two formats say the same thing. Sections follow Mitchell et al. (2019), "Model Cards
for Model Reporting", FAT* '19: model details (here the system under test), intended
use, factors, metrics, evaluation data, quantitative analyses, ethical considerations,
caveats and recommendations; the one-sentence differential sits between the analyses
and the ethical considerations, and is repeated at the top.

Optional keys are read when present and reported as absent otherwise: ``X_ci`` (an
interval ``{"ci_low", "ci_high", "method"}`` next to a value ``X``), ``X_support`` (a
support flag ``{"sufficient", "expected_errors", "min_supported_rate", "reason"}``)
and the top-level ``uncertainty``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from faceparity.render.acquisition_card import (  # issue 7
    SKIN_TONE_CAVEAT,
    AcquisitionSection,
    build_acquisition,
)
from faceparity.render.charts import Chart
from faceparity.render.formatting import (
    NOT_AVAILABLE,
    SUMMARY_MEASURES,
    describe_group,
    describe_policy,
    fmt_count,
    fmt_interval,
    fmt_number,
    fmt_rate,
    fmt_ratio,
    one_in,
    point_title,
    support_text,
)
from faceparity.render.identification_card import (  # issue 6
    IdentificationSection,
    build_identification,
)
from faceparity.render.sentence import differential, headline_point

__all__ = ["Card", "PointSection", "build_card"]

NO_INTERVAL = "no interval computed"


INTENDED_USE = (
    "This report describes how the system's 1:1 verification errors differ between "
    "demographic groups on the evaluation data named below, at the stated thresholds. "
    "It supports decisions about whether those differentials are acceptable for a "
    "verification deployment that resembles this evaluation.",
)
OUT_OF_SCOPE = (
    "1:N identification (search against a gallery): its error rates are not the 1:1 rates here.",
    "Populations, capture conditions or image qualities unlike the evaluation data.",
    "Thresholds other than those reported: differentials change with the threshold.",
    "Judgements about individuals: rates describe groups of comparisons.",
)
OUT_OF_SCOPE_1N = (
    "Live identification, watch-list alerting or any search service: the 1:N section "
    "evaluates the model on labelled data, at the stated gallery size and composition; its "
    "rates change with both."
)  # issue 6
ETHICS = (
    "Demographic groups here are the labels of the evaluation data, not facts about "
    "people; coarse or annotated labels hide variation within groups and may be wrong "
    "for some people.",
    "A higher false match rate for a group exposes its members to impersonation and, in "
    "investigative use, to wrongful suspicion; a higher false non-match rate denies them "
    "service more often. Both are harms to weigh, not only accuracy figures.",
    "This report holds no face image and no embedding: only counts, rates, scores "
    "thresholds and the group labels.",
)


@dataclass(frozen=True)
class GroupRow:
    """One group (or the overall row) at one operating point, formatted."""

    label: str
    name: str
    threshold: str
    fmr: str
    fmr_ci: str
    fmr_counts: str
    fmr_support: str
    fnmr: str
    fnmr_ci: str
    fnmr_counts: str
    fnmr_support: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class MeasureRow:
    """A summary measure of the differential at one operating point."""

    name: str
    value: str
    ci: str
    n_groups: str
    note: str


@dataclass(frozen=True)
class CellRow:
    """One cell of the cross-group FMR matrix."""

    a: str
    b: str
    fmr: str
    ci: str
    counts: str
    support: str


@dataclass(frozen=True)
class PointSection:
    """An operating point: its sentences, tables, notes and charts."""

    anchor: str
    title: str
    policy: str
    threshold: str
    sentences: tuple[str, ...]
    rows: tuple[GroupRow, ...]
    measures: tuple[MeasureRow, ...]
    cells: tuple[CellRow, ...]
    notes: tuple[str, ...]
    charts: tuple[Chart, ...]
    has_intervals: bool


@dataclass(frozen=True)
class Card:
    """Everything the report says, section by section."""

    title: str
    notices: tuple[str, ...]
    headline: tuple[str, ...]
    headline_point: str
    system: tuple[tuple[str, str], ...]
    intended_use: tuple[str, ...]
    out_of_scope: tuple[str, ...]
    factors: tuple[str, ...]
    groups: tuple[tuple[str, str, str, str, str, str, str], ...]
    metrics: tuple[str, ...]
    operating_points: tuple[tuple[str, str, str, str, str, str], ...]
    data: tuple[str, ...]
    exclusions: tuple[str, ...]
    points: tuple[PointSection, ...]
    general_charts: tuple[Chart, ...]
    missing_charts: tuple[str, ...]
    ethics: tuple[str, ...]
    caveats: tuple[str, ...]
    charts: tuple[Chart, ...] = field(default=())
    identification: IdentificationSection | None = None  # issue 6: the 1:N section
    acquisition: AcquisitionSection | None = None  # issue 7: failures to acquire and enrol


def _ci(d: Mapping[str, Any], key: str, fmt: Any = fmt_rate) -> str:
    ci = d.get(f"{key}_ci")
    return fmt_interval(ci, fmt) if isinstance(ci, Mapping) else ""


def _support(d: Mapping[str, Any], key: str) -> str:
    s = d.get(f"{key}_support")
    return support_text(s) if isinstance(s, Mapping) else ""


def _group_row(g: Mapping[str, Any], *, name: str | None = None) -> GroupRow:
    return GroupRow(
        label=str(g.get("label", "overall")),
        name=name or describe_group(g.get("attributes"), str(g.get("label", ""))),
        threshold=fmt_number(g.get("threshold"))
        + (f" {_ci(g, 'threshold', fmt_number)}" if _ci(g, "threshold", fmt_number) else ""),
        fmr=fmt_rate(g.get("fmr")),
        fmr_ci=_ci(g, "fmr"),
        fmr_counts=f"{fmt_count(g.get('n_false_matches'))} / {fmt_count(g.get('n_non_mated'))}",
        fmr_support=_support(g, "fmr"),
        fnmr=fmt_rate(g.get("fnmr")),
        fnmr_ci=_ci(g, "fnmr"),
        fnmr_counts=(f"{fmt_count(g.get('n_false_non_matches'))} / {fmt_count(g.get('n_mated'))}"),
        fnmr_support=_support(g, "fnmr"),
        notes=tuple(str(n) for n in g.get("notes", ()) or ()),
    )


def _measures(summary: Mapping[str, Any]) -> tuple[MeasureRow, ...]:
    rows = []
    for family, key, name in SUMMARY_MEASURES:
        source = summary.get(family, {}) if family else summary
        m = source.get(key) if isinstance(source, Mapping) else None
        if not isinstance(m, Mapping):
            continue
        rows.append(
            MeasureRow(
                name=name,
                value=fmt_ratio(m.get("value")),
                ci=_ci(m, "value", fmt_ratio),
                n_groups=str(m.get("n_groups", NOT_AVAILABLE)),
                note=str(m.get("undefined_reason", "")),
            )
        )
    return tuple(rows)


def _has_intervals(point: Mapping[str, Any]) -> bool:
    items: list[Mapping[str, Any]] = [*point["groups"], *point["cross_group"]]
    if isinstance(point.get("overall"), Mapping):
        items.append(point["overall"])
    return any(isinstance(v, Mapping) for d in items for k, v in d.items() if k.endswith("_ci"))


def _point_section(
    results: Mapping[str, Any], index: int, charts: Sequence[Chart], level: float | None
) -> PointSection:
    point = results["operating_points"][index]
    rows = [_group_row(g) for g in point["groups"]]
    if isinstance(point.get("overall"), Mapping):
        rows.append(
            _group_row(
                {**point["overall"], "label": "overall", "threshold": point["threshold"]},
                name="all comparisons",
            )
        )
    cells = tuple(
        CellRow(
            a=describe_group(c["a"], ""),
            b=describe_group(c["b"], ""),
            fmr=fmt_rate(c.get("fmr")),
            ci=_ci(c, "fmr"),
            counts=f"{fmt_count(c.get('n_false_matches'))} / {fmt_count(c.get('n_non_mated'))}",
            support=_support(c, "fmr"),
        )
        for c in point["cross_group"]
    )
    sentences = tuple(differential(point, rate=r, level=level).text for r in ("fmr", "fnmr"))
    mine = tuple(c for c in charts if c.key.endswith(f"-{index}"))
    threshold = (
        fmt_number(point["threshold"])
        if point["threshold"] is not None
        else ("each group its own (see the table)")
    )
    tci = _ci(point, "threshold", fmt_number)
    return PointSection(
        anchor=f"point-{index}",
        title=point_title(point),
        policy=describe_policy(point["policy"]),
        threshold=f"{threshold} {tci}".strip(),
        sentences=sentences,
        rows=tuple(rows),
        measures=_measures(point["summary"]),
        cells=cells,
        notes=tuple(str(n) for n in point.get("notes", ()) or ()),
        charts=mine,
        has_intervals=_has_intervals(point),
    )


def _caveats(results: Mapping[str, Any], points: Sequence[PointSection]) -> list[str]:
    caveats = []
    unc = results.get("uncertainty")
    if isinstance(unc, Mapping):
        level = unc.get("level")
        text = (
            f"Intervals: {unc.get('method', 'method not stated')}"
            + (f", {100 * level:g}% level" if isinstance(level, int | float) else "")
            + (f", {unc['replicates']} replicates" if unc.get("replicates") else "")
            + (f", seed {unc['seed']}" if unc.get("seed") is not None else "")
            + "."
        )
        if unc.get("caveat"):
            text += f" {unc['caveat']}"
        caveats.append(text)
    else:
        caveats.append(
            "No interval was computed for these results: every rate is a point estimate, and "
            "differences between groups may lie within sampling error."
        )
    unsupported = sorted(
        {
            f"{row.label} ({p.title})"
            for p in points
            for row in p.rows
            if row.fmr_support or row.fnmr_support
        }
    )
    if unsupported:
        caveats.append(
            "Rates flagged as not supported by the data (too few comparisons or expected "
            f"errors): {'; '.join(unsupported)}."
        )
    zero = sorted({row.label for p in points for row in p.rows if row.fmr == fmt_rate(0.0)})
    if zero:
        caveats.append(
            "A zero FMR means no false match was observed, not that none can happen; ratios "
            f"against it are unbounded (groups: {', '.join(zero)})."
        )
    caveats.append(
        "Rates are measured on the evaluation data at the stated thresholds; they estimate "
        "what the system would do on similar data, nothing more."
    )
    for note in results["input"].get("notes", ()) or ():
        caveats.append(f"Input: {note}")
    return caveats


def build_card(
    results: Mapping[str, Any],
    *,
    charts: Sequence[Chart] = (),
    notices: Sequence[str] = (),
    target_fmr: float | None = None,
    policy: str | None = None,
    title: str | None = None,
) -> Card:
    """The report's content from a ``results.json`` mapping.

    Parameters
    ----------
    results : mapping
        ``results.json`` as read by :func:`~faceparity.results.loading.read_results`.
    charts : sequence of Chart, default ()
        Charts from :func:`~faceparity.render.charts.make_charts` (none for Markdown
        text only, where they are listed as omitted).
    notices : sequence of str, default ()
        Shown first, e.g. that the data are synthetic.
    target_fmr, policy : optional
        The operating point of the headline sentence (see
        :func:`~faceparity.render.sentence.headline_point`).
    title : str, optional
        The report's title.

    Returns
    -------
    Card

    """
    unc = results.get("uncertainty")
    level = unc.get("level") if isinstance(unc, Mapping) else None
    head = headline_point(results, target_fmr=target_fmr, policy=policy)
    headline = tuple(differential(head, rate=r, level=level).text for r in ("fmr", "fnmr"))
    inp, config = results["input"], results["config"]
    tool = results["tool"]
    system = (
        ("evaluation data", str(inp.get("source") or "not stated")),
        (
            "score",
            f"{inp.get('score_kind', 'not stated')}; a match when "
            f"{config.get('match_rule', 'not stated')}",
        ),
        ("audited with", f"{tool.get('name', 'faceparity')} {tool.get('version', '')}".strip()),
        ("results schema", str(results.get("schema_version"))),
    )
    group_by = list(config.get("group_by", ()))
    factors = (
        f"Groups are the intersections of {' x '.join(group_by) or 'no attribute'}: "
        f"{len(results['groups'])} groups.",
        "The labels are those of the evaluation data's attribute columns as given to the "
        "audit; faceparity does not infer demographic attributes from faces.",
        f"FMR scope {config.get('fmr_scope')}: "
        + (
            "a group's FMR counts non-mated comparisons with both sides in the group."
            if config.get("fmr_scope") == "matched"
            else "a group's FMR counts non-mated comparisons with at least one side in it."
        ),
        f"Mated comparisons whose two samples fall in different groups: rule "
        f"{config.get('mated_rule')}.",
    )
    groups = tuple(
        (
            str(g["label"]),
            describe_group(g.get("attributes"), str(g["label"])),
            fmt_count(g.get("n_subjects")),
            fmt_count(g.get("n_samples")),
            fmt_count(g.get("n_mated")),
            fmt_count(g.get("n_non_mated")),
            (
                fmt_rate(g["eer"]["eer"])
                + (f" {_ci(g['eer'], 'eer')}" if _ci(g["eer"], "eer") else "")
            )
            if g.get("eer")
            else NOT_AVAILABLE,
        )
        for g in [*results["groups"], {**results["overall"], "label": "overall"}]
    )
    targets = ", ".join(f"{t:g} ({one_in(t)})" for t in config.get("target_fmrs", ()))
    metrics = (
        "FMR (false match rate): the fraction of non-mated comparisons (two different "
        "people) that the system declares a match. FNMR (false non-match rate): the "
        "fraction of mated comparisons (the same person) that it does not. ISO/IEC "
        "19795-1; rates are fractions, percentages are labelled.",
        f"Target FMRs: {targets}. Threshold policies: "
        + "; ".join(f"{p} ({describe_policy(p)})" for p in config.get("policies", ()))
        + ".",
        "Summary measures of the differential: max/min and max/geomean of the group rates "
        "(NISTIR 8429), Gini coefficient, GARBE (Howard et al. 2022), FDR (de Freitas "
        f"Pereira and Marcel 2021), inequity rate; alpha = {config.get('alpha')}.",
    )
    operating_points = tuple(
        (
            f"{p['target_fmr']:g}",
            str(p["policy"]),
            fmt_number(p["threshold"])
            + (f" {_ci(p, 'threshold', fmt_number)}" if _ci(p, "threshold", fmt_number) else ""),
            fmt_rate(p["overall"]["fmr"]) if p.get("overall") else NOT_AVAILABLE,
            fmt_rate(p["overall"]["fnmr"]) if p.get("overall") else NOT_AVAILABLE,
            f"#point-{i}",
        )
        for i, p in enumerate(results["operating_points"])
    )
    data: tuple[str, ...] = (
        f"{fmt_count(inp.get('n_comparisons'))} comparisons: {fmt_count(inp.get('n_mated'))} "
        f"mated and {fmt_count(inp.get('n_non_mated'))} non-mated, of "
        f"{fmt_count(inp.get('n_subjects'))} subjects and "
        + (
            fmt_count(inp.get("n_samples"))
            if inp.get("n_samples") is not None
            else "an unknown number of"
        )
        + " samples.",
    )
    exclusions = tuple(
        f"{fmt_count(e.get('count'))} {e.get('unit', '')} ({e.get('scope', '')}): "
        f"{e.get('reason', '')}"
        for e in results["exclusions"]
    ) or ("None: every comparison of the input is counted.",)
    one_to_one = [c for c in charts if not c.key.startswith("chart-ident-")]  # issue 6
    points = tuple(
        _point_section(results, i, one_to_one, level)
        for i in range(len(results["operating_points"]))
    )
    general = tuple(
        c for c in charts if c.key in ("chart-det", "chart-threshold", "chart-distributions")
    )
    missing = []
    keys = {c.key for c in charts}
    if charts and "chart-det" not in keys and any(g.get("det") for g in results["groups"]):
        missing.append(
            "DET curves: every DET sample has a zero FMR or FNMR, which log axes cannot "
            "show, so no DET chart is drawn (the rates are in the tables)."
        )
    if not any(isinstance(g.get("score_distribution"), Mapping) for g in results["groups"]):
        missing.append(
            "Score distributions per group: these results carry no score distributions, so "
            "none is drawn (nothing is reconstructed from the DET samples)."
        )
    caveats = _caveats(results, points)
    acquisition = build_acquisition(results)  # issue 7
    if acquisition is not None:
        data = (*data, acquisition.summary)
        if acquisition.skin_tone_caveat:
            caveats.append(SKIN_TONE_CAVEAT)
    identification = build_identification(results, charts)  # issue 6
    out_of_scope = OUT_OF_SCOPE
    if identification is not None:
        out_of_scope = (OUT_OF_SCOPE_1N, *OUT_OF_SCOPE[1:])
    return Card(
        title=title or f"Demographic differentials: {inp.get('source') or 'audit'}",
        notices=tuple(notices),
        headline=headline,
        headline_point=point_title(head),
        system=system,
        intended_use=INTENDED_USE,
        out_of_scope=out_of_scope,
        factors=factors,
        groups=groups,
        metrics=metrics,
        operating_points=operating_points,
        data=data,
        exclusions=exclusions,
        points=points,
        general_charts=general,
        missing_charts=tuple(missing),
        ethics=ETHICS,
        caveats=tuple(caveats),
        charts=tuple(charts),
        identification=identification,
        acquisition=acquisition,
    )
