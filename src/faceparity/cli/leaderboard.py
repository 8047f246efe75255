"""``faceparity leaderboard``: many audits' results side by side at one operating point."""

from __future__ import annotations

from pathlib import Path

import click

from faceparity.cli.support import _reported, _write_output
from faceparity.errors import UsageError
from faceparity.workflow.outputs import refuse_overwriting

__all__ = ["leaderboard"]

_DIFFERENTIALS = ("garbe", "fmr.max_min", "fmr.max_geomean", "fnmr.max_min", "fnmr.max_geomean")


@click.command("leaderboard")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--name",
    "names",
    multiple=True,
    help="Name of each system, in the order of RESULTS (default: the paths). Repeatable.",
)
@click.option("--target-fmr", type=float, default=None, help="Target FMR of the operating point.")
@click.option("--policy", default=None, help="Threshold policy of the operating point.")
@click.option(
    "--differential",
    type=click.Choice(_DIFFERENTIALS),
    default="garbe",
    show_default=True,
    help="The differential the Pareto front weighs against FNMR.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the leaderboard to a .html, .md or .json file (atomically).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON instead of the table.")
@_reported
def leaderboard(
    results: tuple[Path, ...],
    names: tuple[str, ...],
    target_fmr: float | None,
    policy: str | None,
    differential: str,
    output: Path | None,
    as_json: bool,
) -> None:
    """Two or more results at a common operating point: FNMR against the differential."""
    from faceparity.render import leaderboard as render
    from faceparity.results import read_results
    from faceparity.review.leaderboard import build_leaderboard

    writers = {
        ".md": render.leaderboard_markdown,
        ".markdown": render.leaderboard_markdown,
        ".html": render.leaderboard_html,
        ".htm": render.leaderboard_html,
        ".json": render.leaderboard_json,
    }
    if len(results) < 2:
        raise UsageError(f"expected two or more RESULTS files, got {len(results)}")
    if names and len(names) != len(results):
        raise UsageError(
            f"--name: expected one per RESULTS file ({len(results)}), got {len(names)}"
        )
    if output is not None and output.suffix.lower() not in writers:
        raise UsageError(
            f"-o {output}: expected a file ending in .html, .md or .json, got "
            f"{output.suffix or 'no extension'!r}"
        )
    refuse_overwriting(
        {f"RESULTS {i + 1}": path for i, path in enumerate(results)}, {"-o/--output": output}
    )
    board = build_leaderboard(
        [read_results(path) for path in results],
        names=list(names) or [str(path) for path in results],
        target_fmr=target_fmr,
        policy=policy,
        differential=differential,
    )
    if output is not None:
        _write_output(output, writers[output.suffix.lower()](board))
    text = render.leaderboard_json(board) if as_json else render.leaderboard_text(board)
    click.echo(text, nl=False)
