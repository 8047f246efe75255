"""The ``results.json`` of ``faceparity audit attributes``: a classifier's errors by group.

A facial-analysis audit in the manner of Gender Shades (Buolamwini and Gebru 2018,
"Gender Shades: Intersectional Accuracy Disparities in Commercial Gender
Classification", PMLR 81:77-91): the error rate of a classifier of sex, age or another
attribute, and per class its false positive and false negative rates, with confusion
matrices, per group of each attribute and of their intersection, each with an interval
and the support of the rule of 30; and per grouping the worst-to-best ratio and
difference of the error rate, with intervals. One writer and one reader (the generic
ones of :mod:`faceparity.results.schema`), the version checked on reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from faceparity.results.audit import ToolRecord
from faceparity.results.common import (
    ExclusionRecord,
    Interval,
    RateInterval,
    RatioInterval,
    Support,
)
from faceparity.results.files import JsonDocument, read_document
from faceparity.results.schema import (
    Fraction,
    Level,
    NonNegative,
    Ratio,
    SchemaError,
    from_json_value,
    json_kind,
    load_json,
)

__all__ = [
    "ATTRIBUTE_KIND",
    "ATTRIBUTE_SCHEMA_VERSION",
    "AttributeAuditResult",
    "AttributeGroup",
    "ClassRates",
    "Disparity",
    "Grouping",
    "TaskRecord",
    "is_attribute_results",
]

ATTRIBUTE_KIND = "faceparity-attribute-audit"
"""The ``kind`` of the document (a recognition audit's results have no ``kind``)."""
ATTRIBUTE_SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class ClassRates:
    """One class's errors in a group, one class against the rest.

    ``fnr``: of the samples whose true label is the class, the share predicted as
    another; ``fpr``: of the samples of another class, the share predicted as this one.
    """

    label: str
    n_positive: int
    n_negative: int
    false_negatives: int
    false_positives: int
    fnr: Fraction | None
    fpr: Fraction | None
    fnr_ci: RateInterval | None = None
    fpr_ci: RateInterval | None = None
    fnr_support: Support | None = None
    fpr_support: Support | None = None


@dataclass(frozen=True)
class AttributeGroup:
    """A group's samples and the classifier's errors on them.

    ``confusion[i][j]`` counts the samples of true class ``i`` predicted as class
    ``j`` (in the order of the task's ``classes``); empty for a regressed value.
    """

    label: str
    attributes: dict[str, str]
    n_samples: int
    n_subjects: int
    n_errors: int
    error_rate: Fraction | None
    classes: list[ClassRates]
    confusion: list[list[int]]
    error_rate_ci: RateInterval | None = None
    error_rate_support: Support | None = None
    mean_absolute_error: NonNegative | None = None

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("mean_absolute_error",)


@dataclass(frozen=True)
class Disparity:
    """The worst and best groups of a grouping by error rate, their ratio and difference."""

    worst: str | None
    best: str | None
    ratio: Ratio | None
    difference: float | None
    undefined_reason: str | None = None
    ratio_ci: RatioInterval | None = None
    difference_ci: Interval | None = None

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("undefined_reason", "difference_ci")


@dataclass(frozen=True)
class Grouping:
    """The groups of one attribute, or of the intersection of several (``sex x race``)."""

    name: str
    attributes: list[str]
    groups: list[AttributeGroup]
    disparity: Disparity
    n_ungrouped: int


@dataclass(frozen=True)
class TaskRecord:
    """What the classifier does: its true and predicted columns, kind and classes."""

    truth: str
    prediction: str
    kind: str
    classes: list[str]
    tolerance: NonNegative | None = None

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("tolerance",)


@dataclass(frozen=True)
class AttributeAuditResult(JsonDocument):
    """Everything an attribute audit found."""

    kind: str
    tool: ToolRecord
    source: str | None
    task: TaskRecord
    overall: AttributeGroup
    groupings: list[Grouping]
    interval_method: str
    level: Level
    exclusions: list[ExclusionRecord]
    notes: list[str] = field(default_factory=list)
    replicates: int | None = None
    seed: int | None = None
    schema_version: str = ATTRIBUTE_SCHEMA_VERSION

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("replicates", "seed")

    def grouping(self, name: str) -> Grouping:
        """The grouping called ``name`` (``sex``, ``sex x race``)."""
        for g in self.groupings:
            if g.name == name:
                return g
        raise KeyError(f"no grouping {name!r}")

    @classmethod
    def from_dict(cls, data: Any) -> AttributeAuditResult:
        """Rebuild a result from its mapping; SchemaError with the key path if it is not one."""
        if not isinstance(data, dict):
            raise SchemaError("", f"expected a JSON object, got {json_kind(data)}")
        if data.get("kind") != ATTRIBUTE_KIND:
            raise SchemaError("kind", f"expected {ATTRIBUTE_KIND!r}, got {data.get('kind')!r}")
        version = data.get("schema_version")
        if version != ATTRIBUTE_SCHEMA_VERSION or not isinstance(version, str):
            raise SchemaError(
                "schema_version",
                f"expected {ATTRIBUTE_SCHEMA_VERSION!r}, got {json_kind(version)}",
            )
        return from_json_value(cls, data)

    @classmethod
    def read_json(cls, path: str | Path) -> AttributeAuditResult:
        """Read and check an attribute audit's ``results.json`` (InputError naming the file)."""
        return read_document(path, cls.from_dict)


def is_attribute_results(path: str | Path) -> bool:
    """Whether the JSON file at ``path`` says it is an attribute audit (False if unreadable)."""
    try:
        data = load_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SchemaError):
        return False
    return isinstance(data, dict) and data.get("kind") == ATTRIBUTE_KIND
