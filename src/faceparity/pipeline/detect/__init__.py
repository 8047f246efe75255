"""Face detectors: an image in, every face found out.

Four formats (:func:`open_detector` picks one from a spec):

- SCRFD, InsightFace's detector, from its ONNX export (:class:`ScrfdDetector`);
- YuNet, the OpenCV Zoo's 2023mar model (:class:`YunetDetector`);
- dlib's HOG and MMOD CNN detectors with its 5-point shape predictor
  (:class:`DlibDetector`, ``dlib:hog`` / ``dlib:mmod``; the dlib extra);
- MTCNN's three networks, from the ONNX export of its Keras port (:class:`MtcnnDetector`);
- OpenCV's frontal-face Haar cascade, the fallback that needs no download
  (:class:`HaarDetector`; no landmarks).

Every detector returns all faces reaching its score threshold, after non-maximum
suppression, in the image's pixel coordinates, best first; the one face an audit uses is
chosen by :func:`~faceparity.pipeline.faces.choose_face` (largest, then most central),
and an image with none is a failure to acquire.
"""

from __future__ import annotations

from faceparity.pipeline.detect.base import (
    IMAGE_EXPECTED,
    NMS_THRESHOLD_EXPECTED,
    SCORE_THRESHOLD_EXPECTED,
    Detector,
    letterbox,
    letterbox_blob,
    nms,
)
from faceparity.pipeline.detect.dlib_detect import DlibDetector, DlibFace
from faceparity.pipeline.detect.factory import (
    DETECTOR_SPEC_EXPECTED,
    FORMAT_UNRECOGNISED,
    open_detector,
    recognise_format,
)
from faceparity.pipeline.detect.haar import CASCADE_UNREADABLE, HaarDetector
from faceparity.pipeline.detect.mtcnn import (
    MTCNN_FILES,
    MTCNN_FILES_MISSING,
    MTCNN_OUTPUTS_EXPECTED,
    MtcnnDetector,
)
from faceparity.pipeline.detect.scrfd import SCRFD_LAYOUTS, SCRFD_OUTPUTS_EXPECTED, ScrfdDetector
from faceparity.pipeline.detect.session import (
    INPUT_SIZE_EXPECTED,
    INPUT_SIZE_FIXED,
    MODEL_FAILED,
    MODEL_INPUT_EXPECTED,
    MODEL_MISSING,
    MODEL_UNREADABLE,
    OUTPUT_SHAPE_EXPECTED,
    PROVIDER_UNAVAILABLE,
    THREADS_EXPECTED,
    OnnxModel,
)
from faceparity.pipeline.detect.yunet import YUNET_OUTPUTS, YUNET_OUTPUTS_EXPECTED, YunetDetector

__all__ = [
    # The protocol and the factory
    "Detector",
    "open_detector",
    "recognise_format",
    # Detectors
    "DlibDetector",
    "DlibFace",
    "HaarDetector",
    "MtcnnDetector",
    "ScrfdDetector",
    "YunetDetector",
    "OnnxModel",
    # Layouts
    "MTCNN_FILES",
    "SCRFD_LAYOUTS",
    "YUNET_OUTPUTS",
    # Shared steps
    "letterbox",
    "letterbox_blob",
    "nms",
    # Messages
    "CASCADE_UNREADABLE",
    "DETECTOR_SPEC_EXPECTED",
    "FORMAT_UNRECOGNISED",
    "IMAGE_EXPECTED",
    "INPUT_SIZE_EXPECTED",
    "INPUT_SIZE_FIXED",
    "MODEL_FAILED",
    "MODEL_INPUT_EXPECTED",
    "MODEL_MISSING",
    "MODEL_UNREADABLE",
    "MTCNN_FILES_MISSING",
    "MTCNN_OUTPUTS_EXPECTED",
    "NMS_THRESHOLD_EXPECTED",
    "OUTPUT_SHAPE_EXPECTED",
    "PROVIDER_UNAVAILABLE",
    "SCORE_THRESHOLD_EXPECTED",
    "SCRFD_OUTPUTS_EXPECTED",
    "THREADS_EXPECTED",
    "YUNET_OUTPUTS_EXPECTED",
]
