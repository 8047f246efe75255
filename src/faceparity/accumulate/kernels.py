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

__all__ = [
    "collect_block",
    "count_block",
    "count_degrees",
    "count_pairs",
    "members_per_slot",
    "new_members",
    "tail_edge",
    "warm",
]

_kernels: dict[str, Any] = {}


def _compiled() -> dict[str, Any]:
    """The compiled loops of :mod:`faceparity.accumulate._loops` (numba imported on first use)."""
    if _kernels:
        return _kernels
    try:
        from faceparity.accumulate import _loops
    except ImportError as err:  # pragma: no cover - numba is a dependency
        raise UsageError(
            "counting scores needs numba: pip install numba (a dependency of faceparity)"
        ) from err
    _kernels.update(
        count_block=_loops.count_block,
        collect_block=_loops.collect_block,
        count_pairs=_loops.count_pairs,
        count_degrees=_loops.count_degrees,
        mark_members=_loops.mark_members,
        tail_edge=_loops.tail_edge,
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


def new_members(n_slots: int, n_subjects: int) -> npt.NDArray[np.uint8]:
    """Empty membership flags for :func:`count_degrees`: a bit a slot, a row a subject."""
    return np.zeros((n_subjects, max((n_slots + 7) // 8, 1)), dtype=np.uint8)


def members_per_slot(member: npt.NDArray[np.uint8], n_slots: int) -> npt.NDArray[np.int64]:
    """How many subjects have the bit of each slot set in ``member`` (see :func:`new_members`)."""
    counts = np.zeros(n_slots, dtype=np.int64)
    for first in range(0, member.shape[0], 1 << 20):  # unpacked a million subjects at a time
        bits = np.unpackbits(member[first : first + (1 << 20)], axis=1, bitorder="little")
        counts += bits[:, :n_slots].sum(axis=0, dtype=np.int64)
    return counts


def count_degrees(
    subjects: npt.NDArray[np.int64],
    slots: npt.NDArray[np.int64],
    same: npt.NDArray[np.bool_],
    lut: npt.NDArray[np.int32],
    degree: npt.NDArray[np.int64] | None,
    member: npt.NDArray[np.uint8],
) -> None:
    """Count each subject's non-mated comparisons per cell, and flag its groups, in place.

    The comparisons are sorted by block of subjects first (a counting sort), so that the
    counts of a block are added while its part of ``degree`` is in cache: a table of a
    million subjects' degrees is far larger than a cache, and added to in random order
    it costs a miss a side.

    Parameters
    ----------
    subjects, slots : ndarray of int64, shape (n, 2)
        The subject code and the group slot of each side of each comparison.
    same : ndarray of bool, shape (n,)
        Whether the comparison is mated (not counted in ``degree``).
    lut : ndarray of int32, shape (slots, slots)
        The cell of each ordered pair of group slots.
    degree : ndarray of int64, shape (n_subjects, n_cells), C-contiguous, or None
        Non-mated comparisons of each subject in each cell; both sides counted. None:
        only ``member`` is set.
    member : ndarray of uint8, shape (n_subjects, bytes)
        Bit ``g`` (byte ``g // 8``, bit ``g % 8``) of a subject's row is set where it
        appears on a side in group slot ``g`` (:func:`new_members`,
        :func:`members_per_slot`).

    Examples
    --------
    >>> import numpy as np
    >>> degree, member = np.zeros((3, 1), np.int64), new_members(1, 3)
    >>> count_degrees(np.array([[0, 1], [0, 0], [2, 1]]), np.zeros((3, 2), np.int64),
    ...               np.array([False, True, False]), np.zeros((1, 1), np.int32), degree, member)
    >>> degree.ravel().tolist(), members_per_slot(member, 1).tolist()
    ([1, 2, 1], [3])

    """
    n_subjects, n_slots = member.shape[0], 8 * member.shape[1]
    if member.dtype != np.uint8 or member.ndim != 2:
        raise ValueError("member: expected the uint8 table of new_members")
    if degree is not None and degree.shape[0] != n_subjects:
        raise ValueError("degree and member: expected one row a subject")
    for codes, bound, what in ((subjects, n_subjects, "subject codes"), (slots, n_slots, "slots")):
        if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= bound):
            raise ValueError(f"{what}: expected 0..{bound - 1}")
    subjects, slots = np.ascontiguousarray(subjects), np.ascontiguousarray(slots)
    if degree is None:
        _compiled()["mark_members"](subjects, slots, member)
        return
    if not degree.flags.c_contiguous:
        raise ValueError("degree: expected a C-contiguous array (it is counted into in place)")
    shift = degree_block_shift(degree.shape[1])
    bucket = np.empty(((max(n_subjects, 1) - 1) >> shift) + 2, dtype=np.int64)
    order = np.empty(2 * subjects.shape[0], dtype=np.int64)
    _compiled()["count_degrees"](subjects, slots, same, lut, degree, member, shift, bucket, order)


DEGREE_BLOCK_BYTES = 1 << 20
"""About how many bytes of the degree table :func:`count_degrees` adds to at a time."""


def degree_block_shift(n_cells: int) -> int:
    """``log2`` of the subjects of a block: their rows of ``degree`` take ``DEGREE_BLOCK_BYTES``."""
    per_subject = max(n_cells, 1) * 8
    return max(int(DEGREE_BLOCK_BYTES // per_subject).bit_length() - 1, 0)


def warm() -> None:
    """Load the streaming engine's compiled loops now, by calling each on a tiny block.

    A process's first call of a compiled loop sets numba up and loads the loop from its
    cache (a good part of a second); the audit does it on a second thread while it reads
    its input and computes the first products (:mod:`faceparity.workflow.preload`). The
    arguments have the engine's types, so no other specialisation is compiled.
    """
    block = np.zeros((2, 2), dtype=np.float32)
    rects = np.array([[0, 2, 0, 2, 0, 0]], dtype=np.int64)
    histogram = np.zeros((1, 4), dtype=np.int64)
    total = np.zeros(4, dtype=np.int64)
    flat, cells = np.empty(4, dtype=np.int64), np.empty(4, dtype=np.int32)
    count_block(block, rects, True, np.zeros_like(histogram), histogram, total, 0, 0, flat, cells)
    collect_block(block, rects, True, 0, 0, 4)
    tail_edge(total, 0, 1)
