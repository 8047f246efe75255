"""The report in a real headless browser: no console error, no network request, every chart.

Needs Chromium (``make test`` installs Debian's where apt-get is available); skips with
the reason otherwise. Screenshots go to ``test-output/`` (git-ignored).
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from _browser import Browser, find_chromium
from _shared import shared_file
from faceparity import cli
from faceparity.render.report import make_charts
from faceparity.results import AuditResult
from test_render_report import EVIL, _evil, _results, _with_intervals

SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output"
FACTS = """({
  figures: [...document.querySelectorAll('figure.chart')].map(f => f.id),
  labelled: [...document.querySelectorAll('figure.chart > svg[role=img]')]
      .filter(s => s.querySelector('title') && s.querySelector('title').textContent.length > 20
                   && s.closest('figure').querySelector('figcaption')
                   && s.getBoundingClientRect().width > 100).length,
  scripts: document.scripts.length,
  pwned: window.__pwned === 1,
  sections: [...document.querySelectorAll('h2')].map(h => h.textContent),
  groupCells: [...document.querySelectorAll('th[scope=row]')].map(t => t.textContent),
  evidenceLinks: document.querySelectorAll('a.evidence-link').length,
  unresolved: [...document.querySelectorAll('a.evidence-link')]
      .filter(a => !document.getElementById(a.getAttribute('href').slice(1)))
      .map(a => a.getAttribute('href')),
  shown: Object.fromEntries(['score-distributions', 'evidence-index', 'test-log'].map(id => {
      const h = document.getElementById(id);
      const box = h ? h.closest('section').getBoundingClientRect() : null;
      return [id, box ? Math.round(box.height) : 0];
  })),
})"""


def _check(page: Path, results: dict, tmp_path: Path, name: str) -> dict:
    find_chromium()
    with Browser(tmp_path / "profile") as browser:
        load = browser.load(page, facts_js=FACTS, screenshot=SCREENSHOTS / f"{name}.png")
    assert load.console_errors == []
    assert load.requests == []
    expected = [c.key for c in make_charts(AuditResult.from_dict(results))]
    assert sorted(load.facts["figures"]) == sorted(expected)
    assert load.facts["labelled"] == len(expected)
    assert load.facts["scripts"] == 0 and load.facts["pwned"] is False
    # The evidence index: every link lands on an element of the page.
    assert load.facts["evidenceLinks"] >= 10 and load.facts["unresolved"] == []
    assert load.facts["shown"]["evidence-index"] > 200
    last = "Test log" if "test_log" in results else "Evidence index"
    assert load.facts["sections"][-1] == last
    if "score_distributions" in results:
        assert load.facts["shown"]["score-distributions"] > 300
    assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000
    return load.facts


def test_demo_report_in_a_browser(tmp_path: Path) -> None:
    find_chromium()
    out = tmp_path / "demo"
    run = CliRunner().invoke(cli.main, ["demo", "-o", str(out)], catch_exceptions=False)
    assert run.exit_code == 0, run.stderr
    assert run.stdout.rstrip().splitlines()[-1] == f"report: {out / 'report.html'}"
    results = json.loads((out / "results.json").read_text())
    facts = _check(out / "report.html", results, tmp_path, "report-demo")
    # DET, thresholds, score densities, rates at 4 points, heatmaps at the 2 global points
    assert len(facts["figures"]) == 9
    assert "SYNTHETIC DATA" in (out / "report.html").read_text()


def test_bfw_sample_report_in_a_browser(tmp_path: Path) -> None:
    path = shared_file("bfw-sample", "bfw_sample_pairs.csv")
    find_chromium()
    run = CliRunner().invoke(
        cli.main,
        [
            "audit",
            "pairs",
            str(path),
            "--score",
            "senet50",
            "--score-kind",
            "similarity",
            "--mated",
            "label",
            "--subjects",
            "id1,id2",
            "--samples",
            "p1,p2",
            "--attribute",
            "sex=g1,g2",
            "--attribute",
            "ethnicity=e1,e2",
            "--group-by",
            "sex,ethnicity",
            "--fmr",
            "1e-3,1e-4",
            "--policy",
            "global",
            "--policy",
            "reference:sex=M,ethnicity=W",
            "-o",
            str(tmp_path / "bfw"),
        ],
        catch_exceptions=False,
    )
    assert run.exit_code == 0, run.stderr
    results = json.loads((tmp_path / "bfw" / "results.json").read_text())
    facts = _check(tmp_path / "bfw" / "report.html", results, tmp_path, "report-bfw")
    assert len(facts["figures"]) == 3 + 4 + 4


def test_hostile_group_names_do_not_execute_in_a_browser(tmp_path: Path) -> None:
    from faceparity.render.report import render_html

    results = _evil(_with_intervals(_results()))
    page = tmp_path / "evil.html"
    page.write_text(render_html(AuditResult.from_dict(results)))
    facts = _check(page, results, tmp_path, "report-hostile-names")
    assert EVIL in facts["groupCells"]  # shown as text, not run


def test_the_browser_check_can_fail(tmp_path: Path) -> None:
    """The harness sees what the report must not do: a script error and a request."""
    find_chromium()
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png" alt="">'
        "<script>throw new Error('boom')</script></body></html>"
    )
    with Browser(tmp_path / "profile") as browser:
        load = browser.load(page, facts_js="1", screenshot=tmp_path / "bad.png")
    assert any("boom" in e for e in load.console_errors)
    assert load.requests == ["http://127.0.0.1:9/x.png"]
