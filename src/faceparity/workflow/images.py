"""Face images to embeddings: open the models, run the pipeline over a manifest, write.

What ``faceparity embed``, ``faceparity verify`` and ``faceparity audit images`` do
before any audit: the pipeline itself is :mod:`faceparity.pipeline`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceparity.errors import UsageError
from faceparity.workflow.outputs import (
    MSG_OUTPUT_NOT_WRITABLE,
    OutputTransaction,
    check_outputs,
    refuse_overwriting,
)
from faceparity.workflow.progress import Message, Progress, no_progress, silent

__all__ = [
    "MSG_CACHE_KEPT",
    "MSG_DETECTOR_SIZE",
    "MSG_DETECTOR_SIZE_UNUSED",
    "MSG_DUPLICATES",
    "MSG_EMBEDDED",
    "MSG_OUTPUT_NOT_WRITABLE",
    "ModelRequest",
    "PipelineRequest",
    "cache_path",
    "check_writable",
    "detector_size",
    "open_models",
    "pipeline_files",
    "run_pipeline",
]


@dataclass(frozen=True)
class ModelRequest:
    """The detector and the face recognition model: what to open, where, on how many threads."""

    embedder: Path
    detector: str = "haar"
    detector_size: str | None = None
    model_spec: Path | None = None
    model_device: str = "auto"
    pipeline_threads: int | None = None


@dataclass(frozen=True)
class PipelineRequest:
    """A pipeline run over a manifest: where the images are, the limits, the cache, the models."""

    root: Path
    models: ModelRequest
    path_column: str = "path"
    subject_column: str = "subject"
    quality: str | None = None
    max_pixels: int | None = None
    batch_size: int = 16
    cache: Path | None = None
    no_cache: bool = False
    no_skin_tone: bool = False


DLIB_EMBEDDER = "dlib"
"""``--embedder dlib``: dlib's 128-d ResNet with dlib's alignment (the dlib extra)."""


def open_models(models: ModelRequest) -> tuple[Any, Any]:
    """The detector (None for ``--detector none``) and the embedder ``models`` names."""
    from faceparity.pipeline.detect import open_detector
    from faceparity.pipeline.detect.session import default_threads
    from faceparity.pipeline.embedder import OnnxEmbedder, read_model_spec

    size = detector_size(models.detector_size, detector=models.detector)
    threads = models.pipeline_threads or default_threads()
    spec = read_model_spec(models.model_spec)
    embedder: Any
    if str(models.embedder) == DLIB_EMBEDDER:
        from faceparity.pipeline.dlib_embedder import DlibEmbedder, DlibSpec

        dlib_spec = DlibSpec.from_model_spec(spec, str(models.model_spec))
        embedder = DlibEmbedder(dlib_spec, device=models.model_device)
    else:
        embedder = OnnxEmbedder(models.embedder, spec, threads=threads, device=models.model_device)
    text = models.detector
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
    name = detector.strip().lower()
    if name in ("haar", "none") or name.startswith("mtcnn:") or Path(detector).is_dir():
        raise UsageError(MSG_DETECTOR_SIZE_UNUSED.format(detector=detector))
    match = re.fullmatch(r"\s*([0-9]{1,5})\s*(?:[xX]\s*([0-9]{1,5})\s*)?", text)
    if match is None:
        raise UsageError(MSG_DETECTOR_SIZE.format(got=text))
    width = int(match.group(1))
    height = width if match.group(2) is None else int(match.group(2))
    if not (1 <= width <= MAX_DETECTOR_SIDE and 1 <= height <= MAX_DETECTOR_SIDE):
        raise UsageError(MSG_DETECTOR_SIZE.format(got=text))
    return width, height


def check_writable(output: Path) -> None:
    """OutputError (exit 73) now, rather than after the pipeline, when ``output`` cannot be made."""
    check_outputs([output])


MSG_DUPLICATES = (
    "warning: byte-identical copies of an earlier image of the manifest: {copies} (column "
    "duplicate_of), {across} of them under another subject; a comparison of two copies "
    "scores as one image compared with itself"
)


def cache_path(output: Path) -> Path:
    """Where the record cache of a pipeline run that writes ``output`` is kept by default."""
    return output.with_name(output.name + ".cache.sqlite")


def pipeline_files(
    manifest: Path, output: Path, request: PipelineRequest
) -> tuple[dict[str, Path | None], dict[str, Path | None]]:
    """The files a pipeline run reads and those it writes, by their command-line names."""
    inputs: dict[str, Path | None] = {
        "MANIFEST": manifest,
        "--embedder": request.models.embedder,
        "--model-spec": request.models.model_spec,
    }
    outputs: dict[str, Path | None] = {"-o/--output": output}
    if not request.no_cache:
        outputs["--cache"] = request.cache or cache_path(output)
    return inputs, outputs


MSG_EMBEDDED = (
    "embedded {images} images: {enrolled} enrolled, {fta} failures to acquire, "
    "{fte} failures to enrol"
)
MSG_CACHE_KEPT = "the record cache {path} (with {added} more images)"


def run_pipeline(
    manifest_path: Path,
    output: Path,
    request: PipelineRequest,
    *,
    check: Callable[[Any], None] | None = None,
    progress: Progress = no_progress,
    message: Message = silent,
    outputs: OutputTransaction | None = None,
) -> Any:
    """Read the manifest, run the pipeline, write ``output`` (Parquet, mode 0600); the run.

    ``check(manifest)`` runs before any image is opened (the audit's own checks of
    ``audit images``), as do the checks of the output path and of the models.

    Given ``outputs`` (``audit images``, which reads the file back), ``output`` is
    written into that transaction and moved into place at once: the transaction takes
    it back if the audit fails. Without, the run is a transaction of its own.

    The record cache is not an output: it is there for a rerun to resume, so a run that
    fails or is interrupted keeps the records it added (and the transaction names the
    cache); a cache file this run created and that holds no record is removed.
    """
    from faceparity.pipeline.cache import RecordCache
    from faceparity.pipeline.detect.session import default_threads
    from faceparity.pipeline.images import ImageLimits
    from faceparity.pipeline.quality import QualityLimits, parse_quality_limits
    from faceparity.pipeline.run import PipelineSettings, embed_images
    from faceparity.readers.manifest import read_manifest

    refuse_overwriting(*pipeline_files(manifest_path, output, request))
    manifest = read_manifest(
        manifest_path,
        root=request.root,
        path_column=request.path_column,
        subject_column=request.subject_column,
    )
    if check is not None:
        check(manifest)
    check_writable(output)
    limits = (
        ImageLimits() if request.max_pixels is None else ImageLimits(max_pixels=request.max_pixels)
    )
    threads = request.models.pipeline_threads or default_threads()
    settings = PipelineSettings(
        quality=QualityLimits()
        if request.quality is None
        else parse_quality_limits(request.quality),
        image_limits=limits,
        batch_size=request.batch_size,
        threads=threads,
        skin_tone=not request.no_skin_tone,
    )
    detector, embedder = open_models(request.models)
    with contextlib.ExitStack() as stack:
        transaction = outputs or stack.enter_context(OutputTransaction(message=message))
        cache = None
        if not request.no_cache:
            cache = RecordCache(request.cache or cache_path(output))
        where = (
            f"the CPU, {threads} threads"
            if embedder.device == "cpu"
            else f"CUDA device {embedder.device.partition(':')[2]}"
        )
        message(f"embedding {len(manifest)} images (model on {where}) ...")
        with _cache_kept(cache, transaction):
            with progress("images") as update:
                run = embed_images(
                    manifest,
                    detector=detector,
                    embedder=embedder,
                    settings=settings,
                    cache=cache,
                    progress=update,
                )
        with transaction.path(output, mode=0o600, now=outputs is not None) as tmp:
            run.write(tmp)
        counts = run.counts()
        message(
            MSG_EMBEDDED.format(
                images=len(manifest),
                enrolled=counts["enrolled"],
                fta=counts["failure_to_acquire"],
                fte=counts["failure_to_enrol"],
            )
            + (f" ({run.n_cached} from the cache)" if run.n_cached else "")
        )
        copies, across = run.duplicates()
        if copies:
            message(MSG_DUPLICATES.format(copies=copies, across=across))
        if outputs is None:
            transaction.commit()
    return run


@contextlib.contextmanager
def _cache_kept(cache: Any, transaction: OutputTransaction) -> Iterator[None]:
    """Close the cache after the block; name it to the transaction when records were added."""
    if cache is None:
        yield
        return
    before = len(cache)
    try:
        yield
    finally:
        added = len(cache) - before
        cache.close()
        if added:
            transaction.keep(MSG_CACHE_KEPT.format(path=cache.path, added=added))
        else:
            cache.discard_if_created()
