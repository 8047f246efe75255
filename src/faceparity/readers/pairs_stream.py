"""Pair tables larger than memory: read in chunks, straight into an accumulator.

:func:`accumulate_pairs` reads the same pair tables as
:func:`~faceparity.readers.pairs.read_pairs` (CSV, TSV or Parquet, one comparison per
row) but never holds the whole table: it reads it twice, a chunk of rows at a time.

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
   subject bootstrap needs (:mod:`faceparity.uncertainty.pair_views`).

Text id and attribute columns are dictionary-encoded by Arrow chunk by chunk (Parquet
text columns are read as the dictionaries they are stored as): every conversion and
check runs once per distinct value, never per row in Python. Integer id columns of a
Parquet table stay integers (:class:`WholeIds`); only the distinct ids are ever
written as text, once, to number them as the exact reader does. Each chunk is read,
decoded, checked and coded on a second thread while the previous one is accumulated
(:func:`prepared_chunks`).

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
mated scores with their subjects), two chunks of rows, the distinct subject ids, per
subject one flag a group and, for the subject bootstrap (``degrees``), one count a
cell (``n_subjects x (n_groups + 1) x (n_groups + 2) / 2 x 8`` bytes: 360 MB for
1,000,000 subjects in 8 groups), whatever the number of rows.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from faceparity.accumulate.accumulator import DEFAULT_TAIL_CAPACITY, Accumulator
from faceparity.accumulate.grid import ScoreGrid
from faceparity.accumulate.kernels import count_degrees
from faceparity.errors import InputError, Location, UsageError
from faceparity.model.comparisons import MISSING, Exclusion
from faceparity.model.config import ScoreKind
from faceparity.model.grouping import Group, intersect
from faceparity.model.population import Population
from faceparity.readers._table import (
    MSG_EMPTY_FILE,
    MSG_EMPTY_ID,
    MSG_MISSING_COLUMN,
    MSG_NO_ROWS,
    MSG_UNREADABLE,
    Origin,
    _text,
    available_columns,
    check_attribute_names,
    check_column_names,
    check_column_pair,
    check_labels,
    check_score_kind,
    check_score_range,
    parse_mated,
    parse_scores,
    stored_text,
    table_kind,
)
from faceparity.readers.attributes import AttributeSpec, band_labels, encode_attribute

__all__ = ["NOTE_STREAMING", "StreamedPairs", "accumulate_pairs", "iter_table_chunks"]

NOTE_STREAMING = (
    "the pair table was read in chunks (streaming): duplicate comparisons and comparisons "
    "of a sample with itself were not detected, and samples are not counted"
)
MSG_GROUP_BY_UNDEFINED = "group-by attribute {name!r} is not defined; attributes defined: {known}"
MSG_CHUNK_ROWS = "chunk_rows: expected a whole number of at least 1, got {value!r}"
MSG_N_BINS = "n_bins: expected a whole number of at least 1, got {value!r}"

_CSV_BLOCK_BYTES = 4 << 20

T = TypeVar("T")


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


class SubjectIds:
    """The distinct subject ids of a table read in chunks, numbered in sorted order.

    Ids are kept as Arrow string arrays (each id once, no Python object per id):
    :meth:`add` collects a chunk's distinct ids, made distinct across chunks by
    :func:`pyarrow.compute.unique` every few million of them (a cost in the number of
    ids added, not in chunks x ids); :meth:`close` sorts them, and :meth:`codes` numbers
    a chunk's ids by their rank (as the exact reader does).
    """

    COMPACT_IDS = 8_000_000
    """Ids collected before they are made distinct again."""

    def __init__(self) -> None:
        import pyarrow as pa

        self.ids = pa.array([], pa.string())
        self.parts: list[Any] = []
        self.pending = 0
        self.closed = False

    def _compact(self) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.parts:
            self.ids = pc.unique(pa.concat_arrays([self.ids, *self.parts]))
            self.parts, self.pending = [], 0

    def add(self, chunk: Any) -> None:
        """Add a chunk's distinct ids (an Arrow string array)."""
        self.parts.append(chunk)
        self.pending += len(chunk)
        if self.pending >= self.COMPACT_IDS:
            self._compact()

    def close(self) -> None:
        """Sort the ids (byte order of UTF-8: the order of their code points)."""
        import pyarrow.compute as pc

        self._compact()
        self.ids = self.ids.take(pc.sort_indices(self.ids))
        self.closed = True

    @property
    def size(self) -> int:
        """How many distinct ids."""
        return len(self.ids)

    def codes(self, chunk: Any) -> npt.NDArray[np.int64]:
        """The code of each of a chunk's ids (every one added before :meth:`close`)."""
        import pyarrow.compute as pc

        assert self.closed
        found = pc.index_in(chunk, value_set=self.ids)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)


class WholeIds:
    """The distinct subject ids of a table whose id columns hold integers, numbered as text.

    The ids stay integers from file to kernel: :meth:`add` collects a chunk's distinct
    ids by hashing (:func:`pyarrow.compute.unique`), :meth:`close` sorts them and numbers
    them by the order of their decimal text (as the exact reader, which reads every id
    as text, numbers them), and :meth:`codes` looks a chunk's ids up in a table indexed
    by value where the ids span a range not much larger than their number, by binary
    search otherwise. Only the distinct ids are ever written as text, once.
    """

    COMPACT_IDS = SubjectIds.COMPACT_IDS
    DENSE_SPAN = 4
    """A lookup table by value is used while the ids span at most this many values per id
    (plus a million)."""

    PRESENT_SPAN = 1 << 26
    """Ids from 0 up to this are collected as flags by value (a byte each), others hashed."""

    def __init__(self) -> None:
        self.ids = np.empty(0, dtype=np.int64)
        self.parts: list[npt.NDArray[np.int64]] = []
        self.pending = 0
        self.present: npt.NDArray[np.bool_] | None = np.zeros(0, dtype=bool)
        self.rank = np.empty(0, dtype=np.int64)
        self.lookup: npt.NDArray[np.int32] | None = None
        self.closed = False

    def _compact(self) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.present is not None and self.present.size:
            self.parts.append(np.flatnonzero(self.present).astype(np.int64))
        self.present = None
        if self.parts:
            merged = pc.unique(pa.array(np.concatenate([self.ids, *self.parts])))
            self.ids = np.asarray(merged.to_numpy(), dtype=np.int64)
            self.parts, self.pending = [], 0

    def add(self, values: npt.NDArray[np.int64]) -> None:
        """Add a chunk's ids (any number of times each)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if not values.size:
            return
        if self.present is not None:
            low, high = int(values.min()), int(values.max())
            if low >= 0 and high < self.PRESENT_SPAN:
                if high >= self.present.size:
                    grown = np.zeros(
                        min(max(high + 1, 2 * self.present.size), self.PRESENT_SPAN), bool
                    )
                    grown[: self.present.size] = self.present
                    self.present = grown
                self.present[values] = True
                return
            self._compact()  # from now on, hashed
        distinct = np.asarray(pc.unique(pa.array(values)).to_numpy(), dtype=np.int64)
        self.parts.append(distinct)
        self.pending += distinct.size
        if self.pending >= self.COMPACT_IDS:
            self._compact()

    def close(self) -> None:
        """Sort the ids; number them by the byte order of their text (see the class notes)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        self._compact()
        self.ids = np.sort(self.ids)
        text = pa.array(self.ids).cast(pa.string())
        order = np.asarray(pc.sort_indices(text).to_numpy(), dtype=np.int64)
        self.rank = np.empty(self.ids.size, dtype=np.int64)
        self.rank[order] = np.arange(self.ids.size, dtype=np.int64)
        if self.ids.size:
            low, high = int(self.ids[0]), int(self.ids[-1])
            dense = high - low + 1 <= self.DENSE_SPAN * self.ids.size + (1 << 20)
            if dense and self.ids.size < 2**31:
                self.lookup = np.full(high - low + 1, -1, dtype=np.int32)
                self.lookup[self.ids - low] = self.rank
        self.closed = True

    @property
    def size(self) -> int:
        """How many distinct ids."""
        return int(self.ids.size)

    def codes(self, values: npt.NDArray[np.int64]) -> npt.NDArray[np.integer]:
        """The code of each id (every one added before :meth:`close`)."""
        assert self.closed
        if self.lookup is not None:
            return np.asarray(self.lookup[values - self.ids[0]])
        return np.asarray(self.rank[np.searchsorted(self.ids, values)])


def whole_ids(values: pd.Series, *, origin: Origin, column: str) -> npt.NDArray[np.int64]:
    """A chunk's integer subject ids as int64; a missing one is the empty-id InputError."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return np.asarray(values.to_numpy(), dtype=np.int64)
    missing = np.flatnonzero(np.asarray(values.isna(), dtype=bool))
    if missing.size:
        raise InputError(MSG_EMPTY_ID.format(what="subject id"), origin.at(int(missing[0]), column))
    return np.asarray(values.to_numpy(dtype=np.float64), dtype=np.int64)


def integer_columns(path: str | os.PathLike[str], columns: Sequence[str]) -> bool:
    """Whether ``path`` is a Parquet table whose ``columns`` all hold integers that fit int64."""
    if table_kind(str(path)) != "Parquet":
        return False
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (OSError, ValueError, pa.ArrowException):
        return False  # the reader says why
    for column in columns:
        index = schema.get_field_index(column)
        if index < 0:
            return False
        kind = schema.field(index).type
        if not pa.types.is_integer(kind) or kind == pa.uint64():
            return False
    return True


def chunk_ids(
    values: pd.Series, *, origin: Origin, column: str
) -> tuple[npt.NDArray[np.int64], Any]:
    """The subject ids of one column of a chunk: a code per row and the distinct ids.

    Ids are read as :func:`~faceparity.readers._table.parse_ids` reads them (stripped
    text, whole numbers without ``.0``), converted once per distinct value; an empty
    or missing id is the same InputError. The ids come back as an Arrow string array.
    """
    import pyarrow as pa

    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = np.asarray(values.cat.codes, dtype=np.int64)
        distinct = pd.Series(values.cat.categories)
    else:
        raw, uniques = pd.factorize(values, use_na_sentinel=True)
        codes, distinct = np.asarray(raw, dtype=np.int64), pd.Series(uniques)
    text = _text(distinct)
    empty = np.append(np.asarray(text.isna() | (text == ""), dtype=bool), True)
    bad = np.flatnonzero(empty[codes])  # code -1 (missing) picks the last entry
    if bad.size:
        raise InputError(MSG_EMPTY_ID.format(what="subject id"), origin.at(int(bad[0]), column))
    merged, ids = pd.factorize(text, use_na_sentinel=True)  # ids equal once stripped: one
    lut = np.asarray(merged, dtype=np.int64)
    return lut[codes], pa.array(np.asarray(ids, dtype=object), type=pa.string())


def same_ids(
    codes_a: npt.NDArray[np.int64], ids_a: Any, codes_b: npt.NDArray[np.int64], ids_b: Any
) -> npt.NDArray[np.bool_]:
    """Whether the two sides of each row name the same id (codes into their own ids)."""
    import pyarrow.compute as pc

    found = pc.index_in(ids_b, value_set=ids_a).to_numpy(zero_copy_only=False)
    in_a = np.asarray(np.where(np.isnan(found.astype(np.float64)), -1, found), dtype=np.int64)
    return np.asarray(in_a[codes_b] == codes_a, dtype=bool)


# --- reading in chunks ---------------------------------------------------------------


def _require(names: Sequence[str], columns: Sequence[str], file: str) -> None:
    present = set(names)
    for column in columns:
        if column not in present:
            raise InputError(
                MSG_MISSING_COLUMN.format(column=column, available=available_columns(names)),
                Location(file, None, column),
            )


def _parquet_batches(parquet: Any, columns: list[str], chunk_rows: int) -> Iterator[Any]:
    """The record batches of a Parquet file, row group by row group.

    ``ParquetFile.iter_batches`` over a whole file keeps hold of memory for what it has
    read until the end (about the size of the decoded file); one row group at a time
    it does not. A row group of up to four chunks is read whole, a larger one in
    batches of a chunk.
    """
    try:
        metadata = parquet.metadata
        for i in range(metadata.num_row_groups):
            if metadata.row_group(i).num_rows <= 4 * chunk_rows:
                yield from parquet.read_row_group(i, columns=columns).to_batches()
            else:
                yield from parquet.iter_batches(
                    batch_size=chunk_rows, row_groups=[i], columns=columns
                )
    finally:
        parquet.close()


def _rechunk(batches: Iterable[object], chunk_rows: int) -> Iterator[object]:
    """Arrow record batches regrouped into tables of ``chunk_rows`` rows (the last one fewer)."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    n = 0
    for batch in batches:
        assert isinstance(batch, pa.RecordBatch)
        while batch.num_rows:
            take = min(chunk_rows - n, batch.num_rows)
            pending.append(batch.slice(0, take))
            n += take
            batch = batch.slice(take)
            if n == chunk_rows:
                yield pa.Table.from_batches(pending)
                pending, n = [], 0
    if n:
        yield pa.Table.from_batches(pending)


def iter_table_chunks(
    path: str | os.PathLike[str],
    columns: Sequence[str],
    *,
    chunk_rows: int,
    dictionary: Sequence[str] = (),
) -> Iterator[tuple[int, pd.DataFrame]]:
    """The rows of a CSV, TSV or Parquet table, ``chunk_rows`` at a time, never all at once.

    :func:`prepared_chunks` handing over each chunk as it is, with its offset (see there).
    """
    return prepared_chunks(path, columns, _as_read, chunk_rows=chunk_rows, dictionary=dictionary)


def _as_read(offset: int, frame: pd.DataFrame) -> tuple[int, pd.DataFrame]:
    return offset, frame


def prepared_chunks(
    path: str | os.PathLike[str],
    columns: Sequence[str],
    prepare: Callable[[int, pd.DataFrame], T],
    *,
    chunk_rows: int,
    dictionary: Sequence[str] = (),
) -> Iterator[T]:
    """``prepare(offset, chunk)`` of each chunk of rows of a table, made a chunk ahead.

    Cells are read as :func:`~faceparity.readers._table.load_table` reads them: CSV and
    TSV cells as text (only empty cells are empty, ``NA`` is text), Parquet columns
    with their stored types.

    The next chunk is read, decoded and prepared on a second thread while the caller
    works on this one (Arrow, pandas and numpy release the GIL for most of it), so
    ``prepare`` should depend on nothing the caller changes. An error raised by
    ``prepare`` reaches the caller at that chunk, as it would from a plain loop.

    Parameters
    ----------
    path : str or path-like
        The table; its format is chosen by its ending, as for ``load_table``.
    columns : sequence of str
        The columns to read; a missing one is an InputError listing those present.
    prepare : callable
        Called with the number of data rows before the chunk and the chunk (a pandas
        DataFrame, index 0..n-1).
    chunk_rows : int
        Rows per chunk (the last chunk may have fewer).
    dictionary : sequence of str, optional
        Columns to hand over dictionary-encoded where they hold text (pandas
        categoricals: each distinct value of the chunk once, no Python string per row).

    Yields
    ------
    object
        What ``prepare`` returned, chunk by chunk.

    Raises
    ------
    InputError
        For another ending, a file that cannot be read or parsed, a missing column,
        or a table without data rows.

    """
    import pyarrow as pa

    file = str(path)
    kind = table_kind(file)
    wanted = list(dict.fromkeys(columns))
    batches: Iterable[object] = ()
    try:
        if kind == "Parquet":
            import pyarrow.parquet as pq

            schema = pq.read_schema(path)
            _require([str(c) for c in schema.names], wanted, file)
            text = stored_text(schema, dictionary, wanted)
            batches = _parquet_batches(
                pq.ParquetFile(path, read_dictionary=text), wanted, chunk_rows
            )
        else:
            import pyarrow.csv as pcsv

            parse = pcsv.ParseOptions(delimiter="\t" if kind == "TSV" else ",")
            read = pcsv.ReadOptions(block_size=_CSV_BLOCK_BYTES)
            try:
                # The header (and one block) first, to check the columns.
                probe = pcsv.open_csv(path, parse_options=parse)
                names = list(probe.schema.names)
                probe.close()
            except pa.ArrowInvalid as err:
                if "empty" in str(err).lower():
                    raise InputError(MSG_EMPTY_FILE, Location(file)) from err
                raise
            check_column_names(names, file=file)
            _require(names, wanted, file)
            convert = pcsv.ConvertOptions(
                include_columns=wanted,
                column_types={c: pa.string() for c in wanted},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            )
            batches = pcsv.open_csv(
                path, read_options=read, parse_options=parse, convert_options=convert
            )
        rows = 0
        failed: _Failed | None = None
        chunks = _frames(_rechunk(batches, chunk_rows), dictionary, prepare)
        for n, item in _read_ahead(chunks):
            if isinstance(item, _Failed):
                failed = item
                break
            yield item
            rows += n
    except (OSError, ValueError, pa.ArrowException) as err:
        raise InputError(MSG_UNREADABLE.format(kind=kind, error=err), Location(file)) from err
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    if failed is not None:
        raise failed.error
    if rows == 0:
        raise InputError(MSG_NO_ROWS, Location(file))


@dataclass(frozen=True)
class _Failed:
    """What ``prepare`` raised: raised again to the caller, not taken for a reading error."""

    error: Exception


def _frames(
    tables: Iterable[Any], dictionary: Sequence[str], prepare: Callable[[int, pd.DataFrame], T]
) -> Iterator[tuple[int, T | _Failed]]:
    """The rows of each Arrow table and what ``prepare`` made of it (or raised).

    ``prepare`` is given the table as a pandas frame (index 0..n-1, ``dictionary``
    columns encoded).
    """
    offset = 0
    for table in tables:
        frame = _encoded(table, dictionary).to_pandas()
        frame.columns = [str(c) for c in frame.columns]
        try:
            item: T | _Failed = prepare(offset, frame.reset_index(drop=True))
        except Exception as err:  # noqa: BLE001 - raised again to the caller
            item = _Failed(err)
        yield len(frame), item
        if isinstance(item, _Failed):
            return
        offset += len(frame)


def _read_ahead(items: Iterator[T]) -> Iterator[T]:
    """The items of ``items``, the next one made on a second thread while the caller uses this one.

    Decoding a chunk (Arrow and pandas release the GIL) overlaps with the work on the
    previous one; the items and their order are unchanged, and an error in making one
    is raised where the caller asks for it. At most two items exist at once.
    """
    from concurrent.futures import ThreadPoolExecutor

    end = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceparity-read") as pool:
        pending = pool.submit(next, items, end)
        try:
            while True:
                item = pending.result()
                if item is end:
                    return
                pending = pool.submit(next, items, end)
                yield item  # type: ignore[misc]
        finally:
            pending.cancel()
            pool.shutdown(wait=True)  # nothing runs ``items`` now: it can be closed
            close = getattr(items, "close", None)
            if close is not None:
                close()


def _encoded(table: Any, columns: Sequence[str]) -> Any:
    """The Arrow table with its text ``columns``, and integer ones without gaps, encoded."""
    import pyarrow as pa

    for name in dict.fromkeys(columns):
        index = table.schema.get_field_index(name)
        if index < 0:
            continue
        column = table.column(index)
        kind = column.type
        whole = pa.types.is_integer(kind) and column.null_count == 0  # as pandas reads it
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or whole:
            table = table.set_column(index, name, column.dictionary_encode())
    return table


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
        key, missing = _combined(
            {name: codes[name][0].ravel() for name in self.group_by}, chunk_levels, self.group_by
        )
        key = key[~missing]
        size = int(np.prod([max(len(v), 1) for v in chunk_levels.values()], dtype=np.float64))
        if size <= 4 * key.size + 1024:
            present = np.flatnonzero(np.bincount(key, minlength=size))
        else:
            present = np.unique(key)
        for value in present.tolist():
            combo = []
            for name in reversed(self.group_by):
                combo.append(chunk_levels[name][value % len(chunk_levels[name])])
                value //= len(chunk_levels[name])
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
        # intersect orders its groups by this key, so a key's rank is its group index.
        keys = np.unique(_combined(codes, levels, self.group_by)[0])
        return groups, levels, keys


def _combined(
    codes: dict[str, npt.NDArray[np.int32]],
    levels: dict[str, tuple[str, ...]],
    group_by: tuple[str, ...],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The mixed-radix key of each code combination (as ``intersect`` forms it), and missing."""
    first = codes[group_by[0]]
    key = np.zeros(first.shape, dtype=np.int64)
    missing = np.zeros(first.shape, dtype=bool)
    for name in group_by:
        key = key * len(levels[name]) + np.maximum(codes[name], 0)
        missing |= codes[name] == MISSING
    return key, missing


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
    index = np.zeros(codes[group_by[0]][0].shape, dtype=np.int64)
    for size, name in zip(sizes, group_by, strict=True):
        chunk_codes = codes[name][0]
        index *= size
        index += np.where(chunk_codes == MISSING, size - 1, chunk_codes)
    return np.asarray(table[index], dtype=np.int64)


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
    key, missing = _combined(global_codes, levels, group_by)
    slot = np.searchsorted(keys, key).astype(np.int64)
    slot[missing] = len(keys)
    return slot


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

    def checked(
        self, offset: int, frame: pd.DataFrame
    ) -> tuple[float, float, list[Any], dict[str, tuple[npt.NDArray[np.int32], tuple[str, ...]]]]:
        """Pass 1, one chunk: every check; the lowest and highest similarity, the ids.

        The ids are for :meth:`SubjectIds.add` or :meth:`WholeIds.add`; the attribute
        codes come with them.
        """
        origin = Origin(self.file, offset=offset)
        scores = parse_scores(frame[self.score], origin=origin, column=self.score)
        check_score_range(scores, frame[self.score], origin=origin, column=self.score)
        similarity = self.sign * scores
        mated = self.mated
        ids: list[Any]
        if self.whole:
            id_a, id_b = (whole_ids(frame[c], origin=origin, column=c) for c in self.subjects)
            if mated is not None:
                labels = parse_mated(frame[mated], origin=origin, column=mated)
                same = np.asarray(id_a == id_b, dtype=bool)
                if (labels != same).any():
                    subject_a, subject_b = pd.Series(id_a), pd.Series(id_b)
                    check_labels(labels, same, subject_a, subject_b, origin=origin, column=mated)
            ids = [np.concatenate([id_a, id_b])]
        else:
            (codes_a, ids_a), (codes_b, ids_b) = (
                chunk_ids(frame[c], origin=origin, column=c) for c in self.subjects
            )
            if mated is not None:
                labels = parse_mated(frame[mated], origin=origin, column=mated)
                same = same_ids(codes_a, ids_a, codes_b, ids_b)
                if (labels != same).any():
                    subject_a = pd.Series(np.asarray(ids_a, dtype=object)[codes_a])
                    subject_b = pd.Series(np.asarray(ids_b, dtype=object)[codes_b])
                    check_labels(labels, same, subject_a, subject_b, origin=origin, column=mated)
            ids = [ids_a, ids_b]
        codes = encode_chunk(frame, self.attributes, file=self.file, offset=offset)
        return float(similarity.min()), float(similarity.max()), ids, codes

    def binned(
        self,
        known: SubjectIds | WholeIds,
        specs: tuple[AttributeSpec, ...],
        groups: tuple[dict[str, tuple[str, ...]], tuple[str, ...], npt.NDArray[np.int64]],
        offset: int,
        frame: pd.DataFrame,
    ) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.int64]
    ]:
        """Pass 2, one chunk: its similarities, mated flags, group slots and subject codes."""
        import pyarrow as pa

        origin = Origin(self.file, offset=offset)
        similarity = self.sign * parse_scores(frame[self.score], origin=origin, column=self.score)
        if isinstance(known, WholeIds):
            subject = np.empty((len(frame), 2), dtype=np.int64)
            for side, c in enumerate(self.subjects):
                subject[:, side] = known.codes(whole_ids(frame[c], origin=origin, column=c))
        else:
            (codes_a, ids_a), (codes_b, ids_b) = (
                chunk_ids(frame[c], origin=origin, column=c) for c in self.subjects
            )
            both = known.codes(pa.concat_arrays([ids_a, ids_b]))  # one lookup a chunk
            subject = np.column_stack([both[codes_a], both[len(ids_a) + codes_b]])
        same = np.asarray(subject[:, 0] == subject[:, 1], dtype=bool)
        levels, names, keys = groups
        codes = encode_chunk(frame, specs, file=self.file, offset=offset)
        return similarity, same, group_slots(codes, levels, names, keys), subject


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
        Rows read at a time; memory holds about one chunk.
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
    for lowest, highest, ids, codes in prepared_chunks(
        path, needed, table.checked, chunk_rows=chunk_rows, dictionary=text
    ):
        low, high = min(low, lowest), max(high, highest)
        for part in ids:
            known.add(part)
        seen.add(codes)
    groups, levels, keys = seen.groups()
    known.close()

    # Pass 2: bin and accumulate with the subjects; count the subjects of each group and
    # the non-mated comparisons of each subject in each cell.
    n_groups = len(groups)
    acc = Accumulator(score_grid(low, high, n_bins), n_groups, capacity=capacity)
    n_subjects = known.size
    member = np.zeros((n_groups + 1, n_subjects), dtype=bool)
    degree = np.zeros((n_subjects, acc.n_cells), dtype=np.int64) if degrees else None
    group_specs = tuple(spec for spec in attributes if spec.name in names)
    binned = functools.partial(table.binned, known, group_specs, (levels, names, keys))
    for similarity, same, slot, subject in prepared_chunks(
        path, needed, binned, chunk_rows=chunk_rows, dictionary=text
    ):
        acc.add_pairs(similarity, same, slot[:, 0], slot[:, 1], subjects=subject)
        count_degrees(subject, slot, same, acc.lut, degree, member)

    population = Population(
        n_subjects=[int(v) for v in member[:n_groups].sum(axis=1)],
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
