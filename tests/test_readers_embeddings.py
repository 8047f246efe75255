from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from faceparity.audit import audit
from faceparity.comparisons import MISSING, ComparisonSet, Exclusion
from faceparity.config import AuditConfig, ScoreKind
from faceparity.errors import InputError, Location, UsageError
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.embeddings import (
    NO_METADATA_REASON,
    SINGLE_SAMPLE_REASON,
    ZERO_NORM_REASON,
    read_embeddings,
)

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


@pytest.mark.parametrize("layout", ["list", "columns"])
def test_parquet_embeddings_and_parquet_metadata(tmp_path: Path, layout: str) -> None:
    np.save(tmp_path / "e.npy", EMB)
    order = [3, 1, 4, 0, 2]
    if layout == "list":
        table = pa.table(
            {"sample": [SAMPLES[k] for k in order], "embedding": [EMB[k].tolist() for k in order]}
        )
    else:
        table = pa.table(
            {"sample": [SAMPLES[k] for k in order], **{f"d{d}": EMB[order, d] for d in range(3)}}
        )
    pq.write_table(table, tmp_path / "e.parquet")
    pd.read_csv(write_metadata(tmp_path), dtype=str, keep_default_na=False).to_parquet(
        tmp_path / "m.parquet"
    )
    via_parquet = read(tmp_path / "e.parquet", tmp_path / "m.parquet")
    plain = read(tmp_path / "e.npy", tmp_path / "metadata.csv")
    np.testing.assert_allclose(via_parquet.score, plain.score, atol=1e-15)
    assert via_parquet.mated.tolist() == plain.mated.tolist()


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
    with pytest.raises(
        InputError,
        match="at least 2 samples are needed to form a comparison; got 1 after the exclusions",
    ):
        read(tmp_path / "e.npy", write_metadata(tmp_path))


# --- bad input: each error names what was expected, what was got, and where -------------


def raises(path: Path, meta: Path, match: str, location: Location, **options: Any) -> None:
    with pytest.raises(InputError, match=match) as info:
        read(path, meta, **options)
    assert info.value.location == location


@pytest.mark.parametrize(("bad", "shown"), [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_non_finite_npy_value(tmp_path: Path, bad: float, shown: str) -> None:
    values = EMB.copy()
    values[3, 2] = bad
    np.save(tmp_path / "e.npy", values)
    raises(
        tmp_path / "e.npy",
        write_metadata(tmp_path),
        f"embedding value at dimension 2 is {shown}; expected a finite number",
        Location(str(tmp_path / "e.npy"), 4, None),
    )


def test_non_finite_npz_value(tmp_path: Path) -> None:
    values = EMB.copy()
    values[1, 0] = np.nan
    np.savez(tmp_path / "e.npz", embeddings=values)
    raises(
        tmp_path / "e.npz",
        write_metadata(tmp_path),
        "dimension 0 is nan",
        Location(str(tmp_path / "e.npz"), 2, "embeddings"),
    )


def test_text_npy_values(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", np.array([["1", "2"], ["3", "x"]] + [["1", "1"]] * 3))
    raises(
        tmp_path / "e.npy",
        write_metadata(tmp_path),
        re.escape("embedding value at dimension 1 is 'x'; expected a number"),
        Location(str(tmp_path / "e.npy"), 2, None),
    )


def test_non_finite_parquet_column(tmp_path: Path) -> None:
    table = pa.table({"sample": SAMPLES, "d0": [1.0] * 5, "d1": [1.0, 2.0, 3.0, float("inf"), 5.0]})
    pq.write_table(table, tmp_path / "e.parquet")
    raises(
        tmp_path / "e.parquet",
        write_metadata(tmp_path),
        "dimension 1 is inf",
        Location(str(tmp_path / "e.parquet"), 4, "d1"),
    )


def test_text_parquet_column(tmp_path: Path) -> None:
    table = pa.table({"sample": SAMPLES, "d0": [1.0] * 5, "d1": [None, "x", "1", "2", "3"]})
    pq.write_table(table, tmp_path / "e.parquet")
    raises(
        tmp_path / "e.parquet",
        write_metadata(tmp_path),
        "embedding column must hold numbers; got string; first value 'x'",
        Location(str(tmp_path / "e.parquet"), 2, "d1"),
    )


def test_missing_value_in_parquet_list(tmp_path: Path) -> None:
    lists = [EMB[k].tolist() for k in range(5)]
    lists[2][1] = None
    pq.write_table(pa.table({"sample": SAMPLES, "embedding": lists}), tmp_path / "e.parquet")
    raises(
        tmp_path / "e.parquet",
        write_metadata(tmp_path),
        "dimension 1 is missing",
        Location(str(tmp_path / "e.parquet"), 3, "embedding"),
    )


def test_parquet_list_lengths_differ(tmp_path: Path) -> None:
    lists = [EMB[k].tolist() for k in range(5)]
    lists[3] = [1.0, 2.0]
    pq.write_table(pa.table({"sample": SAMPLES, "embedding": lists}), tmp_path / "e.parquet")
    raises(
        tmp_path / "e.parquet",
        write_metadata(tmp_path),
        "embedding has 2 values; expected 3, like data row 1",
        Location(str(tmp_path / "e.parquet"), 4, "embedding"),
    )


def test_npy_not_2d(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", np.ones((5, 3, 2)))
    raises(
        tmp_path / "e.npy",
        write_metadata(tmp_path),
        re.escape(
            "the array must be 2-D (one row per sample, one column per dimension); "
            "got shape (5, 3, 2)"
        ),
        Location(str(tmp_path / "e.npy")),
    )


def test_npz_not_2d(tmp_path: Path) -> None:
    np.savez(tmp_path / "e.npz", embeddings=np.ones(5))
    raises(
        tmp_path / "e.npz",
        write_metadata(tmp_path),
        re.escape("array 'embeddings' must be 2-D"),
        Location(str(tmp_path / "e.npz"), column="embeddings"),
    )


def test_npy_row_count_mismatch(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB[:4])
    raises(
        tmp_path / "e.npy",
        write_metadata(tmp_path),
        "the embeddings have 4 rows and the metadata table .* has 5 data rows",
        Location(str(tmp_path / "e.npy")),
    )


def test_duplicate_sample_id_in_metadata(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    meta = write_metadata(tmp_path, sample=["s1", "s2", "s3", "s2", "s5"])
    raises(
        tmp_path / "e.npy",
        meta,
        "sample id 's2' appears twice, in metadata rows 2 and 4",
        Location(str(meta), 4, "sample"),
    )


def test_duplicate_sample_id_in_npz(tmp_path: Path) -> None:
    np.savez(tmp_path / "e.npz", embeddings=EMB, sample_id=np.array(["s1", "s2", "s3", "s4", "s1"]))
    raises(
        tmp_path / "e.npz",
        write_metadata(tmp_path),
        "sample id 's1' appears twice, in rows 1 and 5",
        Location(str(tmp_path / "e.npz"), 5, "sample_id"),
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
        f"sample id 's4' has no embedding in {re.escape(str(path))}",
        Location(str(meta), 4, "sample"),
    )


def test_missing_subject_id(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    meta = write_metadata(tmp_path, subject=["a", "a", " ", "a", "c"])
    raises(tmp_path / "e.npy", meta, "missing subject id", Location(str(meta), 3, "subject"))


def test_missing_sample_id(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    meta = write_metadata(tmp_path, sample=["s1", "", "s3", "s4", "s5"])
    raises(tmp_path / "e.npy", meta, "missing sample id", Location(str(meta), 2, "sample"))


def test_missing_column(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    meta = write_metadata(tmp_path)
    with pytest.raises(InputError, match="column 'ethnicity' not found; columns: sample") as info:
        read(tmp_path / "e.npy", meta, attributes=[AttributeSpec("eth", ("ethnicity",))])
    assert info.value.location == Location(str(meta), column="ethnicity")


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
        "expected a .npy, .npz or .parquet file",
        Location(str(tmp_path / "e.txt")),
    )
    raises(
        tmp_path / "e.npy",
        tmp_path / "e.txt",
        "expected a .csv or .parquet file",
        Location(str(tmp_path / "e.txt")),
    )


def test_two_column_attribute_is_a_usage_error(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", EMB)
    with pytest.raises(UsageError, match="one column per attribute"):
        read(
            tmp_path / "e.npy",
            write_metadata(tmp_path),
            attributes=[AttributeSpec("sex", ("sex", "age"))],
        )


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
    disagree = [e for e in by_age.exclusions if "different groups" in e["reason"]]
    assert len(disagree) == 1 and disagree[0]["count"] > 0
    assert sum(g.n_mated for g in by_age.groups) + disagree[0]["count"] == int(cs.mated.sum())
