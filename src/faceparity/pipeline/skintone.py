"""Skin tone as the Individual Typology Angle (ITA) of the aligned face's skin.

The ITA is a colorimetric measure of constitutive skin colour (Chardon, Cretois and
Hourseau 1991): the angle, in the CIELAB plane of lightness ``L*`` and yellow-blue
``b*``, of a skin colour seen from the point ``L* = 50, b* = 0``::

    ITA = arctan((L* - 50) / b*) * 180 / pi    (degrees)

Del Bino et al. (2006) divide it into six bands, from *very light* to *dark*
(:data:`ITA_BANDS`). Face audits use it as an attribute measured from the images
themselves (Merler et al. 2019), so that skin tone can be a ``--group-by`` attribute
where no annotation exists.

Limits, to be stated wherever the ITA is reported: it is measured on a photograph, not
on skin with a calibrated chromameter, so it moves with the lighting (its colour and
intensity, shadows, highlights), the camera's white balance, exposure and tone
processing, compression, and make-up. It is a colorimetric proxy for apparent skin
colour: not ethnicity, not race, and not the Fitzpatrick phototype. Compare ITA
between groups of one data set taken under similar conditions, never across data sets.

References
----------
A. Chardon, I. Cretois and C. Hourseau, "Skin colour typology and suntanning pathways",
International Journal of Cosmetic Science, 13(4), 191--208, 1991.

S. Del Bino, J. Sok, E. Bessac and F. Bernerd, "Relationship between skin response to
ultraviolet exposure and skin color type", Pigment Cell Research, 19(6), 606--614, 2006.

S. Del Bino and F. Bernerd, "Variations in skin colour and the biological consequences
of ultraviolet radiation exposure", British Journal of Dermatology, 169(s3), 33--40,
2013.

M. Merler, N. Ratha, R. S. Feris and J. R. Smith, "Diversity in Faces",
arXiv:1901.10436, 2019.

"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "D65_WHITE",
    "ITA_BANDS",
    "ITA_LIMITS_NOTE",
    "MIN_USABLE_FRACTION",
    "SKIN_REGIONS",
    "SRGB_TO_XYZ",
    "TEMPLATE_SIZE",
    "ita_band",
    "ita_degrees",
    "skin_ita",
    "skin_regions",
    "skin_tone_columns",
    "srgb_to_lab",
]

ITA_BANDS: tuple[tuple[str, float, float], ...] = (
    ("very light", 55.0, math.inf),
    ("light", 41.0, 55.0),
    ("intermediate", 28.0, 41.0),
    ("tan", 10.0, 28.0),
    ("brown", -30.0, 10.0),
    ("dark", -math.inf, -30.0),
)
"""The skin colour bands of Del Bino et al. (2006): ``(name, low, high)`` in degrees.

A band holds the angles ``low < ITA <= high``, as the paper writes them (very light
``> 55``, light ``41 < ITA <= 55``, ..., dark ``<= -30``); the top band is open above.
"""

TEMPLATE_SIZE = 112
"""Side of the ArcFace template in which :data:`SKIN_REGIONS` are given."""

SKIN_REGIONS: tuple[tuple[str, float, float, float, float], ...] = (
    ("right cheek", 28.0, 60.0, 44.0, 78.0),
    ("left cheek", 68.0, 60.0, 84.0, 78.0),
    ("forehead", 44.0, 22.0, 68.0, 34.0),
)
"""The skin sampled for the ITA: ``(name, x1, y1, x2, y2)`` in 112 x 112 template pixels.

The ArcFace template puts the eyes at y = 51.6 (x = 38.3 and 73.5), the nose tip at
(56.0, 71.7) and the mouth corners at y = 92.3 (x = 41.5 and 70.7); its eyes are 35 px
apart, about 1.8 mm per pixel for an adult face. Each cheek rectangle lies under its
eye, from 8 px (about 15 mm) below the pupil, clear of the lower eyelid, to 14 px
above the mouth corner, and from x = 28 to x = 44 (84 to 68 on the left), which stops
2 px short of the wing of the nose (the nose is about 35 mm, 20 px, wide, so its wings
lie near x = 46 and 66). The forehead rectangle is
centred above the nose, from 18 px (about 32 mm) above the pupils, over the eyebrows,
to 30 px above them, under the usual hairline. The three have equal areas (288 px at
112 x 112), so one covered by hair, a beard or a shadow holds at most a third of the
pixels and moves the median little. Rectangles are half-open, ``x1 <= x < x2``.
"""

ITA_LIMITS_NOTE = (
    "Skin tone is the Individual Typology Angle (ITA) of the cheeks and forehead of each "
    "aligned face, measured on the photograph: it moves with lighting, white balance, "
    "exposure, camera processing and make-up. It is a colorimetric proxy for apparent skin "
    "colour, not ethnicity, race or Fitzpatrick phototype; compare it only within a data set "
    "taken under similar conditions."
)
"""The limits of the ITA in one paragraph, for the report beside any result grouped by it."""

MIN_USABLE_FRACTION = 0.25
"""Least fraction of the sampled pixels that must be usable; below it the ITA is NaN."""

_MIN_LIGHTNESS = 10.0
"""Pixels darker than this ``L*`` are not measured (hair, nostrils, deep shadow)."""


def _xyz(x: float, y: float) -> npt.NDArray[np.float64]:
    """XYZ of the chromaticity ``x, y`` at ``Y = 1``."""
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


D65_WHITE = _xyz(0.3127, 0.3290)
"""XYZ of the D65 white point of sRGB (IEC 61966-2-1), ``Y = 1``."""

_PRIMARIES = np.stack([_xyz(0.64, 0.33), _xyz(0.30, 0.60), _xyz(0.15, 0.06)], axis=1)
SRGB_TO_XYZ = _PRIMARIES * np.linalg.solve(_PRIMARIES, D65_WHITE)
"""Linear sRGB to XYZ: the sRGB primaries scaled so that RGB ``(1, 1, 1)`` is D65."""

IMAGE_SHAPE = (
    "aligned face: expected an RGB image of shape (height, width, 3) with dtype uint8, "
    "got shape {shape} and dtype {dtype}"
)


def ita_degrees(lab_l: npt.ArrayLike, lab_b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Individual Typology Angle, in degrees, of CIELAB lightness and ``b*`` values.

    Computed as ``atan2(L* - 50, b*)`` in degrees, which equals the definition
    ``arctan((L* - 50) / b*)`` of Chardon et al. (1991) wherever ``b* > 0``, as it is
    for skin. It continues the angle where the definition fails: ``b* = 0`` gives
    90 when ``L* > 50``, -90 when ``L* < 50`` and 0 for ``L* = 50``; a bluish
    ``b* < 0`` gives angles beyond +-90 (in (90, 180] when ``L* >= 50``, which falls
    in the *very light* band, and in (-180, -90) when ``L* < 50``, in *dark*). Such
    colours are not skin colours: they come from lighting or white balance far from
    the daylight the ITA assumes.

    Parameters
    ----------
    lab_l, lab_b : array_like
        CIELAB ``L*`` (0 to 100) and ``b*``; broadcast together.

    Returns
    -------
    ndarray of float64
        The angles in degrees, in (-180, 180], of the broadcast shape (0-d for
        scalars); NaN where an input is NaN.

    Examples
    --------
    >>> float(ita_degrees(60.0, 10.0))
    45.0
    >>> ita_degrees([50.0, 70.0, 30.0], [15.0, 0.0, 0.0]).tolist()
    [0.0, 90.0, -90.0]

    """
    lightness = np.asarray(lab_l, dtype=np.float64) - 50.0
    # Adding +0.0 turns a b* of -0.0 into +0.0, so that b* = 0 never gives 180 degrees.
    yellow = np.asarray(lab_b, dtype=np.float64) + 0.0
    return np.degrees(np.arctan2(lightness, yellow))


def ita_band(angle: float) -> str | None:
    """The band of Del Bino et al. (2006) that holds an ITA (:data:`ITA_BANDS`).

    Parameters
    ----------
    angle : float
        ITA in degrees.

    Returns
    -------
    str or None
        ``"very light"``, ``"light"``, ``"intermediate"``, ``"tan"``, ``"brown"`` or
        ``"dark"``; ``None`` for NaN (a missing attribute, not a band).

    Examples
    --------
    >>> ita_band(55.0), ita_band(55.1), ita_band(-30.0), ita_band(float("nan"))
    ('light', 'very light', 'dark', None)

    """
    if math.isnan(angle):
        return None
    for name, low, high in ITA_BANDS:
        if low < angle <= high or (high == math.inf and angle > low):
            return name
    return ITA_BANDS[-1][0]  # -inf only


def skin_tone_columns(ita: float) -> dict[str, float | str | None]:
    """The runner's record columns for skin tone: ``ita`` and ``ita_band``.

    Examples
    --------
    >>> skin_tone_columns(30.0)
    {'ita': 30.0, 'ita_band': 'intermediate'}

    """
    return {"ita": float(ita), "ita_band": ita_band(ita)}


def skin_regions(height: int, width: int) -> tuple[tuple[int, int, int, int], ...]:
    """:data:`SKIN_REGIONS` scaled to an aligned face, as integer ``x1, y1, x2, y2``.

    The template is scaled by ``width / 112`` across and ``height / 112`` down, and
    each edge rounded to the nearest pixel.

    Examples
    --------
    >>> skin_regions(224, 224)
    ((56, 120, 88, 156), (136, 120, 168, 156), (88, 44, 136, 68))

    """
    sx, sy = width / TEMPLATE_SIZE, height / TEMPLATE_SIZE
    return tuple(
        (round(x1 * sx), round(y1 * sy), round(x2 * sx), round(y2 * sy))
        for _, x1, y1, x2, y2 in SKIN_REGIONS
    )


def skin_ita(aligned: npt.NDArray[np.uint8]) -> float:
    """The ITA of the skin of an aligned face, in degrees; NaN where it cannot be measured.

    The pixels of :data:`SKIN_REGIONS` (scaled to the image's size, which the
    alignment sets by scaling the 112 x 112 ArcFace template) are converted from sRGB
    to CIELAB under D65 (:func:`srgb_to_lab`).
    Pixels that are not a measurement of skin colour are left out: those with a
    channel at 255 (clipped highlights, whose colour is lost) and those darker than
    ``L* = 10`` (hair, nostrils, deep shadow; the darkest skin is far lighter under a
    usable exposure). The ITA is that of the median ``L*`` and the median ``b*`` of
    the remaining pixels: a chromameter likewise measures one ``L*, b*`` over its
    aperture, and the angle of a typical colour is steadier than a typical angle,
    since a pixel with ``b*`` near 0 has an angle that jumps by noise. The medians
    keep specular spots, stray hair and shadow from moving the result.

    The result is NaN when fewer than :data:`MIN_USABLE_FRACTION` of the sampled
    pixels are usable. See the module's notes on what the ITA of a photograph can and
    cannot say.

    Parameters
    ----------
    aligned : ndarray of shape (height, width, 3), dtype uint8
        The aligned face, RGB.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``aligned`` is not an RGB uint8 image.

    """
    if aligned.ndim != 3 or aligned.shape[2] != 3 or aligned.dtype != np.uint8:
        raise ValueError(IMAGE_SHAPE.format(shape=aligned.shape, dtype=aligned.dtype))
    height, width = aligned.shape[:2]
    pixels = np.concatenate(
        [aligned[y1:y2, x1:x2].reshape(-1, 3) for x1, y1, x2, y2 in skin_regions(height, width)]
    )
    if len(pixels) == 0:
        return math.nan
    lab = srgb_to_lab(pixels)
    usable = (pixels.max(axis=1) < 255) & (lab[:, 0] >= _MIN_LIGHTNESS)
    if usable.sum() < MIN_USABLE_FRACTION * len(pixels):
        return math.nan
    lightness = float(np.median(lab[usable, 0]))
    yellow = float(np.median(lab[usable, 2]))
    return float(ita_degrees(lightness, yellow))


def srgb_to_lab(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    """CIELAB (D65, 2 degree observer) of 8-bit sRGB colours, in float64.

    The sRGB decoding and the RGB-to-XYZ matrix are those of IEC 61966-2-1 (the matrix
    computed from its primaries and D65 white point, :data:`SRGB_TO_XYZ`), and CIELAB
    is that of CIE 15:2004 relative to the same white, so sRGB white is exactly
    ``L* = 100, a* = b* = 0``. This agrees with scikit-image's ``rgb2lab`` to within
    0.02. OpenCV's ``COLOR_RGB2Lab`` is not used: on floating-point input it
    interpolates the sRGB curve from a table and is off by up to about 0.3 in
    ``a*`` and ``b*``, enough to move an ITA near 0 by half a degree.

    Parameters
    ----------
    rgb : ndarray of shape (..., 3), dtype uint8
        sRGB colours.

    Returns
    -------
    ndarray of shape (..., 3), float64
        ``L*`` in 0--100, then ``a*`` and ``b*``.

    Examples
    --------
    >>> srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0]], dtype=np.uint8)).round(6).tolist()
    [[100.0, 0.0, 0.0], [0.0, 0.0, 0.0]]

    """
    encoded = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)
    ratio = (linear @ SRGB_TO_XYZ.T) / D65_WHITE
    delta = 6.0 / 29.0
    f = np.where(ratio > delta**3, np.cbrt(ratio), ratio / (3.0 * delta**2) + 4.0 / 29.0)
    return np.stack(
        [
            116.0 * f[..., 1] - 16.0,
            500.0 * (f[..., 0] - f[..., 1]),
            200.0 * (f[..., 1] - f[..., 2]),
        ],
        axis=-1,
    )
