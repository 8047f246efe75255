"""What each stage of the image pipeline costs per image, alone, on one thread (issue 7).

``bench_pipeline.py`` measures the whole pipeline against the model's own inference;
this script explains its figures: it times each stage by itself on the same images and
models (built by ``bench_pipeline.py``'s own builders, in a temporary directory), one
thread, OpenCV's own threads held to one as during a pipeline run, and prints the
milliseconds per image (median over ``--repeat`` passes over the images) and the
recognition model's for comparison:

- **read**: reading the file and hashing its bytes (SHA-256, the cache key);
- **decode**: Pillow's decoding of a 250 x 250 JPEG and of a 112 x 112 aligned crop;
- **scrfd input**: the letterboxed, normalised input tensor of an SCRFD detector at
  640 x 640 and at 256 x 256 (:func:`faceparity.pipeline.detect.letterbox_blob`);
- **scrfd format**: a whole ``detect`` call of the constant-output SCRFD model (the
  input tensor, onnxruntime's call of a network-less model, decoding, NMS), at both
  canvases: faceparity's own detection work;
- **scrfd-0.5GF network**: onnxruntime's ``run`` of the SCRFD-0.5GF-sized network on one
  input tensor, one thread, at both canvases: the detector network's inference;
- **haar**: a whole ``detect`` call of OpenCV's Haar cascade on a 250 x 250 image;
- **align**, **quality**, **skin tone**: the similarity alignment onto the template,
  the quality measures and the ITA of one face;
- **model**: the recognition model (IResNet-50, random weights) per image, at batch 16
  on ``--model-threads`` threads, in wall time and in CPU time.

Usage::

    PYTHONPATH=src:tests/pipeline python benchmarks/bench_pipeline_stages.py
    PYTHONPATH=src:tests/pipeline python benchmarks/bench_pipeline_stages.py --json

Figures go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def _bench_pipeline() -> Any:
    """``bench_pipeline.py`` as a module (its builders of models and images)."""
    spec = importlib.util.spec_from_file_location("bench_pipeline", HERE / "bench_pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_pipeline"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def per_item(work: Callable[[Any], object], items: list[Any], repeat: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds per item of ``work`` over ``repeat`` passes."""
    work(items[0])  # warm
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        for item in items:
            work(item)
        walls.append((time.perf_counter() - wall) / len(items) * 1e3)
        cpus.append((time.process_time() - cpu) / len(items) * 1e3)
    return float(np.median(walls)), float(np.median(cpus))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=32, help="images per stage (32)")
    parser.add_argument("--repeat", type=int, default=5, help="passes over them (5)")
    parser.add_argument("--model-threads", type=int, default=2, help="the model's threads (2)")
    parser.add_argument("--tiny-model", action="store_true", help="smoke test: small networks")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.images < 1 or args.repeat < 1 or args.model_threads < 1:
        parser.error("--images, --repeat and --model-threads must be >= 1")

    import hashlib

    import onnx

    from faceparity.pipeline._deps import opencv_threads
    from faceparity.pipeline.align import align_face
    from faceparity.pipeline.detect import letterbox_blob, open_detector
    from faceparity.pipeline.detect.session import OnnxModel
    from faceparity.pipeline.embedder import OnnxEmbedder
    from faceparity.pipeline.faces import choose_face
    from faceparity.pipeline.images import ImageLimits, decode_image
    from faceparity.pipeline.quality import measure_quality
    from faceparity.pipeline.skintone import skin_ita

    bp = _bench_pipeline()
    stages: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_stages_") as tmp, opencv_threads(1):
        work = Path(tmp)
        bp.write_images(work / "images", args.images)
        limits = ImageLimits()
        files = {
            kind: sorted((work / "images" / kind).glob("*.jpg")) for kind in ("whole", "crops")
        }
        data = {kind: [f.read_bytes() for f in paths] for kind, paths in files.items()}
        whole = [decode_image(d, limits).pixels for d in data["whole"]]  # type: ignore[union-attr]

        def note(text: str) -> None:
            print(text, file=sys.stderr, flush=True)

        note(f"{args.images} images written; timing each stage ...")
        stages["read and hash, 250 x 250 JPEG"] = per_item(
            lambda f: hashlib.sha256(f.read_bytes()).digest(), files["whole"], args.repeat
        )
        stages["decode, 250 x 250 JPEG"] = per_item(
            lambda d: decode_image(d, limits), data["whole"], args.repeat
        )
        stages["decode, 112 x 112 JPEG"] = per_item(
            lambda d: decode_image(d, limits), data["crops"], args.repeat
        )
        widths = bp.TINY_SCRFD if args.tiny_model else bp.SCRFD_500M
        detectors = {}
        for side in (640, 256):
            stages[f"scrfd input, {side} x {side}"] = per_item(
                lambda image, s=side: letterbox_blob(image, (s, s), mean=127.5, scale=1.0 / 128.0),
                whole,
                args.repeat,
            )
            path = bp.build_scrfd_constant(work / f"constant{side}.onnx", side=side)
            detectors[side] = open_detector(f"scrfd:{path}", threads=1)
            stages[f"scrfd format (no network), {side} x {side}"] = per_item(
                detectors[side].detect, whole, args.repeat
            )
            network, _ = bp.scrfd_network(bp.scrfd_constants(side=side), side=side, widths=widths)
            onnx.save(network, str(work / f"net{side}.onnx"))
            model = OnnxModel.open(work / f"net{side}.onnx", threads=1)
            blobs = [letterbox_blob(i, (side, side), mean=127.5, scale=1 / 128)[0] for i in whole]
            stages[f"scrfd-0.5GF network run, {side} x {side}"] = per_item(
                model.run, blobs, args.repeat
            )
        stages["haar, 250 x 250"] = per_item(open_detector("haar").detect, whole, args.repeat)

        faces = [choose_face(detectors[640].detect(i), width=250, height=250) for i in whole]
        pairs = list(zip(whole, faces, strict=True))
        stages["align"] = per_item(lambda p: align_face(p[0], p[1], size=112), pairs, 2)
        crops = [align_face(i, f, size=112) for i, f in pairs]
        stages["quality"] = per_item(
            lambda k: measure_quality(faces[k], crops[k]), list(range(len(crops))), args.repeat
        )
        stages["skin tone (ITA)"] = per_item(skin_ita, crops, args.repeat)

        stage_list = bp.TINY_STAGES if args.tiny_model else bp.STAGES
        recogniser, _ = bp.iresnet50(stages=stage_list)
        onnx.save(recogniser, str(work / "r50.onnx"))
        embedder = OnnxEmbedder(work / "r50.onnx", threads=args.model_threads)
        batches = [embedder.spec.preprocess(np.stack((crops * 16)[i : i + 16])) for i in (0, 16)]
        wall, cpu = per_item(
            lambda x: embedder.session.run([embedder.output_name], {embedder.input_name: x}),
            batches,
            args.repeat,
        )
        stages[f"recognition model, per image (batch 16, {args.model_threads} threads)"] = (
            wall / 16,
            cpu / 16,
        )

    if args.json:
        print(json.dumps({k: {"ms": w, "cpu_ms": c} for k, (w, c) in stages.items()}, indent=2))
    else:
        width = max(len(k) for k in stages)
        print(f"{'stage':{width}s}  ms/image  CPU ms/image")
        for name, (wall, cpu) in stages.items():
            print(f"{name:{width}s}  {wall:8.3f}  {cpu:12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
