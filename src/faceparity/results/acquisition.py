"""The ``acquisition`` section of ``results.json``: failure rates by group, with reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faceparity.results.common import RateInterval
from faceparity.results.schema import Fraction, Target

__all__ = [
    "ACQUIRE",
    "ENROL",
    "ENROLLED",
    "STATUSES",
    "AcquisitionGroup",
    "AcquisitionResult",
    "GeneralisedPoint",
    "GeneralisedRow",
]

# What became of an image (ISO/IEC 19795-1, 4.3.2 and 4.3.3): the ``status`` of each row
# of `faceparity embed`'s output, counted here by group.
ENROLLED = "enrolled"
ACQUIRE = "failure_to_acquire"
ENROL = "failure_to_enrol"
STATUSES = (ENROLLED, ACQUIRE, ENROL)


@dataclass(frozen=True)
class AcquisitionGroup:
    """One group's images and what became of them.

    ``fta`` and ``fte`` are fractions of all the group's images, so that
    ``fta + fte`` is the share of images without a template; ``None`` when the group
    has no images. ``reasons`` counts the images per failure reason.
    """

    attributes: dict[str, str]
    label: str
    n_images: int
    n_subjects: int
    n_enrolled: int
    n_failure_to_acquire: int
    n_failure_to_enrol: int
    fta: Fraction | None
    fte: Fraction | None
    reasons: dict[str, int]
    fta_ci: RateInterval | None = None
    fte_ci: RateInterval | None = None


@dataclass(frozen=True)
class GeneralisedRow:
    """A group's FNMR of enrolled images beside its generalised FNMR (failures counted)."""

    label: str
    fnmr: Fraction | None
    fnmr_with_failures: Fraction | None


@dataclass(frozen=True)
class GeneralisedPoint:
    """The generalised FNMR of every group at one operating point of the audit."""

    target_fmr: Target
    policy: str
    groups: list[GeneralisedRow]


@dataclass(frozen=True)
class AcquisitionResult:
    """Failures to acquire and enrol: overall, per group, and the pipeline that ran.

    Attributes
    ----------
    overall : AcquisitionGroup
        Every image of the run.
    groups : list of AcquisitionGroup
        One per group of the audit's ``group_by``; images whose group-by attribute is
        missing (among them every image without a face when grouping by skin tone)
        are counted in ``overall`` and in ``n_ungrouped`` only.
    n_ungrouped : int
        Images without a group.
    pipeline : dict
        Detector, model, spec and limits (from the embeddings file).
    notes : list of str
        Definitions and caveats, in words.
    fnmr_with_failures : list of dict
        Per operating point of the audit (``target_fmr``, ``policy``), per group
        (``label``): the FNMR of the enrolled images and the FNMR that counts an image
        without a template as a false non-match (the generalised FNMR of ISO/IEC 19795-1).

    """

    overall: AcquisitionGroup
    groups: list[AcquisitionGroup]
    n_ungrouped: int
    pipeline: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    fnmr_with_failures: list[GeneralisedPoint] = field(default_factory=list)
