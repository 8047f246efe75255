"""The compiled bin-and-count loops against plain numpy (grid.bin_of and bincount)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from faceparity.accumulate import COSINE_GRID, Accumulator, ScoreGrid, accumulator, kernels


def _reference_block(block, rects, diagonal, grid, skip=()):
    """Per-cell counts of a block, by masks and bincount (no kernel)."""
    rows, cols = block.shape
    counted = np.zeros(block.shape, dtype=bool)
    cell_of = np.full(block.shape, -1)
    for r0, r1, c0, c1, cell in rects:
        counted[r0:r1, c0:c1] = True
        cell_of[r0:r1, c0:c1] = cell
    if diagonal:
        counted &= np.triu(np.ones(block.shape, dtype=bool), 1)
    counted.ravel()[np.asarray(skip, dtype=np.int64)] = False
    bins = grid.bin_of(np.ldexp(block.astype(np.float64), -grid.exponent))
    n_cells = max(r[4] for r in rects) + 1
    hist = np.zeros((n_cells, grid.n_bins), dtype=np.int64)
    np.add.at(hist, (cell_of[counted], bins[counted]), 1)
    return hist, counted


def _block(rng, rows, cols, grid):
    """Scaled float32 scores with ties, exact bin edges and values past both ends."""
    s = rng.uniform(-1.0, 1.0, size=(rows, cols)).astype(np.float32)
    s.ravel()[::7] = np.float32(0.25)  # ties, on a bin edge
    s.ravel()[3::11] = np.float32(np.nextafter(np.float32(0.25), np.float32(-1)))
    s[0, -1], s[-1, 0] = np.float32(1.0000001), np.float32(-1.0000001)
    return np.ldexp(s, grid.exponent).astype(np.float32)


@pytest.mark.parametrize("diagonal", [False, True])
@pytest.mark.parametrize("buffer", [1 << 18, 5])
def test_count_block_equals_bincount(diagonal, buffer) -> None:
    rng = np.random.default_rng(3)
    grid = COSINE_GRID
    block = _block(rng, 37, 41, grid)
    rects = np.array([[0, 10, 0, 41, 0], [10, 37, 0, 20, 1], [10, 37, 20, 41, 2]], dtype=np.int64)
    skip = np.array([5 * 41 + 30, 20 * 41 + 25, 36 * 41 + 40])
    skip_cells = np.array([0, 2, 2])
    acc = Accumulator(grid, 2, capacity=50)
    acc._flat = np.empty(buffer, dtype=np.int64)  # a small buffer takes the second pass
    acc._cells = np.empty(buffer, dtype=np.int32)
    acc.add_block(block, rects, diagonal=diagonal, skip=skip, skip_cells=skip_cells)
    expected, counted = _reference_block(block, rects, diagonal, grid, skip)
    np.testing.assert_array_equal(acc.histogram[:3], expected)
    assert acc.histogram[3:].sum() == 0
    np.testing.assert_array_equal(acc._total, expected.sum(axis=0))
    # The tail: every counted score at or above the edge, exactly, with its cell.
    acc.finalize()
    scores, cells = acc.tail()
    values = np.ldexp(block.astype(np.float64), -grid.exponent)
    above = counted & (grid.bin_of(values) >= acc.tail_bin)
    assert sorted(scores.tolist()) == sorted(values[above].tolist())
    assert (
        np.bincount(cells, minlength=3).tolist()
        == np.bincount(
            [c for r in rects for c in [r[4]] * int(above[r[0] : r[1], r[2] : r[3]].sum())],
            minlength=3,
        ).tolist()
    )
    assert 0 < scores.size <= acc.capacity + expected.max()  # ties at the edge stay together


def test_count_block_leaves_scratch_clean_for_the_next_block() -> None:
    rng = np.random.default_rng(4)
    grid = COSINE_GRID
    acc = Accumulator(grid, 1)
    rects = np.array([[0, 16, 0, 16, 0]], dtype=np.int64)
    first, second = _block(rng, 16, 16, grid), _block(rng, 16, 16, grid)
    acc.add_block(first, rects, diagonal=False)
    acc.add_block(second, rects, diagonal=False)
    assert not acc._scratch.any()
    expected = (
        _reference_block(first, rects, False, grid)[0]
        + _reference_block(second, rects, False, grid)[0]
    )
    np.testing.assert_array_equal(acc.histogram[:1], expected)


@pytest.mark.parametrize("tail_bin", [0, 40000])
def test_count_pairs_equals_bincount(tail_bin) -> None:
    rng = np.random.default_rng(5)
    grid = ScoreGrid.covering(-3.0, 5.0)
    s = rng.uniform(-4.0, 6.0, size=5000)  # past both ends: the end bins
    s[::9] = grid.edges[123]  # on an edge
    mated = rng.random(5000) < 0.1
    groups = rng.integers(0, 3, size=(5000, 2)).astype(np.int32)
    a, b = groups[:, 0], groups[:, 1]  # strided views, as chunk readers pass them
    acc = Accumulator(grid, 2)
    hist = np.zeros_like(acc.histogram)
    low = np.zeros(hist.shape, dtype=np.uint8)
    total = np.zeros(grid.n_bins, dtype=np.int64)
    tail = (np.empty(s.size), np.empty(s.size, dtype=np.int32))
    where, mates, mated_scores, mated_pairs = kernels.count_pairs(
        s, mated, a, b, acc.lut, low, hist, total, grid.exponent, grid.offset, tail_bin, tail
    )
    bins = grid.bin_of(s)
    expected = np.zeros_like(hist)
    np.add.at(expected, (acc.lut[a[~mated], b[~mated]], bins[~mated]), 1)
    np.testing.assert_array_equal(hist + low, expected)
    # The total over cells: only the bins the tail edge rule reads, from tail_bin up.
    np.testing.assert_array_equal(total[tail_bin:], expected.sum(axis=0)[tail_bin:])
    assert not total[:tail_bin].any()
    np.testing.assert_array_equal(where, np.flatnonzero(~mated & (bins >= tail_bin)))
    np.testing.assert_array_equal(tail[0][: where.size], s[where])
    np.testing.assert_array_equal(tail[1][: where.size], acc.lut[a[where], b[where]])
    np.testing.assert_array_equal(mates, np.flatnonzero(mated))
    np.testing.assert_array_equal(mated_scores, s[mated])
    np.testing.assert_array_equal(mated_pairs, a[mated] * len(acc.lut) + b[mated])


def test_count_pairs_carries_byte_counts_exactly() -> None:
    # 1000 scores in one bin: the byte count wraps three times, each carrying 256.
    grid = COSINE_GRID
    acc = Accumulator(grid, 1)
    s = np.full(1000, 0.5)
    acc.add_pairs(s, np.zeros(1000, dtype=bool), np.zeros(1000, int), np.zeros(1000, int))
    acc.add_pairs(s[:300], np.zeros(300, dtype=bool), np.zeros(300, int), np.zeros(300, int))
    assert acc._histogram[0, grid.bin_of(0.5)] == 5 * 256  # carried; the rest in bytes
    assert acc.histogram[0, grid.bin_of(0.5)] == 1300
    assert acc.histogram.sum() == 1300
    assert not acc._low.any()  # moved into the histogram when read


def test_count_pairs_names_a_bad_group_index() -> None:
    acc = Accumulator(COSINE_GRID, 2)
    with pytest.raises(ValueError, match="comparison 2: group indices \\(0, 3\\)"):
        acc.add_pairs([0.1, 0.2, 0.3], [False, False, False], [0, 1, 0], [0, 2, 3])


def test_add_pairs_equals_add_non_mated_and_add_mated() -> None:
    rng = np.random.default_rng(6)
    s = rng.uniform(-1, 1, 3000)
    m = rng.random(3000) < 0.2
    g = rng.integers(0, 4, size=(3000, 2))
    one, two = Accumulator(COSINE_GRID, 3, capacity=100), Accumulator(COSINE_GRID, 3, capacity=100)
    one.add_pairs(s, m, g[:, 0], g[:, 1])
    two.add_non_mated(s[~m], g[~m, 0], g[~m, 1])
    two.add_mated(s[m], g[m, 0], g[m, 1])
    for acc in (one, two):
        acc.finalize()
    np.testing.assert_array_equal(one.histogram, two.histogram)
    assert sorted(one.tail()[0].tolist()) == sorted(two.tail()[0].tolist())
    assert sorted(one.mated()[0].tolist()) == sorted(two.mated()[0].tolist())


def test_add_pairs_refuses_non_finite_scores() -> None:
    acc = Accumulator(COSINE_GRID, 1)
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="scores must be finite"):
            acc.add_pairs([0.1, bad], [False, False], [0, 0], [0, 0])
    assert acc.histogram.sum() == 0


def test_bin_of_puts_infinities_in_the_end_bins() -> None:
    grid = ScoreGrid(4, 0, 16)
    assert grid.bin_of([-np.inf, np.inf]).tolist() == [0, 15]


def _pairs(seed: int, n: int):
    rng = np.random.default_rng(seed)
    s = np.round(rng.normal(0.0, 0.3, n), 3)  # ties
    m = rng.random(n) < 0.05
    g = rng.integers(0, 4, size=(n, 2))  # group 3 of 3: missing
    subjects = rng.integers(0, 500, size=(n, 2)).astype(np.int32)
    return s, m, g, subjects


def _rows(*columns: np.ndarray) -> list:
    """Rows of the columns (arrays of one row each), sorted."""
    return sorted(zip(*(map(repr, c.tolist()) for c in columns), strict=True))


def _kept(acc: Accumulator):
    """Everything an accumulator holds, in an order that does not depend on how it was fed."""
    acc.finalize()
    scores, cells = acc.tail()
    tail = _rows(scores, cells, acc.tail_subjects())
    m_scores, m_pairs = acc.mated()
    mated = _rows(m_scores, m_pairs, acc.mated_subjects())
    return acc.histogram.copy(), acc.tail_bin, tail, mated


@pytest.mark.parametrize("chunk", [20000, 777, 50])
def test_add_pairs_in_chunks_and_slices_keeps_the_same(chunk, monkeypatch) -> None:
    # Against add_non_mated + add_mated + add_tail by hand (bins and edge by numpy).
    s, m, g, subjects = _pairs(8, 20000)
    grid, capacity = COSINE_GRID, 300  # many prunes
    one = Accumulator(grid, 3, capacity=capacity)
    monkeypatch.setattr(accumulator, "_PAIRS_SLICE", 333)  # slices inside each call too
    for start in range(0, s.size, chunk):
        part = slice(start, start + chunk)
        one.add_pairs(s[part], m[part], g[part, 0], g[part, 1], subjects[part])
    hist, tail_bin, tail, mated = _kept(one)
    expected = np.zeros_like(hist)
    cells = one.lut[g[:, 0], g[:, 1]]
    np.add.at(expected, (cells[~m], grid.bin_of(s[~m])), 1)
    np.testing.assert_array_equal(hist, expected)
    above = np.cumsum(expected.sum(axis=0)[::-1])[::-1]
    assert tail_bin == int(np.searchsorted(-above, -capacity, side="left"))
    held = ~m & (grid.bin_of(s) >= tail_bin)
    assert tail == _rows(s[held], cells[held], subjects[held])
    assert mated == _rows(s[m], g[m, 0] * 4 + g[m, 1], subjects[m, 0])


def test_add_pairs_without_subjects_holds_minus_ones() -> None:
    s, m, g, _ = _pairs(9, 5000)
    acc = Accumulator(COSINE_GRID, 3, capacity=100)
    acc.add_pairs(s, m, g[:, 0], g[:, 1])
    acc.finalize()
    assert acc.tail_subjects().shape == (acc.tail()[0].size, 2)
    assert (acc.tail_subjects() == -1).all() and (acc.mated_subjects() == -1).all()
    assert acc.mated_subjects().shape == (int(m.sum()),)


def test_tail_views_stay_as_they_were_while_more_is_added() -> None:
    s, m, g, _ = _pairs(10, 20000)
    acc = Accumulator(COSINE_GRID, 3, capacity=200)
    acc.add_pairs(s[:5000], m[:5000], g[:5000, 0], g[:5000, 1])
    scores, cells = acc.tail()
    before = scores.copy(), cells.copy()
    acc.add_pairs(s[5000:], m[5000:], g[5000:, 0], g[5000:, 1])
    acc.finalize()
    np.testing.assert_array_equal(scores, before[0])
    np.testing.assert_array_equal(cells, before[1])


def test_add_pairs_names_a_bad_group_index_of_a_mated_comparison() -> None:
    acc = Accumulator(COSINE_GRID, 2)
    with pytest.raises(ValueError, match="comparison 1: group indices \\(-1, 0\\)"):
        acc.add_pairs([0.1, 0.9], [False, True], [0, -1], [0, 0])


def test_pickled_accumulator_keeps_the_byte_counts_and_the_tail() -> None:
    s, m, g, subjects = _pairs(11, 3000)
    acc = Accumulator(COSINE_GRID, 3, capacity=100)
    acc.add_pairs(s, m, g[:, 0], g[:, 1], subjects)
    again = pickle.loads(pickle.dumps(acc))
    again.add_pairs(s, m, g[:, 0], g[:, 1], subjects)  # counting goes on after unpickling
    acc.add_pairs(s, m, g[:, 0], g[:, 1], subjects)
    for got, want in zip(_kept(again), _kept(acc), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("seed", range(5))
def test_tail_edge_equals_the_cumulative_sum(seed) -> None:
    rng = np.random.default_rng(seed)
    total = rng.integers(0, 5, 300) * (rng.random(300) < 0.3)
    for tail_bin in (0, 7, 150, 299, 300):
        for capacity in (0, 1, 10, 50, 10_000):
            above = np.append(np.cumsum(total[::-1])[::-1], 0)
            expected = tail_bin + int(np.argmax(above[tail_bin:] <= capacity))
            assert kernels.tail_edge(total, tail_bin, capacity) == expected


_CACHE_PROBE = """
import json
import numpy as np
from faceparity.accumulate import COSINE_GRID, Accumulator, kernels

acc = Accumulator(COSINE_GRID, 1, capacity=10)
block = np.ldexp(np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8), COSINE_GRID.exponent)
acc.add_block(block.astype(np.float32), np.array([[0, 8, 0, 8, 0]]), diagonal=False)
loops = kernels._compiled()
print(json.dumps({
    name: sum(loops[name].stats.cache_misses.values())
    for name in ("count_block", "tail_edge", "collect_block")
}))
"""


def test_compiled_loops_load_from_the_disk_cache_in_a_second_process(tmp_path):
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    runs = [
        subprocess.run(
            [sys.executable, "-c", _CACHE_PROBE],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        for _ in range(2)
    ]
    first, second = (json.loads(r.stdout.strip().splitlines()[-1]) for r in runs)
    assert first["count_block"] == 1  # compiled once, into the cache
    assert second == {"count_block": 0, "tail_edge": 0, "collect_block": 0}, second


@pytest.mark.parametrize("block_bytes", [1 << 20, 64])
@pytest.mark.parametrize("n_slots", [3, 9, 17])
def test_count_degrees_equals_a_plain_loop(block_bytes, n_slots, monkeypatch) -> None:
    """Counted block of subjects by block (one block, or a block a subject or two, so
    that every side is moved by the counting sort), the degrees and the membership bits
    are those of one plain loop over the rows: every slot up to 17 (three bytes of
    bits), the last one a missing group, mated rows flagged but not counted."""
    monkeypatch.setattr(kernels, "DEGREE_BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(n_slots)
    n_subjects, n = 300, 5_000
    subjects = rng.integers(0, n_subjects, size=(n, 2))
    same = rng.random(n) < 0.2
    subjects[same, 1] = subjects[same, 0]
    slots = rng.integers(0, n_slots, size=(n, 2))
    lut = np.zeros((n_slots, n_slots), dtype=np.int32)
    for i in range(n_slots):
        for j in range(i, n_slots):
            lut[i, j] = lut[j, i] = i * n_slots + j - i * (i + 1) // 2
    n_cells = int(lut.max()) + 1
    expected = np.zeros((n_subjects, n_cells), dtype=np.int64)
    flags = np.zeros((n_slots, n_subjects), dtype=bool)
    for (a, b), (ga, gb), mated in zip(subjects, slots, same, strict=True):
        flags[ga, a] = flags[gb, b] = True
        if not mated:
            expected[a, lut[ga, gb]] += 1
            expected[b, lut[ga, gb]] += 1
    degree = np.zeros((n_subjects, n_cells), dtype=np.int64)
    member = kernels.new_members(n_slots, n_subjects)
    for part in np.array_split(np.arange(n), 3):  # added to in place, chunk by chunk
        kernels.count_degrees(subjects[part], slots[part], same[part], lut, degree, member)
    np.testing.assert_array_equal(degree, expected)
    bits = np.unpackbits(member, axis=1, bitorder="little")[:, :n_slots].T.astype(bool)
    np.testing.assert_array_equal(bits, flags)
    np.testing.assert_array_equal(kernels.members_per_slot(member, n_slots), flags.sum(axis=1))
    only = kernels.new_members(n_slots, n_subjects)
    kernels.count_degrees(subjects, slots, same, lut, None, only)
    np.testing.assert_array_equal(only, member)


def test_count_degrees_refuses_what_it_cannot_count_into() -> None:
    """A degree table that is not C-contiguous would be counted into a copy: refused, as
    are subject codes or slots beyond the tables."""
    subjects, slots = np.array([[0, 1]]), np.array([[0, 0]])
    same, lut = np.array([False]), np.zeros((1, 1), dtype=np.int32)
    member = kernels.new_members(1, 2)
    with pytest.raises(ValueError, match="C-contiguous"):
        kernels.count_degrees(subjects, slots, same, lut, np.zeros((2, 2), np.int64).T, member)
    with pytest.raises(ValueError, match="subject codes"):
        kernels.count_degrees(subjects + 1, slots, same, lut, np.zeros((2, 1), np.int64), member)
    with pytest.raises(ValueError, match="slots"):
        kernels.count_degrees(subjects, slots + 8, same, lut, np.zeros((2, 1), np.int64), member)


def test_loops_compile_uncached_where_no_cache_folder_is_writable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """numba refuses ``cache=True`` where no cache folder is writable (a read-only install
    without a home folder): the loop is compiled without the cache, not an error."""
    import numba

    from faceparity._jit import jit

    calls: list[dict[str, object]] = []
    njit = numba.njit

    def refusing(*func: object, **options: object):  # type: ignore[no-untyped-def]
        if func:  # numba's own uses, as a bare decorator
            return njit(*func, **options)
        calls.append(options)
        if options.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return njit(**options)

    monkeypatch.setattr(numba, "njit", refusing)

    @jit()
    def total(values):  # type: ignore[no-untyped-def]
        out = 0
        for v in values:
            out += v
        return out

    assert total(np.arange(5)) == 10
    assert calls == [{"nogil": True, "cache": True}, {"nogil": True}]


def test_numba_itself_refuses_to_cache_where_no_locator_is_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the fallback above stands on, with numba's own code: ``njit(cache=True)``
    raises RuntimeError when it is applied (not at the first call) where no cache
    locator is found, and :func:`faceparity._jit.jit` then compiles without the cache."""
    import numba
    from numba.core import caching

    from faceparity._jit import jit

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # its older name
    monkeypatch.setattr(impl, "_locator_classes", [])
    monkeypatch.setattr(numba.core.config, "CACHE_LOCATOR_CLASSES", "", raising=False)

    def total(values):  # type: ignore[no-untyped-def]
        out = 0
        for v in values:
            out += v
        return out

    with pytest.raises(RuntimeError, match="no locator available"):
        numba.njit(cache=True)(total)
    compiled = jit()(total)
    assert compiled(np.arange(5)) == 10
    assert compiled._cache.__class__.__name__ == "NullCache"
