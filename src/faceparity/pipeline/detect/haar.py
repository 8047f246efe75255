"""OpenCV's Haar cascade: the fallback detector that needs no model download.

Viola and Jones (2001), "Rapid Object Detection using a Boosted Cascade of Simple
Features", CVPR; the cascade is Lienhart's ``haarcascade_frontalface_default.xml``
(Lienhart and Maydt 2002, "An Extended Set of Haar-like Features for Rapid Object
Detection", ICIP), which ``opencv-python-headless`` ships under ``cv2.data.haarcascades``.

It finds frontal faces only, gives no landmarks (:attr:`Face.landmarks` is ``None``, so
alignment falls back to the box) and is far less accurate than SCRFD or YuNet, least of
all on dark or low-contrast faces; an audit that uses it measures the cascade as much as
the recogniser, and the record of the run says so (:attr:`HaarDetector.description`).

The image is converted to grey (``cv2.COLOR_RGB2GRAY``) and histogram-equalised, as in
OpenCV's ``facedetect`` sample, then searched with ``detectMultiScale2`` at scale steps of
1.1 from the cascade's 24 x 24 window upwards. A face's score is its number of
neighbours: how many raw detections OpenCV merged into its box. The score threshold ``t``
keeps faces with at least ``t`` neighbours (OpenCV's ``minNeighbors = ceil(t) - 1``,
since OpenCV keeps groups of more than ``minNeighbors``); the default, 4, is OpenCV's
default ``minNeighbors`` of 3. OpenCV's grouping of rectangles takes the place of NMS.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.pipeline import _deps
from faceparity.pipeline.detect.base import check_image, check_thresholds, faces_from_arrays
from faceparity.pipeline.faces import Face

__all__ = ["CASCADE_FILE", "CASCADE_UNREADABLE", "MAX_SIDE", "HaarDetector"]

CASCADE_FILE = "haarcascade_frontalface_default.xml"
"""The frontal-face cascade that OpenCV's Python wheels ship."""

MAX_SIDE = 1024
"""Longest side, in pixels, of the copy of an image the cascade searches."""

CASCADE_UNREADABLE = (
    "OpenCV could not load the Haar cascade {path}; reinstall opencv-python-headless"
)


class HaarDetector:
    """OpenCV's frontal-face Haar cascade (see the module's notes).

    Parameters
    ----------
    score_threshold : float, default 4
        Fewest neighbours a face needs.
    scale_factor : float, default 1.1
        Ratio between successive scales searched.
    min_size : int, default 24
        Smallest face searched for, in pixels (the cascade's window), in the searched
        copy of the image.
    max_side : int, default 1024
        Images with a longer side are searched in a copy scaled down to it (the
        cascade's cost grows with the pixels: a 12-megapixel photograph takes about
        15 s at full size); boxes are scaled back.

    Raises
    ------
    UsageError
        OpenCV is missing, its cascade file cannot be loaded, or the threshold is not
        a finite number.

    """

    name = "haar"

    def __init__(
        self,
        *,
        score_threshold: float = 4.0,
        scale_factor: float = 1.1,
        min_size: int = 24,
        max_side: int = MAX_SIDE,
    ) -> None:
        cv2 = _deps.cv2("the Haar cascade face detector")
        self._cv2 = cv2
        self.path = Path(cv2.data.haarcascades) / CASCADE_FILE
        # A CascadeClassifier must not be shared between threads (detectMultiScale
        # keeps state in it): each thread that detects loads its own.
        self._local = threading.local()
        self._local.cascade = self._load()
        self.score_threshold, _ = check_thresholds(score_threshold, 0.0)
        self.scale_factor = float(scale_factor)
        self.min_size = int(min_size)
        self.max_side = int(max_side)

    def _load(self) -> Any:
        cascade = self._cv2.CascadeClassifier(str(self.path))
        if cascade.empty():
            raise UsageError(CASCADE_UNREADABLE.format(path=self.path))
        return cascade

    @property
    def _cascade(self) -> Any:
        """The cascade of the calling thread."""
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = self._local.cascade = self._load()
        return cascade

    @property
    def description(self) -> str:
        """Format, cascade and settings, for the record of a run."""
        return (
            f"OpenCV Haar cascade {CASCADE_FILE} (no landmarks), scale step "
            f"{self.scale_factor:g}, min size {self.min_size} px, images searched at "
            f"most {self.max_side} px on their longer side, "
            f"neighbours >= {self.score_threshold:g}"
        )

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Face]:
        """Every face with at least the threshold's neighbours, most neighbours first.

        Parameters
        ----------
        image : ndarray of shape (H, W, 3), dtype uint8
            RGB.

        Returns
        -------
        list of Face
            Without landmarks.

        """
        check_image(image)
        cv2 = self._cv2
        grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        scale = min(1.0, self.max_side / max(grey.shape))
        if scale < 1.0:  # the cascade's cost grows with the pixels: search a smaller copy
            size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        rects, neighbours = self._cascade.detectMultiScale2(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=max(0, math.ceil(self.score_threshold) - 1),
            flags=cv2.CASCADE_SCALE_IMAGE,
            minSize=(self.min_size, self.min_size),
        )
        rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4) / scale
        scores = np.asarray(neighbours, dtype=np.float64).reshape(-1)
        kept = scores >= self.score_threshold
        rects, scores = rects[kept], scores[kept]
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        order = np.argsort(-scores, kind="stable")
        return faces_from_arrays(boxes[order], scores[order], None)
