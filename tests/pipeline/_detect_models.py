"""Tiny ONNX face detectors for the tests, built with onnx.helper (no downloads).

Most models here ignore their input's values and return constant outputs laid out
exactly as SCRFD or YuNet lay theirs out, so a test can place a face at a known anchor
and check the decoded box by hand. A few compute a score from the input (the mean of one
colour channel over each stride-8 cell), to check the preprocessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

OPSET = 13
IR_VERSION = 8

Outputs = list[tuple[str, np.ndarray]]


def save_model(
    path: Path,
    outputs: Outputs,
    *,
    input_shape: Sequence[int | str] = (1, 3, 32, 32),
    input_name: str = "input.1",
    extra_inputs: int = 0,
    input_type: str = "FLOAT",
) -> Path:
    """A model whose outputs are the given constants (plus 0 * mean of the input).

    ``input_type`` (an ``onnx.TensorProto`` type name) declares the input's type; the
    model casts it to float first.
    """
    nodes = [
        helper.make_node("Cast", [input_name], ["as_float"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["as_float"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    ]
    initializers = [numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
    graph_outputs = []
    for name, value in outputs:
        const = f"const_{name}"
        initializers.append(numpy_helper.from_array(np.asarray(value, np.float32), const))
        nodes.append(helper.make_node("Add", [const, "nothing"], [name]))
        graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, value.shape))
    elem_type = getattr(TensorProto, input_type)
    inputs = [helper.make_tensor_value_info(input_name, elem_type, list(input_shape))]
    inputs += [
        helper.make_tensor_value_info(f"extra{i}", TensorProto.FLOAT, [1])
        for i in range(extra_inputs)
    ]
    graph = helper.make_graph(nodes, "tiny_detector", inputs, graph_outputs, initializers)
    return _save(graph, path)


def _save(graph: object, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@dataclass(frozen=True)
class Anchor:
    """One prediction placed in a model's outputs."""

    stride: int
    row: int
    col: int
    anchor: int = 0
    score: float = 0.0
    box: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    kps: tuple[float, ...] = (0.0,) * 10
    obj: float = 1.0  # YuNet only


def scrfd_outputs(
    faces: Sequence[Anchor],
    *,
    size: tuple[int, int] = (32, 32),
    strides: Sequence[int] = (8, 16, 32),
    anchors: int = 2,
    keypoints: bool = True,
    batched: bool = True,
) -> Outputs:
    """SCRFD's outputs: scores, boxes, keypoints per stride, by position."""
    width, height = size
    parts: dict[str, list[tuple[str, np.ndarray]]] = {"score": [], "bbox": [], "kps": []}
    for stride in strides:
        rows = -(-height // stride) * -(-width // stride) * anchors
        widths = {"score": 1, "bbox": 4, "kps": 10}
        tables = {k: np.zeros((rows, c), np.float32) for k, c in widths.items()}
        cols = -(-width // stride)
        for face in faces:
            if face.stride != stride:
                continue
            i = (face.row * cols + face.col) * anchors + face.anchor
            tables["score"][i, 0] = face.score
            tables["bbox"][i] = face.box
            tables["kps"][i] = face.kps
        for k, table in tables.items():
            parts[k].append((f"{k}_{stride}", table[np.newaxis] if batched else table))
    return parts["score"] + parts["bbox"] + (parts["kps"] if keypoints else [])


def yunet_outputs(faces: Sequence[Anchor], *, size: tuple[int, int] = (32, 32)) -> Outputs:
    """YuNet's twelve named outputs (cls, obj, bbox, kps per stride)."""
    width, height = size
    out: dict[str, np.ndarray] = {}
    for stride in (8, 16, 32):
        cells = -(-height // stride) * -(-width // stride)
        for k, c in (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)):
            out[f"{k}_{stride}"] = np.zeros((1, cells, c), np.float32)
    for face in faces:
        i = face.row * -(-width // face.stride) + face.col
        out[f"cls_{face.stride}"][0, i, 0] = face.score
        out[f"obj_{face.stride}"][0, i, 0] = face.obj
        out[f"bbox_{face.stride}"][0, i] = face.box
        out[f"kps_{face.stride}"][0, i] = face.kps
    order = [f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32)]
    return [(name, out[name]) for name in order]


def channel_score_model(path: Path, outputs: Outputs, *, score: str, channel: int) -> Path:
    """Constant outputs, except ``score``: per stride-8 cell, the mean of one channel.

    The input is (1, 3, 32, 32); the named output gets the mean of ``channel`` over each
    8 x 8 cell (row-major), repeated for as many anchors as its row count implies, with
    the shape of the constant it replaces.
    """
    input_name = "input.1"
    constant = dict(outputs)[score]
    anchors = constant.size // 16
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Slice", [input_name, "c0", "c1", "axis1"], ["plane"]),
        helper.make_node("AveragePool", ["plane"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Reshape", ["pooled", "column"], ["cells"]),
        helper.make_node("Concat", ["cells"] * anchors, ["repeated"], axis=1),
        helper.make_node("Reshape", ["repeated", "score_shape"], [score]),
    ]
    initializers = [
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array([channel], np.int64), "c0"),
        numpy_helper.from_array(np.array([channel + 1], np.int64), "c1"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([16, 1], np.int64), "column"),
        numpy_helper.from_array(np.array(constant.shape, np.int64), "score_shape"),
    ]
    graph_outputs = []
    for name, value in outputs:
        graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, value.shape))
        if name == score:
            continue
        const = f"const_{name}"
        initializers.append(numpy_helper.from_array(np.asarray(value, np.float32), const))
        nodes.append(helper.make_node("Add", [const, "nothing"], [name]))
    inputs = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, 32, 32])]
    graph = helper.make_graph(nodes, "tiny_detector", inputs, graph_outputs, initializers)
    return _save(graph, path)
