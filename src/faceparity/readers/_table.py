"""Machinery the table readers share: load, validate, deduplicate, assemble.

Every reader turns its format into the same few arrays (the score, the subject of
each side, optionally the sample of each side and a mated label, the attribute
codes of each side) and hands them to :func:`assemble`, so that every format gets
the same checks, with the same messages:

- a score is a finite number (empty, NaN and infinite values are errors);
- a mated label, where the format has one, agrees with the subject ids;
- a sample belongs to one subject;
- the same two samples compared more than once are kept once, the other rows are
  recorded as an :class:`~faceparity.model.comparisons.Exclusion`, and copies that
  disagree in score are an error naming both rows.

Rows in messages are 1-based data rows, the header not counted (for headerless
files, the line number). Message templates are module constants so that tests can
compare messages exactly.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from faceparity.errors import InputError, Location, UsageError
from faceparity.model.comparisons import ComparisonSet, Exclusion
from faceparity.model.config import ScoreKind
from faceparity.readers.attributes import AttributeSpec, encode_attribute

__all__ = [
    "TABLE_SUFFIXES",
    "AttributeCodes",
    "Origin",
    "assemble",
    "available_columns",
    "check_attribute_names",
    "check_column_pair",
    "check_score_kind",
    "check_unique_ids",
    "describe",
    "encode_attributes",
    "encoded_text",
    "load_table",
    "parse_ids",
    "parse_mated",
    "parse_scores",
    "read_delimited",
    "require_columns",
    "stacked",
]

AttributeCodes = tuple[npt.NDArray[np.int32], tuple[str, ...]]
"""Per-side codes of shape (n, 2) and the levels they index, as from ``encode_attribute``."""

TABLE_SUFFIXES: Mapping[str, str] = {
    ".csv": "CSV",
    ".tsv": "TSV",
    ".parquet": "Parquet",
    ".pq": "Parquet",
}
"""File name endings :func:`load_table` reads, and the format each one means."""

MSG_UNSUPPORTED_SUFFIX = "expected a table file ending in {expected}, got {suffix}"
MSG_UNREADABLE = "could not be read as {kind}: {error}"
MSG_EMPTY_FILE = "expected a header row and at least one data row, got an empty file"
MSG_NO_ROWS = "expected at least one data row, got none"
MSG_MISSING_COLUMN = "expected a column {column!r}; the file has columns: {available}"
MSG_DUPLICATE_COLUMN = (
    "expected distinct column names; {column!r} names {count} columns (positions {positions})"
)
MSG_RAGGED_ROW = "expected {expected} fields, one per column of the header, got {got}"
MSG_OPEN_QUOTE = (
    "expected a closing quote: the quoted field opened here runs to the end of the file"
)
MSG_BAD_SCORE = "score: expected a finite number, got {value}"
MSG_EMPTY_ID = "{what}: expected an identifier, got an empty value"
MSG_DUPLICATE_ID = (
    "{what} {value!r}: expected each {what} in one row only, got it in rows {first_row} and "
    "{second_row}"
)
MSG_BAD_LABEL = "mated label: expected 1/0, true/false or mated/non-mated (any case), got {value}"
MSG_LABEL_CONTRADICTS = (
    "mated label: the label says {label} but the subject ids are {subject_a!r} and {subject_b!r}"
)
MSG_SAMPLE_TWO_SUBJECTS = (
    "sample {sample!r}: expected one subject per sample, got subject {first!r} in row "
    "{first_row} and subject {second!r} here"
)
MSG_SAMPLE_TWO_VALUES = (
    "sample {sample!r}: expected one value of attribute {attribute!r} per sample, got "
    "{first!r} in row {first_row} and {second!r} here"
)
MSG_DUPLICATE_DISAGREES = (
    "duplicate comparison of samples {sample_a!r} and {sample_b!r}: expected the score of "
    "row {first_row} ({first}) again, got {second}"
)
REASON_SELF_COMPARISON = (
    "comparison of a sample with itself in {file} (not a genuine attempt; ISO/IEC 19795-1)"
)
REASON_DUPLICATE = (
    "duplicate comparison (same two samples) in {file}; the first row of each was kept"
)

_LABELS: Mapping[str, bool] = {
    "1": True,
    "true": True,
    "mated": True,
    "0": False,
    "false": False,
    "non-mated": False,
    "non_mated": False,
}


@dataclass(frozen=True, eq=False)
class Origin:
    """Where the rows of an array came from, for error messages.

    Parameters
    ----------
    file : str
        The file, as the user named it.
    rows : ndarray of int64, optional
        The row number to report for each position; by default position + 1 +
        ``offset`` (the 1-based data row of a table with a header, ``offset`` rows
        down: a chunk of a table read in chunks).
    offset : int
        Rows before position 0, where ``rows`` is not given.

    """

    file: str
    rows: npt.NDArray[np.int64] | None = None
    offset: int = 0

    def row(self, position: int) -> int:
        """The row number to report for an array position."""
        return position + 1 + self.offset if self.rows is None else int(self.rows[position])

    def at(self, position: int, column: str | None) -> Location:
        """The location of a position in a column."""
        return Location(self.file, self.row(position), column)

    def take(self, positions: npt.NDArray[np.int64]) -> Origin:
        """The origin of ``array[positions]``."""
        if self.rows is None:
            return Origin(self.file, np.asarray(positions, dtype=np.int64) + 1 + self.offset)
        return Origin(self.file, np.asarray(self.rows, dtype=np.int64)[positions])


def check_score_kind(score_kind: object) -> ScoreKind:
    """The score kind as a ScoreKind; UsageError for anything else (it is never guessed)."""
    if isinstance(score_kind, ScoreKind):
        return score_kind
    if isinstance(score_kind, str) and score_kind in {k.value for k in ScoreKind}:
        return ScoreKind(score_kind)
    expected = " or ".join(repr(k.value) for k in ScoreKind)
    raise UsageError(f"score_kind: expected {expected}, got {score_kind!r}")


def check_column_pair(value: object, *, option: str) -> tuple[str, str]:
    """Two column names, or UsageError naming the option."""
    if (
        isinstance(value, str)
        or not isinstance(value, Sequence)
        or len(value) != 2
        or not all(isinstance(v, str) and v for v in value)
    ):
        raise UsageError(f"{option}: expected two column names, got {value!r}")
    return (value[0], value[1])


def describe(value: object) -> str:
    """A value as messages show it: quoted text, a number, or ``an empty value``."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA:
        return "an empty value"
    if isinstance(value, float) and np.isnan(value):
        return "an empty value (NaN)"
    if isinstance(value, str) and not value.strip():
        return "an empty value"
    return repr(value)


def read_delimited(path: str | os.PathLike[str], *, sep: str, kind: str) -> pd.DataFrame:
    """Read delimited text with a header, every cell as text, only empty cells missing.

    Cells are kept verbatim (``NA`` is the text ``NA``, not a missing value), so that
    identifiers keep their leading zeros and messages can quote what the file says.
    Every row must have one field per column of the header, and the header's names must
    be distinct (a row padded or shifted, or a column read under another's name, would
    otherwise change the data without a word).

    Raises
    ------
    InputError
        When the file cannot be read or parsed, is empty, has no data rows, repeats a
        column name, or has a row with more or fewer fields than the header.

    """
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise InputError(MSG_UNREADABLE.format(kind=kind, error=err), Location(file)) from err
    if data.startswith(UTF8_BOM):
        data = data[3:]
    check_fields(data, sep=sep, file=file)
    try:
        with warnings.catch_warnings():
            # pandas warns where its tokenizer and the field count above disagree (a file
            # opening with a lone CR); that file is refused, not re-indexed.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.BytesIO(data),
                sep=sep,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                encoding="utf-8",
                index_col=False,
            )
    except pd.errors.EmptyDataError as err:
        raise InputError(MSG_EMPTY_FILE, Location(file)) from err
    except (OSError, ValueError, pd.errors.ParserWarning) as err:
        raise InputError(MSG_UNREADABLE.format(kind=kind, error=err), Location(file)) from err
    if len(frame) == 0:
        raise InputError(MSG_NO_ROWS, Location(file))
    return frame


def check_column_names(names: Sequence[str], *, file: str) -> None:
    """Raise InputError when a column name appears more than once in a header."""
    for name, count in Counter(names).items():
        if count > 1:
            positions = ", ".join(str(i + 1) for i, n in enumerate(names) if n == name)
            raise InputError(
                MSG_DUPLICATE_COLUMN.format(column=name, count=count, positions=positions),
                Location(file, column=name),
            )


def check_fields(data: bytes, *, sep: str, file: str) -> None:
    """Check delimited text (no byte-order mark): distinct names, one field per column a row.

    Without quote characters, fields are counted for every line at once (separators
    between line ends: LF, CRLF or a lone CR); with them, a CSV parser reads the rows.
    Blank lines are skipped, as the table reader skips them; rows are numbered as data
    rows (header excluded).

    Raises
    ------
    InputError
        Naming the repeated column, or the first row with another number of fields.

    """
    if b'"' in data:
        _check_quoted(io.StringIO(data.decode("utf-8", "replace"), newline=""), sep=sep, file=file)
        return
    fields, header = _line_fields(data, sep)
    if header is not None:
        check_column_names(header.split(sep), file=file)
        _check_counts(fields[1:], int(fields[0]), 0, file)


FIELD_BLOCK_BYTES = 64 << 20
"""Bytes of a file :func:`check_file_fields` reads at a time."""


def check_file_fields(path: str | os.PathLike[str], *, sep: str, file: str) -> None:
    """:func:`check_fields` of a file of any size, read a block of whole lines at a time.

    Memory holds one block (:data:`FIELD_BLOCK_BYTES`); a file with a quote character
    is read row by row by a CSV parser from its start instead. A leading byte-order
    mark is skipped.
    """
    expected: int | None = None
    rows = 0
    with open(path, "rb") as handle:
        carry = handle.read(3)
        if carry == UTF8_BOM:
            carry = b""
        while True:
            block = handle.read(FIELD_BLOCK_BYTES)
            data = carry + block
            if not block:
                cut = len(data)
            else:  # after the last line end (a CRLF cut in two leaves a blank line: skipped)
                cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
            data, carry = data[:cut], data[cut:]
            if b'"' in data:
                handle.seek(0)
                text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="replace", newline="")
                _check_quoted(text, sep=sep, file=file)
                return
            fields, header = _line_fields(data, sep)
            if header is not None and expected is None:
                check_column_names(header.split(sep), file=file)
                expected, fields = int(fields[0]), fields[1:]
            if expected is not None:
                _check_counts(fields, expected, rows, file)
                rows += len(fields)
            if not block:
                return


def _line_fields(data: bytes, sep: str) -> tuple[npt.NDArray[np.intp], str | None]:
    """Fields of each line of ``data`` that is not blank, and the first such line's text."""
    if not data:
        return np.zeros(0, dtype=np.intp), None
    codes = np.frombuffer(data, dtype=np.uint8)
    # A line ends at LF, or at a CR not followed by LF, as the table parsers read it.
    carriage_returns = codes == 13
    lone = carriage_returns & np.append(codes[1:] != 10, True)
    ends = np.flatnonzero((codes == 10) | lone)
    if not len(ends) or ends[-1] != len(codes) - 1:
        ends = np.append(ends, len(codes))
    starts = np.concatenate(([0], ends[:-1] + 1))
    at = np.flatnonzero(codes == ord(sep))
    fields = np.searchsorted(at, ends) - np.searchsorted(at, starts) + 1
    length = ends - starts
    last = np.minimum(ends, len(codes)) - 1
    carriage = (length > 0) & (codes[np.maximum(last, 0)] == 13)
    rows = np.flatnonzero(length - carriage != 0)
    if not len(rows):
        return np.zeros(0, dtype=np.intp), None
    first = rows[0]
    header = data[starts[first] : ends[first]].rstrip(b"\r").decode("utf-8", "replace")
    return fields[rows], header


def _check_counts(fields: npt.NDArray[np.intp], expected: int, before: int, file: str) -> None:
    """InputError naming the first row with other than ``expected`` fields.

    ``before`` data rows precede those counted in ``fields``.
    """
    wrong = np.flatnonzero(fields != expected)
    if len(wrong):
        first = int(wrong[0])
        raise InputError(
            MSG_RAGGED_ROW.format(expected=expected, got=int(fields[first])),
            Location(file, row=before + first + 1),
        )


def _check_quoted(lines: Iterable[str], *, sep: str, file: str) -> None:
    """:func:`check_fields` for text with quoted fields, read by the csv module.

    A field may be as long as the table parsers read it: the csv module's limit
    (131,072 characters by default) is lifted while it reads. A quoted field still open
    at the end of the file (pandas: "EOF inside string") is named by its row and column:
    a line after the text ends up in the last row read only when a quote is open.
    """
    limit = csv.field_size_limit(_FIELD_SIZE_LIMIT)
    try:
        after = sep.join([_AFTER_END] * 2)
        reader = csv.reader(itertools.chain(lines, [after]), delimiter=sep)
        rows = (row for row in reader if row and row != [_AFTER_END] * 2)
        header = next(rows, None)
        if header is None:
            return
        if header[-1].endswith(after):
            raise InputError(MSG_OPEN_QUOTE, Location(file))
        check_column_names(header, file=file)
        for number, row in enumerate(rows, 1):
            if row[-1].endswith(after):
                column = header[len(row) - 1] if len(row) <= len(header) else None
                raise InputError(MSG_OPEN_QUOTE, Location(file, row=number, column=column))
            if len(row) != len(header):
                raise InputError(
                    MSG_RAGGED_ROW.format(expected=len(header), got=len(row)),
                    Location(file, row=number),
                )
    finally:
        csv.field_size_limit(limit)


_AFTER_END = "\ufdd0"
"""Twice, separated, a line read after a file's text: a row of two fields of its own
unless a quote is still open, when it ends the open field (an open field with nothing
in it yet included). A Unicode noncharacter, which text files do not hold.
"""

UTF8_BOM = b"\xef\xbb\xbf"
"""The byte-order mark a UTF-8 file may open with, which the table parsers skip."""

_FIELD_SIZE_LIMIT = 2**31 - 1
"""The longest field the csv module reads for :func:`_check_quoted` (a C long everywhere)."""


def table_kind(file: str) -> str:
    """The format a table file's ending names (``TABLE_SUFFIXES``); InputError for another."""
    suffix = Path(file).suffix.lower()
    kind = TABLE_SUFFIXES.get(suffix)
    if kind is None:
        raise InputError(
            MSG_UNSUPPORTED_SUFFIX.format(
                expected=", ".join(TABLE_SUFFIXES), suffix=repr(suffix) if suffix else "none"
            ),
            Location(file),
        )
    return kind


def load_table(
    path: str | os.PathLike[str],
    *,
    columns: Sequence[str] | None = None,
    dictionary: Sequence[str] = (),
) -> pd.DataFrame:
    """Load a CSV, TSV or Parquet table, the format chosen by the file name's ending.

    Parameters
    ----------
    path : str or path-like
        A file ending in one of :data:`TABLE_SUFFIXES` (case-insensitive).
    columns : sequence of str, optional
        The columns the caller needs: each must be present (InputError naming the
        first missing one and those present), and of a Parquet file only they are
        read (its other columns are never decoded).
    dictionary : sequence of str, optional
        Columns of a Parquet file to read dictionary-encoded where they hold text or
        integers without gaps (pandas categoricals: each distinct value once, codes per row; no
        Python string per row). Ignored for CSV and TSV.

    Returns
    -------
    pandas.DataFrame
        CSV and TSV cells as text (see :func:`read_delimited`); Parquet columns with
        their stored types. Column names are strings.

    Raises
    ------
    InputError
        For another ending, a file that cannot be read or parsed, or one without data rows.

    """
    file = str(path)
    kind = table_kind(file)
    if kind != "Parquet":
        frame = read_delimited(path, sep="\t" if kind == "TSV" else ",", kind=kind)
        if columns is not None:
            require_columns(frame, columns, file=file)
        return frame
    import pyarrow
    import pyarrow.parquet as pq

    try:
        names = [str(c) for c in pq.read_schema(path).names]
        check_column_names(names, file=file)
        if columns is not None:
            require_columns(pd.DataFrame(columns=names), columns, file=file)
            wanted = list(dict.fromkeys(columns))
            text = stored_text(pq.read_schema(path), dictionary, wanted)
            table = pq.read_table(path, columns=wanted, read_dictionary=text or None)
            for c in dict.fromkeys(dictionary):  # integers without gaps: each value once too
                index = table.schema.get_field_index(c)
                if index >= 0 and pyarrow.types.is_integer(table.schema.field(index).type):
                    column = table.column(index)
                    if column.null_count == 0:
                        table = table.set_column(index, c, column.dictionary_encode())
        else:
            table = pq.read_table(path)
        frame = table.to_pandas()
    except (OSError, ValueError, pyarrow.ArrowException) as err:
        raise InputError(MSG_UNREADABLE.format(kind=kind, error=err), Location(file)) from err
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) == 0:
        raise InputError(MSG_NO_ROWS, Location(file))
    return pd.DataFrame(frame.reset_index(drop=True))


def stored_text(schema: Any, columns: Iterable[str], wanted: Sequence[str]) -> list[str]:
    """Those of ``columns``, among ``wanted``, that a Parquet ``schema`` stores as text.

    Read as dictionaries (``read_dictionary``), they come as the dictionaries Parquet
    stores them in: no hashing a row.
    """
    import pyarrow as pa

    def text(column: str) -> bool:
        kind = schema.field(column).type
        return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))

    return [c for c in dict.fromkeys(columns) if c in wanted and text(c)]


def available_columns(columns: Iterable[object]) -> str:
    """Column names as messages list them: ``'a', 'b'``, or ``none``."""
    return ", ".join(repr(str(c)) for c in columns) or "none"


def require_columns(frame: pd.DataFrame, columns: Sequence[str], *, file: str) -> None:
    """Raise InputError naming the first of ``columns`` the frame lacks, and those it has."""
    present = set(frame.columns)
    for column in columns:
        if column not in present:
            raise InputError(
                MSG_MISSING_COLUMN.format(
                    column=column, available=available_columns(frame.columns)
                ),
                Location(file, None, column),
            )


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped text (dtype ``str``); missing values stay missing.

    Floats that are all whole numbers below 2**53 (an integer column with gaps, as
    Parquet readers give it) are written without ``.0``; other floats as written.
    """
    if pd.api.types.is_float_dtype(values.dtype):
        present = values.dropna()
        if (
            len(present)
            and bool(np.isfinite(present).all())
            and bool((present.abs() < 2.0**53).all())
            and bool((present == np.floor(present)).all())
        ):
            values = values.astype("Int64")
    return values.astype("str").str.strip().reset_index(drop=True)


def parse_scores(values: pd.Series, *, origin: Origin, column: str) -> npt.NDArray[np.float64]:
    """Scores as float64; InputError at the first value that is not a finite number."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        scores = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        text = values.astype("string").str.strip()
        parsed = pd.to_numeric(text, errors="coerce")
        scores = np.asarray(parsed.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:
        i = int(bad[0])
        raise InputError(MSG_BAD_SCORE.format(value=describe(values.iloc[i])), origin.at(i, column))
    return scores


MAX_ABS_SCORE = 1e300
"""The largest magnitude of a score a binned reader takes: the range of the scores, up to
twice it, stays finite, and so does the grid spanning it."""

MSG_SCORE_RANGE = "score: expected a number from -{limit:g} to {limit:g}, got {value}"


def check_score_range(
    scores: npt.NDArray[np.float64], values: pd.Series, *, origin: Origin, column: str
) -> None:
    """InputError at the first score further than :data:`MAX_ABS_SCORE` from 0."""
    far = np.flatnonzero(np.abs(scores) > MAX_ABS_SCORE)
    if far.size:
        i = int(far[0])
        raise InputError(
            MSG_SCORE_RANGE.format(limit=MAX_ABS_SCORE, value=describe(values.iloc[i])),
            origin.at(i, column),
        )


def encoded_text(values: pd.Series) -> pd.Series:
    """:func:`_text` of every value, as a categorical computed on the distinct values only.

    The categories are the distinct stripped texts (values equal once stripped share
    one); a missing value has no category. Each value is converted once, however
    many rows hold it: no Python object per row.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = np.asarray(values.cat.codes, dtype=np.int64)
        distinct = pd.Series(values.cat.categories)
    else:
        raw_codes, uniques = pd.factorize(values, use_na_sentinel=True)
        codes = np.asarray(raw_codes, dtype=np.int64)
        distinct = pd.Series(uniques)
    text = _text(distinct)
    text_codes, text_values = pd.factorize(text, use_na_sentinel=True)
    lut = np.append(np.asarray(text_codes, dtype=np.int64), -1)  # code -1 picks the last
    return pd.Series(pd.Categorical.from_codes(lut[codes], categories=pd.Index(text_values)))


def stacked(first: pd.Series, second: pd.Series) -> pd.Series:
    """The two series one after the other (index 0..), categoricals kept categorical.

    Two categoricals are joined on their categories (sorted), never on their values.
    """
    if isinstance(first.dtype, pd.CategoricalDtype) and isinstance(
        second.dtype, pd.CategoricalDtype
    ):
        from pandas.api.types import union_categoricals

        return pd.Series(union_categoricals([first.array, second.array], sort_categories=True))
    return pd.concat([first, second], ignore_index=True)


def parse_ids(
    values: pd.Series,
    *,
    origin: Origin,
    column: str,
    what: str = "subject id",
    encoded: bool = False,
) -> pd.Series:
    """Identifiers as stripped text (whole numbers without ``.0``); empty is an error.

    Returns a ``str`` Series with a fresh 0..n-1 index (Arrow-backed, so that
    factorising millions of them stays fast); with ``encoded`` (or for a categorical
    input), a categorical of the same texts, converted once per distinct value.
    """
    if encoded or isinstance(values.dtype, pd.CategoricalDtype):
        text = encoded_text(values)
    else:
        text = _text(values)
    empty = np.asarray(text.isna() | (text == ""), dtype=bool)
    bad = np.flatnonzero(empty)
    if bad.size:
        raise InputError(MSG_EMPTY_ID.format(what=what), origin.at(int(bad[0]), column))
    return text


def check_unique_ids(ids: pd.Series, *, origin: Origin, column: str, what: str) -> None:
    """Raise InputError at the first identifier that repeats an earlier one, naming both rows.

    Parameters
    ----------
    ids : pandas.Series
        Identifiers, positions in row order (as from :func:`parse_ids`).
    origin : Origin
        Where each position came from.
    column : str
        The column, for the message's location.
    what : str
        What the identifiers are (``"sample id"``, ``"subject id"``), for the message.

    Examples
    --------
    >>> try:
    ...     check_unique_ids(
    ...         pd.Series(["a", "b", "a"]), origin=Origin("m.csv"), column="id", what="sample id"
    ...     )
    ... except InputError as err:
    ...     print(err.location)
    ...     print(err.message)
    m.csv, row 3, column 'id'
    sample id 'a': expected each sample id in one row only, got it in rows 1 and 3

    """
    repeated = np.flatnonzero(np.asarray(ids.duplicated(keep="first"), dtype=bool))
    if not repeated.size:
        return
    second = int(repeated[0])
    value = ids.iloc[second]
    first = int(np.flatnonzero(np.asarray(ids == value, dtype=bool))[0])
    raise InputError(
        MSG_DUPLICATE_ID.format(
            what=what, value=value, first_row=origin.row(first), second_row=origin.row(second)
        ),
        origin.at(second, column),
    )


def parse_mated(values: pd.Series, *, origin: Origin, column: str) -> npt.NDArray[np.bool_]:
    """Mated labels: 1/0, true/false, mated/non-mated or non_mated, in any case."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        ok = np.asarray(values.notna(), dtype=bool)
        mated = np.asarray(values.fillna(False).to_numpy(dtype=bool), dtype=bool)
    elif pd.api.types.is_numeric_dtype(dtype):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        ok = (numbers == 0.0) | (numbers == 1.0)
        mated = numbers == 1.0
    else:
        mapped = values.astype("string").str.strip().str.lower().map(_LABELS).astype("boolean")
        ok = np.asarray(mapped.notna(), dtype=bool)
        mated = np.asarray(mapped.fillna(False).to_numpy(dtype=bool), dtype=bool)
    bad = np.flatnonzero(~ok)
    if bad.size:
        i = int(bad[0])
        raise InputError(MSG_BAD_LABEL.format(value=describe(values.iloc[i])), origin.at(i, column))
    return mated


def encode_attributes(
    frame: pd.DataFrame,
    specs: Sequence[AttributeSpec],
    *,
    file: str,
    side_columns: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, AttributeCodes]:
    """Encode each attribute from its two side columns with ``encode_attribute``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table, rows in file order (messages report position + 1 as the row).
    specs : sequence of AttributeSpec
        The attributes; names must be distinct.
    file : str
        The file, for messages.
    side_columns : mapping of str to (str, str), optional
        Columns of each side by attribute name, where a format maps the spec's
        columns (bob.bio CSV prefixes); by default ``spec.side_columns()``.

    """
    check_attribute_names(specs)
    out: dict[str, AttributeCodes] = {}
    for spec in specs:
        col_a, col_b = (side_columns or {}).get(spec.name, spec.side_columns())
        require_columns(frame, (col_a, col_b), file=file)
        out[spec.name] = encode_attribute(
            frame[col_a].reset_index(drop=True),
            frame[col_b].reset_index(drop=True),
            spec=AttributeSpec(spec.name, (col_a, col_b), spec.bins),
            file=file,
        )
    return out


def check_attribute_names(specs: Sequence[AttributeSpec]) -> None:
    """Raise UsageError when two attribute specs share a name."""
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise UsageError(f"attribute {spec.name!r}: expected each name once, got it twice")
        seen.add(spec.name)


def check_labels(
    mated: npt.NDArray[np.bool_],
    same_subject: npt.NDArray[np.bool_],
    subject_a: pd.Series,
    subject_b: pd.Series,
    *,
    origin: Origin,
    column: str,
) -> None:
    """Raise InputError at the first mated label that contradicts the subject ids."""
    bad = np.flatnonzero(mated != same_subject)
    if bad.size:
        i = int(bad[0])
        raise InputError(
            MSG_LABEL_CONTRADICTS.format(
                label="mated" if mated[i] else "non-mated",
                subject_a=subject_a.iloc[i],
                subject_b=subject_b.iloc[i],
            ),
            origin.at(i, column),
        )


def _factorize(values: pd.Series, *, sort: bool) -> tuple[npt.NDArray[np.int64], pd.Index]:
    codes, uniques = pd.factorize(values, sort=sort)
    return np.asarray(codes, dtype=np.int64), pd.Index(uniques)


def _sample_codes(
    sample_a: pd.Series, sample_b: pd.Series, *, separate: bool
) -> tuple[npt.NDArray[np.int64], pd.Index]:
    """Codes of shape (n, 2), in order of first appearance, and the sample id of each code."""
    n = len(sample_a)
    if separate:
        codes_a, ids_a = _factorize(sample_a, sort=False)
        codes_b, ids_b = _factorize(sample_b, sort=False)
        codes = np.column_stack([codes_a, codes_b + len(ids_a)])
        return codes, ids_a.append(ids_b)
    flat, uniques = _factorize(stacked(sample_a, sample_b), sort=False)
    return flat.reshape(2, n).T.copy(), uniques


def _first_conflict(
    flat_samples: npt.NDArray[np.int64], flat_values: npt.NDArray[np.int64]
) -> tuple[int, int] | None:
    """First position (in row order) whose value differs from its sample's first value.

    Values below 0 (missing) are ignored. Returns ``(position, first position)``.
    """
    valid = np.flatnonzero(flat_values >= 0)
    if not valid.size:
        return None
    _, first, inverse = np.unique(flat_samples[valid], return_index=True, return_inverse=True)
    first_of = valid[first[inverse.ravel()]]
    bad = np.flatnonzero(flat_values[valid] != flat_values[first_of])
    if not bad.size:
        return None
    return int(valid[bad[0]]), int(first_of[bad[0]])


def _check_sample_subjects(
    samples: npt.NDArray[np.int64],
    subjects: npt.NDArray[np.int64],
    sample_ids: pd.Index,
    subject_ids: pd.Index,
    *,
    origin: Origin,
    columns: tuple[str, str],
) -> None:
    """Raise InputError where a sample appears with a second subject (in row order)."""
    flat_samples, flat_subjects = samples.ravel(), subjects.ravel()
    conflict = _first_conflict(flat_samples, flat_subjects)
    if conflict is not None:
        pos, ref = conflict
        raise InputError(
            MSG_SAMPLE_TWO_SUBJECTS.format(
                sample=sample_ids[flat_samples[pos]],
                first=subject_ids[flat_subjects[ref]],
                first_row=origin.row(ref // 2),
                second=subject_ids[flat_subjects[pos]],
            ),
            origin.at(pos // 2, columns[pos % 2]),
        )


def _check_sample_attributes(
    samples: npt.NDArray[np.int64],
    sample_ids: pd.Index,
    attributes: Mapping[str, AttributeCodes],
    *,
    origin: Origin,
) -> None:
    """Raise InputError where a sample carries two values of one attribute (in row order)."""
    flat_samples = samples.ravel()
    for name, (codes, levels) in attributes.items():
        flat = codes.astype(np.int64).ravel()
        conflict = _first_conflict(flat_samples, flat)
        if conflict is not None:
            pos, ref = conflict
            raise InputError(
                MSG_SAMPLE_TWO_VALUES.format(
                    sample=sample_ids[flat_samples[pos]],
                    attribute=name,
                    first=levels[flat[ref]],
                    first_row=origin.row(ref // 2),
                    second=levels[flat[pos]],
                ),
                origin.at(pos // 2, None),
            )


def _duplicates(
    samples: npt.NDArray[np.int64],
    score: npt.NDArray[np.float64],
    sample_ids: pd.Index,
    *,
    origin: Origin,
    column: str,
) -> npt.NDArray[np.bool_]:
    """True for every row that repeats an earlier comparison of the same two samples."""
    n = samples.shape[0]
    width = int(samples.max()) + 1
    lo = np.minimum(samples[:, 0], samples[:, 1])
    hi = np.maximum(samples[:, 0], samples[:, 1])
    _, first, inverse = np.unique(lo * width + hi, return_index=True, return_inverse=True)
    first_of = first[inverse.ravel()]
    repeat = first_of != np.arange(n)
    bad = np.flatnonzero(repeat & (score != score[first_of]))
    if bad.size:
        i = int(bad[0])
        j = int(first_of[i])
        raise InputError(
            MSG_DUPLICATE_DISAGREES.format(
                sample_a=sample_ids[samples[i, 0]],
                sample_b=sample_ids[samples[i, 1]],
                first_row=origin.row(j),
                first=repr(float(score[j])),
                second=repr(float(score[i])),
            ),
            origin.at(i, column),
        )
    return np.asarray(repeat, dtype=bool)


def assemble(
    *,
    score: npt.NDArray[np.float64],
    score_kind: ScoreKind,
    subject_a: pd.Series,
    subject_b: pd.Series,
    mated: npt.NDArray[np.bool_] | None = None,
    sample_a: pd.Series | None = None,
    sample_b: pd.Series | None = None,
    attributes: Mapping[str, AttributeCodes] | None = None,
    score_origin: Origin,
    score_column: str,
    id_origin: Origin | None = None,
    label_column: str = "",
    sample_columns: tuple[str, str] = ("", ""),
    separate_sample_sides: bool = False,
    sample_attributes: Sequence[str] | None = None,
    exclusions: Sequence[Exclusion] = (),
    source: str = "",
) -> ComparisonSet:
    """Check validated per-row arrays against each other and build the ComparisonSet.

    Parameters
    ----------
    score : ndarray of float64, shape (n,)
        Finite scores (see :func:`parse_scores`).
    score_kind : ScoreKind
        Direction of the scores.
    subject_a, subject_b : pandas.Series of str, length n
        Subject id of each side (as from :func:`parse_ids`).
    mated : ndarray of bool, optional
        A mated label; checked against the subject ids. Without it, a comparison is
        mated when its two subject ids are equal.
    sample_a, sample_b : pandas.Series of str, optional
        Sample id of each side; enables the one-subject-per-sample check and the
        removal of duplicate comparisons.
    attributes : mapping of str to (codes, levels), optional
        Encoded attributes, rows aligned with ``score``.
    score_origin : Origin
        Where each score came from.
    score_column : str
        The score column, for messages.
    id_origin : Origin, optional
        Where each subject, sample and label came from; defaults to ``score_origin``.
    label_column, sample_columns : str, (str, str)
        Columns for messages.
    separate_sample_sides : bool
        Give the two sides separate sample code spaces (bob's models and probes are
        different things even when their labels are equal).
    sample_attributes : sequence of str, optional
        Attributes that describe samples (read per side), so that one sample must
        carry one value in every row; default all. An attribute read from one column
        for both sides may describe the comparison instead and is not checked.
    exclusions : sequence of Exclusion
        What the reader already left out; a duplicate exclusion is appended.
    source : str
        Description of the input for the record.

    Returns
    -------
    ComparisonSet
        Rows in input order, duplicates after their first occurrence removed.

    """
    ids_at = id_origin or score_origin
    n = score.shape[0]
    if n == 0:
        raise InputError(MSG_NO_ROWS, Location(score_origin.file))
    subject_a = subject_a.reset_index(drop=True)
    subject_b = subject_b.reset_index(drop=True)
    flat_subjects, subject_ids = _factorize(stacked(subject_a, subject_b), sort=True)
    subjects = flat_subjects.reshape(2, n).T.copy()
    same_subject = np.asarray(subjects[:, 0] == subjects[:, 1], dtype=bool)
    if mated is None:
        mated = same_subject
    else:
        check_labels(mated, same_subject, subject_a, subject_b, origin=ids_at, column=label_column)

    all_exclusions = list(exclusions)
    sample: npt.NDArray[np.int64] | None = None
    keep: npt.NDArray[np.bool_] | None = None
    if sample_a is not None and sample_b is not None:
        sample, sample_ids = _sample_codes(
            sample_a.reset_index(drop=True),
            sample_b.reset_index(drop=True),
            separate=separate_sample_sides,
        )
        _check_sample_subjects(
            sample,
            subjects,
            sample_ids,
            subject_ids,
            origin=ids_at,
            columns=sample_columns,
        )
        if not separate_sample_sides:
            checked = {
                name: codes
                for name, codes in (attributes or {}).items()
                if sample_attributes is None or name in sample_attributes
            }
            _check_sample_attributes(sample, sample_ids, checked, origin=ids_at)
        repeat = _duplicates(sample, score, sample_ids, origin=score_origin, column=score_column)
        n_repeat = int(repeat.sum())
        if n_repeat:
            all_exclusions.append(
                Exclusion(
                    reason=REASON_DUPLICATE.format(file=Path(score_origin.file).name),
                    count=n_repeat,
                    unit="comparisons",
                    scope="audit",
                )
            )
            keep = ~repeat
        if not separate_sample_sides:
            itself = (sample[:, 0] == sample[:, 1]) & (True if keep is None else keep)
            n_itself = int(itself.sum())
            if n_itself:
                all_exclusions.append(
                    Exclusion(
                        reason=REASON_SELF_COMPARISON.format(file=Path(score_origin.file).name),
                        count=n_itself,
                        unit="comparisons",
                        scope="audit",
                    )
                )
                keep = ~itself if keep is None else keep & ~itself
        if keep is not None:
            sample = sample[keep]

    def kept(array: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        return array if keep is None else array[keep]

    codes = dict(attributes or {})
    return ComparisonSet(
        score=np.ascontiguousarray(kept(score), dtype=np.float64),
        mated=np.ascontiguousarray(kept(mated), dtype=bool),
        score_kind=score_kind,
        subject=np.ascontiguousarray(kept(subjects), dtype=np.int64),
        subject_ids=tuple(str(s) for s in subject_ids),
        attributes={
            name: np.ascontiguousarray(kept(c), dtype=np.int32) for name, (c, _) in codes.items()
        },
        levels={name: tuple(levels) for name, (_, levels) in codes.items()},
        sample=None if sample is None else np.ascontiguousarray(sample, dtype=np.int64),
        exclusions=tuple(all_exclusions),
        source=source,
    )
