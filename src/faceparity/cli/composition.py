"""``faceparity composition``: the composition card of a manifest, an embed output or a table."""

from __future__ import annotations

from pathlib import Path

import click

from faceparity.cli.support import _message, _reported
from faceparity.errors import UsageError

__all__ = ["composition"]


@click.command("composition")
@click.argument("table", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--group-by", "group_by", multiple=True, required=True, help="Attribute column; repeatable."
)
@click.option(
    "--subject", default=None, help="Subject id column (default: none, one image a subject)."
)
@click.option(
    "--measure",
    "measures",
    multiple=True,
    help="A further numeric column to summarise by group (age).",
)
@click.option(
    "--bins",
    "bins",
    multiple=True,
    help="NAME=EDGE,EDGE,... bands of a numeric group-by attribute.",
)
@click.option(
    "--reference",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML file of reference shares: a table per grouping, group = share.",
)
@click.option(
    "--comparisons",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Rates to be quoted at once: the rule of 30 made simultaneous (Bonferroni).",
)
@click.option(
    "--skin-from-images",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Root of the images of a manifest of aligned face crops: measure skin L*, h* "
    "and the Monk tone of each.",
)
@click.option("--path-column", default="path", show_default=True)
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--no-report", is_flag=True, help="Write composition.json only.")
@_reported
def composition(
    table: Path,
    group_by: tuple[str, ...],
    subject: str | None,
    measures: tuple[str, ...],
    bins: tuple[str, ...],
    reference: Path | None,
    comparisons: int,
    root: Path | None,
    path_column: str,
    output: Path,
    no_report: bool,
) -> None:
    """Who and what a face data set holds, by group: counts, supportable rates, coverage."""
    from faceparity.composition import CompositionConfig
    from faceparity.readers.attributes import parse_bins
    from faceparity.render.composition.card import coverage_sentence
    from faceparity.workflow.composition import read_reference, run_composition

    parsed = tuple(parse_bins(b) for b in bins)
    unknown = [name for name, _ in parsed if name not in group_by]
    if unknown:
        raise UsageError(f"--bins {unknown[0]}: expected one of the --group-by attributes")
    config = CompositionConfig(
        group_by=group_by,
        subject=subject,
        measures=measures,
        bins=parsed,
        reference=read_reference(reference) if reference is not None else {},
        comparisons=comparisons,
        source=str(table),
    )
    result, _ = run_composition(
        table,
        config,
        output=output,
        report=not no_report,
        root=root,
        path_column=path_column,
        message=_message,
    )
    click.echo(f"{result.overall.n_images:,} images of {result.overall.n_subjects:,} subjects")
    for grouping in result.groupings:
        sizes = ", ".join(f"{g.label} {g.n_subjects:,}" for g in grouping.groups)
        click.echo(f"{grouping.name}: {sizes}")
        sentence = coverage_sentence(grouping)
        if sentence:
            click.echo(sentence)
