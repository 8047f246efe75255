"""Accumulators from pair lists that arrive in chunks (arrays in memory, generators)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from faceparity.accumulate.accumulator import DEFAULT_TAIL_CAPACITY, Accumulator
from faceparity.accumulate.grid import COSINE_GRID, ScoreGrid

__all__ = ["accumulate_chunks"]


def accumulate_chunks(
    chunks: Iterable[tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike]],
    *,
    n_groups: int,
    grid: ScoreGrid = COSINE_GRID,
    capacity: int = DEFAULT_TAIL_CAPACITY,
) -> Accumulator:
    """One accumulator from chunks of ``(similarity, mated, groups (m, 2))``.

    Group index ``n_groups`` stands for a missing group. Scores outside the grid are
    counted in its end bins, so the grid should cover them (``ScoreGrid.covering``);
    only one chunk is held at a time.

    Examples
    --------
    >>> acc = accumulate_chunks([([0.9, 0.1], [True, False], [[0, 0], [0, 1]])], n_groups=2)
    >>> int(acc.histogram.sum()), len(acc.mated()[0])
    (1, 1)

    """
    acc = Accumulator(grid, n_groups, capacity=capacity)
    for score, mated, groups in chunks:
        g = np.asarray(groups)
        acc.add_pairs(score, mated, g[:, 0], g[:, 1])
    return acc
