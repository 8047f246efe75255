"""A slow, obviously correct reference implementation that the fast code is checked against.

Everything here works on plain Python lists with explicit loops, straight from the
definitions, and shares no code with :mod:`faceparity` (not even the sorting or the
similarity/distance negation), so that agreement between the two means something.

Definitions (ISO/IEC 19795-1): a comparison is declared a match when its similarity
score is ``>= t`` (a distance ``<= t``). FMR(t) is the proportion of non-mated
comparisons declared a match; FNMR(t) the proportion of mated comparisons not
declared a match.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

SIMILARITY = "similarity"
DISTANCE = "distance"


# --------------------------------------------------------------------------- rates


def is_match(score: float, t: float, kind: str = SIMILARITY) -> bool:
    """The decision rule, written out."""
    if kind == SIMILARITY:
        return score >= t
    if kind == DISTANCE:
        return score <= t
    raise ValueError(kind)


def ref_rates(
    mated: Iterable[float], non_mated: Iterable[float], t: float, kind: str = SIMILARITY
) -> tuple[float, float]:
    """(FMR, FNMR) at threshold ``t``, counted one comparison at a time; NaN when empty."""
    n_nm = 0
    false_matches = 0
    for s in non_mated:
        n_nm += 1
        if is_match(s, t, kind):
            false_matches += 1
    n_m = 0
    false_non_matches = 0
    for s in mated:
        n_m += 1
        if not is_match(s, t, kind):
            false_non_matches += 1
    fmr = false_matches / n_nm if n_nm else math.nan
    fnmr = false_non_matches / n_m if n_m else math.nan
    return fmr, fnmr


def ref_count_matches(scores: Iterable[float], t: float, kind: str = SIMILARITY) -> int:
    total = 0
    for s in scores:
        if is_match(s, t, kind):
            total += 1
    return total


def ref_max_false_matches(n: int, target: float) -> int:
    """Largest k in 0..n with ``k / n <= target`` (floating-point division), by scanning."""
    best = 0
    for k in range(n + 1):
        if k / n <= target:
            best = k
    return best


def ref_candidate_thresholds(scores: Iterable[float], kind: str = SIMILARITY) -> list[float]:
    """Every threshold at which the decisions can change: each distinct score, and the
    next float beyond it in the strict direction (just above it for similarities, just
    below it for distances). Ordered from the most permissive to the strictest."""
    found: set[float] = set()
    for s in scores:
        found.add(float(s))
        found.add(math.nextafter(float(s), math.inf if kind == SIMILARITY else -math.inf))
    if kind == SIMILARITY:
        return sorted(found)
    return sorted(found, reverse=True)


def ref_threshold_at_fmr(
    non_mated: Sequence[float], target: float, kind: str = SIMILARITY
) -> float:
    """The most permissive candidate threshold whose measured FMR is ``<= target``."""
    if not non_mated:
        raise ValueError("no non-mated scores")
    for t in ref_candidate_thresholds(non_mated, kind):
        fmr = ref_count_matches(non_mated, t, kind) / len(non_mated)
        if fmr <= target:
            return t
    raise AssertionError("the strictest candidate rejects every non-mated score")


def ref_det(
    mated: Sequence[float], non_mated: Sequence[float]
) -> tuple[list[float], list[float], list[float]]:
    """(thresholds, fmr, fnmr) at every distinct similarity score and one above the highest."""
    distinct = sorted(set(float(s) for s in [*mated, *non_mated]))
    thresholds = [*distinct, math.nextafter(distinct[-1], math.inf)]
    fmrs, fnmrs = [], []
    for t in thresholds:
        fmr, fnmr = ref_rates(mated, non_mated, t)
        fmrs.append(fmr)
        fnmrs.append(fnmr)
    return thresholds, fmrs, fnmrs


def ref_eer(mated: Sequence[float], non_mated: Sequence[float]) -> dict[str, float]:
    """Equal error rate as defined for FVC2000 (Maio et al., IEEE TPAMI 24(3), 2002, s. 3).

    Over the set S of candidate similarity thresholds:
    t1 = max{t in S : FNMR(t) <= FMR(t)}, t2 = min{t in S : FNMR(t) >= FMR(t)};
    [EER_low, EER_high] = [FNMR(t1), FMR(t1)] if FNMR(t1) + FMR(t1) <= FNMR(t2) + FMR(t2),
    else [FMR(t2), FNMR(t2)]; the EER is the midpoint.
    """
    thresholds, fmr, fnmr = ref_det(mated, non_mated)
    t1 = None
    for t in thresholds:
        f, fn = ref_rates(mated, non_mated, t)
        if fn <= f and (t1 is None or t > t1):
            t1 = t
    t2 = None
    for t in thresholds:
        f, fn = ref_rates(mated, non_mated, t)
        if fn >= f and (t2 is None or t < t2):
            t2 = t
    assert t1 is not None and t2 is not None
    fmr1, fnmr1 = ref_rates(mated, non_mated, t1)
    fmr2, fnmr2 = ref_rates(mated, non_mated, t2)
    if fnmr1 + fmr1 <= fnmr2 + fmr2:
        low, high, t = fnmr1, fmr1, t1
    else:
        low, high, t = fmr2, fnmr2, t2
    return {"eer": (low + high) / 2, "low": low, "high": high, "threshold": t}


# --------------------------------------------------------------------- differentials


def ref_gini(values: Sequence[float]) -> float:
    """Gini coefficient with the small-sample correction n / (n - 1), by a double loop.

    Howard et al., arXiv:2203.05051: G = n/(n-1) * sum_i sum_j |x_i - x_j| / (2 n^2 mean).
    """
    n = len(values)
    total_abs = 0.0
    for x in values:
        for y in values:
            total_abs += abs(x - y)
    mean = sum(values) / n
    return n / (n - 1) * total_abs / (2 * n * n * mean)


# ------------------------------------------------------------------------- the audit


def ref_side_group(attributes: dict[str, str | None], group_by: Sequence[str]) -> tuple | None:
    """The group of one side of a comparison, or None when a group-by attribute is missing."""
    values = []
    for name in group_by:
        value = attributes.get(name)
        if value is None:
            return None
        values.append(value)
    return tuple(values)


def ref_audit(
    comparisons: list[dict[str, Any]],
    *,
    group_by: Sequence[str],
    target: float,
    policy: str | tuple[str, tuple],
    scope: str,
    mated_rule: str,
    kind: str = SIMILARITY,
) -> dict[str, Any]:
    """Recompute an operating point of an audit from a plain list of comparisons.

    Each comparison is ``{"score", "mated", "attrs_a", "attrs_b"}``; attribute values of
    ``None`` are missing. ``policy`` is ``"global"``, ``"per-group"`` or
    ``("reference", group_tuple)``; ``scope`` is ``"matched"`` or ``"involving"``;
    ``mated_rule`` is ``"exclude"``, ``"first"`` or ``"second"``.

    Returns a dict: ``groups`` (ordered list of group tuples), ``threshold`` (None for
    per-group), ``per_group`` (list of dicts with the scores and counts), ``overall``,
    ``cells`` (keyed by (group_a, group_b) with a <= b) and ``exclusions``.
    """
    sides = []
    for c in comparisons:
        sides.append(
            (ref_side_group(c["attrs_a"], group_by), ref_side_group(c["attrs_b"], group_by))
        )
    present = set()
    for ga, gb in sides:
        if ga is not None:
            present.add(ga)
        if gb is not None:
            present.add(gb)
    groups = sorted(present)

    n_incomplete = 0
    n_disagree = 0
    mated_scores: dict[tuple, list[float]] = {g: [] for g in groups}
    non_mated_scores: dict[tuple, list[float]] = {g: [] for g in groups}
    cell_scores: dict[tuple[tuple, tuple], list[float]] = {}
    for i, a in enumerate(groups):
        for b in groups[i:]:
            cell_scores[(a, b)] = []
    all_mated: list[float] = []
    all_non_mated: list[float] = []

    for c, (ga, gb) in zip(comparisons, sides, strict=True):
        score = c["score"]
        if c["mated"]:
            all_mated.append(score)
        else:
            all_non_mated.append(score)
        if ga is None or gb is None:
            n_incomplete += 1
            continue
        if c["mated"]:
            if mated_rule == "first":
                mated_scores[ga].append(score)
            elif mated_rule == "second":
                mated_scores[gb].append(score)
            elif mated_rule == "exclude":
                if ga == gb:
                    mated_scores[ga].append(score)
                else:
                    n_disagree += 1
            else:
                raise ValueError(mated_rule)
        else:
            for g in groups:
                if scope == "matched":
                    counts = ga == g and gb == g
                elif scope == "involving":
                    counts = ga == g or gb == g
                else:
                    raise ValueError(scope)
                if counts:
                    non_mated_scores[g].append(score)
            for a, b in cell_scores:
                if (ga == a and gb == b) or (ga == b and gb == a):
                    cell_scores[(a, b)].append(score)

    if policy == "global":
        common = ref_threshold_at_fmr(all_non_mated, target, kind)
    elif policy == "per-group":
        common = None
    else:
        label, ref_group = policy
        assert label == "reference"
        # NISTIR 8280: set on the reference group's demographically matched non-mated
        # comparisons, whatever the scope the groups are read with.
        common = ref_threshold_at_fmr(cell_scores[(ref_group, ref_group)], target, kind)

    per_group = []
    for g in groups:
        m, nm = mated_scores[g], non_mated_scores[g]
        t = common
        if policy == "per-group":
            t = ref_threshold_at_fmr(nm, target, kind) if nm else None
        if t is None:
            fm = fnm = 0
            fmr = fnmr = None
        else:
            fm = ref_count_matches(nm, t, kind)
            fnm = len(m) - ref_count_matches(m, t, kind)
            fmr = fm / len(nm) if nm else None
            fnmr = fnm / len(m) if m else None
        per_group.append(
            {
                "group": g,
                "threshold": t,
                "mated": m,
                "non_mated": nm,
                "n_mated": len(m),
                "n_non_mated": len(nm),
                "n_false_matches": fm,
                "n_false_non_matches": fnm,
                "fmr": fmr,
                "fnmr": fnmr,
            }
        )

    overall = None
    cells: dict[tuple[tuple, tuple], dict[str, Any]] = {}
    if common is not None:
        fm = ref_count_matches(all_non_mated, common, kind)
        fnm = len(all_mated) - ref_count_matches(all_mated, common, kind)
        overall = {
            "n_mated": len(all_mated),
            "n_non_mated": len(all_non_mated),
            "n_false_matches": fm,
            "n_false_non_matches": fnm,
            "fmr": fm / len(all_non_mated) if all_non_mated else None,
            "fnmr": fnm / len(all_mated) if all_mated else None,
        }
        for key, scores in cell_scores.items():
            cfm = ref_count_matches(scores, common, kind)
            cells[key] = {
                "n_non_mated": len(scores),
                "n_false_matches": cfm,
                "fmr": cfm / len(scores) if scores else None,
            }

    return {
        "groups": groups,
        "threshold": common,
        "per_group": per_group,
        "overall": overall,
        "overall_scores": (all_mated, all_non_mated),
        "cells": cells,
        "exclusions": {"incomplete": n_incomplete, "disagree": n_disagree},
    }
