from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceparity.pipeline.images import (
    MSG_DETAIL_NOT_A_FILE,
    REASON_CORRUPT,
    REASON_NOT_IMAGE,
    REASON_TOO_LARGE_FILE,
    REASON_TOO_MANY_PIXELS,
    REASON_UNREADABLE,
    Decoded,
    ImageFailure,
    ImageLimits,
    decode_image,
    read_image,
)


def _encoded(pixels: np.ndarray, fmt: str = "PNG", **params: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt, **params)
    return out.getvalue()


def test_decodes_rgb_exactly() -> None:
    pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    decoded = decode_image(_encoded(pixels))
    assert isinstance(decoded, Decoded)
    np.testing.assert_array_equal(decoded.pixels, pixels)
    assert (decoded.width, decoded.height) == (5, 4)


def test_grey_and_rgba_become_rgb() -> None:
    grey = np.full((3, 3), 77, dtype=np.uint8)
    decoded = decode_image(_encoded(grey))
    assert isinstance(decoded, Decoded)
    assert decoded.pixels.shape == (3, 3, 3)
    assert (decoded.pixels == 77).all()
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    assert decode_image(_encoded(rgba)).pixels.shape == (2, 2, 3)  # type: ignore[union-attr]


def test_exif_orientation_is_applied() -> None:
    pixels = np.zeros((2, 6, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # rotated 90 degrees: stored landscape, shown portrait
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    decoded = decode_image(out.getvalue())
    assert isinstance(decoded, Decoded)
    assert (decoded.width, decoded.height) == (2, 6)


def test_not_an_image_and_corrupt() -> None:
    assert decode_image(b"hello, world") == ImageFailure(REASON_NOT_IMAGE)
    assert decode_image(b"") == ImageFailure(REASON_NOT_IMAGE)
    jpeg = _encoded(np.full((64, 64, 3), 128, dtype=np.uint8), "JPEG")
    truncated = decode_image(jpeg[: len(jpeg) // 2])
    assert isinstance(truncated, ImageFailure)
    assert truncated.reason == REASON_CORRUPT


def _bomb(side: int) -> bytes:
    """A PNG that declares side x side pixels in a few kilobytes."""
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, format="PNG")
    return out.getvalue()


def test_pixel_limit_is_checked_on_the_header() -> None:
    data = _bomb(5000)
    assert len(data) < 100_000
    failure = decode_image(data, ImageLimits(max_pixels=10_000_000))
    assert failure == ImageFailure(
        REASON_TOO_MANY_PIXELS, "5000 x 5000 = 25,000,000 pixels, limit 10,000,000"
    )
    assert isinstance(decode_image(data, ImageLimits(max_pixels=25_000_000)), Decoded)


def test_decompression_bomb_beyond_pillows_own_limit() -> None:
    failure = decode_image(_bomb(20000), ImageLimits(max_pixels=10_000_000))
    assert isinstance(failure, ImageFailure)
    assert failure.reason == REASON_TOO_MANY_PIXELS


def test_read_image_limits_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"0123456789")
    data, failure = read_image(path, ImageLimits(max_bytes=5))
    assert data is None
    assert failure == ImageFailure(REASON_TOO_LARGE_FILE, "10 bytes, limit 5")
    data, failure = read_image(path)
    assert (data, failure) == (b"0123456789", None)
    data, failure = read_image(tmp_path / "missing.png")
    assert data is None and failure is not None
    assert failure.reason == REASON_UNREADABLE
    data, failure = read_image(tmp_path)  # a directory
    assert data is None and failure is not None and failure.reason == REASON_UNREADABLE


def test_read_image_of_a_directory_says_so(tmp_path: Path) -> None:
    data, failure = read_image(tmp_path)
    assert data is None
    assert failure == ImageFailure(
        REASON_UNREADABLE, MSG_DETAIL_NOT_A_FILE.format(kind="a directory")
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_read_image_of_a_named_pipe_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    import threading

    pipe = tmp_path / "image.png"
    os.mkfifo(pipe)
    outcome: list[tuple[bytes | None, ImageFailure | None]] = []
    reader = threading.Thread(target=lambda: outcome.append(read_image(pipe)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # the reader waits for a writer: release it, then fail
        with open(pipe, "wb"):
            pass
        reader.join(timeout=10)
        pytest.fail("read_image blocked on a named pipe")
    assert outcome == [
        (None, ImageFailure(REASON_UNREADABLE, MSG_DETAIL_NOT_A_FILE.format(kind="a named pipe")))
    ]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "WEBP"])
def test_formats(fmt: str) -> None:
    pixels = np.full((8, 8, 3), 200, dtype=np.uint8)
    decoded = decode_image(_encoded(pixels, fmt))
    assert isinstance(decoded, Decoded)
    assert decoded.pixels.shape == (8, 8, 3)


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    ramp = (np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)
    out = io.BytesIO()
    Image.fromarray(ramp).save(out, format="PNG")  # a uint16 array: mode I;16
    decoded = decode_image(out.getvalue())
    assert isinstance(decoded, Decoded)
    np.testing.assert_array_equal(decoded.pixels[:, :, 0], np.arange(256).reshape(16, 16))
    assert (decoded.pixels[:, :, 0] == decoded.pixels[:, :, 2]).all()


def test_floating_point_images_are_refused_with_a_reason() -> None:
    from faceparity.pipeline.images import REASON_PIXEL_FORMAT

    out = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), dtype=np.float32)).save(out, format="TIFF")
    assert decode_image(out.getvalue()) == ImageFailure(REASON_PIXEL_FORMAT, "mode F")
