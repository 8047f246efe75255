"""An ONNX model opened with onnxruntime, with the errors a user can act on.

A model file that is missing, corrupt, or not shaped like an image detector is the
user's to fix, so each of these is a :class:`~faceparity.errors.UsageError` that names
the file and says what was expected, never an onnxruntime traceback.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.pipeline import _deps
from faceparity.pipeline._onnx import MSG_INPUT_TYPE, check_output_type, input_dtype

__all__ = [
    "CPU_PROVIDER",
    "DEFAULT_INPUT_SIZE",
    "INPUT_SIZE_EXPECTED",
    "INPUT_SIZE_FIXED",
    "MODEL_FAILED",
    "MODEL_INPUT_EXPECTED",
    "MODEL_MISSING",
    "MODEL_UNREADABLE",
    "MSG_INPUT_TYPE",
    "OUTPUT_SHAPE_EXPECTED",
    "PROVIDER_UNAVAILABLE",
    "THREADS_EXPECTED",
    "OnnxModel",
    "canvas_size",
    "default_threads",
]

CPU_PROVIDER = "CPUExecutionProvider"

MODEL_MISSING = "model file {path} does not exist"
MODEL_UNREADABLE = "model file {path} cannot be loaded as an ONNX model by onnxruntime: {reason}"
MODEL_INPUT_EXPECTED = (
    "model file {path}: a face detector must take one image input of shape "
    "(batch, 3, height, width); got {got}"
)
MODEL_FAILED = "model file {path} failed on an input of shape {shape}: {reason}"
PROVIDER_UNAVAILABLE = (
    "onnxruntime execution provider {provider!r} is not available here; available: {available}"
)
THREADS_EXPECTED = "threads must be a positive whole number; got {got!r}"
OUTPUT_SHAPE_EXPECTED = (
    "model file {path}: output {name!r} should hold {rows} rows of {cols} for a "
    "{width}x{height} input ({layout}); got shape {got}"
)

DEFAULT_INPUT_SIZE = (640, 640)
"""``width, height`` of the canvas for a model that leaves its input size free."""

INPUT_SIZE_FIXED = (
    "model file {path} fixes its input size at {fixed[0]}x{fixed[1]} (width x height); "
    "input_size {got[0]}x{got[1]} cannot be used with it"
)
INPUT_SIZE_EXPECTED = (
    "input_size must be (width, height), each a positive multiple of {multiple}; got {got!r}"
)

Dim = int | None
Provider = str | tuple[str, dict[str, Any]]
"""An onnxruntime execution provider: its name, or its name and options."""


def _name(provider: Provider) -> str:
    return provider if isinstance(provider, str) else provider[0]


"""One dimension of a model's input or output: a whole number, or ``None`` when free."""


def default_threads() -> int:
    """The CPUs this process may run on (all of them unless restricted).

    Returns
    -------
    int

    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _dims(shape: Sequence[Any]) -> tuple[Dim, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


@dataclass(frozen=True)
class OnnxModel:
    """An onnxruntime session with the shapes a decoder needs.

    Open one with :meth:`open`.

    Parameters
    ----------
    path : Path
        The model file.
    session : onnxruntime.InferenceSession
    input_name : str
    input_shape : tuple
        ``batch, channels, height, width``; ``None`` where the model leaves a dimension free.
    output_names : tuple of str
        In the model's order.
    output_shapes : tuple of tuple
        Each output's declared shape, ``None`` for free dimensions.
    providers : tuple of str
        The execution providers the session uses, in order of preference.
    input_dtype : numpy.dtype
        The element type of the input (float32, float16 or float64): :meth:`run`
        casts its float32 blob to it.

    """

    path: Path
    session: Any
    input_name: str
    input_shape: tuple[Dim, ...]
    output_names: tuple[str, ...]
    output_shapes: tuple[tuple[Dim, ...], ...]
    providers: tuple[str, ...]
    input_dtype: np.dtype[np.floating[Any]] = np.dtype(np.float32)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        providers: Sequence[Provider] | None = None,
        threads: int | None = None,
        channels_last: bool = False,
    ) -> OnnxModel:
        """Load a model that takes one image, ``(batch, 3, height, width)``.

        Parameters
        ----------
        path : path-like
            The ``.onnx`` file.
        providers : sequence of str or (str, dict), optional
            onnxruntime execution providers, most preferred first, each a name or a
            name and its options, for instance ``("CUDAExecutionProvider",)`` or
            ``[("CUDAExecutionProvider", {"device_id": 1})]``; each must be available
            in the installed onnxruntime. The CPU provider is always added last, as the fallback for
            operators the others lack. Default: the CPU alone.
        threads : int, optional
            Threads within one operator (``intra_op_num_threads``). Default: every CPU
            this process may use (:func:`default_threads`).
        channels_last : bool, default False
            The input is ``(batch, height, width, 3)`` (NHWC) instead; :attr:`input_shape`
            is then as the model declares it.

        Returns
        -------
        OnnxModel

        Raises
        ------
        UsageError
            The file is missing or not a loadable ONNX model, a provider is not
            available, the model's input is not one image of float32, float16 or
            float64, or an output is not a tensor of numbers.

        """
        ort = _deps.onnxruntime("running an ONNX face detector")
        model_path = Path(path)
        if not model_path.is_file():
            raise UsageError(MODEL_MISSING.format(path=model_path))
        if threads is None:
            threads = default_threads()
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise UsageError(THREADS_EXPECTED.format(got=threads))
        available = list(ort.get_available_providers())
        chosen: list[Provider] = [p for p in (providers or ()) if _name(p) != CPU_PROVIDER]
        for provider in chosen:
            if _name(provider) not in available:
                raise UsageError(
                    PROVIDER_UNAVAILABLE.format(
                        provider=_name(provider), available=", ".join(available)
                    )
                )
        chosen.append(CPU_PROVIDER)

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: stderr is the user's
        try:
            session = ort.InferenceSession(str(model_path), options, providers=chosen)
        except Exception as err:  # onnxruntime raises its own, unexported classes
            raise UsageError(
                MODEL_UNREADABLE.format(path=model_path, reason=_first_line(err))
            ) from err

        inputs = session.get_inputs()
        shapes = [_dims(i.shape) for i in inputs]
        channel_axis = 3 if channels_last else 1
        if len(inputs) != 1 or len(shapes[0]) != 4 or shapes[0][channel_axis] not in (3, None):
            got = ", ".join(f"{i.name} {list(i.shape)}" for i in inputs) or "no input"
            raise UsageError(MODEL_INPUT_EXPECTED.format(path=model_path, got=got))
        dtype = input_dtype(str(model_path), inputs[0])
        outputs = session.get_outputs()
        for output in outputs:
            check_output_type(str(model_path), output)
        return cls(
            path=model_path,
            session=session,
            input_name=inputs[0].name,
            input_shape=shapes[0],
            output_names=tuple(o.name for o in outputs),
            output_shapes=tuple(_dims(o.shape) for o in outputs),
            providers=tuple(session.get_providers()),
            input_dtype=dtype,
        )

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """``width, height`` when the model fixes its input's size, else ``None``."""
        height, width = self.input_shape[2], self.input_shape[3]
        if height is None or width is None:
            return None
        return width, height

    def run(self, blob: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]:
        """Every output of the model on one input, by name.

        Parameters
        ----------
        blob : ndarray of shape (1, 3, height, width), dtype float32
            The preprocessed image.

        Returns
        -------
        dict of str to ndarray

        Raises
        ------
        UsageError
            onnxruntime could not run the model on this input.

        """
        fed = blob.astype(self.input_dtype, copy=False)
        try:
            values = self.session.run(None, {self.input_name: fed})
        except Exception as err:  # onnxruntime raises its own, unexported classes
            raise UsageError(
                MODEL_FAILED.format(path=self.path, shape=blob.shape, reason=_first_line(err))
            ) from err
        return {
            name: np.asarray(value, dtype=np.float32)
            for name, value in zip(self.output_names, values, strict=True)
        }

    def rows(
        self,
        value: npt.NDArray[np.float32],
        *,
        name: str,
        rows: int,
        cols: int,
        size: tuple[int, int],
        layout: str,
    ) -> npt.NDArray[np.float32]:
        """One output as a ``rows x cols`` table, whatever batch axis it carries.

        Parameters
        ----------
        value : ndarray
            The output, for instance of shape ``(1, rows, cols)`` or ``(rows, cols)``.
        name : str
            The output's name, for the error message.
        rows, cols : int
            The shape the decoder expects.
        size : tuple of int
            ``width, height`` of the input, for the error message.
        layout : str
            The format being decoded, for the error message.

        Returns
        -------
        ndarray of shape (rows, cols), dtype float32
            A view of ``value`` (the decoders convert only the rows they keep).

        Raises
        ------
        UsageError
            The output does not hold ``rows * cols`` numbers.

        """
        if value.size != rows * cols:
            raise UsageError(
                OUTPUT_SHAPE_EXPECTED.format(
                    path=self.path,
                    name=name,
                    rows=rows,
                    cols=cols,
                    width=size[0],
                    height=size[1],
                    layout=layout,
                    got=value.shape,
                )
            )
        return value.reshape(rows, cols)


def canvas_size(
    model: OnnxModel, input_size: tuple[int, int] | None, multiple: int
) -> tuple[int, int]:
    """The input canvas, ``width, height``: the model's own size, or the one asked for.

    Parameters
    ----------
    model : OnnxModel
        The opened model.
    input_size : tuple of int, optional
        ``width, height`` asked for; must agree with a model that fixes its size.
    multiple : int
        For a model with a free input size, the canvas must be a multiple of this
        (the coarsest stride), so every stride has whole cells.

    Returns
    -------
    tuple of int

    """
    fixed = model.fixed_size
    if input_size is not None:
        if len(input_size) != 2 or not all(
            isinstance(v, int) and v > 0 and v % multiple == 0 for v in input_size
        ):
            raise UsageError(INPUT_SIZE_EXPECTED.format(multiple=multiple, got=input_size))
        if fixed is not None and tuple(input_size) != fixed:
            raise UsageError(INPUT_SIZE_FIXED.format(path=model.path, fixed=fixed, got=input_size))
        return int(input_size[0]), int(input_size[1])
    return fixed if fixed is not None else DEFAULT_INPUT_SIZE
