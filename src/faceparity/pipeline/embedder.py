"""Any ONNX face recognition model, declared by a small spec, as an embedder.

The model under audit is the user's: an ONNX file and a spec of its pre-processing.
A spec is a TOML file whose keys are the fields of :class:`ModelSpec`; every key is
optional and the defaults are the ArcFace convention of InsightFace's models
(112 x 112 RGB, ``(pixel - 127.5) / 127.5``, NCHW), which most public face models
follow. For example, a FaceNet-style model trained on 160 x 160 crops scaled to
[-1, 1] in NHWC::

    name = "facenet-160"
    size = 160
    mean = 127.5
    std = 128.0
    layout = "NHWC"

The model's image input may be float32, float16 or float64 (the crops are cast to
its declared type); any other input type is refused by name when the model is opened.

Real exports carry quirks, each read from the model or stated in the spec:

- a **fixed batch** (``[1, 3, 112, 112]``): the model is run on one fixed-size batch
  at a time, the last one padded. Freeing the batch dimension in the graph is not safe:
  exports often hard-code it in a ``Reshape`` (the faceplugin embedder's does, and then
  returns wrong shapes for a batch of 32), and a call per crop costs little beside a
  recognition network's inference (on that model, one thread: 11.4 ms a crop through
  :meth:`OnnxEmbedder.raw`, preprocessing included, against 11.2 ms of bare
  ``session.run``);
- **grey** inputs (one channel): ``channel_order = "GREY"``, the crop converted by
  ITU-R BT.601 luma (``0.299 R + 0.587 G + 0.114 B``, OpenCV's ``RGB2GRAY``) before
  ``mean`` and ``std``;
- **NHWC** layouts (TensorFlow and Keras exports): ``layout = "NHWC"``.
Inference runs on onnxruntime, batched, on ``threads`` CPU threads or on the CUDA
execution provider when asked for and present. Embeddings come out L2-normalised
(float32); an output row that is not finite or has zero norm is no template, and the
image is a failure to enrol.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.pipeline import _deps
from faceparity.pipeline._onnx import (
    MSG_INPUT_TYPE,
    MSG_OUTPUT_TYPE,
    check_output_type,
    input_dtype,
)

__all__ = [
    "MSG_GREY_HINT",
    "MSG_INPUT_TYPE",
    "MSG_MODEL_FAILED",
    "MSG_MODEL_INPUT",
    "MSG_OUTPUT_TYPE",
    "ModelSpec",
    "OnnxEmbedder",
    "file_digest",
    "read_model_spec",
]

MSG_SPEC_UNREADABLE = "model spec {file}: could not be read as TOML: {error}"
MSG_SPEC_UNKNOWN_KEY = "model spec {file}: unknown key {key!r}; expected one of {known}"
MSG_SPEC_BAD_VALUE = "model spec {file}: {key}: expected {expected}, got {value!r}"
MSG_MODEL_UNREADABLE = "model {file}: could not be loaded by onnxruntime: {error}"
MSG_MODEL_INPUT = (
    "model {file}: expected one image input of rank 4 ({layout}, {channels} colour "
    "channels), got inputs {inputs}"
)
MSG_GREY_HINT = '; for a model of grey images set channel_order = "GREY" in the model spec'

MSG_MODEL_SIZE = (
    "model {file}: its input is {height} x {width} pixels, but the spec says size = {size}; "
    "set size in the model spec (--model-spec)"
)
MSG_MODEL_OUTPUT = "model {file}: expected a (batch, dimension) embedding output, got shape {shape}"
MSG_MODEL_FAILED = "model {file} failed on an input of shape {shape} ({dtype}): {error}"
MSG_BAD_DEVICE = "--device: expected auto, cpu, cuda or cuda:N, got {device!r}"
MSG_CUDA_FAILED = (
    "model {file}: onnxruntime could not start its CUDA execution provider for {device} "
    "(it fell back to the CPU); check the CUDA and cuDNN libraries, or use --device cpu"
)
MSG_NO_CUDA = (
    "--device {device}: onnxruntime here has no CUDA execution provider (it has {available}); "
    "install onnxruntime-gpu, or use --device cpu"
)


@dataclass(frozen=True)
class ModelSpec:
    """How a recognition model wants its input.

    Parameters
    ----------
    name : str
        A label for reports.
    size : int
        Side of the square aligned crop the model takes, in pixels.
    mean, std : float or tuple of 3 floats
        The model's input is ``(pixel - mean) / std`` per channel, pixels in 0-255.
    channel_order : {"RGB", "BGR", "GREY"}
        Order of the colour channels the model was trained on; ``GREY`` for a model
        of one (luma) channel.
    layout : {"NCHW", "NHWC"}
        Order of the input tensor's axes.
    flip : bool
        Add the embedding of the horizontally flipped crop before normalising (a
        common test-time augmentation); doubles the inference cost.

    """

    name: str = "arcface-convention"
    size: int = 112
    mean: float | tuple[float, float, float] = 127.5
    std: float | tuple[float, float, float] = 127.5
    channel_order: str = "RGB"
    layout: str = "NCHW"
    flip: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain values (for results.json and the cache key)."""
        return asdict(self)

    def preprocess(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Aligned crops (n, size, size, 3) RGB uint8 into the model's input tensor."""
        x = crops.astype(np.float32)
        if self.channel_order == "BGR":
            x = x[..., ::-1]
        elif self.channel_order == "GREY":  # ITU-R BT.601 luma, as cv2.COLOR_RGB2GRAY
            x = x @ np.array([[0.299], [0.587], [0.114]], dtype=np.float32)
        x -= np.asarray(self.mean, dtype=np.float32)
        x /= np.asarray(self.std, dtype=np.float32)
        if self.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x)


def read_model_spec(path: str | os.PathLike[str] | None) -> ModelSpec:
    """A :class:`ModelSpec` from a TOML file; the ArcFace-convention default for ``None``."""
    if path is None:
        return ModelSpec()
    file = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise UsageError(MSG_SPEC_UNREADABLE.format(file=file, error=err)) from err
    known = [f.name for f in fields(ModelSpec)]
    for key in data:
        if key not in known:
            raise UsageError(MSG_SPEC_UNKNOWN_KEY.format(file=file, key=key, known=known))
    values = {key: _spec_value(file, key, value) for key, value in data.items()}
    return ModelSpec(**values)


def _spec_value(file: str, key: str, value: Any) -> Any:
    """One spec value, checked."""

    def bad(expected: str) -> UsageError:
        return UsageError(
            MSG_SPEC_BAD_VALUE.format(file=file, key=key, expected=expected, value=value)
        )

    if key == "name":
        if not isinstance(value, str):
            raise bad("text")
        return value
    if key == "size":
        if not isinstance(value, int) or isinstance(value, bool) or not 8 <= value <= 1024:
            raise bad("a whole number of pixels from 8 to 1024")
        return value
    if key in ("mean", "std"):
        numbers = value if isinstance(value, list) else [value]
        ok = len(numbers) in (1, 3) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in numbers
        )
        if not ok or (key == "std" and any(v == 0 for v in numbers)):
            raise bad(
                "a finite number or a list of 3" + (", none of them 0" if key == "std" else "")
            )
        return float(numbers[0]) if len(numbers) == 1 else tuple(float(v) for v in numbers)
    if key == "channel_order":
        if value not in ("RGB", "BGR", "GREY"):
            raise bad('"RGB", "BGR" or "GREY"')
        return value
    if key == "layout":
        if value not in ("NCHW", "NHWC"):
            raise bad('"NCHW" or "NHWC"')
        return value
    if not isinstance(value, bool):  # flip
        raise bad("true or false")
    return value


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's contents, hex (read in 1 MiB pieces)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for piece in iter(lambda: handle.read(2**20), b""):
            digest.update(piece)
    return digest.hexdigest()


class OnnxEmbedder:
    """An ONNX recognition model on onnxruntime: aligned crops in, unit-norm embeddings out.

    Parameters
    ----------
    model : str or path-like
        The ONNX file.
    spec : ModelSpec
        Its pre-processing.
    threads : int
        CPU threads for inference (onnxruntime's intra-op threads).
    device : str
        ``cpu``; ``cuda`` / ``cuda:N`` for the CUDA execution provider (an error when
        it is not installed or does not start); ``auto`` for CUDA device 0 when
        onnxruntime offers it and it starts, else the CPU.

    Attributes
    ----------
    device : str
        Where the model runs: ``cpu`` or ``cuda:N``.
    digest : str
        SHA-256 of the model file and the spec together: what the cache is keyed by.
    dimension : int or None
        Length of the embeddings, when the model's output declares it.
    providers : list of str
        The execution providers onnxruntime runs the model on.

    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        spec: ModelSpec = ModelSpec(),
        *,
        threads: int = 2,
        device: str = "cpu",
    ) -> None:
        ort = _deps.onnxruntime("embedding faces")
        self.file = str(model)
        self.spec = spec
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        providers: list[str | tuple[str, dict[str, int]]] = ["CPUExecutionProvider"]
        match = re.fullmatch(r"auto|cpu|cuda(?::(\d+))?", device)
        if match is None:
            raise UsageError(MSG_BAD_DEVICE.format(device=device))
        available = ort.get_available_providers()
        if device.startswith("cuda") and "CUDAExecutionProvider" not in available:
            raise UsageError(MSG_NO_CUDA.format(device=device, available=available))
        index = int(match.group(1) or 0)
        if device.startswith("cuda") or (device == "auto" and "CUDAExecutionProvider" in available):
            providers = [("CUDAExecutionProvider", {"device_id": index}), *providers]
        try:
            self.session = ort.InferenceSession(self.file, options, providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types, or OSError
            if device != "auto" or len(providers) == 1:
                raise UsageError(MSG_MODEL_UNREADABLE.format(file=self.file, error=err)) from err
            self.session = self._cpu_session(ort, options)  # auto: CUDA failed to start
        on_cuda = "CUDAExecutionProvider" in self.session.get_providers()
        if device.startswith("cuda") and not on_cuda:
            raise UsageError(MSG_CUDA_FAILED.format(file=self.file, device=device))
        self.device = f"cuda:{index}" if on_cuda else "cpu"
        self.providers = list(self.session.get_providers())
        inputs = self.session.get_inputs()
        channels = (
            inputs[0].shape[1 if spec.layout == "NCHW" else 3]
            if len(inputs) == 1 and len(inputs[0].shape) == 4
            else None
        )
        wanted = 1 if spec.channel_order == "GREY" else 3
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or channels not in (wanted, None):
            shown = [(i.name, i.shape) for i in inputs]
            raise UsageError(
                MSG_MODEL_INPUT.format(
                    file=self.file, layout=spec.layout, channels=wanted, inputs=shown
                )
                + (MSG_GREY_HINT if channels == 1 else "")
            )
        self.input_name = inputs[0].name
        self.input_dtype = input_dtype(self.file, inputs[0])
        shape = inputs[0].shape
        height, width = (shape[2], shape[3]) if spec.layout == "NCHW" else (shape[1], shape[2])
        fixed = [v for v in (height, width) if isinstance(v, int)]
        if any(v != spec.size for v in fixed):
            raise UsageError(
                MSG_MODEL_SIZE.format(file=self.file, height=height, width=width, size=spec.size)
            )
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        out = self.session.get_outputs()[0]
        check_output_type(self.file, out)
        self.output_name = out.name
        self.dimension = (
            out.shape[1] if len(out.shape) == 2 and isinstance(out.shape[1], int) else None
        )
        key = json.dumps(spec.to_dict(), sort_keys=True).encode()
        self.digest = hashlib.sha256(file_digest(model).encode() + b"\0" + key).hexdigest()

    def _cpu_session(self, ort: Any, options: Any) -> Any:
        """The model on the CPU alone, or a :class:`UsageError` saying why it cannot load."""
        try:
            return ort.InferenceSession(self.file, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types, or OSError
            raise UsageError(MSG_MODEL_UNREADABLE.format(file=self.file, error=err)) from err

    def raw(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """The model's output for crops (n, size, size, 3) RGB uint8, as float32 (n, d)."""
        x = self.spec.preprocess(crops).astype(self.input_dtype, copy=False)
        if self.fixed_batch is not None and self.fixed_batch != len(x):
            step = self.fixed_batch
            if len(x) % step:
                pad = np.zeros((step - len(x) % step, *x.shape[1:]), dtype=x.dtype)
                x = np.concatenate([x, pad])
            parts = [self._run(x[i : i + step]) for i in range(0, len(x), step)]
            return np.concatenate(parts)[: len(crops)]
        return self._run(x)

    def _run(self, x: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
        try:
            value = self.session.run([self.output_name], {self.input_name: x})[0]
        except Exception as err:  # onnxruntime raises its own, unexported classes
            raise UsageError(
                MSG_MODEL_FAILED.format(file=self.file, shape=x.shape, dtype=x.dtype, error=err)
            ) from err
        out = np.asarray(value)
        if out.ndim != 2 or out.shape[0] != len(x):
            raise UsageError(MSG_MODEL_OUTPUT.format(file=self.file, shape=out.shape))
        return out.astype(np.float32, copy=False)

    def embed(
        self, crops: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        """Unit-norm embeddings of aligned crops, and which rows are usable.

        Returns
        -------
        embeddings : ndarray of shape (n, d), float32
            L2-normalised rows (zeros where not usable).
        usable : ndarray of shape (n,), bool
            False where the model's output was not finite or had zero norm.

        """
        out = self.raw(crops)
        if self.spec.flip:
            out = out + self.raw(np.ascontiguousarray(crops[:, :, ::-1]))
        norms = np.linalg.norm(out.astype(np.float64), axis=1)
        usable = np.isfinite(out).all(axis=1) & (norms > 0)
        scaled = np.where(usable[:, None], out / np.where(usable, norms, 1.0)[:, None], 0.0)
        return scaled.astype(np.float32), usable
