"""faceparity compare: golden output, interval verdicts, exit codes."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceparity import cli
from faceparity.results import AuditResult, read_results
from faceparity.review.diff import BEYOND, NO_INTERVALS, UNDEFINED, WITHIN, diff_results

GOLDEN = Path(__file__).parent / "golden"
A, B = GOLDEN / "sex.json", GOLDEN / "sex_involving.json"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("FACEPARITY_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def _run(*args: str):
    return CliRunner().invoke(cli.main, ["compare", *args])


def _local(text: str) -> str:
    from faceparity import __version__

    return text.replace(str(GOLDEN) + "/", "").replace(
        f"faceparity {__version__}", "faceparity VERSION"
    )


@pytest.mark.parametrize("suffix", ["md", "json"])
def test_compare_matches_golden_files(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"c.{suffix}"
    run = _run(str(A), str(B), "-o", str(out))
    assert run.exit_code == 0, run.stderr
    text = _local(out.read_text())
    if suffix == "json":
        data = json.loads(text)
        assert data["comparison_version"] == "1.0"
    _golden(f"compare_sex.{suffix}", text)


def test_compare_prints_markdown_and_writes_html(tmp_path: Path) -> None:
    run = _run(str(A), str(B))
    assert run.exit_code == 0
    assert _local(run.stdout) == (GOLDEN / "compare_sex.md").read_text()
    run = _run(str(A), str(B), "-o", str(tmp_path / "c.html"))
    html = (tmp_path / "c.html").read_text()
    assert run.exit_code == 0 and "<script" not in html and "Content-Security-Policy" in html


def test_hand_worked_changes() -> None:
    comparison = diff_results(read_results(A), read_results(B))
    rows = {(c.section, c.subject, c.quantity): c for c in comparison.changes}
    # F at 0.2 global: FMR 1/3 with both sides in F (matched), 1/9 with either side (involving)
    f = rows[("target FMR 0.2, policy global", "F", "FMR")]
    assert (f.a, f.b) == pytest.approx((1 / 3, 1 / 9))
    assert f.difference == pytest.approx(-2 / 9) and f.ratio == pytest.approx(1 / 3)
    assert f.verdict == NO_INTERVALS
    assert rows[("target FMR 0.2, policy global", "summary", "FNMR max/min")].verdict == UNDEFINED
    assert "fmr_scope differs ('matched' in A, 'involving' in B)" in comparison.notes[0]
    assert comparison.only_in_a == (
        "operating point target FMR 0.2, policy reference:sex=M",
        "operating point target FMR 0.1, policy reference:sex=M",
    )


def test_beyond_and_within_the_intervals() -> None:
    a = json.loads(A.read_text())
    b = copy.deepcopy(a)
    ga, gb = a["operating_points"][0]["groups"], b["operating_points"][0]["groups"]
    for results in (a, b):
        results["uncertainty"] = {
            "method": "bootstrap",
            "level": 0.95,
            "replicates": 100,
            "seed": 0,
            "caveat": "",
        }
    for row in (ga[0], gb[0]):
        row.pop("fnmr_ci", None)  # one rate without intervals on either side
    ga[0]["fmr_ci"] = {"ci_low": 0.2, "ci_high": 0.4, "method": "bootstrap"}
    gb[0]["fmr"] = 0.6
    gb[0]["fmr_ci"] = {"ci_low": 0.45, "ci_high": 0.7, "method": "bootstrap"}  # apart
    ga[1]["fmr_ci"] = {"ci_low": 0.2, "ci_high": 0.5, "method": "bootstrap"}
    gb[1]["fmr_ci"] = {"ci_low": 0.3, "ci_high": 0.4, "method": "bootstrap"}  # overlapping
    typed_a, typed_b = AuditResult.from_dict(a), AuditResult.from_dict(b)
    rows = {(c.section, c.subject, c.quantity): c for c in diff_results(typed_a, typed_b).changes}
    section = "target FMR 0.2, policy global"
    assert rows[(section, "F", "FMR")].verdict == BEYOND
    assert rows[(section, "M", "FMR")].verdict == WITHIN
    assert rows[(section, "F", "FNMR")].verdict == NO_INTERVALS  # no fnmr_ci on either side


def test_compare_exit_codes(tmp_path: Path) -> None:
    run = _run(str(A), str(B), "-o", str(tmp_path / "c.txt"))
    assert run.exit_code == 2 and "expected a file ending in .html, .md or .json" in run.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    run = _run(str(A), str(bad))
    assert run.exit_code == 2 and f"{bad}: expected a JSON object" in run.stderr
    (tmp_path / "f").write_text("")
    run = _run(str(A), str(B), "-o", str(tmp_path / "f" / "c.md"))
    assert run.exit_code == 73


@pytest.mark.parametrize(
    ("field", "a_value", "b_value"),
    [("fmr", 5e-324, 1 / 3), ("threshold", -1.7e308, 1.7e308)],
)
def test_changes_too_large_for_a_float_are_undefined(
    tmp_path: Path, field: str, a_value: float, b_value: float
) -> None:
    a, b = json.loads(A.read_text()), json.loads(A.read_text())
    for results, value in ((a, a_value), (b, b_value)):
        point = results["operating_points"][0]
        (point["groups"][0] if field == "fmr" else point)[field] = value
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    run = _run(str(tmp_path / "a.json"), str(tmp_path / "b.json"), "-o", str(tmp_path / "c.json"))
    assert run.exit_code == 0, run.output
    changes = json.loads((tmp_path / "c.json").read_text())["changes"]
    subject, quantity = ("F", "FMR") if field == "fmr" else ("overall", "threshold")
    (row,) = [
        c
        for c in changes
        if (c["section"], c["subject"], c["quantity"])
        == ("target FMR 0.2, policy global", subject, quantity)
    ]
    assert row["a"] == a_value and row["b"] == b_value
    overflowed = "ratio" if field == "fmr" else "difference"
    assert row[overflowed] is None
