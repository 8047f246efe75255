"""A detected face, and the rule that picks one face per image.

Coordinates are pixels of the decoded image, ``x`` to the right and ``y`` down, with
the origin at the top-left corner of the top-left pixel (OpenCV's convention).
Landmarks are the five points of the ArcFace / InsightFace convention, in this order:
the subject's right eye (left in the image), left eye, nose tip, right and left
mouth corners.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["LANDMARK_NAMES", "Face", "choose_face"]

LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "right_mouth", "left_mouth")
"""The five landmarks, in the order of the rows of :attr:`Face.landmarks`."""


@dataclass(frozen=True, eq=False)
class Face:
    """One face found in an image.

    Parameters
    ----------
    box : ndarray of shape (4,)
        ``x1, y1, x2, y2``: the top-left and bottom-right corners, in pixels.
    score : float
        The detector's confidence, in its own units (higher is more confident).
    landmarks : ndarray of shape (5, 2), optional
        The five landmarks (:data:`LANDMARK_NAMES`) as ``x, y``; ``None`` when the
        detector gives none (OpenCV's Haar cascade).

    """

    box: npt.NDArray[np.float64]
    score: float
    landmarks: npt.NDArray[np.float64] | None = None

    @property
    def area(self) -> float:
        """Area of the box in square pixels (0 for a degenerate box)."""
        x1, y1, x2, y2 = (float(v) for v in self.box)
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    @property
    def centre(self) -> tuple[float, float]:
        """Centre of the box, ``x, y``."""
        x1, y1, x2, y2 = (float(v) for v in self.box)
        return (x1 + x2) / 2.0, (y1 + y2) / 2.0


def choose_face(faces: Sequence[Face], *, width: int, height: int) -> Face | None:
    """The one face of an image that the audit uses: the largest, then the most central.

    Face data sets hold one subject per image, framed by its photographer, so the
    subject is the largest face; among faces whose areas lie within 10% of the largest,
    the one whose centre is nearest the image centre wins (a background face of the
    same size is rarely centred). Remaining ties go to the detector's order. ``None``
    when there is no face: the image is a failure to acquire.

    Parameters
    ----------
    faces : sequence of Face
        The detector's faces, in its order.
    width, height : int
        Size of the image in pixels.

    Returns
    -------
    Face or None

    Examples
    --------
    >>> import numpy as np
    >>> small = Face(np.array([0.0, 0.0, 10.0, 10.0]), 0.9)
    >>> large = Face(np.array([20.0, 20.0, 80.0, 80.0]), 0.8)
    >>> choose_face([small, large], width=100, height=100) is large
    True
    >>> choose_face([], width=100, height=100) is None
    True

    """
    if not faces:
        return None
    largest = max(face.area for face in faces)
    contenders = [face for face in faces if face.area >= 0.9 * largest]
    cx, cy = width / 2.0, height / 2.0

    def distance(face: Face) -> float:
        x, y = face.centre
        return (x - cx) ** 2 + (y - cy) ** 2

    return min(contenders, key=distance)
