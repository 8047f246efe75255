"""The policy gate: limits on differentials, read from a TOML file, checked against results.

A build fails on a differential the way it fails on a test: ``faceparity check
results.json limits.toml`` (or ``faceparity audit ... --check limits.toml``) exits 1
with the list of violations, 0 when every limit holds. A limits file that cannot be
used is an error (exit 2) naming the file, the line and the key.

The format (see ``examples/limits.toml``)::

    undefined = "fail"          # optional: "fail" (default) or "pass" when a value is null

    [[limit]]
    name = "FMR max/geomean"    # optional, shown in the report
    target_fmr = 1e-4           # the operating point: its target FMR ...
    policy = "global"           # ... and threshold policy (default "global")
    measure = "fmr.max_geomean" # a summary measure ...
    max = 3.0                   # ... must be <= max (and/or >= min)
    interval = "bound"          # optional: "estimate" (default) or "bound"

    [[limit]]
    target_fmr = 1e-4
    rate = "fnmr"               # or: every group's rate ("fmr" or "fnmr") ...
    groups = ["F/B", "overall"] # ... optionally only these group labels ("overall" too)
    max = 0.05

``measure`` is one of ``fmr.max_min``, ``fmr.max_geomean``, ``fmr.gini``,
``fnmr.max_min``, ``fnmr.max_geomean``, ``fnmr.gini``, ``garbe``, ``fdr``,
``inequity_rate``. With ``interval = "bound"`` the interval's upper bound must satisfy
``max`` and its lower bound ``min`` where the results carry an interval (``value_ci``,
``fmr_ci``, ``fnmr_ci``); where they carry none the estimate is checked and the report
says so. A value that is undefined (``null``: a zero rate makes a ratio unbounded, a
group has no comparisons) fails unless ``undefined = "pass"``: a gate that cannot check
a limit does not pass it silently.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from faceparity.errors import InputError, Location, UsageError
from faceparity.results.audit import (
    AuditResult,
    GroupOperatingPoint,
    OperatingPoint,
    RatePair,
    SummaryMeasure,
)
from faceparity.results.common import Interval

__all__ = [
    "EXIT_VIOLATIONS",
    "MEASURES",
    "CheckReport",
    "Finding",
    "IntervalRule",
    "Limit",
    "Limits",
    "check_limits",
    "parse_limits",
    "read_limits",
]

EXIT_VIOLATIONS = 1
"""Exit code of ``check`` and ``audit --check`` when a limit is violated."""

MEASURES = {
    "fmr.max_min": "FMR max/min",
    "fmr.max_geomean": "FMR max/geomean",
    "fmr.gini": "FMR Gini",
    "fnmr.max_min": "FNMR max/min",
    "fnmr.max_geomean": "FNMR max/geomean",
    "fnmr.gini": "FNMR Gini",
    "garbe": "GARBE",
    "fdr": "FDR",
    "inequity_rate": "inequity rate",
}
RATES = ("fmr", "fnmr")
MSG_MIN_ABOVE_MAX = "expected min <= max, got min {min!r} above max {max!r}"
"""A limit no value can satisfy: refused as a bad limits file, not reported as violated."""
_LIMIT_KEYS = (
    "name",
    "target_fmr",
    "policy",
    "measure",
    "rate",
    "groups",
    "max",
    "min",
    "interval",
)
_TOP_KEYS = ("undefined", "limit")


class IntervalRule(Enum):
    """What must satisfy a limit: the estimate, or the interval's bound where there is one."""

    ESTIMATE = "estimate"
    BOUND = "bound"


@dataclass(frozen=True)
class Limit:
    """One ``[[limit]]`` of a limits file (``number`` is 1-based, ``line`` its header)."""

    number: int
    line: int | None
    target_fmr: float
    policy: str
    measure: str | None
    rate: str | None
    groups: tuple[str, ...] | None
    max: float | None
    min: float | None
    interval: IntervalRule
    name: str

    def describe(self) -> str:
        """``FMR max/geomean <= 3 at target FMR 0.0001, policy global``."""
        if self.measure is not None:
            what = MEASURES[self.measure]
        else:
            assert self.rate is not None
            which = "every group" if self.groups is None else ", ".join(self.groups)
            what = f"{self.rate.upper()} of {which}"
        bounds = []
        if self.min is not None:
            bounds.append(f">= {self.min:g}")
        if self.max is not None:
            bounds.append(f"<= {self.max:g}")
        basis = " (interval bound)" if self.interval is IntervalRule.BOUND else ""
        return (
            f"{what} {' and '.join(bounds)}{basis} at target FMR {self.target_fmr:g}, "
            f"policy {self.policy}"
        )


@dataclass(frozen=True)
class Limits:
    """A parsed limits file."""

    file: str
    limits: tuple[Limit, ...]
    undefined_passes: bool = False


@dataclass(frozen=True)
class Finding:
    """One value checked against one limit."""

    limit: Limit
    subject: str
    value: float | None
    basis: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class CheckReport:
    """Every finding of a check; owns the exit code (0, or 1 on a violation)."""

    limits_file: str
    results_name: str
    findings: tuple[Finding, ...]
    n_limits: int

    @property
    def violations(self) -> tuple[Finding, ...]:
        """The findings that failed."""
        return tuple(f for f in self.findings if not f.passed)

    @property
    def exit_code(self) -> int:
        """0 when every limit holds, :data:`EXIT_VIOLATIONS` otherwise."""
        return EXIT_VIOLATIONS if self.violations else 0

    def format(self) -> str:
        """The report as text: one line a limit, the failing values below it, a verdict."""
        lines = [
            f"check of {self.results_name} against {self.n_limits} limits in {self.limits_file}"
        ]
        by_limit: dict[int, list[Finding]] = {}
        for f in self.findings:
            by_limit.setdefault(f.limit.number, []).append(f)
        for number in sorted(by_limit):
            found = by_limit[number]
            limit = found[0].limit
            where = f"limit {number}" + (f" (line {limit.line})" if limit.line else "")
            failed = [f for f in found if not f.passed]
            status = "FAIL" if failed else "ok  "
            lines.append(f"{status} {where}: {limit.name or limit.describe()}")
            if limit.name:
                lines.append(f"     {limit.describe()}")
            for f in failed or found[:0]:
                lines.append(f"     {f.subject}: {f.detail}")
            notes = sorted({f.basis for f in found if f.basis.startswith("estimate (no")})
            lines.extend(f"     note: {n}" for n in notes)
        n_bad = len({f.limit.number for f in self.violations})
        if n_bad:
            lines.append(
                f"{len(self.violations)} violations of {n_bad} of the {self.n_limits} limits"
            )
        else:
            lines.append(f"all {self.n_limits} limits hold")
        return "\n".join(lines) + "\n"


def _key_lines(text: str) -> tuple[dict[str, int], list[tuple[int, dict[str, int]]]]:
    """Line numbers of the top-level keys and, per ``[[limit]]``, of its header and keys."""
    top: dict[str, int] = {}
    blocks: list[tuple[int, dict[str, int]]] = []
    key = re.compile(r"^\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if re.match(r"^\[\[\s*limit\s*\]\]", stripped):
            blocks.append((number, {}))
            continue
        if stripped.startswith("["):
            blocks.append((number, {}))  # another table: keys below are not limit keys
            continue
        m = key.match(line)
        if m:
            name = m.group(1).strip('"')
            (blocks[-1][1] if blocks else top).setdefault(name, number)
    return top, blocks


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_limits(text: str, *, file: str = "limits.toml") -> Limits:
    """Parse the text of a limits file.

    Raises
    ------
    InputError
        Naming the file, the line and the key, for TOML syntax errors, unknown keys,
        missing or ill-typed values.

    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"expected TOML: {err}", Location(file=file)) from err
    top_lines, blocks = _key_lines(text)
    limit_blocks = [b for b in blocks if re.match(r"^\s*\[\[\s*limit", text.splitlines()[b[0] - 1])]

    def fail(message: str, line: int | None, key: str | None) -> InputError:
        where = f"line {line}" if line else None
        loc = Location(file=file, column=None)
        prefix = ", ".join(p for p in (where, f"key {key!r}" if key else None) if p)
        return InputError(f"{prefix}: {message}" if prefix else message, loc)

    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        k = unknown[0]
        raise fail(
            f"unknown key; expected {', '.join(_TOP_KEYS)} at the top level (a limit is a "
            "[[limit]] table)",
            top_lines.get(k) or _table_line(text, k),
            k,
        )
    undefined = data.get("undefined", "fail")
    if undefined not in ("fail", "pass"):
        raise fail(
            f'expected "fail" or "pass", got {undefined!r}', top_lines.get("undefined"), "undefined"
        )
    entries = data.get("limit", [])
    if not isinstance(entries, list) or not entries:
        raise fail("expected at least one [[limit]] table", top_lines.get("limit"), "limit")
    limits = []
    for i, entry in enumerate(entries):
        header, lines = limit_blocks[i] if i < len(limit_blocks) else (None, {})

        def bad(
            message: str,
            key: str | None,
            _h: int | None = header,
            _l: dict[str, int] = lines,
            _i: int = i,
        ) -> InputError:
            return fail(f"limit {_i + 1}: {message}", _l.get(key or "", _h), key)

        if not isinstance(entry, dict):
            raise bad("expected a table", None)
        for k in entry:
            if k not in _LIMIT_KEYS:
                raise bad(f"unknown key; expected one of {', '.join(_LIMIT_KEYS)}", k)
        target = entry.get("target_fmr")
        if target is None:
            raise bad(
                "missing target_fmr (the operating point's target FMR, e.g. 1e-4)", "target_fmr"
            )
        if not _number(target) or not 0 < target < 1:
            raise bad(f"expected a number in (0, 1), got {target!r}", "target_fmr")
        policy = entry.get("policy", "global")
        if not isinstance(policy, str) or not policy:
            raise bad(f'expected a policy name such as "global", got {policy!r}', "policy")
        measure, rate = entry.get("measure"), entry.get("rate")
        if (measure is None) == (rate is None):
            raise bad(
                "expected exactly one of measure (a summary measure) or rate (fmr or "
                "fnmr of each group)",
                "measure" if measure is not None else None,
            )
        if measure is not None and not (isinstance(measure, str) and measure in MEASURES):
            raise bad(f"expected one of {', '.join(MEASURES)}, got {measure!r}", "measure")
        if rate is not None and not (isinstance(rate, str) and rate in RATES):
            raise bad(f'expected "fmr" or "fnmr", got {rate!r}', "rate")
        groups = entry.get("groups")
        if groups is not None:
            if rate is None:
                raise bad("groups goes with rate, not with measure", "groups")
            if (
                not isinstance(groups, list)
                or not groups
                or not all(isinstance(g, str) for g in groups)
            ):
                raise bad(f"expected a non-empty list of group labels, got {groups!r}", "groups")
        bounds = {}
        for k in ("max", "min"):
            if k in entry:
                if not _number(entry[k]):
                    raise bad(f"expected a number, got {entry[k]!r}", k)
                bounds[k] = float(entry[k])
        if not bounds:
            raise bad("expected max or min (or both)", None)
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise bad(
                MSG_MIN_ABOVE_MAX.format(min=entry["min"], max=entry["max"]),
                "min" if lines.get("min", 0) >= lines.get("max", 0) else "max",
            )
        interval = entry.get("interval", "estimate")
        try:
            rule = IntervalRule(interval)
        except ValueError:
            raise bad(f'expected "estimate" or "bound", got {interval!r}', "interval") from None
        name = entry.get("name", "")
        if not isinstance(name, str):
            raise bad(f"expected text, got {name!r}", "name")
        limits.append(
            Limit(
                number=i + 1,
                line=header,
                target_fmr=float(target),
                policy=policy,
                measure=measure,
                rate=rate,
                groups=tuple(groups) if groups is not None else None,
                max=bounds.get("max"),
                min=bounds.get("min"),
                interval=rule,
                name=name,
            )
        )
    return Limits(file=file, limits=tuple(limits), undefined_passes=undefined == "pass")


def _table_line(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"^\s*\[+\s*{re.escape(key)}\s*\]+", line):
            return number
    return None


def read_limits(path: str | Path) -> Limits:
    """Read and parse a limits file (see :func:`parse_limits`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(
            f"cannot read the limits file: {err.strerror or err}", Location(file=str(path))
        ) from err
    except UnicodeDecodeError as err:
        raise InputError("expected UTF-8 TOML text", Location(file=str(path))) from err
    return parse_limits(text, file=str(path))


def _point(
    results: AuditResult, limit: Limit, file: str, results_name: str
) -> tuple[int, OperatingPoint]:
    for i, p in enumerate(results.operating_points):
        if math.isclose(p.target_fmr, limit.target_fmr, rel_tol=1e-9) and (
            p.policy == limit.policy
        ):
            return i, p
    have = "; ".join(f"{p.target_fmr:g} under {p.policy}" for p in results.operating_points)
    where = f", line {limit.line}" if limit.line else ""
    raise UsageError(
        f"{file}{where}: limit {limit.number} names the operating point target FMR "
        f"{limit.target_fmr:g}, policy {limit.policy}, which {results_name} does not have "
        f"in operating_points (it has: {have or 'none'})"
    )


def _judge(
    limit: Limit,
    subject: str,
    value: float | None,
    ci: Interval | None,
    *,
    undefined_reason: str,
    undefined_passes: bool,
) -> Finding:
    if value is None:
        return Finding(
            limit,
            subject,
            None,
            "undefined",
            undefined_passes,
            f"undefined ({undefined_reason}); "
            + (
                'passes: undefined = "pass"'
                if undefined_passes
                else 'a limit that cannot be checked fails (set undefined = "pass" to let it pass)'
            ),
        )
    low = high = float(value)
    basis = "estimate"
    if limit.interval is IntervalRule.BOUND:
        if ci is not None and ci.ci_low is not None and ci.ci_high is not None:
            low, high = float(ci.ci_low), float(ci.ci_high)
            basis = "interval bound"
        else:
            basis = "estimate (no interval in the results)"
    problems = []
    if limit.max is not None and high > limit.max:
        shown = f"upper bound {high:.4g}" if basis == "interval bound" else f"{high:.4g}"
        problems.append(f"{shown} > {limit.max:g}")
    if limit.min is not None and low < limit.min:
        shown = f"lower bound {low:.4g}" if basis == "interval bound" else f"{low:.4g}"
        problems.append(f"{shown} < {limit.min:g}")
    if problems:
        detail = "; ".join(problems) + (
            f" (estimate {float(value):.4g})" if basis == "interval bound" else ""
        )
    else:
        detail = f"{float(value):.4g} holds"
    return Finding(limit, subject, float(value), basis, not problems, detail)


def check_limits(
    results: AuditResult, limits: Limits, *, results_name: str = "results"
) -> CheckReport:
    """Check every limit against an audit.

    Parameters
    ----------
    results : AuditResult
        The audit.
    limits : Limits
        From :func:`read_limits` or :func:`parse_limits`.
    results_name : str, default "results"
        How the report names the results.

    Returns
    -------
    CheckReport
        Every finding; ``exit_code`` is 1 when any failed.

    Raises
    ------
    UsageError
        When a limit names an operating point or a group the results do not have.

    """
    findings: list[Finding] = []
    for limit in limits.limits:
        index, point = _point(results, limit, limits.file, results_name)
        if limit.measure is not None:
            family, _, key = limit.measure.rpartition(".")
            measure: SummaryMeasure = getattr(
                getattr(point.summary, family) if family else point.summary, key
            )
            findings.append(
                _judge(
                    limit,
                    MEASURES[limit.measure],
                    measure.value,
                    measure.value_ci,
                    undefined_reason=measure.undefined_reason or "null in the results",
                    undefined_passes=limits.undefined_passes,
                )
            )
            continue
        assert limit.rate is not None
        rows: list[tuple[str, GroupOperatingPoint | RatePair]] = [
            (g.label, g) for g in point.groups
        ]
        if point.overall is not None:
            rows.append(("overall", point.overall))
        labels = [label for label, _ in rows]
        if limit.groups is not None:
            missing = [g for g in limit.groups if g not in labels]
            if missing:
                where = f", line {limit.line}" if limit.line else ""
                raise UsageError(
                    f"{limits.file}{where}: limit {limit.number} names the groups "
                    f"{', '.join(map(repr, missing))}, which {results_name} does not have "
                    f"at operating_points[{index}]; it has: {', '.join(labels) or 'none'}"
                )
            chosen = [(label, r) for label, r in rows if label in limit.groups]
        else:
            chosen = [(label, r) for label, r in rows if label != "overall"]
        for label, row in chosen:
            notes = row.notes if isinstance(row, GroupOperatingPoint) else []
            reason = "; ".join(notes) or "null in the results"
            value, ci = (row.fmr, row.fmr_ci) if limit.rate == "fmr" else (row.fnmr, row.fnmr_ci)
            findings.append(
                _judge(
                    limit,
                    f"group {label}",
                    value,
                    ci,
                    undefined_reason=reason,
                    undefined_passes=limits.undefined_passes,
                )
            )
    return CheckReport(
        limits_file=limits.file,
        results_name=results_name,
        findings=tuple(findings),
        n_limits=len(limits.limits),
    )
