"""What every detector shares: the protocol, the image check, letterboxing and NMS.

A detector takes one decoded image (``H x W x 3``, ``uint8``, RGB) and returns every face
whose score reaches its threshold, after non-maximum suppression, in the coordinates of
that image and in descending order of score. Picking the one face an audit uses is
:func:`~faceparity.pipeline.faces.choose_face`'s job, not the detector's.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.pipeline import _deps
from faceparity.pipeline.faces import Face

__all__ = [
    "IMAGE_EXPECTED",
    "NMS_THRESHOLD_EXPECTED",
    "SCORE_THRESHOLD_EXPECTED",
    "Detector",
    "check_image",
    "check_thresholds",
    "faces_from_arrays",
    "letterbox",
    "letterbox_blob",
    "nms",
]

IMAGE_EXPECTED = (
    "a detector expects an image of shape (height, width, 3) with dtype uint8 (RGB); "
    "got shape {shape} with dtype {dtype}"
)

SCORE_THRESHOLD_EXPECTED = "score_threshold must be a finite number; got {got!r}"
NMS_THRESHOLD_EXPECTED = "nms_threshold must be a number in [0, 1]; got {got!r}"


@runtime_checkable
class Detector(Protocol):
    """A face detector: an image in, every face it finds out.

    Attributes
    ----------
    name : str
        Short name of the detector's format (``"scrfd"``, ``"yunet"``, ``"haar"``).
    description : str
        The detector as a report should record it: format, model file and settings.

    """

    @property
    def name(self) -> str:
        """Short name of the detector's format."""
        ...

    @property
    def description(self) -> str:
        """Format, model file and settings, for the record of a run."""
        ...

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Face]:
        """Every face whose score reaches the threshold, after NMS, best first.

        Parameters
        ----------
        image : ndarray of shape (H, W, 3), dtype uint8
            The decoded image, RGB.

        Returns
        -------
        list of Face
            In the image's pixel coordinates, in descending order of score; empty when
            the detector finds no face.

        """
        ...


def check_image(image: npt.NDArray[np.uint8]) -> tuple[int, int]:
    """Height and width of an RGB ``uint8`` image, or a :class:`UsageError`.

    Parameters
    ----------
    image : ndarray
        The image a detector was given.

    Returns
    -------
    tuple of int
        ``height, width``.

    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
        raise UsageError(IMAGE_EXPECTED.format(shape=image.shape, dtype=image.dtype))
    return int(image.shape[0]), int(image.shape[1])


def check_thresholds(score_threshold: float, nms_threshold: float) -> tuple[float, float]:
    """The two thresholds as floats, or a :class:`UsageError`.

    Parameters
    ----------
    score_threshold : float
        Must be finite.
    nms_threshold : float
        An IoU: must lie in [0, 1].

    Returns
    -------
    tuple of float

    """
    score, iou = float(score_threshold), float(nms_threshold)
    if not np.isfinite(score):
        raise UsageError(SCORE_THRESHOLD_EXPECTED.format(got=score_threshold))
    if not 0.0 <= iou <= 1.0:
        raise UsageError(NMS_THRESHOLD_EXPECTED.format(got=nms_threshold))
    return score, iou


def letterbox(
    image: npt.NDArray[np.uint8], size: tuple[int, int]
) -> tuple[npt.NDArray[np.uint8], tuple[float, float]]:
    """Scale an image to fit a canvas, keeping its aspect ratio, placed at the top-left.

    The rule of InsightFace's SCRFD inference code (``scrfd.py``, ``SCRFD.detect``): the
    image is resized (bilinear, ``cv2.INTER_LINEAR``) so that it fills the canvas along
    one side, its other side rounded down to whole pixels; the rest of the canvas, at the
    right or the bottom, is black (zero). Unlike that code, which scales back by the
    height's factor alone, the factors of both axes are returned, so a point maps back
    exactly even where rounding made them differ.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype uint8
        The image.
    size : tuple of int
        ``width, height`` of the canvas.

    Returns
    -------
    canvas : ndarray of shape (height, width, 3), dtype uint8
    scale : tuple of float
        ``sx, sy``: canvas pixels per image pixel along x and y; a point of the canvas
        maps back to the image as ``x / sx, y / sy``.

    Examples
    --------
    >>> import numpy as np
    >>> canvas, scale = letterbox(np.zeros((50, 100, 3), np.uint8), (64, 64))
    >>> canvas.shape, scale
    ((64, 64, 3), (0.64, 0.64))

    """
    height, width = image.shape[:2]
    new_w, new_h = _fitted(height, width, size)
    canvas = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    canvas[:new_h, :new_w] = _resized(image, new_w, new_h)
    return canvas, (new_w / width, new_h / height)


def _fitted(height: int, width: int, size: tuple[int, int]) -> tuple[int, int]:
    """``new_w, new_h`` of an image scaled to fit the canvas (see :func:`letterbox`)."""
    canvas_w, canvas_h = size
    if height / width > canvas_h / canvas_w:
        return max(1, int(canvas_h * width / height)), canvas_h
    return canvas_w, max(1, int(canvas_w * height / width))


def _resized(image: npt.NDArray[np.uint8], new_w: int, new_h: int) -> npt.NDArray[np.uint8]:
    """The image at ``new_w x new_h`` (bilinear), itself when it has that size."""
    if image.shape[:2] == (new_h, new_w):
        return image
    cv2 = _deps.cv2("detecting faces")
    resized: npt.NDArray[np.uint8] = cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_LINEAR
    )
    return resized


def letterbox_blob(
    image: npt.NDArray[np.uint8],
    size: tuple[int, int],
    *,
    mean: float = 0.0,
    scale: float = 1.0,
    reverse_channels: bool = False,
) -> tuple[npt.NDArray[np.float32], tuple[float, float]]:
    """The letterboxed image as a network's input: ``(v - mean) * scale``, ``(1, 3, H, W)``.

    What :func:`letterbox` places on the canvas, each colour plane converted to float32
    in one pass and written into its place of the input tensor (the padding is black,
    so ``-mean * scale``). Where ``scale`` and ``mean * scale`` are exact in float32 (as
    SCRFD's ``1 / 128`` and ``127.5 / 128`` are), so is every value.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype uint8
        The image, RGB.
    size : tuple of int
        ``width, height`` of the canvas.
    mean, scale : float
        The normalisation.
    reverse_channels : bool
        Planes in BGR order instead of RGB.

    Returns
    -------
    blob : ndarray of shape (1, 3, height, width), dtype float32
    scale : tuple of float
        As :func:`letterbox`'s.

    """
    height, width = check_image(image)
    cv2 = _deps.cv2("detecting faces")
    new_w, new_h = _fitted(height, width, size)
    canvas_w, canvas_h = size
    blob = np.empty((1, 3, canvas_h, canvas_w), dtype=np.float32)
    black = np.float32((0.0 - mean) * scale)
    blob[0, :, new_h:, :] = black  # the padding: below the image, then to its right
    blob[0, :, :new_h, new_w:] = black
    planes = cv2.split(_resized(image, new_w, new_h))
    if reverse_channels:
        planes = planes[::-1]
    for channel, plane in enumerate(planes):
        # scale * v + 0 * v + (0 - mean) * scale, written into its place of the tensor
        target = blob[0, channel, :new_h, :new_w]
        out = cv2.addWeighted(
            plane, scale, plane, 0.0, (0.0 - mean) * scale, dst=target, dtype=cv2.CV_32F
        )
        if not np.shares_memory(out, target):  # OpenCV made its own array: copy it in
            target[...] = out
    return blob, (new_w / width, new_h / height)


def nms(
    boxes: npt.NDArray[np.float64], scores: npt.NDArray[np.float64], iou_threshold: float
) -> npt.NDArray[np.intp]:
    """Greedy non-maximum suppression: indices of the boxes kept, best score first.

    Boxes are taken in descending order of score (ties in their given order); each box
    kept suppresses every later box whose intersection over union with it exceeds
    ``iou_threshold`` (Neubeck and Van Gool 2006, "Efficient Non-Maximum Suppression",
    in the greedy form used by R-CNN-family detectors and by InsightFace). Areas are
    those of continuous boxes, ``(x2 - x1) * (y2 - y1)``, without the ``+ 1`` of
    InsightFace's integer-pixel convention.

    Parameters
    ----------
    boxes : ndarray of shape (N, 4)
        ``x1, y1, x2, y2``.
    scores : ndarray of shape (N,)
        Higher is better.
    iou_threshold : float
        A box overlapping a kept box by more than this is dropped.

    Returns
    -------
    ndarray of int

    Examples
    --------
    >>> import numpy as np
    >>> boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]], float)
    >>> nms(boxes, np.array([0.8, 0.9, 0.7]), 0.4).tolist()
    [1, 2]

    """
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    areas = np.maximum(x2 - x1, 0.0) * np.maximum(y2 - y1, 0.0)
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        inter_w = np.maximum(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0.0)
        inter_h = np.maximum(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0.0)
        inter = inter_w * inter_h
        union = areas[best] + areas[rest] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0.0, inter / union, 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


def faces_from_arrays(
    boxes: npt.NDArray[np.float64],
    scores: npt.NDArray[np.float64],
    landmarks: npt.NDArray[np.float64] | None,
) -> list[Face]:
    """One :class:`Face` per row of the arrays, in their order.

    Parameters
    ----------
    boxes : ndarray of shape (N, 4)
        ``x1, y1, x2, y2`` per face.
    scores : ndarray of shape (N,)
        The detector's scores.
    landmarks : ndarray of shape (N, 5, 2), optional
        The five landmarks per face, or ``None``.

    Returns
    -------
    list of Face

    """
    boxes = np.asarray(boxes, dtype=np.float64)
    return [
        Face(
            box=boxes[i].copy(),
            score=float(scores[i]),
            landmarks=None if landmarks is None else np.asarray(landmarks[i], np.float64).copy(),
        )
        for i in range(boxes.shape[0])
    ]
