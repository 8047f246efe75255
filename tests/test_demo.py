from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceparity import cli
from faceparity.demo import truth_check
from faceparity.results import AuditResult
from faceparity.simulate import default_config


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str, float]:
    out = tmp_path_factory.mktemp("demo")
    start = time.perf_counter()
    result = CliRunner().invoke(cli.main, ["demo", "-o", str(out)], catch_exceptions=False)
    elapsed = time.perf_counter() - start
    assert result.exit_code == 0, result.stderr
    return out, result.stdout, result.stderr, elapsed


def test_demo_says_the_data_are_synthetic_and_where_results_are(demo_run) -> None:
    out, stdout, stderr, _ = demo_run
    assert "SYNTHETIC DATA" in stdout and "SYNTHETIC DATA" in stderr
    assert str(out / "results.json") in stdout
    for name in ("embeddings.npy", "metadata.csv", "truth.json"):
        assert (out / "data" / name).exists()


def test_demo_recovers_the_planted_differentials(demo_run) -> None:
    out, _, _, _ = demo_run
    result = AuditResult.read_json(out / "results.json")
    config = default_config(seed=0)
    for target in (1e-3, 1e-4):
        rows = truth_check(result, config, target_fmr=target)
        assert len(rows) == 8
        # Orders of groups by true rates at the measured thresholds.
        by_true_fmr = [r.label for r in sorted(rows, key=lambda r: r.true_fmr)]
        by_fmr = [r.label for r in sorted(rows, key=lambda r: r.fmr)]
        by_true_fnmr = [r.label for r in sorted(rows, key=lambda r: r.true_fnmr)]
        by_fnmr = [r.label for r in sorted(rows, key=lambda r: r.fnmr)]
        if target == 1e-3:  # at 1e-4 a group sees a handful of errors: orders may swap
            assert by_fmr == by_true_fmr
            assert by_fnmr == by_true_fnmr
        for r in rows:
            # Within sampling error: binomial z inflated for comparisons sharing subjects.
            assert r.fmr_z is not None and abs(r.fmr_z) < 4 * math.sqrt(3), r
            assert r.fnmr_z is not None and abs(r.fnmr_z) < 4 * math.sqrt(3), r
