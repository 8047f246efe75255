"""`faceparity embed`, `audit embeddings` on its output, `audit images` and `verify`."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _onnx_models import face_image, tiny_embedder, write_png
from click.testing import CliRunner

from faceparity import cli

pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")


def _run(args: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli.main, [str(a) for a in args], catch_exceptions=False)


def _audit_images(manifest: Path, root: Path, model: Path, out: Path) -> None:
    """`audit images` of aligned crops by sex at FMR 0.01, without intervals or report."""
    args = ["audit", "images", manifest, "--root", root, "--detector", "none"]
    args += ["--embedder", model, "--group-by", "sex", "--fmr", "0.01"]
    result = _run([*args, "--intervals", "none", "-o", out, "--no-report"])
    assert result.exit_code == 0, result.output


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, Path, Path]:
    """8 subjects x 3 aligned crops, a non-image in group M; the manifest and a model."""
    root = tmp_path / "images"
    rows = ["path,subject,sex"]
    for s in range(8):
        for k in range(3):
            write_png(root / f"{s}_{k}.png", face_image(s, k))
            rows.append(f"{s}_{k}.png,p{s},{'F' if s < 4 else 'M'}")
    (root / "broken.png").write_text("nope")
    rows.append("broken.png,p7,M")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest, root, tiny_embedder(tmp_path / "model.onnx")


def test_embed_then_audit_embeddings(images: tuple[Path, Path, Path], tmp_path: Path) -> None:
    manifest, root, model = images
    out = tmp_path / "emb.parquet"
    result = _run(
        ["embed", manifest, "--root", root, "--detector", "none", "--embedder", model, "-o", out]
    )
    assert result.exit_code == 0, result.output
    assert "24 enrolled, 1 failures to acquire, 0 failures to enrol" in result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    cache = tmp_path / "emb.parquet.cache.sqlite"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    again = _run(
        ["embed", manifest, "--root", root, "--detector", "none", "--embedder", model, "-o", out]
    )
    assert "(25 from the cache)" in again.stderr
    assert "25/25" in again.stderr

    audit_dir = tmp_path / "audit"
    result = _run(
        [
            "audit",
            "embeddings",
            out,
            "--group-by",
            "sex",
            "--fmr",
            "0.01",
            "-o",
            audit_dir,
            "--replicates",
            "50",
            "--no-report",
        ]
    )
    assert result.exit_code == 0, result.output
    data = json.loads((audit_dir / "results.json").read_text())
    acquisition = data["acquisition"]
    by_label = {g["label"]: g for g in acquisition["groups"]}
    assert by_label["F"]["n_images"] == 12 and by_label["F"]["n_failure_to_acquire"] == 0
    assert by_label["M"]["n_images"] == 13 and by_label["M"]["n_failure_to_acquire"] == 1
    assert by_label["M"]["fta"] == pytest.approx(1 / 13)
    assert by_label["M"]["reasons"] == {"not an image": 1}
    assert acquisition["pipeline"]["detector"] == "none (aligned crops)"
    point = acquisition["fnmr_with_failures"][0]
    fnmr = {g["label"]: g["fnmr"] for g in data["operating_points"][0]["groups"]}
    fnmr["overall"] = data["operating_points"][0]["overall"]["fnmr"]
    by_label["overall"] = acquisition["overall"]
    assert [row["label"] for row in point["groups"]] == ["overall", "F", "M"]
    for row in point["groups"]:
        fta = by_label[row["label"]]["fta"]
        assert row["fnmr_with_failures"] == pytest.approx(fta + (1 - fta) * fnmr[row["label"]])
    assert data["input"]["n_samples"] == 24
    # The 1:1 audit compares the enrolled images only: 24 templates, 276 comparisons.
    assert data["input"]["n_comparisons"] == 24 * 23 // 2


def test_audit_images_in_one_go(images: tuple[Path, Path, Path], tmp_path: Path) -> None:
    manifest, root, model = images
    out = tmp_path / "audit"
    result = _run(
        [
            "audit",
            "images",
            manifest,
            "--root",
            root,
            "--detector",
            "none",
            "--embedder",
            model,
            "--group-by",
            "sex",
            "--fmr",
            "0.01",
            "--intervals",
            "clopper-pearson",
            "-o",
            out,
            "--no-report",
        ]
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((out / "embeddings.parquet").stat().st_mode) == 0o600
    data = json.loads((out / "results.json").read_text())
    assert {g["label"] for g in data["acquisition"]["groups"]} == {"F", "M"}
    assert "failure" in result.output.lower()
    # Time per image by group: the median of the embeddings file's column, by sex.
    import pyarrow.parquet as pq

    table = pq.read_table(out / "embeddings.parquet", columns=["sex", "processing_seconds"])
    sex = np.asarray(table.column("sex").to_pylist())
    seconds = table.column("processing_seconds").to_numpy(zero_copy_only=False)
    timing = data["processing_time"]
    assert "measures this machine" in timing["notes"][0]
    for group in timing["groups"]:
        mine = seconds[sex == group["label"]]
        assert group["n_images"] == group["n_timed"] == mine.size
        assert group["median_seconds"] == pytest.approx(float(np.median(mine)))
    assert timing["overall"]["n_images"] == 25
    log = data["test_log"]
    roles = [f["role"] for f in log["input_files"]]
    assert roles[0] == "MANIFEST" and "--embedder" in roles


@pytest.mark.parametrize("band", ["ita_band", "subject_ita_band"])
def test_group_by_skin_tone_band(
    images: tuple[Path, Path, Path], tmp_path: Path, band: str
) -> None:
    manifest, root, model = images
    out = tmp_path / "emb.parquet"
    _run(["embed", manifest, "--root", root, "--detector", "none", "--embedder", model, "-o", out])
    result = _run(
        [
            "audit",
            "embeddings",
            out,
            "--group-by",
            band,
            "--fmr",
            "0.05",
            "--intervals",
            "none",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    if band == "ita_band":
        # The broken file has no face, so no skin tone: counted, but in no band.
        assert data["acquisition"]["n_ungrouped"] == 1
        assert sum(g["n_images"] for g in data["acquisition"]["groups"]) == 24
    else:
        # Its subject's other images give it their band; no mated pair leaves its group.
        assert data["acquisition"]["n_ungrouped"] == 0
        assert sum(g["n_images"] for g in data["acquisition"]["groups"]) == 25
        assert sum(g["n_mated"] for g in data["groups"]) == data["overall"]["n_mated"]


def test_bad_manifest_exits_2_and_writes_nothing(
    images: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    manifest, root, model = images
    bad = tmp_path / "bad.csv"
    bad.write_text("path,subject\n../outside.png,p1\n")
    out = tmp_path / "emb.parquet"
    result = _run(["embed", bad, "--root", root, "--embedder", model, "-o", out])
    assert result.exit_code == 2
    assert f"{bad}, row 1, column 'path': expected an image path inside the root" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_bad_model_and_spec_exit_2(images: tuple[Path, Path, Path], tmp_path: Path) -> None:
    manifest, root, _ = images
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"junk")
    result = _run(
        ["embed", manifest, "--root", root, "--embedder", junk, "-o", tmp_path / "e.parquet"]
    )
    assert result.exit_code == 2
    assert "could not be loaded by onnxruntime" in result.stderr
    result = _run(
        [
            "embed",
            manifest,
            "--root",
            root,
            "--embedder",
            junk,
            "--quality",
            "max_yaw=abc",
            "-o",
            tmp_path / "e.parquet",
        ]
    )
    assert result.exit_code == 2


def test_audit_embeddings_without_metadata_needs_a_pipeline_file(tmp_path: Path) -> None:
    path = tmp_path / "e.npy"
    np.save(path, np.zeros((3, 4)))
    result = _run(["audit", "embeddings", path, "--group-by", "sex"])
    assert result.exit_code == 2
    assert "--metadata, --sample-id, --subject: required" in result.stderr


def test_verify_two_images(images: tuple[Path, Path, Path], tmp_path: Path) -> None:
    manifest, root, model = images
    same = _run(
        [
            "verify",
            root / "0_0.png",
            root / "0_1.png",
            "--detector",
            "none",
            "--embedder",
            model,
            "--threshold",
            "0.9",
        ]
    )
    assert same.exit_code == 0, same.output
    assert "decision at threshold 0.9: match" in same.stdout
    other = _run(
        [
            "verify",
            root / "0_0.png",
            root / "5_1.png",
            "--detector",
            "none",
            "--embedder",
            model,
            "--threshold",
            "0.9",
        ]
    )
    assert "no match" in other.stdout
    score = float(other.stdout.split("score: ")[1].split()[0])
    from faceparity.pipeline.embedder import OnnxEmbedder

    e, _ = OnnxEmbedder(model).embed(np.stack([face_image(0, 0), face_image(5, 1)]))
    assert score == pytest.approx(float(e[0] @ e[1]), abs=1e-6)
    broken = _run(
        [
            "verify",
            root / "broken.png",
            root / "0_1.png",
            "--detector",
            "none",
            "--embedder",
            model,
            "--threshold",
            "0.5",
        ]
    )
    assert broken.exit_code == 2
    assert "broken.png: no template could be made: not an image" in broken.stderr


def test_verify_with_an_audit_says_which_operating_point(
    images: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    manifest, root, model = images
    out = tmp_path / "audit"
    _audit_images(manifest, root, model, out)
    data = json.loads((out / "results.json").read_text())
    threshold = data["operating_points"][0]["threshold"]
    result = _run(
        [
            "verify",
            root / "0_0.png",
            root / "0_1.png",
            "--detector",
            "none",
            "--embedder",
            model,
            "--threshold",
            repr(threshold),
            "--results",
            out / "results.json",
        ]
    )
    assert result.exit_code == 0, result.output
    assert (
        "nearest operating point of the audit: target FMR 0.01 (global), "
        f"threshold {threshold:.6f} (this threshold)" in result.stdout
    )
    assert "  F: " in result.stdout and "  M: " in result.stdout


def test_verify_warns_when_the_audit_is_of_another_model(
    images: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    manifest, root, model = images
    out = tmp_path / "audit"
    _audit_images(manifest, root, model, out)
    other = tiny_embedder(tmp_path / "other.onnx", seed=4)
    result = _run(
        [
            "verify",
            root / "0_0.png",
            root / "0_1.png",
            "--detector",
            "none",
            "--embedder",
            other,
            "--threshold",
            "0.5",
            "--results",
            out / "results.json",
        ]
    )
    assert result.exit_code == 0
    assert "is of another model or model spec" in result.stderr


def test_a_group_whose_images_all_fail_is_kept(
    images: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    manifest, root, model = images
    (root / "x1.png").write_text("no")
    (root / "x2.png").write_text("no")
    with manifest.open("a") as handle:
        handle.write("x1.png,q1,X\nx2.png,q2,X\n")
    out = tmp_path / "audit"
    _audit_images(manifest, root, model, out)
    data = json.loads((out / "results.json").read_text())
    x = next(g for g in data["acquisition"]["groups"] if g["label"] == "X")
    assert (x["n_images"], x["n_enrolled"], x["fta"]) == (2, 0, 1.0)
    rows = data["acquisition"]["fnmr_with_failures"][0]["groups"]
    assert {"label": "X", "fnmr": None, "fnmr_with_failures": 1.0} in rows
    assert "X" not in {g["label"] for g in data["operating_points"][0]["groups"]}


def test_audit_options_are_checked_before_any_image(
    images: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    manifest, root, model = images
    out = tmp_path / "audit"
    base = ["audit", "images", manifest, "--root", root, "--detector", "none"]
    base += ["--embedder", model, "-o", out]
    result = _run([*base, "--group-by", "nonexistent"])
    assert result.exit_code == 2
    assert "--group-by / --attribute: nonexistent is neither a column of" in result.stderr
    result = _run([*base, "--group-by", "sex", "--fmr", "2"])
    assert result.exit_code == 2
    assert not out.exists()  # no embeddings, no cache


def test_an_output_that_cannot_be_written_stops_before_the_pipeline(
    images: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    manifest, root, model = images
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = blocker / "e.parquet"
    result = _run(["embed", manifest, "--root", root, "--embedder", model, "-o", out])
    assert result.exit_code == 73
    assert f"cannot write {out}: {blocker} is not a writable directory" in result.stderr
    assert "embedding" not in result.stderr


def _free_size_scrfd(path: Path, side: int) -> Path:
    """An SCRFD model with a free input size whose outputs fit a ``side``-square canvas.

    One face centred on the canvas (stride 8), with landmarks 16 canvas pixels apart.
    """
    from _detect_models import Anchor, save_model, scrfd_outputs

    kps = (-1.0, -0.5, 1.0, -0.5, 0.0, 0.5, -0.5, 1.5, 0.5, 1.5)
    cell = side // 16
    face = Anchor(8, cell, cell, 0, 0.9, (2.0, 2.0, 2.0, 2.0), kps)
    outputs = scrfd_outputs([face], size=(side, side))
    return save_model(path, outputs, input_shape=(1, 3, "height", "width"))


def test_detector_size_sets_the_canvas(images: tuple[Path, Path, Path], tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from faceparity.readers.pipeline_output import METADATA_KEY

    manifest, root, model = images
    detector = _free_size_scrfd(tmp_path / "scrfd.onnx", 64)
    out = tmp_path / "emb.parquet"
    args = ["embed", manifest, "--root", root, "--embedder", model, "--no-cache", "-o", out]
    result = _run([*args, "--detector", f"scrfd:{detector}", "--detector-size", "64"])
    assert result.exit_code == 0, result.output
    assert "24 enrolled, 1 failures to acquire" in result.stderr
    meta = json.loads(pq.read_schema(out).metadata[METADATA_KEY])
    assert "input 64x64" in meta["detector"]
    # The face at the canvas's centre, (16, 16, 48, 48), maps back x 112 / 64 onto the image.
    table = pq.read_table(out, columns=["status", "box_x1", "box_x2"]).to_pandas()
    enrolled = table[table["status"] == "enrolled"]
    np.testing.assert_allclose(enrolled[["box_x1", "box_x2"]], [[28.0, 84.0]] * 24)


@pytest.mark.parametrize(
    ("size", "detector", "message"),
    [
        ("abc", "scrfd", "--detector-size: expected WIDTHxHEIGHT or SIDE"),
        ("64x", "scrfd", "--detector-size: expected WIDTHxHEIGHT or SIDE"),
        ("0", "scrfd", "--detector-size: expected WIDTHxHEIGHT or SIDE"),
        ("40", "scrfd", "each a positive multiple of 32"),
        ("256", "haar", "--detector-size applies to an ONNX detector"),
    ],
)
def test_bad_detector_size_exits_2(
    images: tuple[Path, Path, Path], tmp_path: Path, size: str, detector: str, message: str
) -> None:
    manifest, root, model = images
    if detector == "scrfd":
        detector = f"scrfd:{_free_size_scrfd(tmp_path / 'scrfd.onnx', 64)}"
    out = tmp_path / "emb.parquet"
    args = ["embed", manifest, "--root", root, "--embedder", model, "-o", out]
    result = _run([*args, "--detector", detector, "--detector-size", size])
    assert result.exit_code == 2
    assert message in result.stderr
    assert not out.exists()


def test_embed_warns_of_byte_identical_copies(
    images: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    manifest, root, model = images
    (root / "copy.png").write_bytes((root / "0_0.png").read_bytes())
    manifest.write_text(manifest.read_text() + "copy.png,p5,M\n")
    out = tmp_path / "emb.parquet"
    result = _run(
        ["embed", manifest, "--root", root, "--detector", "none", "--embedder", model, "-o", out]
    )
    assert result.exit_code == 0, result.output
    assert "warning: byte-identical copies of an earlier image of the manifest: 1" in result.stderr
    assert "1 of them under another subject" in result.stderr


@pytest.mark.parametrize(
    ("text", "size"),
    [("640", (640, 640)), ("640x480", (640, 480)), ("640X480", (640, 480)), (" 256 ", (256, 256))],
)
def test_detector_size_parses(text: str, size: tuple[int, int]) -> None:
    from faceparity.workflow.images import detector_size

    assert detector_size(text, detector="scrfd:m.onnx") == size
    assert detector_size(None, detector="haar") is None


@pytest.mark.parametrize("text", ["\u00b2", "\u0664\u0660", "99999", "4097", "0x0", "256x0", "-32"])
def test_detector_size_refuses(text: str) -> None:
    from faceparity.errors import UsageError
    from faceparity.workflow.images import MSG_DETECTOR_SIZE, detector_size

    with pytest.raises(UsageError) as err:
        detector_size(text, detector="scrfd:m.onnx")
    assert str(err.value) == MSG_DETECTOR_SIZE.format(got=text)


def test_embed_says_where_the_model_runs_and_cuda_without_cuda_exits_2(
    images: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    manifest, root, model = images
    out = tmp_path / "emb.parquet"
    args = ["embed", manifest, "--root", root, "--detector", "none", "--embedder", model]
    result = _run([*args, "--threads", "2", "-o", out])  # --device auto, the default
    assert result.exit_code == 0, result.output
    assert "(model on the CPU, 2 threads)" in result.stderr
    result = _run([*args, "--device", "cuda:1", "-o", tmp_path / "other.parquet"])
    assert result.exit_code == 2
    assert "--device cuda:1: onnxruntime here has no CUDA execution provider" in result.stderr
    assert not (tmp_path / "other.parquet").exists()


def test_the_detector_runs_on_the_models_cuda_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """The detector gets the CUDA device the model started on (stubs: no GPU here)."""
    import faceparity.pipeline.detect as detect
    import faceparity.pipeline.embedder as embedder
    from faceparity.workflow.images import ModelRequest, open_models

    class OnCuda:
        device = "cuda:1"

        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

    opened: dict[str, object] = {}
    monkeypatch.setattr(embedder, "OnnxEmbedder", OnCuda)
    monkeypatch.setattr(detect, "open_detector", lambda spec, **kw: opened.update(kw) or "det")
    models = ModelRequest(
        detector="scrfd:d.onnx",
        detector_size=None,
        pipeline_threads=2,
        model_spec=None,
        embedder=Path("m.onnx"),
        model_device="auto",
    )
    detector, model = open_models(models)
    assert detector == "det" and isinstance(model, OnCuda)
    assert opened["providers"] == [("CUDAExecutionProvider", {"device_id": 1})]


def _listing(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


def _failing_at_the_audit_step(manifest: Path, root: Path, model: Path, out: Path) -> list[str]:
    """`audit images` whose audit stops after the pipeline: 276 comparisons, 10 allowed."""
    args = ["audit", "images", manifest, "--root", root, "--detector", "none"]
    args += ["--embedder", model, "--group-by", "sex", "--fmr", "0.01", "--intervals", "none"]
    return [*args, "--engine", "exact", "--max-comparisons", "10", "-o", out]


def test_audit_images_failing_at_the_audit_step_leaves_the_embeddings_as_they_were(
    images: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    manifest, root, model = images
    out = tmp_path / "audit"
    out.mkdir()
    (out / "embeddings.parquet").write_bytes(b"an earlier run's embeddings")
    (out / "results.json").write_bytes(b"an earlier run's results")
    result = _run(_failing_at_the_audit_step(manifest, root, model, out))
    assert result.exit_code == 2, result.output
    assert "24 enrolled" in result.stderr  # the pipeline ran; its audit failed
    listing = _listing(out)
    assert listing.pop("embeddings.parquet.cache.sqlite") is not None
    assert listing == {
        "embeddings.parquet": b"an earlier run's embeddings",
        "results.json": b"an earlier run's results",
    }
    cache = out / "embeddings.parquet.cache.sqlite"
    assert result.stderr.strip().splitlines()[-1] == (
        f"nothing was written but the record cache {cache} (with 25 more images), "
        "kept for a rerun to resume"
    )
    args = ["audit", "images", manifest, "--root", root, "--detector", "none"]
    args += ["--embedder", model, "--group-by", "sex", "--fmr", "0.01", "--intervals", "none"]
    rerun = _run([*args, "-o", out, "--no-report"])
    assert rerun.exit_code == 0, rerun.output
    assert "(25 from the cache)" in rerun.stderr


def test_audit_images_failing_at_the_audit_step_without_a_cache_leaves_nothing(
    images: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    manifest, root, model = images
    before = _listing(tmp_path)
    args = _failing_at_the_audit_step(manifest, root, model, tmp_path / "a")
    result = _run([*args, "--no-cache"])
    assert result.exit_code == 2, result.output
    assert _listing(tmp_path) == before
    assert result.stderr.strip().splitlines()[-1] == "nothing was written"


def test_embed_interrupted_midway_keeps_the_cache_and_says_so(
    images: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faceparity.pipeline.run as pipeline_run

    manifest, root, model = images
    embed_images = pipeline_run.embed_images

    def stop_midway(*args: Any, progress: Any, **kwargs: Any) -> Any:
        def update(done: int, total: int) -> None:
            progress(done, total)
            if done >= 8:
                raise KeyboardInterrupt

        return embed_images(*args, progress=update, **kwargs)

    monkeypatch.setattr(pipeline_run, "embed_images", stop_midway)
    out = tmp_path / "e.parquet"
    args = ["embed", manifest, "--root", root, "--detector", "none", "--embedder", model]
    result = _run([*args, "--batch-size", "4", "-o", out])
    assert result.exit_code == 130, result.output
    cache = tmp_path / "e.parquet.cache.sqlite"
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"interrupted; nothing was written but the record cache {cache} (with ")
    assert last.endswith(" more images), kept for a rerun to resume")
    assert not out.exists() and cache.exists()


def test_embed_interrupted_before_any_record_leaves_no_cache(
    images: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faceparity.pipeline.run as pipeline_run

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline_run, "embed_images", interrupted)
    manifest, root, model = images
    out = tmp_path / "new" / "e.parquet"
    args = ["embed", manifest, "--root", root, "--detector", "none", "--embedder", model]
    result = _run([*args, "-o", out])
    assert result.exit_code == 130, result.output
    assert result.stderr.strip().splitlines()[-1] == "interrupted; nothing was written"
    assert not (tmp_path / "new").exists()
