"""benchmarks/bench_pipeline.py runs end to end on a tiny configuration (not its target)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
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
    assert set(result["cases"]) == {
        "none",
        "haar",
        "scrfd-constant",
        "scrfd-500m",
        "scrfd-500m-256",
    }
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
            "detector",
        } <= set(case)
        assert sum(case["counts"].values()) == 6
        assert case["counts"]["failure_to_acquire"] == 0
    assert len(result["model_s_runs"]) == 6  # around each of the five cases
    cases = result["cases"]
    assert cases["none"]["detector"] is None
    assert cases["haar"]["detector"]["macs_per_image"] is None
    assert cases["scrfd-constant"]["detector"]["macs_per_image"] == 0
    for name, side in (("scrfd-500m", 640), ("scrfd-500m-256", 256)):
        detector = cases[name]["detector"]
        assert detector["input_side"] == side
        assert detector["macs_per_image"] > 0
        ratio = detector["macs_per_image"] / result["model"]["macs_per_image"]
        assert detector["macs_ratio"] == pytest.approx(ratio)


def test_cases_option_runs_only_the_cases_named(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load()
    argv = ["--quick", "--json", "--tiny-model", "--images", "2", "--cases", "scrfd-500m-256"]
    assert bench.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["cases"]) == ["scrfd-500m-256"]
    assert result["cases"]["scrfd-500m-256"]["counts"]["enrolled"] == 2


def test_full_model_has_the_size_of_iresnet50() -> None:
    bench = _load()
    _, stats = bench.iresnet50()
    assert 43e6 < stats.parameters < 44e6
    assert 6.2e9 < stats.macs < 6.4e9


def _first_image(bench: ModuleType, root: Path) -> np.ndarray:
    from PIL import Image

    bench.write_images(root, 1)
    with Image.open(root / "whole" / "00000.jpg") as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("side", [640, 256])
def test_constants_place_the_face_at_the_same_place_in_the_image(side: int, tmp_path: Path) -> None:
    from faceparity.pipeline.detect import open_detector

    bench = _load()
    path = bench.build_scrfd_constant(tmp_path / "constant.onnx", side=side)
    detector = open_detector(f"scrfd:{path}", threads=1)
    assert detector.input_size == (side, side)
    faces = detector.detect(np.zeros((250, 250, 3), np.uint8))
    assert len(faces) == 1  # the three other candidates suppressed
    np.testing.assert_allclose(faces[0].box, [75, 75, 175, 175], atol=1e-5)
    assert faces[0].score == pytest.approx(0.9)
    from faceparity.pipeline.align import ARCFACE_TEMPLATE

    marks = 75 + ARCFACE_TEMPLATE * (100 / 112)
    np.testing.assert_allclose(faces[0].landmarks, marks, atol=1e-4)


def test_full_detector_network_has_the_compute_of_scrfd_500m(tmp_path: Path) -> None:
    import onnx
    import onnxruntime

    bench = _load()
    image = _first_image(bench, tmp_path / "images")
    constants = bench.scrfd_constants(side=640)
    model, stats = bench.scrfd_network(constants, side=640)
    assert 0.5e9 < stats.macs < 0.85e9  # SCRFD-0.5GF: 0.5 G at 640 x 480
    assert 0.55e6 < stats.parameters < 0.7e6  # InsightFace's table: 0.57 M
    # Backbone 1 + 2 x 14 separable blocks; neck 3 lateral, 3 output, 2 down, 2 more;
    # heads 3 x (2 separable + 3 predictions).
    assert sum(n.op_type == "Conv" for n in model.graph.node) == 29 + 10 + 21
    path = tmp_path / "scrfd_500m.onnx"
    onnx.save(model, str(path))
    bench.check_scrfd_outputs(path, constants, image)  # onnx.checker, outputs == constants

    # The heads under the outputs are finite and vary with the input: the network runs.
    heads = [n.input[0] for n in model.graph.node if n.op_type == "Mul"]
    assert len(heads) == 9
    for name in heads:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, 1, None))
    onnx.save(model, str(tmp_path / "heads.onnx"))
    session = onnxruntime.InferenceSession(str(tmp_path / "heads.onnx"))
    blob = (image.transpose(2, 0, 1)[np.newaxis].astype(np.float32) - 127.5) / 128
    blob = np.pad(blob, ((0, 0), (0, 0), (0, 390), (0, 390)))  # 250 x 250 on 640 x 640
    for value in session.run(heads, {"input.1": blob}):
        assert np.isfinite(value).all()
        assert 0 < value.std() and np.abs(value).max() < 10


def test_detector_network_cost_scales_with_the_canvas() -> None:
    bench = _load()
    _, at_640 = bench.scrfd_network(bench.scrfd_constants(side=640), side=640)
    _, at_256 = bench.scrfd_network(bench.scrfd_constants(side=256), side=256)
    assert at_256.parameters == at_640.parameters
    assert at_256.macs / at_640.macs == pytest.approx((256 / 640) ** 2, rel=0.02)


def test_check_scrfd_outputs_rejects_outputs_that_differ(tmp_path: Path) -> None:
    import onnx

    bench = _load()
    image = _first_image(bench, tmp_path / "images")
    constants = bench.scrfd_constants(side=256)
    model, _ = bench.scrfd_network(constants, side=256, widths=bench.TINY_SCRFD)
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))
    bench.check_scrfd_outputs(path, constants, image)
    moved = [(name, value + 1e-6 if name == "bbox_8" else value) for name, value in constants]
    with pytest.raises(RuntimeError, match="output bbox_8 differs"):
        bench.check_scrfd_outputs(path, moved, image)


def test_a_detector_file_of_ones_own_is_timed_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--detector-file adds the case 'file' (a stand-in: the constant model, 256 x 256)."""
    bench = _load()
    path = bench.build_scrfd_constant(tmp_path / "own.onnx", side=256)
    argv = ["--quick", "--json", "--tiny-model", "--images", "2", "--cases", "none"]
    assert bench.main([*argv, "--detector-file", f"scrfd:{path}", "--detector-size", "256"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["cases"]) == ["none", "file"]
    own = result["cases"]["file"]
    assert own["counts"]["enrolled"] == 2
    assert "own.onnx" in own["detector"]["architecture"]
    assert own["detector"]["macs_per_image"] is None
    with pytest.raises(SystemExit):
        bench.main([*argv, "--detector-size", "256"])  # without a file: an error
