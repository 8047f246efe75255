"""The machinery of benchmarks/bench_calibration.py on a tiny run (not the 90% target)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from faceparity.uncertainty import clopper_pearson, wilson


def _load() -> ModuleType:
    path = Path(__file__).parents[1] / "benchmarks" / "bench_calibration.py"
    spec = importlib.util.spec_from_file_location("bench_calibration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_calibration"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _load()
TINY: dict[str, Any] = {"n_subjects": 6, "samples_per_subject": 3, "target_fmr": 0.05}


def test_covered_and_coverage_by_hand() -> None:
    assert bench.covered(0.1, 0.3, 0.1) and bench.covered(0.1, 0.3, 0.3)
    assert not bench.covered(0.1, 0.3, 0.31)
    assert not bench.covered(math.nan, math.nan, 0.2)
    assert bench.coverage([True, False, True, True]) == 0.75
    assert math.isnan(bench.coverage([]))


def _outcome(seed: int, fmr: tuple[float, float], fnmr: tuple[float, float]) -> Any:
    return bench.SeedOutcome(
        seed=seed,
        truth={("fmr", "A"): 0.01, ("fnmr", "A"): 0.1, ("fmr", "B"): 0.02, ("fnmr", "B"): 0.2},
        intervals={
            ("fmr", "A"): fmr,
            ("fnmr", "A"): fnmr,
            ("fmr", "B"): (0.0, 1.0),
            ("fnmr", "B"): (0.3, 0.4),
        },
        design_effect={"A": 1.0 + seed, "B": 2.0},
    )


def test_summarise_by_hand() -> None:
    outcomes = [
        _outcome(0, (0.005, 0.02), (0.05, 0.2)),  # A: both covered
        _outcome(1, (0.02, 0.03), (0.05, 0.2)),  # A: FMR missed
        _outcome(2, (0.0, 0.01), (0.11, 0.2)),  # A: FNMR missed (0.1 < 0.11)
        _outcome(3, (0.0, 0.009), (0.0, 0.05)),  # A: both missed
    ]
    c = bench.summarise(outcomes, method="test", level=0.95, seconds=0.0)
    assert c.labels == ("A", "B")
    assert c.coverage == {
        ("fmr", "A"): 0.5,
        ("fnmr", "A"): 0.5,
        ("fmr", "B"): 1.0,
        ("fnmr", "B"): 0.0,
    }
    assert c.overall == {"fmr": 0.75, "fnmr": 0.25}
    assert c.design_effect == {"A": 2.5, "B": 2.0}
    assert not c.passes
    text = bench.format_calibration(c)
    assert "FAIL" in text and "lowest FMR coverage 0.500, lowest FNMR coverage 0.000" in text


@pytest.mark.parametrize(
    ("method", "interval"), [("clopper-pearson", clopper_pearson), ("wilson", wilson)]
)
def test_tiny_run_uses_the_counts_of_the_result(method: str, interval: Any) -> None:
    outcome = bench.run_seed(3, method=method, level=0.95, replicates=10, **TINY)
    config = bench.default_config(n_subjects_per_group=6, samples_per_subject=3, seed=3)
    result = bench.audit(
        bench.comparisons_of(config),
        group_by=["sex", "region"],
        config=bench.AuditConfig(
            target_fmrs=(0.05,), policies=(bench.ThresholdPolicy.parse("global"),)
        ),
    )
    groups = result.operating_point(0.05, "global").groups
    assert len(groups) == 8 and len(outcome.truth) == 16
    for g in groups:
        low, high = interval(g.n_false_matches, g.n_non_mated, 0.95)
        assert outcome.intervals[("fmr", g.label)] == (float(low), float(high))
        low, high = interval(g.n_false_non_matches, g.n_mated, 0.95)
        assert outcome.intervals[("fnmr", g.label)] == (float(low), float(high))
        assert 0.0 < outcome.truth[("fmr", g.label)] < 1.0
        assert outcome.design_effect[g.label] >= 1.0


def test_tiny_calibration_counts_the_seeds() -> None:
    c = bench.calibrate([0, 1], method="clopper-pearson", **TINY)
    assert c.n_seeds == 2 and len(c.labels) == 8
    assert set(c.coverage.values()) <= {0.0, 0.5, 1.0}
    for rate in ("fmr", "fnmr"):
        per_group = [c.coverage[(rate, label)] for label in c.labels]
        assert c.overall[rate] == pytest.approx(sum(per_group) / len(per_group))


def test_bootstrap_intervals_come_from_the_subject_bootstrap() -> None:
    outcome = bench.run_seed(3, method="bootstrap", level=0.9, replicates=30, **TINY)
    assert outcome.intervals  # every group, both rates, where defined
    for (rate, _label), (low, high) in outcome.intervals.items():
        assert rate in ("fmr", "fnmr") and 0.0 <= low <= high <= 1.0


def test_streamed_bootstrap_comes_from_the_streamed_pair_table() -> None:
    """The comparisons written as a pair table and streamed: intervals for the same numbers
    as the exact path's bootstrap, around the same rates (the truth is the same)."""
    exact = bench.run_seed(3, method="bootstrap", level=0.9, replicates=30, **TINY)
    streamed = bench.run_seed(3, method="stream-bootstrap", level=0.9, replicates=30, **TINY)
    assert streamed.truth == exact.truth
    assert streamed.intervals and set(streamed.intervals) <= set(exact.intervals)
    for key, (low, high) in streamed.intervals.items():
        assert 0.0 <= low <= high <= 1.0
        e_low, e_high = exact.intervals[key]
        assert low <= e_high and e_low <= high  # the two intervals overlap
