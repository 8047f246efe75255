"""faceparity: open, statistically honest audits of demographic differentials in face recognition.

Read comparisons with a reader, audit them, write the result::

    import faceparity as fp

    cs = fp.read_bfw("bfw.csv", score="senet50", score_kind=fp.ScoreKind.SIMILARITY)
    result = fp.audit(cs, group_by=["sex", "ethnicity"],
                      config=fp.AuditConfig(target_fmrs=(1e-3, 1e-4)))
    result.write_json("out/results.json")
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not typing's: importing typing would slow ``import faceparity``
if TYPE_CHECKING:
    from typing import Any

    from faceparity._version import __version__
    from faceparity.acquisition import AcquisitionResult, acquisition_by_group
    from faceparity.errors import FaceparityError, InputError, Location, UsageError
    from faceparity.explain import ExplainResult, explain_errors
    from faceparity.identification import (
        IdentificationResult,
        ProtocolConfig,
        audit_identification,
    )
    from faceparity.metrics import (
        DetCurve,
        EqualErrorRate,
        Measure,
        det_curve,
        equal_error_rate,
        fmr_fnmr,
        fnmr_at_fmr,
        threshold_at_fmr,
    )
    from faceparity.model.comparisons import ComparisonSet, Exclusion
    from faceparity.model.config import (
        AuditConfig,
        FMRScope,
        MatedGroupRule,
        PolicyKind,
        ScoreKind,
        ThresholdPolicy,
    )
    from faceparity.model.grouping import Group, Grouping, group_comparisons
    from faceparity.pipeline import (
        ModelSpec,
        OnnxEmbedder,
        PipelineSettings,
        QualityLimits,
        embed_images,
        open_detector,
    )
    from faceparity.readers import (
        AttributeSpec,
        read_bfw,
        read_bob,
        read_embeddings,
        read_pairs,
        read_rfw,
    )
    from faceparity.readers.manifest import read_manifest
    from faceparity.results.audit import SCHEMA_VERSION, AuditResult
    from faceparity.review.leaderboard import Leaderboard, build_leaderboard
    from faceparity.uncertainty import (
        clopper_pearson,
        support_for,
        wilson,
        with_uncertainty,
    )
    from faceparity.verification.audit import audit

__all__ = [
    "__version__",
    # configuration
    "AuditConfig",
    "FMRScope",
    "MatedGroupRule",
    "PolicyKind",
    "ScoreKind",
    "ThresholdPolicy",
    # data model and readers
    "AttributeSpec",
    "ComparisonSet",
    "Exclusion",
    "Group",
    "Grouping",
    "group_comparisons",
    "read_bfw",
    "read_bob",
    "read_embeddings",
    "read_pairs",
    "read_rfw",
    # the audit and its result
    "audit",
    "AuditResult",
    "SCHEMA_VERSION",
    # 1:N identification
    "audit_identification",
    "IdentificationResult",
    "ProtocolConfig",
    # from face images: the pipeline, failures to acquire and enrol
    "read_manifest",
    "embed_images",
    "PipelineSettings",
    "QualityLimits",
    "ModelSpec",
    "OnnxEmbedder",
    "open_detector",
    "acquisition_by_group",
    "AcquisitionResult",
    # what drives the errors; many systems side by side
    "explain_errors",
    "ExplainResult",
    "build_leaderboard",
    "Leaderboard",
    # uncertainty
    "with_uncertainty",
    "clopper_pearson",
    "wilson",
    "support_for",
    # metrics on plain score arrays
    "DetCurve",
    "EqualErrorRate",
    "Measure",
    "det_curve",
    "equal_error_rate",
    "fmr_fnmr",
    "fnmr_at_fmr",
    "threshold_at_fmr",
    # errors
    "FaceparityError",
    "InputError",
    "Location",
    "UsageError",
]

_LAZY: dict[str, str] = {
    "__version__": "faceparity._version",
    "AcquisitionResult": "faceparity.acquisition",
    "acquisition_by_group": "faceparity.acquisition",
    "FaceparityError": "faceparity.errors",
    "InputError": "faceparity.errors",
    "Location": "faceparity.errors",
    "UsageError": "faceparity.errors",
    "ExplainResult": "faceparity.explain",
    "explain_errors": "faceparity.explain",
    "IdentificationResult": "faceparity.identification",
    "ProtocolConfig": "faceparity.identification",
    "audit_identification": "faceparity.identification",
    "DetCurve": "faceparity.metrics",
    "EqualErrorRate": "faceparity.metrics",
    "Measure": "faceparity.metrics",
    "det_curve": "faceparity.metrics",
    "equal_error_rate": "faceparity.metrics",
    "fmr_fnmr": "faceparity.metrics",
    "fnmr_at_fmr": "faceparity.metrics",
    "threshold_at_fmr": "faceparity.metrics",
    "ComparisonSet": "faceparity.model.comparisons",
    "Exclusion": "faceparity.model.comparisons",
    "AuditConfig": "faceparity.model.config",
    "FMRScope": "faceparity.model.config",
    "MatedGroupRule": "faceparity.model.config",
    "PolicyKind": "faceparity.model.config",
    "ScoreKind": "faceparity.model.config",
    "ThresholdPolicy": "faceparity.model.config",
    "Group": "faceparity.model.grouping",
    "Grouping": "faceparity.model.grouping",
    "group_comparisons": "faceparity.model.grouping",
    "ModelSpec": "faceparity.pipeline",
    "OnnxEmbedder": "faceparity.pipeline",
    "PipelineSettings": "faceparity.pipeline",
    "QualityLimits": "faceparity.pipeline",
    "embed_images": "faceparity.pipeline",
    "open_detector": "faceparity.pipeline",
    "AttributeSpec": "faceparity.readers",
    "read_bfw": "faceparity.readers",
    "read_bob": "faceparity.readers",
    "read_embeddings": "faceparity.readers",
    "read_pairs": "faceparity.readers",
    "read_rfw": "faceparity.readers",
    "read_manifest": "faceparity.readers.manifest",
    "SCHEMA_VERSION": "faceparity.results.audit",
    "AuditResult": "faceparity.results.audit",
    "Leaderboard": "faceparity.review.leaderboard",
    "build_leaderboard": "faceparity.review.leaderboard",
    "clopper_pearson": "faceparity.uncertainty",
    "support_for": "faceparity.uncertainty",
    "wilson": "faceparity.uncertainty",
    "with_uncertainty": "faceparity.uncertainty",
    "audit": "faceparity.verification.audit",
}
"""The module each public name comes from: imported when the name is first used."""


def __getattr__(name: str) -> Any:
    """A public name, its module imported on first use (``import faceparity`` is cheap)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
