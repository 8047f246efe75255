"""Configuration of an audit: frozen dataclasses and enums, never loose strings.

The vocabulary follows ISO/IEC 19795-1 and ISO/IEC 19795-10: a *comparison* of two
samples is *mated* when both come from the same *subject* and *non-mated* otherwise.
"""

from __future__ import annotations

import enum
import math
import numbers
import re
import sys
from dataclasses import dataclass, field

from faceparity.errors import UsageError

__all__ = [
    "DEFAULT_TARGET_FMRS",
    "MAX_TAIL_CAPACITY",
    "MIN_TARGET_RATE",
    "MSG_TARGET_FLOOR",
    "AuditConfig",
    "FMRScope",
    "MatedGroupRule",
    "PolicyKind",
    "ScoreKind",
    "ThresholdPolicy",
    "check_target_rate",
]

DEFAULT_TARGET_FMRS: tuple[float, ...] = (1e-3, 1e-4, 1e-5)

MIN_TARGET_RATE = sys.float_info.min
"""The smallest target rate (FMR, FNMR, FPIR) taken: the smallest normal float, about 2.2e-308.

Below it a float is subnormal: it keeps only a few significant digits (``5e-324`` is
also ``3e-324``), and below about ``5.6e-309`` ``1 / rate`` overflows to infinity, so
neither the rate nor the "1 in N" it stands for can be carried. Every count an audit
holds is below ``2**63``, so ``floor(n * rate)`` is 0 for every rate below ``2**-63``
anyway: such a target asks for a threshold above every non-mated score."""

MAX_TAIL_CAPACITY = 10**12
"""The largest exact tail of a streaming accumulator (``--tail-capacity``), in scores.

A tail keeps at most twice this many scores (12 bytes each) before it is pruned, and
the count stays far inside the 64-bit integers the accumulator counts in."""

MAX_DET_POINTS = 100_000
"""The most points of the sampled DET curve stored per group."""

MSG_TARGET_FLOOR = (
    "{name}: expected rates of at least {floor!r}, the smallest normal float (smaller ones "
    "lose their precision, and 1/rate overflows), got {value!r}"
)


def check_target_rate(value: float, name: str) -> None:
    """UsageError unless ``value`` is a target rate: finite, in ``[MIN_TARGET_RATE, 1)``.

    Parameters
    ----------
    value : float
        The rate.
    name : str
        What it is, for the message (``"target FMR"``, ``"--fmr"``).

    Raises
    ------
    UsageError
        For a value that is not a number in (0, 1), or one below :data:`MIN_TARGET_RATE`.

    Examples
    --------
    >>> check_target_rate(1e-4, "target FMR")
    >>> MIN_TARGET_RATE
    2.2250738585072014e-308

    """
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (real and math.isfinite(value) and 0.0 < value < 1.0):
        raise UsageError(f"{name}: expected a number in (0, 1), got {value!r}")
    if value < MIN_TARGET_RATE:
        raise UsageError(MSG_TARGET_FLOOR.format(name=name, floor=MIN_TARGET_RATE, value=value))


class ScoreKind(enum.StrEnum):
    """Direction of a comparison score; always stated, never guessed.

    ``SIMILARITY``: higher means more alike; a comparison is a match when
    ``score >= threshold``. ``DISTANCE``: lower means more alike; a match when
    ``score <= threshold``.
    """

    SIMILARITY = "similarity"
    DISTANCE = "distance"


class PolicyKind(enum.StrEnum):
    """How the decision threshold for a target FMR is set."""

    GLOBAL = "global"
    REFERENCE = "reference"
    PER_GROUP = "per-group"


class FMRScope(enum.StrEnum):
    """Which non-mated comparisons count towards a group's FMR.

    ``MATCHED``: both sides in the group (demographically matched impostors,
    NISTIR 8280's main measure). ``INVOLVING``: at least one side in the group.
    """

    MATCHED = "matched"
    INVOLVING = "involving"


class MatedGroupRule(enum.StrEnum):
    """Which group a mated comparison counts for when its two samples disagree.

    Samples of one subject can fall in different groups for attributes that change
    over time (age band) or are labelled per image. ``EXCLUDE`` leaves such a
    comparison out of every group's FNMR (it still counts overall) and records the
    count in the exclusions; ``FIRST`` and ``SECOND`` use the group of the first
    (reference) or second (probe) sample.
    """

    EXCLUDE = "exclude"
    FIRST = "first"
    SECOND = "second"


@dataclass(frozen=True)
class ThresholdPolicy:
    """A threshold policy: ``global``, ``per-group`` or ``reference:attr=value,...``.

    Parameters
    ----------
    kind : PolicyKind
        How the threshold is set.
    reference : tuple of (attribute, value) pairs, optional
        The reference group, required for ``PolicyKind.REFERENCE``.

    """

    kind: PolicyKind
    reference: tuple[tuple[str, str], ...] | None = None

    def __post_init__(self) -> None:
        if (self.kind is PolicyKind.REFERENCE) != (self.reference is not None):
            raise UsageError("a reference group is given exactly when the policy is 'reference'")

    @classmethod
    def parse(cls, text: str) -> ThresholdPolicy:
        """Parse ``global``, ``per-group`` or ``reference:sex=F,ethnicity=B``.

        Examples
        --------
        >>> ThresholdPolicy.parse("reference:sex=M").reference
        (('sex', 'M'),)
        >>> ThresholdPolicy.parse("reference:sex=F,age=[30,40)").reference
        (('sex', 'F'), ('age', '[30,40)'))

        """
        text = text.strip()
        if text == PolicyKind.GLOBAL.value:
            return cls(PolicyKind.GLOBAL)
        if text == PolicyKind.PER_GROUP.value:
            return cls(PolicyKind.PER_GROUP)
        prefix = PolicyKind.REFERENCE.value + ":"
        if text.startswith(prefix):
            # Split only at commas that start a new NAME=, so that a value may hold
            # commas (the band label "[30,40)").
            items = re.split(r",(?=\s*[^,=\[\]()]+=)", text[len(prefix) :])
            pairs = [item.partition("=") for item in items]
            if pairs and all(sep and name.strip() and value.strip() for name, sep, value in pairs):
                names = [name.strip() for name, _, _ in pairs]
                repeated = sorted({n for n in names if names.count(n) > 1})
                if repeated:
                    raise UsageError(
                        f"policy {text!r}: attribute {', '.join(map(repr, repeated))} "
                        "is given more than once"
                    )
                return cls(
                    PolicyKind.REFERENCE,
                    tuple((name.strip(), value.strip()) for name, _, value in pairs),
                )
        raise UsageError(
            f"policy: expected 'global', 'per-group' or 'reference:ATTR=VALUE[,ATTR=VALUE...]', "
            f"got {text!r}"
        )

    def __str__(self) -> str:
        if self.reference is None:
            return self.kind.value
        return "reference:" + ",".join(f"{k}={v}" for k, v in self.reference)


@dataclass(frozen=True)
class AuditConfig:
    """Everything that decides what an audit computes.

    Parameters
    ----------
    target_fmrs : tuple of float
        Target false match rates of the operating points, each in (0, 1) and at least
        :data:`MIN_TARGET_RATE`.
    policies : tuple of ThresholdPolicy
        Threshold policies; every target FMR is evaluated under every policy.
    fmr_scope : FMRScope
        Which non-mated comparisons count towards a group's FMR.
    mated_rule : MatedGroupRule
        Which group a mated comparison counts for when its samples disagree.
    alpha : float
        Weight of FMR against FNMR in the combined measures (GARBE, FDR, inequity rate).
    det_points : int
        Number of points of the sampled DET curve stored per group.

    """

    target_fmrs: tuple[float, ...] = DEFAULT_TARGET_FMRS
    policies: tuple[ThresholdPolicy, ...] = field(
        default_factory=lambda: (ThresholdPolicy(PolicyKind.GLOBAL),)
    )
    fmr_scope: FMRScope = FMRScope.MATCHED
    mated_rule: MatedGroupRule = MatedGroupRule.EXCLUDE
    alpha: float = 0.5
    det_points: int = 60

    def __post_init__(self) -> None:
        if not self.target_fmrs:
            raise UsageError("at least one target FMR is needed")
        for fmr in self.target_fmrs:
            check_target_rate(fmr, "target FMR")
        if len(set(self.target_fmrs)) != len(self.target_fmrs):
            raise UsageError(f"target FMRs: a value is given twice in {list(self.target_fmrs)}")
        if not self.policies:
            raise UsageError("at least one threshold policy is needed")
        if len(set(self.policies)) != len(self.policies):
            shown = ", ".join(str(p) for p in self.policies)
            raise UsageError(f"threshold policies: one is given twice in {shown}")
        if not 0.0 <= self.alpha <= 1.0:
            raise UsageError(f"alpha: expected a number in [0, 1], got {self.alpha!r}")
        if not 2 <= self.det_points <= MAX_DET_POINTS:
            raise UsageError(
                f"det_points: expected from 2 to {MAX_DET_POINTS}, got {self.det_points}"
            )
