"""The image commands: ``faceparity embed`` and ``faceparity verify``, and their options.

``faceparity audit images`` (in :mod:`faceparity.cli`) runs :func:`run_pipeline` and
continues into the audit. As everywhere in the command line, nothing is computed here:
the pipeline is :mod:`faceparity.pipeline`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from faceparity.cli_support import F, _message, _reported, progress_bar, with_options
from faceparity.errors import UsageError
from faceparity.pipeline.detect.session import default_threads

__all__ = ["detector_size", "embed", "model_options", "pipeline_options", "run_pipeline", "verify"]


def model_options(*, in_audit: bool = False) -> Callable[[F], F]:
    """The options that open a detector and a model (shared by embed, audit images, verify).

    In ``audit images``, whose streaming engine has its own ``--device`` and
    ``--threads``, the model's are ``--model-device`` and ``--model-threads``.
    """
    device = "--model-device" if in_audit else "--device"
    threads = "--model-threads" if in_audit else "--threads"
    return functools.partial(with_options, options=_model_option_list(device, threads))


def _model_option_list(device: str, threads: str) -> list[Any]:
    return [
        click.option(
            "--detector",
            default="haar",
            show_default=True,
            help="haar (OpenCV's cascade, no download), scrfd:MODEL.onnx, yunet:MODEL.onnx, "
            "MODEL.onnx (format recognised), or none (the images are aligned crops already).",
        ),
        click.option(
            "--detector-size",
            default=None,
            metavar="WxH",
            help="Input canvas of an ONNX detector whose input size is free (default "
            "640x640, InsightFace's det_size), a multiple of the detector's coarsest "
            "stride. Detection costs in proportion to its area: near the photographs' "
            "size (256x256 for 250x250 images) is several times faster than 640x640.",
        ),
        click.option(
            "--embedder",
            required=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="The ONNX face recognition model under audit.",
        ),
        click.option(
            "--model-spec",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="TOML spec of the model's input (size, mean, std, channel_order, layout, "
            "flip); default: the ArcFace convention (112x112 RGB, (x-127.5)/127.5, NCHW).",
        ),
        click.option(
            device,
            "model_device",
            default="auto",
            show_default=True,
            help="auto (onnxruntime's CUDA execution provider, device 0, where it is "
            "installed and starts; else the CPU), cpu, or cuda / cuda:N (an error when "
            "CUDA cannot start). The detector runs where the model does.",
        ),
        click.option(
            threads,
            "pipeline_threads",
            type=click.IntRange(1),
            default=None,
            help="Threads for decoding, detection and inference (default: the CPUs).",
        ),
    ]


def pipeline_options(*, in_audit: bool = False) -> Callable[[F], F]:
    """Options of a pipeline run over a manifest (embed and audit images)."""
    options: list[Any] = [
        click.option(
            "--root",
            required=True,
            type=click.Path(file_okay=False, path_type=Path),
            help="Directory the manifest's image paths are relative to.",
        ),
        click.option("--path-column", default="path", show_default=True),
        click.option("--subject-column", default="subject", show_default=True),
        click.option(
            "--quality",
            default=None,
            help="Enrolment limits, e.g. min_inter_eye=20,max_yaw=45 (see the README); "
            "faces below one are failures to enrol.",
        ),
        click.option(
            "--max-pixels",
            type=click.IntRange(1),
            default=None,
            help="Largest image decoded, in pixels (default 50,000,000).",
        ),
        click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True),
        click.option(
            "--cache",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="SQLite cache of per-image records (owner-only), keyed by image content "
            "and pipeline: a rerun skips done work (default: OUTPUT.cache.sqlite).",
        ),
        click.option("--no-cache", is_flag=True, help="Neither read nor write a cache."),
        click.option(
            "--no-skin-tone", is_flag=True, help="Do not measure the Individual Typology Angle."
        ),
        model_options(in_audit=in_audit),
    ]
    return functools.partial(with_options, options=options)


def _open_models(opts: dict[str, Any]) -> tuple[Any, Any]:
    """The detector (None for ``--detector none``) and the embedder the options name."""
    from faceparity.pipeline.detect import open_detector
    from faceparity.pipeline.embedder import OnnxEmbedder, read_model_spec

    size = detector_size(opts["detector_size"], detector=opts["detector"])
    threads = opts["pipeline_threads"] or default_threads()
    spec = read_model_spec(opts["model_spec"])
    embedder = OnnxEmbedder(opts["embedder"], spec, threads=threads, device=opts["model_device"])
    text = opts["detector"]
    providers = None
    if embedder.device != "cpu":
        device_id = int(embedder.device.partition(":")[2])
        providers = [("CUDAExecutionProvider", {"device_id": device_id})]
    # Images are prepared on a pool of `threads` threads, each running the detector: one
    # onnxruntime thread per call keeps them from competing (measured: 1.11x faster).
    detector = None
    if text != "none":
        detector = open_detector(text, threads=1, providers=providers, input_size=size)
    return detector, embedder


MAX_DETECTOR_SIDE = 4096
MSG_DETECTOR_SIZE = (
    "--detector-size: expected WIDTHxHEIGHT or SIDE in pixels, each from 1 to "
    f"{MAX_DETECTOR_SIDE} (e.g. 640x480, 256); got {{got!r}}"
)
MSG_DETECTOR_SIZE_UNUSED = (
    "--detector-size applies to an ONNX detector (SCRFD, YuNet); --detector {detector} has "
    "no input canvas"
)


def detector_size(text: str | None, *, detector: str) -> tuple[int, int] | None:
    """``--detector-size`` as ``(width, height)``; ``None`` when not given."""
    if text is None:
        return None
    if detector.strip().lower() in ("haar", "none"):
        raise UsageError(MSG_DETECTOR_SIZE_UNUSED.format(detector=detector))
    match = re.fullmatch(r"\s*([0-9]{1,5})\s*(?:[xX]\s*([0-9]{1,5})\s*)?", text)
    if match is None:
        raise UsageError(MSG_DETECTOR_SIZE.format(got=text))
    width = int(match.group(1))
    height = width if match.group(2) is None else int(match.group(2))
    if not (1 <= width <= MAX_DETECTOR_SIDE and 1 <= height <= MAX_DETECTOR_SIDE):
        raise UsageError(MSG_DETECTOR_SIZE.format(got=text))
    return width, height


MSG_OUTPUT_NOT_WRITABLE = "cannot write {output}: {where} is not a writable directory"


def check_writable(output: Path) -> None:
    """OutputError (exit 73) now, rather than after the pipeline, when ``output`` cannot be made."""
    import os

    from faceparity.errors import OutputError

    folder = output.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(MSG_OUTPUT_NOT_WRITABLE.format(output=output, where=folder))


def run_pipeline(
    manifest_path: Path,
    output: Path,
    opts: dict[str, Any],
    *,
    check: Callable[[Any], None] | None = None,
) -> Any:
    """Read the manifest, run the pipeline, write ``output`` (Parquet, mode 0600); the run.

    ``check(manifest)`` runs before any image is opened (the audit's own checks of
    ``audit images``), as do the checks of the output path and of the models.
    """
    from faceparity.pipeline.cache import RecordCache
    from faceparity.pipeline.images import ImageLimits
    from faceparity.pipeline.quality import QualityLimits, parse_quality_limits
    from faceparity.pipeline.run import PipelineSettings, embed_images
    from faceparity.readers.manifest import read_manifest

    manifest = read_manifest(
        manifest_path,
        root=opts["root"],
        path_column=opts["path_column"],
        subject_column=opts["subject_column"],
    )
    if check is not None:
        check(manifest)
    check_writable(output)
    limits = (
        ImageLimits() if opts["max_pixels"] is None else ImageLimits(max_pixels=opts["max_pixels"])
    )
    threads = opts["pipeline_threads"] or default_threads()
    settings = PipelineSettings(
        quality=QualityLimits()
        if opts["quality"] is None
        else parse_quality_limits(opts["quality"]),
        image_limits=limits,
        batch_size=opts["batch_size"],
        threads=threads,
        skin_tone=not opts["no_skin_tone"],
    )
    detector, embedder = _open_models(opts)
    cache = None
    if not opts["no_cache"]:
        cache_path = opts["cache"] or output.with_name(output.name + ".cache.sqlite")
        cache = RecordCache(cache_path)
    where = (
        f"the CPU, {threads} threads"
        if embedder.device == "cpu"
        else f"CUDA device {embedder.device.partition(':')[2]}"
    )
    _message(f"embedding {len(manifest)} images (model on {where}) ...")
    try:
        with progress_bar("images") as progress:
            run = embed_images(
                manifest,
                detector=detector,
                embedder=embedder,
                settings=settings,
                cache=cache,
                progress=progress,
            )
    finally:
        if cache is not None:
            cache.close()
    try:
        run.write(output)
    except OSError as err:
        from faceparity.errors import OutputError

        raise OutputError(f"cannot write {output}: {err.strerror or err}") from err
    counts = run.counts()
    _message(
        f"wrote {output}: {counts['enrolled']} enrolled, {counts['failure_to_acquire']} failures "
        f"to acquire, {counts['failure_to_enrol']} failures to enrol"
        + (f" ({run.n_cached} from the cache)" if run.n_cached else "")
    )
    copies, across = run.duplicates()
    if copies:
        _message(MSG_DUPLICATES.format(copies=copies, across=across))
    return run


MSG_DUPLICATES = (
    "warning: byte-identical copies of an earlier image of the manifest: {copies} (column "
    "duplicate_of), {across} of them under another subject; a comparison of two copies "
    "scores as one image compared with itself"
)


@click.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@pipeline_options()
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The Parquet file to write: a row per image (outcome, measures, embedding).",
)
@_reported
def embed(manifest: Path, output: Path, **opts: Any) -> None:
    """Face images in, embeddings out: detect, align, measure, embed every manifest image.

    MANIFEST is a CSV, TSV or Parquet table with an image path column (relative to
    --root), a subject id column and any attribute columns. The output is what
    `faceparity audit embeddings OUTPUT` reads.
    """
    if output.suffix.lower() not in (".parquet", ".pq"):
        raise UsageError(f"--output: expected a file ending in .parquet, got {output}")
    run_pipeline(manifest, output, opts)


@click.command()
@click.argument("image_a", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("image_b", type=click.Path(dir_okay=False, path_type=Path))
@model_options()
@click.option("--threshold", type=float, required=True, help="Decision threshold (similarity).")
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="An audit's results.json of this model: say which operating point the "
    "threshold corresponds to, and the error rates measured there.",
)
@_reported
def verify(
    image_a: Path, image_b: Path, threshold: float, results: Path | None, **opts: Any
) -> None:
    """Compare two face images: the score, the decision, and what the threshold means.

    A one-off comparison of two images you hold, for people checking a model; not a
    search, and nothing is stored.
    """
    from faceparity.pipeline.pair import compare_images
    from faceparity.results.audit import AuditResult
    from faceparity.review.threshold import describe_threshold, other_model_warning

    if not math.isfinite(threshold):
        raise UsageError(f"--threshold: expected a finite number, got {threshold}")
    audit = None
    if results is not None:
        try:
            audit = AuditResult.read_json(results)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UsageError(
                f"--results {results}: could not be read as results.json: {err}"
            ) from err
    detector, embedder = _open_models(opts)
    outcome = compare_images(image_a, image_b, detector=detector, embedder=embedder)
    click.echo(outcome.describe(threshold))
    if audit is not None:
        warning = other_model_warning(audit, embedder.digest, file=str(results))
        if warning is not None:
            _message(warning)
        click.echo(describe_threshold(audit, threshold, file=str(results)))
