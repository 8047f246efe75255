"""``faceparity plan``: golden outputs, the JSON file, and every bad input as exit 2.

Run with ``FACEPARITY_UPDATE_GOLDEN=1`` to rewrite the golden files after a deliberate
change, then read the diff before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceparity import __version__, cli
from faceparity.cli import plan as plan_cli
from faceparity.uncertainty.sample_size import IntervalKind

GOLDEN = Path(__file__).parent / "golden"
RESULTS = GOLDEN / "sex.json"
PLAN = ["plan", "--target-fmr", "1e-3,1e-4", "--target-fnmr", "0.01", "--groups", "8"]


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def _normalise(text: str) -> str:
    text = text.replace(str(RESULTS), "sex.json")
    return text.replace(f'"version": "{__version__}"', '"version": "VERSION"')


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("plan.txt", PLAN),
        ("plan.json", [*PLAN, "--json"]),
        (
            "plan_clopper_pearson.txt",
            [
                "plan",
                "--target-fmr",
                "1e-5",
                "--precision",
                "0.2",
                "--level",
                "0.9",
                "--samples-per-subject",
                "3",
                "--icc",
                "0.0005",
                "--icc-pair",
                "0.05",
                "--interval",
                "clopper-pearson",
            ],
        ),
        ("plan_from_sex.txt", ["plan", "--from", str(RESULTS)]),
        ("plan_from_sex.json", ["plan", "--from", str(RESULTS), "--json"]),
    ],
)
def test_output_matches_golden_file(name: str, args: list[str]) -> None:
    result = _invoke(*args)
    assert result.exit_code == 0, result.stderr
    text = _normalise(result.stdout)
    path = GOLDEN / name
    if os.environ.get("FACEPARITY_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_json_file_is_the_printed_json(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "plan.json"
    written = _invoke(*PLAN, "-o", str(out))
    printed = _invoke(*PLAN, "--json")
    assert written.exit_code == printed.exit_code == 0
    assert out.read_text() == printed.stdout
    assert f"wrote {out}" in written.stderr
    assert written.stdout.startswith("faceparity plan: what each group needs")
    data = json.loads(out.read_text())
    assert data["n_subjects_per_group"] == max(r["n_subjects"] for r in data["rates"])


def test_from_checks_the_given_targets() -> None:
    result = _invoke("plan", "--from", str(RESULTS), "--target-fmr", "0.5", "--json")
    assert result.exit_code == 0, result.stderr
    overall = json.loads(result.stdout)["groups"][-1]
    # 12 non-mated comparisons overall: 6 false matches expected at 0.5
    assert overall["targets"] == [
        {
            "target_fmr": 0.5,
            "sufficient": False,
            "expected_errors": 6.0,
            "reason": overall["targets"][0]["reason"],
        }
    ]


def test_interval_choices_are_the_library_enum() -> None:
    assert plan_cli._PLAN_INTERVALS == [k.value for k in IntervalKind]


def _broken_results(tmp_path: Path) -> Path:
    data = json.loads(RESULTS.read_text())
    del data["groups"][1]["n_non_mated"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan"], "error: expected --target-fmr (and optionally --target-fnmr) to plan for"),
        (
            ["plan", "--target-fmr", "1e-3,x"],
            "error: --target-fmr: expected comma-separated numbers in (0, 1), got '1e-3,x'",
        ),
        (
            ["plan", "--target-fnmr", "1.5"],
            "error: --target-fnmr: expected comma-separated numbers in (0, 1), got '1.5'",
        ),
        (
            ["plan", "--target-fmr", "1e-3", "--precision", "0"],
            "error: precision: expected a relative half-width in (0, 1], got 0.0",
        ),
        (
            ["plan", "--target-fmr", "1e-3", "--level", "95"],
            "error: level: expected a confidence level in (0, 1), got 95.0",
        ),
        (
            ["plan", "--target-fmr", "1e-3", "--icc", "-1"],
            "error: icc: expected a correlation in [0, 1], got -1.0",
        ),
        (
            ["plan", "--from", str(RESULTS), "--icc", "0.1", "--groups", "3"],
            "error: --icc, --groups: plans a data collection; it does not apply with --from",
        ),
        (["plan", "--from", "no-such.json"], "error: no-such.json: cannot read the file"),
        (["plan", "--target-fmr", "1e-3", "--samples-per-subject", "1"], "Invalid value"),
    ],
)
def test_bad_input_exits_2_with_a_message(args: list[str], message: str) -> None:
    result = _invoke(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_results_without_a_count_name_the_file_and_key(tmp_path: Path) -> None:
    path = _broken_results(tmp_path)
    result = _invoke("plan", "--from", str(path))
    assert result.exit_code == 2
    assert result.stderr == (f"error: {path}: groups[1]: expected key 'n_non_mated'\n")


def test_unwritable_output_exits_73(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _invoke(*PLAN, "-o", str(blocker / "plan.json"))
    assert result.exit_code == 73
    assert "cannot write" in result.stderr


TOO_MANY = "comparisons, more than any audit can count"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # ZeroDivisionError / OverflowError before: 1 / target and z^2 / (p r^2) overflowed
        (["--target-fmr", "5e-324"], "--target-fmr: expected rates of at least 2.225"),
        (["--target-fmr", "1e-320", "--interval", "clopper-pearson"], "--target-fmr: expected"),
        (["--target-fmr", "1e-3", "--target-fnmr", "5e-324"], "--target-fnmr: expected rates"),
        (["--target-fmr", "1e-300"], "target FMR 1e-300 at precision 0.3 and level 0.95: needs"),
        (["--target-fmr", "1e-300", "--interval", "clopper-pearson"], TOO_MANY),
        (["--target-fmr", "0.1", "--target-fnmr", "1e-300"], "target FNMR 1e-300 at"),
        (["--target-fmr", "1e-3", "--precision", "5e-324"], TOO_MANY),
        (["--target-fmr", "1e-3", "--precision", "1e-300"], TOO_MANY),
        (["--target-fmr", "1e-3", "--precision", "1e-17"], TOO_MANY),  # looped for ever
        (["--target-fmr", "1e-3", "--precision", "nan"], "precision: expected a relative"),
        (
            ["--target-fmr", "1e-3", "--samples-per-subject", "9" * 400],
            "samples_per_subject: expected an integer of at most 1,000,000",
        ),
        (["--target-fmr", "1e-3", "--groups", str(2**63)], "'--groups'"),
    ],
)
def test_numbers_at_the_edges_exit_2(args: list[str], message: str) -> None:
    result = _invoke("plan", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "internal error" not in result.stderr and result.stdout == ""


def test_a_level_next_to_1_gives_a_finite_plan() -> None:
    """At the largest level below 1, 1 - (1 - level) / 2 rounds to 1 (z was infinite)."""
    level = str(float.fromhex("0x1.fffffffffffffp-1"))
    result = _invoke("plan", "--target-fmr", "1e-3", "--level", level, "--json")
    assert result.exit_code == 0, result.output
    at_edge = json.loads(result.stdout)["rates"][0]["n_comparisons_independent"]
    below = _invoke("plan", "--target-fmr", "1e-3", "--level", "0.99999999999999", "--json")
    assert at_edge > json.loads(below.stdout)["rates"][0]["n_comparisons_independent"]
