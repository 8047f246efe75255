"""Tiny ONNX models and face images the image-pipeline tests build (not a test module).

Nothing is downloaded: models are built with ``onnx.helper`` from fixed weights, and
images are drawn with numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def tiny_embedder(
    path: Path,
    *,
    size: int = 112,
    dim: int = 16,
    seed: int = 0,
    layout: str = "NCHW",
    batch: int | str = "N",
    output_scale: float = 1.0,
    input_type: str = "FLOAT",
    channels: int = 3,
) -> Path:
    """An embedder: average-pool 16x16 cells, flatten, a fixed random projection.

    Its output depends on the image's layout of colours, so different drawings give
    different embeddings. ``output_scale = 0`` makes a model whose output is all zeros
    (no usable template). ``input_type`` (an ``onnx.TensorProto`` type name) declares
    the input's type; the model casts it to float first, so the same weights give the
    same function of the input's values whatever its type.
    """
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    cells = size // 16
    features = channels * cells * cells
    rng = np.random.default_rng(seed)
    weights = (rng.standard_normal((features, dim)) * output_scale).astype(np.float32)
    nodes = []
    image = "input"
    if input_type != "FLOAT":
        nodes.append(helper.make_node("Cast", [image], ["as_float"], to=TensorProto.FLOAT))
        image = "as_float"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", [image], ["nchw"], perm=[0, 3, 1, 2]))
        image = "nchw"
    nodes += [
        helper.make_node(
            "AveragePool", [image], ["pooled"], kernel_shape=[16, 16], strides=[16, 16]
        ),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["embedding"]),
    ]
    shape = [batch, channels, size, size] if layout == "NCHW" else [batch, size, size, channels]
    elem_type = getattr(TensorProto, input_type)
    graph = helper.make_graph(
        nodes,
        "tiny_embedder",
        [helper.make_tensor_value_info("input", elem_type, shape)],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch, dim])],
        initializer=[numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def face_image(subject: int, sample: int, *, size: int = 112, seed: int = 0) -> np.ndarray:
    """An aligned 'face' crop: a colour pattern of the subject, a little noise of the sample."""
    rng = np.random.default_rng([seed, subject])
    base = rng.integers(40, 215, size=(size // 16, size // 16, 3)).astype(np.float64)
    pattern = np.kron(base, np.ones((16, 16, 1)))
    noise = np.random.default_rng([seed, subject, sample + 1]).normal(0, 12, pattern.shape)
    return np.clip(pattern + noise, 0, 255).astype(np.uint8)


def write_png(path: Path, pixels: np.ndarray) -> Path:
    """Save RGB pixels as a PNG."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="PNG")
    return path
