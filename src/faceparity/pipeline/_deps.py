"""The pipeline's optional dependencies, imported on first use with an install hint."""

from __future__ import annotations

from types import ModuleType
from typing import cast

from faceparity.errors import UsageError

__all__ = ["IMAGES_MISSING", "cv2", "onnxruntime"]

IMAGES_MISSING = (
    "{what} needs {package}; install the images extra: pip install 'faceparity[images]'"
)


def cv2(what: str = "reading face images") -> ModuleType:
    """OpenCV (``opencv-python-headless``), or a :class:`UsageError` with the install hint."""
    try:
        import cv2 as module
    except ImportError as err:
        raise UsageError(
            IMAGES_MISSING.format(what=what, package="opencv-python-headless")
        ) from err
    return module


def onnxruntime(what: str = "running an ONNX model") -> ModuleType:
    """onnxruntime, or a :class:`UsageError` with the install hint."""
    try:
        import onnxruntime as module
    except ImportError as err:
        raise UsageError(IMAGES_MISSING.format(what=what, package="onnxruntime")) from err
    return cast(ModuleType, module)
