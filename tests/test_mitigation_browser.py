"""mitigation.html in a real headless browser: no console error, no request, every table.

Skips without Chromium (see tests/_browser.py). The screenshot goes to ``test-output/``.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from _browser import Browser, find_chromium
from faceparity import cli
from faceparity.render.mitigation import mitigation_sections
from faceparity.results.mitigation import MitigationResult
from test_mitigation import _pairs_csv

SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output"
FACTS = """({
  scripts: document.scripts.length,
  sections: [...document.querySelectorAll('section')].map(s => s.id),
  headings: [...document.querySelectorAll('h2')].map(h => h.textContent),
  worse: document.querySelectorAll('tr.worse').length,
  tables: [...document.querySelectorAll('table')].filter(
      t => t.getBoundingClientRect().width > 200).length,
})"""


def test_mitigation_page_in_a_browser(tmp_path: Path) -> None:
    find_chromium()
    table = _pairs_csv(tmp_path / "pairs.csv")
    out = tmp_path / "out"
    args = [
        "mitigate", "pairs", str(table), "--score", "score", "--score-kind", "similarity",
        "--subjects", "a,b", "--attribute", "grp=ga,gb", "--group-by", "grp", "--fmr", "1e-2",
        "--method", "per-group-thresholds", "--method", "oracle", "--method", "faircal",
        "--replicates", "20", "-o", str(out),
    ]  # fmt: skip
    run = CliRunner().invoke(cli.main, args, catch_exceptions=False)
    assert run.exit_code == 0, run.stderr
    result = MitigationResult.read_json(out / "mitigation.json")
    sections = mitigation_sections(result)
    with Browser(tmp_path / "profile") as browser:
        load = browser.load(
            out / "mitigation.html", facts_js=FACTS, screenshot=SCREENSHOTS / "mitigation.png"
        )
    assert load.console_errors == [] and load.requests == []
    assert load.facts["scripts"] == 0
    assert load.facts["sections"] == [s.anchor for s in sections]
    assert load.facts["headings"] == [s.title for s in sections]
    assert "per-group-thresholds: levelling-down check at target FMR 0.01" in load.facts["headings"]
    levelling = [s for s in sections if "levelling" in s.anchor]
    assert load.facts["worse"] == sum(len(s.rows) for s in levelling) > 0
    assert load.facts["tables"] == sum(1 for s in sections if s.rows)
    assert (SCREENSHOTS / "mitigation.png").stat().st_size > 10_000
