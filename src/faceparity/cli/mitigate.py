"""``faceparity mitigate``: post-hoc mitigation methods with an honest before and after.

One command per input (pairs, bfw, embeddings); each parses its options into a
:class:`~faceparity.workflow.mitigate.MitigationRequest`, runs it, and prints one line
per method: the FMR max/min and the FNMR at the first target before and after, and the
groups that got worse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from faceparity.cli.options import (
    FiniteFloatRange,
    attribute_options,
    attribute_specs,
    column_pair,
    interval_options,
    rates,
    score_kind_option,
    split,
)
from faceparity.cli.support import StrictGroup, _message, _reported, with_options
from faceparity.model.config import ScoreKind
from faceparity.workflow.request import (
    BfwInput,
    EmbeddingsInput,
    EngineSettings,
    IntervalMethod,
    IntervalSettings,
    PairsInput,
)

__all__ = ["mitigate"]


class _AllMissing(click.Command):
    """A command that names every missing required option at once, not the first only."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Refuse (exit 2) naming every required option the command line lacks."""
        given = args[: args.index("--")] if "--" in args else args
        if not any(a in ("-h", "--help") for a in given):
            missing = [
                p.get_error_hint(ctx)
                for p in self.params
                if isinstance(p, click.Option) and p.required and not _present(p, given)
            ]
            if len(missing) > 1:
                raise click.UsageError(f"Missing options {', '.join(missing)}.", ctx=ctx)
        return super().parse_args(ctx, args)


def _present(option: click.Option, args: list[str]) -> bool:
    for name in option.opts:
        for a in args:
            if a == name or a.startswith(name + "=") or (len(name) == 2 and a.startswith(name)):
                return True
    return False


@click.group(cls=StrictGroup)
def mitigate() -> None:
    """Fit post-hoc mitigation methods on some subjects, audit the others, before and after."""


def _output_folder(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    if value.exists() and not value.is_dir():
        raise click.BadParameter(
            f"{value} is a file; expected a folder (new or existing): mitigate writes several "
            "files into it (mitigation.json, mitigation.html, baseline/, one folder per method)",
            ctx=ctx,
            param=param,
        )
    return value


def _options(func: Any, *, group_by: str | None = None) -> Any:
    options = [
        click.option(
            "--group-by",
            "group_by",
            required=group_by is None,
            default=group_by,
            show_default=group_by is not None,
            help="Attributes of the groups.",
        ),
        click.option(
            "-o",
            "--output",
            required=True,
            type=click.Path(path_type=Path),
            callback=_output_folder,
            help="Folder of the baseline and mitigated audits, mitigation.json and .html.",
        ),
        click.option("--fmr", default="1e-3", show_default=True, help="Target FMRs."),
        click.option(
            "--method",
            "methods",
            multiple=True,
            help="A method (repeatable; default all): global-calibration, per-group-thresholds, "
            "z-norm, t-norm, fsn, faircal, oracle, oracle-beta.",
        ),
        click.option(
            "--fit-fmr",
            type=FiniteFloatRange(0.0, 1.0, min_open=True, max_open=True),
            default=None,
            help="FMR the threshold-based methods are fitted at (default: the first target).",
        ),
        click.option("--folds", type=click.IntRange(2, 100), default=5, show_default=True),
        click.option(
            "--folds-from",
            default=None,
            help="An attribute, constant per subject, whose values are the folds (BFW's fold).",
        ),
        click.option(
            "--clusters",
            type=click.IntRange(1, 10_000),
            default=100,
            show_default=True,
            help="k-means clusters of FSN and FairCal.",
        ),
        click.option(
            "--cohort-size",
            type=click.IntRange(2, 100_000),
            default=100,
            show_default=True,
            help="Cohort templates per group of the T-norm.",
        ),
        *interval_options(seed_help="Seed of the folds, k-means and the bootstrap."),
    ]
    return with_options(func, options)


def _run(source: Any, opts: dict[str, Any]) -> None:
    from faceparity.render.formatting import fmt_ratio
    from faceparity.workflow.mitigate import MitigationRequest, run_mitigation

    request = MitigationRequest(
        source=source,
        group_by=tuple(split(opts["group_by"])),
        output=opts["output"],
        methods=tuple(opts["methods"]),
        target_fmrs=rates(opts["fmr"], "--fmr"),
        fit_fmr=opts["fit_fmr"],
        folds=opts["folds"],
        folds_from=opts["folds_from"],
        clusters=opts["clusters"],
        cohort_size=opts["cohort_size"],
        intervals=IntervalSettings(
            method=IntervalMethod(opts["intervals"]),
            replicates=opts["replicates"],
            level=opts["level"],
            seed=opts["seed"],
        ),
    )
    outcome = run_mitigation(request, message=_message)
    for method in outcome.result.outcomes:
        point = method.points[0] if method.points else None
        if point is None:
            continue
        spread = {m.name: m for m in point.measures}["fmr.max_min"]
        worse = ", ".join(f"{d.label} {d.rate}" for d in point.levelling_down) or "none"
        before = fmt_ratio(spread.before) + (
            f" ({spread.before_reason})" if spread.before_reason else ""
        )
        after = fmt_ratio(spread.after) + (
            f" ({spread.after_reason})" if spread.after_reason else ""
        )
        click.echo(
            f"{method.method}: FMR max/min {before} -> {after}; "
            f"worse at target FMR {point.target_fmr:g}: {worse}"
        )


@mitigate.command("pairs", cls=_AllMissing)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--score", required=True, help="Score column.")
@score_kind_option
@click.option("--mated", default=None, help="Mated label column (1/0, true/false).")
@click.option("--subjects", required=True, help="The two subject id columns, COLUMN1,COLUMN2.")
@click.option("--samples", default=None, help="The two sample id columns (optional).")
@attribute_options
@_options
@_reported
def mitigate_pairs(
    path: Path,
    score: str,
    score_kind: str,
    mated: str | None,
    subjects: str,
    samples: str | None,
    attributes: tuple[str, ...],
    bins: tuple[str, ...],
    **opts: Any,
) -> None:
    """A pair table of scores (no embeddings: FSN, FairCal and the T-norm are unavailable)."""
    source = PairsInput(
        path=path,
        score=score,
        score_kind=ScoreKind(score_kind),
        subjects=column_pair(subjects, "--subjects"),
        mated=mated,
        samples=column_pair(samples, "--samples") if samples else None,
        attributes=attribute_specs(attributes, bins),
    )
    _run(source, opts)


def _output_file(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    if value.is_dir():
        raise click.BadParameter(
            f"{value} is a folder; expected a file: mitigate apply writes one CSV",
            ctx=ctx,
            param=param,
        )
    return value


def _bfw_options(func: Any) -> Any:
    return _options(func, group_by="sex,ethnicity")


@mitigate.command("bfw", cls=_AllMissing)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--score", required=True, help="Score column: vgg16, resnet50 or senet50.")
@click.option(
    "--score-kind",
    type=click.Choice([k.value for k in ScoreKind]),
    default=ScoreKind.SIMILARITY.value,
    show_default=True,
    help="BFW's scores are cosine similarities (higher: more alike).",
)
@_bfw_options
@_reported
def mitigate_bfw(path: Path, score: str, score_kind: str, **opts: Any) -> None:
    """The BFW datatable layout; folds: BFW's own (its fold column) unless --folds-from.

    Groups: BFW's eight subgroups (sex x ethnicity) unless --group-by.
    """
    _run(BfwInput(path=path, score=score, score_kind=ScoreKind(score_kind)), opts)


@mitigate.command("embeddings", cls=_AllMissing)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--metadata", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--sample-id", "sample_id", default=None, help="Sample id column of --metadata.")
@click.option("--subject", default=None, help="Subject id column of --metadata.")
@attribute_options
@_options
@_reported
def mitigate_embeddings(
    path: Path,
    metadata: Path | None,
    sample_id: str | None,
    subject: str | None,
    attributes: tuple[str, ...],
    bins: tuple[str, ...],
    **opts: Any,
) -> None:
    """Embeddings with metadata, or the output of `faceparity embed`: every pair, cosine."""
    source = EmbeddingsInput(
        path=path,
        metadata=metadata,
        sample_id=sample_id,
        subject=subject,
        attributes=attribute_specs(attributes, bins),
        engine=EngineSettings(),
    )
    _run(source, opts)


@mitigate.command("apply", cls=_AllMissing)
@click.argument("parameters", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--score", required=True, help="Score column.")
@score_kind_option
@click.option("--mated", default=None, help="Mated label column (1/0, true/false).")
@click.option("--subjects", required=True, help="The two subject id columns, COLUMN1,COLUMN2.")
@click.option("--samples", default=None, help="The two sample id columns (optional).")
@attribute_options
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    callback=_output_file,
    help="CSV of the comparisons with their new scores (mitigated_score).",
)
@_reported
def mitigate_apply(
    parameters: Path,
    path: Path,
    score: str,
    score_kind: str,
    mated: str | None,
    subjects: str,
    samples: str | None,
    attributes: tuple[str, ...],
    bins: tuple[str, ...],
    output: Path,
) -> None:
    """Apply a method's parameters.json to the scores of a pair table (methods without embeddings).

    Writes one row per comparison read: the two subjects, the two groups, mated, the
    score and the new score (a similarity: higher is more alike), read at one global
    threshold.
    """
    from faceparity.workflow.mitigate import apply_to_pairs

    source = PairsInput(
        path=path,
        score=score,
        score_kind=ScoreKind(score_kind),
        subjects=column_pair(subjects, "--subjects"),
        mated=mated,
        samples=column_pair(samples, "--samples") if samples else None,
        attributes=attribute_specs(attributes, bins),
    )
    n = apply_to_pairs(parameters, source, output, message=_message)
    click.echo(f"{n} comparisons scored: {output}")
