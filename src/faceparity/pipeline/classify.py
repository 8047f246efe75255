"""Running a facial-analysis classifier (sex, age) on the images of a manifest.

The classifier is an ONNX model the user supplies, declared by a TOML spec: how its
input is made (the crop rule, size, normalisation) and how its outputs are decoded
into a label or a value. faceparity runs what the user gives it on labels the user
gives it; it never infers race or ethnicity to label people.

Crop rules. ``image``: the image is a face crop already (resized to the input).
``box``: the face the detector finds (:func:`~faceparity.pipeline.faces.choose_face`),
its box enlarged ``margin`` times about its centre and moved back inside the image
(the rule of the faceplugin SDK's age and gender models, ``margin = 1.4``).

Decoders. ``ssrnet``: soft stagewise regression (Yang, Huang, Lin, Hsiu and Chuang,
"SSR-Net: A Compact Soft Stagewise Regression Network for Age Estimation", IJCAI 2018,
eq. 4 with the dynamic range of eq. 6): with ``K`` stages of ``s_k`` bins, stage
probabilities ``p_k``, index shifts ``eta_k`` and scale shifts ``delta_k``,
``y = V sum_k sum_i p_k(i) (i + l_i eta_k(i)) / prod_{j<=k} s_j (1 + l_d delta_j)``
(``l_i``, ``l_d``: the weights ``lambda_index`` and ``lambda_delta``);
``V`` is the range (101 years for age, 1 for a binary attribute, whose value is
thresholded). ``argmax``: the label of the largest of one output's values.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError

__all__ = [
    "SSRNET_OUTPUTS",
    "ClassifierSpec",
    "OnnxClassifier",
    "crop_box",
    "decode_ssrnet",
    "classify_files",
    "read_classifier_spec",
]

SSRNET_OUTPUTS = (
    ("prob_stage_1", "prob_stage_2", "prob_stage_3"),
    ("index_offset_stage1", "index_offset_stage2", "index_offset_stage3"),
    ("stage1_delta_k", "stage2_delta_k", "stage3_delta_k"),
)
"""Output names of an SSR-Net export: probabilities, index shifts, scale shifts per stage."""

CROP_RULES = ("image", "box")
DECODERS = ("ssrnet", "argmax")


@dataclass(frozen=True)
class ClassifierSpec:
    """How to feed a classifier and read its outputs (a TOML file; see the module).

    Attributes
    ----------
    size : int
        Side of the square input.
    mean, std : tuple of float
        Per-channel normalisation of RGB values in [0, 1]: ``(x / 255 - mean) / std``.
    crop : str
        ``image`` or ``box``.
    margin : float
        Enlargement of the detector's box (``box`` only).
    decoder : str
        ``ssrnet`` or ``argmax``.
    value_range : float
        ``V`` of SSR-Net.
    lambda_index, lambda_delta : float
        SSR-Net's weights of the index and scale shifts.
    threshold : float or None
        A binary label: values below it are ``labels[0]``, the others ``labels[1]``.
    labels : tuple of str
        Labels of the classes (in the order of the output for ``argmax``).
    output : str
        The output read by ``argmax``.
    column : str
        The predictions table's column.

    """

    size: int = 64
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    crop: str = "box"
    margin: float = 1.4
    decoder: str = "ssrnet"
    value_range: float = 1.0
    lambda_index: float = 1.0
    lambda_delta: float = 1.0
    threshold: float | None = None
    labels: tuple[str, ...] = ()
    output: str = ""
    column: str = "predicted"

    def __post_init__(self) -> None:
        if self.crop not in CROP_RULES:
            raise UsageError(f"crop: expected one of {', '.join(CROP_RULES)}, got {self.crop!r}")
        if self.decoder not in DECODERS:
            raise UsageError(
                f"decoder: expected one of {', '.join(DECODERS)}, got {self.decoder!r}"
            )
        if self.size < 8 or not math.isfinite(self.margin) or self.margin <= 0:
            raise UsageError(f"size and margin: expected size >= 8 and margin > 0, got {self}")
        if self.threshold is not None and len(self.labels) != 2:
            raise UsageError("threshold: expected labels = [BELOW, AT_OR_ABOVE] (two labels)")
        if self.decoder == "argmax" and (not self.labels or not self.output):
            raise UsageError("argmax: expected output = NAME and labels = [...] in class order")
        if any(s <= 0 for s in self.std):
            raise UsageError(f"std: expected positive numbers, got {self.std}")

    @property
    def is_label(self) -> bool:
        """Whether predictions are labels (else numbers)."""
        return self.threshold is not None or self.decoder == "argmax"


_KEYS = {
    "size": int,
    "mean": list,
    "std": list,
    "crop": str,
    "margin": float,
    "decoder": str,
    "range": float,
    "lambda_index": float,
    "lambda_delta": float,
    "threshold": float,
    "labels": list,
    "output": str,
    "column": str,
}


def read_classifier_spec(path: str | os.PathLike[str]) -> ClassifierSpec:
    """Read a classifier spec (TOML, every key at the top level; see :class:`ClassifierSpec`).

    Raises
    ------
    UsageError
        Naming the file and the key, for an unknown key or a value of the wrong type.

    """
    file = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"--spec {file}: cannot read it: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"--spec {file}: expected TOML: {err}") from err
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        kind = _KEYS.get(key)
        if kind is None:
            raise UsageError(f"--spec {file}: unknown key {key!r}; expected {', '.join(_KEYS)}")
        ok = (
            isinstance(value, int | float) and not isinstance(value, bool)
            if kind is float
            else isinstance(value, kind) and not isinstance(value, bool)
        )
        if not ok:
            what = {int: "an integer", float: "a number", str: "text", list: "a list"}[kind]
            raise UsageError(f"--spec {file}: {key}: expected {what}, got {value!r}")
        if key in ("mean", "std"):
            if len(value) != 3 or not all(isinstance(v, int | float) for v in value):
                raise UsageError(f"--spec {file}: {key}: expected three numbers, got {value!r}")
            value = tuple(float(v) for v in value)
        if key == "labels":
            value = tuple(str(v) for v in value)
        kwargs["value_range" if key == "range" else key] = value
    try:
        return ClassifierSpec(**kwargs)
    except UsageError as err:
        raise UsageError(f"--spec {file}: {err}") from err


def decode_ssrnet(
    outputs: Mapping[str, npt.NDArray[np.float32]],
    *,
    value_range: float,
    lambda_index: float = 1.0,
    lambda_delta: float = 1.0,
) -> npt.NDArray[np.float64]:
    """SSR-Net's regressed value for each row of a batch (see the module's formula).

    Examples
    --------
    >>> one = {n: np.array([[1.0, 0.0, 0.0]]) for n in SSRNET_OUTPUTS[0]}
    >>> one.update({n: np.zeros((1, 3)) for n in SSRNET_OUTPUTS[1]})
    >>> one.update({n: np.zeros((1, 1)) for n in SSRNET_OUTPUTS[2]})
    >>> one["prob_stage_1"] = np.array([[0.0, 0.0, 1.0]])  # bin 2 of 3 at stage 1
    >>> decode_ssrnet(one, value_range=101).round(4).tolist()
    [67.3333]

    """
    probs, shifts, deltas = SSRNET_OUTPUTS
    total: npt.NDArray[np.float64] | None = None
    scale: npt.NDArray[np.float64] | None = None
    for p_name, eta_name, delta_name in zip(probs, shifts, deltas, strict=True):
        p = np.asarray(outputs[p_name], dtype=np.float64)
        eta = np.asarray(outputs[eta_name], dtype=np.float64)
        delta = np.asarray(outputs[delta_name], dtype=np.float64).reshape(len(p))
        bins = p.shape[1]
        index = np.arange(bins, dtype=np.float64)
        stage = (p * (index + lambda_index * eta)).sum(axis=1)
        width = bins * (1.0 + lambda_delta * delta)
        scale = width if scale is None else scale * width
        total = stage / scale if total is None else total + stage / scale
    assert total is not None
    result: npt.NDArray[np.float64] = total * value_range
    return result


def crop_box(
    box: npt.ArrayLike, *, width: int, height: int, margin: float
) -> tuple[int, int, int, int]:
    """The box enlarged ``margin`` times about its centre, shifted back inside the image.

    Returns integer ``x1, y1, x2, y2`` (half-open). The enlargement is limited so that
    the crop fits the image.

    Examples
    --------
    >>> crop_box([40, 40, 60, 60], width=100, height=100, margin=2.0)
    (30, 30, 70, 70)
    >>> crop_box([0, 0, 20, 20], width=100, height=100, margin=2.0)
    (0, 0, 40, 40)

    """
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    scale = min(margin, width / w, height / h)
    new_w, new_h = w * scale, h * scale
    left = min(max((x1 + x2) / 2 - new_w / 2, 0.0), width - new_w)
    top = min(max((y1 + y2) / 2 - new_h / 2, 0.0), height - new_h)
    return (int(left), int(top), int(round(left + new_w)), int(round(top + new_h)))


class OnnxClassifier:
    """An ONNX classifier and its spec: crops in, predictions out."""

    def __init__(self, path: str | os.PathLike[str], spec: ClassifierSpec) -> None:
        from faceparity.pipeline import _deps
        from faceparity.pipeline._onnx import input_dtype

        ort = _deps.onnxruntime("running a classifier")
        self.file = str(path)
        self.spec = spec
        if not Path(path).is_file():
            raise UsageError(f"--classifier {path}: expected an ONNX model file")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                self.file, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own types for a bad model
            raise UsageError(f"--classifier {path}: cannot load the model: {err}") from err
        node = self.session.get_inputs()[0]
        self.input_name = node.name
        self.dtype = input_dtype(self.file, node)
        names = {o.name for o in self.session.get_outputs()}
        needed = (
            {n for group in SSRNET_OUTPUTS for n in group}
            if spec.decoder == "ssrnet"
            else {spec.output}
        )
        missing = sorted(needed - names)
        if missing:
            raise UsageError(
                f"--classifier {path}: decoder {spec.decoder} needs the outputs "
                f"{', '.join(missing)}; the model has {', '.join(sorted(names))}"
            )

    def preprocess(self, crop: npt.NDArray[np.uint8]) -> npt.NDArray[np.floating[Any]]:
        """One RGB crop of the input size as the model's NCHW input."""
        x = crop.astype(np.float64) / 255.0
        x = (x - np.array(self.spec.mean)) / np.array(self.spec.std)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None]).astype(self.dtype)

    def predict(self, crop: npt.NDArray[np.uint8]) -> float | str | None:
        """The decoded prediction of one crop (a value, or a label); None if not finite.

        SSR-Net divides by ``1 + lambda_delta * delta_k``: a scale shift of -1 (its
        ``tanh`` saturated) leaves the value undefined, which is no prediction.
        """
        out = self.session.run(None, {self.input_name: self.preprocess(crop)})
        named = {o.name: v for o, v in zip(self.session.get_outputs(), out, strict=True)}
        spec = self.spec
        if spec.decoder == "argmax":
            scores = np.asarray(named[spec.output]).reshape(-1)
            if scores.size != len(spec.labels):
                raise UsageError(
                    f"--spec: {len(spec.labels)} labels for an output of {scores.size} values"
                )
            return spec.labels[int(scores.argmax())]
        with np.errstate(divide="ignore", invalid="ignore"):
            value = float(
                decode_ssrnet(
                    named,
                    value_range=spec.value_range,
                    lambda_index=spec.lambda_index,
                    lambda_delta=spec.lambda_delta,
                )[0]
            )
        if not math.isfinite(value):
            return None
        if spec.threshold is not None:
            return spec.labels[int(value >= spec.threshold)]
        return value


def classify_files(
    files: Sequence[Path], classifier: OnnxClassifier, detector: Any | None
) -> Iterator[tuple[str, float | str | None]]:
    """Each image's outcome (``classified`` or a failure reason) and prediction."""
    from faceparity.pipeline import _deps
    from faceparity.pipeline.faces import choose_face
    from faceparity.pipeline.images import Decoded, decode_image, read_image

    cv2 = _deps.cv2("cropping faces")
    size = classifier.spec.size
    for file in files:
        data, failure = read_image(file)
        decoded = decode_image(data) if data is not None else failure
        if not isinstance(decoded, Decoded):
            yield (decoded.reason if decoded is not None else "unreadable"), None
            continue
        image = decoded.pixels
        if classifier.spec.crop == "box":
            if detector is None:
                raise UsageError('crop = "box" needs a --detector')
            face = choose_face(detector.detect(image), width=decoded.width, height=decoded.height)
            if face is None:
                yield "no face detected", None
                continue
            x1, y1, x2, y2 = crop_box(
                face.box, width=decoded.width, height=decoded.height, margin=classifier.spec.margin
            )
            image = image[y1:y2, x1:x2]
        crop = np.asarray(cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR))
        prediction = classifier.predict(crop)
        yield ("classified" if prediction is not None else "undecodable output"), prediction
