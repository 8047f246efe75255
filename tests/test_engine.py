"""The streaming engine: same results as the exact pair-list audit, on any backend, resumable.

The embeddings here have 16 entries of +-1 among 64 (norm 4, a power of two), so every
cosine is a multiple of 1/16, computed exactly in float32 and float64 in any order of
summation: both engines then see bit-identical scores (and many ties).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from faceparity import AuditConfig, FMRScope, MatedGroupRule, ThresholdPolicy, audit
from faceparity.accumulate import Accumulator
from faceparity.model.comparisons import MISSING
from faceparity.readers.embeddings import EmbeddingTable, compare_all
from faceparity.scoring.engine import (
    MSG_BAD_BACKEND,
    MSG_BAD_DEVICE,
    MSG_CPU_BACKEND,
    MSG_NO_CUDA,
    MSG_NO_SUCH_GPU,
    MSG_NO_TORCH,
    EngineConfig,
    stream_embeddings,
)
from faceparity.verification.stream import audit_embeddings_streaming, stream_embeddings_audit

POLICIES = tuple(ThresholdPolicy.parse(p) for p in ("global", "per-group", "reference:sex=M,eth=A"))


def _table(
    n_subjects: int = 120, per_subject: int = 4, seed: int = 0, singles: int = 5
) -> EmbeddingTable:
    rng = np.random.default_rng(seed)
    d = 64
    base = np.zeros((n_subjects, d), dtype=np.float32)
    for row in base:
        row[rng.choice(d, 16, replace=False)] = rng.choice([-1.0, 1.0], 16)
    rows, subject = [], []
    for s in range(n_subjects):
        count = 1 if s < singles else per_subject
        for _ in range(count):
            v = base[s].copy()
            on, off = np.flatnonzero(v), np.flatnonzero(v == 0)
            moved = rng.choice(on, 3, replace=False)
            v[rng.choice(off, 3, replace=False)] = rng.choice([-1.0, 1.0], 3)
            v[moved] = 0.0
            rows.append(v)
            subject.append(s)
    subject_arr = np.asarray(subject, dtype=np.int64)
    sex = (subject_arr % 2).astype(np.int32)
    eth = (subject_arr % 3).astype(np.int32)
    eth[rng.random(len(eth)) < 0.03] = MISSING
    return EmbeddingTable(
        values=np.asarray(rows),
        rows=np.arange(len(rows), dtype=np.int64),
        subject=subject_arr,
        subject_ids=tuple(str(s) for s in range(n_subjects)),
        attributes={"sex": sex, "eth": eth},
        levels={"sex": ("F", "M"), "eth": ("A", "B", "W")},
        exclusions=(),
        source="synthetic",
    )


def _both(table, config, engine):
    exact = audit(compare_all(table), group_by=["sex", "eth"], config=config)
    streamed = audit_embeddings_streaming(
        table, group_by=["sex", "eth"], config=config, engine=engine
    )
    return exact, streamed


@pytest.mark.parametrize(("block_size", "threads"), [(7, 1), (64, 2), (1000, 2)])
@pytest.mark.parametrize("scope", list(FMRScope))
@pytest.mark.parametrize("rule", [MatedGroupRule.EXCLUDE, MatedGroupRule.FIRST])
def test_streaming_equals_exact(block_size, threads, scope, rule) -> None:
    config = AuditConfig(
        target_fmrs=(1e-2, 1e-3), policies=POLICIES, fmr_scope=scope, mated_rule=rule
    )
    engine = EngineConfig(block_size=block_size, threads=threads, capacity=10**7)
    exact, streamed = _both(_table(), config, engine)
    assert streamed.operating_points == exact.operating_points
    assert streamed.groups == exact.groups
    assert streamed.overall.n_mated == exact.overall.n_mated
    assert streamed.overall.n_non_mated == exact.overall.n_non_mated


def test_small_tail_counts_are_exact_at_grid_thresholds() -> None:
    table = _table(seed=1)
    config = AuditConfig(target_fmrs=(0.1, 1e-2), policies=POLICIES)
    exact, streamed = _both(table, config, EngineConfig(block_size=50, threads=2, capacity=30))
    cs = compare_all(table)
    for e_point, s_point in zip(exact.operating_points, streamed.operating_points, strict=True):
        if s_point.overall is not None:
            t = s_point.threshold
            assert s_point.overall.n_false_matches == int((cs.score[~cs.mated] >= t).sum())
            assert s_point.overall.n_false_non_matches == int((cs.score[cs.mated] < t).sum())
            assert abs(t - e_point.threshold) <= 2.0**-15


def test_torch_backend_agrees_with_numpy() -> None:
    pytest.importorskip("torch")
    config = AuditConfig(target_fmrs=(1e-2,), policies=POLICIES)
    table = _table(seed=2)
    a = audit_embeddings_streaming(
        table,
        group_by=["sex", "eth"],
        config=config,
        engine=EngineConfig(block_size=100, capacity=10**7),
    )
    b = audit_embeddings_streaming(
        table,
        group_by=["sex", "eth"],
        config=config,
        engine=EngineConfig(block_size=100, capacity=10**7, backend="torch", device="cpu"),
    )
    assert a.operating_points == b.operating_points


@pytest.mark.parametrize(("block_size", "threads"), [(7, 1), (50, 2), (1000, 1)])
def test_histograms_and_mated_scores_equal_the_pair_list(block_size, threads) -> None:
    """Per-cell histograms bin by bin (not only what thresholds read), and mated scores."""
    table = _table(seed=5)
    groups = table.attributes["sex"].astype(np.int64)
    groups[::17] = 2  # some samples without a group
    acc = stream_embeddings(
        table.values,
        table.subject,
        groups,
        n_groups=2,
        config=EngineConfig(block_size=block_size, threads=threads, capacity=40),
    )
    acc.finalize()
    cs = compare_all(table)
    a, b = groups[cs.sample[:, 0]], groups[cs.sample[:, 1]]
    expected = np.zeros_like(acc.histogram)
    non = ~cs.mated
    np.add.at(expected, (acc.lut[a[non], b[non]], acc.grid.bin_of(cs.score[non])), 1)
    np.testing.assert_array_equal(acc.histogram, expected)
    mated_scores, mated_pairs = acc.mated()
    assert sorted(mated_scores.tolist()) == sorted(cs.score[cs.mated].tolist())
    tail, cells = acc.tail()
    in_tail = non & (acc.grid.bin_of(cs.score) >= acc.tail_bin)
    assert sorted(tail.tolist()) == sorted(cs.score[in_tail].tolist())
    assert sorted(cells.tolist()) == sorted(acc.lut[a[in_tail], b[in_tail]].tolist())
    # The subjects of every exact score, for the bootstrap.
    pairs = np.sort(acc.tail_subjects(), axis=1)
    expected_pairs = np.sort(cs.subject[in_tail], axis=1)
    got = sorted(zip(tail.tolist(), map(tuple, pairs.tolist()), strict=True))
    expected = zip(cs.score[in_tail].tolist(), map(tuple, expected_pairs.tolist()), strict=True)
    assert got == sorted(expected)
    got_mated = sorted(zip(mated_scores.tolist(), acc.mated_subjects().tolist(), strict=True))
    expected_mated = zip(cs.score[cs.mated].tolist(), cs.subject[cs.mated, 0].tolist(), strict=True)
    assert got_mated == sorted(expected_mated)


def test_accumulator_size_does_not_grow_with_n() -> None:
    sizes = []
    for n_subjects in (60, 240):
        table = _table(n_subjects=n_subjects, seed=3)
        groups = table.attributes["sex"].astype(np.int64)
        acc = stream_embeddings(
            table.values,
            table.subject,
            groups,
            n_groups=2,
            config=EngineConfig(block_size=64, threads=1, capacity=200),
        )
        acc.finalize()
        sizes.append((acc.histogram.shape, len(acc.tail()[0]) <= 200))
    assert sizes[0] == sizes[1] == (sizes[0][0], True)


def test_interrupted_run_resumes_to_identical_results(tmp_path: Path) -> None:
    table = _table(seed=4)
    groups = table.attributes["sex"].astype(np.int64)
    engine = EngineConfig(
        block_size=40, threads=2, capacity=500, checkpoint=tmp_path / "ck", checkpoint_every=0.0
    )
    calls = []

    def stop_midway(done: int, total: int) -> None:
        calls.append(done)
        if done >= total // 2:  # progress comes block by block; chunks are saved before
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stream_embeddings(
            table.values, table.subject, groups, n_groups=2, config=engine, progress=stop_midway
        )
    state = json.loads((tmp_path / "ck" / "state.json").read_text())
    assert 0 < state["chunks_done"]
    resumed = stream_embeddings(table.values, table.subject, groups, n_groups=2, config=engine)
    fresh = stream_embeddings(
        table.values,
        table.subject,
        groups,
        n_groups=2,
        config=EngineConfig(block_size=40, threads=2, capacity=500),
    )
    _assert_same(resumed, fresh)


def _assert_same(a: Accumulator, b: Accumulator) -> None:
    a.finalize()
    b.finalize()
    np.testing.assert_array_equal(a.histogram, b.histogram)
    assert a.tail_bin == b.tail_bin
    for x, y in ((a.tail(), b.tail()), (a.mated(), b.mated())):
        ox, oy = np.lexsort((x[1], x[0])), np.lexsort((y[1], y[0]))
        np.testing.assert_array_equal(x[0][ox], y[0][oy])
        np.testing.assert_array_equal(x[1][ox], y[1][oy])


def test_killed_process_resumes_to_identical_results(tmp_path: Path) -> None:
    table = _table(n_subjects=400, seed=5)
    np.save(tmp_path / "values.npy", table.values)
    np.save(tmp_path / "subject.npy", table.subject)
    script = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        from faceparity.scoring.engine import EngineConfig, stream_embeddings
        x = np.load({str(tmp_path / "values.npy")!r})
        s = np.load({str(tmp_path / "subject.npy")!r})
        slow = len(sys.argv) > 1
        def progress(done, total):
            if slow:
                time.sleep(0.2)
        acc = stream_embeddings(x, s, s % 2, n_groups=2, progress=progress,
            config=EngineConfig(block_size=60, threads=2, capacity=2000,
                                checkpoint={str(tmp_path / "ck")!r}, checkpoint_every=0.0))
        acc.save({str(tmp_path / "out.npz")!r})
    """)
    path = tmp_path / "run.py"
    path.write_text(script)
    proc = subprocess.Popen([sys.executable, str(path), "slow"])
    state = tmp_path / "ck" / "state.json"
    deadline = time.monotonic() + 60
    while not state.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "out.npz").exists()
    done_before = json.loads(state.read_text())["chunks_done"]
    subprocess.run([sys.executable, str(path)], check=True)
    resumed = Accumulator.load(tmp_path / "out.npz")
    fresh = stream_embeddings(
        table.values,
        table.subject,
        table.subject % 2,
        n_groups=2,
        config=EngineConfig(block_size=60, threads=2, capacity=2000),
    )
    assert done_before > 0
    _assert_same(resumed, fresh)


def test_checkpoint_of_another_input_is_refused(tmp_path: Path) -> None:
    from faceparity import UsageError

    table = _table(seed=6)
    engine = EngineConfig(block_size=80, checkpoint=tmp_path, checkpoint_every=0.0)
    stream_embeddings(table.values, table.subject, table.subject % 2, n_groups=2, config=engine)
    with pytest.raises(UsageError, match="belongs to another input"):
        stream_embeddings(
            table.values[::-1].copy(), table.subject, table.subject % 2, n_groups=2, config=engine
        )


@pytest.mark.parametrize("threads", [1, 2])
def test_progress_is_reported_after_every_block_on_the_calling_thread(threads) -> None:
    import threading

    table = _table(seed=3)
    n = len(table.subject)
    calls: list[tuple[int, int, int]] = []
    stream_embeddings(
        table.values,
        table.subject,
        table.attributes["sex"].astype(np.int64),
        n_groups=2,
        config=EngineConfig(block_size=50, threads=threads),
        progress=lambda done, total: calls.append((done, total, threading.get_ident())),
    )
    starts = range(0, n, 50)
    n_blocks = sum(1 for i in starts for j in starts if j >= i)
    assert len(calls) == n_blocks + 1  # the start, then each block
    done = [c[0] for c in calls]
    assert done[0] == 0 and done[-1] == n * (n - 1) // 2
    assert all(a < b for a, b in zip(done[:-1], done[1:], strict=True))
    assert {c[1] for c in calls} == {n * (n - 1) // 2}
    assert {c[2] for c in calls} == {threading.get_ident()}


def test_cli_streaming_matches_exact_and_shows_progress(tmp_path: Path) -> None:
    import pandas as pd
    from click.testing import CliRunner

    from faceparity import cli

    table = _table(seed=7)
    np.save(tmp_path / "emb.npy", table.values)
    sex = np.array(["F", "M"])[table.attributes["sex"]]
    pd.DataFrame(
        {"sample": [f"s{i}" for i in range(len(sex))], "subject": table.subject, "sex": sex}
    ).to_csv(tmp_path / "meta.csv", index=False)
    args = [
        "audit",
        "embeddings",
        str(tmp_path / "emb.npy"),
        "--metadata",
        str(tmp_path / "meta.csv"),
        "--sample-id",
        "sample",
        "--subject",
        "subject",
        "--attribute",
        "sex=sex",
        "--group-by",
        "sex",
        "--fmr",
        "1e-2,1e-3",
        "--json",
        "--intervals",
        "clopper-pearson",  # the subject bootstrap needs the exact comparisons
    ]
    runner = CliRunner()
    exact = runner.invoke(cli.main, [*args, "--engine", "exact"], catch_exceptions=False)
    streamed = runner.invoke(
        cli.main,
        [*args, "--engine", "stream", "--block-size", "64", "--threads", "2"],
        catch_exceptions=False,
    )
    assert exact.exit_code == 0 and streamed.exit_code == 0, streamed.stderr
    a, b = json.loads(exact.stdout), json.loads(streamed.stdout)
    assert a["operating_points"] == b["operating_points"]
    assert "comparisons" in streamed.stderr and "streaming" in streamed.stderr
    assert any("streaming engine" in note for note in b["input"]["notes"])


def test_streaming_bootstrap_equals_the_exact_bootstrap() -> None:
    """Per-subject sufficient statistics (tail and mated subjects, samples per subject and
    group) give the same replicates as reweighting the explicit list of comparisons."""
    from faceparity.uncertainty.apply import with_uncertainty

    table = _table(seed=6)
    config = AuditConfig(target_fmrs=(1e-2, 1e-3), policies=POLICIES)
    cs = compare_all(table)
    exact = with_uncertainty(
        audit(cs, group_by=["sex", "eth"], config=config),
        method="bootstrap",
        comparisons=cs,
        group_by=["sex", "eth"],
        config=config,
        replicates=60,
        seed=2,
    )
    whole = stream_embeddings_audit(
        table,
        group_by=["sex", "eth"],
        config=config,
        engine=EngineConfig(block_size=50, threads=2, capacity=10**7),
    )
    streamed = with_uncertainty(
        whole.result,
        method="bootstrap",
        config=config,
        accumulator=whole.accumulator,
        samples=whole.samples,
        replicates=60,
        seed=2,
    )
    a, b = exact.to_dict()["operating_points"], streamed.to_dict()["operating_points"]
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert streamed.uncertainty == exact.uncertainty


@pytest.mark.parametrize(
    ("targets", "capacity", "policies"),
    [((1e-3, 1e-4), 10**7, POLICIES), ((1e-1, 1e-3), 20_000, POLICIES[:2])],
    ids=["every-score-exact", "a-target-below-the-tail"],
)
def test_streaming_bootstrap_holds_only_the_tail_it_needs(
    monkeypatch: pytest.MonkeyPatch,
    targets: tuple[float, float],
    capacity: int,
    policies: tuple[ThresholdPolicy, ...],
) -> None:
    """Each view keeps the highest scores a replicate can read (``held``; none for a
    target whose threshold lies below the exact tail), not the whole exact tail: the
    intervals are those of views that keep every exact score."""
    from faceparity.uncertainty import views
    from faceparity.uncertainty.apply import with_uncertainty

    rng = np.random.default_rng(3)
    n = 1200
    subject = np.arange(n, dtype=np.int64) // 4
    values = rng.standard_normal((n // 4, 32))[subject] + rng.standard_normal((n, 32))
    table = EmbeddingTable(
        values=(values / np.linalg.norm(values, axis=1, keepdims=True)).astype(np.float32),
        rows=np.arange(n, dtype=np.int64),
        subject=subject,
        subject_ids=tuple(str(s) for s in range(n // 4)),
        attributes={"sex": (subject % 2).astype(np.int32), "eth": (subject % 3).astype(np.int32)},
        levels={"sex": ("F", "M"), "eth": ("A", "B", "W")},
        exclusions=(),
        source="synthetic",
    )
    config = AuditConfig(target_fmrs=targets, policies=policies)
    whole = stream_embeddings_audit(
        table,
        group_by=["sex", "eth"],
        config=config,
        engine=EngineConfig(block_size=256, threads=2, capacity=capacity),
    )

    def intervals() -> tuple[str, int]:
        plan = views.StreamViews.of(whole.accumulator, whole.samples, config, whole.result)
        result = with_uncertainty(
            whole.result,
            method="bootstrap",
            config=config,
            accumulator=whole.accumulator,
            samples=whole.samples,
            replicates=40,
            seed=5,
        )
        return json.dumps(result.to_dict()["operating_points"]), plan.overall_non_mated.scores.size

    trimmed, held = intervals()
    monkeypatch.setattr(views, "held", lambda *args: 10**9)
    everything, tail = intervals()
    non_mated = n * (n - 1) // 2 - 3 * n // 2
    assert tail == non_mated if capacity > non_mated else capacity // 2 < tail <= capacity
    assert held < tail // 2
    assert trimmed == everything


@pytest.mark.parametrize(
    ("backend", "device", "message"),
    [
        ("numpy", "cuda", MSG_CPU_BACKEND.format(device="cuda", backend="numpy")),
        ("numpy", "banana", MSG_CPU_BACKEND.format(device="banana", backend="numpy")),
        ("torch", "banana", MSG_BAD_DEVICE.format(device="banana")),
        ("torch", "cpu:x", MSG_BAD_DEVICE.format(device="cpu:x")),
        ("torch", "cuda:-1", MSG_BAD_DEVICE.format(device="cuda:-1")),
        ("torch", "", MSG_BAD_DEVICE.format(device="")),
        ("numba", "cpu", MSG_BAD_BACKEND.format(backend="numba")),
    ],
)
def test_a_device_the_backend_cannot_use_is_refused_by_the_config(
    backend: str, device: str, message: str
) -> None:
    from faceparity import UsageError

    with pytest.raises(UsageError) as err:
        EngineConfig(backend=backend, device=device)
    assert str(err.value) == message


def test_cuda_is_refused_where_torch_cannot_use_it(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from faceparity import UsageError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)
    with pytest.raises(UsageError) as err:
        EngineConfig(backend="torch", device="cuda")
    why = "it was built for the CPU only"
    assert str(err.value) == MSG_NO_CUDA.format(device="cuda", why=why)
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    with pytest.raises(UsageError) as err:
        EngineConfig(backend="torch", device="cuda:1")
    why = "it finds no CUDA driver or device"
    assert str(err.value) == MSG_NO_CUDA.format(device="cuda:1", why=why)


def test_a_cuda_device_number_torch_does_not_see_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch = pytest.importorskip("torch")
    from faceparity import UsageError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for device in ("cuda", "cuda:0", "cuda:1"):
        assert EngineConfig(backend="torch", device=device).device == device
    with pytest.raises(UsageError) as err:
        EngineConfig(backend="torch", device="cuda:99")
    expected = MSG_NO_SUCH_GPU.format(device="cuda:99", last=1, count=2, index=99)
    assert str(err.value) == expected


def test_the_torch_backend_without_torch_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from faceparity import UsageError

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    with pytest.raises(UsageError) as err:
        EngineConfig(backend="torch")
    assert str(err.value) == MSG_NO_TORCH
    assert EngineConfig(backend="numpy").device == "cpu"  # numpy needs no torch


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--backend", "torch", "--device", "banana"], MSG_BAD_DEVICE.format(device="banana")),
        (["--backend", "torch", "--device", "cpu:x"], MSG_BAD_DEVICE.format(device="cpu:x")),
        (["--device", "cuda"], MSG_CPU_BACKEND.format(device="cuda", backend="numpy")),
        (
            ["--engine", "exact", "--device", "cuda:1"],
            MSG_CPU_BACKEND.format(device="cuda:1", backend="numpy"),
        ),
    ],
)
def test_cli_checks_the_device_before_reading_any_input(
    tmp_path: Path, options: list[str], message: str
) -> None:
    from click.testing import CliRunner

    from faceparity import cli

    (tmp_path / "emb.npz").write_bytes(b"not an archive")  # an error, were it read
    (tmp_path / "meta.csv").write_text("sample,subject,sex\n")
    args = ["audit", "embeddings", str(tmp_path / "emb.npz"), "--metadata"]
    args += [str(tmp_path / "meta.csv"), "--sample-id", "sample", "--subject", "subject"]
    args += ["--attribute", "sex=sex", "--group-by", "sex", "--no-report", *options]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == f"error: {message}"


def test_cli_without_torch_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from faceparity import cli

    monkeypatch.setitem(sys.modules, "torch", None)
    (tmp_path / "emb.npy").write_bytes(b"")
    (tmp_path / "meta.csv").write_text("sample,subject,sex\n")
    args = ["audit", "embeddings", str(tmp_path / "emb.npy"), "--metadata"]
    args += [str(tmp_path / "meta.csv"), "--sample-id", "sample", "--subject", "subject"]
    args += ["--attribute", "sex=sex", "--group-by", "sex", "--backend", "torch"]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == f"error: {MSG_NO_TORCH}"


@pytest.mark.parametrize(
    ("file", "damage", "error"),
    [
        ("state.json", '{"fingerprint": ', "Expecting value"),
        ("state.json", "[1]", "expected a JSON object, got list"),
        ("state.json", None, "expected chunks_done, a count, got None"),
        ("state.json", b"\xff\xfe{", "can't decode byte"),
        ("accumulator.npz", 100, "not a complete NumPy archive"),
        ("accumulator.npz", b"", "not a complete NumPy archive"),
    ],
)
def test_a_damaged_checkpoint_is_a_usage_error_naming_the_file(
    tmp_path: Path, file: str, damage: object, error: str
) -> None:
    from faceparity import UsageError
    from faceparity.scoring.engine import MSG_CHECKPOINT_UNREADABLE

    table = _table(seed=6)
    engine = EngineConfig(block_size=80, checkpoint=tmp_path, checkpoint_every=0.0)
    stream_embeddings(table.values, table.subject, table.subject % 2, n_groups=2, config=engine)
    path = tmp_path / file
    if damage is None:  # a state without its count of chunks done
        state = json.loads(path.read_text())
        del state["chunks_done"]
        path.write_text(json.dumps(state))
    elif isinstance(damage, int):  # the file cut short
        path.write_bytes(path.read_bytes()[:damage])
    elif isinstance(damage, bytes):
        path.write_bytes(damage)
    else:
        path.write_text(str(damage))
    with pytest.raises(UsageError) as err:
        stream_embeddings(table.values, table.subject, table.subject % 2, n_groups=2, config=engine)
    prefix, _, suffix = MSG_CHECKPOINT_UNREADABLE.partition("{error}")
    message = str(err.value)
    assert message.startswith(prefix.format(file=path)) and message.endswith(suffix)
    assert error in message


@pytest.mark.parametrize("threads", [1, 2])
def test_ready_is_waited_for_before_any_score_is_counted(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The products may start before ``ready`` returns; no block is counted before it."""
    import threading

    from faceparity.accumulate import kernels

    table = _table(seed=6)
    groups = table.attributes["sex"].astype(np.int64)
    config = EngineConfig(block_size=50, threads=threads, capacity=300)
    opened, counted_early, products = threading.Event(), [], []
    real_count = kernels.count_block

    def count(*args: object) -> int:
        if not opened.is_set():
            counted_early.append(args)
        return int(real_count(*args))  # type: ignore[arg-type]

    def ready() -> None:
        products.append(threading.current_thread().name)
        opened.wait(5)

    monkeypatch.setattr(kernels, "count_block", count)
    timer = threading.Timer(0.2, opened.set)
    timer.start()
    waited = stream_embeddings(
        table.values, table.subject, groups, n_groups=2, config=config, ready=ready
    )
    timer.join()
    assert products and not counted_early
    plain = stream_embeddings(table.values, table.subject, groups, n_groups=2, config=config)
    _assert_same(waited, plain)


def test_the_warm_up_compiles_the_signatures_the_engine_and_bootstrap_call() -> None:
    """After ``warm``, a streamed audit with its bootstrap compiles nothing more."""
    from faceparity.accumulate import _loops
    from faceparity.accumulate import kernels as engine_kernels
    from faceparity.uncertainty import kernels as bootstrap_kernels
    from faceparity.uncertainty.apply import with_uncertainty

    engine_kernels.warm()
    bootstrap_kernels.warm()
    loops = [
        _loops.count_block,
        _loops.collect_block,
        _loops.tail_edge,
        bootstrap_kernels.cumulative,
        bootstrap_kernels.linear_total,
        bootstrap_kernels.poisson_inverse,
        bootstrap_kernels.eer,
    ]
    before = [set(loop.signatures) for loop in loops]
    assert all(before)
    table = _table(seed=7)
    config = AuditConfig(target_fmrs=(1e-2,), policies=POLICIES[:1])
    streamed = stream_embeddings_audit(
        table,
        group_by=["sex"],
        config=config,
        engine=EngineConfig(block_size=60, threads=2, capacity=50),
    )
    with_uncertainty(
        streamed.result,
        method="bootstrap",
        config=config,
        accumulator=streamed.accumulator,
        samples=streamed.samples,
        replicates=20,
    )
    assert [set(loop.signatures) for loop in loops] == before
