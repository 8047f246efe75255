"""What a threshold means in an audit: the nearest operating point, each group's rates at it.

Given the ``results.json`` of an audit, :func:`describe_threshold` says which of its
operating points a threshold is nearest, and reads the FMR and FNMR at the threshold off
each group's DET curve (interpolated between the audit's sampled points, so an
approximation). :func:`other_model_warning` says when the audit was of another model.
"""

from __future__ import annotations

import numpy as np

from faceparity.errors import UsageError
from faceparity.results.audit import AuditResult, DetPoints

__all__ = ["describe_threshold", "other_model_warning"]

MSG_OTHER_MODEL = (
    "warning: the audit in {file} is of another model or model spec (its digest differs): "
    "its thresholds do not carry over"
)
MSG_NOT_SIMILARITY = (
    "the audit in {file} scored {kind}s, not similarities; its thresholds cannot be "
    "compared with a cosine similarity"
)


def _rates_at(det: DetPoints | None, threshold: float) -> str:
    """FMR and FNMR at a threshold, interpolated on a DET curve, in words."""
    if det is None or len(det.threshold) < 2:
        return "no DET curve in the audit"
    t = np.asarray(det.threshold, dtype=np.float64)
    order = np.argsort(t)
    t = t[order]
    fmr = np.asarray(det.fmr, dtype=np.float64)[order]
    fnmr = np.asarray(det.fnmr, dtype=np.float64)[order]
    if threshold > t[-1]:
        return (
            f"FMR below {fmr[-1]:.2g} (the smallest the audit sampled, at {t[-1]:.6f}), "
            f"FNMR above {fnmr[-1]:.2%}"
        )
    if threshold < t[0]:
        return (
            f"FMR above {fmr[0]:.2g} (the largest the audit sampled, at {t[0]:.6f}), "
            f"FNMR below {fnmr[0]:.2%}"
        )
    log_fmr = np.log10(np.maximum(fmr, 1e-300))
    at_fmr = float(10 ** np.interp(threshold, t, log_fmr))
    return f"FMR {at_fmr:.2g}, FNMR {float(np.interp(threshold, t, fnmr)):.2%}"


def other_model_warning(
    result: AuditResult, model_digest: str, *, file: str = "results.json"
) -> str | None:
    """A warning when the audit records a model (audits of images do) other than this one."""
    audited = (
        None if result.acquisition is None else result.acquisition.pipeline.get("model_digest")
    )
    if audited is not None and audited != model_digest:
        return MSG_OTHER_MODEL.format(file=file)
    return None


def describe_threshold(result: AuditResult, threshold: float, *, file: str = "results.json") -> str:
    """Which operating point of an audit a threshold is nearest, and the rates it gives.

    Raises
    ------
    UsageError
        When the audit's scores were distances.

    """
    kind = result.input.score_kind
    if kind != "similarity":
        raise UsageError(MSG_NOT_SIMILARITY.format(file=file, kind=kind))
    lines = []
    points = [p for p in result.operating_points if p.threshold is not None]
    if points:
        nearest = min(points, key=lambda p: abs(float(p.threshold or 0.0) - threshold))
        lines.append(
            f"nearest operating point of the audit: target FMR {nearest.target_fmr:g} "
            f"({nearest.policy}), threshold {nearest.threshold:.6f}"
            + (" (this threshold)" if nearest.threshold == threshold else "")
        )
    lines.append(
        f"rates at threshold {threshold:g}, read off each group's DET curve (approximate):"
    )
    for label, det in [("overall", result.overall.det)] + [(g.label, g.det) for g in result.groups]:
        lines.append(f"  {label}: {_rates_at(det, threshold)}")
    if result.acquisition is not None:
        lines.append(
            "the audit also counted failures to acquire and enrol by group (see its report)"
        )
    return "\n".join(lines)
