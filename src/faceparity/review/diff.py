"""Two audits side by side: the change in every differential, beyond the intervals or not.

Operating points are matched by target FMR and policy, groups by their attributes. For
each matched value (per-group FMR and FNMR, the overall rates and threshold, every
summary measure, per-group EER) the change is ``B - A`` and, where both are positive,
the ratio ``B / A`` (undefined, like a change, where it overflows a float). A change is
*beyond the intervals* when both results carry an interval for the value and the two
intervals do not overlap. Non-overlap is a conservative test: two 95% intervals that do
not overlap imply a significant difference, but overlapping ones do not imply its
absence (Schenker and Gentleman 2001, "On judging the significance of differences by
examining the overlap between confidence intervals", The American Statistician 55(3)).
Where either side has no interval the verdict says intervals are not available.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from faceparity.render.formatting import SUMMARY_MEASURES
from faceparity.results.audit import (
    AuditResult,
    GroupOperatingPoint,
    GroupSummary,
    OperatingPoint,
    RatePair,
    SummaryMeasure,
    SummaryMeasures,
)
from faceparity.results.common import Interval

__all__ = ["Change", "AuditDiff", "diff_results"]

BEYOND = "beyond the intervals"
WITHIN = "within the intervals"
NO_INTERVALS = "intervals not available"
UNDEFINED = "undefined in A or B"

_CONFIG_KEYS = ("group_by", "fmr_scope", "mated_rule", "alpha", "match_rule")


@dataclass(frozen=True)
class Change:
    """One value in A and in B, its change, and the verdict on the change."""

    section: str
    subject: str
    quantity: str
    a: float | None
    b: float | None
    a_ci: tuple[float | None, float | None] | None
    b_ci: tuple[float | None, float | None] | None
    difference: float | None
    ratio: float | None
    verdict: str


@dataclass(frozen=True)
class AuditDiff:
    """Everything :func:`diff_results` found."""

    a_name: str
    b_name: str
    notes: tuple[str, ...]
    changes: tuple[Change, ...]
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (``comparison_version`` first)."""
        return {
            "comparison_version": "1.0",
            "a": self.a_name,
            "b": self.b_name,
            "notes": list(self.notes),
            "only_in_a": list(self.only_in_a),
            "only_in_b": list(self.only_in_b),
            "changes": [
                {**asdict(c), "a_ci": _ci_list(c.a_ci), "b_ci": _ci_list(c.b_ci)}
                for c in self.changes
            ],
        }


def _ci_list(ci: tuple[float | None, float | None] | None) -> list[float | None] | None:
    return None if ci is None else [ci[0], ci[1]]


def _bounds(ci: Interval | None) -> tuple[float | None, float | None] | None:
    return None if ci is None else (ci.ci_low, ci.ci_high)


def _finite(value: float) -> float | None:
    """``value``, or None where it overflowed (a ratio to 5e-324, a change of 1e308)."""
    return value if math.isfinite(value) else None


def _change(
    section: str,
    subject: str,
    quantity: str,
    a: tuple[float | None, Interval | None],
    b: tuple[float | None, Interval | None],
) -> Change:
    """The change of one value, given as ``(value, interval)`` in A and in B."""
    va, vb = a[0], b[0]
    ca, cb = _bounds(a[1]), _bounds(b[1])
    if va is None or vb is None:
        return Change(section, subject, quantity, va, vb, ca, cb, None, None, UNDEFINED)
    difference = _finite(float(vb) - float(va))
    # A threshold is a point on a score scale, not a rate: no ratio for it.
    ratio = None
    if quantity != "threshold" and va > 0 and vb >= 0:
        ratio = _finite(float(vb) / float(va))
    if ca is None or cb is None or None in ca or None in cb:
        verdict = NO_INTERVALS
    else:
        a_low, a_high = float(ca[0]), float(ca[1])  # type: ignore[arg-type]
        b_low, b_high = float(cb[0]), float(cb[1])  # type: ignore[arg-type]
        verdict = BEYOND if (b_low > a_high or a_low > b_high) else WITHIN
    return Change(section, subject, quantity, va, vb, ca, cb, difference, ratio, verdict)


def _eer(group: GroupSummary) -> tuple[float | None, Interval | None]:
    return (None, None) if group.eer is None else (group.eer.eer, group.eer.eer_ci)


def _rate(
    holder: RatePair | GroupOperatingPoint, rate: str
) -> tuple[float | None, Interval | None]:
    return (holder.fmr, holder.fmr_ci) if rate == "fmr" else (holder.fnmr, holder.fnmr_ci)


def _measure(summary: SummaryMeasures, family: str | None, key: str) -> SummaryMeasure:
    measure: SummaryMeasure = getattr(getattr(summary, family) if family else summary, key)
    return measure


def _key(attributes: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in attributes.items()))


def _title(point: OperatingPoint) -> str:
    return f"target FMR {point.target_fmr:g}, policy {point.policy}"


def diff_results(
    a: AuditResult, b: AuditResult, *, a_name: str = "A", b_name: str = "B"
) -> AuditDiff:
    """Compare two audits.

    Parameters
    ----------
    a, b : AuditResult
        The two results (A is the baseline: changes are ``B - A``).
    a_name, b_name : str
        How the comparison names them.

    Returns
    -------
    AuditDiff
        One :class:`Change` per matched value, in the order of A; operating points and
        groups present on one side only are listed, and configuration differences that
        make values incomparable are noted.

    """
    notes = []
    for key in _CONFIG_KEYS:
        in_a, in_b = getattr(a.config, key), getattr(b.config, key)
        if in_a != in_b:
            notes.append(
                f"{key} differs ({in_a!r} in A, {in_b!r} in B): "
                "the two audits do not measure the same thing, so changes may reflect that"
            )
    if a.input.score_kind != b.input.score_kind:
        notes.append("score_kind differs: thresholds are not comparable")
    if a.uncertainty is None or b.uncertainty is None:
        notes.append(
            "intervals not available: "
            + (
                "neither result carries intervals"
                if a.uncertainty is None and b.uncertainty is None
                else "only one of the results carries intervals"
            )
            + "; no change can be called beyond sampling error"
        )
    notes.append(
        "beyond the intervals = the two intervals do not overlap (a conservative test; "
        "Schenker and Gentleman 2001); cross-group cells are not compared"
    )
    changes: list[Change] = []
    only_a: list[str] = []
    only_b: list[str] = []
    b_groups = {_key(g.attributes): g for g in b.groups}
    for g in a.groups:
        other = b_groups.get(_key(g.attributes))
        if other is None:
            only_a.append(f"group {g.label}")
            continue
        if g.eer or other.eer:
            changes.append(_change("groups", g.label, "EER", _eer(g), _eer(other)))
    a_keys = {_key(g.attributes) for g in a.groups}
    only_b.extend(f"group {g.label}" for g in b.groups if _key(g.attributes) not in a_keys)
    b_points = {(p.target_fmr, p.policy): p for p in b.operating_points}
    for p in a.operating_points:
        q = b_points.get((p.target_fmr, p.policy))
        section = _title(p)
        if q is None:
            only_a.append(f"operating point {section}")
            continue
        if p.threshold is not None or q.threshold is not None:
            changes.append(
                _change(
                    section,
                    "overall",
                    "threshold",
                    (p.threshold, p.threshold_ci),
                    (q.threshold, q.threshold_ci),
                )
            )
        if p.overall and q.overall:
            for rate in ("fmr", "fnmr"):
                changes.append(
                    _change(
                        section,
                        "overall",
                        rate.upper(),
                        _rate(p.overall, rate),
                        _rate(q.overall, rate),
                    )
                )
        q_groups = {_key(g.attributes): g for g in q.groups}
        for gp in p.groups:
            h = q_groups.get(_key(gp.attributes))
            if h is None:
                continue
            for rate in ("fmr", "fnmr"):
                changes.append(
                    _change(section, gp.label, rate.upper(), _rate(gp, rate), _rate(h, rate))
                )
        for family, key, name in SUMMARY_MEASURES:
            ma, mb = _measure(p.summary, family, key), _measure(q.summary, family, key)
            changes.append(
                _change(section, "summary", name, (ma.value, ma.value_ci), (mb.value, mb.value_ci))
            )
    a_points = {(p.target_fmr, p.policy) for p in a.operating_points}
    only_b.extend(
        f"operating point {_title(p)}"
        for p in b.operating_points
        if (p.target_fmr, p.policy) not in a_points
    )
    return AuditDiff(
        a_name=a_name,
        b_name=b_name,
        notes=tuple(notes),
        changes=tuple(changes),
        only_in_a=tuple(only_a),
        only_in_b=tuple(only_b),
    )
