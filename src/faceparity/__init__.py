"""faceparity: open, statistically honest audits of demographic differentials in face recognition.

Read comparisons with a reader, audit them, write the result::

    import faceparity as fp

    cs = fp.read_bfw("bfw.csv", score="senet50", score_kind=fp.ScoreKind.SIMILARITY)
    result = fp.audit(cs, group_by=["sex", "ethnicity"],
                      config=fp.AuditConfig(target_fmrs=(1e-3, 1e-4)))
    result.write_json("out/results.json")
"""

from faceparity._version import __version__
from faceparity.acquisition import AcquisitionResult, acquisition_by_group
from faceparity.errors import FaceparityError, InputError, Location, UsageError
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
