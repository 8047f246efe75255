"""Real models on real faces: ``faceparity embed`` and ``audit embeddings`` on UTKFace.

What it runs (whole processes, from files, as a user runs them) on the UTKFace sample of
``../shared/data/utkface-sample`` (2,000 face chips of 200 x 200, 200 per sex x race
cell; adults 18-70 by default, as the issue's hand check), for each configuration of
detector and recognition model:

1. ``faceparity embed MANIFEST --root ... --detector D --embedder M [--model-spec S]
   --no-cache``, timed: the pipeline (read, decode, detect, align, quality, skin tone,
   embed, write);
2. ``faceparity audit embeddings OUT --group-by sex,race --fmr 1e-3`` on its output:
   one global threshold at overall FMR 1e-3 (``--policy global``), per-group FMR with
   intervals (subject-level bootstrap by default), and failure to acquire by group.

Configurations: the ONNX embedder (``../shared/models/faceplugin/fr_feature.onnx``, spec
``examples/models/faceplugin-fr-feature.toml``) with MTCNN (``mtcnn:../shared/models/mtcnn``)
and with the Haar fallback; and, where ``import dlib`` works and this faceparity has the
dlib backend, dlib's HOG detector with the ONNX embedder and with dlib's ResNet
(``--embedder dlib``). A configuration that cannot run here is skipped with its reason.

Beside the pipeline's time per image it prints the model's own inference time: the
embedder's onnxruntime session (same file, same threads) run on normalised 112 x 112
tensors made before timing, one call per image as the model's fixed batch of 1 requires,
just before and just after each ``faceparity embed`` (their mean is printed), so that both
see the machine's load of the moment.

The data's limits: UTKFace has **no identity labels**, so each image is its own subject
and every comparison is non-mated (FMR only, no FNMR; a person pictured twice would
count as a false match); the race labels are UTKFace's five annotator-assigned classes;
the images are chips cropped and aligned by UTKFace's own (dlib) pipeline, which favours
detectors that agree with it.

Run::

    PYTHONPATH=src python benchmarks/bench_real.py                # the adults, ~1,000 images
    PYTHONPATH=src python benchmarks/bench_real.py --limit 20     # 20 per cell: a quick look
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data" / "utkface-sample"
MODELS = SHARED / "models"
ONNX_MODEL = MODELS / "faceplugin" / "fr_feature.onnx"
ONNX_SPEC = ROOT / "examples" / "models" / "faceplugin-fr-feature.toml"


@dataclass(frozen=True)
class Config:
    """One detector and one recognition model."""

    name: str
    detector: str
    embedder: str
    spec: Path | None


def configs() -> tuple[list[Config], list[str]]:
    """The configurations that can run here, and a reason for each that cannot."""
    ready = [
        Config("onnx + mtcnn", f"mtcnn:{MODELS / 'mtcnn'}", str(ONNX_MODEL), ONNX_SPEC),
        Config("onnx + haar", "haar", str(ONNX_MODEL), ONNX_SPEC),
    ]
    skipped = []
    try:
        importlib.import_module("dlib")
    except ImportError:
        skipped.append("dlib configurations: `import dlib` fails (pip install 'faceparity[dlib]')")
        return ready, skipped
    help_text = _faceparity(["embed", "--help"]).stdout
    if "dlib" not in help_text:
        skipped.append("dlib configurations: this faceparity has no dlib backend (dlib:hog)")
        return ready, skipped
    ready += [
        Config("onnx + dlib:hog", "dlib:hog", str(ONNX_MODEL), ONNX_SPEC),
        Config("dlib + dlib:hog", "dlib:hog", "dlib", None),
    ]
    return ready, skipped


def _faceparity(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faceparity", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        check=False,
        **kwargs,
    )


def write_manifest(path: Path, *, limit: int | None, all_ages: bool) -> int:
    """The sample's manifest (adults 18-70 unless ``all_ages``), at most ``limit`` per cell."""
    import pandas as pd

    table = pd.read_csv(DATA / "manifest.csv")
    if not all_ages:
        table = table[(table["age"] >= 18) & (table["age"] <= 70)]
    if limit is not None:
        table = table.groupby(["sex", "race"], sort=False).head(limit)
    table.to_csv(path, index=False)
    return len(table)


def model_seconds_per_image(n: int, threads: int) -> float:
    """The ONNX embedder's own ``session.run`` time per image, batch 1, median of 3."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(ONNX_MODEL), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    rng = np.random.default_rng(0)
    x = ((rng.integers(0, 256, (n, 1, 3, 112, 112)) - 127.0) / 128.0).astype(np.float32)
    session.run(None, {name: x[0]})
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        for row in x:
            session.run(None, {name: row})
        runs.append((time.perf_counter() - start) / n)
    return float(np.median(runs))


def run_config(config: Config, manifest: Path, work: Path, args: argparse.Namespace) -> None:
    """Embed, audit and print one configuration."""
    out = work / config.name.replace(" ", "").replace("+", "_").replace(":", "-")
    out.mkdir()
    embeddings = out / "embeddings.parquet"
    embed = ["embed", str(manifest), "--root", str(DATA), "--detector", config.detector]
    embed += ["--embedder", config.embedder, "--no-cache", "--device", "cpu"]
    embed += ["--threads", str(args.threads), "-o", str(embeddings)]
    if config.spec is not None:
        embed += ["--model-spec", str(config.spec)]
    before = model_seconds_per_image(args.model_images, args.threads)
    start = time.perf_counter()
    done = _faceparity(embed)
    pipeline = time.perf_counter() - start
    args.model_time = (before + model_seconds_per_image(args.model_images, args.threads)) / 2
    if done.returncode != 0:
        print(f"\n## {config.name}: faceparity embed failed ({done.returncode})\n{done.stderr}")
        return
    audit = ["audit", "embeddings", str(embeddings), "--group-by", "sex,race"]
    audit += ["--fmr", str(args.fmr), "--policy", "global", "--no-report", "-o", str(out)]
    audit += ["--intervals", args.intervals]
    start = time.perf_counter()
    done = _faceparity(audit)
    audit_time = time.perf_counter() - start
    if done.returncode != 0:
        print(f"\n## {config.name}: faceparity audit embeddings failed\n{done.stderr}")
        return
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    print_results(config, results, pipeline, audit_time, args)


def print_results(
    config: Config,
    results: dict[str, Any],
    pipeline: float,
    audit_time: float,
    args: argparse.Namespace,
) -> None:
    """Per-group FMR at the global threshold, FTA by group, time per image."""
    point = results["operating_points"][0]
    acquisition = {g["label"]: g for g in results["acquisition"]["groups"]}
    n_images = sum(g["n_images"] for g in acquisition.values())
    print(f"\n## {config.name}  (--detector {config.detector}, --embedder {config.embedder})")
    overall = point["overall"]
    print(
        f"global threshold {point['threshold']:.4f} for overall FMR {point['target_fmr']:g}: "
        f"measured {overall['fmr']:.5f} ({overall['n_false_matches']} of "
        f"{overall['n_non_mated']} non-mated)"
    )
    head = f"{'group':15s} {'images':>6s} {'FTA':>7s} {'FMR':>9s}  {'interval':>22s}"
    print(head + "  false/non-mated")
    rows = sorted(point["groups"], key=lambda g: g["fmr"] if g["fmr"] is not None else -1)
    for group in rows:
        label = group["label"]
        acq = acquisition[label]
        ci = group["fmr_ci"]
        fmr = "n/a" if group["fmr"] is None else f"{group['fmr']:.5f}"
        print(
            f"{label:15s} {acq['n_images']:6d} {acq['fta']:7.3f} {fmr:>9s}  "
            f"[{ci['ci_low']:.5f}, {ci['ci_high']:.5f}]  "
            f"{group['n_false_matches']}/{group['n_non_mated']}"
        )
    fmrs = [g["fmr"] for g in rows if g["fmr"]]
    if len(fmrs) >= 2:
        print(f"highest / lowest non-zero group FMR: {max(fmrs) / min(fmrs):.1f}x")
    fta = sum(g["n_failure_to_acquire"] for g in acquisition.values())
    print(f"failure to acquire: {fta} of {n_images} images ({fta / n_images:.3f})")
    per_image = pipeline / n_images
    line = f"time: pipeline {1000 * per_image:.1f} ms/image (faceparity embed, whole process)"
    if config.embedder == str(ONNX_MODEL) and args.model_time:
        line += (
            f"; the model alone {1000 * args.model_time:.1f} ms/image; "
            f"overhead {per_image / args.model_time - 1:+.0%}"
        )
    print(line + f"; audit {audit_time:.1f} s")


def main(argv: list[str] | None = None) -> int:
    """Run the configurations and print what they measured."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="images per sex x race cell")
    parser.add_argument("--all-ages", action="store_true", help="children and over-70s too")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fmr", type=float, default=1e-3)
    parser.add_argument(
        "--intervals", default="bootstrap", choices=["bootstrap", "clopper-pearson", "wilson"]
    )
    parser.add_argument("--only", action="append", default=None, help="run this config only")
    args = parser.parse_args(argv)
    for needed in (DATA / "manifest.csv", ONNX_MODEL, MODELS / "mtcnn"):
        if not needed.exists():
            print(f"skipped: {needed} is not available")
            return 0
    ready, skipped = configs()
    for reason in skipped:
        print(f"skipped: {reason}")
    if args.only:
        ready = [c for c in ready if c.name in args.only]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        manifest = work / "manifest.csv"
        n = write_manifest(manifest, limit=args.limit, all_ages=args.all_ages)
        print(f"UTKFace sample: {n} images, each its own subject; --threads {args.threads}")
        args.model_images = min(n, 100)
        for config in ready:
            run_config(config, manifest, work, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
