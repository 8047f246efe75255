"""The failures-to-acquire-and-enrol section of the report: plain values for the templates.

:func:`build_acquisition` reads ``results.json``'s ``acquisition`` mapping (written by
audits that ran the image pipeline, :mod:`faceparity.acquisition`) and returns rows and
sentences; the templates only lay them out. Only aggregates are read: counts, rates,
intervals, reasons and the pipeline's description; no image, path or embedding.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from faceparity.render.acquisition_table import (
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


def _ci(g: Mapping[str, Any], key: str) -> str:
    """The interval of ``key``; ``""`` when none was computed (or the bootstrap gave none)."""
    ci = g.get(f"{key}_ci")
    if not isinstance(ci, Mapping) or ci.get("ci_low") is None or ci.get("ci_high") is None:
        return ""
    return fmt_interval(ci, fmt_rate)


def _row(
    g: Mapping[str, Any], *, label: str | None = None, name: str | None = None
) -> AcquisitionRow:
    n = fmt_count(g.get("n_images"))
    reasons = g.get("reasons")
    return AcquisitionRow(
        label=label or str(g.get("label", "")),
        name=name or describe_group(g.get("attributes"), str(g.get("label", ""))),
        images=n,
        subjects=fmt_count(g.get("n_subjects")),
        enrolled=fmt_count(g.get("n_enrolled")),
        fta=fmt_rate(g.get("fta")),
        fta_ci=_ci(g, "fta"),
        fta_counts=f"{fmt_count(g.get('n_failure_to_acquire'))} / {n}",
        fte=fmt_rate(g.get("fte")),
        fte_ci=_ci(g, "fte"),
        fte_counts=f"{fmt_count(g.get('n_failure_to_enrol'))} / {n}",
        reasons=reasons_text(reasons if isinstance(reasons, Mapping) else {}),
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


def _measures_skin_tone(results: Mapping[str, Any], acq: Mapping[str, Any]) -> bool:
    """Whether a group-by attribute is the ITA, or the pipeline says it measured skin tone."""
    names = {str(a) for a in results.get("config", {}).get("group_by", ()) or ()}
    names |= {str(k) for g in acq.get("groups", ()) for k in g.get("attributes", {}) or {}}
    pipeline = acq.get("pipeline")
    measured = isinstance(pipeline, Mapping) and bool(pipeline.get("skin_tone"))
    return measured or bool(names & set(SKIN_TONE_ATTRIBUTES))


def _fnmr_rows(acq: Mapping[str, Any]) -> tuple[FnmrWithFailuresRow, ...]:
    groups = [*acq.get("groups", ()), *([acq["overall"]] if acq.get("overall") else [])]
    by_label = {str(g["label"]): g for g in groups}
    rows = []
    for point in acq.get("fnmr_with_failures", ()):
        for r in point.get("groups", ()):
            g = by_label.get(str(r["label"]), {})
            fta, fte = g.get("fta"), g.get("fte")
            rows.append(
                FnmrWithFailuresRow(
                    target_fmr=f"{point['target_fmr']:g}",
                    policy=str(point["policy"]),
                    label=str(r["label"]),
                    fnmr=fmt_rate(r.get("fnmr")),
                    without_template=fmt_rate(None if fta is None or fte is None else fta + fte),
                    fnmr_with_failures=fmt_rate(r.get("fnmr_with_failures")),
                )
            )
    return tuple(rows)


def _methods(groups: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The interval methods used, then why an interval is missing where one is."""
    cis = [
        g[key] for g in groups for key in ("fta_ci", "fte_ci") if isinstance(g.get(key), Mapping)
    ]
    methods = dict.fromkeys(str(ci["method"]) for ci in cis if ci.get("method"))
    if any(ci.get("ci_low") is None for ci in cis):
        methods[f"no interval computed: {NO_BOOTSTRAP_INTERVAL}"] = None
    return tuple(methods)


def build_acquisition(results: Mapping[str, Any]) -> AcquisitionSection | None:
    """The failures-to-acquire-and-enrol section of the report, or None when there is none.

    Parameters
    ----------
    results : mapping
        ``results.json`` as read by :func:`~faceparity.results.loading.read_results`.

    Returns
    -------
    AcquisitionSection or None
        None when the results have no ``acquisition`` section (no image pipeline ran).

    """
    acq = results.get("acquisition")
    if not isinstance(acq, Mapping):
        return None
    overall = acq["overall"]
    groups = list(acq.get("groups", ()))
    summary = (
        f"The image pipeline read {fmt_count(overall.get('n_images'))} images of "
        f"{fmt_count(overall.get('n_subjects'))} subjects: "
        f"{fmt_count(overall.get('n_enrolled'))} enrolled, "
        f"{fmt_count(overall.get('n_failure_to_acquire'))} failures to acquire (FTA "
        f"{fmt_rate(overall.get('fta'))}) and {fmt_count(overall.get('n_failure_to_enrol'))} "
        f"failures to enrol (FTE {fmt_rate(overall.get('fte'))}); only the enrolled images "
        "are compared (see Failures to acquire and enrol)."
    )
    pipeline = acq.get("pipeline")
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
            f"only): {fmt_count(acq.get('n_ungrouped'))}."
        ),
        interval_methods=_methods([*groups, overall]),
        fnmr_rows=fnmr_rows,
        notes=(
            *(str(n) for n in acq.get("notes", ()) or ()),
            *((NO_FNMR_GROUPS,) if acq.get("fnmr_with_failures") and not fnmr_rows else ()),
        ),
        pipeline=_pipeline(pipeline if isinstance(pipeline, Mapping) else {}),
        skin_tone_caveat=SKIN_TONE_CAVEAT if _measures_skin_tone(results, acq) else "",
    )
