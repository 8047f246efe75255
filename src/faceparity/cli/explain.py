"""``faceparity explain``: logistic regression of the error events of a pair table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from faceparity.cli.options import attribute_specs, column_pair, split
from faceparity.cli.support import _reported, _write_output
from faceparity.errors import UsageError
from faceparity.workflow.outputs import refuse_overwriting

__all__ = ["explain"]


def _named_columns(items: tuple[str, ...], option: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for item in items:
        name, _, columns = item.partition("=")
        parts = tuple(split(columns))
        if not name.strip() or len(parts) not in (1, 2):
            raise UsageError(
                f"{option}: expected NAME=COLUMN or NAME=COLUMN1,COLUMN2, got {item!r}"
            )
        if name.strip() in out:
            raise UsageError(f"{option}: {name.strip()!r} is given more than once")
        out[name.strip()] = parts
    return out


def _references(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, level = item.partition("=")
        if not sep or not name.strip() or not level.strip():
            raise UsageError(f"--reference: expected ATTRIBUTE=VALUE, got {item!r}")
        out[name.strip()] = level.strip()
    return out


@click.command("explain")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--score", default=None, help="Pair table: the score column.")
@click.option(
    "--score-kind",
    type=click.Choice(["similarity", "distance"]),
    default=None,
    help="Pair table: similarity (higher means more alike) or distance (lower means more alike).",
)
@click.option("--mated", default=None, help="Pair table: mated label column (else from the ids).")
@click.option("--subjects", default=None, help="Pair table: the two subject id columns, A,B.")
@click.option(
    "--metadata",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PATH is embeddings (npy, npz, Parquet): the per-sample table with the sample id, "
    "subject id, attribute and covariate columns. The output of `faceparity embed` needs "
    "none (its quality columns serve as covariates).",
)
@click.option("--sample-id", "sample_id", default=None, help="Sample id column of --metadata.")
@click.option("--subject", default=None, help="Subject id column of --metadata.")
@click.option(
    "--samples",
    default=None,
    help="The two sample id columns: self-comparisons and repeats are left out, as the audit does.",
)
@click.option(
    "--attribute",
    "attributes",
    multiple=True,
    help="NAME=COLUMN (shared) or NAME=COLUMN1,COLUMN2 (per side). Repeatable.",
)
@click.option("--group-by", required=True, help="The demographic factors, e.g. sex,ethnicity.")
@click.option(
    "--covariate",
    "covariates",
    multiple=True,
    help="Numeric covariate NAME=COLUMN (per comparison; with embeddings, per sample) or "
    "NAME=COLUMN1,COLUMN2 (per side). Per-sample and per-side covariates enter as the mean "
    "of the two sides. Repeatable.",
)
@click.option(
    "--gap",
    "gaps",
    multiple=True,
    help="A per-side covariate whose absolute side difference also enters (NAME_gap), "
    "e.g. --gap age for the age gap of the two captures. Repeatable.",
)
@click.option(
    "--reference",
    "references",
    multiple=True,
    help="Reference level ATTRIBUTE=VALUE of a factor (default: its first value). Repeatable.",
)
@click.option(
    "--target-fmr",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    default=1e-3,
    show_default=True,
    help="Target FMR of the global threshold at which errors are counted.",
)
@click.option(
    "--max-non-mated",
    type=click.IntRange(1000),
    default=1_000_000,
    show_default=True,
    help="Non-mated comparisons regressed at most (a uniform random sample beyond).",
)
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True)
@click.option(
    "--level",
    type=click.FloatRange(0.5, 1.0, max_open=True),
    default=0.95,
    show_default=True,
    help="Confidence level of the intervals.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the result to a .md, .txt or .json file (atomically).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON instead of the table.")
@_reported
def explain(
    path: Path,
    score: str | None,
    score_kind: str | None,
    mated: str | None,
    subjects: str | None,
    metadata: Path | None,
    sample_id: str | None,
    subject: str | None,
    samples: str | None,
    attributes: tuple[str, ...],
    group_by: str,
    covariates: tuple[str, ...],
    gaps: tuple[str, ...],
    references: tuple[str, ...],
    target_fmr: float,
    max_non_mated: int,
    seed: int,
    level: float,
    output: Path | None,
    as_json: bool,
) -> None:
    """What drives the errors: logistic regression of false non-matches and false matches."""
    from faceparity.explain import ExplainResult, explain_errors
    from faceparity.explain.regression import STATSMODELS_HINT
    from faceparity.explain.table import read_covariate_embeddings, read_covariate_pairs
    from faceparity.model.config import ScoreKind
    from faceparity.readers.pipeline_output import is_pipeline_output
    from faceparity.render.explain import explain_markdown, explain_text

    writers = {
        ".md": explain_markdown,
        ".markdown": explain_markdown,
        ".txt": explain_text,
        ".json": ExplainResult.to_json,
    }
    if output is not None and output.suffix.lower() not in writers:
        raise UsageError(
            f"-o {output}: expected a file ending in .md, .txt or .json, got "
            f"{output.suffix or 'no extension'!r}"
        )
    refuse_overwriting({"PATH": path}, {"-o/--output": output})
    if importlib.util.find_spec("statsmodels") is None:
        raise UsageError(STATSMODELS_HINT)
    named = _named_columns(covariates, "--covariate")
    if metadata is not None or is_pipeline_output(path):
        pair_options = {"--score": score, "--score-kind": score_kind, "--mated": mated}
        pair_options.update({"--subjects": subjects, "--samples": samples})
        given = [k for k, v in pair_options.items() if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)}: pair table options; PATH is embeddings")
        two = [k for k, v in named.items() if len(v) != 1]
        if two:
            raise UsageError(f"--covariate {two[0]}: expected one per-sample column")
        table = read_covariate_embeddings(
            path,
            metadata=metadata,
            sample_id=sample_id,
            subject=subject,
            attributes=attribute_specs(attributes, ()),
            group_by=split(group_by),
            covariates={k: v[0] for k, v in named.items()},
        )
    else:
        if score is None or score_kind is None or subjects is None:
            raise UsageError(
                "a pair table needs --score, --score-kind and --subjects (or give --metadata "
                "for embeddings)"
            )
        table = read_covariate_pairs(
            path,
            score=score,
            score_kind=ScoreKind(score_kind),
            subjects=column_pair(subjects, "--subjects"),
            mated=mated,
            samples=column_pair(samples, "--samples") if samples else None,
            attributes=attribute_specs(attributes, ()),
            covariates=named,
        )
    result = explain_errors(
        table.comparisons,
        target_fmr=target_fmr,
        group_by=split(group_by),
        covariates=table.covariates,
        gaps=gaps,
        reference=_references(references),
        max_non_mated=max_non_mated,
        seed=seed,
        level=level,
    )
    if output is not None:
        _write_output(output, writers[output.suffix.lower()](result))
    click.echo(result.to_json() if as_json else explain_text(result), nl=False)
