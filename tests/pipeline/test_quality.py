from __future__ import annotations

import math

import numpy as np
import pytest

from faceparity import UsageError
from faceparity.pipeline.faces import Face
from faceparity.pipeline.quality import (
    DEFAULT_QUALITY_LIMITS,
    LIMIT_KEYS,
    ImageQuality,
    QualityLimits,
    measure_quality,
    parse_quality_limits,
)

# The ArcFace 112 x 112 template (Deng et al. 2019): right eye, left eye, nose, mouth corners.
TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ]
)
# A symmetric, upright face: eye midpoint (56, 50), mouth midpoint (56, 90), so D = 40.
SYMMETRIC = np.array([[40.0, 50.0], [72.0, 50.0], [56.0, 70.0], [44.0, 90.0], [68.0, 90.0]])
BOX = np.array([10.0, 20.0, 110.0, 140.0])
GREY = np.full((112, 112, 3), 128, dtype=np.uint8)


def _face(landmarks: np.ndarray | None, box: np.ndarray = BOX) -> Face:
    return Face(box, 0.9, landmarks)


def _rotate(points: np.ndarray, degrees: float, centre=(60.0, 70.0)) -> np.ndarray:
    """Rotate in image coordinates (y down): positive turns clockwise as displayed."""
    t = math.radians(degrees)
    c = np.asarray(centre)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return (points - c) @ rot.T + c


def _quality(**changes: float) -> ImageQuality:
    base = dict(
        inter_eye_distance=40.0,
        face_width=100.0,
        face_height=120.0,
        sharpness=200.0,
        brightness=0.5,
        contrast=0.2,
        yaw=0.0,
        roll=0.0,
    )
    base.update(changes)
    return ImageQuality(**base)


# -- photometry -------------------------------------------------------------------------


def _grey_image(values: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(values, dtype=np.uint8)[:, :, None], 3, axis=2)


def test_sharpness_of_a_single_bright_pixel_by_hand() -> None:
    # Laplacian: -400 at the centre, +100 at its 4 neighbours, 0 elsewhere; mean 0 over
    # 25 pixels, so the variance is (400^2 + 4 * 100^2) / 25 = 8000.
    values = np.zeros((5, 5))
    values[2, 2] = 100
    q = measure_quality(_face(None), _grey_image(values))
    assert q.sharpness == pytest.approx(8000.0, rel=1e-12)


def test_sharpness_matches_scipy_laplace_with_mirrored_borders() -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    grey = 0.299 * image[..., 0] + 0.587 * image[..., 1] + 0.114 * image[..., 2]
    # scipy's "mirror" reflects without repeating the edge: OpenCV's BORDER_REFLECT_101.
    expected = ndimage.laplace(grey, mode="mirror").var()
    assert measure_quality(_face(None), image).sharpness == pytest.approx(expected, rel=1e-12)


def test_sharpness_matches_opencv_laplacian_ksize_1() -> None:
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(8)
    image = rng.integers(0, 256, size=(40, 30, 3), dtype=np.uint8)
    grey = 0.299 * image[..., 0] + 0.587 * image[..., 1] + 0.114 * image[..., 2]
    expected = cv2.Laplacian(grey, cv2.CV_64F, ksize=1).var()
    assert measure_quality(_face(None), image).sharpness == pytest.approx(expected, rel=1e-12)


def test_brightness_and_contrast_of_half_black_half_white() -> None:
    values = np.zeros((4, 4))
    values[:, 2:] = 255
    q = measure_quality(_face(None), _grey_image(values))
    assert q.brightness == pytest.approx(0.5, abs=1e-12)
    assert q.contrast == pytest.approx(0.5, abs=1e-12)


def test_brightness_and_contrast_of_four_grey_levels() -> None:
    # Grey levels 0, 51, 102, 153 = 255 * (0, 0.2, 0.4, 0.6): mean 0.3, and standard
    # deviation 0.2 * std(0, 1, 2, 3) = 0.2 * sqrt(1.25).
    q = measure_quality(_face(None), _grey_image(np.array([[0, 51], [102, 153]])))
    assert q.brightness == pytest.approx(0.3, abs=1e-12)
    assert q.contrast == pytest.approx(0.2 * math.sqrt(1.25), abs=1e-12)


def test_brightness_uses_bt601_luma_weights() -> None:
    red = np.zeros((3, 3, 3), dtype=np.uint8)
    red[..., 0] = 255
    green = np.roll(red, 1, axis=2)
    blue = np.roll(red, 2, axis=2)
    assert measure_quality(_face(None), red).brightness == pytest.approx(0.299, abs=1e-12)
    assert measure_quality(_face(None), green).brightness == pytest.approx(0.587, abs=1e-12)
    assert measure_quality(_face(None), blue).brightness == pytest.approx(0.114, abs=1e-12)
    assert measure_quality(_face(None), red).contrast == pytest.approx(0.0, abs=1e-12)


def test_a_uniform_face_has_no_sharpness_or_contrast() -> None:
    q = measure_quality(_face(None), np.full((112, 112, 3), 51, dtype=np.uint8))
    assert q.sharpness == pytest.approx(0.0, abs=1e-18)
    assert q.contrast == pytest.approx(0.0, abs=1e-12)
    assert q.brightness == pytest.approx(0.2, abs=1e-12)


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((112, 112), np.uint8),
        ((112, 112, 4), np.uint8),
        ((112, 112, 3), np.float64),
        ((1, 5, 3), np.uint8),
    ],
)
def test_measure_quality_rejects_what_is_not_an_rgb_uint8_image(shape, dtype) -> None:
    aligned = np.zeros(shape, dtype=dtype)
    expected = (
        "aligned face: expected an RGB image of shape (height, width, 3) with height and "
        f"width at least 2 and dtype uint8, got shape {shape} and dtype {np.dtype(dtype)}"
    )
    with pytest.raises(ValueError) as info:
        measure_quality(_face(None), aligned)
    assert str(info.value) == expected


# -- geometry ---------------------------------------------------------------------------


def test_inter_eye_distance_and_box_size_in_original_pixels() -> None:
    marks = SYMMETRIC.copy()
    marks[0], marks[1] = (10.0, 20.0), (13.0, 24.0)  # a 3-4-5 triangle
    q = measure_quality(_face(marks, np.array([5.0, 6.0, 45.5, 80.0])), GREY)
    assert q.inter_eye_distance == 5.0
    assert (q.face_width, q.face_height) == (40.5, 74.0)


def test_without_landmarks_geometry_is_nan_but_the_box_is_measured() -> None:
    q = measure_quality(_face(None), GREY)
    assert math.isnan(q.inter_eye_distance) and math.isnan(q.yaw) and math.isnan(q.roll)
    assert (q.face_width, q.face_height) == (100.0, 120.0)
    assert isinstance(q.yaw, float)


def test_symmetric_upright_face_has_zero_yaw_and_roll() -> None:
    q = measure_quality(_face(SYMMETRIC), GREY)
    assert (q.yaw, q.roll, q.inter_eye_distance) == (0.0, 0.0, 32.0)


def test_template_is_frontal_and_its_roll_is_the_angle_of_its_eye_line() -> None:
    q = measure_quality(_face(TEMPLATE), GREY)
    assert abs(q.yaw) < 0.05
    # The template's left eye is 0.1949 px higher than its right eye: a slight negative roll.
    assert q.roll == pytest.approx(math.degrees(math.atan2(-0.1949, 35.2372)), abs=1e-12)
    assert q.inter_eye_distance == pytest.approx(math.hypot(35.2372, 0.1949), abs=1e-12)


@pytest.mark.parametrize(("shift", "yaw"), [(8.0, 30.0), (-8.0, -30.0), (16.0, 90.0), (40.0, 90.0)])
def test_yaw_by_hand_from_the_nose_offset(shift: float, yaw: float) -> None:
    # Offset s of the nose from the midline, D = 40: yaw = asin(s / (0.4 * 40)), clipped.
    marks = SYMMETRIC.copy()
    marks[2, 0] += shift
    assert measure_quality(_face(marks), GREY).yaw == pytest.approx(yaw, abs=1e-9)


def test_positive_yaw_means_the_nose_moves_towards_the_subjects_left_eye() -> None:
    marks = SYMMETRIC.copy()
    marks[2, 0] += 4.0  # towards x of the left eye (72), the image's right
    q = measure_quality(_face(marks), GREY)
    assert q.yaw == pytest.approx(math.degrees(math.asin(0.25)), abs=1e-12)


def test_roll_of_a_rotated_face_keeps_its_yaw() -> None:
    marks = SYMMETRIC.copy()
    marks[2, 0] += 8.0
    q = measure_quality(_face(_rotate(marks, 10.0)), GREY)
    assert q.roll == pytest.approx(10.0, abs=1e-9)  # clockwise as displayed: positive
    assert q.yaw == pytest.approx(30.0, abs=1e-9)
    q = measure_quality(_face(_rotate(TEMPLATE, -25.0)), GREY)
    template = measure_quality(_face(TEMPLATE), GREY)
    assert q.roll == pytest.approx(template.roll - 25.0, abs=1e-9)
    assert q.yaw == pytest.approx(template.yaw, abs=1e-9)


def test_a_mirrored_face_turns_the_other_way() -> None:
    marks = SYMMETRIC.copy()
    marks[2, 0] += 8.0
    marks = _rotate(marks, 10.0)
    mirrored = marks.copy()
    mirrored[:, 0] = 200.0 - mirrored[:, 0]
    mirrored = mirrored[[1, 0, 2, 4, 3]]  # the subject's right eye is again the first row
    q = measure_quality(_face(mirrored), GREY)
    assert q.yaw == pytest.approx(-30.0, abs=1e-9)
    assert q.roll == pytest.approx(-10.0, abs=1e-9)


def test_yaw_and_roll_do_not_depend_on_scale() -> None:
    marks = SYMMETRIC.copy()
    marks[2, 0] += 5.0
    small, large = (measure_quality(_face(m), GREY) for m in (marks, 3.0 * marks + 7.0))
    assert large.yaw == pytest.approx(small.yaw, abs=1e-12)
    assert large.roll == pytest.approx(small.roll, abs=1e-12)
    assert large.inter_eye_distance == pytest.approx(3.0 * small.inter_eye_distance)


def test_degenerate_landmarks_give_nan_rather_than_an_angle() -> None:
    marks = np.tile([50.0, 50.0], (5, 1))
    q = measure_quality(_face(marks), GREY)
    assert q.inter_eye_distance == 0.0
    assert math.isnan(q.yaw) and math.isnan(q.roll)


def test_as_dict_is_numeric_and_in_field_order() -> None:
    q = measure_quality(_face(None), GREY)
    record = q.as_dict()
    assert list(record) == [
        "inter_eye_distance",
        "face_width",
        "face_height",
        "sharpness",
        "brightness",
        "contrast",
        "yaw",
        "roll",
    ]
    assert all(isinstance(v, float) for v in record.values())


# -- limits -----------------------------------------------------------------------------


def test_default_limits_check_only_the_inter_eye_distance() -> None:
    assert DEFAULT_QUALITY_LIMITS == QualityLimits()
    assert QualityLimits() == QualityLimits(
        min_inter_eye=10.0,
        min_sharpness=None,
        min_brightness=None,
        max_brightness=None,
        min_contrast=None,
        max_yaw=None,
        max_roll=None,
    )
    assert LIMIT_KEYS == (
        "min_inter_eye",
        "min_sharpness",
        "min_brightness",
        "max_brightness",
        "min_contrast",
        "max_yaw",
        "max_roll",
    )


def test_reasons_are_exact_and_in_field_order() -> None:
    limits = QualityLimits(
        min_inter_eye=10,
        min_sharpness=50,
        min_brightness=0.1,
        max_brightness=0.9,
        min_contrast=0.05,
        max_yaw=45,
        max_roll=30,
    )
    bad = _quality(
        inter_eye_distance=7.9,
        sharpness=12.345,
        brightness=0.0412,
        contrast=0.01,
        yaw=-47.25,
        roll=31.0,
    )
    assert limits.reasons(bad) == (
        "inter-eye distance 7.9 px below the limit of 10 px",
        "sharpness 12.35 below the limit of 50",
        "brightness 0.0412 below the limit of 0.1",
        "contrast 0.01 below the limit of 0.05",
        "yaw -47.25 degrees beyond the limit of ±45 degrees",
        "roll +31 degrees beyond the limit of ±30 degrees",
    )
    assert limits.reasons(_quality(brightness=0.95)) == ("brightness 0.95 above the limit of 0.9",)
    assert limits.reasons(_quality()) == ()


def test_a_measure_equal_to_its_limit_passes() -> None:
    limits = QualityLimits(
        min_inter_eye=10, min_brightness=0.5, max_brightness=0.5, max_yaw=45, max_roll=30
    )
    q = _quality(inter_eye_distance=10.0, brightness=0.5, yaw=-45.0, roll=30.0)
    assert limits.reasons(q) == ()


def test_an_unmeasured_measure_never_fails_enrolment() -> None:
    # A Haar face: no landmarks, so no inter-eye distance, yaw or roll.
    haar = measure_quality(_face(None), GREY)
    limits = QualityLimits(min_inter_eye=10, max_yaw=1, max_roll=1)
    assert limits.reasons(haar) == ()


def test_no_limits_enrol_everything() -> None:
    worst = _quality(inter_eye_distance=0.5, sharpness=0.0, brightness=0.0, contrast=0.0, yaw=90.0)
    assert QualityLimits.none().reasons(worst) == ()
    assert QualityLimits().reasons(worst) == ("inter-eye distance 0.5 px below the limit of 10 px",)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"min_inter_eye": -1.0},
            "quality limits: min_inter_eye: expected a finite number >= 0 or none, got -1.0",
        ),
        (
            {"min_sharpness": math.inf},
            "quality limits: min_sharpness: expected a finite number >= 0 or none, got inf",
        ),
        (
            {"max_yaw": 91.0},
            "quality limits: max_yaw: expected a number in [0, 90] or none, got 91.0",
        ),
        (
            {"min_contrast": 0.6},
            "quality limits: min_contrast: expected a number in [0, 0.5] or none, got 0.6",
        ),
        (
            {"max_brightness": math.nan},
            "quality limits: max_brightness: expected a number in [0, 1] or none, got nan",
        ),
        (
            {"min_brightness": 0.8, "max_brightness": 0.2},
            "quality limits: min_brightness 0.8 is above max_brightness 0.2",
        ),
    ],
)
def test_limits_out_of_range_are_refused(kwargs, message) -> None:
    with pytest.raises(UsageError) as info:
        QualityLimits(**kwargs)
    assert str(info.value) == message


def test_parse_keeps_defaults_for_keys_not_given() -> None:
    assert parse_quality_limits("min_inter_eye=20,max_yaw=45") == QualityLimits(
        min_inter_eye=20.0, max_yaw=45.0
    )
    assert parse_quality_limits("max_roll=30") == QualityLimits(max_roll=30.0)
    assert parse_quality_limits(" MAX_Brightness = 0.9 , min_brightness=0.1 ") == QualityLimits(
        min_brightness=0.1, max_brightness=0.9
    )


def test_parse_none_turns_limits_off() -> None:
    assert parse_quality_limits("none") == QualityLimits.none()
    assert parse_quality_limits(" None ") == QualityLimits.none()
    assert parse_quality_limits("min_inter_eye=none,max_yaw=60") == QualityLimits(
        min_inter_eye=None, max_yaw=60.0
    )


KEYS = (
    "min_inter_eye, min_sharpness, min_brightness, max_brightness, min_contrast, max_yaw, max_roll"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "min_inter_eye",
            "quality limits: expected KEY=VALUE pairs separated by commas (or 'none'), "
            "got 'min_inter_eye' in 'min_inter_eye'",
        ),
        (
            "max_yaw=45,",
            "quality limits: expected KEY=VALUE pairs separated by commas (or 'none'), "
            "got '' in 'max_yaw=45,'",
        ),
        (
            "max_yaw=",
            "quality limits: expected KEY=VALUE pairs separated by commas (or 'none'), "
            "got 'max_yaw=' in 'max_yaw='",
        ),
        (
            "",
            "quality limits: expected KEY=VALUE pairs separated by commas (or 'none'), "
            "got '' in ''",
        ),
        ("min_iod=20", f"quality limits: unknown key 'min_iod'; expected one of {KEYS}"),
        ("max_yaw=abc", "quality limits: max_yaw: expected a number or 'none', got 'abc'"),
        ("max_yaw=nan", "quality limits: max_yaw: expected a number or 'none', got 'nan'"),
        (
            "max_yaw=30,MAX_YAW=40",
            "quality limits: 'max_yaw' is given more than once in 'max_yaw=30,MAX_YAW=40'",
        ),
        ("max_yaw=100", "quality limits: max_yaw: expected a number in [0, 90] or none, got 100.0"),
    ],
)
def test_parse_errors_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_quality_limits(text)
    assert str(info.value) == message
