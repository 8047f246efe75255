"""Many audits side by side at one operating point: accuracy against the differential.

Each system's accuracy is its overall FNMR at the common operating point (target FMR
and threshold policy); its differential is a summary measure across groups (GARBE by
default; FMR or FNMR max/min or max/geomean on request). The leaderboard:

- ranks systems by FNMR without ranking apart systems whose intervals overlap. The
  rule: system A ranks above system B only when A's FNMR interval lies wholly below
  B's. A system's rank is one plus the number of systems that rank above it
  (competition ranking), so systems whose intervals overlap share a rank. Non-overlap
  is a conservative test (Schenker and Gentleman 2001, The American Statistician
  55(3)). Where a system has no interval, its point value stands for both bounds, and
  a note says so;
- marks the Pareto front of the point estimates: a system is on it when no other
  system has both a lower-or-equal FNMR and a lower-or-equal differential, one of them
  strictly lower (the selection of Howard et al. 2022, "Evaluating proposed fairness
  models for face recognition algorithms"). A system is also flagged *dominated beyond
  the intervals* when another system's intervals of both lie wholly below its own;
- shows the worst group: the highest group FMR at the threshold each system would run
  at this operating point, with its interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from faceparity.errors import UsageError
from faceparity.results.audit import AuditResult, OperatingPoint, SummaryMeasure
from faceparity.results.common import Interval

__all__ = [
    "DIFFERENTIALS",
    "Estimate",
    "Leaderboard",
    "Standing",
    "build_leaderboard",
]

DIFFERENTIALS: dict[str, tuple[str | None, str, str]] = {
    "garbe": (None, "garbe", "GARBE"),
    "fmr.max_min": ("fmr", "max_min", "FMR max/min"),
    "fmr.max_geomean": ("fmr", "max_geomean", "FMR max/geomean"),
    "fnmr.max_min": ("fnmr", "max_min", "FNMR max/min"),
    "fnmr.max_geomean": ("fnmr", "max_geomean", "FNMR max/geomean"),
}
"""The differentials a leaderboard shows: key, (rate or None, measure, name for people)."""

RANK_RULE = (
    "a system ranks above another only when its FNMR interval lies wholly below the "
    "other's; rank = 1 + the number of systems ranked above it, so systems whose "
    "intervals overlap share a rank"
)
PARETO_RULE = (
    "Pareto front (point estimates): no other system has a lower-or-equal FNMR and a "
    "lower-or-equal {name}, one of them strictly lower"
)


@dataclass(frozen=True)
class Estimate:
    """A value and its interval (both bounds None when the result carries none)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None

    @classmethod
    def of(cls, value: float | None, ci: Interval | None) -> Estimate:
        """The value with the bounds of ``ci`` (none when ``ci`` is absent or empty)."""
        if ci is None or ci.ci_low is None or ci.ci_high is None:
            return cls(value)
        return cls(value, float(ci.ci_low), float(ci.ci_high))

    @property
    def has_interval(self) -> bool:
        """Whether both bounds are known."""
        return self.ci_low is not None and self.ci_high is not None

    def bounds(self) -> tuple[float, float] | None:
        """The interval, or the point value for both bounds; None when undefined."""
        if self.value is None:
            return None
        if self.ci_low is not None and self.ci_high is not None:
            return self.ci_low, self.ci_high
        return self.value, self.value

    def to_dict(self) -> dict[str, float | None]:
        """``{"value", "ci_low", "ci_high"}``."""
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass(frozen=True)
class Standing:
    """One system at the common operating point."""

    name: str
    threshold: float | None
    fnmr: Estimate
    fmr: Estimate
    differentials: dict[str, Estimate]
    worst_group: str | None
    worst_group_fmr: Estimate
    rank: int | None
    pareto: bool
    dominated_beyond_intervals: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "name": self.name,
            "rank": self.rank,
            "pareto": self.pareto,
            "dominated_beyond_intervals": self.dominated_beyond_intervals,
            "threshold": self.threshold,
            "fnmr": self.fnmr.to_dict(),
            "fmr": self.fmr.to_dict(),
            "differentials": {k: v.to_dict() for k, v in self.differentials.items()},
            "worst_group": self.worst_group,
            "worst_group_fmr": self.worst_group_fmr.to_dict(),
        }


@dataclass(frozen=True)
class Leaderboard:
    """Every system at one operating point, ranked and with its Pareto front."""

    target_fmr: float
    policy: str
    differential: str
    standings: tuple[Standing, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def differential_name(self) -> str:
        """The differential on the Pareto front, for people (``GARBE``)."""
        return DIFFERENTIALS[self.differential][2]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (``leaderboard_version`` first)."""
        return {
            "leaderboard_version": "1.0",
            "target_fmr": self.target_fmr,
            "policy": self.policy,
            "differential": self.differential,
            "rank_rule": RANK_RULE,
            "pareto_rule": PARETO_RULE.format(name=self.differential_name),
            "notes": list(self.notes),
            "systems": [s.to_dict() for s in self.standings],
        }


def _measure(point: OperatingPoint, key: str) -> Estimate:
    family, name, _ = DIFFERENTIALS[key]
    holder = getattr(point.summary, family) if family else point.summary
    measure: SummaryMeasure = getattr(holder, name)
    return Estimate.of(measure.value, measure.value_ci)


def _worst_group(point: OperatingPoint) -> tuple[str | None, Estimate]:
    defined = [g for g in point.groups if g.fmr is not None]
    if not defined:
        return None, Estimate(None)
    worst = max(defined, key=lambda g: (g.fmr, g.label))
    return worst.label, Estimate.of(worst.fmr, worst.fmr_ci)


def ranks(estimates: Sequence[Estimate]) -> list[int | None]:
    """Competition ranks by the rule :data:`RANK_RULE` (lower value is better).

    Parameters
    ----------
    estimates : sequence of Estimate
        One per system; an undefined value gets no rank (None).

    Returns
    -------
    list of int or None
        ``1 + |{j : high_j < low_i}|`` for each defined system ``i``.

    Examples
    --------
    >>> ranks([Estimate(0.1, 0.08, 0.12), Estimate(0.11, 0.09, 0.13), Estimate(0.3, 0.2, 0.4)])
    [1, 1, 3]

    """
    bounds = [e.bounds() for e in estimates]
    out: list[int | None] = []
    for mine in bounds:
        if mine is None:
            out.append(None)
            continue
        above = sum(1 for other in bounds if other is not None and other[1] < mine[0])
        out.append(1 + above)
    return out


def pareto_front(points: Sequence[tuple[float | None, float | None]]) -> list[bool]:
    """Which points no other point dominates (both coordinates lower is better).

    A point with an undefined coordinate is never on the front and dominates nothing.

    Examples
    --------
    >>> pareto_front([(0.1, 2.0), (0.2, 1.0), (0.3, 3.0), (0.1, 2.0)])
    [True, True, False, True]

    """
    defined = [(x, y) for x, y in points if x is not None and y is not None]
    out = []
    for x, y in points:
        if x is None or y is None:
            out.append(False)
            continue
        dominated = any(ox <= x and oy <= y and (ox < x or oy < y) for ox, oy in defined)
        out.append(not dominated)
    return out


def _dominated_beyond(mine: Standing, others: Sequence[Standing], key: str) -> bool:
    a, b = mine.fnmr, mine.differentials[key]
    if not (a.has_interval and b.has_interval):
        return False
    for other in others:
        oa, ob = other.fnmr, other.differentials[key]
        if other is mine or not (oa.has_interval and ob.has_interval):
            continue
        if oa.ci_high < a.ci_low and ob.ci_high < b.ci_low:  # type: ignore[operator]
            return True
    return False


def common_points(results: Sequence[AuditResult]) -> list[tuple[float, str]]:
    """The (target FMR, policy) pairs every result has, in the order of the first."""
    keys = [(float(p.target_fmr), p.policy) for p in results[0].operating_points]
    return [k for k in keys if all(_has(r, *k) for r in results[1:])]


def _has(result: AuditResult, target_fmr: float, policy: str) -> bool:
    return any(p.target_fmr == target_fmr and p.policy == policy for p in result.operating_points)


def _choose_point(
    results: Sequence[AuditResult],
    names: Sequence[str],
    target_fmr: float | None,
    policy: str | None,
) -> tuple[float, str]:
    common = common_points(results)
    chosen = [
        k
        for k in common
        if (target_fmr is None or k[0] == target_fmr) and (policy is None or k[1] == policy)
    ]
    if chosen:
        return chosen[0]
    if target_fmr is None and policy is None:
        raise UsageError(
            "the results have no operating point in common (target FMR and policy): "
            + "; ".join(
                f"{n}: {', '.join(f'{p.target_fmr:g} {p.policy}' for p in r.operating_points)}"
                for n, r in zip(names, results, strict=True)
            )
        )
    wanted = " ".join(
        x
        for x in (
            f"target FMR {target_fmr:g}" if target_fmr is not None else "",
            f"policy {policy}" if policy is not None else "",
        )
        if x
    )
    lacking = [
        n
        for n, r in zip(names, results, strict=True)
        if not any(
            (target_fmr is None or p.target_fmr == target_fmr)
            and (policy is None or p.policy == policy)
            for p in r.operating_points
        )
    ]
    where = ", ".join(lacking) if lacking else "no operating point shared by all results"
    raise UsageError(f"expected an operating point {wanted} in every result; missing in {where}")


def build_leaderboard(
    results: Sequence[AuditResult],
    *,
    names: Sequence[str],
    target_fmr: float | None = None,
    policy: str | None = None,
    differential: str = "garbe",
) -> Leaderboard:
    """Every system at the common operating point, ranked, with its Pareto front.

    Parameters
    ----------
    results : sequence of AuditResult
        Two or more audits.
    names : sequence of str
        How the leaderboard names each system (one per result).
    target_fmr, policy : float or str, optional
        The operating point; by default the first (in the order of the first result)
        that every result has.
    differential : str
        The differential on the Pareto front, a key of :data:`DIFFERENTIALS`.

    Returns
    -------
    Leaderboard
        One :class:`Standing` per system, in the order given.

    Raises
    ------
    UsageError
        When fewer than two results are given, names do not match them, the
        differential is unknown, or the operating point is not in every result.

    """
    if len(results) < 2:
        raise UsageError(f"expected two or more results, got {len(results)}")
    if len(names) != len(results):
        raise UsageError(f"expected one name per result ({len(results)}), got {len(names)}")
    if len(set(names)) != len(names):
        raise UsageError("expected distinct system names")
    if differential not in DIFFERENTIALS:
        raise UsageError(
            f"expected a differential among {', '.join(DIFFERENTIALS)}, got {differential!r}"
        )
    target, pol = _choose_point(results, names, target_fmr, policy)
    points = [r.operating_point(target, pol) for r in results]
    notes = _notes(results, names)
    drafts = []
    for name, point in zip(names, points, strict=True):
        overall = point.overall
        worst, worst_fmr = _worst_group(point)
        drafts.append(
            Standing(
                name=name,
                threshold=point.threshold,
                fnmr=Estimate.of(overall.fnmr, overall.fnmr_ci) if overall else Estimate(None),
                fmr=Estimate.of(overall.fmr, overall.fmr_ci) if overall else Estimate(None),
                differentials={k: _measure(point, k) for k in DIFFERENTIALS},
                worst_group=worst,
                worst_group_fmr=worst_fmr,
                rank=None,
                pareto=False,
                dominated_beyond_intervals=False,
            )
        )
    if any(s.fnmr.value is not None and not s.fnmr.has_interval for s in drafts):
        notes.append(
            "some systems carry no FNMR interval: their point value stands for both "
            "bounds in the ranking, so they are ranked apart from any system whose "
            "interval excludes that value"
        )
    rank = ranks([s.fnmr for s in drafts])
    front = pareto_front([(s.fnmr.value, s.differentials[differential].value) for s in drafts])
    standings = tuple(
        Standing(
            **{
                **s.__dict__,
                "rank": r,
                "pareto": on,
                "dominated_beyond_intervals": _dominated_beyond(s, drafts, differential),
            }
        )
        for s, r, on in zip(drafts, rank, front, strict=True)
    )
    return Leaderboard(
        target_fmr=target,
        policy=pol,
        differential=differential,
        standings=standings,
        notes=tuple(notes),
    )


def _notes(results: Sequence[AuditResult], names: Sequence[str]) -> list[str]:
    notes = []
    first = results[0]
    for key in ("group_by", "fmr_scope", "mated_rule", "alpha", "match_rule"):
        values = {repr(getattr(r.config, key)) for r in results}
        if len(values) > 1:
            notes.append(
                f"{key} differs between the audits ({', '.join(sorted(values))}): "
                "their differentials do not measure the same thing"
            )
    if len({r.input.score_kind for r in results}) > 1:
        notes.append("score_kind differs: thresholds are not comparable")
    counts = ("n_comparisons", "n_mated", "n_non_mated", "n_subjects")
    if any(getattr(r.input, c) != getattr(first.input, c) for r in results for c in counts):
        notes.append(
            "the audits did not all count the same comparisons and subjects: "
            "their rates are not measured on the same data"
        )
    lacking = [n for n, r in zip(names, results, strict=True) if r.uncertainty is None]
    if lacking:
        notes.append(f"no intervals in: {', '.join(lacking)}")
    return notes
