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
from faceparity.metrics import shifts
from faceparity.metrics.distribution import HistogramScores
from faceparity.metrics.rates import SortedScores
from faceparity.metrics.shifts import (
    _ks_points,
    count_below,
    density_counts,
    ks_distance,
    quantiles,
)


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


@pytest.mark.parametrize("seed", range(6))
def test_ks_of_histograms_on_one_grid_reads_the_bins_as_the_general_path_does(seed) -> None:
    """Two views of one accumulator (one grid, one tail edge): the distance read off the
    bins' counts equals the general path's (every point of both searched), to the bit,
    with ties, scores on bin edges, empty bins, a tail at the grid's first edge or none,
    tails of like sizes or one many times the other's."""
    rng = np.random.default_rng(seed)
    grid = ScoreGrid.covering(-1.0, 1.0, n_bins=128)
    tail_bin = [0, 1, 40, int(grid.bin_of(0.5)), grid.n_bins - 1, int(grid.bin_of(0.9))][seed]
    a = np.round(np.clip(rng.normal(0.0, 0.3, 3_000), -1, 0.999), 2)
    b = np.clip(rng.normal(0.1, 0.2, 500 if seed % 2 else 150), -1, 0.999)
    b[:50] = grid.edges[60]  # on an edge
    b[50:100] = np.sort(a)[-50:]  # scores of both samples
    ha, hb = _histogram(a, grid, tail_bin), _histogram(b, grid, tail_bin)
    fast, general = ks_distance(ha, hb), _ks_points(ha, hb)
    assert fast is not None
    assert (fast.value, fast.high) == (general.value, general.high)
    if tail_bin == 0:  # every score exact: the exact distance
        assert fast.value == pytest.approx(scipy_ks(a, b), abs=1e-12)


@pytest.mark.parametrize("many", [False, True])
def test_counts_below_tail_points_equal_the_searches(many) -> None:
    """At sorted points in the tail, the counts below (each tail score searched among many
    points, or each point among the tail) and a sorted sample's own first-of-ties equal
    plain searches, ties across and within both included."""
    rng = np.random.default_rng(4)
    grid = ScoreGrid.covering(0.0, 1.0, n_bins=64)
    tail_bin = int(grid.bin_of(0.5))
    values = np.round(rng.uniform(0, 0.999, 400), 2)
    hist = _histogram(values, grid, tail_bin)
    x = np.sort(np.round(rng.uniform(0.5, 0.999, 5_000 if many else 20), 2))
    assert (8 * hist.tail.size < x.size) is many
    np.testing.assert_array_equal(shifts._below_in_tail(hist, x), count_below(hist, x))
    np.testing.assert_array_equal(shifts._first_of_runs(x), np.searchsorted(x, x, side="left"))
