"""Score quantiles, the Kolmogorov-Smirnov distance and densities, against scipy."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from faceparity.accumulate.grid import ScoreGrid
from faceparity.metrics.distribution import HistogramScores
from faceparity.metrics.rates import SortedScores
from faceparity.metrics.shifts import count_below, density_counts, ks_distance, quantiles


def scipy_ks(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """scipy's two-sample KS statistic (its p-value's warnings on tiny samples silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ks_2samp(a, b).statistic)


PROBS = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0]


def _histogram(values: npt.NDArray[np.float64], grid: ScoreGrid, tail_bin: int) -> HistogramScores:
    """The streaming engine's view of ``values``: counts per bin and the scores of the tail."""
    counts = np.bincount(grid.bin_of(values), minlength=grid.n_bins).astype(np.int64)
    tail = np.sort(values[values >= grid.edges[tail_bin]])
    return HistogramScores(grid, counts, tail, tail_bin)


def test_quantiles_hand_worked() -> None:
    # n = 5: h = 4p; p = 0.3 lies 0.2 of the way from the 2nd to the 3rd score.
    s = SortedScores([0.0, 1.0, 3.0, 7.0, 10.0])
    assert quantiles(s, [0.0, 0.3, 0.5, 1.0]).tolist() == pytest.approx([0.0, 1.4, 3.0, 10.0])
    # ties and a single score
    assert quantiles(SortedScores([2.0, 2.0, 2.0]), [0.1, 0.9]).tolist() == [2.0, 2.0]
    assert quantiles(SortedScores([5.0]), PROBS).tolist() == [5.0] * len(PROBS)
    assert np.isnan(quantiles(SortedScores([]), [0.5])).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=60))
def test_quantiles_match_scipy(values: list[float]) -> None:
    x = np.asarray(values)
    ours = quantiles(SortedScores(x), PROBS)
    # alphap = betap = 1 is Hyndman-Fan definition 7.
    theirs = stats.mstats.mquantiles(x, prob=PROBS, alphap=1, betap=1)
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours, np.quantile(x, PROBS), rtol=0, atol=1e-12)


def test_ks_hand_worked() -> None:
    a = SortedScores([1.0, 2.0, 3.0])
    b = SortedScores([2.5, 3.5])
    # F_a - F_b is largest between 2 and 2.5: 2/3 - 0.
    d = ks_distance(a, b)
    assert d is not None
    assert d.value == pytest.approx(2 / 3)
    assert d.high == d.value
    assert ks_distance(a, a) == ks_distance(SortedScores([1.0, 2.0, 3.0]), a)
    assert ks_distance(a, SortedScores([])) is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-20, 20), min_size=1, max_size=40),
    st.lists(st.integers(-20, 20), min_size=1, max_size=40),
)
def test_ks_matches_scipy(xs: list[int], ys: list[int]) -> None:
    # Integers divided by 8 give ties, which the distance must count right.
    a, b = np.asarray(xs) / 8.0, np.asarray(ys) / 8.0
    d = ks_distance(SortedScores(a), SortedScores(b))
    assert d is not None
    assert d.value == pytest.approx(scipy_ks(a, b), abs=1e-12)


def test_histogram_quantiles_within_half_a_bin_and_ks_bracketed() -> None:
    rng = np.random.default_rng(7)
    grid = ScoreGrid.covering(-1.0, 1.0, n_bins=256)
    pooled = np.clip(rng.normal(0.0, 0.25, 20_000), -1, 0.999)
    group = pooled[:3_000] + 0.05
    group = np.clip(group, -1, 0.999)
    pooled = np.concatenate([group, pooled[3_000:]])
    tail_bin = int(grid.bin_of(0.6))
    h_pooled, h_group = _histogram(pooled, grid, tail_bin), _histogram(group, grid, tail_bin)
    e_pooled, e_group = SortedScores(pooled), SortedScores(group)
    for h, e in ((h_pooled, e_pooled), (h_group, e_group)):
        gap = np.abs(quantiles(h, PROBS) - quantiles(e, PROBS))
        assert gap.max() <= grid.width / 2 + 1e-12
        # The top quantile lies in the exact tail: no error at all.
        assert quantiles(h, [1.0])[0] == quantiles(e, [1.0])[0]
    exact = ks_distance(e_group, e_pooled)
    binned = ks_distance(h_group, h_pooled)
    assert exact is not None and binned is not None
    assert binned.value <= exact.value + 1e-12 <= binned.high + 2e-12
    assert exact.value == pytest.approx(scipy_ks(group, pooled))
    assert binned.high - binned.value < 0.05


def test_count_below_and_density_agree_between_exact_and_histogram() -> None:
    rng = np.random.default_rng(3)
    grid = ScoreGrid.covering(0.0, 1.0, n_bins=64)
    x = rng.uniform(0, 1, 500) * 0.999
    h, e = _histogram(x, grid, int(grid.bin_of(0.8))), SortedScores(x)
    edges = grid.edges[::8]
    np.testing.assert_array_equal(count_below(h, edges), count_below(e, edges))
    counts = density_counts(h, edges)
    np.testing.assert_array_equal(counts, density_counts(e, edges))
    assert counts.sum() == 500
    np.testing.assert_array_equal(counts, np.histogram(x, bins=edges)[0])
