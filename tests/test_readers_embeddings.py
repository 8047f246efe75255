from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from faceparity.errors import InputError, Location, UsageError
from faceparity.model.comparisons import MISSING, ComparisonSet, Exclusion
from faceparity.model.config import AuditConfig, ScoreKind
from faceparity.readers import _table, embeddings
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.embeddings import (
    NO_METADATA_REASON,
    SINGLE_SAMPLE_REASON,
    ZERO_NORM_REASON,
    read_embeddings,
)
from faceparity.verification.audit import audit

MORPH = Path(__file__).resolve().parents[2] / "shared" / "data" / "morph-embeddings"

# Five samples of three subjects: "a" has three samples, "b" and "c" one each.
SAMPLES = ["s1", "s2", "s3", "s4", "s5"]
SUBJECTS = ["a", "a", "b", "a", "c"]
SEX = ["F", "F", "M", "F", ""]
AGE = ["25", "31", "47", "26", "60"]
EMB = np.array(
    [
        [1.0, 0.0, 0.0],
        [0.8, 0.6, 0.0],
        [0.0, 1.0, 0.0],
        [1.0, 1.0, 1.0],
        [0.0, 0.0, -2.0],
    ]
)


def write_metadata(directory: Path, **overrides: list[str]) -> Path:
    columns = {"sample": SAMPLES, "subject": SUBJECTS, "sex": SEX, "age": AGE, **overrides}
    path = directory / "metadata.csv"
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def read(path: Path, metadata: Path, **options: Any) -> ComparisonSet:
    return read_embeddings(
        path, metadata=metadata, sample_id="sample", subject="subject", **options
    )


def cosine(x: np.ndarray, y: np.ndarray) -> float:
    return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))


def test_npy_every_pair_scored_and_labelled(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    cs = read_embeddings(
        tmp_path / "e.npy",
        metadata=write_metadata(tmp_path),
        sample_id="sample",
        subject="subject",
        attributes=[AttributeSpec("sex", ("sex",)), AttributeSpec("age", ("age",), bins=(30.0,))],
    )
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    assert len(cs) == 10
    assert cs.score_kind is ScoreKind.SIMILARITY
    assert cs.sample is not None
    assert [tuple(p) for p in cs.sample.tolist()] == pairs
    np.testing.assert_allclose(cs.score, [cosine(EMB[i], EMB[j]) for i, j in pairs], atol=1e-15)
    assert cs.mated.tolist() == [SUBJECTS[i] == SUBJECTS[j] for i, j in pairs]
    assert cs.mated.sum() == 3
    assert cs.subject_ids == ("a", "b", "c")
    assert [cs.subject_ids[k] for k in cs.subject[:, 1]] == [SUBJECTS[j] for _, j in pairs]
    assert cs.levels == {"sex": ("F", "M"), "age": ("<30", ">=30")}
    sex = cs.attributes["sex"]
    assert sex[pairs.index((0, 4))].tolist() == [0, MISSING]
    assert cs.attributes["age"][pairs.index((1, 2))].tolist() == [1, 1]
    assert cs.exclusions == (Exclusion(SINGLE_SAMPLE_REASON, 2, unit="subjects", scope="mated"),)


def test_npz_joined_by_sample_id_with_an_orphan(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    meta = write_metadata(tmp_path)
    order = [4, 2, 0, 3, 1]
    ids = np.array([SAMPLES[k] for k in order] + ["orphan"])
    values = np.vstack([EMB[order], [[5.0, 5.0, 5.0]]])
    np.savez(tmp_path / "e.npz", embeddings=values, sample_id=ids)
    plain = read(tmp_path / "e.npy", meta)
    joined = read(tmp_path / "e.npz", meta)
    np.testing.assert_array_equal(joined.score, plain.score)
    assert Exclusion(NO_METADATA_REASON, 1, unit="samples") in joined.exclusions


def test_npz_without_ids_aligns_rows(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    np.savez(tmp_path / "e.npz", embeddings=EMB)
    meta = write_metadata(tmp_path)
    np.testing.assert_array_equal(
        read(tmp_path / "e.npz", meta).score,
        read(tmp_path / "e.npy", meta).score,
    )


@pytest.mark.parametrize("layout", ["list", "large_list", "fixed_size_list"])
def test_parquet_embeddings_and_parquet_metadata(tmp_path: Path, layout: str) -> None:
    np.save(tmp_path / "e.npy", EMB)
    order = [3, 1, 4, 0, 2]
    kinds = {
        "list": pa.list_(pa.float64()),
        "large_list": pa.large_list(pa.float32()),
        "fixed_size_list": pa.list_(pa.float64(), 3),
    }
    table = pa.table(
        {
            "sample": [SAMPLES[k] for k in order],
            "embedding": pa.array([EMB[k].tolist() for k in order], type=kinds[layout]),
            "age": [1.0, 2.0, 3.0, 4.0, 5.0],  # not read: only the embedding column is
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    pd.read_csv(write_metadata(tmp_path), dtype=str, keep_default_na=False).to_parquet(
        tmp_path / "m.parquet"
    )
    via_parquet = read(tmp_path / "e.parquet", tmp_path / "m.parquet")
    plain = read(tmp_path / "e.npy", tmp_path / "metadata.csv")
    np.testing.assert_allclose(via_parquet.score, plain.score, atol=1e-15)
    assert via_parquet.mated.tolist() == plain.mated.tolist()


@pytest.mark.parametrize("suffix", [".tsv", ".pq"])
def test_metadata_as_tsv_or_pq(tmp_path: Path, suffix: str) -> None:
    np.save(tmp_path / "e.npy", EMB)
    frame = pd.read_csv(write_metadata(tmp_path), dtype=str, keep_default_na=False)
    path = tmp_path / f"m{suffix}"
    if suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    else:
        frame.to_parquet(path)
    cs = read(tmp_path / "e.npy", path, attributes=[AttributeSpec("sex", ("sex",))])
    plain = read(tmp_path / "e.npy", tmp_path / "metadata.csv")
    np.testing.assert_array_equal(cs.score, plain.score)
    assert cs.subject_ids == plain.subject_ids
    assert cs.levels == {"sex": ("F", "M")}


def test_float_ids_in_parquet_metadata_join_integer_ids_in_npz(tmp_path: Path) -> None:
    # Integer ids stored as floats (as a writer does for an integer column with gaps)
    # are the same ids as the integers of the npz: "1", not "1.0".
    meta = pd.DataFrame(
        {"sample": [1.0, 2.0, 3.0, 4.0, 5.0], "subject": [10.0, 10.0, 20.0, 10.0, 30.0]}
    )
    meta.to_parquet(tmp_path / "m.parquet")
    order = [4, 2, 0, 3, 1]
    np.savez(tmp_path / "e.npz", embeddings=EMB[order], sample_id=np.array(order) + 1)
    cs = read(tmp_path / "e.npz", tmp_path / "m.parquet")
    assert cs.subject_ids == ("10", "20", "30")
    assert cs.exclusions == (Exclusion(SINGLE_SAMPLE_REASON, 2, unit="subjects", scope="mated"),)
    np.save(tmp_path / "e.npy", EMB)
    np.testing.assert_array_equal(cs.score, read(tmp_path / "e.npy", tmp_path / "m.parquet").score)


def test_pair_arrays_are_final_and_compact(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    cs = read(
        tmp_path / "e.npy", write_metadata(tmp_path), attributes=[AttributeSpec("sex", ("sex",))]
    )
    assert cs.sample is not None
    for array, dtype in [
        (cs.score, np.float64),
        (cs.mated, np.bool_),
        (cs.subject, np.int64),
        (cs.sample, np.int64),
        (cs.attributes["sex"], np.int32),
    ]:
        assert array.dtype == dtype and array.flags.c_contiguous


def test_no_per_pair_memory_beyond_the_result(tmp_path: Path) -> None:
    # The per-pair arrays are written once, in their final shape: the peak of what
    # NumPy allocates stays within 15% of the result (it was 68% above with index
    # arrays and gathered copies).
    n = 600
    rng = np.random.default_rng(0)
    np.save(tmp_path / "e.npy", rng.normal(size=(n, 8)))
    meta = pd.DataFrame(
        {
            "sample": [f"s{k}" for k in range(n)],
            "subject": [f"p{k // 3}" for k in range(n)],
            "sex": ["F", "M"] * (n // 2),
        }
    )
    meta.to_csv(tmp_path / "m.csv", index=False)
    options: dict[str, Any] = {"attributes": [AttributeSpec("sex", ("sex",))], "block_size": 64}
    read(tmp_path / "e.npy", tmp_path / "m.csv", **options)  # imports and caches first
    tracemalloc.start()
    try:
        cs = read(tmp_path / "e.npy", tmp_path / "m.csv", **options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert cs.sample is not None
    result = sum(
        a.nbytes for a in (cs.score, cs.mated, cs.subject, cs.sample, *cs.attributes.values())
    )
    assert result == len(cs) * (
        embeddings.BYTES_PER_COMPARISON + embeddings.BYTES_PER_COMPARISON_ATTRIBUTE
    )
    assert peak < 1.15 * result


def test_max_comparisons_is_inclusive(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    assert len(read(tmp_path / "e.npy", write_metadata(tmp_path), max_comparisons=10)) == 10


def test_more_comparisons_than_max_is_an_error_before_pairing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pairing(*args: object, **kwargs: object) -> None:
        raise AssertionError("pairs were formed")

    monkeypatch.setattr(embeddings, "cosine_scores", no_pairing)
    monkeypatch.setattr(embeddings, "pair_sides", no_pairing)
    np.save(tmp_path / "e.npy", EMB)
    meta = write_metadata(tmp_path)
    err = error(
        tmp_path / "e.npy",
        meta,
        max_comparisons=9,
        attributes=[AttributeSpec("sex", ("sex",)), AttributeSpec("age", ("age",))],
    )
    assert err.message == embeddings.MSG_TOO_MANY_COMPARISONS.format(
        limit=9, n_samples=5, count=10, gigabytes=10 * (41 + 2 * 8) / 1e9
    )
    assert err.message.startswith("expected at most 9 comparisons (max_comparisons), got 5 ")
    assert "audit a subset of the samples" in err.message
    assert err.location == Location(str(meta))


def test_max_comparisons_counts_the_samples_left(tmp_path: Path) -> None:
    values = EMB.copy()
    values[0] = 0.0  # zero norm: 4 samples left, 6 comparisons
    np.save(tmp_path / "e.npy", values)
    assert len(read(tmp_path / "e.npy", write_metadata(tmp_path), max_comparisons=6)) == 6


def test_default_max_comparisons_message_for_6000_samples() -> None:
    text = embeddings.MSG_TOO_MANY_COMPARISONS.format(
        limit=embeddings.MAX_COMPARISONS,
        n_samples=6000,
        count=6000 * 5999 // 2,
        gigabytes=6000 * 5999 // 2 * 41 / 1e9,
    )
    assert text.startswith(
        "expected at most 50,000,000 comparisons (max_comparisons), got 6,000 samples, "
        "which make 17,997,000 comparisons (n (n - 1) / 2), about 0.7 GB in memory"
    )


def test_zero_norm_sample_is_dropped_and_counted(tmp_path: Path) -> None:
    values = EMB.copy()
    values[2] = 0.0
    np.save(tmp_path / "e.npy", values)
    cs = read(tmp_path / "e.npy", write_metadata(tmp_path))
    assert len(cs) == 6
    assert cs.sample is not None and 2 not in cs.sample
    assert cs.subject_ids == ("a", "c")
    assert cs.exclusions == (
        Exclusion(ZERO_NORM_REASON, 1, unit="samples"),
        Exclusion(SINGLE_SAMPLE_REASON, 1, unit="subjects", scope="mated"),
    )


def test_fewer_than_two_samples(tmp_path: Path) -> None:
    values = np.zeros_like(EMB)
    values[0] = 1.0
    np.save(tmp_path / "e.npy", values)
    meta = write_metadata(tmp_path)
    err = error(tmp_path / "e.npy", meta)
    assert err.message == embeddings.MSG_TOO_FEW_SAMPLES.format(count=1)
    assert (
        err.message
        == "expected at least 2 samples to form a comparison, got 1 after the exclusions"
    )
    assert err.location == Location(str(meta))


# --- bad input: each error names what was expected, what was got, and where -------------


def error(path: Path, meta: Path, **options: Any) -> InputError:
    with pytest.raises(InputError) as info:
        read(path, meta, **options)
    return info.value


def raises(path: Path, meta: Path, message: str, location: Location, **options: Any) -> None:
    err = error(path, meta, **options)
    assert (err.message, err.location) == (message, location)


@pytest.mark.parametrize(("bad", "shown"), [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_non_finite_npy_value(tmp_path: Path, bad: float, shown: str) -> None:
    values = EMB.copy()
    values[3, 2] = bad
    np.save(tmp_path / "e.npy", values)
    raises(
        tmp_path / "e.npy",
        write_metadata(tmp_path),
        embeddings.MSG_NOT_FINITE.format(dim=2, value=shown),
        Location(str(tmp_path / "e.npy"), 4, None),
    )


def test_non_finite_npz_value(tmp_path: Path) -> None:
    values = EMB.copy()
    values[1, 0] = np.nan
    np.savez(tmp_path / "e.npz", embeddings=values)
    raises(
        tmp_path / "e.npz",
        write_metadata(tmp_path),
        "embedding value at dimension 0: expected a finite number, got nan",
        Location(str(tmp_path / "e.npz"), 2, "embeddings"),
    )


def test_text_npy_values(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", np.array([["1", "2"], ["3", "x"]] + [["1", "1"]] * 3))
    raises(
        tmp_path / "e.npy",
        write_metadata(tmp_path),
        embeddings.MSG_NOT_A_NUMBER.format(dim=1, value="x", dtype="<U1"),
        Location(str(tmp_path / "e.npy"), 2, None),
    )


def test_parquet_without_the_embedding_column(tmp_path: Path) -> None:
    # One numeric column per dimension is refused: 'age' would have become a dimension.
    table = pa.table({"sample": SAMPLES, "d0": [1.0] * 5, "d1": [2.0] * 5, "age": [30] * 5})
    pq.write_table(table, tmp_path / "e.parquet")
    raises(
        tmp_path / "e.parquet",
        write_metadata(tmp_path),
        embeddings.MSG_NO_EMBEDDING_COLUMN.format(
            column="embedding", available="'sample', 'd0', 'd1', 'age'"
        ),
        Location(str(tmp_path / "e.parquet"), None, "embedding"),
    )
    assert embeddings.MSG_NO_EMBEDDING_COLUMN.startswith("expected a column {column!r} holding")


def test_parquet_without_the_sample_id_column(tmp_path: Path) -> None:
    table = pa.table({"id": SAMPLES, "embedding": EMB.tolist()})
    pq.write_table(table, tmp_path / "e.parquet")
    raises(
        tmp_path / "e.parquet",
        write_metadata(tmp_path),
        _table.MSG_MISSING_COLUMN.format(column="sample", available="'id', 'embedding'"),
        Location(str(tmp_path / "e.parquet"), None, "sample"),
    )


def test_parquet_embedding_column_not_lists(tmp_path: Path) -> None:
    table = pa.table({"sample": SAMPLES, "embedding": [1.0, 2.0, 3.0, 4.0, 5.0]})
    pq.write_table(table, tmp_path / "e.parquet")
    raises(
        tmp_path / "e.parquet",
        write_metadata(tmp_path),
        embeddings.MSG_NOT_LISTS.format(column="embedding", kind="double"),
        Location(str(tmp_path / "e.parquet"), None, "embedding"),
    )


def test_text_parquet_list(tmp_path: Path) -> None:
    table = pa.table({"sample": SAMPLES, "embedding": [["x", "1"]] * 5})
    pq.write_table(table, tmp_path / "e.parquet")
    raises(
        tmp_path / "e.parquet",
        write_metadata(tmp_path),
        embeddings.MSG_LIST_VALUES.format(kind="string", shown="; first value 'x' at dimension 0"),
        Location(str(tmp_path / "e.parquet"), 1, "embedding"),
    )


def test_non_finite_value_in_parquet_list(tmp_path: Path) -> None:
    lists = [EMB[k].tolist() for k in range(5)]
    lists[3][1] = float("inf")
    pq.write_table(pa.table({"sample": SAMPLES, "embedding": lists}), tmp_path / "e.parquet")
    raises(
        tmp_path / "e.parquet",
        write_metadata(tmp_path),
        embeddings.MSG_NOT_FINITE.format(dim=1, value="inf"),
        Location(str(tmp_path / "e.parquet"), 4, "embedding"),
    )


def test_missing_value_in_parquet_list(tmp_path: Path) -> None:
    lists = [EMB[k].tolist() for k in range(5)]
    lists[2][1] = None
    pq.write_table(pa.table({"sample": SAMPLES, "embedding": lists}), tmp_path / "e.parquet")
    raises(
        tmp_path / "e.parquet",
        write_metadata(tmp_path),
        embeddings.MSG_NOT_FINITE.format(dim=1, value="an empty value"),
        Location(str(tmp_path / "e.parquet"), 3, "embedding"),
    )


def test_missing_parquet_list(tmp_path: Path) -> None:
    lists: list[list[float] | None] = [EMB[k].tolist() for k in range(5)]
    lists[1] = None
    pq.write_table(pa.table({"sample": SAMPLES, "embedding": lists}), tmp_path / "e.parquet")
    raises(
        tmp_path / "e.parquet",
        write_metadata(tmp_path),
        embeddings.MSG_NO_LIST,
        Location(str(tmp_path / "e.parquet"), 2, "embedding"),
    )


def test_parquet_list_lengths_differ(tmp_path: Path) -> None:
    lists = [EMB[k].tolist() for k in range(5)]
    lists[3] = [1.0, 2.0]
    pq.write_table(pa.table({"sample": SAMPLES, "embedding": lists}), tmp_path / "e.parquet")
    raises(
        tmp_path / "e.parquet",
        write_metadata(tmp_path),
        embeddings.MSG_LENGTHS_DIFFER.format(expected=3, count=2),
        Location(str(tmp_path / "e.parquet"), 4, "embedding"),
    )


def test_not_parquet(tmp_path: Path) -> None:
    (tmp_path / "e.parquet").write_text("sample,embedding\n")
    err = error(tmp_path / "e.parquet", write_metadata(tmp_path))
    assert err.message.startswith(_table.MSG_UNREADABLE.format(kind="Parquet", error=""))
    assert err.location == Location(str(tmp_path / "e.parquet"))


def test_npy_not_2d(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", np.ones((5, 3, 2)))
    raises(
        tmp_path / "e.npy",
        write_metadata(tmp_path),
        "the array: expected 2-D (one row per sample, one column per dimension), "
        "got shape (5, 3, 2)",
        Location(str(tmp_path / "e.npy")),
    )


def test_npz_not_2d(tmp_path: Path) -> None:
    np.savez(tmp_path / "e.npz", embeddings=np.ones(5))
    raises(
        tmp_path / "e.npz",
        write_metadata(tmp_path),
        embeddings.MSG_NOT_2D.format(name="array 'embeddings'", shape=(5,)),
        Location(str(tmp_path / "e.npz"), column="embeddings"),
    )


def test_npz_embeddings_not_2d_with_sample_ids(tmp_path: Path) -> None:
    """The shape of the embeddings is named, not a row count of a 0-d array."""
    np.savez(tmp_path / "e.npz", embeddings=np.array(3.0), sample_id=np.array(SAMPLES))
    raises(
        tmp_path / "e.npz",
        write_metadata(tmp_path),
        embeddings.MSG_NOT_2D.format(name="array 'embeddings'", shape=()),
        Location(str(tmp_path / "e.npz"), column="embeddings"),
    )


NPY_KIND, NPZ_KIND = "a NumPy array (.npy)", "a NumPy archive (.npz)"


def _npz_bytes(tmp_path: Path, *, compressed: bool = False) -> bytes:
    path = tmp_path / "whole.npz"
    (np.savez_compressed if compressed else np.savez)(path, embeddings=EMB)
    return path.read_bytes()


def _central_directory_patched(data: bytes, offset: int, value: int) -> bytes:
    """The archive with a 2-byte field of its first central directory entry replaced."""
    at = data.index(b"PK\x01\x02") + offset
    return data[:at] + value.to_bytes(2, "little") + data[at + 2 :]


def _corrupt_npz(tmp_path: Path, how: str) -> bytes:
    whole = _npz_bytes(tmp_path)
    if how == "truncated":
        return whole[: len(whole) // 2]
    if how == "truncated to its signature":
        return whole[:4]
    if how == "bad CRC":
        at = whole.index(b"\x93NUMPY") + 200
        return whole[:at] + b"\xff" * 8 + whole[at + 8 :]
    if how == "corrupt compressed member":
        packed = _npz_bytes(tmp_path, compressed=True)
        at = len(packed) // 3
        return packed[:at] + b"\xff" * 40 + packed[at + 40 :]
    if how == "unknown compression method":
        return _central_directory_patched(whole, 10, 99)
    assert how == "encrypted member"
    return _central_directory_patched(whole, 8, 0x1)


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "truncated to its signature",
        "bad CRC",
        "corrupt compressed member",
        "unknown compression method",
        "encrypted member",
    ],
)
def test_truncated_or_corrupt_npz(tmp_path: Path, how: str) -> None:
    path = tmp_path / "e.npz"
    path.write_bytes(_corrupt_npz(tmp_path, how))
    err = error(path, write_metadata(tmp_path))
    assert err.message.startswith(_table.MSG_UNREADABLE.format(kind=NPZ_KIND, error=""))
    assert err.location == Location(str(path))


@pytest.mark.parametrize("keep", [30, 100, 200])
def test_truncated_npy(tmp_path: Path, keep: int) -> None:
    """Cut in its header (30 bytes) or in its data."""
    np.save(tmp_path / "whole.npy", EMB)
    path = tmp_path / "e.npy"
    path.write_bytes((tmp_path / "whole.npy").read_bytes()[:keep])
    err = error(path, write_metadata(tmp_path))
    assert err.message.startswith(_table.MSG_UNREADABLE.format(kind=NPY_KIND, error=""))
    assert err.location == Location(str(path))


@pytest.mark.parametrize(
    ("suffix", "content", "got"),
    [
        (".npy", b"s1,0.1,0.2\n", "a file that starts with b's1,0.1,0'"),
        (".npy", b"", "an empty file"),
        (".npz", b"embeddings", "a file that starts with b'embeddin'"),
        (".npz", b"", "an empty file"),
    ],
)
def test_a_file_that_is_no_numpy_file(
    tmp_path: Path, suffix: str, content: bytes, got: str
) -> None:
    path = tmp_path / f"e{suffix}"
    path.write_bytes(content)
    kind, magic = (
        (NPY_KIND, "b'\\x93NUMPY'")
        if suffix == ".npy"
        else (NPZ_KIND, "b'PK\\x03\\x04' or b'PK\\x05\\x06'")
    )
    raises(
        path,
        write_metadata(tmp_path),
        embeddings.MSG_NOT_NUMPY.format(expected=kind, magic=magic, got=got),
        Location(str(path)),
    )


@pytest.mark.parametrize(
    "values",
    [
        EMB.astype(np.complex64),
        EMB.astype(np.complex128) + 1j,
        EMB > 0,
        np.zeros(EMB.shape, dtype="datetime64[s]"),
        np.ones(EMB.shape, dtype="timedelta64[s]"),
        np.zeros(EMB.shape, dtype=[("x", "f4")]),
    ],
    ids=["complex64", "complex128", "bool", "datetime", "timedelta", "record"],
)
@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_arrays_of_other_than_real_numbers(tmp_path: Path, values: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"e{suffix}"
    if suffix == ".npy":
        np.save(path, values)
        name, column = "the array", None
    else:
        np.savez(path, embeddings=values)
        name, column = "array 'embeddings'", "embeddings"
    raises(
        path,
        write_metadata(tmp_path),
        embeddings.MSG_NOT_REAL.format(name=name, dtype=values.dtype),
        Location(str(path), column=column),
    )


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_arrays_of_python_objects_are_not_unpickled(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"e{suffix}"
    values = EMB.astype(object)
    if suffix == ".npy":
        np.save(path, values, allow_pickle=True)
    else:
        np.savez(path, embeddings=values)
    err = error(path, write_metadata(tmp_path))
    kind = NPY_KIND if suffix == ".npy" else NPZ_KIND
    assert err.message.startswith(_table.MSG_UNREADABLE.format(kind=kind, error=""))
    assert "allow_pickle" in err.message
    assert err.location == Location(str(path))


def test_npy_of_one_or_three_dimensions_with_nan_rows(tmp_path: Path) -> None:
    """The shape is checked before the values: no NaN of a 3-d array is reported."""
    for shape in [(5,), (5, 3, 1)]:
        values = np.full(shape, np.nan)
        np.save(tmp_path / "e.npy", values)
        raises(
            tmp_path / "e.npy",
            write_metadata(tmp_path),
            embeddings.MSG_NOT_2D.format(name="the array", shape=shape),
            Location(str(tmp_path / "e.npy")),
        )


def test_no_dimensions(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", np.ones((5, 0)))
    raises(
        tmp_path / "e.npy",
        write_metadata(tmp_path),
        embeddings.MSG_NO_DIMENSIONS,
        Location(str(tmp_path / "e.npy")),
    )


def test_npz_without_embeddings_array(tmp_path: Path) -> None:
    np.savez(tmp_path / "e.npz", vectors=EMB, ids=np.array(SAMPLES))
    raises(
        tmp_path / "e.npz",
        write_metadata(tmp_path),
        embeddings.MSG_NPZ_NO_EMBEDDINGS.format(name="embeddings", found="'vectors', 'ids'"),
        Location(str(tmp_path / "e.npz")),
    )


def test_npz_ids_of_the_wrong_shape(tmp_path: Path) -> None:
    np.savez(tmp_path / "e.npz", embeddings=EMB, sample_id=np.array(SAMPLES[:4]))
    raises(
        tmp_path / "e.npz",
        write_metadata(tmp_path),
        embeddings.MSG_NPZ_IDS_SHAPE.format(
            name="sample_id", embeddings="embeddings", rows=5, shape=(4,)
        ),
        Location(str(tmp_path / "e.npz"), column="sample_id"),
    )


@pytest.mark.parametrize(("suffix", "expected", "got"), [(".npy", 0, 1), (".npz", 1, 0)])
def test_other_numpy_format(tmp_path: Path, suffix: str, expected: int, got: int) -> None:
    kinds = ["a NumPy array (.npy)", "a NumPy archive (.npz)"]
    path = tmp_path / f"e{suffix}"
    with path.open("wb") as handle:
        if suffix == ".npy":
            np.savez(handle, embeddings=EMB)
        else:
            np.save(handle, EMB)
    raises(
        path,
        write_metadata(tmp_path),
        embeddings.MSG_OTHER_NUMPY_FORMAT.format(expected=kinds[expected], got=kinds[got]),
        Location(str(path)),
    )


def test_npy_row_count_mismatch(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB[:4])
    meta = write_metadata(tmp_path)
    raises(
        tmp_path / "e.npy",
        meta,
        embeddings.MSG_ROW_COUNTS.format(n_meta=5, metadata=str(meta), n_emb=4),
        Location(str(tmp_path / "e.npy")),
    )


def test_duplicate_sample_id_in_metadata(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    meta = write_metadata(tmp_path, sample=["s1", "s2", "s3", "s2", "s5"])
    raises(
        tmp_path / "e.npy",
        meta,
        "sample id 's2': expected each sample id in one row only, got it in rows 2 and 4",
        Location(str(meta), 4, "sample"),
    )


def test_duplicate_sample_id_in_npz(tmp_path: Path) -> None:
    np.savez(tmp_path / "e.npz", embeddings=EMB, sample_id=np.array(["s1", "s2", "s3", "s4", "s1"]))
    raises(
        tmp_path / "e.npz",
        write_metadata(tmp_path),
        _table.MSG_DUPLICATE_ID.format(what="sample id", value="s1", first_row=1, second_row=5),
        Location(str(tmp_path / "e.npz"), 5, "sample_id"),
    )


def test_duplicate_sample_id_in_parquet(tmp_path: Path) -> None:
    ids = [7, 8, 9, 8, 10]
    pq.write_table(pa.table({"sample": ids, "embedding": EMB.tolist()}), tmp_path / "e.parquet")
    raises(
        tmp_path / "e.parquet",
        write_metadata(tmp_path),
        _table.MSG_DUPLICATE_ID.format(what="sample id", value="8", first_row=2, second_row=4),
        Location(str(tmp_path / "e.parquet"), 4, "sample"),
    )


def test_duplicate_float_id_is_named_as_an_integer(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    meta = tmp_path / "m.parquet"
    pd.DataFrame({"sample": [1.0, 2.0, 3.0, 2.0, 5.0], "subject": SUBJECTS}).to_parquet(meta)
    raises(
        tmp_path / "e.npy",
        meta,
        _table.MSG_DUPLICATE_ID.format(what="sample id", value="2", first_row=2, second_row=4),
        Location(str(meta), 4, "sample"),
    )


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_metadata_sample_without_embedding(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"e{suffix}"
    ids = ["s1", "s2", "s3", "s5"]
    if suffix == ".npz":
        np.savez(path, embeddings=EMB[[0, 1, 2, 4]], sample_id=np.array(ids))
    else:
        pq.write_table(pa.table({"sample": ids, "embedding": EMB[[0, 1, 2, 4]].tolist()}), path)
    meta = write_metadata(tmp_path)
    raises(
        path,
        meta,
        embeddings.MSG_NO_EMBEDDING.format(sample="s4", file=str(path)),
        Location(str(meta), 4, "sample"),
    )


def test_missing_subject_id(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    meta = write_metadata(tmp_path, subject=["a", "a", " ", "a", "c"])
    raises(
        tmp_path / "e.npy",
        meta,
        _table.MSG_EMPTY_ID.format(what="subject id"),
        Location(str(meta), 3, "subject"),
    )


def test_missing_sample_id(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    meta = write_metadata(tmp_path, sample=["s1", "", "s3", "s4", "s5"])
    raises(
        tmp_path / "e.npy",
        meta,
        "sample id: expected an identifier, got an empty value",
        Location(str(meta), 2, "sample"),
    )


def test_missing_sample_id_in_npz(tmp_path: Path) -> None:
    np.savez(tmp_path / "e.npz", embeddings=EMB, sample_id=np.array(["s1", "s2", "", "s4", "s5"]))
    raises(
        tmp_path / "e.npz",
        write_metadata(tmp_path),
        _table.MSG_EMPTY_ID.format(what="sample id"),
        Location(str(tmp_path / "e.npz"), 3, "sample_id"),
    )


def test_missing_column(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    meta = write_metadata(tmp_path)
    raises(
        tmp_path / "e.npy",
        meta,
        _table.MSG_MISSING_COLUMN.format(
            column="ethnicity", available="'sample', 'subject', 'sex', 'age'"
        ),
        Location(str(meta), column="ethnicity"),
        attributes=[AttributeSpec("eth", ("ethnicity",))],
    )


def test_header_only_metadata_is_blamed_on_the_metadata(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    meta = tmp_path / "m.csv"
    meta.write_text("sample,subject\n")
    raises(tmp_path / "e.npy", meta, _table.MSG_NO_ROWS, Location(str(meta)))


def test_binned_attribute_not_a_number(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    meta = write_metadata(tmp_path, age=["25", "31", "old", "26", "60"])
    with pytest.raises(InputError, match="a number was expected") as info:
        read(tmp_path / "e.npy", meta, attributes=[AttributeSpec("age", ("age",), bins=(30.0,))])
    assert info.value.location == Location(str(meta), 3, "age")


def test_unsupported_suffixes(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    (tmp_path / "e.txt").write_text("1 2 3\n")
    meta = write_metadata(tmp_path)
    raises(
        tmp_path / "e.txt",
        meta,
        "expected an embeddings file ending in .npy, .npz, .parquet, .pq, got '.txt'",
        Location(str(tmp_path / "e.txt")),
    )
    raises(
        tmp_path / "e.npy",
        tmp_path / "e.txt",
        _table.MSG_UNSUPPORTED_SUFFIX.format(expected=".csv, .tsv, .parquet, .pq", suffix="'.txt'"),
        Location(str(tmp_path / "e.txt")),
    )


def test_two_column_attribute_is_a_usage_error(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    with pytest.raises(UsageError) as info:
        read(
            tmp_path / "e.npy",
            write_metadata(tmp_path),
            attributes=[AttributeSpec("sex", ("sex", "age"))],
        )
    assert str(info.value) == embeddings.MSG_ONE_COLUMN.format(name="sex", columns="sex, age")


@pytest.mark.parametrize("option", ["block_size", "max_comparisons"])
def test_options_below_one_are_usage_errors(tmp_path: Path, option: str) -> None:
    np.save(tmp_path / "e.npy", EMB)
    with pytest.raises(UsageError) as info:
        read(tmp_path / "e.npy", write_metadata(tmp_path), **{option: 0})
    assert str(info.value) == embeddings.MSG_AT_LEAST_ONE.format(option=option, value=0)


# --- real data: MORPH embeddings ---------------------------------------------------------

MORPH_NAME = re.compile(r"(?P<subject>\d+)_(?P<image>\d+)(?P<sex>[MF])(?P<age>\d+)\.\w+")


def morph_to_files(source: Path, directory: Path) -> tuple[Path, Path]:
    """embeddings.json -> embeddings.npy + metadata.csv (sample, subject, sex, age)."""
    data = json.loads(source.read_text())
    rows, vectors = [], []
    for key, images in data.items():
        for image_path, vector in images.items():
            name = image_path.rsplit("/", 1)[-1]
            match = MORPH_NAME.fullmatch(name)
            assert match is not None, name
            # The JSON keys drop leading zeros ("55734" for "055734_00F44.JPG").
            assert int(match["subject"]) == int(key)
            rows.append(
                {
                    "sample": name,
                    "subject": match["subject"],
                    "sex": match["sex"],
                    "age": int(match["age"]),
                }
            )
            vectors.append(vector)
    np.save(directory / "embeddings.npy", np.asarray(vectors, dtype=np.float64))
    pd.DataFrame(rows).to_csv(directory / "metadata.csv", index=False)
    return directory / "embeddings.npy", directory / "metadata.csv"


def test_morph_embeddings(tmp_path: Path) -> None:
    source = MORPH / "embeddings.json"
    if not source.exists():
        pytest.skip(f"{source} is not available")
    emb, meta = morph_to_files(source, tmp_path)
    cs = read_embeddings(
        emb,
        metadata=meta,
        sample_id="sample",
        subject="subject",
        attributes=[
            AttributeSpec("sex", ("sex",)),
            AttributeSpec("age", ("age",), bins=(30.0, 40.0)),
        ],
    )
    assert cs.sample is not None and len(np.unique(cs.sample)) == 268
    assert len(cs.subject_ids) == 50
    assert len(cs) == 268 * 267 // 2
    assert cs.levels["sex"] == ("F", "M")
    assert cs.levels["age"] == ("<30", "[30,40)", ">=40")

    by_sex = audit(cs, group_by=["sex"], config=AuditConfig(target_fmrs=(1e-3,)))
    assert [g.n_samples for g in by_sex.groups] == [142, 126]
    assert sum(g.n_mated for g in by_sex.groups) == int(cs.mated.sum())

    by_age = audit(cs, group_by=["age"], config=AuditConfig(target_fmrs=(1e-3,)))
    # Age bands change between a subject's images: those mated comparisons count
    # overall only (mated rule 'exclude'), and the count is recorded.
    disagree = [e for e in by_age.exclusions if "different groups" in e.reason]
    assert len(disagree) == 1 and disagree[0].count > 0
    assert sum(g.n_mated for g in by_age.groups) + disagree[0].count == int(cs.mated.sum())


def test_values_beyond_float32_are_refused_with_row_and_dimension(tmp_path: Path) -> None:
    """1e300 is finite as float64 but overflows the engines' float32: an InputError."""
    from faceparity.readers.embeddings import MSG_BEYOND_FLOAT32, _check_finite

    values = np.ones((3, 4))
    values[1, 2] = 1e300
    with pytest.raises(InputError) as err:
        _check_finite(values, "e.npy", [None] * 4)
    assert err.value.location.row == 2
    assert err.value.message == MSG_BEYOND_FLOAT32.format(dim=2, value="1e+300")


def test_a_repeated_column_name_in_the_metadata_is_an_error(tmp_path: Path) -> None:
    # the second "sex" column was ignored, silently
    np.save(tmp_path / "e.npy", EMB)
    meta = tmp_path / "metadata.csv"
    rows = [f"{s},{u},{x},M" for s, u, x in zip(SAMPLES, SUBJECTS, SEX, strict=True)]
    meta.write_text("\n".join(["sample,subject,sex,sex", *rows]) + "\n")
    with pytest.raises(InputError) as info:
        read(tmp_path / "e.npy", meta, attributes=[AttributeSpec("sex", ("sex",))])
    assert info.value.message == (
        "expected distinct column names; 'sex' names 2 columns (positions 3, 4)"
    )
    assert info.value.location == Location(str(meta), column="sex")


@pytest.mark.parametrize("bad", [np.nan, 1e300])
def test_values_are_checked_slice_by_slice_with_the_row_of_the_whole_file(
    monkeypatch: pytest.MonkeyPatch, bad: float
) -> None:
    """The check reads a few rows at a time; the row it names counts from the file's start."""
    from faceparity.readers.embeddings import _check_finite

    monkeypatch.setattr(embeddings, "CHECK_ELEMENTS", 8)  # two rows of four a slice
    values = np.ones((7, 4))
    values[5, 3] = bad
    with pytest.raises(InputError) as err:
        _check_finite(values, "e.npy", [None] * 4)
    assert (err.value.location.row, err.value.location.column) == (6, None)
    assert "dimension 3" in err.value.message


def test_float32_templates_are_kept_as_read(tmp_path: Path) -> None:
    """A float32 file in metadata order is neither widened nor copied: the engines read
    float32 (and widen it exactly where they compute in float64)."""
    np.save(tmp_path / "e.npy", EMB.astype(np.float32))
    table = embeddings.load_embeddings(
        tmp_path / "e.npy", metadata=write_metadata(tmp_path), sample_id="sample", subject="subject"
    )
    assert table.values.dtype == np.float32
    np.testing.assert_array_equal(table.values, EMB.astype(np.float32))
    np.save(tmp_path / "e64.npy", EMB.astype(np.float32).astype(np.float64))
    wide = embeddings.load_embeddings(
        tmp_path / "e64.npy",
        metadata=write_metadata(tmp_path),
        sample_id="sample",
        subject="subject",
    )
    assert wide.values.dtype == np.float64
    np.testing.assert_array_equal(
        embeddings.compare_all(table).score, embeddings.compare_all(wide).score
    )
