"""The report's evidence index and test log.

The evidence index maps each reporting topic of ISO/IEC 19795-10:2024 (demographic
differentials in biometric performance: "failure-to-enrol rate, failure-to-acquire rate,
shifts in comparison score, recognition error rates, and aspects of response and
processing time (throughput)", with group membership, statistical uncertainty,
operational thresholds and equitability) and of the EU AI Act, Regulation (EU)
2024/1689, Annex IV 2(g) ("the validation and testing procedures used, including
information about the validation and testing data used and their main characteristics;
metrics used to measure accuracy, robustness ... as well as potentially discriminatory
impacts; test logs and all test reports dated and signed") to the section of the report
that answers it, or says that it was not measured. The test log shows the results'
``test_log`` (:mod:`faceparity.results.testlog`).
"""

from __future__ import annotations

from dataclasses import dataclass

from faceparity.render.formatting import fmt_count
from faceparity.results.audit import AuditResult

__all__ = [
    "EVIDENCE_ANCHOR",
    "ISO_19795_10",
    "NOT_MEASURED",
    "TEST_LOG_ANCHOR",
    "EU_AI_ACT",
    "EvidenceItem",
    "TestLogSection",
    "build_test_log",
    "evidence_index",
]

EVIDENCE_ANCHOR = "evidence-index"
TEST_LOG_ANCHOR = "test-log"
NOT_MEASURED = "not measured"
ISO_19795_10 = "ISO/IEC 19795-10:2024"
EU_AI_ACT = "EU AI Act Annex IV 2(g)"
SOURCES = (
    f"{ISO_19795_10}, Information technology - Biometric performance testing and reporting - "
    "Part 10: Quantifying biometric system performance variation across demographic groups "
    "(https://webstore.iec.ch/en/publication/101876).",
    f"{EU_AI_ACT}: Regulation (EU) 2024/1689, Annex IV, point 2(g), the validation and testing "
    "procedures of the technical documentation (https://eur-lex.europa.eu/eli/reg/2024/1689/oj).",
)


@dataclass(frozen=True)
class EvidenceItem:
    """One reporting topic and where the report answers it (``anchor`` None: nowhere)."""

    source: str
    topic: str
    anchor: str | None
    answer: str


def _points(results: AuditResult) -> tuple[str | None, str]:
    if not results.operating_points:
        return None, NOT_MEASURED
    first, n = results.operating_points[0], len(results.operating_points)
    return "point-0", (
        f"per-group FMR and FNMR at {n} operating point{'s' if n > 1 else ''}, "
        f"the first at target FMR {first.target_fmr:g} ({first.policy})"
    )


def evidence_index(results: AuditResult) -> tuple[EvidenceItem, ...]:
    """Every reporting topic of ISO/IEC 19795-10 and EU AI Act Annex IV 2(g), answered or not."""
    dist, acq, log = results.score_distributions, results.acquisition, results.test_log
    point_anchor, point_answer = _points(results)
    unc = results.uncertainty
    iso = ISO_19795_10
    items = [
        EvidenceItem(
            iso,
            "how group membership was obtained",
            "factors",
            "the labels of the evaluation data's attribute columns as given to the audit "
            "(not inferred from faces)",
        ),
        EvidenceItem(
            iso,
            "counts of subjects and samples by group",
            "data",
            f"subjects, samples, mated and non-mated comparisons of {len(results.groups)} groups",
        ),
        EvidenceItem(
            iso,
            "failure to acquire and failure to enrol by group",
            "acquisition" if acq is not None else None,
            "FTA and FTE by group with their reasons"
            if acq is not None
            else f"{NOT_MEASURED}: the audit did not run the image pipeline",
        ),
        EvidenceItem(
            iso,
            "shifts in comparison score by group",
            "score-distributions" if dist is not None else None,
            "quantiles, median shift and Kolmogorov-Smirnov distance to the pooled scores"
            if dist is not None
            else f"{NOT_MEASURED}: these results carry no score distributions",
        ),
        EvidenceItem(iso, "error rates at the operational threshold", point_anchor, point_answer),
        EvidenceItem(
            iso,
            "how the operational threshold was set",
            "metrics",
            "target FMRs and threshold policies (global, per group, reference group)",
        ),
        EvidenceItem(
            iso,
            "statistical uncertainty",
            "caveats",
            f"intervals: {unc.method}, {100 * unc.level:g}% level"
            if unc is not None
            else f"{NOT_MEASURED}: no interval was computed",
        ),
        EvidenceItem(
            iso,
            "equitability summary",
            point_anchor or "differential",
            "summary measures of the differential (max/min, max/geomean, Gini, GARBE, FDR, "
            "inequity rate) and the differential in one sentence",
        ),
        EvidenceItem(
            iso,
            "throughput (response and processing time) by group",
            "processing-time" if results.processing_time is not None else None,
            "median time per image of the image pipeline by group, on the machine that ran it"
            if results.processing_time is not None
            else f"{NOT_MEASURED}: no processing time by group is recorded in these results",
        ),
    ]
    act = EU_AI_ACT
    items += [
        EvidenceItem(
            act,
            "validation and testing procedures used",
            "metrics",
            "metrics, target FMRs, threshold policies and counting rules",
        ),
        EvidenceItem(
            act,
            "testing data used and their main characteristics",
            "data",
            "the evaluation data, its counts by group and what was excluded",
        ),
        EvidenceItem(
            act,
            "metrics used to measure accuracy",
            "metrics",
            "FMR, FNMR and EER (ISO/IEC 19795-1)",
        ),
        EvidenceItem(
            act, "metrics used to measure robustness", None, f"{NOT_MEASURED} by this audit"
        ),
        EvidenceItem(
            act,
            "potentially discriminatory impacts",
            "differential",
            "per-group error rates, their ratios and summary measures, in one sentence",
        ),
        EvidenceItem(
            act,
            "test logs, dated",
            TEST_LOG_ANCHOR if log is not None else None,
            f"dated {log.date}, with the command line and the inputs' SHA-256"
            if log is not None
            else f"{NOT_MEASURED}: these results carry no test log",
        ),
        EvidenceItem(
            act,
            "test reports signed by the responsible persons",
            None,
            "not signed: faceparity writes the report; the responsible persons sign it",
        ),
    ]
    return tuple(items)


@dataclass(frozen=True)
class TestLogSection:
    """The test log, formatted: the run's rows and one row per input file."""

    __test__ = False  # not a pytest test class, whatever its name

    anchor: str
    rows: tuple[tuple[str, str], ...]
    files: tuple[tuple[str, str, str, str], ...]
    notes: tuple[str, ...]


def build_test_log(results: AuditResult) -> TestLogSection | None:
    """The test log section, or None when the results carry no test log."""
    log = results.test_log
    if log is None:
        return None
    m = log.machine
    rows = (
        ("date (UTC)", log.date),
        ("tool", f"faceparity {log.tool_version}"),
        ("command line", log.command_line or "not run from the command line"),
        (
            "machine",
            f"{m.platform}; {fmt_count(m.cpu_count)} CPUs; Python {m.python}; numpy {m.numpy}",
        ),
    )
    files = tuple(
        (
            f.role,
            f.path,
            fmt_count(f.size),
            f.sha256 or (f.note or "not hashed"),
        )
        for f in log.input_files
    )
    return TestLogSection(anchor=TEST_LOG_ANCHOR, rows=rows, files=files, notes=tuple(log.notes))
