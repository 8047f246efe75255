from __future__ import annotations

import math

import numpy as np
import pytest

from faceparity.scoring import all_pairs_cosine, normalize_rows, pair_offsets
from faceparity.scoring.cosine import MAX_ROWS, cosine_scores, pair_indices, pair_sides


def brute_force(x: np.ndarray) -> tuple[list[int], list[int], list[float]]:
    """The obviously correct reference: a double loop over pairs, in exact math."""
    ii, jj, ss = [], [], []
    rows = [[float(v) for v in row] for row in x]
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            dot = math.fsum(a * b for a, b in zip(rows[i], rows[j], strict=True))
            ni = math.sqrt(math.fsum(a * a for a in rows[i]))
            nj = math.sqrt(math.fsum(b * b for b in rows[j]))
            ii.append(i)
            jj.append(j)
            ss.append(dot / (ni * nj))
    return ii, jj, ss


@pytest.mark.parametrize("n", [2, 3, 7, 23])
@pytest.mark.parametrize("block_size", [1, 2, 5, 2048])
def test_matches_brute_force(n: int, block_size: int) -> None:
    x = np.random.default_rng(n).normal(size=(n, 9)) * 3.0
    i, j, s = all_pairs_cosine(x, block_size=block_size)
    ri, rj, rs = brute_force(x)
    assert len(s) == n * (n - 1) // 2
    assert i.tolist() == ri
    assert j.tolist() == rj
    np.testing.assert_allclose(s, rs, rtol=0, atol=1e-12)
    assert i.dtype == np.int32 and j.dtype == np.int32 and s.dtype == np.float64


def test_count_and_order_without_self_comparisons() -> None:
    n = 101
    x = np.random.default_rng(0).normal(size=(n, 4))
    i, j, s = all_pairs_cosine(x, block_size=16)
    assert len(s) == n * (n - 1) // 2
    assert np.all(i < j)
    keys = i * n + j
    assert np.all(np.diff(keys) > 0)  # strictly increasing: every pair once, ordered by (i, j)


def test_hand_worked() -> None:
    i, j, s = all_pairs_cosine([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [-3.0, 0.0]])
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [
        (0, 1),
        (0, 2),
        (0, 3),
        (1, 2),
        (1, 3),
        (2, 3),
    ]
    r = 1 / math.sqrt(2)
    np.testing.assert_allclose(s, [r, 0.0, -1.0, r, -r, 0.0], atol=1e-15)


def test_scale_invariant_and_safe_at_extreme_magnitudes() -> None:
    x = np.random.default_rng(1).normal(size=(6, 5))
    _, _, s = all_pairs_cosine(x)
    scaled = x * np.array([1e-300, 1e300, 1.0, 7.0, 1e-200, 1e200])[:, None]
    _, _, s2 = all_pairs_cosine(scaled)
    np.testing.assert_allclose(s2, s, atol=1e-14)
    assert np.all(np.abs(s2) <= 1.0)


def test_fewer_than_two_rows_give_no_pairs() -> None:
    for n in (0, 1):
        i, j, s = all_pairs_cosine(np.ones((n, 3)))
        assert len(i) == len(j) == len(s) == 0


def test_pair_offsets() -> None:
    n = 6
    offsets = pair_offsets(n)
    i, j, _ = all_pairs_cosine(np.random.default_rng(2).normal(size=(n, 3)))
    np.testing.assert_array_equal(offsets[i] + j - i - 1, np.arange(len(i)))


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.ones(3), "2-D"),
        (np.array([[1.0, np.nan], [1.0, 2.0]]), "finite"),
        (np.array([[1.0, 2.0], [0.0, 0.0]]), "row 1 has zero norm"),
        (np.ones((2, 0)), "at least one dimension"),
    ],
)
def test_bad_input(x: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        all_pairs_cosine(x)


def test_bad_block_size() -> None:
    with pytest.raises(ValueError, match="block_size"):
        all_pairs_cosine(np.ones((2, 2)), block_size=0)


def test_normalize_rows_unit_norm() -> None:
    x = normalize_rows(np.random.default_rng(3).normal(size=(50, 8)))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-15)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 40])
def test_pair_indices_and_sides_match_a_double_loop(n: int) -> None:
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    i, j = pair_indices(n)
    assert i.dtype == np.int32 and j.dtype == np.int32
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == pairs
    values = np.arange(n, dtype=np.int64) * 10 - 7
    sides = pair_sides(values)
    assert sides.dtype == np.int64 and sides.shape == (len(pairs), 2) and sides.flags.c_contiguous
    assert sides.tolist() == [[values[a], values[b]] for a, b in pairs]
    codes = (np.arange(n) % 3).astype(np.int32)
    np.testing.assert_array_equal(pair_sides(codes), np.stack([codes[i], codes[j]], axis=1))
    assert pair_sides(codes).dtype == np.int32


def test_pair_sides_needs_one_dimension() -> None:
    with pytest.raises(ValueError, match="1-D"):
        pair_sides(np.ones((2, 2)))


@pytest.mark.parametrize("n", [-1, MAX_ROWS + 1])
def test_pair_indices_beyond_int32(n: int) -> None:
    with pytest.raises(ValueError, match="n must be between 0 and 2147483648"):
        pair_indices(n)


@pytest.mark.parametrize("block_size", [1, 3, 2048])
def test_cosine_scores_are_the_scores_of_all_pairs_cosine(block_size: int) -> None:
    x = np.random.default_rng(4).normal(size=(17, 5))
    _, _, s = all_pairs_cosine(x, block_size=block_size)
    np.testing.assert_array_equal(cosine_scores(x, block_size=block_size), s)
