"""What ``faceparity mitigate`` writes: fitted parameters, and the before-and-after summary.

Two files, each with one writer and one checked reader (:mod:`faceparity.results.schema`):

* ``parameters.json`` of a method (:class:`MitigationParameters`): what was fitted, so
  that the same normalisation can be applied to new scores. Methods that cluster
  embeddings (FSN, FairCal) hold k-means centroids, and the cohort T-norm holds cohort
  templates: aggregates of embeddings or embeddings themselves, written with mode 0600;
* ``mitigation.json`` (:class:`MitigationResult`): per method, per target FMR, every
  group's FMR and FNMR before and after with intervals, the change of every summary
  measure, global accuracy, per-group calibration error, the levelling-down check, and
  the worst-group threshold.

Rates are fractions in [0, 1]; a number that cannot be computed is ``null``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from faceparity.results.common import Interval, RateInterval
from faceparity.results.files import JsonDocument, read_document
from faceparity.results.schema import (
    Fraction,
    NonNegative,
    SchemaError,
    Target,
    from_json_value,
)

__all__ = [
    "MITIGATION_VERSION",
    "Accuracy",
    "BetaMap",
    "ContextCalibration",
    "ContextShift",
    "ContextStats",
    "ContextTail",
    "GroupCalibrationError",
    "GroupChange",
    "LevellingDown",
    "MeasureChange",
    "MethodOutcome",
    "MethodRecord",
    "MitigationParameters",
    "MitigationResult",
    "PointChange",
    "WorstGroupGroup",
    "WorstGroupThreshold",
    "read_parameters",
]

MITIGATION_VERSION = "1.0"


# --- fitted parameters ---------------------------------------------------------------


@dataclass(frozen=True)
class BetaMap:
    """A beta calibration: log-odds ``a ln u - b ln(1 - u) + c``.

    ``u = sigmoid((s - mean) / scale)`` for a similarity score ``s``.
    """

    mean: float
    scale: NonNegative
    a: NonNegative
    b: NonNegative
    c: float


@dataclass(frozen=True)
class ContextShift:
    """One group's or cluster's threshold at the fitting FMR, and its non-mated count."""

    context: str
    threshold: float | None
    n_non_mated: int


@dataclass(frozen=True)
class ContextStats:
    """One group's (or sample's cohort) non-mated score mean and standard deviation."""

    context: str
    mean: float
    std: NonNegative
    n_non_mated: int


@dataclass(frozen=True)
class ContextCalibration:
    """One group's or cluster's beta calibration; None where it fell back to the global one."""

    context: str
    beta: BetaMap | None
    n_comparisons: int


@dataclass(frozen=True)
class ContextTail:
    """One group's map of similarity scores to ``-ln FMR`` on its own non-mated scores.

    Knots ``scores`` (increasing) and ``neg_log_fmr`` (increasing); None where the group
    had too few non-mated comparisons and falls back to the global map.
    """

    context: str
    scores: list[float] | None
    neg_log_fmr: list[float] | None
    n_non_mated: int


@dataclass(frozen=True)
class MitigationParameters(JsonDocument):
    """What one method fitted, on one training set (a fold's, or all comparisons).

    ``contexts`` name what the per-context parameters belong to: the group labels
    (``groups``) or ``cluster 0`` ... (``centroids``, one per cluster, in the embedding
    space). Only the fields of the method are set.
    """

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = (
        "global_beta",
        "fit_fmr",
        "global_threshold",
        "shifts",
        "stats",
        "calibrations",
        "centroids",
        "cohort",
        "global_tail",
        "tails",
    )

    parameters_version: str
    method: str
    group_by: list[str]
    trained_on: str
    global_beta: BetaMap | None = None
    fit_fmr: Target | None = None
    global_threshold: float | None = None
    shifts: list[ContextShift] | None = None
    stats: list[ContextStats] | None = None
    calibrations: list[ContextCalibration] | None = None
    centroids: list[list[float]] | None = None
    cohort: dict[str, list[list[float]]] | None = None
    global_tail: ContextTail | None = None
    tails: list[ContextTail] | None = None

    VERSION_KEY: ClassVar[str] = "parameters_version"
    INDENT: ClassVar[int] = 1


def read_parameters(path: str | Path) -> MitigationParameters:
    """Read and check a ``parameters.json``; InputError naming the file and key path."""

    def build(data: Any) -> MitigationParameters:
        if not isinstance(data, dict) or data.get("parameters_version") != MITIGATION_VERSION:
            raise SchemaError(
                "parameters_version", f"expected {MITIGATION_VERSION!r} (a parameters file)"
            )
        return from_json_value(MitigationParameters, data)

    return read_document(path, build, what="parameters file")


# --- the before-and-after summary ----------------------------------------------------


@dataclass(frozen=True)
class MethodRecord:
    """A method: whether it needs group labels at deployment, and whether it ran."""

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("unavailable", "results")

    name: str
    description: str
    reference: str
    needs_group_labels: bool
    needs_embeddings: bool
    unavailable: str | None = None
    results: str | None = None


@dataclass(frozen=True)
class GroupChange:
    """One group's FMR and FNMR at one operating point, before and after."""

    label: str
    fmr_before: Fraction | None
    fmr_after: Fraction | None
    fnmr_before: Fraction | None
    fnmr_after: Fraction | None
    fmr_before_ci: RateInterval | None = None
    fmr_after_ci: RateInterval | None = None
    fnmr_before_ci: RateInterval | None = None
    fnmr_after_ci: RateInterval | None = None


@dataclass(frozen=True)
class MeasureChange:
    """One summary measure before and after (``after - before`` as ``change``).

    ``before_reason`` and ``after_reason`` say why a value is undefined (null).
    """

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("before_reason", "after_reason")

    name: str
    before: float | None
    after: float | None
    change: float | None
    before_ci: Interval | None = None
    after_ci: Interval | None = None
    before_reason: str | None = None
    after_reason: str | None = None


@dataclass(frozen=True)
class LevellingDown:
    """A group whose FMR or FNMR got worse; ``beyond_intervals``: the intervals do not overlap."""

    label: str
    rate: str
    before: Fraction
    after: Fraction
    change: float
    beyond_intervals: bool | None


@dataclass(frozen=True)
class PointChange:
    """Everything at one target FMR under the global policy."""

    target_fmr: Target
    groups: list[GroupChange]
    measures: list[MeasureChange]
    levelling_down: list[LevellingDown]


@dataclass(frozen=True)
class Accuracy:
    """Global accuracy: FNMR at each target FMR, TPR at FPR 0.1% and 1%, EER."""

    name: str
    before: Fraction | None
    after: Fraction | None
    before_ci: RateInterval | None = None
    after_ci: RateInterval | None = None


@dataclass(frozen=True)
class GroupCalibrationError:
    """A group's KS calibration error of the probabilities before and after."""

    label: str
    before: Fraction | None
    after: Fraction | None


@dataclass(frozen=True)
class MethodOutcome:
    """One method's before and after."""

    method: str
    points: list[PointChange]
    accuracy: list[Accuracy]
    calibration: list[GroupCalibrationError]


@dataclass(frozen=True)
class WorstGroupGroup:
    """One group at the worst-group threshold: its FMR, and the FNMR it pays for it."""

    label: str
    fmr: Fraction | None
    fnmr: Fraction | None
    fnmr_at_global: Fraction | None
    fnmr_cost: float | None
    fnmr_cost_ci: Interval | None = None


@dataclass(frozen=True)
class WorstGroupThreshold:
    """The single threshold keeping every group's FMR at or below the target."""

    target_fmr: Target
    threshold: float | None
    set_by: str | None
    global_threshold: float | None
    groups: list[WorstGroupGroup]
    threshold_ci: Interval | None = None


@dataclass(frozen=True)
class MitigationResult(JsonDocument):
    """``mitigation.json``: how the methods were evaluated, and what each changed."""

    mitigation_version: str
    source: str
    group_by: list[str]
    target_fmrs: list[Target]
    folds: int
    fold_source: str
    seed: int
    fold_rule: str
    n_comparisons: int
    n_tested: int
    n_never_tested: int
    baseline: str
    methods: list[MethodRecord]
    outcomes: list[MethodOutcome]
    worst_group: list[WorstGroupThreshold]
    notes: list[str] = field(default_factory=list)

    VERSION_KEY: ClassVar[str] = "mitigation_version"

    @classmethod
    def read_json(cls, path: str | Path) -> MitigationResult:
        """Read and check ``mitigation.json``; InputError naming the file and key path."""

        def build(data: Any) -> MitigationResult:
            if not isinstance(data, dict) or data.get("mitigation_version") != MITIGATION_VERSION:
                raise SchemaError("mitigation_version", f"expected {MITIGATION_VERSION!r}")
            return from_json_value(cls, data)

        return read_document(path, build, what="mitigation file")
