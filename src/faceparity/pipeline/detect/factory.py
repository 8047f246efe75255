"""A detector from a spec: haar, dlib:KIND, scrfd:PATH, yunet:PATH, mtcnn:DIR or a path.

A bare path to a directory is MTCNN's three networks (:mod:`.mtcnn`).

A bare path to an ONNX model is recognised by its outputs: YuNet's twelve named outputs
(``cls_8`` ... ``kps_32``) make it YuNet, else 6, 9, 10 or 15 outputs of rank 2 or 3
whose last axes hold 1, 4 or 10 numbers make it SCRFD (:mod:`.scrfd` and :mod:`.yunet`
give the layouts). Anything else is a :class:`~faceparity.errors.UsageError` that names
the file and the layouts looked for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from faceparity.errors import UsageError
from faceparity.pipeline.detect.base import Detector
from faceparity.pipeline.detect.haar import HaarDetector
from faceparity.pipeline.detect.mtcnn import MtcnnDetector, is_mtcnn_dir
from faceparity.pipeline.detect.scrfd import SCRFD_LAYOUTS, ScrfdDetector
from faceparity.pipeline.detect.session import OnnxModel, Provider
from faceparity.pipeline.detect.yunet import YUNET_OUTPUTS, YunetDetector

__all__ = [
    "DETECTOR_SPEC_EXPECTED",
    "FORMAT_UNRECOGNISED",
    "MTCNN_NO_CANVAS",
    "open_detector",
    "recognise_format",
]

DETECTOR_SPEC_EXPECTED = (
    "detector must be 'haar', 'dlib:hog', 'dlib:mmod', 'scrfd:PATH.onnx', 'yunet:PATH.onnx', "
    "'mtcnn:DIR' or PATH.onnx; got {spec!r}"
)
MTCNN_NO_CANVAS = (
    "detector {spec!r} is MTCNN, which searches an image pyramid: it has no input canvas to size"
)
FORMAT_UNRECOGNISED = (
    "model file {path} is neither an SCRFD nor a YuNet face detector: expected YuNet's "
    "outputs cls_8 ... kps_32, or SCRFD's 6, 9, 10 or 15 outputs (scores, boxes, "
    "keypoints per stride); got outputs {outputs}. Name the format as scrfd:PATH or "
    "yunet:PATH if it is one of these"
)


def recognise_format(model: OnnxModel) -> str:
    """``"yunet"`` or ``"scrfd"``, from a model's outputs.

    Parameters
    ----------
    model : OnnxModel
        The opened model.

    Returns
    -------
    str

    Raises
    ------
    UsageError
        The outputs match neither layout.

    """
    if all(name in model.output_names for name in YUNET_OUTPUTS):
        return "yunet"
    shapes = model.output_shapes
    if len(shapes) in SCRFD_LAYOUTS and all(
        len(shape) in (2, 3) and shape[-1] in (1, 4, 10, None) for shape in shapes
    ):
        return "scrfd"
    outputs = ", ".join(
        f"{name} {['?' if d is None else d for d in shape]}"
        for name, shape in zip(model.output_names, shapes, strict=True)
    )
    raise UsageError(FORMAT_UNRECOGNISED.format(path=model.path, outputs=outputs or "none"))


def open_detector(
    spec: str | os.PathLike[str] = "haar",
    *,
    score_threshold: float | None = None,
    nms_threshold: float | None = None,
    input_size: tuple[int, int] | None = None,
    providers: Sequence[Provider] | None = None,
    threads: int | None = None,
) -> Detector:
    """The face detector a spec names.

    Parameters
    ----------
    spec : str or path-like, default "haar"
        ``haar`` for OpenCV's bundled Haar cascade (:class:`HaarDetector`);
        ``dlib:hog`` or ``dlib:mmod`` (``dlib:KIND:N`` upsamples N times, default 1)
        for dlib's detectors (:class:`~.dlib_detect.DlibDetector`, the dlib extra);
        ``scrfd:PATH`` or ``yunet:PATH`` for an ONNX model of that format; or a bare
        ``PATH`` to an ONNX model whose format is recognised from its outputs
        (:func:`recognise_format`); ``mtcnn:DIR`` or a bare ``DIR`` for MTCNN's
        ``pnet.onnx``, ``rnet.onnx`` and ``onet.onnx`` (:class:`MtcnnDetector`).
    score_threshold : float, optional
        Faces scoring less are dropped. Default: the detector's own (SCRFD 0.5,
        YuNet 0.9, Haar 4 neighbours, MTCNN 0.7 from O-Net).
    nms_threshold : float, optional
        IoU for non-maximum suppression. Default: SCRFD 0.4, YuNet 0.3; for MTCNN
        the last suppression's overlap over the smaller box, 0.7; the Haar cascade
        groups its own rectangles and ignores it.
    input_size : tuple of int, optional
        ``width, height`` of the canvas for an ONNX model whose input size is free
        (default 640 x 640); refused for MTCNN, which searches a pyramid.
    providers : sequence of str or (str, dict), optional
        onnxruntime execution providers, most preferred first, each a name or a name
        and its options (for instance ``("CUDAExecutionProvider",)`` or
        ``[("CUDAExecutionProvider", {"device_id": 1})]``); the CPU is always the
        fallback. Default: CPU.
    threads : int, optional
        onnxruntime's threads within an operator. Default: every CPU available.

    Returns
    -------
    Detector

    Raises
    ------
    UsageError
        The spec, the file, or the model's inputs or outputs are not usable.

    Examples
    --------
    >>> import numpy as np
    >>> detector = open_detector("haar")
    >>> detector.name, detector.detect(np.zeros((48, 64, 3), np.uint8))
    ('haar', [])

    """
    text = os.fspath(spec)
    if not isinstance(text, str) or not text.strip():
        raise UsageError(DETECTOR_SPEC_EXPECTED.format(spec=spec))
    if text.strip().lower() == "haar":
        if score_threshold is None:
            return HaarDetector()
        return HaarDetector(score_threshold=score_threshold)
    if text.strip().lower().startswith("dlib:"):
        from faceparity.pipeline.detect.dlib_detect import DlibDetector, parse_dlib_spec

        kind, upsample = parse_dlib_spec(text.strip())
        return DlibDetector(kind, upsample=upsample, score_threshold=score_threshold or 0.0)

    # MTCNN: three networks in a directory, no input canvas
    kind, sep, rest = text.partition(":")
    mtcnn_dir = rest if sep and kind.lower() == "mtcnn" else text if is_mtcnn_dir(text) else None
    if mtcnn_dir is not None:
        if not mtcnn_dir:
            raise UsageError(DETECTOR_SPEC_EXPECTED.format(spec=spec))
        if input_size is not None:
            raise UsageError(MTCNN_NO_CANVAS.format(spec=spec))
        mtcnn_options: dict[str, float] = {}
        if score_threshold is not None:
            mtcnn_options["score_threshold"] = float(score_threshold)
        if nms_threshold is not None:
            mtcnn_options["nms_threshold"] = float(nms_threshold)
        return MtcnnDetector.open(mtcnn_dir, providers=providers, threads=threads, **mtcnn_options)

    if sep and kind.lower() in ("scrfd", "yunet"):
        kind, path = kind.lower(), rest
        if not path:
            raise UsageError(DETECTOR_SPEC_EXPECTED.format(spec=spec))
    else:
        kind, path = "", text
    model = OnnxModel.open(path, providers=providers, threads=threads)
    if not kind:
        kind = recognise_format(model)
    options: dict[str, float] = {}
    if score_threshold is not None:
        options["score_threshold"] = float(score_threshold)
    if nms_threshold is not None:
        options["nms_threshold"] = float(nms_threshold)
    if kind == "scrfd":
        return ScrfdDetector(model, input_size=input_size, **options)
    return YunetDetector(model, input_size=input_size, **options)
