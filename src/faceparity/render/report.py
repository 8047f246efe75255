"""The report: the model card assembled from every section, rendered as HTML or Markdown.

:func:`build_card` reads an :class:`~faceparity.results.AuditResult` and returns plain
values (strings, numbers, rows) grouped by section; the templates only lay them out, so
the two formats say the same thing. Sections follow Mitchell et al. (2019), "Model
Cards for Model Reporting", FAT* '19: model details (here the system under test),
intended use, factors, metrics, evaluation data, quantitative analyses, ethical
considerations, caveats and recommendations; the one-sentence differential sits between
the analyses and the ethical considerations, and is repeated at the top. The 1:1
sections come from :mod:`faceparity.render.verification`, the 1:N section from
:mod:`faceparity.render.identification`, failures to acquire and enrol from
:mod:`faceparity.render.acquisition`.

The HTML page is one self-contained file (inline CSS and SVG; no script, no network):
it declares a Content-Security-Policy that forbids scripts and every external resource,
so even a string that escaped escaping could not run or fetch anything. The Markdown
card has the same content, each chart replaced by its caption and text alternative.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from faceparity.render.acquisition.card import (
    SKIN_TONE_CAVEAT,
    AcquisitionSection,
    build_acquisition,
)
from faceparity.render.acquisition.timing import TimingSection, build_timing
from faceparity.render.environment import GENERATOR, template_environment
from faceparity.render.evidence import (
    EVIDENCE_ANCHOR,
    SOURCES,
    EvidenceItem,
    TestLogSection,
    build_test_log,
    evidence_index,
)
from faceparity.render.figures import Chart
from faceparity.render.formatting import (
    NOT_AVAILABLE,
    describe_group,
    describe_policy,
    fmt_count,
    fmt_number,
    fmt_rate,
    one_in,
    point_title,
)
from faceparity.render.identification.card import IdentificationSection, build_identification
from faceparity.render.identification.charts import identification_charts
from faceparity.render.verification.card import (
    ETHICS,
    INTENDED_USE,
    OUT_OF_SCOPE,
    OUT_OF_SCOPE_1N,
    PointSection,
    point_section,
    with_ci,
)
from faceparity.render.verification.card import caveats as verification_caveats
from faceparity.render.verification.charts import (
    det_chart,
    heatmap_chart,
    rates_chart,
    threshold_chart,
)
from faceparity.render.verification.distributions import (
    DistributionsSection,
    build_distributions,
    density_chart,
)
from faceparity.render.verification.sentence import differential, headline_point
from faceparity.results.audit import AuditResult

__all__ = ["NO_INTERVAL", "Card", "build_card", "make_charts", "render_html", "render_markdown"]

NO_INTERVAL = "no interval computed"


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
    identification: IdentificationSection | None = None  # the 1:N section
    acquisition: AcquisitionSection | None = None  # failures to acquire and enrol
    distributions: DistributionsSection | None = None  # score quantiles and shifts
    evidence: tuple[EvidenceItem, ...] = ()  # each reporting topic and where it is answered
    evidence_sources: tuple[str, ...] = SOURCES
    evidence_anchor: str = EVIDENCE_ANCHOR
    test_log: TestLogSection | None = None
    timing: TimingSection | None = None  # the image pipeline's time per image by group


def build_card(
    results: AuditResult,
    *,
    charts: Sequence[Chart] = (),
    notices: Sequence[str] = (),
    target_fmr: float | None = None,
    policy: str | None = None,
    title: str | None = None,
) -> Card:
    """The report's content from an audit's result.

    Parameters
    ----------
    results : AuditResult
        The audit, e.g. as read by :func:`~faceparity.results.read_results`.
    charts : sequence of Chart, default ()
        Charts from :func:`~faceparity.render.report.make_charts` (none for Markdown
        text only, where they are listed as omitted).
    notices : sequence of str, default ()
        Shown first, e.g. that the data are synthetic.
    target_fmr, policy : optional
        The operating point of the headline sentence (see
        :func:`~faceparity.render.verification.sentence.headline_point`).
    title : str, optional
        The report's title.

    Returns
    -------
    Card

    """
    unc = results.uncertainty
    level = unc.level if unc is not None else None
    head = headline_point(results, target_fmr=target_fmr, policy=policy)
    headline = tuple(differential(head, rate=r, level=level).text for r in ("fmr", "fnmr"))
    inp, config, tool = results.input, results.config, results.tool
    system = (
        ("evaluation data", str(inp.source or "not stated")),
        ("score", f"{inp.score_kind}; a match when {config.match_rule}"),
        ("audited with", f"{tool.name} {tool.version}".strip()),
        ("results schema", str(results.schema_version)),
    )
    group_by = list(config.group_by)
    factors = (
        f"Groups are the intersections of {' x '.join(group_by) or 'no attribute'}: "
        f"{len(results.groups)} groups.",
        "The labels are those of the evaluation data's attribute columns as given to the "
        "audit; faceparity does not infer demographic attributes from faces.",
        f"FMR scope {config.fmr_scope}: "
        + (
            "a group's FMR counts non-mated comparisons with both sides in the group."
            if config.fmr_scope == "matched"
            else "a group's FMR counts non-mated comparisons with at least one side in it."
        ),
        f"Mated comparisons whose two samples fall in different groups: rule {config.mated_rule}.",
    )
    groups = tuple(
        (
            label,
            describe_group(g.attributes, label),
            fmt_count(g.n_subjects),
            fmt_count(g.n_samples),
            fmt_count(g.n_mated),
            fmt_count(g.n_non_mated),
            with_ci(fmt_rate(g.eer.eer), g.eer.eer_ci, fmt_rate) if g.eer else NOT_AVAILABLE,
        )
        for g, label in [*((g, g.label) for g in results.groups), (results.overall, "overall")]
    )
    targets = ", ".join(f"{t:g} ({one_in(t)})" for t in config.target_fmrs)
    metrics = (
        "FMR (false match rate): the fraction of non-mated comparisons (two different "
        "people) that the system declares a match. FNMR (false non-match rate): the "
        "fraction of mated comparisons (the same person) that it does not. ISO/IEC "
        "19795-1; rates are fractions, percentages are labelled.",
        f"Target FMRs: {targets}. Threshold policies: "
        + "; ".join(f"{p} ({describe_policy(p)})" for p in config.policies)
        + ".",
        "Summary measures of the differential: max/min and max/geomean of the group rates "
        "(NISTIR 8429), Gini coefficient, GARBE (Howard et al. 2022), FDR (de Freitas "
        f"Pereira and Marcel 2021), inequity rate; alpha = {config.alpha}.",
    )
    operating_points = tuple(
        (
            f"{p.target_fmr:g}",
            p.policy,
            with_ci(fmt_number(p.threshold), p.threshold_ci, fmt_number),
            fmt_rate(p.overall.fmr) if p.overall else NOT_AVAILABLE,
            fmt_rate(p.overall.fnmr) if p.overall else NOT_AVAILABLE,
            f"#point-{i}",
        )
        for i, p in enumerate(results.operating_points)
    )
    data: tuple[str, ...] = (
        f"{fmt_count(inp.n_comparisons)} comparisons: {fmt_count(inp.n_mated)} "
        f"mated and {fmt_count(inp.n_non_mated)} non-mated, of "
        f"{fmt_count(inp.n_subjects)} subjects and "
        + (fmt_count(inp.n_samples) if inp.n_samples is not None else "an unknown number of")
        + " samples.",
    )
    exclusions = tuple(
        f"{fmt_count(e.count)} {e.unit} ({e.scope}): {e.reason}" for e in results.exclusions
    ) or ("None: every comparison of the input is counted.",)
    one_to_one = [c for c in charts if not c.key.startswith("chart-ident-")]
    points = tuple(
        point_section(results, i, one_to_one, level) for i in range(len(results.operating_points))
    )
    general = tuple(c for c in charts if c.key in ("chart-det", "chart-threshold"))
    missing = []
    keys = {c.key for c in charts}
    if charts and "chart-det" not in keys and any(g.det for g in results.groups):
        missing.append(
            "DET curves: every DET sample has a zero FMR or FNMR, which log axes cannot "
            "show, so no DET chart is drawn (the rates are in the tables)."
        )
    distributions = build_distributions(results, charts)
    if distributions is None:
        missing.append(
            "Score distributions per group: these results carry no score distributions, so "
            "none is drawn (nothing is reconstructed from the DET samples)."
        )
    caveats = verification_caveats(results, points)
    acquisition = build_acquisition(results)
    if acquisition is not None:
        data = (*data, acquisition.summary)
        if acquisition.skin_tone_caveat:
            caveats.append(SKIN_TONE_CAVEAT)
    identification = build_identification(results, charts)
    out_of_scope = OUT_OF_SCOPE
    if identification is not None:
        out_of_scope = (OUT_OF_SCOPE_1N, *OUT_OF_SCOPE[1:])
    return Card(
        title=title or f"Demographic differentials: {inp.source or 'audit'}",
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
        distributions=distributions,
        evidence=evidence_index(results),
        test_log=build_test_log(results),
        timing=build_timing(results),
    )


def make_charts(results: AuditResult) -> list[Chart]:
    """Every chart the results support, in the order the report shows them.

    The 1:1 charts first (DET, rates against the threshold, score densities, then per
    operating point the
    rates and the cross-group heatmap), the 1:N charts (when the audit has an
    ``identification`` section) last. Nothing is drawn here: each chart is drawn when
    its ``svg`` is first read (the HTML page reads it, the Markdown card does not).
    """
    charts: list[Chart | None] = [
        det_chart(results),
        threshold_chart(results),
        density_chart(results),
    ]
    for i in range(len(results.operating_points)):
        charts.append(rates_chart(results, i))
    for i in range(len(results.operating_points)):
        charts.append(heatmap_chart(results, i))
    charts.extend(identification_charts(results))
    return [c for c in charts if c is not None]


def render_html(
    results: AuditResult,
    *,
    notices: Sequence[str] = (),
    target_fmr: float | None = None,
    policy: str | None = None,
    title: str | None = None,
) -> str:
    """The HTML report of an audit.

    Parameters
    ----------
    results : AuditResult
        The audit, e.g. as read by :func:`~faceparity.results.read_results`.
    notices : sequence of str, default ()
        Shown first and among the caveats (the demo says its data are synthetic).
    target_fmr, policy : optional
        The operating point of the one-sentence differential.
    title : str, optional
        The page's title.

    Returns
    -------
    str
        A complete HTML document.

    """
    card = build_card(
        results,
        charts=make_charts(results),
        notices=notices,
        target_fmr=target_fmr,
        policy=policy,
        title=title,
    )
    template = template_environment("html").get_template("report.html.j2")
    return str(template.render(card=card, generator=GENERATOR, no_interval=NO_INTERVAL))


def render_markdown(
    results: AuditResult,
    *,
    notices: Sequence[str] = (),
    target_fmr: float | None = None,
    policy: str | None = None,
    title: str | None = None,
) -> str:
    """The Markdown model card of an audit.

    Same sections, sentences and tables as :func:`render_html`; each chart is replaced
    by its caption and text alternative. Parameters as there.
    """
    card = build_card(
        results,
        charts=make_charts(results),
        notices=notices,
        target_fmr=target_fmr,
        policy=policy,
        title=title,
    )
    template = template_environment("md").get_template("report.md.j2")
    text = str(template.render(card=card, generator=GENERATOR, no_interval=NO_INTERVAL))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
