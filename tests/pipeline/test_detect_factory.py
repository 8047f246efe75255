"""open_detector: specs, format recognition from a model's outputs, and its errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")
from _detect_models import save_model, scrfd_outputs, yunet_outputs  # noqa: E402

from faceparity.errors import UsageError  # noqa: E402
from faceparity.pipeline.detect import (  # noqa: E402
    DETECTOR_SPEC_EXPECTED,
    FORMAT_UNRECOGNISED,
    MODEL_MISSING,
    YUNET_OUTPUTS_EXPECTED,
    HaarDetector,
    OnnxModel,
    ScrfdDetector,
    YunetDetector,
    open_detector,
    recognise_format,
)


@pytest.fixture
def scrfd_path(tmp_path):
    return save_model(tmp_path / "det_10g.onnx", scrfd_outputs([]))


@pytest.fixture
def yunet_path(tmp_path):
    return save_model(tmp_path / "face_detection_yunet_2023mar.onnx", yunet_outputs([]))


def test_haar_is_the_default() -> None:
    assert isinstance(open_detector(), HaarDetector)
    assert isinstance(open_detector(" HAAR "), HaarDetector)
    assert open_detector("haar", score_threshold=7).score_threshold == 7.0


def test_explicit_formats(scrfd_path, yunet_path) -> None:
    assert isinstance(open_detector(f"scrfd:{scrfd_path}"), ScrfdDetector)
    assert isinstance(open_detector(f"YuNet:{yunet_path}"), YunetDetector)


@pytest.mark.parametrize("keypoints", [True, False])
@pytest.mark.parametrize("batched", [True, False])
def test_recognises_scrfd(tmp_path, keypoints, batched) -> None:
    path = save_model(tmp_path / "m.onnx", scrfd_outputs([], keypoints=keypoints, batched=batched))
    det = open_detector(path)
    assert isinstance(det, ScrfdDetector)
    assert det.layout.keypoints is keypoints


def test_recognises_five_stride_scrfd(tmp_path) -> None:
    outputs = scrfd_outputs([], strides=(8, 16, 32, 64, 128), anchors=1, keypoints=False)
    det = open_detector(str(save_model(tmp_path / "m.onnx", outputs)))
    assert isinstance(det, ScrfdDetector) and det.layout.anchors == 1


def test_recognises_yunet_whatever_the_output_order(tmp_path) -> None:
    outputs = yunet_outputs([])[::-1]
    det = open_detector(save_model(tmp_path / "m.onnx", outputs))
    assert isinstance(det, YunetDetector)


def test_options_pass_through(scrfd_path, yunet_path) -> None:
    det = open_detector(scrfd_path, score_threshold=0.25, nms_threshold=0.5, threads=1)
    assert (det.score_threshold, det.nms_threshold) == (0.25, 0.5)
    det = open_detector(yunet_path, score_threshold=0.6)
    assert (det.score_threshold, det.nms_threshold) == (0.6, 0.3)
    assert det.detect(np.zeros((32, 32, 3), np.uint8)) == []
    with pytest.raises(UsageError):
        open_detector(scrfd_path, nms_threshold=2.0)
    with pytest.raises(UsageError):
        open_detector("haar", score_threshold=float("nan"))


def test_unrecognised_model(tmp_path) -> None:
    outputs = [("logits", np.zeros((1, 512), np.float32))]
    path = save_model(tmp_path / "arcface.onnx", outputs, input_shape=(1, 3, 112, 112))
    with pytest.raises(UsageError) as err:
        open_detector(path)
    assert str(err.value) == FORMAT_UNRECOGNISED.format(path=path, outputs="logits [1, 512]")
    model = OnnxModel.open(path)
    with pytest.raises(UsageError):
        recognise_format(model)


def test_nine_outputs_of_the_wrong_width_are_not_scrfd(tmp_path) -> None:
    outputs = [(f"o{i}", np.zeros((1, 8, 3), np.float32)) for i in range(9)]
    with pytest.raises(UsageError) as err:
        open_detector(save_model(tmp_path / "m.onnx", outputs))
    assert "is neither an SCRFD nor a YuNet face detector" in str(err.value)
    assert "o0 [1, 8, 3]" in str(err.value)


def test_forced_format_that_does_not_fit(scrfd_path) -> None:
    with pytest.raises(UsageError) as err:
        open_detector(f"yunet:{scrfd_path}")
    assert str(err.value).startswith(
        YUNET_OUTPUTS_EXPECTED.format(path=scrfd_path, expected="", missing="").split(":")[0]
    )


@pytest.mark.parametrize("spec", ["", "  ", "scrfd:", "yunet:"])
def test_bad_specs(spec) -> None:
    with pytest.raises(UsageError) as err:
        open_detector(spec)
    assert str(err.value) == DETECTOR_SPEC_EXPECTED.format(spec=spec)


def test_missing_model(tmp_path) -> None:
    with pytest.raises(UsageError) as err:
        open_detector(f"scrfd:{tmp_path / 'none.onnx'}")
    assert str(err.value) == MODEL_MISSING.format(path=tmp_path / "none.onnx")
    # An unknown prefix is read as part of a path.
    with pytest.raises(UsageError) as err:
        open_detector("retinaface:model.onnx")
    assert str(err.value) == MODEL_MISSING.format(path="retinaface:model.onnx")
