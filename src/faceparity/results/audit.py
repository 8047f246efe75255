"""The one result type of an audit, serialised as ``results.json``.

The command line, the tests and later the report all read this object. Keys use the
words of ISO/IEC 19795-1 and -10 (``fmr``, ``fnmr``, ``mated``, ``non_mated``).
Rates are fractions in [0, 1]. A rate that cannot be computed is ``null`` with a
reason next to it, never ``NaN``, ``inf`` or a silent zero.

Schema history: ``1.0``, the first; an optional top-level ``identification`` (the 1:N
audit, :mod:`faceparity.results.identification`) was added within 1.0, and an optional
``acquisition`` (failures to acquire and enrol by group, of audits that ran the image
pipeline: :mod:`faceparity.acquisition`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceparity.io import atomic_write_text
from faceparity.results.acquisition import AcquisitionResult
from faceparity.results.identification import IdentificationResult

__all__ = [
    "SCHEMA_VERSION",
    "AuditResult",
    "CrossGroupCell",
    "DetPoints",
    "EerResult",
    "GroupOperatingPoint",
    "GroupSummary",
    "OperatingPoint",
    "RatePair",
]

SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class EerResult:
    """Equal error rate of a group (FVC2000 definition) and its threshold."""

    eer: float
    low: float
    high: float
    threshold: float
    eer_ci: dict[str, Any] | None = None


@dataclass(frozen=True)
class DetPoints:
    """A DET curve sampled at log-spaced FMR targets, enough to draw it."""

    fmr: list[float]
    fnmr: list[float]
    threshold: list[float]


@dataclass(frozen=True)
class GroupSummary:
    """A group: its attributes and its counts."""

    attributes: dict[str, str]
    label: str
    n_subjects: int | None
    n_samples: int | None
    n_mated: int
    n_non_mated: int
    eer: EerResult | None
    det: DetPoints | None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RatePair:
    """FMR and FNMR at one threshold with the counts behind them."""

    fmr: float | None
    fnmr: float | None
    n_false_matches: int
    n_non_mated: int
    n_false_non_matches: int
    n_mated: int
    fmr_ci: dict[str, Any] | None = None
    fnmr_ci: dict[str, Any] | None = None
    fmr_support: dict[str, Any] | None = None
    fnmr_support: dict[str, Any] | None = None


@dataclass(frozen=True)
class GroupOperatingPoint:
    """One group at one operating point."""

    attributes: dict[str, str]
    label: str
    threshold: float | None
    fmr: float | None
    fnmr: float | None
    n_false_matches: int
    n_non_mated: int
    n_false_non_matches: int
    n_mated: int
    notes: list[str] = field(default_factory=list)
    threshold_ci: dict[str, Any] | None = None
    fmr_ci: dict[str, Any] | None = None
    fnmr_ci: dict[str, Any] | None = None
    fmr_support: dict[str, Any] | None = None
    fnmr_support: dict[str, Any] | None = None


@dataclass(frozen=True)
class CrossGroupCell:
    """Non-mated comparisons with one side in group ``a`` and the other in ``b``."""

    a: dict[str, str]
    b: dict[str, str]
    fmr: float | None
    n_false_matches: int
    n_non_mated: int
    fmr_ci: dict[str, Any] | None = None
    fmr_support: dict[str, Any] | None = None


@dataclass(frozen=True)
class OperatingPoint:
    """Rates of every group at the threshold(s) a policy sets for a target FMR."""

    target_fmr: float
    policy: str
    threshold: float | None
    overall: RatePair | None
    groups: list[GroupOperatingPoint]
    cross_group: list[CrossGroupCell]
    summary: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    threshold_ci: dict[str, Any] | None = None
    ratios: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class AuditResult:
    """Everything an audit found. Serialise with :meth:`to_dict` or :meth:`write_json`."""

    tool: dict[str, str]
    input: dict[str, Any]
    config: dict[str, Any]
    overall: GroupSummary
    groups: list[GroupSummary]
    operating_points: list[OperatingPoint]
    exclusions: list[dict[str, Any]]
    schema_version: str = SCHEMA_VERSION
    uncertainty: dict[str, Any] | None = None
    # The optional 1:N section (None for 1:1 runs; no key is written then).
    identification: IdentificationResult | None = None
    # The optional section of audits that ran the image pipeline (None otherwise).
    acquisition: AcquisitionResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping; keys in a stable order, schema version first."""
        body = _clean(dataclasses.asdict(self))
        if body.get("identification") is None:
            body.pop("identification", None)
        if body.get("acquisition") is None:
            body.pop("acquisition", None)
        return {"schema_version": body.pop("schema_version"), **body}

    def to_json(self) -> str:
        """The JSON text of ``results.json``."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def write_json(self, path: str | Path) -> None:
        """Write ``results.json`` atomically (a reader never sees half a file)."""
        atomic_write_text(Path(path), self.to_json())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditResult:
        """Rebuild a result from the mapping :meth:`to_dict` made (``results.json``)."""
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"results schema version {version!r} is not {SCHEMA_VERSION!r}")

        def summary(g: dict[str, Any]) -> GroupSummary:
            eer = EerResult(**g["eer"]) if g.get("eer") else None
            det = DetPoints(**g["det"]) if g.get("det") else None
            return GroupSummary(**{**g, "eer": eer, "det": det})

        points = [
            OperatingPoint(
                **{
                    **p,
                    "overall": RatePair(**p["overall"]) if p.get("overall") else None,
                    "groups": [GroupOperatingPoint(**g) for g in p["groups"]],
                    "cross_group": [CrossGroupCell(**c) for c in p["cross_group"]],
                }
            )
            for p in data["operating_points"]
        ]
        return cls(
            tool=data["tool"],
            input=data["input"],
            config=data["config"],
            overall=summary(data["overall"]),
            groups=[summary(g) for g in data["groups"]],
            operating_points=points,
            exclusions=data["exclusions"],
            schema_version=version,
            uncertainty=data.get("uncertainty"),
            identification=(
                IdentificationResult.from_dict(data["identification"])
                if data.get("identification")
                else None
            ),
            acquisition=(
                AcquisitionResult.from_dict(data["acquisition"])
                if data.get("acquisition")
                else None
            ),
        )

    @classmethod
    def read_json(cls, path: str | Path) -> AuditResult:
        """Read ``results.json``."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def operating_point(self, target_fmr: float, policy: str = "global") -> OperatingPoint:
        """The operating point for a target FMR under a policy."""
        for point in self.operating_points:
            if point.target_fmr == target_fmr and point.policy == policy:
                return point
        raise KeyError(f"no operating point for target FMR {target_fmr} under {policy!r}")


def _optional(key: str) -> bool:
    """Keys left out of results.json while unset: intervals, support flags, their method."""
    return key.endswith(("_ci", "_support")) or key in ("uncertainty", "ratios")


def _clean(value: Any) -> Any:
    """Replace non-finite floats by None (JSON has no NaN) and recurse into containers.

    Optional keys (:func:`_optional`) that are unset are left out.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not (v is None and _optional(k))}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
