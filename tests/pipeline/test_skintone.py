from __future__ import annotations

import math

import numpy as np
import pytest

from faceparity.pipeline.skintone import (
    ITA_BANDS,
    ITA_LIMITS_NOTE,
    MIN_USABLE_FRACTION,
    SKIN_REGIONS,
    TEMPLATE_SIZE,
    ita_band,
    ita_degrees,
    skin_ita,
    skin_regions,
    skin_tone_columns,
    srgb_to_lab,
)

# The ArcFace 112 x 112 template: right eye, left eye, nose, right and left mouth corners.
RIGHT_EYE, LEFT_EYE, NOSE = (38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366)
RIGHT_MOUTH, LEFT_MOUTH = (41.5493, 92.3655), (70.7299, 92.2041)


def _colour_of_lab(lab: tuple[float, float, float]) -> np.ndarray:
    """The 8-bit sRGB colour of a CIELAB value, by scikit-image (the independent reference)."""
    color = pytest.importorskip("skimage.color")
    rgb = color.lab2rgb(np.array([[lab]], dtype=np.float64))[0, 0]
    assert np.all((rgb > 0) & (rgb < 1)), "the test colour must lie inside the sRGB gamut"
    return np.round(rgb * 255).astype(np.uint8)


def _reference_ita(rgb: np.ndarray) -> float:
    """ITA of an 8-bit colour from scikit-image's CIELAB and the textbook arctan formula."""
    color = pytest.importorskip("skimage.color")
    lab_l, _, lab_b = color.rgb2lab(rgb.reshape(1, 1, 3))[0, 0]
    assert lab_b > 0
    return math.degrees(math.atan((lab_l - 50.0) / lab_b))


# -- the angle --------------------------------------------------------------------------


def test_ita_by_hand() -> None:
    assert float(ita_degrees(60.0, 10.0)) == pytest.approx(45.0, abs=1e-12)
    assert float(ita_degrees(50.0 + 10.0 * math.sqrt(3.0), 10.0)) == pytest.approx(60.0, abs=1e-12)
    assert float(ita_degrees(40.0, 10.0)) == pytest.approx(-45.0, abs=1e-12)
    assert float(ita_degrees(50.0, 20.0)) == 0.0


def test_ita_is_the_arctan_definition_where_b_is_positive() -> None:
    rng = np.random.default_rng(3)
    lab_l, lab_b = rng.uniform(0, 100, 500), rng.uniform(0.01, 60, 500)
    expected = np.arctan((lab_l - 50.0) / lab_b) * 180.0 / np.pi
    np.testing.assert_allclose(ita_degrees(lab_l, lab_b), expected, rtol=0, atol=1e-10)


def test_ita_where_b_is_zero_or_negative() -> None:
    angles = ita_degrees([70.0, 30.0, 50.0, 50.0, 60.0, 40.0], [0.0, 0.0, 0.0, -0.0, -10.0, -10.0])
    np.testing.assert_allclose(angles, [90.0, -90.0, 0.0, 0.0, 135.0, -135.0], atol=1e-12)
    assert [ita_band(a) for a in angles] == [
        "very light",
        "dark",
        "brown",
        "brown",
        "very light",
        "dark",
    ]


def test_ita_broadcasts_and_keeps_nan() -> None:
    angles = ita_degrees(np.array([[60.0], [40.0]]), np.array([10.0, math.nan]))
    assert angles.shape == (2, 2)
    np.testing.assert_allclose(angles[:, 0], [45.0, -45.0], atol=1e-12)
    assert np.isnan(angles[:, 1]).all()
    assert np.isnan(ita_degrees(math.nan, 10.0))


# -- the bands --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("angle", "band"),
    [
        (180.0, "very light"),
        (55.000001, "very light"),
        (55.0, "light"),
        (41.000001, "light"),
        (41.0, "intermediate"),
        (28.000001, "intermediate"),
        (28.0, "tan"),
        (10.000001, "tan"),
        (10.0, "brown"),
        (0.0, "brown"),
        (-29.999999, "brown"),
        (-30.0, "dark"),
        (-180.0, "dark"),
        (math.inf, "very light"),
        (-math.inf, "dark"),
    ],
)
def test_band_boundaries_belong_to_the_band_below_them(angle: float, band: str) -> None:
    assert ita_band(angle) == band


def test_nan_has_no_band() -> None:
    assert ita_band(math.nan) is None
    assert skin_tone_columns(math.nan)["ita_band"] is None


def test_bands_are_contiguous_and_ordered_from_light_to_dark() -> None:
    names = [name for name, _, _ in ITA_BANDS]
    assert names == ["very light", "light", "intermediate", "tan", "brown", "dark"]
    assert ITA_BANDS[0][2] == math.inf and ITA_BANDS[-1][1] == -math.inf
    for (_, low, _), (_, _, high) in zip(ITA_BANDS, ITA_BANDS[1:], strict=False):
        assert low == high
    assert [low for _, low, _ in ITA_BANDS[:-1]] == [55.0, 41.0, 28.0, 10.0, -30.0]


def test_skin_tone_columns() -> None:
    assert skin_tone_columns(42.5) == {"ita": 42.5, "ita_band": "light"}


# -- sRGB to CIELAB ---------------------------------------------------------------------


def _rgb_grid() -> np.ndarray:
    steps = np.arange(0, 256, 5)
    return np.stack(np.meshgrid(steps, steps, steps), axis=-1).reshape(-1, 3).astype(np.uint8)


def test_srgb_to_lab_agrees_with_scikit_image() -> None:
    color = pytest.importorskip("skimage.color")
    grid = _rgb_grid()
    expected = color.rgb2lab(grid.reshape(1, -1, 3)).reshape(-1, 3)
    np.testing.assert_allclose(srgb_to_lab(grid), expected, rtol=0, atol=0.02)


def test_srgb_white_is_neutral_and_black_is_zero() -> None:
    lab = srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [119, 119, 119]], dtype=np.uint8))
    np.testing.assert_allclose(lab[:2], [[100.0, 0.0, 0.0], [0.0, 0.0, 0.0]], atol=1e-10)
    np.testing.assert_allclose(lab[2, 1:], [0.0, 0.0], atol=1e-10)  # greys have no hue
    assert srgb_to_lab(np.zeros((4, 5, 3), dtype=np.uint8)).shape == (4, 5, 3)


def test_opencv_lab_is_close_to_scikit_image_but_coarser_than_ours() -> None:
    # Why skin_ita converts in numpy: OpenCV's float path interpolates the sRGB curve.
    cv2 = pytest.importorskip("cv2")
    color = pytest.importorskip("skimage.color")
    grid = _rgb_grid()
    expected = color.rgb2lab(grid.reshape(1, -1, 3)).reshape(-1, 3)
    ours = np.abs(srgb_to_lab(grid) - expected).max()
    opencv = cv2.cvtColor(grid.reshape(1, -1, 3).astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    theirs = np.abs(opencv.reshape(-1, 3) - expected).max()
    assert theirs < 0.5
    assert ours < theirs


# -- the skin of an aligned face --------------------------------------------------------

# CIELAB colours well inside each band, with their analytic ITA.
PATCHES = [
    ((75.0, 8.0, 12.0), "very light"),  # 64.36 degrees
    ((65.0, 10.0, 15.0), "light"),  # 45.00
    ((60.0, 10.0, 15.0), "intermediate"),  # 33.69
    ((55.0, 10.0, 17.0), "tan"),  # 16.39
    ((45.0, 12.0, 20.0), "brown"),  # -14.04
    ((30.0, 10.0, 15.0), "dark"),  # -53.13
]


@pytest.mark.parametrize(("lab", "band"), PATCHES)
@pytest.mark.parametrize("size", [112, 224])
def test_skin_ita_of_a_uniform_patch_of_known_cielab_colour(lab, band: str, size: int) -> None:
    rgb = _colour_of_lab(lab)
    image = np.broadcast_to(rgb, (size, size, 3)).copy()
    measured = skin_ita(image)
    # Against the exact colour of the 8-bit patch, by scikit-image:
    assert measured == pytest.approx(_reference_ita(rgb), abs=0.1)
    # Against the CIELAB value asked for (8-bit rounding moves L* and b* a little):
    assert measured == pytest.approx(math.degrees(math.atan((lab[0] - 50) / lab[2])), abs=1.5)
    assert ita_band(measured) == band


def test_only_the_skin_regions_are_read() -> None:
    rng = np.random.default_rng(5)
    skin = _colour_of_lab((60.0, 10.0, 15.0))
    for height, width in [(112, 112), (224, 224), (96, 128)]:
        image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        for x1, y1, x2, y2 in skin_regions(height, width):
            image[y1:y2, x1:x2] = skin
        assert skin_ita(image) == pytest.approx(_reference_ita(skin), abs=0.1)


def test_one_region_of_another_colour_does_not_move_the_median() -> None:
    skin = _colour_of_lab((55.0, 10.0, 17.0))
    image = np.broadcast_to(skin, (112, 112, 3)).copy()
    x1, y1, x2, y2 = skin_regions(112, 112)[2]
    image[y1:y2, x1:x2] = (90, 60, 40)  # a fringe of brown hair over the forehead
    uniform = skin_ita(np.broadcast_to(skin, (112, 112, 3)).copy())
    assert skin_ita(image) == uniform


def test_clipped_and_very_dark_pixels_are_left_out() -> None:
    skin = _colour_of_lab((45.0, 12.0, 20.0))
    image = np.broadcast_to(skin, (112, 112, 3)).copy()
    (r1, r2, r3, r4), (l1, l2, l3, l4), _ = skin_regions(112, 112)
    image[r2:r4, r1:r3] = (255, 240, 230)  # a specular highlight, clipped in red
    image[l2:l4, l1:l3] = (5, 5, 5)  # deep shadow
    # Two of three equal regions are out: a third of the pixels remain, above a quarter.
    assert skin_ita(image) == skin_ita(np.broadcast_to(skin, (112, 112, 3)).copy())


def test_too_few_usable_pixels_give_nan() -> None:
    assert MIN_USABLE_FRACTION == 0.25
    assert math.isnan(skin_ita(np.full((112, 112, 3), 255, dtype=np.uint8)))
    assert math.isnan(skin_ita(np.zeros((112, 112, 3), dtype=np.uint8)))
    assert math.isnan(skin_ita(np.zeros((3, 3, 3), dtype=np.uint8)))  # regions round to nothing


@pytest.mark.parametrize(("shape", "dtype"), [((112, 112), np.uint8), ((112, 112, 3), np.float32)])
def test_skin_ita_rejects_what_is_not_an_rgb_uint8_image(shape, dtype) -> None:
    with pytest.raises(ValueError) as info:
        skin_ita(np.zeros(shape, dtype=dtype))
    assert str(info.value) == (
        "aligned face: expected an RGB image of shape (height, width, 3) with dtype uint8, "
        f"got shape {shape} and dtype {np.dtype(dtype)}"
    )


# -- where the regions lie on the template ----------------------------------------------


def test_regions_scale_with_the_aligned_size() -> None:
    assert TEMPLATE_SIZE == 112
    assert skin_regions(112, 112) == tuple(
        (int(x1), int(y1), int(x2), int(y2)) for _, x1, y1, x2, y2 in SKIN_REGIONS
    )
    assert skin_regions(224, 224) == tuple(
        tuple(2 * v for v in box) for box in skin_regions(112, 112)
    )
    assert skin_regions(56, 224)[0] == (56, 30, 88, 39)


def test_regions_lie_on_skin_given_the_template_landmarks() -> None:
    (_, *right), (_, *left), (_, *forehead) = SKIN_REGIONS
    eye_y = max(RIGHT_EYE[1], LEFT_EYE[1])
    mouth_y = min(RIGHT_MOUTH[1], LEFT_MOUTH[1])
    for (x1, y1, x2, y2), eye_x in ((right, RIGHT_EYE[0]), (left, LEFT_EYE[0])):
        assert y1 >= eye_y + 8  # below the lower eyelid
        assert y2 <= mouth_y - 14  # above the mouth corners
        assert x1 < eye_x < x2  # under the eye
        # The wings of the nose lie about 10 px either side of its tip: keep 1.5 px clear.
        assert min(abs(x1 - NOSE[0]), abs(x2 - NOSE[0])) >= 11.5
    # The cheeks mirror each other about the template's vertical centre.
    assert right[0] == TEMPLATE_SIZE - left[2] and right[2] == TEMPLATE_SIZE - left[0]
    x1, y1, x2, y2 = forehead
    assert y2 <= min(RIGHT_EYE[1], LEFT_EYE[1]) - 17  # above the eyebrows
    assert abs((x1 + x2) / 2 - NOSE[0]) < 0.1  # centred over the nose
    areas = {(b[2] - b[0]) * (b[3] - b[1]) for b in (right, left, forehead)}
    assert areas == {288.0}


def test_the_limits_note_names_what_moves_the_ita_and_what_it_is_not() -> None:
    for words in ("lighting", "white balance", "make-up", "not ethnicity", "Fitzpatrick"):
        assert words in ITA_LIMITS_NOTE
