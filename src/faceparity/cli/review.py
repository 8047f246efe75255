"""What is done with a finished results.json: ``report``, ``compare``, ``check``, ``scenario``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from faceparity.cli.options import FiniteFloatRange, label_values
from faceparity.cli.support import _reported, _write_output
from faceparity.errors import UsageError
from faceparity.review.scenario import (
    MAX_DAYS_PER_YEAR,
    MAX_GALLERY,
    MAX_RANK,
    MAX_SEARCHES_PER_DAY,
)
from faceparity.workflow.outputs import refuse_overwriting

__all__ = ["check", "compare", "report", "scenario"]

_REPORT_FORMATS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}


@click.command("report")
@click.argument("results", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Report file (default: report.html or report.md next to RESULTS).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "md"]),
    default=None,
    help="html (self-contained page) or md (Markdown model card); default from the "
    "extension of -o, else html.",
)
@click.option(
    "--target-fmr",
    type=float,
    default=None,
    help="Target FMR of the operating point of the one-sentence differential "
    "(default: the first, under the global policy when there is one).",
)
@click.option(
    "--policy",
    "policy",
    default=None,
    help="Threshold policy of the operating point of the one-sentence differential.",
)
@click.option("--title", default=None, help="Title of the report.")
@_reported
def report(
    results: Path,
    output: Path | None,
    fmt: str | None,
    target_fmr: float | None,
    policy: str | None,
    title: str | None,
) -> None:
    """Write the model-card report (HTML or Markdown) of a results.json."""
    from faceparity.results import read_results
    from faceparity.results.attributes import is_attribute_results

    if is_attribute_results(results):
        from faceparity.cli.attributes import report_attributes

        report_attributes(results, output, title)
        return
    data = read_results(results)
    if fmt is None:
        fmt = _REPORT_FORMATS.get(output.suffix.lower(), "html") if output else "html"
    if output is None:
        output = results.parent / f"report.{fmt}"
    refuse_overwriting({"RESULTS": results}, {"-o/--output": output})
    if fmt == "md":
        from faceparity.render.report import render_markdown as render
    else:
        from faceparity.render.report import render_html as render
    text = render(data, target_fmr=target_fmr, policy=policy, title=title)
    _write_output(output, text)
    click.echo(str(output))


@click.command("compare")
@click.argument("a", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("b", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the comparison to a .html, .md or .json file (default: Markdown on stdout).",
)
@_reported
def compare(a: Path, b: Path, output: Path | None) -> None:
    """Two results side by side: the change in every differential (B - A)."""
    from faceparity.render import diff as render
    from faceparity.results import read_results
    from faceparity.review.diff import diff_results

    writers = {
        ".md": render.diff_markdown,
        ".markdown": render.diff_markdown,
        ".html": render.diff_html,
        ".htm": render.diff_html,
        ".json": render.diff_json,
    }
    if output is not None and output.suffix.lower() not in writers:
        raise UsageError(
            f"-o {output}: expected a file ending in .html, .md or .json, got "
            f"{output.suffix or 'no extension'!r}"
        )
    refuse_overwriting({"A": a, "B": b}, {"-o/--output": output})
    result = diff_results(read_results(a), read_results(b), a_name=str(a), b_name=str(b))
    if output is None:
        click.echo(render.diff_markdown(result), nl=False)
        return
    _write_output(output, writers[output.suffix.lower()](result))


@click.command("check")
@click.argument("results", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("limits", type=click.Path(dir_okay=False, path_type=Path))
@_reported
def check(results: Path, limits: Path) -> None:
    """Check results.json against a limits file: exit 1 and list the violations, else 0."""
    from faceparity.results import read_results
    from faceparity.results.attributes import is_attribute_results
    from faceparity.review.check import check_limits, read_limits

    if is_attribute_results(results):
        from faceparity.cli.attributes import check_attributes

        check_attributes(results, limits)
    parsed = read_limits(limits)
    outcome = check_limits(read_results(results), parsed, results_name=str(results))
    click.echo(outcome.format(), nl=False)
    sys.exit(outcome.exit_code)


@click.command("scenario")
@click.argument("results", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--gallery", "gallery", multiple=True, help="GROUP=SUBJECTS enrolled. Repeatable.")
@click.option(
    "--gallery-size",
    type=click.IntRange(1, MAX_GALLERY),
    default=None,
    help="Enrolled subjects in all (with --composition).",
)
@click.option(
    "--composition",
    multiple=True,
    help="GROUP=FRACTION of the gallery (with --gallery-size). Repeatable.",
)
@click.option("--searches", multiple=True, required=True, help="GROUP=SEARCHES a day. Repeatable.")
@click.option(
    "--target-fmr",
    type=float,
    default=None,
    help="Rates of the 1:1 operating point of this target FMR.",
)
@click.option(
    "--target-fpir",
    type=float,
    default=None,
    help="Rates of the 1:N operating point of this target FPIR.",
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="Rates of the operating point with this threshold.",
)
@click.option(
    "--policy", default="global", show_default=True, help="Policy of the operating point."
)
@click.option(
    "--rank",
    type=click.IntRange(1, MAX_RANK),
    default=None,
    help="Candidate list length R (default: no limit).",
)
@click.option(
    "--days-per-year",
    type=FiniteFloatRange(0.0, MAX_DAYS_PER_YEAR, min_open=True),
    default=365.0,
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the scenario's JSON here (atomically).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON instead of the table.")
@_reported
def scenario(
    results: Path,
    gallery: tuple[str, ...],
    gallery_size: int | None,
    composition: tuple[str, ...],
    searches: tuple[str, ...],
    target_fmr: float | None,
    target_fpir: float | None,
    threshold: float | None,
    policy: str,
    rank: int | None,
    days_per_year: float,
    output: Path | None,
    as_json: bool,
) -> None:
    """Expected false candidates per day and year by group for a stated 1:N deployment."""
    import json

    from faceparity.render.identification.table import format_scenario_table
    from faceparity.results import read_results
    from faceparity.review.scenario import Deployment, cross_rates, run_scenario

    refuse_overwriting({"RESULTS": results}, {"-o/--output": output})
    if bool(gallery) == (gallery_size is not None or bool(composition)):
        raise UsageError(
            "give the gallery as --gallery GROUP=N, or as --gallery-size N with "
            "--composition GROUP=FRACTION"
        )
    if gallery:
        counts = label_values(gallery, "--gallery", int, low=0, high=MAX_GALLERY)
    else:
        if gallery_size is None or not composition:
            raise UsageError("--gallery-size and --composition go together")
        shares = label_values(composition, "--composition", float, low=0.0, high=1.0)
        if abs(sum(shares.values()) - 1.0) > 1e-6:
            raise UsageError(
                "--composition: expected fractions >= 0 that sum to 1, got "
                f"{sum(shares.values()):g}"
            )
        counts = {k: round(v * gallery_size) for k, v in shares.items()}
    deployment = Deployment(
        gallery=counts,
        searches_per_day=label_values(
            searches, "--searches", float, low=0.0, high=MAX_SEARCHES_PER_DAY
        ),
        rank=rank,
        days_per_year=days_per_year,
    )
    data = read_results(results)
    rates = cross_rates(
        data, target_fmr=target_fmr, target_fpir=target_fpir, threshold=threshold, policy=policy
    )
    outcome = run_scenario(rates, deployment)
    text = (
        json.dumps({"results": str(results), **outcome.to_dict()}, indent=2, allow_nan=False) + "\n"
    )
    if output is not None:
        _write_output(output, text)
    click.echo(text if as_json else format_scenario_table(outcome), nl=False)
