"""The one result type of an audit, serialised as ``results.json``.

The command line, the report, ``compare``, ``check``, ``scenario`` and ``plan`` all read
this object. Keys use the words of ISO/IEC 19795-1 and -10 (``fmr``, ``fnmr``,
``mated``, ``non_mated``). Rates are fractions in [0, 1]. A rate that cannot be computed
is ``null`` with a reason next to it, never ``NaN``, ``inf`` or a silent zero.

Schema history: ``1.0``, the first; an optional top-level ``identification`` (the 1:N
audit, :mod:`faceparity.results.identification`) was added within 1.0, and an optional
``acquisition`` (failures to acquire and enrol by group, of audits that ran the image
pipeline: :mod:`faceparity.acquisition`). ``1.1`` added the optional
``score_distributions`` (:mod:`faceparity.results.distributions`), ``test_log``
(:mod:`faceparity.results.testlog`) and ``processing_time``
(:mod:`faceparity.results.processing`), and the 1:N section's intervals
(``identification.uncertainty``, each point's ``summary`` and ``threshold_ci``, the
rates' ``*_ci`` and ``*_support``); a reader of 1.1 reads 1.0 files too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from faceparity.errors import InputError, Location
from faceparity.results.acquisition import AcquisitionResult
from faceparity.results.common import (
    ExclusionRecord,
    FractionMeasure,
    Interval,
    RateInterval,
    RateMeasures,
    RatioInterval,
    RatioMeasure,
    SummaryMeasure,
    Support,
    UncertaintyRecord,
)
from faceparity.results.distributions import ScoreDistributions
from faceparity.results.files import JsonDocument, read_document
from faceparity.results.identification import IdentificationResult
from faceparity.results.processing import ProcessingTime
from faceparity.results.schema import (
    Fraction,
    Ratio,
    SchemaError,
    Target,
    from_json_value,
    json_kind,
    length_problem,
)
from faceparity.results.testlog import TestLog

__all__ = [
    "READABLE_SCHEMA_VERSIONS",
    "SCHEMA_VERSION",
    "AuditConfigRecord",
    "AuditResult",
    "CrossGroupCell",
    "DetPoints",
    "EerResult",
    "ExclusionRecord",
    "GroupOperatingPoint",
    "GroupSummary",
    "InputRecord",
    "Interval",
    "OperatingPoint",
    "RateMeasures",
    "RatePair",
    "RateRatio",
    "SummaryMeasure",
    "SummaryMeasures",
    "Support",
    "ToolRecord",
    "UncertaintyRecord",
]

SCHEMA_VERSION = "1.1"
"""The ``schema_version`` written."""
READABLE_SCHEMA_VERSIONS = ("1.0", "1.1")
"""The versions read back; a 1.0 file has none of the keys :data:`ADDED_IN_1_1`."""
ADDED_IN_1_1 = ("score_distributions", "test_log", "processing_time")


@dataclass(frozen=True)
class EerResult:
    """Equal error rate of a group (FVC2000 definition) and its threshold."""

    eer: Fraction
    low: Fraction
    high: Fraction
    threshold: float
    eer_ci: RateInterval | None = None


@dataclass(frozen=True)
class DetPoints:
    """A DET curve sampled at log-spaced FMR targets, enough to draw it."""

    fmr: list[Fraction]
    fnmr: list[Fraction]
    threshold: list[float]

    def schema_problem(self) -> tuple[str, str] | None:
        """FNMRs or thresholds not one per FMR, for the reader of results (else None)."""
        lists = {"fnmr": self.fnmr, "threshold": self.threshold}
        return length_problem(lists, expected=len(self.fmr), per="fmr")


@dataclass(frozen=True)
class GroupSummary:
    """A group: its attributes and its counts."""

    attributes: dict[str, str]
    label: str
    n_subjects: int | None
    n_samples: int | None
    n_mated: int
    n_non_mated: int
    eer: EerResult | None
    det: DetPoints | None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RatePair:
    """FMR and FNMR at one threshold with the counts behind them."""

    fmr: Fraction | None
    fnmr: Fraction | None
    n_false_matches: int
    n_non_mated: int
    n_false_non_matches: int
    n_mated: int
    fmr_ci: RateInterval | None = None
    fnmr_ci: RateInterval | None = None
    fmr_support: Support | None = None
    fnmr_support: Support | None = None


@dataclass(frozen=True)
class GroupOperatingPoint:
    """One group at one operating point."""

    attributes: dict[str, str]
    label: str
    threshold: float | None
    fmr: Fraction | None
    fnmr: Fraction | None
    n_false_matches: int
    n_non_mated: int
    n_false_non_matches: int
    n_mated: int
    notes: list[str] = field(default_factory=list)
    threshold_ci: Interval | None = None
    fmr_ci: RateInterval | None = None
    fnmr_ci: RateInterval | None = None
    fmr_support: Support | None = None
    fnmr_support: Support | None = None


@dataclass(frozen=True)
class CrossGroupCell:
    """Non-mated comparisons with one side in group ``a`` and the other in ``b``."""

    a: dict[str, str]
    b: dict[str, str]
    fmr: Fraction | None
    n_false_matches: int
    n_non_mated: int
    fmr_ci: RateInterval | None = None
    fmr_support: Support | None = None


@dataclass(frozen=True)
class OperatingPoint:
    """Rates of every group at the threshold(s) a policy sets for a target FMR."""

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("ratios",)

    target_fmr: Target
    policy: str
    threshold: float | None
    overall: RatePair | None
    groups: list[GroupOperatingPoint]
    cross_group: list[CrossGroupCell]
    summary: SummaryMeasures
    notes: list[str] = field(default_factory=list)
    threshold_ci: Interval | None = None
    ratios: list[RateRatio] | None = None


@dataclass(frozen=True)
class ToolRecord:
    """The program that wrote the result."""

    name: str
    version: str


@dataclass(frozen=True)
class InputRecord:
    """What was audited: the source and its counts."""

    source: str | None
    score_kind: str
    n_comparisons: int
    n_mated: int
    n_non_mated: int
    n_subjects: int | None
    n_samples: int | None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AuditConfigRecord:
    """The audit's configuration, as it ran."""

    group_by: list[str]
    target_fmrs: list[Target]
    policies: list[str]
    fmr_scope: str
    mated_rule: str
    alpha: Fraction
    match_rule: str


@dataclass(frozen=True)
class SummaryMeasures:
    """Every summary measure at an operating point (keys as in ``results.json``)."""

    fmr: RateMeasures
    fnmr: RateMeasures
    garbe: FractionMeasure
    fdr: FractionMeasure
    inequity_rate: RatioMeasure

    def named(self) -> Iterator[tuple[tuple[str, ...], SummaryMeasure]]:
        """Every measure with its key path (``("fmr", "gini")``, ``("garbe",)``), in order."""
        for name in ("fmr", "fnmr"):
            rate: RateMeasures = getattr(self, name)
            for measure in ("max_min", "max_geomean", "gini"):
                yield (name, measure), getattr(rate, measure)
        for name in ("garbe", "fdr", "inequity_rate"):
            yield (name,), getattr(self, name)

    def replaced(
        self, change: Callable[[tuple[str, ...], SummaryMeasure], SummaryMeasure]
    ) -> SummaryMeasures:
        """The measures with ``change(path, measure)`` in place of each."""

        def rate(name: str) -> RateMeasures:
            old: RateMeasures = getattr(self, name)
            return RateMeasures(
                **{
                    m: change((name, m), getattr(old, m))
                    for m in ("max_min", "max_geomean", "gini")
                }
            )

        return SummaryMeasures(
            fmr=rate("fmr"),
            fnmr=rate("fnmr"),
            **{n: change((n,), getattr(self, n)) for n in ("garbe", "fdr", "inequity_rate")},
        )


@dataclass(frozen=True)
class RateRatio:
    """FMR and FNMR of group ``a`` over those of group ``b`` (labels)."""

    a: str
    b: str
    fmr_ratio: Ratio | None
    fmr_ratio_ci: RatioInterval | None
    fnmr_ratio: Ratio | None
    fnmr_ratio_ci: RatioInterval | None


def _newer_1n(data: dict[str, Any]) -> list[str]:
    """Key paths of the 1:N section's 1.1 keys (its intervals) in ``data``."""
    section = data.get("identification")
    if not isinstance(section, dict):
        return []
    found = ["identification.uncertainty"] if "uncertainty" in section else []
    points = section.get("operating_points")
    for i, point in enumerate(points if isinstance(points, list) else []):
        if isinstance(point, dict):
            found += [
                f"identification.operating_points[{i}].{key}"
                for key in ("summary", "threshold_ci")
                if key in point
            ]
    return found


@dataclass(frozen=True)
class AuditResult(JsonDocument):
    """Everything an audit found. Serialise with :meth:`to_dict` or :meth:`write_json`."""

    tool: ToolRecord
    input: InputRecord
    config: AuditConfigRecord
    overall: GroupSummary
    groups: list[GroupSummary]
    operating_points: list[OperatingPoint]
    exclusions: list[ExclusionRecord]
    schema_version: str = SCHEMA_VERSION
    uncertainty: UncertaintyRecord | None = None
    # The optional 1:N section (None for 1:1 runs; no key is written then).
    identification: IdentificationResult | None = None
    # The optional section of audits that ran the image pipeline (None otherwise).
    acquisition: AcquisitionResult | None = None
    # Added in 1.1: score quantiles and shifts by group, the test log, time per image.
    score_distributions: ScoreDistributions | None = None
    test_log: TestLog | None = None
    processing_time: ProcessingTime | None = None

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = (
        "uncertainty",
        "identification",
        "acquisition",
        *ADDED_IN_1_1,
    )

    @classmethod
    def from_dict(cls, data: Any) -> AuditResult:
        """Rebuild a result from the mapping :meth:`to_dict` made (``results.json``).

        Raises
        ------
        SchemaError
            When the schema version is not ``"1.0"`` or ``"1.1"`` (or a 1.0 file has
            a key added in 1.1), a key is missing, unknown or of the
            wrong type, a value is out of its bounds (a rate outside [0, 1], a count
            below 0, a number that is not finite), lists that go together are of unequal
            length, or the JSON nests too deep; the message names the key path.

        """
        if not isinstance(data, dict):
            raise SchemaError("", f"expected a JSON object (results.json), got {json_kind(data)}")
        if "schema_version" not in data:
            got = "no schema_version"
        else:
            version = data["schema_version"]
            if isinstance(version, str) and version in READABLE_SCHEMA_VERSIONS:
                newer = [k for k in ADDED_IN_1_1 if k in data] + _newer_1n(data)
                if version == "1.0" and newer:
                    raise SchemaError(
                        newer[0], "key added in schema_version '1.1', but the file says '1.0'"
                    )
                return from_json_value(cls, data)
            got = repr(version) if isinstance(version, str) else json_kind(version)
        expected = " or ".join(repr(v) for v in READABLE_SCHEMA_VERSIONS)
        raise SchemaError("", f"expected results schema_version {expected}, got {got}")

    @classmethod
    def read_json(cls, path: str | Path) -> AuditResult:
        """Read and check ``results.json``.

        Raises
        ------
        InputError
            Naming the file, when it cannot be read, is not JSON, nests too deep, or
            :meth:`from_dict` refuses it (with the key path).

        """
        return read_document(path, lambda data: cls.checked(data, file=str(path)))

    @classmethod
    def checked(cls, data: Any, *, file: str = "results") -> AuditResult:
        """:meth:`from_dict`, its :class:`SchemaError` raised as an ``InputError`` on ``file``."""
        try:
            return cls.from_dict(data)
        except SchemaError as err:
            raise InputError(str(err), Location(file=file)) from err

    def operating_point(self, target_fmr: float, policy: str = "global") -> OperatingPoint:
        """The operating point for a target FMR under a policy."""
        for point in self.operating_points:
            if point.target_fmr == target_fmr and point.policy == policy:
                return point
        raise KeyError(f"no operating point for target FMR {target_fmr} under {policy!r}")
