"""OpenCV's Haar cascade, the fallback detector, on scikit-image's astronaut photograph."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

from faceparity.errors import UsageError  # noqa: E402
from faceparity.pipeline.detect import IMAGE_EXPECTED, Detector, HaarDetector  # noqa: E402
from faceparity.pipeline.faces import choose_face  # noqa: E402

# Eileen Collins's face in the 512 x 512 astronaut photograph, read off the image: the
# cascade's box with OpenCV 4.14 is (177, 67)-(270, 160). The tolerance leaves room for
# other OpenCV versions while excluding any box not on the face.
FACE = np.array([177.0, 67.0, 270.0, 160.0])
TOLERANCE = 15.0


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


def test_finds_the_astronaut(astronaut) -> None:
    det = HaarDetector()
    assert isinstance(det, Detector)
    faces = det.detect(astronaut)
    assert faces
    face = choose_face(faces, width=512, height=512)
    assert face is not None
    np.testing.assert_allclose(face.box, FACE, atol=TOLERANCE)
    assert face.landmarks is None
    assert face.score >= 4.0
    assert face.box.dtype == np.float64
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)


def test_score_threshold_counts_neighbours(astronaut) -> None:
    # The face gathers dozens of raw detections; no threshold near that keeps anything else.
    (face,) = HaarDetector(score_threshold=10).detect(astronaut)
    np.testing.assert_allclose(face.box, FACE, atol=TOLERANCE)
    assert HaarDetector(score_threshold=1000).detect(astronaut) == []


def test_blank_image_has_no_face() -> None:
    assert HaarDetector().detect(np.full((64, 64, 3), 128, np.uint8)) == []


def test_rejects_non_rgb_images() -> None:
    grey = np.zeros((64, 64), np.uint8)
    with pytest.raises(UsageError) as err:
        HaarDetector().detect(grey)
    assert str(err.value) == IMAGE_EXPECTED.format(shape=(64, 64), dtype="uint8")


def test_description() -> None:
    det = HaarDetector()
    assert det.name == "haar"
    assert det.description == (
        "OpenCV Haar cascade haarcascade_frontalface_default.xml (no landmarks), "
        "scale step 1.1, min size 24 px, images searched at most 1024 px on their longer "
        "side, neighbours >= 4"
    )


def test_a_large_image_is_searched_scaled_down_and_boxes_scaled_back() -> None:
    import cv2

    skimage_data = pytest.importorskip("skimage.data")
    image = skimage_data.astronaut()
    small = HaarDetector().detect(image)[0].box
    big = cv2.resize(image, (2048, 2048), interpolation=cv2.INTER_LINEAR)
    found = HaarDetector(max_side=512).detect(big)[0].box
    np.testing.assert_allclose(found / 4.0, small, atol=4.0)


def test_detection_from_several_threads_agrees_with_one() -> None:
    """OpenCV's cascade is not thread-safe; each thread must get its own."""
    from concurrent.futures import ThreadPoolExecutor

    skimage_data = pytest.importorskip("skimage.data")
    from faceparity.pipeline.detect import open_detector

    detector = open_detector("haar")
    image = skimage_data.astronaut()
    alone = [f.box.tolist() for f in detector.detect(image)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(
            pool.map(lambda _: [f.box.tolist() for f in detector.detect(image)], range(16))
        )
    assert together == [alone] * 16
