"""Planning an audit: how much data a target rate needs, and what a data set supports.

Two questions:

1. Before data are collected: for a target FMR (or FNMR), a relative precision ``r``
   and a confidence level, how many comparisons, subjects and samples per subject
   does each group need (:func:`plan_audit`)?
2. After an audit: given each group's counts (``results.json``), what is the smallest
   FMR and FNMR it can support (:func:`supported_rates`, Doddington's rule of 30 from
   :mod:`faceparity.uncertainty.support`)?

The model
---------
*Independent comparisons.* ``n`` comparisons, each an error with probability ``p``,
give a rate whose two-sided interval at ``level`` should have a half-width of at most
``r p``. Under the normal approximation (Wald) the half-width is
``z sqrt(p (1 - p) / n)`` with ``z`` the normal quantile at ``1 - (1 - level) / 2``, so

    n_indep = ceil(z^2 (1 - p) / (p r^2)).

At ``level = 0.90`` and ``r = 0.3`` this asks for ``n p = 30.06 (1 - p)`` expected
errors: Doddington's rule of 30 is this special case. With ``interval =
"clopper-pearson"`` ``n_indep`` is instead the smallest ``n`` whose exact
Clopper-Pearson interval at the expected count ``k = n p`` has a half-width
``(high - low) / 2`` of at most ``r p``; it is larger (the exact interval is wider,
and longer above ``p`` than below).

*Comparisons that share subjects.* Within a group of ``S`` subjects with ``m``
samples each, every pair of samples of different subjects is compared once
(all-vs-all): ``S (S - 1) / 2 m^2`` non-mated and ``S m (m - 1) / 2`` mated
comparisons. Their error indicators are not independent: two comparisons that share
a subject are correlated. With ``rho_k`` the correlation of two error indicators in
class ``k`` and ``N_k`` the number of other comparisons in that class for a given
comparison (the same for every comparison in a balanced design),

    Var(rate) = p (1 - p) / n * deff,   deff = 1 + sum_k N_k rho_k,

which is Kish's design effect for cluster samples (Kish 1965, *Survey Sampling*,
chapter 5 (cluster sampling): ``deff = 1 + (M - 1) rho`` for clusters of size ``M``) written for
overlapping clusters. For a non-mated comparison the classes are the other
comparisons of the same two subjects (``N = m^2 - 1``, correlation ``icc_pair``)
and those that share exactly one of its subjects (``N = 2 (S - 2) m^2``, correlation
``icc``); for a mated comparison, the other mated comparisons of its subject
(``N = m (m - 1) / 2 - 1``, correlation ``icc``). Because ``N`` grows with ``S``
for FMR, the non-mated count needed grows with the number of subjects, and the
precision of an FMR is bought with subjects rather than with samples. Schuckers
treats these correlations for FMR and FNMR and sizes tests with the effective sample
size ``n / deff`` (Schuckers 2009, "A parametric correlation framework for the
statistical evaluation and estimation of biometric-based classification
performance in a single environment", IEEE TIFS 4(2):231-241; Schuckers 2010,
*Computational Methods in Biometric Authentication*, Springer, the chapters on FNMR
and FMR); the count needed is ``n_indep * deff`` (for Clopper-Pearson, the effective
sample size of Korn and Graubard 1998, Survey Methodology 24(2):193-201). The
intra-subject correlations are assumptions: the defaults are a guess, not a
measurement; the subject-level bootstrap of an audit measures the effect they stand for.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scipy import special

from faceparity.errors import UsageError
from faceparity.model.config import MIN_TARGET_RATE, MSG_TARGET_FLOOR
from faceparity.results.audit import AuditResult, GroupSummary
from faceparity.results.documents import PLAN_SCHEMA_VERSION
from faceparity.uncertainty.binomial import clopper_pearson
from faceparity.uncertainty.support import MIN_ERRORS, Support, support_for

__all__ = [
    "DEFAULT_ICC",
    "MAX_COMPARISONS",
    "MAX_SAMPLES_PER_SUBJECT",
    "GroupCapacity",
    "IntervalKind",
    "Plan",
    "PlanConfig",
    "RatePlan",
    "comparisons_needed",
    "mated_design_effect",
    "non_mated_design_effect",
    "plan_audit",
    "smallest_subjects_fmr",
    "smallest_subjects_fnmr",
    "supported_rates",
]

DEFAULT_ICC = 0.001
"""Default correlation of the error indicators of two comparisons that share a subject.

An assumption for planning, not a measured value; see the module notes."""

MAX_COMPARISONS = 2**63 - 1
"""The most comparisons a plan may ask for: the largest count a 64-bit integer holds.

No audit can count more, so a target, precision and level that need more are refused."""

MAX_SAMPLES_PER_SUBJECT = 10**6
"""The most samples of one subject a plan takes (the frames of a long video)."""

MSG_RATE = "{name}: expected a rate in (0, 1), got {value!r}"
MSG_PRECISION = "precision: expected a relative half-width in (0, 1], got {value!r}"
MSG_LEVEL = "level: expected a confidence level in (0, 1), got {value!r}"
MSG_ICC = "{name}: expected a correlation in [0, 1], got {value!r}"
MSG_SAMPLES = "samples_per_subject: expected an integer >= 2, got {value!r}"
MSG_SAMPLES_MAX = "samples_per_subject: expected an integer of at most {limit:,}, got {value!r}"
MSG_TOO_MANY = (
    "{name} {target!r} at precision {precision!r} and level {level!r}: needs more than "
    "{limit:,} comparisons, more than any audit can count; expected a larger target, a "
    "larger precision or a lower level"
)
MSG_SUBJECTS = "n_subjects: expected an integer >= 2, got {value!r}"


class IntervalKind(enum.StrEnum):
    """The interval whose half-width the plan bounds.

    ``NORMAL``: the normal approximation (Wald), in closed form; Doddington's rule of
    30 is its case ``level = 0.90``, ``precision = 0.3``. ``CLOPPER_PEARSON``: the exact
    binomial interval at the expected count; a little more data.
    """

    NORMAL = "normal"
    CLOPPER_PEARSON = "clopper-pearson"


def _check_rate(value: float, name: str) -> None:
    if not (isinstance(value, int | float) and 0.0 < value < 1.0):
        raise UsageError(MSG_RATE.format(name=name, value=value))
    if value < MIN_TARGET_RATE:
        raise UsageError(MSG_TARGET_FLOOR.format(name=name, floor=MIN_TARGET_RATE, value=value))


def _check_common(precision: float, level: float) -> None:
    if not (isinstance(precision, int | float) and 0.0 < precision <= 1.0):
        raise UsageError(MSG_PRECISION.format(value=precision))
    if not (isinstance(level, int | float) and 0.0 < level < 1.0):
        raise UsageError(MSG_LEVEL.format(value=level))


def _check_icc(value: float, name: str) -> None:
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
        raise UsageError(MSG_ICC.format(name=name, value=value))


def _check_samples(m: int) -> None:
    if isinstance(m, bool) or not isinstance(m, int) or m < 2:
        raise UsageError(MSG_SAMPLES.format(value=m))
    if m > MAX_SAMPLES_PER_SUBJECT:
        raise UsageError(MSG_SAMPLES_MAX.format(limit=MAX_SAMPLES_PER_SUBJECT, value=m))


def _z(level: float) -> float:
    """The normal quantile at ``1 - (1 - level) / 2``, from the lower tail.

    Finite for every level in (0, 1): ``1 - (1 - level) / 2`` rounds to 1 (an infinite
    quantile) for levels within about 1e-16 of 1, its mirror image does not.
    """
    return -float(special.ndtri((1.0 - level) / 2.0))


def _relative_half_width_cp(n: int, target: float, level: float) -> float:
    low, high = clopper_pearson(n * target, n, level)
    return float(high - low) / (2.0 * target)


def comparisons_needed(
    target: float,
    *,
    precision: float,
    level: float = 0.95,
    interval: IntervalKind = IntervalKind.NORMAL,
    name: str = "target",
) -> int:
    """Independent comparisons for a two-sided interval of half-width ``precision * target``.

    Parameters
    ----------
    target : float
        The rate to measure (a target FMR or FNMR), in (0, 1).
    precision : float
        Relative half-width of the interval, in (0, 1]: 0.3 means +-30% of ``target``.
    level : float, default 0.95
        Two-sided confidence level.
    interval : IntervalKind, default NORMAL
        ``NORMAL``: ``ceil(z^2 (1 - p) / (p r^2))`` (module notes). ``CLOPPER_PEARSON``:
        the smallest ``n`` whose Clopper-Pearson interval at ``k = n p`` has
        ``(high - low) / 2 <= r p`` (found by bisection; the half-width falls as ``n``
        grows).
    name : str, default "target"
        What the target is (``"target FMR"``), for messages.

    Returns
    -------
    int
        The number of comparisons, treated as independent trials.

    Raises
    ------
    UsageError
        For a value out of its range, or a target, precision and level that need more
        than :data:`MAX_COMPARISONS` comparisons.

    Examples
    --------
    Doddington's rule of 30 (90%, +-30%) at FMR 1e-3 asks for 30 expected errors:

    >>> comparisons_needed(1e-3, precision=0.3, level=0.90)
    30032

    """
    _check_rate(target, name)
    _check_common(precision, level)
    too_many = UsageError(
        MSG_TOO_MANY.format(
            name=name, target=target, precision=precision, level=level, limit=MAX_COMPARISONS
        )
    )
    z = _z(level)
    needed = z * z * (1.0 - target) / target / precision / precision  # no 0 divisor
    if not needed <= MAX_COMPARISONS:  # also an infinity
        raise too_many
    normal = math.ceil(needed)
    if IntervalKind(interval) is IntervalKind.NORMAL:
        return normal

    def ok(n: int) -> bool:
        return _relative_half_width_cp(n, target, level) <= precision

    high = max(normal, 1)
    while not ok(high):
        if high > MAX_COMPARISONS:
            raise too_many
        high *= 2
    low = 0  # not ok (no trials)
    while high - low > 1:
        middle = (low + high) // 2
        if ok(middle):
            high = middle
        else:
            low = middle
    if high > MAX_COMPARISONS:
        raise too_many
    return high


def non_mated_design_effect(
    n_subjects: int, samples_per_subject: int, *, icc: float, icc_pair: float | None = None
) -> float:
    """Design effect of a group's FMR over all-vs-all non-mated comparisons.

    ``deff = 1 + (m^2 - 1) icc_pair + 2 (S - 2) m^2 icc``: a non-mated comparison
    shares both subjects with ``m^2 - 1`` others and exactly one subject with
    ``2 (S - 2) m^2`` others (Kish 1965, for overlapping clusters; module notes).

    Parameters
    ----------
    n_subjects : int
        Subjects ``S`` of the group, at least 2.
    samples_per_subject : int
        Samples ``m`` of every subject, at least 2.
    icc : float
        Correlation of the false-match indicators of two comparisons sharing one subject.
    icc_pair : float, optional
        The same for two comparisons of the same two subjects; ``icc`` when None.

    Returns
    -------
    float
        The design effect, at least 1.

    Examples
    --------
    >>> non_mated_design_effect(100, 5, icc=0.001)
    5.924

    """
    if isinstance(n_subjects, bool) or not isinstance(n_subjects, int) or n_subjects < 2:
        raise UsageError(MSG_SUBJECTS.format(value=n_subjects))
    _check_samples(samples_per_subject)
    pair = icc if icc_pair is None else icc_pair
    _check_icc(icc, "icc")
    _check_icc(pair, "icc_pair")
    m2 = samples_per_subject * samples_per_subject
    return 1.0 + (m2 - 1) * pair + 2 * (n_subjects - 2) * m2 * icc


def mated_design_effect(samples_per_subject: int, *, icc: float) -> float:
    """Design effect of a group's FNMR: ``1 + (m (m - 1) / 2 - 1) icc``.

    A mated comparison shares its subject with the ``m (m - 1) / 2 - 1`` other mated
    comparisons of that subject (Kish 1965; module notes).

    Examples
    --------
    >>> mated_design_effect(5, icc=0.001)
    1.009

    """
    _check_samples(samples_per_subject)
    _check_icc(icc, "icc")
    return 1.0 + (samples_per_subject * (samples_per_subject - 1) // 2 - 1) * icc


def smallest_subjects_fmr(
    n_independent: int, samples_per_subject: int, *, icc: float, icc_pair: float | None = None
) -> int:
    """Fewest subjects ``S >= 2`` whose non-mated comparisons meet ``n_independent * deff(S)``.

    Solves ``S (S - 1) / 2 m^2 >= n_independent * deff(S)`` with the design effect of
    :func:`non_mated_design_effect`. The left side grows as ``S^2`` and the right as
    ``S``, so from the returned ``S`` on every larger group also suffices.

    Examples
    --------
    Independent comparisons: ``S (S - 1) / 2 * 25 >= 10,000`` first holds at ``S = 29``.

    >>> smallest_subjects_fmr(10_000, 5, icc=0.0)
    29

    """
    _check_samples(samples_per_subject)
    pair = icc if icc_pair is None else icc_pair
    m2 = float(samples_per_subject * samples_per_subject)
    n = float(n_independent)

    def surplus(s: int) -> float:
        return s * (s - 1) / 2.0 * m2 - n * non_mated_design_effect(
            s, samples_per_subject, icc=icc, icc_pair=pair
        )

    # surplus(S) = a S^2 + b S + c, convex: the answer is the ceiling of its larger root.
    a = m2 / 2.0
    b = -m2 / 2.0 - 2.0 * m2 * icc * n
    c = -n * (1.0 + (m2 - 1.0) * pair - 4.0 * m2 * icc)
    root = (-b + math.sqrt(max(b * b - 4.0 * a * c, 0.0))) / (2.0 * a)
    s = max(2, math.ceil(root))
    while surplus(s) < 0:  # rounding in the root
        s += 1

    def rising(k: int) -> bool:  # surplus(k) >= surplus(k - 1): so are all later steps
        return a * (2 * k - 1) + b >= 0

    while s > 2 and surplus(s - 1) >= 0 and rising(s - 1):
        s -= 1
    return s


def smallest_subjects_fnmr(n_independent: int, samples_per_subject: int, *, icc: float) -> int:
    """Fewest subjects whose mated comparisons meet ``n_independent * deff``.

    ``S m (m - 1) / 2 >= n_independent * (1 + (m (m - 1) / 2 - 1) icc)``.

    Examples
    --------
    >>> smallest_subjects_fnmr(3_458, 5, icc=0.0)
    346

    """
    per_subject = samples_per_subject * (samples_per_subject - 1) // 2
    needed = n_independent * mated_design_effect(samples_per_subject, icc=icc)
    return max(1, math.ceil(needed / per_subject - 1e-12))


@dataclass(frozen=True)
class PlanConfig:
    """How a plan is made.

    Parameters
    ----------
    precision : float, default 0.3
        Relative half-width of the interval, in (0, 1].
    level : float, default 0.95
        Two-sided confidence level.
    samples_per_subject : int, default 5
        Samples ``m`` of every subject, at least 2.
    icc : float, default DEFAULT_ICC
        Correlation of the error indicators of comparisons that share one subject
        (non-mated) or their subject (mated).
    icc_pair : float or None, default None
        Correlation of non-mated comparisons of the same two subjects; ``icc`` when None.
    interval : IntervalKind, default NORMAL
        The interval whose half-width is bounded.

    """

    precision: float = 0.3
    level: float = 0.95
    samples_per_subject: int = 5
    icc: float = DEFAULT_ICC
    icc_pair: float | None = None
    interval: IntervalKind = IntervalKind.NORMAL

    def __post_init__(self) -> None:
        _check_common(self.precision, self.level)
        _check_samples(self.samples_per_subject)
        _check_icc(self.icc, "icc")
        if self.icc_pair is not None:
            _check_icc(self.icc_pair, "icc_pair")
        object.__setattr__(self, "interval", IntervalKind(self.interval))

    @property
    def pair_icc(self) -> float:
        """The correlation used for comparisons of the same two subjects."""
        return self.icc if self.icc_pair is None else self.icc_pair

    def to_dict(self) -> dict[str, Any]:
        """The ``config`` object of a plan's JSON."""
        return {
            "precision": self.precision,
            "level": self.level,
            "interval": self.interval.value,
            "samples_per_subject": self.samples_per_subject,
            "icc": self.icc,
            "icc_pair": self.pair_icc,
        }


@dataclass(frozen=True)
class RatePlan:
    """What one group needs to measure one target rate.

    Attributes
    ----------
    rate : str
        ``"fmr"`` or ``"fnmr"``.
    target : float
        The target rate.
    n_independent : int
        Comparisons needed if they were independent (:func:`comparisons_needed`).
    design_effect : float
        The design effect at ``n_subjects`` (1 with no correlation).
    n_comparisons : int
        Comparisons needed with the design effect: ``ceil(n_independent * design_effect)``.
    n_subjects : int
        Fewest subjects whose all-vs-all comparisons give ``n_comparisons``.
    samples_per_subject : int
        Samples of every subject.
    n_available : int
        Comparisons that ``n_subjects`` give (all-vs-all within the group).
    expected_errors : float
        ``target * n_available``.
    n_subjects_independent : int
        Fewest subjects if the comparisons were independent, for comparison.

    """

    rate: str
    target: float
    n_independent: int
    design_effect: float
    n_comparisons: int
    n_subjects: int
    samples_per_subject: int
    n_available: int
    expected_errors: float
    n_subjects_independent: int

    def to_dict(self) -> dict[str, Any]:
        """A plain mapping for JSON."""
        return {
            "rate": self.rate,
            "target": self.target,
            "n_comparisons_independent": self.n_independent,
            "design_effect": self.design_effect,
            "n_comparisons": self.n_comparisons,
            "n_subjects": self.n_subjects,
            "n_subjects_independent": self.n_subjects_independent,
            "samples_per_subject": self.samples_per_subject,
            "n_available": self.n_available,
            "expected_errors": self.expected_errors,
        }


@dataclass(frozen=True)
class Plan:
    """A plan for every target: each group needs ``n_subjects`` subjects of ``m`` samples."""

    config: PlanConfig
    rates: tuple[RatePlan, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def n_subjects(self) -> int:
        """Subjects a group needs to meet every target."""
        return max(r.n_subjects for r in self.rates)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``faceparity plan``, with its ``schema_version``."""
        return {
            "schema_version": PLAN_SCHEMA_VERSION,
            "config": self.config.to_dict(),
            "rates": [r.to_dict() for r in self.rates],
            "n_subjects_per_group": self.n_subjects,
            "notes": list(self.notes),
        }


def _fmr_plan(target: float, config: PlanConfig) -> RatePlan:
    m = config.samples_per_subject
    n_ind = comparisons_needed(
        target,
        precision=config.precision,
        level=config.level,
        interval=config.interval,
        name="target FMR",
    )
    s = smallest_subjects_fmr(n_ind, m, icc=config.icc, icc_pair=config.pair_icc)
    deff = non_mated_design_effect(s, m, icc=config.icc, icc_pair=config.pair_icc)
    available = s * (s - 1) // 2 * m * m
    return RatePlan(
        rate="fmr",
        target=target,
        n_independent=n_ind,
        design_effect=deff,
        n_comparisons=math.ceil(n_ind * deff - 1e-9),
        n_subjects=s,
        samples_per_subject=m,
        n_available=available,
        expected_errors=target * available,
        n_subjects_independent=smallest_subjects_fmr(n_ind, m, icc=0.0),
    )


def _fnmr_plan(target: float, config: PlanConfig) -> RatePlan:
    m = config.samples_per_subject
    n_ind = comparisons_needed(
        target,
        precision=config.precision,
        level=config.level,
        interval=config.interval,
        name="target FNMR",
    )
    s = smallest_subjects_fnmr(n_ind, m, icc=config.icc)
    deff = mated_design_effect(m, icc=config.icc)
    available = s * (m * (m - 1) // 2)
    return RatePlan(
        rate="fnmr",
        target=target,
        n_independent=n_ind,
        design_effect=deff,
        n_comparisons=math.ceil(n_ind * deff - 1e-9),
        n_subjects=s,
        samples_per_subject=m,
        n_available=available,
        expected_errors=target * available,
        n_subjects_independent=smallest_subjects_fnmr(n_ind, m, icc=0.0),
    )


def plan_audit(
    target_fmrs: Sequence[float],
    *,
    target_fnmrs: Sequence[float] = (),
    config: PlanConfig | None = None,
) -> Plan:
    """How many comparisons, subjects and samples per subject each group needs.

    Parameters
    ----------
    target_fmrs : sequence of float
        Target FMRs, each in (0, 1); the FMR is counted over the group's
        demographically matched non-mated comparisons (all-vs-all within the group).
    target_fnmrs : sequence of float, default ()
        FNMRs to measure with the same precision, over the group's mated comparisons.
    config : PlanConfig, optional
        Precision, level, samples per subject, correlations, interval.

    Returns
    -------
    Plan
        One :class:`RatePlan` per target, FMRs first.

    Examples
    --------
    >>> p = plan_audit([1e-4], target_fnmrs=[0.01], config=PlanConfig(icc=0.0))
    >>> [(r.rate, r.n_subjects) for r in p.rates]
    [('fmr', 186), ('fnmr', 423)]

    """
    config = config or PlanConfig()
    if not target_fmrs and not target_fnmrs:
        raise UsageError("expected at least one target FMR or FNMR, got none")
    for t in target_fmrs:
        _check_rate(t, "target FMR")
    for t in target_fnmrs:
        _check_rate(t, "target FNMR")
    rates = tuple(_fmr_plan(t, config) for t in target_fmrs) + tuple(
        _fnmr_plan(t, config) for t in target_fnmrs
    )
    notes = (
        "all-vs-all comparisons within a group: S (S - 1) / 2 m^2 non-mated and "
        "S m (m - 1) / 2 mated",
        f"design effect: 1 + (m^2 - 1) icc_pair + 2 (S - 2) m^2 icc (FMR), "
        f"1 + (m (m - 1) / 2 - 1) icc (FNMR); icc {config.icc:g} and icc_pair "
        f"{config.pair_icc:g} are assumptions (Kish 1965; Schuckers 2009)",
    )
    return Plan(config=config, rates=rates, notes=notes)


# --- what a data set supports ---------------------------------------------------------


@dataclass(frozen=True)
class GroupCapacity:
    """The smallest rates a group's counts support, and whether each target is supported.

    Attributes
    ----------
    label : str
        The group's label (``"overall"`` for all comparisons).
    n_subjects : int or None
        Subjects of the group, when the results carry it.
    n_non_mated, n_mated : int
        Non-mated and mated comparisons of the group.
    min_fmr, min_fnmr : float or None
        ``MIN_ERRORS / n`` (Doddington's rule of 30); None with fewer than
        ``MIN_ERRORS`` comparisons, where no rate is supported.
    targets : tuple of (float, Support)
        Each target FMR with its support over ``n_non_mated``.

    """

    label: str
    n_subjects: int | None
    n_non_mated: int
    n_mated: int
    min_fmr: float | None
    min_fnmr: float | None
    targets: tuple[tuple[float, Support], ...]

    def to_dict(self) -> dict[str, Any]:
        """A plain mapping for JSON."""
        return {
            "label": self.label,
            "n_subjects": self.n_subjects,
            "n_non_mated": self.n_non_mated,
            "n_mated": self.n_mated,
            "min_supported_fmr": self.min_fmr,
            "min_supported_fnmr": self.min_fnmr,
            "targets": [
                {
                    "target_fmr": t,
                    "sufficient": s.sufficient,
                    "expected_errors": s.expected_errors,
                    "reason": s.reason,
                }
                for t, s in self.targets
            ],
        }


def _smallest(n: int) -> float | None:
    """``MIN_ERRORS / n``; None below ``MIN_ERRORS`` trials, where no rate up to 1 is supported."""
    return MIN_ERRORS / n if n >= MIN_ERRORS else None


def _capacity(group: GroupSummary, label: str, targets: Iterable[float]) -> GroupCapacity:
    return GroupCapacity(
        label=label,
        n_subjects=group.n_subjects,
        n_non_mated=group.n_non_mated,
        n_mated=group.n_mated,
        min_fmr=_smallest(group.n_non_mated),
        min_fnmr=_smallest(group.n_mated),
        targets=tuple((t, support_for(t, group.n_non_mated, what="FMR")) for t in targets),
    )


def supported_rates(
    results: AuditResult,
    *,
    target_fmrs: Sequence[float] | None = None,
    file: str = "results",
) -> list[GroupCapacity]:
    """The smallest FMR and FNMR each group of an audit can support.

    A group supports a rate when at least :data:`~faceparity.uncertainty.MIN_ERRORS`
    (30) errors are expected at it over its comparisons (Doddington et al. 2000), so
    the smallest is ``30 / n``. The counts are the audit's (``groups[].n_non_mated``
    and ``n_mated``; the FMR count follows the audit's ``fmr_scope``); the rule ignores
    the correlation of comparisons that share subjects, so it is a floor, not a
    guarantee.

    Parameters
    ----------
    results : AuditResult
        The audit, e.g. as read by :func:`~faceparity.results.read_results` (which
        checks every count).
    target_fmrs : sequence of float, optional
        Targets to check; default the audit's ``config.target_fmrs``.
    file : str, default "results"
        Name of the results (kept for callers; the reader names the file in errors).

    Returns
    -------
    list of GroupCapacity
        One per group in the results' order, then ``overall``.

    Raises
    ------
    UsageError
        When a target is not a rate in (0, 1).

    """
    targets = list(results.config.target_fmrs if target_fmrs is None else target_fmrs)
    for t in targets:
        _check_rate(t, "target FMR")
    rows = [_capacity(g, g.label, targets) for g in results.groups]
    rows.append(_capacity(results.overall, "overall", targets))
    return rows
