"""Everything faceparity writes, as typed dataclasses with one reader and one writer each.

The audit's ``results.json`` (:class:`AuditResult`, with its optional 1:N section
:class:`IdentificationResult`, acquisition section :class:`AcquisitionResult`, score
distributions :class:`ScoreDistributions` and test log :class:`TestLog`),
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
from faceparity.results.distributions import (
    GroupScoreDistributions,
    ScoreDistribution,
    ScoreDistributions,
)
from faceparity.results.identification import IdentificationResult, ProtocolRecord
from faceparity.results.loading import read_results
from faceparity.results.processing import GroupProcessingTime, ProcessingTime
from faceparity.results.schema import SchemaError
from faceparity.results.testlog import InputFileRecord, MachineRecord, TestLog

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
    "GroupProcessingTime",
    "GroupScoreDistributions",
    "GroupSummary",
    "IdentificationResult",
    "InputFileRecord",
    "InputRecord",
    "Interval",
    "MachineRecord",
    "OperatingPoint",
    "ProcessingTime",
    "ProtocolRecord",
    "RateMeasures",
    "RatePair",
    "RateRatio",
    "SchemaError",
    "ScoreDistribution",
    "ScoreDistributions",
    "SummaryMeasure",
    "SummaryMeasures",
    "Support",
    "TestLog",
    "ToolRecord",
    "UncertaintyRecord",
    "read_results",
]
