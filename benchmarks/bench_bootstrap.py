"""Speed of the subject-level bootstrap on a streaming all-vs-all audit (issue 4, point 2).

Target: 1,000 replicates for N = 100,000 templates in under 30 s on 2 cores, from
per-subject sufficient statistics collected during scoring (the engine's exact tail
and mated scores with their subjects, and the samples per subject and group), not
by re-running the audit.

The script simulates N random unit templates (``--dim``, default 128: the scoring is
not what is measured here) in 8 groups with ``--per-subject`` samples a subject,
streams every pair through the engine, audits the accumulator once (the baseline:
one point estimate), and then times the bootstrap. It prints the scoring time (for
information), the baseline, the bootstrap's time and replicates per second, the
bootstrap's cost per replicate as a multiple of the baseline, and the time against
the issue's 30 s.

Usage::

    .venv/bin/python benchmarks/bench_bootstrap.py                 # N = 100,000
    .venv/bin/python benchmarks/bench_bootstrap.py --quick         # N = 20,000
    .venv/bin/python benchmarks/bench_bootstrap.py --n 50000 --replicates 200 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from faceparity.model.config import AuditConfig, ThresholdPolicy
from faceparity.model.grouping import Group
from faceparity.model.population import Population
from faceparity.results.schema import to_json_value
from faceparity.scoring.engine import EngineConfig, stream_embeddings
from faceparity.uncertainty.apply import with_uncertainty
from faceparity.verification.audit import audit_accumulated

N_GROUPS = 8
TARGET_SECONDS = 30.0
TARGET_REPLICATES = 1000


def run(n: int, dim: int, per_subject: int, replicates: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n_subjects = n // per_subject
    subject = np.repeat(np.arange(n_subjects), per_subject)[:n]
    group = (subject % N_GROUPS).astype(np.int64)
    centre = rng.standard_normal((n_subjects, dim)).astype(np.float32)
    x = centre[subject] + 0.8 * rng.standard_normal((n, dim)).astype(np.float32)
    print(f"scoring {n * (n - 1) // 2:,} comparisons of {n:,} templates ...", file=sys.stderr)
    start = time.perf_counter()
    acc = stream_embeddings(x, subject, group, n_groups=N_GROUPS, config=EngineConfig())
    scoring_s = time.perf_counter() - start

    config = AuditConfig(
        target_fmrs=(1e-3, 1e-4),
        policies=(ThresholdPolicy.parse("global"), ThresholdPolicy.parse("per-group")),
    )
    groups = [Group((("group", f"g{g}"),), f"g{g}") for g in range(N_GROUPS)]
    population = Population(
        [int(np.unique(subject[group == g]).size) for g in range(N_GROUPS)],
        [int((group == g).sum()) for g in range(N_GROUPS)],
        n_subjects,
        n,
    )
    start = time.perf_counter()
    result = audit_accumulated(
        acc, groups=groups, group_by=["group"], population=population, config=config
    )
    audit_s = time.perf_counter() - start

    print(f"bootstrapping {replicates} replicates ...", file=sys.stderr)
    start = time.perf_counter()
    boot = with_uncertainty(
        result,
        method="bootstrap",
        config=config,
        accumulator=acc,
        samples=(subject, group),
        replicates=replicates,
        seed=seed,
    )
    bootstrap_s = time.perf_counter() - start
    held = {}
    for point in boot.operating_points:
        rates = [r.fmr_ci for r in point.groups] + [r.fnmr_ci for r in point.groups]
        held[f"{point.target_fmr:g} {point.policy}"] = (
            sum(1 for ci in rates if ci is not None and ci.ci_low is not None),
            len(rates),
        )
    row = boot.operating_points[1].groups[0]  # target FMR 1e-4, global policy
    per_replicate = bootstrap_s / replicates
    return {
        "n": n,
        "dim": dim,
        "subjects": n_subjects,
        "comparisons": n * (n - 1) // 2,
        "tail": int(acc.tail()[0].size),
        "scoring_s": scoring_s,
        "audit_s": audit_s,
        "bootstrap_s": bootstrap_s,
        "replicates": replicates,
        "replicates_per_s": replicates / bootstrap_s,
        "seconds_for_1000": per_replicate * TARGET_REPLICATES,
        "replicate_over_audit": per_replicate / audit_s,
        "example": {"group": row.label, "fmr": row.fmr, "fmr_ci": to_json_value(row.fmr_ci)},
        "intervals_by_point": held,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--per-subject", type=int, default=5)
    parser.add_argument("--replicates", type=int, default=TARGET_REPLICATES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="N = 20,000")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    n = 20_000 if args.quick else args.n
    f = run(n, args.dim, args.per_subject, args.replicates, args.seed)
    if args.json:
        print(json.dumps(f, indent=2))
        return 0
    print(
        f"bench_bootstrap  N={f['n']:,} templates (dim {f['dim']}), {f['subjects']:,} subjects, "
        f"{N_GROUPS} groups, {f['comparisons']:,} comparisons; exact tail {f['tail']:,} scores\n"
        f"scoring_s:            {f['scoring_s']:.1f} (the engine; for information)\n"
        f"audit_s:              {f['audit_s']:.2f} (baseline: one audit of the accumulator)\n"
        f"bootstrap_s:          {f['bootstrap_s']:.1f} for {f['replicates']} replicates "
        f"({f['replicates_per_s']:.1f} replicates/s)\n"
        f"seconds_for_1000:     {f['seconds_for_1000']:.1f} (target < {TARGET_SECONDS:g} s)\n"
        f"replicate/audit:      {f['replicate_over_audit']:.2f} (one replicate's cost over "
        "one audit's)\n"
        f"example at FMR 1e-4, global: {f['example']['group']} FMR "
        f"{f['example']['fmr']:.3e}, interval {f['example']['fmr_ci']}"
    )
    for point, (done, total) in f["intervals_by_point"].items():
        print(f"rates with an interval at {point}: {done} of {total}")
    print(
        "(a rate gets one where its threshold lies in the exact tail: target FMRs up to "
        "about capacity / comparisons; raise --tail-capacity to reach larger ones)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
