"""Streamed pair tables: the audit of the chunked reader equals the whole-table reader's."""

from __future__ import annotations

import csv
import dataclasses
import inspect
import io
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faceparity import (
    AuditConfig,
    FMRScope,
    MatedGroupRule,
    ScoreKind,
    ThresholdPolicy,
    audit,
    group_comparisons,
)
from faceparity.errors import InputError, Location, UsageError
from faceparity.readers import AttributeSpec, chunks, pairs_stream, read_pairs
from faceparity.readers._table import MSG_OPEN_QUOTE, check_fields
from faceparity.readers.chunks import prepared_chunks
from faceparity.readers.pairs_stream import NOTE_STREAMING, StreamedPairs, accumulate_pairs
from faceparity.results.audit import AuditResult
from faceparity.verification.audit import audit_accumulated

POLICIES = tuple(ThresholdPolicy.parse(p) for p in ("global", "per-group", "reference:sex=F,eth=B"))
ATTRIBUTES = (
    AttributeSpec("sex", ("g1", "g2")),
    AttributeSpec("eth", ("e1", "e2")),
    AttributeSpec("age", ("age1", "age2"), bins=(30.0, 50.0)),
)
GROUP_BY = ("sex", "eth")


def _frame(seed: int, n: int, *, ties: bool = False, subjects: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, subjects, n)
    b = np.where(rng.random(n) < 0.2, a, rng.integers(0, subjects, n))
    mated = a == b
    score = np.clip(rng.normal(0.1, 0.15, n) + 0.5 * mated + 0.02 * (a % 3 == 0), -1, 1)
    if ties:
        score = np.round(score, 2)
    sex, eth = np.array(["F", "M"]), np.array(["B", "W", "A"])
    g2 = sex[b % 2].astype(object)
    g2[rng.random(n) < 0.03] = ""  # missing: the reserved missing group
    age = 20 + (np.arange(2 * n).reshape(2, n) * 7) % 50
    return pd.DataFrame(
        {
            "score": score,
            "id1": [f"s{v:03d}" for v in a],
            "id2": [f"s{v:03d}" for v in b],
            "label": np.where(mated, "mated", "non-mated"),
            "g1": sex[a % 2],
            "g2": g2,
            "e1": eth[a % 3],
            "e2": eth[(b + (rng.random(n) < 0.02)) % 3],  # some mated pairs change group
            "age1": age[0],
            "age2": age[1],
        }
    )


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")
    return path


def _stream(path: Path, **options: object) -> StreamedPairs:
    defaults: dict[str, object] = {
        "score": "score",
        "score_kind": ScoreKind.SIMILARITY,
        "subjects": ("id1", "id2"),
        "attributes": ATTRIBUTES,
        "group_by": GROUP_BY,
    }
    return accumulate_pairs(path, **{**defaults, **options})  # type: ignore[arg-type]


def _audit_streamed(sp: StreamedPairs, config: AuditConfig, **extra: object) -> AuditResult:
    return audit_accumulated(
        sp.accumulator,
        groups=sp.groups,
        group_by=sp.group_by,
        population=sp.population,
        config=config,
        source=sp.source,
        exclusions=sp.exclusions,
        notes=sp.notes,
        **extra,  # type: ignore[arg-type]
    )


def _exact(path: Path, config: AuditConfig, kind: ScoreKind = ScoreKind.SIMILARITY) -> AuditResult:
    cs = read_pairs(
        path, score="score", score_kind=kind, subjects=("id1", "id2"), attributes=ATTRIBUTES
    )
    return audit(cs, group_by=GROUP_BY, config=config)


def _assert_same_audit(streamed: AuditResult, exact: AuditResult) -> None:
    assert streamed.operating_points == exact.operating_points
    assert streamed.groups == exact.groups
    assert streamed.overall == exact.overall
    assert streamed.exclusions == exact.exclusions
    assert streamed.input.source == exact.input.source
    assert streamed.input.n_subjects == exact.input.n_subjects


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
@pytest.mark.parametrize("chunk_rows", [1, 7, 100, 1_000_000])
def test_streamed_audit_equals_exact_audit(tmp_path: Path, suffix: str, chunk_rows: int) -> None:
    path = _write(_frame(0, 300 if chunk_rows == 1 else 1500), tmp_path / f"pairs{suffix}")
    config = AuditConfig(target_fmrs=(1e-1, 1e-2, 1e-3), policies=POLICIES)
    sp = _stream(path, chunk_rows=chunk_rows)
    streamed = _audit_streamed(sp, config)
    _assert_same_audit(streamed, _exact(path, config))
    assert NOTE_STREAMING in streamed.input.notes
    assert sp.population.n_samples == [None] * len(sp.groups)


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_quoted_line_ends_in_values_across_a_block_are_refused_not_misread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """Quoted subject ids holding a line end, past the first block (small blocks): Arrow's
    streaming reader cannot cut such a file into blocks at line ends and says so, an
    InputError without a row (the exact reader reads the file). Arrow's
    ``newlines_in_values`` would read it, but drops the LF of a CRLF in a value cut by a
    block's end (pyarrow 26): a silent change of a subject id, so it stays off."""
    monkeypatch.setattr(chunks, "_CSV_BLOCK_BYTES", 4096)
    frame = _frame(5, 1500)
    for column in ("id1", "id2"):
        frame[column] = "s\n" + frame[column].astype(str)
    path = _write(frame, tmp_path / f"pairs{suffix}")
    with pytest.raises(InputError) as info:
        _stream(path, chunk_rows=100)
    kind = suffix[1:].upper()
    assert info.value.message.startswith(f"could not be read as {kind}: ")
    assert "multiple lines" in info.value.message
    assert info.value.location == Location(str(path))
    assert (
        len(
            read_pairs(
                path, score="score", score_kind=ScoreKind.SIMILARITY, subjects=("id1", "id2")
            ).score
        )
        == 1500
    )


@pytest.mark.parametrize("scope", list(FMRScope))
@pytest.mark.parametrize("rule", list(MatedGroupRule))
@pytest.mark.parametrize("ties", [False, True])
def test_streamed_audit_equals_exact_for_every_counting_rule(
    tmp_path: Path, scope: FMRScope, rule: MatedGroupRule, ties: bool
) -> None:
    path = _write(_frame(1, 2000, ties=ties), tmp_path / "pairs.csv")
    config = AuditConfig(
        target_fmrs=(1e-2, 1e-3), policies=POLICIES, fmr_scope=scope, mated_rule=rule
    )
    streamed = _audit_streamed(_stream(path, chunk_rows=300), config)
    _assert_same_audit(streamed, _exact(path, config))


def test_mated_label_column_gives_the_same_result(tmp_path: Path) -> None:
    path = _write(_frame(2, 800), tmp_path / "pairs.csv")
    config = AuditConfig(target_fmrs=(1e-2,), policies=POLICIES)
    with_label = _audit_streamed(_stream(path, mated="label", chunk_rows=50), config)
    _assert_same_audit(with_label, _exact(path, config))


def test_binned_attribute_groups_follow_band_order(tmp_path: Path) -> None:
    path = _write(_frame(3, 600), tmp_path / "pairs.csv")
    config = AuditConfig(target_fmrs=(1e-2,))
    sp = _stream(path, group_by=("age", "sex"), chunk_rows=13)
    cs = read_pairs(
        path,
        score="score",
        score_kind=ScoreKind.SIMILARITY,
        subjects=("id1", "id2"),
        attributes=ATTRIBUTES,
    )
    exact = audit(cs, group_by=("age", "sex"), config=config)
    assert [g.label for g in sp.groups] == [g.label for g in exact.groups]
    assert [g.label for g in sp.groups][:2] == ["<30/F", "<30/M"]
    streamed = _audit_streamed(sp, config)
    assert streamed.operating_points == exact.operating_points
    assert streamed.groups == exact.groups


def test_distance_scores_are_negated_exactly(tmp_path: Path) -> None:
    frame = _frame(4, 1200)
    frame["score"] = 1.0 - frame["score"]
    path = _write(frame, tmp_path / "pairs.csv")
    config = AuditConfig(target_fmrs=(1e-2, 1e-3), policies=POLICIES)
    sp = _stream(path, score_kind=ScoreKind.DISTANCE, chunk_rows=100)
    assert sp.score_kind is ScoreKind.DISTANCE
    # Read as similarities (the accumulator's orientation), the audit is the exact one
    # of the negated scores.
    cs = read_pairs(
        path,
        score="score",
        score_kind=ScoreKind.DISTANCE,
        subjects=("id1", "id2"),
        attributes=ATTRIBUTES,
    )
    negated = dataclasses.replace(cs, score=-cs.score, score_kind=ScoreKind.SIMILARITY)
    exact = audit(negated, group_by=GROUP_BY, config=config)
    _assert_same_audit(_audit_streamed(sp, config), exact)


def test_distance_audit_reports_distances(tmp_path: Path) -> None:
    if "score_kind" not in inspect.signature(audit_accumulated).parameters:
        pytest.skip("audit_accumulated takes no score_kind yet (issue 3, point 5)")
    frame = _frame(5, 1200)
    frame["score"] = 1.0 - frame["score"]
    path = _write(frame, tmp_path / "pairs.csv")
    config = AuditConfig(target_fmrs=(1e-2, 1e-3), policies=POLICIES)
    sp = _stream(path, score_kind=ScoreKind.DISTANCE, chunk_rows=100)
    streamed = _audit_streamed(sp, config, score_kind=sp.score_kind)
    exact = _exact(path, config, ScoreKind.DISTANCE)
    _assert_same_audit(streamed, exact)
    assert streamed.input.score_kind == "distance"
    assert streamed.config.match_rule == "score <= threshold"


@pytest.mark.parametrize("chunk_rows", [37, 500])
def test_small_tail_counts_are_exact_at_the_reported_thresholds(
    tmp_path: Path, chunk_rows: int
) -> None:
    path = _write(_frame(6, 3000), tmp_path / "pairs.parquet")
    config = AuditConfig(target_fmrs=(0.2, 1e-2, 1e-3), policies=POLICIES)
    sp = _stream(path, chunk_rows=chunk_rows, capacity=20, n_bins=512)
    streamed = _audit_streamed(sp, config)
    cs = read_pairs(
        path,
        score="score",
        score_kind=ScoreKind.SIMILARITY,
        subjects=("id1", "id2"),
        attributes=ATTRIBUTES,
    )
    codes = group_comparisons(cs, GROUP_BY).codes
    s, m = cs.similarity, cs.mated
    checked = 0
    for point in streamed.operating_points:
        for g, group in enumerate(point.groups):
            t = group.threshold
            if t is None:
                continue
            nm = ~m & (codes[:, 0] == g) & (codes[:, 1] == g)
            assert group.n_false_matches == int((s[nm] >= t).sum())
            assert group.n_non_mated == int(nm.sum())
            checked += 1
        if point.overall is not None:
            t = point.threshold
            assert point.overall.n_false_matches == int((s[~m] >= t).sum())
            assert point.overall.n_false_non_matches == int((s[m] < t).sum())
            if point.policy == "global":
                assert point.overall.n_false_matches <= point.target_fmr * int((~m).sum())
            for cell in point.cross_group:
                a = next(i for i, x in enumerate(streamed.groups) if x.attributes == cell.a)
                b = next(i for i, x in enumerate(streamed.groups) if x.attributes == cell.b)
                pair = ((codes[:, 0] == a) & (codes[:, 1] == b)) | (
                    (codes[:, 0] == b) & (codes[:, 1] == a)
                )
                assert cell.n_false_matches == int((s[~m & pair] >= t).sum())
    assert checked
    assert sp.accumulator.tail()[0].size <= 20


# --- bad inputs: the same messages and locations as read_pairs -------------------------

GOOD = "score,id1,id2,label,g1,g2,e1,e2,age1,age2\n" + "".join(
    f"0.{i}5,a{i},b{i},0,F,M,B,W,20,40\n" for i in range(6)
)


def _bad(row: int, text: str = GOOD, **cells: str) -> str:
    """``text`` with some cells of 1-based data row ``row`` replaced."""
    lines = text.splitlines()
    header = lines[0].split(",")
    values = lines[row].split(",")
    for column, value in cells.items():
        values[header.index(column)] = value
    lines[row] = ",".join(values)
    return "\n".join(lines) + "\n"


BAD_CASES = {
    "non-numeric score": _bad(5, score="abc"),
    "nan score": _bad(4, score="nan"),
    "inf score": _bad(6, score="-inf"),
    "empty score": _bad(3, score=""),
    "empty subject id": _bad(5, id2=" "),
    "bad mated label": _bad(4, label="maybe"),
    "a chunk of bad mated labels": _bad(5, _bad(6, label="yes"), label="no"),
    "label contradicts ids": _bad(6, label="1"),
    "mated label contradicts ids": _bad(5, id2="a4"),
    "binned attribute not a number": _bad(5, age2="old"),
    "header only": GOOD.splitlines()[0] + "\n",
    "header only, no line end": GOOD.splitlines()[0],
    "a ragged row after a quoted field longer than the csv module's limit": _bad(
        2, _bad(5, label="0,x"), id1='"' + "a" * 200_000 + '"'
    ),
    "a ragged row in the first block quoting Arrow's words for an empty file": _bad(
        3, id1="Empty CSV file,x"
    ),
    "empty file": "",
    "repeated column name": GOOD.replace("age2\n", "score\n", 1),
    "a quote left open in the last column": _bad(4, age2='"40'),
    "a quote left open in the last column of the last row, no line end": _bad(6, age2='"40').rstrip(
        "\n"
    ),
    "a quote left open in a column not read": _bad(
        4, GOOD.replace("\n", ",note\n", 1).replace("40\n", "40,x\n"), note='"x'
    ),
    "a quote left open in a middle column": _bad(4, id2='"b3'),
    "a quote left open after a quote inside a value": _bad(4, _bad(2, id1='a"1'), g1='"F'),
    "a quote left open in a column not read, after a quote inside a value": _bad(
        4,
        _bad(2, GOOD.replace("\n", ",note\n", 1).replace("40\n", "40,x\n"), id1='a"1'),
        note='"x',
    ),
    "a quote left open in the header": GOOD.replace("age2\n", '"age2\n', 1),
}


def _fails_as_read_pairs(path: Path, chunk_rows: int, **options: object) -> InputError:
    """The streamed reader's error on ``path``, checked equal (message, location) to the
    exact reader's."""
    with pytest.raises(InputError) as exact:
        read_pairs(path, **options)  # type: ignore[arg-type]
    with pytest.raises(InputError) as streamed:
        accumulate_pairs(path, group_by=GROUP_BY, chunk_rows=chunk_rows, **options)  # type: ignore[arg-type]
    assert streamed.value.message == exact.value.message
    assert streamed.value.location == exact.value.location
    return streamed.value


LABELLED = {
    "score": "score",
    "score_kind": ScoreKind.SIMILARITY,
    "subjects": ("id1", "id2"),
    "mated": "label",
    "attributes": ATTRIBUTES,
}


_WHOLE_FILE_CASES = (
    "header only",
    "header only, no line end",
    "empty file",
    "repeated column name",
    "a quote left open in the header",
)
"""The cases whose error names the file, not a row."""


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_inputs_fail_as_read_pairs_fails(tmp_path: Path, case: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CASES[case])
    error = _fails_as_read_pairs(path, 2, **LABELLED)
    if case not in _WHOLE_FILE_CASES:
        assert error.location.row is not None and error.location.row > 2


@pytest.mark.parametrize("quoted", [False, True])
@pytest.mark.parametrize(("row", "fields"), [(5, 11), (2_345, 9), (2_999, 11)])
def test_a_ragged_row_is_named_as_read_pairs_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row: int, fields: int, quoted: bool
) -> None:
    """Arrow's CSV reader quotes a row with another number of fields, but not its number:
    the streamed reader names it as the exact reader does (row, fields), in the first
    chunk or in one read blocks after the first (small blocks, a blank line before it)."""
    monkeypatch.setattr(chunks, "_CSV_BLOCK_BYTES", 4096)
    frame = _frame(7, 3_000)
    lines = frame.astype(str).apply(",".join, axis=1).tolist()
    cells = lines[row - 1].split(",")
    lines[row - 1] = ",".join(cells + ["x"] if fields > 10 else cells[:-1])
    if quoted:
        lines[row // 2] = '"' + lines[row // 2].replace(",", '",', 1)  # "0.12",s001,...
    lines.insert(1, "")
    path = tmp_path / "ragged.csv"
    path.write_text(",".join(frame.columns) + "\n" + "\n".join(lines) + "\n")
    options = {**LABELLED, "mated": None}
    error = _fails_as_read_pairs(path, 1_000, **options)
    assert error.location.row == row
    assert error.message == f"expected 10 fields, one per column of the header, got {fields}"


def test_a_quote_left_open_names_its_row_and_column(tmp_path: Path) -> None:
    """Arrow reads the rest of the file into the open field; both readers refuse it."""
    path = tmp_path / "open.csv"
    path.write_text(_bad(4, GOOD.replace("\n", ",note\n", 1).replace("40\n", "40,x\n"), note='"x'))
    error = _fails_as_read_pairs(path, 2, **LABELLED)
    assert error.message == MSG_OPEN_QUOTE
    assert error.location == Location(str(path), row=4, column="note")


@pytest.mark.parametrize("inside", [0, 1, 2])
@pytest.mark.parametrize("row", [1_500, 2_990])
def test_a_quote_left_open_in_any_block_is_named_as_read_pairs_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row: int, inside: int
) -> None:
    """In the last of Arrow's blocks (row 2,990) the open field takes in the rows after
    it; in an earlier one Arrow's parser and chunker part ways: both are named, after
    any number of quotes inside unquoted values in the blocks before (``y"``)."""
    monkeypatch.setattr(chunks, "_CSV_BLOCK_BYTES", 4096)
    frame = _frame(7, 3_000)
    lines = frame.astype(str).apply(",".join, axis=1).tolist()
    lines[row - 1] = lines[row - 1] + ',"x'
    lines = [line + ",y" if i != row - 1 else line for i, line in enumerate(lines)]
    for i in range(inside):
        lines[10 + 400 * i] += '"'
    path = tmp_path / "open.csv"
    path.write_text(",".join(frame.columns) + ",note\n" + "\n".join(lines) + "\n")
    error = _fails_as_read_pairs(path, 1_000, **{**LABELLED, "mated": None})
    assert (error.message, error.location.row) == (MSG_OPEN_QUOTE, row)


@pytest.mark.parametrize("quotes", [1, 3])
def test_quotes_inside_values_are_read_as_read_pairs_reads_them(
    tmp_path: Path, quotes: int
) -> None:
    """An odd number of quotes, none left open (``s0"07``, as both parsers read it):
    the file is checked again, then audited as the exact reader audits it."""
    frame = _frame(3, 400)
    frame.loc[: quotes - 1, "id1"] = frame.loc[: quotes - 1, "id1"].str.replace("s0", 's0"')
    path = tmp_path / "inside.csv"
    frame.to_csv(path, index=False, quoting=csv.QUOTE_NONE, escapechar=None)
    assert path.read_text().count('"') == quotes
    config = AuditConfig(target_fmrs=(1e-1, 1e-2), policies=POLICIES)
    streamed = _audit_streamed(_stream(path, chunk_rows=7), config)
    exact = _exact(path, config)
    _assert_same_audit(streamed, exact)
    assert exact.input.n_subjects == frame[["id1", "id2"]].stack().nunique()


@pytest.mark.parametrize("keep", [True, False])
@pytest.mark.parametrize(("rows", "row"), [(20, 21), (60, 41)])
def test_a_table_changed_between_the_passes_by_whole_chunks_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: bool, rows: int, row: int
) -> None:
    """Rows taken away or added at a chunk's end between the two passes leave every
    chunk whole (pass 2 reads the subjects pass 1 saw): the row counts tell, with or
    without the subjects kept between the passes."""
    frame = _frame(3, 40)
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    if not keep:
        monkeypatch.setattr(pairs_stream, "KEEP_SUBJECTS_BYTES", -1)
    calls: list[object] = []
    read = pairs_stream.prepared_chunks

    def changing(*args: object, **options: object):  # type: ignore[no-untyped-def]
        calls.append(args)
        if len(calls) == 2:  # rows added repeat the first: no subject pass 1 did not see
            changed = frame.iloc[:rows] if rows < 40 else pd.concat([frame, frame[: rows - 40]])
            changed.to_csv(path, index=False)
        return read(*args, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(pairs_stream, "prepared_chunks", changing)
    with pytest.raises(InputError) as info:
        accumulate_pairs(path, group_by=GROUP_BY, chunk_rows=10, **LABELLED)  # type: ignore[arg-type]
    assert info.value.message == pairs_stream.MSG_CHANGED.format(row=row)
    assert info.value.location == Location(str(path))
    assert len(calls) == 2


@pytest.mark.parametrize("row", [3, 37])
def test_a_contradicting_label_with_integer_ids_is_named_as_read_pairs_names_it(
    tmp_path: Path, row: int
) -> None:
    """Integer subject ids of a Parquet table stay integers in the streamed reader: the
    message quotes them as the exact reader does (their text), not as numpy scalars."""
    frame = _frame(5, 40)
    frame["id1"] = frame["id1"].str[1:].astype(np.int64)
    frame["id2"] = frame["id2"].str[1:].astype(np.int64)
    frame["label"] = (frame["id1"] == frame["id2"]).astype(np.int64)
    frame.loc[row, "label"] = 1 - frame.loc[row, "label"]
    path = _write(frame, tmp_path / "ids.parquet")
    error = _fails_as_read_pairs(path, 10, **LABELLED)
    assert f"'{frame.loc[row, 'id1']}' and '{frame.loc[row, 'id2']}'" in error.message


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 2e300, -1e301])
@pytest.mark.parametrize("kind", list(ScoreKind))
def test_bad_numbers_in_a_parquet_score_column_fail_as_read_pairs_fails(
    tmp_path: Path, value: float, kind: ScoreKind
) -> None:
    """Float scores are checked and spanned in one compiled pass; a value that is not a
    finite number, or lies beyond the grid's reach, is named as the exact reader names it
    (the first bad one of the first chunk that has one; a NaN before a far one)."""
    frame = _frame(3, 40)
    frame.loc[23, "score"] = value
    frame.loc[27, "score"] = np.nan
    path = _write(frame, tmp_path / "bad.parquet")
    options = {**LABELLED, "score_kind": kind, "mated": None}
    error = _fails_as_read_pairs(path, 10, **options)
    assert error.location.row == (24 if np.isnan(value) or np.isinf(value) else 28)


def test_missing_column_and_bad_suffix_fail_as_read_pairs_fails(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text(GOOD)
    other = tmp_path / "pairs.txt"
    other.write_text(GOOD)
    for file, score in ((path, "similarity"), (other, "score")):
        with pytest.raises(InputError) as exact:
            read_pairs(file, score=score, score_kind=ScoreKind.SIMILARITY, subjects=("id1", "id2"))
        with pytest.raises(InputError) as streamed:
            accumulate_pairs(
                file,
                score=score,
                score_kind=ScoreKind.SIMILARITY,
                subjects=("id1", "id2"),
                attributes=ATTRIBUTES,
                group_by=GROUP_BY,
            )
        assert str(streamed.value) == str(exact.value)


def test_parquet_missing_score_fails_as_read_pairs_fails(tmp_path: Path) -> None:
    frame = _frame(7, 40)
    frame.loc[33, "score"] = np.nan
    path = _write(frame, tmp_path / "pairs.parquet")
    options = {"score": "score", "score_kind": ScoreKind.SIMILARITY, "subjects": ("id1", "id2")}
    with pytest.raises(InputError) as exact:
        read_pairs(path, **options)  # type: ignore[arg-type]
    with pytest.raises(InputError) as streamed:
        accumulate_pairs(
            path,
            attributes=ATTRIBUTES,
            group_by=GROUP_BY,
            chunk_rows=7,
            **options,  # type: ignore[arg-type]
        )
    assert str(streamed.value) == str(exact.value)
    assert streamed.value.location.row == 34


def test_group_by_must_be_an_attribute_as_in_the_audit(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text(GOOD)
    options = {
        "score": "score",
        "score_kind": ScoreKind.SIMILARITY,
        "subjects": ("id1", "id2"),
        "attributes": ATTRIBUTES,
    }
    with pytest.raises(InputError) as exact:
        audit(read_pairs(path, **options), group_by=["race"])  # type: ignore[arg-type]
    with pytest.raises(InputError) as streamed:
        accumulate_pairs(path, group_by=["race"], **options)  # type: ignore[arg-type]
    assert str(streamed.value) == str(exact.value)
    for bad in ({"chunk_rows": 0}, {"n_bins": 0}, {"capacity": 0}, {"score_kind": "sim"}):
        with pytest.raises(UsageError):
            accumulate_pairs(path, **{**options, "group_by": GROUP_BY, **bad})  # type: ignore[arg-type]


def test_constant_scores_are_accumulated(tmp_path: Path) -> None:
    frame = _frame(8, 200)
    frame["score"] = 0.5
    path = _write(frame, tmp_path / "pairs.csv")
    config = AuditConfig(target_fmrs=(1e-2,), policies=POLICIES)
    _assert_same_audit(_audit_streamed(_stream(path, chunk_rows=30), config), _exact(path, config))


# --- memory ------------------------------------------------------------------------------


def _peak(path: Path) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        _stream(path, chunk_rows=5000, capacity=1000)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bounded by the chunks, and by the subject ids kept between the passes (a budget,
    here small enough for the large file to pass it: its ids are read twice)."""
    monkeypatch.setattr(pairs_stream, "KEEP_SUBJECTS_BYTES", 64 << 10)
    tiny, small, large = tmp_path / "tiny.csv", tmp_path / "small.csv", tmp_path / "large.csv"
    for path, n in ((tiny, 100), (small, 20_000), (large, 200_000)):
        frame = _frame(9, n, subjects=200)
        # Few mated comparisons: they are kept exactly and would grow with the file.
        frame = frame[(frame["id1"] != frame["id2"]) | (np.arange(n) % 50 == 0)]
        _write(frame, path)
    _peak(tiny)  # warm-up: imports and caches are not the reader's
    peak_small, peak_large = _peak(small), _peak(large)
    assert large.stat().st_size > 9 * small.stat().st_size
    assert peak_large < 1.5 * peak_small, (peak_small, peak_large)


@pytest.mark.parametrize("far", [1.7e308, -1.7e308])
def test_scores_beyond_the_grids_reach_are_refused_with_their_row(
    tmp_path: Path, far: float
) -> None:
    """A score near the largest float would make the grid's span infinite: an InputError."""
    frame = _frame(3, 50)
    frame.loc[7, "score"] = far
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError) as err:
        accumulate_pairs(
            path,
            score="score",
            score_kind=ScoreKind.SIMILARITY,
            subjects=("id1", "id2"),
            attributes=list(ATTRIBUTES),
            group_by=GROUP_BY,
        )
    assert err.value.location.row == 8 and err.value.location.column == "score"
    assert "expected a number from -1e+300 to 1e+300" in err.value.message


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_prepared_chunks_come_in_order_and_raise_where_a_loop_would(
    tmp_path: Path, suffix: str
) -> None:
    """Chunks are prepared a chunk ahead on another thread: their order and offsets are a
    plain loop's; what ``prepare`` raises reaches the caller as itself at that chunk (a
    ValueError is not taken for an unreadable file), after the chunks before it; and a
    caller that stops early stops the reading."""
    path = _write(_frame(1, 50), tmp_path / f"pairs{suffix}")
    seen = list(prepared_chunks(path, ["score"], lambda o, f: (o, len(f)), chunk_rows=7))
    assert seen == [(o, min(7, 50 - o)) for o in range(0, 50, 7)]

    def failing(offset: int, frame: pd.DataFrame) -> int:
        if offset == 21:
            raise ValueError("made on the reading thread")
        return offset

    got = []
    with pytest.raises(ValueError, match="reading thread"):
        for offset in prepared_chunks(path, ["score"], failing, chunk_rows=7):
            got.append(offset)
    assert got == [0, 7, 14]
    chunks = prepared_chunks(path, ["score"], lambda o, f: o, chunk_rows=7)
    assert next(chunks) == 0
    chunks.close()  # the reading thread stops; nothing is left running
    assert not [t for t in threading.enumerate() if t.name.startswith("faceparity-read")]


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(
        st.sampled_from([b"a", b",", b"\t", b"\n", b"\r\n", b"\r", b'"', b'""', b'a"']),
        max_size=30,
    ),
    sep=st.sampled_from([",", "\t"]),
    size=st.integers(1, 9),
    bom=st.booleans(),
)
def test_the_quotes_are_followed_to_the_end_as_the_parsers_read_them(
    data: list[bytes], sep: str, size: int, bom: bool
) -> None:
    """Read in pieces of any size (a quote, a CRLF or the byte-order mark cut in two), the
    file is found with a quote open at its end where pandas reads "EOF inside string" and
    where the exact reader's field check names a quote left open; where it is found open,
    that check refuses the file. Quotes inside unquoted values (``a"``) do not count."""
    text = f"h{sep}i\n".encode() + b"".join(data)
    quotes = chunks._QuoteState(io.BytesIO(b"\xef\xbb\xbf" * bom + text), sep=sep)
    while quotes.read(size):
        pass
    try:
        pd.read_csv(io.BytesIO(text), sep=sep, dtype=str, keep_default_na=False)
        open_in_pandas = False
    except pd.errors.ParserError as err:
        open_in_pandas = "EOF inside string" in str(err)
    except pd.errors.EmptyDataError:
        open_in_pandas = False
    try:
        check_fields(text, sep=sep, file="t.csv")
        found = None
    except InputError as err:
        found = err
    named = found is not None and found.message == MSG_OPEN_QUOTE
    assert quotes.open_at_end >= open_in_pandas
    assert quotes.open_at_end >= named
    assert found is not None or not quotes.open_at_end
