"""The element types of the ONNX models' tensors that faceparity can feed and read.

The pipeline prepares images in float32; a model whose image input is declared
float16 or float64 is fed the same values cast to its type (onnxruntime does not
cast, it refuses). Any other input type (integers, bfloat16, strings) is refused by
name when the model is opened, before any image is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from faceparity.errors import UsageError

__all__ = [
    "INPUT_TYPES",
    "MSG_INPUT_TYPE",
    "MSG_OUTPUT_TYPE",
    "NUMERIC_TYPES",
    "check_output_type",
    "input_dtype",
]

INPUT_TYPES: Mapping[str, type[np.floating[Any]]] = {
    "tensor(float16)": np.float16,
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
}
"""The image input types a model may declare, as onnxruntime names them, and their dtypes."""

NUMERIC_TYPES = frozenset(
    {
        *INPUT_TYPES,
        *(f"tensor({kind}{bits})" for kind in ("int", "uint") for bits in (8, 16, 32, 64)),
    }
)
"""Output types read as numbers (converted to float32)."""

MSG_INPUT_TYPE = (
    "model {file}: input {name!r} is {type}; expected a floating-point image input: "
    + ", ".join(INPUT_TYPES)
)
MSG_OUTPUT_TYPE = "model {file}: output {name!r} is {type}; expected a tensor of numbers"


def input_dtype(file: str, node: Any) -> np.dtype[np.floating[Any]]:
    """The numpy dtype to feed a model's image input, or a UsageError naming its type.

    Parameters
    ----------
    file : str
        The model file, for the message.
    node : onnxruntime.NodeArg
        The input, as ``session.get_inputs()`` lists it (``name``, ``type``).

    Returns
    -------
    numpy.dtype
        float16, float32 or float64.

    Raises
    ------
    UsageError
        For any other declared type.

    """
    kind = INPUT_TYPES.get(node.type)
    if kind is None:
        raise UsageError(MSG_INPUT_TYPE.format(file=file, name=node.name, type=node.type))
    return np.dtype(kind)


def check_output_type(file: str, node: Any) -> None:
    """A UsageError naming an output that is not a tensor of numbers (a map, a sequence, text).

    Parameters
    ----------
    file : str
        The model file, for the message.
    node : onnxruntime.NodeArg
        The output, as ``session.get_outputs()`` lists it.

    """
    if node.type not in NUMERIC_TYPES:
        raise UsageError(MSG_OUTPUT_TYPE.format(file=file, name=node.name, type=node.type))
