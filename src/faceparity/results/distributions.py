"""The ``score_distributions`` section of ``results.json``: score quantiles and shifts by group.

Scores are in the input's direction (``input.score_kind``). Each group's mated and
non-mated scores are compared with the pooled scores of every group (``overall``):
quantiles, the shift of the median, the two-sample Kolmogorov-Smirnov distance with
the counts behind it, and counts per bin of one set of ``edges`` shared by all groups,
enough to draw the densities on one axis. Added in schema 1.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from faceparity.results.schema import Fraction, length_problem

__all__ = ["GroupScoreDistributions", "ScoreDistribution", "ScoreDistributions"]


@dataclass(frozen=True)
class ScoreDistribution:
    """One group's mated or non-mated scores.

    Attributes
    ----------
    n : int
        Scores counted.
    quantiles : list of float or None
        One per probability of :class:`ScoreDistributions` (None when ``n`` is 0).
    median_shift : float or None
        The median minus the pooled median (None when either is undefined).
    ks : float or None
        Two-sample Kolmogorov-Smirnov distance to the pooled scores.
    ks_high : float or None
        From histograms only: the largest distance the bins allow (``ks`` is read at
        the bin edges, a lower bound).
    density : list of int
        Scores per bin of the shared ``edges``.

    """

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("ks_high",)

    n: int
    quantiles: list[float | None]
    median_shift: float | None
    ks: Fraction | None
    density: list[int]
    ks_high: Fraction | None = None


@dataclass(frozen=True)
class GroupScoreDistributions:
    """A group's mated and non-mated score distributions."""

    attributes: dict[str, str]
    label: str
    mated: ScoreDistribution
    non_mated: ScoreDistribution


@dataclass(frozen=True)
class ScoreDistributions:
    """Score distributions of every group beside the pooled ones.

    Attributes
    ----------
    probabilities : list of float
        The probabilities of the quantiles.
    edges : list of float
        Bin edges of every ``density``, ascending (scores outside join the end bins).
    reference : str
        What each group is compared with (``pooled``: every comparison of the audit).
    overall : GroupScoreDistributions
        The pooled scores.
    groups : list of GroupScoreDistributions
        One per group of the audit, in its order.
    histogram_bin_width : float or None
        The bin width of the streaming engine's non-mated histograms when they were
        read (their quantiles are then within half of it); None when exact.
    notes : list of str
        Definitions and caveats, in words.

    """

    probabilities: list[Fraction]
    edges: list[float]
    reference: str
    overall: GroupScoreDistributions
    groups: list[GroupScoreDistributions]
    histogram_bin_width: float | None
    notes: list[str] = field(default_factory=list)

    def schema_problem(self) -> tuple[str, str] | None:
        """Quantiles not one per probability, or densities not one per bin (else None)."""
        n_bins = max(len(self.edges) - 1, 0)
        for where, group in (
            ("overall", self.overall),
            *((f"groups[{i}]", g) for i, g in enumerate(self.groups)),
        ):
            for kind in ("mated", "non_mated"):
                dist: ScoreDistribution = getattr(group, kind)
                found = length_problem(
                    {"quantiles": dist.quantiles},
                    expected=len(self.probabilities),
                    per="probability",
                ) or length_problem({"density": dist.density}, expected=n_bins, per="bin")
                if found is not None:
                    return f"{where}.{kind}.{found[0]}", found[1]
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            return "edges", "expected ascending bin edges"
        return None
