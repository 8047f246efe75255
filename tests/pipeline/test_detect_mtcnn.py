"""MTCNN's steps on hand-worked cases (the real networks: test_detect_mtcnn_real.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceparity.errors import UsageError
from faceparity.pipeline.detect import mtcnn as m
from faceparity.pipeline.detect import open_detector
from faceparity.pipeline.detect.factory import MTCNN_NO_CANVAS

cv2 = pytest.importorskip("cv2")


def test_suppression_by_the_smaller_box_removes_a_box_inside_another() -> None:
    boxes = np.array([[0, 0, 100, 100], [10, 10, 40, 40], [90, 90, 150, 150]], float)
    scores = np.array([0.9, 0.8, 0.7])
    # the second lies wholly inside the first: IoU 0.09 but overlap over the smaller 1.0
    assert m._nms_min(boxes, scores, 0.7).tolist() == [0, 2]
    # the third overlaps the first by 10 x 10 of its 60 x 60: 0.028
    assert m._nms_min(boxes, scores, 0.03).tolist() == [0, 2]
    assert m._nms_min(boxes, scores, 0.02).tolist() == [0]
    # at 1.0 nothing is suppressed; the best score comes first
    assert m._nms_min(boxes[[1, 0]], scores[[1, 0]], 1.0).tolist() == [1, 0]


def test_calibration_moves_each_edge_by_its_offset_times_the_side() -> None:
    boxes = np.array([[10.0, 20.0, 50.0, 100.0]])  # 40 wide, 80 high
    offsets = np.array([[0.1, -0.25, 0.5, 0.0]])
    np.testing.assert_allclose(m._calibrate(boxes, offsets), [[14.0, 0.0, 70.0, 100.0]])


def test_square_keeps_the_centre_and_the_longer_side() -> None:
    boxes = np.array([[10.0, 20.0, 50.0, 100.0, 0.9]])
    np.testing.assert_allclose(m._square(boxes), [[-10.0, 20.0, 70.0, 100.0, 0.9]])


def test_pyramid_scales_stop_when_the_shorter_side_falls_below_12() -> None:
    detector = object.__new__(m.MtcnnDetector)
    detector.min_face_size = 20.0
    # 100 px scaled by 0.6: 60, 42.5, 30.2, 21.4, 15.2, then 10.8 < 12
    expected = [0.6 * 0.709**k for k in range(5)]
    np.testing.assert_allclose(detector.scales(100, 300), expected)
    assert detector.scales(19, 300) == []


def test_crops_by_area_equal_opencv_area_resizing_of_whole_pixel_boxes() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    boxes = np.array([[8.0, 4.0, 56.0, 52.0], [30.0, 10.0, 54.0, 34.0]])
    blob = m._crops(m._integral(image), boxes, 24)
    assert blob.shape == (2, 24, 24, 3) and blob.dtype == np.float32
    for k, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
        expected = cv2.resize(
            image[y1:y2, x1:x2].astype(np.float64), (24, 24), interpolation=cv2.INTER_AREA
        )
        # the networks see the crop transposed: (x, y, channel)
        got = blob[k].transpose(1, 0, 2).astype(np.float64) * 128.0 + 127.5
        np.testing.assert_allclose(got, expected, atol=1e-3)


def test_crops_are_black_outside_the_image() -> None:
    image = np.full((10, 10, 3), 200, np.uint8)
    blob = m._crops(m._integral(image), np.array([[-10.0, 0.0, 10.0, 20.0]]), 4)
    pixels = blob[0].transpose(1, 0, 2) * 128.0 + 127.5  # (y, x, channel)
    np.testing.assert_allclose(pixels[:2, :2], 0.0, atol=1e-3)  # left of the image
    np.testing.assert_allclose(pixels[:2, 2:], 200.0, atol=1e-3)
    np.testing.assert_allclose(pixels[2:], 0.0, atol=1e-3)  # below it


def test_a_directory_without_the_three_networks_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "pnet.onnx").write_bytes(b"")
    for spec in (f"mtcnn:{tmp_path}", str(tmp_path)):
        with pytest.raises(UsageError) as err:
            open_detector(spec)
        assert str(err.value) == m.MTCNN_FILES_MISSING.format(
            path=tmp_path, missing="rnet.onnx, onet.onnx"
        )


def test_mtcnn_has_no_canvas_to_size(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        open_detector(f"mtcnn:{tmp_path}", input_size=(320, 320))
    assert str(err.value) == MTCNN_NO_CANVAS.format(spec=f"mtcnn:{tmp_path}")
    with pytest.raises(UsageError):
        open_detector("mtcnn:")


def test_a_channels_last_model_opens_only_when_asked(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    from faceparity.pipeline.detect.session import MODEL_INPUT_EXPECTED, OnnxModel

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "nhwc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 24, 24, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 24, 24, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "nhwc.onnx"
    onnx.save(model, str(path))
    opened = OnnxModel.open(path, threads=1, channels_last=True)
    assert opened.input_shape == (None, 24, 24, 3)
    with pytest.raises(UsageError) as err:
        OnnxModel.open(path, threads=1)
    assert str(err.value) == MODEL_INPUT_EXPECTED.format(path=path, got="x ['N', 24, 24, 3]")


def test_detector_size_is_refused_for_mtcnn(tmp_path: Path) -> None:
    from faceparity.workflow.images import MSG_DETECTOR_SIZE_UNUSED, detector_size

    for spec in ("mtcnn:models/mtcnn", str(tmp_path)):
        with pytest.raises(UsageError) as err:
            detector_size("320", detector=spec)
        assert str(err.value) == MSG_DETECTOR_SIZE_UNUSED.format(detector=spec)
