"""SCRFD, InsightFace's face detector, from its ONNX export.

Guo, Deng, Lattas and Zafeiriou (2022), "Sample and Computation Redistribution for
Efficient Face Detection", ICLR 2022 (arXiv:2105.04714). The decoding follows the
inference code InsightFace ships with its ONNX models (``insightface/model_zoo/scrfd.py``),
rewritten here with whole-array numpy operations.

Output layout
-------------
The outputs are read by position, in the order InsightFace's export writes them: the
scores of every stride, then the box distances of every stride, then (for models with
keypoints, the ``*_kps`` files) the keypoint offsets of every stride. (The names vary
between exports, often bare node numbers; where they are exactly ``score_S``, ``bbox_S``
and ``kps_S`` for the layout's strides ``S``, they are read by name, in any order.)

============  ==============  =========  ========================================
outputs       strides         anchors    keypoints
============  ==============  =========  ========================================
6             8, 16, 32       2          no
9             8, 16, 32       2          yes (``scrfd_*_bnkps``, ``det_10g``)
10            8 ... 128       1          no
15            8 ... 128       1          yes
============  ==============  =========  ========================================

For a ``W x H`` input and stride ``s`` there are ``(H / s) * (W / s)`` cells (rounded up
where ``s`` does not divide the size, as a padded convolution's output is) in row-major
order (row ``r``, column ``c``), each with its anchors one after the other, so row
``(r * W / s + c) * A + a`` of every output of that stride belongs to anchor ``a`` of cell
``(r, c)``, whose centre is ``(c * s, r * s)`` on the input. The outputs of a stride have
shape ``(rows, k)`` or, with a batch axis, ``(1, rows, k)``:

- scores, ``k = 1``: the face probability (the sigmoid is inside the model);
- boxes, ``k = 4``: distances from the centre to the left, top, right and bottom edges,
  in units of the stride, so the box is ``(cx - s d0, cy - s d1, cx + s d2, cy + s d3)``;
- keypoints, ``k = 10``: five ``(dx, dy)`` offsets from the centre in units of the stride,
  in the order of :data:`~faceparity.pipeline.faces.LANDMARK_NAMES` (the RetinaFace
  annotation of WIDER FACE that SCRFD is trained on: right eye, left eye, nose, right and
  left mouth corners, the first at the image's left in a frontal face).

Preprocessing, as InsightFace's: the image is letterboxed onto the input canvas (scaled to
fit keeping its aspect ratio, top-left, black elsewhere; :func:`.base.letterbox`), and
the RGB pixels are normalised to ``(v - 127.5) / 128``. The canvas is the model's own
input size where it fixes one, else 640 x 640 unless ``input_size`` says otherwise.
Faces scoring at least the threshold (0.5) are kept, then non-maximum suppression at IoU
0.4; boxes and landmarks are mapped back to the image and are not clipped to it.
"""

from __future__ import annotations

from dataclasses import dataclass

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

__all__ = [
    "SCRFD_LAYOUTS",
    "SCRFD_OUTPUTS_EXPECTED",
    "ScrfdDetector",
    "ScrfdLayout",
]

SCRFD_OUTPUTS_EXPECTED = (
    "model file {path} is not an SCRFD detector: expected 6, 9, 10 or 15 outputs "
    "(scores, boxes and optionally keypoints per stride); got {count}"
)


@dataclass(frozen=True)
class ScrfdLayout:
    """How an SCRFD export arranges its outputs.

    Parameters
    ----------
    strides : tuple of int
        Feature strides, finest first.
    anchors : int
        Anchors per cell.
    keypoints : bool
        Whether the model predicts the five landmarks.

    """

    strides: tuple[int, ...]
    anchors: int
    keypoints: bool


SCRFD_LAYOUTS = {
    6: ScrfdLayout((8, 16, 32), 2, False),
    9: ScrfdLayout((8, 16, 32), 2, True),
    10: ScrfdLayout((8, 16, 32, 64, 128), 1, False),
    15: ScrfdLayout((8, 16, 32, 64, 128), 1, True),
}
"""The layouts InsightFace's inference code recognises, by number of outputs."""


class ScrfdDetector:
    """SCRFD on an ONNX model (see the module's notes for the layout and preprocessing).

    Parameters
    ----------
    model : OnnxModel
        The opened model (:meth:`OnnxModel.open`).
    score_threshold : float, default 0.5
        Faces scoring less are dropped (InsightFace's ``det_thresh``).
    nms_threshold : float, default 0.4
        IoU above which the lower-scoring of two faces is suppressed (InsightFace's).
    input_size : tuple of int, optional
        ``width, height`` of the canvas for a model whose input size is free; default
        640 x 640. A model with a fixed size uses its own.

    Raises
    ------
    UsageError
        The model's outputs are not an SCRFD layout, ``input_size`` does not fit, or
        a threshold is not a number in range.

    """

    name = "scrfd"

    def __init__(
        self,
        model: OnnxModel,
        *,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        count = len(model.output_names)
        if count not in SCRFD_LAYOUTS:
            raise UsageError(SCRFD_OUTPUTS_EXPECTED.format(path=model.path, count=count))
        self.model = model
        self.layout = SCRFD_LAYOUTS[count]
        parts = ("score", "bbox", "kps") if self.layout.keypoints else ("score", "bbox")
        named = [f"{part}_{stride}" for part in parts for stride in self.layout.strides]
        if sorted(named) == sorted(model.output_names):
            self._order = [model.output_names.index(name) for name in named]
        else:
            self._order = list(range(count))
        self.score_threshold, self.nms_threshold = check_thresholds(score_threshold, nms_threshold)
        self.input_size = canvas_size(model, input_size, max(self.layout.strides))
        width, height = self.input_size
        centres, strides, counts = [], [], []
        for stride in self.layout.strides:
            rows, cols = -(-height // stride), -(-width // stride)
            ys, xs = np.mgrid[:rows, :cols]
            cells = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64) * stride
            centres.append(np.repeat(cells, self.layout.anchors, axis=0))
            strides.append(np.full(rows * cols * self.layout.anchors, float(stride)))
            counts.append(rows * cols * self.layout.anchors)
        self._centres = np.concatenate(centres)
        self._strides = np.concatenate(strides)
        self._counts = counts

    @property
    def description(self) -> str:
        """Format, model file and settings, for the record of a run."""
        width, height = self.input_size
        kps = "with" if self.layout.keypoints else "without"
        return (
            f"SCRFD (InsightFace) {self.model.path.name}, {kps} landmarks, input "
            f"{width}x{height}, score >= {self.score_threshold:g}, "
            f"NMS IoU {self.nms_threshold:g}"
        )

    def _table(
        self, values: list[npt.NDArray[np.float32]], part: int, cols: int
    ) -> npt.NDArray[np.float32]:
        """The outputs of one part (0 scores, 1 boxes, 2 keypoints), all strides stacked."""
        n = len(self.layout.strides)
        layout = f"SCRFD, {len(values)} outputs"
        return np.concatenate(
            [
                self.model.rows(
                    values[self._order[part * n + i]],
                    name=self.model.output_names[self._order[part * n + i]],
                    rows=self._counts[i],
                    cols=cols,
                    size=self.input_size,
                    layout=layout,
                )
                for i in range(n)
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
            With landmarks when the model predicts them.

        """
        # (v - 127.5) / 128: exact in float32, as 1 / 128 is a power of two.
        blob, (sx, sy) = letterbox_blob(image, self.input_size, mean=127.5, scale=1.0 / 128.0)
        values = list(self.model.run(blob).values())

        scores = self._table(values, 0, 1)[:, 0].astype(np.float64)
        keep = np.flatnonzero(scores >= self.score_threshold)
        centres = self._centres[keep]
        strides = self._strides[keep][:, np.newaxis]
        distances = self._table(values, 1, 4)[keep].astype(np.float64) * strides
        boxes = np.concatenate([centres - distances[:, :2], centres + distances[:, 2:]], axis=1)
        boxes /= np.array([sx, sy, sx, sy])
        landmarks = None
        if self.layout.keypoints:
            offsets = self._table(values, 2, 10)[keep].astype(np.float64) * strides
            landmarks = (centres[:, np.newaxis, :] + offsets.reshape(-1, 5, 2)) / np.array([sx, sy])

        order = nms(boxes, scores[keep], self.nms_threshold)
        return faces_from_arrays(
            boxes[order], scores[keep][order], None if landmarks is None else landmarks[order]
        )
