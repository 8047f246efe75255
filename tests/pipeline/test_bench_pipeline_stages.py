"""benchmarks/bench_pipeline_stages.py runs end to end on a tiny configuration."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")
pytest.importorskip("skimage")


def test_every_stage_is_timed(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).parents[2] / "benchmarks" / "bench_pipeline_stages.py"
    spec = importlib.util.spec_from_file_location("bench_pipeline_stages", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_pipeline_stages"] = module
    spec.loader.exec_module(module)
    argv = ["--tiny-model", "--images", "2", "--repeat", "1", "--model-threads", "1", "--json"]
    assert module.main(argv) == 0
    stages = json.loads(capsys.readouterr().out)
    assert len(stages) == 14
    for side in (640, 256):
        assert f"scrfd format (no network), {side} x {side}" in stages
        assert f"scrfd-0.5GF network run, {side} x {side}" in stages
    assert "haar, 250 x 250" in stages
    for times in stages.values():
        assert times["ms"] > 0 and times["cpu_ms"] >= 0
