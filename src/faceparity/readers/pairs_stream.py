"""Pair tables larger than memory: read in chunks, straight into an accumulator.

:func:`accumulate_pairs` reads the same pair tables as
:func:`~faceparity.readers.pairs.read_pairs` (CSV, TSV or Parquet, one comparison per
row) but never holds the whole table: it reads it twice, a chunk of rows at a time (the
second time only the columns it has not kept).

1. The first pass checks every row as :func:`~faceparity.readers.pairs.read_pairs`
   does (with the same messages, naming the file, the 1-based data row counted
   across chunks, and the column), finds the lowest and the highest score, the
   values of every group-by attribute, hence the groups, and the distinct subject
   ids (:class:`SubjectIds`: one Arrow array, numbered in sorted order as the exact
   reader numbers them).
2. The second pass bins every score into an
   :class:`~faceparity.accumulate.Accumulator` on a
   :meth:`ScoreGrid.covering <faceparity.accumulate.ScoreGrid.covering>` grid of the
   scores' range, its exact scores with their subjects, counts the subjects of each
   group and each subject's non-mated comparisons in each cell (its degree): what the
   subject bootstrap needs (:mod:`faceparity.uncertainty.pair_views`). It reads only
   the scores and the group-by attributes: the first pass keeps each row's subject ids
   (:data:`KEEP_SUBJECTS_BYTES` at most; past that, the second pass reads and decodes
   them again), and the degrees are counted on a third thread, a chunk behind.

Text id and attribute columns are dictionary-encoded by Arrow chunk by chunk (Parquet
text columns are read as the dictionaries they are stored as): every conversion and
check runs once per distinct value, never per row in Python. Integer id columns of a
Parquet table stay integers (:mod:`faceparity.readers.subject_ids`); only the distinct
ids are ever written as text, once, to number them as the exact reader does. Each chunk
is read and decoded, then checked and coded, on two threads ahead while the previous
one is accumulated (:mod:`faceparity.readers.chunks`).

Scores are accumulated as similarities: distances are negated (exactly), so that
the audit reads thresholds back as distances (``score <= threshold``). The result,
a :class:`StreamedPairs`, is audited by
:func:`faceparity.verification.audit.audit_accumulated`; it equals the audit of
:func:`~faceparity.readers.pairs.read_pairs` on the same file where the tail of the
accumulator holds every non-mated score (see :mod:`faceparity.accumulate` for what
is exact otherwise).

What streaming does not do: duplicate comparisons and comparisons of a sample with
itself are not detected, and samples are not counted (that needs every sample pair
at once); :data:`NOTE_STREAMING` says so in the result's notes. When a file has
several errors, the first error of the first chunk that has one is reported (the
whole-table reader reports the first error of the first check that fails).

Memory: the accumulator (``n_bins`` x cells x 8 bytes, plus the exact tail and the
mated scores with their subjects), a few chunks of rows, the distinct subject ids, per
subject one bit a group and, for the subject bootstrap (``degrees``), one count a
cell (``n_subjects x (n_groups + 1) x (n_groups + 2) / 2 x 8`` bytes: 360 MB for
1,000,000 subjects in 8 groups), and the subject ids kept between the passes (8 bytes
a row, 16 for integer ids beyond 32 bits, and a chunk's distinct text ids; at most
:data:`KEEP_SUBJECTS_BYTES`): bounded whatever the number of rows.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from faceparity.accumulate.accumulator import DEFAULT_TAIL_CAPACITY, Accumulator
from faceparity.accumulate.grid import ScoreGrid
from faceparity.accumulate.kernels import count_degrees, members_per_slot, new_members
from faceparity.errors import InputError, Location, UsageError
from faceparity.model.comparisons import MISSING, Exclusion
from faceparity.model.config import ScoreKind
from faceparity.model.grouping import Group, intersect
from faceparity.model.population import Population
from faceparity.readers._table import (
    MAX_ABS_SCORE,
    Origin,
    check_attribute_names,
    check_column_pair,
    check_labels,
    check_score_kind,
    check_score_range,
    parse_mated,
    parse_scores,
)
from faceparity.readers.attributes import AttributeSpec, band_labels, encode_attribute
from faceparity.readers.chunks import prepared_chunks
from faceparity.readers.subject_ids import (
    SubjectIds,
    WholeIds,
    chunk_ids,
    integer_columns,
    same_ids,
    whole_ids,
)

__all__ = ["NOTE_STREAMING", "StreamedPairs", "accumulate_pairs"]

NOTE_STREAMING = (
    "the pair table was read in chunks (streaming): duplicate comparisons and comparisons "
    "of a sample with itself were not detected, and samples are not counted"
)
MSG_GROUP_BY_UNDEFINED = "group-by attribute {name!r} is not defined; attributes defined: {known}"
MSG_CHUNK_ROWS = "chunk_rows: expected a whole number of at least 1, got {value!r}"
MSG_N_BINS = "n_bins: expected a whole number of at least 1, got {value!r}"


@dataclass(frozen=True)
class StreamedPairs:
    """Comparisons accumulated by a streaming reader, ready for ``audit_accumulated``.

    Attributes
    ----------
    accumulator : Accumulator
        Per-cell non-mated histograms and exact tail, exact mated scores; scores as
        similarities (distances negated).
    groups : tuple of Group
        The groups, in accumulator index order (index ``len(groups)`` = missing).
    group_by : tuple of str
        The attributes whose intersection defines the groups.
    population : Population
        Subjects per group and in all (samples are not counted: None).
    exclusions : tuple of Exclusion
        What the reader left out.
    source : str
        Where the comparisons came from, for the record.
    score_kind : ScoreKind
        The direction of the scores in the input.
    notes : tuple of str
        What the reader could not check, for the result's notes.
    degree : ndarray of int64, shape (n_subjects, accumulator.n_cells), optional
        Each subject's non-mated comparisons in each cell, when the accumulator's
        exact scores keep their subjects (codes: the rank of the subject id in sorted
        order, as the exact reader numbers them); what the subject bootstrap needs.

    """

    accumulator: Accumulator
    groups: tuple[Group, ...]
    group_by: tuple[str, ...]
    population: Population
    exclusions: tuple[Exclusion, ...]
    source: str
    score_kind: ScoreKind
    notes: tuple[str, ...]
    degree: npt.NDArray[np.int64] | None = None


def shifted(err: InputError, offset: int) -> InputError:
    """The error with its row moved down by ``offset`` rows (a chunk's row to the file's)."""
    loc = err.location
    row = None if loc.row is None else loc.row + offset
    return InputError(err.message, Location(loc.file, row, loc.column))


def check_group_by(group_by: Sequence[str], defined: Sequence[str]) -> tuple[str, ...]:
    """The group-by attributes, checked as the audit checks them, before any row is read."""
    names = tuple(group_by)
    if isinstance(group_by, str) or not names:
        raise UsageError("group-by: expected at least one attribute")
    if len(set(names)) != len(names):
        raise UsageError(f"group-by: an attribute is named twice in {', '.join(names)}")
    for name in names:
        if name not in defined:
            known = ", ".join(sorted(defined)) or "none"
            raise InputError(MSG_GROUP_BY_UNDEFINED.format(name=name, known=known))
    return names


def check_sizes(chunk_rows: int, n_bins: int) -> None:
    """UsageError unless ``chunk_rows`` and ``n_bins`` are whole numbers of at least 1."""
    for value, message in ((chunk_rows, MSG_CHUNK_ROWS), (n_bins, MSG_N_BINS)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(message.format(value=value))


def score_grid(low: float, high: float, n_bins: int) -> ScoreGrid:
    """The grid of about ``n_bins`` bins covering ``[low, high]`` (a constant score gets a span)."""
    if high == low:
        high = low + max(abs(low), 1.0)
    return ScoreGrid.covering(low, high, n_bins=n_bins)


# --- groups ------------------------------------------------------------------------


class GroupLevels:
    """Values of the group-by attributes seen so far, and the combinations of them."""

    def __init__(self, group_by: tuple[str, ...]) -> None:
        self.group_by = group_by
        self.levels: dict[str, set[str]] = {name: set() for name in group_by}
        self.binned: dict[str, tuple[str, ...]] = {}
        self.combos: set[tuple[str, ...]] = set()

    def add(self, codes: dict[str, tuple[npt.NDArray[np.int32], tuple[str, ...]]]) -> None:
        """Add one chunk's codes (``encode_attribute`` output, per attribute)."""
        chunk_levels = {name: codes[name][1] for name in self.group_by}
        for name in self.group_by:
            self.levels[name].update(chunk_levels[name])
        sizes = [len(chunk_levels[name]) + 1 for name in self.group_by]  # the last: missing
        stacked = _stacked(codes, self.group_by)
        if math.prod(sizes) <= 4 * stacked.shape[1] + 1024:
            present = np.zeros(math.prod(sizes), dtype=bool)
            _combined_index(stacked, sizes, present=present)
            keys = np.flatnonzero(present)
        else:
            keys = np.unique(_combined_index(stacked, sizes))
        for value in keys.tolist():
            combo = []
            for name, size in zip(reversed(self.group_by), reversed(sizes), strict=True):
                value, digit = divmod(value, size)
                if digit == size - 1:
                    break  # a side with a missing attribute is in no group
                combo.append(chunk_levels[name][digit])
            else:
                self.combos.add(tuple(reversed(combo)))

    def groups(self) -> tuple[tuple[Group, ...], dict[str, tuple[str, ...]], npt.NDArray[np.int64]]:
        """The groups (as the exact audit forms them), the levels, and each group's key."""
        levels = {
            name: self.binned.get(name, tuple(sorted(self.levels[name]))) for name in self.group_by
        }
        ordered = sorted(self.combos)
        index = {name: {v: i for i, v in enumerate(levels[name])} for name in self.group_by}
        codes = {
            name: np.array([index[name][c[k]] for c in ordered], dtype=np.int32)
            for k, name in enumerate(self.group_by)
        }
        if not ordered:
            return (), levels, np.empty(0, dtype=np.int64)
        groups, _ = intersect(codes, levels, self.group_by)
        # intersect orders its groups by the digits of their codes, as this key orders
        # them: a key's rank is its group index.
        sizes = _global_sizes(levels, self.group_by)
        keys = np.unique(_combined_index(_stack([codes[n] for n in self.group_by]), sizes))
        return groups, levels, keys


def _global_sizes(levels: dict[str, tuple[str, ...]], group_by: tuple[str, ...]) -> list[int]:
    """The radix of each attribute's digit in a group's key: its levels, and missing last."""
    return [len(levels[name]) + 1 for name in group_by]


def group_slots(
    codes: dict[str, tuple[npt.NDArray[np.int32], tuple[str, ...]]],
    levels: dict[str, tuple[str, ...]],
    group_by: tuple[str, ...],
    keys: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Group index of each side, shape (n, 2); ``len(keys)`` where an attribute is missing.

    ``codes`` index one chunk's levels; they are mapped to the global ``levels`` first.
    Where the chunk's levels combine in few ways, the group of every combination (an
    attribute missing among them) is found once, and each side looks its own up.
    """
    sizes = [len(codes[name][1]) + 1 for name in group_by]  # the last: missing
    rows = codes[group_by[0]][0].size
    if math.prod(sizes) > max(1 << 16, rows):
        return _slots(codes, levels, group_by, keys)
    every = np.indices(sizes).reshape(len(sizes), -1)
    table = _slots(
        {
            name: (np.where(every[k] == sizes[k] - 1, MISSING, every[k]).astype(np.int32), levels_)
            for k, (name, (_, levels_)) in enumerate((n, codes[n]) for n in group_by)
        },
        levels,
        group_by,
        keys,
    )
    return _combined_index(_stacked(codes, group_by), sizes, table=table).reshape(-1, 2)


def _stacked(
    codes: dict[str, tuple[npt.NDArray[np.int32], tuple[str, ...]]], group_by: tuple[str, ...]
) -> npt.NDArray[np.int32]:
    """The codes of both sides of each attribute, shape (attributes, 2 n), row by row."""
    return _stack([codes[name][0] for name in group_by])


def _stack(arrays: list[npt.NDArray[np.int32]]) -> npt.NDArray[np.int32]:
    """Codes of each attribute as one row each (flattened), shape (attributes, size)."""
    if len(arrays) == 1:
        return np.ascontiguousarray(arrays[0], dtype=np.int32).reshape(1, -1)
    return np.stack([np.asarray(a, dtype=np.int32).ravel() for a in arrays])


def _combined_index(
    stacked: npt.NDArray[np.int32],
    sizes: Sequence[int],
    *,
    present: npt.NDArray[np.bool_] | None = None,
    table: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.int64]:
    """The mixed-radix index of each side's combination of codes (digit ``size - 1``: missing).

    ``present``, when given, is flagged at every index found; with ``table``, each
    index is looked up in it.
    """
    from faceparity.readers._loops import combined_codes

    index = np.empty(stacked.shape[1], dtype=np.int64)
    empty = np.zeros(0, dtype=bool)
    lookup = np.zeros(0, dtype=np.int64) if table is None else np.asarray(table, dtype=np.int64)
    combined_codes(
        stacked,
        np.asarray(sizes, dtype=np.int64),
        lookup,
        index,
        empty if present is None else present,
    )
    return index


def _slots(
    codes: dict[str, tuple[npt.NDArray[np.int32], tuple[str, ...]]],
    levels: dict[str, tuple[str, ...]],
    group_by: tuple[str, ...],
    keys: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """:func:`group_slots`, computed for each side on its own."""
    global_codes: dict[str, npt.NDArray[np.int32]] = {}
    for name in group_by:
        chunk_codes, chunk_levels = codes[name]
        position = {v: i for i, v in enumerate(levels[name])}
        lookup = np.array([position[v] for v in chunk_levels] + [MISSING], dtype=np.int32)
        global_codes[name] = lookup[chunk_codes]  # MISSING (-1) picks the last entry
    stacked = _stack([global_codes[name] for name in group_by])
    key = _combined_index(stacked, _global_sizes(levels, group_by))
    slot = np.searchsorted(keys, key).astype(np.int64)
    slot[(stacked == MISSING).any(axis=0)] = len(keys)
    return slot.reshape(global_codes[group_by[0]].shape)


def encode_chunk(
    frame: pd.DataFrame,
    specs: Sequence[AttributeSpec],
    *,
    file: str,
    offset: int,
) -> dict[str, tuple[npt.NDArray[np.int32], tuple[str, ...]]]:
    """Encode each attribute of one chunk; errors name the file's row, not the chunk's."""
    out = {}
    for spec in specs:
        col_a, col_b = spec.side_columns()
        try:
            out[spec.name] = encode_attribute(
                frame[col_a].reset_index(drop=True),
                frame[col_b].reset_index(drop=True),
                spec=spec,
                file=file,
            )
        except InputError as err:
            raise shifted(err, offset) from err
    return out


# --- the reader --------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """The columns of a pair table and the work on one chunk of each pass.

    It runs on the read-ahead thread of :func:`prepared_chunks`: nothing here changes
    shared state.
    """

    file: str
    score: str
    subjects: tuple[str, str]
    mated: str | None
    attributes: tuple[AttributeSpec, ...]
    sign: float
    whole: bool

    def similarities(
        self, frame: pd.DataFrame, origin: Origin
    ) -> tuple[npt.NDArray[np.float64], float, float]:
        """A chunk's scores as similarities, checked; their lowest and highest.

        Numbers are checked and spanned in one compiled pass; the messages, at the first
        bad value, are those of ``parse_scores`` and ``check_score_range``.
        """
        values = frame[self.score]
        dtype = values.dtype
        if len(values) and is_numeric_dtype(dtype) and not is_bool_dtype(dtype):
            from faceparity.readers._loops import finite_range

            scores = values.to_numpy(dtype=np.float64, na_value=np.nan)
            bad, low, high = finite_range(scores, MAX_ABS_SCORE)
            if bad < 0:
                if self.sign > 0:
                    return scores, float(low), float(high)
                return -scores, -float(high), -float(low)
        scores = parse_scores(values, origin=origin, column=self.score)
        check_score_range(scores, values, origin=origin, column=self.score)
        similarity = self.sign * scores
        return similarity, float(similarity.min()), float(similarity.max())

    def checked(self, offset: int, frame: pd.DataFrame) -> _Checked:
        """Pass 1, one chunk: every check; the lowest and highest similarity, the ids."""
        origin = Origin(self.file, offset=offset)
        _, low, high = self.similarities(frame, origin)
        ids: list[Any]
        rows: Any
        if self.whole:
            id_a, id_b = (whole_ids(frame[c], origin=origin, column=c) for c in self.subjects)
            both = np.concatenate([id_a, id_b])
            ids, rows = [both], _compact(both)

            def same() -> npt.NDArray[np.bool_]:
                return np.asarray(id_a == id_b, dtype=bool)

            def named() -> tuple[pd.Series, pd.Series]:  # as text, as the exact reader reads them
                return pd.Series(id_a.astype(str)), pd.Series(id_b.astype(str))

        else:
            (codes_a, ids_a), (codes_b, ids_b) = (
                chunk_ids(frame[c], origin=origin, column=c) for c in self.subjects
            )
            # Codes into a chunk's own ids fit 32 bits: half the memory to keep them.
            rows = (codes_a.astype(np.int32), ids_a, codes_b.astype(np.int32), ids_b)
            ids = [ids_a, ids_b]

            def same() -> npt.NDArray[np.bool_]:
                return same_ids(codes_a, ids_a, codes_b, ids_b)

            def named() -> tuple[pd.Series, pd.Series]:
                return (
                    pd.Series(np.asarray(ids_a, dtype=object)[codes_a]),
                    pd.Series(np.asarray(ids_b, dtype=object)[codes_b]),
                )

        if self.mated is not None:
            labels = parse_mated(frame[self.mated], origin=origin, column=self.mated)
            agree = same()
            if (labels != agree).any():  # the rows' ids as text only to name the first
                check_labels(labels, agree, *named(), origin=origin, column=self.mated)
        codes = encode_chunk(frame, self.attributes, file=self.file, offset=offset)
        return _Checked(offset, len(frame), low, high, ids, codes, rows)

    def binned(
        self,
        known: SubjectIds | WholeIds,
        specs: tuple[AttributeSpec, ...],
        groups: tuple[dict[str, tuple[str, ...]], tuple[str, ...], npt.NDArray[np.int64]],
        kept: dict[int, Any] | None,
        offset: int,
        frame: pd.DataFrame,
    ) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.int64]
    ]:
        """Pass 2, one chunk: its similarities, mated flags, group slots and subject codes.

        The subjects are those pass 1 kept of the chunk (``kept``, by offset) where it kept
        them, else read from ``frame``.
        """
        import pyarrow as pa

        origin = Origin(self.file, offset=offset)
        similarity, _, _ = self.similarities(frame, origin)
        rows = None if kept is None else _kept_rows(kept, offset, len(frame), self.file)
        subject = np.empty((len(frame), 2), dtype=np.int64)
        if isinstance(known, WholeIds):
            if rows is None:
                rows = np.concatenate(
                    [whole_ids(frame[c], origin=origin, column=c) for c in self.subjects]
                )
            try:
                known.codes_into(rows[: len(frame)], subject, 0)
                known.codes_into(rows[len(frame) :], subject, 1)
            except ValueError as err:  # an id pass 1 did not see
                raise InputError(MSG_CHANGED.format(row=offset + 1), Location(self.file)) from err
        else:
            if rows is None:
                (codes_a, ids_a), (codes_b, ids_b) = (
                    chunk_ids(frame[c], origin=origin, column=c) for c in self.subjects
                )
            else:
                codes_a, ids_a, codes_b, ids_b = rows
            try:
                both = known.codes(pa.concat_arrays([ids_a, ids_b]))  # one lookup a chunk
            except ValueError as err:  # an id pass 1 did not see
                raise InputError(MSG_CHANGED.format(row=offset + 1), Location(self.file)) from err
            subject[:, 0] = both[codes_a]
            subject[:, 1] = both[len(ids_a) + codes_b]
        same = np.asarray(subject[:, 0] == subject[:, 1], dtype=bool)
        levels, names, keys = groups
        codes = encode_chunk(frame, specs, file=self.file, offset=offset)
        return similarity, same, group_slots(codes, levels, names, keys), subject


@dataclass(frozen=True)
class _Checked:
    """What pass 1 makes of a chunk.

    Its place (``offset``) and rows (``size``), the span of its similarities, its ids (for
    ``SubjectIds.add`` or ``WholeIds.add``), its attribute codes, and its rows' subjects
    as pass 2 reads them where they are kept (``rows``).
    """

    offset: int
    size: int
    low: float
    high: float
    ids: list[Any]
    codes: dict[str, tuple[npt.NDArray[np.int32], tuple[str, ...]]]
    rows: Any


MSG_CHANGED = "the table changed while it was read (its rows from row {row} differ between passes)"


def _kept_rows(kept: dict[int, Any], offset: int, n: int, file: str) -> Any:
    """The subjects pass 1 kept of the chunk at ``offset`` with ``n`` rows, taken out.

    Each chunk's are let go once it is binned, not at the end of pass 2. InputError
    where pass 1 saw no such chunk: the file was changed between the passes.
    """
    rows = kept.pop(offset, None)
    size = (
        None if rows is None else (len(rows) // 2 if not isinstance(rows, tuple) else len(rows[0]))
    )
    if size != n:
        raise InputError(MSG_CHANGED.format(row=offset + 1), Location(file))
    return rows


def _compact(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.integer]:
    """Integer ids as int32 where they all fit (half the memory to keep them), else as given."""
    if ids.size and -(2**31) <= int(ids.min()) and int(ids.max()) < 2**31:
        return ids.astype(np.int32)
    return ids


def _nbytes(rows: Any) -> int:
    """Bytes held by a chunk's kept subjects (arrays, Arrow arrays, or tuples of them)."""
    if isinstance(rows, tuple):
        return sum(_nbytes(part) for part in rows)
    return int(rows.nbytes)


class _Degrees:
    """Each chunk's degrees and memberships counted on a thread of their own, a chunk behind.

    :func:`~faceparity.accumulate.kernels.count_degrees` of a chunk (a compiled loop that
    releases the GIL) runs while the caller accumulates the next one and the chunk after
    is read; one chunk at a time, so ``degree`` and ``member`` are written by one thread
    only, and are complete once the ``with`` block ends without an error.
    """

    def __init__(
        self,
        lut: npt.NDArray[np.int32],
        degree: npt.NDArray[np.int64] | None,
        member: npt.NDArray[np.uint8],
    ) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self.count = functools.partial(count_degrees, lut=lut, degree=degree, member=member)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceparity-degrees")
        self.pending: Future[None] | None = None

    def add(
        self,
        subject: npt.NDArray[np.int64],
        slot: npt.NDArray[np.int64],
        same: npt.NDArray[np.bool_],
    ) -> None:
        """Count a chunk once the one before is counted (its error raised here)."""
        if self.pending is not None:
            self.pending.result()
        self.pending = self.pool.submit(self.count, subject, slot, same)

    def __enter__(self) -> _Degrees:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            if self.pending is not None and kind is None:
                self.pending.result()
        finally:
            if self.pending is not None:
                self.pending.cancel()
            self.pool.shutdown(wait=True)


KEEP_SUBJECTS_BYTES = 1 << 30
"""How many bytes of subject ids pass 1 keeps for pass 2 (then pass 2 does not read or
decode the id columns again); past it, pass 2 reads them again."""


def accumulate_pairs(
    path: str | os.PathLike[str],
    *,
    score: str,
    score_kind: ScoreKind,
    subjects: tuple[str, str],
    mated: str | None = None,
    attributes: Sequence[AttributeSpec] = (),
    group_by: Sequence[str],
    chunk_rows: int = 1_000_000,
    capacity: int = DEFAULT_TAIL_CAPACITY,
    n_bins: int = 65536,
    degrees: bool = True,
) -> StreamedPairs:
    r"""Accumulate a pair table of any size, a chunk of rows at a time (see the module notes).

    Parameters
    ----------
    path : str or path-like
        The table: ``.csv``, ``.tsv``, ``.parquet`` or ``.pq``.
    score : str
        The score column. Every value must be a finite number.
    score_kind : ScoreKind
        Direction of the scores; required, never guessed.
    subjects : (str, str)
        Subject id columns of the first and the second side.
    mated : str, optional
        A mated label column (as for :func:`~faceparity.readers.pairs.read_pairs`),
        checked against the subject ids; without it, a comparison is mated when its
        two subject ids are equal.
    attributes : sequence of AttributeSpec
        Attributes to read (one column, or one per side; ``bins`` for numeric bands).
    group_by : sequence of str
        Attributes whose intersection defines the groups.
    chunk_rows : int
        Rows read at a time; memory holds a few chunks (the one accumulated, the ones
        read ahead).
    capacity : int
        Exact non-mated scores the accumulator keeps (the highest ones).
    n_bins : int
        About how many bins the score grid has over the range of the scores.
    degrees : bool
        Whether to count each subject's comparisons per cell (``degree``: what the
        subject bootstrap needs; memory ``n_subjects x n_cells x 8`` bytes).

    Returns
    -------
    StreamedPairs
        The accumulator, the groups and population, ready for
        :func:`faceparity.verification.audit.audit_accumulated`.

    Raises
    ------
    InputError
        For what :func:`~faceparity.readers.pairs.read_pairs` refuses (an unreadable
        or empty file, a missing column, a score that is not a finite number, an
        empty subject id, a bad or contradicting mated label, a binned attribute
        that is not a number), with the same messages and locations, and for a
        group-by attribute that is not among ``attributes``.
    UsageError
        For a score kind that is not a ScoreKind, column arguments of the wrong
        shape, or sizes below 1.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from faceparity.verification.audit import audit_accumulated
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "p.csv").write_text("s,a,b,sex\n0.9,x,x,F\n0.1,x,y,F\n0.3,y,z,F\n")
    >>> sp = accumulate_pairs(d / "p.csv", score="s", score_kind=ScoreKind.SIMILARITY,
    ...                       subjects=("a", "b"), attributes=[AttributeSpec("sex", ("sex",))],
    ...                       group_by=["sex"], chunk_rows=2)
    >>> [g.label for g in sp.groups], sp.population.n_subjects
    (['F'], [3])
    >>> result = audit_accumulated(sp.accumulator, groups=sp.groups, group_by=sp.group_by,
    ...                            population=sp.population, notes=sp.notes)
    >>> result.overall.n_mated, result.overall.n_non_mated
    (1, 2)

    """
    kind = check_score_kind(score_kind)
    subject_columns = check_column_pair(subjects, option="subjects")
    check_attribute_names(attributes)
    names = check_group_by(group_by, [spec.name for spec in attributes])
    check_sizes(chunk_rows, n_bins)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise UsageError(f"capacity: expected a whole number of at least 1, got {capacity!r}")
    file = str(path)
    needed = [score, *subject_columns]
    if mated is not None:
        needed.append(mated)
    for spec in attributes:
        needed.extend(spec.side_columns())
    sign = 1.0 if kind is ScoreKind.SIMILARITY else -1.0

    # Pass 1: check every row; the range of the scores; the groups; the subject ids.
    seen = GroupLevels(names)
    for spec in attributes:
        if spec.bins is not None and spec.name in names:
            seen.binned[spec.name] = band_labels(spec.bins)
    whole = integer_columns(path, subject_columns)
    text = [] if whole else [*subject_columns]
    text += [c for spec in attributes if spec.bins is None for c in spec.side_columns()]
    known: SubjectIds | WholeIds = WholeIds() if whole else SubjectIds()
    table = _Table(file, score, subject_columns, mated, tuple(attributes), sign, whole)
    low, high = np.inf, -np.inf
    n_rows = 0
    kept: dict[int, Any] | None = {}
    held = 0
    for chunk in prepared_chunks(
        path, needed, table.checked, chunk_rows=chunk_rows, dictionary=text
    ):
        low, high = min(low, chunk.low), max(high, chunk.high)
        n_rows = chunk.offset + chunk.size
        for part in chunk.ids:
            known.add(part)
        seen.add(chunk.codes)
        if kept is not None:
            held += _nbytes(chunk.rows)
            if held > KEEP_SUBJECTS_BYTES:
                kept = None  # pass 2 reads them again
            else:
                kept[chunk.offset] = chunk.rows
    groups, levels, keys = seen.groups()
    known.close()

    # Pass 2: bin and accumulate with the subjects; count the subjects of each group and
    # the non-mated comparisons of each subject in each cell. It reads the scores and the
    # group-by attributes, and the subjects where pass 1 did not keep them.
    n_groups = len(groups)
    acc = Accumulator(score_grid(low, high, n_bins), n_groups, capacity=capacity)
    n_subjects = known.size
    member = new_members(n_groups + 1, n_subjects)
    degree = np.zeros((n_subjects, acc.n_cells), dtype=np.int64) if degrees else None
    group_specs = tuple(spec for spec in attributes if spec.name in names)
    second = [score, *(c for spec in group_specs for c in spec.side_columns())]
    if kept is None:
        second += subject_columns
    binned = functools.partial(table.binned, known, group_specs, (levels, names, keys), kept)
    chunks = prepared_chunks(
        path, second, binned, chunk_rows=chunk_rows, dictionary=text, check_quotes=False
    )
    # Closed on an error too: its reading threads end then, not when the error is let go.
    read = 0
    with contextlib.closing(chunks), _Degrees(acc.lut, degree, member) as counted:
        for similarity, same, slot, subject in chunks:
            acc.add_pairs(similarity, same, slot[:, 0], slot[:, 1], subjects=subject)
            counted.add(subject, slot, same)
            read += len(similarity)
    if read != n_rows:  # rows added or taken away at a chunk's end: each chunk was whole
        raise InputError(MSG_CHANGED.format(row=min(read, n_rows) + 1), Location(file))
    del kept, binned, chunks

    population = Population(
        n_subjects=[int(v) for v in members_per_slot(member, n_groups)],
        n_samples=[None] * n_groups,
        n_subjects_total=n_subjects,
        n_samples_total=None,
    )
    return StreamedPairs(
        accumulator=acc,
        groups=tuple(groups),
        group_by=names,
        population=population,
        exclusions=(),
        source=f"pair table {Path(file).name}",
        score_kind=kind,
        notes=(NOTE_STREAMING,),
        degree=degree,
    )
