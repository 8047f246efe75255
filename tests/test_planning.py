"""faceparity.uncertainty.sample_size: hand-worked sizes, a brute-force count, properties."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from faceparity.errors import UsageError
from faceparity.model.config import MIN_TARGET_RATE
from faceparity.results import AuditResult, GroupSummary
from faceparity.uncertainty import clopper_pearson, support_for
from faceparity.uncertainty.sample_size import (
    MAX_COMPARISONS,
    MAX_SAMPLES_PER_SUBJECT,
    IntervalKind,
    PlanConfig,
    comparisons_needed,
    mated_design_effect,
    non_mated_design_effect,
    plan_audit,
    smallest_subjects_fmr,
    smallest_subjects_fnmr,
    supported_rates,
)

# --- comparisons under independence -------------------------------------------------------


def test_normal_approximation_by_hand() -> None:
    # z = 1.6448536 at 90% two-sided; z^2 / 0.09 = 30.0616; * 0.999 / 1e-3 = 30031.5
    z = stats.norm.ppf(0.95)
    assert comparisons_needed(1e-3, precision=0.3, level=0.90) == math.ceil(
        z * z * (1 - 1e-3) / (1e-3 * 0.3**2)
    )
    assert comparisons_needed(1e-3, precision=0.3, level=0.90) == 30032
    # 95%, +-10%, p = 0.01: 1.959964^2 * 0.99 / (0.01 * 0.01) = 38030.6
    assert comparisons_needed(0.01, precision=0.1, level=0.95) == 38031


@pytest.mark.parametrize("p", [1e-2, 1e-3, 1e-4, 1e-5, 1e-6])
def test_rule_of_30_is_the_90_percent_30_percent_case(p: float) -> None:
    n = comparisons_needed(p, precision=0.3, level=0.90)
    # n p = z^2 / r^2 (1 - p) = 30.06 (1 - p), rounded up: Doddington's 30 errors for small p
    assert n * p == pytest.approx(stats.norm.ppf(0.95) ** 2 / 0.09 * (1 - p), abs=p)
    assert support_for(p, n).sufficient == (p <= 1e-3)


def test_clopper_pearson_is_the_smallest_n_meeting_the_criterion() -> None:
    p, r, level = 1e-3, 0.3, 0.95
    n = comparisons_needed(p, precision=r, level=level, interval=IntervalKind.CLOPPER_PEARSON)

    def half(n: int) -> float:
        low, high = clopper_pearson(n * p, n, level)
        return float(high - low) / 2 / p

    assert half(n) <= r < half(n - 1)
    # wider than the normal approximation's interval, so more comparisons
    assert n > comparisons_needed(p, precision=r, level=level)


# --- the design effect ---------------------------------------------------------------------


def test_design_effect_by_hand() -> None:
    # 1 + (9 - 1) * 0.1 + 2 * (10 - 2) * 9 * 0.01 = 1 + 0.8 + 1.44
    assert non_mated_design_effect(10, 3, icc=0.01, icc_pair=0.1) == pytest.approx(3.24)
    assert non_mated_design_effect(10, 3, icc=0.0) == 1.0
    # 4 samples: 6 mated comparisons per subject, 5 others sharing the subject
    assert mated_design_effect(4, icc=0.1) == pytest.approx(1.5)


@pytest.mark.parametrize(("s", "m"), [(2, 2), (3, 2), (4, 3), (5, 2)])
def test_design_effect_counts_match_a_brute_force_enumeration(s: int, m: int) -> None:
    samples = [(subject, k) for subject in range(s) for k in range(m)]
    non_mated = [(a, b) for a, b in itertools.combinations(samples, 2) if a[0] != b[0]]
    assert len(non_mated) == s * (s - 1) // 2 * m * m
    for c in non_mated:
        subjects = {c[0][0], c[1][0]}
        others = [d for d in non_mated if d != c]
        both = sum({d[0][0], d[1][0]} == subjects for d in others)
        one = sum(len({d[0][0], d[1][0]} & subjects) == 1 for d in others)
        # icc_pair weighs `both`, icc weighs `one`
        assert non_mated_design_effect(s, m, icc=0.0, icc_pair=1.0) == 1 + both
        assert non_mated_design_effect(s, m, icc=1.0, icc_pair=0.0) == 1 + one
    mated = [(a, b) for a, b in itertools.combinations(samples, 2) if a[0] == b[0]]
    for c in mated:
        sharing = sum(d[0][0] == c[0][0] for d in mated if d != c)
        assert mated_design_effect(m, icc=1.0) == 1 + sharing


def _brute_subjects(n_ind: int, m: int, icc: float, pair: float) -> int:
    def ok(s: int) -> bool:
        available = s * (s - 1) // 2 * m * m
        return available >= n_ind * non_mated_design_effect(s, m, icc=icc, icc_pair=pair)

    # the smallest S from which every larger S also suffices (checked far enough out)
    top = 2
    while not all(ok(t) for t in range(top, top + 50)):
        top += 1
    return top


@settings(max_examples=60, deadline=None)
@given(
    n_ind=st.integers(1, 20_000),
    m=st.integers(2, 6),
    icc=st.sampled_from([0.0, 1e-4, 1e-3, 1e-2]),
    pair=st.sampled_from([0.0, 1e-3, 0.1, 0.5]),
)
def test_smallest_subjects_fmr_matches_a_search(
    n_ind: int, m: int, icc: float, pair: float
) -> None:
    assert smallest_subjects_fmr(n_ind, m, icc=icc, icc_pair=pair) == _brute_subjects(
        n_ind, m, icc, pair
    )


def test_smallest_subjects_fnmr_by_hand() -> None:
    # 95%, +-30%, FNMR 0.01: 4226 independent mated comparisons; 10 per subject of 5 samples
    assert comparisons_needed(0.01, precision=0.3) == 4226
    assert smallest_subjects_fnmr(4226, 5, icc=0.0) == 423
    # design effect 1 + 9 * 0.01 = 1.09: 4606.3 comparisons, 461 subjects
    assert smallest_subjects_fnmr(4226, 5, icc=0.01) == 461


# --- properties ----------------------------------------------------------------------------

rates = st.floats(1e-7, 0.5)
precisions = st.floats(0.02, 1.0)
levels = st.floats(0.5, 0.999)


@given(p=rates, q=rates, r=precisions, level=levels)
def test_more_comparisons_for_rarer_rates(p: float, q: float, r: float, level: float) -> None:
    low, high = sorted((p, q))
    assert comparisons_needed(low, precision=r, level=level) >= comparisons_needed(
        high, precision=r, level=level
    )


@given(p=rates, r=precisions, s=precisions, level=levels, other=levels)
def test_more_comparisons_for_more_precision_and_confidence(
    p: float, r: float, s: float, level: float, other: float
) -> None:
    tight, loose = sorted((r, s))
    assert comparisons_needed(p, precision=tight, level=level) >= comparisons_needed(
        p, precision=loose, level=level
    )
    low, high = sorted((level, other))
    assert comparisons_needed(p, precision=r, level=high) >= comparisons_needed(
        p, precision=r, level=low
    )


@settings(max_examples=30, deadline=None)
@given(p=st.floats(1e-6, 0.2), r=st.floats(0.05, 0.5), level=st.floats(0.8, 0.99))
def test_clopper_pearson_half_width_shrinks_with_n(p: float, r: float, level: float) -> None:
    n = comparisons_needed(p, precision=r, level=level, interval=IntervalKind.CLOPPER_PEARSON)
    widths = [
        float(h - lo) / 2 / p
        for lo, h in (clopper_pearson(k * p, k, level) for k in (n, 2 * n, 4 * n, n + 1))
    ]
    assert widths[0] <= r
    assert widths[0] >= widths[3] and widths[0] >= widths[1] >= widths[2]


@settings(max_examples=40, deadline=None)
@given(
    p=st.floats(1e-6, 0.1),
    m=st.integers(2, 8),
    icc=st.floats(0.0, 0.01),
    more=st.floats(0.0, 0.01),
)
def test_correlation_never_lowers_the_plan(p: float, m: int, icc: float, more: float) -> None:
    base = plan_audit([p], target_fnmrs=[p], config=PlanConfig(samples_per_subject=m, icc=icc))
    worse = plan_audit(
        [p], target_fnmrs=[p], config=PlanConfig(samples_per_subject=m, icc=icc + more)
    )
    for a, b in zip(base.rates, worse.rates, strict=True):
        assert b.n_subjects >= a.n_subjects >= a.n_subjects_independent
        assert b.design_effect >= a.design_effect >= 1.0
        assert a.n_available >= a.n_comparisons >= a.n_independent


def test_plan_without_correlation_is_the_independent_count() -> None:
    plan = plan_audit([1e-4], target_fnmrs=[0.01], config=PlanConfig(icc=0.0))
    fmr, fnmr = plan.rates
    assert (fmr.design_effect, fmr.n_comparisons) == (1.0, fmr.n_independent)
    # 426,787 comparisons: S (S - 1) / 2 * 25 first reaches it at S = 186 (430,125)
    assert (fmr.n_independent, fmr.n_subjects, fmr.n_available) == (426_787, 186, 430_125)
    assert fnmr.n_subjects == 423
    assert plan.n_subjects == 423


def test_plan_with_correlation_by_hand() -> None:
    plan = plan_audit([1e-3], config=PlanConfig(icc=1e-3, icc_pair=1e-3))
    (fmr,) = plan.rates
    s = fmr.n_subjects
    assert fmr.design_effect == pytest.approx(1 + 24e-3 + 2 * (s - 2) * 25e-3)
    assert s * (s - 1) // 2 * 25 >= fmr.n_independent * fmr.design_effect
    smaller = s - 1
    assert smaller * (smaller - 1) // 2 * 25 < fmr.n_independent * non_mated_design_effect(
        smaller, 5, icc=1e-3
    )


# --- bad values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"precision": 0.0}, "precision: expected a relative half-width in (0, 1], got 0.0"),
        ({"level": 1.0}, "level: expected a confidence level in (0, 1), got 1.0"),
        ({"samples_per_subject": 1}, "samples_per_subject: expected an integer >= 2, got 1"),
        ({"icc": -0.1}, "icc: expected a correlation in [0, 1], got -0.1"),
        ({"icc_pair": 2.0}, "icc_pair: expected a correlation in [0, 1], got 2.0"),
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(UsageError) as err:
        PlanConfig(**kwargs)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_bad_targets_are_refused() -> None:
    with pytest.raises(UsageError, match=r"target FMR: expected a rate in \(0, 1\), got 0.0"):
        plan_audit([0.0])
    with pytest.raises(UsageError, match="at least one target"):
        plan_audit([])


# --- what a data set supports ------------------------------------------------------------

GOLDEN = Path(__file__).parent / "golden"


def _results() -> AuditResult:
    """The golden audit with hand-picked counts: F supports 1e-3, M nothing."""
    base = AuditResult.from_dict(json.loads((GOLDEN / "sex.json").read_text()))

    def counts(
        g: GroupSummary, label: str, non_mated: int, mated: int, subjects: int
    ) -> GroupSummary:
        return dataclasses.replace(
            g, label=label, n_non_mated=non_mated, n_mated=mated, n_subjects=subjects
        )

    return dataclasses.replace(
        base,
        config=dataclasses.replace(base.config, target_fmrs=[1e-3, 1e-4]),
        overall=counts(base.overall, "overall", 600_000, 3_000, 400),
        groups=[
            counts(base.groups[0], "F", 200_000, 1_000, 200),
            counts(base.groups[1], "M", 20, 0, 4),
        ],
    )


RESULTS = _results()


def test_supported_rates_by_hand() -> None:
    f, m, overall = supported_rates(RESULTS)
    assert (f.label, f.min_fmr, f.min_fnmr) == ("F", 30 / 200_000, 30 / 1_000)
    assert [(t, s.sufficient, s.expected_errors) for t, s in f.targets] == [
        (1e-3, True, 200.0),
        (1e-4, False, 20.0),
    ]
    # fewer than 30 comparisons: no rate is supported
    assert (m.min_fmr, m.min_fnmr) == (None, None)
    assert overall.label == "overall" and overall.targets[1][1].sufficient


def test_supported_rates_of_other_targets() -> None:
    (f, _, _) = supported_rates(RESULTS, target_fmrs=[1.6e-4, 1.4e-4])
    assert [(s.sufficient, s.expected_errors) for _, s in f.targets] == [
        (True, pytest.approx(32.0)),
        (False, pytest.approx(28.0)),
    ]


def test_a_plan_beyond_any_count_is_refused() -> None:
    """Targets, precisions and levels that need more than 2**63 - 1 comparisons."""
    largest = comparisons_needed(5e-19, precision=1.0, level=0.95)
    assert largest <= MAX_COMPARISONS
    for target, precision in ((4e-19, 0.3), (MIN_TARGET_RATE, 1.0), (1e-3, 5e-324)):
        with pytest.raises(UsageError, match="more than any audit can count"):
            comparisons_needed(target, precision=precision, level=0.95)
    with pytest.raises(UsageError, match="more than any audit can count"):
        comparisons_needed(1e-18, precision=0.3, interval=IntervalKind.CLOPPER_PEARSON)
    with pytest.raises(UsageError, match="target FMR: expected rates of at least"):
        plan_audit([5e-324])
    with pytest.raises(UsageError, match="at most 1,000,000"):
        PlanConfig(samples_per_subject=MAX_SAMPLES_PER_SUBJECT + 1)
