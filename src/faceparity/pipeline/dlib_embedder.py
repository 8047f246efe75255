"""dlib's 128-d ResNet face recogniser as an embedder, with dlib's own alignment.

The model is dlib's ``dlib_face_recognition_resnet_model_v1.dat`` (a 29-layer ResNet
trained with a pairwise hinge loss on distances; King, dlib blog, "High Quality Face
Recognition with Deep Metric Learning", 2017), the model behind the ``face_recognition``
library. Faces are aligned as dlib aligns them: dlib's 5-point shape predictor on the
face's box, then ``dlib.get_face_chip`` with size 150 and padding 0.25, the chip that
``compute_face_descriptor(image, shape)`` makes inside dlib; the chips are embedded in
batches by ``compute_face_descriptor(chips)``. A face from a dlib detector brings its
five points (:class:`~faceparity.pipeline.detect.dlib_detect.DlibFace`); any other face
gets them from the shape predictor run on its box, as ``face_recognition`` does.

Score direction
---------------
dlib compares two descriptors by their Euclidean distance and calls them the same
person when the distance is at most :data:`DISTANCE_THRESHOLD` (0.6). Descriptors are
not of unit length (about 1.3 to 1.6 on real faces), so a cosine similarity would rank
pairs differently; they are therefore written as dlib gives them, not normalised, and
the run's record says ``comparison = "euclidean"``
(:data:`COMPARISON`), which the embeddings audit reads to score pairs by Euclidean
distance (``ScoreKind.DISTANCE``: lower is more alike, a match when the distance is at
most the threshold).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.pipeline import _deps, _dlib
from faceparity.pipeline.embedder import ModelSpec, file_digest
from faceparity.pipeline.faces import Face

__all__ = [
    "CHIP_PADDING",
    "CHIP_SIZE",
    "COMPARISON",
    "DISTANCE_THRESHOLD",
    "DLIB_EMBEDDER",
    "DlibEmbedder",
    "DlibSpec",
]

DLIB_EMBEDDER = "dlib"
"""The value of ``--embedder`` that names dlib's ResNet."""
CHIP_SIZE = 150
"""Side of dlib's aligned chip, the ResNet's input (``get_face_chip``'s default)."""
CHIP_PADDING = 0.25
"""dlib's padding of the chip around the face (``get_face_chip``'s default)."""
DISTANCE_THRESHOLD = 0.6
"""dlib's documented decision threshold: the same person when the distance is at most this."""
COMPARISON = "euclidean"
"""How two dlib descriptors are compared: Euclidean distance, lower is more alike."""

MSG_SPEC_FOR_DLIB = (
    "model spec {file}: dlib's ResNet takes {size} x {size} chips aligned by dlib "
    "(get_face_chip); a spec for it may set name and size = {size} only, got {key} = {value!r}"
)


@dataclass(frozen=True)
class DlibSpec:
    """dlib's model and alignment, as the record of a run states them.

    Parameters
    ----------
    name : str
        A label for reports.
    size, padding : int, float
        ``get_face_chip``'s size and padding.
    num_jitters : int
        dlib's test-time jitter (0: none, dlib's default).
    comparison : str
        ``"euclidean"``: the distance convention of the descriptors.
    threshold : float
        dlib's documented distance threshold.

    """

    name: str = "dlib_face_recognition_resnet_model_v1"
    size: int = CHIP_SIZE
    padding: float = CHIP_PADDING
    num_jitters: int = 0
    comparison: str = COMPARISON
    threshold: float = DISTANCE_THRESHOLD

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain values (for the run's record and the cache key)."""
        return asdict(self)

    @classmethod
    def from_model_spec(cls, spec: ModelSpec, file: str) -> DlibSpec:
        """A dlib spec from a ``--model-spec`` file: its name; any other key must be dlib's."""
        default = ModelSpec()
        for key in ("mean", "std", "channel_order", "layout", "flip"):
            if getattr(spec, key) != getattr(default, key):
                raise UsageError(
                    MSG_SPEC_FOR_DLIB.format(
                        file=file, size=CHIP_SIZE, key=key, value=getattr(spec, key)
                    )
                )
        if spec.size not in (default.size, CHIP_SIZE):
            raise UsageError(
                MSG_SPEC_FOR_DLIB.format(file=file, size=CHIP_SIZE, key="size", value=spec.size)
            )
        return cls(name=spec.name if spec.name != default.name else cls.name)


class DlibEmbedder:
    """dlib's ResNet: faces aligned by dlib in, 128-d descriptors out (not normalised).

    Parameters
    ----------
    spec : DlibSpec
        The label; size and padding are dlib's.
    device : str
        ``cpu`` or ``auto`` (the wheels on PyPI are built without CUDA; ``cuda`` is
        refused).

    Attributes
    ----------
    file : str
        The model file.
    digest : str
        SHA-256 of the model, the shape predictor and the spec: the cache key.
    dimension : int
        128.
    providers : list of str
        ``["dlib"]``, for the record of a run.
    device : str
        ``cpu``.

    """

    dimension = 128

    def __init__(self, spec: DlibSpec = DlibSpec(), *, device: str = "cpu") -> None:
        what = "dlib's face recognition model"
        self.module = _dlib.dlib(what)
        if device not in ("cpu", "auto"):
            raise UsageError(
                f"--device {device}: the dlib embedder runs on the CPU here (dlib built "
                "without CUDA); use --device cpu"
            )
        self.spec = spec
        path = _dlib.model_file(_dlib.RESNET_FILE, what)
        self.file = str(path)
        self.shape = _dlib.ShapePredictor(what)
        self.model = self.module.face_recognition_model_v1(self.file)
        self.device = "cpu"
        self.providers = ["dlib"]
        key = json.dumps(spec.to_dict(), sort_keys=True).encode()
        parts = (file_digest(path), file_digest(self.shape.path))
        self.digest = hashlib.sha256("\0".join(parts).encode() + b"\0" + key).hexdigest()

    def shape_of(self, image: npt.NDArray[np.uint8], face: Face) -> Any:
        """The ``full_object_detection`` of a face for dlib: its own five points, or predicted."""
        parts = getattr(face, "parts", None)
        rect = _dlib.rectangle(self.module, face.box)
        if parts is not None:
            points = self.module.points([self.module.point(int(x), int(y)) for x, y in parts])
            return self.module.full_object_detection(rect, points)
        return self.shape(image, rect)

    def align(self, image: npt.NDArray[np.uint8], face: Face | None) -> npt.NDArray[np.uint8]:
        """The chip of a face by ``dlib.get_face_chip``; an image that is a chip already, resized.

        Parameters
        ----------
        image : ndarray of shape (height, width, 3), uint8
            The decoded image, RGB.
        face : Face or None
            The face; ``None`` when the image is an aligned chip already.

        Returns
        -------
        ndarray of shape (150, 150, 3), uint8

        """
        size = self.spec.size
        if face is None:
            if image.shape[:2] == (size, size):
                return image
            cv2 = _deps.cv2("resizing aligned faces")
            return np.asarray(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
        shape = self.shape_of(image, face)
        chip = self.module.get_face_chip(image, shape, size=size, padding=self.spec.padding)
        return np.asarray(chip, dtype=np.uint8)

    def embed(
        self, crops: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        """Descriptors of aligned chips by dlib's ResNet, and which rows are usable.

        Returns
        -------
        embeddings : ndarray of shape (n, 128), float32
            As dlib computes them, not normalised (zeros where not usable).
        usable : ndarray of shape (n,), bool
            False where a descriptor is not finite or is all zeros.

        """
        chips = [np.ascontiguousarray(c, dtype=np.uint8) for c in crops]
        if not chips:
            return np.zeros((0, self.dimension), np.float32), np.zeros(0, dtype=bool)
        out = np.asarray(
            self.model.compute_face_descriptor(chips, self.spec.num_jitters), dtype=np.float64
        ).reshape(len(chips), self.dimension)
        usable = np.isfinite(out).all(axis=1) & (np.abs(out).sum(axis=1) > 0)
        return np.where(usable[:, None], out, 0.0).astype(np.float32), usable
