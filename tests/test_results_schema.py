"""The typed result: one writer, one reader, and every audit kind survives the round trip.

``AuditResult.from_dict(r.to_dict()).to_dict() == r.to_dict()`` and the JSON text is
unchanged, for real audits: exact, bootstrap, closed-form, streaming (pairs and
embeddings), with the 1:N section and with the acquisition section. The reader names
the file and the key path of what is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from faceparity import cli
from faceparity.acquisition import acquisition_by_group, with_acquisition
from faceparity.errors import InputError
from faceparity.results import AuditResult, Interval, SchemaError, Support, read_results
from faceparity.results.loading import validate_results

GOLDEN = Path(__file__).parent / "golden"
PAIRS = [
    "audit", "pairs", str(GOLDEN / "pairs.csv"), "--score", "score", "--score-kind",
    "similarity", "--mated", "label", "--subjects", "id1,id2", "--attribute", "sex=g1,g2",
    "--attribute", "ethnicity=e1,e2", "--fmr", "0.2,0.1", "--policy", "global",
    "--policy", "per-group", "--group-by", "sex", "--json",
]  # fmt: skip
EMBEDDINGS = [
    "audit", "embeddings", str(GOLDEN / "ident_embeddings.npy"), "--metadata",
    str(GOLDEN / "ident_metadata.csv"), "--sample-id", "sample", "--subject", "subject",
    "--attribute", "sex=sex", "--group-by", "sex", "--fmr", "0.1", "--json",
]  # fmt: skip


def _audit_json(*args: str) -> str:
    run = CliRunner().invoke(cli.main, list(args), catch_exceptions=False)
    assert run.exit_code == 0, run.stderr
    return run.stdout


def _acquisition() -> AuditResult:
    """The golden audit with failures to acquire and enrol of ten images (a bootstrap)."""
    status = ["enrolled"] * 2 + ["failure_to_acquire", "failure_to_enrol"] + ["enrolled"] * 4
    status += ["failure_to_enrol", "failure_to_acquire"]
    reasons = ["" if s == "enrolled" else "no face found" for s in status]
    subjects = ["a", "a", "b", "b", "c", "d", "d", "e", "e", "f"]
    sex = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, -1], dtype=np.int32)
    acq = acquisition_by_group(
        status, reasons, subjects, {"sex": sex}, {"sex": ("F", "M")}, ["sex"],
        pipeline={"detector": "scrfd", "model": "m.onnx"}, replicates=20, seed=3,
    )  # fmt: skip
    audit = AuditResult.from_dict(json.loads((GOLDEN / "sex.json").read_text()))
    return with_acquisition(audit, acq)


CASES: dict[str, Any] = {
    "exact, bootstrap": lambda: _audit_json(*PAIRS, "--replicates", "30"),
    "exact, Wilson": lambda: _audit_json(*PAIRS, "--intervals", "wilson"),
    "exact, no intervals": lambda: _audit_json(*PAIRS, "--intervals", "none"),
    "streamed pairs": lambda: _audit_json(*PAIRS, "--engine", "stream"),
    "streamed embeddings, bootstrap": lambda: _audit_json(
        *EMBEDDINGS, "--engine", "stream", "--replicates", "20"
    ),
    "identification": lambda: (GOLDEN / "ident_sex.json").read_text(),
    "acquisition": lambda: _acquisition().to_json(),
}


@pytest.mark.parametrize("case", list(CASES))
def test_round_trip_is_exact(case: str) -> None:
    text = CASES[case]()
    result = AuditResult.from_dict(json.loads(text))
    assert AuditResult.from_dict(result.to_dict()).to_dict() == result.to_dict()
    assert result.to_json() == text


def test_leaves_are_typed() -> None:
    result = AuditResult.from_dict(json.loads(_audit_json(*PAIRS, "--replicates", "30")))
    group = result.operating_points[0].groups[0]
    assert isinstance(group.fnmr_ci, Interval) and isinstance(group.fmr_support, Support)
    assert result.uncertainty is not None and result.uncertainty.replicates == 30
    assert result.operating_points[0].summary.fmr.max_min.n_groups == 2
    ratios = result.operating_points[0].ratios
    assert ratios is not None and (ratios[0].a, ratios[0].b) == ("F", "M")


def _broken(change: Any) -> dict[str, Any]:
    data = json.loads((GOLDEN / "sex.json").read_text())
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["operating_points"][0]["groups"][1].pop("fmr"),
            "r.json: operating_points[0].groups[1]: expected key 'fmr'",
        ),
        (
            lambda d: d["groups"].__setitem__(0, {**d["groups"][0], "n_mated": -1}),
            "r.json: groups[0].n_mated: expected an integer >= 0, got -1",
        ),
        (
            lambda d: d["config"].pop("target_fmrs"),
            "r.json: config: expected key 'target_fmrs'",
        ),
        (lambda d: d.pop("overall"), "r.json: expected key 'overall'"),
        (
            lambda d: d["operating_points"][1]["overall"].__setitem__("fmr_ci", [0, 1]),
            "r.json: operating_points[1].overall.fmr_ci: expected an object, got list",
        ),
        (
            lambda d: d["input"].__setitem__("n_comparisons", "18"),
            "r.json: input.n_comparisons: expected an integer, got str",
        ),
        (
            lambda d: d["groups"][0].__setitem__("score_distribution", {}),
            "r.json: groups[0]: unexpected key 'score_distribution'",
        ),
        (
            lambda d: d.__setitem__("schema_version", "2.0"),
            "r.json: expected results schema_version '1.0', got '2.0'",
        ),
    ],
)
def test_reader_names_the_file_and_the_key_path(change: Any, message: str) -> None:
    with pytest.raises(InputError) as err:
        validate_results(_broken(change), file="r.json")
    assert str(err.value) == message
    assert isinstance(err.value.__cause__, SchemaError)


def test_read_results_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    with pytest.raises(InputError, match=f"{missing}: cannot read the file"):
        read_results(missing)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(InputError, match=f"{bad}: expected JSON"):
        read_results(bad)
    good = tmp_path / "results.json"
    good.write_text((GOLDEN / "sex.json").read_text())
    assert read_results(good).to_json() == good.read_text()
