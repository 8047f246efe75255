"""Failures to acquire and enrol in the terminal table, the HTML report and the Markdown card."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from markupsafe import escape

from faceparity.acquisition import acquisition_by_group, with_acquisition
from faceparity.cli.audit import print_result
from faceparity.render.acquisition.card import SKIN_TONE_CAVEAT, build_acquisition
from faceparity.render.acquisition.table import format_acquisition_table, reasons_text
from faceparity.render.report import render_html, render_markdown
from faceparity.render.verification.table import format_table
from faceparity.results.audit import AuditResult

GOLDEN = Path(__file__).parent / "golden"
EVIL = "<script>window.__pwned=1</script>"

# Ten images of six subjects. F: a, a, b, b, c (one FTA, one FTE); M: d, d, e, e (one FTE);
# the last image (subject f) has no sex, so it has no group.
STATUS = [
    "enrolled",
    "enrolled",
    "failure_to_acquire",
    "failure_to_enrol",
    "enrolled",
    "enrolled",
    "enrolled",
    "enrolled",
    "failure_to_enrol",
    "failure_to_acquire",
]
REASONS = [
    "",
    "",
    "no face found",
    "quality below the limits",
    "",
    "",
    "",
    "",
    "model gave no usable embedding",
    "corrupt image",
]
SUBJECT = ["a", "a", "b", "b", "c", "d", "d", "e", "e", "f"]
SEX = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, -1], dtype=np.int32)
PIPELINE = {
    "detector": "scrfd (det_10g.onnx, score >= 0.5)",
    "model": "/home/someone/models/w600k_r50.onnx",
    "model_digest": "0123456789abcdef" * 4,
    "spec": {
        "name": "arcface-convention",
        "size": 112,
        "mean": 127.5,
        "std": 127.5,
        "channel_order": "RGB",
        "layout": "NCHW",
        "flip": False,
    },
    "quality_limits": {"min_face_size": 40, "max_yaw": 45.0},
    "pipeline_digest": "fedcba9876543210" * 4,
    "path_column": "path",
    "subject_column": "subject",
}
SECTIONS = [
    "At a glance",
    "System under test",
    "Intended use and out-of-scope uses",
    "Factors",
    "Metrics and thresholds",
    "Evaluation data",
    "Quantitative analyses",
    "Score distributions",
    "Failures to acquire and enrol",
    "The differential in one sentence",
    "Ethical considerations",
    "Caveats",
    "Evidence index",
    "Test log",
]


def _audit() -> AuditResult:
    """The golden 1:1 audit by sex (F: FNMR 0; M: FNMR 1/3 at every operating point)."""
    data = json.loads((GOLDEN / "sex.json").read_text())
    return AuditResult.from_dict(data)


def _result(
    *,
    replicates: int = 0,
    reasons: list[str] = REASONS,
    levels: tuple[str, str] = ("F", "M"),
    name: str = "sex",
) -> AuditResult:
    """The audit with the acquisition of the ten images (Clopper-Pearson by default)."""
    acq = acquisition_by_group(
        STATUS,
        reasons,
        SUBJECT,
        {name: SEX},
        {name: levels},
        [name],
        pipeline=PIPELINE,
        replicates=replicates,
        seed=3,
    )
    return with_acquisition(_audit(), acq)


def _headings(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<h2[^>]*>(.*?)</h2>", html)]


# --- the terminal table --------------------------------------------------------------------

# Clopper-Pearson 95%: 1/5 -> [0.00505, 0.7164]; 0/4 -> [0, 1 - 0.025^(1/4)] = [0, 0.6024];
# 1/4 -> [0.00631, 0.8059]; 2/10 -> [0.02521, 0.5561].
# Generalised FNMR f + (1 - f) FNMR: F 0.4 + 0.6 * 0 = 0.4; M 0.25 + 0.75 / 3 = 0.5.
TABLE = """\
failures to acquire and enrol (image pipeline; ISO/IEC 19795-1, shares of all images)
10 images of 6 subjects: 6 enrolled, 2 failures to acquire, 2 failures to enrol
group    images  subjects  enrolled  not acquired        FTA            FTA interval  not enrolled        FTE            FTE interval  main reasons
-------  ------  --------  --------  ------------  ---------  ----------------------  ------------  ---------  ----------------------  -----------------------------------------------------------
F             5         3         3             1  2.000e-01  [5.051e-03, 7.164e-01]             1  2.000e-01  [5.051e-03, 7.164e-01]  no face found: 1; quality below the limits: 1
M             4         2         3             0  0.000e+00  [0.000e+00, 6.024e-01]             1  2.500e-01  [6.309e-03, 8.059e-01]  model gave no usable embedding: 1
overall      10         6         6             2  2.000e-01  [2.521e-02, 5.561e-01]             2  2.000e-01  [2.521e-02, 5.561e-01]  corrupt image: 1; model gave no usable embedding: 1; 2 more
images without a group: 1
  note: intervals: clopper-pearson (images)
  note: intervals: clopper-pearson (no failures seen: an exact upper bound, not a zero)
"""  # noqa: E501

FNMR_TABLE = """\
FNMR of the enrolled images and FNMR with failures (an image without a template counts as a false non-match; the generalised FNMR of ISO/IEC 19795-1)
target FMR  policy           group         FNMR  FTA + FTE  FNMR with failures
----------  ---------------  -------  ---------  ---------  ------------------
0.2         global           overall  1.667e-01  4.000e-01           5.000e-01
0.2         global           F        0.000e+00  4.000e-01           4.000e-01
0.2         global           M        3.333e-01  2.500e-01           5.000e-01
0.1         global           overall  1.667e-01  4.000e-01           5.000e-01
0.1         global           F        0.000e+00  4.000e-01           4.000e-01
0.1         global           M        3.333e-01  2.500e-01           5.000e-01
0.2         per-group        overall        n/a  4.000e-01                 n/a
0.2         per-group        F        0.000e+00  4.000e-01           4.000e-01
0.2         per-group        M        3.333e-01  2.500e-01           5.000e-01
0.1         per-group        overall        n/a  4.000e-01                 n/a
0.1         per-group        F        0.000e+00  4.000e-01           4.000e-01
0.1         per-group        M        3.333e-01  2.500e-01           5.000e-01
0.2         reference:sex=M  overall  1.667e-01  4.000e-01           5.000e-01
0.2         reference:sex=M  F        0.000e+00  4.000e-01           4.000e-01
0.2         reference:sex=M  M        3.333e-01  2.500e-01           5.000e-01
0.1         reference:sex=M  overall  1.667e-01  4.000e-01           5.000e-01
0.1         reference:sex=M  F        0.000e+00  4.000e-01           4.000e-01
0.1         reference:sex=M  M        3.333e-01  2.500e-01           5.000e-01
"""  # noqa: E501


def test_table_counts_rates_intervals_reasons_and_generalised_fnmr() -> None:
    acq = _result().acquisition
    assert acq is not None
    text = format_acquisition_table(acq)
    first, second = text.split("\n\n")
    assert first + "\n" == TABLE + "".join(f"  note: {n}\n" for n in acq.notes)
    assert second == FNMR_TABLE
    assert "skin tone" not in text


def test_table_of_a_bootstrap_says_where_it_gave_no_interval() -> None:
    acq = _result(replicates=200).acquisition
    assert acq is not None
    rows = {line.split()[0]: line for line in format_acquisition_table(acq).splitlines()[4:7]}
    # three subjects in F: a replicate draws none of them about e^-3 = 5% of the time
    assert acq.groups[0].fta_ci is not None and acq.groups[0].fta_ci.ci_low is None
    assert rows["F"].split()[5:7] == ["2.000e-01", "-"]
    text = format_acquisition_table(acq)
    assert "  note: intervals: subject bootstrap (Poisson weights), percentile\n" in text
    assert "  note: -: a bootstrap interval is missing where too many replicates" in text


def test_reasons_most_frequent_first_then_by_name() -> None:
    assert reasons_text({"b": 2, "a": 2, "c": 5}) == "c: 5; a: 2; b: 2"
    assert reasons_text({"b": 2, "a": 2, "c": 5}, limit=1) == "c: 5; 2 more"
    assert reasons_text({"x": 1_234}) == "x: 1,234"
    assert reasons_text({}) == "-"


def test_cli_prints_the_acquisition_table_after_the_one_to_one_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = _result()
    acq = result.acquisition
    assert acq is not None
    print_result(with_acquisition(_audit(), acq), as_json=False)
    out = capsys.readouterr().out
    assert out == format_table(result) + "\n" + format_acquisition_table(acq)
    print_result(with_acquisition(_audit(), acq), as_json=True)
    assert json.loads(capsys.readouterr().out) == result.to_dict()


# --- the report ----------------------------------------------------------------------------


def test_html_section_table_generalised_fnmr_and_pipeline() -> None:
    html = render_html(_result())
    assert _headings(html) == SECTIONS
    assert '<li><a href="#acquisition">Failures to acquire and enrol</a></li>' in html
    assert (
        '<tr><th scope="row">F</th><td class="text">sex F</td><td>5</td><td>3</td><td>3</td>'
        "<td>2.000e-01</td><td>[5.051e-03, 7.164e-01]</td><td>1 / 5</td>"
        "<td>2.000e-01</td><td>[5.051e-03, 7.164e-01]</td><td>1 / 5</td>"
        '<td class="text">no face found: 1; quality below the limits: 1</td></tr>'
    ) in html
    assert (
        '<tr><th scope="row">M</th><td class="text">sex M</td><td>4</td><td>2</td><td>3</td>'
        "<td>0.000e+00</td><td>[0.000e+00, 6.024e-01]</td><td>0 / 4</td>"
        "<td>2.500e-01</td><td>[6.309e-03, 8.059e-01]</td><td>1 / 4</td>"
        '<td class="text">model gave no usable embedding: 1</td></tr>'
    ) in html
    assert (
        '<tr><th scope="row">all images</th><td class="text">every image of the run</td>'
        "<td>10</td><td>6</td><td>6</td><td>2.000e-01</td><td>[2.521e-02, 5.561e-01]</td>"
        "<td>2 / 10</td><td>2.000e-01</td><td>[2.521e-02, 5.561e-01]</td><td>2 / 10</td>"
        '<td class="text">corrupt image: 1; model gave no usable embedding: 1; no face found: 1; '
        "quality below the limits: 1</td></tr>"
    ) in html
    assert (
        "<p>Images without a group (a group-by attribute missing; counted in all images "
        "only): 1.</p>"
    ) in html
    assert (
        '<tr><td>0.1</td><td class="text">reference:sex=M</td><td class="text">M</td>'
        "<td>3.333e-01</td><td>2.500e-01</td><td>5.000e-01</td></tr>"
    ) in html
    section = html.split('<section aria-labelledby="acquisition">')[1].split("</section>")[0]
    # 2 target FMRs x (overall, F, M)
    assert section.count('<td class="text">global</td>') == 6
    pipeline = {
        k: v
        for k, v in re.findall(
            r'<tr><th scope="row">([^<]+)</th><td class="text">([^<]*)</td>', html
        )
    }
    assert pipeline["face detector"] == "scrfd (det_10g.onnx, score &gt;= 0.5)"
    assert pipeline["recognition model (file)"] == "w600k_r50.onnx"
    assert pipeline["model digest"] == "0123456789ab..."
    assert pipeline["pipeline digest"] == "fedcba987654..."
    assert pipeline["model input spec"] == (
        "name arcface-convention; size 112; mean 127.5; std 127.5; channel order RGB; "
        "layout NCHW; flip False"
    )
    assert pipeline["enrolment quality limits"] == "min face size 40; max yaw 45"
    assert "/home/someone" not in html and "0123456789abcdef0" not in html
    assert (
        "<p>The image pipeline read 10 images of 6 subjects: 6 enrolled, 2 failures to acquire "
        "(FTA 2.000e-01) and 2 failures to enrol (FTE 2.000e-01); only the enrolled images are "
        "compared (see Failures to acquire and enrol).</p>"
    ) in html.split('<h2 id="analyses">')[0]  # in the evaluation data
    assert "Individual Typology Angle" not in html  # grouped by sex: no skin-tone caveat
    assert "<script" not in html


def test_markdown_section_has_the_same_cells() -> None:
    md = render_markdown(_result())
    assert re.findall(r"^## (.*)$", md, re.M) == SECTIONS
    assert (
        "| F | sex F | 5 | 3 | 3 | 2.000e-01 | \\[5.051e-03, 7.164e-01\\] | 1 / 5 | 2.000e-01 | "
        "\\[5.051e-03, 7.164e-01\\] | 1 / 5 | no face found: 1; quality below the limits: 1 |"
    ) in md
    assert (
        "| M | sex M | 4 | 2 | 3 | 0.000e+00 | \\[0.000e+00, 6.024e-01\\] | 0 / 4 | 2.500e-01 | "
        "\\[6.309e-03, 8.059e-01\\] | 1 / 4 | model gave no usable embedding: 1 |"
    ) in md
    assert "| 0.2 | per-group | F | 0.000e+00 | 4.000e-01 | 4.000e-01 |" in md
    assert "| recognition model (file) | w600k\\_r50.onnx |" in md
    assert "| model digest | 0123456789ab... |" in md
    assert (
        "Images without a group (a group-by attribute missing; counted in all images only): 1."
        in md
    )  # noqa: E501
    assert "Intervals: clopper-pearson (images); clopper-pearson (no failures seen" in md
    assert "Individual Typology Angle" not in md


def test_bootstrap_interval_that_could_not_be_computed_is_said_so() -> None:
    html = render_html(_result(replicates=200))
    section = html.split('<section aria-labelledby="acquisition">')[1]
    row = re.search(r'<tr><th scope="row">F</th>.*?</tr>', section)
    assert row is not None
    assert "<td>2.000e-01</td><td>no interval computed</td><td>1 / 5</td>" in row.group(0)
    assert "no interval computed: a bootstrap interval is missing where too many" in html


def test_skin_tone_caveat_when_grouped_by_ita_band() -> None:
    # grouped by skin tone: the image without a face has no ITA, so it has no group
    result = _result(levels=("light", "tan"), name="ita_band")
    acq = result.acquisition
    assert acq is not None and acq.n_ungrouped == 1
    assert acq.fnmr_with_failures[0].groups == []  # the audit's groups are by sex
    text = format_acquisition_table(acq)
    assert "  note: skin tone (ITA) is measured on the aligned face" in text
    assert "not ethnicity nor a Fitzpatrick type" in text
    assert "FNMR with failures (" not in text
    assert text.endswith(
        "  note: no FNMR with failures: no group here is a group of the 1:1 audit "
        "(they were grouped by different attributes)\n"
    )
    html = render_html(result)
    caveat = str(escape(SKIN_TONE_CAVEAT))
    assert f'<p class="notice" role="note">{caveat}</p>' in html
    assert f"<li>{caveat}</li>" in html  # and among the caveats
    assert "Note: no FNMR with failures: no group here is a group of the 1:1 audit" in html
    for words in (
        "colorimetric measure of the skin region of the aligned face",
        "lighting, white balance, camera processing and make-up",
        "not ethnicity and not a Fitzpatrick type",
        "within one data set taken under similar conditions",
    ):
        assert words in SKIN_TONE_CAVEAT
    md = render_markdown(result)
    assert md.count("Individual Typology Angle") == 2
    assert '<td class="text">ita_band light</td>' in html


def test_skin_tone_caveat_when_the_pipeline_says_it_measured_skin_tone() -> None:
    data = _result().to_dict()
    section = build_acquisition(AuditResult.from_dict(data))
    assert section is not None and section.skin_tone_caveat == ""
    data["acquisition"]["pipeline"]["skin_tone"] = True
    section = build_acquisition(AuditResult.from_dict(data))
    assert section is not None and section.skin_tone_caveat == SKIN_TONE_CAVEAT


@pytest.mark.parametrize("render", [render_html, render_markdown])
def test_group_labels_reasons_and_pipeline_are_escaped(render: Any) -> None:
    reasons = [r if r != "no face found" else EVIL + " | *x*" for r in REASONS]
    data = _result(reasons=reasons, levels=(EVIL, "M")).to_dict()
    data["acquisition"]["pipeline"]["detector"] = "<img src=x onerror=alert(1)>"
    data["acquisition"]["pipeline"]["model"] = "C:\\models\\<b>evil.onnx"
    out = render(AuditResult.from_dict(data))
    assert "<script" not in out and "<img" not in out and "<b>" not in out
    if render is render_markdown:
        assert "| &lt;script&gt;window.\\_\\_pwned=1&lt;/script&gt; | sex " in out
        assert "&lt;script&gt;window.\\_\\_pwned=1&lt;/script&gt; \\| \\*x\\*: 1" in out
    else:
        assert '<th scope="row">&lt;script&gt;window.__pwned=1&lt;/script&gt;</th>' in out
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt; | *x*: 1" in out
        assert "&lt;img src=x onerror=alert(1)&gt;" in out
        assert "&lt;b&gt;evil.onnx" in out


def test_table_passes_user_strings_through_as_plain_text() -> None:
    reasons = [r if r != "no face found" else EVIL for r in REASONS]
    acq = _result(reasons=reasons, levels=(EVIL, "M")).acquisition
    assert acq is not None
    lines = format_acquisition_table(acq).splitlines()
    assert lines[4].startswith(EVIL + "  ")
    assert lines[4].endswith(f"{EVIL}: 1; quality below the limits: 1")


# --- results without an acquisition section --------------------------------------------------


def _strip_acquisition_html(html: str) -> str:
    # The evidence index links FTA and FTE to the section when there is one.
    html = re.sub(
        r"<tr><td class=\"text\">[^<]*</td><td class=\"text\">failure to acquire.*?</tr>", "", html
    )
    html = html.replace('\n<li><a href="#acquisition">Failures to acquire and enrol</a></li>', "")
    html = re.sub(r"<p>The image pipeline read [^<]*</p>", "", html)
    return re.sub(
        r'<section aria-labelledby="acquisition">.*?\n</section>\n\n(?=<section)',
        "",
        html,
        flags=re.S,
    )


def _strip_acquisition_md(md: str) -> str:
    md = re.sub(r"\n\| [^|\n]* \| failure to acquire[^\n]*", "", md)
    md = re.sub(r"\n\nThe image pipeline read [^\n]*", "", md)
    return re.sub(
        r"## Failures to acquire and enrol\n.*?(?=## The differential)", "", md, flags=re.S
    )


def test_results_without_acquisition_render_as_before() -> None:
    plain = _audit()
    assert plain.acquisition is None and "acquisition" not in plain.to_dict()
    assert build_acquisition(plain) is None
    with_section = _result()
    html = render_html(plain)
    assert "acquisition" not in html.lower() and "FTA" not in html
    assert _strip_acquisition_html(render_html(with_section)) == _strip_acquisition_html(html)
    md = render_markdown(plain)
    assert "acquisition" not in md.lower() and "FTA" not in md
    assert _strip_acquisition_md(render_markdown(with_section)) == _strip_acquisition_md(md)
