"""Per-image quality measures, and the limits below which a face fails to enrol.

A demographic audit has to know whether a differential in error rates comes with a
differential in image quality: smaller, darker or more turned faces in one group are a
cause worth separating from the recognition model (ISO/IEC 19795-10). Each face that
reaches alignment gets an :class:`ImageQuality` record, kept for stratified analysis;
:class:`QualityLimits` states the limits whose failure makes the image a *failure to
enrol* (ISO/IEC 19795-1), each with a short human reason.

Geometry (inter-eye distance, face box, yaw, roll) is measured on the detector's box and
landmarks, in pixels of the original image. Photometry (sharpness, brightness,
contrast) is measured on the aligned face that the recognition model sees, on its grey
level: the ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` of the gamma-encoded RGB
values (the weights of OpenCV's ``COLOR_RGB2GRAY``, kept in floating point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.pipeline.faces import Face

__all__ = [
    "BELOW_LIMIT",
    "BRIGHTNESS_ABOVE_LIMIT",
    "DEFAULT_QUALITY_LIMITS",
    "LIMIT_KEYS",
    "NOSE_DEPTH_RATIO",
    "ImageQuality",
    "QualityLimits",
    "measure_quality",
    "parse_quality_limits",
]

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])
"""ITU-R BT.601 luma weights of R, G and B."""

NOSE_DEPTH_RATIO = 0.4
"""Depth of the nose tip in front of the eye-to-mouth midline, over the eye-to-mouth distance.

A round value for an average adult face, used by the yaw estimate of
:func:`measure_quality`: the generic 3D face model widely used for head pose by
perspective-n-point (nose tip at the origin, outer eye corners and mouth corners about
130 units behind it and 320 units apart vertically) gives about 0.41.
"""

# -- messages ---------------------------------------------------------------------------

ALIGNED_SHAPE = (
    "aligned face: expected an RGB image of shape (height, width, 3) with height and "
    "width at least 2 and dtype uint8, got shape {shape} and dtype {dtype}"
)
BELOW_LIMIT = "{measure} {value:.4g}{unit} below the limit of {limit:g}{unit}"
"""Reason for a measure below its lower limit, e.g. ``inter-eye distance 7.9 px below ...``."""
BRIGHTNESS_ABOVE_LIMIT = "brightness {value:.4g} above the limit of {limit:g}"
ANGLE_BEYOND_LIMIT = "{measure} {value:+.4g} degrees beyond the limit of ±{limit:g} degrees"
LIMIT_RANGE = (
    "quality limits: {key}: expected a number in [{low:g}, {high:g}] or none, got {value!r}"
)
LIMIT_NONNEGATIVE = "quality limits: {key}: expected a finite number >= 0 or none, got {value!r}"
BRIGHTNESS_ORDER = "quality limits: min_brightness {low:g} is above max_brightness {high:g}"
LIMITS_ENTRY = (
    "quality limits: expected KEY=VALUE pairs separated by commas (or 'none'), "
    "got {entry!r} in {text!r}"
)
LIMITS_KEY = "quality limits: unknown key {key!r}; expected one of {keys}"
LIMITS_VALUE = "quality limits: {key}: expected a number or 'none', got {value!r}"
LIMITS_REPEATED = "quality limits: {key!r} is given more than once in {text!r}"


@dataclass(frozen=True)
class ImageQuality:
    """The quality measures of one face image; NaN where a measure is undefined.

    Parameters
    ----------
    inter_eye_distance : float
        Distance between the centres of the two eyes, in pixels of the original image:
        the usual measure of a face's resolution (ISO/IEC 19794-5 and ICAO Doc 9303
        ask at least 90 px of a passport photograph). NaN without landmarks.
    face_width, face_height : float
        Size of the detector's box, in pixels of the original image.
    sharpness : float
        Variance of the Laplacian of the aligned face's grey level (Pech-Pacheco et
        al. 2000), in squared grey levels of the 0--255 scale. The Laplacian is the
        4-neighbour 3x3 kernel ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` (OpenCV's
        ``Laplacian`` with ``ksize=1``) with borders reflected without repeating the
        edge pixel (OpenCV's ``BORDER_REFLECT_101``); the variance is the population
        variance over all pixels. Larger is sharper; values compare only between faces
        aligned to the same size.
    brightness : float
        Mean grey level of the aligned face, as a fraction of full scale in [0, 1].
    contrast : float
        RMS contrast of the aligned face: the standard deviation of its grey levels as
        fractions of full scale (Peli 1990), in [0, 0.5].
    yaw : float
        Rough estimate of the head's turn left or right, in degrees: positive when the
        subject turns to their own left (the nose moves to the image's right). NaN
        without landmarks. See :func:`measure_quality`.
    roll : float
        Angle of the eye line, in degrees in (-180, 180]: positive when the head is
        turned clockwise in the image as displayed (the subject's left eye, on the
        image's right, lower than the right eye). NaN without landmarks.

    References
    ----------
    J. L. Pech-Pacheco, G. Cristóbal, J. Chamorro-Martínez and J. Fernández-Valdivia,
    "Diatom autofocusing in brightfield microscopy: a comparative study", ICPR 2000,
    vol. 3, pp. 314--317.

    E. Peli, "Contrast in complex images", Journal of the Optical Society of America A,
    7(10), 2032--2040, 1990.

    """

    inter_eye_distance: float
    face_width: float
    face_height: float
    sharpness: float
    brightness: float
    contrast: float
    yaw: float
    roll: float

    def as_dict(self) -> dict[str, float]:
        """The measures by field name, in field order (the runner's record columns)."""
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


def measure_quality(face: Face, aligned: npt.NDArray[np.uint8]) -> ImageQuality:
    """Measure the quality of one face: geometry from the detection, photometry aligned.

    The yaw is a rough geometric estimate after Gee and Cipolla (1994): under
    orthographic projection with no pitch, the midpoints of the eyes and of the mouth
    corners lie on the face's plane of symmetry, and so does the nose tip, which stands
    in front of the line through them by a depth ``d``. Turning the head by ``yaw``
    moves the projected nose tip off that line by ``d sin(yaw)`` while the
    eye-to-mouth distance ``D`` stays nearly unchanged. With ``d`` taken as
    :data:`NOSE_DEPTH_RATIO` times ``D``, ``yaw = arcsin(s / (0.4 D))``, where ``s`` is
    the nose tip's signed distance from the line, positive on the side of the
    subject's left eye; the ratio is clipped to [-1, 1]. The estimate ignores pitch,
    perspective and individual face shape, and the landmarks of a strongly turned face
    are themselves unreliable: use it to stratify, not to measure pose. It does not
    depend on roll.

    Parameters
    ----------
    face : Face
        The detected face, with its box and landmarks in pixels of the original image.
    aligned : ndarray of shape (height, width, 3), dtype uint8
        The aligned face, RGB.

    Returns
    -------
    ImageQuality

    Raises
    ------
    ValueError
        If ``aligned`` is not an RGB uint8 image of at least 2 x 2 pixels.

    References
    ----------
    A. Gee and R. Cipolla, "Determining the gaze of faces in images", Image and Vision
    Computing, 12(10), 639--647, 1994.

    Examples
    --------
    >>> import numpy as np
    >>> marks = np.array([[40, 50], [72, 50], [64, 70], [44, 90], [68, 90]], dtype=float)
    >>> face = Face(np.array([20.0, 20.0, 92.0, 110.0]), 0.9, marks)
    >>> q = measure_quality(face, np.full((112, 112, 3), 51, dtype=np.uint8))
    >>> q.inter_eye_distance, q.face_width, q.roll, round(q.yaw, 6)
    (32.0, 72.0, 0.0, 30.0)
    >>> round(q.brightness, 12), q.contrast, q.sharpness
    (0.2, 0.0, 0.0)

    """
    if (
        aligned.ndim != 3
        or aligned.shape[2] != 3
        or aligned.dtype != np.uint8
        or min(aligned.shape[:2]) < 2
    ):
        raise ValueError(ALIGNED_SHAPE.format(shape=aligned.shape, dtype=aligned.dtype))
    grey = aligned.astype(np.float64) @ LUMA_WEIGHTS
    x1, y1, x2, y2 = (float(v) for v in face.box)
    inter_eye, yaw, roll = _pose(face.landmarks)
    return ImageQuality(
        inter_eye_distance=inter_eye,
        face_width=x2 - x1,
        face_height=y2 - y1,
        sharpness=float(np.var(_laplacian(grey))),
        brightness=float(np.mean(grey)) / 255.0,
        contrast=float(np.std(grey)) / 255.0,
        yaw=yaw,
        roll=roll,
    )


def _laplacian(grey: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """4-neighbour Laplacian; numpy's ``reflect`` padding is OpenCV's BORDER_REFLECT_101."""
    g = np.pad(grey, 1, mode="reflect")
    return g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]


def _pose(landmarks: npt.NDArray[np.float64] | None) -> tuple[float, float, float]:
    """Inter-eye distance, yaw and roll from the five landmarks (NaN without them)."""
    if landmarks is None:
        return math.nan, math.nan, math.nan
    marks = np.asarray(landmarks, dtype=np.float64)
    right_eye, left_eye, nose, right_mouth, left_mouth = marks
    eye_line = left_eye - right_eye
    inter_eye = float(math.hypot(eye_line[0], eye_line[1]))
    roll = math.degrees(math.atan2(eye_line[1], eye_line[0])) if inter_eye > 0 else math.nan
    eyes = (right_eye + left_eye) / 2.0
    midline = (right_mouth + left_mouth) / 2.0 - eyes
    length = float(math.hypot(midline[0], midline[1]))
    if length == 0.0:
        return inter_eye, math.nan, roll
    down = midline / length
    to_nose = nose - eyes
    # Signed distance from the midline: positive towards the image's right for an
    # upright face, i.e. on the side of the subject's left eye, whatever the roll.
    offset = float(to_nose[0] * down[1] - to_nose[1] * down[0])
    ratio = min(1.0, max(-1.0, offset / (NOSE_DEPTH_RATIO * length)))
    return inter_eye, math.degrees(math.asin(ratio)), roll


@dataclass(frozen=True)
class QualityLimits:
    """Limits of image quality below which a face fails to enrol; ``None``: not checked.

    A measure that is undefined (NaN) never fails a limit: OpenCV's Haar cascade gives
    no landmarks, so its faces have no inter-eye distance, yaw or roll, and failing
    them would make the failure-to-enrol rate a measure of the detector. The NaN stays
    in the image's record, where it can be counted. A value equal to its limit passes.

    The defaults check only the inter-eye distance, at 10 px. ICAO Doc 9303 and
    ISO/IEC 19794-5 ask at least 90 px of a passport photograph, but face recognition
    data sets are far smaller (the ArcFace template itself puts the eyes 35 px apart at
    112 x 112), so that limit would reject most of them. Below 10 px, alignment
    enlarges the face more than 3.5 times and the landmarks that drive it are a few
    pixels each, so the template holds little of the face. The other measures have no
    limit that holds across data sets (sharpness depends on the aligned size and the
    compression, brightness on the skin and the exposure, and the yaw is a rough
    estimate); they are recorded for stratified analysis, and a user who states a
    limit for them gets it.

    Parameters
    ----------
    min_inter_eye : float or None, default 10.0
        Least inter-eye distance, in pixels of the original image.
    min_sharpness : float or None, default None
        Least variance of the Laplacian (:attr:`ImageQuality.sharpness`).
    min_brightness, max_brightness : float or None, default None
        Range of the mean grey level, as fractions of full scale in [0, 1].
    min_contrast : float or None, default None
        Least RMS contrast, in [0, 0.5].
    max_yaw : float or None, default None
        Largest absolute yaw, in degrees in [0, 90].
    max_roll : float or None, default None
        Largest absolute roll, in degrees in [0, 180].

    Raises
    ------
    UsageError
        If a limit lies outside its range, or ``min_brightness > max_brightness``.

    """

    min_inter_eye: float | None = 10.0
    min_sharpness: float | None = None
    min_brightness: float | None = None
    max_brightness: float | None = None
    min_contrast: float | None = None
    max_yaw: float | None = None
    max_roll: float | None = None

    def __post_init__(self) -> None:
        for key in ("min_inter_eye", "min_sharpness"):
            value = getattr(self, key)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise UsageError(LIMIT_NONNEGATIVE.format(key=key, value=value))
        for key, top in _RANGES.items():
            bounded = getattr(self, key)
            if bounded is not None and not 0.0 <= bounded <= top:
                raise UsageError(LIMIT_RANGE.format(key=key, low=0.0, high=top, value=bounded))
        low, high = self.min_brightness, self.max_brightness
        if low is not None and high is not None and low > high:
            raise UsageError(BRIGHTNESS_ORDER.format(low=low, high=high))

    @classmethod
    def none(cls) -> QualityLimits:
        """No limit at all: every acquired face enrols."""
        return cls(min_inter_eye=None)

    def reasons(self, quality: ImageQuality) -> tuple[str, ...]:
        """One short reason per failed limit, in field order; empty when the face enrols.

        Parameters
        ----------
        quality : ImageQuality
            The image's measures.

        Returns
        -------
        tuple of str

        Examples
        --------
        >>> q = ImageQuality(7.94, 20.0, 24.0, 80.0, 0.97, 0.1, -47.25, 3.0)
        >>> QualityLimits(max_yaw=45, max_brightness=0.95).reasons(q)
        ('inter-eye distance 7.94 px below the limit of 10 px', \
'brightness 0.97 above the limit of 0.95', \
'yaw -47.25 degrees beyond the limit of ±45 degrees')

        """
        found: list[str] = []

        def below(measure: str, value: float, limit: float | None, unit: str = "") -> None:
            if limit is not None and value < limit:
                found.append(
                    BELOW_LIMIT.format(measure=measure, value=value, limit=limit, unit=unit)
                )

        def beyond(measure: str, value: float, limit: float | None) -> None:
            if limit is not None and abs(value) > limit:
                found.append(ANGLE_BEYOND_LIMIT.format(measure=measure, value=value, limit=limit))

        below("inter-eye distance", quality.inter_eye_distance, self.min_inter_eye, " px")
        below("sharpness", quality.sharpness, self.min_sharpness)
        below("brightness", quality.brightness, self.min_brightness)
        if self.max_brightness is not None and quality.brightness > self.max_brightness:
            found.append(
                BRIGHTNESS_ABOVE_LIMIT.format(value=quality.brightness, limit=self.max_brightness)
            )
        below("contrast", quality.contrast, self.min_contrast)
        beyond("yaw", quality.yaw, self.max_yaw)
        beyond("roll", quality.roll, self.max_roll)
        return tuple(found)


_RANGES = {
    "min_brightness": 1.0,
    "max_brightness": 1.0,
    "min_contrast": 0.5,
    "max_yaw": 90.0,
    "max_roll": 180.0,
}

LIMIT_KEYS: tuple[str, ...] = tuple(f.name for f in fields(QualityLimits))
"""The keys of :func:`parse_quality_limits`: the fields of :class:`QualityLimits`."""

DEFAULT_QUALITY_LIMITS = QualityLimits()
"""The limits used when none are stated."""


def parse_quality_limits(text: str) -> QualityLimits:
    """Read quality limits from command-line text such as ``min_inter_eye=20,max_yaw=45``.

    Keys are the fields of :class:`QualityLimits` (:data:`LIMIT_KEYS`); a key that is
    not given keeps its default, and the value ``none`` turns a limit off. The whole
    text ``none`` turns every limit off. Keys and values are case-insensitive, and
    spaces around them are ignored.

    Parameters
    ----------
    text : str
        Comma-separated ``KEY=VALUE`` pairs, or ``none``.

    Returns
    -------
    QualityLimits

    Raises
    ------
    UsageError
        Naming the entry, key or value that cannot be read, and the accepted keys.

    Examples
    --------
    >>> parse_quality_limits("min_inter_eye=20, max_yaw=45")
    QualityLimits(min_inter_eye=20.0, min_sharpness=None, min_brightness=None, \
max_brightness=None, min_contrast=None, max_yaw=45.0, max_roll=None)
    >>> parse_quality_limits("min_inter_eye=none") == QualityLimits.none()
    True

    """
    if text.strip().lower() == "none":
        return QualityLimits.none()
    given: dict[str, float | None] = {}
    for entry in text.split(","):
        key, sep, raw = entry.partition("=")
        key, raw = key.strip().lower(), raw.strip()
        if not sep or not key or not raw:
            raise UsageError(LIMITS_ENTRY.format(entry=entry.strip(), text=text))
        if key not in LIMIT_KEYS:
            raise UsageError(LIMITS_KEY.format(key=key, keys=", ".join(LIMIT_KEYS)))
        if key in given:
            raise UsageError(LIMITS_REPEATED.format(key=key, text=text))
        if raw.lower() == "none":
            given[key] = None
            continue
        try:
            value = float(raw)
        except ValueError:
            raise UsageError(LIMITS_VALUE.format(key=key, value=raw)) from None
        if math.isnan(value):
            raise UsageError(LIMITS_VALUE.format(key=key, value=raw))
        given[key] = value
    return QualityLimits(**given)
