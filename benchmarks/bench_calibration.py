"""Calibration of the intervals on the simulator, where the truth is known (issue 4, point 6).

For each of ``--seeds`` seeds: simulate a small population (default 8 groups x 40
subjects x 4 samples, the simulator's default groups), audit it with
``faceparity.audit`` at one operating point (``--target-fmr``, global policy), compute
a nominal ``--level`` interval for every group's FMR and FNMR there, and check whether
it contains the simulator's exact true rate at the threshold the audit set
(``faceparity.synthetic.demo.truth_check``). The coverage of a group is the fraction of seeds
whose interval contains the truth; the issue's target is at least 90% at nominal 95%,
for every group and both rates.

Methods (``--method``):

- ``clopper-pearson``, ``wilson``: closed form, from the counts of the result
  (``n_false_matches`` of ``n_non_mated``, ``n_false_non_matches`` of ``n_mated``).
  They treat comparisons as independent. Same-group non-mated comparisons of one pair
  of subjects share the two identities (the simulator's design effect, printed per
  group, is 1.1-4 here), so the closed-form FMR intervals are expected to UNDER-cover:
  a finding, not a failure of this script. Mated comparisons are pairwise independent
  in the simulator, so FNMR intervals should cover.
- ``bootstrap``: the subject-level bootstrap (``faceparity.uncertainty.apply``,
  ``--replicates``), which resamples subjects and so carries the correlation of
  comparisons that share one.
- ``stream-bootstrap``: the same bootstrap on the comparisons written as a Parquet pair
  table and read back in chunks (``faceparity.readers.pairs_stream``), whose replicate
  totals are the linear expansion over each subject's comparisons per cell.

The threshold is set on the data (all non-mated comparisons, global policy), and the
truth is taken at that same threshold, as the audit reports "FMR at this threshold".
(The bootstrap also moves the threshold from replicate to replicate, so its interval
is, if anything, wider than one at a fixed threshold.)

Run from the project root: ``.venv/bin/python benchmarks/bench_calibration.py --quick``.
Exit 0 whatever the coverage (``--strict``: exit 1 when the target is missed).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import faceparity.uncertainty as uncertainty
from faceparity import AuditConfig, ThresholdPolicy, audit
from faceparity.model.comparisons import ComparisonSet
from faceparity.readers.embeddings import EmbeddingTable, compare_all
from faceparity.results.audit import AuditResult
from faceparity.synthetic.demo import truth_check
from faceparity.synthetic.simulate import SimulationConfig, default_config, simulate
from faceparity.uncertainty.apply import with_uncertainty

METHODS = ("clopper-pearson", "wilson", "bootstrap", "stream-bootstrap")
RATES = ("fmr", "fnmr")
TARGET_COVERAGE = 0.90

# (low, high) per (rate, label) for one audited seed.
Intervals = dict[tuple[str, str], tuple[float, float]]


@dataclass(frozen=True)
class SeedOutcome:
    """One seed: per group and rate, the interval and the true rate at the audit's threshold."""

    seed: int
    truth: dict[tuple[str, str], float]
    intervals: Intervals
    design_effect: dict[str, float]


@dataclass(frozen=True)
class Calibration:
    """Coverage per group and rate over the seeds, and overall."""

    method: str
    level: float
    n_seeds: int
    labels: tuple[str, ...]
    coverage: dict[tuple[str, str], float]
    overall: dict[str, float]
    design_effect: dict[str, float]
    seconds: float

    @property
    def passes(self) -> bool:
        """Every group covers at least TARGET_COVERAGE for both rates."""
        return all(c >= TARGET_COVERAGE for c in self.coverage.values())


def comparisons_of(config: SimulationConfig) -> ComparisonSet:
    """Every comparison of a simulated population, in memory (no files)."""
    sim = simulate(config)
    meta = sim.metadata
    subject, subject_ids = pd.factorize(meta["subject"], sort=True)
    attributes, levels = {}, {}
    for name in config.attribute_names:
        codes, values = pd.factorize(meta[name], sort=True)
        attributes[name] = codes.astype(np.int32)
        levels[name] = tuple(str(v) for v in values)
    table = EmbeddingTable(
        values=sim.embeddings,
        rows=np.arange(len(meta), dtype=np.int64),
        subject=subject.astype(np.int64),
        subject_ids=tuple(str(s) for s in subject_ids),
        attributes=attributes,
        levels=levels,
        exclusions=(),
        source=f"simulation seed {config.seed}",
    )
    return compare_all(table)


def covered(low: float, high: float, truth: float) -> bool:
    """Whether ``[low, high]`` contains ``truth``; an undefined (NaN) interval does not."""
    return bool(low <= truth <= high)


def coverage(hits: Sequence[bool]) -> float:
    """Fraction of True; NaN for none."""
    return float(np.mean(hits)) if len(hits) else math.nan


def closed_form_intervals(
    result: AuditResult, *, method: str, level: float, target_fmr: float, policy: str = "global"
) -> Intervals:
    """Clopper-Pearson or Wilson intervals from the counts at one operating point."""
    interval = {"clopper-pearson": uncertainty.clopper_pearson, "wilson": uncertainty.wilson}[
        method
    ]
    out: Intervals = {}
    for g in result.operating_point(target_fmr, policy).groups:
        for rate, k, n in (
            ("fmr", g.n_false_matches, g.n_non_mated),
            ("fnmr", g.n_false_non_matches, g.n_mated),
        ):
            low, high = interval(k, n, level)
            out[(rate, g.label)] = (float(low), float(high))
    return out


def bootstrap_intervals(
    result: AuditResult,
    comparisons: ComparisonSet,
    group_by: list[str],
    config: AuditConfig,
    *,
    level: float,
    replicates: int,
    seed: int,
) -> Intervals:
    """Per-group FMR and FNMR intervals of the subject bootstrap (faceparity.uncertainty)."""
    boot = with_uncertainty(
        result,
        method="bootstrap",
        comparisons=comparisons,
        group_by=group_by,
        config=config,
        replicates=replicates,
        level=level,
        seed=seed,
    )
    out: Intervals = {}
    for row in boot.operating_points[0].groups:
        for rate in RATES:
            ci = row.fmr_ci if rate == "fmr" else row.fnmr_ci
            if ci is not None and ci.ci_low is not None and ci.ci_high is not None:
                out[(rate, row.label)] = (float(ci.ci_low), float(ci.ci_high))
    return out


def streamed_bootstrap_intervals(
    comparisons: ComparisonSet,
    group_by: list[str],
    config: AuditConfig,
    *,
    level: float,
    replicates: int,
    seed: int,
) -> Intervals:
    """:func:`bootstrap_intervals` of the comparisons written as a pair table and streamed."""
    import tempfile
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    from faceparity.readers.attributes import AttributeSpec
    from faceparity.readers.pairs_stream import accumulate_pairs
    from faceparity.verification.audit import audit_accumulated

    ids = np.asarray(comparisons.subject_ids, dtype=object)
    columns: dict[str, Any] = {
        "score": comparisons.score,
        "subject_a": ids[comparisons.subject[:, 0]],
        "subject_b": ids[comparisons.subject[:, 1]],
    }
    for name in group_by:
        levels = np.asarray(comparisons.levels[name], dtype=object)
        for side, suffix in enumerate("ab"):
            columns[f"{name}_{suffix}"] = levels[comparisons.attributes[name][:, side]]
    n = len(comparisons)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "pairs.parquet"
        pq.write_table(pa.table(columns), path)
        streamed = accumulate_pairs(
            path,
            score="score",
            score_kind=comparisons.score_kind,
            subjects=("subject_a", "subject_b"),
            attributes=[AttributeSpec(name, (f"{name}_a", f"{name}_b")) for name in group_by],
            group_by=group_by,
            chunk_rows=max(1, n // 3),
        )
    result = audit_accumulated(
        streamed.accumulator,
        groups=streamed.groups,
        group_by=streamed.group_by,
        population=streamed.population,
        config=config,
        score_kind=streamed.score_kind,
    )
    boot = with_uncertainty(
        result,
        method="bootstrap",
        config=config,
        accumulator=streamed.accumulator,
        degree=streamed.degree,
        replicates=replicates,
        level=level,
        seed=seed,
    )
    out: Intervals = {}
    for row in boot.operating_points[0].groups:
        for rate in RATES:
            ci = row.fmr_ci if rate == "fmr" else row.fnmr_ci
            if ci is not None and ci.ci_low is not None and ci.ci_high is not None:
                out[(rate, row.label)] = (float(ci.ci_low), float(ci.ci_high))
    return out


def run_seed(
    seed: int,
    *,
    method: str,
    level: float,
    target_fmr: float,
    n_subjects: int,
    samples_per_subject: int,
    replicates: int,
) -> SeedOutcome:
    """Simulate, audit and compute the intervals and the truth for one seed."""
    config = default_config(
        n_subjects_per_group=n_subjects, samples_per_subject=samples_per_subject, seed=seed
    )
    comparisons = comparisons_of(config)
    group_by = list(config.attribute_names)
    audit_config = AuditConfig(
        target_fmrs=(target_fmr,), policies=(ThresholdPolicy.parse("global"),)
    )
    result = audit(comparisons, group_by=group_by, config=audit_config)
    if method == "bootstrap":
        intervals = bootstrap_intervals(
            result,
            comparisons,
            group_by,
            audit_config,
            level=level,
            replicates=replicates,
            seed=seed,
        )
    elif method == "stream-bootstrap":
        intervals = streamed_bootstrap_intervals(
            comparisons, group_by, audit_config, level=level, replicates=replicates, seed=seed
        )
    else:
        intervals = closed_form_intervals(result, method=method, level=level, target_fmr=target_fmr)
    truth: dict[tuple[str, str], float] = {}
    deff: dict[str, float] = {}
    for row in truth_check(result, config, target_fmr=target_fmr):
        truth[("fmr", row.label)] = row.true_fmr
        truth[("fnmr", row.label)] = row.true_fnmr
        deff[row.label] = row.fmr_design_effect
    return SeedOutcome(seed=seed, truth=truth, intervals=intervals, design_effect=deff)


def summarise(
    outcomes: Sequence[SeedOutcome], *, method: str, level: float, seconds: float
) -> Calibration:
    """Coverage per (rate, group) and per rate over all groups."""
    labels = tuple(dict.fromkeys(label for o in outcomes for _, label in o.truth))
    hits: dict[tuple[str, str], list[bool]] = {}
    for o in outcomes:
        for key, truth in o.truth.items():
            low, high = o.intervals.get(key, (math.nan, math.nan))
            hits.setdefault(key, []).append(covered(low, high, truth))
    per_group = {key: coverage(h) for key, h in hits.items()}
    overall = {
        rate: coverage([h for (r, _), hs in hits.items() if r == rate for h in hs])
        for rate in RATES
    }
    deff = {
        label: float(
            np.mean([o.design_effect[label] for o in outcomes if label in o.design_effect])
        )
        for label in labels
    }
    return Calibration(
        method=method,
        level=level,
        n_seeds=len(outcomes),
        labels=labels,
        coverage=per_group,
        overall=overall,
        design_effect=deff,
        seconds=seconds,
    )


def calibrate(
    seeds: Sequence[int],
    *,
    method: str,
    level: float = 0.95,
    target_fmr: float = 1e-3,
    n_subjects: int = 40,
    samples_per_subject: int = 4,
    replicates: int = 1000,
) -> Calibration:
    """Run every seed and summarise (raises LookupError when the bootstrap is missing)."""
    start = time.perf_counter()
    outcomes = [
        run_seed(
            s,
            method=method,
            level=level,
            target_fmr=target_fmr,
            n_subjects=n_subjects,
            samples_per_subject=samples_per_subject,
            replicates=replicates,
        )
        for s in seeds
    ]
    return summarise(outcomes, method=method, level=level, seconds=time.perf_counter() - start)


def format_calibration(c: Calibration) -> str:
    """Coverage table, overall line and verdict."""
    se = math.sqrt(c.level * (1 - c.level) / c.n_seeds) if c.n_seeds else math.nan
    lines = [
        f"method {c.method}, nominal {c.level:.0%}, {c.n_seeds} seeds, {c.seconds:.1f} s "
        f"(Monte Carlo s.e. of a coverage near {c.level:.0%}: {se:.3f})",
        f"{'group':<8} {'FMR coverage':>13} {'FNMR coverage':>14} {'FMR design effect':>18}",
    ]
    for label in c.labels:
        lines.append(
            f"{label:<8} {c.coverage[('fmr', label)]:>13.3f} {c.coverage[('fnmr', label)]:>14.3f} "
            f"{c.design_effect[label]:>18.2f}"
        )
    lines.append(f"{'overall':<8} {c.overall['fmr']:>13.3f} {c.overall['fnmr']:>14.3f}")
    worst = {r: min(v for (rr, _), v in c.coverage.items() if rr == r) for r in RATES}
    verdict = "PASS" if c.passes else "FAIL"
    lines.append(
        f"{verdict}: target every group >= {TARGET_COVERAGE:.0%} at nominal {c.level:.0%}; "
        f"lowest FMR coverage {worst['fmr']:.3f}, lowest FNMR coverage {worst['fnmr']:.3f}"
    )
    if c.method != "bootstrap" and worst["fmr"] < TARGET_COVERAGE:
        lines.append(
            "finding (expected, not a failure of this script): closed-form FMR intervals "
            "under-cover where the design effect is large; same-group non-mated comparisons "
            "of one pair of subjects share the two identities, so they are not independent "
            "trials; the subject-level bootstrap is the interval meant to pass"
        )
    return "\n".join(lines) + "\n"


def to_json(c: Calibration) -> dict[str, Any]:
    return {
        "method": c.method,
        "level": c.level,
        "n_seeds": c.n_seeds,
        "seconds": c.seconds,
        "groups": [
            {
                "label": label,
                "fmr_coverage": c.coverage[("fmr", label)],
                "fnmr_coverage": c.coverage[("fnmr", label)],
                "fmr_design_effect": c.design_effect[label],
            }
            for label in c.labels
        ],
        "overall": c.overall,
        "target_coverage": TARGET_COVERAGE,
        "passes": c.passes,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--method",
        choices=METHODS,
        action="append",
        default=None,
        help="interval method; repeatable (default: clopper-pearson and wilson)",
    )
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="30 seeds")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--level", type=float, default=0.95)
    parser.add_argument("--target-fmr", type=float, default=1e-3)
    parser.add_argument("--subjects-per-group", type=int, default=40)
    parser.add_argument("--samples-per-subject", type=int, default=4)
    parser.add_argument("--replicates", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)  # fmt: skip
    n = 30 if args.quick else args.seeds
    seeds = range(args.first_seed, args.first_seed + n)
    methods = args.method or ["bootstrap", "clopper-pearson", "wilson"]
    print(
        f"simulator default groups, {args.subjects_per_group} subjects x "
        f"{args.samples_per_subject} samples a group; target FMR {args.target_fmr:g}, "
        "global policy; truth at the audit's threshold",
        file=sys.stderr,
    )
    reports, failed = [], False
    for method in methods:
        c = calibrate(
            seeds,
            method=method,
            level=args.level,
            target_fmr=args.target_fmr,
            n_subjects=args.subjects_per_group,
            samples_per_subject=args.samples_per_subject,
            replicates=args.replicates,
        )
        failed |= not c.passes
        reports.append(to_json(c))
        if not args.json:
            print(format_calibration(c))
    if args.json:
        print(json.dumps({"results": reports}, indent=2))
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
