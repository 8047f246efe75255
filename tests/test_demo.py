from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceparity import cli
from faceparity.results.audit import AuditResult
from faceparity.synthetic.demo import RESOLVED_STANDARD_ERRORS, TruthRow, order_check, truth_check
from faceparity.synthetic.simulate import default_config, true_fmr_design_effect

TARGETS = (1e-3, 1e-4)

# Pairs of groups (of 28) whose true rates at the demo's global thresholds differ by more
# than 4 standard errors, with the demo's counts (1,000 mated and 123,750 same-group
# non-mated comparisons a group). Seed 0 gives 26 by FMR and 16 by FNMR (every F-M pair)
# at target FMR 1e-3, 20 and 16 at 1e-4; seeds 0-19 give 25-26 and 16, 18-20 and 16.
# The minimums leave room for small changes in how the audit places its threshold.
MIN_RESOLVED = {
    (1e-3, "fmr"): 22,
    (1e-3, "fnmr"): 14,
    (1e-4, "fmr"): 16,
    (1e-4, "fnmr"): 14,
}


@dataclass(frozen=True)
class DemoRun:
    out: Path
    exit_code: int
    stdout: str
    stderr: str
    elapsed: float


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    out = tmp_path_factory.mktemp("demo")
    start = time.perf_counter()
    result = CliRunner().invoke(cli.main, ["demo", "-o", str(out)], catch_exceptions=False)
    elapsed = time.perf_counter() - start
    return DemoRun(out, result.exit_code, result.stdout, result.stderr, elapsed)


@pytest.fixture(scope="module")
def results(demo_run: DemoRun) -> AuditResult:
    assert demo_run.exit_code == 0, demo_run.stderr
    return AuditResult.read_json(demo_run.out / "results.json")


def test_demo_exits_0_says_the_data_are_synthetic_and_where_results_are(demo_run) -> None:
    assert demo_run.exit_code == 0, demo_run.stderr
    assert "SYNTHETIC DATA" in demo_run.stdout and "SYNTHETIC DATA" in demo_run.stderr
    assert f"results: {demo_run.out / 'results.json'}" in demo_run.stdout
    assert (demo_run.out / "results.json").exists()
    for name in ("embeddings.npy", "metadata.csv", "truth.json"):
        assert (demo_run.out / "data" / name).exists()


def test_demo_prints_its_wall_time_under_a_minute(demo_run) -> None:
    match = re.search(r"^finished in (\d+\.\d) s$", demo_run.stdout, flags=re.MULTILINE)
    assert match is not None
    # Printed to 0.1 s, timed inside the command: at most the test's own timing.
    assert 0.0 < float(match.group(1)) <= demo_run.elapsed + 0.05
    assert demo_run.elapsed < 60.0


@pytest.mark.parametrize("target", TARGETS)
def test_each_measured_rate_lies_within_4_standard_errors_of_the_truth(
    results: AuditResult, target: float
) -> None:
    config = default_config(seed=0)
    point = results.operating_point(target, "global")
    rows = truth_check(results, config, target_fmr=target)
    assert [r.label for r in rows] == [g.label for g in config.groups]
    for i, r in enumerate(rows):
        assert r.threshold == point.threshold
        # FMR: binomial times the design effect; FNMR: binomial.
        deff = true_fmr_design_effect(config, i, r.threshold)
        assert r.fmr_design_effect == deff > 1.0
        assert r.fmr_se == pytest.approx(
            math.sqrt(deff * r.true_fmr * (1 - r.true_fmr) / r.n_non_mated), rel=1e-12
        )
        assert r.fnmr_se == pytest.approx(
            math.sqrt(r.true_fnmr * (1 - r.true_fnmr) / r.n_mated), rel=1e-12
        )
        assert r.fmr_z is not None and abs(r.fmr_z) <= 4.0, r
        assert r.fnmr_z is not None and abs(r.fnmr_z) <= 4.0, r


@pytest.mark.parametrize(("target", "rate"), sorted(MIN_RESOLVED))
def test_measured_order_agrees_with_the_truth_on_every_resolved_pair(
    demo_run: DemoRun, results: AuditResult, target: float, rate: str
) -> None:
    rows = truth_check(results, default_config(seed=0), target_fmr=target)
    check = order_check(rows, rate)
    assert check.n_pairs == 28
    assert check.n_resolved >= MIN_RESOLVED[(target, rate)]
    assert check.agrees, check.disagreements
    # The demo prints the same verdict.
    assert (
        f"the measured order agrees with the truth on all {check.n_resolved} of the 28 pairs "
        f"of groups whose true {rate.upper()}s differ by more than 4 standard errors"
    ) in demo_run.stdout
    assert f"  true     {' > '.join(check.true_order)}" in demo_run.stdout
    assert f"  measured {' > '.join(check.measured_order)}" in demo_run.stdout


# --- order_check on hand-made rows ----------------------------------------------------------


def fnmr_row(label: str, measured: float | None, truth: float, se: float) -> TruthRow:
    return TruthRow(
        label=label,
        threshold=0.3,
        fmr=1e-3,
        true_fmr=1e-3,
        fmr_design_effect=1.0,
        fmr_se=1e-4,
        fmr_z=0.0,
        n_non_mated=100_000,
        fnmr=measured,
        true_fnmr=truth,
        fnmr_se=None if measured is None else se,
        fnmr_z=None if measured is None else (measured - truth) / se,
        n_mated=1000,
    )


def test_order_check_counts_only_pairs_more_than_4_standard_errors_apart() -> None:
    # True gaps over the standard error of the difference (hypot of 0.003, 0.004 = 0.005):
    # A-B 0.019 / 0.005 = 3.8 (within sampling error: measured the other way round is fine),
    # A-C 0.021 / 0.005 = 4.2 (resolved), B-C 0.040 / 0.0057 = 7.1 (resolved).
    rows = [
        fnmr_row("A", 0.020, 0.030, 0.003),
        fnmr_row("B", 0.025, 0.011, 0.004),
        fnmr_row("C", 0.060, 0.051, 0.004),
    ]
    check = order_check(rows, "fnmr")
    assert RESOLVED_STANDARD_ERRORS == 4.0
    assert (check.n_pairs, check.n_resolved, check.disagreements) == (3, 2, ())
    assert check.agrees
    assert check.measured_order == ("C", "B", "A")
    assert check.true_order == ("C", "A", "B")


def test_order_check_reports_a_resolved_pair_out_of_order_and_a_tie() -> None:
    rows = [
        fnmr_row("A", 0.050, 0.030, 0.003),
        fnmr_row("B", 0.050, 0.080, 0.004),
        fnmr_row("C", 0.010, 0.010, 0.001),
    ]
    check = order_check(rows, "fnmr")
    assert check.n_resolved == 3
    assert check.disagreements == (("B", "A"),)  # truly worse first; a tie does not agree
    assert not check.agrees


def test_order_check_leaves_out_groups_without_a_measured_rate() -> None:
    rows = [fnmr_row("A", None, 0.03, 0.003), fnmr_row("B", 0.01, 0.01, 0.001)]
    check = order_check(rows, "fnmr")
    assert (check.n_pairs, check.n_resolved, check.measured_order) == (0, 0, ("B",))


def test_order_check_rejects_an_unknown_rate() -> None:
    with pytest.raises(ValueError, match="expected 'fmr' or 'fnmr', got 'eer'"):
        order_check([], "eer")
