"""Two face images compared, and what a threshold means in an audit of the same model.

For people who just want to compare two faces with the model under audit: each image
goes through the same pipeline as an audit's (decode, detect, choose one face, align,
embed), the score is the cosine similarity of the two embeddings, and the decision is
``score >= threshold``. Given the ``results.json`` of an audit of the same model,
:func:`describe_threshold` says which of its operating points the threshold is
nearest, and reads the FMR and FNMR at the threshold off each group's DET curve
(interpolated between the audit's sampled points, so an approximation). Nothing is
stored; this is not a search.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.pipeline.align import align_face
from faceparity.pipeline.detect import Detector
from faceparity.pipeline.embedder import OnnxEmbedder
from faceparity.pipeline.faces import choose_face
from faceparity.pipeline.images import ImageFailure, decode_image, read_image
from faceparity.results import AuditResult, DetPoints

__all__ = [
    "MSG_NO_TEMPLATE",
    "Verification",
    "compare_images",
    "describe_threshold",
    "other_model_warning",
]

MSG_NO_TEMPLATE = "{file}: no template could be made: {reason}"
MSG_OTHER_MODEL = (
    "warning: the audit in {file} is of another model or model spec (its digest differs): "
    "its thresholds do not carry over"
)
MSG_NOT_SIMILARITY = (
    "the audit in {file} scored {kind}s, not similarities; its thresholds cannot be "
    "compared with a cosine similarity"
)


@dataclass(frozen=True)
class Verification:
    """The score of two images and how each was captured."""

    score: float
    faces: tuple[int, int]

    def decision(self, threshold: float) -> bool:
        """``score >= threshold``: a match."""
        return self.score >= threshold

    def describe(self, threshold: float) -> str:
        """The score and the decision, in one line each."""
        verdict = "match" if self.decision(threshold) else "no match"
        return (
            f"score: {self.score:.6f} (cosine similarity)\n"
            f"decision at threshold {threshold:g}: {verdict}"
        )


def _template(
    path: str | os.PathLike[str], detector: Detector | None, embedder: OnnxEmbedder
) -> tuple[npt.NDArray[np.float32], int]:
    """The unit embedding of an image's face and the number of faces found."""
    data, failure = read_image(path)
    if data is None:
        assert failure is not None
        raise UsageError(MSG_NO_TEMPLATE.format(file=path, reason=_reason(failure)))
    decoded = decode_image(data)
    if isinstance(decoded, ImageFailure):
        raise UsageError(MSG_NO_TEMPLATE.format(file=path, reason=_reason(decoded)))
    face, n_faces = None, 1
    if detector is not None:
        faces = detector.detect(decoded.pixels)
        n_faces = len(faces)
        face = choose_face(faces, width=decoded.width, height=decoded.height)
        if face is None:
            raise UsageError(MSG_NO_TEMPLATE.format(file=path, reason="no face found"))
    crop = align_face(decoded.pixels, face, size=embedder.spec.size)
    embedding, usable = embedder.embed(crop[None])
    if not usable[0]:
        raise UsageError(
            MSG_NO_TEMPLATE.format(file=path, reason="the model gave no usable embedding")
        )
    return embedding[0], n_faces


def _reason(failure: ImageFailure) -> str:
    return failure.reason + (f" ({failure.detail})" if failure.detail else "")


def compare_images(
    a: str | os.PathLike[str],
    b: str | os.PathLike[str],
    *,
    detector: Detector | None,
    embedder: OnnxEmbedder,
) -> Verification:
    """The cosine similarity of the faces of two images.

    Raises
    ------
    UsageError
        When an image gives no template (unreadable, no face, no usable embedding).

    """
    ea, na = _template(a, detector, embedder)
    eb, nb = _template(b, detector, embedder)
    score = float(np.dot(ea.astype(np.float64), eb.astype(np.float64)))
    return Verification(score=score, faces=(na, nb))


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
    kind = result.input.get("score_kind", "similarity")
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
