"""Leaves shared by every section of a result: intervals, support, summary measures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from faceparity.results.schema import FRACTION, RATIO, Fraction, Level, NonNegative

__all__ = [
    "ExclusionRecord",
    "FractionMeasure",
    "Interval",
    "RateInterval",
    "RateMeasures",
    "RatioInterval",
    "RatioMeasure",
    "Support",
    "SummaryMeasure",
    "UncertaintyRecord",
]


@dataclass(frozen=True)
class Interval:
    """A confidence interval of one number (an ``*_ci`` key of ``results.json``).

    Attributes
    ----------
    ci_low, ci_high : float or None
        The bounds; both None when no interval could be computed (``method`` says why).
    method : str
        How it was computed, in words (or why there is none).
    replicates : int or None
        Bootstrap replicates that computed the number; only for the bootstrap.

    """

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("replicates",)
    BOUNDED: ClassVar[tuple[str, ...]] = ("ci_low", "ci_high")

    ci_low: float | None
    ci_high: float | None
    method: str
    replicates: int | None = None

    def schema_problem(self) -> tuple[str, str] | None:
        """Bounds in the wrong order, for the reader of results (None when in order)."""
        if self.ci_low is not None and self.ci_high is not None and self.ci_low > self.ci_high:
            return "", f"expected ci_low <= ci_high, got {self.ci_low!r} and {self.ci_high!r}"
        return None


RateInterval = Annotated[Interval, FRACTION]
"""An interval of a rate: its bounds are fractions in [0, 1]."""
RatioInterval = Annotated[Interval, RATIO]
"""An interval of a ratio of rates: its bounds are ratios too."""


@dataclass(frozen=True)
class Support:
    """Whether a rate is supported by the number of trials behind it (an ``*_support`` key).

    Attributes
    ----------
    sufficient : bool
        At least the rule of 30's errors are expected (or were seen).
    expected_errors : float or None
        Errors expected at the rate (target or observed) over the trials; None if no trials.
    min_supported_rate : float or None
        The smallest rate these trials can support; None with too few trials.
    reason : str
        One sentence for people.

    """

    sufficient: bool
    expected_errors: NonNegative | None
    min_supported_rate: Fraction | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        """The ``*_support`` object of results.json."""
        return {
            "sufficient": self.sufficient,
            "expected_errors": self.expected_errors,
            "min_supported_rate": self.min_supported_rate,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ExclusionRecord:
    """Something left out of the audit, and why (``unit``: what ``count`` counts)."""

    reason: str
    count: int
    unit: str
    scope: str


@dataclass(frozen=True)
class UncertaintyRecord:
    """How the intervals were computed (``replicates`` and ``seed``: the bootstrap's)."""

    method: str
    level: Level
    replicates: int | None
    seed: int | None
    caveat: str


@dataclass(frozen=True)
class SummaryMeasure:
    """One summary measure of the differential across groups at an operating point."""

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("undefined_reason",)
    BOUNDED: ClassVar[tuple[str, ...]] = ("value", "value_ci")

    value: float | None
    n_groups: int
    undefined_reason: str | None = None
    value_ci: Interval | None = None


FractionMeasure = Annotated[SummaryMeasure, FRACTION]
"""A Gini coefficient, a GARBE or an FDR: the value and its interval are in [0, 1]."""
RatioMeasure = Annotated[SummaryMeasure, RATIO]
"""A max/min, max/geomean or inequity rate: the value and its interval are ratios of rates."""


@dataclass(frozen=True)
class RateMeasures:
    """The measures of one rate's spread across groups."""

    max_min: RatioMeasure
    max_geomean: RatioMeasure
    gini: FractionMeasure
