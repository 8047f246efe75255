"""The JSON of ``faceparity composition``: who and what a face data set holds, by group.

A composition card in the spirit of Diversity in Faces (Merler, Ratha, Feris and Smith
2019, arXiv:1901.10436): counts and shares of images and subjects by attribute and by
intersection, the smallest error rate each group can support, coverage against a
reference population, and the distributions of skin colour, pose, face size and image
quality by group. One writer and one reader (:mod:`faceparity.results.schema`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from faceparity.results.audit import ToolRecord
from faceparity.results.files import JsonDocument, read_document
from faceparity.results.schema import (
    Fraction,
    NonNegative,
    SchemaError,
    from_json_value,
    json_kind,
)

__all__ = [
    "COMPOSITION_KIND",
    "COMPOSITION_SCHEMA_VERSION",
    "CompositionGroup",
    "CompositionGrouping",
    "CompositionResult",
    "Coverage",
    "MeasureSummary",
]

COMPOSITION_KIND = "faceparity-composition"
COMPOSITION_SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class MeasureSummary:
    """A numeric measure's distribution in a group: how many had it, mean and quantiles."""

    name: str
    n: int
    mean: float | None
    q05: float | None
    q25: float | None
    median: float | None
    q75: float | None
    q95: float | None


@dataclass(frozen=True)
class CompositionGroup:
    """One group: its images, subjects, the rates it can support, its distributions.

    ``min_rate_per_image`` is the smallest per-image rate (failure to acquire, a
    classifier's error rate) the group's images support; ``min_fnmr`` and ``min_fmr``
    those of its mated pairs (two images of one subject) and non-mated pairs (images of
    two subjects of the group); None where there are too few.
    """

    label: str
    attributes: dict[str, str]
    n_images: int
    n_subjects: int
    share_of_images: Fraction
    share_of_subjects: Fraction
    images_per_subject_mean: NonNegative | None
    images_per_subject_median: NonNegative | None
    images_per_subject_max: int
    n_mated_pairs: int
    n_non_mated_pairs: int
    min_rate_per_image: Fraction | None
    min_fnmr: Fraction | None
    min_fmr: Fraction | None
    measures: list[MeasureSummary]
    categories: dict[str, dict[str, int]]
    reference_share: Fraction | None = None
    representation: str | None = None

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("reference_share", "representation")


@dataclass(frozen=True)
class Coverage:
    """The data set's shares of a grouping against a reference population's.

    ``chi_square`` is Pearson's goodness-of-fit statistic of the counted ``unit``
    against the reference shares, with ``dof`` degrees of freedom and its ``p_value``;
    ``total_variation`` is half the sum of the absolute differences of shares.
    """

    unit: str
    reference: dict[str, Fraction]
    chi_square: NonNegative
    dof: int
    p_value: Fraction
    total_variation: Fraction
    under_represented: list[str]
    over_represented: list[str]


@dataclass(frozen=True)
class CompositionGrouping:
    """The groups of one attribute, or of the intersection of several."""

    name: str
    attributes: list[str]
    groups: list[CompositionGroup]
    n_ungrouped: int
    coverage: Coverage | None = None

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("coverage",)


@dataclass(frozen=True)
class CompositionResult(JsonDocument):
    """The composition card of a data set."""

    kind: str
    tool: ToolRecord
    source: str | None
    errors_needed: NonNegative
    n_comparisons: int
    overall: CompositionGroup
    groupings: list[CompositionGrouping]
    monk_swatches: list[str]
    notes: list[str] = field(default_factory=list)
    schema_version: str = COMPOSITION_SCHEMA_VERSION

    def grouping(self, name: str) -> CompositionGrouping:
        """The grouping called ``name``."""
        for g in self.groupings:
            if g.name == name:
                return g
        raise KeyError(f"no grouping {name!r}")

    @classmethod
    def from_dict(cls, data: Any) -> CompositionResult:
        """Rebuild a card from its mapping; SchemaError with the key path if it is not one."""
        if not isinstance(data, dict):
            raise SchemaError("", f"expected a JSON object, got {json_kind(data)}")
        if data.get("kind") != COMPOSITION_KIND:
            raise SchemaError("kind", f"expected {COMPOSITION_KIND!r}, got {data.get('kind')!r}")
        if data.get("schema_version") != COMPOSITION_SCHEMA_VERSION:
            got = json_kind(data.get("schema_version"))
            raise SchemaError(
                "schema_version", f"expected {COMPOSITION_SCHEMA_VERSION!r}, got {got}"
            )
        return from_json_value(cls, data)

    @classmethod
    def read_json(cls, path: str | Path) -> CompositionResult:
        """Read and check a composition card's JSON (InputError naming the file)."""
        return read_document(path, cls.from_dict)
