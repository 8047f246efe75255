"""Failure-to-acquire and failure-to-enrol rates by group, with subject-level intervals.

Definitions (ISO/IEC 19795-1:2021, 4.3.2 and 4.3.3, applied per image):

- FTA, the failure-to-acquire rate: the share of a group's images from which no face
  was captured (unreadable, not an image, over a limit, no face found);
- FTE, the failure-to-enrol rate: the share of a group's images whose face was
  captured but gave no template (quality below a limit, no usable embedding).

Both are fractions of all the group's images, so ``FTA + FTE`` is the share without a
template. Images of one subject fail together more often than apart (the same face,
the same camera), so intervals come from a bootstrap over subjects: each replicate
weights every subject by a Poisson(1) draw (Hanley and MacGibbon 2006) and takes the
ratio of weighted failures to weighted images; the interval is the percentile
interval. A group with no failure gets the exact Clopper-Pearson upper bound on its
images instead (a zero is a bound, not a certainty), as rates elsewhere do.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.model.comparisons import MISSING
from faceparity.model.grouping import intersect
from faceparity.results.acquisition import (
    ACQUIRE,
    ENROL,
    AcquisitionGroup,
    AcquisitionResult,
    GeneralisedPoint,
    GeneralisedRow,
)
from faceparity.results.audit import AuditResult
from faceparity.results.common import Interval
from faceparity.uncertainty.binomial import clopper_pearson
from faceparity.uncertainty.bootstrap import percentile_interval

__all__ = ["acquisition_by_group", "generalised_fnmr", "with_acquisition"]


NOTES = [
    "FTA (failure to acquire) and FTE (failure to enrol) are shares of all the group's "
    "images (ISO/IEC 19795-1, per image): FTA counts images with no face captured, FTE "
    "images whose face gave no template; FTA + FTE is the share left out of the "
    "comparisons.",
    "The error rates of the audit are those of the enrolled images only; "
    "fnmr_with_failures at each operating point counts an image without a template as a "
    "false non-match (the generalised FNMR of ISO/IEC 19795-1).",
]
MSG_ZERO_ERRORS = "clopper-pearson (no failures seen: an exact upper bound, not a zero)"
MSG_BOOTSTRAP = "subject bootstrap (Poisson weights), percentile"


def generalised_fnmr(fnmr: float | None, fta: float | None, fte: float | None) -> float | None:
    """FNMR counting an image without a template as a false non-match.

    ISO/IEC 19795-1's generalised FNMR, ``FTE + (1 - FTE) FTA + (1 - FTE)(1 - FTA) FNMR``,
    with FTA and FTE shares of all images: ``f + (1 - f) FNMR`` for ``f = FTA + FTE``.

    Examples
    --------
    >>> generalised_fnmr(0.01, 0.05, 0.05)
    0.109
    >>> generalised_fnmr(None, 0.05, 0.0) is None
    True

    """
    if fnmr is None or fta is None or fte is None:
        return None
    failed = fta + fte
    return round(failed + (1.0 - failed) * fnmr, 15)


def acquisition_by_group(
    status: Sequence[str],
    reasons: Sequence[str],
    subject: npt.ArrayLike,
    codes: Mapping[str, npt.NDArray[np.int32]],
    levels: Mapping[str, tuple[str, ...]],
    group_by: Sequence[str],
    *,
    pipeline: Mapping[str, Any] | None = None,
    level: float = 0.95,
    replicates: int = 1000,
    seed: int = 0,
    intervals: bool = True,
) -> AcquisitionResult:
    """FTA and FTE per group of ``group_by``, with intervals and reasons.

    Parameters
    ----------
    status : sequence of str
        Each image's outcome: ``enrolled``, ``failure_to_acquire`` or ``failure_to_enrol``.
    reasons : sequence of str
        Each image's failure reason ("" when enrolled).
    subject : array-like
        Each image's subject id.
    codes, levels : mappings
        Per attribute, each image's code (``MISSING`` when absent) and the levels.
    group_by : sequence of str
        The attributes whose intersection makes the groups.
    pipeline : mapping, optional
        The pipeline's description, carried into the result.
    level : float
        Coverage of the intervals.
    replicates : int
        Bootstrap replicates (0: Clopper-Pearson intervals on images instead).
    intervals : bool
        False: no intervals at all (``--intervals none``).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    AcquisitionResult

    """
    state = np.asarray(status, dtype=object)
    acquire = np.asarray(state == ACQUIRE, dtype=bool)
    enrol = np.asarray(state == ENROL, dtype=bool)
    _, subject_codes = np.unique(np.asarray(subject, dtype=str), return_inverse=True)
    groups, index = intersect(codes, levels, group_by)
    seeds = iter(np.random.SeedSequence(seed).spawn(len(groups) + 1))

    def summary(
        mask: npt.NDArray[np.bool_], attributes: dict[str, str], label: str
    ) -> AcquisitionGroup:
        n = int(mask.sum())
        n_acq, n_enr = int(acquire[mask].sum()), int(enrol[mask].sum())
        members = subject_codes[mask]
        seed_of_group = next(seeds)
        cis = (
            _intervals(
                members,
                acquire[mask],
                enrol[mask],
                level=level,
                replicates=replicates,
                seed=seed_of_group,
            )
            if intervals
            else (None, None)
        )
        return AcquisitionGroup(
            attributes=attributes,
            label=label,
            n_images=n,
            n_subjects=int(len(np.unique(members))),
            n_enrolled=n - n_acq - n_enr,
            n_failure_to_acquire=n_acq,
            n_failure_to_enrol=n_enr,
            fta=n_acq / n if n else None,
            fte=n_enr / n if n else None,
            reasons=dict(
                sorted(Counter(r for r, m in zip(reasons, mask, strict=True) if m and r).items())
            ),
            fta_ci=cis[0],
            fte_ci=cis[1],
        )

    everyone = np.ones(len(state), dtype=bool)
    overall = summary(everyone, {}, "overall")
    per_group = [
        summary(np.asarray(index == g, dtype=bool), group.as_dict(), group.label)
        for g, group in enumerate(groups)
    ]
    return AcquisitionResult(
        overall=overall,
        groups=per_group,
        n_ungrouped=int((index == MISSING).sum()),
        pipeline=dict(pipeline or {}),
        notes=list(NOTES),
    )


def _intervals(
    members: npt.NDArray[np.intp],
    acquire: npt.NDArray[np.bool_],
    enrol: npt.NDArray[np.bool_],
    *,
    level: float,
    replicates: int,
    seed: np.random.SeedSequence,
) -> tuple[Interval | None, Interval | None]:
    """Intervals of FTA and FTE of one group's images (``members``: their subjects)."""
    n = len(members)
    if n == 0:
        return None, None
    _, local = np.unique(members, return_inverse=True)
    per_subject_images = np.bincount(local).astype(np.float64)
    out: list[Interval | None] = []
    for failed in (acquire, enrol):
        k = int(failed.sum())
        if k == 0 or replicates == 0:
            low, high = clopper_pearson(k, n, level)
            method = MSG_ZERO_ERRORS if k == 0 else "clopper-pearson (images)"
            out.append(Interval(ci_low=float(low), ci_high=float(high), method=method))
            continue
        per_subject_failed = np.bincount(local, weights=failed.astype(np.float64))
        rng = np.random.default_rng(seed)
        values = np.empty(replicates)
        step = max(1, 4_000_000 // max(len(per_subject_images), 1))
        for start in range(0, replicates, step):
            w = rng.poisson(1.0, size=(min(step, replicates - start), len(per_subject_images)))
            images = w @ per_subject_images
            with np.errstate(invalid="ignore", divide="ignore"):
                values[start : start + len(w)] = (w @ per_subject_failed) / images
        ci_low, ci_high, computed = percentile_interval(values, level)
        out.append(
            Interval(ci_low=ci_low, ci_high=ci_high, method=MSG_BOOTSTRAP, replicates=computed)
        )
    return out[0], out[1]


def with_acquisition(result: AuditResult, acquisition: AcquisitionResult) -> AuditResult:
    """The audit's result with its ``acquisition`` section, the generalised FNMRs filled in.

    For each operating point, overall and for each group of the acquisition section, the
    FNMR of the enrolled images and :func:`generalised_fnmr` with the group's FTA and
    FTE. A group none of whose images was enrolled has no FNMR but a generalised FNMR
    of 1: every transaction of its members fails. Acquisition groups that are not groups
    of the 1:1 audit (none, unless the two were grouped by different attributes) are
    left out, and with no group left, the overall row too.
    """
    points = []
    for point in result.operating_points:
        fnmr = {group.label: group.fnmr for group in point.groups}
        rows = [
            _generalised_row(g.label, fnmr.get(g.label), g)
            for g in acquisition.groups
            if g.label in fnmr or (g.n_images and g.n_enrolled == 0)
        ]
        if rows:
            overall = None if point.overall is None else point.overall.fnmr
            rows.insert(0, _generalised_row("overall", overall, acquisition.overall))
        points.append(
            GeneralisedPoint(target_fmr=point.target_fmr, policy=point.policy, groups=rows)
        )
    filled = dataclasses.replace(acquisition, fnmr_with_failures=points)
    return dataclasses.replace(result, acquisition=filled)


def _generalised_row(label: str, fnmr: float | None, counts: AcquisitionGroup) -> GeneralisedRow:
    """One row of ``fnmr_with_failures``."""
    if counts.n_images and counts.n_enrolled == 0:
        return GeneralisedRow(label=label, fnmr=None, fnmr_with_failures=1.0)
    return GeneralisedRow(
        label=label, fnmr=fnmr, fnmr_with_failures=generalised_fnmr(fnmr, counts.fta, counts.fte)
    )
