"""``faceparity classify``: the predictions of an attribute classifier, for ``audit attributes``."""

from __future__ import annotations

from pathlib import Path

import click

from faceparity.cli.support import _message, _reported

__all__ = ["classify"]


@click.command("classify")
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--classifier",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="ONNX model of the classifier.",
)
@click.option(
    "--spec",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="TOML: crop rule, input normalisation and output decoding.",
)
@click.option(
    "--detector",
    default=None,
    help='Face detector for crop = "box" (haar, scrfd:MODEL.onnx, yunet:MODEL.onnx).',
)
@click.option("--path-column", default="path", show_default=True)
@click.option("--subject-column", default="subject", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@_reported
def classify(
    manifest: Path,
    root: Path,
    classifier: Path,
    spec: Path,
    detector: str | None,
    path_column: str,
    subject_column: str,
    output: Path,
) -> None:
    """Run an attribute classifier (sex, age) on a manifest's images; write predictions.csv."""
    from faceparity.workflow.classify import run_classify

    table, status = run_classify(
        manifest,
        root=root,
        classifier_path=classifier,
        spec_path=spec,
        output=output,
        detector=detector,
        path_column=path_column,
        subject_column=subject_column,
        message=_message,
    )
    counts = table[status].value_counts()
    click.echo(", ".join(f"{k}: {v:,}" for k, v in counts.items()))
