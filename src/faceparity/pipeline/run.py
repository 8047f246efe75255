"""The pipeline run: a manifest of images in, one record per image and its embedding out.

For each image of the manifest, in order: read the file (:mod:`.images`), detect the
faces and pick one (:mod:`.detect`, :func:`.faces.choose_face`), align it
(:mod:`.align`), measure its quality (:mod:`.quality`) and skin tone
(:mod:`.skintone`), and embed it with the model under audit (:mod:`.embedder`).
Reading, decoding, detection, alignment and the measures run on a pool of threads
(Pillow, OpenCV and onnxruntime release the GIL) while the main thread runs the model
on batches, so the stages overlap; OpenCV's own threads within a call are held to one
for the run (:func:`._deps.opencv_threads`), as the pool already uses the cores.

Every image ends in one of three outcomes (ISO/IEC 19795-1, 4.3.2 and 4.3.3):

``enrolled``
    A template was made.
``failure_to_acquire``
    No face could be captured: the file is unreadable, not an image, corrupt, over a
    limit, or no face was found in it.
``failure_to_enrol``
    A face was found but no usable template made: its quality is below a stated
    limit (:class:`~faceparity.pipeline.quality.QualityLimits`), or the model gave
    no usable embedding.

The reason is recorded with each failure. The record of each image (outcome, face
box, quality measures, skin tone, embedding) is cached by image content and pipeline
(:class:`~faceparity.pipeline.cache.RecordCache`), so a rerun skips done work and an
interrupted run resumes. Quality limits are applied after the cache, so changing them
needs no new inference.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceparity.errors import InputError, Location
from faceparity.io import atomic_path
from faceparity.pipeline import _deps
from faceparity.pipeline.align import align_face
from faceparity.pipeline.cache import RecordCache
from faceparity.pipeline.faces import Face, choose_face
from faceparity.pipeline.images import Decoded, ImageFailure, ImageLimits, decode_image, read_image
from faceparity.pipeline.quality import ImageQuality, QualityLimits, measure_quality
from faceparity.pipeline.skintone import ita_band, skin_ita
from faceparity.readers.manifest import Manifest
from faceparity.readers.pipeline_output import METADATA_KEY, OUTPUT_KIND
from faceparity.results.acquisition import ACQUIRE, ENROL, ENROLLED
from faceparity.results.documents import EMBEDDINGS_VERSION

if TYPE_CHECKING:
    from typing import TypeAlias

    import pyarrow as pa

    from faceparity.pipeline.detect import Detector
    from faceparity.pipeline.dlib_embedder import DlibEmbedder
    from faceparity.pipeline.embedder import OnnxEmbedder

    Embedder: TypeAlias = OnnxEmbedder | DlibEmbedder

Aligner = Callable[[npt.NDArray[np.uint8], Face | None], npt.NDArray[np.uint8]]
"""An image and its face (None: the image is an aligned crop) in, the model's crop out."""

__all__ = [
    "ACQUIRE",
    "ENROL",
    "ENROLLED",
    "REASON_NO_FACE",
    "REASON_NO_TEMPLATE",
    "EmbeddingRun",
    "ImageRecord",
    "PipelineSettings",
    "embed_images",
]

REASON_NO_FACE = "no face found"
REASON_NO_TEMPLATE = "model gave no usable embedding"
REASON_QUALITY = "quality below the limits"

OUTPUT_VERSION = EMBEDDINGS_VERSION
"""Version of the output file (2: ``subject_ita``, ``subject_ita_band``, ``duplicate_of``)."""
RECORD_VERSION = 1
"""Version of an image's record, part of the cache key: a new one makes old records misses."""

_QUALITY_FIELDS = [f for f in ImageQuality.__dataclass_fields__]

PIPELINE_COLUMNS = (
    "status",
    "reason",
    "detail",
    "n_faces",
    "face_score",
    "box_x1",
    "box_y1",
    "box_x2",
    "box_y2",
    *_QUALITY_FIELDS,
    "ita",
    "ita_band",
    "subject_ita",
    "subject_ita_band",
    "duplicate_of",
    "processing_seconds",
    "embedding",
)
"""Columns the pipeline writes beside the manifest's: a manifest may not use these names."""

MSG_RESERVED_COLUMN = (
    "column {column!r}: expected manifest columns other than those the pipeline writes "
    "({reserved}); rename it"
)


@dataclass(frozen=True)
class PipelineSettings:
    """How the pipeline runs (the detector and model are passed apart).

    Parameters
    ----------
    quality : QualityLimits
        Enrolment limits; an acquired face below one is a failure to enrol.
    image_limits : ImageLimits
        File size and pixel limits of decoding.
    batch_size : int
        Crops per inference call.
    threads : int
        Threads for reading, decoding, detection and alignment.
    skin_tone : bool
        Measure the Individual Typology Angle of each aligned face.

    """

    quality: QualityLimits = field(default_factory=QualityLimits)
    image_limits: ImageLimits = ImageLimits()
    batch_size: int = 16
    threads: int = 2
    skin_tone: bool = True


@dataclass
class ImageRecord:
    """What happened to one image (before the enrolment limits are applied)."""

    acquired: bool
    reason: str = ""
    detail: str = ""
    n_faces: int = 0
    face_score: float = math.nan
    box: tuple[float, float, float, float] = (math.nan,) * 4
    quality: dict[str, float] = field(default_factory=dict)
    ita: float = math.nan
    embedding: npt.NDArray[np.float32] | None = None

    def to_bytes(self) -> bytes:
        """The record as stored in the cache: JSON, a NUL, the embedding's float32 bytes."""
        head = {k: v for k, v in asdict(self).items() if k != "embedding"}
        body = b"" if self.embedding is None else self.embedding.astype("<f4").tobytes()
        return json.dumps(head).encode() + b"\0" + body

    @classmethod
    def from_bytes(cls, data: bytes) -> ImageRecord | None:
        """The record :meth:`to_bytes` stored; None for bytes that are not one (a miss)."""
        head, _, body = data.partition(b"\0")
        try:
            values = json.loads(head)
            values["box"] = tuple(float(v) for v in values["box"])
            embedding = np.frombuffer(body, dtype="<f4").astype(np.float32) if body else None
            return cls(**values, embedding=embedding)
        except (ValueError, TypeError, KeyError):
            return None


@dataclass(frozen=True, eq=False)
class EmbeddingRun:
    """The outcome of a run: one row per manifest image.

    Attributes
    ----------
    manifest : Manifest
    records : list of ImageRecord
    status : list of str
        ``enrolled``, ``failure_to_acquire`` or ``failure_to_enrol``.
    reasons : list of str
        The failure's reason ("" when enrolled).
    details : list of str
        What exactly failed ("" when enrolled): the limit, the decoder's message.
    description : dict
        The pipeline: detector, model, spec, limits (written to the output's metadata).
    n_cached : int
        Images whose record came from the cache.
    duplicate_of : list of str or None
        For an image whose bytes are identical to an earlier image's of the manifest,
        that image's path; else ``None``. Byte-identical copies are kept (and flagged),
        not dropped: a mated comparison of two copies scores as the same image, and
        copies under two subjects are a labelling error that scores as a false match.
    seconds : list of float
        Per image, the wall time of its processing in this run on this machine: reading
        to measuring on its pool thread, plus its share of its batch's inference; NaN
        for an image whose record came from the cache (not processed in this run).

    """

    manifest: Manifest
    records: list[ImageRecord]
    status: list[str]
    reasons: list[str]
    details: list[str]
    description: dict[str, Any]
    n_cached: int
    duplicate_of: list[str | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Images per outcome."""
        return {s: self.status.count(s) for s in (ENROLLED, ACQUIRE, ENROL)}

    def subject_ita(self) -> npt.NDArray[np.float64]:
        """Per image, the median ITA of its subject's images that have one (NaN if none).

        One skin tone per subject, so that a subject's images fall in one band and a
        grouping by ``subject_ita_band`` keeps every mated comparison, where the
        per-image ``ita_band`` can split a subject whose photographs differ in lighting.
        """
        import pandas as pd

        ita = pd.Series([r.ita for r in self.records], dtype=np.float64)
        subject = pd.Series(self.manifest.subject.to_numpy(), dtype=object)
        return ita.groupby(subject).transform("median").to_numpy(dtype=np.float64)

    def duplicates(self) -> tuple[int, int]:
        """Byte-identical copies of an earlier image: in all, and under another subject."""
        index = {path: i for i, path in enumerate(self.manifest.paths)}
        subjects = self.manifest.subject.to_numpy()
        copies = [(i, index[p]) for i, p in enumerate(self.duplicate_of) if p is not None]
        across = sum(1 for i, first in copies if subjects[i] != subjects[first])
        return len(copies), across

    def to_arrow(self) -> pa.Table:
        """The output table: metadata columns, outcome, measures, skin tone, embedding."""
        import pyarrow as pa

        m = self.manifest
        columns: dict[str, Any] = {
            m.path_column: pa.array(m.paths, pa.string()),
            m.subject_column: pa.array(m.subject.tolist(), pa.string()),
        }
        for name in m.attributes.columns:
            columns[name] = pa.array(m.attributes[name].tolist(), from_pandas=True)
        columns["status"] = pa.array(self.status, pa.string())
        columns["reason"] = pa.array(self.reasons, pa.string())
        columns["detail"] = pa.array(self.details, pa.string())
        columns["n_faces"] = pa.array([r.n_faces for r in self.records], pa.int32())
        columns["face_score"] = _floats([r.face_score for r in self.records])
        for k, name in enumerate(("box_x1", "box_y1", "box_x2", "box_y2")):
            columns[name] = _floats([r.box[k] for r in self.records])
        for name in _QUALITY_FIELDS:
            columns[name] = _floats([r.quality.get(name, math.nan) for r in self.records])
        columns["ita"] = _floats([r.ita for r in self.records])
        columns["ita_band"] = pa.array([ita_band(r.ita) for r in self.records], pa.string())
        per_subject = self.subject_ita()
        columns["subject_ita"] = _floats(per_subject.tolist())
        columns["subject_ita_band"] = pa.array([ita_band(v) for v in per_subject], pa.string())
        duplicate_of = self.duplicate_of or [None] * len(self.records)
        columns["duplicate_of"] = pa.array(duplicate_of, pa.string())
        seconds = self.seconds or [math.nan] * len(self.records)
        columns["processing_seconds"] = _floats(seconds)
        columns["embedding"] = _embedding_column(self.records, self.status)
        meta = {"kind": OUTPUT_KIND, "version": OUTPUT_VERSION, **self.description}
        table = pa.table(columns)
        return table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the Parquet output atomically, readable by its owner only (mode 0600)."""
        import pyarrow.parquet as pq

        with atomic_path(Path(path), mode=0o600) as tmp:
            pq.write_table(self.to_arrow(), tmp)


def _floats(values: list[float]) -> pa.Array:
    import pyarrow as pa

    return pa.array(values, pa.float64(), from_pandas=True)


def _embedding_column(records: list[ImageRecord], status: list[str]) -> pa.Array:
    """Enrolled images' embeddings as a fixed-size list column; null for failures."""
    import pyarrow as pa

    dims = {
        len(r.embedding)
        for r, s in zip(records, status, strict=True)
        if s == ENROLLED and r.embedding is not None
    }
    d = dims.pop() if dims else 0
    values = np.zeros((len(records), d), dtype=np.float32)
    mask = np.ones(len(records), dtype=bool)
    for i, (r, s) in enumerate(zip(records, status, strict=True)):
        if s == ENROLLED and r.embedding is not None:
            values[i] = r.embedding
            mask[i] = False
    if d == 0:  # nothing enrolled: a list column of nulls
        return pa.array([None] * len(records), pa.list_(pa.float32()))
    flat = pa.array(values.reshape(-1), pa.float32())
    column = pa.FixedSizeListArray.from_arrays(flat, d)
    if mask.any():
        column = pa.FixedSizeListArray.from_arrays(flat, d, mask=pa.array(mask))
    return column


def pipeline_digest(
    detector: Detector | None, embedder: Embedder, settings: PipelineSettings
) -> str:
    """Digest of everything before the enrolment limits that shapes an image's record.

    The detector (its settings and model or cascade file), the model and its spec (the
    alignment size among them), the decoding limits and whether skin tone is measured.
    """
    parts = {
        "detector": None if detector is None else _fingerprint(detector),
        "model": embedder.digest,
        "image_limits": asdict(settings.image_limits),
        "skin_tone": settings.skin_tone,
        "version": RECORD_VERSION,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _fingerprint(detector: Detector) -> str:
    """The detector's settings and, for a model file, the digest of its contents."""
    from faceparity.pipeline.embedder import file_digest

    model = getattr(detector, "model", None)
    path = getattr(model, "path", None) or getattr(detector, "path", None)  # ONNX, cascade
    digest = file_digest(path) if path is not None else ""
    return f"{detector.description}|{digest}"


@dataclass
class _Pending:
    """An image in flight: its cache key, and its record and crop once prepared."""

    index: int
    key: str | None
    record: ImageRecord
    crop: npt.NDArray[np.uint8] | None
    cached: bool = False
    content: bytes | None = None  # SHA-256 of the file's bytes, when it could be read
    seconds: float = math.nan  # wall time of reading to measuring, on its pool thread


def embed_images(
    manifest: Manifest,
    *,
    detector: Detector | None,
    embedder: Embedder,
    settings: PipelineSettings = PipelineSettings(),
    cache: RecordCache | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EmbeddingRun:
    """Run the pipeline over every image of a manifest.

    Parameters
    ----------
    manifest : Manifest
        The images, checked (:func:`~faceparity.readers.manifest.read_manifest`).
    detector : Detector or None
        The face detector; ``None`` when the images are aligned crops already (each
        is resized to the model's input size; no face is searched for).
    embedder : OnnxEmbedder or DlibEmbedder
        The model under audit; one with its own ``align`` (dlib's) aligns its faces,
        else they are aligned onto the ArcFace template at the model's input size.
    settings : PipelineSettings
        Limits, batch size, threads.
    cache : RecordCache, optional
        Where records are looked up and stored.
    progress : callable, optional
        Called with ``(images done, images in all)``.

    Returns
    -------
    EmbeddingRun

    """
    for column in manifest.attributes.columns:
        if column in PIPELINE_COLUMNS:
            raise InputError(
                MSG_RESERVED_COLUMN.format(column=column, reserved=", ".join(PIPELINE_COLUMNS)),
                Location(manifest.file, None, column),
            )
    align, own = _aligner(embedder)
    digest = pipeline_digest(detector, embedder, settings)
    n = len(manifest)
    records: list[ImageRecord | None] = [None] * n
    first_copy: dict[bytes, int] = {}  # content digest -> first image with those bytes
    duplicate_of: list[str | None] = [None] * n
    seconds = [math.nan] * n
    batch: list[_Pending] = []
    n_cached = 0
    done = 0

    def flush() -> None:
        nonlocal done
        if not batch:
            return
        faces = [p for p in batch if p.crop is not None]
        if faces:
            crops = [p.crop for p in faces if p.crop is not None]
            start = time.perf_counter()
            embeddings, usable = embedder.embed(np.stack(crops))
            share = (time.perf_counter() - start) / len(faces)  # the batch's time, shared
            for p, e, ok in zip(faces, embeddings, usable, strict=True):
                p.record.embedding = e.copy() if ok else None
                p.seconds += share
        for p in batch:
            records[p.index] = p.record
            seconds[p.index] = p.seconds
        if cache is not None:
            cache.put_many((p.key, p.record.to_bytes()) for p in batch if p.key is not None)
        done += len(batch)
        batch.clear()
        if progress is not None:
            progress(done, n)

    def prepare(i: int) -> _Pending:
        return _prepare(i, manifest.files[i], detector, align, own, settings, digest, cache)

    with _deps.opencv_threads(1), ThreadPoolExecutor(max_workers=settings.threads) as pool:
        for pending in _in_order(pool, prepare, n, window=4 * settings.batch_size):
            if pending.content is not None:
                first = first_copy.setdefault(pending.content, pending.index)
                if first != pending.index:
                    duplicate_of[pending.index] = manifest.paths[first]
            if pending.cached:
                records[pending.index] = pending.record
                n_cached += 1
                done += 1
                if progress is not None and done % settings.batch_size == 0:
                    progress(done, n)
                continue
            batch.append(pending)
            if len(batch) == settings.batch_size:
                flush()
        flush()
    if progress is not None:
        progress(n, n)
    assert all(r is not None for r in records), "every image has a record"
    final = [r for r in records if r is not None]
    status, reasons, details = _outcomes(final, settings.quality)
    description = {
        "detector": "none (aligned crops)" if detector is None else detector.description,
        "model": embedder.file,
        "model_digest": embedder.digest,
        "providers": embedder.providers,
        "spec": embedder.spec.to_dict(),
        "quality_limits": asdict(settings.quality),
        "pipeline_digest": digest,
        "skin_tone": settings.skin_tone,
        "path_column": manifest.path_column,
        "subject_column": manifest.subject_column,
    }
    return EmbeddingRun(
        manifest, final, status, reasons, details, description, n_cached, duplicate_of, seconds
    )


def _aligner(embedder: Embedder) -> tuple[Aligner, bool]:
    """The embedder's own alignment (and True), or the ArcFace template's at its size."""
    own: Aligner | None = getattr(embedder, "align", None)
    if own is not None:
        return own, True
    size = embedder.spec.size

    def arcface(image: npt.NDArray[np.uint8], face: Face | None) -> npt.NDArray[np.uint8]:
        return align_face(image, face, size=size)

    return arcface, False


def _in_order(
    pool: ThreadPoolExecutor, work: Callable[[int], _Pending], n: int, *, window: int
) -> Iterator[_Pending]:
    """``work(0)``, ..., ``work(n - 1)`` on the pool, yielded in order, ``window`` in flight."""
    queue: deque[Future[_Pending]] = deque()
    for i in range(n):
        queue.append(pool.submit(work, i))
        if len(queue) >= window:
            yield queue.popleft().result()
    while queue:
        yield queue.popleft().result()


def _prepare(
    index: int,
    file: Path,
    detector: Detector | None,
    align: Aligner,
    own_alignment: bool,
    settings: PipelineSettings,
    digest: str,
    cache: RecordCache | None,
) -> _Pending:
    """Read, look up, decode, detect, align and measure one image (on a pool thread)."""
    start = time.perf_counter()
    pending = _prepare_untimed(index, file, detector, align, own_alignment, settings, digest, cache)
    if not pending.cached:
        pending.seconds = time.perf_counter() - start
    return pending


def _prepare_untimed(
    index: int,
    file: Path,
    detector: Detector | None,
    align: Aligner,
    own_alignment: bool,
    settings: PipelineSettings,
    digest: str,
    cache: RecordCache | None,
) -> _Pending:
    data, failure = read_image(file, settings.image_limits)
    if data is None:
        assert failure is not None
        return _Pending(index, None, _failed(failure), None)
    content = hashlib.sha256(data).digest()
    key = RecordCache.key(content.hex(), digest)
    if cache is not None:
        hit = cache.get(key)
        record = None if hit is None else ImageRecord.from_bytes(hit)
        if record is not None:
            return _Pending(index, key, record, None, cached=True, content=content)
    decoded = decode_image(data, settings.image_limits)
    del data
    if isinstance(decoded, ImageFailure):
        return _Pending(index, key, _failed(decoded), None, content=content)
    record, crop = _face_record(decoded, detector, align, own_alignment, settings.skin_tone)
    return _Pending(index, key, record, crop, content=content)


def _failed(failure: ImageFailure) -> ImageRecord:
    return ImageRecord(acquired=False, reason=failure.reason, detail=failure.detail)


def _face_record(
    decoded: Decoded,
    detector: Detector | None,
    align: Aligner,
    own_alignment: bool,
    skin_tone: bool,
) -> tuple[ImageRecord, npt.NDArray[np.uint8] | None]:
    """Detect, choose, align and measure the face of a decoded image.

    Skin tone is read from regions of the ArcFace template, so where the model aligns
    its faces its own way (dlib's chip), it is measured on the ArcFace crop instead.
    """
    image = decoded.pixels
    if detector is None:
        face = None
        n_faces = 1
    else:
        faces = detector.detect(image)
        n_faces = len(faces)
        face = choose_face(faces, width=decoded.width, height=decoded.height)
        if face is None:
            return ImageRecord(acquired=False, reason=REASON_NO_FACE), None
    crop = align(image, face)
    whole = Face(np.array([0.0, 0.0, decoded.width, decoded.height]), math.nan)
    quality = measure_quality(face if face is not None else whole, crop)
    record = ImageRecord(
        acquired=True,
        n_faces=n_faces,
        face_score=math.nan if face is None else float(face.score),
        box=tuple(float(v) for v in (whole if face is None else face).box),  # type: ignore[arg-type]
        quality=quality.as_dict(),
        ita=(
            skin_ita(align_face(image, face) if own_alignment else crop) if skin_tone else math.nan
        ),
    )
    return record, crop


def _outcomes(
    records: list[ImageRecord], limits: QualityLimits
) -> tuple[list[str], list[str], list[str]]:
    """Each image's outcome, reason and detail, the enrolment limits applied."""
    status, reasons, details = [], [], []
    for r in records:
        failed = limits.reasons(ImageQuality(**r.quality)) if r.acquired else ()
        if not r.acquired:
            outcome = (ACQUIRE, r.reason, r.detail)
        elif failed:
            outcome = (ENROL, REASON_QUALITY, "; ".join(failed))
        elif r.embedding is None:
            outcome = (ENROL, REASON_NO_TEMPLATE, "")
        else:
            outcome = (ENROLLED, "", "")
        status.append(outcome[0])
        reasons.append(outcome[1])
        details.append(outcome[2])
    return status, reasons, details
