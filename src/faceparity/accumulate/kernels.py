"""Compiled bin-and-count loops: one pass over the scores, no intermediate arrays.

Counting a score means three steps that numpy can only do as separate passes over
memory (the bin, the cell, the ``bincount``), each writing an array as large as the
input. These loops fuse them, so a block of the all-vs-all matrix is read once and
nothing is written but the histogram. They are compiled with numba on first use
(about a second; cached on disk afterwards) and release the GIL, so the engine's
worker threads count blocks side by side.

The bin of a score follows :meth:`ScoreGrid.bin_of` exactly: ``floor(s * 2**e) - offset``,
clipped to the grid; the product by a power of two and the floor are exact.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError

__all__ = ["collect_block", "count_block", "count_pairs", "tail_edge"]

_kernels: dict[str, Any] = {}


def _compiled() -> dict[str, Any]:
    """The compiled loops, built on first use (numba is imported lazily)."""
    if _kernels:
        return _kernels
    try:
        from numba import njit
    except ImportError as err:  # pragma: no cover - numba is a dependency
        raise UsageError(
            "counting scores needs numba: pip install numba (a dependency of faceparity)"
        ) from err

    @njit(nogil=True, cache=True, inline="always")
    def count_row(row, bins, where, counts, offset, top, tail_bin):  # type: ignore[no-untyped-def]
        # The bins first, in a loop the compiler vectorises (indices from 0: no
        # negative-index checks), then the counts, noting without a branch where the
        # scores in the tail are. Returns how many are.
        for j in range(row.size):
            bins[j] = min(max(np.int32(math.floor(row[j])) - offset, 0), top)
        n = 0
        for j in range(row.size):
            b = bins[j]
            counts[b] += 1
            where[n] = j
            n += b >= tail_bin
        return n

    @njit(nogil=True, cache=True)
    def count_block(  # type: ignore[no-untyped-def]
        block, rects, diagonal, scratch, histogram, total, offset, tail_bin, flat, cells
    ):
        # Counts go to a small per-block histogram (in cache), folded into the cells'
        # histograms and their total at the end.
        top = scratch.shape[1] - 1
        width = block.shape[1]
        bins = np.empty(width, dtype=np.int32)
        where = np.empty(width + 1, dtype=np.int64)
        off = np.int32(offset)
        above = 0
        for k in range(rects.shape[0]):
            r0, r1, c0, c1, cell = rects[k, 0], rects[k, 1], rects[k, 2], rects[k, 3], rects[k, 4]
            counts = scratch[rects[k, 5]]
            for i in range(r0, r1):
                start = max(c0, i + 1) if diagonal else c0
                if start >= c1:
                    continue
                n = count_row(block[i, start:c1], bins, where, counts, off, top, tail_bin)
                for m in range(n):
                    if above < flat.size:
                        flat[above] = i * width + start + where[m]
                        cells[above] = cell
                    above += 1
        for k in range(rects.shape[0]):
            cell, counts = rects[k, 4], scratch[rects[k, 5]]
            for b in range(top + 1):
                c = counts[b]
                if c:
                    histogram[cell, b] += c
                    total[b] += c
                    counts[b] = 0
        return above

    @njit(nogil=True, cache=True)
    def collect_block(block, rects, diagonal, offset, tail_bin, flat, cells):  # type: ignore[no-untyped-def]
        top = flat.size
        edge = np.float64(offset + tail_bin) if tail_bin > 0 else -np.inf
        width = block.shape[1]
        n = 0
        for k in range(rects.shape[0]):
            r0, r1, c0, c1, cell = rects[k, 0], rects[k, 1], rects[k, 2], rects[k, 3], rects[k, 4]
            for i in range(r0, r1):
                row = block[i]
                for j in range(max(c0, i + 1) if diagonal else c0, c1):
                    value = np.float64(row[j])
                    if value >= edge and n < top:
                        flat[n], cells[n] = i * width + j, cell
                        n += 1
        return n

    @njit(nogil=True, cache=True)
    def count_pairs(  # type: ignore[no-untyped-def]
        scores, mated, group_a, group_b, lut, low, hist, total, scale, offset, tail_bin, kept, out
    ):
        # Unsigned indices throughout: a negative group index becomes a huge one (caught
        # by the one bound check), and the compiler emits no negative-index fix-ups. The
        # histograms are read as flat arrays (C order), the cell table likewise. ``kept``:
        # where tail scores and their cells go, and mated scores and their group pairs;
        # ``out`` rows: the positions of both.
        tail_scores, tail_cells, mated_scores, mated_pairs = kept
        where, mates = out[0], out[1]
        n_bins = np.uint64(hist.shape[1])
        counts, carried = low.reshape(-1), hist.reshape(-1)
        cell_of = lut.reshape(-1)
        slots = np.uint64(lut.shape[0])
        first, last = np.float64(offset), np.float64(offset + hist.shape[1] - 1)
        edge = np.uint64(tail_bin)
        above = 0
        n_mated = 0
        for k in range(scores.size):
            a, b = np.uint64(group_a[k]), np.uint64(group_b[k])
            if max(a, b) >= slots:
                return -(k + 1), n_mated
            if mated[k]:
                mated_scores[n_mated] = scores[k]
                mated_pairs[n_mated] = a * slots + b
                mates[n_mated] = k
                n_mated += 1
                continue
            i = np.uint64(math.floor(min(max(scores[k] * scale, first), last)) - offset)
            cell = cell_of[a * slots + b]
            x = np.uint64(cell) * n_bins + i
            c = np.int64(counts[x]) + 1
            counts[x] = c  # a byte: 256 wraps to 0, carried
            if c == 256:
                carried[x] += 256
            if i >= edge:
                total[i] += 1
                tail_scores[above] = scores[k]
                tail_cells[above] = cell
                where[above] = k
                above += 1
        return above, n_mated

    @njit(nogil=True, cache=True)
    def tail_edge(total, tail_bin, capacity):  # type: ignore[no-untyped-def]
        # Down from the top bin until more than ``capacity`` scores lie at or above: by
        # blocks of 16 bins (each summed in a loop the compiler vectorises) while they
        # fit, then bin by bin.
        above = 0
        b = total.size
        while b - 16 >= tail_bin:
            block = 0
            for j in range(b - 16, b):
                block += total[j]
            if above + block > capacity:
                break
            above += block
            b -= 16
        while b > tail_bin:
            b -= 1
            above += total[b]
            if above > capacity:
                return b + 1
        return tail_bin

    _kernels.update(
        count_block=count_block,
        collect_block=collect_block,
        count_pairs=count_pairs,
        tail_edge=tail_edge,
    )
    return _kernels


def count_block(
    block: npt.NDArray[np.float32],
    rects: npt.NDArray[np.int64],
    diagonal: bool,
    scratch: npt.NDArray[np.int64],
    histogram: npt.NDArray[np.int64],
    total: npt.NDArray[np.int64],
    offset: int,
    tail_bin: int,
    flat: npt.NDArray[np.int64],
    cells: npt.NDArray[np.int32],
) -> int:
    """Count a block of scaled scores (``2**e s``, float32) into per-cell histograms.

    Parameters
    ----------
    block : ndarray of float32, shape (rows, cols)
        Scores times ``2**exponent`` of the grid (below 2**31 in magnitude).
    rects : ndarray of int64, shape (k, 6)
        ``(r0, r1, c0, c1, cell, slot)``: the rectangles of the block, the cell of each
        and its row in ``scratch`` (one slot per distinct cell).
    diagonal : bool
        A block on the diagonal of the matrix: only entries ``j > i`` are counted.
    scratch : ndarray of int64, shape (slots, n_bins)
        Zeros; used while counting and left as zeros.
    histogram, total : ndarray of int64
        Per-cell counts, shape (n_cells, n_bins), and their sum over cells; updated in place.
    offset, tail_bin : int
        The grid's offset; the bin from which scores are collected.
    flat, cells : ndarray
        Filled with the flat index ``i * cols + j`` and the cell of the scores in
        ``tail_bin`` or above, as far as they have room.

    Returns
    -------
    int
        How many counted scores fall in ``tail_bin`` or above (all were collected when
        this is at most ``flat.size``).

    """
    return int(
        _compiled()["count_block"](
            block,
            rects,
            bool(diagonal),
            scratch,
            histogram,
            total,
            int(offset),
            int(tail_bin),
            flat,
            cells,
        )
    )


def collect_block(
    block: npt.NDArray[np.float32],
    rects: npt.NDArray[np.int64],
    diagonal: bool,
    offset: int,
    tail_bin: int,
    size: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """Flat indices and cells of the counted entries in ``tail_bin`` or above (at most ``size``).

    ``size`` is the count :func:`count_block` returned for a ``tail_bin`` at or below
    this one.
    """
    flat = np.empty(size, dtype=np.int64)
    cells = np.empty(size, dtype=np.int32)
    n = _compiled()["collect_block"](
        block, rects, bool(diagonal), int(offset), int(tail_bin), flat, cells
    )
    return flat[:n], cells[:n]


def count_pairs(
    scores: npt.NDArray[np.float64],
    mated: npt.NDArray[np.bool_],
    group_a: npt.NDArray[np.integer],
    group_b: npt.NDArray[np.integer],
    lut: npt.NDArray[np.int32],
    low: npt.NDArray[np.uint8],
    histogram: npt.NDArray[np.int64],
    total: npt.NDArray[np.int64],
    exponent: int,
    offset: int,
    tail_bin: int,
    tail: tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]],
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int32]
]:
    """Count the non-mated listed comparisons into the histogram of their cell ``lut[a, b]``.

    Counts go first to one byte a bin (``low``), which carries 256 into ``histogram``
    each time it wraps: the count of a bin is ``histogram + low``, exact. The bytes are
    an eighth of the histogram's size, so the part in use stays in the processor's
    caches (between chunks, whatever produced the chunk evicts much of them).

    Parameters
    ----------
    scores, mated : ndarray
        Finite similarity scores (float64) and their mated flags; mated comparisons
        are not counted.
    group_a, group_b : ndarray of int
        The group of each side (any integer type, strided views allowed).
    lut : ndarray of int32, shape (slots, slots)
        The cell of each ordered pair of groups.
    low, histogram : ndarray of uint8 and of int64, shape (n_cells, n_bins), C order
        Per-cell counts modulo 256, and the rest; updated in place.
    total : ndarray of int64, shape (n_bins,)
        Counts over all cells; updated in place in bins ``tail_bin`` and above only
        (the bins the tail edge rule reads).
    exponent, offset : int
        The grid's.
    tail_bin : int
        The first bin of the tail (at least 0).
    tail : (ndarray of float64, ndarray of int32)
        Filled from the start with the counted scores in ``tail_bin`` or above and
        their cells, in order; as long as ``scores`` (or longer).

    Returns
    -------
    where, mates : ndarray of int64
        The positions of the counted scores in ``tail_bin`` or above (as many as were
        written to ``tail``), and of the mated comparisons; both ascending.
    mated_scores : ndarray of float64
        The scores of the mated comparisons.
    mated_pairs : ndarray of int32
        Their ordered group pairs, ``a * len(lut) + b``.

    Raises
    ------
    ValueError
        For a group index outside ``lut``, naming the position. The comparisons before
        it stay counted.

    """
    out = np.empty((2, scores.size), dtype=np.int64)
    if min(tail[0].size, tail[1].size) < scores.size:
        raise ValueError("the tail arrays need room for every score")
    mated_scores = np.empty(scores.size, dtype=np.float64)
    mated_pairs = np.empty(scores.size, dtype=np.int32)
    above, n_mated = _compiled()["count_pairs"](
        scores,
        mated,
        group_a,
        group_b,
        lut,
        low,
        histogram,
        total,
        math.ldexp(1.0, exponent),
        int(offset),
        int(tail_bin),
        (*tail, mated_scores, mated_pairs),
        out,
    )
    if above < 0:
        k = -above - 1
        raise ValueError(
            f"comparison {k}: group indices ({group_a[k]}, {group_b[k]}) outside 0..{len(lut) - 1}"
        )
    return out[0, :above], out[1, :n_mated], mated_scores[:n_mated], mated_pairs[:n_mated]


def tail_edge(total: npt.NDArray[np.int64], tail_bin: int, capacity: int) -> int:
    """Lowest bin from ``tail_bin`` up at or above which ``total`` counts at most ``capacity``.

    Bins below ``tail_bin`` are not read. Returns ``len(total)`` when even the top bin
    holds more than ``capacity``.

    Examples
    --------
    >>> import numpy as np
    >>> tail_edge(np.array([5, 0, 3, 2, 0]), 0, 5)  # 3 + 2 from bin 1 up
    1
    >>> tail_edge(np.array([5, 0, 3, 2, 0]), 3, 5)
    3
    >>> tail_edge(np.array([5, 0, 3, 9, 0]), 0, 5)
    4

    """
    return int(_compiled()["tail_edge"](total, int(tail_bin), int(capacity)))
