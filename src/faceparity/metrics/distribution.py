"""Read-only views of accumulated non-mated scores that answer the audit's questions.

:class:`HistogramScores` behaves like :class:`~faceparity.metrics.rates.SortedScores`
(count at or above a threshold, threshold for a target FMR, candidate thresholds) for
scores held as a histogram plus an exact tail. Counts are exact at every threshold at
or above the tail edge and at every bin edge below it; thresholds set on it are exact
above the tail edge and the most permissive bin edge below it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from faceparity.accumulate.grid import ScoreGrid
from faceparity.metrics.rates import max_false_matches

__all__ = ["HistogramScores"]


@lru_cache(maxsize=8)
def _edges(grid: ScoreGrid) -> npt.NDArray[np.float64]:
    """The grid's edges, made once per grid (an audit makes dozens of views on one grid)."""
    edges = grid.edges
    edges.setflags(write=False)
    return edges


class HistogramScores:
    """Non-mated similarity scores of some cells: a histogram and an exact tail.

    Parameters
    ----------
    grid : ScoreGrid
        The bins.
    histogram : ndarray of int64, shape (n_bins,)
        Counts per bin (every score, the tail included).
    tail : ndarray of float64
        Every score at or above ``grid.edges[tail_bin]``, sorted ascending.
    tail_bin : int
        First bin held exactly.

    """

    def __init__(
        self,
        grid: ScoreGrid,
        histogram: npt.NDArray[np.int64],
        tail: npt.NDArray[np.float64],
        tail_bin: int,
    ) -> None:
        self.grid = grid
        self.tail = tail
        self.tail_bin = tail_bin
        self.edges = _edges(grid)
        self.tail_edge = float(self.edges[tail_bin])
        # above[b]: scores in bins >= b; above[n_bins] = 0. Ascending as -above, for searches.
        self.above = np.zeros(histogram.size + 1, dtype=np.int64)
        self.above[:-1] = np.cumsum(histogram[::-1])[::-1]
        self._minus_above = -self.above
        self.n = int(self.above[0])

    def __len__(self) -> int:
        return self.n

    def count_at_or_above(self, t: float | npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Exact number of scores ``>= t``, for t above the tail edge or on a bin edge.

        Raises ValueError for a threshold below the tail edge that is not a bin edge,
        whose count the histogram cannot give exactly.
        """
        t_arr = np.asarray(t, dtype=np.float64)
        exact_tail = self.tail.size - np.searchsorted(self.tail, t_arr, side="left")
        b = self.grid.bin_of(t_arr)
        on_edge = self.edges[b] == t_arr
        below_grid = t_arr <= self.edges[0]
        from_bins = np.where(below_grid, self.n, self.above[np.where(on_edge, b, b + 1)])
        inside = (t_arr < self.tail_edge) & ~on_edge & ~below_grid
        if np.any(inside):
            raise ValueError(
                "a threshold below the tail edge must be a bin edge for an exact count; "
                f"got {t_arr[inside].ravel()[0]!r}"
            )
        return np.where(t_arr >= self.tail_edge, exact_tail, from_bins)

    def threshold_at_fmr(self, target_fmr: float) -> float:
        """Most permissive threshold with FMR <= target (exact in the tail, else a bin edge)."""
        if not self.n:
            raise ValueError("no non-mated comparisons: a threshold cannot be set")
        k = max_false_matches(self.n, target_fmr)
        if k < self.tail.size:
            return float(np.nextafter(self.tail[self.tail.size - 1 - k], np.inf))
        # The (k+1)-th highest score lies below the tail edge: the most permissive bin
        # edge at which at most k scores lie at or above.
        b = int(np.searchsorted(self._minus_above, -k, side="left"))
        return float(self.edges[min(b, self.tail_bin)])

    def representable(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Where counts are exact: at or above the tail edge, or on a bin edge."""
        t = np.asarray(t, dtype=np.float64)
        return np.asarray(
            (t >= self.tail_edge) | (self.edges[self.grid.bin_of(t)] == t) | (t <= self.edges[0]),
            dtype=bool,
        )

    def candidates(self) -> npt.NDArray[np.float64]:
        """Thresholds at which counts change and are exact: edges below the tail, tail scores."""
        # Ascending already (the tail is sorted and lies at or above its edge): only
        # repeats to drop, in one pass.
        joined = np.concatenate([self.edges[: self.tail_bin + 1], self.tail])
        first = np.ones(joined.size, dtype=bool)
        np.not_equal(joined[1:], joined[:-1], out=first[1:])
        return joined[first]
