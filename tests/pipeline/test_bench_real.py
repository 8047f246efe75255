"""benchmarks/bench_real.py runs end to end on a few UTKFace images (skip without ../shared)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")


def _load() -> ModuleType:
    path = Path(__file__).parents[2] / "benchmarks" / "bench_real.py"
    spec = importlib.util.spec_from_file_location("bench_real", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_real"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_quick_run_prints_fmr_fta_and_times(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load()
    for needed in (bench.DATA / "manifest.csv", bench.ONNX_MODEL, bench.MODELS / "mtcnn"):
        if not needed.exists():
            pytest.skip(f"{needed} is not available")
    argv = ["--limit", "2", "--only", "onnx + mtcnn", "--intervals", "clopper-pearson"]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "UTKFace sample: 20 images" in out
    assert "## onnx + mtcnn" in out and "## onnx + haar" not in out
    assert "global threshold" in out and "failure to acquire:" in out
    assert "the model alone" in out and "ms/image" in out
    for group in ("female/asian", "male/white"):
        assert group in out
