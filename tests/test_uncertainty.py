"""Intervals and support flags: closed forms, the subject bootstrap, and its calibration."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from scipy import stats

from faceparity import AuditConfig, ThresholdPolicy, audit
from faceparity.metrics.rates import SortedScores, equal_error_rate_of
from faceparity.model.comparisons import ComparisonSet
from faceparity.model.config import ScoreKind
from faceparity.synthetic.simulate import default_config, simulate, true_fmr, true_fnmr
from faceparity.uncertainty import clopper_pearson, rule_of_three, support_for, wilson
from faceparity.uncertainty.apply import with_uncertainty
from faceparity.uncertainty.bootstrap import (
    LINEAR_TOTAL_MULTIPLICITY,
    POISSON_CDF,
    NotHeld,
    View,
    WeightedScores,
    ahead,
    poisson_weights,
    weighted_eer,
)


def _comparisons(seed: int = 0, n_subjects: int = 40, per_subject: int = 3) -> ComparisonSet:
    """All-vs-all comparisons of subjects in two groups, with a subject effect."""
    rng = np.random.default_rng(seed)
    subject = np.repeat(np.arange(n_subjects), per_subject)
    group = (np.arange(n_subjects) % 2)[subject]
    effect = rng.normal(0, 0.05, n_subjects)  # subjects who resemble others more
    i, j = np.triu_indices(subject.size, 1)
    mated = subject[i] == subject[j]
    score = np.where(
        mated,
        0.7 + rng.normal(0, 0.1, i.size),
        0.1 * group[i] + effect[subject[i]] + effect[subject[j]] + rng.normal(0, 0.1, i.size),
    )
    return ComparisonSet(
        score=score,
        mated=mated,
        score_kind=ScoreKind.SIMILARITY,
        subject=np.column_stack([subject[i], subject[j]]),
        subject_ids=tuple(str(s) for s in range(n_subjects)),
        attributes={"g": np.column_stack([group[i], group[j]]).astype(np.int32)},
        levels={"g": ("a", "b")},
        source="synthetic",
    )


CONFIG = AuditConfig(
    target_fmrs=(1e-2, 1e-3),
    policies=(ThresholdPolicy.parse("global"), ThresholdPolicy.parse("per-group")),
)


def _boot(cs, seed=0, replicates=200, level=0.95):
    result = audit(cs, group_by=["g"], config=CONFIG)
    return result, with_uncertainty(
        result,
        method="bootstrap",
        comparisons=cs,
        group_by=["g"],
        config=CONFIG,
        replicates=replicates,
        seed=seed,
        level=level,
    )


# --- closed forms -------------------------------------------------------------------------


def test_clopper_pearson_against_the_beta_quantiles_and_the_zero_case() -> None:
    low, high = clopper_pearson([0, 3, 10], [50, 50, 10], 0.9)
    assert low[0] == 0.0 and high[2] == 1.0
    assert high[0] == pytest.approx(1 - 0.05 ** (1 / 50), rel=1e-12)  # k = 0: closed form
    assert low[1] == pytest.approx(stats.beta.ppf(0.05, 3, 48), rel=1e-12)
    assert high[1] == pytest.approx(stats.beta.ppf(0.95, 4, 47), rel=1e-12)
    assert low[2] == pytest.approx(0.05 ** (1 / 10), rel=1e-12)  # k = n: closed form


def test_wilson_matches_the_textbook_formula_and_contains_the_estimate() -> None:
    k, n, z = 7, 40, stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = wilson(k, n)
    assert (float(low), float(high)) == pytest.approx((centre - half, centre + half), rel=1e-12)
    assert low < p < high


def test_undefined_rates_give_undefined_intervals() -> None:
    assert all(math.isnan(float(v)) for v in clopper_pearson(0, 0) + wilson(0, 0))
    assert rule_of_three(0) == math.inf
    assert rule_of_three(300) == pytest.approx(-math.log(0.05) / 300)


def test_support_follows_the_rule_of_30() -> None:
    assert support_for(1e-3, 30_000).sufficient
    assert not support_for(1e-3, 29_999).sufficient
    s = support_for(1e-4, 10_000)
    assert s.expected_errors == pytest.approx(1.0) and s.min_supported_rate == 30 / 10_000
    assert not support_for(None, 100).sufficient and support_for(0.1, 0).expected_errors is None


# --- weighted scores ----------------------------------------------------------------------


def test_weighted_scores_equal_the_expanded_multiset() -> None:
    rng = np.random.default_rng(1)
    values = np.sort(rng.choice([0.1, 0.2, 0.3, 0.4, 0.5], 40))  # many ties
    weights = rng.integers(0, 4, values.size)
    expanded = SortedScores(np.repeat(values, weights))
    w = WeightedScores.build(values, weights, int(weights.sum()), -math.inf)
    assert len(w) == len(expanded)
    for t in (0.05, 0.1, 0.25, 0.3, 0.5, 0.6):
        assert int(w.count_at_or_above(t)) == int(expanded.count_at_or_above(t))
        assert int(w.count_below(t)) == int(expanded.count_below(t))
    for target in (0.01, 0.1, 0.3, 0.6):
        assert w.threshold_at_fmr(target) == expanded.threshold_at_fmr(target)


# --- the bootstrap -------------------------------------------------------------------------


def test_same_seed_same_intervals_and_other_seed_other_intervals() -> None:
    cs = _comparisons()
    _, a = _boot(cs, seed=3)
    _, b = _boot(cs, seed=3)
    _, c = _boot(cs, seed=4)
    assert a.to_dict() == b.to_dict()
    assert a.to_dict() != c.to_dict()


def test_intervals_contain_the_point_estimate_and_cover_every_number() -> None:
    result, boot = _boot(_comparisons(seed=2), replicates=300)
    d = boot.to_dict()
    assert d["uncertainty"]["replicates"] == 300
    checked = 0
    for point in d["operating_points"]:
        rows = [*point["groups"], *([point["overall"]] if point["overall"] else [])]
        for row in rows:
            for rate in ("fmr", "fnmr"):
                ci = row[f"{rate}_ci"]
                assert f"{rate}_support" in row
                if ci["ci_low"] is not None:
                    assert ci["ci_low"] <= row[rate] <= ci["ci_high"]
                    checked += 1
        if point["threshold"] is not None:
            ci = point["threshold_ci"]
            assert ci["ci_low"] <= point["threshold"] <= ci["ci_high"]
        for cell in point["cross_group"]:
            assert "fmr_ci" in cell and "fmr_support" in cell
        for name in ("garbe", "fdr"):  # an undefined measure has no interval either
            measure = point["summary"][name]
            assert ("value_ci" in measure) == (measure["value"] is not None)
    assert checked >= 12
    for g in d["groups"]:
        assert g["eer"]["eer_ci"]["ci_low"] <= g["eer"]["eer"] <= g["eer"]["eer_ci"]["ci_high"]


def test_zero_error_rates_get_the_exact_clopper_pearson_bound() -> None:
    cs = _comparisons(seed=5)
    result = audit(cs, group_by=["g"], config=AuditConfig(target_fmrs=(1e-6,)))
    boot = with_uncertainty(
        result,
        method="bootstrap",
        comparisons=cs,
        group_by=["g"],
        config=AuditConfig(target_fmrs=(1e-6,)),
        replicates=50,
    )
    row = boot.operating_points[0].groups[0]
    assert row.n_false_matches == 0
    expected = float(clopper_pearson(0, row.n_non_mated)[1])
    assert row.fmr_ci.ci_low == 0.0 and row.fmr_ci.ci_high == expected
    assert "not a zero" in row.fmr_ci.method
    assert row.fmr_support.sufficient is False


def _slow_bootstrap_fmr(cs, threshold, group, replicates, seed):
    """Explicit resampling: draw subjects, rebuild the comparisons with multiplicities."""
    rng = np.random.default_rng(seed)
    n_subjects = len(cs.subject_ids)
    a, b = cs.subject[:, 0], cs.subject[:, 1]
    codes = cs.attributes["g"]
    rows = ~cs.mated & (codes[:, 0] == group) & (codes[:, 1] == group)
    values = []
    for _ in range(replicates):
        drawn = np.bincount(rng.integers(0, n_subjects, n_subjects), minlength=n_subjects)
        weight = drawn[a[rows]] * drawn[b[rows]]  # copies of a x copies of b
        values.append(weight[cs.score[rows] >= threshold].sum() / weight.sum())
    return np.quantile(values, [0.025, 0.975]), float(np.std(values))


def test_fast_bootstrap_agrees_with_explicit_resampling_of_subjects() -> None:
    """Rates at a fixed threshold: the fast (Poisson) scheme against drawing subjects."""
    cs = _comparisons(seed=7, n_subjects=60)
    config = AuditConfig(
        target_fmrs=(1e-2,),
        policies=(ThresholdPolicy.parse("reference:g=a"),),
    )
    result = audit(cs, group_by=["g"], config=config)
    boot = with_uncertainty(
        result,
        method="bootstrap",
        comparisons=cs,
        group_by=["g"],
        config=config,
        replicates=600,
        seed=11,
    )
    t = result.operating_points[0].threshold
    row = boot.operating_points[0].groups[1]  # group b, read at group a's threshold
    # Group b's rate at a threshold fixed on a moves with b's subjects and with the
    # threshold; the slow reference holds the threshold fixed, so compare spreads
    # loosely: the fast interval must be at least as wide and of the same order.
    (low, high), sd = _slow_bootstrap_fmr(cs, t, 1, 600, 12)
    fast_width = row.fmr_ci.ci_high - row.fmr_ci.ci_low
    assert 0.8 * (high - low) <= fast_width <= 3.0 * (high - low)
    # FNMR at the threshold: mated comparisons reweighted by one subject weight each.
    assert row.fnmr_ci.ci_low <= row.fnmr <= row.fnmr_ci.ci_high


def test_fast_bootstrap_equals_explicit_poisson_resampling_at_a_fixed_threshold() -> None:
    """Same scheme, same draws: the fast path and an explicit recount agree exactly."""
    cs = _comparisons(seed=8)
    config = AuditConfig(target_fmrs=(1e-2,), policies=(ThresholdPolicy.parse("reference:g=a"),))
    result = audit(cs, group_by=["g"], config=config)
    replicates, seed = 80, 5
    boot = with_uncertainty(
        result,
        method="bootstrap",
        comparisons=cs,
        group_by=["g"],
        config=config,
        replicates=replicates,
        seed=seed,
    )
    # Replay the draws (Poisson(1) by inversion of one uniform each): the reference
    # group's threshold in each replicate, then b's FMR.
    rng = np.random.default_rng(seed)
    a, b = cs.subject[:, 0], cs.subject[:, 1]
    codes = cs.attributes["g"]
    in_a = ~cs.mated & (codes[:, 0] == 0) & (codes[:, 1] == 0)
    in_b = ~cs.mated & (codes[:, 0] == 1) & (codes[:, 1] == 1)
    thresholds, fmr_b = [], []
    for _ in range(replicates):
        w = np.searchsorted(POISSON_CDF, rng.random(len(cs.subject_ids)), side="right")
        wa = w[a[in_a]] * w[b[in_a]]
        ref = SortedScores(np.repeat(cs.score[in_a], wa))
        t = ref.threshold_at_fmr(1e-2)
        wb = w[a[in_b]] * w[b[in_b]]
        thresholds.append(t)
        fmr_b.append(wb[cs.score[in_b] >= t].sum() / wb.sum())
    point = boot.operating_points[0]
    assert point.threshold_ci.ci_low == pytest.approx(np.quantile(thresholds, 0.025))
    assert point.threshold_ci.ci_high == pytest.approx(np.quantile(thresholds, 0.975))
    assert point.groups[1].fmr_ci.ci_low == pytest.approx(np.quantile(fmr_b, 0.025))
    assert point.groups[1].fmr_ci.ci_high == pytest.approx(np.quantile(fmr_b, 0.975))


@pytest.mark.parametrize("ahead", [False, True])
def test_poisson_weights_are_poisson_one_by_inversion(
    ahead: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled draws are the inversion of the seed's uniforms, with Poisson(1) frequencies.

    Drawn ahead on a second thread or not, they are the same, in the same order.
    """
    from faceparity.uncertainty import bootstrap

    monkeypatch.setattr(bootstrap, "DRAW_AHEAD_SUBJECTS", 1 if ahead else 10**9)
    draws = list(poisson_weights(50_000, 4, seed=3))
    rng = np.random.default_rng(3)
    for w in draws:
        assert w.dtype == np.int32
        expected = np.searchsorted(POISSON_CDF, rng.random(50_000), side="right")
        np.testing.assert_array_equal(w, expected)
    w = np.concatenate(draws)
    freq = np.bincount(w, minlength=6)[:6] / w.size
    pmf = [math.exp(-1.0) / math.factorial(k) for k in range(6)]
    # Binomial standard errors of the frequencies at n = 200,000 are below 0.0011.
    np.testing.assert_allclose(freq, pmf, atol=0.005)
    assert abs(w.mean() - 1.0) < 0.01 and abs(w.var() - 1.0) < 0.02
    assert list(poisson_weights(0, 2, seed=0))[0].size == 0


def test_closed_form_intervals_carry_the_correlation_caveat() -> None:
    result = audit(_comparisons(), group_by=["g"], config=CONFIG)
    out = with_uncertainty(result, method="wilson")
    assert "independent" in out.uncertainty.caveat
    row = out.operating_points[0].groups[0]
    low, high = wilson(row.n_false_matches, row.n_non_mated)
    assert (row.fmr_ci.ci_low, row.fmr_ci.ci_high) == (float(low), float(high))
    assert out.operating_points[0].summary.garbe.value_ci is None


@pytest.mark.slow
def test_bootstrap_intervals_cover_the_simulator_truth() -> None:
    """A small calibration check: nominal 95% intervals, true per-group rates (see benchmarks)."""
    from faceparity.readers.embeddings import EmbeddingTable, compare_all

    covered = total = 0
    for seed in range(12):
        config = default_config(n_subjects_per_group=25, samples_per_subject=4, seed=seed)
        sim = simulate(config)
        meta = sim.metadata
        subjects, codes = np.unique(meta["subject"].to_numpy(), return_inverse=True)
        table = EmbeddingTable(
            values=sim.embeddings,
            rows=np.arange(len(meta), dtype=np.int64),
            subject=codes.astype(np.int64),
            subject_ids=tuple(str(s) for s in subjects),
            attributes={"grp": sim.group.astype(np.int32)},
            levels={"grp": tuple(g.label for g in config.groups)},
            exclusions=(),
            source="sim",
        )
        cs = compare_all(table)
        audit_config = AuditConfig(target_fmrs=(1e-2,), policies=(ThresholdPolicy.parse("global"),))
        result = audit(cs, group_by=["grp"], config=audit_config)
        boot = with_uncertainty(
            result,
            method="bootstrap",
            comparisons=cs,
            group_by=["grp"],
            config=audit_config,
            replicates=200,
            seed=seed,
        )
        t = boot.operating_points[0].threshold
        for g, row in enumerate(boot.operating_points[0].groups):
            for rate, truth in (("fmr", true_fmr(config, g, t)), ("fnmr", true_fnmr(config, g, t))):
                ci = getattr(row, f"{rate}_ci")
                if ci is None or ci.ci_low is None or ci.ci_high is None:
                    continue
                total += 1
                covered += ci.ci_low <= truth <= ci.ci_high
    assert total >= 150
    assert covered / total >= 0.88  # nominal 0.95; the full check is benchmarks/


@pytest.mark.parametrize("seed", range(6))
def test_bisection_eer_equals_the_eer_read_at_every_candidate(seed) -> None:
    from faceparity.metrics.rates import equal_error_rate_of

    rng = np.random.default_rng(seed)
    m_values = np.sort(np.round(rng.normal(0.6, 0.2, 300), 2))  # ties
    nm_values = np.sort(np.round(rng.normal(0.2, 0.2, 3000), 2))
    m = WeightedScores.build(m_values, rng.poisson(1.0, 300), 0, -math.inf)
    m = WeightedScores(m.values, m.cum, int(m.cum[-1]), -math.inf)
    nm_w = rng.poisson(1.0, 3000)
    floor = -math.inf if seed % 2 else float(nm_values[1500])
    held = nm_values >= floor
    nm = WeightedScores.build(nm_values[held], nm_w[held], int(nm_w.sum()), floor)
    # The EER by bisection against one computed at every candidate threshold.
    t = np.union1d(m.candidates(), nm.candidates())
    t = t[nm.representable(t)]
    t = np.append(t, np.nextafter(t[-1], np.inf))
    fmr = nm.count_at_or_above(t) / len(nm)
    fnmr = m.count_below(t) / len(m)
    holds, crosses = np.flatnonzero(fnmr <= fmr), np.flatnonzero(fnmr >= fmr)
    if not holds.size or not crosses.size:
        with pytest.raises(IndexError):
            equal_error_rate_of(m, nm)
        return
    i1, i2 = holds[-1], crosses[0]
    expected = (
        (fnmr[i1] + fmr[i1]) / 2
        if fnmr[i1] + fmr[i1] <= fnmr[i2] + fmr[i2]
        else (fmr[i2] + fnmr[i2]) / 2
    )
    assert equal_error_rate_of(m, nm).eer == pytest.approx(expected, abs=1e-15)


def test_no_intervals_means_none_even_for_zero_errors() -> None:
    cs = _comparisons(seed=5)
    config = AuditConfig(target_fmrs=(1e-6,))
    out = with_uncertainty(audit(cs, group_by=["g"], config=config), method="none")
    row = out.operating_points[0].groups[0]
    assert row.n_false_matches == 0 and row.fmr_ci is None
    assert row.fmr_support.sufficient is False  # support flags are always given


def test_support_of_fewer_than_30_trials_names_no_rate() -> None:
    assert support_for(None, 10).min_supported_rate is None
    assert support_for(0.5, 10).min_supported_rate is None
    assert support_for(None, 30).min_supported_rate == 1.0


def test_compiled_replicate_eer_equals_the_reference_eer() -> None:
    """The compiled EER of weighted lists is equal_error_rate_of's, number for number."""
    rng = np.random.default_rng(11)
    compared = 0
    for trial in range(300):
        n_m, n_nm = int(rng.integers(1, 40)), int(rng.integers(1, 400))
        # Coarse scores make ties; zero weights make scores held but not counted.
        m_values = np.sort(np.round(rng.normal(0.6, 0.2, n_m), 1 + trial % 3))
        nm_values = np.sort(np.round(rng.normal(0.3, 0.2, n_nm), 1 + trial % 3))
        m = WeightedScores.build(m_values, rng.poisson(1.0, n_m), 0, -math.inf)
        m = WeightedScores(m.values, m.cum, int(m.cum[-1]), -math.inf)
        if trial % 2:  # a tail that holds the top half only, with a total beyond it
            half = n_nm // 2
            w = rng.poisson(1.0, n_nm - half)
            nm = WeightedScores.build(
                nm_values[half:], w, int(w.sum()) + 3 * half, float(nm_values[half])
            )
        else:
            w = rng.poisson(1.0, n_nm)
            nm = WeightedScores.build(nm_values, w, int(w.sum()), -math.inf)
        got = weighted_eer(m, nm)
        if not len(m) or not len(nm):
            assert got is None
            continue
        try:
            want = equal_error_rate_of(m, nm)  # type: ignore[arg-type]
        except (IndexError, NotHeld):
            assert got is None
            continue
        assert got == (want.eer, want.low, want.high, want.threshold)
        compared += 1
    assert compared > 150


def test_a_large_view_totals_by_its_linear_expansion_within_the_bound() -> None:
    """Many distinct pairs of subjects: the replicate total is n + sum (w_a - 1) d_a."""
    rng = np.random.default_rng(4)
    n_subjects, n = 20_000, 400_000
    a = rng.integers(0, n_subjects, n)
    b = (a + rng.integers(1, n_subjects, n)) % n_subjects
    scores = np.sort(rng.normal(size=n))
    view = View.of(scores, a, b, 1000, n_subjects=n_subjects)
    assert view.linear and not view.pair_count.size
    degree = np.bincount(a, minlength=n_subjects) + np.bincount(b, minlength=n_subjects)
    _, c = np.unique(np.minimum(a, b) * n_subjects + np.maximum(a, b), return_counts=True)
    variance = float(np.dot(c, c))  # of the term the expansion leaves out
    assert variance <= LINEAR_TOTAL_MULTIPLICITY * n
    sd = math.sqrt(variance)
    for w in poisson_weights(n_subjects, 5, seed=1):
        exact = int(np.dot(w[a].astype(np.int64), w[b]))
        linear = n + int(np.dot(w.astype(np.int64) - 1, degree))
        got = view.weighted(w)
        assert got.total == linear
        assert abs(got.total - exact) <= 6 * sd
        held = w[a[-got.values.size :]].astype(np.int64) * w[b[-got.values.size :]]
        assert int(got.cum[-1]) == int(held.sum())


def test_a_view_of_few_subjects_counts_its_pairs_exactly() -> None:
    """Repeated pairs of few subjects: the linear expansion would be off, so pairs are counted."""
    rng = np.random.default_rng(5)
    n = 50_000
    a = rng.integers(0, 6, n)
    b = (a + rng.integers(1, 6, n)) % 6
    view = View.of(np.sort(rng.normal(size=n)), a, b, 100, n_subjects=6)
    assert not view.linear and view.pair_count.sum() == n
    for w in poisson_weights(6, 5, seed=2):
        assert view.weighted(w).total == int(np.dot(w[a].astype(np.int64), w[b]))


def test_closed_form_intervals_stay_finite_and_below_one_at_a_level_next_to_one() -> None:
    """At the largest level below 1, the upper bounds are quantiles, not 1 and infinity."""
    level = float(np.nextafter(1.0, 0.0))
    cp_low, cp_high = clopper_pearson(5, 100, level)
    w_low, w_high = wilson(5, 100, level)
    assert 0.0 < float(cp_low) < 0.05 < float(cp_high) < 1.0
    assert 0.0 < float(w_low) < 0.05 < float(w_high) < 1.0
    # The upper bound is the upper-tail quantile: I_high(k + 1, n - k) = 1 - alpha / 2.
    assert float(stats.beta.sf(float(cp_high), 6, 95)) == pytest.approx((1 - level) / 2, rel=1e-6)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_replicates_made_ahead_come_in_order_and_failures_reach_the_caller(workers: int) -> None:
    """``ahead`` makes each item on worker threads; the items and their order are those of
    a plain loop, the inputs are read on the caller's thread, and an error raised while
    making one is raised to the caller at that item."""
    import threading
    import time

    caller = threading.get_ident()
    read: list[int] = []

    def inputs() -> Iterator[int]:
        for k in range(9):
            assert threading.get_ident() == caller
            read.append(k)
            yield k

    def slow_square(k: int) -> int:
        time.sleep(0.01 * (k % 3 == 0))  # later items finish first
        return k * k

    assert list(ahead(slow_square, inputs(), workers=workers)) == [k * k for k in range(9)]
    assert read == list(range(9))

    def failing(k: int) -> int:
        if k == 2:
            raise NotHeld("made on the other thread")
        return k

    got = []
    with pytest.raises(NotHeld, match="other thread"):
        for item in ahead(failing, range(6), workers=workers):
            got.append(item)
    assert got == [0, 1]
