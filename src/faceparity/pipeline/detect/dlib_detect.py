"""dlib's face detectors: HOG (``dlib:hog``) and the MMOD CNN (``dlib:mmod``).

dlib's frontal face detector is a HOG filter bank scanned over an image pyramid
(Dalal and Triggs, CVPR 2005; ``dlib.get_frontal_face_detector``); its MMOD detector is
a CNN trained with the max-margin object detection loss (King, "Max-Margin Object
Detection", arXiv:1502.00046, 2015; ``dlib.cnn_face_detection_model_v1`` with
``mmod_human_face_detector.dat``). Both are run as dlib runs them, with the image
upsampled ``upsample`` times first (1 by default, as in dlib's and face_recognition's
examples: faces down to about 40 pixels are found), and their boxes are dlib's.

Each face also carries the five points of dlib's 5-point shape predictor
(:class:`DlibFace`): the two corners of each eye and the base of the nose. These are
not the five landmarks of the ArcFace convention (eye centres, nose tip, mouth corners)
that :class:`~faceparity.pipeline.faces.Face` holds, so ``landmarks`` stays ``None``:
an ONNX embedder aligns such a face by its box, and the quality measures of pose are
undefined, as for the Haar cascade. dlib's own embedder
(:class:`~faceparity.pipeline.dlib_embedder.DlibEmbedder`) aligns on these points.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.pipeline import _dlib
from faceparity.pipeline.detect.base import check_image
from faceparity.pipeline.faces import Face

__all__ = ["DLIB_KINDS", "DLIB_SPEC_EXPECTED", "DlibDetector", "DlibFace", "shape_points"]

DLIB_KINDS = ("hog", "mmod")
DLIB_SPEC_EXPECTED = (
    "a dlib detector is dlib:hog or dlib:mmod, optionally with the times the image is "
    "upsampled (dlib:hog:0, dlib:mmod:2; default 1); got {spec!r}"
)


@dataclass(frozen=True, eq=False)
class DlibFace(Face):
    """A face found by a dlib detector, with dlib's 5-point shape.

    Parameters
    ----------
    parts : ndarray of shape (5, 2), optional
        ``x, y`` of the points of dlib's 5-point shape predictor in dlib's pixel
        coordinates (integers; a pixel's centre at its index), in dlib's order: the
        outer and inner corner of the eye on the image's right (the subject's left),
        the outer and inner corner of the other eye, the base of the nose.

    """

    parts: npt.NDArray[np.float64] | None = None


def shape_points(shape: Any) -> npt.NDArray[np.float64]:
    """The points of a dlib ``full_object_detection`` as an ``(n, 2)`` array."""
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


class DlibDetector:
    """dlib's HOG or MMOD face detector, with its 5-point shape predictor.

    Parameters
    ----------
    kind : {"hog", "mmod"}
        The detector.
    upsample : int
        Times the image is doubled in size before detection (dlib's
        ``upsample_num_times``); each doubles the smallest face found and
        quadruples the cost.
    score_threshold : float, optional
        Faces scoring below are dropped. The HOG score is the detector's margin
        (dlib reports those at or above 0 by default); the MMOD score is its
        confidence (dlib's default likewise keeps those above 0). Default 0.

    """

    def __init__(self, kind: str = "hog", *, upsample: int = 1, score_threshold: float = 0.0):
        if kind not in DLIB_KINDS:
            raise UsageError(DLIB_SPEC_EXPECTED.format(spec=f"dlib:{kind}"))
        if upsample < 0 or upsample > 4:
            raise UsageError(DLIB_SPEC_EXPECTED.format(spec=f"dlib:{kind}:{upsample}"))
        what = f"the dlib {kind} detector"
        self.module = _dlib.dlib(what)
        self.kind = kind
        self.upsample = int(upsample)
        self.score_threshold = float(score_threshold)
        if not np.isfinite(self.score_threshold):
            raise UsageError(f"score_threshold must be a finite number; got {score_threshold!r}")
        self.shape = _dlib.ShapePredictor(what)
        self.path = _dlib.model_file(_dlib.MMOD_FILE, what) if kind == "mmod" else None
        self._detector = (
            self.module.cnn_face_detection_model_v1(str(self.path))
            if kind == "mmod"
            else self.module.get_frontal_face_detector()
        )
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """``dlib-hog`` or ``dlib-mmod``."""
        return f"dlib-{self.kind}"

    @property
    def description(self) -> str:
        """The detector, its settings and dlib's version, for the record of a run."""
        model = f", {self.path.name}" if self.path is not None else ""
        return (
            f"dlib {self.kind}{model} (dlib {self.module.__version__}), upsample "
            f"{self.upsample}, score >= {self.score_threshold:g}; "
            f"5-point shape {self.shape.path.name}"
        )

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Face]:
        """Every face scoring at least the threshold, best first, with dlib's five points."""
        check_image(image)
        with self._lock:  # dlib's objects are not documented as safe to share by threads
            if self.kind == "mmod":
                found = self._detector(image, self.upsample)
                rects = [d.rect for d in found]
                scores = [float(d.confidence) for d in found]
            else:
                rects, scores, _ = self._detector.run(image, self.upsample, self.score_threshold)
                scores = [float(s) for s in scores]
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
        faces: list[Face] = []
        for i in order:
            if scores[i] < self.score_threshold:
                continue
            rect = rects[i]
            box = np.array(
                [rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1], dtype=np.float64
            )
            parts = shape_points(self.shape(image, rect))
            faces.append(DlibFace(box=box, score=scores[i], landmarks=None, parts=parts))
        return faces


def parse_dlib_spec(spec: str) -> tuple[str, int]:
    """``kind, upsample`` of a spec ``dlib:KIND`` or ``dlib:KIND:N``."""
    head, _, rest = spec.partition(":")
    kind, _, times = rest.partition(":")
    kind = kind.strip().lower()
    if head.strip().lower() != "dlib" or kind not in DLIB_KINDS:
        raise UsageError(DLIB_SPEC_EXPECTED.format(spec=spec))
    if not times:
        return kind, 1
    if not times.strip().isdigit():
        raise UsageError(DLIB_SPEC_EXPECTED.format(spec=spec))
    return kind, int(times)
