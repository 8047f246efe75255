"""run_audit: the steps of an audit from a request, what it says, writes and exits with."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest

from faceparity.errors import UsageError
from faceparity.model.config import AuditConfig, ScoreKind, ThresholdPolicy
from faceparity.readers.attributes import AttributeSpec
from faceparity.review.check import read_limits
from faceparity.workflow import (
    AuditRequest,
    HistogramInput,
    IntervalMethod,
    IntervalSettings,
    OutputFormat,
    PairsInput,
    run_audit,
)
from faceparity.workflow.audit import MSG_NO_SUBJECTS

GOLDEN = Path(__file__).parent / "golden"
PAIRS = PairsInput(
    path=GOLDEN / "pairs.csv",
    score="score",
    score_kind=ScoreKind.SIMILARITY,
    subjects=("id1", "id2"),
    mated="label",
    attributes=(AttributeSpec.parse("sex=g1,g2"),),
)
CONFIG = AuditConfig(
    target_fmrs=(0.2, 0.1),
    policies=tuple(ThresholdPolicy.parse(p) for p in ("global", "per-group", "reference:sex=M")),
)


def test_exact_audit_says_each_step_and_writes_results_and_report(tmp_path: Path) -> None:
    said: list[str] = []
    request = AuditRequest(
        PAIRS,
        group_by=("sex",),
        config=CONFIG,
        intervals=IntervalSettings(replicates=20),
        output=tmp_path,
    )
    outcome = run_audit(request, message=said.append)
    assert said[:2] == ["auditing 18 comparisons ...", "bootstrapping subjects: 20 replicates ..."]
    assert said[-2:] == [f"wrote {tmp_path / 'results.json'}", f"wrote {tmp_path / 'report.html'}"]
    assert outcome.written == (tmp_path / "results.json", tmp_path / "report.html")
    assert outcome.check is None and outcome.exit_code == 0
    assert outcome.output_format is OutputFormat.TABLE
    assert json.loads((tmp_path / "results.json").read_text()) == outcome.result.to_dict()


def test_no_output_writes_nothing_and_no_report_writes_results_only(tmp_path: Path) -> None:
    quick = IntervalSettings(IntervalMethod.WILSON)
    outcome = run_audit(AuditRequest(PAIRS, group_by=("sex",), config=CONFIG, intervals=quick))
    assert outcome.written == ()
    request = AuditRequest(
        PAIRS, group_by=("sex",), config=CONFIG, intervals=quick, output=tmp_path, report=False
    )
    assert run_audit(request).written == (tmp_path / "results.json",)
    assert not (tmp_path / "report.html").exists()


def test_violated_limits_give_exit_1_after_the_results_are_written(tmp_path: Path) -> None:
    request = AuditRequest(
        PAIRS,
        group_by=("sex",),
        config=CONFIG,
        intervals=IntervalSettings(IntervalMethod.NONE),
        output=tmp_path,
        limits=read_limits(GOLDEN / "limits_sex.toml"),
    )
    outcome = run_audit(request)
    assert outcome.check is not None and outcome.check.violations
    assert outcome.exit_code == 1
    assert (tmp_path / "results.json").exists()


def _histogram(path: Path) -> Path:
    with (GOLDEN / "pairs.csv").open() as f:
        rows = list(csv.DictReader(f))
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["group_a", "group_b", "mated", "score", "count"])
        for row in rows:
            out.writerow([row["g1"], row["g2"], row["label"], row["score"], 1])
    return path


def test_a_histogram_falls_back_from_the_bootstrap_to_clopper_pearson(tmp_path: Path) -> None:
    said: list[str] = []
    source = HistogramInput(_histogram(tmp_path / "h.csv"), score_kind=ScoreKind.SIMILARITY)
    request = AuditRequest(source, group_by=("sex",), config=AuditConfig(target_fmrs=(0.2,)))
    outcome = run_audit(request, message=said.append)
    assert said[0] == MSG_NO_SUBJECTS
    assert outcome.result.uncertainty is not None
    assert outcome.result.uncertainty.method == "clopper-pearson"
    with pytest.raises(UsageError, match="a histogram names one attribute"):
        run_audit(AuditRequest(source, group_by=("sex", "ethnicity")))


def test_the_streaming_engine_reads_no_sample_ids() -> None:
    source = dataclasses.replace(PAIRS, stream=True, samples=("p1", "p2"))
    with pytest.raises(UsageError, match="--samples: the streaming engine"):
        run_audit(AuditRequest(source, group_by=("sex",)))


def test_preload_imports_on_a_second_thread_and_leaves_failures_to_the_user_of_a_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from faceparity.workflow.preload import preload

    monkeypatch.delitem(sys.modules, "json.tool", raising=False)
    wait = preload(["faceparity_no_such_module", "json.tool"])
    wait()
    assert "json.tool" in sys.modules
    assert "faceparity_no_such_module" not in sys.modules
    preload([])()  # nothing to import: nothing started


def test_preload_stages_wait_for_their_own_stage_and_call_warm_up_functions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys
    import threading
    import types

    from faceparity.workflow.preload import preload_stages

    release, calls = threading.Event(), []
    fake = types.ModuleType("faceparity_fake_warm_up")
    fake.warm = lambda: calls.append("warm")  # type: ignore[attr-defined]
    fake.block = lambda: release.wait(10)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "faceparity_fake_warm_up", fake)
    monkeypatch.delitem(sys.modules, "json.tool", raising=False)
    first, second = preload_stages(
        ["json.tool", "faceparity_fake_warm_up:warm"],
        ["faceparity_fake_warm_up:block", "json:no_such_function", "faceparity_no_such_module"],
    )
    first()  # returns while the second stage is still held up
    assert "json.tool" in sys.modules and calls == ["warm"]
    release.set()
    second()
    assert "faceparity_no_such_module" not in sys.modules
    assert [len(preload_stages([], [])), len(preload_stages())] == [2, 1]


@pytest.mark.parametrize("stage", [0, 1])
def test_a_lost_ctrl_c_ends_the_wait_for_a_preload_that_never_finishes(
    monkeypatch: pytest.MonkeyPatch, stage: int
) -> None:
    """A SIGINT whose KeyboardInterrupt CPython ignored (it landed in a weak reference's
    callback) can leave the import lock held: the preload thread then never ends. Waiting
    for it raises the SIGINT again instead of waiting for ever (seen once: an audit
    interrupted at random waited 72 minutes for its preload thread)."""
    import threading

    from faceparity import io
    from faceparity.workflow import preload as preload_module

    release = threading.Event()
    monkeypatch.setattr(preload_module, "_load", lambda entry: release.wait(30))
    waiters = preload_module.preload_stages(["first"], ["second"])
    try:
        with io.watch_interrupts() as watch:
            watch.received = 1  # counted by the handler; its exception was lost
            with pytest.raises(KeyboardInterrupt):
                waiters[stage]()
            watch.received = 0
            release.set()
            waiters[stage]()  # nothing lost: the wait simply ends with the thread
    finally:
        release.set()


def test_inputs_hashed_ahead_are_those_hashed_at_the_end(tmp_path: Path) -> None:
    """The test log's hashes are computed on a thread from the start of a run: the same
    records as hashing at the end; a file that could not be hashed raises where the log is
    made, naming it; a file not hashed ahead (the embeddings a pipeline run writes) is
    hashed when asked for."""
    from faceparity.errors import InputError
    from faceparity.workflow.testlog import FileDigests, file_record

    data = tmp_path / "pairs.csv"
    data.write_bytes(b"score,a,b\n" * 1000)
    missing = tmp_path / "missing.csv"
    later = tmp_path / "written.npy"
    digests = FileDigests({"PATH": data, "--metadata": None, "--check": missing})
    later.write_bytes(b"written during the run")
    ahead = digests.record("PATH", data)
    assert ahead == file_record("PATH", data)
    assert ahead is digests.record("PATH", data)  # the thread's record, not hashed again
    assert digests.record("--embeddings", later) == file_record("--embeddings", later)
    with pytest.raises(InputError, match="cannot read the file to hash it") as err:
        digests.record("--check", missing)
    assert err.value.location.file == str(missing)
