"""bob score files (readers/bob.py): 4-column, 5-column and bob.bio CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceparity.errors import InputError, Location, UsageError
from faceparity.model.comparisons import MISSING, Exclusion
from faceparity.model.config import ScoreKind
from faceparity.readers import _table, bob
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.bob import read_bob

SIM = ScoreKind.SIMILARITY

FOUR = """\
s1 s1 s1/img3 0.91
s1 s2 s2/img7 0.12
s2 s2 s2/img7 0.85
s2 s1 s1/img3 -0.5
"""

FIVE = """\
s1 s1_model s1 s1/img3 0.91
s1 s1_model s2 s2/img7 0.12
s2 s2_model s2 s2/img7 0.85
"""

CSV = """\
probe_template_id,probe_subject_id,bio_ref_template_id,bio_ref_subject_id,score,bio_ref_gender,probe_gender
p1,s1,r1,s1,0.9,F,F
p2,s2,r1,s1,0.1,F,M
p2,s2,r2,s2,0.8,M,M
p1,s1,r3,s3,0.2,,F
"""

META = pd.DataFrame({"subject": ["s1", "s2"], "sex": ["F", "M"], "age": [25, 71]})


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _error(path: Path, **options: object) -> InputError:
    with pytest.raises(InputError) as info:
        read_bob(path, score_kind=SIM, **options)  # type: ignore[arg-type]
    return info.value


# --- text files ---------------------------------------------------------------------------


def test_four_columns(tmp_path: Path) -> None:
    cs = read_bob(_write(tmp_path / "scores-dev", FOUR), score_kind=SIM)
    np.testing.assert_array_equal(cs.score, [0.91, 0.12, 0.85, -0.5])
    np.testing.assert_array_equal(cs.mated, [True, False, True, False])
    assert cs.subject_ids == ("s1", "s2")
    np.testing.assert_array_equal(cs.subject, [[0, 0], [0, 1], [1, 1], [1, 0]])
    # Side 1 is the model (one per claimed_id), side 2 the probe; separate code spaces.
    assert cs.sample is not None
    np.testing.assert_array_equal(cs.sample, [[0, 2], [0, 3], [1, 3], [1, 2]])
    assert cs.exclusions == ()
    assert cs.source == "bob 4-column score file scores-dev"
    assert dict(cs.levels) == {}


def test_five_columns(tmp_path: Path) -> None:
    cs = read_bob(_write(tmp_path / "scores.txt", FIVE), score_kind=ScoreKind.DISTANCE)
    np.testing.assert_array_equal(cs.score, [0.91, 0.12, 0.85])
    np.testing.assert_array_equal(cs.mated, [True, False, True])
    np.testing.assert_array_equal(cs.subject, [[0, 0], [0, 1], [1, 1]])
    assert cs.sample is not None
    np.testing.assert_array_equal(cs.sample, [[0, 2], [0, 3], [1, 3]])
    assert cs.score_kind is ScoreKind.DISTANCE
    assert cs.source == "bob 5-column score file scores.txt"


def test_model_and_probe_labels_are_different_samples(tmp_path: Path) -> None:
    cs = read_bob(_write(tmp_path / "s", "a m a x 0.9\nb x a m 0.1\n"), score_kind=SIM)
    assert cs.sample is not None
    assert len(np.unique(cs.sample)) == 4


def test_tabs_runs_of_spaces_crlf_and_blank_lines(tmp_path: Path) -> None:
    text = "\n  s1\ts1   s1/a 1.5\r\n\r\n   \ns1 s2 s2/b 2e-1\r\n\n"
    cs = read_bob(_write(tmp_path / "s", text), score_kind=SIM)
    np.testing.assert_array_equal(cs.score, [1.5, 0.2])
    np.testing.assert_array_equal(cs.mated, [True, False])


def test_duplicate_comparisons_are_kept_once(tmp_path: Path) -> None:
    cs = read_bob(_write(tmp_path / "s", FOUR + "s1 s2 s2/img7 0.12\n"), score_kind=SIM)
    assert len(cs) == 4
    assert cs.exclusions == (
        Exclusion(_table.REASON_DUPLICATE.format(file="s"), 1, "comparisons", "audit"),
    )


def test_duplicate_comparisons_that_disagree(tmp_path: Path) -> None:
    path = _write(tmp_path / "s", FOUR + "\ns1 s2 s2/img7 0.13\n")
    err = _error(path)
    assert err.message == _table.MSG_DUPLICATE_DISAGREES.format(
        sample_a="s1", sample_b="s2/img7", first_row=2, first="0.12", second="0.13"
    )
    assert err.location == Location(str(path), 6, "score")


def test_probe_with_two_subjects(tmp_path: Path) -> None:
    path = _write(tmp_path / "s", "s1 s1 img3 0.9\ns2 s2 img3 0.8\n")
    err = _error(path)
    assert err.message == _table.MSG_SAMPLE_TWO_SUBJECTS.format(
        sample="img3", first="s1", first_row=1, second="s2"
    )
    assert err.location == Location(str(path), 2, "test_label")


@pytest.mark.parametrize(("score", "shown"), [("nan", "'nan'"), ("inf", "'inf'"), ("x", "'x'")])
def test_bad_score_names_the_line(tmp_path: Path, score: str, shown: str) -> None:
    path = _write(tmp_path / "s", f"s1 s1 a 0.5\n\ns1 s2 b {score}\n")
    err = _error(path)
    assert err.message == _table.MSG_BAD_SCORE.format(value=shown)
    assert err.location == Location(str(path), 3, "score")


@pytest.mark.parametrize(("text", "count"), [("a b 0.5\n", 3), ("a b c d e 0.5 x\n", 7)])
def test_first_line_with_an_unknown_field_count(tmp_path: Path, text: str, count: int) -> None:
    path = _write(tmp_path / "s", "\n" + text)
    err = _error(path)
    assert err.message == bob.MSG_FIELD_COUNT.format(count=count)
    assert err.location == Location(str(path), 2)


def test_field_count_that_changes(tmp_path: Path) -> None:
    path = _write(tmp_path / "s", "s1 s1 a 0.5\ns1 s2 b 0.5\n\ns1 m s2 c 0.5\n")
    err = _error(path)
    assert err.message == bob.MSG_FIELD_COUNT_CHANGES.format(expected=4, first_line=1, count=5)
    assert err.location == Location(str(path), 4)


def test_many_batches_keep_line_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Batches of about 64 bytes: blank lines, the first line and errors fall in
    # different batches, and every line number still counts from the top of the file.
    monkeypatch.setattr(bob, "_BLOCK_BYTES", 64)
    lines = ["", "   ", *(f"s{k % 3} s{k % 2} s{k % 2}/img{k} 0.{k}" for k in range(40))]
    lines[30] = ""
    path = _write(tmp_path / "s", "\n".join(lines) + "\n")
    cs = read_bob(path, score_kind=SIM)
    assert len(cs) == 39
    np.testing.assert_array_equal(cs.score, [float(f"0.{k}") for k in range(40) if k != 28])
    lines[37] = "s1 s1 x 0.5 extra"
    path = _write(tmp_path / "s", "\n".join(lines) + "\n")
    err = _error(path)
    assert err.message == bob.MSG_FIELD_COUNT_CHANGES.format(expected=4, first_line=3, count=5)
    assert err.location == Location(str(path), 38)
    lines[37] = "s1 s1 x nan"
    path = _write(tmp_path / "s", "\n".join(lines) + "\n")
    assert _error(path).location == Location(str(path), 38, "score")


def test_fields_are_kept_verbatim(tmp_path: Path) -> None:
    # Quotes quote nothing: '"s1 img"' is two fields, quotes included.
    cs = read_bob(_write(tmp_path / "s", 's1 "s1 img#3" 0.5\n'), score_kind=SIM)
    assert cs.subject_ids == ('"s1', "s1")
    np.testing.assert_array_equal(cs.score, [0.5])


def test_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.write_bytes(b"\xef\xbb\xbfs1 s1 a 0.5\r\n\r\ns1 s2 b x\r\n")
    err = _error(path)
    assert err.message == _table.MSG_BAD_SCORE.format(value="'x'")
    assert err.location == Location(str(path), 3, "score")


def test_invalid_utf8_after_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.write_bytes(b"s1 s1 a 0.5\ns1 s2 b\xff 0.5\n")
    assert _error(path).message.startswith("could not be read as a bob score file: ")


@pytest.mark.parametrize("text", ["", "\n  \n\t\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path / "s", text)
    err = _error(path)
    assert err.message == _table.MSG_EMPTY_FILE
    assert err.location == Location(str(path))


def test_missing_file(tmp_path: Path) -> None:
    err = _error(tmp_path / "absent")
    assert err.message.startswith("could not be read as a bob score file: ")


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "s.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00\xff\xfe\x00")
    assert _error(path).message.startswith("could not be read as a bob score file: ")


# --- subject metadata ---------------------------------------------------------------------


def test_attributes_from_subject_metadata(tmp_path: Path) -> None:
    path = _write(tmp_path / "s", FOUR + "s3 s1 s1/img3 0.3\n")
    specs = [AttributeSpec("sex", ("sex",)), AttributeSpec("age", ("age",), bins=(30.0, 70.0))]
    cs = read_bob(path, score_kind=SIM, subject_metadata=META, attributes=specs)
    assert cs.levels == {"sex": ("F", "M"), "age": ("<30", "[30,70)", ">=70")}
    # s3 is not in the metadata: its side is missing, not an error.
    np.testing.assert_array_equal(
        cs.attributes["sex"], [[0, 0], [0, 1], [1, 1], [1, 0], [MISSING, 0]]
    )
    np.testing.assert_array_equal(
        cs.attributes["age"], [[0, 0], [0, 2], [2, 2], [2, 0], [MISSING, 0]]
    )
    # ... and counted as a subject whose attributes are missing (its comparison stays).
    assert len(cs) == 5
    assert cs.exclusions == (
        Exclusion(
            "subject not in the subject metadata table (first ids: 's3'); "
            "its attributes are missing",
            count=1,
            unit="subjects",
            scope="groups",
        ),
    )


def test_metadata_with_integer_ids_and_another_subject_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "s", "7 7 a 0.9\n7 12 b 0.1\n")
    meta = pd.DataFrame({"id": [12, 7], "g": ["M", "F"]}, index=[10, 20])
    cs = read_bob(
        path,
        score_kind=SIM,
        subject_metadata=meta,
        subject_column="id",
        attributes=[AttributeSpec("sex", ("g",))],
    )
    np.testing.assert_array_equal(cs.attributes["sex"], [[0, 0], [0, 1]])


def test_metadata_without_the_subject_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "s", FOUR)
    err = _error(
        path,
        subject_metadata=META,
        subject_column="client",
        attributes=[AttributeSpec("sex", ("sex",))],
        metadata_file="meta.csv",
    )
    assert err.message == _table.MSG_MISSING_COLUMN.format(
        column="client", available="'subject', 'sex', 'age'"
    )
    assert err.location == Location("meta.csv", None, "client")


def test_metadata_with_a_subject_twice(tmp_path: Path) -> None:
    meta = pd.DataFrame({"subject": ["s1", "s2", "s1"], "sex": ["F", "M", "M"]})
    err = _error(
        _write(tmp_path / "s", FOUR),
        subject_metadata=meta,
        attributes=[AttributeSpec("sex", ("sex",))],
    )
    assert err.message == _table.MSG_DUPLICATE_ID.format(
        what="subject id", value="s1", first_row=1, second_row=3
    )
    assert err.message == (
        "subject id 's1': expected each subject id in one row only, got it in rows 1 and 3"
    )
    assert err.location == Location(bob.METADATA_FILE, 3, "subject")


def test_subjects_missing_from_metadata_are_counted_once_each(tmp_path: Path) -> None:
    lines = [f"u{k} s1 s1/img3 0.{k}" for k in range(7)] + [f"s1 u{k} u{k}/a 0.5" for k in (6, 9)]
    path = _write(tmp_path / "s", "\n".join(lines) + "\n")
    cs = read_bob(
        path, score_kind=SIM, subject_metadata=META, attributes=[AttributeSpec("sex", ("sex",))]
    )
    assert len(cs) == 9
    # u0..u6 and u9: 8 subjects; the first five ids in sorted order are shown.
    assert cs.exclusions == (
        Exclusion(
            bob.REASON_SUBJECT_NOT_IN_METADATA.format(ids="'u0', 'u1', 'u2', 'u3', 'u4'"),
            count=8,
            unit="subjects",
            scope="groups",
        ),
    )
    assert (cs.attributes["sex"] == MISSING).sum() == 9


def test_no_exclusion_without_attributes_or_unknown_subjects(tmp_path: Path) -> None:
    path = _write(tmp_path / "s", FOUR + "s3 s1 s1/img3 0.3\n")
    assert read_bob(path, score_kind=SIM, subject_metadata=META).exclusions == ()
    known = _write(tmp_path / "k", FOUR)
    cs = read_bob(
        known, score_kind=SIM, subject_metadata=META, attributes=[AttributeSpec("sex", ("sex",))]
    )
    assert cs.exclusions == ()


def test_unknown_subjects_of_a_csv_score_file_are_counted(tmp_path: Path) -> None:
    cs = read_bob(
        _write(tmp_path / "s.csv", CSV),
        score_kind=SIM,
        subject_metadata=META,
        attributes=[AttributeSpec("sex", ("sex",))],
    )
    assert cs.exclusions == (
        Exclusion(bob.REASON_SUBJECT_NOT_IN_METADATA.format(ids="'s3'"), 1, "subjects", "groups"),
    )


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_subject_metadata_from_a_file(tmp_path: Path, suffix: str) -> None:
    meta = tmp_path / f"meta{suffix}"
    if suffix == ".parquet":
        META.to_parquet(meta)
    else:
        META.to_csv(meta, sep="\t" if suffix == ".tsv" else ",", index=False)
    path = _write(tmp_path / "s", FOUR + "s3 s1 s1/img3 0.3\n")
    specs = [AttributeSpec("sex", ("sex",)), AttributeSpec("age", ("age",), bins=(30.0, 70.0))]
    from_file = read_bob(path, score_kind=SIM, subject_metadata=str(meta), attributes=specs)
    from_frame = read_bob(path, score_kind=SIM, subject_metadata=META, attributes=specs)
    assert from_file.levels == from_frame.levels
    for name in ("sex", "age"):
        np.testing.assert_array_equal(from_file.attributes[name], from_frame.attributes[name])
    assert from_file.exclusions == from_frame.exclusions


def test_subject_metadata_file_names_itself_in_messages(tmp_path: Path) -> None:
    meta = _write(tmp_path / "meta.csv", "subject,sex\ns1,F\ns2,M\ns2,F\n")
    path = _write(tmp_path / "s", FOUR)
    err = _error(path, subject_metadata=meta, attributes=[AttributeSpec("sex", ("sex",))])
    assert err.location == Location(str(meta), 3, "subject")
    err = _error(
        path,
        subject_metadata=meta,
        attributes=[AttributeSpec("sex", ("sex",))],
        metadata_file="subjects table",
    )
    assert err.location == Location("subjects table", 3, "subject")


def test_subject_metadata_file_that_cannot_be_read(tmp_path: Path) -> None:
    path = _write(tmp_path / "s", FOUR)
    meta = _write(tmp_path / "meta.json", "{}")
    err = _error(path, subject_metadata=meta)
    assert err.message == _table.MSG_UNSUPPORTED_SUFFIX.format(
        expected=".csv, .tsv, .parquet, .pq", suffix="'.json'"
    )
    assert err.location == Location(str(meta))
    header_only = _write(tmp_path / "meta.csv", "subject,sex\n")
    err = _error(path, subject_metadata=header_only)
    assert (err.message, err.location) == (_table.MSG_NO_ROWS, Location(str(header_only)))


def test_metadata_without_rows_or_the_attribute_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "s", FOUR)
    err = _error(path, subject_metadata=META.iloc[:0], metadata_file="m.csv")
    assert err.message == _table.MSG_NO_ROWS and err.location == Location("m.csv")
    err = _error(path, subject_metadata=META, attributes=[AttributeSpec("sex", ("gender",))])
    assert err.location == Location(bob.METADATA_FILE, None, "gender")


def test_text_file_attributes_need_metadata(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        read_bob(
            _write(tmp_path / "s", FIVE), score_kind=SIM, attributes=[AttributeSpec("sex", ("g",))]
        )
    assert str(info.value) == bob.MSG_ATTRIBUTES_NEED_METADATA.format(count=5)


# --- bob.bio CSV --------------------------------------------------------------------------


def test_csv_score_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "scores-dev.csv", CSV)
    cs = read_bob(path, score_kind=SIM, attributes=[AttributeSpec("gender", ("gender",))])
    np.testing.assert_array_equal(cs.score, [0.9, 0.1, 0.8, 0.2])
    np.testing.assert_array_equal(cs.mated, [True, False, True, False])
    assert cs.subject_ids == ("s1", "s2", "s3")
    # Side 1 is the reference (bio_ref_*), side 2 the probe.
    np.testing.assert_array_equal(cs.subject, [[0, 0], [0, 1], [1, 1], [2, 0]])
    assert cs.sample is not None
    np.testing.assert_array_equal(cs.sample, [[0, 3], [0, 4], [1, 4], [2, 3]])
    assert cs.levels == {"gender": ("F", "M")}
    np.testing.assert_array_equal(cs.attributes["gender"], [[0, 0], [0, 1], [1, 1], [MISSING, 0]])
    assert cs.source == "bob.bio CSV score file scores-dev.csv"


def test_csv_detected_by_content_and_explicit_side_columns(tmp_path: Path) -> None:
    path = _write(tmp_path / "scores-dev", CSV)
    spec = AttributeSpec("sex", ("probe_gender", "bio_ref_gender"))
    cs = read_bob(path, score_kind=SIM, attributes=[spec])
    np.testing.assert_array_equal(cs.attributes["sex"], [[0, 0], [1, 0], [1, 1], [0, MISSING]])


def test_csv_with_older_column_names_and_keys(tmp_path: Path) -> None:
    text = (
        "bio_ref_reference_id,bio_ref_subject_id,probe_key,probe_reference_id,"
        "probe_subject_id,score\n"
        "r1,a,k1,a,a,0.9\n"
        "r1,a,k2,a,a,0.8\n"
    )
    cs = read_bob(_write(tmp_path / "s.csv", text), score_kind=SIM)
    assert cs.sample is not None
    # probe_key identifies the probe sample when present.
    np.testing.assert_array_equal(cs.sample, [[0, 1], [0, 2]])
    assert cs.exclusions == ()


def test_csv_without_sample_columns(tmp_path: Path) -> None:
    text = "bio_ref_subject_id,probe_subject_id,score\na,a,0.9\na,a,0.9\n"
    cs = read_bob(_write(tmp_path / "s.csv", text), score_kind=SIM)
    assert cs.sample is None and len(cs) == 2


def test_csv_missing_prefixed_attribute_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.csv", CSV)
    err = _error(path, attributes=[AttributeSpec("age", ("age",))])
    assert err.message.startswith("expected a column 'bio_ref_age'; the file has columns: ")
    assert err.location == Location(str(path), None, "bio_ref_age")


def test_csv_missing_score_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.csv", "bio_ref_subject_id,probe_subject_id,value\na,a,1\n")
    err = _error(path)
    assert err.message == _table.MSG_MISSING_COLUMN.format(
        column="score", available="'bio_ref_subject_id', 'probe_subject_id', 'value'"
    )


def test_csv_bad_score_names_the_data_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.csv", CSV.replace("0.8", ""))
    err = _error(path)
    assert err.message == _table.MSG_BAD_SCORE.format(value="an empty value")
    assert err.location == Location(str(path), 3, "score")


def test_csv_header_only(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.csv", CSV.splitlines()[0] + "\n")
    assert _error(path).message == _table.MSG_NO_ROWS


def test_csv_with_subject_metadata(tmp_path: Path) -> None:
    cs = read_bob(
        _write(tmp_path / "s.csv", CSV),
        score_kind=SIM,
        subject_metadata=META,
        attributes=[AttributeSpec("sex", ("sex",))],
    )
    np.testing.assert_array_equal(cs.attributes["sex"], [[0, 0], [0, 1], [1, 1], [MISSING, 0]])


def test_score_kind_is_checked(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="score_kind: expected"):
        read_bob(_write(tmp_path / "s", FOUR), score_kind="higher")  # type: ignore[arg-type]


def test_same_result_for_four_column_text_and_csv(tmp_path: Path) -> None:
    text_cs = read_bob(_write(tmp_path / "s", FOUR), score_kind=SIM)
    rows = [line.split() for line in FOUR.splitlines()]
    frame = pd.DataFrame(
        {
            "bio_ref_subject_id": [r[0] for r in rows],
            "bio_ref_template_id": [r[0] for r in rows],
            "probe_subject_id": [r[1] for r in rows],
            "probe_template_id": [r[2] for r in rows],
            "score": [float(r[3]) for r in rows],
        }
    )
    frame.to_csv(tmp_path / "s.csv", index=False)
    csv_cs = read_bob(tmp_path / "s.csv", score_kind=SIM)
    for name in ("score", "mated", "subject", "sample"):
        np.testing.assert_array_equal(getattr(text_cs, name), getattr(csv_cs, name))
    assert text_cs.subject_ids == csv_cs.subject_ids
