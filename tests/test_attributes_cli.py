"""``faceparity audit attributes``, then ``check`` and ``report`` of its results; Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from _browser import Browser, find_chromium
from faceparity import cli
from faceparity.results.attributes import AttributeAuditResult
from test_attributes_audit import PUBLISHED, _ppb_predictions

SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output"
FACTS = """({
  figures: [...document.querySelectorAll('figure.chart')].map(f => f.id),
  labelled: [...document.querySelectorAll('figure.chart > svg[role=img]')]
      .filter(s => s.querySelector('title') && s.getBoundingClientRect().width > 100).length,
  scripts: document.scripts.length,
  sections: [...document.querySelectorAll('h2')].map(h => h.textContent),
  pwned: window.__pwned === 1,
})"""
LIMITS = """
[[limit]]
grouping = "sex x skin"
measure = "error_rate.ratio"
max = 3

[[limit]]
rate = "fnr"
class = "female"
grouping = "sex"
groups = ["female"]
max = 0.5
"""


def _run(args: list[str]) -> object:
    return CliRunner().invoke(cli.main, args, catch_exceptions=False)


def _audit(tmp_path: Path, frame: pd.DataFrame, *extra: str) -> tuple[object, Path]:
    table = tmp_path / "predictions.csv"
    frame.to_csv(table, index=False)
    out = tmp_path / "out"
    args = ["audit", "attributes", str(table), "--truth", "sex", "--prediction", "predicted"]
    args += ["--group-by", "sex", "--group-by", "skin", "--replicates", "100", "-o", str(out)]
    return _run([*args, *extra]), out


def test_audit_writes_results_and_report_and_checks(tmp_path: Path) -> None:
    limits = tmp_path / "limits.toml"
    limits.write_text(LIMITS)
    run, out = _audit(
        tmp_path,
        _ppb_predictions(PUBLISHED["Microsoft"]),
        "--subject",
        "subject",
        "--check",
        str(limits),
    )
    assert run.exit_code == 1  # the ratio limit fails
    assert "fails most on female/darker" in run.stdout
    assert "FAIL limit 1" in run.stderr and "ok   limit 2" in run.stderr
    result = AttributeAuditResult.read_json(out / "results.json")
    assert result.grouping("sex x skin").disparity.worst == "female/darker"
    again = _run(["check", str(out / "results.json"), str(limits)])
    assert again.exit_code == 1 and "FAIL limit 1" in again.stdout
    report = _run(["report", str(out / "results.json"), "-o", str(tmp_path / "r.html")])
    assert report.exit_code == 0
    assert "female/darker" in (tmp_path / "r.html").read_text()


def test_bad_limits_stop_before_any_work(tmp_path: Path) -> None:
    limits = tmp_path / "limits.toml"
    limits.write_text('[[limit]]\nrate = "fnr"\nmax = 1\n')
    run, out = _audit(tmp_path, _ppb_predictions(PUBLISHED["IBM"]), "--check", str(limits))
    assert run.exit_code == 2
    assert "class" in run.stderr and not out.exists()


def test_tampered_results_are_refused(tmp_path: Path) -> None:
    run, out = _audit(tmp_path, _ppb_predictions(PUBLISHED["IBM"]), "--no-report")
    assert run.exit_code == 0 and not (out / "report.html").exists()
    data = json.loads((out / "results.json").read_text())
    data["overall"]["n_errors"] = -1
    (out / "results.json").write_text(json.dumps(data))
    limits = tmp_path / "limits.toml"
    limits.write_text(LIMITS)
    bad = _run(["check", str(out / "results.json"), str(limits)])
    assert bad.exit_code == 2 and "overall.n_errors" in bad.stderr


def test_attribute_report_in_a_browser(tmp_path: Path) -> None:
    find_chromium()
    frame = _ppb_predictions(PUBLISHED["Face++"])
    frame.loc[0, "skin"] = '<img src=x onerror="window.__pwned=1">'
    run, out = _audit(tmp_path, frame, "--subject", "subject")
    assert run.exit_code == 0, run.stderr
    with Browser(tmp_path / "profile") as browser:
        load = browser.load(
            out / "report.html", facts_js=FACTS, screenshot=SCREENSHOTS / "report-attributes.png"
        )
    assert load.console_errors == [] and load.requests == []
    assert load.facts["scripts"] == 0 and load.facts["pwned"] is False
    assert len(load.facts["figures"]) == 3 and load.facts["labelled"] == 3
    assert load.facts["sections"][:2] == ["At a glance", "Task and data"]
