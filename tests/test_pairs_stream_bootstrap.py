"""The subject bootstrap of a streamed pair table, against the exact path on the same file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from faceparity.errors import InputError, Location
from faceparity.model.config import AuditConfig, ScoreKind, ThresholdPolicy
from faceparity.readers import pairs_stream
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.pairs import read_pairs
from faceparity.readers.pairs_stream import accumulate_pairs
from faceparity.readers.subject_ids import WholeIds
from faceparity.results.audit import AuditResult
from faceparity.uncertainty.apply import with_uncertainty
from faceparity.verification.audit import audit, audit_accumulated
from faceparity.workflow.audit import streams
from faceparity.workflow.request import PairsInput

GROUPS = ("A", "B", "C", "D")
SPECS = [AttributeSpec("group", ("group_a", "group_b"))]
STREAMED = {
    "score": "score",
    "score_kind": ScoreKind.SIMILARITY,
    "subjects": ("subject_a", "subject_b"),
    "attributes": SPECS,
    "group_by": ["group"],
}


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


ID_LAYOUTS = {
    # Each maps (k, g) of ``_write`` to a whole-number id; each takes another lookup.
    "dense": lambda k, g: k * len(GROUPS) + g,
    "negative": lambda k, g: (k * len(GROUPS) + g) * (-1) ** k,
    "sparse": lambda k, g: (k * len(GROUPS) + g) * 10**12 + 7,
    "beyond the flags": lambda k, g: (1 << 26) - 50 + k * len(GROUPS) + g,
}


def _whole_and_text(path: Path, layout: str) -> tuple[Path, Path]:
    """The table of ``path`` with whole-number ids, stored as integers and as their text."""
    table = pq.read_table(path)
    to_id = np.vectorize(ID_LAYOUTS[layout], otypes=[np.int64])
    sides = {}
    for side in ("subject_a", "subject_b"):
        k, g = np.char.partition(table.column(side).to_numpy().astype(str), "-")[:, ::2].T
        sides[side] = to_id(np.char.lstrip(k, "s").astype(np.int64), g.astype(np.int64))
    whole, text = path.with_name("whole.parquet"), path.with_name("text.parquet")
    for target, convert in ((whole, lambda v: v), (text, lambda v: v.astype(str))):
        columns = {n: convert(v) for n, v in sides.items()}
        pq.write_table(
            table.drop(list(sides))
            .append_column("subject_a", pa.array(columns["subject_a"]))
            .append_column("subject_b", pa.array(columns["subject_b"])),
            target,
            row_group_size=700,
        )
    return whole, text


@pytest.mark.parametrize("layout", list(ID_LAYOUTS))
def test_subjects_kept_from_pass_one_equal_reading_them_again(
    tmp_path: Path, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pass 2 takes the subjects pass 1 kept (it does not read the id columns again); past
    the budget it reads them again, with the same accumulator, degrees and members: for
    integer ids of every layout (kept as int32 where they fit, else int64) and text ids."""
    whole, text = _whole_and_text(_write(tmp_path / "p.parquet", 3_000, 40, seed=5), layout)
    columns: list[list[str]] = []
    prepared_chunks = pairs_stream.prepared_chunks

    def spy(path, wanted, prepare, **options):  # type: ignore[no-untyped-def]
        columns.append(list(wanted))
        return prepared_chunks(path, wanted, prepare, **options)

    monkeypatch.setattr(pairs_stream, "prepared_chunks", spy)
    options = dict(
        score="score",
        score_kind=ScoreKind.DISTANCE,
        subjects=("subject_a", "subject_b"),
        attributes=SPECS,
        group_by=["group"],
        chunk_rows=700,
    )
    for path in (whole, text):
        monkeypatch.setattr(pairs_stream, "KEEP_SUBJECTS_BYTES", 1 << 30)
        kept = accumulate_pairs(path, **options)  # type: ignore[arg-type]
        assert columns[-1] == ["score", "group_a", "group_b"]
        monkeypatch.setattr(pairs_stream, "KEEP_SUBJECTS_BYTES", 1_000)  # the first chunk's
        again = accumulate_pairs(path, **options)  # type: ignore[arg-type]
        assert columns[-1] == ["score", "group_a", "group_b", "subject_a", "subject_b"]
        assert kept.degree is not None and again.degree is not None
        np.testing.assert_array_equal(kept.degree, again.degree)
        assert kept.population == again.population and kept.groups == again.groups
        a, b = kept.accumulator, again.accumulator
        for acc in (a, b):
            acc.finalize()
        np.testing.assert_array_equal(a.histogram, b.histogram)
        for x, y in zip((*a.tail(), *a.mated()), (*b.tail(), *b.mated()), strict=True):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a.tail_subjects(), b.tail_subjects())
        np.testing.assert_array_equal(a.mated_subjects(), b.mated_subjects())


def _changed_between_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, rows: int, layout: str
) -> InputError:
    """The error of streaming a table (3,000 rows) that is replaced, between the passes, by
    one of ``rows`` rows and other subjects (ids of ``layout``)."""
    whole, text = _whole_and_text(_write(tmp_path / "p.parquet", 3_000, 40, seed=6), "dense")
    path = whole if kind == "whole" else text
    (tmp_path / "changed").mkdir()
    other = _whole_and_text(_write(tmp_path / "changed" / "p.parquet", rows, 90, seed=7), layout)
    groups = pairs_stream.GroupLevels.groups

    def rewrite(self):  # type: ignore[no-untyped-def]
        path.write_bytes(other[0 if kind == "whole" else 1].read_bytes())
        return groups(self)

    monkeypatch.setattr(pairs_stream.GroupLevels, "groups", rewrite)
    with pytest.raises(InputError, match="changed while it was read") as err:
        accumulate_pairs(path, chunk_rows=1_000, **STREAMED)  # type: ignore[arg-type]
    assert err.value.location.file == str(path)
    return err.value


@pytest.mark.parametrize("kind", ["whole", "text"])
@pytest.mark.parametrize("rows", [2_900, 3_100])
def test_a_table_changed_between_the_passes_is_an_input_error(
    tmp_path: Path, kind: str, rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pass 2 takes the subjects pass 1 kept chunk by chunk: a table with fewer or more rows
    by then is refused with the first row of the first chunk that differs, not read with
    the wrong subjects."""
    error = _changed_between_passes(tmp_path, monkeypatch, kind, rows, "dense")
    assert f"row {2_001 if rows < 3_000 else 3_001}" in error.message


@pytest.mark.parametrize("kind", ["whole", "text"])
def test_ids_changed_between_the_passes_are_an_input_error(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the budget pass 2 reads the ids again: as many rows, but ids pass 1 never saw,
    are an input error naming the chunk's first row (no traceback, no wrong code)."""
    monkeypatch.setattr(pairs_stream, "KEEP_SUBJECTS_BYTES", 0)
    error = _changed_between_passes(tmp_path, monkeypatch, kind, 3_000, "sparse")
    assert "row 1 " in error.message


@pytest.mark.parametrize("ids", [np.array([3, 5, 9]), np.array([3, 5, 10**15])])
def test_codes_of_an_id_never_added_are_refused(ids: np.ndarray) -> None:
    """A lookup by value (ids spanning a small range) or a binary search (a wide one): an id
    between or beyond those added is a ValueError naming it, not a code of another id."""
    known = WholeIds()
    known.add(ids)
    known.close()
    np.testing.assert_array_equal(known.codes(ids[::-1]), [2, 1, 0] if ids[-1] == 9 else [0, 2, 1])
    for absent in (4, 2, int(ids[-1]) + 1):
        with pytest.raises(ValueError, match=f"subject id {absent} was not added"):
            known.codes(np.array([3, absent]))


@pytest.mark.parametrize("layout", list(ID_LAYOUTS))
def test_whole_number_ids_are_read_as_their_text(tmp_path: Path, layout: str) -> None:
    """Integer id columns stay integers (flags by value, a hash, a table or a binary search
    to number them) and give what the same ids written as text give: the subjects numbered
    in the order of their text (``10`` before ``9``), the same degrees, members and audit."""
    whole, text = _whole_and_text(_write(tmp_path / "p.parquet", 3_000, 40, seed=4), layout)
    assert pa.types.is_integer(pq.read_schema(whole).field("subject_a").type)
    options = dict(
        score="score",
        score_kind=ScoreKind.SIMILARITY,
        subjects=("subject_a", "subject_b"),
        attributes=SPECS,
        group_by=["group"],
        chunk_rows=1_000,
    )
    a, b = accumulate_pairs(whole, **options), accumulate_pairs(text, **options)  # type: ignore[arg-type]
    assert a.degree is not None and b.degree is not None
    np.testing.assert_array_equal(a.degree, b.degree)
    assert a.population == b.population and a.groups == b.groups
    for acc in (a.accumulator, b.accumulator):
        acc.finalize()
    np.testing.assert_array_equal(a.accumulator.mated_subjects(), b.accumulator.mated_subjects())
    config = AuditConfig(target_fmrs=(1e-2,))
    results = []
    for sp in (a, b):
        result = audit_accumulated(
            sp.accumulator, groups=sp.groups, group_by=sp.group_by, population=sp.population,
            config=config, score_kind=sp.score_kind,
        )  # fmt: skip
        results.append(
            with_uncertainty(
                result,
                config=config,
                accumulator=sp.accumulator,
                degree=sp.degree,
                replicates=20,
                seed=3,
            )  # fmt: skip
        )
    assert results[0] == results[1]


def test_a_missing_whole_number_id_is_named_by_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    table = pa.table(
        {
            "score": [0.1, 0.2, 0.3],
            "subject_a": pa.array([1, 2, 3], pa.int64()),
            "subject_b": pa.array([4, None, 6], pa.int64()),
            "group_a": ["A", "A", "A"],
            "group_b": ["A", "A", "A"],
        }
    )
    pq.write_table(table, path, row_group_size=1)
    with pytest.raises(InputError) as raised:
        accumulate_pairs(
            path, score="score", score_kind=ScoreKind.SIMILARITY,
            subjects=("subject_a", "subject_b"), attributes=SPECS, group_by=["group"],
            chunk_rows=1,
        )  # fmt: skip
    assert raised.value.location == Location(str(path), 2, "subject_b")
    assert "subject id" in raised.value.message


@pytest.mark.parametrize("stage", ["accumulate", "degrees"])
def test_an_error_in_pass_two_ends_the_reading_threads_before_it_is_raised(
    tmp_path: Path, stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error while pass 2 accumulates a chunk (or counts its degrees on their thread)
    reaches the caller with no thread of the reader left running, while the caller still
    holds the error (its traceback holds the reader's frame)."""
    import threading

    path = _write(tmp_path / "p.parquet", 5_000, 40, seed=8)
    calls = []

    def failing(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("failed on chunk 2")

    if stage == "accumulate":
        original = pairs_stream.Accumulator.add_pairs

        def add_pairs(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            failing()
            return original(self, *args, **kwargs)

        monkeypatch.setattr(pairs_stream.Accumulator, "add_pairs", add_pairs)
    else:
        count = pairs_stream.count_degrees

        def count_degrees(*args, **kwargs):  # type: ignore[no-untyped-def]
            failing()
            return count(*args, **kwargs)

        monkeypatch.setattr(pairs_stream, "count_degrees", count_degrees)
    with pytest.raises(RuntimeError, match="failed on chunk 2") as err:
        accumulate_pairs(path, chunk_rows=1_000, **STREAMED)  # type: ignore[arg-type]
    assert err.value.__traceback__ is not None  # held, with the frames it names
    running = [t.name for t in threading.enumerate() if t.name.startswith("faceparity-")]
    assert running == []
