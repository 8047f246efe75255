"""Everything faceparity writes, as typed dataclasses with one reader and one writer each.

The audit's ``results.json`` (:class:`AuditResult`, with its optional 1:N section
:class:`IdentificationResult` and acquisition section :class:`AcquisitionResult`).
Nothing here computes: the package imports only the standard library and the
package's standard-library-only foundation (its version, its errors, atomic writing).
"""

from faceparity.results.acquisition import AcquisitionGroup, AcquisitionResult
from faceparity.results.audit import (
    SCHEMA_VERSION,
    AuditResult,
    CrossGroupCell,
    DetPoints,
    EerResult,
    GroupOperatingPoint,
    GroupSummary,
    OperatingPoint,
    RatePair,
)
from faceparity.results.identification import IdentificationResult

__all__ = [
    "SCHEMA_VERSION",
    "AcquisitionGroup",
    "AcquisitionResult",
    "AuditResult",
    "CrossGroupCell",
    "DetPoints",
    "EerResult",
    "GroupOperatingPoint",
    "GroupSummary",
    "IdentificationResult",
    "OperatingPoint",
    "RatePair",
]
