"""Score histograms as input: counts of comparisons per score, for experiments too big to list.

pyeer accepts histograms of scores for huge experiments; so does
:func:`read_histogram`. The file is a table (CSV, TSV or Parquet, read a chunk of
rows at a time) with the columns

``group_a``, ``group_b``
    The group of each side of the comparisons (the values of one attribute, named by
    ``attribute``); an empty cell is a missing group, counted in the overall rates only.
``mated``
    ``1``/``0`` (or true/false, mated/non-mated, as in pair tables).
``score``
    A score value, in the direction ``score_kind`` states; or a bin's lower edge.
``count``
    How many comparisons of these two groups and this mated state have this score: a
    whole number, 0 or more.

Each row's count is placed at its score, exactly as if the file listed that many
comparisons with that score, and accumulated as
:func:`~faceparity.readers.pairs_stream.accumulate_pairs` accumulates a pair list:
the accumulator is the same (the tests check it), and so is the audit of
:func:`faceparity.verification.audit.audit_accumulated`. Where the ``score`` column holds
the scores themselves and the accumulator's tail (the highest ``capacity`` non-mated
comparisons) holds every score, that is the exact audit of the full list of
comparisons (:func:`faceparity.audit`).

Thresholds land on the given score values. A threshold set in the tail is the
smallest number above one of them (for distances, the largest below one), as for the
full list; one set below the tail edge
(a target FMR above about ``capacity`` / non-mated comparisons) is the first edge of
the accumulator's grid past that value (at most one grid bin, about the score range
/ ``n_bins``, from it), with the same counts wherever no given score lies between
the two. Where the ``score`` column holds the lower edges of bins, every comparison
counts as scoring that edge: a threshold separates the histogram's own bins, and the
rates are those of the histogram, not of the scores it summarised (which are lost).

Mated rows become exact mated scores, each repeated ``count`` times (mated
comparisons are few), so a mated row may count at most :data:`MAX_MATED_COUNT` and
the mated rows together at most :data:`MAX_MATED_TOTAL`. All counts together are at
most :data:`MAX_TOTAL_COUNT` (``2**53``), so that every count and every sum of counts
is exact, in 64-bit integers and in floats alike; and every score lies within
:data:`MAX_ABS_SCORE` of 0, so that the range of the scores, and the grid the
accumulator lays over it, are finite.
A histogram names no subjects or samples: the audit's subject counts are undefined (null), and
duplicates cannot be detected; :data:`NOTE_HISTOGRAM` says so in the result's notes.
"""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt
import pandas as pd

from faceparity.accumulate.accumulator import DEFAULT_TAIL_CAPACITY, Accumulator
from faceparity.errors import InputError, Location, UsageError
from faceparity.model.config import MAX_TAIL_CAPACITY, ScoreKind
from faceparity.model.population import Population
from faceparity.readers._table import (
    MAX_ABS_SCORE,
    Origin,
    check_score_kind,
    check_score_range,
    describe,
    parse_mated,
    parse_scores,
)
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.chunks import iter_table_chunks
from faceparity.readers.pairs_stream import (
    GroupLevels,
    StreamedPairs,
    check_sizes,
    encode_chunk,
    group_slots,
    score_grid,
)

__all__ = [
    "HISTOGRAM_COLUMNS",
    "MAX_ABS_SCORE",
    "MAX_MATED_COUNT",
    "MAX_MATED_TOTAL",
    "MAX_TOTAL_COUNT",
    "NOTE_HISTOGRAM",
    "read_histogram",
]

HISTOGRAM_COLUMNS = ("group_a", "group_b", "mated", "score", "count")
"""The columns of a histogram table."""

MAX_MATED_COUNT = 10**7
"""The largest count of a mated row (each mated comparison is kept as an exact score)."""

MAX_MATED_TOTAL = 10**8
"""The largest sum of the counts of the mated rows (each mated comparison is a score held)."""

MAX_TOTAL_COUNT = 2**53
"""The largest sum of all counts, and of any one count: every sum of counts is exact."""


MSG_BAD_COUNT = "count: expected a whole number from 0 to 2**53, got {value}"
MSG_MATED_COUNT = (
    "count: expected at most {limit} for a mated row (mated scores are kept one by one), "
    "got {value}"
)
MSG_TOTAL_COUNT = (
    "count: expected the counts to sum to at most 2**53 ({limit:,}; every sum of counts is "
    "then exact), got more by this row"
)
MSG_MATED_TOTAL = (
    "count: expected the counts of the mated rows to sum to at most {limit:,} (mated scores "
    "are kept one by one), got more by this row"
)
MSG_CAPACITY = "capacity: expected a whole number from 1 to {limit:,}, got {value!r}"
MSG_NO_COUNTS = "expected at least one row with a positive count, got none"
NOTE_HISTOGRAM = (
    "histogram input: each row's count is placed at its score; subjects and samples are "
    "not named, so they are not counted (shown as null) and duplicate comparisons could not "
    "be detected"
)


def parse_counts(values: pd.Series, *, origin: Origin, column: str) -> npt.NDArray[np.int64]:
    """Counts as int64; InputError at the first value that is not a whole number in [0, 2**53]."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        numbers = np.full(len(values), np.nan)
    elif pd.api.types.is_numeric_dtype(dtype):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        parsed = pd.to_numeric(values.astype("string").str.strip(), errors="coerce")
        numbers = np.asarray(parsed.to_numpy(dtype=np.float64, na_value=np.nan))
    # Whole numbers up to 2**53 are exact in float64, so the cast below loses nothing.
    ok = np.isfinite(numbers) & (numbers >= 0) & (numbers <= MAX_TOTAL_COUNT)
    ok[ok] = numbers[ok] == np.floor(numbers[ok])
    bad = np.flatnonzero(~ok)
    if bad.size:
        i = int(bad[0])
        raise InputError(MSG_BAD_COUNT.format(value=describe(values.iloc[i])), origin.at(i, column))
    return numbers.astype(np.int64)


def _first_over(counts: npt.NDArray[np.int64], before: int, limit: int) -> int | None:
    """The first position where ``before`` plus the running sum of ``counts`` passes ``limit``.

    Each count is at most ``2**53``, so the int64 running sum rises past ``limit`` (at
    most ``2**53``) before it could pass ``2**63`` and wrap: the first crossing is exact.
    """
    over = np.flatnonzero(np.cumsum(counts) > limit - before)
    return int(over[0]) if over.size else None


def read_histogram(
    path: str | os.PathLike[str],
    *,
    score_kind: ScoreKind,
    attribute: str = "group",
    n_bins: int = 65536,
    capacity: int = DEFAULT_TAIL_CAPACITY,
    chunk_rows: int = 1_000_000,
) -> StreamedPairs:
    r"""Accumulate a histogram table (see the module notes) for ``audit_accumulated``.

    Parameters
    ----------
    path : str or path-like
        The table: ``.csv``, ``.tsv``, ``.parquet`` or ``.pq``, with the columns of
        :data:`HISTOGRAM_COLUMNS`.
    score_kind : ScoreKind
        Direction of the scores; required, never guessed.
    attribute : str
        The name of the attribute whose values ``group_a`` and ``group_b`` hold; the
        groups are its values (the audit's group-by).
    n_bins : int
        About how many bins the accumulator's grid has over the range of the scores.
    capacity : int
        Exact non-mated scores the accumulator keeps (the highest ones, a row's score
        once per comparison it counts).
    chunk_rows : int
        Rows read at a time.

    Returns
    -------
    StreamedPairs
        The accumulator, the groups, a population without subjects (0 counted).

    Raises
    ------
    InputError
        For an unreadable or empty file, a missing column, a score that is not a
        finite number, a bad mated label, a count that is not a whole number from 0
        to 2**53, a mated row counting more than :data:`MAX_MATED_COUNT`, counts summing
        to more than :data:`MAX_TOTAL_COUNT` (or, over the mated rows, to more than
        :data:`MAX_MATED_TOTAL`), a score further than :data:`MAX_ABS_SCORE` from 0, or no
        positive count at all; each names the file, the 1-based data row and the column.
    UsageError
        For a score kind that is not a ScoreKind, an empty attribute name, sizes below 1,
        or a capacity above :data:`~faceparity.model.config.MAX_TAIL_CAPACITY`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from faceparity.verification.audit import audit_accumulated
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "h.csv").write_text(
    ...     "group_a,group_b,mated,score,count\nF,F,1,0.8,3\nF,F,0,0.1,500\nF,F,0,0.4,2\n")
    >>> sp = read_histogram(d / "h.csv", score_kind=ScoreKind.SIMILARITY, attribute="sex")
    >>> result = audit_accumulated(sp.accumulator, groups=sp.groups, group_by=sp.group_by,
    ...                            population=sp.population, notes=sp.notes)
    >>> result.overall.n_mated, result.overall.n_non_mated
    (3, 502)

    """
    kind = check_score_kind(score_kind)
    if not isinstance(attribute, str) or not attribute:
        raise UsageError(f"attribute: expected an attribute name, got {attribute!r}")
    check_sizes(chunk_rows, n_bins)
    if (
        isinstance(capacity, bool)
        or not isinstance(capacity, int)
        or not 1 <= capacity <= MAX_TAIL_CAPACITY
    ):
        raise UsageError(MSG_CAPACITY.format(limit=MAX_TAIL_CAPACITY, value=capacity))
    file = str(path)
    group_a, group_b, mated, score, count = HISTOGRAM_COLUMNS
    spec = AttributeSpec(attribute, (group_a, group_b))
    names = (attribute,)
    sign = 1.0 if kind is ScoreKind.SIMILARITY else -1.0

    # Pass 1: check every row; the range of the scores counted; the groups.
    seen = GroupLevels(names)
    low, high = np.inf, -np.inf
    total, total_mated = 0, 0
    for offset, frame in iter_table_chunks(path, HISTOGRAM_COLUMNS, chunk_rows=chunk_rows):
        origin = Origin(file, offset=offset)
        scores = sign * parse_scores(frame[score], origin=origin, column=score)
        check_score_range(scores, frame[score], origin=origin, column=score)
        labels = parse_mated(frame[mated], origin=origin, column=mated)
        counts = parse_counts(frame[count], origin=origin, column=count)
        too_many = np.flatnonzero(labels & (counts > MAX_MATED_COUNT))
        if too_many.size:
            i = int(too_many[0])
            raise InputError(
                MSG_MATED_COUNT.format(limit=MAX_MATED_COUNT, value=int(counts[i])),
                origin.at(i, count),
            )
        i_over = _first_over(counts, total, MAX_TOTAL_COUNT)
        if i_over is not None:
            raise InputError(
                MSG_TOTAL_COUNT.format(limit=MAX_TOTAL_COUNT), origin.at(i_over, count)
            )
        mated_counts = np.where(labels, counts, 0)
        i_over = _first_over(mated_counts, total_mated, MAX_MATED_TOTAL)
        if i_over is not None:
            raise InputError(
                MSG_MATED_TOTAL.format(limit=MAX_MATED_TOTAL), origin.at(i_over, count)
            )
        total += int(counts.sum())
        total_mated += int(mated_counts.sum())
        codes = encode_chunk(frame, [spec], file=file, offset=offset)
        positive = counts > 0
        if positive.any():
            low = min(low, float(scores[positive].min()))
            high = max(high, float(scores[positive].max()))
        chunk_codes, chunk_levels = codes[attribute]
        seen.add({attribute: (chunk_codes[positive], chunk_levels)})
    if not np.isfinite(low):
        raise InputError(MSG_NO_COUNTS, Location(file, None, count))
    groups, levels, keys = seen.groups()

    # Pass 2: count; keep the rows at or above the tail edge (it only rises as counts add).
    n_groups = len(groups)
    acc = Accumulator(score_grid(low, high, n_bins), n_groups, capacity=capacity)
    n_bins_grid = acc.grid.n_bins
    kept_scores = np.empty(0, dtype=np.float64)
    kept_cells = np.empty(0, dtype=np.int64)
    kept_counts = np.empty(0, dtype=np.int64)
    for offset, frame in iter_table_chunks(path, HISTOGRAM_COLUMNS, chunk_rows=chunk_rows):
        origin = Origin(file, offset=offset)
        counts = parse_counts(frame[count], origin=origin, column=count)
        positive = counts > 0
        similarity = sign * parse_scores(frame[score], origin=origin, column=score)[positive]
        labels = parse_mated(frame[mated], origin=origin, column=mated)[positive]
        counts = counts[positive]
        c, chunk_levels = encode_chunk(frame, [spec], file=file, offset=offset)[attribute]
        slot = group_slots({attribute: (c[positive], chunk_levels)}, levels, names, keys)

        acc.add_mated(
            np.repeat(similarity[labels], counts[labels]),
            np.repeat(slot[labels, 0], counts[labels]),
            np.repeat(slot[labels, 1], counts[labels]),
        )
        nm = ~labels
        cells = acc.lut[slot[nm, 0], slot[nm, 1]].astype(np.int64)
        bins = acc.grid.bin_of(similarity[nm])
        flat = np.zeros(acc.n_cells * n_bins_grid, dtype=np.int64)
        np.add.at(flat, cells * n_bins_grid + bins, counts[nm])
        for cell in np.unique(cells).tolist():
            acc.count_cell(cell, flat[cell * n_bins_grid : (cell + 1) * n_bins_grid])
        acc.tighten()
        # Rows at or above the raised edge (earlier ones re-checked): they count at most
        # ``capacity`` comparisons, and the edge never falls back below a dropped row.
        kept_scores = np.concatenate([kept_scores, similarity[nm]])
        kept_cells = np.concatenate([kept_cells, cells])
        kept_counts = np.concatenate([kept_counts, counts[nm]])
        above = acc.grid.bin_of(kept_scores) >= acc.tail_bin
        kept_scores, kept_cells, kept_counts = (
            kept_scores[above],
            kept_cells[above],
            kept_counts[above],
        )
    acc.add_tail(
        np.repeat(kept_scores, kept_counts), np.repeat(kept_cells, kept_counts).astype(np.int32)
    )

    population = Population(  # a histogram names no subjects: counts undefined, not zero
        n_subjects=[None] * n_groups,
        n_samples=[None] * n_groups,
        n_subjects_total=None,
        n_samples_total=None,
    )
    return StreamedPairs(
        accumulator=acc,
        groups=tuple(groups),
        group_by=names,
        population=population,
        exclusions=(),
        source=f"score histogram {os.path.basename(file)}",
        score_kind=kind,
        notes=(NOTE_HISTOGRAM,),
    )
