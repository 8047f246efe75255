"""The pipeline's optional dependencies, imported on first use with an install hint."""

from __future__ import annotations

import threading
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


_opencv_lock = threading.Lock()
_opencv_runs = 0  # blocks inside opencv_threads, in any thread
_opencv_before = 0  # OpenCV's setting when the first of them began


@contextmanager
def opencv_threads(threads: int) -> Iterator[None]:
    """OpenCV's own threads within one call set to ``threads`` for a block, then restored.

    The pipeline parallelises over images, on a pool of threads beside the model's, so
    OpenCV's threads within each resize or warp would only compete with them for the
    cores. OpenCV's setting is the process's: it is changed when the first of any
    overlapping blocks (runs in several threads) begins and restored when the last
    ends. Nothing happens where OpenCV is missing.
    """
    global _opencv_runs, _opencv_before
    try:
        import cv2 as module
    except ImportError:
        yield
        return
    with _opencv_lock:
        if _opencv_runs == 0:
            _opencv_before = module.getNumThreads()
            module.setNumThreads(threads)
        _opencv_runs += 1
    try:
        yield
    finally:
        with _opencv_lock:
            _opencv_runs -= 1
            if _opencv_runs == 0:
                module.setNumThreads(_opencv_before)
