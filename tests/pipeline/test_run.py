"""The pipeline run end to end: manifest in, records and embeddings out, cache, resume."""

from __future__ import annotations

import io
import math
import stat
from pathlib import Path

import numpy as np
import pytest
from _onnx_models import face_image, tiny_embedder, write_png

from faceparity.pipeline.align import ARCFACE_TEMPLATE
from faceparity.pipeline.cache import RecordCache
from faceparity.pipeline.embedder import OnnxEmbedder
from faceparity.pipeline.images import (
    REASON_CORRUPT,
    REASON_NOT_IMAGE,
    REASON_TOO_MANY_PIXELS,
    ImageLimits,
)
from faceparity.pipeline.quality import QualityLimits
from faceparity.pipeline.run import (
    ACQUIRE,
    ENROL,
    ENROLLED,
    REASON_NO_FACE,
    REASON_NO_TEMPLATE,
    REASON_QUALITY,
    PipelineSettings,
    embed_images,
)
from faceparity.readers.manifest import read_manifest
from faceparity.readers.pipeline_output import load_pipeline_output

pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")


def _dataset(root: Path, subjects: int = 4, samples: int = 3) -> Path:
    """Aligned face crops of several subjects, and bad files; the manifest."""
    rows = ["path,subject,sex"]
    for s in range(subjects):
        for k in range(samples):
            write_png(root / f"s{s}" / f"{k}.png", face_image(s, k))
            rows.append(f"s{s}/{k}.png,subj{s},{'F' if s % 2 else 'M'}")
    (root / "bad").mkdir(parents=True, exist_ok=True)
    (root / "bad" / "text.png").write_text("not an image")
    png = io.BytesIO()
    from PIL import Image

    Image.fromarray(face_image(0, 9)).save(png, format="PNG")
    (root / "bad" / "cut.png").write_bytes(png.getvalue()[:300])
    Image.new("1", (8000, 8000)).save(root / "bad" / "bomb.png")
    write_png(root / "bad" / "dark.png", np.full((112, 112, 3), 3, dtype=np.uint8))
    rows += [
        "bad/text.png,subj0,M",
        "bad/cut.png,subj1,F",
        "bad/bomb.png,subj2,M",
        "bad/missing.png,subj3,F",
        "bad/dark.png,subj3,F",
    ]
    manifest = root.parent / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


@pytest.fixture
def setting(tmp_path: Path) -> tuple[Path, Path, OnnxEmbedder]:
    root = tmp_path / "images"
    manifest = _dataset(root)
    embedder = OnnxEmbedder(tiny_embedder(tmp_path / "model.onnx"), threads=1)
    return manifest, root, embedder


SETTINGS = PipelineSettings(
    quality=QualityLimits(min_inter_eye=None, min_brightness=0.05),
    image_limits=ImageLimits(max_pixels=10_000_000),
    batch_size=4,
    threads=2,
)


def test_outcomes_reasons_and_embeddings(setting: tuple[Path, Path, OnnxEmbedder]) -> None:
    manifest_path, root, embedder = setting
    manifest = read_manifest(manifest_path, root=root)
    run = embed_images(manifest, detector=None, embedder=embedder, settings=SETTINGS)
    assert run.status[:12] == [ENROLLED] * 12
    assert run.status[12:] == [ACQUIRE, ACQUIRE, ACQUIRE, ACQUIRE, ENROL]
    assert run.reasons[12:16] == [
        REASON_NOT_IMAGE,
        REASON_CORRUPT,
        REASON_TOO_MANY_PIXELS,
        "unreadable file",
    ]
    assert run.reasons[16] == REASON_QUALITY
    assert run.details[16] == "brightness 0.01176 below the limit of 0.05"
    assert run.counts() == {ENROLLED: 12, ACQUIRE: 4, ENROL: 1}
    # The embeddings are the model's on the crops themselves (aligned input: no detector).
    crops = np.stack([face_image(s, k) for s in range(4) for k in range(3)])
    expected, _ = embedder.embed(crops)
    got = np.stack([r.embedding for r in run.records[:12]])  # type: ignore[misc]
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_output_file_is_owner_only_and_reads_back(
    setting: tuple[Path, Path, OnnxEmbedder], tmp_path: Path
) -> None:
    manifest_path, root, embedder = setting
    run = embed_images(
        read_manifest(manifest_path, root=root), detector=None, embedder=embedder, settings=SETTINGS
    )
    out = tmp_path / "out" / "embeddings.parquet"
    run.write(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not [p for p in out.parent.iterdir() if p.name != out.name]  # no temporary left
    from faceparity.readers.attributes import AttributeSpec

    table, records = load_pipeline_output(out, attributes=[AttributeSpec("sex", ("sex",))])
    assert len(table.subject) == 12
    assert table.rows.tolist() == list(range(12))
    np.testing.assert_allclose(
        table.values,
        np.stack([r.embedding for r in run.records[:12]]),
        atol=1e-7,  # type: ignore[misc]
    )
    assert records.status == run.status
    assert records.reasons == run.reasons
    assert records.levels["sex"] == ("F", "M")
    assert records.description["detector"] == "none (aligned crops)"
    assert [e.reason for e in table.exclusions][0].startswith("image without a template")


def test_cache_makes_a_rerun_skip_done_work_and_limits_apply_after_it(
    setting: tuple[Path, Path, OnnxEmbedder], tmp_path: Path
) -> None:
    manifest_path, root, embedder = setting
    manifest = read_manifest(manifest_path, root=root)
    cache = RecordCache(tmp_path / "cache.sqlite")
    first = embed_images(manifest, detector=None, embedder=embedder, settings=SETTINGS, cache=cache)
    assert first.n_cached == 0
    # Every image with bytes is cached (the missing file has none).
    assert len(cache) == 16
    again = embed_images(manifest, detector=None, embedder=embedder, settings=SETTINGS, cache=cache)
    assert again.n_cached == 16
    assert again.status == first.status
    for a, b in zip(first.records, again.records, strict=True):
        assert (a.embedding is None) == (b.embedding is None)
        if a.embedding is not None:
            np.testing.assert_array_equal(a.embedding, b.embedding)
    # Looser limits need no new inference: the dark image is enrolled from the cache.
    loose = PipelineSettings(
        quality=QualityLimits.none(), image_limits=SETTINGS.image_limits, batch_size=4
    )
    relaxed = embed_images(manifest, detector=None, embedder=embedder, settings=loose, cache=cache)
    assert relaxed.n_cached == 16
    assert relaxed.status[16] == ENROLLED
    # Another model misses the cache.
    other = OnnxEmbedder(tiny_embedder(tmp_path / "other.onnx", seed=9), threads=1)
    fresh = embed_images(manifest, detector=None, embedder=other, settings=SETTINGS, cache=cache)
    assert fresh.n_cached == 0
    cache.close()


def test_an_interrupted_run_resumes_from_the_cache(
    setting: tuple[Path, Path, OnnxEmbedder], tmp_path: Path
) -> None:
    manifest_path, root, embedder = setting
    manifest = read_manifest(manifest_path, root=root)
    cache = RecordCache(tmp_path / "cache.sqlite")

    def stop(done: int, total: int) -> None:
        if done >= 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed_images(
            manifest,
            detector=None,
            embedder=embedder,
            settings=SETTINGS,
            cache=cache,
            progress=stop,
        )
    saved = len(cache)
    assert 8 <= saved < 16
    resumed = embed_images(
        manifest, detector=None, embedder=embedder, settings=SETTINGS, cache=cache
    )
    assert resumed.n_cached == saved
    whole = embed_images(manifest, detector=None, embedder=embedder, settings=SETTINGS)
    assert resumed.status == whole.status
    for a, b in zip(resumed.records, whole.records, strict=True):
        if a.embedding is not None:
            np.testing.assert_array_equal(a.embedding, b.embedding)
    cache.close()


def test_a_model_without_usable_output_fails_enrolment(
    setting: tuple[Path, Path, OnnxEmbedder], tmp_path: Path
) -> None:
    manifest_path, root, _ = setting
    zero = OnnxEmbedder(tiny_embedder(tmp_path / "zero.onnx", output_scale=0.0), threads=1)
    run = embed_images(
        read_manifest(manifest_path, root=root), detector=None, embedder=zero, settings=SETTINGS
    )
    assert run.status[:12] == [ENROL] * 12
    assert run.reasons[:12] == [REASON_NO_TEMPLATE] * 12


def test_landmark_detector_aligns_onto_the_template(tmp_path: Path) -> None:
    """A detector that reports the template's landmarks: alignment is the identity."""
    from _detect_models import Anchor, save_model, scrfd_outputs

    from faceparity.pipeline.detect import open_detector

    kps = tuple(float(v) for v in (ARCFACE_TEMPLATE / 8.0).reshape(-1))
    face = Anchor(stride=8, row=0, col=0, score=0.9, box=(0.0, 0.0, 14.0, 14.0), kps=kps)
    model = save_model(
        tmp_path / "scrfd.onnx",
        scrfd_outputs([face], size=(112, 112)),
        input_shape=(1, 3, 112, 112),
    )
    detector = open_detector(f"scrfd:{model}", threads=1)
    root = tmp_path / "images"
    write_png(root / "a.png", face_image(1, 0))
    write_png(root / "b.png", face_image(2, 0))
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,subject\na.png,1\nb.png,2\n")
    embedder = OnnxEmbedder(tiny_embedder(tmp_path / "model.onnx"), threads=1)
    run = embed_images(
        read_manifest(manifest, root=root), detector=detector, embedder=embedder, settings=SETTINGS
    )
    assert run.status == [ENROLLED, ENROLLED]
    assert run.records[0].n_faces == 1
    assert run.records[0].quality["inter_eye_distance"] == pytest.approx(35.24, abs=0.01)
    expected, _ = embedder.embed(np.stack([face_image(1, 0), face_image(2, 0)]))
    np.testing.assert_allclose(np.stack([r.embedding for r in run.records]), expected, atol=1e-5)  # type: ignore[misc]
    assert "SCRFD" in run.description["detector"]


def test_haar_finds_the_astronaut_and_no_face_in_noise(tmp_path: Path) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    from faceparity.pipeline.detect import open_detector

    root = tmp_path / "images"
    write_png(root / "astronaut.png", skimage_data.astronaut())
    noise = np.random.default_rng(0).integers(0, 256, size=(200, 200, 3), dtype=np.uint8)
    write_png(root / "noise.png", noise)
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,subject\nastronaut.png,eileen\nnoise.png,nobody\n")
    embedder = OnnxEmbedder(tiny_embedder(tmp_path / "model.onnx"), threads=1)
    run = embed_images(
        read_manifest(manifest, root=root),
        detector=open_detector("haar"),
        embedder=embedder,
        settings=SETTINGS,
    )
    assert run.status == [ENROLLED, ACQUIRE]
    assert run.reasons[1] == REASON_NO_FACE
    x1, y1, x2, y2 = run.records[0].box
    assert 150 < (x1 + x2) / 2 < 260 and 60 < (y1 + y2) / 2 < 170
    assert np.isfinite(run.records[0].ita)


def test_a_manifest_column_the_pipeline_writes_is_refused(tmp_path: Path) -> None:
    from faceparity.errors import InputError

    root = tmp_path / "images"
    write_png(root / "a.png", face_image(0, 0))
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,subject,ita_band\na.png,1,light\n")
    embedder = OnnxEmbedder(tiny_embedder(tmp_path / "model.onnx"), threads=1)
    with pytest.raises(InputError) as err:
        embed_images(read_manifest(manifest, root=root), detector=None, embedder=embedder)
    assert err.value.location.column == "ita_band"
    assert err.value.message.startswith("column 'ita_band': expected manifest columns other")


def test_nothing_enrolled_still_writes_the_records(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    (root / "a.png").write_text("no")
    (root / "b.png").write_text("no")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,subject\na.png,1\nb.png,2\n")
    embedder = OnnxEmbedder(tiny_embedder(tmp_path / "model.onnx"), threads=1)
    run = embed_images(read_manifest(manifest, root=root), detector=None, embedder=embedder)
    assert run.status == [ACQUIRE, ACQUIRE]
    out = tmp_path / "e.parquet"
    run.write(out)
    from faceparity.errors import InputError

    with pytest.raises(InputError, match="expected at least 2 samples"):
        load_pipeline_output(out)


@pytest.mark.parametrize(
    "change",
    [
        {"skin_tone": False},
        {"image_limits": ImageLimits(max_pixels=1000)},
        {"image_limits": ImageLimits(max_bytes=1000)},
    ],
)
def test_every_setting_that_shapes_a_record_changes_the_cache_key(
    tmp_path: Path, change: dict[str, object]
) -> None:
    import dataclasses

    from faceparity.pipeline.detect import open_detector
    from faceparity.pipeline.run import pipeline_digest

    embedder = OnnxEmbedder(tiny_embedder(tmp_path / "model.onnx"), threads=1)
    base = PipelineSettings()
    changed = dataclasses.replace(base, **change)  # type: ignore[arg-type]
    assert pipeline_digest(None, embedder, base) != pipeline_digest(None, embedder, changed)
    # Enrolment limits are applied after the cache: they do not change the key.
    looser = dataclasses.replace(base, quality=QualityLimits.none())
    assert pipeline_digest(None, embedder, base) == pipeline_digest(None, embedder, looser)
    haar = open_detector("haar")
    assert pipeline_digest(haar, embedder, base) != pipeline_digest(None, embedder, base)
    strict = open_detector("haar", score_threshold=8)
    assert pipeline_digest(haar, embedder, base) != pipeline_digest(strict, embedder, base)


def test_opencv_runs_on_one_thread_during_the_run_only(
    setting: tuple[Path, Path, OnnxEmbedder],
) -> None:
    """The pool parallelises over images: OpenCV's threads are held to one, then restored."""
    cv2 = pytest.importorskip("cv2")
    from faceparity.pipeline.faces import Face

    seen: list[int] = []

    class Spy:
        name = "spy"
        description = "records OpenCV's threads"

        def detect(self, image: np.ndarray) -> list[Face]:
            seen.append(cv2.getNumThreads())
            return [Face(np.array([0.0, 0.0, image.shape[1], image.shape[0]]), 0.9)]

    manifest_path, root, embedder = setting
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    try:
        run = embed_images(
            read_manifest(manifest_path, root=root),
            detector=Spy(),  # type: ignore[arg-type]
            embedder=embedder,
            settings=SETTINGS,
        )
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)
    assert run.counts()[ENROLLED] == 12
    assert seen and set(seen) == {1}


@pytest.mark.parametrize("cached", [False, True])
def test_byte_identical_copies_are_flagged_not_dropped(tmp_path: Path, cached: bool) -> None:
    """A copy names the first image with its bytes, whether its record is new or cached."""
    import pyarrow.parquet as pq

    root = tmp_path / "images"
    for s in range(3):
        write_png(root / f"{s}.png", face_image(s, 0))
    (root / "copy_same.png").write_bytes((root / "0.png").read_bytes())
    (root / "copy_other.png").write_bytes((root / "0.png").read_bytes())
    (root / "copy_of_1.png").write_bytes((root / "1.png").read_bytes())
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,subject\n0.png,a\n1.png,b\n2.png,c\ncopy_same.png,a\ncopy_other.png,c\n"
        "copy_of_1.png,b\nmissing.png,c\n"
    )
    embedder = OnnxEmbedder(tiny_embedder(tmp_path / "model.onnx"), threads=1)
    cache = RecordCache(tmp_path / "cache.sqlite")
    table = read_manifest(manifest, root=root)
    run = embed_images(table, detector=None, embedder=embedder, settings=SETTINGS, cache=cache)
    if cached:
        run = embed_images(table, detector=None, embedder=embedder, settings=SETTINGS, cache=cache)
        assert run.n_cached == 6
    cache.close()
    assert run.duplicate_of == [None, None, None, "0.png", "0.png", "1.png", None]
    assert run.duplicates() == (3, 1)  # copy_other.png is subject c's, 0.png subject a's
    assert run.counts()[ENROLLED] == 6  # flagged, not dropped
    run.write(tmp_path / "out.parquet")
    column = pq.read_table(tmp_path / "out.parquet", columns=["duplicate_of"]).column(0)
    assert column.to_pylist() == run.duplicate_of


def test_subject_ita_is_the_median_of_the_subjects_images(
    setting: tuple[Path, Path, OnnxEmbedder],
) -> None:
    import pyarrow.parquet as pq

    from faceparity.pipeline.skintone import ita_band

    manifest_path, root, embedder = setting
    run = embed_images(
        read_manifest(manifest_path, root=root), detector=None, embedder=embedder, settings=SETTINGS
    )
    ita = np.array([r.ita for r in run.records])
    subjects = run.manifest.subject.tolist()
    got = run.subject_ita()
    for i, s in enumerate(subjects):
        own = ita[[j for j, t in enumerate(subjects) if t == s]]
        own = own[np.isfinite(own)]
        expected = float(np.median(own)) if own.size else np.nan
        np.testing.assert_equal(got[i], expected)
    assert np.isfinite(got[:12]).all()
    # One band per subject, whatever the bands of its images.
    bands = {
        s: {ita_band(v) for v, t in zip(got, subjects, strict=True) if t == s} for s in subjects
    }
    assert all(len(b) == 1 for b in bands.values())
    out = root.parent / "out.parquet"
    run.write(out)
    table = pq.read_table(out, columns=["subject_ita", "subject_ita_band"]).to_pydict()
    np.testing.assert_array_equal(np.array(table["subject_ita"], float), got)
    assert table["subject_ita_band"] == [ita_band(v) for v in got]


def test_opencv_threads_in_overlapping_runs_restores_once_all_end() -> None:
    """Two runs in two threads: one thread until the last ends, then the setting before."""
    import threading

    cv2 = pytest.importorskip("cv2")
    from faceparity.pipeline._deps import opencv_threads

    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    a_in, b_in, a_out, b_out = (threading.Event() for _ in range(4))
    seen: dict[str, int] = {}

    def run(name: str, entered: threading.Event, leave: threading.Event) -> None:
        with opencv_threads(1):
            entered.set()
            leave.wait(5)
            seen[name] = cv2.getNumThreads()

    try:
        a = threading.Thread(target=run, args=("a", a_in, a_out))
        b = threading.Thread(target=run, args=("b", b_in, b_out))
        a.start()
        a_in.wait(5)
        b.start()
        b_in.wait(5)
        a_out.set()
        a.join(5)
        seen["between"] = cv2.getNumThreads()  # b still runs
        b_out.set()
        b.join(5)
        seen["after"] = cv2.getNumThreads()
    finally:
        cv2.setNumThreads(before)
    assert seen == {"a": 1, "between": 1, "b": 1, "after": 3}


def test_subject_ita_by_hand() -> None:
    """Median of each subject's images with an ITA; NaN and no band for a subject with none."""
    import pandas as pd

    from faceparity.pipeline.run import EmbeddingRun, ImageRecord
    from faceparity.readers.manifest import Manifest

    ita = [10.0, 40.0, 20.0, 30.0, math.nan, 50.0, math.nan, math.nan]
    subject = ["a", "a", "a", "a", "a", "b", "c", "c"]
    n = len(ita)
    manifest = Manifest(
        file="m.csv",
        root=Path("."),
        paths=[f"{i}.png" for i in range(n)],
        files=[Path(f"{i}.png") for i in range(n)],
        subject=pd.Series(subject, index=range(10, 10 + n)),  # a label index, not 0..n-1
        attributes=pd.DataFrame(index=range(n)),
        path_column="path",
        subject_column="subject",
    )
    records = [ImageRecord(acquired=not math.isnan(v), ita=v) for v in ita]
    run = EmbeddingRun(manifest, records, [ENROLLED] * n, [""] * n, [""] * n, {}, 0)
    # a: median of 10, 40, 20, 30 (four values) is 25; b: 50; c: none.
    expected = [25.0] * 5 + [50.0] + [math.nan] * 2
    np.testing.assert_array_equal(run.subject_ita(), expected)
    table = run.to_arrow()
    assert table.column("subject_ita_band").to_pylist() == ["tan"] * 5 + ["light"] + [None] * 2
    # Copies are counted by position, whatever the subject series' index.
    copies = [None, "0.png", None, None, None, "0.png", None, "6.png"]
    flagged = EmbeddingRun(manifest, records, [ENROLLED] * n, [""] * n, [""] * n, {}, 0, copies)
    assert flagged.duplicates() == (3, 1)  # 5.png is subject b's, 0.png subject a's


def test_each_processed_image_is_timed_and_a_cached_one_is_not(
    setting: tuple[Path, Path, OnnxEmbedder], tmp_path: Path
) -> None:
    manifest_path, root, embedder = setting
    manifest = read_manifest(manifest_path, root=root)
    cache = RecordCache(tmp_path / "cache.sqlite")
    first = embed_images(manifest, detector=None, embedder=embedder, settings=SETTINGS, cache=cache)
    seconds = np.asarray(first.seconds)
    assert seconds.shape == (len(manifest),)
    assert np.all(seconds >= 0) and np.all(np.isfinite(seconds))  # the missing file too
    again = embed_images(manifest, detector=None, embedder=embedder, settings=SETTINGS, cache=cache)
    cache.close()
    cached = np.asarray(again.seconds)
    # Cached records were not processed in this run: not timed (the missing file is read).
    assert int(np.isnan(cached).sum()) == again.n_cached == 16
    out = tmp_path / "out.parquet"
    again.write(out)
    _, records = load_pipeline_output(out)
    assert records.seconds is not None
    np.testing.assert_array_equal(records.seconds, cached)
