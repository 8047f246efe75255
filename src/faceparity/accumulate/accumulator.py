"""Accumulation of comparison scores per cell without keeping every score.

A *cell* is an unordered pair of groups (a <= b); a reserved last group stands for
"a group-by attribute is missing". For each cell the accumulator keeps:

* the non-mated scores as a histogram on a :class:`~faceparity.accumulate.grid.ScoreGrid`;
* the exact non-mated scores above a shared *tail edge* (the highest scores, which set
  the thresholds for small target FMRs), at most ``capacity`` of them in the end;
* every mated score exactly, with its ordered pair of groups (mated comparisons grow
  with the number of samples, not with its square, so keeping them is cheap and lets
  FNMR be exact at any threshold and any mated-group rule).

Merging two accumulators adds histograms and concatenates the exact scores, so the
work can be split over threads, processes or machines and merged in any order. The
tail edge follows a deterministic rule (the lowest bin edge above which at most
``capacity`` non-mated scores lie, over all cells), applied when the accumulator is
finalised, so the result does not depend on how the work was split; while streaming,
each part only ever raises its own edge to a value at or below that final one.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from faceparity.accumulate import kernels
from faceparity.accumulate.grid import ScoreGrid

__all__ = ["DEFAULT_TAIL_CAPACITY", "Accumulator"]

DEFAULT_TAIL_CAPACITY = 1_000_000
"""Exact non-mated scores kept (8 MB as float64; up to twice that while streaming). With
T non-mated comparisons, thresholds are exact for target FMRs up to about capacity / T
(2e-4 at T = 5e9) and on the bin grid above that."""


_BLOCK_TAIL = 1 << 18
"""Tail scores a block may add without a second pass over it (early blocks, when the
tail edge is still low, take the second pass)."""

_PAIRS_SLICE = 1 << 18
"""Listed comparisons :meth:`Accumulator.add_pairs` counts in one compiled pass (more are
taken slice by slice: the tail edge rises between slices, and work space stays small)."""


def _group_index(groups: npt.ArrayLike) -> npt.NDArray[np.integer]:
    """Group indices as a 1-D integer array, without a copy where they already are one."""
    g = np.asarray(groups)
    if g.dtype.kind not in "iu":
        g = g.astype(np.int64)
    return g.ravel() if g.ndim != 1 else g


_Codes: TypeAlias = "npt.NDArray[np.int32] | int"
"""Subject codes of some exact scores, an array; or, where none were given, how many
scores (all -1, made only when asked for)."""


def _subject_codes(subjects: npt.ArrayLike | None, n: int, width: int) -> npt.NDArray[np.int32]:
    """Subject codes of ``n`` exact scores, shape (n, width); -1 where not given."""
    if subjects is None:
        return np.full((n, width), -1, dtype=np.int32)
    return np.asarray(subjects, dtype=np.int32).reshape(n, width)


def _codes_part(subjects: npt.ArrayLike | None, n: int, width: int) -> _Codes:
    """Subject codes of ``n`` exact scores, shape (n, width), or ``n`` where not given."""
    return n if subjects is None else _subject_codes(subjects, n, width)


def _joined_codes(parts: list[_Codes], width: int) -> _Codes:
    """The parts as one (a count while no part names subjects)."""
    if all(isinstance(p, int) for p in parts):
        return sum(p for p in parts if isinstance(p, int))
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([_codes_array(p, width) for p in parts])


def _codes_array(part: _Codes, width: int) -> npt.NDArray[np.int32]:
    """Subject codes as an array, shape (n, width), or (n,) for width 1."""
    codes = _subject_codes(None, part, width) if isinstance(part, int) else part
    return codes.ravel() if width == 1 else codes


def _cell_lut(n_slots: int) -> npt.NDArray[np.int32]:
    """Index of the unordered cell (a, b), a <= b, for every ordered pair of groups."""
    lut = np.empty((n_slots, n_slots), dtype=np.int32)
    k = 0
    for a in range(n_slots):
        for b in range(a, n_slots):
            lut[a, b] = lut[b, a] = k
            k += 1
    return lut


def _rows_where(pairs: npt.NDArray[np.int32], keep: npt.NDArray[np.bool_]) -> npt.NDArray[np.int32]:
    """The rows of an (n, 2) int32 array where ``keep`` is true, each row moved as one int64."""
    packed = np.ascontiguousarray(pairs, dtype=np.int32).view(np.int64).ravel()
    return np.compress(keep, packed).view(np.int32).reshape(-1, 2)


def _grown(held: npt.NDArray[Any], n: int, size: int) -> npt.NDArray[Any]:
    """An array of ``size`` entries whose first ``n`` are those of ``held``."""
    grown = np.empty(size, dtype=held.dtype)
    grown[:n] = held[:n]
    return grown


def _joined(parts: list[npt.NDArray[Any]], dtype: type[np.generic]) -> npt.NDArray[Any]:
    """The parts as one array (the one part itself when there is only one)."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


@dataclass
class Accumulator:
    """Per-cell score accumulation (see the module notes).

    Parameters
    ----------
    grid : ScoreGrid
        Bins of the non-mated histograms.
    n_groups : int
        Number of groups; group index ``n_groups`` stands for a missing group.
    capacity : int
        How many exact non-mated scores the finalised tail holds at most.

    """

    grid: ScoreGrid
    n_groups: int
    capacity: int = DEFAULT_TAIL_CAPACITY
    _histogram: npt.NDArray[np.int64] = field(init=False, repr=False)
    tail_bin: int = field(init=False, default=0)
    _tail_subjects: list[_Codes] = field(init=False, default_factory=list)
    _tail_size: int = field(init=False, default=0)
    _mated_scores: list[npt.NDArray[np.float64]] = field(init=False, default_factory=list)
    _mated_pairs: list[npt.NDArray[np.int32]] = field(init=False, default_factory=list)
    _mated_subjects: list[_Codes] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.lut = _cell_lut(self.n_groups + 1)
        self.n_cells = int(self.lut.max()) + 1
        self._histogram = np.zeros((self.n_cells, self.grid.n_bins), dtype=np.int64)
        # The exact tail: scores and cells in the first _tail_size entries of arrays with
        # room to grow; subject codes in parts, in the same order. Once tail() has lent
        # views of the held entries, they are not changed in place (a prune writes to new
        # arrays).
        self._tail_scores = np.empty(0, dtype=np.float64)
        self._tail_cells = np.empty(0, dtype=np.int32)
        self._tail_lent = False
        # Counts over all cells, exact in the bins from the tail edge up (all the edge rule
        # reads; add_pairs counts no others there, and the edge never falls).
        self._total = np.zeros(self.grid.n_bins, dtype=np.int64)
        # add_pairs counts modulo 256 in a byte a bin (allocated on first use; see
        # kernels.count_pairs), added into the histogram when it is read.
        self._low: npt.NDArray[np.uint8] | None = None
        self._low_held = False
        # Work space of add_block: per-block counts, and the tail scores met while counting.
        self._scratch = np.zeros((0, self.grid.n_bins), dtype=np.int64)
        self._flat = np.empty(_BLOCK_TAIL, dtype=np.int64)
        self._cells = np.empty(_BLOCK_TAIL, dtype=np.int32)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the work space of :meth:`add_block` and :meth:`add_pairs`."""
        self._fold()
        state = self.__dict__.copy()
        for name in ("_scratch", "_flat", "_cells", "_low"):
            state.pop(name)
        n = self._tail_size
        state["_tail_scores"], state["_tail_cells"] = (
            self._tail_scores[:n].copy(),
            self._tail_cells[:n].copy(),
        )
        state["_tail_lent"] = False
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._low, self._low_held = None, False
        self._scratch = np.zeros((0, self.grid.n_bins), dtype=np.int64)
        self._flat = np.empty(_BLOCK_TAIL, dtype=np.int64)
        self._cells = np.empty(_BLOCK_TAIL, dtype=np.int32)

    @property
    def histogram(self) -> npt.NDArray[np.int64]:
        """Non-mated counts, shape (n_cells, n_bins): every comparison added so far."""
        self._fold()
        return self._histogram

    def _fold(self) -> None:
        """Move the byte counts of :meth:`add_pairs` into the histogram."""
        if self._low_held:
            assert self._low is not None
            self._histogram += self._low
            self._low.fill(0)
            self._low_held = False

    def _low_counts(self) -> npt.NDArray[np.uint8]:
        """The byte counts :meth:`add_pairs` counts into (with carries into the histogram)."""
        if self._low is None:
            self._low = np.zeros(self._histogram.shape, dtype=np.uint8)
        self._low_held = True
        return self._low

    # --- adding scores ----------------------------------------------------------------

    def add_pairs(
        self,
        scores: npt.ArrayLike,
        mated: npt.ArrayLike,
        group_a: npt.ArrayLike,
        group_b: npt.ArrayLike,
        subjects: npt.ArrayLike | None = None,
    ) -> None:
        """Add listed comparisons, mated and non-mated, with the group of each side.

        Group index ``n_groups`` stands for a missing group. Non-mated scores are
        counted by one compiled pass (no copies of the input); mated ones are kept.
        With ``subjects`` (shape (m, 2): the subject code of each side), the exact
        scores kept (tail and mated) keep their subjects too, for the bootstrap.

        Raises
        ------
        ValueError
            For arrays of different lengths or a non-finite score (nothing is added),
            or a group index outside ``0..n_groups`` (the comparisons before it stay
            counted, the mated ones not kept).

        """
        s = np.asarray(scores, dtype=np.float64).ravel()
        m = np.asarray(mated, dtype=bool).ravel()
        a, b = _group_index(group_a), _group_index(group_b)
        if not (a.size == b.size == m.size == s.size):
            raise ValueError("scores, mated flags and groups need one entry per comparison")
        if not s.size:
            return
        if not np.isfinite(s).all():
            raise ValueError("scores must be finite (readers leave out the others)")
        subj = None if subjects is None else np.asarray(subjects).reshape(-1, 2)
        for start in range(0, s.size, _PAIRS_SLICE):
            part = slice(start, start + _PAIRS_SLICE)
            self._count_pairs(
                s[part], m[part], a[part], b[part], None if subj is None else subj[part]
            )

    def _count_pairs(
        self,
        s: npt.NDArray[np.float64],
        m: npt.NDArray[np.bool_],
        a: npt.NDArray[np.integer],
        b: npt.NDArray[np.integer],
        subj: npt.NDArray[Any] | None,
    ) -> None:
        """One compiled pass of :meth:`add_pairs`: count, keep the mated and tail scores."""
        grid, held = self.grid, self._tail_size
        self._reserve_tail(s.size)
        where, mates, mated_scores, mated_pairs = kernels.count_pairs(
            s,
            m,
            a,
            b,
            self.lut,
            self._low_counts(),
            self._histogram,
            self._total,
            grid.exponent,
            grid.offset,
            self.tail_bin,
            (self._tail_scores[held:], self._tail_cells[held:]),
        )
        if mates.size:  # group indices checked by the count; copies (views of work space)
            self._keep_mated(
                mated_scores.copy(), mated_pairs.copy(), None if subj is None else subj[mates, 0]
            )
        if not where.size:
            return
        # The tail scores are in place after the held ones, and held: all lie at or above
        # the edge they were counted with. The edge rises; those below it go at the next
        # prune, with the others held below it.
        self._tail_subjects.append(
            _codes_part(None if subj is None else subj[where], where.size, 2)
        )
        self._tail_size = held + where.size
        self.tighten()

    def _reserve_tail(self, n: int) -> None:
        """Room for ``n`` more tail scores after the held ones."""
        size = self._tail_size + n
        if self._tail_scores.size < size:
            # Doubling, but no further than a prune lets the tail grow (twice the capacity
            # and what one call adds before it prunes).
            size = max(size, min(2 * self._tail_scores.size, 2 * self.capacity + n))
            self._tail_scores = _grown(self._tail_scores, self._tail_size, size)
            self._tail_cells = _grown(self._tail_cells, self._tail_size, size)
            self._tail_lent = False

    def add_non_mated(
        self,
        scores: npt.ArrayLike,
        group_a: npt.ArrayLike,
        group_b: npt.ArrayLike,
    ) -> None:
        """Add non-mated scores with the group of each side (``n_groups`` = missing)."""
        s = np.asarray(scores, dtype=np.float64).ravel()
        self.add_pairs(s, np.zeros(s.size, dtype=bool), group_a, group_b)

    def add_block(
        self,
        block: npt.NDArray[np.float32],
        rects: npt.NDArray[np.int64],
        *,
        diagonal: bool,
        skip: npt.NDArray[np.int64] | None = None,
        skip_cells: npt.NDArray[np.integer] | None = None,
        subjects: tuple[npt.NDArray[np.integer], npt.NDArray[np.integer]] | None = None,
    ) -> None:
        """Add the non-mated scores of one block of an all-vs-all score matrix.

        Parameters
        ----------
        block : ndarray of float32, shape (rows, cols)
            Scores times ``2**grid.exponent`` (an exact scaling).
        rects : ndarray of int64, shape (k, 5)
            ``(r0, r1, c0, c1, cell)``: rectangles of the block that hold one cell each;
            entries outside every rectangle are not counted.
        diagonal : bool
            The block lies on the matrix diagonal: only entries above it (``j > i``) count.
        skip, skip_cells : ndarray, optional
            Flat indices (``i * cols + j``) of entries inside the rectangles that are not
            to be counted (mated comparisons), and their cells.
        subjects : (ndarray, ndarray), optional
            The subject code of each row and of each column, kept with the exact scores.

        """
        cells, slots = np.unique(rects[:, 4], return_inverse=True)
        if self._scratch.shape[0] < cells.size:
            self._scratch = np.zeros((cells.size, self.grid.n_bins), dtype=np.int64)
        grid, flat, taken = self.grid, self._flat, self._cells
        above = kernels.count_block(
            block,
            np.column_stack([rects, slots]),
            diagonal,
            self._scratch,
            self.histogram,
            self._total,
            grid.offset,
            self.tail_bin,
            flat,
            taken,
        )
        if skip is not None and skip.size:  # counted above; take them out again
            unscaled = np.ldexp(block.ravel()[skip].astype(np.float64), -grid.exponent)
            skip_bins = grid.bin_of(unscaled)
            np.subtract.at(self.histogram, (np.asarray(skip_cells), skip_bins), 1)
            np.subtract.at(self._total, skip_bins, 1)
        if not above:
            return
        self.tighten()
        if above <= flat.size:  # all collected while counting; keep those the new edge keeps
            flat, taken = flat[:above], taken[:above]
        else:
            flat, taken = kernels.collect_block(
                block, rects, diagonal, grid.offset, self.tail_bin, above
            )
        scores = np.ldexp(block.ravel()[flat].astype(np.float64), -grid.exponent)
        keep = self._in_bins_from(scores, self.tail_bin)
        if skip is not None and skip.size:
            keep &= ~np.isin(flat, skip)
        kept = np.asarray(flat)[keep]
        pairs = None
        if subjects is not None:
            rows, cols = np.divmod(kept, block.shape[1])
            pairs = np.column_stack([subjects[0][rows], subjects[1][cols]])
        self._add_tail(scores[keep], taken[keep].copy(), pairs)

    def add_mated(
        self,
        scores: npt.ArrayLike,
        group_a: npt.ArrayLike,
        group_b: npt.ArrayLike,
        subjects: npt.ArrayLike | None = None,
    ) -> None:
        """Add mated scores, exactly, with the ordered pair of groups of each."""
        s = np.asarray(scores, dtype=np.float64).ravel()
        slots = self.n_groups + 1
        a, b = np.asarray(group_a).ravel(), np.asarray(group_b).ravel()
        if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= slots):
            raise ValueError(f"group indices must lie in 0..{self.n_groups}")
        self._keep_mated(s, a * slots + b, subjects)

    def _keep_mated(
        self,
        scores: npt.NDArray[np.float64],
        pairs: npt.NDArray[np.integer],
        subjects: npt.ArrayLike | None,
    ) -> None:
        """Keep mated scores with their ordered group pairs ``a * (n_groups + 1) + b``."""
        self._mated_scores.append(scores)
        self._mated_pairs.append(pairs.astype(np.int32))
        codes = _codes_part(subjects, scores.size, 1)
        self._mated_subjects.append(codes if isinstance(codes, int) else codes.ravel())

    def add_tail(
        self,
        scores: npt.NDArray[np.float64],
        cells: npt.NDArray[np.integer],
        subjects: npt.NDArray[np.integer] | None = None,
    ) -> None:
        """Add exact non-mated scores (already counted in the histogram) at or above the edge.

        For engines that update the histogram themselves; scores below the tail edge
        must not be passed.
        """
        self._add_tail(scores, np.asarray(cells, dtype=np.int32), subjects)

    def _add_tail(
        self,
        scores: npt.NDArray[np.float64],
        cells: npt.NDArray[np.int32],
        subjects: npt.NDArray[np.integer] | None = None,
    ) -> None:
        self._append_tail(scores, cells, _codes_part(subjects, scores.size, 2))

    def _append_tail(
        self, scores: npt.NDArray[np.float64], cells: npt.NDArray[np.integer], codes: _Codes
    ) -> None:
        if not scores.size:
            return
        held = self._tail_size
        self._reserve_tail(scores.size)
        self._tail_scores[held : held + scores.size] = scores
        self._tail_cells[held : held + scores.size] = cells
        self._tail_subjects.append(codes)
        self._tail_size += scores.size
        if self._tail_size > 2 * self.capacity:
            self._raise_tail(self._edge_for(self.capacity))

    # --- the tail edge ----------------------------------------------------------------

    def count_cell(self, cell: int, counts: npt.NDArray[np.int64]) -> None:
        """Add per-bin counts of one cell (for engines that bin scores themselves)."""
        self.histogram[cell] += counts
        self._total += counts

    def tighten(self) -> None:
        """Raise the tail edge as far as the scores counted so far allow (never past the final one).

        Engines call this after counting a block (:meth:`count_cell`) and before taking
        that block's exact scores, so that a block adds only scores above the new edge.
        Scores already held below the new edge are dropped later, in bulk, when the
        tail outgrows twice its capacity.
        """
        self.tail_bin = max(self.tail_bin, self._edge_for(self.capacity))
        if self._tail_size > 2 * self.capacity:
            self._raise_tail(self.tail_bin)

    def _edge_for(self, capacity: int) -> int:
        """Lowest bin whose non-mated scores at or above it number at most ``capacity``."""
        # The edge never falls, so only the bins from the present one up are read.
        return kernels.tail_edge(self._total, self.tail_bin, capacity)

    def _raise_tail(self, tail_bin: int) -> None:
        tail_bin = max(tail_bin, self.tail_bin)
        n = self._tail_size
        scores, cells = self._tail_scores[:n], self._tail_cells[:n]
        subjects = self._tail_codes()
        keep = self._in_bins_from(scores, tail_bin)
        kept_scores, kept_cells = np.compress(keep, scores), np.compress(keep, cells)
        n = kept_scores.size
        if self._tail_lent:  # views of the held entries are out: new arrays, same room
            self._tail_scores = np.empty_like(self._tail_scores)
            self._tail_cells = np.empty_like(self._tail_cells)
            self._tail_lent = False
        self._tail_scores[:n], self._tail_cells[:n] = kept_scores, kept_cells
        self._tail_subjects = [n if isinstance(subjects, int) else _rows_where(subjects, keep)]
        self._tail_size = n
        self.tail_bin = tail_bin

    def _in_bins_from(
        self, scores: npt.NDArray[np.floating], tail_bin: int
    ) -> npt.NDArray[np.bool_]:
        """Which scores fall in bin ``tail_bin`` or above (``grid.bin_of``, by one comparison)."""
        if tail_bin <= 0:  # bin 0 also holds the scores below the grid
            return np.ones(scores.shape, dtype=bool)
        if tail_bin >= self.grid.n_bins:
            return np.zeros(scores.shape, dtype=bool)
        return np.asarray(scores >= math.ldexp(self.grid.offset + tail_bin, -self.grid.exponent))

    def tail(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
        """The exact non-mated scores held, and their cells.

        Every score at or above the tail edge is there; scores below it that were
        taken before the edge last rose may be too, until the tail is pruned (as
        :meth:`finalize` does).
        """
        n = self._tail_size
        self._tail_lent = True  # the held entries now stay as they are
        return self._tail_scores[:n], self._tail_cells[:n]

    def tail_subjects(self) -> npt.NDArray[np.int32]:
        """The two subject codes of each score of :meth:`tail` (-1 where not given)."""
        return _codes_array(self._tail_codes(), 2)

    def _tail_codes(self) -> _Codes:
        self._tail_subjects = [_joined_codes(self._tail_subjects, 2)]
        return self._tail_subjects[0]

    def mated_subjects(self) -> npt.NDArray[np.int32]:
        """The subject code of each score of :meth:`mated` (-1 where not given)."""
        return _codes_array(self._mated_codes(), 1)

    def _mated_codes(self) -> _Codes:
        self._mated_subjects = [_joined_codes(self._mated_subjects, 1)]
        return self._mated_subjects[0]

    def mated(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
        """Every mated score and its ordered group pair ``a * (n_groups + 1) + b``."""
        self._mated_scores = [_joined(self._mated_scores, np.float64)]
        self._mated_pairs = [_joined(self._mated_pairs, np.int32)]
        return self._mated_scores[0], self._mated_pairs[0]

    # --- merging and finishing --------------------------------------------------------

    def merge(self, other: Accumulator) -> None:
        """Add another accumulator of the same grid and groups into this one."""
        if (other.grid, other.n_groups) != (self.grid, self.n_groups):
            raise ValueError("accumulators of different grids or groups cannot be merged")
        self._fold()
        self._histogram += other.histogram
        self._total += other._total
        scores, cells = other.tail()
        self._append_tail(scores, cells, other._tail_codes())
        self._raise_tail(max(self.tail_bin, other.tail_bin))
        m_scores, m_pairs = other.mated()
        self._mated_scores.append(m_scores)
        self._mated_pairs.append(m_pairs)
        self._mated_subjects.append(other._mated_codes())
        if self._tail_size > 2 * self.capacity:
            self._raise_tail(self._edge_for(self.capacity))

    def finalize(self) -> None:
        """Set the tail edge by the deterministic rule (see the module notes)."""
        self._raise_tail(self._edge_for(self.capacity))

    @property
    def tail_edge(self) -> float:
        """Scores at or above this value are held exactly."""
        return math.ldexp(float(self.grid.offset + self.tail_bin), -self.grid.exponent)

    # --- checkpoints ------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write to ``path`` (an ``.npz``) atomically, readable by the owner only."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        scores, cells = self.tail()
        m_scores, m_pairs = self.mated()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            np.savez(
                handle,
                grid=np.array([self.grid.exponent, self.grid.offset, self.grid.n_bins]),
                meta=np.array([self.n_groups, self.capacity, self.tail_bin]),
                histogram=self.histogram,
                tail_scores=scores,
                tail_cells=cells,
                mated_scores=m_scores,
                mated_pairs=m_pairs,
                tail_subjects=self.tail_subjects(),
                mated_subjects=self.mated_subjects(),
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> Accumulator:
        """Read an accumulator written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as data:
            exponent, offset, n_bins = (int(v) for v in data["grid"])
            n_groups, capacity, tail_bin = (int(v) for v in data["meta"])
            acc = cls(ScoreGrid(exponent, offset, n_bins), n_groups, capacity)
            acc._histogram = data["histogram"].copy()
            acc._total = acc._histogram.sum(axis=0)
            acc.tail_bin = tail_bin
            acc._tail_scores = data["tail_scores"].copy()
            acc._tail_cells = data["tail_cells"].copy()
            acc._tail_size = acc._tail_scores.size
            acc._mated_scores = [data["mated_scores"].copy()]
            acc._mated_pairs = [data["mated_pairs"].copy()]
            n_tail, n_mated = acc._tail_size, acc._mated_scores[0].size
            acc._tail_subjects = [
                data["tail_subjects"].copy()
                if "tail_subjects" in data.files
                else _subject_codes(None, n_tail, 2)
            ]
            acc._mated_subjects = [
                data["mated_subjects"].copy()
                if "mated_subjects" in data.files
                else _subject_codes(None, n_mated, 1).ravel()
            ]
        return acc
