"""The differential in one sentence a non-specialist can read.

At one operating point, the group with the highest rate is set against the group with
the lowest: "at the threshold that gives 1 false match in 10,000 overall, people in
group sex F, region R1 are falsely matched 7.2 times as often as people in group sex M,
region R4". The ratio is the max/min measure of NISTIR 8429 (Grother 2022), computed
from the groups' rates in ``results.json``; nothing is rounded before dividing.

Where that ratio has no finite estimate (the lowest rate is zero) the sentence says so
and gives the rule-of-three bound (Hanley and Lippman-Hand 1983: with no event in ``n``
trials, the 95% upper confidence bound of the rate is about ``3 / n``) instead of a
number. A rate flagged as not supported, or an interval when the results carry one, is
named in the sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from faceparity.errors import UsageError
from faceparity.render.formatting import (
    describe_group,
    fmt_count,
    fmt_number,
    fmt_percent,
    fmt_ratio,
    one_in,
)
from faceparity.results.audit import AuditResult, GroupOperatingPoint, OperatingPoint, RateMeasures
from faceparity.results.common import Support

__all__ = ["Differential", "differential", "headline_point"]


def _times(ratio: float) -> str:
    """A ratio in words: three significant digits (``7.2``, ``16``, ``1,234``)."""
    return f"{ratio:.3g}" if ratio < 1000 else f"{ratio:,.0f}"


_VERB = {"fmr": "falsely matched", "fnmr": "falsely rejected"}
_NOUN = {"fmr": "non-mated", "fnmr": "mated"}
_ERRORS = {"fmr": "n_false_matches", "fnmr": "n_false_non_matches"}
_TOTAL = {"fmr": "n_non_mated", "fnmr": "n_mated"}
_ERROR_WORDS = {"fmr": "false matches", "fnmr": "false non-matches"}


@dataclass(frozen=True)
class Differential:
    """The largest against the smallest group rate at one operating point.

    ``ratio`` is None when it has no finite estimate (fewer than two groups with the
    rate, or a lowest rate of zero); ``text`` says why.
    """

    rate: str
    text: str
    highest: str | None
    lowest: str | None
    ratio: float | None


def headline_point(
    results: AuditResult, *, target_fmr: float | None = None, policy: str | None = None
) -> OperatingPoint:
    """The operating point of the headline sentence.

    By default the first operating point of the ``global`` policy (the first target FMR
    the audit was asked for), else the first with a single threshold, else the first.

    Raises
    ------
    UsageError
        When ``target_fmr`` or ``policy`` names no operating point of the results.

    """
    points = results.operating_points
    if not points:
        raise UsageError("the results have no operating point to report")
    chosen = [
        p
        for p in points
        if (target_fmr is None or p.target_fmr == target_fmr)
        and (policy is None or p.policy == policy)
    ]
    if not chosen:
        have = "; ".join(f"{p.target_fmr:g} under {p.policy}" for p in points)
        raise UsageError(
            f"no operating point for target FMR {target_fmr if target_fmr is not None else 'any'}"
            f" under policy {policy or 'any'}; the results have: {have}"
        )
    for preferred in (
        [p for p in chosen if p.policy == "global"],
        [p for p in chosen if p.threshold is not None],
        chosen,
    ):
        if preferred:
            return preferred[0]
    raise AssertionError("unreachable")  # pragma: no cover


def _where(point: OperatingPoint) -> str:
    target = one_in(point.target_fmr)
    policy = point.policy
    if policy == "per-group":
        return (
            f"With each group at its own threshold for {target.replace('1 in', '1 false match in')}"
            " of its own non-mated comparisons (policy per-group)"
        )
    if policy == "global":
        scope = "overall"
    else:
        group = policy.removeprefix("reference:").replace("=", " ").replace(",", ", ")
        scope = f"in the reference group {group}"
    return (
        f"At the threshold that gives {target.replace('1 in', '1 false match in')} {scope} "
        f"(policy {policy}, threshold {fmt_number(point.threshold)})"
    )


def _people(group: GroupOperatingPoint) -> str:
    return f"people in group {describe_group(group.attributes, group.label)}"


def _support(group: GroupOperatingPoint, rate: str) -> Support | None:
    return group.fmr_support if rate == "fmr" else group.fnmr_support


def _caution(rate: str, groups: Sequence[GroupOperatingPoint]) -> str:
    flagged = [
        (g, support)
        for g in groups
        if (support := _support(g, rate)) is not None and not support.sufficient
    ]
    if not flagged:
        return ""
    parts = [
        f"{describe_group(g.attributes, g.label)}: {s.reason or 'too few comparisons'}"
        for g, s in flagged
    ]
    return f" Caution, the {rate.upper()} of {'; '.join(parts)} is not well supported by the data."


def _interval(rate: str, point: OperatingPoint, ratio: float, level: float | None) -> str:
    measures: RateMeasures = getattr(point.summary, rate)
    ci = measures.max_min.value_ci
    value = measures.max_min.value
    if ci is None or value is None or abs(value - ratio) > 1e-9 * max(1.0, abs(ratio)):
        return ""
    low, high = ci.ci_low, ci.ci_high
    pct = f"{100 * level:g}% " if level else ""
    return f"; {pct}interval {fmt_ratio(low)} to {fmt_ratio(high)}"


def differential(
    point: OperatingPoint, *, rate: str = "fmr", level: float | None = None
) -> Differential:
    """One sentence on the largest against the smallest group ``rate`` at ``point``.

    Parameters
    ----------
    point : OperatingPoint
        An operating point of an audit.
    rate : {"fmr", "fnmr"}, default "fmr"
        The rate compared.
    level : float, optional
        Confidence level of the intervals in the results (``uncertainty.level``).

    Returns
    -------
    Differential
        The sentence and what it names.

    """
    if rate not in _VERB:
        raise ValueError(f"rate: expected 'fmr' or 'fnmr', got {rate!r}")
    name = rate.upper()
    groups = list(point.groups)

    def value(g: GroupOperatingPoint) -> float:
        v: float | None = getattr(g, rate)
        assert v is not None
        return v

    def count(g: GroupOperatingPoint, key: dict[str, str]) -> int:
        n: int = getattr(g, key[rate])
        return n

    defined = [g for g in groups if getattr(g, rate) is not None]
    where = _where(point)
    if len(defined) < 2:
        text = (
            f"{where}, no differential in {name} can be stated: it needs two groups with "
            f"a measured {name} and {len(defined)} of {len(groups)} have one."
        )
        return Differential(rate, text, None, None, None)
    # Highest first; the first listed group wins a tie, so the sentence is stable.
    high = max(defined, key=value)
    low = min(defined, key=value)
    caution = _caution(rate, [high, low])
    if value(high) == 0:
        total = sum(count(g, _TOTAL) for g in defined)
        text = (
            f"{where}, no group had any {_ERROR_WORDS[rate]} ({fmt_count(total)} "
            f"{_NOUN[rate]} comparisons in {len(defined)} groups), so no {name} differential "
            "was measured; this does not show that the groups' rates are equal."
        )
        return Differential(rate, text + caution, None, None, None)
    if value(low) == 0:
        n = count(low, _TOTAL)
        bound = f"{fmt_percent(3.0 / n)}" if n else "unknown"
        text = (
            f"{where}, {_people(high)} are {_VERB[rate]} at a rate of {fmt_percent(value(high))} "
            f"({fmt_count(count(high, _ERRORS))} of {fmt_count(count(high, _TOTAL))}), "
            f"while {_people(low)} had no {_ERROR_WORDS[rate]} in {fmt_count(n)} {_NOUN[rate]} "
            "comparisons, so how many times as often cannot be estimated from these data "
            f"(with 95% confidence their {name} is below about {bound}, by the rule of three)."
        )
        return Differential(rate, text + caution, high.label, low.label, None)
    ratio = float(value(high)) / float(value(low))
    text = (
        f"{where}, {_people(high)} are {_VERB[rate]} {_times(ratio)} times as often as "
        f"{_people(low)} ({name} {fmt_percent(value(high))} against {fmt_percent(value(low))}"
        f"{_interval(rate, point, ratio, level)})."
    )
    return Differential(rate, text + caution, high.label, low.label, ratio)
