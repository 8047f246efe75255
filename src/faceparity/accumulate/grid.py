"""The score grid of the streaming engine: bins whose edges are exact in floating point.

Bin edges are multiples of a power of two, ``edge_i = (offset + i) * 2**-exponent``,
so the bin of a score is ``floor(score * 2**exponent) - offset``: the product by a
power of two and the floor are exact, and so ``score >= edge_i`` holds exactly when
the score's bin is ``i`` or above. Counts read at a bin edge are therefore exact, not
approximations; only thresholds between edges need the exact tail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["COSINE_GRID", "ScoreGrid"]


@dataclass(frozen=True)
class ScoreGrid:
    """Uniform bins of width ``2**-exponent`` starting at ``offset * 2**-exponent``.

    Parameters
    ----------
    exponent : int
        Bin width is ``2**-exponent``.
    offset : int
        The first edge is ``offset * 2**-exponent``.
    n_bins : int
        Number of bins; scores below the first edge count in bin 0 and scores at or
        above the last edge in the last bin (the grid is chosen to cover the scores).

    """

    exponent: int
    offset: int
    n_bins: int

    @property
    def width(self) -> float:
        """Width of a bin."""
        return math.ldexp(1.0, -self.exponent)

    @property
    def edges(self) -> npt.NDArray[np.float64]:
        """The ``n_bins + 1`` bin edges, exact in float64."""
        return np.ldexp(
            np.arange(self.offset, self.offset + self.n_bins + 1, dtype=np.float64), -self.exponent
        )

    @property
    def low(self) -> float:
        """The first edge."""
        return math.ldexp(float(self.offset), -self.exponent)

    @property
    def high(self) -> float:
        """The last edge."""
        return math.ldexp(float(self.offset + self.n_bins), -self.exponent)

    def bin_of(self, scores: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Bin index of each score (exact: bin ``i`` holds ``edge_i <= s < edge_{i+1}``)."""
        s = np.asarray(scores)
        if s.dtype not in (np.float32, np.float64):
            s = s.astype(np.float64)
        scaled = np.floor(np.ldexp(s, self.exponent))
        # Clipped before the cast, so that +-inf fall in the end bins (as the kernels do).
        scaled = np.clip(scaled, self.offset, self.offset + self.n_bins - 1)
        return np.asarray(scaled.astype(np.int64) - self.offset, dtype=np.int64)

    @classmethod
    def covering(cls, low: float, high: float, *, n_bins: int = 65536) -> ScoreGrid:
        """The finest grid of about ``n_bins`` power-of-two bins covering ``[low, high]``."""
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ValueError(f"a score grid needs finite low <= high, got {low}, {high}")
        span = max(high - low, 1e-300)
        exponent = math.floor(math.log2(n_bins / span))
        offset = math.floor(math.ldexp(low, exponent))
        top = math.floor(math.ldexp(high, exponent)) + 1
        return cls(exponent=exponent, offset=offset, n_bins=top - offset)


COSINE_GRID = ScoreGrid(exponent=15, offset=-(2**15), n_bins=2**16 + 1)
"""Cosine similarities in [-1, 1]: 65,537 bins of width 2**-15 (about 3.05e-5); the last
bin holds exactly 1.0."""
