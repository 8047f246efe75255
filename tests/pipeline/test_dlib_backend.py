"""The dlib backend: its detectors, alignment and ResNet against dlib's own direct calls.

The reference throughout is dlib called as the ``face_recognition`` library calls it
(detector, 5-point shape predictor, ``compute_face_descriptor(image, shape)``): the
backend must give the same boxes, points, chips and descriptors. Real photographs: the
astronaut photograph of scikit-image here; the identity sample in
``test_dlib_real.py``.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from faceparity.errors import UsageError
from faceparity.model.comparisons import ScoreKind
from faceparity.pipeline import _dlib
from faceparity.scoring.euclidean import euclidean_scores


def test_missing_dlib_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib raises ImportError
    with pytest.raises(UsageError, match=r"pip install 'faceparity\[dlib\]'"):
        _dlib.dlib("the dlib hog detector")


def test_missing_model_files_name_the_extra(monkeypatch) -> None:
    monkeypatch.setattr(_dlib.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError, match=r"shape_predictor_5_face_landmarks.*faceparity\[dlib\]"):
        _dlib.model_file(_dlib.SHAPE_5_FILE)


def test_the_68_point_predictor_is_never_opened() -> None:
    with pytest.raises(ValueError, match="not a CC0 model file"):
        _dlib.model_file("shape_predictor_68_face_landmarks.dat")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("dlib:hog", ("hog", 1)), ("dlib:mmod", ("mmod", 1)), ("DLIB:HOG:0", ("hog", 0))],
)
def test_dlib_specs(spec: str, expected: tuple[str, int]) -> None:
    from faceparity.pipeline.detect.dlib_detect import parse_dlib_spec

    assert parse_dlib_spec(spec) == expected


@pytest.mark.parametrize("spec", ["dlib:", "dlib:cnn", "dlib:hog:x", "dlib:hog:-1"])
def test_bad_dlib_specs(spec: str) -> None:
    from faceparity.pipeline.detect.dlib_detect import parse_dlib_spec

    with pytest.raises(UsageError, match="dlib:hog or dlib:mmod"):
        parse_dlib_spec(spec)


def test_euclidean_scores_match_scipy() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(37, 5)) * rng.uniform(0.5, 2.0, size=(37, 1))
    for block in (1, 4, 2048):
        np.testing.assert_allclose(euclidean_scores(x, block_size=block), pdist(x), atol=1e-12)
    # identical rows: 0, not the square root of a rounding error below 0
    assert euclidean_scores(np.array([[0.1, 0.7, 1e3], [0.1, 0.7, 1e3]]))[0] == 0.0
    assert euclidean_scores(np.zeros((1, 3))).shape == (0,)
    with pytest.raises(ValueError, match="finite"):
        euclidean_scores([[0.0, np.nan], [1.0, 1.0]])


def test_euclidean_tables_are_compared_by_distance() -> None:
    import dataclasses

    import pandas as pd

    from faceparity.readers.embeddings import compare_all, embedding_table

    x = np.array([[1.0, 0.0], [4.0, 4.0], [1.0, 1.0], [2.0, 1.0]])
    subjects = pd.Series(["a", "a", "b", "b"])
    table = embedding_table(
        x, subjects, pd.DataFrame(index=range(4)), [], exclusions=[], file="t", source="t"
    )
    cosine = compare_all(table)
    assert cosine.score_kind is ScoreKind.SIMILARITY
    distance = compare_all(dataclasses.replace(table, comparison="euclidean"))
    assert distance.score_kind is ScoreKind.DISTANCE
    np.testing.assert_allclose(distance.score, pdist(x))
    np.testing.assert_array_equal(distance.mated, cosine.mated)


# --- with dlib -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def dlib():
    module = pytest.importorskip("dlib")
    try:
        _dlib.model_file(_dlib.RESNET_FILE)
    except UsageError as err:
        pytest.skip(str(err))
    return module


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(skimage_data.astronaut())


# MMOD on the CPU costs about 20 s per upsampled megapixel: it runs here without upsampling.
@pytest.mark.parametrize(("kind", "upsample"), [("hog", 1), ("mmod", 0)])
def test_detector_is_dlibs_own(dlib, astronaut, kind: str, upsample: int) -> None:
    from faceparity.pipeline.detect import Detector, open_detector
    from faceparity.pipeline.detect.dlib_detect import DlibFace
    from faceparity.pipeline.faces import choose_face

    detector = open_detector(f"dlib:{kind}:{upsample}")
    assert isinstance(detector, Detector)
    assert detector.name == f"dlib-{kind}"
    faces = detector.detect(astronaut)
    # the reference: dlib called directly, as face_recognition calls it
    if kind == "hog":
        rects, scores, _ = dlib.get_frontal_face_detector().run(astronaut, upsample, 0.0)
    else:
        path = str(_dlib.model_file(_dlib.MMOD_FILE))
        found = dlib.cnn_face_detection_model_v1(path)(astronaut, upsample)
        rects, scores = [d.rect for d in found], [d.confidence for d in found]
    assert len(faces) == len(rects) >= 1
    predictor = dlib.shape_predictor(str(_dlib.model_file(_dlib.SHAPE_5_FILE)))
    for k, face in zip(np.argsort(-np.asarray(scores), kind="stable"), faces, strict=True):
        rect = rects[k]
        assert isinstance(face, DlibFace) and face.landmarks is None
        assert face.score == pytest.approx(scores[k])
        np.testing.assert_array_equal(
            face.box, [rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1]
        )
        shape = predictor(astronaut, rect)
        np.testing.assert_array_equal(face.parts, [[p.x, p.y] for p in shape.parts()])
    # Eileen Collins's face is near (177, 67)-(270, 160) (test_detect_haar.py)
    chosen = choose_face(faces, width=512, height=512)
    assert chosen is not None
    np.testing.assert_allclose(chosen.box, [177.0, 67.0, 270.0, 160.0], atol=25.0)


def test_empty_image_has_no_face(dlib) -> None:
    from faceparity.pipeline.detect import open_detector

    assert open_detector("dlib:hog").detect(np.zeros((60, 80, 3), np.uint8)) == []


def test_alignment_and_descriptor_are_dlibs_own(dlib, astronaut) -> None:
    from faceparity.pipeline.detect import open_detector
    from faceparity.pipeline.dlib_embedder import DlibEmbedder
    from faceparity.pipeline.faces import Face

    face = open_detector("dlib:hog").detect(astronaut)[0]
    embedder = DlibEmbedder()
    chip = embedder.align(astronaut, face)
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
    rect = _dlib.rectangle(dlib, face.box)
    shape = dlib.shape_predictor(str(_dlib.model_file(_dlib.SHAPE_5_FILE)))(astronaut, rect)
    np.testing.assert_array_equal(
        chip, dlib.get_face_chip(astronaut, shape, size=150, padding=0.25)
    )
    # a face of another detector (no dlib points): the predictor runs on its box
    plain = Face(face.box.copy(), face.score)
    np.testing.assert_array_equal(embedder.align(astronaut, plain), chip)
    embeddings, usable = embedder.embed(np.stack([chip, chip[:, ::-1].copy()]))
    assert embeddings.shape == (2, 128) and embeddings.dtype == np.float32
    assert usable.tolist() == [True, True]
    model = dlib.face_recognition_model_v1(str(_dlib.model_file(_dlib.RESNET_FILE)))
    direct = np.array(model.compute_face_descriptor(astronaut, shape))
    np.testing.assert_allclose(embeddings[0], direct, atol=1e-5)
    # not normalised: dlib's descriptors are compared by Euclidean distance as they are
    assert abs(float(np.linalg.norm(direct)) - 1.0) > 0.05
    assert float(np.linalg.norm(embeddings[0] - embeddings[1])) < 0.6  # mirror: same person


def test_embedder_refuses_cuda_and_foreign_specs(dlib) -> None:
    from faceparity.pipeline.dlib_embedder import DlibEmbedder, DlibSpec
    from faceparity.pipeline.embedder import ModelSpec

    with pytest.raises(UsageError, match="--device cpu"):
        DlibEmbedder(device="cuda")
    with pytest.raises(UsageError, match="size = 150"):
        DlibSpec.from_model_spec(ModelSpec(size=160), "spec.toml")
    with pytest.raises(UsageError, match="got layout = 'NHWC'"):
        DlibSpec.from_model_spec(ModelSpec(size=150, layout="NHWC"), "spec.toml")
    assert DlibSpec.from_model_spec(ModelSpec(name="x", size=150), "s").name == "x"


def test_example_spec_opens(dlib) -> None:
    from pathlib import Path

    from faceparity.pipeline.dlib_embedder import DlibSpec
    from faceparity.pipeline.embedder import read_model_spec

    file = Path(__file__).resolve().parents[2] / "examples" / "models" / "dlib-resnet.toml"
    spec = DlibSpec.from_model_spec(read_model_spec(file), str(file))
    assert spec == DlibSpec()


def test_two_image_comparison_refuses_distance_templates(dlib) -> None:
    from faceparity.pipeline.dlib_embedder import DlibEmbedder
    from faceparity.pipeline.pair import compare_images

    with pytest.raises(UsageError, match="compared by euclidean distance"):
        compare_images("a.png", "b.png", detector=None, embedder=DlibEmbedder())  # type: ignore[arg-type]


def test_pipeline_run_records_and_caches_dlib_templates(dlib, astronaut, tmp_path) -> None:
    """Through embed_images: dlib's descriptor, the record's convention, the cache."""
    from PIL import Image

    from faceparity.pipeline.cache import RecordCache
    from faceparity.pipeline.detect import open_detector
    from faceparity.pipeline.dlib_embedder import DlibEmbedder
    from faceparity.pipeline.run import ENROLLED, PipelineSettings, embed_images
    from faceparity.readers.manifest import read_manifest

    Image.fromarray(astronaut).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "blank.png")
    (tmp_path / "m.csv").write_text("path,subject\na.png,s1\nblank.png,s2\n")
    manifest = read_manifest(tmp_path / "m.csv", root=tmp_path)
    detector, embedder = open_detector("dlib:hog"), DlibEmbedder()
    cache = RecordCache(tmp_path / "cache.sqlite")
    settings = PipelineSettings(threads=2)
    run = embed_images(
        manifest, detector=detector, embedder=embedder, settings=settings, cache=cache
    )
    assert run.status == [ENROLLED, "failure_to_acquire"]
    assert run.description["spec"]["comparison"] == "euclidean"
    assert run.description["providers"] == ["dlib"]
    face = detector.detect(astronaut)[0]
    chip = embedder.align(astronaut, face)
    expected, _ = embedder.embed(chip[None])
    np.testing.assert_array_equal(run.records[0].embedding, expected[0])
    assert np.isfinite(run.records[0].ita)
    again = embed_images(
        manifest, detector=detector, embedder=embedder, settings=settings, cache=cache
    )
    assert again.n_cached == 2
    np.testing.assert_array_equal(again.records[0].embedding, expected[0])
    # images that are chips already (--detector none): embedded as they are
    Image.fromarray(chip).save(tmp_path / "chip.png")
    (tmp_path / "c.csv").write_text("path,subject\nchip.png,s1\n")
    chips = embed_images(
        read_manifest(tmp_path / "c.csv", root=tmp_path),
        detector=None,
        embedder=embedder,
        settings=settings,
    )
    np.testing.assert_allclose(chips.records[0].embedding, expected[0], atol=1e-6)
