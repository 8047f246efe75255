"""The typed result: one writer, one reader, and every audit kind survives the round trip.

``AuditResult.from_dict(r.to_dict()).to_dict() == r.to_dict()`` and the JSON text is
unchanged, for real audits: exact, bootstrap, closed-form, streaming (pairs and
embeddings), with the 1:N section and with the acquisition section. The reader names
the file and the key path of what is wrong.
"""

from __future__ import annotations

import json
import re
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
            "r.json: operating_points[1].overall.fmr_ci: expected an object or null, got a list",
        ),
        (
            lambda d: d["input"].__setitem__("n_comparisons", "18"),
            "r.json: input.n_comparisons: expected an integer, got the string '18'",
        ),
        (
            lambda d: d["groups"][0].__setitem__("score_distribution", {}),
            "r.json: groups[0]: unexpected key 'score_distribution'",
        ),
        (
            lambda d: d.__setitem__("schema_version", "2.0"),
            "r.json: expected results schema_version '1.0' or '1.1', got '2.0'",
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


def _text(change: Any, source: str = "sex.json") -> str:
    """A golden results file with one change, as JSON text (``NaN`` literals allowed)."""
    data = json.loads((GOLDEN / source).read_text())
    change(data)
    return json.dumps(data, indent=2)


def _refused(tmp_path: Path, text: str, name: str = "r.json") -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_results(path)
    message = str(err.value)
    assert message.startswith(f"{path}: "), message
    return message[len(f"{path}: ") :]


def _set(path: str, value: Any) -> Any:
    """A change that puts ``value`` at ``path`` (keys and indices, dot-separated)."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]

    def change(data: Any) -> None:
        for part in parents:
            data = data[part]
        data[last] = value

    return change


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "operating_points.0.summary.fmr.max_min.value",
            float("nan"),
            "operating_points[0].summary.fmr.max_min.value: expected a finite number or null, "
            "got NaN",
        ),
        (
            "operating_points.0.threshold",
            float("inf"),
            "operating_points[0].threshold: expected a finite number or null, got Infinity",
        ),
        (
            "groups.0.eer.eer",
            float("-inf"),
            "groups[0].eer.eer: expected a fraction in [0, 1], got -Infinity",
        ),
        (
            "operating_points.0.groups.0.fmr_ci.ci_low",
            float("nan"),
            "operating_points[0].groups[0].fmr_ci.ci_low: expected a finite number or null, "
            "got NaN",
        ),
    ],
)
def test_nan_and_infinity_literals_are_refused_with_their_path(
    tmp_path: Path, path: str, value: float, message: str
) -> None:
    assert _refused(tmp_path, _text(_set(path, value))) == message


def test_nan_in_results_is_exit_2_for_compare_not_an_internal_error(tmp_path: Path) -> None:
    bad = tmp_path / "b.json"
    bad.write_text(_text(_set("operating_points.0.summary.garbe.value", float("nan"))))
    out = tmp_path / "diff.json"
    run = CliRunner().invoke(
        cli.main, ["compare", str(GOLDEN / "sex.json"), str(bad), "-o", str(out)]
    )
    assert run.exit_code == 2, run.output
    assert run.stderr == (
        f"error: {bad}: operating_points[0].summary.garbe.value: expected a finite number or "
        "null, got NaN\n"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "operating_points.0.groups.1.fmr",
            1.5,
            "operating_points[0].groups[1].fmr: expected a fraction in [0, 1] or null, got 1.5",
        ),
        (
            "operating_points.0.overall.fnmr",
            -0.25,
            "operating_points[0].overall.fnmr: expected a fraction in [0, 1] or null, got -0.25",
        ),
        (
            "config.target_fmrs.0",
            1e308,
            "config.target_fmrs[0]: expected a rate in (0, 1), got 1e+308",
        ),
        (
            "operating_points.2.target_fmr",
            0,
            "operating_points[2].target_fmr: expected a rate in (0, 1), got 0",
        ),
        (
            "operating_points.0.summary.fmr.gini.value",
            -1.0,
            "operating_points[0].summary.fmr.gini.value: expected a fraction in [0, 1], got -1.0",
        ),
        (
            "operating_points.0.summary.garbe.value",
            1e308,
            "operating_points[0].summary.garbe.value: expected a fraction in [0, 1], got 1e+308",
        ),
        (
            "operating_points.0.summary.fnmr.max_geomean.value",
            1e308,
            "operating_points[0].summary.fnmr.max_geomean.value: expected a ratio of rates in "
            "[0, 2**63], got 1e+308",
        ),
        (
            "operating_points.0.summary.fmr.gini.value_ci",
            {"ci_low": 0.1, "ci_high": 1.5, "method": "bootstrap"},
            "operating_points[0].summary.fmr.gini.value_ci.ci_high: expected a fraction in "
            "[0, 1], got 1.5",
        ),
        (
            "groups.0.det.fnmr.0",
            2.0,
            "groups[0].det.fnmr[0]: expected a fraction in [0, 1], got 2.0",
        ),
        (
            "operating_points.1.overall.fmr_ci",
            {"ci_low": 0.5, "ci_high": 0.25, "method": "Wilson"},
            "operating_points[1].overall.fmr_ci: expected ci_low <= ci_high, got 0.5 and 0.25",
        ),
        (
            "operating_points.1.overall.fmr_ci",
            {"ci_low": 0.5, "ci_high": 1.25, "method": "Wilson"},
            "operating_points[1].overall.fmr_ci.ci_high: expected a fraction in [0, 1], got 1.25",
        ),
    ],
)
def test_impossible_values_are_refused_with_their_path(
    tmp_path: Path, path: str, value: Any, message: str
) -> None:
    assert _refused(tmp_path, _text(_set(path, value))) == message


def test_integer_too_large_is_refused_not_an_overflow(tmp_path: Path) -> None:
    bad = tmp_path / "r.json"
    bad.write_text(_text(_set("overall.n_non_mated", 10**400), "ident_sex.json"))
    run = CliRunner().invoke(cli.main, ["plan", "--from", str(bad), "--json"])
    assert run.exit_code == 2, run.output
    assert run.stderr == (
        f"error: {bad}: overall.n_non_mated: expected an integer below 2**63, "
        "got an integer of 401 digits\n"
    )
    text = _text(_set("operating_points.0.threshold", 10**400))
    assert _refused(tmp_path, text) == (
        "operating_points[0].threshold: expected a finite number or null, got an integer "
        "of 401 digits"
    )


@pytest.mark.parametrize(
    ("where", "path"),
    [
        ("root", ""),
        ("operating_points.0.notes", "operating_points[0].notes"),
        ("tool.name", "tool.name"),
    ],
)
def test_deep_nesting_is_refused_with_its_path(tmp_path: Path, where: str, path: str) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    text = deep if where == "root" else _text(_set(where, "DEEP")).replace('"DEEP"', deep)
    message = _refused(tmp_path, text)
    # the path of the first list below the limit: the mutated value's, then [0] down to it
    pattern = (
        re.escape(path) + r"(\[0\])+: expected JSON nested at most 64 deep \(line \d+, column \d+\)"
    )
    assert re.fullmatch(pattern, message), message


def test_nesting_within_the_parser_limit_is_refused_by_the_depth_limit() -> None:
    data = json.loads((GOLDEN / "sex.json").read_text())
    data["input"]["notes"] = json.loads("[" * 100 + "]" * 100)
    with pytest.raises(InputError) as err:
        validate_results(data, file="r.json")
    assert str(err.value).startswith(
        "r.json: input.notes" + "[0]" * 62 + ": expected JSON nested at most 64 deep"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            _set("schema_version", True),
            "expected results schema_version '1.0' or '1.1', got true",
        ),
        (
            lambda d: d.pop("schema_version"),
            "expected results schema_version '1.0' or '1.1', got no schema_version",
        ),
        (
            _set("operating_points.0.summary.fmr.max_min", True),
            "operating_points[0].summary.fmr.max_min: expected an object, got true",
        ),
        (
            _set("operating_points.0.summary.fmr.max_min.value", True),
            "operating_points[0].summary.fmr.max_min.value: expected a finite number or null, "
            "got true",
        ),
        (
            _set("input.n_comparisons", "18"),
            "input.n_comparisons: expected an integer, got the string '18'",
        ),
        (
            _set("input.n_comparisons", 18.5),
            "input.n_comparisons: expected an integer, got 18.5",
        ),
    ],
)
def test_wrong_types_are_named_in_json_words(tmp_path: Path, change: Any, message: str) -> None:
    assert _refused(tmp_path, _text(change)) == message


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        # A results file whose parts are of other shapes, as a hostile user wrote them: each
        # once crashed a renderer ('float' object has no attribute 'get', "Cannot specify ','
        # with 's'", "bad operand type for abs(): 'str'", "string indices must be integers",
        # "could not convert string to float").
        (
            "operating_points.0.summary.fmr",
            0.5,
            "operating_points[0].summary.fmr: expected an object, got 0.5",
        ),
        (
            "groups.0.n_mated",
            "3",
            "groups[0].n_mated: expected an integer, got the string '3'",
        ),
        (
            "operating_points.0.summary.garbe.value",
            "x",
            "operating_points[0].summary.garbe.value: expected a finite number or null, "
            "got the string 'x'",
        ),
        ("groups.0", "F", "groups[0]: expected an object, got the string 'F'"),
        (
            "operating_points.0.threshold",
            "0.5",
            "operating_points[0].threshold: expected a finite number or null, got the string '0.5'",
        ),
    ],
)
@pytest.mark.parametrize("command", ["report", "compare", "check", "plan"])
def test_causes_of_renderer_crashes_are_exit_2_at_the_reader(
    tmp_path: Path, command: str, path: str, value: Any, message: str
) -> None:
    bad = tmp_path / "r.json"
    bad.write_text(_text(_set(path, value)))
    args = {
        "report": ["report", str(bad), "-o", str(tmp_path / "report.md")],
        "compare": ["compare", str(GOLDEN / "sex.json"), str(bad)],
        "check": ["check", str(bad), str(GOLDEN / "limits_sex.toml")],
        "plan": ["plan", "--from", str(bad)],
    }[command]
    run = CliRunner().invoke(cli.main, args)
    assert run.exit_code == 2, run.output
    assert run.stderr == f"error: {bad}: {message}\n"
    assert not (tmp_path / "report.md").exists()


def test_a_rank_without_its_cmc_is_refused_before_the_report(tmp_path: Path) -> None:
    """A rank the CMC does not have: the report would head a column per rank up to it."""
    bad = tmp_path / "r.json"
    bad.write_text(_text(_set("identification.rank", 10**6), "ident_sex.json"))
    out = tmp_path / "report.md"
    run = CliRunner().invoke(cli.main, ["report", str(bad), "-o", str(out)])
    assert run.exit_code == 2, run.output
    assert run.stderr == (
        f"error: {bad}: identification.overall.cmc: expected 1000000 items (one per rank), got 2\n"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["identification"]["operating_points"][0]["false_candidates"]["counts"][
                0
            ].pop(),
            "identification.operating_points[0].false_candidates.counts[0]: expected 2 "
            "items (one per candidate group), got 1",
        ),
        (
            lambda d: d["identification"]["operating_points"][0]["false_candidates"][
                "n_searches"
            ].pop(),
            "identification.operating_points[0].false_candidates.n_searches: expected 2 "
            "items (one per probe group), got 1",
        ),
        (
            lambda d: d["identification"]["gallery_size"]["groups"][0]["fnir"].pop(),
            "identification.gallery_size.groups[0].fnir: expected 3 items (one per "
            "gallery size), got 2",
        ),
        (
            lambda d: d["groups"][0]["det"]["threshold"].pop(),
            "groups[0].det.threshold: expected 5 items (one per fmr), got 4",
        ),
    ],
)
def test_lists_of_unequal_length_are_refused(tmp_path: Path, change: Any, message: str) -> None:
    assert _refused(tmp_path, _text(change, "ident_sex.json")) == message


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    text = (
        (GOLDEN / "sex.json")
        .read_text()
        .replace(
            '"score_kind": "similarity",',
            '"score_kind": "similarity",\n    "score_kind": "distance",',
        )
    )
    assert _refused(tmp_path, text) == "input: key 'score_kind' given twice"
