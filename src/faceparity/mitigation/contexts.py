"""Per-context fits shared by the methods: thresholds, statistics and calibrations.

A *context* is a group (known from labels) or a cluster (found by k-means on the
templates). Each side of each comparison has one (or ``-1`` where unknown); the methods
fit something per context on the training comparisons and combine the two sides'
contexts at apply time, the same way for groups and clusters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from faceparity.metrics.rates import SortedScores, max_false_matches
from faceparity.mitigation.calibration import apply_beta, fit_beta, log_sigmoid
from faceparity.results.mitigation import BetaMap, ContextCalibration, ContextShift, ContextStats

__all__ = [
    "MIN_CALIBRATION",
    "by_context",
    "calibrate_contexts",
    "combine_calibrated",
    "context_stats",
    "each_side",
    "log_shares",
    "shift_contexts",
    "shifted",
    "threshold_at",
    "znormed",
]

FloatArray = npt.NDArray[np.float64]
M = TypeVar("M")
Codes = npt.NDArray[np.integer]

MIN_CALIBRATION = 10
"""Fewest mated and fewest non-mated comparisons a context needs for its own calibration
(else it falls back to the global calibration, and the parameters say so)."""


def by_context(
    codes: Codes,
    values: FloatArray,
    n_contexts: int,
    *,
    involving: bool,
    mated: npt.NDArray[np.bool_] | None = None,
) -> list[tuple[FloatArray, npt.NDArray[np.bool_]]]:
    """Each context's values (and labels): of comparisons involving it, or matched in it.

    ``involving``: a comparison counts for each of its two contexts (once when both are
    the same); else only for the context of both sides when they agree.
    """
    a, b = codes[:, 0].astype(np.int64), codes[:, 1].astype(np.int64)
    labels = np.zeros(len(values), dtype=bool) if mated is None else np.asarray(mated, dtype=bool)
    if involving:
        other = a != b
        key = np.concatenate([a, b[other]])
        vals = np.concatenate([values, values[other]])
        labs = np.concatenate([labels, labels[other]])
    else:
        same = a == b
        key, vals, labs = a[same], values[same], labels[same]
    keep = key >= 0
    key, vals, labs = key[keep], vals[keep], labs[keep]
    order = np.argsort(key, kind="stable")
    bounds = np.zeros(n_contexts + 1, dtype=np.int64)
    np.cumsum(np.bincount(key, minlength=n_contexts)[:n_contexts], out=bounds[1:])
    vals, labs = vals[order], labs[order]
    return [
        (vals[bounds[c] : bounds[c + 1]], labs[bounds[c] : bounds[c + 1]])
        for c in range(n_contexts)
    ]


def threshold_at(non_mated: FloatArray, fmr: float) -> float | None:
    """The audit's threshold for ``fmr`` on ``non_mated``; None below one false match."""
    if not len(non_mated) or max_false_matches(len(non_mated), fmr) == 0:
        return None
    return float(SortedScores(non_mated).threshold_at_fmr(fmr))


def shift_contexts(
    scores: FloatArray,
    mated: npt.NDArray[np.bool_],
    codes: Codes,
    names: Sequence[str],
    fit_fmr: float,
    *,
    involving: bool,
) -> tuple[float, list[ContextShift]]:
    """The global threshold at ``fit_fmr`` and each context's, on non-mated comparisons."""
    nm = ~mated
    global_t = threshold_at(scores[nm], fit_fmr)
    if global_t is None:
        raise ValueError(f"too few non-mated comparisons to fit a threshold at FMR {fit_fmr:g}")
    parts = by_context(codes[nm], scores[nm], len(names), involving=involving)
    shifts = [
        ContextShift(name, threshold_at(values, fit_fmr), len(values))
        for name, (values, _) in zip(names, parts, strict=True)
    ]
    return global_t, shifts


def shifted(
    scores: FloatArray, codes: Codes, global_t: float, shifts: Sequence[ContextShift]
) -> FloatArray:
    """``s - (d_a + d_b) / 2``, ``d`` = a context's threshold minus the global one (0 if none)."""
    delta = np.array(
        [0.0 if c.threshold is None else c.threshold - global_t for c in shifts] + [0.0]
    )
    a, b = codes[:, 0], codes[:, 1]
    out: FloatArray = scores - 0.5 * (delta[a] + delta[b])  # -1 reads the trailing 0
    return out


def context_stats(
    scores: FloatArray, mated: npt.NDArray[np.bool_], codes: Codes, names: Sequence[str]
) -> tuple[ContextStats, list[ContextStats]]:
    """Mean and standard deviation of the demographically matched non-mated scores per context."""
    nm = ~mated
    pooled = scores[nm]
    overall = ContextStats("overall", float(pooled.mean()), float(pooled.std()), len(pooled))
    out = []
    for name, (values, _) in zip(
        names, by_context(codes[nm], pooled, len(names), involving=False), strict=True
    ):
        if len(values) >= 2 and values.std() > 0:
            out.append(ContextStats(name, float(values.mean()), float(values.std()), len(values)))
        else:
            out.append(ContextStats(name, overall.mean, overall.std, len(values)))
    return overall, out


def znormed(
    scores: FloatArray, codes: Codes, overall: ContextStats, stats: Sequence[ContextStats]
) -> FloatArray:
    """``((s - m_a) / sd_a + (s - m_b) / sd_b) / 2`` with each side's context statistics."""
    mean = np.array([c.mean for c in stats] + [overall.mean])
    std = np.array([c.std for c in stats] + [overall.std])
    std[std <= 0] = 1.0
    a, b = codes[:, 0], codes[:, 1]
    out: FloatArray = 0.5 * ((scores - mean[a]) / std[a] + (scores - mean[b]) / std[b])
    return out


def calibrate_contexts(
    scores: FloatArray,
    mated: npt.NDArray[np.bool_],
    codes: Codes,
    names: Sequence[str],
    *,
    involving: bool,
) -> tuple[BetaMap, list[ContextCalibration]]:
    """A global beta calibration and one per context (comparisons involving it, or in it)."""
    global_beta = fit_beta(scores, mated)
    out = []
    parts = by_context(codes, scores, len(names), involving=involving, mated=mated)
    for name, (values, labels) in zip(names, parts, strict=True):
        n_mated = int(labels.sum())
        enough = min(n_mated, len(labels) - n_mated) >= MIN_CALIBRATION
        out.append(
            ContextCalibration(name, fit_beta(values, labels) if enough else None, len(values))
        )
    return global_beta, out


def each_side(
    scores: FloatArray,
    codes: Codes,
    maps: Sequence[M],
    apply: Callable[[M, FloatArray], FloatArray],
) -> tuple[FloatArray, FloatArray]:
    """``apply(maps[c], s)`` for each side of each comparison, ``c`` that side's context.

    ``codes`` (n, 2) index ``maps``; a side without a context (code -1) reads the last map.
    """
    out = (np.empty(len(scores)), np.empty(len(scores)))
    for c, fitted in enumerate(maps):
        key = c if c < len(maps) - 1 else -1
        for side in (0, 1):
            rows = codes[:, side] == key if key >= 0 else codes[:, side] < 0
            if np.any(rows):
                out[side][rows] = apply(fitted, scores[rows])
    return out


def log_shares(codes: Codes, counts: Sequence[float]) -> tuple[FloatArray, FloatArray]:
    """``ln theta`` and ``ln (1 - theta)`` of each comparison (FairCal, Salvador et al. 2022).

    ``theta`` is the share of side a's context in the two contexts' ``counts`` (1/2 where
    both are 0; a side without a context, code -1, counts 0).
    """
    weight = np.array([*counts, 0.0])
    na, nb = weight[codes[:, 0].astype(np.int64)], weight[codes[:, 1].astype(np.int64)]
    total = na + nb
    theta = np.where(total > 0, na / np.where(total > 0, total, 1.0), 0.5)
    with np.errstate(divide="ignore"):
        return np.log(theta), np.log1p(-theta)


def combine_calibrated(
    scores: FloatArray,
    codes: Codes,
    global_beta: BetaMap,
    calibrations: Sequence[ContextCalibration],
) -> FloatArray:
    """Log-odds of ``theta p_a + (1 - theta) p_b`` (FairCal's combination of two contexts).

    ``p_a``, ``p_b``: each side's context calibration (the global one where it has none);
    ``theta``: the share of side a's context in the two contexts' training comparisons.
    """
    maps = [c.beta or global_beta for c in calibrations] + [global_beta]
    la, lb = each_side(scores, codes, maps, apply_beta)
    lt, l1t = log_shares(codes, [float(c.n_comparisons) for c in calibrations])
    log_p = np.logaddexp(lt + log_sigmoid(la), l1t + log_sigmoid(lb))
    log_q = np.logaddexp(lt + log_sigmoid(-la), l1t + log_sigmoid(-lb))
    out_scores: FloatArray = log_p - log_q
    return out_scores
