"""Metrics: exact 1:1 error rates, curves and summary measures of a differential."""

from faceparity.metrics.differentials import (
    Measure,
    fairness_discrepancy_rate,
    garbe,
    gini,
    inequity_rate,
    max_geomean_ratio,
    max_min_ratio,
    summarize,
)
from faceparity.metrics.distribution import HistogramScores
from faceparity.metrics.rates import (
    DetCurve,
    EqualErrorRate,
    SortedScores,
    det_curve,
    equal_error_rate,
    fmr_fnmr,
    fnmr_at_fmr,
    max_false_matches,
    threshold_at_fmr,
)

__all__ = [
    # rates and curves
    "DetCurve",
    "HistogramScores",
    "EqualErrorRate",
    "SortedScores",
    "det_curve",
    "equal_error_rate",
    "fmr_fnmr",
    "fnmr_at_fmr",
    "max_false_matches",
    "threshold_at_fmr",
    # summary measures of a differential
    "Measure",
    "fairness_discrepancy_rate",
    "garbe",
    "gini",
    "inequity_rate",
    "max_geomean_ratio",
    "max_min_ratio",
    "summarize",
]
