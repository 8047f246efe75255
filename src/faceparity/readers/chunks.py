"""The rows of a CSV, TSV or Parquet table a chunk at a time, read ahead on two threads.

Cells are read as :func:`~faceparity.readers._table.load_table` reads them. Parquet is
read row group by row group, its text columns as the dictionaries they are stored as;
CSV and TSV through Arrow's streaming reader. While the caller works on a chunk, one
thread makes a pandas frame of the next and prepares it (the caller's function), and
another reads and decodes the Arrow batches of the one after.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from faceparity.errors import InputError, Location
from faceparity.readers._table import (
    MSG_EMPTY_FILE,
    MSG_MISSING_COLUMN,
    MSG_NO_ROWS,
    MSG_OPEN_QUOTE,
    MSG_UNREADABLE,
    UTF8_BOM,
    available_columns,
    check_column_names,
    check_file_fields,
    stored_text,
    table_kind,
)

__all__ = ["iter_table_chunks", "prepared_chunks"]

_CSV_BLOCK_BYTES = 4 << 20

T = TypeVar("T")


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
    check_quotes: bool = True,
) -> Generator[T, None, None]:
    """``prepare(offset, chunk)`` of each chunk of rows of a table, made a chunk ahead.

    Cells are read as :func:`~faceparity.readers._table.load_table` reads them: CSV and
    TSV cells as text (only empty cells are empty, ``NA`` is text), Parquet columns
    with their stored types.

    The next chunk is prepared on one thread, and the batches of the one after it read
    and decoded on another, while the caller works on this one (Arrow, pandas and numpy
    release the GIL for most of it): a few chunks are held at once, and
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
    check_quotes : bool, default True
        For CSV and TSV: follow the quotes as Arrow reads the file and, where a quoted
        field is open at its end, read it again to name that field (see
        :class:`_QuoteState`). False where the same file was read through before.

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
    quotes: _QuoteState | None = None
    stages: list[Generator[Any, None, None]] = []
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

            sep = "\t" if kind == "TSV" else ","
            # Without newlines_in_values a quoted line end across a block is an error;
            # with it, pyarrow 26 drops the LF of a CRLF that a block's end cuts in two.
            parse = pcsv.ParseOptions(delimiter=sep)
            read = pcsv.ReadOptions(block_size=_CSV_BLOCK_BYTES)
            try:
                # The header (and one block) first, to check the columns.
                probe = pcsv.open_csv(path, parse_options=parse)
                names = list(probe.schema.names)
                probe.close()
            except pa.ArrowInvalid as err:
                if _empty(err):
                    if not _has_header(path):
                        raise InputError(MSG_EMPTY_FILE, Location(file)) from err
                    # A header alone, or one whose quote left open takes in the file.
                    check_file_fields(path, sep=sep, file=file)
                    raise InputError(MSG_NO_ROWS, Location(file)) from err
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
            source: Any = path
            if check_quotes:
                source = quotes = _QuoteState(open(path, "rb"), sep=sep)  # noqa: SIM115 - closed below
            batches = pcsv.open_csv(
                source, read_options=read, parse_options=parse, convert_options=convert
            )
        rows = 0
        failed: _Failed | None = None
        # Two threads ahead: one reads and decodes the batches of the next chunk (Arrow,
        # on its own threads), one makes a pandas frame of the chunk before and prepares it.
        stages.append(_read_ahead(iter(batches)))
        stages.append(_read_ahead(_frames(_rechunk(stages[0], chunk_rows), dictionary, prepare)))
        for n, item in stages[1]:
            if isinstance(item, _Failed):
                failed = item
                break
            yield item
            rows += n
        if quotes is not None and quotes.open_at_end:
            # Named by its row and column, as the exact reader names it (where ``prepare``
            # failed after Arrow read to the end, a field-level fault is named first too).
            check_file_fields(path, sep=sep, file=file)
            raise InputError(MSG_OPEN_QUOTE, Location(file))  # where the check named no row
    except (OSError, ValueError, pa.ArrowException) as err:
        if kind != "Parquet" and isinstance(err, pa.ArrowInvalid):
            # A row with another number of fields (Arrow quotes the row, not its number)
            # or a quote left open: the file is read again to name the row.
            check_file_fields(path, sep=sep, file=file)
        raise InputError(MSG_UNREADABLE.format(kind=kind, error=err), Location(file)) from err
    finally:
        for stage in reversed(stages):  # their threads end before the batches are closed
            stage.close()
        close = getattr(batches, "close", None)
        if close is not None:
            close()
        if quotes is not None:
            quotes.close()
    if failed is not None:
        raise failed.error
    if rows == 0:
        raise InputError(MSG_NO_ROWS, Location(file))


def _empty(err: Exception) -> bool:
    """Whether Arrow's CSV reader found no line to read a header from.

    Matched at the start of the message: a ragged row's message quotes the row, which
    may hold any words.
    """
    return str(err).startswith(("Empty CSV file", "CSV parse error: Empty CSV file"))


def _has_header(path: str | os.PathLike[str]) -> bool:
    """Whether a file Arrow found no line in opens with text (a header without a line end)."""
    with open(path, "rb") as handle:
        head = handle.read(_CSV_BLOCK_BYTES)
    return bool(head.removeprefix(UTF8_BOM).strip())


class _QuoteState:
    """A binary file read as Arrow reads it, its CSV quotes followed (``open_at_end``).

    Without ``newlines_in_values``, Arrow's CSV reader refuses a quoted line end where
    a block ends, except in the last block: there a quote left open takes in the rest
    of the file as one value, and the rows after it are lost without a word (pandas
    says "EOF inside string"). A parser's quote state is followed through each block
    that holds a quote (a compiled loop; a block without one moves it on by its last
    byte), so that a quote open at the end is found whatever quotes come before it,
    quotes inside unquoted values (``ab"c``) included. A byte-order mark is skipped,
    as Arrow skips it.
    """

    def __init__(self, handle: Any, *, sep: str) -> None:
        from faceparity.readers._loops import quote_state

        # Compiled (or loaded from numba's cache) here: a first compile on Arrow's
        # reading thread, beside the loops compiled on the read-ahead threads, hung.
        quote_state(np.frombuffer(b"", dtype=np.uint8), 0, 0)
        self._step = quote_state
        self._handle = handle
        self._sep = ord(sep)
        self._state = _FIELD_START
        self._first = True
        self._at_end = False

    @property
    def open_at_end(self) -> bool:
        """Whether the file was read to its end with a quoted field still open."""
        return self._at_end and self._state == _QUOTED

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._handle.read(size)
        self._at_end = self._at_end or size < 0 or len(data) < size
        text = data
        if self._first:
            self._first = False
            text = data.removeprefix(UTF8_BOM)
        if b'"' in text:
            codes = np.frombuffer(text, dtype=np.uint8)
            self._state = int(self._step(codes, self._sep, self._state))
        elif text and self._state != _QUOTED:
            ends = (self._sep, 10, 13)  # a separator, LF or CR
            self._state = _FIELD_START if text[-1] in ends else _UNQUOTED
        return data

    @property
    def closed(self) -> bool:
        return bool(self._handle.closed)

    def close(self) -> None:
        self._handle.close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


_FIELD_START, _UNQUOTED, _QUOTED = 0, 1, 2
"""States of :func:`~faceparity.readers._loops.quote_state` (3: after a quote in a quoted field)."""


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


def _read_ahead(items: Iterator[T]) -> Generator[T, None, None]:
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
