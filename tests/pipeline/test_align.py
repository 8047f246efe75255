from __future__ import annotations

import numpy as np
import pytest

from faceparity.pipeline.align import (
    ARCFACE_TEMPLATE,
    align_face,
    box_transform,
    similarity_transform,
    template,
)
from faceparity.pipeline.faces import Face

cv2 = pytest.importorskip("cv2")


def _similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    r = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([r, [[tx], [ty]]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_similarity_transform_recovers_a_known_transform_exactly() -> None:
    known = _similarity(23.0, 1.7, 40.0, -12.5)
    source = ARCFACE_TEMPLATE
    target = _apply(known, source)
    np.testing.assert_allclose(similarity_transform(source, target), known, atol=1e-12)


def test_similarity_transform_is_least_squares_for_noisy_points() -> None:
    rng = np.random.default_rng(3)
    known = _similarity(-10.0, 0.8, 5.0, 7.0)
    source = rng.uniform(0, 100, size=(30, 2))
    target = _apply(known, source) + rng.normal(0, 0.01, size=(30, 2))
    fitted = similarity_transform(source, target)
    np.testing.assert_allclose(fitted[:, :2], known[:, :2], atol=1e-3)
    np.testing.assert_allclose(fitted[:, 2], known[:, 2], atol=2e-2)
    # OpenCV's estimator of the same model agrees (an independent computation).
    reference, _ = cv2.estimateAffinePartial2D(source, target, method=cv2.LMEDS)
    np.testing.assert_allclose(fitted[:, :2], reference[:, :2], atol=1e-3)
    np.testing.assert_allclose(fitted[:, 2], reference[:, 2], atol=2e-2)
    # The least-squares fit leaves no smaller residual to a perturbed transform.
    residual = np.sum((_apply(fitted, source) - target) ** 2)
    assert residual <= np.sum((_apply(reference, source) - target) ** 2) + 1e-12


def test_similarity_transform_never_reflects() -> None:
    source = ARCFACE_TEMPLATE
    mirrored = source * np.array([-1.0, 1.0])
    m = similarity_transform(source, mirrored)
    assert np.linalg.det(m[:, :2]) > 0


def test_similarity_transform_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="expected two"):
        similarity_transform(np.zeros((1, 2)), np.zeros((1, 2)))


def test_template_scales_with_the_size() -> None:
    np.testing.assert_allclose(template(224), ARCFACE_TEMPLATE * 2)


def test_alignment_known_answer_image() -> None:
    """A crop drawn on the template, moved by a known similarity, is brought back."""
    crop = np.zeros((112, 112, 3), dtype=np.uint8)
    for k, (x, y) in enumerate(ARCFACE_TEMPLATE):
        cv2.circle(crop, (round(x), round(y)), 3, (60 * (k + 1), 255 - 40 * k, 100), -1)
    crop[10:20, 40:70] = (250, 250, 250)  # a patch off the landmarks
    known = _similarity(30.0, 2.5, 300.0, 50.0)
    image = cv2.warpAffine(crop, known, (640, 480), flags=cv2.INTER_LINEAR)
    landmarks = _apply(known, ARCFACE_TEMPLATE)
    face = Face(np.array([0.0, 0.0, 640.0, 480.0]), 1.0, landmarks)
    aligned = align_face(image, face, size=112)
    assert aligned.shape == (112, 112, 3)
    difference = np.abs(aligned.astype(int) - crop.astype(int))
    # Two bilinear resamplings blur edges by about a pixel; the interior matches.
    assert np.mean(difference) < 3.0
    assert np.all(difference[12:18, 42:68] <= 2)
    for x, y in ARCFACE_TEMPLATE:
        np.testing.assert_array_less(
            np.abs(aligned[round(y), round(x)].astype(int) - crop[round(y), round(x)]), 4
        )


def test_box_crop_without_landmarks() -> None:
    m = box_transform([10.0, 20.0, 50.0, 60.0], 112, margin=0.0)
    np.testing.assert_allclose(
        _apply(m, np.array([[10.0, 20.0], [50.0, 60.0]])), [[0, 0], [112, 112]]
    )
    m = box_transform([10.0, 20.0, 30.0, 60.0], 100, margin=0.25)  # taller than wide
    np.testing.assert_allclose(_apply(m, np.array([[20.0, 40.0]])), [[50.0, 50.0]])
    np.testing.assert_allclose(m[0, 0], 100 / 60.0)


def test_aligned_input_is_resized_whole() -> None:
    image = np.full((224, 224, 3), 90, dtype=np.uint8)
    out = align_face(image, None, size=112)
    assert out.shape == (112, 112, 3) and (out == 90).all()
    same = np.zeros((112, 112, 3), dtype=np.uint8)
    assert align_face(same, None, size=112) is same
