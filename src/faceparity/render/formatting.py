"""Numbers and names as people read them in reports (shared by every renderer).

Rates stay fractions in ``results.json``; here they become labelled percentages or
"1 in N" phrases. Every function returns plain text; escaping is the template's job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from faceparity.results.audit import OperatingPoint
from faceparity.results.common import Interval, Support

__all__ = [
    "SUMMARY_MEASURES",
    "describe_group",
    "describe_policy",
    "fmt_count",
    "fmt_interval",
    "fmt_number",
    "fmt_percent",
    "fmt_rate",
    "fmt_ratio",
    "one_in",
    "point_title",
    "support_text",
    "text_grid",
]

SUMMARY_MEASURES = (
    ("fmr", "max_min", "FMR max/min"),
    ("fmr", "max_geomean", "FMR max/geomean"),
    ("fmr", "gini", "FMR Gini"),
    ("fnmr", "max_min", "FNMR max/min"),
    ("fnmr", "max_geomean", "FNMR max/geomean"),
    ("fnmr", "gini", "FNMR Gini"),
    (None, "garbe", "GARBE"),
    (None, "fdr", "FDR"),
    (None, "inequity_rate", "inequity rate"),
)
"""The summary measures of an operating point: (rate or None, key, name for people)."""

NOT_AVAILABLE = "n/a"


def fmt_rate(value: float | None) -> str:
    """A rate as a fraction in scientific notation (``7.200e-04``), ``n/a`` when undefined."""
    return NOT_AVAILABLE if value is None else f"{value:.3e}"


def fmt_percent(value: float | None) -> str:
    """A rate as a labelled percentage with three significant digits (``0.0720%``)."""
    if value is None:
        return NOT_AVAILABLE
    if value == 0:
        return "0%"
    return f"{100 * value:.3g}%"


def fmt_ratio(value: float | None) -> str:
    """A ratio or summary measure: two decimals below 100, whole numbers above."""
    if value is None:
        return NOT_AVAILABLE
    return f"{value:.2f}" if abs(value) < 100 else f"{value:,.0f}"


def fmt_number(value: float | None) -> str:
    """A threshold or other real number, six significant digits."""
    return NOT_AVAILABLE if value is None else f"{value:.6g}"


def fmt_count(value: int | None) -> str:
    """A count with thousands separators."""
    return NOT_AVAILABLE if value is None else f"{value:,}"


def one_in(rate: float) -> str:
    """``1e-4`` as ``1 in 10,000``: the plain-words form of a target FMR."""
    if rate <= 0 or not math.isfinite(rate):
        return f"a rate of {rate:g}"
    return f"1 in {round(1.0 / rate):,}"


def fmt_interval(ci: Interval | None, fmt: Any = fmt_rate) -> str:
    """An interval as ``[low, high]``; ``""`` when absent."""
    if ci is None:
        return ""
    return f"[{fmt(ci.ci_low)}, {fmt(ci.ci_high)}]"


def support_text(support: Support | None) -> str:
    """The support flag of a rate in words; ``""`` when absent or sufficient."""
    if support is None or support.sufficient:
        return ""
    reason = support.reason or "too few comparisons for this rate"
    return f"not supported: {reason}"


def describe_group(attributes: Mapping[str, Any] | None, label: str) -> str:
    """``{"sex": "F", "ethnicity": "B"}`` as ``sex F, ethnicity B`` (the label when none)."""
    if not attributes:
        return label
    return ", ".join(f"{k} {v}" for k, v in attributes.items())


def describe_policy(policy: str) -> str:
    """What a threshold policy means, in words."""
    if policy == "global":
        return "one threshold set on all non-mated comparisons"
    if policy == "per-group":
        return "each group its own threshold, set on its own non-mated comparisons"
    if policy.startswith("reference:"):
        group = policy.removeprefix("reference:").replace("=", " ").replace(",", ", ")
        return f"one threshold set on the non-mated comparisons of the reference group {group}"
    return policy


def point_title(point: OperatingPoint) -> str:
    """``target FMR 0.0001, policy global`` (plus the threshold when there is one)."""
    text = f"target FMR {point.target_fmr:g}, policy {point.policy}"
    if point.threshold is not None:
        text += f", threshold {fmt_number(point.threshold)}"
    return text


def text_grid(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, left: frozenset[int] = frozenset()
) -> list[str]:
    """Lines of a plain-text table: a header, a rule, the rows.

    The first column and the columns in ``left`` (text) are aligned left, the others
    (numbers) right; trailing spaces are trimmed.

    Examples
    --------
    >>> for line in text_grid(["group", "n"], [["F", "12"], ["M", "3"]]):
    ...     print(line)
    group   n
    -----  --
    F      12
    M       3

    """
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 or i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
