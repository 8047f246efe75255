"""Read ``results.json`` from a file into the typed :class:`~faceparity.results.audit.AuditResult`.

This is the boundary of every command that reads a result back (``report``,
``compare``, ``check``, ``scenario``, ``plan --from``): what it returns, the renderers
can render. Every failure is an :class:`~faceparity.errors.InputError` (exit 2) that
names the file and, for a value, its key path in the file
(``operating_points[0].groups[2]: expected key 'fmr'``,
``operating_points[0].summary.fmr.max_min: expected an object, got true``): a key
missing, unknown, given twice or of the wrong type, ``NaN`` or ``Infinity`` (which
Python's :mod:`json` reads), a count below 0 or beyond 2**63, a rate outside [0, 1],
lists that go together but differ in length, nesting deeper than
:data:`~faceparity.results.schema.MAX_DEPTH`, another schema version. See
:mod:`faceparity.results.schema`.
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
        When the file cannot be read, is not JSON, or is not a results file of schema
        1.0 or 1.1 whose every value is of its type and within its bounds (with the key path).

    """
    return AuditResult.read_json(path)


def validate_results(data: Any, *, file: str = "results") -> AuditResult:
    """The typed result of a parsed ``results.json``; ``file`` names it in errors.

    Raises
    ------
    InputError
        When the schema version is not ``"1.0"`` or ``"1.1"``, a key is missing, unknown or of the
        wrong type, or a value is out of its bounds (the message names its path).

    """
    return AuditResult.checked(data, file=file)
