"""The streaming accumulator gives the pair-list audit's results (exactly, or on its grid)."""

from __future__ import annotations

import numpy as np
import pytest

from faceparity import (
    AuditConfig,
    ComparisonSet,
    FMRScope,
    MatedGroupRule,
    ScoreKind,
    ThresholdPolicy,
    audit,
    group_comparisons,
)
from faceparity.accumulate import COSINE_GRID, Accumulator, ScoreGrid
from faceparity.metrics import HistogramScores
from faceparity.metrics.rates import SortedScores
from faceparity.model.population import Population
from faceparity.verification.audit import audit_accumulated

POLICIES = tuple(ThresholdPolicy.parse(p) for p in ("global", "per-group", "reference:sex=F,eth=B"))


def _comparisons(seed: int, n: int = 6000, ties: bool = False) -> ComparisonSet:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 150, n), rng.integers(0, 150, n)
    mated = a == b
    score = np.clip(rng.normal(0.1, 0.15, n) + 0.5 * mated + 0.02 * (a % 3 == 0), -1, 1)
    if ties:
        score = np.round(score, 2)
    sex, eth = np.array(["F", "M"]), np.array(["B", "W", "A"])
    sex_b = sex[b % 2].astype(object)
    sex_b[rng.random(n) < 0.02] = None  # some missing attributes
    return ComparisonSet.from_arrays(
        score=score,
        mated=mated,
        score_kind=ScoreKind.SIMILARITY,
        subject_a=a,
        subject_b=b,
        attributes_a={"sex": sex[a % 2], "eth": eth[a % 3]},
        attributes_b={"sex": list(sex_b), "eth": eth[(b + (rng.random(n) < 0.01)) % 3]},
    )


def _accumulate(cs: ComparisonSet, capacity: int, chunks: int = 3) -> tuple[Accumulator, list]:
    grouping = group_comparisons(cs, ["sex", "eth"])
    n_groups = len(grouping.groups)
    codes = np.where(grouping.codes < 0, n_groups, grouping.codes)
    parts = []
    for rows in np.array_split(np.arange(len(cs)), chunks):  # merged parts, as workers would
        acc = Accumulator(COSINE_GRID, n_groups, capacity=capacity)
        m = cs.mated[rows]
        acc.add_non_mated(cs.score[rows][~m], codes[rows][~m, 0], codes[rows][~m, 1])
        acc.add_mated(cs.score[rows][m], codes[rows][m, 0], codes[rows][m, 1])
        parts.append(acc)
    total = parts[0]
    for part in parts[1:]:
        total.merge(part)
    return total, grouping


def _streamed(cs: ComparisonSet, config: AuditConfig, capacity: int):
    acc, grouping = _accumulate(cs, capacity)
    exact = audit(cs, group_by=["sex", "eth"], config=config)
    population = Population(
        n_subjects=[g.n_subjects for g in exact.groups],
        n_samples=[g.n_samples for g in exact.groups],
        n_subjects_total=exact.overall.n_subjects,
        n_samples_total=exact.overall.n_samples,
    )
    streamed = audit_accumulated(
        acc, groups=grouping.groups, group_by=["sex", "eth"], population=population, config=config
    )
    return exact, streamed


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("scope", list(FMRScope))
@pytest.mark.parametrize("rule", list(MatedGroupRule))
def test_streaming_equals_exact_when_the_tail_holds_everything(seed, ties, scope, rule) -> None:
    config = AuditConfig(
        target_fmrs=(1e-2, 1e-3), policies=POLICIES, fmr_scope=scope, mated_rule=rule
    )
    exact, streamed = _streamed(_comparisons(seed, ties=ties), config, capacity=10**7)
    assert streamed.operating_points == exact.operating_points
    assert streamed.groups == exact.groups
    assert streamed.exclusions == exact.exclusions


def test_small_tail_gives_exact_counts_at_grid_thresholds() -> None:
    cs = _comparisons(3)
    config = AuditConfig(target_fmrs=(0.2, 1e-2, 1e-3), policies=POLICIES)
    exact, streamed = _streamed(cs, config, capacity=50)
    sim = cs.similarity
    grouping = group_comparisons(cs, ["sex", "eth"])
    for e_point, s_point in zip(exact.operating_points, streamed.operating_points, strict=True):
        for e_group, s_group, g in zip(e_point.groups, s_point.groups, range(99), strict=False):
            # Counts at the streamed threshold, recomputed from the list of scores.
            t = s_group.threshold
            if t is None:
                continue
            nm = ~cs.mated & (grouping.codes[:, 0] == g) & (grouping.codes[:, 1] == g)
            assert s_group.n_false_matches == int((sim[nm] >= t).sum())
            if s_point.policy == "per-group":
                assert s_group.fmr is not None and s_group.fmr <= s_point.target_fmr
            # Within one bin of the exact threshold, never less strict than needed.
            assert abs(t - e_group.threshold) <= COSINE_GRID.width
            assert s_group.n_non_mated == e_group.n_non_mated
            assert s_group.n_mated == e_group.n_mated
        if s_point.overall is not None and s_point.policy == "global":
            assert s_point.overall.fmr <= s_point.target_fmr
            assert s_point.overall.n_false_matches == int(
                (sim[~cs.mated] >= s_point.threshold).sum()
            )


def test_merge_order_does_not_change_the_result() -> None:
    cs = _comparisons(4)
    a, grouping = _accumulate(cs, capacity=40, chunks=2)
    b, _ = _accumulate(cs, capacity=40, chunks=5)
    a.finalize()
    b.finalize()
    assert a.tail_bin == b.tail_bin
    np.testing.assert_array_equal(np.sort(a.tail()[0]), np.sort(b.tail()[0]))
    np.testing.assert_array_equal(a.histogram, b.histogram)


def test_save_and_load_round_trip(tmp_path) -> None:
    acc, _ = _accumulate(_comparisons(5), capacity=100)
    path = tmp_path / "acc.npz"
    acc.save(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    again = Accumulator.load(path)
    np.testing.assert_array_equal(again.histogram, acc.histogram)
    np.testing.assert_array_equal(again.tail()[0], acc.tail()[0])
    np.testing.assert_array_equal(again.mated()[0], acc.mated()[0])
    assert again.tail_bin == acc.tail_bin


def test_histogram_scores_agree_with_sorted_scores_where_exact() -> None:
    rng = np.random.default_rng(6)
    scores = np.round(rng.normal(0, 0.2, 5000), 4)
    grid = ScoreGrid.covering(scores.min(), scores.max(), n_bins=256)
    hist = np.bincount(grid.bin_of(scores), minlength=grid.n_bins)
    tail_bin = grid.n_bins - 20
    tail = np.sort(scores[grid.bin_of(scores) >= tail_bin])
    view, exact = HistogramScores(grid, hist, tail, tail_bin), SortedScores(scores)
    edges = grid.edges
    t = np.concatenate([edges, tail, np.nextafter(tail, 1)])
    t = t[view.representable(t)]
    np.testing.assert_array_equal(view.count_at_or_above(t), exact.count_at_or_above(t))
    with pytest.raises(ValueError, match="bin edge"):
        view.count_at_or_above((edges[10] + edges[11]) / 2)
    for target in (1e-3, 1e-2, 0.3):
        threshold = view.threshold_at_fmr(target)
        assert exact.count_at_or_above(threshold) <= target * len(exact)


def test_grid_binning_is_exact_at_edges() -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate(
        [
            rng.uniform(-1, 1, 10**5),
            COSINE_GRID.edges[:-1],
            np.nextafter(COSINE_GRID.edges[1:-1], -2),
            [-1e-300, 1e-300, -0.0],
        ]
    )
    b = COSINE_GRID.bin_of(x)
    e = COSINE_GRID.edges
    assert np.all(e[b] <= x) and np.all((x < e[b + 1]) | (b == COSINE_GRID.n_bins - 1))
    assert np.array_equal(
        COSINE_GRID.bin_of(x.astype(np.float32)),
        COSINE_GRID.bin_of(x.astype(np.float32).astype(np.float64)),
    )
