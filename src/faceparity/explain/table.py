"""A pair table with numeric covariates, read for :func:`~faceparity.explain.explain_errors`.

The comparisons are read as ``faceparity audit pairs`` reads them
(:func:`~faceparity.readers.pairs.pairs_from_frame`); when sample ids are given, the
audit's rules leave out the comparisons of a sample with itself and every repeat of a
comparison of the same two samples (the first row kept), counted. Numeric covariate
cells must be numbers; an empty cell is a missing value (that comparison is left out
of the regression and counted), anything else an error naming file, row and column.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from faceparity.errors import InputError, Location
from faceparity.model.comparisons import ComparisonSet, Exclusion
from faceparity.model.config import ScoreKind
from faceparity.readers._table import load_table, require_columns
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.pairs import pairs_from_frame

__all__ = ["CovariateTable", "read_covariate_pairs"]


@dataclass(frozen=True)
class CovariateTable:
    """The comparisons of a pair table and its numeric covariates, rows aligned."""

    comparisons: ComparisonSet
    covariates: dict[str, npt.NDArray[np.float64]]
    exclusions: tuple[Exclusion, ...]


def _numbers(
    values: pd.Series, *, file: str, offset: npt.NDArray[np.int64], column: str
) -> npt.NDArray[np.float64]:
    text = values.astype("string").str.strip()
    empty = text.isna() | (text == "")
    parsed = pd.to_numeric(text.mask(empty), errors="coerce")
    out = np.asarray(parsed.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    bad = np.flatnonzero(~empty.to_numpy() & ~np.isfinite(out))
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"expected a finite number or an empty cell, got {values.iloc[i]!r}",
            Location(file=file, row=int(offset[i]) + 1, column=column),
        )
    return out


def read_covariate_pairs(
    path: str | os.PathLike[str],
    *,
    score: str,
    score_kind: ScoreKind,
    subjects: tuple[str, str],
    mated: str | None = None,
    samples: tuple[str, str] | None = None,
    attributes: Sequence[AttributeSpec] = (),
    covariates: Mapping[str, tuple[str, ...]] | None = None,
) -> CovariateTable:
    """Read a pair table with numeric covariate columns.

    Parameters
    ----------
    path : str or path-like
        CSV, TSV or Parquet.
    score, score_kind, subjects, mated, attributes
        As :func:`~faceparity.readers.pairs.read_pairs`.
    samples : (str, str), optional
        The sample id columns: self-comparisons and repeated comparisons are left out.
    covariates : mapping of str to tuple of str
        Each covariate's column (one, per comparison) or columns (two, per side).

    Returns
    -------
    CovariateTable
        Rows aligned between the comparisons and the covariates.

    Raises
    ------
    InputError
        A missing column, a cell that is not what it should be (file, row, column).

    """
    file = str(path)
    frame = load_table(path)
    covariates = dict(covariates or {})
    require_columns(frame, [c for cols in covariates.values() for c in cols], file=file)
    row = np.arange(len(frame), dtype=np.int64)
    comparisons = pairs_from_frame(
        frame,
        file=file,
        score=score,
        score_kind=score_kind,
        subjects=subjects,
        mated=mated,
        samples=None,
        attributes=attributes,
        source=f"pair table {Path(file).name}",
    )
    values: dict[str, npt.NDArray[np.float64]] = {}
    for name, columns in covariates.items():
        parts = [_numbers(frame[c], file=file, offset=row, column=c) for c in columns]
        values[name] = parts[0] if len(parts) == 1 else np.column_stack(parts)
    if samples is None:
        return CovariateTable(comparisons, values, ())
    keep, exclusions = _first_distinct(frame, samples, file=file)
    kept = replace(
        comparisons,
        score=comparisons.score[keep],
        mated=comparisons.mated[keep],
        subject=comparisons.subject[keep],
        attributes={k: v[keep] for k, v in comparisons.attributes.items()},
        exclusions=(*comparisons.exclusions, *exclusions),
    )
    return CovariateTable(kept, {k: v[keep] for k, v in values.items()}, exclusions)


def _first_distinct(
    frame: pd.DataFrame, samples: tuple[str, str], *, file: str
) -> tuple[npt.NDArray[np.bool_], tuple[Exclusion, ...]]:
    """Rows that compare two different samples, first of their pair of samples."""
    require_columns(frame, list(samples), file=file)
    a = frame[samples[0]].astype("string").str.strip().fillna("").to_numpy(dtype=object)
    b = frame[samples[1]].astype("string").str.strip().fillna("").to_numpy(dtype=object)
    itself = np.asarray(a == b, dtype=bool)
    first = np.asarray(a <= b, dtype=bool)
    pairs = pd.DataFrame({"low": np.where(first, a, b), "high": np.where(first, b, a)})
    repeat = pairs.duplicated().to_numpy(dtype=bool) & ~itself
    name = Path(file).name
    exclusions = []
    if itself.any():
        exclusions.append(
            Exclusion(f"comparison of a sample with itself in {name}", int(itself.sum()))
        )
    if repeat.any():
        exclusions.append(
            Exclusion(
                f"duplicate comparison (same two samples) in {name}; the first row of each "
                "was kept",
                int(repeat.sum()),
            )
        )
    return ~(itself | repeat), tuple(exclusions)


def read_covariate_embeddings(
    path: str | os.PathLike[str],
    *,
    metadata: str | os.PathLike[str] | None,
    sample_id: str | None = None,
    subject: str | None = None,
    attributes: Sequence[AttributeSpec] = (),
    group_by: Sequence[str] = (),
    covariates: Mapping[str, str] | None = None,
    max_comparisons: int = 50_000_000,
) -> CovariateTable:
    """Every comparison of embeddings, with per-sample numeric covariates on both sides.

    Parameters
    ----------
    path : str or path-like
        Embeddings (``.npy``, ``.npz``, ``.parquet``) with ``metadata``, or the output
        of ``faceparity embed`` (its quality columns, ``inter_eye_distance``,
        ``sharpness``, ``yaw`` and the others, serve as covariates) without.
    metadata : str or path-like or None
        The per-sample table (sample id, subject id, attributes, covariates).
    sample_id, subject : str, optional
        Its sample id and subject id columns (required with ``metadata``).
    attributes : sequence of AttributeSpec
        The attributes, one column of the per-sample table each.
    group_by : sequence of str
        Of the output of ``faceparity embed``: columns that become attributes by name.
    covariates : mapping of str to str
        Each covariate's column of the per-sample table.
    max_comparisons : int
        The most comparisons to form (see :func:`~faceparity.readers.embeddings.read_embeddings`).

    Returns
    -------
    CovariateTable
        The comparisons (cosine similarity) and each covariate as an (n, 2) array.

    """
    from faceparity.errors import UsageError
    from faceparity.readers.embeddings import compare_all, load_embeddings
    from faceparity.readers.pipeline_output import load_pipeline_output

    covariates = dict(covariates or {})
    if metadata is None:
        table, _ = load_pipeline_output(path, attributes=attributes, columns_as_attributes=group_by)
        per_sample = path
    else:
        if sample_id is None or subject is None:
            raise UsageError("--metadata: expected --sample-id and --subject columns too")
        table = load_embeddings(
            path, metadata=metadata, sample_id=sample_id, subject=subject, attributes=attributes
        )
        per_sample = metadata
    comparisons = compare_all(table, max_comparisons=max_comparisons, file=str(per_sample))
    values: dict[str, npt.NDArray[np.float64]] = {}
    if covariates:
        file = str(per_sample)
        frame = load_table(per_sample, columns=sorted(set(covariates.values())))
        rows = np.arange(len(frame), dtype=np.int64)
        assert comparisons.sample is not None
        for name, column in covariates.items():
            one = _numbers(frame[column], file=file, offset=rows, column=column)
            values[name] = one[comparisons.sample]
    return CovariateTable(comparisons, values, ())
