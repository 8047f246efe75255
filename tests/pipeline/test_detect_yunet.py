"""YuNet decoding, on tiny models in the 2023mar layout, checked by hand and against OpenCV.

The models have a fixed 32 x 32 input: stride 8 has 4 x 4 cells, stride 16 2 x 2, stride
32 one, one anchor each. A cell (row r, col c) at stride s decodes its box centre as
``((c + dx) s, (r + dy) s)``, its size as ``(exp(lw) s, exp(lh) s)`` and landmark k as
``((c + px_k) s, (r + py_k) s)``; its score is ``sqrt(clip(cls) * clip(obj))``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")
from _detect_models import (  # noqa: E402
    Anchor,
    channel_score_model,
    save_model,
    scrfd_outputs,
    yunet_outputs,
)

from faceparity.errors import UsageError  # noqa: E402
from faceparity.pipeline.detect import (  # noqa: E402
    YUNET_OUTPUTS,
    YUNET_OUTPUTS_EXPECTED,
    Detector,
    OnnxModel,
    YunetDetector,
)

KPS = (0.25, 0.5, 0.75, 0.5, 0.5, 0.75, 0.25, 1.0, 0.75, 1.0)
# A: stride 8, cell (1, 2); cls 1.5 clips to 1, obj 0.5625: score sqrt(0.5625) = 0.75.
#    Centre ((2 + .5) 8, (1 + .25) 8) = (20, 10); size (e^0 8, e^ln2 8) = (8, 16):
#    box (16, 2, 24, 18). Landmarks ((2 + px) 8, (1 + py) 8).
A = Anchor(8, 1, 2, score=1.5, obj=0.5625, box=(0.5, 0.25, 0.0, math.log(2.0)), kps=KPS)
BOX_A = [16.0, 2.0, 24.0, 18.0]
KPS_A = [[18.0, 12.0], [22.0, 12.0], [20.0, 14.0], [18.0, 16.0], [22.0, 16.0]]
# B: stride 16, cell (1, 1): score 1; centre (16, 16) + (0, 0); size 16: box (8, 8, 24, 24).
#    IoU with A: x 16..24, y 8..18 = 80 over 128 + 256 - 80 = 304: 0.26 <= 0.3, kept.
B = Anchor(16, 1, 1, score=1.0, obj=1.0, box=(0.0, 0.0, 0.0, 0.0), kps=KPS)
BOX_B = [8.0, 8.0, 24.0, 24.0]
# C: stride 8, cell (1, 1): score sqrt(.5625 * .5625) = 0.5625; centre (12, 12), size 8:
#    (8, 8, 16, 16), inside B: IoU 64 / 256 = 0.25 with B; none with A. Kept.
C = Anchor(8, 1, 1, score=0.5625, obj=0.5625, box=(0.5, 0.5, 0.0, 0.0), kps=KPS)
# D: stride 32, cell (0, 0): obj 0, score 0.
D = Anchor(32, 0, 0, score=1.0, obj=0.0, box=(0.5, 0.5, 0.0, 0.0), kps=KPS)
# E: stride 8, cell (2, 2), score sqrt(0.9025) = 0.95; centre (16, 16 - 1), size
#    (e^ln2 8, e^ln1.75 8) = (16, 14): box (8, 8, 24, 22), IoU with B 224 / 256 = 0.875.
E = Anchor(
    8, 2, 2, score=0.9025, obj=1.0, box=(0.0, -0.125, math.log(2.0), math.log(1.75)), kps=KPS
)


def model(tmp_path, faces, **kw) -> OnnxModel:
    path = save_model(tmp_path / "yunet.onnx", yunet_outputs(faces), input_name="input", **kw)
    return OnnxModel.open(path)


def image(width: int = 32, height: int = 32) -> np.ndarray:
    return np.zeros((height, width, 3), np.uint8)


def test_hand_worked_boxes_landmarks_scores(tmp_path) -> None:
    det = YunetDetector(model(tmp_path, [A, B, C, D]), score_threshold=0.5)
    assert isinstance(det, Detector)
    faces = det.detect(image())
    np.testing.assert_allclose([f.score for f in faces], [1.0, 0.75, 0.5625], rtol=1e-7)
    np.testing.assert_allclose(faces[0].box, BOX_B, rtol=1e-7)
    np.testing.assert_allclose(faces[1].box, BOX_A, rtol=1e-7)
    np.testing.assert_allclose(faces[1].landmarks, KPS_A, rtol=1e-7)
    np.testing.assert_allclose(faces[2].box, [8.0, 8.0, 16.0, 16.0], rtol=1e-7)
    # B's landmarks at stride 16: ((1 + px) 16, (1 + py) 16).
    np.testing.assert_allclose(
        faces[0].landmarks, [[20.0, 24.0], [28.0, 24.0], [24.0, 28.0], [20.0, 32.0], [28.0, 32.0]]
    )


def test_default_threshold_and_nms(tmp_path) -> None:
    # Defaults: score >= 0.9 keeps B (1.0) and E (0.95); E overlaps B by 0.875 > 0.3.
    det = YunetDetector(model(tmp_path, [A, B, C, D, E]))
    faces = det.detect(image())
    assert len(faces) == 1
    np.testing.assert_allclose(faces[0].box, BOX_B, rtol=1e-7)
    det = YunetDetector(model(tmp_path, [A, B, C, D, E]), nms_threshold=0.9)
    np.testing.assert_allclose([f.score for f in det.detect(image())], [1.0, 0.95], rtol=1e-7)


def test_letterbox_maps_back(tmp_path) -> None:
    det = YunetDetector(model(tmp_path, [A]), score_threshold=0.5)
    (face,) = det.detect(image(64, 32))  # half scale
    np.testing.assert_allclose(face.box, np.array(BOX_A) * 2, rtol=1e-7)
    np.testing.assert_allclose(face.landmarks, np.array(KPS_A) * 2, rtol=1e-7)


def test_agrees_with_opencv_face_detector_yn(tmp_path) -> None:
    # OpenCV's own decoder on the same model and image: [x, y, w, h, 10 landmarks, score].
    # (Its NMS step keeps scores strictly above the threshold, so none sits exactly on it.)
    faces_in = [A, B, C]
    m = model(tmp_path, faces_in)
    ours = YunetDetector(m, score_threshold=0.5, nms_threshold=0.3).detect(image())
    reference = cv2.FaceDetectorYN.create(str(m.path), "", (32, 32), 0.5, 0.3, 5000)
    _, rows = reference.detect(image())
    rows = rows[np.argsort(-rows[:, 14], kind="stable")]
    assert len(rows) == len(ours) == 3
    for face, row in zip(ours, rows, strict=True):
        x, y, w, h = row[:4]
        np.testing.assert_allclose(face.box, [x, y, x + w, y + h], atol=1e-4)
        np.testing.assert_allclose(face.landmarks, row[4:14].reshape(5, 2), atol=1e-4)
        assert face.score == pytest.approx(float(row[14]), abs=1e-6)


def test_bgr_input(tmp_path) -> None:
    # cls_8 is the mean over each 8 x 8 cell of the input's third channel, which is red
    # when the pixels go in as BGR 0-255, unnormalised: a red square on cell (1, 1) scores
    # sqrt(clip(255) * 1) = 1; a blue one scores 0.
    outputs = yunet_outputs([Anchor(8, 0, 0, obj=1.0)])
    outputs = [(n, np.ones_like(v) if n == "obj_8" else v) for n, v in outputs]
    path = channel_score_model(tmp_path / "bgr.onnx", outputs, score="cls_8", channel=2)
    det = YunetDetector(OnnxModel.open(path))
    picture = image()
    picture[8:16, 8:16] = (255, 0, 0)
    (face,) = det.detect(picture)
    np.testing.assert_array_equal(face.box, [4.0, 4.0, 12.0, 12.0])  # centre (8, 8), size 8
    picture[8:16, 8:16] = (0, 0, 255)
    assert det.detect(picture) == []


def test_scrfd_model_is_not_yunet(tmp_path) -> None:
    # The helper names SCRFD's outputs score_S, bbox_S, kps_S: cls_S and obj_S are missing.
    path = save_model(tmp_path / "scrfd.onnx", scrfd_outputs([]))
    with pytest.raises(UsageError) as err:
        YunetDetector(OnnxModel.open(path))
    assert str(err.value) == YUNET_OUTPUTS_EXPECTED.format(
        path=path, expected=", ".join(YUNET_OUTPUTS), missing=", ".join(YUNET_OUTPUTS[:6])
    )


def test_description(tmp_path) -> None:
    det = YunetDetector(model(tmp_path, [A]))
    assert det.name == "yunet"
    assert det.description == (
        "YuNet (OpenCV Zoo) yunet.onnx, input 32x32, score >= 0.9, NMS IoU 0.3"
    )
