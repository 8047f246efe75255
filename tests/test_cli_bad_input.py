"""Every bad input of the issue's list, through the command line: message, exit code, no output.

Errors exit with 2 and write nothing; exclusions exit with 0 and are counted in
``results.json``. Reader-level tests check the exact messages; here the point is
the user's view.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from faceparity import cli


def _population(n_subjects: int = 12, per_subject: int = 3, dim: int = 8, seed: int = 1):
    rng = np.random.default_rng(seed)
    subjects = np.repeat(np.arange(n_subjects), per_subject)
    centres = rng.normal(size=(n_subjects, dim))
    emb = centres[subjects] + 0.3 * rng.normal(size=(subjects.size, dim))
    meta = pd.DataFrame(
        {
            "sample": [f"img{i:03d}" for i in range(subjects.size)],
            "subject": [f"p{s:02d}" for s in subjects],
            "sex": np.where(subjects % 2 == 0, "F", "M"),
        }
    )
    return emb, meta


def _audit_embeddings(emb_path: Path, meta_path: Path, out: Path, *extra: str):
    args = [
        "audit",
        "embeddings",
        str(emb_path),
        "--metadata",
        str(meta_path),
        "--sample-id",
        "sample",
        "--subject",
        "subject",
        "--attribute",
        "sex=sex",
        "--group-by",
        "sex",
        "--fmr",
        "0.1",
        "-o",
        str(out),
        *extra,
    ]
    return CliRunner().invoke(cli.main, args, catch_exceptions=False)


def _write(tmp_path: Path, emb: np.ndarray, meta: pd.DataFrame) -> tuple[Path, Path]:
    np.save(tmp_path / "emb.npy", emb)
    meta.to_csv(tmp_path / "meta.csv", index=False)
    return tmp_path / "emb.npy", tmp_path / "meta.csv"


def _fails(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_nan_embedding_value_names_row_and_dimension(tmp_path: Path) -> None:
    emb, meta = _population()
    emb[4, 2] = np.nan
    out = tmp_path / "out"
    result = _audit_embeddings(*_write(tmp_path, emb, meta), out)
    _fails(result, "emb.npy", "row 5")
    assert not out.exists()


def test_row_count_mismatch_is_an_error(tmp_path: Path) -> None:
    emb, meta = _population()
    out = tmp_path / "out"
    result = _audit_embeddings(*_write(tmp_path, emb[:-1], meta), out)
    _fails(result, str(len(meta) - 1), str(len(meta)))
    assert not out.exists()


def test_mismatched_dimensions_in_parquet_name_the_row(tmp_path: Path) -> None:
    emb, meta = _population()
    vectors = [list(v) for v in emb]
    vectors[6] = vectors[6][:-1]
    table = pa.table({"sample": meta["sample"], "embedding": vectors})
    pq.write_table(table, tmp_path / "emb.parquet")
    meta.to_csv(tmp_path / "meta.csv", index=False)
    out = tmp_path / "out"
    result = _audit_embeddings(tmp_path / "emb.parquet", tmp_path / "meta.csv", out)
    _fails(result, "emb.parquet", "row 7")
    assert not out.exists()


def test_unknown_sample_id_is_an_error(tmp_path: Path) -> None:
    emb, meta = _population()
    np.savez(
        tmp_path / "emb.npz", embeddings=emb[1:], sample_id=meta["sample"][1:].to_numpy(dtype=str)
    )
    meta.to_csv(tmp_path / "meta.csv", index=False)
    out = tmp_path / "out"
    result = _audit_embeddings(tmp_path / "emb.npz", tmp_path / "meta.csv", out)
    _fails(result, "meta.csv", "row 1", "img000")
    assert not out.exists()


def test_duplicate_sample_id_is_an_error(tmp_path: Path) -> None:
    emb, meta = _population()
    meta.loc[5, "sample"] = meta.loc[2, "sample"]
    out = tmp_path / "out"
    result = _audit_embeddings(*_write(tmp_path, emb, meta), out)
    _fails(result, "meta.csv", "row 6", "rows 3 and 6")
    assert not out.exists()


def test_exclusions_are_counted_in_results(tmp_path: Path) -> None:
    emb, meta = _population()
    emb[0] = 0.0  # zero-norm: failure to extract
    meta.loc[3, "sex"] = ""  # missing attribute value (subject p01, first sample)
    extra = pd.DataFrame({"sample": ["solo"], "subject": ["p99"], "sex": ["F"]})
    emb = np.vstack([emb, np.ones((1, emb.shape[1]))])
    meta = pd.concat([meta, extra], ignore_index=True)  # a subject with one sample
    out = tmp_path / "out"
    result = _audit_embeddings(*_write(tmp_path, emb, meta), out)
    assert result.exit_code == 0, result.stderr
    data = json.loads((out / "results.json").read_text())
    by_unit = {(e["unit"], e["scope"]): e for e in data["exclusions"]}
    assert (
        by_unit[("samples", "audit")]["count"] == 1
        and "zero-norm" in by_unit[("samples", "audit")]["reason"]
    )
    assert by_unit[("subjects", "mated")]["count"] == 1
    n = len(meta) - 1  # samples left after the zero-norm one
    assert by_unit[("comparisons", "groups")]["count"] == n - 1  # every pair with sample 3
    assert data["input"]["n_comparisons"] == n * (n - 1) // 2
    assert "excluded" in result.stdout


def _pairs(tmp_path: Path, rows: list[tuple]) -> Path:
    frame = pd.DataFrame(rows, columns=["id1", "id2", "p1", "p2", "label", "score", "g1", "g2"])
    path = tmp_path / "pairs.csv"
    frame.to_csv(path, index=False)
    return path


PAIRS = [
    "--score",
    "score",
    "--score-kind",
    "similarity",
    "--mated",
    "label",
    "--subjects",
    "id1,id2",
    "--samples",
    "p1,p2",
    "--attribute",
    "sex=g1,g2",
    "--group-by",
    "sex",
    "--fmr",
    "0.3",
]

BASE = [
    ("a", "a", "a1", "a2", 1, 0.9, "F", "F"),
    ("b", "b", "b1", "b2", 1, 0.7, "M", "M"),
    ("a", "b", "a1", "b1", 0, 0.2, "F", "M"),
    ("a", "c", "a1", "c1", 0, 0.3, "F", "F"),
    ("b", "d", "b1", "d1", 0, 0.4, "M", "M"),
]


def _audit_pairs(path: Path, out: Path):
    return CliRunner().invoke(
        cli.main, ["audit", "pairs", str(path), *PAIRS, "-o", str(out)], catch_exceptions=False
    )


def test_duplicate_comparison_is_counted(tmp_path: Path) -> None:
    path = _pairs(tmp_path, [*BASE, ("c", "a", "c1", "a1", 0, 0.3, "F", "F")])
    result = _audit_pairs(path, tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["input"]["n_comparisons"] == 5
    assert [(e["count"], e["unit"]) for e in data["exclusions"]] == [(1, "comparisons")]


def test_duplicate_comparison_with_another_score_is_an_error(tmp_path: Path) -> None:
    path = _pairs(tmp_path, [*BASE, ("a", "c", "a1", "c1", 0, 0.35, "F", "F")])
    _fails(_audit_pairs(path, tmp_path / "out"), "pairs.csv", "row 6", "row 4")
    assert not (tmp_path / "out").exists()


def test_contradictory_mated_label_is_an_error(tmp_path: Path) -> None:
    path = _pairs(tmp_path, [*BASE, ("a", "d", "a2", "d1", 1, 0.5, "F", "M")])
    _fails(_audit_pairs(path, tmp_path / "out"), "pairs.csv", "row 6", "column 'label'")


def test_group_with_no_comparisons_of_a_kind_is_noted(tmp_path: Path) -> None:
    # Group X appears only in cross-group non-mated comparisons.
    path = _pairs(tmp_path, [*BASE, ("a", "x", "a1", "x1", 0, 0.1, "F", "X")])
    result = _audit_pairs(path, tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    x = next(g for g in data["operating_points"][0]["groups"] if g["attributes"] == {"sex": "X"})
    assert x["fmr"] is None and x["fnmr"] is None
    assert any("no mated comparisons" in n for n in x["notes"])
    assert "X: no mated comparisons" in result.stdout


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("id1,id2,p1,p2,label,score,g1,g2\n")
    _fails(_audit_pairs(path, tmp_path / "out"), "pairs.csv")


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    _fails(_audit_pairs(tmp_path / "missing.csv", tmp_path / "out"), "missing.csv")


@pytest.mark.parametrize("suffix", [".xlsx", ".txt"])
def test_unknown_table_format_is_an_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"pairs{suffix}"
    path.write_text("x")
    _fails(_audit_pairs(path, tmp_path / "out"), f"pairs{suffix}")
