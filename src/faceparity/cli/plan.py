"""``faceparity plan``: how much data an audit needs, or what a data set supports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from faceparity._version import __version__
from faceparity.cli.options import rates
from faceparity.cli.support import _reported, _write_output
from faceparity.errors import UsageError
from faceparity.results.documents import PLAN_SCHEMA_VERSION
from faceparity.workflow.outputs import refuse_overwriting

__all__ = ["plan"]

# The values of uncertainty.sample_size.IntervalKind (tests/test_planning_cli.py checks them).
_PLAN_INTERVALS = ["normal", "clopper-pearson"]
MAX_GROUPS = 10**6
"""The most groups a plan counts subjects and samples for."""
_PLAN_ONLY = ("target_fnmr", "precision", "level", "samples_per_subject", "icc", "icc_pair")


@click.command("plan")
@click.option(
    "--target-fmr",
    default=None,
    help="Target FMRs to plan for, e.g. 1e-3,1e-4 (with --from: the targets to check; "
    "default the results' own).",
)
@click.option("--target-fnmr", default=None, help="Target FNMRs to plan for, e.g. 0.01.")
@click.option(
    "--precision",
    type=float,
    default=0.3,
    show_default=True,
    help="Relative half-width of the interval: 0.3 is +-30% of the target.",
)
@click.option("--level", type=float, default=0.95, show_default=True, help="Confidence level.")
@click.option(
    "--samples-per-subject",
    type=click.IntRange(2),
    default=5,
    show_default=True,
    help="Samples of every subject.",
)
@click.option(
    "--icc",
    type=float,
    default=0.001,
    show_default=True,
    help="Assumed correlation of the errors of two comparisons that share a subject.",
)
@click.option(
    "--icc-pair",
    type=float,
    default=None,
    help="Assumed correlation of the errors of two non-mated comparisons of the same "
    "two subjects (default: --icc).",
)
@click.option(
    "--interval",
    type=click.Choice(_PLAN_INTERVALS),
    default=_PLAN_INTERVALS[0],
    show_default=True,
    help="Interval whose half-width is bounded.",
)
@click.option(
    "--groups",
    "n_groups",
    type=click.IntRange(1, MAX_GROUPS),
    default=1,
    show_default=True,
    help="Number of groups, for the total of subjects and samples.",
)
@click.option(
    "--from",
    "from_results",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="results.json of an audit: print the smallest FMR and FNMR each group supports.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON instead of the table.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the JSON to this file (atomically).",
)
@click.pass_context
@_reported
def plan(
    ctx: click.Context,
    target_fmr: str | None,
    target_fnmr: str | None,
    precision: float,
    level: float,
    samples_per_subject: int,
    icc: float,
    icc_pair: float | None,
    interval: str,
    n_groups: int,
    from_results: Path | None,
    as_json: bool,
    output: Path | None,
) -> None:
    """How much data each group needs for a target FMR, or what a data set supports."""
    import json

    from faceparity.render.plan import format_capacity, format_plan
    from faceparity.uncertainty.sample_size import (
        IntervalKind,
        PlanConfig,
        plan_audit,
        supported_rates,
    )
    from faceparity.uncertainty.support import MIN_ERRORS

    tool = {"name": "faceparity", "version": __version__}
    refuse_overwriting({"--from": from_results}, {"-o/--output": output})
    if from_results is not None:
        given = [
            name
            for name in (*_PLAN_ONLY, "interval", "n_groups")
            if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
        ]
        if given:
            names = ", ".join(
                "--" + n.replace("n_groups", "groups").replace("_", "-") for n in given
            )
            raise UsageError(f"{names}: plans a data collection; it does not apply with --from")
        from faceparity.results import read_results

        rows = supported_rates(
            read_results(from_results),
            target_fmrs=rates(target_fmr, "--target-fmr") if target_fmr else None,
            file=str(from_results),
        )
        data: dict[str, Any] = {
            "schema_version": PLAN_SCHEMA_VERSION,
            "tool": tool,
            "source": str(from_results),
            "min_errors": MIN_ERRORS,
            "groups": [r.to_dict() for r in rows],
        }
        text = format_capacity(rows, source=str(from_results))
    else:
        if target_fmr is None and target_fnmr is None:
            raise UsageError(
                "expected --target-fmr (and optionally --target-fnmr) to plan for, or "
                "--from RESULTS.json to read what a data set supports"
            )
        config = PlanConfig(
            precision=precision,
            level=level,
            samples_per_subject=samples_per_subject,
            icc=icc,
            icc_pair=icc_pair,
            interval=IntervalKind(interval),
        )
        result = plan_audit(
            rates(target_fmr, "--target-fmr") if target_fmr else (),
            target_fnmrs=rates(target_fnmr, "--target-fnmr") if target_fnmr else (),
            config=config,
        )
        data = {
            "schema_version": PLAN_SCHEMA_VERSION,
            "tool": tool,
            "n_groups": n_groups,
            **result.to_dict(),
        }
        text = format_plan(result, n_groups=n_groups)
    document = json.dumps(data, indent=2, allow_nan=False) + "\n"
    if output is not None:
        _write_output(output, document)
    click.echo(document if as_json else text, nl=False)
