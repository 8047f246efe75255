"""Writing what a command produces: atomically, or an OutputError (exit 73)."""

from __future__ import annotations

from pathlib import Path

from faceparity.errors import OutputError
from faceparity.io import atomic_write_text
from faceparity.results.audit import AuditResult
from faceparity.workflow.progress import Message, silent

__all__ = ["write_results", "write_text"]


def write_text(path: Path, text: str, *, message: Message = silent) -> Path:
    """Write a text output atomically and say so, or raise OutputError (exit 73)."""
    try:
        atomic_write_text(path, text)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
    message(f"wrote {path}")
    return path


def write_results(
    result: AuditResult, output: Path, *, report: str | None = None, message: Message = silent
) -> tuple[Path, ...]:
    """Write ``output/results.json`` and, given its text, ``output/report.html``; the paths."""
    path = Path(output) / "results.json"
    try:
        result.write_json(path)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
    message(f"wrote {path}")
    if report is None:
        return (path,)
    return path, write_text(Path(output) / "report.html", report, message=message)
