"""Error events at an operating point, one row per comparison, ready for a regression.

At the global threshold that the audit's rule sets for a target FMR (the most permissive
threshold whose FMR over every non-mated comparison does not exceed the target,
:func:`~faceparity.metrics.rates.threshold_at_fmr`), each mated comparison is a false
non-match or not, each non-mated comparison a false match or not. The demographic
factors are the group-by attributes: a comparison enters when both its sides carry the
same, known value of every factor (the audit's ``matched`` scope for non-mated pairs and
``exclude`` rule for mated ones); the rest are counted, never dropped silently.

Numeric covariates given per comparison enter as they are; given per side (age, image
quality), they enter as the mean of the two sides, and on request also as the absolute
difference of the sides (``NAME_gap``: the age gap of the two captures). A comparison
with a covariate missing is left out of the regression and counted.

Non-mated comparisons beyond ``max_non_mated`` are subsampled: a uniform random
sample of exactly ``max_non_mated`` of them, drawn with the seed. Every comparison has
the same chance of being kept, so every kept comparison carries the same weight (the
inverse of the sampling fraction), the weighted and unweighted fits coincide, and the
estimates stay unbiased for the full set; the intervals are those of the sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.metrics.rates import threshold_at_fmr
from faceparity.model.comparisons import MISSING, ComparisonSet, Exclusion
from faceparity.model.config import ScoreKind

__all__ = [
    "DEFAULT_MAX_NON_MATED",
    "EventTable",
    "ErrorEvents",
    "error_events",
]

DEFAULT_MAX_NON_MATED = 1_000_000
"""Non-mated comparisons regressed at most (a uniform random sample beyond)."""

FALSE_NON_MATCH = "false_non_match"
FALSE_MATCH = "false_match"


@dataclass(frozen=True)
class EventTable:
    """The comparisons of one kind, their error event and what explains it.

    Attributes
    ----------
    event : str
        ``false_non_match`` (mated comparisons) or ``false_match`` (non-mated).
    outcome : ndarray of bool, shape (n,)
        Whether the comparison is an error at the threshold.
    factors : mapping of str to (ndarray of int, tuple of str)
        Codes into levels of each demographic factor; level 0 is the reference.
    numeric : mapping of str to ndarray of float64, shape (n,)
        The numeric covariates.
    clusters : ndarray of int64, shape (n,) or (n, 2)
        The subject of each mated comparison; the two subjects of each non-mated one
        (lower code first).
    n_comparisons : int
        Comparisons of this kind before any was left out.
    exclusions : tuple of Exclusion
        What was left out, and why.
    sampling : str or None
        The subsampling, in words, when there was one.

    """

    event: str
    outcome: npt.NDArray[np.bool_]
    factors: Mapping[str, tuple[npt.NDArray[np.int64], tuple[str, ...]]]
    numeric: Mapping[str, npt.NDArray[np.float64]]
    clusters: npt.NDArray[np.int64]
    n_comparisons: int
    exclusions: tuple[Exclusion, ...] = ()
    sampling: str | None = None

    def __len__(self) -> int:
        return int(self.outcome.shape[0])


@dataclass(frozen=True)
class ErrorEvents:
    """Both event tables at one operating point."""

    target_fmr: float
    threshold: float
    score_kind: ScoreKind
    false_non_match: EventTable
    false_match: EventTable


def _same_level(
    codes: npt.NDArray[np.int32],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Rows whose two sides carry the same known level; rows with a side missing."""
    missing = (codes[:, 0] == MISSING) | (codes[:, 1] == MISSING)
    return (codes[:, 0] == codes[:, 1]) & ~missing, missing


def _reference_order(
    name: str, levels: tuple[str, ...], present: npt.NDArray[np.int64], reference: str | None
) -> tuple[npt.NDArray[np.int64], tuple[str, ...]]:
    """Codes re-mapped so that the reference is level 0, levels absent from the rows dropped."""
    if reference is not None and reference not in levels:
        raise UsageError(
            f"--reference {name}={reference}: expected a value of {name!r} among "
            f"{', '.join(levels)}"
        )
    seen = sorted(set(np.unique(present).tolist()))
    order = [levels[c] for c in seen]
    ref = reference if reference is not None else (order[0] if order else None)
    if ref is not None and ref in order:
        order.remove(ref)
        order.insert(0, ref)
    lookup = np.full(len(levels), -1, dtype=np.int64)
    for new, level in enumerate(order):
        lookup[levels.index(level)] = new
    return lookup[present], tuple(order)


def _table(
    event: str,
    rows: npt.NDArray[np.bool_],
    outcome: npt.NDArray[np.bool_],
    comparisons: ComparisonSet,
    numeric: Mapping[str, npt.NDArray[np.float64]],
    *,
    group_by: Sequence[str],
    reference: Mapping[str, str],
    max_rows: int | None,
    seed: int,
) -> EventTable:
    n_kind = int(rows.sum())
    keep = rows.copy()
    exclusions: list[Exclusion] = []
    what = "mated" if event == FALSE_NON_MATCH else "non-mated"
    for name in group_by:
        same, missing = _same_level(np.asarray(comparisons.attributes[name]))
        lost_missing = int((keep & missing).sum())
        lost_cross = int((keep & ~missing & ~same).sum())
        if lost_missing:
            exclusions.append(
                Exclusion(f"{what} comparisons with {name} missing on a side", lost_missing)
            )
        if lost_cross:
            exclusions.append(
                Exclusion(f"{what} comparisons whose two sides differ in {name}", lost_cross)
            )
        keep &= same
    for name, values in numeric.items():
        lost = int((keep & ~np.isfinite(values)).sum())
        if lost:
            exclusions.append(Exclusion(f"{what} comparisons with {name} missing", lost))
        keep &= np.isfinite(values)
    index = np.flatnonzero(keep)
    sampling = None
    if max_rows is not None and index.size > max_rows:
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(index.size, size=max_rows, replace=False))
        sampling = (
            f"a uniform random sample of {max_rows:,} of the {index.size:,} {what} "
            f"comparisons (seed {seed}); each kept comparison weighs {index.size / max_rows:.4g}, "
            "the same for all, so the fit is that of the sample"
        )
        index = index[chosen]
    factors = {}
    for name in group_by:
        codes = np.asarray(comparisons.attributes[name])[index, 0].astype(np.int64)
        factors[name] = _reference_order(
            name, tuple(comparisons.levels[name]), codes, reference.get(name)
        )
    subjects = comparisons.subject[index]
    clusters = subjects[:, 0].copy() if event == FALSE_NON_MATCH else np.sort(subjects, axis=1)
    return EventTable(
        event=event,
        outcome=outcome[index],
        factors=factors,
        numeric={name: values[index] for name, values in numeric.items()},
        clusters=clusters,
        n_comparisons=n_kind,
        exclusions=tuple(exclusions),
        sampling=sampling,
    )


def _numeric(
    covariates: Mapping[str, npt.NDArray[np.float64]], gaps: Sequence[str], n: int
) -> dict[str, npt.NDArray[np.float64]]:
    out: dict[str, npt.NDArray[np.float64]] = {}
    for name in gaps:
        if name not in covariates or covariates[name].ndim != 2:
            raise UsageError(f"--gap {name}: expected a covariate given per side (NAME=COL1,COL2)")
    for name, values in covariates.items():
        values = np.asarray(values, dtype=np.float64)
        if values.shape not in ((n,), (n, 2)):
            raise ValueError(f"covariate {name!r}: expected shape ({n},) or ({n}, 2)")
        if values.ndim == 1:
            out[name] = values
            continue
        out[name] = values.mean(axis=1)
        if name in gaps:
            out[f"{name}_gap"] = np.abs(values[:, 0] - values[:, 1])
    return out


def error_events(
    comparisons: ComparisonSet,
    *,
    target_fmr: float,
    group_by: Sequence[str],
    covariates: Mapping[str, npt.NDArray[np.float64]] | None = None,
    gaps: Sequence[str] = (),
    reference: Mapping[str, str] | None = None,
    max_non_mated: int | None = DEFAULT_MAX_NON_MATED,
    seed: int = 0,
) -> ErrorEvents:
    """False non-matches and false matches at the global threshold of a target FMR.

    Parameters
    ----------
    comparisons : ComparisonSet
        The comparisons, with the group-by attributes.
    target_fmr : float
        The target FMR, in (0, 1); the threshold is set on every non-mated comparison.
    group_by : sequence of str
        The demographic factors (attributes of ``comparisons``).
    covariates : mapping of str to ndarray of float64, optional
        Numeric covariates, rows aligned with ``comparisons``: shape (n,) per
        comparison, (n, 2) per side; NaN where missing.
    gaps : sequence of str
        Per-side covariates whose absolute side difference also enters (``NAME_gap``).
    reference : mapping of str to str, optional
        The reference level of a factor (default: its first level present).
    max_non_mated : int or None
        Non-mated comparisons kept at most (a uniform random sample beyond); None for all.
    seed : int
        Seed of that sample.

    Returns
    -------
    ErrorEvents
        The threshold and the two event tables.

    Raises
    ------
    UsageError
        When a group-by attribute or a reference level is unknown, or there are no
        non-mated comparisons to set the threshold on.

    """
    unknown = [name for name in group_by if name not in comparisons.attributes]
    if unknown:
        raise UsageError(
            f"--group-by: no attribute {', '.join(map(repr, unknown))}; the attributes are "
            f"{', '.join(comparisons.attributes) or 'none'}"
        )
    for name in reference or {}:
        if name not in group_by:
            raise UsageError(f"--reference {name}: expected one of the --group-by attributes")
    n = len(comparisons)
    numeric = _numeric(covariates or {}, gaps, n)
    clash = sorted(set(numeric) & set(group_by))
    if clash:
        raise UsageError(f"covariate {clash[0]!r}: the name of a group-by attribute too")
    non_mated = ~comparisons.mated
    if not non_mated.any():
        raise UsageError("no non-mated comparisons: the threshold of a target FMR cannot be set")
    threshold = threshold_at_fmr(
        comparisons.score[non_mated], target_fmr=target_fmr, score_kind=comparisons.score_kind
    )
    t = threshold if comparisons.score_kind is ScoreKind.SIMILARITY else -threshold
    match = comparisons.similarity >= t
    options = {"group_by": group_by, "reference": reference or {}, "seed": seed}
    return ErrorEvents(
        target_fmr=target_fmr,
        threshold=threshold,
        score_kind=comparisons.score_kind,
        false_non_match=_table(
            FALSE_NON_MATCH,
            comparisons.mated,
            ~match,
            comparisons,
            numeric,
            max_rows=None,
            **options,  # type: ignore[arg-type]
        ),
        false_match=_table(
            FALSE_MATCH,
            non_mated,
            match,
            comparisons,
            numeric,
            max_rows=max_non_mated,
            **options,  # type: ignore[arg-type]
        ),
    )
