from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceparity import AuditConfig, AuditResult, ComparisonSet, ScoreKind, ThresholdPolicy, audit
from faceparity.io import atomic_write_text


def _result() -> AuditResult:
    rng = np.random.default_rng(3)
    n = 4000
    a, b = rng.integers(0, 120, n), rng.integers(0, 120, n)
    mated = a == b
    sex = np.array(["F", "M", "X"])
    # Group X has only cross-group comparisons once X-X pairs are removed below.
    keep = ~((a % 3 == 2) & (b % 3 == 2))
    a, b, mated = a[keep], b[keep], mated[keep]
    cs = ComparisonSet.from_arrays(
        score=rng.normal(size=a.size) + 2 * mated,
        mated=mated,
        score_kind=ScoreKind.SIMILARITY,
        subject_a=a,
        subject_b=b,
        attributes_a={"sex": sex[a % 3]},
        attributes_b={"sex": sex[b % 3]},
    )
    policies = tuple(ThresholdPolicy.parse(p) for p in ("global", "per-group", "reference:sex=F"))
    return audit(
        cs, group_by=["sex"], config=AuditConfig(target_fmrs=(1e-2, 1e-3), policies=policies)
    )


def test_json_round_trip_is_exact(tmp_path: Path) -> None:
    result = _result()
    path = tmp_path / "r" / "results.json"
    result.write_json(path)
    again = AuditResult.read_json(path)
    assert again.to_dict() == result.to_dict()
    assert again.to_json() == path.read_text()


def test_json_has_no_nan_and_undefined_rates_are_null_with_a_reason() -> None:
    data = json.loads(_result().to_json())  # json.loads would accept NaN; check the text too
    text = _result().to_json()
    assert "NaN" not in text and "Infinity" not in text
    x = next(g for g in data["operating_points"][0]["groups"] if g["attributes"] == {"sex": "X"})
    assert x["fmr"] is None and x["n_non_mated"] == 0
    assert any("no non-mated comparisons" in note for note in x["notes"])
    per_group = next(p for p in data["operating_points"] if p["policy"] == "per-group")
    assert per_group["threshold"] is None and per_group["overall"] is None
    assert per_group["cross_group"] == []


def test_schema_version_is_checked() -> None:
    data = _result().to_dict()
    data["schema_version"] = "0.1"
    with pytest.raises(ValueError, match="schema_version"):
        AuditResult.from_dict(data)


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "results.json"
    atomic_write_text(path, "old\n")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
