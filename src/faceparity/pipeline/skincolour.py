"""Skin colour beyond the ITA: lightness ``L*``, hue angle ``h*`` and the Monk Skin Tone swatch.

The ITA (:mod:`faceparity.pipeline.skintone`) folds lightness and yellowness into one
angle. Thong, Joniak, Xiang and Russakovsky (Sony AI, "Beyond Skin Tone: A
Multidimensional Measure of Apparent Skin Color", ICCV 2023) show that this hides the
hue: they recommend reporting the perceptual lightness ``L*`` and the hue angle
``h* = atan2(b*, a*)`` (degrees; lower is redder, higher yellower) of the skin, both
from CIELAB. The Monk Skin Tone scale (Monk 2019; Google 2022) has ten swatches
(:data:`MONK_SWATCHES`, their published sRGB colours); a face is given the swatch whose
``L*`` is nearest its skin's, since lightness is what the scale orders (the swatches'
hues differ little and are not a scale).

The skin is sampled as for the ITA: the cheek and forehead rectangles of the aligned
face (:data:`~faceparity.pipeline.skintone.SKIN_REGIONS`), without clipped or very dark
pixels, and its colour is the median ``L*``, ``a*`` and ``b*``. Everything said of the
ITA of a photograph holds here: lighting, white balance, exposure and make-up move it;
it is apparent skin colour, never ethnicity or race.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceparity.pipeline.skintone import (
    _MIN_LIGHTNESS,
    MIN_USABLE_FRACTION,
    ita_degrees,
    skin_regions,
    srgb_to_lab,
)

__all__ = [
    "MONK_SWATCHES",
    "SkinColour",
    "hue_angle",
    "monk_lightness",
    "monk_tone",
    "skin_colour",
    "skin_colours_of_images",
]

MONK_SWATCHES: tuple[str, ...] = (
    "#f6ede4",
    "#f3e7db",
    "#f7ead0",
    "#eadaba",
    "#d7bd96",
    "#a07e56",
    "#825c43",
    "#604134",
    "#3a312a",
    "#292420",
)
"""The ten Monk Skin Tone swatches, MST 1 (lightest) to MST 10, as Google publishes them
(skintone.google, "The Monk Skin Tone Scale", 2022; E. Monk, 2019)."""


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def monk_lightness() -> npt.NDArray[np.float64]:
    """``L*`` of each Monk swatch (CIELAB under D65 of its sRGB colour)."""
    rgb = np.array([_hex_rgb(c) for c in MONK_SWATCHES], dtype=np.uint8)
    return srgb_to_lab(rgb)[:, 0]


def monk_tone(lightness: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The Monk tone (1 to 10) whose swatch ``L*`` is nearest each lightness; 0 for NaN.

    Examples
    --------
    >>> monk_tone([94.2, 55.0, 14.0, float("nan")]).tolist()
    [1, 6, 10, 0]

    """
    values = np.asarray(lightness, dtype=np.float64)
    swatches = monk_lightness()
    nearest = np.abs(values[..., None] - swatches).argmin(axis=-1) + 1
    return np.where(np.isfinite(values), nearest, 0).astype(np.int64)


def hue_angle(lab_a: npt.ArrayLike, lab_b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """CIELAB hue angle ``h* = atan2(b*, a*)`` in degrees, in (-180, 180].

    Examples
    --------
    >>> hue_angle([1.0, 0.0], [1.0, 2.0]).round(6).tolist()
    [45.0, 90.0]

    """
    angles: npt.NDArray[np.float64] = np.degrees(
        np.arctan2(np.asarray(lab_b, dtype=np.float64) + 0.0, np.asarray(lab_a, dtype=np.float64))
    )
    return angles


@dataclass(frozen=True)
class SkinColour:
    """The skin colour of one face: median CIELAB, and what follows from it (NaN: unmeasured)."""

    lightness: float
    a: float
    b: float

    @property
    def hue(self) -> float:
        """Hue angle ``h*`` in degrees."""
        return float(hue_angle(self.a, self.b))

    @property
    def ita(self) -> float:
        """Individual Typology Angle in degrees."""
        return float(ita_degrees(self.lightness, self.b))

    @property
    def monk(self) -> int:
        """Nearest Monk tone by lightness (0 when unmeasured)."""
        return int(monk_tone(self.lightness))


UNMEASURED = SkinColour(math.nan, math.nan, math.nan)


def skin_colour(aligned: npt.NDArray[np.uint8]) -> SkinColour:
    """The median CIELAB of the skin regions of an aligned face (as the ITA samples them).

    NaN where fewer than :data:`~faceparity.pipeline.skintone.MIN_USABLE_FRACTION` of
    the sampled pixels are usable.
    """
    if aligned.ndim != 3 or aligned.shape[2] != 3 or aligned.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image, got {aligned.shape} {aligned.dtype}")
    height, width = aligned.shape[:2]
    pixels = np.concatenate(
        [aligned[y1:y2, x1:x2].reshape(-1, 3) for x1, y1, x2, y2 in skin_regions(height, width)]
    )
    if len(pixels) == 0:
        return UNMEASURED
    lab = srgb_to_lab(pixels)
    usable = (pixels.max(axis=1) < 255) & (lab[:, 0] >= _MIN_LIGHTNESS)
    if usable.sum() < MIN_USABLE_FRACTION * len(pixels):
        return UNMEASURED
    median = np.median(lab[usable], axis=0)
    return SkinColour(float(median[0]), float(median[1]), float(median[2]))


def skin_colours_of_images(files: Sequence[Path], *, size: int = 112) -> Iterator[SkinColour]:
    """The skin colour of each image, taken as an aligned face crop (resized to ``size``).

    An image that cannot be read or decoded gives :data:`UNMEASURED`.
    """
    from faceparity.pipeline.align import align_face
    from faceparity.pipeline.images import Decoded, decode_image, read_image

    for file in files:
        data, _ = read_image(file)
        decoded = decode_image(data) if data is not None else None
        if not isinstance(decoded, Decoded):
            yield UNMEASURED
            continue
        yield skin_colour(align_face(decoded.pixels, None, size=size))
