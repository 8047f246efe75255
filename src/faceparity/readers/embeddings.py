"""Embeddings (templates) with a metadata table: every pair of samples, scored by cosine.

The embeddings file holds one embedding per sample; the metadata table (CSV, TSV or
Parquet, read like every other table: :func:`~faceparity.readers._table.load_table`)
holds one row per sample with its sample id, subject id and attributes.
:func:`read_embeddings` joins the two, leaves out what cannot be compared (each with
a counted :class:`~faceparity.model.comparisons.Exclusion`), and forms every mated and
every non-mated comparison of the samples left, scored by cosine similarity.

Embeddings file formats
-----------------------
``.npy``
    A 2-D array; row ``i`` belongs to data row ``i`` of the metadata table.
``.npz``
    An array named ``embeddings`` (2-D) and optionally one named ``sample_id``
    (1-D): with it, rows are joined to the metadata by sample id; without it,
    rows align with the metadata rows as for ``.npy``.
``.parquet`` (or ``.pq``)
    A column named like the metadata's sample id column and a column named
    ``embedding`` holding each sample's embedding as one list of numbers (an Arrow
    list, large list or fixed-size list; every list of one length). Rows are joined
    by sample id; other columns are not read. A table with one numeric column per
    dimension is not accepted: an ``age`` column among them would silently become a
    dimension.

Sample ids and subject ids are read as text, whole numbers without ``.0`` (so a
Parquet metadata table whose integer ids are stored as floats joins an ``.npz``
with integer ids). Rows in messages are 1-based data rows: of the metadata table
(header excluded), of the Parquet table, or of the array in a ``.npy`` / ``.npz``
file; dimensions are 0-based. Message templates are module constants.

Memory: the comparisons are held in memory, about ``41 + 8 k`` bytes each for
``k`` attributes (score, mated flag, the subject and the sample of each side, the
attribute codes of each side). ``n`` samples make ``n (n - 1) / 2`` comparisons,
so :func:`read_embeddings` refuses more than ``max_comparisons`` of them before
pairing.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import numpy.typing as npt
import pandas as pd

from faceparity.errors import InputError, Location, UsageError
from faceparity.model.comparisons import MISSING, ComparisonSet, Exclusion
from faceparity.model.config import ScoreKind
from faceparity.readers._table import (
    MSG_MISSING_COLUMN,
    MSG_UNREADABLE,
    Origin,
    available_columns,
    check_unique_ids,
    load_table,
    parse_ids,
    require_columns,
)
from faceparity.readers.attributes import AttributeSpec, encode_attribute
from faceparity.scoring.cosine import cosine_scores, pair_sides

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "EmbeddingTable",
    "compare_all",
    "embedding_table",
    "load_embeddings",
    "BYTES_PER_COMPARISON",
    "BYTES_PER_COMPARISON_ATTRIBUTE",
    "EMBEDDING_COLUMN",
    "EMBEDDING_SUFFIXES",
    "MAX_COMPARISONS",
    "NO_METADATA_REASON",
    "SINGLE_SAMPLE_REASON",
    "ZERO_NORM_REASON",
    "read_embeddings",
]

EMBEDDING_COLUMN = "embedding"
"""Name of the list-of-numbers column of an embeddings Parquet table."""

EMBEDDING_SUFFIXES: Mapping[str, str] = {
    ".npy": "a NumPy array (.npy)",
    ".npz": "a NumPy archive (.npz)",
    ".parquet": "Parquet",
    ".pq": "Parquet",
}
"""File name endings of embeddings files, and the format each one means."""

NPZ_EMBEDDINGS = "embeddings"
NPZ_SAMPLE_ID = "sample_id"

NUMPY_MAGIC: Mapping[str, tuple[bytes, ...]] = {
    ".npy": (b"\x93NUMPY",),
    ".npz": (b"PK\x03\x04", b"PK\x05\x06"),  # a zip archive (an empty one: its end record)
}
"""The bytes a ``.npy`` file and a ``.npz`` archive start with."""

_NUMPY_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    zipfile.BadZipFile,  # a truncated archive, a member failing its CRC
    zlib.error,  # a corrupt compressed member
    NotImplementedError,  # a member compressed by a method zipfile lacks
    RuntimeError,  # an encrypted member
)
"""What reading a truncated or corrupt ``.npy`` / ``.npz`` file raises."""

MAX_COMPARISONS = 50_000_000
"""Default of ``max_comparisons``: about 2 GB for the comparisons alone."""

BYTES_PER_COMPARISON = 41
"""Bytes a comparison takes in the ComparisonSet: score, mated, subject and sample of each side."""

BYTES_PER_COMPARISON_ATTRIBUTE = 8
"""Bytes a comparison takes per attribute (an int32 code of each side)."""

ZERO_NORM_REASON = "zero-norm embedding (failure to extract a template); sample left out"
NO_METADATA_REASON = "embedding with no metadata row; sample left out"
SINGLE_SAMPLE_REASON = (
    "subject with one sample: no mated comparison possible; "
    "its sample still serves in non-mated comparisons"
)

# Usage errors.
MSG_AT_LEAST_ONE = "{option}: expected at least 1, got {value!r}"
MSG_ONE_COLUMN = (
    "attribute {name!r}: expected one metadata column (it serves both sides of every "
    "comparison), got columns {columns}"
)
# The samples left.
MSG_TOO_FEW_SAMPLES = (
    "expected at least 2 samples to form a comparison, got {count} after the exclusions"
)
MSG_TOO_MANY_COMPARISONS = (
    "expected at most {limit:,} comparisons (max_comparisons), got {n_samples:,} samples, "
    "which make {count:,} comparisons (n (n - 1) / 2), about {gigabytes:.1f} GB in memory "
    "before the audit; audit a subset of the samples (fewer subjects, or fewer samples per "
    "subject), or raise max_comparisons where the memory is there"
)
# The embeddings file.
MSG_UNSUPPORTED_SUFFIX = "expected an embeddings file ending in {expected}, got {suffix}"
MSG_OTHER_NUMPY_FORMAT = "expected {expected}, got {got}"
MSG_NOT_NUMPY = "expected {expected}, a file that starts with {magic}, got {got}"
MSG_NOT_REAL = "{name}: expected real numbers (integers or floating point), got an array of {dtype}"
MSG_NO_DIMENSIONS = "expected embeddings with at least 1 dimension, got 0 values per sample"
MSG_NPZ_NO_EMBEDDINGS = "expected an array named {name!r}, got arrays: {found}"
MSG_NPZ_IDS_SHAPE = (
    "array {name!r}: expected 1-D, one id per row of {embeddings!r} ({rows} rows), "
    "got shape {shape}"
)
MSG_NOT_2D = (
    "{name}: expected 2-D (one row per sample, one column per dimension), got shape {shape}"
)
MSG_NOT_A_NUMBER = (
    "embedding value at dimension {dim}: expected a number, got {value!r} (the array holds {dtype})"
)
MSG_NOT_FINITE = "embedding value at dimension {dim}: expected a finite number, got {value}"
MSG_BEYOND_FLOAT32 = (
    "embedding value at dimension {dim}: expected a number within float32's range "
    "(|x| <= 3.4e38, the precision the engines compute in), got {value}"
)
FLOAT32_MAX = float(np.finfo(np.float32).max)

CHECK_ELEMENTS = 1 << 22
"""Values checked at a time for finiteness (the temporaries of a slice, not of the input)."""
MSG_NO_EMBEDDING_COLUMN = (
    "expected a column {column!r} holding each sample's embedding as a list of numbers "
    "(an Arrow list or fixed-size list column); the file has columns: {available}"
)
MSG_NOT_LISTS = "column {column!r}: expected lists of numbers, got {kind}"
MSG_NO_LIST = "expected an embedding (a list of numbers), got an empty value"
MSG_LENGTHS_DIFFER = (
    "expected {expected} values in the embedding, as in data row 1 (every embedding needs "
    "the same dimension), got {count}"
)
MSG_LIST_VALUES = "expected embedding values that are numbers, got lists of {kind}{shown}"
# The join.
MSG_ROW_COUNTS = (
    "expected {n_meta} rows, one per data row of the metadata table {metadata} (without "
    "sample ids, row i of one belongs to row i of the other), got {n_emb}"
)
MSG_NO_EMBEDDING = "sample id {sample!r}: expected an embedding in {file}, got none"


@dataclass(frozen=True, eq=False)
class _Embeddings:
    """Embedding rows as read, before the join: values, optional sample ids, file, column."""

    values: npt.NDArray[np.floating]
    ids: pd.Series | None
    file: str
    column: str | None


def read_embeddings(
    path: str | os.PathLike[str],
    *,
    metadata: str | os.PathLike[str],
    sample_id: str,
    subject: str,
    attributes: Sequence[AttributeSpec] = (),
    block_size: int = 2048,
    max_comparisons: int = MAX_COMPARISONS,
) -> ComparisonSet:
    """Every mated and non-mated comparison of the samples, by cosine similarity.

    Each unordered pair of distinct samples is compared once; a pair is mated when
    both samples share a subject id (ISO/IEC 19795-1). Scores are cosine
    similarities (:func:`faceparity.scoring.all_pairs_cosine`), so the set's
    ``score_kind`` is ``SIMILARITY``. Sample codes in ``ComparisonSet.sample`` are
    0-based data rows of the metadata table.

    Parameters
    ----------
    path : str or path-like
        The embeddings: ``.npy``, ``.npz`` or ``.parquet`` (see the module notes).
    metadata : str or path-like
        One row per sample: ``.csv``, ``.tsv``, ``.parquet`` or ``.pq``.
    sample_id : str
        Column of the sample id in the metadata (and in a Parquet embeddings file).
    subject : str
        Column of the subject id in the metadata.
    attributes : sequence of AttributeSpec
        Attributes, each read from one metadata column (it serves both sides of
        every comparison); numeric ones can be binned.
    block_size : int, default 2048
        Tile size of the blocked cosine computation.
    max_comparisons : int, default 50_000_000
        The most comparisons to form. ``n`` samples make ``n (n - 1) / 2`` of them,
        each held in memory (about ``41 + 8 k`` bytes with ``k`` attributes, more
        during the audit); above the limit, an InputError is raised before any
        pair is formed.

    Returns
    -------
    ComparisonSet
        All ``n (n - 1) / 2`` comparisons of the ``n`` samples left, ordered by
        metadata row of the first and then of the second sample.

    Raises
    ------
    InputError
        For input that cannot be read as stated, naming the file, row and column:
        a missing column, a missing or duplicated sample id, a missing subject id,
        an embedding value that is not a finite number, embeddings of unequal
        length, a Parquet file without the ``embedding`` column, a sample with no
        embedding, fewer than 2 samples left, or more than ``max_comparisons``
        comparisons.
    UsageError
        For an attribute given two columns, or ``block_size`` or
        ``max_comparisons`` below 1.

    Notes
    -----
    Left out, each with a counted exclusion: samples whose embedding has zero norm
    (a failure to extract a template), and embeddings with no metadata row.
    Subjects with one sample are counted (scope ``"mated"``) but nothing of theirs
    is dropped: their samples serve in non-mated comparisons.

    """
    for option, value in (("block_size", block_size), ("max_comparisons", max_comparisons)):
        if value < 1:
            raise UsageError(MSG_AT_LEAST_ONE.format(option=option, value=value))
    table = load_embeddings(
        path, metadata=metadata, sample_id=sample_id, subject=subject, attributes=attributes
    )
    return compare_all(
        table, block_size=block_size, max_comparisons=max_comparisons, file=str(metadata)
    )


def compare_all(
    table: EmbeddingTable,
    *,
    block_size: int = 2048,
    max_comparisons: int = MAX_COMPARISONS,
    file: str | None = None,
) -> ComparisonSet:
    """Every comparison of the samples of ``table`` (see :func:`read_embeddings`)."""
    n = len(table.subject)
    n_pairs = n * (n - 1) // 2
    if n_pairs > max_comparisons:
        per_pair = BYTES_PER_COMPARISON + BYTES_PER_COMPARISON_ATTRIBUTE * len(table.attributes)
        raise InputError(
            MSG_TOO_MANY_COMPARISONS.format(
                limit=max_comparisons,
                n_samples=n,
                count=n_pairs,
                gigabytes=n_pairs * per_pair / 1e9,
            ),
            Location(file),
        )
    # Every per-pair array is written once, straight into its final (n_pairs, 2) shape
    # (pair_sides): no index arrays, no gathered copies.
    if table.comparison == "euclidean":
        from faceparity.scoring.euclidean import euclidean_scores

        score, kind = euclidean_scores(table.values, block_size=block_size), ScoreKind.DISTANCE
    else:
        score, kind = cosine_scores(table.values, block_size=block_size), ScoreKind.SIMILARITY
    subject_pair = pair_sides(table.subject)
    return ComparisonSet(
        score=score,
        mated=subject_pair[:, 0] == subject_pair[:, 1],
        score_kind=kind,
        subject=subject_pair,
        subject_ids=table.subject_ids,
        attributes={name: pair_sides(c) for name, c in table.attributes.items()},
        levels=table.levels,
        sample=pair_sides(table.rows),
        exclusions=table.exclusions,
        source=table.source,
    )


@dataclass(frozen=True)
class EmbeddingTable:
    """Embeddings joined to their metadata, before any comparison is formed.

    Attributes
    ----------
    values : ndarray, shape (n, d)
        The embeddings of the samples kept, in metadata row order.
    rows : ndarray of int64, shape (n,)
        0-based metadata data row of each kept sample (its sample code).
    subject : ndarray of int64, shape (n,)
        Code of each sample's subject into ``subject_ids``.
    subject_ids : tuple of str
        The subjects, sorted.
    attributes : mapping of str to ndarray of int32, shape (n,)
        Per-sample attribute codes into ``levels``; ``MISSING`` where empty.
    levels : mapping of str to tuple of str
        The values each attribute takes.
    exclusions : tuple of Exclusion
        What was left out (zero-norm embeddings, embeddings without metadata) and
        the subjects with one sample.
    source : str
        The files, for the record.
    comparison : {"cosine", "euclidean"}
        How two templates are compared: cosine similarity (the default), or Euclidean
        distance for a model whose templates are compared so (dlib's ResNet; the
        run's record says so), giving ``ScoreKind.DISTANCE`` comparisons.

    """

    values: npt.NDArray[np.floating]
    rows: npt.NDArray[np.int64]
    subject: npt.NDArray[np.int64]
    subject_ids: tuple[str, ...]
    attributes: Mapping[str, npt.NDArray[np.int32]]
    levels: Mapping[str, tuple[str, ...]]
    exclusions: tuple[Exclusion, ...]
    source: str
    comparison: str = "cosine"


def load_embeddings(
    path: str | os.PathLike[str],
    *,
    metadata: str | os.PathLike[str],
    sample_id: str,
    subject: str,
    attributes: Sequence[AttributeSpec] = (),
) -> EmbeddingTable:
    """Read and join embeddings and metadata, with the checks of :func:`read_embeddings`.

    Nothing is compared here; :func:`read_embeddings` forms every comparison from
    the result, and the streaming engine scores it block by block.
    """
    for spec in attributes:
        if len(spec.columns) != 1:
            raise UsageError(MSG_ONE_COLUMN.format(name=spec.name, columns=", ".join(spec.columns)))
    meta_file = str(metadata)
    table = load_table(metadata)
    require_columns(
        table, [sample_id, subject, *(spec.columns[0] for spec in attributes)], file=meta_file
    )
    meta_origin = Origin(meta_file)
    sample_ids = parse_ids(table[sample_id], origin=meta_origin, column=sample_id, what="sample id")
    check_unique_ids(sample_ids, origin=meta_origin, column=sample_id, what="sample id")
    subjects = parse_ids(table[subject], origin=meta_origin, column=subject, what="subject id")

    emb = _read_embeddings_file(Path(path), sample_id=sample_id)
    exclusions: list[Exclusion] = []
    rows = _join(emb, sample_ids, meta_file, sample_id, exclusions)
    in_order = rows.size == emb.values.shape[0] and bool(np.all(rows == np.arange(rows.size)))
    values = emb.values if in_order else emb.values[rows]  # a copy only when reordered
    del emb
    return embedding_table(
        values,
        subjects,
        table,
        attributes,
        exclusions=exclusions,
        file=meta_file,
        source=f"{path} (metadata {metadata})",
    )


def embedding_table(
    values: npt.NDArray[np.floating],
    subjects: pd.Series,
    table: pd.DataFrame,
    attributes: Sequence[AttributeSpec],
    *,
    exclusions: Sequence[Exclusion],
    file: str,
    source: str,
) -> EmbeddingTable:
    """An :class:`EmbeddingTable` of joined rows: zero-norm rows left out, attributes coded.

    ``values``, ``subjects`` and ``table`` hold one row per sample, in the same order;
    ``table`` holds the attribute columns. Sample codes are positions in that order.
    """
    exclusions = list(exclusions)
    # Samples with a zero-norm embedding are left out before any comparison.
    keep = np.flatnonzero(np.any(values != 0.0, axis=1))
    if len(keep) < len(values):
        exclusions.append(Exclusion(ZERO_NORM_REASON, len(values) - len(keep), unit="samples"))
    n = len(keep)
    if n < 2:
        raise InputError(MSG_TOO_FEW_SAMPLES.format(count=n), Location(file))

    subject_codes, subject_ids = pd.factorize(subjects.iloc[keep], sort=True)
    n_single = int(np.sum(np.bincount(subject_codes) == 1))
    if n_single:
        exclusions.append(Exclusion(SINGLE_SAMPLE_REASON, n_single, unit="subjects", scope="mated"))

    sample_codes: dict[str, npt.NDArray[np.int32]] = {}
    levels: dict[str, tuple[str, ...]] = {}
    for spec in attributes:
        column = table[spec.columns[0]]
        codes, spec_levels = encode_attribute(column, column, spec=spec, file=file)
        sample_codes[spec.name], levels[spec.name] = _compact(codes[keep, 0], spec_levels)
    return EmbeddingTable(
        values=values if n == len(values) else values[keep],
        rows=keep.astype(np.int64),
        subject=np.asarray(subject_codes, dtype=np.int64),
        subject_ids=tuple(str(s) for s in subject_ids),
        attributes=sample_codes,
        levels=levels,
        exclusions=tuple(exclusions),
        source=source,
    )


def _compact(
    codes: npt.NDArray[np.int32], levels: tuple[str, ...]
) -> tuple[npt.NDArray[np.int32], tuple[str, ...]]:
    """Drop levels no kept sample has, keeping the display order."""
    used = np.unique(codes[codes != MISSING])
    remap = np.full(len(levels) + 1, MISSING, dtype=np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    return remap[codes], tuple(levels[k] for k in used.tolist())


# --- embeddings file ------------------------------------------------------------------


def _read_embeddings_file(path: Path, *, sample_id: str) -> _Embeddings:
    suffix = path.suffix.lower()
    file = str(path)
    kind = EMBEDDING_SUFFIXES.get(suffix)
    if kind is None:
        raise InputError(
            MSG_UNSUPPORTED_SUFFIX.format(
                expected=", ".join(EMBEDDING_SUFFIXES), suffix=repr(suffix) if suffix else "none"
            ),
            Location(file),
        )
    if kind == "Parquet":
        emb = _read_parquet(path, sample_id=sample_id)
    else:
        try:
            handle = open(path, "rb")  # closed below; numpy leaves a file it opens to leak
        except (OSError, ValueError) as err:
            raise InputError(MSG_UNREADABLE.format(kind=kind, error=err), Location(file)) from err
        with handle:
            emb = _read_numpy(handle, suffix, file)
    if emb.values.shape[1] == 0:
        raise InputError(MSG_NO_DIMENSIONS, Location(file, column=emb.column))
    return emb


def _read_numpy(handle: BinaryIO, suffix: str, file: str) -> _Embeddings:
    """The embeddings of an open ``.npy`` file or ``.npz`` archive, every failure named."""
    kind = EMBEDDING_SUFFIXES[suffix]
    try:
        head = handle.read(8)
        handle.seek(0)
    except OSError as err:
        raise InputError(MSG_UNREADABLE.format(kind=kind, error=err), Location(file)) from err
    _check_magic(head, suffix, file)
    try:
        loaded = np.load(handle, allow_pickle=False)
    except _NUMPY_ERRORS as err:
        raise InputError(MSG_UNREADABLE.format(kind=kind, error=err), Location(file)) from err
    if isinstance(loaded, np.ndarray):
        return _from_array(loaded, None, file, None)
    with loaded:
        return _read_npz(loaded, file)


def _check_magic(head: bytes, suffix: str, file: str) -> None:
    """InputError unless ``head`` starts as a ``.npy`` file or a ``.npz`` archive does.

    Without this, :func:`numpy.load` reads any other file as a pickle (and refuses
    it with advice to allow pickles, which faceparity never does).
    """
    kind = EMBEDDING_SUFFIXES[suffix]
    if head.startswith(NUMPY_MAGIC[suffix]):
        return
    other = ".npz" if suffix == ".npy" else ".npy"
    if head.startswith(NUMPY_MAGIC[other]):
        got = EMBEDDING_SUFFIXES[other]
        raise InputError(MSG_OTHER_NUMPY_FORMAT.format(expected=kind, got=got), Location(file))
    got = f"a file that starts with {head!r}" if head else "an empty file"
    magic = " or ".join(repr(m) for m in NUMPY_MAGIC[suffix])
    raise InputError(MSG_NOT_NUMPY.format(expected=kind, magic=magic, got=got), Location(file))


def _sample_ids(values: pd.Series, *, file: str, column: str) -> pd.Series:
    """Sample ids of an embeddings file: parsed like the metadata's, and unique."""
    origin = Origin(file)
    ids = parse_ids(values, origin=origin, column=column, what="sample id")
    check_unique_ids(ids, origin=origin, column=column, what="sample id")
    return ids


def _read_npz(loaded: np.lib.npyio.NpzFile, file: str) -> _Embeddings:
    if NPZ_EMBEDDINGS not in loaded.files:
        raise InputError(
            MSG_NPZ_NO_EMBEDDINGS.format(
                name=NPZ_EMBEDDINGS, found=available_columns(loaded.files)
            ),
            Location(file),
        )
    try:
        values = loaded[NPZ_EMBEDDINGS]
        raw = loaded[NPZ_SAMPLE_ID] if NPZ_SAMPLE_ID in loaded.files else None
    except _NUMPY_ERRORS as err:
        kind = EMBEDDING_SUFFIXES[".npz"]
        raise InputError(MSG_UNREADABLE.format(kind=kind, error=err), Location(file)) from err
    ids: pd.Series | None = None
    if raw is not None:
        _check_2d(values, file, NPZ_EMBEDDINGS)
        if raw.ndim != 1 or raw.shape[0] != values.shape[0]:
            raise InputError(
                MSG_NPZ_IDS_SHAPE.format(
                    name=NPZ_SAMPLE_ID,
                    embeddings=NPZ_EMBEDDINGS,
                    rows=values.shape[0],
                    shape=raw.shape,
                ),
                Location(file, column=NPZ_SAMPLE_ID),
            )
        if raw.dtype.kind == "S":
            raw = raw.astype(str)
        ids = _sample_ids(pd.Series(raw), file=file, column=NPZ_SAMPLE_ID)
    return _from_array(values, ids, file, NPZ_EMBEDDINGS)


def _from_array(
    values: npt.NDArray[np.generic], ids: pd.Series | None, file: str, column: str | None
) -> _Embeddings:
    """Check an array from a ``.npy`` / ``.npz`` file: 2-D, real numbers, finite."""
    _check_2d(values, file, column)
    if values.dtype.kind not in "iufUSO":  # complex, bool, dates, durations, records
        raise InputError(
            MSG_NOT_REAL.format(name=_array_name(column), dtype=values.dtype),
            Location(file, column=column),
        )
    if values.dtype.kind not in "iuf":
        row, dim = _first_non_number(values)
        raise InputError(
            MSG_NOT_A_NUMBER.format(dim=dim, value=values[row, dim].item(), dtype=values.dtype),
            Location(file, row + 1, column),
        )
    # float32 templates stay float32 (every consumer widens or keeps them exactly): no
    # copy of the file's array, at twice its size, is made.
    floats: npt.NDArray[np.floating] = (
        values.astype(np.float32, copy=False)
        if values.dtype == np.float32
        else values.astype(np.float64)
    )
    _check_finite(floats, file, [column] * floats.shape[1])
    return _Embeddings(floats, ids, file, column)


def _array_name(column: str | None) -> str:
    return f"array {column!r}" if column else "the array"


def _check_2d(values: npt.NDArray[np.generic], file: str, column: str | None) -> None:
    if values.ndim != 2:
        raise InputError(
            MSG_NOT_2D.format(name=_array_name(column), shape=values.shape),
            Location(file, column=column),
        )


def _first_non_number(values: npt.NDArray[np.generic]) -> tuple[int, int]:
    """Position of the first element that does not read as a number (else the first)."""
    for (row, dim), value in np.ndenumerate(values):
        try:
            float(value)
        except (TypeError, ValueError):
            return int(row), int(dim)
    return 0, 0


def _check_finite(
    values: npt.NDArray[np.floating], file: str, columns: Sequence[str | None]
) -> None:
    """InputError at the first value that is not finite; ``columns[dim]`` names its column.

    Checked a slice of rows at a time (no temporary the size of the input).
    """
    step = max(1, CHECK_ELEMENTS // max(values.shape[1], 1))
    for start in range(0, values.shape[0], step):
        part = values[start : start + step]
        if np.isfinite(part).all():
            continue
        row, dim = (int(v) for v in np.argwhere(~np.isfinite(part))[0])
        raise InputError(
            MSG_NOT_FINITE.format(dim=dim, value=repr(float(part[row, dim]))),
            Location(file, start + row + 1, columns[dim]),
        )
    if values.dtype == np.float32:
        return  # a finite float32 lies within float32's range
    for start in range(0, values.shape[0], step):
        part = values[start : start + step]
        beyond = np.abs(part) > FLOAT32_MAX
        if beyond.any():
            row, dim = (int(v) for v in np.argwhere(beyond)[0])
            raise InputError(
                MSG_BEYOND_FLOAT32.format(dim=dim, value=repr(float(part[row, dim]))),
                Location(file, start + row + 1, columns[dim]),
            )


def _read_parquet(path: Path, *, sample_id: str) -> _Embeddings:
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = str(path)
    try:
        names = pq.read_schema(path).names
        if sample_id not in names:
            raise InputError(
                MSG_MISSING_COLUMN.format(column=sample_id, available=available_columns(names)),
                Location(file, None, sample_id),
            )
        if EMBEDDING_COLUMN not in names:
            raise InputError(
                MSG_NO_EMBEDDING_COLUMN.format(
                    column=EMBEDDING_COLUMN, available=available_columns(names)
                ),
                Location(file, None, EMBEDDING_COLUMN),
            )
        table = pq.read_table(path, columns=list(dict.fromkeys([sample_id, EMBEDDING_COLUMN])))
    except (OSError, ValueError, pa.ArrowException) as err:
        raise InputError(MSG_UNREADABLE.format(kind="Parquet", error=err), Location(file)) from err
    ids = _sample_ids(table.column(sample_id).to_pandas(), file=file, column=sample_id)
    values = _list_values(table.column(EMBEDDING_COLUMN).combine_chunks(), file=file)
    return _Embeddings(values, ids, file, EMBEDDING_COLUMN)


def _list_values(column: pa.Array, *, file: str) -> npt.NDArray[np.float64]:
    """The ``embedding`` list column as an (n, d) float64 array, every list checked."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if not (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ):
        raise InputError(
            MSG_NOT_LISTS.format(column=EMBEDDING_COLUMN, kind=kind),
            Location(file, column=EMBEDDING_COLUMN),
        )
    n = len(column)
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise InputError(MSG_NO_LIST, Location(file, row + 1, EMBEDDING_COLUMN))
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    dims = int(lengths[0]) if n else 0
    odd = np.flatnonzero(lengths != dims)
    if odd.size:
        row = int(odd[0])
        raise InputError(
            MSG_LENGTHS_DIFFER.format(expected=dims, count=int(lengths[row])),
            Location(file, row + 1, EMBEDDING_COLUMN),
        )
    flat = pc.list_flatten(column)
    if not (pa.types.is_integer(flat.type) or pa.types.is_floating(flat.type)):
        shown = f"; first value {flat[0].as_py()!r} at dimension 0" if len(flat) else ""
        raise InputError(
            MSG_LIST_VALUES.format(kind=flat.type, shown=shown),
            Location(file, 1, EMBEDDING_COLUMN),
        )
    if flat.null_count:
        k = int(np.flatnonzero(flat.is_null().to_numpy(zero_copy_only=False))[0])
        raise InputError(
            MSG_NOT_FINITE.format(dim=k % dims, value="an empty value"),
            Location(file, k // dims + 1, EMBEDDING_COLUMN),
        )
    values = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float64).reshape(n, dims)
    _check_finite(values, file, [EMBEDDING_COLUMN] * dims)
    return values


# --- the join -------------------------------------------------------------------------


def _join(
    emb: _Embeddings,
    sample_ids: pd.Series,
    meta_file: str,
    sample_column: str,
    exclusions: list[Exclusion],
) -> npt.NDArray[np.int64]:
    """Row of the embeddings for each metadata row, in metadata order."""
    n_meta, n_emb = len(sample_ids), emb.values.shape[0]
    if emb.ids is None:
        if n_emb != n_meta:
            raise InputError(
                MSG_ROW_COUNTS.format(n_meta=n_meta, metadata=meta_file, n_emb=n_emb),
                Location(emb.file),
            )
        return np.arange(n_meta, dtype=np.int64)
    rows = np.asarray(pd.Index(emb.ids).get_indexer(pd.Index(sample_ids)), dtype=np.int64)
    absent = np.flatnonzero(rows < 0)
    if absent.size:
        row = int(absent[0])
        raise InputError(
            MSG_NO_EMBEDDING.format(sample=sample_ids.iloc[row], file=emb.file),
            Location(meta_file, row + 1, sample_column),
        )
    n_orphans = n_emb - n_meta
    if n_orphans:
        exclusions.append(Exclusion(NO_METADATA_REASON, n_orphans, unit="samples"))
    return rows
