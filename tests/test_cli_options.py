"""Options are never silently overridden or ignored: a usage error (exit 2) before any work.

Each case exited 0 before: a repeated single-value option kept its last value, and 1:N
options without ``--mode identification`` or ``--checkpoint`` with ``--engine exact``
were dropped without a word.
"""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from faceparity import cli
from faceparity.cli import options
from faceparity.cli.support import repeated_options

GOLDEN = Path(__file__).parent / "golden"
PAIRS = [
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
    "--intervals",
    "none",
]
EMBEDDINGS = [
    "audit",
    "embeddings",
    str(GOLDEN / "ident_embeddings.npy"),
    "--metadata",
    str(GOLDEN / "ident_metadata.csv"),
    "--sample-id",
    "sample",
    "--subject",
    "subject",
    "--attribute",
    "sex=sex",
    "--group-by",
    "sex",
    "--fmr",
    "0.1",
    "--intervals",
    "none",
]


def _run(args: list[str]) -> click.testing.Result:
    return CliRunner().invoke(cli.main, args)


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--fmr", "0.2", "--fmr", "0.1"], "--fmr"),
        (["--fmr=0.2", "--fmr", "0.1"], "--fmr"),
        (["--score", "score"], "--score"),
        (["-o", "a", "--output", "b"], "-o"),
        (["--group-by", "sex"], "--group-by"),
        (["--intervals", "wilson"], "--intervals"),
    ],
)
def test_a_repeated_single_value_option_is_a_usage_error(
    tmp_path: Path, extra: list[str], option: str
) -> None:
    run = _run([*PAIRS, *extra])
    assert run.exit_code == 2, run.output
    assert f"{option}: given 2 times; expected once" in run.stderr
    assert "auditing" not in run.stderr  # before any work


def test_repeatable_options_may_repeat() -> None:
    run = _run([*PAIRS, "--fmr", "0.2", "--policy", "global", "--policy", "per-group"])
    assert run.exit_code == 0, run.output


def test_repeated_options_reads_values_as_click_does() -> None:
    command = cli.audit.audit.commands["pairs"]
    # A value that looks like an option is the option's value, not a second option.
    assert repeated_options(command, ["--score", "--fmr", "--fmr", "0.1"]) is None
    assert repeated_options(command, ["--fmr", "0.1", "--", "--fmr"]) is None
    assert repeated_options(command, ["-o", "x", "-oy"]) == ("-o", 2)


@pytest.mark.parametrize(
    "extra",
    [
        ["--split-column", "role"],
        ["--rank", "5"],
        ["--target-fpir", "0.1"],
        ["--gallery-samples", "2"],
        ["--non-mated-fraction", "0.5"],
    ],
)
def test_a_1n_option_without_identification_mode_is_a_usage_error(extra: list[str]) -> None:
    run = _run([*EMBEDDINGS, *extra])
    assert run.exit_code == 2, run.output
    assert f"{extra[0]}: a setting of the 1:N audit; give it only with --mode identification" in (
        run.stderr
    )


def test_checkpoint_with_the_exact_engine_is_a_usage_error(tmp_path: Path) -> None:
    run = _run([*EMBEDDINGS, "--engine", "exact", "--checkpoint", str(tmp_path / "ck")])
    assert run.exit_code == 2, run.output
    assert "--checkpoint: the exact engine keeps no checkpoint" in run.stderr
    assert not (tmp_path / "ck").exists()


def test_defaults_are_not_taken_for_given_options() -> None:
    assert _run(EMBEDDINGS).exit_code == 0
    assert _run([*EMBEDDINGS, "--engine", "exact"]).exit_code == 0


HISTOGRAM_ROWS = "group_a,group_b,mated,score,count\nF,F,1,0.8,3\nF,F,0,0.1,500\nM,M,1,0.7,4\n"
IDENTIFICATION = [*EMBEDDINGS, "--mode", "identification"]
STREAM = [*EMBEDDINGS, "--engine", "stream"]
BOOTSTRAP = PAIRS[: PAIRS.index("--intervals")]
FLOOR = "expected rates of at least 2.2250738585072014e-308, the smallest normal float"


@pytest.mark.parametrize(
    ("command", "extra", "message"),
    [
        # the bootstrap refused a NaN level deep inside (exit 70)
        (BOOTSTRAP, ["--level", "nan"], "'--level': nan is not a finite"),
        (PAIRS, ["--alpha", "nan"], "'--alpha': nan is not a finite number"),
        # 1 / 5e-324 overflowed in the report (exit 70); 1e-310 is subnormal too
        (PAIRS, ["--fmr", "5e-324"], f"--fmr: {FLOOR}"),
        (PAIRS, ["--fmr", "0.1,1e-310"], f"--fmr: {FLOOR}"),
        (BOOTSTRAP, ["--replicates", str(2**63)], "'--replicates'"),
        (PAIRS, ["--seed", str(2**63)], "'--seed'"),
        (["audit", "histogram"], ["--tail-capacity", str(2**63)], "'--tail-capacity'"),
        (STREAM, ["--block-size", str(2**63)], "'--block-size'"),
        (STREAM, ["--threads", str(2**16)], "'--threads'"),
        (STREAM, ["--tail-capacity", str(2**64)], "'--tail-capacity'"),
        (STREAM, ["--max-comparisons", str(2**63)], "'--max-comparisons'"),
        (IDENTIFICATION, ["--target-fpir", "0.1,5e-324"], f"--target-fpir: {FLOOR}"),
        (IDENTIFICATION, ["--non-mated-fraction", "nan"], "'--non-mated-fraction': nan is not"),
        (IDENTIFICATION, ["--gallery-samples", str(2**63)], "'--gallery-samples'"),
    ],
)
def test_numbers_out_of_range_exit_2_naming_the_option(
    tmp_path: Path, command: list[str], extra: list[str], message: str
) -> None:
    if command[1] == "histogram":
        (tmp_path / "hist.csv").write_text(HISTOGRAM_ROWS)
        command = [*command, str(tmp_path / "hist.csv"), "--score-kind", "similarity"]
        command += ["--group-by", "group", "--intervals", "none"]
    run = _run([*command, *extra, "-o", str(tmp_path / "out")])
    assert run.exit_code == 2, run.output
    assert message in run.stderr
    assert "internal error" not in run.stderr
    assert not (tmp_path / "out").exists()  # before any work


def test_the_smallest_normal_float_is_a_target_fmr(tmp_path: Path) -> None:
    run = _run([*PAIRS, "--fmr", "2.2250738585072014e-308", "-o", str(tmp_path / "out")])
    assert run.exit_code == 0, run.output
    assert (tmp_path / "out" / "report.html").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1.5", "0.4"])
def test_finite_float_range_refuses_what_float_range_lets_through(value: str) -> None:
    kind = options.FiniteFloatRange(0.5, 1.0, max_open=True)
    with pytest.raises(click.BadParameter, match="not"):
        kind.convert(value, None, None)
    assert kind.convert("0.75", None, None) == 0.75


@pytest.mark.parametrize(
    "args",
    [
        ["--subjects-per-group", str(2**63)],
        ["--samples-per-subject", str(2**63)],
        ["--subjects-per-group", "100000000"],
        ["--subjects-per-group", "100000", "--samples-per-subject", "1000"],
        ["--seed", str(2**64)],
    ],
)
def test_simulate_sizes_beyond_memory_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    """Sizes that overflowed numpy or memory (internal errors) are refused by name, exit 2."""
    result = CliRunner().invoke(cli.main, ["simulate", "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert not (tmp_path / "out").exists()
