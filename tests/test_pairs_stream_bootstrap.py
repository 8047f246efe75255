"""The subject bootstrap of a streamed pair table, against the exact path on the same file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from faceparity.model.config import AuditConfig, ScoreKind, ThresholdPolicy
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.pairs import read_pairs
from faceparity.readers.pairs_stream import accumulate_pairs
from faceparity.results.audit import AuditResult
from faceparity.uncertainty.apply import with_uncertainty
from faceparity.verification.audit import audit, audit_accumulated
from faceparity.workflow.audit import streams
from faceparity.workflow.request import PairsInput

GROUPS = ("A", "B", "C", "D")
SPECS = [AttributeSpec("group", ("group_a", "group_b"))]


def _write(path: Path, rows: int, subjects_per_group: int, seed: int) -> Path:
    """A pair table: subject ``k`` of group ``g`` is ``s{k}-{g}``; half the non-mated pairs
    are of one group; similarities normal with group-dependent means."""
    rng = np.random.default_rng(seed)
    n_groups = len(GROUPS)
    mated = rng.random(rows) < 0.05
    same_group = mated | (rng.random(rows) < 0.5)
    ga = rng.integers(0, n_groups, rows)
    gb = np.where(same_group, ga, (ga + rng.integers(1, n_groups, rows)) % n_groups)
    ka = rng.integers(0, subjects_per_group, rows)
    shift = rng.integers(1, subjects_per_group, rows)
    kb = np.where(mated, ka, np.where(same_group, (ka + shift) % subjects_per_group, shift))
    noise = rng.standard_normal(rows)
    score = np.where(mated, 0.6 - 0.05 * ga + 0.12 * noise, 0.02 * (ga + gb) + 0.1 * noise)
    names = np.array(GROUPS, dtype=object)
    table = pa.table(
        {
            "score": score,
            "subject_a": [f"s{k}-{g}" for k, g in zip(ka, ga, strict=True)],
            "subject_b": [f"s{k}-{g}" for k, g in zip(kb, gb, strict=True)],
            "group_a": names[ga],
            "group_b": names[gb],
        }
    )
    pq.write_table(table, path, row_group_size=max(1, rows // 5))
    return path


def _both(
    path: Path, config: AuditConfig, replicates: int, seed: int
) -> tuple[AuditResult, AuditResult]:
    cs = read_pairs(
        path,
        score="score",
        score_kind=ScoreKind.SIMILARITY,
        subjects=("subject_a", "subject_b"),
        attributes=SPECS,
    )
    exact = with_uncertainty(
        audit(cs, group_by=["group"], config=config),
        config=config,
        comparisons=cs,
        group_by=["group"],
        replicates=replicates,
        seed=seed,
    )
    sp = accumulate_pairs(
        path,
        score="score",
        score_kind=ScoreKind.SIMILARITY,
        subjects=("subject_a", "subject_b"),
        attributes=SPECS,
        group_by=["group"],
        chunk_rows=7_000,
    )
    streamed = audit_accumulated(
        sp.accumulator,
        groups=sp.groups,
        group_by=sp.group_by,
        population=sp.population,
        config=config,
        score_kind=sp.score_kind,
    )
    streamed = with_uncertainty(
        streamed,
        config=config,
        accumulator=sp.accumulator,
        degree=sp.degree,
        replicates=replicates,
        seed=seed,
    )
    return exact, streamed


@pytest.mark.parametrize("policy", ["per-group", "global"])
def test_streamed_bootstrap_equals_the_exact_one_where_both_expand_linearly(
    tmp_path: Path, policy: str
) -> None:
    """Views large enough that the exact path also counts a replicate's comparisons by the
    linear expansion (more pairs of subjects than subjects, pairs rarely repeated): the
    same seed gives the same thresholds, rates and intervals, to the last bit. The cells
    of two groups (global policy) are smaller: there the exact path counts each pair of
    subjects, the streamed one expands, and their FMR intervals differ slightly."""
    path = _write(tmp_path / "p.parquet", 40_000, 2_000, seed=1)
    config = AuditConfig(target_fmrs=(1e-3,), policies=(ThresholdPolicy.parse(policy),))
    exact, streamed = _both(path, config, replicates=60, seed=5)
    for a, b in zip(exact.operating_points, streamed.operating_points, strict=True):
        assert dataclasses.replace(a, cross_group=[]) == dataclasses.replace(b, cross_group=[])
        for x, y in zip(a.cross_group, b.cross_group, strict=True):
            assert dataclasses.replace(x, fmr_ci=None) == dataclasses.replace(y, fmr_ci=None)
            assert (x.fmr_ci.ci_low, x.fmr_ci.ci_high) == pytest.approx(
                (y.fmr_ci.ci_low, y.fmr_ci.ci_high), rel=0.05
            )
    for a, b in zip(exact.groups, streamed.groups, strict=True):
        assert a.eer == b.eer and a.n_subjects == b.n_subjects
    some = exact.operating_points[0].groups[0]
    assert some.fnmr_ci.ci_low is not None and some.fnmr_ci.ci_low < some.fnmr_ci.ci_high


def test_degrees_and_subject_counts_by_hand(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.parquet", 3_000, 40, seed=2)
    cs = read_pairs(
        path,
        score="score",
        score_kind=ScoreKind.SIMILARITY,
        subjects=("subject_a", "subject_b"),
        attributes=SPECS,
    )
    sp = accumulate_pairs(
        path,
        score="score",
        score_kind=ScoreKind.SIMILARITY,
        subjects=("subject_a", "subject_b"),
        attributes=SPECS,
        group_by=["group"],
        chunk_rows=700,
    )
    assert sp.degree is not None
    lut = sp.accumulator.lut
    expected = np.zeros_like(sp.degree)
    groups = cs.attributes["group"]
    for (a, b), (ga, gb), mated in zip(cs.subject, groups, cs.mated, strict=True):
        if not mated:
            expected[a, lut[ga, gb]] += 1
            expected[b, lut[ga, gb]] += 1
    np.testing.assert_array_equal(sp.degree, expected)
    for g in range(len(GROUPS)):
        members = set(cs.subject[groups[:, 0] == g, 0]) | set(cs.subject[groups[:, 1] == g, 1])
        assert sp.population.n_subjects[g] == len(members)
    assert sp.population.n_subjects_total == len(cs.subject_ids)
    # The subjects kept with the exact scores are the exact reader's codes.
    acc = sp.accumulator
    acc.finalize()
    m_scores, _ = acc.mated()
    order = np.argsort(cs.score[cs.mated], kind="stable")
    held = np.sort(m_scores)
    np.testing.assert_array_equal(held, cs.score[cs.mated][order])
    by_score = dict(zip(cs.score[cs.mated].tolist(), cs.subject[cs.mated, 0].tolist(), strict=True))
    assert [by_score[s] for s in m_scores.tolist()] == acc.mated_subjects().tolist()


def test_engine_auto_streams_large_tables_without_samples(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.parquet", 500, 10, seed=3)
    source = PairsInput(
        path=path,
        score="score",
        score_kind=ScoreKind.SIMILARITY,
        subjects=("subject_a", "subject_b"),
        stream=None,
        auto_rows=499,
    )
    assert streams(source)
    assert not streams(dataclasses.replace(source, auto_rows=500))
    assert not streams(dataclasses.replace(source, samples=("subject_a", "subject_b")))
    assert streams(dataclasses.replace(source, stream=True, auto_rows=10**9))
    assert not streams(dataclasses.replace(source, stream=False, auto_rows=0))
    csv = tmp_path / "p.csv"
    csv.write_text("score,a,b\n" + "0.5,x,y\n" * 100)  # 800 bytes: 20 rows at 40 bytes a row
    sized = dataclasses.replace(source, path=csv, auto_rows=19)
    assert streams(sized) and not streams(dataclasses.replace(sized, auto_rows=20))
    assert not streams(dataclasses.replace(source, path=tmp_path / "missing.parquet"))
