"""The dlib backend on real photographs: the identity sample (80 photos of 23 people).

Skips when dlib (the dlib extra) or ``../shared/data`` is absent. The HOG detector runs
over the whole sample; the MMOD CNN, which costs about 20 s of CPU per upsampled
megapixel, over its 40 face-api.js crops (150 x 150 pixels, 8 people).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from _shared import shared_file

pytest.importorskip("cv2")
dlib = pytest.importorskip("dlib")

from faceparity.errors import UsageError  # noqa: E402
from faceparity.pipeline import _dlib  # noqa: E402
from faceparity.pipeline.detect import open_detector  # noqa: E402
from faceparity.pipeline.dlib_embedder import DlibEmbedder  # noqa: E402
from faceparity.pipeline.run import ENROLLED, PipelineSettings, embed_images  # noqa: E402
from faceparity.readers.manifest import read_manifest  # noqa: E402

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def sample() -> Path:
    try:
        _dlib.model_file(_dlib.RESNET_FILE)
    except UsageError as err:
        pytest.skip(str(err))
    return shared_file("identity-sample", "manifest.csv").parent


@pytest.fixture(scope="module")
def crops_manifest(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The face-api.js crops of the sample (40 images of 8 people)."""
    lines = (sample / "manifest.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path_factory.mktemp("dlib") / "crops.csv"
    path.write_text("\n".join([lines[0], *(x for x in lines if x.startswith("faceapi"))]) + "\n")
    return path


def _run(manifest: Path, root: Path, detector: str):
    return embed_images(
        read_manifest(manifest, root=root),
        detector=open_detector(detector),
        embedder=DlibEmbedder(),
        settings=PipelineSettings(threads=2),
    )


def _separation(run) -> tuple[np.ndarray, np.ndarray]:
    """Mated and non-mated Euclidean distances of the enrolled images."""
    keep = [i for i, s in enumerate(run.status) if s == ENROLLED]
    values = np.stack([run.records[i].embedding for i in keep]).astype(np.float64)
    subjects = run.manifest.subject.to_numpy()[keep]
    distance = pdist(values)
    i, j = np.triu_indices(len(keep), 1)
    mated = subjects[i] == subjects[j]
    return distance[mated], distance[~mated]


@pytest.fixture(scope="module")
def hog_run(sample: Path):
    return _run(sample / "manifest.csv", sample, "dlib:hog")


def test_hog_and_resnet_separate_the_identities(hog_run) -> None:
    # measured: every image of the sample gives a face and a template
    assert hog_run.counts() == {ENROLLED: 80, "failure_to_acquire": 0, "failure_to_enrol": 0}
    mated, non_mated = _separation(hog_run)
    assert len(mated) == 132 and len(non_mated) == 3028
    # every mated distance below the 1st percentile of non-mated distances (measured:
    # largest mated 0.657, 1st percentile of non-mated 0.662)
    assert mated.max() < np.quantile(non_mated, 0.01)
    # the record states dlib's convention, which the audit reads
    spec = hog_run.description["spec"]
    assert spec["comparison"] == "euclidean" and spec["threshold"] == 0.6
    assert spec["size"] == 150 and spec["padding"] == 0.25
    # skin tone was measured on every face
    assert all(np.isfinite(r.ita) for r in hog_run.records)


def test_mmod_and_resnet_separate_the_crops(crops_manifest: Path, sample: Path) -> None:
    run = _run(crops_manifest, sample, "dlib:mmod")
    assert run.counts()[ENROLLED] == 40
    mated, non_mated = _separation(run)
    assert mated.max() < np.quantile(non_mated, 0.01)


def test_landmarks_land_on_the_eyes(crops_manifest: Path, sample: Path, tmp_path: Path) -> None:
    """dlib's five points as face_recognition gets them, and chips aligned on them."""
    from PIL import Image

    detector = open_detector("dlib:hog")
    embedder = DlibEmbedder()
    predictor = dlib.shape_predictor(str(_dlib.model_file(_dlib.SHAPE_5_FILE)))
    frontal = dlib.get_frontal_face_detector()
    paths = [line.split(",")[0] for line in crops_manifest.read_text().splitlines()[1:]]
    chip_eyes = []
    for k, relative in enumerate(paths):
        image = np.asarray(Image.open(sample / relative).convert("RGB"))
        face = detector.detect(image)[0]
        # the reference: face_recognition's calls (detector upsampling once, the predictor)
        rects, scores, _ = frontal.run(image, 1, 0.0)
        rect = rects[int(np.argmax(scores))]
        reference = np.array([[p.x, p.y] for p in predictor(image, rect).parts()], float)
        np.testing.assert_array_equal(face.parts, reference)
        x1, y1, x2, y2 = face.box
        image_right_eye, image_left_eye = face.parts[0:2].mean(0), face.parts[2:4].mean(0)
        nose = face.parts[4]
        width = x2 - x1
        # the eyes: side by side in the upper part of the box, above the nose base
        assert image_left_eye[0] < nose[0] < image_right_eye[0]
        assert max(image_left_eye[1], image_right_eye[1]) < nose[1]
        assert 0.25 < (image_right_eye[0] - image_left_eye[0]) / width < 0.6
        assert y1 - 0.1 * width < image_left_eye[1] < y1 + 0.6 * (y2 - y1)
        chip = embedder.align(image, face)
        if k % 8 == 0:
            Image.fromarray(chip).save(tmp_path / f"chip{k}.png")
        # on the chip, the predictor finds the eyes where dlib's alignment put them
        on_chip = predictor(chip, dlib.rectangle(0, 0, 149, 149))
        chip_eyes.append(np.array([[p.x, p.y] for p in on_chip.parts()], float)[:4])
    spread = np.stack(chip_eyes).std(axis=0)
    assert spread.max() < 4.0, spread  # pixels of a 150-pixel chip
    saved = sorted(tmp_path.glob("chip*.png"))
    assert len(saved) == 5
    if os.environ.get("FACEPARITY_KEEP_CHIPS"):
        keep = Path(os.environ["FACEPARITY_KEEP_CHIPS"])
        keep.mkdir(parents=True, exist_ok=True)
        for file in saved:
            (keep / file.name).write_bytes(file.read_bytes())


def test_embed_and_audit_end_to_end(crops_manifest: Path, sample: Path, tmp_path: Path) -> None:
    """faceparity embed, then audit embeddings, as whole processes: scored by distance."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    output = tmp_path / "dlib.parquet"
    embed = [sys.executable, "-m", "faceparity", "embed", str(crops_manifest)]
    embed += ["--root", str(sample), "--detector", "dlib:hog", "--embedder", "dlib"]
    embed += ["--no-cache", "-o", str(output)]
    done = subprocess.run(embed, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    audit = [sys.executable, "-m", "faceparity", "audit", "embeddings", str(output)]
    audit += ["--group-by", "sex", "--fmr", "0.01", "-o", str(tmp_path / "audit")]
    done = subprocess.run(audit, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "audit" / "results.json").read_text())
    assert results["input"]["score_kind"] == "distance"
    point = results["operating_points"][0]
    # the reference: the same decisions counted from the descriptors (distance <= t)
    import pyarrow.parquet as pq

    table = pq.read_table(output)
    values = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    subjects = np.asarray(table.column("subject").to_pylist())
    distance = pdist(values.astype(np.float64))
    i, j = np.triu_indices(len(values), 1)
    mated = subjects[i] == subjects[j]
    threshold = point["threshold"]
    overall = point["overall"]
    assert overall["n_false_non_matches"] == int((distance[mated] > threshold).sum())
    assert overall["n_false_matches"] == int((distance[~mated] <= threshold).sum())
    assert overall["fmr"] <= 0.01
    # the streaming engine compares by cosine: the run is refused, not mis-scored
    stream = [*audit[:-2], "--engine", "stream", "-o", str(tmp_path / "stream")]
    done = subprocess.run(stream, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 2 and "euclidean distance" in done.stderr, done.stderr
