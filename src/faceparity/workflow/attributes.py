"""``faceparity audit attributes``: read a predictions table, audit, write results and report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faceparity.attributes import AttributeAuditConfig, audit_attributes
from faceparity.readers._table import load_table
from faceparity.results.attributes import AttributeAuditResult
from faceparity.review.attribute_check import (
    AttributeCheckReport,
    check_attribute_limits,
    parse_attribute_limits,
    read_attribute_limits_text,
)
from faceparity.workflow.outputs import OutputTransaction, check_outputs, refuse_overwriting
from faceparity.workflow.progress import Message, silent

__all__ = ["AttributeOutcome", "run_attribute_audit"]


@dataclass(frozen=True)
class AttributeOutcome:
    """The audit, the files written, and the check of limits when one was asked for."""

    result: AttributeAuditResult
    written: tuple[Path, ...]
    check: AttributeCheckReport | None

    @property
    def exit_code(self) -> int:
        """1 when a limit was violated, else 0."""
        return self.check.exit_code if self.check is not None else 0


def run_attribute_audit(
    table: Path,
    config: AttributeAuditConfig,
    *,
    output: Path,
    report: bool = True,
    limits: Path | None = None,
    message: Message = silent,
) -> AttributeOutcome:
    """Audit the predictions in ``table``; write ``output/results.json`` (and ``report.html``).

    Everything is checked (the limits file parsed) before anything is written; the
    outputs are written together or not at all.
    """
    results_path, report_path = output / "results.json", output / "report.html"
    refuse_overwriting(
        {"PREDICTIONS": table, "--check": limits},
        {"results.json": results_path, "report.html": report_path if report else None},
    )
    check_outputs([results_path, report_path if report else None])
    limits_text = read_attribute_limits_text(limits) if limits is not None else None
    if limits_text is not None:
        parse_attribute_limits(limits_text, file=str(limits))  # a bad file stops before work
    frame = load_table(table)
    result = audit_attributes(frame, config, file=str(table))
    checked = (
        check_attribute_limits(
            result, limits_text, limits_file=str(limits), results_name=str(results_path)
        )
        if limits_text is not None and limits is not None
        else None
    )
    with OutputTransaction(message=message) as outputs:
        written = [outputs.write_text(results_path, result.to_json())]
        if report:
            from faceparity.render.attributes import render_attributes_html

            written.append(outputs.write_text(report_path, render_attributes_html(result)))
        outputs.commit()
    return AttributeOutcome(result, tuple(written), checked)
