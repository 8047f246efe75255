"""SCRFD decoding, on tiny constant models whose faces sit at known anchors.

All models have a fixed 32 x 32 input unless said otherwise: stride 8 has 4 x 4 cells,
stride 16 2 x 2, stride 32 one; two anchors per cell. Anchor centres are
``(col * stride, row * stride)``; distances and keypoint offsets are in stride units.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")
from _detect_models import Anchor, channel_score_model, save_model, scrfd_outputs  # noqa: E402

from faceparity.errors import UsageError  # noqa: E402
from faceparity.pipeline.detect import (  # noqa: E402
    INPUT_SIZE_EXPECTED,
    INPUT_SIZE_FIXED,
    OUTPUT_SHAPE_EXPECTED,
    SCRFD_OUTPUTS_EXPECTED,
    Detector,
    OnnxModel,
    ScrfdDetector,
)

KPS = (-0.5, -0.25, 0.5, -0.25, 0.0, 0.25, -0.25, 1.0, 0.25, 1.0)

# A: stride 8, cell (row 1, col 2), anchor 1: centre (16, 8); distances (1, .5, 1.5, 2) * 8
#    = (8, 4, 12, 16) give the box (16-8, 8-4, 16+12, 8+16) = (8, 4, 28, 24); the keypoint
#    offsets * 8 = (-4,-2), (4,-2), (0,2), (-2,8), (2,8) give (12,6) (20,6) (16,10) (14,16) (18,16).
A = Anchor(8, 1, 2, 1, 0.875, (1.0, 0.5, 1.5, 2.0), KPS)
BOX_A = [8.0, 4.0, 28.0, 24.0]
KPS_A = [[12.0, 6.0], [20.0, 6.0], [16.0, 10.0], [14.0, 16.0], [18.0, 16.0]]
# B: stride 16, cell (1, 0), anchor 0: centre (0, 16); (0.25, 0.5, 1, 0.75) * 16 = (4, 8, 16, 12)
#    give (-4, 8, 16, 28). IoU with A: 8 x 16 = 128 over 400 + 400 - 128 = 672, 0.19: kept.
B = Anchor(16, 1, 0, 0, 0.75, (0.25, 0.5, 1.0, 0.75), KPS)
BOX_B = [-4.0, 8.0, 16.0, 28.0]
# C: A's cell, anchor 0, box (8, 4, 28, 22): IoU with A 360 / 400 = 0.9 > 0.4, suppressed.
C = Anchor(8, 1, 2, 0, 0.625, (1.0, 0.5, 1.5, 1.75), KPS)
# D: below the threshold 0.5.
D = Anchor(32, 0, 0, 1, 0.375, (0.25, 0.25, 0.25, 0.25), KPS)
# E: exactly at the threshold, kept: centre (0, 0), (.125, .125, .25, .25) * 32 -> (-4, -4, 8, 8).
E = Anchor(32, 0, 0, 0, 0.5, (0.125, 0.125, 0.25, 0.25), KPS)
BOX_E = [-4.0, -4.0, 8.0, 8.0]


def detector(tmp_path, outputs, **options) -> ScrfdDetector:
    shape = options.pop("shape", (1, 3, 32, 32))
    path = save_model(tmp_path / "scrfd.onnx", outputs, input_shape=shape)
    return ScrfdDetector(OnnxModel.open(path), **options)


def image(width: int = 32, height: int = 32) -> np.ndarray:
    return np.zeros((height, width, 3), np.uint8)


@pytest.mark.parametrize("batched", [True, False])
def test_hand_worked_boxes_landmarks_threshold_and_nms(tmp_path, batched) -> None:
    det = detector(tmp_path, scrfd_outputs([A, B, C, D, E], batched=batched))
    assert isinstance(det, Detector)
    faces = det.detect(image())
    assert [f.score for f in faces] == [0.875, 0.75, 0.5]
    np.testing.assert_array_equal(faces[0].box, BOX_A)
    np.testing.assert_array_equal(faces[0].landmarks, KPS_A)
    np.testing.assert_array_equal(faces[1].box, BOX_B)
    # B's keypoints: centre (0, 16) plus the offsets * 16.
    np.testing.assert_array_equal(
        faces[1].landmarks, [[-8.0, 12.0], [8.0, 12.0], [0.0, 20.0], [-4.0, 32.0], [4.0, 32.0]]
    )
    np.testing.assert_array_equal(faces[2].box, BOX_E)
    assert faces[0].box.dtype == np.float64 and faces[0].landmarks.shape == (5, 2)


def test_threshold_and_nms_options(tmp_path) -> None:
    outputs = scrfd_outputs([A, B, C, D, E])
    det = detector(tmp_path, outputs, score_threshold=0.3, nms_threshold=0.95)
    # C overlaps A by IoU 0.9 <= 0.95 and D now passes: five faces.
    assert [f.score for f in det.detect(image())] == [0.875, 0.75, 0.625, 0.5, 0.375]


def test_letterbox_maps_back_to_the_image(tmp_path) -> None:
    det = detector(tmp_path, scrfd_outputs([A]))
    # 64 x 32 fills the 32-wide canvas at half scale (32 x 16): coordinates double.
    (face,) = det.detect(image(64, 32))
    np.testing.assert_array_equal(face.box, np.array(BOX_A) * 2)
    np.testing.assert_array_equal(face.landmarks, np.array(KPS_A) * 2)
    # 48 x 20: the canvas holds 32 x int(32 * 20 / 48) = 32 x 13, so x scales by 32/48
    # and y by 13/20: (8, 4, 28, 24) maps to (12, 4/0.65, 42, 24/0.65).
    (face,) = det.detect(image(48, 20))
    np.testing.assert_allclose(face.box, [12.0, 4 / 0.65, 42.0, 24 / 0.65], rtol=1e-12)
    # 20 x 40 (tall): int(32 * 20 / 40) = 16 x 32 canvas, scale 0.8 both ways.
    (face,) = det.detect(image(20, 40))
    np.testing.assert_allclose(face.box, np.array(BOX_A) / 0.8, rtol=1e-12)


def test_outputs_named_by_part_and_stride_are_read_by_name(tmp_path) -> None:
    # score_S, bbox_S, kps_S in an interleaved order (S = 8, 16, 32).
    outputs = scrfd_outputs([A, B])
    by_name = dict(outputs)
    shuffled = [
        (f"{part}_{s}", by_name[f"{part}_{s}"])
        for s in (8, 16, 32)
        for part in ("kps", "score", "bbox")
    ]
    faces = detector(tmp_path, shuffled).detect(image())
    np.testing.assert_array_equal(faces[0].box, BOX_A)
    np.testing.assert_array_equal(faces[0].landmarks, KPS_A)
    np.testing.assert_array_equal(faces[1].box, BOX_B)


def test_unnamed_outputs_in_the_wrong_order(tmp_path) -> None:
    # Bare node numbers, interleaved by stride: read by position, the second output
    # (bbox of stride 8) is not stride 16's scores.
    outputs = scrfd_outputs([A])
    by_name = dict(outputs)
    interleaved = [
        (str(400 + i), by_name[f"{part}_{s}"])
        for i, (s, part) in enumerate(
            (s, part) for s in (8, 16, 32) for part in ("score", "bbox", "kps")
        )
    ]
    det = detector(tmp_path, interleaved)
    with pytest.raises(UsageError) as err:
        det.detect(image())
    assert str(err.value) == OUTPUT_SHAPE_EXPECTED.format(
        path=tmp_path / "scrfd.onnx",
        name="401",
        rows=8,
        cols=1,
        width=32,
        height=32,
        layout="SCRFD, 9 outputs",
        got=(1, 32, 4),
    )


def test_six_outputs_without_keypoints(tmp_path) -> None:
    det = detector(tmp_path, scrfd_outputs([A], keypoints=False))
    assert not det.layout.keypoints
    (face,) = det.detect(image())
    np.testing.assert_array_equal(face.box, BOX_A)
    assert face.landmarks is None


def test_fifteen_outputs_five_strides_one_anchor(tmp_path) -> None:
    # Strides 8 ... 128 with one anchor: A's cell (1, 2) at stride 8 is row 6.
    a = Anchor(8, 1, 2, 0, 0.875, A.box, KPS)
    big = Anchor(128, 0, 0, 0, 0.75, (0.0, 0.0, 0.25, 0.125), KPS)  # (0, 0, 32, 16)
    outputs = scrfd_outputs([a, big], strides=(8, 16, 32, 64, 128), anchors=1)
    assert len(outputs) == 15
    faces = detector(tmp_path, outputs).detect(image())
    np.testing.assert_array_equal(faces[0].box, BOX_A)
    np.testing.assert_array_equal(faces[0].landmarks, KPS_A)
    np.testing.assert_array_equal(faces[1].box, [0.0, 0.0, 32.0, 16.0])


def test_no_face(tmp_path) -> None:
    assert detector(tmp_path, scrfd_outputs([D])).detect(image()) == []


def test_preprocessing_rgb_normalisation_and_placement(tmp_path) -> None:
    # The score of every anchor is the mean over its 8 x 8 cell of the input's first
    # channel. A red square at x, y in [16, 32) of a 64 x 32 image lands, at half scale,
    # on cell (1, 1) of the canvas: R = 255 normalises to (255 - 127.5) / 128 = 0.99609375;
    # everything else, black image and black padding alike, to -0.99609375. Were the
    # channels swapped, the square's first channel would be 0 and nothing would pass.
    outputs = scrfd_outputs([], size=(32, 32))
    outputs = [
        (name, np.full_like(value, 1.0) if name.startswith("bbox") else value)
        for name, value in outputs
    ]
    path = channel_score_model(tmp_path / "rgb.onnx", outputs, score="score_8", channel=0)
    det = ScrfdDetector(OnnxModel.open(path))
    picture = image(64, 32)
    picture[16:32, 16:32] = (255, 0, 0)
    faces = det.detect(picture)
    # Both anchors of cell (1, 1), centre (8, 8), give the box (0, 0, 16, 16): NMS keeps one.
    assert len(faces) == 1
    assert faces[0].score == 0.99609375
    np.testing.assert_array_equal(faces[0].box, [0.0, 0.0, 32.0, 32.0])
    picture[16:32, 16:32] = (0, 0, 255)
    assert det.detect(picture) == []


def test_free_input_size(tmp_path) -> None:
    # A model with a free input size runs on the canvas asked for: 64 x 32 has 8 x 4 cells
    # at stride 8, so cell (3, 7) exists; its centre is (56, 24).
    far = Anchor(8, 3, 7, 0, 0.875, (1.0, 1.0, 1.0, 1.0), KPS)
    outputs = scrfd_outputs([far], size=(64, 32))
    det = detector(tmp_path, outputs, shape=(1, 3, "height", "width"), input_size=(64, 32))
    assert det.input_size == (64, 32)
    (face,) = det.detect(image(64, 32))
    np.testing.assert_array_equal(face.box, [48.0, 16.0, 64.0, 32.0])


def test_free_input_size_defaults_to_640(tmp_path) -> None:
    outputs = scrfd_outputs([A], size=(32, 32))
    det = detector(tmp_path, outputs, shape=(1, 3, "height", "width"))
    assert det.input_size == (640, 640)
    with pytest.raises(UsageError) as err:
        det.detect(image())
    assert str(err.value) == OUTPUT_SHAPE_EXPECTED.format(
        path=tmp_path / "scrfd.onnx",
        name="score_8",
        rows=12800,
        cols=1,
        width=640,
        height=640,
        layout="SCRFD, 9 outputs",
        got=(1, 32, 1),
    )


def test_input_size_errors(tmp_path) -> None:
    with pytest.raises(UsageError) as err:
        detector(tmp_path, scrfd_outputs([A]), input_size=(64, 64))
    assert str(err.value) == INPUT_SIZE_FIXED.format(
        path=tmp_path / "scrfd.onnx", fixed=(32, 32), got=(64, 64)
    )
    with pytest.raises(UsageError) as err:
        detector(tmp_path, scrfd_outputs([A]), input_size=(40, 32))
    assert str(err.value) == INPUT_SIZE_EXPECTED.format(multiple=32, got=(40, 32))


def test_wrong_number_of_outputs(tmp_path) -> None:
    outputs = scrfd_outputs([A])[:8]
    with pytest.raises(UsageError) as err:
        detector(tmp_path, outputs)
    assert str(err.value) == SCRFD_OUTPUTS_EXPECTED.format(path=tmp_path / "scrfd.onnx", count=8)


def test_description(tmp_path) -> None:
    det = detector(tmp_path, scrfd_outputs([A]))
    assert det.name == "scrfd"
    assert det.description == (
        "SCRFD (InsightFace) scrfd.onnx, with landmarks, input 32x32, score >= 0.5, NMS IoU 0.4"
    )
