"""``faceparity classify``: SSR-Net decoding, the crop rule, the spec, and a run on real images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from _shared import SHARED_DATA, shared_file
from faceparity import cli
from faceparity.errors import UsageError
from faceparity.pipeline.classify import (
    SSRNET_OUTPUTS,
    ClassifierSpec,
    crop_box,
    decode_ssrnet,
    read_classifier_spec,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODELS = SHARED_DATA.parent / "models" / "faceplugin"


def _reference_ssrnet(x: list[float], s: int, v: float) -> float:
    """SSR-Net's merge as its authors' code writes it: the 21 numbers of one face, in the
    order probabilities (3 x 3), scale shifts (3), index shifts (3 x 3)."""
    a = sum((i + x[12 + i]) * x[i] for i in range(s)) / (s * (1 + x[9]))
    b = sum((i + x[15 + i]) * x[3 + i] for i in range(s))
    b = b / (s * (1 + x[9])) / (s * (1 + x[10]))
    c = sum((i + x[18 + i]) * x[6 + i] for i in range(s))
    c = c / (s * (1 + x[9])) / (s * (1 + x[10])) / (s * (1 + x[11]))
    return (a + b + c) * v


def test_ssrnet_decoding_matches_the_reference() -> None:
    rng = np.random.default_rng(5)
    batch = 7
    outputs = {}
    for name in SSRNET_OUTPUTS[0]:
        outputs[name] = rng.random((batch, 3)).astype(np.float32)
    for name in SSRNET_OUTPUTS[1]:
        outputs[name] = rng.uniform(-1, 1, (batch, 3)).astype(np.float32)
    for name in SSRNET_OUTPUTS[2]:
        outputs[name] = rng.uniform(-0.9, 0.9, (batch, 1)).astype(np.float32)
    got = decode_ssrnet(outputs, value_range=101.0)
    for row in range(batch):
        x = [float(v) for n in SSRNET_OUTPUTS[0] for v in outputs[n][row]]
        x += [float(outputs[n][row, 0]) for n in SSRNET_OUTPUTS[2]]
        x += [float(v) for n in SSRNET_OUTPUTS[1] for v in outputs[n][row]]
        assert got[row] == pytest.approx(_reference_ssrnet(x, 3, 101.0), rel=1e-6)


def test_crop_box_stays_inside_and_keeps_the_centre() -> None:
    assert crop_box([40, 40, 60, 60], width=100, height=100, margin=1.4) == (36, 36, 64, 64)
    assert crop_box([90, 0, 100, 10], width=100, height=100, margin=2.0) == (80, 0, 100, 20)
    # a margin the image cannot hold shrinks to the image
    assert crop_box([10, 10, 90, 90], width=100, height=100, margin=3.0) == (0, 0, 100, 100)


def test_spec_errors_name_the_key(tmp_path: Path) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text('decoder = "ssrnet"\nthreshold = 0.5\nlabels = ["a"]\n')
    with pytest.raises(UsageError, match="two labels"):
        read_classifier_spec(spec)
    spec.write_text("colour = 1\n")
    with pytest.raises(UsageError, match="unknown key 'colour'"):
        read_classifier_spec(spec)
    spec.write_text('size = "64"\n')
    with pytest.raises(UsageError, match="size: expected an integer"):
        read_classifier_spec(spec)
    gender = read_classifier_spec(EXAMPLES / "ssrnet_gender.toml")
    assert gender.is_label and gender.labels == ("female", "male")
    assert not read_classifier_spec(EXAMPLES / "ssrnet_age.toml").is_label
    with pytest.raises(UsageError):
        ClassifierSpec(crop="face")


def test_classify_then_audit_on_utkface(tmp_path: Path) -> None:
    manifest = shared_file("utkface-sample", "manifest.csv")
    model = MODELS / "fr_gender.onnx"
    if not model.exists():
        pytest.skip(f"{model} is not available")
    small = tmp_path / "m.csv"
    frame = pd.read_csv(manifest)
    frame.groupby(["sex", "race"]).head(3).to_csv(small, index=False)
    out = tmp_path / "pred.csv"
    args = ["classify", str(small), "--root", str(manifest.parent), "--classifier", str(model)]
    args += ["--spec", str(EXAMPLES / "ssrnet_gender.toml"), "-o", str(out)]
    run = CliRunner().invoke(cli.main, args, catch_exceptions=False)
    assert run.exit_code == 0, run.stderr
    table = pd.read_csv(out)
    assert len(table) == 30 and set(table["predicted_sex_status"]) == {"classified"}
    assert set(table["predicted_sex"]) <= {"female", "male"}
    again = CliRunner().invoke(cli.main, [*args[:-1], str(small)])
    assert again.exit_code == 2  # the output may not overwrite the manifest
    audit = ["audit", "attributes", str(out), "--truth", "sex", "--prediction", "predicted_sex"]
    audit += ["--group-by", "sex", "--group-by", "race", "--replicates", "50"]
    run = CliRunner().invoke(cli.main, [*audit, "-o", str(tmp_path / "a")])
    assert run.exit_code == 0, run.stderr
    assert (tmp_path / "a" / "report.html").exists()


def test_box_crop_through_the_detector_counts_failures(tmp_path: Path) -> None:
    manifest = shared_file("utkface-sample", "manifest.csv")
    model = MODELS / "fr_age.onnx"
    if not model.exists():
        pytest.skip(f"{model} is not available")
    pytest.importorskip("cv2")
    small = tmp_path / "m.csv"
    pd.read_csv(manifest).groupby(["sex", "race"]).head(2).to_csv(small, index=False)
    spec = tmp_path / "age.toml"
    spec.write_text(
        (EXAMPLES / "ssrnet_age.toml").read_text().replace('crop = "image"', 'crop = "box"')
    )
    out = tmp_path / "pred.csv"
    args = ["classify", str(small), "--root", str(manifest.parent), "--classifier", str(model)]
    args += ["--spec", str(spec), "--detector", "haar", "-o", str(out)]
    run = CliRunner().invoke(cli.main, args, catch_exceptions=False)
    assert run.exit_code == 0, run.stderr
    table = pd.read_csv(out)
    status = table["predicted_age_status"]
    assert set(status) <= {"classified", "no face detected"}
    assert table["predicted_age"].isna().tolist() == (status != "classified").tolist()
    assert (status == "classified").any()
    audit = ["audit", "attributes", str(out), "--truth", "age", "--prediction", "predicted_age"]
    audit += ["--tolerance", "10", "--group-by", "sex", "--replicates", "0", "-o"]
    run = CliRunner().invoke(cli.main, [*audit, str(tmp_path / "a")])
    assert run.exit_code == 0, run.stderr
    result = json.loads((tmp_path / "a" / "results.json").read_text())
    assert result["overall"]["n_samples"] == int((status == "classified").sum())
    assert sum(e["count"] for e in result["exclusions"]) == int((status != "classified").sum())
