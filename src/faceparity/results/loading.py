"""Read ``results.json`` as a plain mapping for the report, ``compare`` and ``check``.

The renderers read the JSON mapping rather than :class:`~faceparity.results.audit.AuditResult`
so that keys added to schema 1.0 after this module was written (interval keys such as
``fmr_ci``, support flags such as ``fmr_support``, a top-level ``uncertainty``) reach
the report instead of being refused. Only what the renderers rely on is checked here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faceparity.errors import InputError
from faceparity.results.audit import SCHEMA_VERSION

__all__ = ["read_results", "validate_results"]

_REQUIRED = ("tool", "input", "config", "overall", "groups", "operating_points", "exclusions")
_POINT_REQUIRED = ("target_fmr", "policy", "threshold", "groups", "cross_group", "summary")


def validate_results(data: Any, *, file: str = "results") -> dict[str, Any]:
    """Check that ``data`` is a results mapping of schema 1.0 and return it.

    Parameters
    ----------
    data : Any
        The parsed JSON.
    file : str, default "results"
        Name used in error messages.

    Returns
    -------
    dict
        ``data`` itself.

    Raises
    ------
    InputError
        When a top-level key or an operating-point key is missing or the schema
        version is not ``"1.0"``.

    """
    if not isinstance(data, dict):
        raise InputError(
            f"expected a JSON object (results.json), got {type(data).__name__}", _where(file)
        )
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InputError(
            f"expected results schema_version {SCHEMA_VERSION!r}, got {version!r}", _where(file)
        )
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise InputError(
            f"expected the keys {', '.join(missing)} of results.json; missing", _where(file)
        )
    for i, point in enumerate(data["operating_points"]):
        lacking = [k for k in _POINT_REQUIRED if k not in point]
        if lacking:
            raise InputError(
                f"operating_points[{i}]: expected the keys {', '.join(lacking)}; missing",
                _where(file),
            )
    return data


def read_results(path: str | Path) -> dict[str, Any]:
    """Read and check ``results.json`` (see :func:`validate_results`).

    Raises
    ------
    InputError
        When the file cannot be read, is not JSON or is not a results file.

    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(f"cannot read the file: {err.strerror or err}", _where(path)) from err
    except UnicodeDecodeError as err:
        raise InputError("expected UTF-8 JSON text", _where(path)) from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(
            f"expected JSON: {err.msg} (line {err.lineno}, column {err.colno})", _where(path)
        ) from err
    return validate_results(data, file=str(path))


def _where(file: str | Path) -> Any:
    from faceparity.errors import Location

    return Location(file=str(file))
