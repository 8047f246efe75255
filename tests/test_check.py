"""The policy gate: limits files, violations, exit codes, golden output."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceparity import cli
from faceparity.errors import InputError, UsageError
from faceparity.results import AuditResult
from faceparity.review.check import check_limits, parse_limits, read_limits

GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("FACEPARITY_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def _results() -> dict:
    return json.loads((GOLDEN / "sex.json").read_text())


def test_check_command_matches_golden_and_exits_1() -> None:
    run = CliRunner().invoke(
        cli.main, ["check", str(GOLDEN / "sex.json"), str(GOLDEN / "limits_sex.toml")]
    )
    assert run.exit_code == 1
    _golden("check_sex.txt", run.stdout.replace(str(GOLDEN) + "/", ""))


def test_audit_check_writes_results_then_exits_1_with_the_violations(tmp_path: Path) -> None:
    from test_golden import ARGS

    run = CliRunner().invoke(
        cli.main,
        [
            "audit",
            "pairs",
            str(GOLDEN / "pairs.csv"),
            *ARGS,
            "--group-by",
            "sex",
            "--policy",
            "reference:sex=M",
            "-o",
            str(tmp_path),
            "--check",
            str(GOLDEN / "limits_sex.toml"),
        ],
    )
    assert run.exit_code == 1
    assert (tmp_path / "results.json").exists() and (tmp_path / "report.html").exists()
    report = run.stderr[run.stderr.index("check of") :].replace(str(GOLDEN) + "/", "")
    expected = (GOLDEN / "check_sex.txt").read_text().replace("sex.json", "the audit's results")
    assert report == expected
    assert "target FMR 0.2, policy global" in run.stdout  # the table is still printed


def test_limits_that_hold_exit_0(tmp_path: Path) -> None:
    limits = tmp_path / "ok.toml"
    limits.write_text('[[limit]]\ntarget_fmr = 0.2\nmeasure = "fmr.max_min"\nmax = 1.0\n')
    run = CliRunner().invoke(cli.main, ["check", str(GOLDEN / "sex.json"), str(limits)])
    assert run.exit_code == 0, run.stdout
    assert run.stdout.endswith("all 1 limits hold\n")


def test_the_example_limits_file_parses() -> None:
    limits = read_limits(EXAMPLES / "limits.toml")
    assert [lim.measure or lim.rate for lim in limits.limits] == ["fmr.max_geomean", "fnmr", "fmr"]
    assert limits.limits[0].line == 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[limit]\n", "expected TOML: "),
        (
            "undefined = 3\n[[limit]]\ntarget_fmr = 1e-4\nrate = 'fmr'\nmax = 1\n",
            'line 1, key \'undefined\': expected "fail" or "pass", got 3',
        ),
        (
            "[[limit]]\ntarget_fmr = 1e-4\nrate = 'fmr'\nmax = 1\n\n[[limit]]\ntarget_fmr = 1e-4\n"
            "measure = 'fmr.max_geo'\nmax = 3\n",
            "line 8, key 'measure': limit 2: expected one of fmr.max_min",
        ),
        (
            "[[limit]]\ntarget_fmr = 2\nrate = 'fmr'\nmax = 1\n",
            "line 2, key 'target_fmr': limit 1: expected a number in (0, 1), got 2",
        ),
        (
            "[[limit]]\ntarget_fmr = 1e-4\nrate = 'fmr'\nmax = 'low'\n",
            "line 4, key 'max': limit 1: expected a number, got 'low'",
        ),
        (
            "[[limit]]\ntarget_fmr = 1e-4\nrate = 'fmr'\n",
            "line 1: limit 1: expected max or min (or both)",
        ),
        (
            "[[limit]]\ntarget_fmr = 1e-4\nrate = 'fmr'\nmax = 1\nthreshold = 0.3\n",
            "line 5, key 'threshold': limit 1: unknown key",
        ),
        (
            "[[limit]]\ntarget_fmr = 1e-4\nrate = 'fmr'\nmeasure = 'garbe'\nmax = 1\n",
            "limit 1: expected exactly one of measure",
        ),
        (
            "[[limit]]\ntarget_fmr = 1e-4\nrate = 'fmr'\nmax = 1\ninterval = 'upper'\n",
            "line 5, key 'interval': limit 1: expected \"estimate\" or \"bound\", got 'upper'",
        ),
        (
            "[[limit]]\ntarget_fmr = 1e-4\nrate = 'fmr'\nmax = 0.1\nmin = 0.2\n",
            "line 5, key 'min': limit 1: expected min <= max, got min 0.2 above max 0.1",
        ),
        (
            "[[limit]]\ntarget_fmr = 1e-4\nmeasure = ['fmr.gini']\nmax = 1\n",
            "line 3, key 'measure': limit 1: expected one of fmr.max_min, fmr.max_geomean",
        ),
        (
            "[[limit]]\ntarget_fmr = 1e-4\nmeasure = {gini = 1}\nmax = 1\n",
            "line 3, key 'measure': limit 1: expected one of fmr.max_min, fmr.max_geomean",
        ),
        ("policy = 'global'\n", "line 1, key 'policy': unknown key"),
        ("", "key 'limit': expected at least one [[limit]] table"),
    ],
)
def test_bad_limits_files_are_exit_2_naming_line_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_limits(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)
    run = CliRunner().invoke(cli.main, ["check", str(GOLDEN / "sex.json"), str(path)])
    assert run.exit_code == 2 and message in run.stderr and "Traceback" not in run.stderr
    # audit --check refuses the file before reading any input, and writes nothing
    run = CliRunner().invoke(
        cli.main,
        [
            "audit",
            "pairs",
            str(tmp_path / "absent.csv"),
            "--score",
            "s",
            "--score-kind",
            "similarity",
            "--subjects",
            "a,b",
            "--group-by",
            "sex",
            "-o",
            str(tmp_path / "out"),
            "--check",
            str(path),
        ],
    )
    assert run.exit_code == 2 and message in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_limit_on_an_operating_point_the_results_lack_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text("\n[[limit]]\ntarget_fmr = 1e-5\nrate = 'fmr'\nmax = 1\n")
    run = CliRunner().invoke(cli.main, ["check", str(GOLDEN / "sex.json"), str(path)])
    assert run.exit_code == 2
    assert f"{path}, line 2: limit 1 names the operating point target FMR 1e-05" in run.stderr
    assert f"which {GOLDEN / 'sex.json'} does not have" in run.stderr
    with pytest.raises(UsageError, match="groups 'X'"):
        check_limits(
            AuditResult.from_dict(_results()),
            parse_limits("[[limit]]\ntarget_fmr = 0.2\nrate = 'fmr'\ngroups = ['X']\nmax = 1\n"),
        )


def test_interval_bound_uses_the_interval_when_present() -> None:
    data = copy.deepcopy(_results())
    g = data["operating_points"][0]["groups"][0]  # F at 0.2 global, FMR 1/3
    text = "[[limit]]\ntarget_fmr = 0.2\nrate = 'fmr'\ngroups = ['F']\nmax = 0.4\n"
    without = AuditResult.from_dict(copy.deepcopy(data))
    assert check_limits(without, parse_limits(text)).exit_code == 0
    bound = parse_limits(text + "interval = 'bound'\n")
    report = check_limits(without, bound)
    assert report.exit_code == 0 and "no interval in the results" in report.format()
    g["fmr_ci"] = {"ci_low": 0.2, "ci_high": 0.45, "method": "bootstrap"}
    with_ci = AuditResult.from_dict(data)
    report = check_limits(with_ci, bound)
    assert report.exit_code == 1
    assert "group F: upper bound 0.45 > 0.4 (estimate 0.3333)" in report.format()
    assert check_limits(with_ci, parse_limits(text)).exit_code == 0  # the estimate still holds


def test_undefined_values_fail_unless_allowed() -> None:
    text = "[[limit]]\ntarget_fmr = 0.2\nmeasure = 'fnmr.max_min'\nmax = 100\n"
    report = check_limits(AuditResult.from_dict(_results()), parse_limits(text))
    assert report.exit_code == 1 and "undefined (unbounded: zero observed errors in F" in (
        report.format()
    )
    undefined_pass = parse_limits('undefined = "pass"\n' + text)
    assert check_limits(AuditResult.from_dict(_results()), undefined_pass).exit_code == 0


def _limit_mutations() -> list[tuple[str, str]]:
    """``limits_sex.toml`` with one value of one limit replaced, or a key deleted."""
    text = (GOLDEN / "limits_sex.toml").read_text()
    lines = text.splitlines()
    values = ["'mutant'", "true", "[1]", "{a = 1}", "nan", "inf", "-1", "1e308", "0", "2"]
    out = []
    for i, line in enumerate(lines):
        key, sep, _ = line.partition(" = ")
        if not sep or line.startswith("#"):
            continue
        for value in values:
            changed = [*lines[:i], f"{key} = {value}", *lines[i + 1 :]]
            out.append((f"line {i + 1} {key}={value}", "\n".join(changed) + "\n"))
        out.append((f"line {i + 1} {key} deleted", "\n".join(lines[:i] + lines[i + 1 :]) + "\n"))
        if key == "max":
            above = [*lines[: i + 1], "min = 1000", *lines[i + 1 :]]
            out.append((f"line {i + 1} min above max", "\n".join(above) + "\n"))
    return out


@pytest.mark.parametrize(
    ("name", "text"), [pytest.param(n, t, id=n) for n, t in _limit_mutations()]
)
def test_mutated_limits_file_is_checked_or_refused_naming_it(name: str, text: str) -> None:
    results = AuditResult.from_dict(_results())
    try:
        limits = parse_limits(text, file="limits.toml")
        report = check_limits(limits=limits, results=results, results_name="sex.json")
    except (InputError, UsageError) as err:
        assert str(err).startswith("limits.toml") or "limits.toml" in str(err), str(err)
        return
    assert report.exit_code in (0, 1)
    for limit in limits.limits:
        assert limit.min is None or limit.max is None or limit.min <= limit.max
    assert report.format().endswith(("limits hold\n", "limits\n"))


def test_mutated_limits_file_by_the_command_line(tmp_path: Path) -> None:
    """A few of the mutations through ``faceparity check``: exit 0, 1 or 2, never 70."""
    for name, text in _limit_mutations()[::7]:
        path = tmp_path / "limits.toml"
        path.write_text(text)
        run = CliRunner().invoke(cli.main, ["check", str(GOLDEN / "sex.json"), str(path)])
        assert run.exit_code in (0, 1, 2), (name, run.output)
        assert "internal error" not in run.output, (name, run.output)
        if run.exit_code == 2:
            assert str(path) in run.stderr, (name, run.stderr)
