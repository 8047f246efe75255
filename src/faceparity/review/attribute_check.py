"""Limits on an attribute audit, read from a TOML file: ``faceparity check`` of its results.json.

The format (a sibling of :mod:`faceparity.review.check`'s)::

    undefined = "fail"             # optional: "fail" (default) or "pass" when a value is null

    [[limit]]
    name = "error-rate ratio"      # optional, shown in the report
    grouping = "sex x race"        # optional: one grouping (default: every grouping)
    measure = "error_rate.ratio"   # or "error_rate.difference": worst group against best
    max = 3.0
    interval = "bound"             # optional: "estimate" (default) or "bound"

    [[limit]]
    rate = "error_rate"            # or "fnr" / "fpr" of one class (with class = "...")
    groups = ["female/black"]      # optional: these groups only ("overall" too)
    max = 0.05

With ``interval = "bound"`` the interval's upper bound must satisfy ``max`` and its
lower bound ``min``. A value that is undefined fails unless ``undefined = "pass"``.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceparity.errors import InputError, Location, UsageError
from faceparity.results.attributes import AttributeAuditResult, AttributeGroup
from faceparity.results.common import Interval
from faceparity.review.check import EXIT_VIOLATIONS, IntervalRule

__all__ = [
    "ATTRIBUTE_MEASURES",
    "ATTRIBUTE_RATES",
    "AttributeCheckReport",
    "AttributeLimit",
    "check_attribute_limits",
    "parse_attribute_limits",
]

ATTRIBUTE_MEASURES = ("error_rate.ratio", "error_rate.difference")
ATTRIBUTE_RATES = ("error_rate", "fnr", "fpr")
_KEYS = ("name", "grouping", "measure", "rate", "class", "groups", "max", "min", "interval")


@dataclass(frozen=True)
class AttributeLimit:
    """One ``[[limit]]`` (``number`` 1-based, ``line`` of its header)."""

    number: int
    line: int | None
    name: str
    grouping: str | None
    measure: str | None
    rate: str | None
    label: str | None
    groups: tuple[str, ...] | None
    max: float | None
    min: float | None
    interval: IntervalRule

    def describe(self) -> str:
        """``error_rate.ratio <= 3 (interval bound) in sex x race``."""
        what = self.measure or (f"{self.rate}" + (f" of class {self.label}" if self.label else ""))
        bounds = [f">= {self.min:g}" for _ in [0] if self.min is not None]
        bounds += [f"<= {self.max:g}" for _ in [0] if self.max is not None]
        basis = " (interval bound)" if self.interval is IntervalRule.BOUND else ""
        where = f" in {self.grouping}" if self.grouping else " in every grouping"
        return f"{what} {' and '.join(bounds)}{basis}{where}"


@dataclass(frozen=True)
class AttributeFinding:
    """One value checked against one limit."""

    limit: AttributeLimit
    subject: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class AttributeCheckReport:
    """Every finding; owns the exit code (0, or 1 on a violation)."""

    limits_file: str
    results_name: str
    findings: tuple[AttributeFinding, ...]
    n_limits: int

    @property
    def exit_code(self) -> int:
        """0 when every limit holds, 1 otherwise."""
        return EXIT_VIOLATIONS if any(not f.passed for f in self.findings) else 0

    def format(self) -> str:
        """One line a limit, the failing values below it, and a verdict."""
        lines = [
            f"check of {self.results_name} against {self.n_limits} limits in {self.limits_file}"
        ]
        for number in sorted({f.limit.number for f in self.findings}):
            found = [f for f in self.findings if f.limit.number == number]
            limit = found[0].limit
            failed = [f for f in found if not f.passed]
            where = f"limit {number}" + (f" (line {limit.line})" if limit.line else "")
            lines.append(
                f"{'FAIL' if failed else 'ok  '} {where}: {limit.name or limit.describe()}"
            )
            lines.extend(f"     {f.subject}: {f.detail}" for f in failed)
        bad = [f for f in self.findings if not f.passed]
        lines.append(f"{len(bad)} violations" if bad else f"all {self.n_limits} limits hold")
        return "\n".join(lines) + "\n"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_attribute_limits(
    text: str, *, file: str = "limits.toml"
) -> tuple[tuple[AttributeLimit, ...], bool]:
    """The limits of a file and whether an undefined value passes.

    Raises
    ------
    InputError
        Naming the file, the limit's line and the key, for bad TOML, unknown keys and
        missing or ill-typed values.

    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"expected TOML: {err}", Location(file=file)) from err
    headers = [
        i
        for i, line in enumerate(text.splitlines(), start=1)
        if re.match(r"^\s*\[\[\s*limit\s*\]\]", line)
    ]
    unknown = [k for k in data if k not in ("undefined", "limit")]
    if unknown:
        raise InputError(
            f"unknown key {unknown[0]!r}; expected undefined or [[limit]]", Location(file)
        )
    undefined = data.get("undefined", "fail")
    if undefined not in ("fail", "pass"):
        raise InputError(
            f'key \'undefined\': expected "fail" or "pass", got {undefined!r}', Location(file)
        )
    entries = data.get("limit")
    if not isinstance(entries, list) or not entries:
        raise InputError("expected at least one [[limit]] table", Location(file))
    limits = []
    for i, entry in enumerate(entries):
        line = headers[i] if i < len(headers) else None

        def bad(message: str, key: str | None, _i: int = i, _line: int | None = line) -> InputError:
            where = ", ".join(
                p for p in (f"line {_line}" if _line else "", f"key {key!r}" if key else "") if p
            )
            return InputError(f"{where}: limit {_i + 1}: {message}", Location(file))

        if not isinstance(entry, dict):
            raise bad("expected a table", None)
        for k in entry:
            if k not in _KEYS:
                raise bad(f"unknown key; expected one of {', '.join(_KEYS)}", k)
        measure, rate = entry.get("measure"), entry.get("rate")
        if (measure is None) == (rate is None):
            raise bad("expected exactly one of measure or rate", None)
        if measure is not None and measure not in ATTRIBUTE_MEASURES:
            raise bad(
                f"expected one of {', '.join(ATTRIBUTE_MEASURES)}, got {measure!r}", "measure"
            )
        if rate is not None and rate not in ATTRIBUTE_RATES:
            raise bad(f"expected one of {', '.join(ATTRIBUTE_RATES)}, got {rate!r}", "rate")
        label = entry.get("class")
        if rate in ("fnr", "fpr") and not isinstance(label, str):
            raise bad(f'{rate} is a rate of one class: expected class = "LABEL"', "class")
        if label is not None and rate not in ("fnr", "fpr"):
            raise bad('class goes with rate = "fnr" or "fpr"', "class")
        groups = entry.get("groups")
        if groups is not None and (
            measure is not None
            or not isinstance(groups, list)
            or not groups
            or not all(isinstance(g, str) for g in groups)
        ):
            raise bad(
                f"expected a non-empty list of group labels with a rate, got {groups!r}", "groups"
            )
        grouping = entry.get("grouping")
        if grouping is not None and not isinstance(grouping, str):
            raise bad(f"expected a grouping name, got {grouping!r}", "grouping")
        bounds: dict[str, float] = {}
        for k in ("max", "min"):
            if k in entry:
                if not _number(entry[k]):
                    raise bad(f"expected a number, got {entry[k]!r}", k)
                bounds[k] = float(entry[k])
        if not bounds:
            raise bad("expected max or min (or both)", None)
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise bad(f"expected min <= max, got {bounds['min']!r} > {bounds['max']!r}", "min")
        try:
            rule = IntervalRule(entry.get("interval", "estimate"))
        except ValueError:
            raise bad(
                f'expected "estimate" or "bound", got {entry.get("interval")!r}', "interval"
            ) from None
        name = entry.get("name", "")
        if not isinstance(name, str):
            raise bad(f"expected text, got {name!r}", "name")
        limits.append(
            AttributeLimit(
                number=i + 1,
                line=line,
                name=name,
                grouping=grouping,
                measure=measure,
                rate=rate,
                label=label,
                groups=tuple(groups) if groups is not None else None,
                max=bounds.get("max"),
                min=bounds.get("min"),
                interval=rule,
            )
        )
    return tuple(limits), undefined == "pass"


def _judge(
    limit: AttributeLimit, subject: str, value: float | None, ci: Interval | None, passes: bool
) -> AttributeFinding:
    if value is None:
        return AttributeFinding(
            limit, subject, passes, "undefined" + ('; passes: undefined = "pass"' if passes else "")
        )
    low = high = value
    bound = False
    if limit.interval is IntervalRule.BOUND and ci is not None and ci.ci_low is not None:
        assert ci.ci_high is not None
        low, high, bound = ci.ci_low, ci.ci_high, True
    problems = []
    if limit.max is not None and high > limit.max:
        problems.append(f"{'upper bound ' if bound else ''}{high:.4g} > {limit.max:g}")
    if limit.min is not None and low < limit.min:
        problems.append(f"{'lower bound ' if bound else ''}{low:.4g} < {limit.min:g}")
    detail = "; ".join(problems) + (f" (estimate {value:.4g})" if bound and problems else "")
    return AttributeFinding(limit, subject, not problems, detail or f"{value:.4g} holds")


def _rate(group: AttributeGroup, limit: AttributeLimit) -> tuple[float | None, Interval | None]:
    if limit.rate == "error_rate":
        return group.error_rate, group.error_rate_ci
    for c in group.classes:
        if c.label == limit.label:
            return (c.fnr, c.fnr_ci) if limit.rate == "fnr" else (c.fpr, c.fpr_ci)
    return None, None


def check_attribute_limits(
    results: AttributeAuditResult,
    limits_text: str,
    *,
    limits_file: str = "limits.toml",
    results_name: str = "results",
) -> AttributeCheckReport:
    """Check every limit of ``limits_text`` against an attribute audit.

    Raises
    ------
    UsageError
        When a limit names a grouping, a group or a class the results do not have.

    """
    limits, passes = parse_attribute_limits(limits_text, file=limits_file)
    names = [g.name for g in results.groupings]
    findings: list[AttributeFinding] = []
    for limit in limits:
        if limit.grouping is not None and limit.grouping not in names:
            raise UsageError(
                f"{limits_file}: limit {limit.number} names the grouping {limit.grouping!r}; "
                f"{results_name} has: {', '.join(names)}"
            )
        if limit.label is not None and limit.label not in results.task.classes:
            raise UsageError(
                f"{limits_file}: limit {limit.number} names the class {limit.label!r}; "
                f"{results_name} has: {', '.join(results.task.classes) or 'none'}"
            )
        chosen = [g for g in results.groupings if limit.grouping in (None, g.name)]
        for grouping in chosen:
            if limit.measure is not None:
                d = grouping.disparity
                value, ci = (
                    (d.ratio, d.ratio_ci)
                    if limit.measure == "error_rate.ratio"
                    else (d.difference, d.difference_ci)
                )
                findings.append(
                    _judge(limit, f"{limit.measure} by {grouping.name}", value, ci, passes)
                )
                continue
            rows = {g.label: g for g in grouping.groups}
            rows["overall"] = results.overall
            wanted = limit.groups or tuple(g.label for g in grouping.groups)
            missing = [g for g in wanted if g not in rows]
            if missing and limit.grouping is not None:
                raise UsageError(
                    f"{limits_file}: limit {limit.number} names the groups {missing}, which "
                    f"{results_name} does not have in {grouping.name}"
                )
            for label in wanted:
                if label in rows:
                    value, ci = _rate(rows[label], limit)
                    findings.append(
                        _judge(limit, f"{grouping.name} group {label}", value, ci, passes)
                    )
    return AttributeCheckReport(limits_file, results_name, tuple(findings), len(limits))


def read_attribute_limits_text(path: str | Path) -> str:
    """The text of a limits file, or InputError naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the limits file: {err}", Location(file=str(path))) from err
