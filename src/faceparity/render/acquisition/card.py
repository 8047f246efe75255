"""The failures-to-acquire-and-enrol section of the report: plain values for the templates.

:func:`build_acquisition` reads the audit's ``acquisition`` section (written by
audits that ran the image pipeline, :mod:`faceparity.acquisition`) and returns rows and
sentences; the templates only lay them out. Only aggregates are read: counts, rates,
intervals, reasons and the pipeline's description; no image, path or embedding.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from faceparity.render.acquisition.table import (
    NO_BOOTSTRAP_INTERVAL,
    NO_FNMR_GROUPS,
    SKIN_TONE_ATTRIBUTES,
    reasons_text,
)
from faceparity.render.formatting import (
    NOT_AVAILABLE,
    describe_group,
    fmt_count,
    fmt_interval,
    fmt_rate,
)
from faceparity.results.acquisition import AcquisitionGroup, AcquisitionResult
from faceparity.results.audit import AuditResult
from faceparity.results.common import Interval

__all__ = [
    "SKIN_TONE_CAVEAT",
    "AcquisitionRow",
    "AcquisitionSection",
    "FnmrWithFailuresRow",
    "build_acquisition",
]

DIGEST_PREFIX = 12
"""Hex digits of a digest shown in the report (enough to tell two models apart)."""

SKIN_TONE_CAVEAT = (
    "Skin tone here is the ITA (Individual Typology Angle), a colorimetric measure of the "
    "skin region of the aligned face. It depends on lighting, white balance, camera "
    "processing and make-up; it is not ethnicity and not a Fitzpatrick type. Compare its "
    "groups only within one data set taken under similar conditions. An image in which no "
    "face was found has no ITA, so it belongs to no skin-tone group: it is counted among "
    "the images without a group."
)

PARAGRAPHS = (
    "The comparisons of this audit are those of the images that gave a template. An image "
    "from which the pipeline captured no face is a failure to acquire; one whose face gave "
    "no template (below a quality limit, or no usable embedding) is a failure to enrol. "
    "Neither shows in the comparison scores, so both are counted here, by group.",
)


@dataclass(frozen=True)
class AcquisitionRow:
    """One group (or every image) and what became of its images, formatted."""

    label: str
    name: str
    images: str
    subjects: str
    enrolled: str
    fta: str
    fta_ci: str
    fta_counts: str
    fte: str
    fte_ci: str
    fte_counts: str
    reasons: str


@dataclass(frozen=True)
class FnmrWithFailuresRow:
    """One group at one operating point: FNMR of the enrolled images and the generalised FNMR."""

    target_fmr: str
    policy: str
    label: str
    fnmr: str
    without_template: str
    fnmr_with_failures: str


@dataclass(frozen=True)
class AcquisitionSection:
    """Everything the report says about failures to acquire and enrol."""

    paragraphs: tuple[str, ...]
    summary: str
    rows: tuple[AcquisitionRow, ...]
    ungrouped: str
    interval_methods: tuple[str, ...]
    fnmr_rows: tuple[FnmrWithFailuresRow, ...]
    notes: tuple[str, ...]
    pipeline: tuple[tuple[str, str], ...]
    skin_tone_caveat: str


def _ci(ci: Interval | None) -> str:
    """The interval; ``""`` when none was computed (or the bootstrap gave none)."""
    if ci is None or ci.ci_low is None or ci.ci_high is None:
        return ""
    return fmt_interval(ci, fmt_rate)


def _row(
    g: AcquisitionGroup, *, label: str | None = None, name: str | None = None
) -> AcquisitionRow:
    n = fmt_count(g.n_images)
    return AcquisitionRow(
        label=label or g.label,
        name=name or describe_group(g.attributes, g.label),
        images=n,
        subjects=fmt_count(g.n_subjects),
        enrolled=fmt_count(g.n_enrolled),
        fta=fmt_rate(g.fta),
        fta_ci=_ci(g.fta_ci),
        fta_counts=f"{fmt_count(g.n_failure_to_acquire)} / {n}",
        fte=fmt_rate(g.fte),
        fte_ci=_ci(g.fte_ci),
        fte_counts=f"{fmt_count(g.n_failure_to_enrol)} / {n}",
        reasons=reasons_text(g.reasons),
    )


def _file_name(path: Any) -> str:
    """The last part of a path, POSIX or Windows: the report names a model, not a folder."""
    text = str(path or "")
    return re.split(r"[\\/]", text)[-1] or NOT_AVAILABLE


def _digest(value: Any) -> str:
    text = str(value or "")
    return f"{text[:DIGEST_PREFIX]}..." if len(text) > DIGEST_PREFIX else (text or NOT_AVAILABLE)


def _plain(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _settings(mapping: Any) -> str:
    if not isinstance(mapping, Mapping) or not mapping:
        return NOT_AVAILABLE
    return "; ".join(f"{str(k).replace('_', ' ')} {_plain(v)}" for k, v in mapping.items())


def _pipeline(p: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return (
        ("face detector", str(p.get("detector") or NOT_AVAILABLE)),
        ("recognition model (file)", _file_name(p.get("model"))),
        ("model digest", _digest(p.get("model_digest"))),
        ("model input spec", _settings(p.get("spec"))),
        ("enrolment quality limits", _settings(p.get("quality_limits"))),
        ("pipeline digest", _digest(p.get("pipeline_digest"))),
    )


def _measures_skin_tone(results: AuditResult, acq: AcquisitionResult) -> bool:
    """Whether a group-by attribute is the ITA, or the pipeline says it measured skin tone."""
    names = set(results.config.group_by)
    names |= {k for g in acq.groups for k in g.attributes}
    measured = bool(acq.pipeline.get("skin_tone"))
    return measured or bool(names & set(SKIN_TONE_ATTRIBUTES))


def _fnmr_rows(acq: AcquisitionResult) -> tuple[FnmrWithFailuresRow, ...]:
    by_label = {g.label: g for g in [*acq.groups, acq.overall]}
    rows = []
    for point in acq.fnmr_with_failures:
        for r in point.groups:
            g = by_label.get(r.label)
            fta, fte = (None, None) if g is None else (g.fta, g.fte)
            rows.append(
                FnmrWithFailuresRow(
                    target_fmr=f"{point.target_fmr:g}",
                    policy=point.policy,
                    label=r.label,
                    fnmr=fmt_rate(r.fnmr),
                    without_template=fmt_rate(None if fta is None or fte is None else fta + fte),
                    fnmr_with_failures=fmt_rate(r.fnmr_with_failures),
                )
            )
    return tuple(rows)


def _methods(groups: Sequence[AcquisitionGroup]) -> tuple[str, ...]:
    """The interval methods used, then why an interval is missing where one is."""
    cis = [ci for g in groups for ci in (g.fta_ci, g.fte_ci) if ci is not None]
    methods = dict.fromkeys(ci.method for ci in cis if ci.method)
    if any(ci.ci_low is None for ci in cis):
        methods[f"no interval computed: {NO_BOOTSTRAP_INTERVAL}"] = None
    return tuple(methods)


def build_acquisition(results: AuditResult) -> AcquisitionSection | None:
    """The failures-to-acquire-and-enrol section of the report, or None when there is none.

    Parameters
    ----------
    results : AuditResult
        The audit, e.g. as read by :func:`~faceparity.results.read_results`.

    Returns
    -------
    AcquisitionSection or None
        None when the results have no ``acquisition`` section (no image pipeline ran).

    """
    acq = results.acquisition
    if acq is None:
        return None
    overall = acq.overall
    groups = list(acq.groups)
    summary = (
        f"The image pipeline read {fmt_count(overall.n_images)} images of "
        f"{fmt_count(overall.n_subjects)} subjects: "
        f"{fmt_count(overall.n_enrolled)} enrolled, "
        f"{fmt_count(overall.n_failure_to_acquire)} failures to acquire (FTA "
        f"{fmt_rate(overall.fta)}) and {fmt_count(overall.n_failure_to_enrol)} "
        f"failures to enrol (FTE {fmt_rate(overall.fte)}); only the enrolled images "
        "are compared (see Failures to acquire and enrol)."
    )
    fnmr_rows = _fnmr_rows(acq)
    return AcquisitionSection(
        paragraphs=PARAGRAPHS,
        summary=summary,
        rows=(
            *(_row(g) for g in groups),
            _row(overall, label="all images", name="every image of the run"),
        ),
        ungrouped=(
            f"Images without a group (a group-by attribute missing; counted in all images "
            f"only): {fmt_count(acq.n_ungrouped)}."
        ),
        interval_methods=_methods([*groups, overall]),
        fnmr_rows=fnmr_rows,
        notes=(
            *acq.notes,
            *((NO_FNMR_GROUPS,) if acq.fnmr_with_failures and not fnmr_rows else ()),
        ),
        pipeline=_pipeline(acq.pipeline),
        skin_tone_caveat=SKIN_TONE_CAVEAT if _measures_skin_tone(results, acq) else "",
    )
