"""Embeddings (templates) with a metadata table: every pair of samples, scored by cosine.

The embeddings file holds one embedding per sample; the metadata table (CSV or
Parquet) holds one row per sample with its sample id, subject id and attributes.
:func:`read_embeddings` joins the two, leaves out what cannot be compared (each with
a counted :class:`~faceparity.comparisons.Exclusion`), and forms every mated and
every non-mated comparison of the samples left, scored by cosine similarity.

Embeddings file formats
-----------------------
``.npy``
    A 2-D array; row ``i`` belongs to data row ``i`` of the metadata table.
``.npz``
    An array named ``embeddings`` (2-D) and optionally one named ``sample_id``
    (1-D): with it, rows are joined to the metadata by sample id; without it,
    rows align with the metadata rows as for ``.npy``.
``.parquet``
    A column named like the metadata's sample id column, and either one
    list-of-numbers column named ``embedding`` (other columns are then ignored)
    or numeric columns, each one dimension, in file order. Rows are joined by
    sample id.

Rows in messages are 1-based data rows: of the metadata table (header excluded),
of the Parquet table, or of the array in a ``.npy`` / ``.npz`` file; dimensions
are 0-based.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from faceparity.comparisons import MISSING, ComparisonSet, Exclusion
from faceparity.config import ScoreKind
from faceparity.errors import InputError, Location, UsageError
from faceparity.readers.attributes import AttributeSpec, encode_attribute
from faceparity.scoring.cosine import all_pairs_cosine

__all__ = [
    "EMBEDDING_COLUMN",
    "NO_METADATA_REASON",
    "SINGLE_SAMPLE_REASON",
    "ZERO_NORM_REASON",
    "read_embeddings",
]

EMBEDDING_COLUMN = "embedding"
"""Name of the list-of-numbers column of an embeddings Parquet table."""

NPZ_EMBEDDINGS = "embeddings"
NPZ_SAMPLE_ID = "sample_id"

ZERO_NORM_REASON = "zero-norm embedding (failure to extract a template); sample left out"
NO_METADATA_REASON = "embedding with no metadata row; sample left out"
SINGLE_SAMPLE_REASON = (
    "subject with one sample: no mated comparison possible; "
    "its sample still serves in non-mated comparisons"
)


_ColumnOf = Callable[[int], "str | None"]


class _Embeddings:
    """Embedding rows as read, before the join: values, optional ids, how to name a cell."""

    def __init__(
        self,
        values: npt.NDArray[np.float64],
        ids: list[str] | None,
        file: str,
        column: str | None,
    ) -> None:
        self.values = values
        self.ids = ids
        self.file = file
        self.column = column


def read_embeddings(
    path: str | Path,
    *,
    metadata: str | Path,
    sample_id: str,
    subject: str,
    attributes: Sequence[AttributeSpec] = (),
    block_size: int = 2048,
) -> ComparisonSet:
    """Every mated and non-mated comparison of the samples, by cosine similarity.

    Each unordered pair of distinct samples is compared once; a pair is mated when
    both samples share a subject id (ISO/IEC 19795-1). Scores are cosine
    similarities (:func:`faceparity.scoring.all_pairs_cosine`), so the set's
    ``score_kind`` is ``SIMILARITY``. Sample codes in ``ComparisonSet.sample`` are
    0-based data rows of the metadata table.

    Parameters
    ----------
    path : str or Path
        The embeddings: ``.npy``, ``.npz`` or ``.parquet`` (see the module notes).
    metadata : str or Path
        One row per sample: ``.csv`` or ``.parquet``.
    sample_id : str
        Column of the sample id in the metadata (and in a Parquet embeddings file).
    subject : str
        Column of the subject id in the metadata.
    attributes : sequence of AttributeSpec
        Attributes, each read from one metadata column (it serves both sides of
        every comparison); numeric ones can be binned.
    block_size : int, default 2048
        Tile size of the blocked cosine computation.

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
        length, a sample with no embedding, or fewer than 2 samples left.
    UsageError
        For an attribute given two columns, or ``block_size`` below 1.

    Notes
    -----
    Left out, each with a counted exclusion: samples whose embedding has zero norm
    (a failure to extract a template), and embeddings with no metadata row.
    Subjects with one sample are counted (scope ``"mated"``) but nothing of theirs
    is dropped: their samples serve in non-mated comparisons.

    """
    if block_size < 1:
        raise UsageError(f"block_size: expected at least 1, got {block_size}")
    for spec in attributes:
        if len(spec.columns) != 1:
            raise UsageError(
                f"attribute {spec.name!r}: a metadata table gives one column per attribute "
                f"(it serves both sides); got columns {', '.join(spec.columns)}"
            )
    path, metadata = Path(path), Path(metadata)
    meta_file = str(metadata)
    table = _read_metadata(metadata)
    needed = [sample_id, subject, *(spec.columns[0] for spec in attributes)]
    _require_columns(table, needed, meta_file)
    sample_ids = _identifiers(table[sample_id], meta_file, sample_id, what="sample id")
    _reject_duplicates(sample_ids, meta_file, sample_id, where="metadata row")
    subjects = _identifiers(table[subject], meta_file, subject, what="subject id")

    emb = _read_embeddings_file(path, sample_id=sample_id)
    exclusions: list[Exclusion] = []
    rows = _join(emb, sample_ids, meta_file, sample_id, exclusions)
    values = emb.values[rows]

    # Samples with a zero-norm embedding are dropped before pairing.
    keep = np.flatnonzero(np.any(values != 0.0, axis=1))
    if len(keep) < len(values):
        exclusions.append(Exclusion(ZERO_NORM_REASON, len(values) - len(keep), unit="samples"))
    if len(keep) < 2:
        raise InputError(
            f"at least 2 samples are needed to form a comparison; got {len(keep)} "
            "after the exclusions",
            Location(meta_file),
        )

    subject_ids, subject_codes = np.unique(np.array(subjects)[keep], return_inverse=True)
    n_single = int(np.sum(np.bincount(subject_codes) == 1))
    if n_single:
        exclusions.append(Exclusion(SINGLE_SAMPLE_REASON, n_single, unit="subjects", scope="mated"))

    sample_codes: dict[str, npt.NDArray[np.int32]] = {}
    levels: dict[str, tuple[str, ...]] = {}
    for spec in attributes:
        column = table[spec.columns[0]]
        codes, spec_levels = encode_attribute(column, column, spec=spec, file=meta_file)
        sample_codes[spec.name], levels[spec.name] = _compact(codes[keep, 0], spec_levels)

    i, j, score = all_pairs_cosine(values[keep], block_size=block_size)
    subject_pair = np.stack([subject_codes[i], subject_codes[j]], axis=1).astype(np.int64)
    return ComparisonSet(
        score=score,
        mated=subject_pair[:, 0] == subject_pair[:, 1],
        score_kind=ScoreKind.SIMILARITY,
        subject=subject_pair,
        subject_ids=tuple(str(s) for s in subject_ids),
        attributes={name: np.stack([c[i], c[j]], axis=1) for name, c in sample_codes.items()},
        levels=levels,
        sample=np.stack([keep[i], keep[j]], axis=1).astype(np.int64),
        exclusions=tuple(exclusions),
        source=f"{path} (metadata {metadata})",
    )


# --- metadata -------------------------------------------------------------------------


def _read_metadata(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            # Text as written: ids keep leading zeros; only empty cells are missing.
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputError(f"cannot read the metadata table: {err}", Location(str(path))) from err
    raise InputError(
        f"metadata table: expected a .csv or .parquet file, got {path.suffix or 'no suffix'!r}",
        Location(str(path)),
    )


def _require_columns(table: pd.DataFrame, columns: Sequence[str], file: str) -> None:
    for column in columns:
        if column not in table.columns:
            found = ", ".join(map(str, table.columns)) or "none"
            raise InputError(
                f"column {column!r} not found; columns: {found}", Location(file, column=column)
            )


def _identifiers(values: pd.Series, file: str, column: str, *, what: str) -> list[str]:
    """Identifiers as stripped text; a missing one is an error naming its row."""
    text = values.astype("string").str.strip()
    missing = np.flatnonzero(text.isna().to_numpy() | (text == "").fillna(True).to_numpy())
    if missing.size:
        raise InputError(
            f"missing {what}; every sample needs one", Location(file, int(missing[0]) + 1, column)
        )
    return [str(v) for v in text.tolist()]


def _reject_duplicates(ids: Sequence[str], file: str, column: str | None, *, where: str) -> None:
    first: dict[str, int] = {}
    for row, value in enumerate(ids, start=1):
        seen = first.setdefault(value, row)
        if seen != row:
            raise InputError(
                f"sample id {value!r} appears twice, in {where}s {seen} and {row}; "
                f"each sample needs exactly one {where}",
                Location(file, row, column),
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
    if suffix not in (".npy", ".npz", ".parquet"):
        raise InputError(
            f"embeddings: expected a .npy, .npz or .parquet file, "
            f"got {path.suffix or 'no suffix'!r}",
            Location(file),
        )
    try:
        if suffix == ".parquet":
            emb = _read_parquet(path, sample_id=sample_id)
        else:
            loaded = np.load(path, allow_pickle=False)
            if isinstance(loaded, np.ndarray) != (suffix == ".npy"):
                expected = "one array (.npy)" if suffix == ".npy" else "an archive of arrays (.npz)"
                raise InputError(
                    f"expected {expected}; the file holds the other NumPy format", Location(file)
                )
            if isinstance(loaded, np.ndarray):
                emb = _from_array(loaded, None, file, None)
            else:
                with loaded:
                    emb = _read_npz(loaded, file)
    except (OSError, ValueError, EOFError) as err:
        raise InputError(f"cannot read the embeddings file: {err}", Location(file)) from err
    if emb.values.shape[1] == 0:
        raise InputError(
            "embeddings have no dimensions (0 values per sample)", Location(file, column=emb.column)
        )
    return emb


def _read_npz(loaded: np.lib.npyio.NpzFile, file: str) -> _Embeddings:
    if NPZ_EMBEDDINGS not in loaded.files:
        found = ", ".join(loaded.files) or "none"
        raise InputError(
            f"expected an array named {NPZ_EMBEDDINGS!r}; arrays found: {found}", Location(file)
        )
    values = loaded[NPZ_EMBEDDINGS]
    ids: list[str] | None = None
    if NPZ_SAMPLE_ID in loaded.files:
        raw = loaded[NPZ_SAMPLE_ID]
        if raw.ndim != 1 or values.ndim < 1 or raw.shape[0] != values.shape[0]:
            raise InputError(
                f"array {NPZ_SAMPLE_ID!r} must be 1-D with one id per row of "
                f"{NPZ_EMBEDDINGS!r} (shape {values.shape}); got shape {raw.shape}",
                Location(file, column=NPZ_SAMPLE_ID),
            )
        if raw.dtype.kind == "S":
            raw = raw.astype(str)
        ids = _identifiers(pd.Series(raw), file, NPZ_SAMPLE_ID, what="sample id")
        _reject_duplicates(ids, file, NPZ_SAMPLE_ID, where="row")
    return _from_array(values, ids, file, NPZ_EMBEDDINGS)


def _from_array(
    values: npt.NDArray[np.generic], ids: list[str] | None, file: str, column: str | None
) -> _Embeddings:
    """Check an array from a ``.npy`` / ``.npz`` file: 2-D, numbers, finite."""
    if values.ndim != 2:
        name = f"array {column!r}" if column else "the array"
        raise InputError(
            f"{name} must be 2-D (one row per sample, one column per dimension); "
            f"got shape {values.shape}",
            Location(file, column=column),
        )
    if values.dtype.kind not in "iuf":
        row, dim = _first_non_number(values)
        raise InputError(
            f"embedding value at dimension {dim} is {values[row, dim].item()!r}; expected a number "
            f"(the array holds {values.dtype})",
            Location(file, row + 1, column),
        )
    floats = values.astype(np.float64)
    _check_finite(floats, file, lambda dim: column)
    return _Embeddings(floats, ids, file, column)


def _first_non_number(values: npt.NDArray[np.generic]) -> tuple[int, int]:
    """Position of the first element that does not read as a number (else the first)."""
    for (row, dim), value in np.ndenumerate(values):
        try:
            float(value)
        except (TypeError, ValueError):
            return int(row), int(dim)
    return 0, 0


def _check_finite(values: npt.NDArray[np.float64], file: str, column_of: _ColumnOf) -> None:
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        row, dim = (int(v) for v in bad[0])
        raise InputError(
            f"embedding value at dimension {dim} is {float(values[row, dim])!r}; "
            "expected a finite number",
            Location(file, row + 1, column_of(dim)),
        )


def _read_parquet(path: Path, *, sample_id: str) -> _Embeddings:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    file = str(path)
    table = pq.read_table(path)
    if sample_id not in table.column_names:
        found = ", ".join(table.column_names) or "none"
        raise InputError(
            f"column {sample_id!r} (the sample id) not found; columns: {found}",
            Location(file, column=sample_id),
        )
    ids = _identifiers(table.column(sample_id).to_pandas(), file, sample_id, what="sample id")
    _reject_duplicates(ids, file, sample_id, where="row")
    n = table.num_rows

    if EMBEDDING_COLUMN in table.column_names:
        column = table.column(EMBEDDING_COLUMN).combine_chunks()
        kind = column.type
        if not (
            pa.types.is_list(kind)
            or pa.types.is_large_list(kind)
            or pa.types.is_fixed_size_list(kind)
        ):
            raise InputError(
                f"column {EMBEDDING_COLUMN!r} must hold lists of numbers; got {kind}",
                Location(file, column=EMBEDDING_COLUMN),
            )
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError("missing embedding", Location(file, row + 1, EMBEDDING_COLUMN))
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
        dims = int(lengths[0]) if n else 0
        odd = np.flatnonzero(lengths != dims)
        if odd.size:
            row = int(odd[0])
            raise InputError(
                f"embedding has {int(lengths[row])} values; expected {dims}, "
                "like data row 1 (all embeddings need the same dimension)",
                Location(file, row + 1, EMBEDDING_COLUMN),
            )
        flat = pc.list_flatten(column)
        if not (pa.types.is_integer(flat.type) or pa.types.is_floating(flat.type)):
            shown = f"; first value {flat[0].as_py()!r} at dimension 0" if len(flat) else ""
            raise InputError(
                f"embedding values must be numbers; got lists of {flat.type}{shown}",
                Location(file, 1, EMBEDDING_COLUMN),
            )
        if flat.null_count:
            k = int(np.flatnonzero(flat.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(
                f"embedding value at dimension {k % dims} is missing; expected a finite number",
                Location(file, k // dims + 1, EMBEDDING_COLUMN),
            )
        values = flat.to_numpy(zero_copy_only=False).astype(np.float64).reshape(n, dims)
        _check_finite(values, file, lambda dim: EMBEDDING_COLUMN)
        return _Embeddings(values, ids, file, EMBEDDING_COLUMN)

    names = [c for c in table.column_names if c != sample_id]
    if not names:
        raise InputError(
            f"expected a list column {EMBEDDING_COLUMN!r} or numeric columns beside "
            f"{sample_id!r}; found no other column",
            Location(file),
        )
    values = np.empty((n, len(names)), dtype=np.float64)
    for dim, name in enumerate(names):
        col = table.column(name)
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            valid = np.flatnonzero(col.is_valid().to_numpy(zero_copy_only=False))
            row = int(valid[0]) if valid.size else 0
            shown = f"; first value {col[row].as_py()!r}" if valid.size else ""
            raise InputError(
                f"embedding column must hold numbers; got {col.type}{shown}",
                Location(file, row + 1, name),
            )
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(
                f"embedding value at dimension {dim} is missing; expected a finite number",
                Location(file, row + 1, name),
            )
        values[:, dim] = col.to_numpy().astype(np.float64)
    _check_finite(values, file, lambda dim: names[dim])
    return _Embeddings(values, ids, file, None)


# --- the join -------------------------------------------------------------------------


def _join(
    emb: _Embeddings,
    sample_ids: Sequence[str],
    meta_file: str,
    sample_column: str,
    exclusions: list[Exclusion],
) -> npt.NDArray[np.int64]:
    """Row of the embeddings for each metadata row, in metadata order."""
    n_meta, n_emb = len(sample_ids), emb.values.shape[0]
    if emb.ids is None:
        if n_emb != n_meta:
            raise InputError(
                f"the embeddings have {n_emb} rows and the metadata table {meta_file} has "
                f"{n_meta} data rows; without sample ids, row i of one belongs to row i of "
                "the other, so the counts must be equal",
                Location(emb.file),
            )
        return np.arange(n_meta, dtype=np.int64)
    index = pd.Index(emb.ids)
    rows = index.get_indexer(pd.Index(sample_ids)).astype(np.int64)
    absent = np.flatnonzero(rows < 0)
    if absent.size:
        row = int(absent[0])
        raise InputError(
            f"sample id {sample_ids[row]!r} has no embedding in {emb.file}",
            Location(meta_file, row + 1, sample_column),
        )
    n_orphans = n_emb - n_meta
    if n_orphans:
        exclusions.append(Exclusion(NO_METADATA_REASON, n_orphans, unit="samples"))
    return rows
