"""Everything faceparity writes, as typed dataclasses with one reader and one writer each.

The audit's ``results.json`` (:class:`AuditResult`, with its optional 1:N section
:class:`IdentificationResult` and acquisition section :class:`AcquisitionResult`),
read from a file by :func:`read_results`. Nothing here computes: the package imports
only the standard library and the package's standard-library-only foundation (its
version, its errors, atomic writing).
"""

from faceparity.results.acquisition import (
    AcquisitionGroup,
    AcquisitionResult,
    GeneralisedPoint,
    GeneralisedRow,
)
from faceparity.results.audit import (
    SCHEMA_VERSION,
    AuditConfigRecord,
    AuditResult,
    CrossGroupCell,
    DetPoints,
    EerResult,
    GroupOperatingPoint,
    GroupSummary,
    InputRecord,
    OperatingPoint,
    RateMeasures,
    RatePair,
    RateRatio,
    SummaryMeasure,
    SummaryMeasures,
    ToolRecord,
    UncertaintyRecord,
)
from faceparity.results.common import ExclusionRecord, Interval, Support
from faceparity.results.identification import IdentificationResult, ProtocolRecord
from faceparity.results.loading import read_results
from faceparity.results.schema import SchemaError

__all__ = [
    "SCHEMA_VERSION",
    "AcquisitionGroup",
    "AcquisitionResult",
    "AuditConfigRecord",
    "AuditResult",
    "CrossGroupCell",
    "DetPoints",
    "EerResult",
    "ExclusionRecord",
    "GeneralisedPoint",
    "GeneralisedRow",
    "GroupOperatingPoint",
    "GroupSummary",
    "IdentificationResult",
    "InputRecord",
    "Interval",
    "OperatingPoint",
    "ProtocolRecord",
    "RateMeasures",
    "RatePair",
    "RateRatio",
    "SchemaError",
    "SummaryMeasure",
    "SummaryMeasures",
    "Support",
    "ToolRecord",
    "UncertaintyRecord",
    "read_results",
]
