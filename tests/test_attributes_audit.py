"""The attribute-classifier audit: hand-worked tables, the Gender Shades table, the bootstrap."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from faceparity.attributes import AttributeAuditConfig, TaskKind, audit_attributes
from faceparity.errors import InputError, UsageError
from faceparity.results.attributes import AttributeAuditResult
from faceparity.uncertainty.bootstrap import poisson_weights

# The Pilot Parliaments Benchmark's subgroups (Buolamwini and Gebru 2018, "Gender
# Shades", PMLR 81, Table 2: 1,270 subjects) and each API's published gender
# classification error rate per subgroup (Table 4), in percent.
PPB = {
    ("darker", "female"): 271,
    ("darker", "male"): 318,
    ("lighter", "female"): 296,
    ("lighter", "male"): 385,
}
PUBLISHED = {
    "Microsoft": {
        ("darker", "female"): 20.8,
        ("darker", "male"): 6.0,
        ("lighter", "female"): 1.7,
        ("lighter", "male"): 0.0,
    },
    "Face++": {
        ("darker", "female"): 34.5,
        ("darker", "male"): 0.7,
        ("lighter", "female"): 6.0,
        ("lighter", "male"): 0.8,
    },
    "IBM": {
        ("darker", "female"): 34.7,
        ("darker", "male"): 12.0,
        ("lighter", "female"): 7.1,
        ("lighter", "male"): 0.3,
    },
}


# The margins of the same table (error = 100 - published accuracy): by sex, by skin type
# and overall. Face++'s margins (female 21.3, darker 16.5) do not follow from its own
# subgroup cells and the PPB counts (which give 19.8 and 16.3), so only Microsoft's and
# IBM's are checked.
PUBLISHED_MARGINS = {
    "Microsoft": {"female": 10.7, "male": 2.6, "darker": 12.9, "lighter": 0.7, "all": 6.3},
    "IBM": {"female": 20.3, "male": 5.6, "darker": 22.4, "lighter": 3.2, "all": 12.1},
}


def _ppb_predictions(rates: dict[tuple[str, str], float]) -> pd.DataFrame:
    """One row per PPB subject; round(rate * n) of each subgroup predicted as the other sex."""
    rows = []
    for (skin, sex), n in PPB.items():
        errors = round(rates[(skin, sex)] / 100 * n)
        other = "male" if sex == "female" else "female"
        for i in range(n):
            rows.append(
                {
                    "subject": f"{skin}-{sex}-{i}",
                    "skin": skin,
                    "sex": sex,
                    "predicted": other if i < errors else sex,
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("api", sorted(PUBLISHED))
def test_gender_shades_table_is_reproduced(api: str) -> None:
    frame = _ppb_predictions(PUBLISHED[api])
    config = AttributeAuditConfig(
        "sex", "predicted", ("sex", "skin"), subject="subject", replicates=200
    )
    result = audit_attributes(frame, config)
    cells = {
        (g.attributes["skin"], g.attributes["sex"]): g for g in result.grouping("sex x skin").groups
    }
    assert set(cells) == set(PPB)
    for key, published in PUBLISHED[api].items():
        group = cells[key]
        assert group.n_samples == PPB[key]
        assert group.error_rate is not None
        assert abs(100 * group.error_rate - published) <= 0.2, (api, key)
        # For a binary classifier a group's errors are its FNR for its own sex.
        own = next(c for c in group.classes if c.label == key[1])
        assert own.fnr == group.error_rate
    worst = result.grouping("sex x skin").disparity.worst
    assert worst == "female/darker"


@pytest.mark.parametrize("api", sorted(PUBLISHED_MARGINS))
def test_gender_shades_margins_are_reproduced(api: str) -> None:
    frame = _ppb_predictions(PUBLISHED[api])
    config = AttributeAuditConfig("sex", "predicted", ("sex", "skin"), replicates=0)
    result = audit_attributes(frame, config)
    found = {
        g.label: g.error_rate for name in ("sex", "skin") for g in result.grouping(name).groups
    }
    found["all"] = result.overall.error_rate
    for key, published in PUBLISHED_MARGINS[api].items():
        rate = found[key]
        assert rate is not None and abs(100 * rate - published) <= 0.2, (api, key, rate)


def test_hand_worked_three_classes() -> None:
    # truth -> predicted, group a: c->c, c->d, d->d, e->c ; group b: d->e, e->e
    frame = pd.DataFrame(
        {
            "t": ["c", "c", "d", "e", "d", "e"],
            "p": ["c", "d", "d", "c", "e", "e"],
            "g": ["a", "a", "a", "a", "b", "b"],
        }
    )
    result = audit_attributes(frame, AttributeAuditConfig("t", "p", ("g",), replicates=0))
    assert result.task.classes == ["c", "d", "e"]
    a, b = result.grouping("g").groups
    assert (a.n_samples, a.n_errors, a.error_rate) == (4, 2, 0.5)
    assert a.confusion == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    rates = {c.label: (c.fnr, c.fpr) for c in a.classes}
    # c: 2 positives, 1 missed; 2 negatives (d, e), 1 predicted c (e->c).
    assert rates["c"] == (0.5, 0.5)
    # d: 1 positive, none missed; 3 negatives, 1 predicted d (c->d).
    assert rates["d"] == (0.0, pytest.approx(1 / 3))
    # e: 1 positive, missed; 3 negatives, none predicted e.
    assert rates["e"] == (1.0, 0.0)
    assert (b.n_errors, b.error_rate) == (1, 0.5)
    assert b.confusion == [[0, 0, 0], [0, 0, 1], [0, 0, 1]]
    c_in_b = next(c for c in b.classes if c.label == "c")
    assert (c_in_b.fnr, c_in_b.fpr) == (None, 0.0)  # no sample of class c: undefined
    assert c_in_b.fnr_ci is None
    assert result.overall.n_errors == 3
    disparity = result.grouping("g").disparity
    # A tie: the first group is the worst, the other the best.
    assert (disparity.worst, disparity.best, disparity.ratio, disparity.difference) == (
        "a",
        "b",
        1.0,
        0.0,
    )


def test_exact_binomial_without_subjects() -> None:
    frame = pd.DataFrame({"t": ["x"] * 10, "p": ["x"] * 10, "g": ["a"] * 5 + ["b"] * 5})
    result = audit_attributes(frame, AttributeAuditConfig("t", "p", ("g",), replicates=0))
    a = result.grouping("g").groups[0]
    assert a.error_rate == 0.0
    assert a.error_rate_ci is not None
    assert a.error_rate_ci.ci_low == 0.0
    assert a.error_rate_ci.ci_high == pytest.approx(1 - 0.025 ** (1 / 5))
    assert a.error_rate_support is not None and not a.error_rate_support.sufficient
    disparity = result.grouping("g").disparity
    assert disparity.ratio is None and disparity.undefined_reason is not None
    assert disparity.difference == 0.0


def test_subject_bootstrap_matches_a_reference() -> None:
    rng = np.random.default_rng(3)
    n_subjects, per = 60, 4
    subject = np.repeat(np.arange(n_subjects), per)
    group = np.where(subject % 2 == 0, "a", "b")
    truth = rng.choice(["f", "m"], size=subject.size)
    flip = rng.random(subject.size) < np.where(group == "a", 0.3, 0.15)
    predicted = np.where(flip, np.where(truth == "f", "m", "f"), truth)
    frame = pd.DataFrame({"s": [f"id{x}" for x in subject], "g": group, "t": truth, "p": predicted})
    config = AttributeAuditConfig("t", "p", ("g",), subject="s", replicates=300, seed=11)
    result = audit_attributes(frame, config)
    # Reference: the same Poisson weights, per replicate the weighted error rate by loops.
    codes = pd.factorize(frame["s"])[0]
    err = (truth != predicted).astype(float)
    rates_a, rates_b = [], []
    for w in poisson_weights(n_subjects, 300, 11):
        weight = w[codes].astype(float)
        ra = (weight * err)[group == "a"].sum() / weight[group == "a"].sum()
        rb = (weight * err)[group == "b"].sum() / weight[group == "b"].sum()
        rates_a.append(ra)
        rates_b.append(rb)
    a = result.grouping("g").groups[0]
    assert a.error_rate_ci is not None
    low, high = np.quantile(rates_a, [0.025, 0.975])
    assert (a.error_rate_ci.ci_low, a.error_rate_ci.ci_high) == pytest.approx((low, high))
    disparity = result.grouping("g").disparity
    assert disparity.worst == "a" and disparity.ratio_ci is not None
    ra, rb = np.array(rates_a), np.array(rates_b)
    ratio = ra[rb > 0] / rb[rb > 0]  # a replicate with no error in b has no ratio
    assert (disparity.ratio_ci.ci_low, disparity.ratio_ci.ci_high) == pytest.approx(
        tuple(np.quantile(ratio, [0.025, 0.975]))
    )
    assert a.n_subjects == n_subjects // 2


def test_regression_with_tolerance_and_age_bands() -> None:
    frame = pd.DataFrame(
        {
            "age": ["10", "25", "40", "70", "33"],
            "pred": ["14", "36", "41", "55", "33"],
        }
    )
    config = AttributeAuditConfig(
        "age",
        "pred",
        ("age",),
        kind=TaskKind.REGRESSION,
        tolerance=5,
        bins=(("age", (18.0, 50.0)),),
        replicates=0,
    )
    result = audit_attributes(frame, config)
    bands = {g.label: g for g in result.grouping("age").groups}
    assert set(bands) == {"<18", "[18,50)", ">=50"}
    assert (bands["<18"].n_errors, bands["<18"].mean_absolute_error) == (0, 4.0)
    assert (bands["[18,50)"].n_errors, bands["[18,50)"].n_samples) == (1, 3)
    assert bands[">=50"].error_rate == 1.0
    assert bands["[18,50)"].mean_absolute_error == pytest.approx(12 / 3)
    assert result.overall.confusion == [] and result.task.tolerance == 5


def test_empty_cells_are_counted_not_dropped_silently() -> None:
    frame = pd.DataFrame({"t": ["a", "", "b"], "p": ["a", "b", None], "g": ["x", "x", "y"]})
    result = audit_attributes(frame, AttributeAuditConfig("t", "p", ("g",), replicates=0))
    assert result.overall.n_samples == 1
    assert [(e.count, e.unit) for e in result.exclusions] == [(2, "samples")]


def test_bad_input_names_row_and_column() -> None:
    frame = pd.DataFrame({"age": ["10", "x"], "pred": ["1", "2"], "g": ["a", "b"]})
    config = AttributeAuditConfig(
        "age", "pred", ("g",), kind=TaskKind.REGRESSION, tolerance=1, replicates=0
    )
    with pytest.raises(InputError, match=r"row 2, column 'age'.*finite number"):
        audit_attributes(frame, config, file="p.csv")
    with pytest.raises(InputError, match="'nope'"):
        audit_attributes(frame, AttributeAuditConfig("age", "pred", ("nope",)), file="p.csv")
    with pytest.raises(UsageError):
        AttributeAuditConfig("a", "b", ("g",), kind=TaskKind.REGRESSION)


def test_result_round_trips_and_is_validated() -> None:
    frame = _ppb_predictions(PUBLISHED["IBM"])
    result = audit_attributes(
        frame, AttributeAuditConfig("sex", "predicted", ("sex", "skin"), replicates=50)
    )
    data = json.loads(result.to_json())
    again = AttributeAuditResult.from_dict(data)
    assert again == result
    data["groupings"][0]["groups"][0]["error_rate"] = 1.5
    with pytest.raises(ValueError, match=r"groupings\[0\]\.groups\[0\]\.error_rate"):
        AttributeAuditResult.from_dict(data)


def test_small_groups_are_not_worst_or_best() -> None:
    frame = pd.DataFrame(
        {
            "t": ["a"] * 62,
            "p": ["a"] * 20 + ["b"] * 10 + ["a"] * 25 + ["b"] * 5 + ["a"] * 2,
            "g": ["x"] * 30 + ["y"] * 30 + ["z"] * 2,
        }
    )
    config = AttributeAuditConfig("t", "p", ("g",), replicates=0, min_samples=30)
    disparity = audit_attributes(frame, config).grouping("g").disparity
    assert (disparity.worst, disparity.best) == ("x", "y")  # z (0 of 2) is left out
    assert disparity.ratio == pytest.approx((10 / 30) / (5 / 30))
    config = AttributeAuditConfig("t", "p", ("g",), replicates=0)
    assert audit_attributes(frame, config).grouping("g").disparity.best == "z"
