"""The 1:N section in the report (HTML and Markdown) and the CLI's --mode identification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceparity import cli
from faceparity.render.report import make_charts, render_html, render_markdown
from faceparity.results.audit import AuditResult


@pytest.fixture(scope="module")
def audited(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ident")
    runner = CliRunner()
    run = runner.invoke(
        cli.main,
        ["simulate", "-o", str(out), "--subjects-per-group", "30", "--samples-per-subject", "3"],
    )
    assert run.exit_code == 0, run.stderr
    args = [
        "audit", "embeddings", str(out / "embeddings.npy"), "--metadata", str(out / "metadata.csv"),
        "--sample-id", "sample", "--subject", "subject", "--attribute", "sex=sex",
        "--attribute", "region=region", "--group-by", "sex,region", "--fmr", "1e-3",
        "--mode", "identification", "--rank", "2", "--target-fpir", "0.1,0.02",
        "--policy", "global", "--policy", "reference:sex=M,region=R1", "--policy", "per-group",
        "-o", str(out / "run"),
    ]  # fmt: skip
    run = runner.invoke(cli.main, args)
    assert run.exit_code == 0, run.stderr
    assert "1:N identification audit, seeded protocol (seed 0)" in run.stdout
    assert "false candidates returned to non-mated searches" in run.stdout
    return out / "run"


def test_results_json_has_the_identification_section(audited: Path) -> None:
    data = json.loads((audited / "results.json").read_text())
    ident = data["identification"]
    assert set(data) - {"identification"} == {
        "schema_version", "tool", "input", "config", "overall", "groups", "operating_points",
        "exclusions", "uncertainty", "score_distributions", "test_log",
    }  # fmt: skip
    assert [(p["target_fpir"], p["policy"]) for p in ident["operating_points"]] == [
        (t, p) for t in (0.1, 0.02) for p in ("global", "reference:sex=M,region=R1", "per-group")
    ]
    assert {"fpir", "fnir"} <= set(ident["operating_points"][0]["groups"][0])
    assert len(ident["groups"][0]["cmc"]) == 2
    assert ident["gallery_size"]["sizes"][-1] == ident["protocol"]["n_enrolled_subjects"]
    again = AuditResult.from_dict(data)
    assert again.to_dict() == data


def test_one_to_one_results_have_no_identification_key(tmp_path: Path) -> None:
    from test_render_report import _results

    assert "identification" not in _results()


def test_report_shows_the_1n_results(audited: Path) -> None:
    data = AuditResult.from_dict(json.loads((audited / "results.json").read_text()))
    keys = [c.key for c in make_charts(data)]
    assert "chart-ident-gallery" in keys
    assert [k for k in keys if k.startswith("chart-ident-rates-")] == [
        f"chart-ident-rates-{i}" for i in range(6)
    ]
    page = render_html(data)
    assert '<h2 id="identification">1:N identification</h2>' in page
    assert "False candidates returned to non-mated searches" in page
    for key in keys:
        assert page.count(f'id="{key}"') == 1, key
    md = render_markdown(data)
    assert "## 1:N identification" in md and "Gallery size at threshold" in md
    assert "1 - (1 - FMR)^N" in md
    # the report of the written run is the same page
    assert (audited / "report.html").read_text() == page


def test_report_in_a_browser(audited: Path, tmp_path: Path) -> None:
    from test_report_browser import _check

    data = json.loads((audited / "results.json").read_text())
    facts = _check(audited / "report.html", data, tmp_path, "report-identification")
    assert "1:N identification" in facts["sections"]


def test_bad_split_column_value_writes_nothing(tmp_path: Path) -> None:
    runner = CliRunner()
    run = runner.invoke(cli.main, ["simulate", "-o", str(tmp_path), "--subjects-per-group", "4"])
    assert run.exit_code == 0
    meta = tmp_path / "metadata.csv"
    lines = meta.read_text().splitlines()
    roles = ["role"] + ["gallery" if i % 5 == 0 else "probe" for i in range(len(lines) - 1)]
    roles[7] = "maybe"
    meta.write_text("\n".join(f"{a},{b}" for a, b in zip(lines, roles, strict=True)) + "\n")
    base = [
        "audit", "embeddings", str(tmp_path / "embeddings.npy"), "--metadata", str(meta),
        "--sample-id", "sample", "--subject", "subject", "--attribute", "sex=sex",
        "--group-by", "sex", "--mode", "identification", "-o", str(tmp_path / "out"),
    ]  # fmt: skip
    run = runner.invoke(cli.main, [*base, "--split-column", "role"])
    assert run.exit_code == 2
    assert (
        f"error: {meta}, row 7, column 'role': expected 'gallery' or 'probe', got 'maybe'"
        in run.stderr
    )
    assert not (tmp_path / "out").exists()
    run = runner.invoke(cli.main, [*base, "--split-column", "nope"])
    assert run.exit_code == 2 and "nope" in run.stderr and not (tmp_path / "out").exists()
    # too few subjects for the protocol: 2 subjects, 1 withheld, 1 enrolled
    small = tmp_path / "small.csv"
    small.write_text(
        "\n".join(
            lines[:1] + [row for row in lines[1:] if row.split(",")[1] in ("S00000", "S00001")]
        )
        + "\n"
    )
    import numpy as np

    emb = np.load(tmp_path / "embeddings.npy")[:10]
    np.save(tmp_path / "small.npy", emb)
    small_args = [*base[:2], str(tmp_path / "small.npy"), "--metadata", str(small), *base[5:]]
    run = runner.invoke(cli.main, small_args)
    assert run.exit_code == 2, run.stderr
    assert f"error: {small}: expected at least 2 enrolled subjects" in run.stderr
    assert not (tmp_path / "out").exists()


def test_report_shows_the_1n_intervals_or_says_there_are_none(audited: Path) -> None:
    data = json.loads((audited / "results.json").read_text())
    result = AuditResult.from_dict(data)
    point = result.identification.operating_points[0]  # target 0.1, policy global
    row = next(g for g in point.groups if g.fnir_ci and g.fnir_ci.ci_low is not None)
    assert row.fnir_ci.ci_low <= row.fnir <= row.fnir_ci.ci_high
    assert point.summary.fnir.gini.value_ci.ci_low <= point.summary.fnir.gini.value
    section = render_html(result).split('<h2 id="identification">')[1]
    assert "probe-subject bootstrap" in section and "gallery fixed" in section
    assert "Spread of the 1:N rates across searched groups" in section
    assert "Bars: the intervals the results carry." in section
    md = render_markdown(result).split("## 1:N identification")[1]
    assert "| FNIR | Gini coefficient |" in md
    # results without 1:N intervals (an older file, or --intervals none): said so
    for point in data["identification"]["operating_points"]:
        point.pop("threshold_ci", None)
        point.pop("summary", None)
        for rates in [*point["groups"], point["overall"] or {}]:
            for key in [k for k in rates if k.endswith(("_ci", "_support"))]:
                del rates[key]
    del data["identification"]["uncertainty"]
    bare = AuditResult.from_dict(data)
    assert "no interval computed" in render_markdown(bare).split("## 1:N identification")[1]
    section = render_html(bare).split('<h2 id="identification">')[1]
    assert "No interval was computed for the 1:N rates." in section
    assert "No interval was computed (the results carry none)" in section


def test_a_1_0_file_with_1n_intervals_is_refused_naming_the_key(audited: Path) -> None:
    data = json.loads((audited / "results.json").read_text())
    data["schema_version"] = "1.0"
    for key in ("score_distributions", "test_log", "processing_time"):
        data.pop(key, None)
    with pytest.raises(Exception, match=r"identification\.uncertainty: key added in schema"):
        AuditResult.from_dict(data)
