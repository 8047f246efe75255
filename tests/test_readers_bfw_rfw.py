"""BFW datatables (readers/bfw.py) and RFW pair tables with score files (readers/rfw.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _shared import shared_file
from faceparity.errors import InputError, Location
from faceparity.model.comparisons import MISSING, Exclusion
from faceparity.model.config import AuditConfig, ScoreKind
from faceparity.readers import _table, rfw
from faceparity.readers.bfw import read_bfw
from faceparity.readers.rfw import read_rfw
from faceparity.verification.audit import audit

SIM, DIST = ScoreKind.SIMILARITY, ScoreKind.DISTANCE

BFW_HEADER = "fold,p1,p2,label,id1,id2,att1,att2,vgg16,resnet50,senet50,a1,a2,g1,g2,e1,e2"
BFW_ROWS = [
    "1,asian_females/n1/01.jpg,asian_females/n1/02.jpg,1,0,0,asian_females,asian_females,"
    "0.9,0.8,0.7,AF,AF,F,F,A,A",
    "1,asian_females/n1/01.jpg,black_males/n2/01.jpg,0,0,1,asian_females,black_males,"
    "0.3,0.2,0.1,AF,BM,F,M,A,B",
    "2,black_males/n2/01.jpg,black_males/n2/05.jpg,1,1,1,black_males,black_males,"
    "0.6,0.5,0.4,BM,BM,M,M,B,B",
]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


# --- BFW --------------------------------------------------------------------------------


def test_bfw_reads_every_array(tmp_path: Path) -> None:
    path = _write(tmp_path / "bfw.csv", [BFW_HEADER, *BFW_ROWS])
    cs = read_bfw(path, score="resnet50", score_kind=SIM)
    np.testing.assert_array_equal(cs.score, [0.8, 0.2, 0.5])
    np.testing.assert_array_equal(cs.mated, [True, False, True])
    assert cs.subject_ids == ("0", "1")
    np.testing.assert_array_equal(cs.subject, [[0, 0], [0, 1], [1, 1]])
    assert cs.sample is not None
    np.testing.assert_array_equal(cs.sample, [[0, 2], [0, 1], [1, 3]])
    assert cs.levels == {
        "sex": ("F", "M"),
        "ethnicity": ("A", "B"),
        "subgroup": ("AF", "BM"),
    }
    np.testing.assert_array_equal(cs.attributes["sex"], [[0, 0], [0, 1], [1, 1]])
    np.testing.assert_array_equal(cs.attributes["ethnicity"], [[0, 0], [0, 1], [1, 1]])
    np.testing.assert_array_equal(cs.attributes["subgroup"], [[0, 0], [0, 1], [1, 1]])
    assert cs.source == "BFW datatable bfw.csv, score column 'resnet50'"


def test_bfw_any_numeric_column_can_be_the_score(tmp_path: Path) -> None:
    path = _write(tmp_path / "bfw.csv", [BFW_HEADER + ",arcface", *(r + ",0.5" for r in BFW_ROWS)])
    np.testing.assert_array_equal(read_bfw(path, score="arcface", score_kind=SIM).score, [0.5] * 3)


def test_bfw_label_contradicting_the_ids(tmp_path: Path) -> None:
    rows = [*BFW_ROWS[:2], BFW_ROWS[2].replace("jpg,1,1,1,", "jpg,0,1,1,")]
    path = _write(tmp_path / "bfw.csv", [BFW_HEADER, *rows])
    with pytest.raises(InputError) as info:
        read_bfw(path, score="senet50", score_kind=SIM)
    assert info.value.message == _table.MSG_LABEL_CONTRADICTS.format(
        label="non-mated", subject_a="1", subject_b="1"
    )
    assert info.value.location == Location(str(path), 3, "label")


def test_bfw_missing_column(tmp_path: Path) -> None:
    frame = pd.read_csv(_write(tmp_path / "bfw.csv", [BFW_HEADER, *BFW_ROWS]))
    frame.drop(columns=["e2"]).to_parquet(tmp_path / "bfw.parquet")
    with pytest.raises(InputError) as info:
        read_bfw(tmp_path / "bfw.parquet", score="senet50", score_kind=SIM)
    assert info.value.location == Location(str(tmp_path / "bfw.parquet"), None, "e2")
    assert "the file has columns: 'fold', 'p1', 'p2', 'label'" in info.value.message


def test_bfw_unknown_score_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "bfw.csv", [BFW_HEADER, *BFW_ROWS])
    with pytest.raises(InputError, match="expected a column 'arcface'"):
        read_bfw(path, score="arcface", score_kind=SIM)


def test_bfw_non_numeric_score_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "bfw.csv", [BFW_HEADER, *BFW_ROWS])
    with pytest.raises(InputError) as info:
        read_bfw(path, score="att1", score_kind=SIM)
    assert info.value.message == _table.MSG_BAD_SCORE.format(value="'asian_females'")
    assert info.value.location == Location(str(path), 1, "att1")


# --- RFW --------------------------------------------------------------------------------

PAIRS_HEADER = "img_1,img_2,y_true,gender,ethnicity,segment_1,segment_2,angle"
PAIRS = [
    "m.01_0001.jpg,m.01_0002.jpg,1,F x F,C x C,Female & Caucasian,Female & Caucasian,3.5",
    "m.01_0001.jpg,m.02_0001.jpg,0,F x M,C x A,Female & Caucasian,Male & African,1.0",
    "m.02_0001.jpg,m.02_0003.jpg,1,M x M,A x A,Male & African, Male&African ,2.0",
    "m.03_0001.jpg,m.01_0002.jpg,0,x,x,,Female & Caucasian,2.0",
    "m.04_0001.jpg,m.04_0002.jpg,1,x,x,Male & Indian,Male & Indian,2.0",  # no score
]
SCORES_HEADER = "img_1,img_2,dist"
SCORES = [
    "m.02_0001.jpg,m.02_0003.jpg,0.8",
    "m.01_0001.jpg,m.01_0002.jpg,0.5",
    "m.09_0001.jpg,m.09_0002.jpg,0.7",  # no label
    "m.01_0001.jpg,m.02_0001.jpg,1.3",
    "m.03_0001.jpg,m.01_0002.jpg,1.1",
    "m.02_0001.jpg,m.01_0001.jpg,1.4",  # no label (the reverse of a labelled pair)
]


def _rfw(tmp_path: Path, pairs: list[str] = PAIRS, scores: list[str] = SCORES) -> tuple[Path, Path]:
    return (
        _write(tmp_path / "pairs.csv", [PAIRS_HEADER, *pairs]),
        _write(tmp_path / "scores.csv", [SCORES_HEADER, *scores]),
    )


def _rfw_error(pairs: Path, scores: Path, **options: object) -> InputError:
    with pytest.raises(InputError) as info:
        read_rfw(pairs, scores, score_kind=DIST, **options)  # type: ignore[arg-type]
    return info.value


def test_rfw_joins_the_two_files(tmp_path: Path) -> None:
    cs = read_rfw(*_rfw(tmp_path), score_kind=DIST)
    # Pair-table order; the score of each pair from the score file.
    np.testing.assert_array_equal(cs.score, [0.5, 1.3, 0.8, 1.1])
    np.testing.assert_array_equal(cs.mated, [True, False, True, False])
    assert cs.subject_ids == ("m.01", "m.02", "m.03")
    np.testing.assert_array_equal(cs.subject, [[0, 0], [0, 1], [1, 1], [2, 0]])
    assert cs.sample is not None
    np.testing.assert_array_equal(cs.sample, [[0, 3], [0, 1], [1, 4], [2, 3]])
    assert cs.levels == {"sex": ("Female", "Male"), "ethnicity": ("African", "Caucasian")}
    np.testing.assert_array_equal(cs.attributes["sex"], [[0, 0], [0, 1], [1, 1], [MISSING, 0]])
    np.testing.assert_array_equal(
        cs.attributes["ethnicity"], [[1, 1], [1, 0], [0, 0], [MISSING, 1]]
    )
    assert cs.exclusions == (
        Exclusion(
            "score row in scores.csv with no label row in pairs.csv", 2, "comparisons", "audit"
        ),
        Exclusion(
            "label row in pairs.csv with no score row in scores.csv", 1, "comparisons", "audit"
        ),
    )
    assert cs.score_kind is DIST
    assert cs.source == "RFW pairs pairs.csv with scores scores.csv, column 'dist'"


def test_rfw_other_score_column_and_parquet(tmp_path: Path) -> None:
    pairs, scores = _rfw(tmp_path)
    frame = pd.read_csv(scores).rename(columns={"dist": "cosine"})
    frame.to_parquet(tmp_path / "scores.parquet")
    cs = read_rfw(pairs, tmp_path / "scores.parquet", score_kind=SIM, score="cosine")
    np.testing.assert_array_equal(cs.score, [0.5, 1.3, 0.8, 1.1])
    via_csv = read_rfw(pairs, scores, score_kind=SIM)
    np.testing.assert_array_equal(cs.sample, via_csv.sample)
    np.testing.assert_array_equal(cs.subject, via_csv.subject)


def test_rfw_images_in_folders(tmp_path: Path) -> None:
    pairs = [
        "African/m.0a/m.0a_0001.jpg,African/m.0a/m.0a_0002.jpg,1,,,Male & African,Male & African,0"
    ]
    scores = ["African/m.0a/m.0a_0001.jpg,African/m.0a/m.0a_0002.jpg,0.2"]
    cs = read_rfw(*_rfw(tmp_path, pairs, scores), score_kind=DIST)
    assert cs.subject_ids == ("m.0a",)


def test_rfw_label_contradicting_the_image_names_is_excluded_and_counted(tmp_path: Path) -> None:
    pairs = [*PAIRS[:3], PAIRS[3].replace(",0,x,x,", ",1,x,x,")]
    cs = read_rfw(*_rfw(tmp_path, pairs), score_kind=DIST)
    np.testing.assert_array_equal(cs.score, [0.5, 1.3, 0.8])
    assert cs.exclusions[-1] == Exclusion(
        rfw.REASON_CONFLICT.format(pairs="pairs.csv", rows="4"), 1, "comparisons", "audit"
    )
    assert cs.exclusions[-1].reason == (
        "label row in pairs.csv whose y_true contradicts the subjects of its image names (rows 4)"
    )


def test_rfw_duplicate_key_in_the_pair_table(tmp_path: Path) -> None:
    pairs, scores = _rfw(tmp_path, [*PAIRS, PAIRS[1]])
    err = _rfw_error(pairs, scores)
    assert err.message == rfw.MSG_DUPLICATE_KEY.format(
        img_1="m.01_0001.jpg", img_2="m.02_0001.jpg", first_row=2
    )
    assert err.location == Location(str(pairs), 6, None)


def test_rfw_duplicate_key_in_the_score_file(tmp_path: Path) -> None:
    pairs, scores = _rfw(tmp_path, scores=[*SCORES, "m.01_0001.jpg,m.01_0002.jpg,0.5"])
    err = _rfw_error(pairs, scores)
    assert err.message == rfw.MSG_DUPLICATE_KEY.format(
        img_1="m.01_0001.jpg", img_2="m.01_0002.jpg", first_row=2
    )
    assert err.location == Location(str(scores), 7, None)


def test_rfw_duplicate_key_without_a_partner_is_counted_not_an_error(tmp_path: Path) -> None:
    extra = ["m.09_0001.jpg,m.09_0002.jpg,0.9"]  # the unlabelled pair again, another score
    cs = read_rfw(*_rfw(tmp_path, scores=[*SCORES, *extra]), score_kind=DIST)
    assert cs.exclusions[0] == Exclusion(
        "score row in scores.csv with no label row in pairs.csv", 3, "comparisons", "audit"
    )


@pytest.mark.parametrize(("value", "shown"), [("", "an empty value"), ("nan", "'nan'")])
def test_rfw_bad_score_even_in_an_unlabelled_row(tmp_path: Path, value: str, shown: str) -> None:
    scores = [*SCORES[:2], f"m.09_0001.jpg,m.09_0002.jpg,{value}", *SCORES[3:]]
    pairs_path, scores_path = _rfw(tmp_path, scores=scores)
    err = _rfw_error(pairs_path, scores_path)
    assert err.message == _table.MSG_BAD_SCORE.format(value=shown)
    assert err.location == Location(str(scores_path), 3, "dist")


def test_rfw_bad_label(tmp_path: Path) -> None:
    pairs_path, scores_path = _rfw(
        tmp_path, [*PAIRS[:2], PAIRS[2].replace(",1,M x M", ",yes,M x M")]
    )
    err = _rfw_error(pairs_path, scores_path)
    assert err.message == _table.MSG_BAD_LABEL.format(value="'yes'")
    assert err.location == Location(str(pairs_path), 3, "y_true")


def test_rfw_image_name_without_the_suffix(tmp_path: Path) -> None:
    pairs_path, scores_path = _rfw(tmp_path, [*PAIRS[:1], PAIRS[1].replace("m.02_0001", "m.02")])
    err = _rfw_error(pairs_path, scores_path)
    assert err.message == rfw.MSG_BAD_IMAGE.format(value="'m.02.jpg'")
    assert err.location == Location(str(pairs_path), 2, "img_2")


def test_rfw_segment_not_written_sex_and_ethnicity(tmp_path: Path) -> None:
    pairs_path, scores_path = _rfw(
        tmp_path, [*PAIRS[:1], PAIRS[1].replace("Male & African", "Male")]
    )
    err = _rfw_error(pairs_path, scores_path)
    assert err.message == rfw.MSG_BAD_SEGMENT.format(value="'Male'")
    assert err.location == Location(str(pairs_path), 2, "segment_2")


def test_rfw_missing_columns(tmp_path: Path) -> None:
    pairs_path, scores_path = _rfw(tmp_path)
    err = _rfw_error(pairs_path, scores_path, score="cosine")
    assert err.message == _table.MSG_MISSING_COLUMN.format(
        column="cosine", available="'img_1', 'img_2', 'dist'"
    )
    assert err.location == Location(str(scores_path), None, "cosine")
    _write(pairs_path, [PAIRS_HEADER.replace("segment_2", "seg2"), *PAIRS])
    err = _rfw_error(pairs_path, scores_path)
    assert err.location == Location(str(pairs_path), None, "segment_2")


def test_rfw_files_that_share_no_pair(tmp_path: Path) -> None:
    pairs_path, scores_path = _rfw(tmp_path, scores=SCORES[2:3])
    err = _rfw_error(pairs_path, scores_path)
    assert err.message == rfw.MSG_NO_JOIN.format(pairs="pairs.csv", scores="scores.csv")


# --- the real files in ../shared/data ---------------------------------------------------


def _smoke_audit(cs: object) -> None:
    result = audit(cs, group_by=["sex", "ethnicity"], config=AuditConfig(target_fmrs=(1e-3,)))  # type: ignore[arg-type]
    assert result.input.n_comparisons == len(cs)  # type: ignore[arg-type]
    assert len(result.groups) == 8


def test_real_bfw_sample() -> None:
    path = shared_file("bfw-sample", "bfw_sample_pairs.csv")
    raw = pd.read_csv(path)
    # SOURCE.md: 48,017 pairs, 12,343 mated.
    assert len(raw) == 48_017 and int(raw["label"].sum()) == 12_343
    cs = read_bfw(path, score="senet50", score_kind=SIM)
    # 507 rows repeat an earlier row exactly and 10 repeat one with the images swapped
    # (scores equal): 517 duplicates, kept once and counted. 21 more compare an image
    # with itself (mated, score 1.0): left out and counted.
    assert cs.exclusions == (
        Exclusion(_table.REASON_DUPLICATE.format(file=path.name), 517, "comparisons", "audit"),
        Exclusion(_table.REASON_SELF_COMPARISON.format(file=path.name), 21, "comparisons", "audit"),
    )
    assert len(cs) + 517 + 21 == 48_017
    assert int(cs.mated.sum()) == 12_192 - 21 and len(cs.subject_ids) == 800
    assert cs.levels["sex"] == ("F", "M") and cs.levels["ethnicity"] == ("A", "B", "I", "W")
    assert len(cs.levels["subgroup"]) == 8
    assert np.all(cs.attributes["sex"] != MISSING)
    _smoke_audit(cs)


def test_real_rfw_favfa() -> None:
    pairs = shared_file("rfw-favfa", "rfw_pairs_labels.csv")
    scores = shared_file("rfw-favfa", "bupt_rfw_distances.csv")
    cs = read_rfw(pairs, scores, score_kind=DIST)
    # SOURCE.md: 24,000 score rows, 23,923 label rows, 77 score rows without a label.
    # One label row (8556) says mated for images of two different subjects.
    assert cs.exclusions == (
        Exclusion(
            "score row in bupt_rfw_distances.csv with no label row in rfw_pairs_labels.csv",
            77,
            "comparisons",
            "audit",
        ),
        Exclusion(
            rfw.REASON_CONFLICT.format(pairs="rfw_pairs_labels.csv", rows="8556"),
            1,
            "comparisons",
            "audit",
        ),
    )
    assert len(cs) == 23_923 - 1
    assert cs.levels == {
        "sex": ("Female", "Male"),
        "ethnicity": ("African", "Asian", "Caucasian", "Indian"),
    }
    _smoke_audit(cs)
