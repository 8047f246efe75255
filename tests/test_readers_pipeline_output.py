from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from faceparity.errors import InputError, UsageError
from faceparity.readers.pipeline_output import (
    MSG_NO_SKIN_TONE,
    MSG_NOT_PIPELINE_OUTPUT,
    is_pipeline_output,
    load_pipeline_output,
)

META = {b"faceparity": json.dumps({"kind": "faceparity-embeddings", "version": 1}).encode()}


def _write(path: Path, columns: dict[str, list[object]], meta: dict[bytes, bytes] = META) -> Path:
    table = pa.table(columns).replace_schema_metadata(meta)
    pq.write_table(table, path)
    return path


def _columns() -> dict[str, list[object]]:
    return {
        "path": ["a.png", "b.png", "c.png", "d.png"],
        "subject": ["1", "1", "2", "2"],
        "sex": ["F", "F", "M", "M"],
        "status": ["enrolled", "enrolled", "enrolled", "failure_to_acquire"],
        "reason": ["", "", "", "no face found"],
        "ita": [30.0, 31.0, 12.0, None],
        "ita_band": ["intermediate", "intermediate", "tan", None],
        "subject_ita": [30.5, 30.5, 12.0, 12.0],
        "subject_ita_band": ["intermediate", "intermediate", "tan", "tan"],
        "embedding": [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], None],
    }


def test_enrolled_rows_become_the_table_and_every_row_a_record(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.parquet", _columns())
    assert is_pipeline_output(path)
    table, records = load_pipeline_output(path, columns_as_attributes=["sex", "nothing"])
    assert table.values.tolist() == [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]
    assert table.rows.tolist() == [0, 1, 2]
    assert records.status[3] == "failure_to_acquire"
    assert records.codes["sex"].tolist() == [0, 0, 1, 1]
    assert "nothing" not in records.codes


def test_a_metadata_version_this_reader_does_not_know_is_refused(tmp_path: Path) -> None:
    meta = {b"faceparity": json.dumps({"kind": "faceparity-embeddings", "version": 4}).encode()}
    path = _write(tmp_path / "e.parquet", _columns(), meta=meta)
    assert is_pipeline_output(path)
    with pytest.raises(InputError) as err:
        load_pipeline_output(path)
    assert str(err.value) == f"{path}: expected embeddings metadata version 1 or 2 or 3, got 4"


def test_not_a_pipeline_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.parquet", _columns(), meta={})
    assert not is_pipeline_output(path)
    with pytest.raises(InputError) as err:
        load_pipeline_output(path)
    assert err.value.message == MSG_NOT_PIPELINE_OUTPUT.format(
        key="faceparity", kind="faceparity-embeddings"
    )


@pytest.mark.parametrize("column", ["status", "embedding", "path", "reason"])
def test_a_missing_column_is_named(tmp_path: Path, column: str) -> None:
    columns = _columns()
    del columns[column]
    path = _write(tmp_path / "e.parquet", columns)
    with pytest.raises(InputError) as err:
        load_pipeline_output(path)
    assert err.value.location.column == column
    assert err.value.message.startswith(f"expected a column {column!r}")


def test_a_bad_status_and_an_enrolled_row_without_embedding(tmp_path: Path) -> None:
    columns = _columns()
    columns["status"] = ["enrolled", "maybe", "enrolled", "failure_to_acquire"]
    with pytest.raises(InputError) as err:
        load_pipeline_output(_write(tmp_path / "a.parquet", columns))
    assert (err.value.location.row, err.value.location.column) == (2, "status")
    columns = _columns()
    columns["embedding"] = [[1.0, 0.0], None, [0.0, 1.0], None]
    with pytest.raises(InputError) as err:
        load_pipeline_output(_write(tmp_path / "b.parquet", columns))
    assert (err.value.location.row, err.value.location.column) == (2, "embedding")


@pytest.mark.parametrize("band", ["ita_band", "subject_ita_band", "subject_ita"])
def test_skin_tone_groups_need_skin_tone(tmp_path: Path, band: str) -> None:
    meta = {
        b"faceparity": json.dumps(
            {"kind": "faceparity-embeddings", "version": 1, "skin_tone": False}
        ).encode()
    }
    path = _write(tmp_path / "e.parquet", _columns(), meta=meta)
    with pytest.raises(UsageError) as err:
        load_pipeline_output(path, columns_as_attributes=[band])
    assert str(err.value) == MSG_NO_SKIN_TONE.format(file=path, names=band)
    load_pipeline_output(path, columns_as_attributes=["sex"])


def test_a_negative_processing_time_is_refused_with_its_row(tmp_path: Path) -> None:
    columns = _columns()
    n = len(next(iter(columns.values())))
    columns["processing_seconds"] = [0.5] * (n - 1) + [-1.0]
    meta = {b"faceparity": json.dumps({"kind": "faceparity-embeddings", "version": 3}).encode()}
    path = _write(tmp_path / "e.parquet", columns, meta=meta)
    with pytest.raises(InputError) as err:
        load_pipeline_output(path)
    assert str(err.value) == (
        f"{path}, row {n}, column 'processing_seconds': "
        "expected a time in seconds >= 0 or empty, got -1.0"
    )
