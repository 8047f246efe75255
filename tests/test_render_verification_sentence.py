"""The differential in one sentence (:mod:`faceparity.render.verification.sentence`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from faceparity.errors import UsageError
from faceparity.render.verification.sentence import differential, headline_point
from faceparity.results import (
    AuditResult,
    GroupOperatingPoint,
    Interval,
    OperatingPoint,
    RateMeasures,
    SummaryMeasure,
    SummaryMeasures,
    Support,
)

GOLDEN = Path(__file__).parent / "golden"
UNDEFINED = SummaryMeasure(None, 0, "not computed in this test")


def _group(label, fmr, fm, nm, fnmr=0.01, fnm=1, m=100, **extra):
    sex, eth = label.split("/")
    return GroupOperatingPoint(
        {"sex": sex, "ethnicity": eth}, label, 0.5, fmr, fnmr, fm, nm, fnm, m, **extra
    )


def _summary(fmr_max_min: SummaryMeasure = UNDEFINED) -> SummaryMeasures:
    rest = RateMeasures(UNDEFINED, UNDEFINED, UNDEFINED)
    return SummaryMeasures(
        RateMeasures(fmr_max_min, UNDEFINED, UNDEFINED), rest, UNDEFINED, UNDEFINED, UNDEFINED
    )


def _point(groups, policy="global", threshold=0.5, target=1e-4, summary=None):
    return OperatingPoint(target, policy, threshold, None, groups, [], summary or _summary())


def test_ratio_names_groups_threshold_and_plain_target():
    point = _point(
        [
            _group("F/B", 7.2e-4, 72, 100_000),
            _group("M/W", 1e-4, 10, 100_000),
            _group("F/W", 3e-4, 30, 100_000),
        ]
    )
    d = differential(point)
    assert d.ratio == pytest.approx(7.2)
    assert (d.highest, d.lowest) == ("F/B", "M/W")
    assert d.text == (
        "At the threshold that gives 1 false match in 10,000 overall (policy global, "
        "threshold 0.5), people in group sex F, ethnicity B are falsely matched 7.2 times "
        "as often as people in group sex M, ethnicity W (FMR 0.072% against 0.01%)."
    )


def test_reference_and_per_group_policies_are_described():
    groups = [_group("F/B", 2e-3, 2, 1000), _group("M/W", 1e-3, 1, 1000)]
    ref = differential(_point(groups, policy="reference:sex=M,ethnicity=W"))
    assert "in the reference group sex M, ethnicity W" in ref.text
    per = differential(_point(groups, policy="per-group", threshold=None), rate="fnmr")
    assert per.text.startswith("With each group at its own threshold for 1 false match in 10,000")


def test_zero_lowest_rate_gives_no_ratio_and_the_rule_of_three():
    d = differential(_point([_group("F/B", 5e-4, 5, 10_000), _group("M/W", 0.0, 0, 30_000)]))
    assert d.ratio is None
    assert "had no false matches in 30,000 non-mated comparisons" in d.text
    assert "cannot be estimated" in d.text
    assert "below about 0.01%" in d.text  # 3 / 30,000
    assert " times as often as" not in d.text


def test_all_zero_and_too_few_groups_say_so():
    d = differential(_point([_group("F/B", 0.0, 0, 10), _group("M/W", 0.0, 0, 20)]))
    assert d.ratio is None and "no group had any false matches (30 non-mated" in d.text
    assert "does not show that the groups' rates are equal" in d.text
    d = differential(_point([_group("F/B", 1e-3, 1, 1000), _group("M/W", None, 0, 0)]))
    assert d.ratio is None and "needs two groups with a measured FMR and 1 of 2" in d.text


def test_support_flags_and_intervals_are_named_when_present():
    support = Support(False, 0.4, 3e-3, "0.4 expected false matches at the target")
    summary = _summary(SummaryMeasure(2.0, 2, value_ci=Interval(1.1, 3.9, "bootstrap")))
    point = _point(
        [_group("F/B", 2e-3, 2, 1000, fmr_support=support), _group("M/W", 1e-3, 1, 1000)],
        summary=summary,
    )
    d = differential(point, level=0.95)
    assert "(FMR 0.2% against 0.1%; 95% interval 1.10 to 3.90)" in d.text
    assert "Caution, the FMR of sex F, ethnicity B: 0.4 expected false matches" in d.text


def test_headline_point_prefers_global_and_refuses_unknown_points():
    golden = AuditResult.from_dict(json.loads((GOLDEN / "sex.json").read_text()))
    points = [
        _point([], policy="per-group", threshold=None, target=1e-3),
        _point([], policy="reference:sex=M", target=1e-3),
        _point([], policy="global", target=1e-3),
    ]
    results = dataclasses.replace(golden, operating_points=points)
    assert headline_point(results).policy == "global"
    assert headline_point(results, policy="per-group").policy == "per-group"
    with pytest.raises(UsageError, match="no operating point for target FMR 1e-05"):
        headline_point(results, target_fmr=1e-5)
