from __future__ import annotations

import math

import numpy as np
import pytest

from faceparity import AuditConfig, PolicyKind, ThresholdPolicy, UsageError
from faceparity.model.config import (
    MAX_DET_POINTS,
    MIN_TARGET_RATE,
    MSG_TARGET_FLOOR,
    check_target_rate,
)


@pytest.mark.parametrize(
    ("text", "kind", "reference"),
    [
        ("global", PolicyKind.GLOBAL, None),
        (" per-group ", PolicyKind.PER_GROUP, None),
        ("reference:sex=M", PolicyKind.REFERENCE, (("sex", "M"),)),
        ("reference:sex=F, ethnicity=B", PolicyKind.REFERENCE, (("sex", "F"), ("ethnicity", "B"))),
        ("reference:age=[30,40),sex=F", PolicyKind.REFERENCE, (("age", "[30,40)"), ("sex", "F"))),
        ("reference:age=>=70", PolicyKind.REFERENCE, (("age", ">=70"),)),
    ],
)
def test_policy_parse_round_trips(text: str, kind: PolicyKind, reference) -> None:
    policy = ThresholdPolicy.parse(text)
    assert policy.kind is kind and policy.reference == reference
    assert ThresholdPolicy.parse(str(policy)) == policy


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Global",
        "reference",
        "reference:",
        "reference:sex",
        "reference:=F",
        "reference:sex=",
        "reference:sex=F,sex=M",
        "nearest",
    ],
)
def test_bad_policies_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        ThresholdPolicy.parse(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target_fmrs": ()},
        {"target_fmrs": (0.0,)},
        {"target_fmrs": (1.0,)},
        {"target_fmrs": (float("nan"),)},
        {"target_fmrs": (1e-3, 1e-3)},
        {"policies": ()},
        {"policies": (ThresholdPolicy.parse("global"), ThresholdPolicy.parse("global"))},
        {"alpha": 1.5},
        {"alpha": float("nan")},
        {"det_points": 1},
        {"det_points": MAX_DET_POINTS + 1},
        {"target_fmrs": (5e-324,)},
        {"target_fmrs": (1e-3, 1e-320)},
        {"target_fmrs": (True,)},
    ],
)
def test_bad_configurations_are_usage_errors(kwargs) -> None:
    with pytest.raises(UsageError):
        AuditConfig(**kwargs)


def test_reference_is_required_exactly_for_the_reference_kind() -> None:
    with pytest.raises(UsageError):
        ThresholdPolicy(PolicyKind.REFERENCE)
    with pytest.raises(UsageError):
        ThresholdPolicy(PolicyKind.GLOBAL, (("sex", "F"),))


def test_the_target_floor_is_the_smallest_normal_float() -> None:
    """Every target at or above the floor has a finite 1 / target; 5e-324 has not."""
    assert math.isfinite(1.0 / MIN_TARGET_RATE)
    with np.errstate(divide="ignore", over="ignore"):
        assert not np.isfinite(np.float64(1.0) / np.float64(5e-324))
    assert AuditConfig(target_fmrs=(MIN_TARGET_RATE, np.float32(1e-3))).target_fmrs[0] > 0
    with pytest.raises(UsageError) as err:
        check_target_rate(5e-324, "--fmr")
    assert str(err.value) == MSG_TARGET_FLOOR.format(
        name="--fmr", floor=MIN_TARGET_RATE, value=5e-324
    )
