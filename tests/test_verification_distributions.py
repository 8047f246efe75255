"""Score distributions of an audit against numpy and scipy on the raw scores, exact and streamed."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from faceparity import AuditConfig, ComparisonSet, ScoreKind, audit, group_comparisons
from faceparity.accumulate import COSINE_GRID, Accumulator
from faceparity.errors import InputError
from faceparity.model.population import Population
from faceparity.results import AuditResult
from faceparity.verification.audit import audit_accumulated
from faceparity.verification.distributions import PROBABILITIES
from test_metrics_shifts import scipy_ks


def _comparisons(seed: int, n: int = 4000, *, kind: ScoreKind = ScoreKind.SIMILARITY):
    """Subjects of three groups; mated and non-mated comparisons within a group only."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 90, n)
    mated = rng.random(n) < 0.3
    b = np.where(mated, a, (a + 3 * rng.integers(1, 29, n)) % 90)  # same group: a % 3
    score = rng.normal(0.1 + 0.03 * (a % 3), 0.12, n) + 0.5 * mated
    score = np.clip(np.round(score, 3), -0.99, 0.99)  # ties
    eth = np.array(["A", "B", "C"])
    cs = ComparisonSet.from_arrays(
        score=score if kind is ScoreKind.SIMILARITY else -score,
        mated=mated,
        score_kind=kind,
        subject_a=a,
        subject_b=b,
        attributes_a={"eth": eth[a % 3]},
        attributes_b={"eth": eth[b % 3]},
    )
    return cs, score, mated, eth[a % 3]


def test_exact_distributions_match_numpy_and_scipy() -> None:
    cs, score, mated, group = _comparisons(0)
    result = audit(cs, group_by=["eth"], config=AuditConfig(target_fmrs=(1e-2,)))
    dist = result.score_distributions
    assert dist is not None and dist.probabilities == list(PROBABILITIES)
    assert [g.label for g in dist.groups] == [g.label for g in result.groups]
    pooled = {True: score[mated], False: score[~mated]}
    for g in dist.groups:
        for kind, is_mated in (("mated", True), ("non_mated", False)):
            d = getattr(g, kind)
            mine = score[(mated == is_mated) & (group == g.attributes["eth"])]
            assert d.n == mine.size
            np.testing.assert_allclose(d.quantiles, np.quantile(mine, PROBABILITIES), atol=1e-12)
            shift = np.median(mine) - np.median(pooled[is_mated])
            assert d.median_shift == pytest.approx(shift, abs=1e-12)
            assert d.ks == pytest.approx(scipy_ks(mine, pooled[is_mated]))
            assert d.ks_high is None
            assert sum(d.density) == mine.size
            edges = np.asarray(dist.edges)
            assert edges[0] <= mine.min() and mine.max() <= edges[-1]
    assert dist.overall.mated.ks == 0.0 and dist.overall.mated.median_shift == 0.0
    assert dist.histogram_bin_width is None


def test_distance_scores_mirror_the_similarity_distributions() -> None:
    config = AuditConfig(target_fmrs=(1e-2,))
    sim = audit(_comparisons(1)[0], group_by=["eth"], config=config).score_distributions
    dis = audit(
        _comparisons(1, kind=ScoreKind.DISTANCE)[0], group_by=["eth"], config=config
    ).score_distributions
    assert sim is not None and dis is not None
    assert dis.edges == pytest.approx([-e for e in reversed(sim.edges)])
    for gs, gd in zip([sim.overall, *sim.groups], [dis.overall, *dis.groups], strict=True):
        for kind in ("mated", "non_mated"):
            s, d = getattr(gs, kind), getattr(gd, kind)
            assert d.quantiles == pytest.approx([-q for q in reversed(s.quantiles)], abs=1e-12)
            assert d.median_shift == pytest.approx(-s.median_shift, abs=1e-12)
            assert d.ks == pytest.approx(s.ks)
            assert d.density == list(reversed(s.density))


def _accumulated(cs: ComparisonSet, config: AuditConfig, capacity: int) -> AuditResult:
    grouping = group_comparisons(cs, ["eth"])
    acc = Accumulator(COSINE_GRID, len(grouping.groups), capacity=capacity)
    m = cs.mated
    acc.add_non_mated(cs.score[~m], grouping.codes[~m, 0], grouping.codes[~m, 1])
    acc.add_mated(cs.score[m], grouping.codes[m, 0], grouping.codes[m, 1])
    exact = audit(cs, group_by=["eth"], config=config)
    population = Population(
        n_subjects=[g.n_subjects for g in exact.groups],
        n_samples=[g.n_samples for g in exact.groups],
        n_subjects_total=exact.overall.n_subjects,
        n_samples_total=exact.overall.n_samples,
    )
    return audit_accumulated(
        acc, groups=grouping.groups, group_by=["eth"], population=population, config=config
    )


def test_streamed_distributions_agree_with_exact_within_the_bin_width() -> None:
    cs, *_ = _comparisons(2)
    config = AuditConfig(target_fmrs=(1e-2,))
    exact = audit(cs, group_by=["eth"], config=config).score_distributions
    streamed = _accumulated(cs, config, capacity=40).score_distributions
    assert exact is not None and streamed is not None
    width = streamed.histogram_bin_width
    assert width == COSINE_GRID.width
    for ge, gs in zip(
        [exact.overall, *exact.groups], [streamed.overall, *streamed.groups], strict=True
    ):
        assert gs.mated.quantiles == ge.mated.quantiles  # mated scores are kept exactly
        assert gs.mated.ks == ge.mated.ks
        gap = np.abs(np.subtract(gs.non_mated.quantiles, ge.non_mated.quantiles))
        assert gap.max() <= width / 2 + 1e-12
        assert gs.non_mated.n == ge.non_mated.n
        assert sum(gs.non_mated.density) == ge.non_mated.n
        high = gs.non_mated.ks_high if gs.non_mated.ks_high is not None else gs.non_mated.ks
        assert gs.non_mated.ks <= ge.non_mated.ks + 1e-12 <= high + 2e-12
    # With every score in the exact tail, the streamed distributions are the exact ones.
    full = _accumulated(cs, config, capacity=10**6).score_distributions
    assert full is not None
    for ge, gf in zip([exact.overall, *exact.groups], [full.overall, *full.groups], strict=True):
        assert gf.non_mated.quantiles == pytest.approx(ge.non_mated.quantiles, abs=1e-12)
        assert gf.non_mated.ks == pytest.approx(ge.non_mated.ks)


def test_results_round_trip_and_version_handling() -> None:
    cs, *_ = _comparisons(3, n=600)
    result = audit(cs, group_by=["eth"], config=AuditConfig(target_fmrs=(1e-2,)))
    data = result.to_dict()
    assert data["schema_version"] == "1.1"
    assert AuditResult.from_dict(data) == result
    old = copy.deepcopy(data)
    old["schema_version"] = "1.0"
    with pytest.raises(InputError, match="score_distributions: key added in schema_version"):
        AuditResult.checked(old)
    del old["score_distributions"]
    assert AuditResult.checked(old).score_distributions is None
    bad = copy.deepcopy(data)
    bad["score_distributions"]["groups"][1]["mated"]["quantiles"].pop()
    with pytest.raises(InputError, match=r"groups\[1\]\.mated\.quantiles: expected 7 items"):
        AuditResult.checked(bad)
    bad = copy.deepcopy(data)
    bad["score_distributions"]["overall"]["non_mated"]["ks"] = 1.5
    with pytest.raises(InputError, match="ks: expected a fraction in"):
        AuditResult.checked(bad)


@pytest.mark.parametrize(
    "scores",
    [
        [-1.7e308, 1.7e308, 0.0, 1.0],  # a span beyond the largest float
        [5e-324, 0.0, 0.0, 5e-324],  # a span of one float
        [1.79e308, 1.79e308, 0.0, 0.0],
        [-1.79e308] * 4,  # one score
    ],
)
def test_extreme_scores_give_finite_ascending_distributions(scores: list[float]) -> None:
    cs = ComparisonSet.from_arrays(
        score=scores,
        mated=[True, False, False, True],
        score_kind=ScoreKind.SIMILARITY,
        subject_a=[1, 1, 2, 3],
        subject_b=[1, 2, 3, 3],
        attributes_a={"g": ["a", "a", "b", "b"]},
        attributes_b={"g": ["a", "b", "b", "b"]},
    )
    result = audit(cs, group_by=["g"], config=AuditConfig(target_fmrs=(0.5,)))
    dist = result.score_distributions
    assert dist is not None
    assert all(np.isfinite(dist.edges)) and np.all(np.diff(dist.edges) > 0)
    mated = dist.overall.mated
    assert all(q is not None and min(scores) <= q <= max(scores) for q in mated.quantiles)
    assert sum(mated.density) == 2
    assert AuditResult.from_dict(result.to_dict()) == result
