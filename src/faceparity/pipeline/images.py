"""Decoding face images, with limits, into RGB arrays; every failure a counted reason.

An image that cannot be turned into pixels is a failure to acquire (ISO/IEC 19795-1,
4.3.2): faceparity counts it, with its reason, by group, and goes on. Nothing about a
file can stop a run: a missing or unreadable path, a file that is not an image, a
truncated or corrupt one, a file over the size limit, and an image whose header
declares more pixels than the pixel limit (a decompression bomb: a few kilobytes of
PNG can declare gigapixels) are each a :class:`ImageFailure`.

Decoding is Pillow's: the header is read first and the pixel limit checked before any
pixel is decoded; EXIF orientation is applied (a phone photograph stored sideways is
turned upright, as every viewer shows it); the result is 8-bit RGB.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "Decoded",
    "ImageFailure",
    "ImageLimits",
    "decode_image",
    "read_image",
]

DEFAULT_MAX_PIXELS = 50_000_000
"""Largest image, in pixels, decoded by default (50 megapixels: above any camera's photo)."""

DEFAULT_MAX_BYTES = 100 * 2**20
"""Largest image file, in bytes, read by default (100 MiB)."""

# Failure reasons: short, stable phrases (they are counted and compared across runs).
REASON_UNREADABLE = "unreadable file"
REASON_TOO_LARGE_FILE = "file over the size limit"
REASON_NOT_IMAGE = "not an image"
REASON_TOO_MANY_PIXELS = "image over the pixel limit"
REASON_CORRUPT = "corrupt image"
REASON_PIXEL_FORMAT = "unsupported pixel format"

MSG_DETAIL_TOO_LARGE_FILE = "{size:,} bytes, limit {limit:,}"
MSG_DETAIL_TOO_MANY_PIXELS = "{width} x {height} = {pixels:,} pixels, limit {limit:,}"
MSG_DETAIL_NOT_A_FILE = "not a regular file: {kind}"

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
"""Open for reading without waiting (a named pipe would block until written to)."""


@dataclass(frozen=True)
class ImageLimits:
    """Limits on what is decoded.

    Parameters
    ----------
    max_pixels : int
        Largest width x height decoded; larger images are failures, decided from the
        header before decoding.
    max_bytes : int
        Largest file read; larger files are failures, decided from the file size.

    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class ImageFailure:
    """Why an image gave no pixels: a reason (one of a few phrases) and a detail."""

    reason: str
    detail: str = ""


@dataclass(frozen=True, eq=False)
class Decoded:
    """A decoded image: ``pixels`` of shape (height, width, 3), uint8 RGB."""

    pixels: npt.NDArray[np.uint8]

    @property
    def width(self) -> int:
        """Width in pixels."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Height in pixels."""
        return int(self.pixels.shape[0])


def read_image(
    path: str | os.PathLike[str], limits: ImageLimits = ImageLimits()
) -> tuple[bytes | None, ImageFailure | None]:
    """The bytes of an image file, or the reason there are none.

    Missing, unreadable, too large, or not a regular file (a directory, a named
    pipe, a device): the file is opened without blocking and checked once open, so
    a named pipe under an image's name cannot stall the run.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
        try:
            info = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            detail = MSG_DETAIL_NOT_A_FILE.format(kind=_file_kind(info.st_mode))
            return None, ImageFailure(REASON_UNREADABLE, detail)
        with open(fd, "rb") as handle:
            if info.st_size > limits.max_bytes:
                size, limit = info.st_size, limits.max_bytes
                detail = MSG_DETAIL_TOO_LARGE_FILE.format(size=size, limit=limit)
                return None, ImageFailure(REASON_TOO_LARGE_FILE, detail)
            return handle.read(limits.max_bytes + 1), None
    except OSError as err:
        return None, ImageFailure(REASON_UNREADABLE, err.strerror or type(err).__name__)


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "another kind of file"


def decode_image(data: bytes, limits: ImageLimits = ImageLimits()) -> Decoded | ImageFailure:
    """Decode image bytes into 8-bit RGB, or say why not.

    Parameters
    ----------
    data : bytes
        The file's contents.
    limits : ImageLimits
        The pixel limit, checked on the header before decoding.

    Returns
    -------
    Decoded or ImageFailure

    Examples
    --------
    >>> decode_image(b"not an image").reason
    'not an image'

    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns (DecompressionBombWarning) before our own limit applies.
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > limits.max_pixels:
                    detail = MSG_DETAIL_TOO_MANY_PIXELS.format(
                        width=width, height=height, pixels=width * height, limit=limits.max_pixels
                    )
                    return ImageFailure(REASON_TOO_MANY_PIXELS, detail)
                image.load()
                upright = ImageOps.exif_transpose(image)
                pixels = _rgb8(upright)
                if pixels is None:
                    return ImageFailure(REASON_PIXEL_FORMAT, f"mode {upright.mode}")
    except UnidentifiedImageError:
        return ImageFailure(REASON_NOT_IMAGE)
    except Image.DecompressionBombError as err:
        return ImageFailure(REASON_TOO_MANY_PIXELS, str(err))
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        return ImageFailure(REASON_CORRUPT, str(err))
    if pixels.ndim != 3 or pixels.shape[0] == 0 or pixels.shape[1] == 0:
        return ImageFailure(REASON_CORRUPT, f"decoded to shape {pixels.shape}")
    return Decoded(np.ascontiguousarray(pixels))


def _rgb8(image: Any) -> npt.NDArray[np.uint8] | None:
    """8-bit RGB pixels of a Pillow image; 16-bit grey scaled down, not clipped.

    ``None`` for 32-bit integer and floating-point images, whose range is unknown.
    """
    if image.mode.startswith("I;16"):
        grey = (np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode in ("I", "F"):
        return None
    return np.asarray(image.convert("RGB"), dtype=np.uint8)
