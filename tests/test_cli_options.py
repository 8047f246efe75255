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
