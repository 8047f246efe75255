"""The output of ``faceparity embed``: templates for the audit, and what became of every image.

``faceparity embed`` writes one Parquet row per manifest image (see
:mod:`faceparity.pipeline.run`): the manifest's columns, the outcome (``status``,
``reason``, ``detail``), the quality measures, the skin tone (``ita``, ``ita_band``,
``subject_ita``, ``subject_ita_band``), ``duplicate_of`` and, for enrolled images, the
``embedding``. Its schema metadata says so (key
``faceparity``, kind ``faceparity-embeddings``). :func:`load_pipeline_output` splits it
into the :class:`~faceparity.readers.embeddings.EmbeddingTable` of the enrolled
images, which the audit compares, and the :class:`PipelineRecords` of every image,
from which failures to acquire and enrol are counted by group
(:func:`faceparity.acquisition.acquisition_by_group`). Every column of the file, the
measures and skin tone included, can serve as an attribute (``--group-by ita_band``,
``--bins ita=-30,10,28,41,55``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.errors import InputError, Location, UsageError
from faceparity.model.comparisons import Exclusion
from faceparity.readers._table import (
    MSG_MISSING_COLUMN,
    MSG_UNREADABLE,
    Origin,
    available_columns,
    check_unique_ids,
    parse_ids,
    require_columns,
)
from faceparity.readers.attributes import AttributeSpec, encode_attribute
from faceparity.readers.embeddings import EMBEDDING_COLUMN, EmbeddingTable, embedding_table
from faceparity.results.acquisition import ENROLLED, STATUSES
from faceparity.results.documents import (
    EMBEDDINGS_KIND,
    EMBEDDINGS_METADATA_KEY,
    EMBEDDINGS_READABLE_VERSIONS,
    check_version,
)

__all__ = [
    "METADATA_KEY",
    "OUTPUT_KIND",
    "MSG_BAD_STATUS",
    "MSG_NOT_PIPELINE_OUTPUT",
    "PipelineRecords",
    "is_pipeline_output",
    "load_pipeline_output",
]

OUTPUT_KIND = EMBEDDINGS_KIND
"""The ``kind`` in the schema metadata of `faceparity embed`'s output."""
METADATA_KEY = EMBEDDINGS_METADATA_KEY
"""The schema metadata key that holds it (with its version and the pipeline's description)."""

MSG_NOT_PIPELINE_OUTPUT = (
    "expected the Parquet output of `faceparity embed` (schema metadata {key!r} of kind "
    "{kind!r}); for other embeddings files give --metadata, --sample-id and --subject"
)
MSG_BAD_STATUS = "status: expected one of {expected}, got {value!r}"
MSG_NO_SKIN_TONE = (
    "attribute {names}: {file} was made without skin tone (faceparity embed "
    "--no-skin-tone), so its skin tone columns (ita, ita_band, subject_ita, "
    "subject_ita_band) are empty; embed again without "
    "--no-skin-tone"
)
SKIN_TONE_COLUMNS = ("ita", "ita_band", "subject_ita", "subject_ita_band")
MSG_ENROLLED_WITHOUT = "an enrolled image: expected an embedding, got an empty value"


@dataclass(frozen=True, eq=False)
class PipelineRecords:
    """Every image of a pipeline run: outcome, reason, subject, attribute codes.

    Attributes
    ----------
    status, reasons : list of str
    subject : ndarray of str
    codes : mapping of str to ndarray of int32
        Per requested attribute, each image's code (``MISSING`` where empty).
    levels : mapping of str to tuple of str
    description : dict
        The pipeline (detector, model, spec, limits) as the file records it.
    seconds : ndarray of float64 or None
        Each image's processing time in seconds (NaN: not processed in that run, its
        record came from the cache); None for a file written before version 3.

    """

    status: list[str]
    reasons: list[str]
    subject: npt.NDArray[np.str_]
    codes: Mapping[str, npt.NDArray[np.int32]]
    levels: Mapping[str, tuple[str, ...]]
    description: dict[str, Any]
    seconds: npt.NDArray[np.float64] | None = None


def _seconds(frame: Any, file: str) -> npt.NDArray[np.float64] | None:
    """The ``processing_seconds`` column (None when absent), refused where negative."""
    if "processing_seconds" not in frame.columns:
        return None
    try:
        seconds = np.asarray(
            frame["processing_seconds"].to_numpy(dtype=np.float64, na_value=np.nan)
        )
    except (TypeError, ValueError) as err:
        raise InputError(
            "processing_seconds: expected numbers of seconds",
            Location(file, None, "processing_seconds"),
        ) from err
    bad = np.flatnonzero(~(np.isnan(seconds) | ((seconds >= 0) & np.isfinite(seconds))))
    if bad.size:
        raise InputError(
            f"expected a time in seconds >= 0 or empty, got {float(seconds[bad[0]])!r}",
            Location(file, int(bad[0]) + 1, "processing_seconds"),
        )
    return seconds


def _metadata(path: Path) -> dict[str, Any] | None:
    """The faceparity schema metadata of a Parquet file, or None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, ValueError, pa.ArrowException):
        return None
    raw = meta.get(METADATA_KEY)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("kind") == OUTPUT_KIND else None


def is_pipeline_output(path: str | os.PathLike[str]) -> bool:
    """Whether a file is the Parquet output of ``faceparity embed``."""
    p = Path(path)
    return p.suffix.lower() in (".parquet", ".pq") and p.is_file() and _metadata(p) is not None


def load_pipeline_output(
    path: str | os.PathLike[str],
    *,
    attributes: Sequence[AttributeSpec] = (),
    columns_as_attributes: Sequence[str] = (),
) -> tuple[EmbeddingTable, PipelineRecords]:
    """The enrolled images' templates, and the records of every image.

    Parameters
    ----------
    path : str or path-like
        A Parquet file written by ``faceparity embed``.
    attributes : sequence of AttributeSpec
        The attributes to code (for groups), each one column of the file.
    columns_as_attributes : sequence of str
        Names that, when no attribute of ``attributes`` has them and the file has a
        column of that name, become attributes of that column (so ``--group-by sex``
        needs no ``--attribute sex=sex``).

    Returns
    -------
    table : EmbeddingTable
        The enrolled images (sample codes are their 0-based rows in the file).
    records : PipelineRecords

    Raises
    ------
    InputError
        When the file is not such an output, or a row contradicts its status.

    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from faceparity.readers.embeddings import _list_values

    file = str(path)
    description = _metadata(Path(path))
    if description is None:
        raise InputError(
            MSG_NOT_PIPELINE_OUTPUT.format(key=METADATA_KEY.decode(), kind=OUTPUT_KIND),
            Location(file),
        )
    check_version(
        description,
        EMBEDDINGS_READABLE_VERSIONS,
        what="embeddings metadata",
        file=file,
        key="version",
    )
    try:
        arrow = pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException) as err:
        raise InputError(MSG_UNREADABLE.format(kind="Parquet", error=err), Location(file)) from err
    path_column = str(description.get("path_column", "path"))
    subject_column = str(description.get("subject_column", "subject"))
    names = list(arrow.column_names)
    for column in (path_column, subject_column, "status", "reason", EMBEDDING_COLUMN):
        if column not in names:
            raise InputError(
                MSG_MISSING_COLUMN.format(column=column, available=available_columns(names)),
                Location(file, None, column),
            )
    frame = arrow.drop_columns([EMBEDDING_COLUMN]).to_pandas()
    frame.columns = [str(c) for c in frame.columns]
    named = {spec.name for spec in attributes}
    attributes = [
        *attributes,
        *(
            AttributeSpec(name, (name,))
            for name in columns_as_attributes
            if name not in named and name in frame.columns
        ),
    ]
    require_columns(frame, [spec.columns[0] for spec in attributes], file=file)
    skin = [spec.name for spec in attributes if spec.columns[0] in SKIN_TONE_COLUMNS]
    if skin and description.get("skin_tone") is False:
        raise UsageError(MSG_NO_SKIN_TONE.format(file=file, names=", ".join(skin)))
    origin = Origin(file)
    paths = parse_ids(frame[path_column], origin=origin, column=path_column, what="image path")
    check_unique_ids(paths, origin=origin, column=path_column, what="image path")
    subjects = parse_ids(frame[subject_column], origin=origin, column=subject_column)
    status = frame["status"].astype(str).tolist()
    for row, value in enumerate(status):
        if value not in STATUSES:
            raise InputError(
                MSG_BAD_STATUS.format(expected=", ".join(STATUSES), value=value),
                Location(file, row + 1, "status"),
            )
    enrolled = np.flatnonzero(np.asarray(frame["status"] == ENROLLED, dtype=bool))
    column = arrow.column(EMBEDDING_COLUMN).combine_chunks().take(pa.array(enrolled))
    if column.null_count:
        k = int(np.flatnonzero(pc.is_null(column).to_numpy(zero_copy_only=False))[0])
        raise InputError(
            MSG_ENROLLED_WITHOUT, Location(file, int(enrolled[k]) + 1, EMBEDDING_COLUMN)
        )
    values = (
        _list_values(column, file=file) if len(enrolled) else np.zeros((0, 0), dtype=np.float64)
    )
    kept = frame.iloc[enrolled].reset_index(drop=True)
    failures = len(frame) - len(enrolled)
    exclusions = (
        [
            Exclusion(
                "image without a template (failure to acquire or enrol; see 'acquisition')",
                failures,
                unit="samples",
            )
        ]
        if failures
        else []
    )
    table = embedding_table(
        values,
        subjects.iloc[enrolled].reset_index(drop=True),
        kept,
        attributes,
        exclusions=exclusions,
        file=file,
        source=file,
    )
    table = _rows_in_file(table, enrolled)
    spec = description.get("spec")
    if isinstance(spec, dict) and spec.get("comparison") == "euclidean":  # dlib's ResNet
        table = dataclasses.replace(table, comparison="euclidean")
    codes: dict[str, npt.NDArray[np.int32]] = {}
    levels: dict[str, tuple[str, ...]] = {}
    for spec in attributes:
        values_of = frame[spec.columns[0]]
        both, levels[spec.name] = encode_attribute(values_of, values_of, spec=spec, file=file)
        codes[spec.name] = both[:, 0]
    records = PipelineRecords(
        status=status,
        reasons=frame["reason"].fillna("").astype(str).tolist(),
        subject=np.asarray(subjects.to_numpy(dtype=str)),
        codes=codes,
        levels=levels,
        description=description,
        seconds=_seconds(frame, file),
    )
    return table, records


def _rows_in_file(table: EmbeddingTable, enrolled: npt.NDArray[np.intp]) -> EmbeddingTable:
    """The table with sample codes as rows of the file rather than of the enrolled subset."""
    import dataclasses

    return dataclasses.replace(table, rows=enrolled[table.rows].astype(np.int64))
