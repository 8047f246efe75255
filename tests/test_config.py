from __future__ import annotations

import pytest

from faceparity import AuditConfig, PolicyKind, ThresholdPolicy, UsageError


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
        {"det_points": 1},
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
