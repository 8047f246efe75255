"""Subject ids of a pair table read in chunks, numbered as the whole-table reader numbers them.

The whole-table reader (:func:`faceparity.readers.pairs.read_pairs`) reads every id as
stripped text and numbers the subjects in the sorted order of that text. A streamed
reader sees the ids a chunk at a time: :class:`SubjectIds` collects text ids as Arrow
strings, :class:`WholeIds` keeps the integer ids of a Parquet table as integers and
writes only the distinct ones as text, once, to number them in the same order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from faceparity.errors import InputError
from faceparity.readers._table import MSG_EMPTY_ID, Origin, _text, table_kind

__all__ = ["SubjectIds", "WholeIds", "chunk_ids", "integer_columns", "same_ids", "whole_ids"]


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
        """The code of each of a chunk's ids (every one added before :meth:`close`).

        Raises
        ------
        ValueError
            For an id that was not added.

        """
        import pyarrow.compute as pc

        assert self.closed
        found = pc.index_in(chunk, value_set=self.ids)
        if found.null_count:
            raise ValueError("a subject id was not added")
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

    def codes(self, values: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
        """The code of each id (every one added before :meth:`close`)."""
        out = np.empty((len(values), 1), dtype=np.int64)
        self.codes_into(values, out, 0)
        return out[:, 0]

    def codes_into(
        self, values: npt.NDArray[np.integer], out: npt.NDArray[np.int64], column: int
    ) -> None:
        """Write the code of each id into ``out[:, column]`` (in one compiled pass, by value).

        Raises
        ------
        ValueError
            For an id that was not added before :meth:`close`.

        """
        assert self.closed
        if self.lookup is None:
            at = np.searchsorted(self.ids, values)
            found = at < self.ids.size
            found[found] = self.ids[at[found]] == values[found]
            if not found.all():
                raise ValueError(f"subject id {values[~found][0]} was not added")
            out[:, column] = self.rank[at]
            return
        from faceparity.readers._loops import looked_up

        bad = looked_up(values, self.lookup, int(self.ids[0]), out, column)
        if bad >= 0:
            raise ValueError(f"subject id {values[bad]} was not added")


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
