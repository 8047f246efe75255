"""Read ``results.json`` from a file into the typed :class:`~faceparity.results.audit.AuditResult`.

Every failure is an :class:`~faceparity.errors.InputError` that names the file and, for
a key that is missing or of the wrong type, its path in the file
(``operating_points[0].groups[2]: expected key 'fmr'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faceparity.results.audit import AuditResult

__all__ = ["read_results", "validate_results"]


def read_results(path: str | Path) -> AuditResult:
    """Read and check ``results.json`` (see :meth:`~faceparity.results.AuditResult.read_json`).

    Raises
    ------
    InputError
        When the file cannot be read, is not JSON or is not a results file of schema 1.0.

    """
    return AuditResult.read_json(path)


def validate_results(data: Any, *, file: str = "results") -> AuditResult:
    """The typed result of a parsed ``results.json``; ``file`` names it in errors.

    Raises
    ------
    InputError
        When the schema version is not ``"1.0"`` or a key is missing, unknown or of the
        wrong type (the message names its path).

    """
    return AuditResult.checked(data, file=file)
