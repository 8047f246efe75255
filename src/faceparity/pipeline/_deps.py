"""The pipeline's optional dependencies, imported on first use with an install hint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import cast

from faceparity.errors import UsageError

__all__ = ["IMAGES_MISSING", "cv2", "onnxruntime", "opencv_threads"]

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


@contextmanager
def opencv_threads(threads: int) -> Iterator[None]:
    """OpenCV's own threads within one call set to ``threads`` for a block, then restored.

    The pipeline parallelises over images, on a pool of threads beside the model's:
    OpenCV's threads within each resize or warp would only compete with them (measured
    on two cores: the same time, a third more CPU). OpenCV's setting is the process's,
    so it is changed for the block only. Nothing happens where OpenCV is missing.
    """
    try:
        import cv2 as module
    except ImportError:
        yield
        return
    before = module.getNumThreads()
    module.setNumThreads(threads)
    try:
        yield
    finally:
        module.setNumThreads(before)
