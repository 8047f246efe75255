"""``faceparity audit``: one command per input format, each a request to :func:`run_audit`.

Every command parses its options into an :class:`~faceparity.workflow.AuditRequest`,
runs it, prints the tables (or results.json with ``--json``) on stdout and exits with
the outcome's exit code. What the audit says along the way goes to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from faceparity.cli.images import PIPELINE_KEYS, pipeline_options, pipeline_request
from faceparity.cli.options import (
    attribute_options,
    attribute_specs,
    audit_config,
    audit_options,
    column_pair,
    engine_settings,
    identification_options,
    identification_settings,
    interval_settings,
    score_kind_option,
    split,
    streaming_options,
    tail_capacity_option,
)
from faceparity.cli.support import StrictGroup, _message, _reported, command_line, progress_bar
from faceparity.errors import UsageError
from faceparity.model.config import ScoreKind
from faceparity.results.audit import AuditResult
from faceparity.workflow.audit import AuditOutcome, run_audit
from faceparity.workflow.request import (
    AuditInput,
    AuditRequest,
    BfwInput,
    BobInput,
    EmbeddingsInput,
    HistogramInput,
    IdentificationSettings,
    ImagesInput,
    OutputFormat,
    PairsInput,
    RfwInput,
)

__all__ = ["audit", "print_result"]


@click.group(cls=StrictGroup)
def audit() -> None:
    """Per-group FMR and FNMR from one of the supported inputs."""


def _run(
    source: AuditInput,
    opts: dict[str, Any],
    identification: IdentificationSettings | None = None,
) -> None:
    """Run the audit the shared options and ``source`` describe; print; exit."""
    request = AuditRequest(
        source=source,
        group_by=tuple(split(opts["group_by"])),
        config=audit_config(opts),
        intervals=interval_settings(opts),
        identification=identification,
        output=opts["output"],
        report=not opts["no_report"],
        limits=opts["check"],
        output_format=OutputFormat.JSON if opts["as_json"] else OutputFormat.TABLE,
        command_line=command_line(),
    )
    outcome = run_audit(request, progress=progress_bar, message=_message)
    print_outcome(outcome)
    if outcome.exit_code:
        sys.exit(outcome.exit_code)


def print_result(result: AuditResult, *, as_json: bool) -> None:
    """results.json, or the tables: 1:1, then 1:N and acquisition where the result has them."""
    from faceparity.render.verification.table import format_table

    click.echo(result.to_json() if as_json else format_table(result), nl=False)
    if result.identification is not None and not as_json:
        from faceparity.render.identification.table import format_identification_table

        click.echo("\n" + format_identification_table(result.identification), nl=False)
    if result.acquisition is not None and not as_json:
        from faceparity.render.acquisition.table import format_acquisition_table

        click.echo("\n" + format_acquisition_table(result.acquisition), nl=False)


def print_outcome(outcome: AuditOutcome) -> None:
    """The result on stdout, then the check of the limits on stderr."""
    print_result(outcome.result, as_json=outcome.output_format is OutputFormat.JSON)
    if outcome.check is not None:
        _message(outcome.check.format().rstrip("\n"))


@audit.command("pairs")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--score", required=True, help="Score column.")
@score_kind_option
@click.option(
    "--mated",
    default=None,
    help="Mated label column (1/0, true/false); derived from the subject ids when absent.",
)
@click.option("--subjects", required=True, help="The two subject id columns, COLUMN1,COLUMN2.")
@click.option("--samples", default=None, help="The two sample id columns (optional).")
@click.option(
    "--engine",
    type=click.Choice(["auto", "exact", "stream"]),
    default="auto",
    show_default=True,
    help="stream: read the table in chunks into histograms (tables larger than memory; "
    "no duplicate detection, no --samples); exact: every comparison in memory; auto: "
    "stream a table of more than 2,000,000 rows without --samples, else exact.",
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(1),
    default=1_000_000,
    show_default=True,
    help="Streaming: rows read at a time.",
)
@tail_capacity_option
@attribute_options
@audit_options
@_reported
def audit_pairs(
    path: Path,
    score: str,
    score_kind: str,
    mated: str | None,
    subjects: str,
    samples: str | None,
    engine: str,
    chunk_rows: int,
    tail_capacity: int,
    attributes: tuple[str, ...],
    bins: tuple[str, ...],
    **opts: Any,
) -> None:
    """A generic pair table (CSV, TSV or Parquet), mapped by column names."""
    stream = {"stream": True, "exact": False}.get(engine)
    if stream and samples:
        raise UsageError(
            "--samples: the streaming engine does not read sample ids (finding a comparison "
            "of two samples made twice needs every pair at once); use --engine exact or "
            "auto"
        )
    source = PairsInput(
        path=path,
        score=score,
        score_kind=ScoreKind(score_kind),
        subjects=column_pair(subjects, "--subjects"),
        mated=mated,
        samples=column_pair(samples, "--samples") if samples else None,
        attributes=attribute_specs(attributes, bins),
        stream=stream,
        chunk_rows=chunk_rows,
        tail_capacity=tail_capacity,
    )
    _run(source, opts)


@audit.command("histogram")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@score_kind_option
@tail_capacity_option
@audit_options
@_reported
def audit_histogram(path: Path, score_kind: str, tail_capacity: int, **opts: Any) -> None:
    """A score histogram: group_a, group_b, mated, score, count (as pyeer takes for huge runs)."""
    source = HistogramInput(
        path=path, score_kind=ScoreKind(score_kind), tail_capacity=tail_capacity
    )
    _run(source, opts)


@audit.command("bfw")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--score", required=True, help="Score column: vgg16, resnet50 or senet50.")
@score_kind_option
@audit_options
@_reported
def audit_bfw(path: Path, score: str, score_kind: str, **opts: Any) -> None:
    """The BFW datatable layout (attributes sex, ethnicity and subgroup)."""
    _run(BfwInput(path=path, score=score, score_kind=ScoreKind(score_kind)), opts)


@audit.command("rfw")
@click.argument("pairs", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("scores", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--score", default="dist", show_default=True, help="Score column of SCORES.")
@score_kind_option
@audit_options
@_reported
def audit_rfw(pairs: Path, scores: Path, score: str, score_kind: str, **opts: Any) -> None:
    """RFW style: a pair table with labels plus a score file, joined on image names."""
    source = RfwInput(pairs=pairs, scores=scores, score=score, score_kind=ScoreKind(score_kind))
    _run(source, opts)


@audit.command("bob")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@score_kind_option
@click.option(
    "--subject-metadata",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Table of subject attributes for 4/5-column score files.",
)
@click.option(
    "--subject-column",
    default="subject",
    show_default=True,
    help="Subject id column of --subject-metadata.",
)
@attribute_options
@audit_options
@_reported
def audit_bob(
    path: Path,
    score_kind: str,
    subject_metadata: Path | None,
    subject_column: str,
    attributes: tuple[str, ...],
    bins: tuple[str, ...],
    **opts: Any,
) -> None:
    """Bob 4- or 5-column score files, or bob.bio CSV score files."""
    source = BobInput(
        path=path,
        score_kind=ScoreKind(score_kind),
        subject_metadata=subject_metadata,
        subject_column=subject_column,
        attributes=attribute_specs(attributes, bins),
    )
    _run(source, opts)


@audit.command("embeddings")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--metadata",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Table with the sample id, subject id and attribute columns (not needed for "
    "the output of `faceparity embed`, which holds them).",
)
@click.option("--sample-id", "sample_id", default=None, help="Sample id column of --metadata.")
@click.option("--subject", default=None, help="Subject id column of --metadata.")
@streaming_options
@identification_options
@tail_capacity_option
@attribute_options
@audit_options
@_reported
def audit_embeddings(
    path: Path,
    metadata: Path | None,
    sample_id: str | None,
    subject: str | None,
    tail_capacity: int,
    attributes: tuple[str, ...],
    bins: tuple[str, ...],
    **opts: Any,
) -> None:
    """Embeddings (npy, npz or Parquet): all mated and non-mated pairs, cosine similarity.

    The output of `faceparity embed` needs no --metadata: it holds the subjects and
    attributes, and what became of every image (failures to acquire and enrol by group).
    A run of dlib's ResNet (--embedder dlib) is scored by Euclidean distance, its
    model's convention, with the exact engine.
    """
    source = EmbeddingsInput(
        path=path,
        metadata=metadata,
        sample_id=sample_id,
        subject=subject,
        attributes=attribute_specs(attributes, bins),
        engine=engine_settings(opts, tail_capacity),
    )
    _run(source, opts, identification_settings(opts))


@audit.command("images")
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@pipeline_options(in_audit=True)
@click.option(
    "--embeddings",
    "embeddings_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to keep the embeddings (Parquet, mode 0600; default: OUTDIR/embeddings.parquet).",
)
@streaming_options
@identification_options
@tail_capacity_option
@attribute_options
@audit_options
@_reported
def audit_images(
    manifest: Path,
    embeddings_path: Path | None,
    tail_capacity: int,
    attributes: tuple[str, ...],
    bins: tuple[str, ...],
    **opts: Any,
) -> None:
    """Face images, a manifest and an ONNX model: embed every image, then audit.

    Runs `faceparity embed` and `faceparity audit embeddings` in one go: failures to
    acquire and enrol are counted by group beside the error rates.
    """
    if embeddings_path is None:
        if opts["output"] is None:
            raise UsageError("--embeddings or -o/--output: expected where to keep the embeddings")
        embeddings_path = Path(opts["output"]) / "embeddings.parquet"
    pipeline = {k: opts.pop(k) for k in list(opts) if k in PIPELINE_KEYS}
    source = ImagesInput(
        manifest=manifest,
        embeddings=embeddings_path,
        pipeline=pipeline_request(pipeline),
        attributes=attribute_specs(attributes, bins),
        engine=engine_settings(opts, tail_capacity),
    )
    _run(source, opts, identification_settings(opts))


def _add_attributes() -> None:
    """``audit attributes`` lives in its own module (it reads predictions, not scores)."""
    from faceparity.cli.attributes import audit_attributes_command

    audit.add_command(audit_attributes_command)


_add_attributes()
