"""Plain-text tables of ``faceparity plan`` (:mod:`faceparity.uncertainty.sample_size`).

Rates are fractions in scientific notation; counts carry thousands separators.
"""

from __future__ import annotations

from collections.abc import Sequence

from faceparity.render.formatting import text_grid
from faceparity.uncertainty.binomial import CORRELATION_CAVEAT
from faceparity.uncertainty.sample_size import GroupCapacity, IntervalKind, Plan
from faceparity.uncertainty.support import MIN_ERRORS

__all__ = ["format_capacity", "format_plan"]

_INTERVAL_WORDS = {
    IntervalKind.NORMAL: "normal approximation",
    IntervalKind.CLOPPER_PEARSON: "Clopper-Pearson at the expected count",
}


def _count(value: float) -> str:
    return f"{value:,.0f}"


def format_plan(plan: Plan, *, n_groups: int = 1) -> str:
    """The plan as a table: one row per target rate, then what each group needs."""
    c = plan.config
    head = [
        "faceparity plan: what each group needs (all-vs-all comparisons within the group)",
        f"interval: two-sided {c.level:.0%}, half-width at most +-{c.precision:.0%} of the "
        f"target ({_INTERVAL_WORDS[c.interval]})",
        f"{c.samples_per_subject} samples per subject; intra-subject correlation of errors: "
        f"icc {c.icc:g} (comparisons sharing one subject), icc_pair {c.pair_icc:g} "
        "(non-mated comparisons of the same two subjects)",
    ]
    header = [
        "rate",
        "target",
        "comparisons if independent",
        "design effect",
        "comparisons needed",
        "subjects",
        "subjects if independent",
        "expected errors",
    ]
    rows = [
        [
            r.rate.upper(),
            f"{r.target:g}",
            _count(r.n_independent),
            f"{r.design_effect:.2f}",
            _count(r.n_comparisons),
            _count(r.n_subjects),
            _count(r.n_subjects_independent),
            _count(r.expected_errors),
        ]
        for r in plan.rates
    ]
    s, m = plan.n_subjects, c.samples_per_subject
    need = f"each group needs {s:,} subjects with {m} samples each ({s * m:,} samples)"
    if n_groups > 1:
        need += f"; {n_groups} groups: {n_groups * s:,} subjects, {n_groups * s * m:,} samples"
    lines = [*head, "", *text_grid(header, rows), "", need]
    lines.extend(f"  note: {n}" for n in plan.notes)
    return "\n".join(lines) + "\n"


def format_capacity(rows: Sequence[GroupCapacity], *, source: str) -> str:
    """Per group: the counts, the smallest supported FMR and FNMR, each target's support."""
    targets = [t for t, _ in rows[0].targets] if rows else []
    header = [
        "group",
        "subjects",
        "non-mated",
        "smallest FMR",
        "mated",
        "smallest FNMR",
        *(f"FMR {t:g}" for t in targets),
    ]

    def rate(value: float | None) -> str:
        return "none" if value is None else f"{value:.3e}"

    table = []
    for r in rows:
        verdicts = [
            ("-" if s.expected_errors is None else f"{'yes' if s.sufficient else 'NO'} "
             f"({s.expected_errors:,.1f})")
            for _, s in r.targets
        ]  # fmt: skip
        table.append(
            [
                r.label,
                "-" if r.n_subjects is None else f"{r.n_subjects:,}",
                f"{r.n_non_mated:,}",
                rate(r.min_fmr),
                f"{r.n_mated:,}",
                rate(r.min_fnmr),
                *verdicts,
            ]
        )
    lines = [
        f"faceparity plan from {source}: the smallest rates each group's counts support",
        f"a rate is supported when at least {MIN_ERRORS} errors are expected at it "
        f"(Doddington's rule of {MIN_ERRORS}): smallest = {MIN_ERRORS} / comparisons; "
        "FMR columns: target supported (expected false matches); none: fewer than "
        f"{MIN_ERRORS} comparisons, no rate is supported",
        "",
        *text_grid(header, table),
        "",
        f"  note: {CORRELATION_CAVEAT}; the rule of {MIN_ERRORS} shares that assumption, so "
        "these are floors (faceparity plan --target-fmr sizes a group with the design effect)",
    ]
    return "\n".join(lines) + "\n"
