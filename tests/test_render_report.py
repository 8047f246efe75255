"""The HTML and Markdown reports: sections, charts, intervals, escaping, the CLI."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from faceparity import cli
from faceparity.render import report
from faceparity.render.figures import Chart
from faceparity.results import AuditResult

GOLDEN = Path(__file__).parent / "golden"
SECTIONS = [
    "At a glance",
    "System under test",
    "Intended use and out-of-scope uses",
    "Factors",
    "Metrics and thresholds",
    "Evaluation data",
    "Quantitative analyses",
    "Score distributions",
    "The differential in one sentence",
    "Ethical considerations",
    "Caveats",
    "Evidence index",
    "Test log",
]
EVIL = "<script>window.__pwned=1</script>\"'$x$|*_[a](b)"


def render_html(data: dict) -> str:
    """The HTML report of a ``results.json`` mapping (read by the typed reader)."""
    return report.render_html(AuditResult.from_dict(data))


def render_markdown(data: dict) -> str:
    """The Markdown card of a ``results.json`` mapping (read by the typed reader)."""
    return report.render_markdown(AuditResult.from_dict(data))


def make_charts(data: dict) -> list[Chart]:
    return report.make_charts(AuditResult.from_dict(data))


def _results(*, intervals: bool = False) -> dict:
    """The golden audit; without its intervals unless asked (the tests add their own)."""
    data = json.loads((GOLDEN / "sex.json").read_text())
    return data if intervals else _without_intervals(data)


def _without_intervals(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_intervals(v)
            for k, v in value.items()
            if not (k.endswith("_ci") or k == "uncertainty")
        }
    if isinstance(value, list):
        return [_without_intervals(v) for v in value]
    return value


def _with_intervals(data: dict) -> dict:
    data = copy.deepcopy(data)
    data["uncertainty"] = {
        "method": "subject bootstrap",
        "level": 0.95,
        "replicates": 200,
        "seed": 1,
        "caveat": "Comparisons sharing subjects are resampled together.",
    }
    for point in data["operating_points"]:
        for g in point["groups"]:
            for rate in ("fmr", "fnmr"):
                if g[rate] is not None:
                    g[f"{rate}_ci"] = {
                        "ci_low": g[rate] / 2,
                        "ci_high": g[rate] * 1.5 + 0.01,
                        "method": "bootstrap",
                    }
                    g[f"{rate}_support"] = {
                        "sufficient": g["label"] != "F",
                        "expected_errors": 0.6,
                        "min_supported_rate": 0.5,
                        "reason": "0.6 expected errors",
                    }
        m = point["summary"]["fmr"]["max_geomean"]
        if m["value"] is not None:
            m["value_ci"] = {"ci_low": 0.9123, "ci_high": 1.8765, "method": "bootstrap"}
    return data


def _evil(data: dict) -> dict:
    """Every group name and value replaced by a string that would run if not escaped."""
    text = json.dumps(data).replace('"F"', json.dumps(EVIL)).replace('"M"', json.dumps(EVIL + "2"))
    text = text.replace('"reference:sex=M"', json.dumps("reference:sex=" + EVIL + "2"))
    data = json.loads(text)
    data["input"]["source"] = "pairs <b onmouseover=alert(1)>.csv"
    return data


def _headings(html: str, level: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", h) for h in re.findall(rf"<{level}[^>]*>(.*?)</{level}>", html)]


def test_html_has_model_card_sections_in_order_and_every_chart() -> None:
    data = _results()
    html = render_html(data)
    assert _headings(html, "h2") == SECTIONS
    charts = make_charts(data)
    # thresholds, score densities, rates at each of 6 points, a heatmap at each of 4
    # single-threshold points; no DET: every DET sample of this tiny audit has FNMR 0,
    # which log axes cannot show
    assert len(charts) == 2 + 6 + 4 and "chart-det" not in {c.key for c in charts}
    assert "every DET sample has a zero FMR or FNMR" in html
    for chart in charts:
        figure = re.search(rf'<figure id="{chart.key}" class="chart">(.*?)</figure>', html, re.S)
        assert figure, chart.key
        assert f'role="img" aria-labelledby="{chart.key}-title"' in figure.group(1)
        assert f'<title id="{chart.key}-title">' in figure.group(1)
        assert "<figcaption>" in figure.group(1) and "Text alternative:" in figure.group(1)
    assert 'id="chart-score-distributions"' in html  # from the results' densities
    assert "<script" not in html and 'http-equiv="Content-Security-Policy"' in html
    # nothing to fetch: no src/href pointing outside the page
    assert not re.search(r'(src|href)="(?!#|data:)', html)
    assert "no interval computed" in html and "No interval was computed" in html


def test_markdown_has_the_same_sections_and_sentences() -> None:
    data = _results()
    md = render_markdown(data)
    assert re.findall(r"^## (.*)$", md, re.M) == SECTIONS
    html = render_html(data)
    sentence = re.search(r"<h2 id=\"glance\">.*?<p>(.*?)</p>", html, re.S).group(1)
    assert sentence.startswith("At the threshold that gives 1 false match in 5 overall")
    plain = md.replace("\\", "")
    assert sentence.replace("&#39;", "'") in plain
    assert md.count("Chart omitted in Markdown") == len(make_charts(data))


def test_intervals_support_and_uncertainty_are_rendered_when_present() -> None:
    data = _with_intervals(_results())
    html = render_html(data)
    assert "FMR interval" in html
    assert "[1.667e-01, 5.100e-01]" in html  # 1/3: [1/6, 1/2 + 0.01]
    assert "[0.91, 1.88]" in html  # the summary measure's interval
    assert "FMR not supported: 0.6 expected errors" in html
    assert "subject bootstrap, 95% level, 200 replicates, seed 1." in html
    assert "No interval was computed" not in html
    md = render_markdown(data)
    assert "\\[1.667e-01, 5.100e-01\\]" in md and "subject bootstrap" in md


@pytest.mark.parametrize("render", [render_html, render_markdown])
def test_user_strings_are_escaped(render) -> None:
    out = render(_evil(_with_intervals(_results())))
    assert "<script" not in out and "<b onmouseover" not in out
    if render is render_markdown:
        assert "&lt;script&gt;window.\\_\\_pwned=1&lt;/script&gt;" in out
    else:
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in out
        assert "&#34;&#39;$x$|*_[a](b)" in out  # quotes escaped in text and attributes
        assert "&lt;b onmouseover=alert(1)&gt;" in out


def test_report_command_writes_html_and_markdown(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text((GOLDEN / "sex.json").read_text())
    run = CliRunner().invoke(cli.main, ["report", str(results)], catch_exceptions=False)
    assert run.exit_code == 0, run.stderr
    assert run.stdout.strip() == str(tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")
    out = tmp_path / "card.md"
    run = CliRunner().invoke(
        cli.main,
        [
            "report",
            str(results),
            "-o",
            str(out),
            "--target-fmr",
            "0.1",
            "--policy",
            "reference:sex=M",
        ],
    )
    assert run.exit_code == 0, run.stderr
    assert "At target FMR 0.1, policy reference:sex=M" in out.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "{",
            "expected JSON: Expecting property name enclosed in double quotes (line 1, column 2)",
        ),
        ('{"schema_version": "0.9"}', "expected results schema_version '1.0' or '1.1', got '0.9'"),
        ('{"schema_version": "1.0"}', "expected key 'tool'"),
    ],
)
def test_report_of_a_bad_results_file_is_exit_2_naming_it(
    tmp_path: Path, content: str, expected: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    run = CliRunner().invoke(cli.main, ["report", str(bad)])
    assert run.exit_code == 2
    assert run.stderr.startswith(f"error: {bad}: {expected}")
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "report.html").exists()


def test_report_that_cannot_be_written_is_exit_73(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text((GOLDEN / "sex.json").read_text())
    (tmp_path / "file").write_text("")
    run = CliRunner().invoke(
        cli.main, ["report", str(results), "-o", str(tmp_path / "file" / "r.html")]
    )
    assert run.exit_code == 73 and "cannot write" in run.stderr


def test_unknown_headline_point_is_exit_2(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text((GOLDEN / "sex.json").read_text())
    run = CliRunner().invoke(cli.main, ["report", str(results), "--target-fmr", "0.3"])
    assert run.exit_code == 2 and "no operating point for target FMR 0.3" in run.stderr


AUDIT = [
    "audit",
    "pairs",
    str(GOLDEN / "pairs.csv"),
    "--score",
    "score",
    "--score-kind",
    "similarity",
    "--mated",
    "label",
    "--subjects",
    "id1,id2",
    "--attribute",
    "sex=g1,g2",
    "--group-by",
    "sex",
    "--fmr",
    "0.2,0.1",
]


def test_audit_writes_report_next_to_results_unless_no_report(tmp_path: Path) -> None:
    run = CliRunner().invoke(cli.main, [*AUDIT, "-o", str(tmp_path / "a")], catch_exceptions=False)
    assert run.exit_code == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["report.html", "results.json"]
    assert f"wrote {tmp_path / 'a' / 'report.html'}" in run.stderr
    run = CliRunner().invoke(cli.main, [*AUDIT, "-o", str(tmp_path / "b"), "--no-report"])
    assert run.exit_code == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["results.json"]


def _with_thresholds(data: dict, thresholds: list[float], point: float) -> dict:
    """The golden audit with DET samples at ``thresholds`` and every threshold at ``point``."""
    data = copy.deepcopy(data)
    n = len(thresholds)
    for g in data["groups"]:
        g["det"] = {
            "threshold": thresholds,
            "fmr": [0.5 / (k + 1) for k in range(n)],
            "fnmr": [k / (2 * n) for k in range(n)],
        }
    for p in data["operating_points"]:
        if p["threshold"] is not None:
            p["threshold"] = point
    return data


@pytest.mark.parametrize(
    ("thresholds", "point"),
    [
        ([-1.7e308, -1e308, 0.0, 1e308, 1.7e308], 1.7e308),  # the span overflows float64
        ([1.7e308, 1.7e308, 1.7e308], 1.7e308),
        ([0.5, 0.5, 0.5], 0.5),  # constant scores
        ([-1e-300, 0.0, 1e-300], 0.0),
    ],
)
def test_charts_draw_extreme_and_constant_scores(thresholds: list[float], point: float) -> None:
    data = _with_thresholds(_results(), thresholds, point)
    charts = {c.key: c for c in make_charts(data)}
    assert "chart-threshold" in charts
    for chart in charts.values():
        assert chart.svg.startswith("<svg")  # drawn without an error or a warning
    if abs(thresholds[-1]) > 1e100:
        assert "in units of 1e+308" in charts["chart-threshold"].svg


def test_markdown_draws_no_chart(monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a chart was drawn for the Markdown card")

    monkeypatch.setattr(Figure, "savefig", refuse)
    md = render_markdown(_results())
    assert md.count("Chart omitted in Markdown") == len(make_charts(_results()))


def test_each_chart_is_drawn_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    draws: list[int] = []
    draw = Figure.draw

    def counted(self: Figure, renderer: object) -> None:
        draws.append(id(self))
        draw(self, renderer)

    monkeypatch.setattr(Figure, "draw", counted)
    data = _results()
    html = render_html(data)
    n_charts = len(make_charts(data))
    assert html.count('<figure id="chart-') == n_charts
    assert len(draws) == len(set(draws)) == n_charts  # one pass a figure: no layout pass
