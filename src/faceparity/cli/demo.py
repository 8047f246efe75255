"""Synthetic data: ``faceparity simulate`` and ``faceparity demo``."""

from __future__ import annotations

from pathlib import Path

import click

from faceparity.cli.support import _message, _reported
from faceparity.errors import UsageError

__all__ = ["MAX_SAMPLES_PER_GROUP", "demo", "simulate"]

MAX_SAMPLES_PER_GROUP = 1_000_000
"""The most samples a simulated group may have (its embeddings are held in memory)."""

MSG_TOO_MANY_SAMPLES = (
    "--subjects-per-group x --samples-per-subject: expected at most {limit:,} samples "
    "a group, got {value:,}"
)


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for embeddings.npy, metadata.csv and truth.json.",
)
@click.option(
    "--subjects-per-group", type=click.IntRange(2, 100_000), default=100, show_default=True
)
@click.option("--samples-per-subject", type=click.IntRange(2, 1_000), default=5, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True)
@_reported
def simulate(output: Path, subjects_per_group: int, samples_per_subject: int, seed: int) -> None:
    """Make a synthetic population with planted differentials and known true rates."""
    from faceparity.synthetic import simulate as sim
    from faceparity.workflow.outputs import OutputTransaction

    if subjects_per_group * samples_per_subject > MAX_SAMPLES_PER_GROUP:
        raise UsageError(
            MSG_TOO_MANY_SAMPLES.format(
                limit=MAX_SAMPLES_PER_GROUP, value=subjects_per_group * samples_per_subject
            )
        )

    config = sim.default_config(
        n_subjects_per_group=subjects_per_group, samples_per_subject=samples_per_subject, seed=seed
    )
    with OutputTransaction() as outputs:
        with outputs.folder(output) as staging:
            staged = sim.write_simulation(sim.simulate(config), staging)
        outputs.commit()
    for name, path in staged.items():
        _message(f"wrote {name}: {output / path.name}")


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Directory for the demo.",
)
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True)
@_reported
def demo(output: Path, seed: int) -> None:
    """Simulate a population, audit it, and compare with the truth (synthetic data)."""
    from faceparity.synthetic.demo import run_demo

    click.echo(run_demo(output, seed=seed, log=_message), nl=False)
