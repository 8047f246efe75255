"""Specification of faceparity.metrics.differentials: summary measures of a differential.

Every expected number is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceparity.metrics import (
    Measure,
    fairness_discrepancy_rate,
    garbe,
    gini,
    inequity_rate,
    max_geomean_ratio,
    max_min_ratio,
    summarize,
)
from reference import ref_gini

# The running example: three groups.
FMR = {"A": 0.1, "B": 0.2, "C": 0.4}
FNMR = {"A": 0.1, "B": 0.1, "C": 0.9}

# Gini(FMR): |differences| over ordered pairs: 2 * (0.1 + 0.3 + 0.2) = 1.2; mean 0.7/3;
#   1.2 / (2 * 9 * 0.7/3) = 1.2 / 4.2 = 2/7; times n/(n-1) = 3/2 -> 3/7.
GINI_FMR = 3 / 7
# Gini(FNMR): 2 * (0 + 0.8 + 0.8) = 3.2; mean 1.1/3; 3.2 / (2 * 9 * 1.1/3) = 3.2/6.6 = 16/33;
#   times 3/2 -> 8/11.
GINI_FNMR = 8 / 11


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------------- hand-worked


def test_max_min_ratio() -> None:
    # 0.4 / 0.1 = 4
    m = max_min_ratio(FMR)
    assert m == Measure(approx(4.0), 3, None)  # type: ignore[arg-type]


def test_max_geomean_ratio() -> None:
    # geometric mean (0.1 * 0.2 * 0.4)^(1/3) = 0.008^(1/3) = 0.2; 0.4 / 0.2 = 2
    m = max_geomean_ratio(FMR)
    assert m.value == approx(2.0)
    assert m.n_groups == 3
    assert m.undefined_reason is None


def test_max_geomean_ratio_two_groups() -> None:
    # geometric mean sqrt(0.01 * 0.04) = 0.02; 0.04 / 0.02 = 2
    assert max_geomean_ratio({"x": 0.01, "y": 0.04}).value == approx(2.0)


def test_gini() -> None:
    assert gini(FMR).value == approx(GINI_FMR)
    assert gini(FNMR).value == approx(GINI_FNMR)
    assert gini(FMR).n_groups == 3


def test_gini_is_one_when_one_group_has_every_error() -> None:
    # [0, 0.1, 0]: ordered-pair sum 4 * 0.1 = 0.4; mean 0.1/3; 0.4 / (2 * 9 * 0.1/3) = 2/3;
    # times 3/2 -> 1.
    assert gini({"A": 0.0, "B": 0.1, "C": 0.0}).value == approx(1.0)
    # two groups [0, x]: 2x / (2 * 4 * x/2) = 1/2, times 2 -> 1.
    assert gini({"A": 0.0, "B": 0.3}).value == approx(1.0)


def test_gini_is_zero_for_equal_rates() -> None:
    m = gini({"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25})
    assert m.value == 0.0
    assert m.n_groups == 4


def test_garbe() -> None:
    # alpha G(FMR) + (1 - alpha) G(FNMR) = 0.5 * 3/7 + 0.5 * 8/11 = 3/14 + 4/11 = 89/154
    assert garbe(FMR, FNMR, alpha=0.5).value == approx(89 / 154)
    # alpha 0.25: 0.25 * 3/7 + 0.75 * 8/11 = 3/28 + 6/11 = (33 + 168)/308 = 201/308
    assert garbe(FMR, FNMR, alpha=0.25).value == approx(201 / 308)
    assert garbe(FMR, FNMR, alpha=1.0).value == approx(GINI_FMR)
    assert garbe(FMR, FNMR, alpha=0.0).value == approx(GINI_FNMR)


def test_fairness_discrepancy_rate() -> None:
    # A = 0.4 - 0.1 = 0.3, B = 0.9 - 0.1 = 0.8; 1 - (0.5 * 0.3 + 0.5 * 0.8) = 0.45
    m = fairness_discrepancy_rate(FMR, FNMR, alpha=0.5)
    assert m.value == approx(0.45)
    assert m.n_groups == 3
    # alpha 0.9: 1 - (0.27 + 0.08) = 0.65
    assert fairness_discrepancy_rate(FMR, FNMR, alpha=0.9).value == approx(0.65)


def test_fairness_discrepancy_rate_is_one_for_equal_rates_even_at_zero() -> None:
    # zero rates are fine for a difference: spreads 0 and 0 -> 1
    m = fairness_discrepancy_rate({"A": 0.0, "B": 0.0}, {"A": 0.2, "B": 0.2}, alpha=0.5)
    assert m.value == 1.0


def test_inequity_rate() -> None:
    # (max/min FMR)^alpha (max/min FNMR)^(1-alpha) = 4^0.5 * 9^0.5 = 2 * 3 = 6
    assert inequity_rate(FMR, FNMR, alpha=0.5).value == approx(6.0)
    # alpha 0.25: 4^0.25 * 9^0.75 = sqrt(2) * 3^1.5 = sqrt(54)
    assert inequity_rate(FMR, FNMR, alpha=0.25).value == approx(math.sqrt(54.0))


def test_summarize_keys_and_values() -> None:
    s = summarize(FMR, FNMR, alpha=0.5)
    assert set(s) == {"fmr", "fnmr", "garbe", "fdr", "inequity_rate"}
    assert set(s["fmr"]) == set(s["fnmr"]) == {"max_min", "max_geomean", "gini"}  # type: ignore[arg-type]
    assert s["fmr"]["max_min"].value == approx(4.0)  # type: ignore[index]
    assert s["fnmr"]["max_min"].value == approx(9.0)  # type: ignore[index]
    # FNMR geometric mean (0.1 * 0.1 * 0.9)^(1/3) = 0.1 * 9^(1/3); 0.9 / that = 9^(2/3)
    assert s["fnmr"]["max_geomean"].value == approx(9 ** (2 / 3))  # type: ignore[index]
    assert s["fnmr"]["gini"].value == approx(GINI_FNMR)  # type: ignore[index]
    assert s["garbe"].value == approx(89 / 154)  # type: ignore[union-attr]
    assert s["fdr"].value == approx(0.45)  # type: ignore[union-attr]
    assert s["inequity_rate"].value == approx(6.0)  # type: ignore[union-attr]


# ------------------------------------------------------------------ zero-rate handling


def test_ratio_with_a_zero_rate_is_undefined_and_names_the_zero_groups() -> None:
    rates = {"A": 0.0, "B": 0.1, "C": 0.0}
    for measure in (max_min_ratio, max_geomean_ratio):
        m = measure(rates)
        assert m.value is None
        assert m.n_groups == 3
        assert m.undefined_reason is not None
        assert "A; C" in m.undefined_reason
        assert "B" not in m.undefined_reason


def test_inequity_rate_with_a_zero_rate_is_undefined() -> None:
    m = inequity_rate(FMR, {"A": 0.0, "B": 0.1}, alpha=0.5)
    assert m.value is None
    assert m.undefined_reason is not None
    assert m.undefined_reason.startswith("FNMR")
    assert "A" in m.undefined_reason


def test_all_zero_rates() -> None:
    zeros = {"A": 0.0, "B": 0.0, "C": 0.0}
    for measure in (max_min_ratio, max_geomean_ratio, gini):
        m = measure(zeros)
        assert m.value is None, measure
        assert m.n_groups == 3
        assert m.undefined_reason
    assert gini(zeros).undefined_reason == "every group has zero observed errors"
    g = garbe(zeros, FNMR, alpha=0.5)
    assert g.value is None
    assert g.undefined_reason is not None and g.undefined_reason.startswith("Gini of FMR")
    g = garbe(FMR, zeros, alpha=0.5)
    assert g.value is None
    assert g.undefined_reason is not None and g.undefined_reason.startswith("Gini of FNMR")


def test_summary_is_never_inf_or_nan() -> None:
    cases = [
        ({"A": 0.0, "B": 0.1}, {"A": 0.0, "B": 0.0}),
        ({"A": 0.0, "B": 0.0}, {"A": 0.5, "B": 0.0}),
        ({"A": 1e-300, "B": 0.5}, {"A": 0.5, "B": 1e-300}),
        ({"A": None, "B": 0.1}, {"A": math.nan, "B": 0.2}),
        ({}, {}),
    ]
    for fmr, fnmr in cases:
        s = summarize(fmr, fnmr, alpha=0.5)
        measures = [
            *s["fmr"].values(),
            *s["fnmr"].values(),
            s["garbe"],
            s["fdr"],
            s["inequity_rate"],
        ]  # type: ignore[union-attr]
        for m in measures:
            assert isinstance(m, Measure)
            if m.value is None:
                assert m.undefined_reason
            else:
                assert math.isfinite(m.value), (fmr, fnmr, m)


# ------------------------------------------------------------ fewer than two groups


@pytest.mark.parametrize(
    "rates", [{}, {"A": 0.1}, {"A": 0.1, "B": None}, {"A": math.nan, "B": 0.2}]
)
def test_fewer_than_two_defined_groups(rates: dict[str, float | None]) -> None:
    n = sum(1 for v in rates.values() if v is not None and not math.isnan(v))
    for measure in (max_min_ratio, max_geomean_ratio, gini):
        m = measure(rates)
        assert m.value is None
        assert m.n_groups == n
        assert m.undefined_reason == "fewer than two groups have a defined rate"
    for measure in (garbe, fairness_discrepancy_rate, inequity_rate):
        m = measure(rates, FNMR, alpha=0.5)
        assert m.value is None
        assert m.undefined_reason is not None and "fewer than two" in m.undefined_reason
        m = measure(FMR, rates, alpha=0.5)
        assert m.value is None
        assert m.undefined_reason is not None and "FNMR" in m.undefined_reason


def test_none_and_nan_rates_are_left_out() -> None:
    rates = {"A": 0.1, "B": None, "C": 0.4, "D": math.nan}
    m = max_min_ratio(rates)
    assert m.value == approx(4.0)
    assert m.n_groups == 2
    # Gini of [0.1, 0.4]: 2 * 0.3 / (2 * 4 * 0.25) = 0.3; times 2 -> 0.6
    assert gini(rates).value == approx(0.6)
    assert gini(rates).n_groups == 2
    # the undefined group is not a zero: with it counted as 0 the ratio would be undefined
    assert max_geomean_ratio(rates).value == approx(0.4 / math.sqrt(0.04))


def test_measure_to_dict() -> None:
    assert Measure(2.0, 3).to_dict() == {"value": 2.0, "n_groups": 3}
    assert Measure(None, 1, "why").to_dict() == {
        "value": None,
        "n_groups": 1,
        "undefined_reason": "why",
    }


# ---------------------------------------------------------------------- vs reference


@pytest.mark.parametrize("seed", range(10))
def test_gini_matches_naive_double_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    values = rng.uniform(0, 1, n)
    values[rng.uniform(size=n) < 0.3] = 0.0
    if values.sum() == 0:
        values[0] = 0.5
    rates = {f"g{i}": float(v) for i, v in enumerate(values)}
    got = gini(rates)
    assert got.value == pytest.approx(ref_gini(values.tolist()), rel=1e-12, abs=1e-15)
    assert 0.0 <= got.value <= 1.0 + 1e-12  # type: ignore[operator]
