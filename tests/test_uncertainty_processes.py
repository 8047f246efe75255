"""Replicates shared with a forked process: the same table, the same intervals."""

from __future__ import annotations

import os
import sys

import numpy as np
import numpy.typing as npt
import pytest

from faceparity import AuditConfig, ThresholdPolicy, audit
from faceparity.uncertainty import processes
from faceparity.uncertainty.apply import with_uncertainty
from faceparity.uncertainty.bootstrap import poisson_weights
from faceparity.uncertainty.processes import fill_rows
from test_uncertainty import _comparisons

FORKS = hasattr(os, "fork") and sys.platform.startswith("linux")


def _table(start: int, stop: int, rows: npt.NDArray[np.float64]) -> None:
    """Row ``r``: ``r``, ``r**2`` and the pid of the process that computed it (last column)."""
    r = np.arange(start, stop, dtype=np.float64)
    rows[:, 0], rows[:, 1], rows[:, 2] = r, r * r, os.getpid()


@pytest.fixture
def fork_always(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fork whatever the rows cost, on this machine's cores or not."""
    monkeypatch.setattr(processes, "FORK_MIN_SECONDS", 0.0)
    monkeypatch.setattr(processes, "available_cores", lambda: 2)


@pytest.mark.skipif(not FORKS, reason="forks on Linux only")
@pytest.mark.usefixtures("fork_always")
def test_a_forked_process_computes_the_last_half_of_the_rows_after_the_probe() -> None:
    out = np.full((61, 3), np.nan)
    fill_rows(_table, out)
    np.testing.assert_array_equal(out[:, 0], np.arange(61))
    np.testing.assert_array_equal(out[:, 1], np.arange(61) ** 2)
    pids = out[:, 2]
    middle = processes.PROBE_ROWS + (61 - processes.PROBE_ROWS) // 2
    assert (pids[:middle] == os.getpid()).all()
    assert (pids[middle:] != os.getpid()).all() and np.unique(pids[middle:]).size == 1


def test_cheap_rows_or_one_core_stay_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    out = np.full((200, 3), np.nan)
    fill_rows(_table, out)  # far below FORK_MIN_SECONDS
    assert (out[:, 2] == os.getpid()).all()
    monkeypatch.setattr(processes, "FORK_MIN_SECONDS", 0.0)
    monkeypatch.setattr(processes, "available_cores", lambda: 1)
    out[:] = np.nan
    fill_rows(_table, out)
    assert (out[:, 2] == os.getpid()).all()
    np.testing.assert_array_equal(out[:, 1], np.arange(200) ** 2)


@pytest.mark.skipif(not FORKS, reason="forks on Linux only")
@pytest.mark.usefixtures("fork_always")
def test_rows_a_failing_child_did_not_send_are_computed_here() -> None:
    parent = os.getpid()

    def fill(start: int, stop: int, rows: npt.NDArray[np.float64]) -> None:
        if os.getpid() != parent:
            raise RuntimeError("the child fails")
        _table(start, stop, rows)

    out = np.full((50, 3), np.nan)
    fill_rows(fill, out)
    np.testing.assert_array_equal(out[:, 1], np.arange(50) ** 2)
    assert (out[:, 2] == parent).all()


@pytest.mark.skipif(not FORKS, reason="forks on Linux only")
@pytest.mark.usefixtures("fork_always")
def test_a_warning_in_the_child_is_raised_here_as_in_one_process() -> None:
    """The child turns warnings into failures; this process then computes, and warns."""
    parent = os.getpid()

    def fill(start: int, stop: int, rows: npt.NDArray[np.float64]) -> None:
        if start >= 30:
            import warnings

            warnings.warn(f"row {start}", UserWarning, stacklevel=1)
        _table(start, stop, rows)

    out = np.full((50, 3), np.nan)
    with pytest.warns(UserWarning, match="row 35"):
        fill_rows(fill, out)
    assert (out[:, 2] == parent).all()


def test_weights_from_start_are_the_same_stream_skipped() -> None:
    whole = list(poisson_weights(1_003, 9, seed=5))
    for start in (0, 1, 4, 8):
        part = list(poisson_weights(1_003, 9 - start, seed=5, start=start))
        assert len(part) == 9 - start
        for a, b in zip(whole[start:], part, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not FORKS, reason="forks on Linux only")
def test_bootstrap_intervals_are_identical_with_and_without_the_fork(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cs = _comparisons(seed=4, n_subjects=60)
    config = AuditConfig(
        target_fmrs=(1e-2, 1e-3),
        policies=(ThresholdPolicy.parse("global"), ThresholdPolicy.parse("per-group")),
    )
    result = audit(cs, group_by=["g"], config=config)

    def boot() -> object:
        return with_uncertainty(
            result,
            method="bootstrap",
            comparisons=cs,
            group_by=["g"],
            config=config,
            replicates=120,
            seed=9,
        )

    monkeypatch.setattr(processes, "FORK_MIN_SECONDS", float("inf"))
    alone = boot()
    forks = []
    real_fork = os.fork

    def counted_fork() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(processes, "FORK_MIN_SECONDS", 0.0)
    monkeypatch.setattr(processes, "available_cores", lambda: 2)
    monkeypatch.setattr(os, "fork", counted_fork)
    shared = boot()
    assert len(forks) == 1
    assert shared == alone


@pytest.mark.skipif(not FORKS, reason="forks on Linux only")
@pytest.mark.usefixtures("fork_always")
def test_an_interrupt_here_stops_and_reaps_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    parent, children = os.getpid(), []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            children.append(pid)
        return pid

    def fill(start: int, stop: int, rows: npt.NDArray[np.float64]) -> None:
        if os.getpid() == parent and start >= processes.PROBE_ROWS:
            raise KeyboardInterrupt
        if os.getpid() != parent:
            import time

            time.sleep(60)  # still working when it is stopped
        _table(start, stop, rows)

    monkeypatch.setattr(os, "fork", fork)
    with pytest.raises(KeyboardInterrupt):
        fill_rows(fill, np.full((50, 3), np.nan))
    assert len(children) == 1
    with pytest.raises(ChildProcessError):  # reaped already: no such child
        os.waitpid(children[0], os.WNOHANG)


@pytest.mark.usefixtures("fork_always")
def test_no_fork_while_the_preload_thread_imports() -> None:
    """A fork then could leave the child an import half done; the rows stay here."""
    import threading

    from faceparity.workflow.preload import preload_stages

    release = threading.Event()
    fake = __import__("types").ModuleType("faceparity_fake_slow_import")
    fake.block = lambda: release.wait(10)  # type: ignore[attr-defined]
    sys.modules["faceparity_fake_slow_import"] = fake
    try:
        (wait,) = preload_stages(["faceparity_fake_slow_import:block"])
        out = np.full((60, 3), np.nan)
        fill_rows(_table, out)
        assert (out[:, 2] == os.getpid()).all()
        release.set()
        wait()
    finally:
        release.set()
        del sys.modules["faceparity_fake_slow_import"]


def test_the_preload_thread_is_the_one_the_fork_waits_for() -> None:
    from faceparity.workflow import preload

    assert preload.THREAD_NAME == processes.IMPORT_THREAD


@pytest.mark.skipif(not FORKS, reason="forks on Linux only")
@pytest.mark.usefixtures("fork_always")
def test_a_fork_refused_by_the_system_leaves_every_row_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refuse)
    out = np.full((50, 3), np.nan)
    fill_rows(_table, out)
    np.testing.assert_array_equal(out[:, 1], np.arange(50) ** 2)
    assert (out[:, 2] == os.getpid()).all()


@pytest.mark.skipif(not FORKS, reason="forks on Linux only")
@pytest.mark.usefixtures("fork_always")
def test_a_child_that_hangs_is_stopped_and_its_rows_computed_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    parent = os.getpid()
    monkeypatch.setattr(processes, "WAIT_SECONDS", 0.5)
    monkeypatch.setattr(processes, "WAIT_FACTOR", 0.0)

    def fill(start: int, stop: int, rows: npt.NDArray[np.float64]) -> None:
        if os.getpid() != parent:
            time.sleep(60)
        _table(start, stop, rows)

    out = np.full((50, 3), np.nan)
    began = time.perf_counter()
    fill_rows(fill, out)
    assert time.perf_counter() - began < 20
    np.testing.assert_array_equal(out[:, 1], np.arange(50) ** 2)
    assert (out[:, 2] == parent).all()
