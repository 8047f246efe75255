"""Alignment: the five landmarks onto the ArcFace template by a similarity transform.

Recognition models of the ArcFace family (Deng et al., "ArcFace: Additive Angular
Margin Loss for Deep Face Recognition", CVPR 2019) are trained on 112 x 112 crops in
which the five landmarks sit at fixed positions, :data:`ARCFACE_TEMPLATE`. A face is
aligned by the similarity transform (rotation, uniform scale, translation) that maps
its landmarks onto the template in the least-squares sense (Umeyama, "Least-squares
estimation of transformation parameters between two point patterns", IEEE TPAMI 13(4),
1991), then warped with bilinear interpolation. Other output sizes scale the template
by ``size / 112``.

Faces without landmarks (OpenCV's Haar cascade gives none) are cropped from their box,
widened by :data:`BOX_MARGIN`, and resized: no rotation is corrected, so such crops
match the template less well and models score them lower. Images declared aligned
already (``--detector none``) are resized whole.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceparity.pipeline import _deps
from faceparity.pipeline.faces import Face

__all__ = [
    "ARCFACE_TEMPLATE",
    "BOX_MARGIN",
    "align_face",
    "box_transform",
    "similarity_transform",
    "template",
]

ARCFACE_TEMPLATE: npt.NDArray[np.float64] = np.array(
    [
        [38.2946, 51.6963],  # right eye (left in the image)
        [73.5318, 51.5014],  # left eye
        [56.0252, 71.7366],  # nose tip
        [41.5493, 92.3655],  # right mouth corner
        [70.7299, 92.2041],  # left mouth corner
    ]
)
"""The five landmark positions of the 112 x 112 ArcFace crop (InsightFace's ``arcface_dst``)."""

BOX_MARGIN = 0.2
"""Fraction of the box's size added on each side when cropping a face without landmarks."""


def template(size: int = 112) -> npt.NDArray[np.float64]:
    """The ArcFace template for a square crop of ``size`` pixels."""
    return ARCFACE_TEMPLATE * (size / 112.0)


def similarity_transform(source: npt.ArrayLike, target: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The 2 x 3 similarity transform that maps ``source`` points onto ``target`` best.

    Least squares over rotation, uniform scale and translation, by Umeyama's closed
    form (1991, eqs. 40-42), with the reflection case excluded.

    Parameters
    ----------
    source, target : array-like of shape (n, 2)
        Corresponding points, ``n >= 2``.

    Returns
    -------
    ndarray of shape (2, 3)
        ``M`` such that ``target ~ source @ M[:, :2].T + M[:, 2]``.

    Examples
    --------
    >>> src = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> np.round(similarity_transform(src, 2 * src + 3), 12)
    array([[2., 0., 3.],
           [0., 2., 3.]])

    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise ValueError(f"expected two (n, 2) point sets, n >= 2; got {src.shape} and {dst.shape}")
    mu_src, mu_dst = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_src, dst - mu_dst
    covariance = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    variance = float((a**2).sum() / len(src))
    scale = float((d * sign).sum() / variance) if variance > 0 else 1.0
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_dst - matrix[:, :2] @ mu_src
    return matrix


def box_transform(
    box: npt.ArrayLike, size: int, margin: float = BOX_MARGIN
) -> npt.NDArray[np.float64]:
    """The 2 x 3 transform that maps a box, widened by ``margin`` on each side, onto the crop.

    The widened box is made square around its centre (its longer side), so the face
    keeps its proportions.
    """
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64))
    side = max(x2 - x1, y2 - y1) * (1.0 + 2.0 * margin)
    side = max(side, 1e-6)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    scale = size / side
    return np.array([[scale, 0.0, size / 2.0 - scale * cx], [0.0, scale, size / 2.0 - scale * cy]])


def align_face(
    image: npt.NDArray[np.uint8], face: Face | None, *, size: int = 112
) -> npt.NDArray[np.uint8]:
    """The aligned ``size`` x ``size`` crop of a face.

    Parameters
    ----------
    image : ndarray of shape (height, width, 3), uint8
        The decoded image (RGB).
    face : Face or None
        The face; with landmarks it is aligned onto the template, without them its box
        is cropped; ``None`` means the image is an aligned crop already and is resized.
    size : int
        Side of the square output in pixels.

    Returns
    -------
    ndarray of shape (size, size, 3), uint8

    """
    cv2 = _deps.cv2("aligning faces")
    if face is None:
        if image.shape[0] == size and image.shape[1] == size:
            return image
        return np.asarray(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
    if face.landmarks is not None:
        matrix = similarity_transform(face.landmarks, template(size))
    else:
        matrix = box_transform(face.box, size)
    return np.asarray(
        cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
    )
