"""Summary measures of a demographic differential across groups.

Each takes the per-group rates at one operating point (one threshold policy) and
returns a :class:`Measure`: a value, or ``None`` with the reason it is undefined.
A zero rate is never turned into a silent ``inf`` or ``NaN``: ratio measures are
undefined when the smallest rate is zero (the ratio is unbounded), and the groups
responsible are named in the reason. Groups whose rate is itself undefined (no
comparisons) are left out of every measure, and the measure says how many it used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Measure",
    "fairness_discrepancy_rate",
    "garbe",
    "gini",
    "inequity_rate",
    "max_geomean_ratio",
    "max_min_ratio",
    "summarize",
]


@dataclass(frozen=True)
class Measure:
    """A summary measure: its value, or None and why not."""

    value: float | None
    n_groups: int
    undefined_reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        out: dict[str, object] = {"value": self.value, "n_groups": self.n_groups}
        if self.undefined_reason is not None:
            out["undefined_reason"] = self.undefined_reason
        return out


def _defined(rates: Mapping[str, float | None]) -> dict[str, float]:
    return {k: float(v) for k, v in rates.items() if v is not None and not math.isnan(v)}


def _needs_two(rates: dict[str, float]) -> Measure | None:
    if len(rates) < 2:
        return Measure(None, len(rates), "fewer than two groups have a defined rate")
    return None


def _zero_reason(rates: dict[str, float]) -> str | None:
    zeros = sorted(k for k, v in rates.items() if v == 0.0)
    if zeros:
        return (
            "unbounded: zero observed errors in "
            + "; ".join(zeros)
            + " (see the support of those rates)"
        )
    return None


def max_min_ratio(rates: Mapping[str, float | None]) -> Measure:
    """Ratio of the highest to the lowest group rate, ``max_g r_g / min_g r_g``.

    Source: NIST FRVT Part 3, NISTIR 8280 (Grother, Ngan, Hanaoka, 2019), which
    reports differentials as ratios of group FMRs.
    """
    r = _defined(rates)
    if (early := _needs_two(r)) is not None:
        return early
    if (reason := _zero_reason(r)) is not None:
        return Measure(None, len(r), reason)
    return Measure(max(r.values()) / min(r.values()), len(r))


def max_geomean_ratio(rates: Mapping[str, float | None]) -> Measure:
    """Highest group rate over the geometric mean of all group rates.

    ``max_g r_g / (prod_g r_g)^(1/G)``. Source: P. Grother, "Face Recognition Vendor
    Test (FRVT) Part 8: Summarizing Demographic Differentials", NISTIR 8429 (draft,
    2022), which prefers it to max/min because it depends on every group, not two.
    The geometric mean is zero when any rate is zero, so the ratio is then undefined.
    """
    r = _defined(rates)
    if (early := _needs_two(r)) is not None:
        return early
    if (reason := _zero_reason(r)) is not None:
        return Measure(None, len(r), reason)
    values = np.array(list(r.values()))
    geomean = float(np.exp(np.mean(np.log(values))))
    return Measure(float(values.max()) / geomean, len(r))


def gini(rates: Mapping[str, float | None]) -> Measure:
    """Gini coefficient of the group rates with the small-sample correction.

    ``G = n / (n - 1) * sum_i sum_j |r_i - r_j| / (2 n^2 mean(r))``, in [0, 1]: 0 when
    every group has the same rate, 1 when one group has all the errors. Source:
    J. J. Howard, E. J. Laird, R. E. Rubin, Y. B. Sirotin, J. L. Tipton, A. R. Vemury,
    "Evaluating Proposed Fairness Models for Face Recognition Algorithms",
    arXiv:2203.05051 (2022), the Gini term of GARBE.
    """
    r = _defined(rates)
    if (early := _needs_two(r)) is not None:
        return early
    values = np.array(list(r.values()))
    n = values.size
    mean = float(values.mean())
    if mean == 0.0:
        return Measure(None, n, "every group has zero observed errors")
    total = float(np.abs(values[:, None] - values[None, :]).sum())
    return Measure(n / (n - 1) * total / (2.0 * n * n * mean), n)


def garbe(
    fmr: Mapping[str, float | None], fnmr: Mapping[str, float | None], *, alpha: float
) -> Measure:
    """Gini Aggregation Rate for Biometric Equitability, ``alpha G(FMR) + (1-alpha) G(FNMR)``.

    Source: Howard et al. (2022), arXiv:2203.05051; also in ISO/IEC 19795-10.
    Lower is fairer; 0 means equal rates for every group.
    """
    g_fmr, g_fnmr = gini(fmr), gini(fnmr)
    for part, name in ((g_fmr, "FMR"), (g_fnmr, "FNMR")):
        if part.value is None:
            reason = f"Gini of {name} undefined: {part.undefined_reason}"
            return Measure(None, part.n_groups, reason)
    assert g_fmr.value is not None and g_fnmr.value is not None
    return Measure(
        alpha * g_fmr.value + (1.0 - alpha) * g_fnmr.value, min(g_fmr.n_groups, g_fnmr.n_groups)
    )


def fairness_discrepancy_rate(
    fmr: Mapping[str, float | None], fnmr: Mapping[str, float | None], *, alpha: float
) -> Measure:
    """Fairness Discrepancy Rate, ``1 - (alpha A + (1 - alpha) B)``.

    ``A = max_{i,j} |FMR_i - FMR_j|`` and ``B = max_{i,j} |FNMR_i - FNMR_j|`` at one
    threshold. 1 is perfectly fair. Source: T. de Freitas Pereira, S. Marcel,
    "Fairness in Biometrics: a figure of merit to assess biometric verification
    systems", IEEE T-BIOM 4(1), 2022 (arXiv:2011.02395).
    """
    a, b = _defined(fmr), _defined(fnmr)
    for part, name in ((a, "FMR"), (b, "FNMR")):
        if (early := _needs_two(part)) is not None:
            return Measure(None, early.n_groups, f"{name}: {early.undefined_reason}")
    spread_a = max(a.values()) - min(a.values())
    spread_b = max(b.values()) - min(b.values())
    return Measure(1.0 - (alpha * spread_a + (1.0 - alpha) * spread_b), min(len(a), len(b)))


def inequity_rate(
    fmr: Mapping[str, float | None], fnmr: Mapping[str, float | None], *, alpha: float
) -> Measure:
    """Inequity rate, ``(max FMR / min FMR)^alpha * (max FNMR / min FNMR)^(1 - alpha)``.

    1 means equal rates; it grows with the differential. Undefined when a minimum
    rate is zero. Sources: one of the two fairness measures proposed for ISO/IEC
    19795-10 that J. J. Howard et al. examine in "Evaluating Proposed Fairness Models
    for Face Recognition Algorithms", arXiv:2203.05051 (2022), alongside the FDR;
    the formula as stated by A. Elobaid et al., "Sum of Group Error Differences",
    arXiv:2404.15385 (2024), section II.
    """
    parts = []
    for rates, name in ((fmr, "FMR"), (fnmr, "FNMR")):
        ratio = max_min_ratio(rates)
        if ratio.value is None:
            return Measure(None, ratio.n_groups, f"{name} max/min {ratio.undefined_reason}")
        parts.append(ratio)
    value = parts[0].value ** alpha * parts[1].value ** (1.0 - alpha)  # type: ignore[operator]
    return Measure(float(value), min(p.n_groups for p in parts))


def summarize(
    fmr: Mapping[str, float | None],
    fnmr: Mapping[str, float | None],
    *,
    alpha: float,
) -> dict[str, dict[str, Measure] | Measure]:
    """Every summary measure at one operating point, keyed as in ``results.json``."""

    def per_rate(rates: Mapping[str, float | None]) -> dict[str, Measure]:
        return {
            "max_min": max_min_ratio(rates),
            "max_geomean": max_geomean_ratio(rates),
            "gini": gini(rates),
        }

    return {
        "fmr": per_rate(fmr),
        "fnmr": per_rate(fnmr),
        "garbe": garbe(fmr, fnmr, alpha=alpha),
        "fdr": fairness_discrepancy_rate(fmr, fnmr, alpha=alpha),
        "inequity_rate": inequity_rate(fmr, fnmr, alpha=alpha),
    }
