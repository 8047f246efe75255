"""The 1:N section of ``results.json``: frozen dataclasses, serialised under ``identification``.

Words are those of ISO/IEC 19795-1 and NIST IR 8271: ``fpir``, ``fnir``, ``cmc``,
``mated`` and ``non_mated`` searches, ``gallery``, ``candidate``. Rates are fractions
in [0, 1]; an undefined rate is ``null`` with a note saying why. The section is
optional: a 1:1 run writes none, and schema 1.0 readers that do not know it ignore it.
"""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass, field
from typing import Any, ClassVar

from faceparity.results.common import (
    ExclusionRecord,
    Interval,
    RateInterval,
    RateMeasures,
    Support,
    UncertaintyRecord,
)
from faceparity.results.schema import (
    Fraction,
    NonNegative,
    Target,
    from_json_value,
    length_problem,
    to_json_value,
)

__all__ = [
    "CrossGroupRate",
    "FalseCandidateMatrix",
    "GallerySizeCurve",
    "GallerySizeGroup",
    "IdentificationGroup",
    "IdentificationPoint",
    "IdentificationResult",
    "IdentificationSummary",
    "ProtocolRecord",
    "SearchRates",
]


@dataclass(frozen=True)
class IdentificationGroup:
    """A probe group (or all searches): its counts and CMC.

    ``cmc[r - 1]`` is the rank-``r`` identification rate: the fraction of mated
    searches whose mate is at rank ``r`` or better, with no threshold.
    """

    attributes: dict[str, str]
    label: str
    n_enrolled_subjects: int
    n_mated_searches: int
    n_non_mated_searches: int
    cmc: list[Fraction | None]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SearchRates:
    """FPIR and FNIR of a probe group (or all searches) at one operating point.

    ``false_candidates_per_search`` is the mean number of candidates a non-mated search
    returns (at most the rank R); ``fmr`` the fraction of its comparisons with enrolled
    subjects at or above the threshold (``n_false_matches / n_comparisons``).
    """

    attributes: dict[str, str]
    label: str
    threshold: float | None
    fpir: Fraction | None
    n_false_positive_searches: int
    n_non_mated_searches: int
    fnir: Fraction | None
    n_false_negative_searches: int
    n_mated_searches: int
    false_candidates_per_search: NonNegative | None
    fmr: Fraction | None
    n_false_matches: int
    n_comparisons: int
    notes: list[str] = field(default_factory=list)
    threshold_ci: Interval | None = None
    fpir_ci: RateInterval | None = None
    fnir_ci: RateInterval | None = None
    fpir_support: Support | None = None
    fnir_support: Support | None = None


@dataclass(frozen=True)
class IdentificationSummary:
    """The spread of FPIR and of FNIR across probe groups at one operating point."""

    fpir: RateMeasures
    fnir: RateMeasures


@dataclass(frozen=True)
class FalseCandidateMatrix:
    """Who is returned to non-mated searches: probe group (row) x candidate group (column).

    ``counts[i][j]`` false candidates of group ``candidate_groups[j]`` were returned to
    the ``n_searches[i]`` non-mated searches of group ``probe_groups[i]``;
    ``same_group_share[i]`` is the fraction of row ``i``'s false candidates in the
    probe's own group (null when the row has none), to set against
    ``gallery_share[i]``, the fraction of the gallery in that group.
    """

    probe_groups: list[str]
    candidate_groups: list[str]
    counts: list[list[int]]
    n_searches: list[int]
    same_group_share: list[Fraction | None]
    gallery_share: list[Fraction]

    def schema_problem(self) -> tuple[str, str] | None:
        """Rows not one per probe group, or columns not one per candidate group (else None)."""
        rows: dict[str, Sized] = {
            "counts": self.counts,
            "n_searches": self.n_searches,
            "same_group_share": self.same_group_share,
            "gallery_share": self.gallery_share,
        }
        found = length_problem(rows, expected=len(self.probe_groups), per="probe group")
        columns = {f"counts[{i}]": row for i, row in enumerate(self.counts)}
        return found or length_problem(
            columns, expected=len(self.candidate_groups), per="candidate group"
        )


@dataclass(frozen=True)
class CrossGroupRate:
    """Non-mated comparisons of group ``probe`` searches with ``candidate`` enrolled subjects."""

    probe: dict[str, str]
    candidate: dict[str, str]
    fmr: Fraction | None
    n_false_matches: int
    n_comparisons: int


@dataclass(frozen=True)
class IdentificationPoint:
    """Every probe group at the threshold(s) a policy sets for a target FPIR."""

    target_fpir: Target
    policy: str
    threshold: float | None
    rank: int
    overall: SearchRates | None
    groups: list[SearchRates]
    false_candidates: FalseCandidateMatrix
    cross_group: list[CrossGroupRate]
    notes: list[str] = field(default_factory=list)
    summary: IdentificationSummary | None = None
    threshold_ci: Interval | None = None

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("summary",)


@dataclass(frozen=True)
class GallerySizeGroup:
    """FPIR and FNIR of a probe group as the gallery grows, with the independence approximation."""

    attributes: dict[str, str]
    label: str
    fpir: list[Fraction | None]
    fnir: list[Fraction | None]
    fpir_independence: list[Fraction | None]
    fmr: Fraction | None
    n_non_mated_searches: int
    n_mated_searches: list[int]


@dataclass(frozen=True)
class GallerySizeCurve:
    """Nested random sub-galleries of ``sizes`` subjects, read at one fixed threshold."""

    target_fpir: Target
    policy: str
    threshold: float
    rank: int
    sizes: list[int]
    overall: GallerySizeGroup
    groups: list[GallerySizeGroup]
    notes: list[str] = field(default_factory=list)

    def schema_problem(self) -> tuple[str, str] | None:
        """A group's curve not one value per gallery size, for the reader (else None)."""
        for where, group in [("overall", self.overall)] + [
            (f"groups[{i}]", g) for i, g in enumerate(self.groups)
        ]:
            curves = {
                f"{where}.{name}": getattr(group, name)
                for name in ("fpir", "fnir", "fpir_independence", "n_mated_searches")
            }
            found = length_problem(curves, expected=len(self.sizes), per="gallery size")
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class ProtocolRecord:
    """How the gallery and the searches were formed (seeded or by a split column)."""

    kind: str
    gallery_samples: int | None
    non_mated_fraction: Fraction | None
    seed: int | None
    split_column: str | None
    n_enrolled_subjects: int
    n_gallery_samples: int
    n_mated_searches: int
    n_non_mated_searches: int
    gallery_sizes: list[int]


@dataclass(frozen=True)
class IdentificationResult:
    """The 1:N audit: protocol, counts, CMC, operating points, false candidates, gallery sizes."""

    protocol: ProtocolRecord
    rank: int
    target_fpirs: list[Target]
    policies: list[str]
    rules: dict[str, str]
    overall: IdentificationGroup
    groups: list[IdentificationGroup]
    operating_points: list[IdentificationPoint]
    gallery_size: GallerySizeCurve | None
    exclusions: list[ExclusionRecord]
    notes: list[str] = field(default_factory=list)
    uncertainty: UncertaintyRecord | None = None

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("uncertainty",)

    def schema_problem(self) -> tuple[str, str] | None:
        """A CMC not one rate per rank up to ``rank``, for the reader of results (else None)."""
        curves = {"overall.cmc": self.overall.cmc} | {
            f"groups[{i}].cmc": g.cmc for i, g in enumerate(self.groups)
        }
        return length_problem(curves, expected=self.rank, per="rank")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready mapping of the ``identification`` section."""
        body: dict[str, Any] = to_json_value(self)
        return body

    @classmethod
    def from_dict(cls, data: Any) -> IdentificationResult:
        """Rebuild the section from its mapping, checking every key."""
        return from_json_value(cls, data, "identification")
