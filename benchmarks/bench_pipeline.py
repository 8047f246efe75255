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
  landmark alignment) is measured without a detector network. A real detector network
  (SCRFD 2.5G, 10G) adds its own inference time on top, which this does not measure.

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
  250 x 250 images; (c) ``scrfd-constant``: the constant SCRFD model on the same images.

Each repeat alternates the model and the cases (model, none, model, haar, model,
scrfd-constant, model), so every pipeline run has a model run on either side of it.
A run's overhead is ``(pipeline - model) / model`` against the mean of those two model
runs; a case's overhead is the median over the repeats, and the target is
``overhead <= 0.10``. Also printed: the best-of overhead (fastest pipeline run against
the fastest model run) and the CPU overhead (process CPU seconds of the fastest runs,
which other jobs on the machine disturb less than wall time, but which also counts
work that overlaps).

Usage::

    python benchmarks/bench_pipeline.py                 # 160 images, 3 repeats
    python benchmarks/bench_pipeline.py --quick         # 32 images, 1 repeat
    python benchmarks/bench_pipeline.py --images 320 --repeat 3 --json

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
TARGET = 0.10
BATCH = 16
CASES = ("none", "haar", "scrfd-constant")
STAGES = ((64, 3), (128, 4), (256, 14), (512, 3))
TINY_STAGES = ((8, 1), (8, 1), (8, 1), (8, 1))
EMBEDDING_DIM = 512
IMAGE_SIDE = 250
SCRFD_SIDE = 640


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- the model ---------------------------------------------------------------------------


@dataclass
class ModelStats:
    parameters: int = 0
    macs: int = 0


def iresnet50(
    *,
    seed: int = 0,
    size: int = 112,
    stages: tuple[tuple[int, int], ...] = STAGES,
) -> tuple[Any, ModelStats]:
    """IResNet-50 (ArcFace) with random weights as an ONNX model; its parameters and MACs."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes: list[Any] = []
    inits: list[Any] = []
    stats = ModelStats()

    def weight(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(array.astype(np.float32, copy=False), name))
        stats.parameters += array.size
        return name

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


def build_scrfd_constant(path: Path) -> Path:
    """An SCRFD model (9 outputs, 640 x 640) whose outputs place the face of the images.

    One face with landmarks in the middle of a 250 x 250 image (letterboxed x 2.56 onto
    the canvas), scored 0.9, plus four lower-scoring candidates around it that the NMS
    suppresses, as a real detector gives several anchors on one face.
    """
    sys.path.insert(0, str(HERE.parent / "tests" / "pipeline"))
    from _detect_models import Anchor, save_model, scrfd_outputs

    from faceparity.pipeline.align import ARCFACE_TEMPLATE

    scale = SCRFD_SIDE / IMAGE_SIDE
    face = np.array([75.0, 75.0, 175.0, 175.0]) * scale  # on the canvas
    anchors = []
    for k, (dr, dc, score) in enumerate([(0, 0, 0.9), (0, 1, 0.8), (1, 0, 0.7), (-1, 0, 0.6)]):
        stride = 8
        row, col = 40 + dr, 40 + dc
        centre = np.array([col * stride, row * stride], dtype=np.float64)
        box = np.r_[centre - face[:2], face[2:] - centre] / stride + 0.3 * k
        marks = face[:2] + ARCFACE_TEMPLATE * ((face[2] - face[0]) / 112.0)
        kps = ((marks - centre) / stride).reshape(-1)
        anchors.append(Anchor(stride, row, col, 0, score, tuple(box.tolist()), tuple(kps.tolist())))
    outputs = scrfd_outputs(anchors, size=(SCRFD_SIDE, SCRFD_SIDE))
    return save_model(path, outputs, input_shape=(1, 3, SCRFD_SIDE, SCRFD_SIDE))


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
        "--tiny-model",
        action="store_true",
        help="a 2-block model instead of IResNet-50 (smoke tests only: no target)",
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
    if args.images < 1 or args.repeat < 1 or args.threads < 1 or args.model_threads < 1:
        parser.error("--images, --repeat, --threads and --model-threads must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import onnx
    import onnxruntime

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
        scrfd_path = build_scrfd_constant(work / "scrfd_constant.onnx")
        result["data_s"] = time.perf_counter() - start
        note(f"{args.images} images written in {result['data_s']:.1f} s")

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
        detectors: dict[str, Any] = {
            "none": None,
            "haar": open_detector("haar"),
            "scrfd-constant": open_detector(f"scrfd:{scrfd_path}", threads=args.detector_threads),
        }
        manifests = {"none": aligned, "haar": whole, "scrfd-constant": whole}

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
    load = "/".join(f"{v:.1f}" for v in result["load_average_after"])
    print(f"load average after {load}")


if __name__ == "__main__":
    sys.exit(main())
