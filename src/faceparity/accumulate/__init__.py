"""Accumulation of comparison scores: histograms, exact tails and exact mated scores per cell.

The streaming engine reduces each block of comparisons into an :class:`Accumulator`
at once, so no full score matrix or score list ever exists; accumulators merge
exactly, so blocks can be spread over threads, processes and machines.

Resolution: non-mated scores are counted on a grid of power-of-two bins (for cosine
similarity, 65,537 bins of width 2**-15 ~ 3.05e-5 over [-1, 1]); the highest
non-mated scores (``capacity`` of them, 1 million by default) and every mated score
are kept exactly. Counts, and so every rate, are exact at every reported threshold. A
threshold set in the exact tail equals the pair-list engine's; one set below the tail
edge (a target FMR above about capacity / non-mated comparisons) is the most
permissive bin edge whose FMR does not exceed the target, within one bin width of
the exact threshold.
"""

from faceparity.accumulate.accumulator import DEFAULT_TAIL_CAPACITY, Accumulator
from faceparity.accumulate.chunks import accumulate_chunks
from faceparity.accumulate.grid import COSINE_GRID, ScoreGrid

__all__ = [
    "COSINE_GRID",
    "DEFAULT_TAIL_CAPACITY",
    "Accumulator",
    "ScoreGrid",
    "accumulate_chunks",
]
