"""The ``faceparity`` command: parse, call the library, print.

No metric is computed here. Results go to ``OUTDIR/results.json`` (atomically) and a
table to stdout (``--json`` prints the JSON instead); messages go to stderr.

Exit codes: 0 success; 1 a limit of ``check`` or ``audit --check`` is violated; 2 bad
input or usage (the message names file, row and column); 73 an output file that cannot
be written; 70 an internal error (a bug: please report it); 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from faceparity._version import __version__
from faceparity.accumulate.accumulator import DEFAULT_TAIL_CAPACITY
from faceparity.cli_images import embed, pipeline_options, run_pipeline, verify
from faceparity.cli_support import (  # noqa: F401 - exit codes re-exported for callers
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_VIOLATIONS,
    F,
    _message,
    _reported,
    progress_bar,
    with_options,
)
from faceparity.errors import FaceparityError, OutputError, UsageError
from faceparity.model.config import (
    DEFAULT_TARGET_FMRS,
    AuditConfig,
    FMRScope,
    MatedGroupRule,
    ScoreKind,
    ThresholdPolicy,
)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _pair(text: str, option: str) -> tuple[str, str]:
    parts = _split(text)
    if len(parts) != 2:
        raise UsageError(f"{option}: expected two column names COLUMN1,COLUMN2, got {text!r}")
    return parts[0], parts[1]


def _target_fmrs(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in _split(text))
    except ValueError:
        values = ()
    if not values or any(not 0.0 < v < 1.0 for v in values):
        raise UsageError(f"--fmr: expected comma-separated numbers in (0, 1), got {text!r}")
    return values


def _attribute_specs(attributes: Sequence[str], bins: Sequence[str]) -> list[Any]:
    from faceparity.readers.attributes import AttributeSpec, parse_bins

    parsed = [AttributeSpec.parse(a) for a in attributes]
    names = [spec.name for spec in parsed]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UsageError(f"--attribute: {', '.join(map(repr, repeated))} is given more than once")
    specs = {spec.name: spec for spec in parsed}
    for text in bins:
        name, edges = parse_bins(text)
        if name not in specs:
            raise UsageError(f"--bin {text!r}: no --attribute named {name!r}")
        specs[name] = AttributeSpec(name, specs[name].columns, edges)
    return list(specs.values())


def _audit_options(func: F) -> F:
    """Options shared by every ``audit`` input format."""
    options = [
        click.option(
            "--group-by",
            "group_by",
            required=True,
            help="Attributes whose intersection defines the groups, e.g. sex,ethnicity.",
        ),
        click.option(
            "--fmr",
            "fmr",
            default=",".join(f"{v:g}" for v in DEFAULT_TARGET_FMRS),
            show_default=True,
            help="Target FMRs of the operating points.",
        ),
        click.option(
            "--policy",
            "policies",
            multiple=True,
            help="Threshold policy: global (default), per-group, or "
            "reference:ATTR=VALUE[,ATTR=VALUE]. Repeatable.",
        ),
        click.option(
            "--fmr-scope",
            type=click.Choice([s.value for s in FMRScope]),
            default=FMRScope.MATCHED.value,
            show_default=True,
            help="Non-mated comparisons counted for a group: both sides in it "
            "(matched) or either side (involving).",
        ),
        click.option(
            "--mated-rule",
            type=click.Choice([r.value for r in MatedGroupRule]),
            default=MatedGroupRule.EXCLUDE.value,
            show_default=True,
            help="Group of a mated comparison whose samples fall in different groups.",
        ),
        click.option(
            "--alpha",
            type=float,
            default=0.5,
            show_default=True,
            help="Weight of FMR in GARBE, FDR and the inequity rate.",
        ),
        click.option(
            "-o",
            "--output",
            "output",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Directory to write results.json into.",
        ),
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            help="Print results.json to stdout instead of the table.",
        ),
        click.option(
            "--intervals",
            type=click.Choice(["bootstrap", "clopper-pearson", "wilson", "none"]),
            default="bootstrap",
            show_default=True,
            help="Intervals on every number: the subject-level bootstrap, or closed-form "
            "binomial intervals on the rates (which treat comparisons as independent).",
        ),
        click.option(
            "--replicates",
            type=click.IntRange(10),
            default=1000,
            show_default=True,
            help="Bootstrap replicates.",
        ),
        click.option(
            "--level",
            type=click.FloatRange(0.5, 1.0, min_open=False, max_open=True),
            default=0.95,
            show_default=True,
            help="Confidence level of the intervals.",
        ),
        click.option(
            "--seed",
            type=click.IntRange(0),
            default=0,
            show_default=True,
            help="Seed of the bootstrap and of the 1:N protocol (same seed, same results).",
        ),
    ]
    return _report_check_options(with_options(func, options))


def _score_kind_option(func: F) -> F:
    return click.option(
        "--score-kind",
        type=click.Choice([k.value for k in ScoreKind]),
        required=True,
        help="similarity: higher means more alike; distance: lower means more alike.",
    )(func)


def _tail_capacity_option(func: F) -> F:
    """The exact tail of the streaming accumulators (see faceparity.accumulate)."""
    return click.option(
        "--tail-capacity",
        type=click.IntRange(1),
        default=DEFAULT_TAIL_CAPACITY,
        show_default=True,
        help="Streaming: exact non-mated scores kept (thresholds exact for target FMRs up "
        "to about capacity / non-mated comparisons, on the bin grid above).",
    )(func)


def _attribute_options(func: F) -> F:
    func = click.option(
        "--bin",
        "bins",
        multiple=True,
        help="Band edges of a numeric attribute, e.g. age=18,30,50,70.",
    )(func)
    return click.option(
        "--attribute",
        "attributes",
        multiple=True,
        help="NAME=COLUMN (shared) or NAME=COLUMN1,COLUMN2 (per side). Repeatable.",
    )(func)


def _audit_config(opts: dict[str, Any]) -> AuditConfig:
    return AuditConfig(
        target_fmrs=_target_fmrs(opts["fmr"]),
        policies=tuple(ThresholdPolicy.parse(p) for p in opts["policies"])
        or (ThresholdPolicy.parse("global"),),
        fmr_scope=FMRScope(opts["fmr_scope"]),
        mated_rule=MatedGroupRule(opts["mated_rule"]),
        alpha=opts["alpha"],
    )


def _finish(comparisons: Any, opts: dict[str, Any]) -> None:
    """Audit a list of comparisons exactly, write results.json, print."""
    from faceparity.verification.audit import audit

    _message(f"auditing {len(comparisons)} comparisons ...")
    group_by, config = _split(opts["group_by"]), _audit_config(opts)
    result = audit(comparisons, group_by=group_by, config=config)
    _write_and_print(_uncertain(result, opts, comparisons, group_by, config), opts)


def _uncertain(
    result: Any,
    opts: dict[str, Any],
    comparisons: Any = None,
    group_by: list[str] | None = None,
    config: AuditConfig | None = None,
) -> Any:
    """The result with intervals and support flags (``--intervals``, ``--replicates``...)."""
    from faceparity.uncertainty.apply import with_uncertainty

    method = opts["intervals"]
    if method == "bootstrap" and comparisons is None:
        _message(
            "note: the subject bootstrap needs the comparisons with their subjects, which a "
            "streamed or histogram input does not keep; Clopper-Pearson intervals instead "
            "(they treat comparisons as independent, so they are too narrow)"
        )
        method = "clopper-pearson"
    if method == "bootstrap":
        _message(f"bootstrapping subjects: {opts['replicates']} replicates ...")
    return with_uncertainty(
        result,
        method=method,
        comparisons=comparisons,
        group_by=group_by,
        config=config,
        replicates=opts["replicates"],
        level=opts["level"],
        seed=opts["seed"],
    )


def _finish_streamed(streamed: Any, opts: dict[str, Any]) -> None:
    """Audit the accumulator of a streaming reader, write results.json, print."""
    from faceparity.verification.audit import audit_accumulated

    result = audit_accumulated(
        streamed.accumulator,
        groups=streamed.groups,
        group_by=streamed.group_by,
        population=streamed.population,
        config=_audit_config(opts),
        source=streamed.source,
        exclusions=streamed.exclusions,
        notes=streamed.notes,
        score_kind=streamed.score_kind,
    )
    _write_and_print(_uncertain(result, opts), opts)


def _write_and_print(result: Any, opts: dict[str, Any]) -> None:
    """Write results.json and the report (atomically), print the table or the JSON, check."""
    from faceparity.render.table import format_table

    if opts.get("identification") is not None:  # issue 6: the 1:N section
        result = dataclasses.replace(result, identification=opts["identification"])
    if opts.get("acquisition") is not None:  # issue 7: failures to acquire and enrol
        from faceparity.acquisition import with_acquisition

        result = with_acquisition(result, opts["acquisition"])
    for note in result.input["notes"]:
        _message(f"note: {note}")
    # --- issue 5: the report and the policy gate (see the block "Reports, compare, check") ---
    data = result.to_dict()
    limits = opts.get("check")
    check = _check_report(data, limits, "the audit's results") if limits is not None else None
    report = None
    if opts["output"] is not None and not opts.get("no_report"):
        from faceparity.render.html import render_html

        report = render_html(data)
    # --- end of issue 5 block ---
    if opts["output"] is not None:
        path = Path(opts["output"]) / "results.json"
        try:
            result.write_json(path)
        except OSError as err:
            raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
        _message(f"wrote {path}")
        if report is not None:
            _write_output(Path(opts["output"]) / "report.html", report)
    click.echo(result.to_json() if opts["as_json"] else format_table(result), nl=False)
    if result.identification is not None and not opts["as_json"]:  # issue 6
        from faceparity.render.identification_table import format_identification_table

        click.echo("\n" + format_identification_table(result.identification), nl=False)
    if result.acquisition is not None and not opts["as_json"]:  # issue 7
        from faceparity.render.acquisition_table import format_acquisition_table

        click.echo("\n" + format_acquisition_table(result.acquisition), nl=False)
    if check is not None:
        _message(check.format().rstrip("\n"))
        if check.exit_code:
            sys.exit(check.exit_code)


# --- Reports, compare, check (issue 5) -------------------------------------------------


def _load_limits(ctx: click.Context, param: click.Parameter, value: Path | None) -> Any:
    """Parse ``--check LIMITS`` before any input is read, so a bad file costs nothing."""
    if value is None:
        return None
    from faceparity.review.check import read_limits

    try:
        return read_limits(value)
    except FaceparityError as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from err


def _report_check_options(func: F) -> F:
    """``--no-report`` and ``--check``, shared by every ``audit`` input format."""
    func = click.option(
        "--check",
        "check",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        callback=_load_limits,
        help="Limits file (TOML): exit 1 with the list of violations when a limit is "
        "exceeded (see examples/limits.toml).",
    )(func)
    return click.option(
        "--no-report",
        "no_report",
        is_flag=True,
        help="Do not write report.html next to results.json.",
    )(func)


def _check_report(data: dict[str, Any], limits: Any, name: str) -> Any:
    from faceparity.review.check import check_limits

    return check_limits(data, limits, results_name=name)


def _write_output(path: Path, text: str) -> None:
    """Write a text output atomically, or raise OutputError (exit 73)."""
    from faceparity.io import atomic_write_text

    try:
        atomic_write_text(path, text)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
    _message(f"wrote {path}")


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
    from faceparity.results.loading import read_results

    data = read_results(results)
    if fmt is None:
        fmt = _REPORT_FORMATS.get(output.suffix.lower(), "html") if output else "html"
    if output is None:
        output = results.parent / f"report.{fmt}"
    if fmt == "md":
        from faceparity.render.markdown import render_markdown as render
    else:
        from faceparity.render.html import render_html as render
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
    from faceparity.render import comparison as render
    from faceparity.results.loading import read_results
    from faceparity.review.diff import compare_results

    writers = {
        ".md": render.comparison_markdown,
        ".markdown": render.comparison_markdown,
        ".html": render.comparison_html,
        ".htm": render.comparison_html,
        ".json": render.comparison_json,
    }
    if output is not None and output.suffix.lower() not in writers:
        raise UsageError(
            f"-o {output}: expected a file ending in .html, .md or .json, got "
            f"{output.suffix or 'no extension'!r}"
        )
    result = compare_results(read_results(a), read_results(b), a_name=str(a), b_name=str(b))
    if output is None:
        click.echo(render.comparison_markdown(result), nl=False)
        return
    _write_output(output, writers[output.suffix.lower()](result))


@click.command("check")
@click.argument("results", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("limits", type=click.Path(dir_okay=False, path_type=Path))
@_reported
def check(results: Path, limits: Path) -> None:
    """Check results.json against a limits file: exit 1 and list the violations, else 0."""
    from faceparity.results.loading import read_results
    from faceparity.review.check import read_limits

    parsed = read_limits(limits)
    outcome = _check_report(read_results(results), parsed, str(results))
    click.echo(outcome.format(), nl=False)
    sys.exit(outcome.exit_code)


# --- end of Reports, compare, check ------------------------------------------------------


# --- 1:N identification and the scenario calculator (issue 6) ---------------------------


def _identification_options(func: F) -> F:
    """``--mode identification`` and the options of the 1:N protocol."""
    options = [
        click.option(
            "--mode",
            type=click.Choice(["verification", "identification"]),
            default="verification",
            show_default=True,
            help="identification: also run the open-set 1:N audit (results.json "
            "'identification'); an evaluation on labelled data, not a search service.",
        ),
        click.option(
            "--gallery-samples",
            type=click.IntRange(1),
            default=1,
            show_default=True,
            help="1:N: enrolment samples per enrolled subject.",
        ),
        click.option(
            "--non-mated-fraction",
            type=float,
            default=0.3,
            show_default=True,
            help="1:N: fraction of each group's subjects withheld from the gallery.",
        ),
        click.option(
            "--rank",
            type=click.IntRange(1, 100),
            default=1,
            show_default=True,
            help="1:N: candidate list length R.",
        ),
        click.option(
            "--target-fpir",
            default="0.01,0.002",
            show_default=True,
            help="1:N: target FPIRs of the operating points (read under every --policy).",
        ),
        click.option(
            "--split-column",
            default=None,
            help="1:N: metadata column naming each sample 'gallery' or 'probe' (instead "
            "of the seeded protocol).",
        ),
    ]
    return with_options(func, options)


_IDENTIFICATION_KEYS = (
    "mode",
    "gallery_samples",
    "non_mated_fraction",
    "rank",
    "target_fpir",
    "split_column",
)


def _target_fpirs(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in _split(text))
    except ValueError:
        values = ()
    if not values or any(not 0.0 < v < 1.0 for v in values):
        raise UsageError(f"--target-fpir: expected comma-separated numbers in (0, 1), got {text!r}")
    if len(set(values)) != len(values):
        raise UsageError(f"--target-fpir: a value is given twice in {text!r}")
    return values


def _identification_run(
    table: Any, metadata: Path, block_size: int, threads: int | None, opts: dict[str, Any]
) -> None:
    """Run the 1:N audit when asked (before anything is written) and keep it in ``opts``."""
    request = {key: opts.pop(key) for key in _IDENTIFICATION_KEYS}
    opts["identification"] = None
    if request["mode"] != "identification":
        return
    from faceparity.identification import ProtocolConfig, audit_identification, read_roles

    targets = _target_fpirs(request["target_fpir"])
    config = ProtocolConfig(
        gallery_samples=request["gallery_samples"],
        non_mated_fraction=request["non_mated_fraction"],
        seed=opts["seed"],  # the audit's --seed: the protocol's and the bootstrap's
    )
    roles = None
    if request["split_column"] is not None:
        roles = read_roles(metadata, request["split_column"], table.rows)
    _message("1:N identification: searching the gallery ...")
    with progress_bar() as progress:
        opts["identification"] = audit_identification(
            table,
            group_by=_split(opts["group_by"]),
            protocol=config,
            roles=roles,
            split_column=request["split_column"],
            rank=request["rank"],
            target_fpirs=targets,
            policies=_audit_config(opts).policies,
            block_size=block_size,
            threads=threads,
            progress=progress,
            file=str(metadata),
        )


def _label_values(items: Sequence[str], option: str, kind: type) -> dict[str, Any]:
    """``LABEL=VALUE`` items (the label may hold '='; the value is after the last one)."""
    out: dict[str, Any] = {}
    for item in items:
        label, sep, value = item.rpartition("=")
        try:
            parsed = kind(value)
        except ValueError:
            parsed = None
        if not sep or not label.strip() or parsed is None:
            raise UsageError(f"{option}: expected GROUP={kind.__name__.upper()}, got {item!r}")
        if label.strip() in out:
            raise UsageError(f"{option}: group {label.strip()!r} is given more than once")
        out[label.strip()] = parsed
    return out


@click.command("scenario")
@click.argument("results", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--gallery", "gallery", multiple=True, help="GROUP=SUBJECTS enrolled. Repeatable.")
@click.option(
    "--gallery-size",
    type=click.IntRange(1),
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
    type=click.IntRange(1),
    default=None,
    help="Candidate list length R (default: no limit).",
)
@click.option("--days-per-year", type=float, default=365.0, show_default=True)
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

    from faceparity.render.identification_table import format_scenario_table
    from faceparity.results.loading import read_results
    from faceparity.review.scenario import Deployment, cross_rates, run_scenario

    if bool(gallery) == (gallery_size is not None or bool(composition)):
        raise UsageError(
            "give the gallery as --gallery GROUP=N, or as --gallery-size N with "
            "--composition GROUP=FRACTION"
        )
    if gallery:
        counts = _label_values(gallery, "--gallery", int)
    else:
        if gallery_size is None or not composition:
            raise UsageError("--gallery-size and --composition go together")
        shares = _label_values(composition, "--composition", float)
        if any(v < 0 for v in shares.values()) or abs(sum(shares.values()) - 1.0) > 1e-6:
            raise UsageError(
                "--composition: expected fractions >= 0 that sum to 1, got "
                f"{sum(shares.values()):g}"
            )
        counts = {k: round(v * gallery_size) for k, v in shares.items()}
    deployment = Deployment(
        gallery=counts,
        searches_per_day=_label_values(searches, "--searches", float),
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


# --- end of 1:N identification ------------------------------------------------------------


# --- Planning (issue 4, point 5): `faceparity plan` ----------------------------------


def _rates(text: str, option: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in _split(text))
    except ValueError:
        values = ()
    if not values or any(not 0.0 < v < 1.0 for v in values):
        raise UsageError(f"{option}: expected comma-separated numbers in (0, 1), got {text!r}")
    return values


# The values of planning.IntervalKind (tests/test_planning_cli.py checks them).
_PLAN_INTERVALS = ["normal", "clopper-pearson"]
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
    type=click.IntRange(1),
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
        from faceparity.results.loading import read_results

        rows = supported_rates(
            read_results(from_results),
            target_fmrs=_rates(target_fmr, "--target-fmr") if target_fmr else None,
            file=str(from_results),
        )
        data: dict[str, Any] = {
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
            _rates(target_fmr, "--target-fmr") if target_fmr else (),
            target_fnmrs=_rates(target_fnmr, "--target-fnmr") if target_fnmr else (),
            config=config,
        )
        data = {"tool": tool, "n_groups": n_groups, **result.to_dict()}
        text = format_plan(result, n_groups=n_groups)
    document = json.dumps(data, indent=2, allow_nan=False) + "\n"
    if output is not None:
        _write_output(output, document)
    click.echo(document if as_json else text, nl=False)


# --- end of Planning ---------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="faceparity")
def main() -> None:
    """Audit demographic differentials of a face recognition system (1:1 verification)."""


@main.group()
def audit() -> None:
    """Per-group FMR and FNMR from one of the supported inputs."""


@audit.command("pairs")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--score", required=True, help="Score column.")
@_score_kind_option
@click.option(
    "--mated",
    default=None,
    help="Mated label column (1/0, true/false); derived from the subject ids when absent.",
)
@click.option("--subjects", required=True, help="The two subject id columns, COLUMN1,COLUMN2.")
@click.option("--samples", default=None, help="The two sample id columns (optional).")
@click.option(
    "--engine",
    type=click.Choice(["exact", "stream"]),
    default="exact",
    show_default=True,
    help="stream: read the table in chunks into histograms (tables larger than memory; "
    "no duplicate detection, no --samples).",
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(1),
    default=1_000_000,
    show_default=True,
    help="Streaming: rows read at a time.",
)
@_tail_capacity_option
@_attribute_options
@_audit_options
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
    if engine == "stream":
        if samples:
            raise UsageError(
                "--samples: the streaming engine does not read sample ids; use --engine exact"
            )
        from faceparity.readers.pairs_stream import accumulate_pairs

        _message(f"streaming {path} in chunks of {chunk_rows} rows (two passes) ...")
        streamed = accumulate_pairs(
            path,
            score=score,
            score_kind=ScoreKind(score_kind),
            subjects=_pair(subjects, "--subjects"),
            mated=mated,
            attributes=_attribute_specs(attributes, bins),
            group_by=_split(opts["group_by"]),
            chunk_rows=chunk_rows,
            capacity=tail_capacity,
        )
        _finish_streamed(streamed, opts)
        return
    from faceparity.readers.pairs import read_pairs

    cs = read_pairs(
        path,
        score=score,
        score_kind=ScoreKind(score_kind),
        subjects=_pair(subjects, "--subjects"),
        mated=mated,
        samples=_pair(samples, "--samples") if samples else None,
        attributes=_attribute_specs(attributes, bins),
    )
    _finish(cs, opts)


@audit.command("histogram")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@_score_kind_option
@_tail_capacity_option
@_audit_options
@_reported
def audit_histogram(path: Path, score_kind: str, tail_capacity: int, **opts: Any) -> None:
    """A score histogram: group_a, group_b, mated, score, count (as pyeer takes for huge runs)."""
    from faceparity.readers.histogram import read_histogram

    group_by = _split(opts["group_by"])
    if len(group_by) != 1:
        raise UsageError(
            "--group-by: a histogram names one attribute (the values in group_a and "
            f"group_b), got {', '.join(group_by)}"
        )
    streamed = read_histogram(
        path, score_kind=ScoreKind(score_kind), attribute=group_by[0], capacity=tail_capacity
    )
    _finish_streamed(streamed, opts)


@audit.command("bfw")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--score", required=True, help="Score column: vgg16, resnet50 or senet50.")
@_score_kind_option
@_audit_options
@_reported
def audit_bfw(path: Path, score: str, score_kind: str, **opts: Any) -> None:
    """The BFW datatable layout (attributes sex, ethnicity and subgroup)."""
    from faceparity.readers.bfw import read_bfw

    _finish(read_bfw(path, score=score, score_kind=ScoreKind(score_kind)), opts)


@audit.command("rfw")
@click.argument("pairs", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("scores", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--score", default="dist", show_default=True, help="Score column of SCORES.")
@_score_kind_option
@_audit_options
@_reported
def audit_rfw(pairs: Path, scores: Path, score: str, score_kind: str, **opts: Any) -> None:
    """RFW style: a pair table with labels plus a score file, joined on image names."""
    from faceparity.readers.rfw import read_rfw

    _finish(read_rfw(pairs, scores, score=score, score_kind=ScoreKind(score_kind)), opts)


@audit.command("bob")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@_score_kind_option
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
@_attribute_options
@_audit_options
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
    from faceparity.readers.bob import read_bob

    cs = read_bob(
        path,
        score_kind=ScoreKind(score_kind),
        subject_metadata=subject_metadata,
        subject_column=subject_column,
        attributes=_attribute_specs(attributes, bins),
    )
    _finish(cs, opts)


def _streaming_options(func: F) -> F:
    """Options of the all-vs-all comparison of embeddings (audit embeddings and images)."""
    options = [
        click.option(
            "--engine",
            type=click.Choice(["auto", "exact", "stream"]),
            default="auto",
            show_default=True,
            help="exact: every comparison in memory; stream: blocks reduced into histograms and "
            "exact tails (bounded memory); auto: exact up to --max-comparisons, else stream.",
        ),
        click.option(
            "--max-comparisons",
            type=click.IntRange(1),
            default=50_000_000,
            show_default=True,
            help="Largest input the exact engine takes (it holds every comparison in memory).",
        ),
        click.option(
            "--block-size",
            type=click.IntRange(1),
            default=4096,
            show_default=True,
            help="Streaming: rows and columns of a block of the similarity matrix.",
        ),
        click.option(
            "--threads",
            type=click.IntRange(1),
            default=None,
            help="Streaming: worker threads (default: the number of CPUs).",
        ),
        click.option(
            "--backend",
            type=click.Choice(["numpy", "torch"]),
            default="numpy",
            show_default=True,
            help="Streaming: where blocks are multiplied.",
        ),
        click.option(
            "--device",
            default="cpu",
            show_default=True,
            help="Streaming with --backend torch: cpu, cuda or cuda:N.",
        ),
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            default=None,
            help="Streaming: run the blocks on the Dask cluster whose scheduler is at ADDRESS "
            "(tcp://host:8786); needs faceparity[dask] here and on the workers.",
        ),
        click.option(
            "--checkpoint",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Streaming: directory to save progress in and resume from.",
        ),
    ]
    return with_options(func, options)


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
@_streaming_options
@_identification_options  # issue 6
@_tail_capacity_option
@_attribute_options
@_audit_options
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
    """
    from faceparity.readers.embeddings import load_embeddings
    from faceparity.readers.pipeline_output import is_pipeline_output

    specs = _attribute_specs(attributes, bins)
    if metadata is None and is_pipeline_output(path):
        _audit_pipeline_output(path, specs, tail_capacity, opts)
        return
    missing = [
        name
        for name, value in (
            ("--metadata", metadata),
            ("--sample-id", sample_id),
            ("--subject", subject),
        )
        if value is None
    ]
    if missing:
        raise UsageError(
            f"{', '.join(missing)}: required for {path} (only the output of `faceparity embed` "
            "holds its own metadata)"
        )
    assert metadata is not None and sample_id is not None and subject is not None
    table = load_embeddings(
        path, metadata=metadata, sample_id=sample_id, subject=subject, attributes=specs
    )
    _audit_table(table, metadata, tail_capacity, opts)


def _audit_pipeline_output(
    path: Path, specs: list[Any], tail_capacity: int, opts: dict[str, Any]
) -> None:
    """Audit the enrolled images of a pipeline run, with failures to acquire and enrol by group."""
    from faceparity.acquisition import acquisition_by_group
    from faceparity.readers.pipeline_output import load_pipeline_output

    group_by = _split(opts["group_by"])
    table, records = load_pipeline_output(path, attributes=specs, columns_as_attributes=group_by)
    unknown = [name for name in group_by if name not in records.codes]
    if unknown:
        raise UsageError(
            f"--group-by: {', '.join(unknown)} is neither a column of {path} nor an "
            "--attribute NAME=COLUMN"
        )
    opts["acquisition"] = acquisition_by_group(
        records.status,
        records.reasons,
        records.subject,
        records.codes,
        records.levels,
        group_by,
        pipeline=records.description,
        level=opts["level"],
        replicates=opts["replicates"] if opts["intervals"] == "bootstrap" else 0,
        seed=opts["seed"],
        intervals=opts["intervals"] != "none",
    )
    _audit_table(table, path, tail_capacity, opts)


def _audit_table(table: Any, metadata: Path, tail_capacity: int, opts: dict[str, Any]) -> None:
    """Audit every comparison of an embedding table: exact or streaming; write, print."""
    from faceparity.readers.embeddings import compare_all

    engine, scheduler, block_size = (
        opts.pop("engine"),
        opts.pop("scheduler"),
        opts.pop("block_size"),
    )
    max_comparisons, threads = opts.pop("max_comparisons"), opts.pop("threads")
    backend, device, checkpoint = opts.pop("backend"), opts.pop("device"), opts.pop("checkpoint")
    _identification_run(table, metadata, block_size, threads, opts)  # issue 6 (1:N first)
    n = len(table.subject)
    if scheduler is not None and engine == "exact":
        raise UsageError("--scheduler runs the streaming engine; it cannot go with --engine exact")
    small = n * (n - 1) // 2 <= max_comparisons
    if engine == "exact" or (engine == "auto" and small and scheduler is None):
        cs = compare_all(table, max_comparisons=max_comparisons, file=str(metadata))
        _finish(cs, opts)
        return
    from faceparity.scoring.engine import EngineConfig
    from faceparity.verification.stream import audit_embeddings_streaming

    engine_config = EngineConfig(
        block_size=block_size,
        threads=threads or EngineConfig().threads,
        backend=backend,
        device=device,
        capacity=tail_capacity,
        checkpoint=checkpoint,
    )
    _message(f"streaming {n * (n - 1) // 2} comparisons of {n} samples ...")
    bootstrap = opts["intervals"] == "bootstrap"
    largest = max(_target_fmrs(opts["fmr"]))
    if bootstrap and tail_capacity < 2 * largest * n * (n - 1) // 2:
        _message(
            f"note: the bootstrap reweights the exact tail; at target FMR {largest:g} it "
            f"needs about {int(2 * largest * n * (n - 1) // 2):,} exact scores "
            f"(--tail-capacity, now {tail_capacity:,}); rates read below the tail get no "
            "interval"
        )
    with progress_bar() as progress:
        result = audit_embeddings_streaming(
            table,
            group_by=_split(opts["group_by"]),
            config=_audit_config(opts),
            engine=engine_config,
            progress=progress,
            scheduler=scheduler,
            # The subject bootstrap from the engine's exact scores and their subjects.
            intervals={k: opts[k] for k in ("replicates", "level", "seed")}
            | {"method": "bootstrap"}
            if bootstrap
            else None,
        )
    if bootstrap:
        _message(f"bootstrapped subjects: {opts['replicates']} replicates")
    _write_and_print(result if bootstrap else _uncertain(result, opts), opts)


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
@_streaming_options
@_identification_options  # issue 6
@_tail_capacity_option
@_attribute_options
@_audit_options
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
    # The audit's options are checked before any image is opened.
    _audit_config(opts)
    specs = _attribute_specs(attributes, bins)
    group_by = _split(opts["group_by"])

    def check(manifest: Any) -> None:
        from faceparity.pipeline.run import PIPELINE_COLUMNS

        columns = {*manifest.attributes.columns, *PIPELINE_COLUMNS}
        named = {spec.name for spec in specs}
        unknown = [name for name in group_by if name not in named and name not in columns]
        unknown += [c for spec in specs for c in spec.columns if c not in columns]
        if unknown:
            raise UsageError(
                f"--group-by / --attribute: {', '.join(unknown)} is neither a column of "
                f"{manifest.file} nor one the pipeline writes ({', '.join(PIPELINE_COLUMNS)})"
            )

    pipeline = {k: opts.pop(k) for k in list(opts) if k in _PIPELINE_KEYS}
    run_pipeline(manifest, embeddings_path, pipeline, check=check)
    _audit_pipeline_output(embeddings_path, specs, tail_capacity, opts)


_PIPELINE_KEYS = frozenset(p.name for p in embed.params) - {"manifest", "output"}
"""The options of ``audit images`` that belong to the pipeline (those of ``embed``)."""


@main.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for embeddings.npy, metadata.csv and truth.json.",
)
@click.option("--subjects-per-group", type=click.IntRange(2), default=100, show_default=True)
@click.option("--samples-per-subject", type=click.IntRange(2), default=5, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@_reported
def simulate(output: Path, subjects_per_group: int, samples_per_subject: int, seed: int) -> None:
    """Make a synthetic population with planted differentials and known true rates."""
    from faceparity.synthetic import simulate as sim

    config = sim.default_config(
        n_subjects_per_group=subjects_per_group, samples_per_subject=samples_per_subject, seed=seed
    )
    paths = sim.write_simulation(sim.simulate(config), output)
    for name, path in paths.items():
        _message(f"wrote {name}: {path}")


@main.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Directory for the demo.",
)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@_reported
def demo(output: Path, seed: int) -> None:
    """Simulate a population, audit it, and compare with the truth (synthetic data)."""
    from faceparity.synthetic.demo import run_demo

    click.echo(run_demo(output, seed=seed, log=_message), nl=False)


main.add_command(report)  # issue 5
main.add_command(compare)  # issue 5
main.add_command(check)  # issue 5
main.add_command(plan)  # issue 4, planning
main.add_command(scenario)  # issue 6
main.add_command(embed)  # issue 7
main.add_command(verify)  # issue 7


if __name__ == "__main__":  # pragma: no cover
    main()
