"""From a request to written results: the steps every audit command and the demo share.

:func:`run_audit` reads an :class:`AuditRequest` (what to read, the groups, the
configuration, the intervals, the engine, the 1:N audit, where to write, the limits) and
returns an :class:`AuditOutcome` that owns the exit code. :mod:`faceparity.workflow.images`
runs the image pipeline of ``embed``, ``verify`` and ``audit images``.
"""

from __future__ import annotations

from faceparity.workflow.audit import AuditOutcome, add_intervals, audit_comparisons, run_audit
from faceparity.workflow.outputs import write_results, write_text
from faceparity.workflow.request import (
    AuditInput,
    AuditRequest,
    Backend,
    BfwInput,
    BobInput,
    EmbeddingsInput,
    EngineChoice,
    EngineSettings,
    HistogramInput,
    IdentificationSettings,
    ImagesInput,
    InputKind,
    IntervalMethod,
    IntervalSettings,
    OutputFormat,
    PairsInput,
    RfwInput,
)

__all__ = [
    # the request
    "AuditInput",
    "AuditRequest",
    "Backend",
    "BfwInput",
    "BobInput",
    "EmbeddingsInput",
    "EngineChoice",
    "EngineSettings",
    "HistogramInput",
    "IdentificationSettings",
    "ImagesInput",
    "InputKind",
    "IntervalMethod",
    "IntervalSettings",
    "OutputFormat",
    "PairsInput",
    "RfwInput",
    # running it
    "AuditOutcome",
    "add_intervals",
    "audit_comparisons",
    "run_audit",
    "write_results",
    "write_text",
]
