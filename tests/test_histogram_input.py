"""Histogram inputs: counts per score give the audit of the comparisons they count."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from faceparity import AuditConfig, FMRScope, MatedGroupRule, ScoreKind, ThresholdPolicy, audit, cli
from faceparity.errors import InputError, UsageError
from faceparity.model.config import MAX_TAIL_CAPACITY
from faceparity.readers import AttributeSpec, read_pairs
from faceparity.readers._table import MSG_SCORE_RANGE
from faceparity.readers.histogram import (
    MAX_ABS_SCORE,
    MAX_MATED_COUNT,
    MAX_MATED_TOTAL,
    MAX_TOTAL_COUNT,
    MSG_BAD_COUNT,
    MSG_CAPACITY,
    MSG_MATED_COUNT,
    MSG_MATED_TOTAL,
    MSG_NO_COUNTS,
    MSG_TOTAL_COUNT,
    NOTE_HISTOGRAM,
    read_histogram,
)
from faceparity.readers.pairs_stream import StreamedPairs, accumulate_pairs
from faceparity.results.audit import AuditResult
from faceparity.verification.audit import audit_accumulated

POLICIES = tuple(ThresholdPolicy.parse(p) for p in ("global", "per-group", "reference:group=B"))
HEADER = "group_a,group_b,mated,score,count\n"


def _pairs(seed: int, n: int = 4000) -> pd.DataFrame:
    """A pair list with scores on a coarse grid, so that its histogram is much shorter."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 90, n)
    b = np.where(rng.random(n) < 0.15, a, rng.integers(0, 90, n))
    mated = a == b
    score = np.round(np.clip(rng.normal(0.1, 0.15, n) + 0.5 * mated + 0.03 * (a % 3), -1, 1), 2)
    groups = np.array(["A", "B", "C"])
    group_b = groups[b % 3].astype(object)
    group_b[rng.random(n) < 0.03] = ""  # missing: counted in the overall rates only
    flip = mated & (rng.random(n) < 0.05)  # mated pairs whose second sample changes group
    group_b[flip] = groups[(b[flip] + 1) % 3]
    return pd.DataFrame(
        {
            "score": score,
            "id1": [f"s{v}" for v in a],
            "id2": [f"s{v}" for v in b],
            "group_a": groups[a % 3],
            "group_b": group_b,
            "mated": mated.astype(int),
        }
    )


def _histogram(pairs: pd.DataFrame) -> pd.DataFrame:
    keys = ["group_a", "group_b", "mated", "score"]
    counted = pairs.groupby(keys, sort=False).size().reset_index(name="count")
    return counted.sample(frac=1.0, random_state=0)  # row order does not matter


def _files(tmp_path: Path, seed: int, kind: ScoreKind = ScoreKind.SIMILARITY) -> tuple[Path, Path]:
    pairs = _pairs(seed)
    if kind is ScoreKind.DISTANCE:
        pairs["score"] = np.round(1.0 - pairs["score"], 2)
    pair_path, hist_path = tmp_path / "pairs.csv", tmp_path / "hist.csv"
    pairs.to_csv(pair_path, index=False)
    _histogram(pairs).to_csv(hist_path, index=False)
    return pair_path, hist_path


def _exact(path: Path, config: AuditConfig, kind: ScoreKind) -> AuditResult:
    cs = read_pairs(
        path,
        score="score",
        score_kind=kind,
        subjects=("id1", "id2"),
        attributes=[AttributeSpec("group", ("group_a", "group_b"))],
    )
    if kind is ScoreKind.DISTANCE:  # the accumulator's orientation (see the distance test)
        cs = dataclasses.replace(cs, score=-cs.score, score_kind=ScoreKind.SIMILARITY)
    return audit(cs, group_by=["group"], config=config)


def _audited(sp: StreamedPairs, config: AuditConfig, **extra: object) -> AuditResult:
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


def _without_subjects(result: AuditResult) -> list[object]:
    return [dataclasses.replace(g, n_subjects=None) for g in result.groups]


@pytest.mark.parametrize("kind", list(ScoreKind))
@pytest.mark.parametrize("scope", list(FMRScope))
@pytest.mark.parametrize("rule", list(MatedGroupRule))
def test_histogram_gives_the_audit_of_the_pair_list(
    tmp_path: Path, kind: ScoreKind, scope: FMRScope, rule: MatedGroupRule
) -> None:
    pair_path, hist_path = _files(tmp_path, 0, kind)
    config = AuditConfig(
        target_fmrs=(1e-1, 1e-2, 1e-3), policies=POLICIES, fmr_scope=scope, mated_rule=rule
    )
    sp = read_histogram(hist_path, score_kind=kind, chunk_rows=50)
    streamed, exact = _audited(sp, config), _exact(pair_path, config, kind)
    assert streamed.operating_points == exact.operating_points
    assert streamed.groups == _without_subjects(exact)
    assert streamed.overall.n_mated == exact.overall.n_mated
    assert streamed.overall.n_non_mated == exact.overall.n_non_mated
    assert streamed.exclusions == exact.exclusions
    assert NOTE_HISTOGRAM in streamed.input.notes
    assert sp.population.n_subjects == [None, None, None] and sp.group_by == ("group",)
    assert streamed.overall.n_subjects is None and streamed.input.n_subjects is None


def test_distance_histogram_reports_distances(tmp_path: Path) -> None:
    if "score_kind" not in inspect.signature(audit_accumulated).parameters:
        pytest.skip("audit_accumulated takes no score_kind yet (issue 3, point 5)")
    pair_path, hist_path = _files(tmp_path, 1, ScoreKind.DISTANCE)
    config = AuditConfig(target_fmrs=(1e-2, 1e-3), policies=POLICIES)
    sp = read_histogram(hist_path, score_kind=ScoreKind.DISTANCE)
    streamed = _audited(sp, config, score_kind=sp.score_kind)
    cs = read_pairs(
        pair_path,
        score="score",
        score_kind=ScoreKind.DISTANCE,
        subjects=("id1", "id2"),
        attributes=[AttributeSpec("group", ("group_a", "group_b"))],
    )
    exact = audit(cs, group_by=["group"], config=config)
    assert streamed.operating_points == exact.operating_points
    assert streamed.input.score_kind == "distance"


@pytest.mark.parametrize("chunk_rows", [3, 1000])
def test_small_tail_holds_what_the_pair_list_accumulator_holds(
    tmp_path: Path, chunk_rows: int
) -> None:
    pair_path, hist_path = _files(tmp_path, 2)
    from_hist = read_histogram(hist_path, score_kind=ScoreKind.SIMILARITY, capacity=40, n_bins=300)
    from_pairs = accumulate_pairs(
        pair_path,
        score="score",
        score_kind=ScoreKind.SIMILARITY,
        subjects=("id1", "id2"),
        attributes=[AttributeSpec("group", ("group_a", "group_b"))],
        group_by=["group"],
        capacity=40,
        n_bins=300,
        chunk_rows=chunk_rows,
    )
    h, p = from_hist.accumulator, from_pairs.accumulator
    assert from_hist.groups == from_pairs.groups
    assert h.grid == p.grid
    h.finalize()
    p.finalize()
    np.testing.assert_array_equal(h.histogram, p.histogram)
    assert h.tail_bin == p.tail_bin > 0
    for held, listed in ((h.tail(), p.tail()), (h.mated(), p.mated())):
        h_order = np.lexsort((held[1], held[0]))
        p_order = np.lexsort((listed[1], listed[0]))
        np.testing.assert_array_equal(held[0][h_order], listed[0][p_order])
        np.testing.assert_array_equal(held[1][h_order], listed[1][p_order])
    assert h.tail()[0].size <= 40


def test_huge_non_mated_counts_are_not_expanded(tmp_path: Path) -> None:
    rows = ["A,A,1,0.9,5", "A,A,1,0.7,5"]
    rows += [f"A,A,0,{v / 100:.2f},{10**12}" for v in range(60)]
    rows += [f"A,B,0,{v / 100:.2f},{10**11}" for v in range(70)]
    path = tmp_path / "hist.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    sp = read_histogram(path, score_kind=ScoreKind.SIMILARITY, capacity=1000, chunk_rows=16)
    result = _audited(sp, AuditConfig(target_fmrs=(1e-2,)))
    assert result.overall.n_non_mated == 60 * 10**12 + 70 * 10**11
    assert sp.accumulator.tail()[0].size == 0  # no bin holds 1,000 comparisons or fewer
    point = result.operating_points[0]
    assert point.overall is not None
    # k = 6.7e11 false matches allowed: the scores above 0.63 (6e11 of them) pass, those
    # at 0.63 would not. Below the (empty) tail the threshold is the first grid edge
    # above 0.63, with the counts of the exact threshold, nextafter(0.63).
    grid = sp.accumulator.grid
    assert point.threshold == grid.edges[grid.bin_of(0.63) + 1]
    assert 0.63 < point.threshold < 0.64
    assert point.overall.n_false_matches == 6 * 10**11
    assert point.overall.n_false_non_matches == 0


def test_thresholds_land_just_above_given_score_values(tmp_path: Path) -> None:
    _, hist_path = _files(tmp_path, 3)
    values = set(pd.read_csv(hist_path)["score"].tolist())
    config = AuditConfig(target_fmrs=(1e-1, 1e-2, 1e-3), policies=POLICIES)
    result = _audited(read_histogram(hist_path, score_kind=ScoreKind.SIMILARITY), config)
    for point in result.operating_points:
        for group in point.groups:
            if group.threshold is not None and group.threshold <= max(values):
                assert np.nextafter(group.threshold, -np.inf) in values


def test_zero_counts_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "hist.csv"
    path.write_text(HEADER + "A,A,1,0.9,2\nA,A,0,0.1,10\nZ,Z,0,0.5,0\nA,A,0,7.5,0\n")
    sp = read_histogram(path, score_kind=ScoreKind.SIMILARITY, chunk_rows=1)
    assert [g.label for g in sp.groups] == ["A"]
    assert sp.accumulator.grid.high <= 2.0


def _error(tmp_path: Path, body: str, **options: object) -> InputError:
    path = tmp_path / "hist.csv"
    path.write_text(body)
    with pytest.raises(InputError) as err:
        read_histogram(path, score_kind=ScoreKind.SIMILARITY, chunk_rows=2, **options)  # type: ignore[arg-type]
    return err.value


@pytest.mark.parametrize(("value", "shown"), [("-1", "'-1'"), ("1.5", "'1.5'"), ("x", "'x'")])
def test_bad_counts_are_refused(tmp_path: Path, value: str, shown: str) -> None:
    body = HEADER + "A,A,1,0.9,2\nA,A,0,0.1,10\nA,A,0,0.2,3\nA,A,0,0.3," + value + "\n"
    err = _error(tmp_path, body)
    assert err.message == MSG_BAD_COUNT.format(value=shown)
    assert (err.location.row, err.location.column) == (4, "count")
    empty = _error(tmp_path, HEADER + "A,A,1,0.9,2\nA,A,0,0.1,\n")
    assert empty.message == MSG_BAD_COUNT.format(value="an empty value")


def test_large_mated_counts_are_refused(tmp_path: Path) -> None:
    too_many = MAX_MATED_COUNT + 1
    body = HEADER + f"A,A,0,0.1,{10**13}\nA,A,0,0.2,1\nA,A,1,0.9,{too_many}\n"
    err = _error(tmp_path, body)
    assert err.message == MSG_MATED_COUNT.format(limit=MAX_MATED_COUNT, value=too_many)
    assert (err.location.row, err.location.column) == (3, "count")


def test_other_bad_inputs_name_the_row_and_column(tmp_path: Path) -> None:
    bad_score = _error(tmp_path, HEADER + "A,A,1,0.9,2\nA,A,0,0.1,10\nA,A,0,nan,3\n")
    assert str(bad_score.location) == f"{tmp_path / 'hist.csv'}, row 3, column 'score'"
    bad_label = _error(tmp_path, HEADER + "A,A,1,0.9,2\nA,A,0,0.1,10\nA,A,2,0.5,3\n")
    assert (bad_label.location.row, bad_label.location.column) == (3, "mated")
    missing = _error(tmp_path, "group_a,group_b,mated,score\nA,A,1,0.9\n")
    assert missing.location.column == "count"
    nothing = _error(tmp_path, HEADER + "A,A,1,0.9,0\n")
    assert nothing.message == MSG_NO_COUNTS


@pytest.mark.parametrize("chunk_rows", [1, 2, 1000])
def test_counts_summing_past_2_53_are_refused_at_the_row_that_passes(
    tmp_path: Path, chunk_rows: int
) -> None:
    """Each count may be 2**53, but not their sum: sums of counts stay exact."""
    body = HEADER + f"A,A,1,0.9,2\nA,A,0,0.1,{2**53 - 3}\nA,A,0,0.2,1\nA,A,0,0.3,1\n"
    path = tmp_path / "hist.csv"
    path.write_text(body)
    with pytest.raises(InputError) as err:
        read_histogram(path, score_kind=ScoreKind.SIMILARITY, chunk_rows=chunk_rows)
    assert err.value.message == MSG_TOTAL_COUNT.format(limit=MAX_TOTAL_COUNT)
    assert (err.value.location.row, err.value.location.column) == (4, "count")
    path.write_text(HEADER + f"A,A,1,0.9,2\nA,A,0,0.1,{2**53 - 3}\nA,A,0,0.2,1\n")
    sp = read_histogram(path, score_kind=ScoreKind.SIMILARITY, chunk_rows=chunk_rows)
    assert _audited(sp, AuditConfig(target_fmrs=(1e-3,))).overall.n_non_mated == 2**53 - 2


def test_counts_whose_sum_wraps_int64_exit_2_from_the_cli(tmp_path: Path) -> None:
    """1,100 rows of 2**53 sum past 2**63: int64 wrapped and the audit crashed (exit 70)."""
    rows = ["A,A,1,0.9,3"] + [f"A,A,0,{i / 10000:.4f},{2**53}" for i in range(1100)]
    path = tmp_path / "hist.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    run = CliRunner().invoke(
        cli.main,
        ["audit", "histogram", str(path), "--score-kind", "similarity", "--group-by", "group"],
    )
    assert run.exit_code == 2, run.output
    assert f"{path}, row 2, column 'count': " in run.stderr  # 3 + 2**53 > 2**53
    assert MSG_TOTAL_COUNT.format(limit=MAX_TOTAL_COUNT) in run.stderr


def test_mated_counts_summing_past_the_limit_are_refused(tmp_path: Path) -> None:
    rows = [f"A,A,1,0.{i},{MAX_MATED_COUNT}" for i in range(1, MAX_MATED_TOTAL // MAX_MATED_COUNT)]
    rows += ["A,A,0,0.1,5", f"A,A,1,0.95,{MAX_MATED_COUNT}", "A,A,1,0.96,1"]
    err = _error(tmp_path, HEADER + "\n".join(rows) + "\n")
    assert err.message == MSG_MATED_TOTAL.format(limit=MAX_MATED_TOTAL)
    assert (err.location.row, err.location.column) == (len(rows), "count")


@pytest.mark.parametrize("kind", list(ScoreKind))
@pytest.mark.parametrize(
    ("rows", "row", "far"),
    [
        # a range of more than the largest float: math domain error (exit 70)
        (["A,A,1,0.5,3", "A,A,0,0.25,4", "A,A,0,-1.7e308,5"], 3, "-1.7e308"),
        (["A,A,1,1.7976931348623157e308,3", "A,A,0,0.25,4"], 1, "1.7976931348623157e308"),
        # one constant score: the grid's made-up span overflowed (exit 70)
        (["A,A,1,1.7e308,3", "A,A,0,1.7e308,5"], 1, "1.7e308"),
    ],
)
def test_scores_beyond_the_largest_magnitude_are_refused(
    tmp_path: Path, kind: ScoreKind, rows: list[str], row: int, far: str
) -> None:
    path = tmp_path / "hist.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    run = CliRunner().invoke(
        cli.main,
        ["audit", "histogram", str(path), "--score-kind", kind.value, "--group-by", "group"],
    )
    assert run.exit_code == 2, run.output
    message = MSG_SCORE_RANGE.format(limit=MAX_ABS_SCORE, value=repr(far))
    assert run.stderr == f"error: {path}, row {row}, column 'score': {message}\n"


@pytest.mark.parametrize("kind", list(ScoreKind))
def test_scores_at_the_largest_magnitude_are_audited(tmp_path: Path, kind: ScoreKind) -> None:
    path = tmp_path / "hist.csv"
    path.write_text(HEADER + "A,A,1,1e300,3\nA,A,0,-1e300,40\nA,A,0,0.5,2\n")
    sp = read_histogram(path, score_kind=kind)
    result = _audited(sp, AuditConfig(target_fmrs=(0.1,)))
    assert result.overall.n_non_mated == 42 and result.overall.n_mated == 3


@pytest.mark.parametrize("capacity", [0, MAX_TAIL_CAPACITY + 1, 2**63, 2**64])
def test_tail_capacity_out_of_range_is_a_usage_error(tmp_path: Path, capacity: int) -> None:
    path = tmp_path / "hist.csv"
    path.write_text(HEADER + "A,A,1,0.9,2\nA,A,0,0.1,10\n")
    with pytest.raises(UsageError) as err:
        read_histogram(path, score_kind=ScoreKind.SIMILARITY, capacity=capacity)
    assert str(err.value) == MSG_CAPACITY.format(limit=MAX_TAIL_CAPACITY, value=capacity)
