"""benchmarks/bench_pipeline.py runs end to end on a tiny configuration (not its target)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")
pytest.importorskip("skimage")


def _load() -> ModuleType:
    path = Path(__file__).parents[2] / "benchmarks" / "bench_pipeline.py"
    spec = importlib.util.spec_from_file_location("bench_pipeline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_pipeline"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_quick_json_run_reports_every_case(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load()
    code = bench.main(["--quick", "--json", "--tiny-model", "--images", "6", "--threads", "1"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert {"model", "model_s", "model_s_runs", "model_cpu_s", "cases", "target_overhead"} <= set(
        result
    )
    assert result["images"] == 6 and result["repeat"] == 1
    assert set(result["cases"]) == {"none", "haar", "scrfd-constant"}
    for case in result["cases"].values():
        assert {
            "pipeline_s",
            "pipeline_s_runs",
            "images_per_s",
            "model_s",
            "overhead",
            "overhead_cpu",
            "overhead_paired_runs",
            "passed",
            "counts",
        } <= set(case)
        assert sum(case["counts"].values()) == 6
        assert case["counts"]["failure_to_acquire"] == 0
    assert len(result["model_s_runs"]) == 4  # around each of the three cases


def test_full_model_has_the_size_of_iresnet50() -> None:
    bench = _load()
    _, stats = bench.iresnet50()
    assert 43e6 < stats.parameters < 44e6
    assert 6.2e9 < stats.macs < 6.4e9
