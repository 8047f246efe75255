"""Post-hoc mitigation of demographic differentials, with an honest before and after.

Methods (:mod:`.methods`, :mod:`.clusters`) are fitted on some subjects and applied to
others (:mod:`.folds`, :mod:`.evaluate`); the audit then runs on the held-out scores
and :mod:`.summary` says who gained and who lost. :mod:`.worst_group` finds the single
threshold that keeps every group's FMR at or below a target.
"""

from __future__ import annotations

from faceparity.mitigation.clusters import FSN, FairCal, TNorm
from faceparity.mitigation.data import MitigationData
from faceparity.mitigation.evaluate import HeldOut, cross_validate, fit_all, held_out_comparisons
from faceparity.mitigation.folds import FOLD_RULE, folds_from_attribute, split_folds, subject_folds
from faceparity.mitigation.methods import (
    FitSet,
    GlobalCalibration,
    Method,
    Oracle,
    PerGroupThresholds,
    ZNorm,
)
from faceparity.mitigation.worst_group import worst_group_thresholds

__all__ = [
    "FOLD_RULE",
    "FSN",
    "METHOD_NAMES",
    "FairCal",
    "FitSet",
    "GlobalCalibration",
    "HeldOut",
    "Method",
    "MitigationData",
    "Oracle",
    "PerGroupThresholds",
    "TNorm",
    "ZNorm",
    "cross_validate",
    "fit_all",
    "folds_from_attribute",
    "held_out_comparisons",
    "make_method",
    "split_folds",
    "subject_folds",
    "worst_group_thresholds",
]

METHOD_NAMES: tuple[str, ...] = (
    "global-calibration",
    "per-group-thresholds",
    "z-norm",
    "t-norm",
    "fsn",
    "faircal",
    "oracle",
)
"""Every method, in the order reports list them."""


def make_method(
    name: str, *, fit_fmr: float = 1e-3, clusters: int = 100, cohort_size: int = 100
) -> Method:
    """The method called ``name`` with its options (those it does not take are ignored)."""
    if name == "global-calibration":
        return GlobalCalibration()
    if name == "per-group-thresholds":
        return PerGroupThresholds(fit_fmr=fit_fmr)
    if name == "z-norm":
        return ZNorm()
    if name == "t-norm":
        return TNorm(cohort_size=cohort_size)
    if name == "fsn":
        return FSN(fit_fmr=fit_fmr, clusters=clusters)
    if name == "faircal":
        return FairCal(clusters=clusters)
    if name == "oracle":
        return Oracle()
    raise ValueError(f"method: expected one of {', '.join(METHOD_NAMES)}, got {name!r}")
