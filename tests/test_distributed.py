"""The Dask backend: the same accumulator as the in-process engine, on a local cluster.

The embeddings are those of test_engine (cosines exact multiples of 1/16), so both
engines see bit-identical scores; after finalize, histograms, tail edge, tail and
mated scores (sorted) must be equal.
"""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest

from faceparity.accumulate import Accumulator
from faceparity.errors import UsageError
from faceparity.model.comparisons import MISSING
from faceparity.scoring.distributed import (
    DASK_BACKEND,
    DASK_CHECKPOINT,
    DASK_CONNECT,
    DASK_MISSING,
    _chunks,
    stream_embeddings_dask,
)
from faceparity.scoring.engine import EngineConfig, stream_embeddings
from test_engine import _table


def _inputs(seed: int = 0):
    table = _table(seed=seed)
    sex, eth = table.attributes["sex"], table.attributes["eth"]
    # Six groups (sex x ethnicity); a missing ethnicity is the missing group, 6.
    groups = np.where(eth == MISSING, 6, sex * 3 + eth).astype(np.int64)
    return table.values, table.subject, groups, 6


def _assert_same(a: Accumulator, b: Accumulator) -> None:
    a.finalize()
    b.finalize()
    np.testing.assert_array_equal(a.histogram, b.histogram)
    assert a.tail_bin == b.tail_bin
    for (sa, ca), (sb, cb) in ((a.tail(), b.tail()), (a.mated(), b.mated())):
        order_a, order_b = np.lexsort((ca, sa)), np.lexsort((cb, sb))
        np.testing.assert_array_equal(sa[order_a], sb[order_b])
        np.testing.assert_array_equal(ca[order_a], cb[order_b])


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as local:
        yield local


@pytest.fixture(scope="module")
def client(cluster):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(cluster, set_as_default=False) as connected:
        yield connected


@pytest.mark.parametrize("block_size", [32, 200])
@pytest.mark.parametrize("capacity", [30, 10**7])
def test_dask_equals_in_process_engine(client, block_size: int, capacity: int) -> None:
    x, subjects, groups, n_groups = _inputs()
    config = EngineConfig(block_size=block_size, threads=2, capacity=capacity)
    calls: list[tuple[int, int]] = []
    got = stream_embeddings_dask(
        x,
        subjects,
        groups,
        n_groups=n_groups,
        config=config,
        scheduler=client,
        progress=lambda done, total: calls.append((done, total)),
    )
    expected = stream_embeddings(x, subjects, groups, n_groups=n_groups, config=config)
    _assert_same(got, expected)
    assert (expected.tail_bin > 0) == (capacity == 30)  # a small capacity raises the edge
    n = len(subjects)
    assert calls[0] == (0, n * (n - 1) // 2)
    assert calls[-1] == (n * (n - 1) // 2, n * (n - 1) // 2)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_scheduler_address_on_worker_processes() -> None:
    """Workers in other processes: the layout and the accumulators cross by pickle."""
    distributed = pytest.importorskip("distributed")
    x, subjects, groups, n_groups = _inputs(seed=1)
    config = EngineConfig(block_size=64, capacity=200)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as local:
        got = stream_embeddings_dask(
            x, subjects, groups, n_groups=n_groups, config=config, scheduler=local.scheduler_address
        )
    _assert_same(got, stream_embeddings(x, subjects, groups, n_groups=n_groups, config=config))


def test_accumulator_survives_pickle() -> None:
    x, subjects, groups, n_groups = _inputs(seed=2)
    acc = stream_embeddings(
        x, subjects, groups, n_groups=n_groups, config=EngineConfig(block_size=40, capacity=50)
    )
    _assert_same(pickle.loads(pickle.dumps(acc)), acc)


def test_chunks_cover_every_pair_once() -> None:
    pairs = [(i, j) for i in range(9) for j in range(i, 9)]
    for n_tasks in (1, 4, 7, 45, 100):
        chunks = _chunks(pairs, n_tasks)
        assert len(chunks) <= n_tasks
        assert [p for chunk in chunks for p in chunk] == pairs


def test_missing_dask_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    x, subjects, groups, n_groups = _inputs()
    with pytest.raises(UsageError) as info:
        stream_embeddings_dask(x, subjects, groups, n_groups=n_groups, scheduler="tcp://nowhere")
    assert str(info.value) == DASK_MISSING


def test_torch_and_checkpoints_are_refused(client, tmp_path) -> None:
    x, subjects, groups, n_groups = _inputs()
    with pytest.raises(UsageError) as info:
        stream_embeddings_dask(
            x,
            subjects,
            groups,
            n_groups=n_groups,
            config=EngineConfig(backend="torch"),
            scheduler=client,
        )
    assert str(info.value) == DASK_BACKEND.format(backend="torch")
    with pytest.raises(UsageError) as info:
        stream_embeddings_dask(
            x,
            subjects,
            groups,
            n_groups=n_groups,
            config=EngineConfig(checkpoint=tmp_path),
            scheduler=client,
        )
    assert str(info.value) == DASK_CHECKPOINT.format(path=tmp_path)


@pytest.mark.parametrize(
    "address", ["nowhere", "foo://host:1", "tcp://host:port", "tcp://127.0.0.1:9"]
)
def test_unreachable_scheduler_is_a_usage_error(address: str) -> None:
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    x, subjects, groups, n_groups = _inputs()
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(UsageError, match="cannot connect to the Dask scheduler at") as info:
            stream_embeddings_dask(x, subjects, groups, n_groups=n_groups, scheduler=address)
    assert str(info.value).startswith(DASK_CONNECT.format(address=address, error=""))


def test_cli_scheduler_option_gives_the_in_process_result(cluster, tmp_path) -> None:
    import json

    import pandas as pd
    from click.testing import CliRunner

    from faceparity import cli

    table = _table(seed=8)
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
        "1e-2",
        "--json",
        "--block-size",
        "100",
    ]
    runner = CliRunner()
    local = runner.invoke(cli.main, [*args, "--engine", "stream"], catch_exceptions=False)
    remote = runner.invoke(
        cli.main, [*args, "--scheduler", cluster.scheduler_address], catch_exceptions=False
    )
    assert local.exit_code == 0 and remote.exit_code == 0, remote.stderr
    assert (
        json.loads(local.stdout)["operating_points"]
        == json.loads(remote.stdout)["operating_points"]
    )
    refused = runner.invoke(cli.main, [*args, "--engine", "exact", "--scheduler", "tcp://x:1"])
    assert refused.exit_code == 2 and "--scheduler" in refused.stderr
