"""Generic pair tables (readers/pairs.py) and the shared table machinery (readers/_table.py)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faceparity.errors import InputError, Location, UsageError
from faceparity.model.comparisons import MISSING, ComparisonSet, Exclusion
from faceparity.model.config import ScoreKind
from faceparity.readers import _table
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.pairs import read_pairs

SIM = ScoreKind.SIMILARITY

HEADER = "score,id1,id2,p1,p2,label,g1,g2,site"
ROWS = [
    "0.9,a,a,a1,a2,1,F,F,x",
    "0.2,a,b,a1,b1,0,F,M,x",
    "0.8,b,b,b1,b2,1,M,,y",
    "0.1,c,a,c1,a2,0,,F,y",
]


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _read(path: Path, **options: object) -> ComparisonSet:
    kwargs: dict[str, object] = {
        "score": "score",
        "score_kind": SIM,
        "subjects": ("id1", "id2"),
    }
    kwargs.update(options)
    return read_pairs(path, **kwargs)  # type: ignore[arg-type]


def _error(path: Path, **options: object) -> InputError:
    with pytest.raises(InputError) as info:
        _read(path, **options)
    return info.value


def _assert_same(a: ComparisonSet, b: ComparisonSet) -> None:
    np.testing.assert_array_equal(a.score, b.score)
    np.testing.assert_array_equal(a.mated, b.mated)
    np.testing.assert_array_equal(a.subject, b.subject)
    assert a.subject_ids == b.subject_ids
    assert (a.sample is None) == (b.sample is None)
    if a.sample is not None and b.sample is not None:
        np.testing.assert_array_equal(a.sample, b.sample)
    assert dict(a.levels) == dict(b.levels)
    for name in a.attributes:
        np.testing.assert_array_equal(a.attributes[name], b.attributes[name])
    assert a.exclusions == b.exclusions


# --- reading a table ---------------------------------------------------------------------


def test_reads_every_array_exactly(tmp_path: Path) -> None:
    path = _write(tmp_path / "pairs.csv", HEADER, ROWS)
    cs = _read(
        path,
        mated="label",
        samples=("p1", "p2"),
        attributes=[AttributeSpec("sex", ("g1", "g2")), AttributeSpec("site", ("site",))],
    )
    np.testing.assert_array_equal(cs.score, [0.9, 0.2, 0.8, 0.1])
    assert cs.score.dtype == np.float64
    np.testing.assert_array_equal(cs.mated, [True, False, True, False])
    assert cs.subject_ids == ("a", "b", "c")
    np.testing.assert_array_equal(cs.subject, [[0, 0], [0, 1], [1, 1], [2, 0]])
    # Samples are coded in order of first appearance, one code space for both sides.
    assert cs.sample is not None
    # (a1, b1, c1 on side 1, then a2, b2 first seen on side 2).
    np.testing.assert_array_equal(cs.sample, [[0, 3], [0, 1], [1, 4], [2, 3]])
    assert len(np.unique(cs.sample)) == 5
    assert cs.levels == {"sex": ("F", "M"), "site": ("x", "y")}
    np.testing.assert_array_equal(
        cs.attributes["sex"], [[0, 0], [0, 1], [1, MISSING], [MISSING, 0]]
    )
    np.testing.assert_array_equal(cs.attributes["site"], [[0, 0], [0, 0], [1, 1], [1, 1]])
    assert cs.score_kind is SIM
    assert cs.exclusions == ()
    assert cs.source == "pair table pairs.csv"


def test_mated_is_derived_from_subject_ids_without_a_label(tmp_path: Path) -> None:
    cs = _read(_write(tmp_path / "p.csv", HEADER, ROWS))
    np.testing.assert_array_equal(cs.mated, [True, False, True, False])
    assert cs.sample is None
    assert dict(cs.attributes) == {}


def test_identifiers_are_kept_verbatim_leading_zeros_and_na(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", "s,a,b", ["0.5,007,7", "0.4,NA,NA"])
    cs = _read(path, score="s", subjects=("a", "b"))
    assert cs.subject_ids == ("007", "7", "NA")
    np.testing.assert_array_equal(cs.mated, [False, True])


def test_identifiers_and_attributes_are_stripped(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", "s,a,b,g", ["0.5, x ,x, F ", "0.4,x,y,"])
    cs = _read(path, score="s", subjects=("a", "b"), attributes=[AttributeSpec("g", ("g",))])
    assert cs.subject_ids == ("x", "y")
    np.testing.assert_array_equal(cs.mated, [True, False])
    assert cs.levels["g"] == ("F",)
    np.testing.assert_array_equal(cs.attributes["g"], [[0, 0], [MISSING, MISSING]])


def test_binned_attribute(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", "s,a,b,age1,age2", ["0.5,x,x,17,30", "0.4,x,y,,71.5"])
    spec = AttributeSpec("age", ("age1", "age2"), bins=(18.0, 30.0, 70.0))
    cs = _read(path, score="s", subjects=("a", "b"), attributes=[spec])
    assert cs.levels["age"] == ("<18", "[18,30)", "[30,70)", ">=70")
    np.testing.assert_array_equal(cs.attributes["age"], [[0, 2], [MISSING, 3]])


def test_binned_attribute_that_is_not_a_number(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", "s,a,b,age1,age2", ["0.5,x,x,17,30", "0.4,x,y,old,7"])
    spec = AttributeSpec("age", ("age1", "age2"), bins=(18.0,))
    err = _error(path, score="s", subjects=("a", "b"), attributes=[spec])
    assert err.location == Location(str(path), 2, "age1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("0", False),
        ("true", True),
        ("FALSE", False),
        ("Mated", True),
        ("non-mated", False),
        ("NON_MATED", False),
        (" 1 ", True),
    ],
)
def test_mated_label_values(tmp_path: Path, text: str, expected: bool) -> None:
    subject_b = "a" if expected else "b"
    path = _write(tmp_path / "p.csv", "s,a,b,m", [f"0.5,a,{subject_b},{text}"])
    cs = _read(path, score="s", subjects=("a", "b"), mated="m")
    assert cs.mated.tolist() == [expected]


@pytest.mark.parametrize(
    ("text", "shown"), [("2", "'2'"), ("yes", "'yes'"), ("", "an empty value")]
)
def test_mated_label_that_is_not_accepted(tmp_path: Path, text: str, shown: str) -> None:
    path = _write(tmp_path / "p.csv", "s,a,b,m", ["0.5,a,a,1", f"0.5,a,b,{text}"])
    err = _error(path, score="s", subjects=("a", "b"), mated="m")
    assert err.message == _table.MSG_BAD_LABEL.format(value=shown)
    assert err.location == Location(str(path), 2, "m")


def test_mated_label_contradicting_the_subjects(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", "s,a,b,m", ["0.5,a,a,1", "0.5,a,b,0", "0.5,a,c,1"])
    err = _error(path, score="s", subjects=("a", "b"), mated="m")
    assert err.message == _table.MSG_LABEL_CONTRADICTS.format(
        label="mated", subject_a="a", subject_b="c"
    )
    assert err.location == Location(str(path), 3, "m")

    path = _write(tmp_path / "q.csv", "s,a,b,m", ["0.5,a,a,non-mated"])
    err = _error(path, score="s", subjects=("a", "b"), mated="m")
    assert err.message == _table.MSG_LABEL_CONTRADICTS.format(
        label="non-mated", subject_a="a", subject_b="a"
    )
    assert err.location == Location(str(path), 1, "m")


# --- scores ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("", "an empty value"),
        ("nan", "'nan'"),
        ("NaN", "'NaN'"),
        ("inf", "'inf'"),
        ("-inf", "'-inf'"),
        ("1e999", "'1e999'"),
        ("abc", "'abc'"),
        ("0,5", None),
    ],
)
def test_score_that_is_not_a_finite_number(tmp_path: Path, text: str, shown: str | None) -> None:
    if shown is None:  # a decimal comma in a TSV file
        path = tmp_path / "p.tsv"
        path.write_text("s\ta\tb\n0.5\ta\ta\n0,5\ta\tb\n")
        shown = "'0,5'"
    else:
        path = _write(tmp_path / "p.csv", "s,a,b", ["0.5,a,a", f"{text},a,b"])
    err = _error(path, score="s", subjects=("a", "b"))
    assert err.message == _table.MSG_BAD_SCORE.format(value=shown)
    assert err.location == Location(str(path), 2, "s")
    assert err.exit_code == 2


def test_score_nan_and_inf_in_parquet(tmp_path: Path) -> None:
    for bad, shown in ((np.nan, "an empty value (NaN)"), (np.inf, "inf")):
        path = tmp_path / "p.parquet"
        pd.DataFrame({"s": [0.1, 0.2, bad], "a": ["x", "x", "y"], "b": ["x", "y", "y"]}).to_parquet(
            path
        )
        err = _error(path, score="s", subjects=("a", "b"))
        assert err.message == _table.MSG_BAD_SCORE.format(value=shown)
        assert err.location == Location(str(path), 3, "s")


def test_score_with_spaces_and_exponent(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", "s,a,b", [" 1e-3 ,a,a", "-2,a,b"])
    np.testing.assert_array_equal(_read(path, score="s", subjects=("a", "b")).score, [1e-3, -2.0])


# --- columns and files -------------------------------------------------------------------


def test_missing_column_lists_the_columns_present(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", HEADER, ROWS)
    err = _error(path, score="senet50")
    assert err.message == _table.MSG_MISSING_COLUMN.format(
        column="senet50",
        available="'score', 'id1', 'id2', 'p1', 'p2', 'label', 'g1', 'g2', 'site'",
    )
    assert err.location == Location(str(path), None, "senet50")


@pytest.mark.parametrize(
    "options",
    [
        {"mated": "y_true"},
        {"samples": ("p1", "img2")},
        {"attributes": [AttributeSpec("sex", ("gender",))]},
    ],
)
def test_missing_optional_column(tmp_path: Path, options: dict[str, object]) -> None:
    path = _write(tmp_path / "p.csv", HEADER, ROWS)
    err = _error(path, **options)
    assert err.message.startswith("expected a column ")
    assert "the file has columns: 'score', 'id1'" in err.message
    assert err.location.row is None and err.location.column in ("y_true", "img2", "gender")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("")
    err = _error(path)
    assert err.message == _table.MSG_EMPTY_FILE
    assert err.location == Location(str(path))


def test_header_without_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", HEADER, [])
    err = _error(path)
    assert err.message == _table.MSG_NO_ROWS
    assert err.location == Location(str(path))


def test_parquet_without_rows(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pd.DataFrame({"score": pd.Series([], dtype=float), "id1": [], "id2": []}).to_parquet(path)
    assert _error(path).message == _table.MSG_NO_ROWS


@pytest.mark.parametrize(("name", "shown"), [("p.txt", "'.txt'"), ("pairs", "none")])
def test_unsupported_file_ending(tmp_path: Path, name: str, shown: str) -> None:
    path = _write(tmp_path / name, HEADER, ROWS)
    err = _error(path)
    assert err.message == _table.MSG_UNSUPPORTED_SUFFIX.format(
        expected=".csv, .tsv, .parquet, .pq", suffix=shown
    )
    assert err.location == Location(str(path))


def test_unparsable_csv_is_wrapped(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b"score,id1,id2\n0.5,a,a\n0.5,\xff\xfe,b\n")  # not UTF-8
    err = _error(path)
    assert err.message.startswith("could not be read as CSV: ")
    assert err.location == Location(str(path))
    assert isinstance(err.__cause__, ValueError)


@pytest.mark.parametrize(
    ("rows", "row", "got"),
    [
        (["0.5,a,a", "0.5,a,b,extra"], 2, 4),  # too many fields: was read as an index, silently
        (["0.5,a,a,x", "0.5,a,b"], 1, 4),
        (["0.5,a", "0.5,a,b"], 1, 2),  # too few: was padded with an empty cell, silently
        (["0.5,a,a", "", "0.5,b"], 2, 2),  # a blank line is skipped, not counted
        (['"0.5",a,a', '"0,5",b'], 2, 2),  # quoted fields: read by a CSV parser
    ],
)
def test_a_ragged_row_is_an_error_naming_it(
    tmp_path: Path, rows: list[str], row: int, got: int
) -> None:
    path = _write(tmp_path / "p.csv", "score,id1,id2", rows)
    err = _error(path)
    assert err.message == f"expected 3 fields, one per column of the header, got {got}"
    assert err.location == Location(str(path), row=row)


def test_a_quoted_field_longer_than_the_csv_modules_limit_is_read(tmp_path: Path) -> None:
    """The csv module refuses a field over 131,072 characters by default; the field
    check reads it as pandas does (no traceback), and still names a ragged row after it."""
    long = "x" * 200_000
    path = _write(tmp_path / "p.csv", "score,id1,id2", ["0.5,a,a", f'0.5,"{long}",b'])
    np.testing.assert_array_equal(_read(path).score, [0.5, 0.5])
    ragged = _write(tmp_path / "r.csv", "score,id1,id2", [f'0.5,"{long}",b', "0.5,a"])
    err = _error(ragged)
    assert err.message == "expected 3 fields, one per column of the header, got 2"
    assert err.location == Location(str(ragged), row=2)
    with pytest.raises(InputError) as blocks:
        _table.check_file_fields(ragged, sep=",", file=str(ragged))
    assert blocks.value.location == Location(str(ragged), row=2)


def _field_error(check: object) -> tuple[str, Location] | None:
    """What a field check raised (message, location), or None."""
    try:
        check()  # type: ignore[operator]
    except InputError as err:
        return err.message, err.location
    return None


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(st.sampled_from([b"a", b"bc", b",", b"\n", b"\r", b"\r\n", b'"']), max_size=40),
    block=st.integers(min_value=1, max_value=9),
    bom=st.booleans(),
)
def test_fields_of_a_file_read_in_blocks_are_checked_as_all_at_once(
    tmp_path_factory: pytest.TempPathFactory, data: list[bytes], block: int, bom: bool
) -> None:
    """The streamed reader names a ragged row by reading the file again a block of whole
    lines at a time: the same error (message, row) as the whole text gives, whatever the
    blocks cut (a CRLF, a lone CR, a quote in a later block, a byte-order mark)."""
    text = b"".join(data)
    path = tmp_path_factory.mktemp("fields") / "t.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text)
    whole = _field_error(lambda: _table.check_fields(text, sep=",", file=str(path)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_table, "FIELD_BLOCK_BYTES", block)
        blocks = _field_error(lambda: _table.check_file_fields(path, sep=",", file=str(path)))
    assert blocks == whole


@pytest.mark.parametrize(
    "data",
    [b"score,id1,id2\r,\n", b"score,id1,id2\n0.5,a,a\r0.5,b\n", b"score,id1,id2\r0.5,a\r"],
)
def test_a_lone_carriage_return_ends_a_row_as_the_parser_reads_it(
    tmp_path: Path, data: bytes
) -> None:
    # a row after a lone CR was not counted: a pandas ParserWarning, or silently re-indexed
    path = tmp_path / "p.csv"
    path.write_bytes(data)
    err = _error(path)
    assert err.message.startswith("expected 3 fields, one per column of the header, got ")
    assert err.location.row is not None


def test_a_file_opening_with_a_lone_carriage_return_is_refused(tmp_path: Path) -> None:
    # pandas read this header (after a leading CR) with fewer columns than it has: a warning
    path = tmp_path / "p.csv"
    path.write_bytes(b"\r,a\r,")
    err = _error(path)
    assert err.message.startswith("could not be read as CSV: ")


@pytest.mark.parametrize("header", ["score,id1,score", 'score,id1,"score"'])
def test_a_repeated_column_name_is_an_error(tmp_path: Path, header: str) -> None:
    path = _write(tmp_path / "p.csv", header, ["0.5,a,0.7"])
    err = _error(path)
    assert err.message == "expected distinct column names; 'score' names 2 columns (positions 1, 3)"
    assert err.location == Location(str(path), column="score")


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_a_missing_subject_id_in_parquet_is_an_error_not_a_subject_named_nan(
    tmp_path: Path, missing: float | None
) -> None:
    ids = ["a", missing, "c"] if missing is None else [1.0, missing, 3.0]
    others = ["a", "b", "d"] if missing is None else [1.0, 2.0, 4.0]
    table = pa.table({"score": [0.5, 0.6, 0.7], "id1": ids, "id2": others})
    path = tmp_path / "p.parquet"
    pq.write_table(table, path)
    err = _error(path)
    assert err.message == _table.MSG_EMPTY_ID.format(what="subject id")
    assert err.location == Location(str(path), 2, "id1")


def test_unreadable_parquet_is_wrapped(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    path.write_text("score,id1,id2\n0.5,a,a\n")
    err = _error(path)
    assert err.message.startswith("could not be read as Parquet: ")
    assert err.location == Location(str(path))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    err = _error(path)
    assert err.message.startswith("could not be read as CSV: ")
    assert err.location == Location(str(path))


def test_empty_subject_or_sample_id(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", HEADER, [*ROWS[:2], "0.8,b,,b1,b2,1,M,M,y"])
    err = _error(path)
    assert err.message == _table.MSG_EMPTY_ID.format(what="subject id")
    assert err.location == Location(str(path), 3, "id2")

    path = _write(tmp_path / "q.csv", HEADER, [*ROWS[:2], "0.8,b,b,,b2,1,M,M,y"])
    err = _error(path, samples=("p1", "p2"))
    assert err.message == _table.MSG_EMPTY_ID.format(what="sample id")
    assert err.location == Location(str(path), 3, "p1")


def test_sample_with_two_subjects(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", "s,a,b,p,q", ["0.5,x,y,1.jpg,2.jpg", "0.4,z,z,3.jpg,1.jpg"])
    err = _error(path, score="s", subjects=("a", "b"), samples=("p", "q"))
    assert err.message == _table.MSG_SAMPLE_TWO_SUBJECTS.format(
        sample="1.jpg", first="x", first_row=1, second="z"
    )
    assert err.location == Location(str(path), 2, "q")


# --- duplicates --------------------------------------------------------------------------


def test_duplicates_are_kept_once_and_counted(tmp_path: Path) -> None:
    rows = [
        "0.9,a,a,a1,a2,1",
        "0.2,a,b,a1,b1,0",
        "0.9,a,a,a2,a1,1",  # the first comparison, sides swapped
        "0.7,b,b,b1,b2,1",
        "0.2,a,b,a1,b1,0",  # the second, again
        "0.9,a,a,a1,a2,1",  # the first, again
    ]
    path = _write(tmp_path / "p.csv", "score,id1,id2,p1,p2,label", rows)
    cs = _read(path, mated="label", samples=("p1", "p2"))
    np.testing.assert_array_equal(cs.score, [0.9, 0.2, 0.7])
    np.testing.assert_array_equal(cs.mated, [True, False, True])
    np.testing.assert_array_equal(cs.subject, [[0, 0], [0, 1], [1, 1]])
    assert cs.sample is not None
    np.testing.assert_array_equal(cs.sample, [[0, 1], [0, 2], [2, 3]])
    assert cs.exclusions == (
        Exclusion(
            reason="duplicate comparison (same two samples) in p.csv; "
            "the first row of each was kept",
            count=3,
            unit="comparisons",
            scope="audit",
        ),
    )
    assert cs.exclusions[0].reason == _table.REASON_DUPLICATE.format(file="p.csv")


def test_duplicates_that_disagree_in_score(tmp_path: Path) -> None:
    rows = ["0.9,a,a,a1,a2", "0.2,a,b,a1,b1", "0.25,b,a,b1,a1"]
    path = _write(tmp_path / "p.csv", "score,id1,id2,p1,p2", rows)
    err = _error(path, samples=("p1", "p2"))
    assert err.message == _table.MSG_DUPLICATE_DISAGREES.format(
        sample_a="b1", sample_b="a1", first_row=2, first="0.2", second="0.25"
    )
    assert err.location == Location(str(path), 3, "score")


def test_no_duplicate_detection_without_sample_ids(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", "score,id1,id2", ["0.9,a,a", "0.9,a,a"])
    cs = _read(path)
    assert len(cs) == 2 and cs.exclusions == ()


# --- formats agree -----------------------------------------------------------------------


def _typed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "score": [0.912345678901234, -0.25, 1e-300, 0.5],
            "id1": [7, 7, 12, 3],
            "id2": [7, 12, 12, 7],
            "p1": ["x/7_1.jpg", "x/7_1.jpg", "x/12_1.jpg", "x/3_1.jpg"],
            "p2": ["x/7_2.jpg", "x/12_1.jpg", "x/12_2.jpg", "x/7_2.jpg"],
            "label": [1, 0, 1, 0],
            "g1": ["F", "F", "M", None],
            "g2": ["F", "M", "M", "F"],
            "age1": [20.0, 20.0, 75.0, np.nan],
            "age2": [31.0, 75.0, 75.0, 31.0],
        }
    )


OPTIONS: dict[str, object] = {
    "mated": "label",
    "samples": ("p1", "p2"),
    "attributes": [
        AttributeSpec("sex", ("g1", "g2")),
        AttributeSpec("age", ("age1", "age2"), bins=(30.0, 70.0)),
    ],
}


def test_csv_tsv_and_parquet_give_identical_arrays(tmp_path: Path) -> None:
    frame = _typed_frame()
    frame.to_csv(tmp_path / "p.csv", index=False)
    frame.to_csv(tmp_path / "p.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "p.parquet")
    frame.to_parquet(tmp_path / "p.pq")
    via_csv = _read(tmp_path / "p.csv", **OPTIONS)
    for name in ("p.tsv", "p.parquet", "p.pq"):
        _assert_same(via_csv, _read(tmp_path / name, **OPTIONS))
    assert via_csv.subject_ids == ("12", "3", "7")
    np.testing.assert_array_equal(via_csv.attributes["age"], [[0, 1], [0, 2], [2, 2], [MISSING, 1]])
    np.testing.assert_array_equal(via_csv.attributes["sex"], [[0, 0], [0, 1], [1, 1], [MISSING, 0]])


def test_parquet_boolean_labels_and_integer_ids_with_gaps(tmp_path: Path) -> None:
    frame = _typed_frame()
    frame["label"] = frame["label"].astype(bool)
    frame["id1"] = frame["id1"].astype(float)  # an integer column as float, as with gaps
    frame.to_parquet(tmp_path / "p.parquet")
    _typed_frame().to_csv(tmp_path / "p.csv", index=False)
    _assert_same(_read(tmp_path / "p.csv", **OPTIONS), _read(tmp_path / "p.parquet", **OPTIONS))


def test_parquet_label_that_is_not_zero_or_one(tmp_path: Path) -> None:
    frame = _typed_frame()
    frame["label"] = [1, 0, 2, 0]
    frame.to_parquet(tmp_path / "p.parquet")
    err = _error(tmp_path / "p.parquet", **OPTIONS)
    assert err.message == _table.MSG_BAD_LABEL.format(value="2")
    assert err.location == Location(str(tmp_path / "p.parquet"), 3, "label")


def test_row_order_changes_nothing_but_the_order(tmp_path: Path) -> None:
    frame = _typed_frame()
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[::-1].to_csv(tmp_path / "b.csv", index=False)
    a, b = _read(tmp_path / "a.csv", **OPTIONS), _read(tmp_path / "b.csv", **OPTIONS)
    assert a.subject_ids == b.subject_ids and a.levels == b.levels
    np.testing.assert_array_equal(a.score, b.score[::-1])
    np.testing.assert_array_equal(a.subject, b.subject[::-1])
    np.testing.assert_array_equal(a.attributes["sex"], b.attributes["sex"][::-1])


# --- usage -------------------------------------------------------------------------------


def test_score_kind_is_required_and_checked(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", HEADER, ROWS)
    with pytest.raises(TypeError):
        read_pairs(path, score="score", subjects=("id1", "id2"))  # type: ignore[call-arg]
    with pytest.raises(
        UsageError, match="score_kind: expected 'similarity' or 'distance', got 'sim'"
    ):
        _read(path, score_kind="sim")
    assert _read(path, score_kind="distance").score_kind is ScoreKind.DISTANCE


@pytest.mark.parametrize("subjects", ["id1,id2", ("id1",), ("id1", "id2", "id3"), ("id1", "")])
def test_subject_columns_must_be_two_names(tmp_path: Path, subjects: object) -> None:
    path = _write(tmp_path / "p.csv", HEADER, ROWS)
    with pytest.raises(UsageError, match="subjects: expected two column names"):
        _read(path, subjects=subjects)


def test_options_are_keyword_only(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", HEADER, ROWS)
    with pytest.raises(TypeError):
        read_pairs(path, "score", SIM, ("id1", "id2"))  # type: ignore[call-arg]


def test_attribute_named_twice(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", HEADER, ROWS)
    specs = [AttributeSpec("sex", ("g1", "g2")), AttributeSpec("sex", ("site",))]
    with pytest.raises(UsageError, match="attribute 'sex': expected each name once"):
        _read(path, attributes=specs)


def test_self_comparisons_are_excluded_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "self.csv"
    path.write_text(
        "s1,s2,p1,p2,score\n"
        "a,a,a1,a1,1.0\n"  # an image compared with itself
        "a,a,a1,a2,0.8\n"
        "a,b,a1,b1,0.1\n"
    )
    cs = read_pairs(
        path,
        score="score",
        score_kind=ScoreKind.SIMILARITY,
        subjects=("s1", "s2"),
        samples=("p1", "p2"),
    )
    assert cs.score.tolist() == [0.8, 0.1]
    assert [(e.count, e.unit) for e in cs.exclusions] == [(1, "comparisons")]
    assert "itself" in cs.exclusions[0].reason


def test_a_sample_with_two_values_of_an_attribute_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "conflict.csv"
    path.write_text(
        "s1,s2,p1,p2,score,g1,g2\n"
        "a,b,x1,y1,0.1,F,M\n"
        "a,c,x1,z1,0.2,M,F\n"  # sample x1 was F in row 1
    )
    with pytest.raises(InputError) as info:
        read_pairs(
            path,
            score="score",
            score_kind=ScoreKind.SIMILARITY,
            subjects=("s1", "s2"),
            samples=("p1", "p2"),
            attributes=[AttributeSpec("sex", ("g1", "g2"))],
        )
    assert info.value.message == _table.MSG_SAMPLE_TWO_VALUES.format(
        sample="x1", attribute="sex", first="F", first_row=1, second="M"
    )
    assert info.value.location == Location(str(path), 2, None)


def test_a_comparison_level_attribute_may_differ_for_one_sample(tmp_path: Path) -> None:
    path = tmp_path / "site.csv"
    path.write_text("s1,s2,p1,p2,score,site\na,b,x1,y1,0.1,north\na,c,x1,z1,0.2,south\n")
    cs = read_pairs(
        path,
        score="score",
        score_kind=ScoreKind.SIMILARITY,
        subjects=("s1", "s2"),
        samples=("p1", "p2"),
        attributes=[AttributeSpec("site", ("site",))],
    )
    assert cs.levels["site"] == ("north", "south")


def test_float_ids_beyond_exact_integers_are_kept_as_written(tmp_path: Path) -> None:
    frame = pd.DataFrame({"s1": [1e20, 2.0], "s2": [1e20, 3.5], "score": [0.9, 0.1]})
    frame.to_parquet(tmp_path / "f.parquet")
    cs = read_pairs(
        tmp_path / "f.parquet",
        score="score",
        score_kind=ScoreKind.SIMILARITY,
        subjects=("s1", "s2"),
    )
    assert cs.mated.tolist() == [True, False]
    assert "1e+20" in cs.subject_ids and "3.5" in cs.subject_ids


def test_parquet_reads_only_the_columns_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Columns the audit does not use are never decoded; a missing one lists those present."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    table = pa.table(
        {
            "s": [0.9, 0.1],
            "a": ["x", "x"],
            "b": ["x", "y"],
            "photo": [b"\x00" * 1000, b"\x01" * 1000],
        }
    )
    pq.write_table(table, path)
    asked: list[object] = []
    read_table = pq.read_table

    def spy(source: object, *args: object, **kwargs: object) -> pa.Table:
        asked.append(kwargs.get("columns"))
        return read_table(source, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pq, "read_table", spy)
    cs = read_pairs(path, score="s", score_kind=ScoreKind.SIMILARITY, subjects=("a", "b"))
    assert asked == [["s", "a", "b"]]
    assert cs.mated.tolist() == [True, False]
    with pytest.raises(InputError) as err:
        read_pairs(path, score="t", score_kind=ScoreKind.SIMILARITY, subjects=("a", "b"))
    assert err.value.location == Location(str(path), None, "t")
    assert "'photo'" in err.value.message


def test_dictionary_encoded_parquet_row_groups_equal_a_plain_reference(tmp_path: Path) -> None:
    """Text ids and attributes read as dictionaries (one per row group) give the codes of
    sorting and numbering the stripped texts by hand, padded copies of a value merged."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    n = 600
    names = ["s1", " s1", "s2 ", "s10", "s3", "\u00e9", "z"]
    subject_a = [names[k] for k in rng.integers(0, len(names), n)]
    subject_b = [names[k] for k in rng.integers(0, len(names), n)]
    sample_a = [f"{s.strip()}-{k}" for s, k in zip(subject_a, rng.integers(0, 3, n), strict=True)]
    sample_b = [f"{s.strip()}-{k}" for s, k in zip(subject_b, rng.integers(0, 3, n), strict=True)]
    variants = ["F", "M", " F", "", None]
    sex_of = {p: variants[int(rng.integers(0, 5))] for p in [*sample_a, *sample_b]}
    scores: dict[tuple[str, str], float] = {}
    score = [
        scores.setdefault((min(a, b), max(a, b)), float(rng.random()))
        for a, b in zip(sample_a, sample_b, strict=True)
    ]
    table = pa.table(
        {
            "score": score,
            "id1": subject_a,
            "id2": subject_b,
            "p1": sample_a,
            "p2": sample_b,
            "g1": pa.array([sex_of[p] for p in sample_a], pa.string()),
            "g2": pa.array([sex_of[p] for p in sample_b], pa.string()),
        }
    )
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, row_group_size=97)
    cs = _read(path, samples=("p1", "p2"), attributes=[AttributeSpec("sex", ("g1", "g2"))])

    subjects = sorted({s.strip() for s in [*subject_a, *subject_b]})
    assert cs.subject_ids == tuple(subjects)
    seen: set[tuple[str, str]] = set()
    rows = []  # the first comparison of each pair of samples, none of a sample with itself
    for i in range(n):
        key = (min(sample_a[i], sample_b[i]), max(sample_a[i], sample_b[i]))
        if key not in seen:
            seen.add(key)
            if sample_a[i] != sample_b[i]:
                rows.append(i)
    code_of = {s: subjects.index(s.strip()) for s in names}
    np.testing.assert_array_equal(
        cs.subject, [[code_of[subject_a[i]], code_of[subject_b[i]]] for i in rows]
    )
    np.testing.assert_array_equal(cs.score, [score[i] for i in rows])
    levels = sorted({v.strip() for v in sex_of.values() if v is not None and v.strip()})
    assert cs.levels["sex"] == tuple(levels)

    def code(v: str | None) -> int:
        return MISSING if v is None or not v.strip() else levels.index(v.strip())

    np.testing.assert_array_equal(
        cs.attributes["sex"], [[code(sex_of[sample_a[i]]), code(sex_of[sample_b[i]])] for i in rows]
    )
    firsts = list(dict.fromkeys([*sample_a, *sample_b]))  # first side first, then the second
    assert cs.sample is not None
    np.testing.assert_array_equal(
        cs.sample, [[firsts.index(sample_a[i]), firsts.index(sample_b[i])] for i in rows]
    )


@pytest.mark.parametrize(
    ("rows", "row", "column"),
    [
        (['0.5,a,"a', "0.5,b,b"], 1, "id2"),  # the rows after it are taken in
        (["0.5,a,a", '0.5,"b,b'], 2, "id1"),  # a field too few, named as the open quote
        (["0.5,a,a", '0.5,b,"b""'], 2, "id2"),  # a doubled quote does not close it
    ],
)
def test_a_quote_left_open_to_the_end_is_an_error_naming_it(
    tmp_path: Path, rows: list[str], row: int, column: str
) -> None:
    path = _write(tmp_path / "p.csv", "score,id1,id2", rows)
    err = _error(path)
    assert err.message == _table.MSG_OPEN_QUOTE
    assert err.location == Location(str(path), row=row, column=column)


def test_a_quote_left_open_in_the_header_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", 'score,id1,"id2', ["0.5,a,a"])
    assert _error(path).location == Location(str(path))


@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.sampled_from([b"a", b",", b"\n", b"\r\n", b'"', b'""']), max_size=30))
def test_a_quote_is_found_open_where_pandas_finds_it_open(data: list[bytes]) -> None:
    """The field check finds a quote open at the end (before any other fault: the exact
    reader's checks run first) where pandas' parser reads "EOF inside string", and only there."""
    text = b"h,i\n" + b"".join(data)
    found = _field_error(lambda: _table.check_fields(text, sep=",", file="t.csv"))
    try:
        pd.read_csv(io.BytesIO(text), dtype=str, keep_default_na=False)
        open_in_pandas = False
    except pd.errors.ParserError as err:
        open_in_pandas = "EOF inside string" in str(err)
    except pd.errors.EmptyDataError:
        open_in_pandas = False
    if open_in_pandas:
        assert found is not None
    if found is not None and found[0] == _table.MSG_OPEN_QUOTE:
        assert open_in_pandas
