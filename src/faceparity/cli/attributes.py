"""``faceparity audit attributes``: the audit of a facial-analysis classifier's predictions."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from faceparity.cli.support import _message, _reported
from faceparity.errors import UsageError

__all__ = ["audit_attributes_command", "check_attributes", "report_attributes"]


@click.command("attributes")
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--truth", required=True, help="Column of the true label (or value).")
@click.option("--prediction", required=True, help="Column of the classifier's prediction.")
@click.option(
    "--group-by",
    "group_by",
    multiple=True,
    required=True,
    help="Attribute column to group by; repeat for several (their intersection is a grouping too).",
)
@click.option("--subject", default=None, help="Subject id column (the bootstrap resamples it).")
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=None,
    help="The prediction is a number (age): an error is |prediction - truth| > TOLERANCE.",
)
@click.option(
    "--bins",
    "bins",
    multiple=True,
    help="NAME=EDGE,EDGE,... bands of a numeric group-by attribute (age=18,30,50,70).",
)
@click.option("--replicates", type=click.IntRange(0, 100_000), default=1000, show_default=True)
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--min-samples",
    type=click.IntRange(1),
    default=30,
    show_default=True,
    help="Groups of fewer samples are shown but are not candidates for worst and best.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder of results.json and report.html.",
)
@click.option("--no-report", is_flag=True, help="Write results.json only.")
@click.option(
    "--check",
    "limits",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Limits file: exit 1 when a limit is violated.",
)
@_reported
def audit_attributes_command(
    predictions: Path,
    truth: str,
    prediction: str,
    group_by: tuple[str, ...],
    subject: str | None,
    tolerance: float | None,
    bins: tuple[str, ...],
    replicates: int,
    level: float,
    seed: int,
    min_samples: int,
    output: Path,
    no_report: bool,
    limits: Path | None,
) -> None:
    """Audit an attribute classifier (sex, age) from a table of predictions and true labels.

    Error rate, per-class false positive and false negative rates and confusion
    matrices per group and intersection, with intervals, and the worst-to-best ratio.
    """
    from faceparity.attributes import AttributeAuditConfig, TaskKind
    from faceparity.readers.attributes import parse_bins
    from faceparity.render.attributes.card import worst_sentence
    from faceparity.workflow.attributes import run_attribute_audit

    parsed = tuple(parse_bins(b) for b in bins)
    unknown = [name for name, _ in parsed if name not in group_by]
    if unknown:
        raise UsageError(f"--bins {unknown[0]}: expected one of the --group-by attributes")
    config = AttributeAuditConfig(
        truth=truth,
        prediction=prediction,
        group_by=group_by,
        subject=subject,
        kind=TaskKind.REGRESSION if tolerance is not None else TaskKind.CLASSIFICATION,
        tolerance=tolerance,
        bins=parsed,
        replicates=replicates,
        level=level,
        seed=seed,
        source=str(predictions),
        min_samples=min_samples,
    )
    outcome = run_attribute_audit(
        predictions,
        config,
        output=output,
        report=not no_report,
        limits=limits,
        message=_message,
    )
    for grouping in outcome.result.groupings:
        click.echo(worst_sentence(grouping))
    if outcome.check is not None:
        _message(outcome.check.format().rstrip("\n"))
    sys.exit(outcome.exit_code)


def check_attributes(results: Path, limits: Path) -> None:
    """``faceparity check`` of an attribute audit's results.json: print, exit 0 or 1."""
    from faceparity.results.attributes import AttributeAuditResult
    from faceparity.review.attribute_check import (
        check_attribute_limits,
        read_attribute_limits_text,
    )

    text = read_attribute_limits_text(limits)
    outcome = check_attribute_limits(
        AttributeAuditResult.read_json(results),
        text,
        limits_file=str(limits),
        results_name=str(results),
    )
    click.echo(outcome.format(), nl=False)
    sys.exit(outcome.exit_code)


def report_attributes(results: Path, output: Path | None, title: str | None) -> None:
    """``faceparity report`` of an attribute audit's results.json (HTML)."""
    from faceparity.cli.support import _write_output
    from faceparity.render.attributes import render_attributes_html
    from faceparity.results.attributes import AttributeAuditResult
    from faceparity.workflow.outputs import refuse_overwriting

    output = output or results.parent / "report.html"
    refuse_overwriting({"RESULTS": results}, {"-o/--output": output})
    data = AttributeAuditResult.read_json(results)
    _write_output(output, render_attributes_html(data, title=title))
