"""YuNet, OpenCV's face detector, from the OpenCV Zoo's ONNX model.

Wu, Peng and Yu (2023), "YuNet: A Tiny Millisecond-level Face Detector", Machine
Intelligence Research 20(5), 656-665. The model is the OpenCV Zoo's
``face_detection_yunet_2023mar.onnx`` (and its int8 quantised sibling); the decoding is
that of OpenCV's ``cv::FaceDetectorYN`` (``modules/objdetect/src/face_detect.cpp``, OpenCV
4.8 and later), rewritten with whole-array numpy operations and run on onnxruntime, so
the same execution providers serve every ONNX detector. The tests check it against
``cv2.FaceDetectorYN`` on the same model.

Output layout
-------------
Twelve outputs, read by name: ``cls_S``, ``obj_S``, ``bbox_S`` and ``kps_S`` for the
strides ``S`` = 8, 16 and 32. For a ``W x H`` input a stride has ``(H / S) * (W / S)``
cells in row-major order (row ``r``, column ``c``), one anchor each, and its outputs
have shape ``(1, cells, k)`` (or ``(cells, k)``):

- ``cls`` and ``obj``, ``k = 1``: class and objectness probabilities; the face's score is
  ``sqrt(clip(cls, 0, 1) * clip(obj, 0, 1))``;
- ``bbox``, ``k = 4``: ``dx, dy, log w, log h`` in units of the stride: the box's centre
  is ``((c + dx) S, (r + dy) S)`` and its size ``(exp(log w) S, exp(log h) S)``;
- ``kps``, ``k = 10``: five points ``((c + px) S, (r + py) S)``, in OpenCV's order: right
  eye, left eye, nose tip, right and left corners of the mouth. That is the order of
  :data:`~faceparity.pipeline.faces.LANDMARK_NAMES` (both come from the RetinaFace
  annotation of WIDER FACE), so the points are used as they come.

The older ``face_detection_yunet_2022mar.onnx`` (outputs ``loc``, ``conf``, ``iou`` over
prior boxes), which OpenCV itself stopped reading in 4.8, is not supported.

Preprocessing, as OpenCV's: BGR pixel values 0-255, not normalised. The image is
letterboxed onto the canvas (:func:`.base.letterbox`: scaled to fit keeping its aspect
ratio, top-left, black elsewhere), which is the model's own input size where it fixes
one, else 640 x 640 unless ``input_size`` says otherwise. (OpenCV instead runs at the
size the caller sets, padding it to a multiple of 32; on a canvas of the image's own
size the two agree.) Faces scoring at least the threshold (0.9, OpenCV's default) are
kept, then non-maximum suppression at IoU 0.3 (OpenCV's default), on continuous boxes
where OpenCV rounds them to whole pixels first. (OpenCV's NMS step also drops a face
scoring exactly the threshold, which its decoding step had kept; here it stays.) Boxes
are not clipped to the image.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.pipeline.detect.base import (
    check_thresholds,
    faces_from_arrays,
    letterbox_blob,
    nms,
)
from faceparity.pipeline.detect.session import OnnxModel, canvas_size
from faceparity.pipeline.faces import Face

__all__ = ["YUNET_OUTPUTS", "YUNET_OUTPUTS_EXPECTED", "YUNET_STRIDES", "YunetDetector"]

YUNET_STRIDES = (8, 16, 32)
YUNET_OUTPUTS = tuple(
    f"{part}_{s}" for part in ("cls", "obj", "bbox", "kps") for s in YUNET_STRIDES
)
"""The output names of the 2023mar model, as ``cv::FaceDetectorYN`` asks for them."""

YUNET_OUTPUTS_EXPECTED = (
    "model file {path} is not a YuNet (2023mar) detector: expected outputs named "
    "{expected}; missing {missing}"
)


class YunetDetector:
    """YuNet on an ONNX model (see the module's notes for the layout and preprocessing).

    Parameters
    ----------
    model : OnnxModel
        The opened model (:meth:`OnnxModel.open`).
    score_threshold : float, default 0.9
        Faces scoring less are dropped (``cv::FaceDetectorYN``'s default).
    nms_threshold : float, default 0.3
        IoU above which the lower-scoring of two faces is suppressed (OpenCV's default).
    input_size : tuple of int, optional
        ``width, height`` of the canvas for a model whose input size is free; default
        640 x 640. A model with a fixed size uses its own.

    Raises
    ------
    UsageError
        The model lacks YuNet's outputs, ``input_size`` does not fit, or a threshold
        is not a number in range.

    """

    name = "yunet"

    def __init__(
        self,
        model: OnnxModel,
        *,
        score_threshold: float = 0.9,
        nms_threshold: float = 0.3,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        missing = [n for n in YUNET_OUTPUTS if n not in model.output_names]
        if missing:
            raise UsageError(
                YUNET_OUTPUTS_EXPECTED.format(
                    path=model.path, expected=", ".join(YUNET_OUTPUTS), missing=", ".join(missing)
                )
            )
        self.model = model
        self.score_threshold, self.nms_threshold = check_thresholds(score_threshold, nms_threshold)
        self.input_size = canvas_size(model, input_size, max(YUNET_STRIDES))
        width, height = self.input_size
        cells, strides, counts = [], [], []
        for stride in YUNET_STRIDES:
            rows, cols = -(-height // stride), -(-width // stride)
            ys, xs = np.mgrid[:rows, :cols]
            cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64))
            strides.append(np.full(rows * cols, float(stride)))
            counts.append(rows * cols)
        self._cells = np.concatenate(cells)
        self._strides = np.concatenate(strides)
        self._counts = counts

    @property
    def description(self) -> str:
        """Format, model file and settings, for the record of a run."""
        width, height = self.input_size
        return (
            f"YuNet (OpenCV Zoo) {self.model.path.name}, input {width}x{height}, "
            f"score >= {self.score_threshold:g}, NMS IoU {self.nms_threshold:g}"
        )

    def _table(
        self, values: dict[str, npt.NDArray[np.float32]], part: str, cols: int
    ) -> npt.NDArray[np.float32]:
        """One part's outputs (``cls``, ``obj``, ``bbox``, ``kps``), all strides stacked."""
        return np.concatenate(
            [
                self.model.rows(
                    values[f"{part}_{stride}"],
                    name=f"{part}_{stride}",
                    rows=count,
                    cols=cols,
                    size=self.input_size,
                    layout="YuNet 2023mar",
                )
                for stride, count in zip(YUNET_STRIDES, self._counts, strict=True)
            ]
        )

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Face]:
        """Every face scoring at least the threshold, after NMS, best first.

        Parameters
        ----------
        image : ndarray of shape (H, W, 3), dtype uint8
            RGB.

        Returns
        -------
        list of Face
            Each with its five landmarks.

        """
        blob, (sx, sy) = letterbox_blob(image, self.input_size, reverse_channels=True)
        values = self.model.run(blob)

        cls = np.clip(self._table(values, "cls", 1)[:, 0].astype(np.float64), 0.0, 1.0)
        obj = np.clip(self._table(values, "obj", 1)[:, 0].astype(np.float64), 0.0, 1.0)
        scores = np.sqrt(cls * obj)
        keep = np.flatnonzero(scores >= self.score_threshold)
        cells = self._cells[keep]
        strides = self._strides[keep][:, np.newaxis]
        bbox = self._table(values, "bbox", 4)[keep].astype(np.float64)
        centres = (cells + bbox[:, :2]) * strides
        sizes = np.exp(bbox[:, 2:]) * strides
        boxes = np.concatenate([centres - sizes / 2.0, centres + sizes / 2.0], axis=1)
        boxes /= np.array([sx, sy, sx, sy])
        points = self._table(values, "kps", 10)[keep].astype(np.float64).reshape(-1, 5, 2)
        landmarks = (cells[:, np.newaxis, :] + points) * strides[:, :, np.newaxis]
        landmarks /= np.array([sx, sy])

        order = nms(boxes, scores[keep], self.nms_threshold)
        return faces_from_arrays(boxes[order], scores[keep][order], landmarks[order])
