"""Options the commands share, and the parsing of their values into the library's types."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from faceparity.accumulate.accumulator import DEFAULT_TAIL_CAPACITY
from faceparity.cli.support import F, with_options
from faceparity.errors import FaceparityError, UsageError
from faceparity.model.config import (
    DEFAULT_TARGET_FMRS,
    MAX_TAIL_CAPACITY,
    MIN_TARGET_RATE,
    MSG_TARGET_FLOOR,
    AuditConfig,
    FMRScope,
    MatedGroupRule,
    ScoreKind,
    ThresholdPolicy,
)
from faceparity.workflow.request import (
    Backend,
    EngineChoice,
    EngineSettings,
    IdentificationSettings,
    IntervalMethod,
    IntervalSettings,
)

# --- limits -----------------------------------------------------------------------------

MAX_REPLICATES = 100_000
"""The most bootstrap replicates (each holds every rate of the audit once)."""

MAX_SEED = 2**63 - 1
"""The largest seed: one that every reader of results.json holds as a 64-bit integer."""

MAX_COMPARISONS = 2**63 - 1
"""The largest ``--max-comparisons``: the largest count a 64-bit integer holds."""

MAX_BLOCK_SIZE = 2**16
"""The largest block side: a block of 65,536 x 65,536 float32 similarities is 16 GiB."""

MAX_THREADS = 1024
"""The most worker threads (each holds its own block and accumulator)."""

MAX_GALLERY_SAMPLES = 10_000
"""The most enrolment samples per enrolled subject of the 1:N protocol."""


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses NaN and infinities.

    NaN fails no comparison, so a plain ``FloatRange`` passes it through its bounds, and
    an unbounded side lets an infinity in.
    """

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse and range-check as ``FloatRange`` does, then refuse a non-finite number."""
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(
                f"{number!r} is not a finite number in the range {self._describe_range()}.",
                param,
                ctx,
            )
        return number


# --- parsing ----------------------------------------------------------------------------


def split(text: str) -> list[str]:
    """The comma-separated parts of ``text``, stripped, empty ones dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


def column_pair(text: str, option: str) -> tuple[str, str]:
    """``COLUMN1,COLUMN2``."""
    parts = split(text)
    if len(parts) != 2:
        raise UsageError(f"{option}: expected two column names COLUMN1,COLUMN2, got {text!r}")
    return parts[0], parts[1]


def rates(text: str, option: str) -> tuple[float, ...]:
    """Comma-separated numbers in (0, 1), none below ``MIN_TARGET_RATE``."""
    try:
        values = tuple(float(v) for v in split(text))
    except ValueError:
        values = ()
    if not values or any(not 0.0 < v < 1.0 for v in values):
        raise UsageError(f"{option}: expected comma-separated numbers in (0, 1), got {text!r}")
    for v in values:
        if v < MIN_TARGET_RATE:
            raise UsageError(MSG_TARGET_FLOOR.format(name=option, floor=MIN_TARGET_RATE, value=v))
    return values


def target_fpirs(text: str) -> tuple[float, ...]:
    """``--target-fpir``: distinct numbers in (0, 1)."""
    values = rates(text, "--target-fpir")
    if len(set(values)) != len(values):
        raise UsageError(f"--target-fpir: a value is given twice in {text!r}")
    return values


def attribute_specs(attributes: Sequence[str], bins: Sequence[str]) -> tuple[Any, ...]:
    """``--attribute`` and ``--bin`` as AttributeSpecs."""
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
    return tuple(specs.values())


MSG_LABEL_VALUE = "{option}: expected GROUP={kind}, got {item!r}"
MSG_LABEL_RANGE = "{option}: expected GROUP={kind} with {kind} from {low} to {high}, got {item!r}"


def _shown(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def label_values(
    items: Sequence[str],
    option: str,
    kind: type,
    *,
    low: float | None = None,
    high: float | None = None,
) -> dict[str, Any]:
    """``LABEL=VALUE`` items (the label may hold '='; the value is after the last one).

    Parameters
    ----------
    items : sequence of str
        The option's values.
    option : str
        The option, for messages.
    kind : type
        ``int`` or ``float``: how a value is parsed.
    low, high : float, optional
        The range every value is in (both ends included); given both, a float must also
        be finite.

    Raises
    ------
    UsageError
        For an item that is not ``LABEL=VALUE``, a value out of the range, or a label
        given twice.

    """
    out: dict[str, Any] = {}
    name = kind.__name__.upper()
    for item in items:
        label, sep, value = item.rpartition("=")
        try:
            parsed = kind(value)
        except ValueError:
            parsed = None
        if not sep or not label.strip() or parsed is None:
            raise UsageError(MSG_LABEL_VALUE.format(option=option, kind=name, item=item))
        if low is not None and high is not None and not low <= parsed <= high:
            raise UsageError(
                MSG_LABEL_RANGE.format(
                    option=option, kind=name, low=_shown(low), high=_shown(high), item=item
                )
            )
        if label.strip() in out:
            raise UsageError(f"{option}: group {label.strip()!r} is given more than once")
        out[label.strip()] = parsed
    return out


def audit_config(opts: dict[str, Any]) -> AuditConfig:
    """The AuditConfig of the shared audit options."""
    return AuditConfig(
        target_fmrs=rates(opts["fmr"], "--fmr"),
        policies=tuple(ThresholdPolicy.parse(p) for p in opts["policies"])
        or (ThresholdPolicy.parse("global"),),
        fmr_scope=FMRScope(opts["fmr_scope"]),
        mated_rule=MatedGroupRule(opts["mated_rule"]),
        alpha=opts["alpha"],
    )


def interval_settings(opts: dict[str, Any]) -> IntervalSettings:
    """``--intervals``, ``--replicates``, ``--level`` and ``--seed``."""
    return IntervalSettings(
        method=IntervalMethod(opts["intervals"]),
        replicates=opts["replicates"],
        level=opts["level"],
        seed=opts["seed"],
    )


MSG_IGNORED = "{names}: {why}; give it only with {needed}"


def given_on_command_line(names: Sequence[str]) -> list[str]:
    """Which of the current command's parameters the user typed (not defaults)."""
    ctx = click.get_current_context()
    source = click.core.ParameterSource.COMMANDLINE
    return [name for name in names if ctx.get_parameter_source(name) is source]


def _option_names(names: Sequence[str]) -> str:
    return ", ".join("--" + name.replace("_", "-") for name in names)


def engine_settings(opts: dict[str, Any], tail_capacity: int) -> EngineSettings:
    """The options of :func:`streaming_options` and ``--tail-capacity``.

    Raises
    ------
    UsageError
        For ``--checkpoint`` with ``--engine exact``, which keeps no checkpoint.

    """
    if opts["engine"] == EngineChoice.EXACT.value and given_on_command_line(["checkpoint"]):
        raise UsageError(
            MSG_IGNORED.format(
                names="--checkpoint",
                why="the exact engine keeps no checkpoint",
                needed="--engine stream or auto",
            )
        )
    return EngineSettings(
        choice=EngineChoice(opts["engine"]),
        max_comparisons=opts["max_comparisons"],
        block_size=opts["block_size"],
        threads=opts["threads"],
        backend=Backend(opts["backend"]),
        device=opts["device"],
        scheduler=opts["scheduler"],
        checkpoint=opts["checkpoint"],
        tail_capacity=tail_capacity,
    )


IDENTIFICATION_ONLY = (
    "gallery_samples",
    "non_mated_fraction",
    "rank",
    "target_fpir",
    "split_column",
)


def identification_settings(opts: dict[str, Any]) -> IdentificationSettings | None:
    """The options of :func:`identification_options`; None unless ``--mode identification``.

    Raises
    ------
    UsageError
        For a 1:N option given without ``--mode identification``, which would ignore it.

    """
    if opts["mode"] != "identification":
        given = given_on_command_line(IDENTIFICATION_ONLY)
        if given:
            raise UsageError(
                MSG_IGNORED.format(
                    names=_option_names(given),
                    why="a setting of the 1:N audit",
                    needed="--mode identification",
                )
            )
        return None
    return IdentificationSettings(
        target_fpirs=target_fpirs(opts["target_fpir"]),
        gallery_samples=opts["gallery_samples"],
        non_mated_fraction=opts["non_mated_fraction"],
        rank=opts["rank"],
        split_column=opts["split_column"],
    )


# --- options ----------------------------------------------------------------------------


def interval_options(*, seed_help: str) -> list[Callable[[Any], Any]]:
    """``--intervals``, ``--replicates``, ``--level`` and ``--seed``, as every audit has them."""
    return [
        click.option(
            "--intervals",
            type=click.Choice([m.value for m in IntervalMethod]),
            default=IntervalMethod.BOOTSTRAP.value,
            show_default=True,
            help="Intervals on every number: the subject-level bootstrap, or closed-form "
            "binomial intervals on the rates (which treat comparisons as independent).",
        ),
        click.option(
            "--replicates",
            type=click.IntRange(10, MAX_REPLICATES),
            default=1000,
            show_default=True,
            help="Bootstrap replicates.",
        ),
        click.option(
            "--level",
            type=FiniteFloatRange(0.5, 1.0, min_open=False, max_open=True),
            default=0.95,
            show_default=True,
            help="Confidence level of the intervals.",
        ),
        click.option(
            "--seed",
            type=click.IntRange(0, MAX_SEED),
            default=0,
            show_default=True,
            help=seed_help,
        ),
    ]


def audit_options(func: F) -> F:
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
            type=FiniteFloatRange(0.0, 1.0),
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
        *interval_options(
            seed_help="Seed of the bootstrap and of the 1:N protocol (same seed, same results)."
        ),
    ]
    return report_check_options(with_options(func, options))


def _load_limits(ctx: click.Context, param: click.Parameter, value: Path | None) -> Any:
    """Parse ``--check LIMITS`` before any input is read, so a bad file costs nothing."""
    if value is None:
        return None
    from faceparity.review.check import read_limits

    try:
        return read_limits(value)
    except FaceparityError as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from err


def report_check_options(func: F) -> F:
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


def score_kind_option(func: F) -> F:
    """``--score-kind``: similarity or distance, never guessed."""
    return click.option(
        "--score-kind",
        type=click.Choice([k.value for k in ScoreKind]),
        required=True,
        help="similarity: higher means more alike; distance: lower means more alike.",
    )(func)


def tail_capacity_option(func: F) -> F:
    """The exact tail of the streaming accumulators (see faceparity.accumulate)."""
    return click.option(
        "--tail-capacity",
        type=click.IntRange(1, MAX_TAIL_CAPACITY),
        default=DEFAULT_TAIL_CAPACITY,
        show_default=True,
        help="Streaming: exact non-mated scores kept (thresholds exact for target FMRs up "
        "to about capacity / non-mated comparisons, on the bin grid above).",
    )(func)


def attribute_options(func: F) -> F:
    """``--attribute`` and ``--bin``."""
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


def identification_options(func: F) -> F:
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
            type=click.IntRange(1, MAX_GALLERY_SAMPLES),
            default=1,
            show_default=True,
            help="1:N: enrolment samples per enrolled subject.",
        ),
        click.option(
            "--non-mated-fraction",
            type=FiniteFloatRange(0.0, 1.0, min_open=True, max_open=True),
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


def streaming_options(func: F) -> F:
    """Options of the all-vs-all comparison of embeddings (audit embeddings and images)."""
    options = [
        click.option(
            "--engine",
            type=click.Choice([c.value for c in EngineChoice]),
            default=EngineChoice.AUTO.value,
            show_default=True,
            help="exact: every comparison in memory; stream: blocks reduced into histograms and "
            "exact tails (bounded memory); auto: exact up to --max-comparisons, else stream.",
        ),
        click.option(
            "--max-comparisons",
            type=click.IntRange(1, MAX_COMPARISONS),
            default=50_000_000,
            show_default=True,
            help="Largest input the exact engine takes (it holds every comparison in memory).",
        ),
        click.option(
            "--block-size",
            type=click.IntRange(1, MAX_BLOCK_SIZE),
            default=4096,
            show_default=True,
            help="Streaming: rows and columns of a block of the similarity matrix.",
        ),
        click.option(
            "--threads",
            type=click.IntRange(1, MAX_THREADS),
            default=None,
            help="Streaming: worker threads (default: the number of CPUs).",
        ),
        click.option(
            "--backend",
            type=click.Choice([b.value for b in Backend]),
            default=Backend.NUMPY.value,
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
