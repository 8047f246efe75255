"""Specification of faceparity.metrics.rates: exact FMR/FNMR, thresholds, DET curve, EER.

Checked three ways: hand-worked cases with exact numbers, the naive reference in
``reference.py`` on random scores with heavy ties, and scikit-learn's ROC/DET curves.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import det_curve as sk_det_curve
from sklearn.metrics import roc_curve

from faceparity import ScoreKind
from faceparity.metrics import (
    SortedScores,
    det_curve,
    equal_error_rate,
    fmr_fnmr,
    fnmr_at_fmr,
    max_false_matches,
    threshold_at_fmr,
)
from reference import (
    DISTANCE,
    SIMILARITY,
    ref_candidate_thresholds,
    ref_det,
    ref_eer,
    ref_max_false_matches,
    ref_rates,
    ref_threshold_at_fmr,
)

SIM = ScoreKind.SIMILARITY
DIST = ScoreKind.DISTANCE
SEEDS = [0, 1, 2, 3, 4, 5]
TARGETS = [1e-3, 0.01, 0.05, 0.1, 0.2, 0.25, 0.29, 0.5, 0.75, 0.99]


def random_scores(seed: int, *, decimals: int | None = 2) -> tuple[list[float], list[float]]:
    """Mated and non-mated similarity scores; rounding to 2 decimals makes heavy ties."""
    rng = np.random.default_rng(seed)
    n_m, n_nm = int(rng.integers(1, 60)), int(rng.integers(1, 250))
    mated = rng.normal(0.7, 0.15, n_m)
    non_mated = rng.normal(0.3, 0.15, n_nm)
    if decimals is not None:
        mated, non_mated = np.round(mated, decimals), np.round(non_mated, decimals)
    return mated.tolist(), non_mated.tolist()


def nan_equal(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


# ----------------------------------------------------------- agreement with the reference


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("decimals", [2, None])
def test_fmr_fnmr_matches_reference_at_every_candidate(seed: int, decimals: int | None) -> None:
    mated, non_mated = random_scores(seed, decimals=decimals)
    rng = np.random.default_rng(seed + 100)
    thresholds = (
        ref_candidate_thresholds([*mated, *non_mated]) + rng.uniform(-0.5, 1.5, 20).tolist()
    )
    fmr, fnmr = fmr_fnmr(mated, non_mated, thresholds, score_kind=SIM)
    assert fmr.shape == fnmr.shape == (len(thresholds),)
    for t, f, fn in zip(thresholds, fmr, fnmr, strict=True):
        ref_f, ref_fn = ref_rates(mated, non_mated, t)
        assert f == pytest.approx(ref_f, abs=1e-12)
        assert fn == pytest.approx(ref_fn, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_fmr_fnmr_distance_matches_reference(seed: int) -> None:
    mated, non_mated = random_scores(seed)
    # distances: lower is more alike
    d_mated = [round(1.0 - s, 2) for s in mated]
    d_non_mated = [round(1.0 - s, 2) for s in non_mated]
    thresholds = ref_candidate_thresholds([*d_mated, *d_non_mated], DISTANCE)
    fmr, fnmr = fmr_fnmr(d_mated, d_non_mated, thresholds, score_kind=DIST)
    for t, f, fn in zip(thresholds, fmr, fnmr, strict=True):
        ref_f, ref_fn = ref_rates(d_mated, d_non_mated, t, DISTANCE)
        assert f == pytest.approx(ref_f, abs=1e-12)
        assert fn == pytest.approx(ref_fn, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", [SIM, DIST])
def test_threshold_at_fmr_matches_reference(seed: int, kind: ScoreKind) -> None:
    _, non_mated = random_scores(seed)
    ref_kind = SIMILARITY if kind is SIM else DISTANCE
    for target in [*TARGETS, 1 / len(non_mated), 3 / len(non_mated)]:
        if not 0 < target < 1:
            continue
        got = threshold_at_fmr(non_mated, target_fmr=target, score_kind=kind)
        assert got == ref_threshold_at_fmr(non_mated, target, ref_kind), target


@pytest.mark.parametrize("seed", SEEDS)
def test_fnmr_at_fmr_matches_reference(seed: int) -> None:
    mated, non_mated = random_scores(seed)
    for target in TARGETS:
        t = ref_threshold_at_fmr(non_mated, target)
        _, expected = ref_rates(mated, non_mated, t)
        got = fnmr_at_fmr(mated, non_mated, target_fmr=target, score_kind=SIM)
        assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_det_curve_matches_reference(seed: int) -> None:
    mated, non_mated = random_scores(seed)
    thresholds, fmr, fnmr = ref_det(mated, non_mated)
    curve = det_curve(mated, non_mated, score_kind=SIM)
    assert curve.thresholds.tolist() == thresholds
    np.testing.assert_allclose(curve.fmr, fmr, rtol=0, atol=1e-12)
    np.testing.assert_allclose(curve.fnmr, fnmr, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_equal_error_rate_matches_reference(seed: int) -> None:
    mated, non_mated = random_scores(seed)
    expected = ref_eer(mated, non_mated)
    got = equal_error_rate(mated, non_mated, score_kind=SIM)
    assert got.eer == pytest.approx(expected["eer"], abs=1e-12)
    assert got.low == pytest.approx(expected["low"], abs=1e-12)
    assert got.high == pytest.approx(expected["high"], abs=1e-12)
    assert got.threshold == expected["threshold"]


@pytest.mark.parametrize("seed", SEEDS)
def test_equal_error_rate_distance_is_the_similarity_eer_negated(seed: int) -> None:
    mated, non_mated = random_scores(seed)
    expected = ref_eer(mated, non_mated)
    got = equal_error_rate([-s for s in mated], [-s for s in non_mated], score_kind=DIST)
    assert got.eer == pytest.approx(expected["eer"], abs=1e-12)
    assert got.threshold == -expected["threshold"]


def test_max_false_matches_matches_reference_on_a_grid() -> None:
    targets = [i / 100 for i in range(1, 100)] + [1e-3, 1e-4, 0.1 * 3, 0.7, 1 / 3, 2 / 3]
    for n in list(range(1, 120)) + [1000, 10_000]:
        for target in [*targets, 1 / n, 2 / n, 7 / n]:
            if not 0 < target < 1:
                continue
            for t in (target, math.nextafter(target, 0.0), math.nextafter(target, 1.0)):
                assert max_false_matches(n, t) == ref_max_false_matches(n, t), (n, t)


# ----------------------------------------------------------------- agreement with sklearn


@pytest.mark.parametrize("seed", SEEDS)
def test_rates_agree_with_sklearn_roc_curve(seed: int) -> None:
    mated, non_mated = random_scores(seed)
    y_true = [1] * len(mated) + [0] * len(non_mated)
    fpr, tpr, thr = roc_curve(y_true, mated + non_mated, drop_intermediate=False)
    finite = np.isfinite(thr)
    assert finite.sum() == len(set(mated + non_mated))  # every distinct score is a threshold
    fmr, fnmr = fmr_fnmr(mated, non_mated, thr[finite], score_kind=SIM)
    np.testing.assert_allclose(fmr, fpr[finite], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fnmr, 1.0 - tpr[finite], rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_det_curve_agrees_with_sklearn_det_curve(seed: int) -> None:
    mated, non_mated = random_scores(seed)
    y_true = [1] * len(mated) + [0] * len(non_mated)
    sk_fpr, sk_fnr, sk_thr = sk_det_curve(y_true, mated + non_mated)
    curve = det_curve(mated, non_mated, score_kind=SIM)
    index = {t: i for i, t in enumerate(curve.thresholds.tolist())}
    assert len(sk_thr) > 0
    for fpr, fnr, t in zip(sk_fpr, sk_fnr, sk_thr, strict=True):
        i = index[float(t)]
        assert curve.fmr[i] == pytest.approx(fpr, abs=1e-12)
        assert curve.fnmr[i] == pytest.approx(fnr, abs=1e-12)


# ------------------------------------------------------------------- hand-worked cases


def test_tie_at_the_cut_is_never_split() -> None:
    # n = 4, target 0.25 allows k = 1 false match, but the top score 5 is tied three
    # times: letting any 5 through lets all three through (FMR 3/4). So all are rejected:
    # threshold just above 5, FMR 0.
    non_mated = [5.0, 5.0, 5.0, 1.0]
    t = threshold_at_fmr(non_mated, target_fmr=0.25, score_kind=SIM)
    assert t == math.nextafter(5.0, math.inf)
    fmr, _ = fmr_fnmr([5.0], non_mated, [t], score_kind=SIM)
    assert fmr[0] == 0.0


def test_tie_below_the_cut_is_kept() -> None:
    # n = 5, target 0.4 allows k = 2: the two 0.9s may match, the 0.5s may not.
    non_mated = [0.9, 0.9, 0.5, 0.5, 0.1]
    t = threshold_at_fmr(non_mated, target_fmr=0.4, score_kind=SIM)
    assert t == math.nextafter(0.5, math.inf)
    fmr, fnmr = fmr_fnmr([0.5, 0.6, 0.95], non_mated, [t], score_kind=SIM)
    assert fmr[0] == 0.4  # 2 / 5, exactly the target
    assert fnmr[0] == pytest.approx(1 / 3, abs=1e-15)  # the mated 0.5 is rejected


def test_documented_example_threshold_just_above_the_second_highest() -> None:
    # [0.1, 0.2, 0.3, 0.4], target 0.25: one false match allowed, the 0.4.
    t = threshold_at_fmr([0.1, 0.2, 0.3, 0.4], target_fmr=0.25, score_kind=SIM)
    assert t == math.nextafter(0.3, math.inf)


def test_constant_scores() -> None:
    # Every score is 0.5: any threshold <= 0.5 accepts everything (FMR 1), so the
    # threshold must reject everything, mated included.
    mated, non_mated = [0.5] * 3, [0.5] * 7
    t = threshold_at_fmr(non_mated, target_fmr=0.5, score_kind=SIM)
    assert t == math.nextafter(0.5, math.inf)
    assert fnmr_at_fmr(mated, non_mated, target_fmr=0.5, score_kind=SIM) == 1.0
    curve = det_curve(mated, non_mated, score_kind=SIM)
    assert curve.thresholds.tolist() == [0.5, math.nextafter(0.5, math.inf)]
    assert curve.fmr.tolist() == [1.0, 0.0]
    assert curve.fnmr.tolist() == [0.0, 1.0]
    # FVC2000: t1 = 0.5 (FNMR 0 <= FMR 1); t2 is the top candidate (at 0.5, FNMR 0 >= FMR 1
    # fails; above it FNMR 1 >= FMR 0). Sums 1 <= 1, so the interval is [FNMR(t1), FMR(t1)]
    # = [0, 1], EER 0.5, read at 0.5.
    eer = equal_error_rate(mated, non_mated, score_kind=SIM)
    assert (eer.low, eer.high, eer.eer, eer.threshold) == (0.0, 1.0, 0.5, 0.5)


def test_zero_errors_on_separated_scores() -> None:
    mated, non_mated = [0.8, 0.9, 0.95], [0.1, 0.2, 0.3, 0.4]
    # target 0.2 with n = 4: k = 0, threshold just above 0.4, no error of either kind.
    t = threshold_at_fmr(non_mated, target_fmr=0.2, score_kind=SIM)
    assert t == math.nextafter(0.4, math.inf)
    fmr, fnmr = fmr_fnmr(mated, non_mated, [t], score_kind=SIM)
    assert (fmr[0], fnmr[0]) == (0.0, 0.0)
    eer = equal_error_rate(mated, non_mated, score_kind=SIM)
    # t1 = max{FNMR <= FMR}: at 0.8 FNMR 0, FMR 0; t2 = min{FNMR >= FMR} = 0.8 as well.
    assert (eer.eer, eer.low, eer.high, eer.threshold) == (0.0, 0.0, 0.0, 0.8)


def test_single_comparison() -> None:
    t = threshold_at_fmr([0.3], target_fmr=0.5, score_kind=SIM)
    assert t == math.nextafter(0.3, math.inf)
    fmr, fnmr = fmr_fnmr([0.3], [0.3], [t], score_kind=SIM)
    assert (fmr[0], fnmr[0]) == (0.0, 1.0)


def test_distance_direction() -> None:
    # Distances: 0.1 is the most alike non-mated pair. Target 0.25 of 4 allows one false
    # match: 0.1 matches (<= t), 0.2 must not, so t is the float just below 0.2.
    non_mated = [0.1, 0.2, 0.3, 0.4]
    t = threshold_at_fmr(non_mated, target_fmr=0.25, score_kind=DIST)
    assert t == math.nextafter(0.2, -math.inf)
    fmr, fnmr = fmr_fnmr([0.05, 0.2, 0.15], non_mated, [t], score_kind=DIST)
    assert fmr[0] == 0.25
    assert fnmr[0] == pytest.approx(1 / 3, abs=1e-15)  # the mated 0.2 is rejected
    # match is "score <= threshold": at t = 0.2 itself the 0.2s match.
    fmr, fnmr = fmr_fnmr([0.2], non_mated, [0.2], score_kind=DIST)
    assert (fmr[0], fnmr[0]) == (0.5, 0.0)


def test_distance_det_curve_runs_from_permissive_to_strict() -> None:
    curve = det_curve([0.2, 0.1], [0.9, 0.15], score_kind=DIST)
    # the mirror image of the documented similarity example
    assert curve.thresholds.tolist() == [0.9, 0.2, 0.15, 0.1, math.nextafter(0.1, -math.inf)]
    assert curve.fmr.tolist() == [1.0, 0.5, 0.5, 0.0, 0.0]
    assert curve.fnmr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]


def test_match_is_at_or_above_the_threshold() -> None:
    fmr, fnmr = fmr_fnmr([0.5, 0.7], [0.5, 0.1], [0.5, 0.6, 0.7, 0.71], score_kind=SIM)
    assert fmr.tolist() == [0.5, 0.0, 0.0, 0.0]
    assert fnmr.tolist() == [0.0, 0.5, 0.5, 1.0]


def test_fmr_fnmr_undefined_rate_is_nan_not_zero() -> None:
    fmr, fnmr = fmr_fnmr([], [0.2, 0.8], [0.5], score_kind=SIM)
    assert fmr[0] == 0.5
    assert math.isnan(fnmr[0])


def test_det_curve_documented_example() -> None:
    c = det_curve([0.8, 0.9], [0.1, 0.85], score_kind=SIM)
    assert c.thresholds.tolist() == [0.1, 0.8, 0.85, 0.9, math.nextafter(0.9, math.inf)]
    assert c.fmr.tolist() == [1.0, 0.5, 0.5, 0.0, 0.0]
    assert c.fnmr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]


def test_eer_crossing_exists() -> None:
    # The curve of the example above crosses at 0.85: FMR = FNMR = 0.5.
    e = equal_error_rate([0.8, 0.9], [0.1, 0.85], score_kind=SIM)
    assert (e.eer, e.low, e.high, e.threshold) == (0.5, 0.5, 0.5, 0.85)


def test_eer_interval_taken_at_t2() -> None:
    # mated [1, 3], non-mated [2]; candidates 1, 2, 3, top:
    #   FMR  1, 1, 0, 0      FNMR 0, .5, .5, 1
    # t1 = 2 (FNMR .5 <= FMR 1), t2 = 3 (FNMR .5 >= FMR 0); sums 1.5 > .5, so the
    # interval is [FMR(t2), FNMR(t2)] = [0, .5] and the EER is .25 at threshold 3.
    e = equal_error_rate([1.0, 3.0], [2.0], score_kind=SIM)
    assert (e.low, e.high, e.eer, e.threshold) == (0.0, 0.5, 0.25, 3.0)


def test_eer_interval_taken_at_t1() -> None:
    # mated [2], non-mated [1, 3]; candidates 1, 2, 3, top:
    #   FMR  1, .5, .5, 0    FNMR 0, 0, 1, 1
    # t1 = 2 (0 <= .5), t2 = 3 (1 >= .5); sums .5 <= 1.5, so [FNMR(t1), FMR(t1)] = [0, .5].
    e = equal_error_rate([2.0], [1.0, 3.0], score_kind=SIM)
    assert (e.low, e.high, e.eer, e.threshold) == (0.0, 0.5, 0.25, 2.0)


def test_sorted_scores_counts() -> None:
    s = SortedScores([0.3, 0.1, 0.3, 0.2])
    assert len(s) == 4
    assert s.count_at_or_above(0.3) == 2
    assert s.count_below(0.3) == 2
    assert s.count_at_or_above(0.31) == 0
    assert s.count_below(0.1) == 0
    assert s.threshold_at_fmr(0.5) == math.nextafter(0.2, math.inf)


# ------------------------------------------------------------------ max_false_matches


@pytest.mark.parametrize(
    ("n", "target", "expected"),
    [
        (100, 0.29, 29),  # 0.29 * 100 == 28.999999999999996 in floating point
        (100, 0.57, 57),  # 0.57 * 100 == 56.99999999999999
        (1000, 1e-3, 1),
        (49, 1 / 49, 1),  # (1 / 49) * 49 == 0.9999999999999999
        (10, 0.1 * 3, 3),  # 0.30000000000000004
        (100, math.nextafter(0.29, 0.0), 28),
        (10, 0.999, 9),
        (10, 0.95, 9),
        (100, 1e-5, 0),
        (1, 0.5, 0),
        (3, 1 / 3, 1),
        (3, 2 / 3, 2),
    ],
)
def test_max_false_matches_cases(n: int, target: float, expected: int) -> None:
    k = max_false_matches(n, target)
    assert k == expected
    assert k / n <= target
    assert k + 1 == n or (k + 1) / n > target


def test_max_false_matches_rejects_zero_comparisons() -> None:
    with pytest.raises(ValueError):
        max_false_matches(0, 0.5)


# ---------------------------------------------------------------------------- errors


def test_empty_non_mated_cannot_set_a_threshold() -> None:
    with pytest.raises(ValueError, match="no non-mated"):
        threshold_at_fmr([], target_fmr=0.1, score_kind=SIM)
    with pytest.raises(ValueError, match="no non-mated"):
        fnmr_at_fmr([0.9], [], target_fmr=0.1, score_kind=SIM)


def test_det_curve_and_eer_need_both_kinds() -> None:
    with pytest.raises(ValueError, match="both mated and non-mated"):
        det_curve([], [0.1], score_kind=SIM)
    with pytest.raises(ValueError, match="both mated and non-mated"):
        equal_error_rate([0.9], [], score_kind=SIM)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_scores_are_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        threshold_at_fmr([0.1, bad], target_fmr=0.1, score_kind=SIM)
    with pytest.raises(ValueError, match="finite"):
        fmr_fnmr([0.9, bad], [0.1], [0.5], score_kind=SIM)
    with pytest.raises(ValueError, match="finite"):
        fmr_fnmr([0.9], [bad], [0.5], score_kind=DIST)
    with pytest.raises(ValueError, match="finite"):
        det_curve([bad], [0.1], score_kind=SIM)
    with pytest.raises(ValueError, match="finite"):
        equal_error_rate([0.9], [0.1, bad], score_kind=SIM)


@pytest.mark.parametrize("target", [0.0, 1.0, -0.1, 1.5, math.nan])
def test_target_outside_the_open_unit_interval_is_rejected(target: float) -> None:
    with pytest.raises(ValueError, match="target_fmr must be in"):
        threshold_at_fmr([0.1, 0.2], target_fmr=target, score_kind=SIM)
    with pytest.raises(ValueError, match="target_fmr must be in"):
        max_false_matches(10, target)


def test_score_kind_must_be_a_known_direction() -> None:
    with pytest.raises(ValueError):
        threshold_at_fmr([0.1, 0.2], target_fmr=0.5, score_kind="higher")  # type: ignore[arg-type]
