"""The steps every detector shares: the image check, letterboxing, NMS."""

from __future__ import annotations

import numpy as np
import pytest

from faceparity.errors import UsageError
from faceparity.pipeline.detect import (
    IMAGE_EXPECTED,
    NMS_THRESHOLD_EXPECTED,
    SCORE_THRESHOLD_EXPECTED,
    letterbox,
    letterbox_blob,
    nms,
)
from faceparity.pipeline.detect.base import check_image, check_thresholds, faces_from_arrays


def test_check_image() -> None:
    assert check_image(np.zeros((4, 6, 3), np.uint8)) == (4, 6)
    for bad in (
        np.zeros((4, 6), np.uint8),
        np.zeros((4, 6, 4), np.uint8),
        np.zeros((4, 6, 3), np.float32),
        np.zeros((0, 6, 3), np.uint8),
    ):
        with pytest.raises(UsageError) as err:
            check_image(bad)
        assert str(err.value) == IMAGE_EXPECTED.format(shape=bad.shape, dtype=bad.dtype)


def test_nms_hand_worked() -> None:
    boxes = np.array(
        [
            [0, 0, 10, 10],  # 0: score .8
            [1, 0, 11, 10],  # 1: score .9, IoU with 0: 90 / 110 = 0.818
            [20, 20, 30, 30],  # 2: alone
            [5, 0, 15, 10],  # 3: IoU with 1: 60 / 140 = 0.43 > 0.4; with 0: 50 / 150
        ],
        float,
    )
    scores = np.array([0.8, 0.9, 0.7, 0.75])
    assert nms(boxes, scores, 0.4).tolist() == [1, 2]
    # At 0.45, box 3 survives box 1 (0.43) and then suppresses nothing new.
    assert nms(boxes, scores, 0.45).tolist() == [1, 3, 2]
    # Ties keep their given order; identical boxes suppress each other.
    assert nms(boxes[[0, 0]], np.array([0.5, 0.5]), 0.4).tolist() == [0]
    # IoU exactly at the threshold is kept (suppression needs more).
    two = np.array([[0, 0, 2, 1], [1, 0, 3, 1]], float)  # IoU 1 / 3
    assert nms(two, np.array([1.0, 0.5]), 1 / 3).tolist() == [0, 1]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.4).tolist() == []


def test_nms_degenerate_boxes() -> None:
    boxes = np.array([[0, 0, 0, 0], [0, 0, 0, 0]], float)  # zero area: IoU taken as 0
    assert nms(boxes, np.array([0.9, 0.8]), 0.4).tolist() == [0, 1]


@pytest.mark.parametrize(
    ("height", "width", "size", "placed", "scale"),
    [
        (50, 100, (64, 64), (32, 64), (0.64, 0.64)),  # wide: fills the width
        (100, 50, (64, 64), (64, 32), (0.64, 0.64)),  # tall: fills the height
        (20, 48, (32, 32), (13, 32), (32 / 48, 13 / 20)),  # rounding: the axes differ
        (32, 32, (32, 32), (32, 32), (1.0, 1.0)),  # already the canvas
        (10, 10, (40, 20), (20, 20), (2.0, 2.0)),  # enlarged to fit
    ],
)
def test_letterbox(height, width, size, placed, scale) -> None:
    pytest.importorskip("cv2")
    image = np.full((height, width, 3), 200, np.uint8)
    canvas, got = letterbox(image, size)
    assert canvas.shape == (size[1], size[0], 3)
    assert got == pytest.approx(scale, rel=1e-12)
    h, w = placed
    assert (canvas[:h, :w] == 200).all()  # top-left, a uniform image stays uniform
    assert (canvas[h:] == 0).all() and (canvas[:, w:] == 0).all()


def test_letterbox_same_size_is_a_copy() -> None:
    image = np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)
    canvas, scale = letterbox(image, (32, 32))
    assert scale == (1.0, 1.0)
    np.testing.assert_array_equal(canvas, image)


@pytest.mark.parametrize(
    ("mean", "scale", "reverse"), [(127.5, 1 / 128, False), (0.0, 1.0, True), (0.0, 1.0, False)]
)
@pytest.mark.parametrize(
    ("shape", "view"),
    [
        ((20, 48, 3), None),  # landscape: padded below
        ((48, 20, 3), None),  # portrait: padded to the right
        ((64, 64, 3), None),  # fills the canvas after resizing
        ((32, 32, 3), None),  # the canvas's own size: no resizing
        ((1, 40, 3), None),  # one row
        ((40, 60, 3), "flipped"),  # a view with negative strides
        ((40, 60, 3), "cropped"),  # a view that is not contiguous
        ((40, 60, 3), "fortran"),  # another memory order
    ],
)
def test_letterbox_blob_is_the_normalised_canvas(mean, scale, reverse, shape, view) -> None:
    """Every value exactly ``(v - mean) * scale`` of the letterboxed canvas, padding too."""
    pytest.importorskip("cv2")
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    if view == "flipped":
        image = image[::-1, ::-1]
    elif view == "cropped":
        image = image[5:35, 7:50]
    elif view == "fortran":
        image = np.asfortranarray(image)
    blob, factors = letterbox_blob(
        image, (32, 32), mean=mean, scale=scale, reverse_channels=reverse
    )
    canvas, expected_factors = letterbox(np.ascontiguousarray(image), (32, 32))
    assert factors == expected_factors
    planes = canvas[:, :, ::-1] if reverse else canvas
    reference = (planes.transpose(2, 0, 1).astype(np.float64) - mean) * scale
    assert blob.dtype == np.float32 and blob.shape == (1, 3, 32, 32)
    assert blob.flags.c_contiguous
    np.testing.assert_array_equal(blob[0], reference.astype(np.float32))
    # The padding is black, +0.0 (not -0.0) where the mean is 0.
    h, w = round(factors[1] * image.shape[0]), round(factors[0] * image.shape[1])
    padding = np.concatenate([blob[0, :, h:].ravel(), blob[0, :, :h, w:].ravel()])
    assert (padding == np.float32(-mean * scale)).all()
    assert not np.signbit(padding).any() or mean > 0


def test_letterbox_blob_checks_the_image() -> None:
    for bad in (np.zeros((4, 6), np.uint8), np.zeros((4, 6, 4), np.uint8)):
        with pytest.raises(UsageError) as err:
            letterbox_blob(bad, (32, 32))
        assert str(err.value) == IMAGE_EXPECTED.format(shape=bad.shape, dtype=bad.dtype)


def test_faces_from_arrays() -> None:
    faces = faces_from_arrays(
        np.array([[0, 0, 2, 2]], np.float32), np.array([0.5]), np.ones((1, 5, 2))
    )
    assert faces[0].box.dtype == np.float64 and faces[0].score == 0.5
    assert faces[0].landmarks is not None and faces[0].landmarks.shape == (5, 2)
    assert faces_from_arrays(np.zeros((1, 4)), np.ones(1), None)[0].landmarks is None


def test_check_thresholds() -> None:
    assert check_thresholds(0.5, 0.4) == (0.5, 0.4)
    assert check_thresholds(-3, 1) == (-3.0, 1.0)
    for score in (float("nan"), float("inf")):
        with pytest.raises(UsageError) as err:
            check_thresholds(score, 0.4)
        assert str(err.value) == SCORE_THRESHOLD_EXPECTED.format(got=score)
    for iou in (-0.1, 1.5, float("nan")):
        with pytest.raises(UsageError) as err:
            check_thresholds(0.5, iou)
        assert str(err.value) == NMS_THRESHOLD_EXPECTED.format(got=iou)
