"""The demo: simulate a population with planted differentials, audit it, check the truth.

Everything here is synthetic and says so. The truth check compares each group's
measured FMR and FNMR at the audit's threshold with the simulator's closed-form
rate at that same threshold, in standard errors of the measured rate under the
simulator's model, and checks the measured order of the groups against the true
order on every pair of groups the truth separates by more than
``RESOLVED_STANDARD_ERRORS`` standard errors.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from faceparity.model.config import AuditConfig, ThresholdPolicy
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.embeddings import read_embeddings
from faceparity.render.verification.table import format_table
from faceparity.results.audit import AuditResult
from faceparity.results.common import Interval
from faceparity.synthetic.simulate import (
    SimulationConfig,
    default_config,
    simulate,
    true_fmr,
    true_fmr_design_effect,
    true_fnmr,
    write_simulation,
)
from faceparity.verification.audit import audit
from faceparity.workflow.audit import add_intervals
from faceparity.workflow.outputs import OutputTransaction, write_results
from faceparity.workflow.request import IntervalMethod, IntervalSettings

__all__ = [
    "RESOLVED_STANDARD_ERRORS",
    "OrderCheck",
    "TruthRow",
    "order_check",
    "run_demo",
    "demo_report",
    "truth_check",
    "write_demo_report",
]

SYNTHETIC_NOTICE = (
    "SYNTHETIC DATA: these embeddings come from faceparity's simulator, not from faces. "
    "The groups and their differentials were planted on purpose to show what an audit finds."
)

RESOLVED_STANDARD_ERRORS = 4.0
"""Two groups are resolved by a rate when their true rates differ by more than this many
standard errors of the difference of their measured rates."""


@dataclass(frozen=True)
class TruthRow:
    """One group at one operating point: measured against true rates.

    ``fmr_se`` and ``fnmr_se`` are the standard errors of the measured rates under the
    simulator's model at the group's threshold: for FMR the binomial one times the
    square root of the design effect (same-group non-mated comparisons of one pair of
    subjects share their identities, :func:`~faceparity.synthetic.simulate.true_fmr_design_effect`),
    for FNMR the binomial one (mated comparisons are pairwise independent). ``fmr_z``
    and ``fnmr_z`` are the measured minus the true rate in those standard errors; all
    four are None where the rate was not measured.
    """

    label: str
    threshold: float
    fmr: float | None
    true_fmr: float
    fmr_design_effect: float
    fmr_se: float | None
    fmr_z: float | None
    n_non_mated: int
    fnmr: float | None
    true_fnmr: float
    fnmr_se: float | None
    fnmr_z: float | None
    n_mated: int
    fmr_covered: bool | None = None
    fnmr_covered: bool | None = None


@dataclass(frozen=True)
class OrderCheck:
    """Measured order of the groups by one rate against the true order.

    Orders run from the worst group (highest rate) to the best. A pair of groups is
    resolved when their true rates differ by more than ``RESOLVED_STANDARD_ERRORS``
    standard errors of the difference (the two groups' standard errors in quadrature);
    closer pairs may come out in either order by sampling error alone.
    """

    rate: str
    measured_order: tuple[str, ...]
    true_order: tuple[str, ...]
    n_pairs: int
    n_resolved: int
    disagreements: tuple[tuple[str, str], ...]

    @property
    def agrees(self) -> bool:
        """True when every resolved pair comes out in the truth's order."""
        return not self.disagreements


def _standard_error(truth: float, n: int, design_effect: float = 1.0) -> float:
    return math.sqrt(design_effect * truth * (1.0 - truth) / n)


def _z(measured: float | None, truth: float, se: float | None) -> float | None:
    if measured is None or se is None:
        return None
    if se == 0.0:
        return 0.0 if measured == truth else math.copysign(math.inf, measured - truth)
    return (measured - truth) / se


def truth_check(
    result: AuditResult, config: SimulationConfig, *, target_fmr: float, policy: str = "global"
) -> list[TruthRow]:
    """Measured and true per-group rates at the audit's thresholds for one operating point.

    Parameters
    ----------
    result : AuditResult
        The audit of a simulation made from ``config``.
    config : SimulationConfig
        The simulation's configuration: its groups, model and samples per subject.
    target_fmr : float
        Target FMR of the operating point.
    policy : str, default "global"
        Threshold policy of the operating point.

    Returns
    -------
    list of TruthRow
        One row per group with a threshold, in the audit's order, with the standard
        errors and z-scores described in :class:`TruthRow`.

    """
    point = result.operating_point(target_fmr, policy)
    index = {tuple(sorted(g.attributes)): i for i, g in enumerate(config.groups)}
    rows = []
    for g in point.groups:
        if g.threshold is None:
            continue
        i = index[tuple(sorted(g.attributes.items()))]
        t_fmr = true_fmr(config, i, g.threshold)
        t_fnmr = true_fnmr(config, i, g.threshold)
        deff = true_fmr_design_effect(config, i, g.threshold)
        fmr_se = _standard_error(t_fmr, g.n_non_mated, deff) if g.fmr is not None else None
        fnmr_se = _standard_error(t_fnmr, g.n_mated) if g.fnmr is not None else None
        rows.append(
            TruthRow(
                label=g.label,
                threshold=g.threshold,
                fmr=g.fmr,
                true_fmr=t_fmr,
                fmr_design_effect=deff,
                fmr_se=fmr_se,
                fmr_z=_z(g.fmr, t_fmr, fmr_se),
                n_non_mated=g.n_non_mated,
                fnmr=g.fnmr,
                true_fnmr=t_fnmr,
                fnmr_se=fnmr_se,
                fnmr_z=_z(g.fnmr, t_fnmr, fnmr_se),
                n_mated=g.n_mated,
                fmr_covered=_covers(g.fmr_ci, t_fmr),
                fnmr_covered=_covers(g.fnmr_ci, t_fnmr),
            )
        )
    return rows


def _covers(ci: Interval | None, truth: float) -> bool | None:
    """Whether an interval holds the true rate (None where there is no interval)."""
    if ci is None or ci.ci_low is None or ci.ci_high is None:
        return None
    return bool(ci.ci_low <= truth <= ci.ci_high)


def order_check(rows: Sequence[TruthRow], rate: str) -> OrderCheck:
    """Check the measured order of the groups by ``rate`` ("fmr" or "fnmr") against the truth.

    Only groups with a measured rate take part. Every pair whose true rates differ
    by more than ``RESOLVED_STANDARD_ERRORS`` standard errors of the difference must
    come out in the truth's order (a tie in the measured rates does not).

    Parameters
    ----------
    rows : sequence of TruthRow
        What :func:`truth_check` returned.
    rate : {"fmr", "fnmr"}
        The rate to order by.

    Returns
    -------
    OrderCheck
        Both orders, worst group first; the number of pairs and of resolved pairs;
        the resolved pairs that came out the other way, each as (truly worse, truly
        better).

    """
    if rate not in ("fmr", "fnmr"):
        raise ValueError(f"rate: expected 'fmr' or 'fnmr', got {rate!r}")
    present = [r for r in rows if getattr(r, rate) is not None]
    measured = {r.label: float(getattr(r, rate)) for r in present}
    truth = {r.label: float(getattr(r, f"true_{rate}")) for r in present}
    se = {r.label: float(getattr(r, f"{rate}_se") or 0.0) for r in present}
    resolved, disagreements = 0, []
    labels = [r.label for r in present]
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            worse, better = (a, b) if truth[a] > truth[b] else (b, a)
            gap = truth[worse] - truth[better]
            if gap > RESOLVED_STANDARD_ERRORS * math.hypot(se[a], se[b]):
                resolved += 1
                if not measured[worse] > measured[better]:
                    disagreements.append((worse, better))
    n = len(labels)
    return OrderCheck(
        rate=rate,
        measured_order=tuple(sorted(labels, key=lambda label: -measured[label])),
        true_order=tuple(sorted(labels, key=lambda label: -truth[label])),
        n_pairs=n * (n - 1) // 2,
        n_resolved=resolved,
        disagreements=tuple(disagreements),
    )


def _order_lines(check: OrderCheck) -> list[str]:
    name = check.rate.upper()
    closer = check.n_pairs - check.n_resolved
    resolved = (
        f"pairs of groups whose true {name}s differ by more than "
        f"{RESOLVED_STANDARD_ERRORS:g} standard errors"
    )
    if check.agrees:
        verdict = (
            f"  the measured order agrees with the truth on all {check.n_resolved} of the "
            f"{check.n_pairs} {resolved}"
        )
    else:
        pairs = ", ".join(f"{worse} above {better}" for worse, better in check.disagreements)
        verdict = (
            f"  the measured order DISAGREES with the truth on {len(check.disagreements)} of "
            f"the {check.n_resolved} {resolved} (the truth has {pairs})"
        )
    if closer:
        verdict += f"; the other {closer} pairs are closer than that, within sampling error"
    return [
        f"{name} by group, worst first:",
        f"  measured {' > '.join(check.measured_order)}",
        f"  true     {' > '.join(check.true_order)}",
        verdict,
    ]


def _truth_table(rows: list[TruthRow], target_fmr: float) -> str:
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.3e}"

    def fz(v: float | None) -> str:
        return "-" if v is None else f"{v:+.1f}"

    lines = [
        f"truth check at target FMR {target_fmr:g}, policy global: measured vs the "
        "simulator's exact rate at the same threshold",
        "  s.e.: standard error of the measured rate under the model (FMR: binomial times the "
        "design effect of comparisons that share a pair of subjects; FNMR: binomial); "
        "z = (measured - true) / s.e.",
        f"{'group':<8} {'FMR':>10} {'true FMR':>10} {'s.e.':>9} {'z':>5}  "
        f"{'FNMR':>10} {'true FNMR':>10} {'s.e.':>9} {'z':>5}",
    ]
    for r in rows:
        lines.append(
            f"{r.label:<8} {fmt(r.fmr):>10} {fmt(r.true_fmr):>10} {fmt(r.fmr_se):>9} "
            f"{fz(r.fmr_z):>5}  {fmt(r.fnmr):>10} {fmt(r.true_fnmr):>10} "
            f"{fmt(r.fnmr_se):>9} {fz(r.fnmr_z):>5}"
        )
    for rate in ("fmr", "fnmr"):
        covered = [getattr(r, f"{rate}_covered") for r in rows]
        known = [c for c in covered if c is not None]
        if known:
            lines.append(
                f"  {rate.upper()} intervals hold the true rate for {sum(known)} of "
                f"{len(known)} groups"
            )
    for rate in ("fmr", "fnmr"):
        lines.extend(_order_lines(order_check(rows, rate)))
    return "\n".join(lines)


def demo_report(result: AuditResult) -> str:
    """The HTML report of the demo's audit, marked as made from synthetic data."""
    from faceparity.render.report import render_html

    return render_html(
        result,
        notices=(SYNTHETIC_NOTICE,),
        title="Demographic differentials of a simulated face recognition system (demo)",
    )


def write_demo_report(result: AuditResult, output: Path) -> Path:
    """Write ``output/report.html`` (atomically), marked as made from synthetic data."""
    from faceparity.workflow.outputs import write_text

    return write_text(Path(output) / "report.html", demo_report(result))


def run_demo(
    output: Path,
    *,
    seed: int = 0,
    target_fmrs: tuple[float, ...] = (1e-3, 1e-4),
    replicates: int = 1000,
    log: Callable[[str], None] = print,
) -> str:
    """Simulate, write, read back, audit and check against the truth; returns the text to print.

    Writes ``output/data/{embeddings.npy,metadata.csv,truth.json}``,
    ``output/results.json`` and ``output/report.html``: all of them, or none when the
    demo fails or is interrupted (the data is moved into place when written, since
    the audit reads it back). The text holds the audit's tables, then for each target
    FMR under the ``global`` policy the truth check (:func:`truth_check`) and the order
    checks (:func:`order_check`), then the paths and the wall time.
    """
    start = time.perf_counter()
    log(SYNTHETIC_NOTICE)
    config = default_config(seed=seed)
    with OutputTransaction() as outputs:
        with outputs.folder(Path(output) / "data", now=True) as staging:
            staged = write_simulation(simulate(config), staging)
        paths = {name: Path(output) / "data" / path.name for name, path in staged.items()}
        result = _audit_demo(config, paths, target_fmrs, replicates, seed, log)
        results_path, report_path = write_results(
            result, Path(output), report=demo_report(result), outputs=outputs
        )
        outputs.commit()
    parts = [
        SYNTHETIC_NOTICE,
        format_table(result),
        *(_truth_table(truth_check(result, config, target_fmr=t), t) for t in target_fmrs),
        f"results: {results_path}\nsynthetic data and its truth: {Path(output) / 'data'}\n"
        f"finished in {time.perf_counter() - start:.1f} s",
        f"report: {report_path}",
    ]
    return "\n\n".join(parts) + "\n"


def _audit_demo(
    config: SimulationConfig,
    paths: dict[str, Path],
    target_fmrs: tuple[float, ...],
    replicates: int,
    seed: int,
    log: Callable[[str], None],
) -> AuditResult:
    """Read the simulation back from ``paths`` and audit it, with its intervals."""
    log(
        f"simulated {sum(g.n_subjects for g in config.groups)} subjects in "
        f"{len(config.groups)} groups; data in {paths['embeddings'].parent}"
    )
    comparisons = read_embeddings(
        paths["embeddings"],
        metadata=paths["metadata"],
        sample_id="sample",
        subject="subject",
        attributes=[
            AttributeSpec("sex", ("sex",)),
            AttributeSpec("region", ("region",)),
            AttributeSpec("age", ("age",), bins=(30.0, 50.0)),
        ],
    )
    log(f"formed {len(comparisons)} comparisons; auditing ...")
    audit_config = AuditConfig(
        target_fmrs=target_fmrs,
        policies=(ThresholdPolicy.parse("global"), ThresholdPolicy.parse("per-group")),
    )
    group_by = ("sex", "region")
    result = audit(comparisons, group_by=list(group_by), config=audit_config)
    log(f"bootstrapping subjects ({replicates} replicates) ...")
    return add_intervals(
        result,
        IntervalSettings(IntervalMethod.BOOTSTRAP, replicates=replicates, seed=seed),
        comparisons=comparisons,
        group_by=group_by,
        config=audit_config,
    )
