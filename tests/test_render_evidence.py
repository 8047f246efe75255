"""The report's score distributions, evidence index and test log."""

from __future__ import annotations

import copy
import hashlib
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceparity import cli
from faceparity.render import report
from faceparity.render.evidence import EU_AI_ACT, ISO_19795_10, evidence_index
from faceparity.results import AuditResult

GOLDEN = Path(__file__).parent / "golden"

# What ISO/IEC 19795-10 and EU AI Act Annex IV 2(g) ask a report to say.
TOPICS = {
    ISO_19795_10: [
        "how group membership was obtained",
        "counts of subjects and samples by group",
        "failure to acquire and failure to enrol by group",
        "shifts in comparison score by group",
        "error rates at the operational threshold",
        "how the operational threshold was set",
        "statistical uncertainty",
        "equitability summary",
        "throughput (response and processing time) by group",
    ],
    EU_AI_ACT: [
        "validation and testing procedures used",
        "testing data used and their main characteristics",
        "metrics used to measure accuracy",
        "metrics used to measure robustness",
        "potentially discriminatory impacts",
        "test logs, dated",
        "test reports signed by the responsible persons",
    ],
}


class _Ids(HTMLParser):
    """Every element id of a page, and every in-page link of the evidence index."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "a" and found.get("class") == "evidence-link":
            self.links.append(str(found["href"]))


def _golden(name: str = "sex.json") -> dict:
    return json.loads((GOLDEN / name).read_text())


def _parsed(data: dict) -> _Ids:
    parser = _Ids()
    parser.feed(report.render_html(AuditResult.from_dict(data)))
    return parser


@pytest.mark.parametrize("name", ["sex.json", "sex_involving.json", "ident_sex.json"])
def test_evidence_index_lists_every_topic_and_every_link_resolves(name: str) -> None:
    data = _golden(name)
    items = evidence_index(AuditResult.from_dict(data))
    assert {s: [i.topic for i in items if i.source == s] for s in TOPICS} == TOPICS
    page = _parsed(data)
    anchored = [i for i in items if i.anchor is not None]
    assert page.links == [f"#{i.anchor}" for i in anchored]
    missing = [link for link in page.links if link[1:] not in page.ids]
    assert not missing
    assert {"score-distributions", "test-log", "evidence-index"} <= page.ids


def test_index_says_not_measured_where_the_results_lack_a_section() -> None:
    data = _golden()
    for key in ("score_distributions", "test_log", "acquisition"):
        data.pop(key, None)
    data["schema_version"] = "1.0"
    items = {i.topic: i for i in evidence_index(AuditResult.from_dict(data))}
    for topic in (
        "shifts in comparison score by group",
        "test logs, dated",
        "failure to acquire and failure to enrol by group",
        "throughput (response and processing time) by group",
    ):
        assert items[topic].anchor is None
        assert items[topic].answer.startswith("not measured")
    page = _parsed(data)
    assert "score-distributions" not in page.ids and "test-log" not in page.ids
    assert all(link[1:] in page.ids for link in page.links)
    text = report.render_markdown(AuditResult.from_dict(data))
    assert "these results carry no score distributions" in text


def test_distributions_section_shows_every_group_and_the_densities() -> None:
    result = AuditResult.from_dict(_golden())
    dist = result.score_distributions
    assert dist is not None
    card = report.build_card(result, charts=report.make_charts(result))
    section = card.distributions
    assert section is not None
    labels = [g.label for g in dist.groups] + ["pooled"]
    assert [r.label for r in section.mated] == labels
    assert [r.label for r in section.non_mated] == labels
    assert len(section.header) == len(dist.probabilities)
    assert not any("no score distributions" in m for m in card.missing_charts)
    assert section.chart is not None
    svg = str(section.chart.svg)
    assert svg.startswith("<svg") and 'role="img"' in svg
    html = report.render_html(result)
    assert 'id="chart-score-distributions"' in html
    md = report.render_markdown(result)
    assert "## Score distributions" in md and "| pooled |" in md


def test_test_log_in_the_report_and_in_results(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_bytes((GOLDEN / "pairs.csv").read_bytes())
    out = tmp_path / "out"
    args = ["audit", "pairs", str(pairs), "--score", "score", "--score-kind", "similarity"]
    args += ["--mated", "label"]
    args += ["--subjects", "id1,id2", "--attribute", "sex=g1,g2", "--group-by", "sex"]
    args += ["--intervals", "none", "-o", str(out)]
    run = CliRunner().invoke(cli.main, args, catch_exceptions=False)
    assert run.exit_code == 0, run.stderr
    result = AuditResult.read_json(out / "results.json")
    log = result.test_log
    assert log is not None
    (record,) = log.input_files
    assert record.role == "PATH" and record.path == str(pairs)
    assert record.sha256 == hashlib.sha256(pairs.read_bytes()).hexdigest()
    assert record.size == pairs.stat().st_size
    assert log.command_line is not None
    assert log.command_line.startswith("faceparity audit pairs ")
    assert log.command_line.endswith(f"-o {out}")
    assert log.date.endswith("Z") and log.machine.cpu_count
    html = (out / "report.html").read_text()
    assert record.sha256 in html and log.date in html


def test_test_log_of_a_changed_file_is_refused_as_1_0() -> None:
    data = copy.deepcopy(_golden())
    data["schema_version"] = "1.0"
    data.pop("score_distributions")
    with pytest.raises(Exception, match="test_log: key added in schema_version '1.1'"):
        AuditResult.checked(data)
