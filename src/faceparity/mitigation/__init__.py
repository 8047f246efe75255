"""Post-hoc mitigation of demographic differentials, with an honest before and after.

Methods (:mod:`.methods`, :mod:`.clusters`) are fitted on some subjects and applied to
others (:mod:`.folds`, :mod:`.evaluate`); the audit then runs on the held-out scores
and :mod:`.summary` says who gained and who lost. :mod:`.worst_group` finds the single
threshold that keeps every group's FMR at or below a target.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceparity.errors import InputError, UsageError
from faceparity.mitigation.clusters import FSN, FairCal, TNorm
from faceparity.mitigation.data import MitigationData
from faceparity.mitigation.evaluate import HeldOut, cross_validate, fit_all, held_out_comparisons
from faceparity.mitigation.folds import FOLD_RULE, folds_from_attribute, split_folds, subject_folds
from faceparity.mitigation.methods import (
    BetaOracle,
    FitSet,
    GlobalCalibration,
    Method,
    Oracle,
    PerGroupThresholds,
    ZNorm,
)
from faceparity.mitigation.worst_group import worst_group_thresholds
from faceparity.results.mitigation import ContextTail, MitigationParameters

FloatArray = npt.NDArray[np.float64]

_REQUIRED: dict[str, tuple[str, ...]] = {
    "global-calibration": ("global_beta",),
    "per-group-thresholds": ("global_threshold", "shifts"),
    "z-norm": ("stats",),
    "t-norm": ("cohort",),
    "fsn": ("centroids", "global_threshold", "shifts"),
    "faircal": ("centroids", "global_beta", "calibrations"),
    "oracle": ("global_tail", "tails"),
    "oracle-beta": ("global_beta", "calibrations"),
}
"""The fields each method's parameters must hold."""

__all__ = [
    "FOLD_RULE",
    "FSN",
    "METHOD_NAMES",
    "BetaOracle",
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
    "apply_parameters",
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
    "oracle-beta",
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
    if name == "oracle-beta":
        return BetaOracle()
    raise ValueError(f"method: expected one of {', '.join(METHOD_NAMES)}, got {name!r}")


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, list | dict) and not value)


def _tails(parameters: MitigationParameters) -> list[tuple[str, ContextTail]]:
    out = [] if parameters.global_tail is None else [("global_tail", parameters.global_tail)]
    return out + [(f"tails[{i}]", t) for i, t in enumerate(parameters.tails or [])]


def apply_parameters(parameters: MitigationParameters, data: MitigationData) -> FloatArray:
    """The new similarity scores of every comparison of ``data`` under fitted ``parameters``.

    Raises
    ------
    UsageError
        When the parameters were fitted on other groups than ``data``'s, or need the
        templates that ``data`` lacks.

    """
    if parameters.method not in METHOD_NAMES:
        raise InputError(
            f"parameters of an unknown method {parameters.method!r}; expected one of "
            + ", ".join(METHOD_NAMES)
        )
    missing = [f for f in _REQUIRED[parameters.method] if _empty(getattr(parameters, f))]
    if missing:
        raise InputError(
            f"parameters of {parameters.method}: expected {', '.join(missing)}, got none"
        )
    for name, tail in _tails(parameters):
        x, z = tail.scores, tail.neg_log_fmr
        if x is None or z is None:
            continue
        if len(x) < 2 or len(x) != len(z) or np.any(np.diff(x) <= 0) or np.any(np.diff(z) <= 0):
            raise InputError(
                f"parameters of {parameters.method}: {name}: expected knots of increasing "
                "scores and increasing neg_log_fmr, of one length (at least 2)"
            )
    if list(data.grouping.group_by) != parameters.group_by:
        raise UsageError(
            f"the parameters were fitted with groups {', '.join(parameters.group_by)}; "
            f"the comparisons are grouped by {', '.join(data.grouping.group_by)}"
        )
    method = make_method(parameters.method)
    why = method.unavailable(data)
    if why is not None:
        raise UsageError(why)
    vectors = [*(parameters.centroids or [])]
    vectors += [v for cohort in (parameters.cohort or {}).values() for v in cohort]
    if data.templates is not None and any(len(v) != data.templates.shape[1] for v in vectors):
        raise InputError(
            f"parameters of {parameters.method}: their vectors are not of the templates' "
            f"dimension {data.templates.shape[1]}"
        )
    return method.apply(parameters, data, np.ones(len(data.comparisons), dtype=bool))
