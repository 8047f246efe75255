"""The image commands: ``faceparity embed`` and ``faceparity verify``, and their options.

``faceparity audit images`` (in :mod:`faceparity.cli.audit`) takes the same pipeline
options. As everywhere in the command line, nothing is computed here: the run is
:func:`faceparity.workflow.images.run_pipeline`, the pipeline :mod:`faceparity.pipeline`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from faceparity.cli.support import F, _message, _reported, progress_bar, with_options
from faceparity.errors import UsageError
from faceparity.workflow.images import ModelRequest, PipelineRequest, open_models, run_pipeline

__all__ = [
    "PIPELINE_KEYS",
    "embed",
    "model_options",
    "model_request",
    "pipeline_options",
    "pipeline_request",
    "verify",
]


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
            help="haar (OpenCV's cascade, no download), dlib:hog or dlib:mmod (dlib's "
            "detectors with its 5-point shape predictor; the dlib extra), scrfd:MODEL.onnx, "
            "yunet:MODEL.onnx, MODEL.onnx (format recognised), mtcnn:DIR or DIR (MTCNN's "
            "pnet.onnx, rnet.onnx, onet.onnx), or none (the images are aligned crops already).",
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
            help="The ONNX face recognition model under audit, or dlib (dlib's 128-d "
            "ResNet with dlib's alignment, compared by Euclidean distance; the dlib extra).",
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


def model_request(opts: dict[str, Any]) -> ModelRequest:
    """The ModelRequest of the options of :func:`model_options`."""
    return ModelRequest(
        embedder=opts["embedder"],
        detector=opts["detector"],
        detector_size=opts["detector_size"],
        model_spec=opts["model_spec"],
        model_device=opts["model_device"],
        pipeline_threads=opts["pipeline_threads"],
    )


def pipeline_request(opts: dict[str, Any]) -> PipelineRequest:
    """The PipelineRequest of the options of :func:`pipeline_options`."""
    return PipelineRequest(
        root=opts["root"],
        models=model_request(opts),
        path_column=opts["path_column"],
        subject_column=opts["subject_column"],
        quality=opts["quality"],
        max_pixels=opts["max_pixels"],
        batch_size=opts["batch_size"],
        cache=opts["cache"],
        no_cache=opts["no_cache"],
        no_skin_tone=opts["no_skin_tone"],
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
    run_pipeline(manifest, output, pipeline_request(opts), progress=progress_bar, message=_message)


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
    detector, embedder = open_models(model_request(opts))
    outcome = compare_images(image_a, image_b, detector=detector, embedder=embedder)
    click.echo(outcome.describe(threshold))
    if audit is not None:
        warning = other_model_warning(audit, embedder.digest, file=str(results))
        if warning is not None:
            _message(warning)
        click.echo(describe_threshold(audit, threshold, file=str(results)))


PIPELINE_KEYS = frozenset(p.name for p in embed.params) - {"manifest", "output"}
"""The options of ``audit images`` that belong to the pipeline (those of ``embed``)."""
