"""Image pipeline overhead against the recognition model's own inference (issue 7).

The target: the pipeline's overhead (reading, decoding, detection, alignment, quality,
skin tone, I/O) is at most 10% over the model's own inference time at batch 16, with a
ResNet-50-sized model of 112 x 112 input.

What the script builds (in a temporary directory, never in the repository):

- **The model**: InsightFace's ArcFace IResNet-50 (the network of ``w600k_r50.onnx``
  and most public face recognition ONNX files) with random float32 weights, built with
  ``onnx.helper``: a 3x3 stride-1 stem to 64 channels and PReLU, then four stages of
  ``IBasicBlock`` with 3, 4, 14 and 3 blocks and 64, 128, 256 and 512 channels, the first
  block of each stage with stride 2 and a 1x1 stride-2 convolution as shortcut; each
  block is conv3x3 - PReLU - conv3x3 (stride in the second) plus the shortcut; then the
  512 x 7 x 7 features flattened and a fully connected layer to 512. The batch
  normalisations of the original are left out: with random weights they would fold
  into the convolutions' weights and biases (as onnxruntime folds them when it loads
  the real model), so every convolution here has a bias and the cost is the same.
  43.6 M parameters, 6.3 G multiply-accumulates per image (the "6.3 GFLOPs" of
  InsightFace's model zoo counts multiply-accumulates).
- **The images**: variants of ``skimage.data.astronaut()`` (shifted, scaled,
  brightness-jittered crops around her face), written as JPEG (quality 90) at 250 x 250
  (the size of LFW's images) for the detectors, and as aligned 112 x 112 crops of the
  face for the run without a detector; a manifest CSV (path, subject, sex) for each.
- **A constant SCRFD detector** (``tests/pipeline/_detect_models.py``): a model of
  SCRFD's 9-output layout at a 640 x 640 input whose outputs are constants (one face
  with landmarks and three overlapping candidates for the NMS), so that the detector's
  own work in faceparity (letterbox, normalisation, decoding of 16,800 anchors, NMS,
  landmark alignment) is measured without a detector network.
- **An SCRFD-0.5GF network** (:func:`scrfd_network`): the network of InsightFace's
  smallest public SCRFD (``det_500m.onnx`` of the ``buffalo_s`` pack; Guo et al. 2022,
  arXiv:2105.04714), with the widths of its training config and random He-scaled
  weights: a MobileNetV1-like backbone of 3x3 depthwise-separable convolutions with
  ReLU reaching strides 8, 16 and 32, a PAFPN neck of 16 channels, and per stride a
  head of two depthwise-separable convolutions of 64 channels and 3x3 convolutions to
  2 anchors x (1 score, 4 box, 10 keypoint) channels, in SCRFD's output layout. Its
  outputs are the same constants as the constant detector's, the heads' values being
  added at 1e-30 and rounded away, so onnxruntime runs the whole network while the
  detections stay those of the constant model (checked on the first image, with
  ``onnx.checker``, before timing). 626,354 parameters; **0.73 G multiply-accumulates
  per image at 640 x 640** (0.55 G at 640 x 480, the paper's "0.5 GFLOPs"; 11.6% of
  the IResNet-50's 6.31 G), **0.12 G at 256 x 256** (1.9%); InsightFace's table gives
  0.57 M parameters, so the export may differ a little from the config. It is built
  with its input size fixed at each case's canvas, which faceparity then uses as the
  canvas (``det_500m.onnx`` leaves the size free: 640 x 640 by default, or
  ``input_size``; the network's cost is the same).

What it measures, in one process on the same machine, over ``--images`` images:

- **model**: the model's own inference time: ``session.run`` of the embedder's
  onnxruntime session on the float32 input tensors of the same aligned crops, batch 16,
  with the same onnxruntime threads the pipeline uses (``--model-threads``). The
  tensors are made before timing: the pipeline's preprocessing (uint8 crops to the
  normalised float tensor) and normalisation of the embeddings count as overhead.
- **pipeline**: :func:`faceparity.pipeline.run.embed_images` end to end (batch 16,
  ``--threads`` preparation threads, no cache; the detector's onnxruntime threads
  ``--detector-threads``, by default 1, as ``faceparity embed`` sets them)
  for (a) ``none``: no detector, on the aligned 112 x 112 JPEG crops (read, decode,
  resize check, quality, skin tone, I/O); (b) ``haar``: OpenCV's Haar cascade on the
  250 x 250 images; (c) ``scrfd-constant``: the constant SCRFD model on the same images
  (faceparity's detection work without a network); (d) ``scrfd-500m``: the SCRFD-0.5GF
  network at 640 x 640, InsightFace's default canvas (detection including a detector
  network's inference); (e) ``scrfd-500m-256``: the same network at 256 x 256, the
  250 x 250 images rounded up to a multiple of 32, as a user would set
  ``input_size=(256, 256)`` for images of that size.

Each repeat alternates the model and the cases (model, none, model, haar, model,
scrfd-constant, model, scrfd-500m, model, scrfd-500m-256, model), so every pipeline run
has a model run on either side of it.
A run's overhead is ``(pipeline - model) / model`` against the mean of those two model
runs; a case's overhead is the median over the repeats, and the target is
``overhead <= 0.10``. Also printed: the best-of overhead (fastest pipeline run against
the fastest model run) and the CPU overhead (process CPU seconds of the fastest runs,
which other jobs on the machine disturb less than wall time, but which also counts
work that overlaps), and each case's detector network's multiply-accumulates per image
and their ratio to the recognition model's. ``--tiny-model`` replaces both networks by
narrow ones (the detector's at 0.07 G and 0.01 G): for the smoke test only.

Usage::

    python benchmarks/bench_pipeline.py                 # 160 images, 3 repeats
    python benchmarks/bench_pipeline.py --quick         # 32 images, 1 repeat
    python benchmarks/bench_pipeline.py --images 320 --repeat 3 --json
    python benchmarks/bench_pipeline.py --cases none \
        --detector-file scrfd:det_500m.onnx --detector-size 256   # a real detector

``--detector-file`` adds a case ``file``: a detector model of your own (any
``--detector`` spec of ``faceparity embed``) on the same photographs, whose faces a real
detector finds, to check the random network's figures against the model it stands for.

Figures go to stdout, progress and notes to stderr. Exit 0 whatever the overhead
(``--strict``: 1 when a case misses the target).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
TARGET = 0.10
BATCH = 16
CASES = ("none", "haar", "scrfd-constant", "scrfd-500m", "scrfd-500m-256")
STAGES = ((64, 3), (128, 4), (256, 14), (512, 3))
TINY_STAGES = ((8, 1), (8, 1), (8, 1), (8, 1))
EMBEDDING_DIM = 512
IMAGE_SIDE = 250
SCRFD_SIDE = 640
NETWORK_SIDES = {"scrfd-500m": SCRFD_SIDE, "scrfd-500m-256": 256}
"""The detector network's input side in each case that runs it (256: 250 rounded up to 32)."""


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- the model ---------------------------------------------------------------------------


@dataclass
class ModelStats:
    parameters: int = 0
    macs: int = 0


@dataclass
class GraphParts:
    """The nodes, initialisers and counts of a network being built with ``onnx.helper``."""

    rng: np.random.Generator
    nodes: list[Any] = field(default_factory=list)
    inits: list[Any] = field(default_factory=list)
    stats: ModelStats = field(default_factory=ModelStats)

    def weight(self, name: str, array: np.ndarray) -> str:
        """Add ``array`` as the float32 initialiser ``name``, counted as parameters."""
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(array.astype(np.float32, copy=False), name))
        self.stats.parameters += array.size
        return name


def iresnet50(
    *,
    seed: int = 0,
    size: int = 112,
    stages: tuple[tuple[int, int], ...] = STAGES,
) -> tuple[Any, ModelStats]:
    """IResNet-50 (ArcFace) with random weights as an ONNX model; its parameters and MACs."""
    from onnx import TensorProto, helper

    parts = GraphParts(np.random.default_rng(seed))
    rng, nodes, inits, stats = parts.rng, parts.nodes, parts.inits, parts.stats
    weight = parts.weight

    def conv(x: str, cin: int, cout: int, k: int, stride: int, hw: int, gain: float) -> str:
        name = f"conv{len(nodes)}"
        w = rng.standard_normal((cout, cin, k, k), dtype=np.float32)
        w *= np.float32(gain * math.sqrt(2.0 / (cin * k * k)))
        b = np.zeros(cout, np.float32)
        nodes.append(
            helper.make_node(
                "Conv",
                [x, weight(name + ".w", w), weight(name + ".b", b)],
                [name],
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[k // 2] * 4,
            )
        )
        out = hw // stride
        stats.macs += cin * cout * k * k * out * out
        return name

    def prelu(x: str, channels: int) -> str:
        name = f"prelu{len(nodes)}"
        slope = np.full((channels, 1, 1), 0.25, np.float32)
        nodes.append(helper.make_node("PRelu", [x, weight(name + ".a", slope)], [name]))
        return name

    x = prelu(conv("input", 3, 64, 3, 1, size, 1.0), 64)
    hw, cin = size, 64
    for channels, blocks in stages:
        for i in range(blocks):
            stride = 2 if i == 0 else 1
            y = prelu(conv(x, cin, channels, 3, 1, hw, 1.0), channels)
            # The residual branch is scaled down so that activations stay of order 1
            # through 24 blocks of random weights (a finite, usable embedding).
            y = conv(y, channels, channels, 3, stride, hw, 0.2)
            shortcut = x if i > 0 else conv(x, cin, channels, 1, stride, hw, 1.0)
            name = f"add{len(nodes)}"
            nodes.append(helper.make_node("Add", [y, shortcut], [name]))
            x, cin, hw = name, channels, hw // stride
    nodes.append(helper.make_node("Flatten", [x], ["flat"], axis=1))
    features = cin * hw * hw
    fc = rng.standard_normal((features, EMBEDDING_DIM), dtype=np.float32)
    fc *= np.float32(1.0 / math.sqrt(features))
    nodes.append(
        helper.make_node(
            "Gemm",
            ["flat", weight("fc.w", fc), weight("fc.b", np.zeros(EMBEDDING_DIM, np.float32))],
            ["embedding"],
        )
    )
    stats.macs += features * EMBEDDING_DIM
    graph = helper.make_graph(
        nodes,
        "iresnet50_random",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", EMBEDDING_DIM])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model, stats


# -- the images --------------------------------------------------------------------------

ASTRONAUT_FACE = (165, 45, 275, 185)
"""The astronaut's face in ``skimage.data.astronaut()`` (x1, y1, x2, y2), by eye."""


def write_images(root: Path, n: int, *, seed: int = 0) -> tuple[Path, Path, list[np.ndarray]]:
    """``n`` whole 250 x 250 images and ``n`` aligned 112 x 112 crops, as JPEG, and manifests.

    Returns the two manifests (whole images, crops) and the crops as decoded from their
    JPEG files (what the pipeline gives the model when there is no detector).
    """
    from PIL import Image
    from skimage.data import astronaut

    pad = 200  # the views reach past the photograph's edges: extend it by reflection
    source = Image.fromarray(np.pad(astronaut(), ((pad, pad), (pad, pad), (0, 0)), "reflect"))
    rng = np.random.default_rng(seed)
    (root / "whole").mkdir(parents=True, exist_ok=True)
    (root / "crops").mkdir(parents=True, exist_ok=True)
    x1, y1, x2, y2 = (v + pad for v in ASTRONAUT_FACE)
    cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1)
    rows = ["path,subject,sex"]
    crops = []
    for i in range(n):
        # The face takes 35-55% of the image's side, anywhere near its centre.
        scale = rng.uniform(0.35, 0.55)
        view = side / scale
        ox, oy = rng.uniform(-0.12, 0.12, size=2) * view
        box = (cx + ox - view / 2, cy + oy - view / 2, cx + ox + view / 2, cy + oy + view / 2)
        gain = rng.uniform(0.8, 1.15)
        whole = source.resize((IMAGE_SIDE, IMAGE_SIDE), Image.Resampling.BILINEAR, box=box)
        whole = Image.fromarray(np.clip(np.asarray(whole) * gain, 0, 255).astype(np.uint8))
        whole.save(root / "whole" / f"{i:05d}.jpg", quality=90)
        # The aligned crop: the face box widened by 20% a side, jittered a little.
        jx, jy = rng.uniform(-4, 4, size=2)
        crop_box = (x1 - 22 + jx, y1 - 15 + jy, x2 + 22 + jx, y2 + 15 + jy)
        crop = source.resize((112, 112), Image.Resampling.BILINEAR, box=crop_box)
        crop = Image.fromarray(np.clip(np.asarray(crop) * gain, 0, 255).astype(np.uint8))
        crop.save(root / "crops" / f"{i:05d}.jpg", quality=90)
        with Image.open(root / "crops" / f"{i:05d}.jpg") as decoded:
            crops.append(np.asarray(decoded.convert("RGB")))
        rows.append(f"{i:05d}.jpg,s{i % 50},{'F' if i % 2 else 'M'}")
    for name in ("whole", "crops"):
        (root / f"{name}.csv").write_text("\n".join(rows) + "\n")
    return root / "whole.csv", root / "crops.csv", crops


def scrfd_constants(*, side: int = SCRFD_SIDE) -> list[tuple[str, np.ndarray]]:
    """SCRFD's nine outputs placing the face of the images on a ``side x side`` canvas.

    One face with landmarks in the middle of a 250 x 250 image (letterboxed x
    ``side / 250`` onto the canvas), scored 0.9, at the stride-8 cell nearest the
    image's centre, plus three lower-scoring candidates at the neighbouring cells that
    the NMS suppresses, as a real detector gives several anchors on one face. The face
    and its landmarks fall at the same place in the image whatever the canvas.

    Parameters
    ----------
    side : int, default 640
        The canvas's width and height, a multiple of 32.

    Returns
    -------
    list of (str, ndarray)
        ``score_S``, ``bbox_S``, ``kps_S`` for the strides ``S`` 8, 16 and 32, each of
        shape ``(1, rows, k)``, in SCRFD's order.

    """
    if side % 32:
        raise ValueError(f"side must be a multiple of 32; got {side}")
    _detect_models = _test_models()
    from faceparity.pipeline.align import ARCFACE_TEMPLATE

    scale = side / IMAGE_SIDE
    face = np.array([75.0, 75.0, 175.0, 175.0]) * scale  # on the canvas
    stride = 8
    middle = round(IMAGE_SIDE / 2 * scale / stride)  # the cell under the image's centre
    anchors = []
    for k, (dr, dc, score) in enumerate([(0, 0, 0.9), (0, 1, 0.8), (1, 0, 0.7), (-1, 0, 0.6)]):
        row, col = middle + dr, middle + dc
        centre = np.array([col * stride, row * stride], dtype=np.float64)
        box = np.r_[centre - face[:2], face[2:] - centre] / stride + 0.3 * k
        marks = face[:2] + ARCFACE_TEMPLATE * ((face[2] - face[0]) / 112.0)
        kps = ((marks - centre) / stride).reshape(-1)
        anchors.append(
            _detect_models.Anchor(
                stride, row, col, 0, score, tuple(box.tolist()), tuple(kps.tolist())
            )
        )
    return _detect_models.scrfd_outputs(anchors, size=(side, side))


def _test_models() -> Any:
    """``tests/pipeline/_detect_models.py``, the tests' builders of detector models."""
    folder = str(HERE.parent / "tests" / "pipeline")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import _detect_models

    return _detect_models


def build_scrfd_constant(path: Path, *, side: int = SCRFD_SIDE) -> Path:
    """An SCRFD model (9 outputs, ``side x side``) whose outputs place the face of the images.

    The outputs are :func:`scrfd_constants` (plus 0 x the input's mean): no network.
    """
    outputs = scrfd_constants(side=side)
    return _test_models().save_model(path, outputs, input_shape=(1, 3, side, side))


# -- the detector network -----------------------------------------------------------------


@dataclass(frozen=True)
class ScrfdWidths:
    """The channel widths and depths of an SCRFD network, in InsightFace's config terms.

    Parameters
    ----------
    stage_planes : tuple of int
        Six widths: the stem's convolution, the stem's depthwise-separable block, and
        the four stages (strides 4, 8, 16, 32).
    stage_blocks : tuple of int
        Depthwise-separable blocks of each of the four stages, the first with stride 2.
    neck : int
        Channels of the PAFPN neck.
    head : int
        Channels of the heads' stacked depthwise-separable convolutions.
    stacked_convs : int
        Stacked depthwise-separable convolutions in each stride's head.

    """

    stage_planes: tuple[int, int, int, int, int, int]
    stage_blocks: tuple[int, int, int, int]
    neck: int
    head: int
    stacked_convs: int


SCRFD_500M = ScrfdWidths((16, 16, 40, 72, 152, 288), (2, 3, 2, 6), 16, 64, 2)
"""SCRFD-0.5GF (``scrfd_500m_bnkps.py`` of InsightFace's ``detection/scrfd/configs``)."""

TINY_SCRFD = ScrfdWidths((8, 8, 8, 8, 8, 8), (1, 1, 1, 1), 8, 8, 1)
"""The same layers, narrow and shallow: for the smoke test only."""

SCRFD_ANCHORS = 2
HEAD_SCALE = 1e-30
"""The heads' outputs enter the model's outputs multiplied by this (then rounded away)."""


def scrfd_network(
    constants: list[tuple[str, np.ndarray]],
    *,
    side: int = SCRFD_SIDE,
    widths: ScrfdWidths = SCRFD_500M,
    seed: int = 0,
) -> tuple[Any, ModelStats]:
    """SCRFD-0.5GF's network with random weights, its outputs fixed to the given constants.

    The network of InsightFace's smallest public SCRFD (``det_500m.onnx`` of the
    ``buffalo_s`` pack; Guo et al. 2022, arXiv:2105.04714), with the channel widths of
    its training config (``scrfd_500m_bnkps.py``), at a fixed ``side x side`` input:

    - backbone (MobileNetV1-like): a 3x3 stride-2 convolution and ReLU, then
      depthwise-separable blocks (3x3 depthwise convolution, ReLU, 1x1 convolution,
      ReLU): one in the stem, then four stages of 2, 3, 2 and 6 blocks, the first of
      each with stride 2, reaching strides 4, 8, 16 and 32;
    - neck (PAFPN, linear as mmdet's): 1x1 lateral convolutions of the stride 8, 16 and
      32 features, a top-down pass (nearest upsampling x 2 and sum), a 3x3 convolution
      per level, a bottom-up pass (3x3 stride-2 convolution and sum) and a last 3x3
      convolution on the two coarser levels;
    - heads, one per stride (not shared): stacked depthwise-separable convolutions with
      ReLU, then three 3x3 convolutions to 2 anchors x 1 score (and a sigmoid), 4 box
      distances and 10 keypoint offsets, each transposed and reshaped to SCRFD's
      ``(1, rows, k)`` output layout, as InsightFace's ONNX export does.

    Batch normalisations are left out (with random weights they would fold into the
    convolutions, as onnxruntime folds them), so every convolution has a bias. The
    weights are He-scaled normal (``sqrt(2 / fan_in)`` before a ReLU, ``sqrt(1 /
    fan_in)`` otherwise), so activations stay of order 1.

    Each output is ``constant + ((HEAD_SCALE * head + 1) - 1)``: the head's value
    times 1e-30, added to 1, rounds to exactly 1 in float32 (for any finite head under
    about 1e22), so the outputs equal the constants exactly and the detections are
    those of :func:`scrfd_constants`, while onnxruntime still has to compute the whole
    network, since every output depends on the input through it. (With the product
    alone, the outputs would be about 1e-30 instead of 0 where the constants are 0.)

    Parameters
    ----------
    constants : list of (str, ndarray)
        The nine outputs, from :func:`scrfd_constants` at the same ``side``.
    side : int, default 640
        The input's width and height, a multiple of 32.
    widths : ScrfdWidths, default SCRFD_500M
        Channel widths and depths.
    seed : int, default 0
        Of the random weights.

    Returns
    -------
    model : onnx.ModelProto
    stats : ModelStats
        Parameters, and multiply-accumulates per image of the convolutions (the
        elementwise operations are not counted, as for :func:`iresnet50`). SCRFD_500M:
        626,354 parameters; 0.73 G multiply-accumulates at 640 x 640, 0.55 G at 640 x 480
        (where the paper counts its "0.5 GFLOPs"), 0.12 G at 256 x 256.

    """
    from onnx import TensorProto, helper, numpy_helper

    if side % 32:
        raise ValueError(f"side must be a multiple of 32; got {side}")
    parts = GraphParts(np.random.default_rng(seed))
    rng, nodes, inits, stats = parts.rng, parts.nodes, parts.inits, parts.stats
    weight = parts.weight

    def node(op: str, inputs: list[str], **attributes: Any) -> str:
        name = f"{op.lower()}{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [name], **attributes))
        return name

    def conv(
        x: str, cin: int, cout: int, k: int, stride: int, hw: int, *, groups: int = 1, relu: bool
    ) -> str:
        fan_in = cin // groups * k * k
        w = rng.standard_normal((cout, cin // groups, k, k), dtype=np.float32)
        w *= np.float32(math.sqrt((2.0 if relu else 1.0) / fan_in))
        name = f"conv{len(nodes)}"
        y = node(
            "Conv",
            [x, weight(name + ".w", w), weight(name + ".b", np.zeros(cout, np.float32))],
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[k // 2] * 4,
            group=groups,
        )
        stats.macs += cout * fan_in * (hw // stride) ** 2
        return node("Relu", [y]) if relu else y

    def separable(x: str, cin: int, cout: int, stride: int, hw: int) -> str:
        y = conv(x, cin, cin, 3, stride, hw, groups=cin, relu=True)
        return conv(y, cin, cout, 1, 1, hw // stride, relu=True)

    planes, hw = widths.stage_planes, side // 2
    x = conv("input.1", 3, planes[0], 3, 2, side, relu=True)
    x = separable(x, planes[0], planes[1], 1, hw)
    cin = planes[1]
    levels: list[tuple[str, int, int]] = []  # (tensor, channels, side) at strides 4 ... 32
    for i, blocks in enumerate(widths.stage_blocks):
        for n in range(blocks):
            stride = 2 if n == 0 else 1
            x = separable(x, cin, planes[i + 2], stride, hw)
            cin, hw = planes[i + 2], hw // stride
        levels.append((x, cin, hw))

    # The neck (PAFPN) on the stride 8, 16 and 32 features; ``sides`` are their sides.
    c = widths.neck
    sides = [hw for _, _, hw in levels[1:]]
    laterals = [conv(t, ch, c, 1, 1, hw, relu=False) for t, ch, hw in levels[1:]]
    inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up2"))
    for i in (2, 1):  # top-down
        up = node("Resize", [laterals[i], "", "up2"], mode="nearest")
        laterals[i - 1] = node("Add", [laterals[i - 1], up])
    inter = [conv(laterals[i], c, c, 3, 1, sides[i], relu=False) for i in range(3)]
    for i in (0, 1):  # bottom-up
        down = conv(inter[i], c, c, 3, 2, sides[i], relu=False)
        inter[i + 1] = node("Add", [inter[i + 1], down])
    features = [inter[0]] + [conv(inter[i], c, c, 3, 1, sides[i], relu=False) for i in (1, 2)]

    values = dict(constants)
    inits.append(numpy_helper.from_array(np.array(HEAD_SCALE, np.float32), "head_scale"))
    inits.append(numpy_helper.from_array(np.array(1.0, np.float32), "one"))
    for i, stride in enumerate((8, 16, 32)):
        h, ch, hw = features[i], c, sides[i]
        for _ in range(widths.stacked_convs):
            h, ch = separable(h, ch, widths.head, 1, hw), widths.head
        for part, k in (("score", 1), ("bbox", 4), ("kps", 10)):
            name = f"{part}_{stride}"
            expected = (1, hw * hw * SCRFD_ANCHORS, k)
            if values[name].shape != expected:
                raise ValueError(
                    f"constant {name}: expected shape {expected}, got {values[name].shape}"
                )
            y = conv(h, ch, SCRFD_ANCHORS * k, 3, 1, hw, relu=False)
            if part == "score":
                y = node("Sigmoid", [y])
            # (1, A k, hw, hw) -> (1, hw, hw, A k) -> (1, hw hw A, k): row (cell A + anchor).
            y = node("Transpose", [y], perm=[0, 2, 3, 1])
            inits.append(numpy_helper.from_array(np.array([1, -1, k], np.int64), name + ".shape"))
            y = node("Reshape", [y, name + ".shape"])
            y = node("Mul", [y, "head_scale"])
            y = node("Sub", [node("Add", [y, "one"]), "one"])  # exactly 0 (see above)
            inits.append(numpy_helper.from_array(values[name].astype(np.float32), name + ".const"))
            nodes.append(helper.make_node("Add", [name + ".const", y], [name]))
    order = [f"{part}_{s}" for part in ("score", "bbox", "kps") for s in (8, 16, 32)]
    graph = helper.make_graph(
        nodes,
        "scrfd_random",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, side, side])],
        [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, list(values[name].shape))
            for name in order
        ],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model, stats


def check_scrfd_outputs(
    path: Path, constants: list[tuple[str, np.ndarray]], image: np.ndarray
) -> None:
    """Check a detector model file: valid ONNX, and its outputs on an image the constants.

    Parameters
    ----------
    path : Path
        The model file (input of a fixed size).
    constants : list of (str, ndarray)
        The outputs it must give.
    image : ndarray of shape (H, W, 3), dtype uint8
        An RGB image, preprocessed as :class:`~faceparity.pipeline.detect.scrfd.ScrfdDetector`
        does (letterbox, ``(v - 127.5) / 128``).

    Raises
    ------
    onnx.checker.ValidationError
        The file is not a valid ONNX model.
    RuntimeError
        An output differs from its constant in any element.

    """
    import onnx

    from faceparity.pipeline.detect.base import letterbox
    from faceparity.pipeline.detect.session import OnnxModel

    onnx.checker.check_model(str(path))
    model = OnnxModel.open(path, threads=1)
    size = model.fixed_size
    if size is None:
        raise RuntimeError(f"{path.name}: expected a fixed input size")
    canvas, _ = letterbox(image, size)
    blob = (canvas.transpose(2, 0, 1)[np.newaxis].astype(np.float32) - 127.5) / 128.0
    got = model.run(blob)
    for name, value in constants:
        if not np.array_equal(got[name], value):
            worst = float(np.nanmax(np.abs(got[name] - value)))
            raise RuntimeError(f"{path.name}: output {name} differs from its constant by {worst}")


# -- timing -------------------------------------------------------------------------------


def time_model(embedder: Any, tensors: list[np.ndarray]) -> tuple[float, float]:
    """Wall and process CPU seconds for ``session.run`` on every batch tensor."""
    session, name, out = embedder.session, embedder.input_name, embedder.output_name
    wall, cpu = time.perf_counter(), time.process_time()
    for x in tensors:
        session.run([out], {name: x})
    return time.perf_counter() - wall, time.process_time() - cpu


def time_pipeline(
    manifest: Any, detector: Any, embedder: Any, settings: Any
) -> tuple[float, float, Any]:
    """Wall and process CPU seconds for :func:`embed_images` over the manifest, and its run."""
    from faceparity.pipeline.run import embed_images

    wall, cpu = time.perf_counter(), time.process_time()
    run = embed_images(manifest, detector=detector, embedder=embedder, settings=settings)
    return time.perf_counter() - wall, time.process_time() - cpu, run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, help="images per case (160; --quick: 32)")
    parser.add_argument("--repeat", type=int, help="timed runs of each case (3; --quick: 1)")
    parser.add_argument("--threads", type=int, default=2, help="pipeline preparation threads (2)")
    parser.add_argument(
        "--model-threads", type=int, default=2, help="onnxruntime intra-op threads (2)"
    )
    parser.add_argument(
        "--detector-threads",
        type=int,
        default=1,
        help="onnxruntime threads of the SCRFD detector (default 1, as faceparity embed)",
    )
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}"
    )
    parser.add_argument(
        "--detector-file",
        metavar="SPEC",
        help="also time a detector model of your own, as faceparity embed --detector takes "
        "it (e.g. scrfd:det_500m.onnx): case 'file' on the same 250 x 250 photographs",
    )
    parser.add_argument(
        "--detector-size",
        metavar="SIDE",
        type=int,
        help="canvas of --detector-file when its input size is free (default 640)",
    )
    parser.add_argument(
        "--tiny-model",
        action="store_true",
        help="a 4-block model instead of IResNet-50 and a narrow SCRFD network "
        "(smoke tests only: no target)",
    )
    parser.add_argument("--quick", action="store_true", help="32 images, 1 repeat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a case misses")
    args = parser.parse_args(argv)
    if args.images is None:
        args.images = 32 if args.quick else 160
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"--cases: unknown {unknown}; expected some of {list(CASES)}")
    if args.detector_file:
        args.cases.append("file")
    elif args.detector_size is not None:
        parser.error("--detector-size applies to --detector-file")
    if args.images < 1 or args.repeat < 1 or args.threads < 1 or args.model_threads < 1:
        parser.error("--images, --repeat, --threads and --model-threads must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import onnx
    import onnxruntime
    from PIL import Image

    from faceparity.pipeline.detect import open_detector
    from faceparity.pipeline.embedder import OnnxEmbedder
    from faceparity.pipeline.run import PipelineSettings
    from faceparity.readers.manifest import read_manifest

    result: dict[str, Any] = {
        "target_overhead": TARGET,
        "batch_size": BATCH,
        "images": args.images,
        "repeat": args.repeat,
        "threads": args.threads,
        "model_threads": args.model_threads,
        "detector_threads": args.detector_threads,
        "onnxruntime": onnxruntime.__version__,
        "tiny_model": args.tiny_model,
    }
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        stages = TINY_STAGES if args.tiny_model else STAGES
        model, stats = iresnet50(seed=args.seed, stages=stages)
        onnx.save(model, str(work / "iresnet50.onnx"))
        del model
        build_s = time.perf_counter() - start
        result["model"] = {
            "architecture": "IResNet-50 (ArcFace), random weights"
            if not args.tiny_model
            else "tiny IResNet (smoke test)",
            "parameters": stats.parameters,
            "macs_per_image": stats.macs,
            "gflops_per_image": 2 * stats.macs / 1e9,
            "file_mb": (work / "iresnet50.onnx").stat().st_size / 1e6,
            "build_s": build_s,
        }
        note(
            f"model built in {build_s:.1f} s: {stats.parameters / 1e6:.2f} M parameters, "
            f"{stats.macs / 1e9:.2f} G multiply-accumulates per image"
        )
        start = time.perf_counter()
        whole_csv, crops_csv, crops = write_images(work / "images", args.images, seed=args.seed)
        result["data_s"] = time.perf_counter() - start
        note(f"{args.images} images written in {result['data_s']:.1f} s")
        with Image.open(work / "images" / "whole" / "00000.jpg") as first:
            probe_image = np.asarray(first.convert("RGB"))

        embedder = OnnxEmbedder(work / "iresnet50.onnx", threads=args.model_threads)
        spec = embedder.spec
        tensors = [
            spec.preprocess(np.stack(crops[i : i + BATCH])) for i in range(0, len(crops), BATCH)
        ]
        embedder.session.run([embedder.output_name], {embedder.input_name: tensors[0]})  # warm
        probe = embedder.raw(np.stack(crops[:2]))
        if not np.isfinite(probe).all():
            note("warning: the random model's output is not finite")

        whole = read_manifest(whole_csv, root=work / "images" / "whole")
        aligned = read_manifest(crops_csv, root=work / "images" / "crops")
        settings = PipelineSettings(batch_size=BATCH, threads=args.threads)
        detectors: dict[str, Any] = {}
        detector_info: dict[str, dict[str, Any] | None] = {}
        for case in args.cases:
            if case == "none":
                detectors[case], detector_info[case] = None, None
                continue
            if case == "file":
                size = args.detector_size
                detectors[case] = open_detector(
                    args.detector_file,
                    threads=args.detector_threads,
                    input_size=None if size is None else (size, size),
                )
                detector_info[case] = {
                    "architecture": detectors[case].description,
                    "macs_per_image": None,
                    "macs_ratio": None,
                }
                continue
            if case == "haar":
                detectors[case] = open_detector("haar")
                detector_info[case] = {
                    "architecture": "OpenCV Haar cascade (not a network: MACs not counted)",
                    "macs_per_image": None,
                    "macs_ratio": None,
                }
                continue
            start = time.perf_counter()
            if case == "scrfd-constant":
                path = build_scrfd_constant(work / "scrfd_constant.onnx", side=SCRFD_SIDE)
                info: dict[str, Any] = {
                    "architecture": "SCRFD layout, constant outputs (no network)",
                    "input_side": SCRFD_SIDE,
                    "parameters": 0,
                    "macs_per_image": 0,
                }
            else:
                side = NETWORK_SIDES[case]
                constants = scrfd_constants(side=side)
                widths = TINY_SCRFD if args.tiny_model else SCRFD_500M
                network, net_stats = scrfd_network(
                    constants, side=side, widths=widths, seed=args.seed
                )
                path = work / f"{case}.onnx"
                onnx.save(network, str(path))
                del network
                check_scrfd_outputs(path, constants, probe_image)
                info = {
                    "architecture": "SCRFD-0.5GF network, random weights, outputs constant"
                    if not args.tiny_model
                    else "narrow SCRFD network (smoke test), outputs constant",
                    "input_side": side,
                    "parameters": net_stats.parameters,
                    "macs_per_image": net_stats.macs,
                }
            info["macs_ratio"] = info["macs_per_image"] / stats.macs
            info["file_mb"] = path.stat().st_size / 1e6
            info["build_s"] = time.perf_counter() - start
            detectors[case] = open_detector(f"scrfd:{path}", threads=args.detector_threads)
            detector_info[case] = info
            note(
                f"{case} detector built in {info['build_s']:.1f} s: {info['architecture']}, "
                f"{info['input_side']} x {info['input_side']}, {info['parameters']:,} "
                f"parameters, {info['macs_per_image'] / 1e9:.3f} G multiply-accumulates per "
                f"image ({info['macs_ratio']:.1%} of the recognition model's), "
                f"{info['file_mb']:.1f} MB"
            )
        manifests = {case: aligned if case == "none" else whole for case in args.cases}

        result["load_average_before"] = list(os.getloadavg())
        model_wall: list[float] = []
        model_cpu: list[float] = []
        walls: dict[str, list[float]] = {case: [] for case in args.cases}
        cpus: dict[str, list[float]] = {case: [] for case in args.cases}
        paired: dict[str, list[float]] = {case: [] for case in args.cases}
        counts: dict[str, dict[str, int]] = {}

        def model_run(r: int) -> None:
            wall, cpu = time_model(embedder, tensors)
            model_wall.append(wall)
            model_cpu.append(cpu)
            note(f"repeat {r + 1}: model {wall:.2f} s (CPU {cpu:.2f} s)")

        # Model and cases alternate, so that each case run has a model run on either
        # side of it (its paired overhead is against their mean).
        for r in range(args.repeat):
            for case in args.cases:
                model_run(r)
                wall, cpu, run = time_pipeline(manifests[case], detectors[case], embedder, settings)
                walls[case].append(wall)
                cpus[case].append(cpu)
                counts[case] = run.counts()
                note(f"repeat {r + 1}: {case} {wall:.2f} s (CPU {cpu:.2f} s)  {counts[case]}")
            model_run(r)
        k = len(args.cases) + 1
        for r in range(args.repeat):
            for j, case in enumerate(args.cases):
                around = (model_wall[r * k + j] + model_wall[r * k + j + 1]) / 2
                paired[case].append(walls[case][r] / around - 1)
        result["load_average_after"] = list(os.getloadavg())

        model_s = min(model_wall)
        result["model_s_runs"] = model_wall
        result["model_cpu_s_runs"] = model_cpu
        result["model_s"] = model_s
        result["model_cpu_s"] = min(model_cpu)
        result["model_images_per_s"] = args.images / model_s
        result["cases"] = {}
        for case in args.cases:
            best = min(walls[case])
            overhead = float(np.median(paired[case]))
            result["cases"][case] = {
                "pipeline_s_runs": walls[case],
                "pipeline_cpu_s_runs": cpus[case],
                "pipeline_s": best,
                "pipeline_cpu_s": min(cpus[case]),
                "images_per_s": args.images / best,
                "model_s": model_s,
                "overhead": overhead,
                "overhead_best": (best - model_s) / model_s,
                "overhead_paired_runs": paired[case],
                "overhead_cpu": min(cpus[case]) / min(model_cpu) - 1,
                "passed": bool(overhead <= TARGET),
                "counts": counts[case],
                "detector": detector_info[case],
            }

    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_text(result)
    missed = any(not c["passed"] for c in result["cases"].values())
    return 1 if args.strict and missed else 0


def print_text(result: dict[str, Any]) -> None:
    m = result["model"]
    print(
        f"{m['architecture']}: {m['parameters']:,} parameters, "
        f"{m['macs_per_image'] / 1e9:.2f} G multiply-accumulates "
        f"({m['gflops_per_image']:.2f} GFLOP) per image, built in {m['build_s']:.1f} s"
    )
    load = "/".join(f"{v:.1f}" for v in result["load_average_before"])
    print(
        f"{result['images']} images, batch {result['batch_size']}, {result['threads']} "
        f"preparation threads, onnxruntime {result['onnxruntime']} with "
        f"{result['model_threads']} threads; {result['repeat']} repeats; "
        f"load average before {load}"
    )

    def runs(values: list[float], fmt: str = "{:.2f}") -> str:
        return " ".join(fmt.format(v) for v in values)

    print(
        f"  model only (session.run):  {result['model_s']:7.2f} s "
        f"{result['model_images_per_s']:6.2f} images/s  CPU {result['model_cpu_s']:6.2f} s"
    )
    print(f"      runs: {runs(result['model_s_runs'])}  CPU: {runs(result['model_cpu_s_runs'])}")
    for case, c in result["cases"].items():
        verdict = "PASS" if c["passed"] else "FAIL"
        print(
            f"  pipeline, detector {case + ':':16s}{c['pipeline_s']:7.2f} s "
            f"{c['images_per_s']:6.2f} images/s  CPU {c['pipeline_cpu_s']:6.2f} s  "
            f"overhead {c['overhead']:+.1%} {verdict} (target <= {result['target_overhead']:.0%})"
        )
        print(
            f"      best-of overhead {c['overhead_best']:+.1%}, "
            f"CPU overhead {c['overhead_cpu']:+.1%}"
        )
        print(
            f"      runs: {runs(c['pipeline_s_runs'])}  CPU: {runs(c['pipeline_cpu_s_runs'])}  "
            f"paired overheads: {runs(c['overhead_paired_runs'], '{:+.1%}')}  {c['counts']}"
        )
        d = c["detector"]
        if d is None:
            print("      no detector")
        elif d["macs_per_image"] is None:
            print(f"      detector: {d['architecture']}")
        else:
            print(
                f"      detector: {d['architecture']}, {d['input_side']} x {d['input_side']}: "
                f"{d['macs_per_image'] / 1e9:.3f} G multiply-accumulates per image, "
                f"{d['macs_ratio']:.1%} of the recognition model's"
            )
    load = "/".join(f"{v:.1f}" for v in result["load_average_after"])
    print(f"load average after {load}")


if __name__ == "__main__":
    sys.exit(main())
