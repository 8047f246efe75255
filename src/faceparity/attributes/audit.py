"""A Gender Shades-style audit of an attribute classifier from its predictions and true labels.

Each sample is one row: its true label, the classifier's prediction, optionally its
subject and the attributes that define groups. A sample is an error when the predicted
label differs from the true one (classification), or when the predicted value is more
than ``tolerance`` from the true one (a regressed value such as age). Per group of each
attribute, and of the intersection of all of them, the audit gives the error rate and,
per class, the false negative rate (samples of the class predicted as another) and the
false positive rate (samples of another class predicted as the class), as Buolamwini
and Gebru (2018, "Gender Shades", PMLR 81:77-91, sec. 4.3) report them per subgroup;
and the ratio and difference of the worst and best group's error rate.

Uncertainty: with subject ids, every number's interval is the percentile interval of a
subject bootstrap (Poisson(1) weights per subject: Hanley and MacGibbon 2006, see
:mod:`faceparity.uncertainty.bootstrap`), since the images of one person are not
independent trials. Without subject ids each sample is taken as its own subject: the
rates get exact Clopper-Pearson intervals and the ratio and difference a bootstrap of
samples. The ratio and difference keep the worst and best groups of the full data in
every replicate.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from faceparity._version import __version__
from faceparity.attributes.groups import group_codes
from faceparity.attributes.groups import groupings as split_groups
from faceparity.errors import InputError, Location, UsageError
from faceparity.readers._table import require_columns
from faceparity.results.attributes import (
    ATTRIBUTE_KIND,
    AttributeAuditResult,
    AttributeGroup,
    ClassRates,
    Disparity,
    Grouping,
    TaskRecord,
)
from faceparity.results.audit import ToolRecord
from faceparity.results.common import ExclusionRecord, Interval
from faceparity.uncertainty.binomial import clopper_pearson
from faceparity.uncertainty.bootstrap import percentile_interval, poisson_weights
from faceparity.uncertainty.support import support_for

__all__ = ["AttributeAuditConfig", "TaskKind", "audit_attributes"]

REPLICATE_CHUNK = 256
"""Bootstrap replicates whose weights are multiplied with the counts at once."""


class TaskKind(enum.Enum):
    """What the classifier predicts: a label, or a number judged within a tolerance."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"


@dataclass(frozen=True)
class AttributeAuditConfig:
    """How to read a predictions table and what to compute.

    Parameters
    ----------
    truth, prediction : str
        Columns of the true label (or value) and of the classifier's prediction.
    group_by : tuple of str
        Attribute columns; each is a grouping, and so is their intersection when
        there are several.
    subject : str, optional
        Column of subject ids (the bootstrap resamples subjects); without it each
        row is its own subject.
    kind : TaskKind
        Classification (labels) or regression (numbers, with ``tolerance``).
    tolerance : float, optional
        A regressed prediction is an error when ``|prediction - truth| > tolerance``.
    bins : tuple of (str, tuple of float)
        Band edges of numeric attributes (``("age", (18, 30, 50, 70))``).
    replicates : int
        Bootstrap replicates (0: closed-form intervals only, no interval of the ratio).
    level : float
        Confidence level of every interval.
    seed : int
        Seed of the bootstrap.
    source : str, optional
        The table's file name, recorded in the result.
    min_samples : int
        Groups of fewer samples are not candidates for the worst and best groups (a
        group of 2 samples with no error is no evidence of a best group).

    """

    truth: str
    prediction: str
    group_by: tuple[str, ...]
    subject: str | None = None
    kind: TaskKind = TaskKind.CLASSIFICATION
    tolerance: float | None = None
    bins: tuple[tuple[str, tuple[float, ...]], ...] = field(default_factory=tuple)
    replicates: int = 1000
    level: float = 0.95
    seed: int = 0
    source: str | None = None
    min_samples: int = 1

    def __post_init__(self) -> None:
        if not self.group_by:
            raise UsageError("expected at least one attribute to group by")
        if len(set(self.group_by)) != len(self.group_by):
            raise UsageError(f"expected distinct attributes to group by, got {self.group_by}")
        if self.kind is TaskKind.REGRESSION:
            if self.tolerance is None or not np.isfinite(self.tolerance) or self.tolerance < 0:
                raise UsageError(
                    f"a regressed value needs a finite tolerance >= 0, got {self.tolerance!r}"
                )
        elif self.tolerance is not None:
            raise UsageError("a tolerance goes with a regressed value, not with labels")
        if self.replicates < 0:
            raise UsageError(f"expected replicates >= 0, got {self.replicates}")
        if not 0.0 < self.level < 1.0:
            raise UsageError(f"expected a confidence level in (0, 1), got {self.level}")


@dataclass(frozen=True)
class _Samples:
    """The rows kept, as codes: subject, error, true and predicted class, groups."""

    subject: npt.NDArray[np.int64]
    n_subjects: int
    error: npt.NDArray[np.bool_]
    truth: npt.NDArray[np.int64]
    predicted: npt.NDArray[np.int64]
    classes: tuple[str, ...]
    absolute_error: npt.NDArray[np.float64] | None
    exclusions: list[ExclusionRecord]


def _missing(values: pd.Series) -> npt.NDArray[np.bool_]:
    text = values.astype("string")
    return np.asarray(values.isna() | (text.str.strip() == ""), dtype=bool)


def _numbers(values: pd.Series, *, file: str, column: str) -> npt.NDArray[np.float64]:
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(numeric))
    if bad.size:
        row = int(bad[0])
        raise InputError(
            f"expected a finite number, got {values.iloc[row]!r}", Location(file, row + 1, column)
        )
    return numeric


def _samples(frame: pd.DataFrame, config: AttributeAuditConfig, file: str) -> _Samples:
    empty = _missing(frame[config.truth]) | _missing(frame[config.prediction])
    exclusions = []
    if empty.any():
        exclusions.append(
            ExclusionRecord(
                reason=f"empty {config.truth!r} or {config.prediction!r}",
                count=int(empty.sum()),
                unit="samples",
                scope="all",
            )
        )
    keep = ~empty
    if config.subject is not None:
        subject_text = frame[config.subject].astype("string").str.strip()
        blank = np.flatnonzero(_missing(frame[config.subject]))
        if blank.size:
            raise InputError(
                "expected a subject id, got an empty cell",
                Location(file, int(blank[0]) + 1, config.subject),
            )
        codes, uniques = pd.factorize(subject_text[keep])
        subject = codes.astype(np.int64)
        n_subjects = len(uniques)
    else:
        subject = np.arange(int(keep.sum()), dtype=np.int64)
        n_subjects = subject.size
    truth_col, pred_col = frame[config.truth][keep], frame[config.prediction][keep]
    if config.kind is TaskKind.REGRESSION:
        t = _numbers(truth_col.reset_index(drop=True), file=file, column=config.truth)
        p = _numbers(pred_col.reset_index(drop=True), file=file, column=config.prediction)
        absolute = np.abs(p - t)
        assert config.tolerance is not None
        zeros = np.zeros(t.size, dtype=np.int64)
        return _Samples(
            subject, n_subjects, absolute > config.tolerance, zeros, zeros, (), absolute, exclusions
        )
    t_text = truth_col.astype("string").str.strip().to_numpy(dtype=object)
    p_text = pred_col.astype("string").str.strip().to_numpy(dtype=object)
    label_codes, label_uniques = pd.factorize(np.concatenate([t_text, p_text]), sort=True)
    n = t_text.size
    truth, predicted = label_codes[:n].astype(np.int64), label_codes[n:].astype(np.int64)
    classes = tuple(str(u) for u in label_uniques)
    return _Samples(
        subject, n_subjects, truth != predicted, truth, predicted, classes, None, exclusions
    )


def _columns_per_group(n_classes: int) -> int:
    """Counts kept per group: samples, errors, then per class positives, FN, FP."""
    return 2 + 3 * n_classes


def _counts(
    s: _Samples, group: npt.NDArray[np.int64], n_groups: int
) -> tuple[npt.NDArray[np.int64], list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]]:
    """Counts per group (the columns of :func:`_columns_per_group`), and the rows behind them.

    Returns the (n_groups, k) counts and, for the bootstrap, the sparse entries
    (row's subject, column index) of every count.
    """
    k = _columns_per_group(len(s.classes))
    inside = group >= 0
    entries: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []

    def add(mask: npt.NDArray[np.bool_], offset: npt.NDArray[np.int64] | int) -> None:
        rows = inside & mask
        col = group[rows] * k + (offset[rows] if isinstance(offset, np.ndarray) else offset)
        entries.append((s.subject[rows], col))

    everything = np.ones(group.size, dtype=bool)
    add(everything, 0)
    add(s.error, 1)
    if s.classes:
        add(everything, 2 + 3 * s.truth)
        add(s.error, 3 + 3 * s.truth)
        add(s.error, 4 + 3 * s.predicted)
    flat = np.zeros(n_groups * k, dtype=np.int64)
    for _, col in entries:
        flat += np.bincount(col, minlength=n_groups * k)
    return flat.reshape(n_groups, k), entries


def _replicate_counts(
    entries: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]],
    shape: tuple[int, int],
    n_subjects: int,
    config: AttributeAuditConfig,
) -> npt.NDArray[np.float64]:
    """Counts of every replicate, shape (replicates, n_groups, k), from per-subject counts."""
    from scipy import sparse

    rows = np.concatenate([e[0] for e in entries])
    cols = np.concatenate([e[1] for e in entries])
    size = shape[0] * shape[1]
    per_subject = sparse.csr_matrix(
        (np.ones(rows.size, dtype=np.float64), (rows, cols)), shape=(n_subjects, size)
    )
    out = np.empty((config.replicates, size), dtype=np.float64)
    weights = poisson_weights(n_subjects, config.replicates, config.seed)
    for start in range(0, config.replicates, REPLICATE_CHUNK):
        stop = min(start + REPLICATE_CHUNK, config.replicates)
        w = np.stack([next(weights) for _ in range(stop - start)]).astype(np.float64)
        out[start:stop] = (per_subject.T @ w.T).T
    return out.reshape(config.replicates, *shape)


def _ratio(num: npt.NDArray[np.float64], den: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


class _Intervals:
    """Intervals of rates: from replicates, or exact binomial without subject ids."""

    def __init__(
        self, replicate: npt.NDArray[np.float64] | None, config: AttributeAuditConfig
    ) -> None:
        self.replicate = replicate
        self.config = config
        self.exact = config.subject is None or replicate is None

    def rate(self, k: int, n: int, num: tuple[int, int], den: tuple[int, int]) -> Interval | None:
        """Interval of ``k / n``, whose counts are columns ``num`` and ``den`` of a group."""
        if n == 0:
            return None
        if self.exact:
            low, high = clopper_pearson(k, n, self.config.level)
            return Interval(float(low), float(high), "Clopper-Pearson (exact binomial)")
        assert self.replicate is not None
        values = _ratio(self.replicate[:, num[0], num[1]], self.replicate[:, den[0], den[1]])
        lo, hi, used = percentile_interval(values, self.config.level)
        return Interval(lo, hi, "subject bootstrap (percentile)", used)


def _group_result(
    label: str,
    attributes: dict[str, str],
    g: int,
    counts: npt.NDArray[np.int64],
    n_subjects: int,
    mae: float | None,
    s: _Samples,
    intervals: _Intervals,
) -> AttributeGroup:
    n, errors = int(counts[g, 0]), int(counts[g, 1])
    classes = []
    for c, name in enumerate(s.classes):
        pos, fn, fp = (int(counts[g, 2 + 3 * c + i]) for i in range(3))
        neg = n - pos
        fnr = fn / pos if pos else None
        fpr = fp / neg if neg else None
        classes.append(
            ClassRates(
                label=name,
                n_positive=pos,
                n_negative=neg,
                false_negatives=fn,
                false_positives=fp,
                fnr=fnr,
                fpr=fpr,
                fnr_ci=intervals.rate(fn, pos, (g, 3 + 3 * c), (g, 2 + 3 * c)),
                fpr_ci=_fpr_interval(intervals, fp, neg, g, c),
                fnr_support=support_for(fnr, pos, what="false negative rate"),
                fpr_support=support_for(fpr, neg, what="false positive rate"),
            )
        )
    rate = errors / n if n else None
    return AttributeGroup(
        label=label,
        attributes=attributes,
        n_samples=n,
        n_subjects=n_subjects,
        n_errors=errors,
        error_rate=rate,
        classes=classes,
        confusion=[],
        error_rate_ci=intervals.rate(errors, n, (g, 1), (g, 0)),
        error_rate_support=support_for(rate, n, what="error rate"),
        mean_absolute_error=mae,
    )


def _fpr_interval(intervals: _Intervals, fp: int, neg: int, g: int, c: int) -> Interval | None:
    """The FPR's denominator (samples of other classes) is the group's samples less positives."""
    if neg == 0:
        return None
    if intervals.exact:
        low, high = clopper_pearson(fp, neg, intervals.config.level)
        return Interval(float(low), float(high), "Clopper-Pearson (exact binomial)")
    assert intervals.replicate is not None
    r = intervals.replicate
    values = _ratio(r[:, g, 4 + 3 * c], r[:, g, 0] - r[:, g, 2 + 3 * c])
    lo, hi, used = percentile_interval(values, intervals.config.level)
    return Interval(lo, hi, "subject bootstrap (percentile)", used)


def _confusion(s: _Samples, rows: npt.NDArray[np.bool_]) -> list[list[int]]:
    k = len(s.classes)
    if not k:
        return []
    flat = np.bincount(s.truth[rows] * k + s.predicted[rows], minlength=k * k)
    return [[int(v) for v in flat[i * k : (i + 1) * k]] for i in range(k)]


def _disparity(
    groups: Sequence[AttributeGroup],
    replicate: npt.NDArray[np.float64] | None,
    config: AttributeAuditConfig,
) -> Disparity:
    rated = [
        (i, g)
        for i, g in enumerate(groups)
        if g.error_rate is not None and g.n_samples >= config.min_samples
    ]
    if len(rated) < 2:
        return Disparity(
            None, None, None, None, f"fewer than two groups of {config.min_samples} samples"
        )
    iw, worst = max(rated, key=lambda x: (x[1].error_rate or 0.0, -x[0]))
    others = [r for r in rated if r[0] != iw]
    ib, best = min(others, key=lambda x: (x[1].error_rate or 0.0, x[0]))
    assert worst.error_rate is not None and best.error_rate is not None
    difference = worst.error_rate - best.error_rate
    reason = None
    ratio = None
    if best.error_rate > 0:
        ratio = worst.error_rate / best.error_rate
    else:
        reason = f"the best group ({best.label}) has no errors: the ratio is unbounded"
    ratio_ci = difference_ci = None
    if replicate is not None:
        rw = _ratio(replicate[:, iw, 1], replicate[:, iw, 0])
        rb = _ratio(replicate[:, ib, 1], replicate[:, ib, 0])
        method = (
            "subject bootstrap (percentile)"
            if config.subject is not None
            else "bootstrap of samples (percentile)"
        )
        lo, hi, used = percentile_interval(rw - rb, config.level)
        difference_ci = Interval(lo, hi, method, used)
        if ratio is not None:
            lo, hi, used = percentile_interval(_ratio(rw, rb), config.level)
            ratio_ci = Interval(lo, hi, method, used)
    return Disparity(
        worst=worst.label,
        best=best.label,
        ratio=ratio,
        difference=difference,
        undefined_reason=reason,
        ratio_ci=ratio_ci,
        difference_ci=difference_ci,
    )


def audit_attributes(
    frame: pd.DataFrame, config: AttributeAuditConfig, *, file: str = "predictions"
) -> AttributeAuditResult:
    """Audit a classifier's predictions by group.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per sample (cells as text, as :func:`~faceparity.readers._table.load_table`
        reads a CSV, or typed columns).
    config : AttributeAuditConfig
        Columns, task and uncertainty.
    file : str
        Names the table in errors.

    Returns
    -------
    AttributeAuditResult

    Raises
    ------
    InputError
        A missing column, an empty subject id, a regressed value that is not a number,
        a binned attribute that is not a number (file, row and column named), or no
        sample with both a true label and a prediction.

    """
    wanted = [config.truth, config.prediction, *config.group_by]
    if config.subject is not None:
        wanted.append(config.subject)
    require_columns(frame, wanted, file=file)
    frame = frame.reset_index(drop=True)
    s = _samples(frame, config, file)
    if s.error.size == 0:
        raise InputError(
            f"expected at least one row with both {config.truth!r} and {config.prediction!r}",
            Location(file),
        )
    keep = ~(_missing(frame[config.truth]) | _missing(frame[config.prediction]))
    coded = group_codes(frame, keep, config.group_by, dict(config.bins), file)
    groupings_in = split_groups(coded)
    overall_code = np.zeros(s.error.size, dtype=np.int64)
    overall_labels: list[dict[str, str]] = [{}]
    all_sets: list[tuple[str, list[str], npt.NDArray[np.int64], list[dict[str, str]]]] = [
        ("overall", [], overall_code, overall_labels),
        *groupings_in,
    ]
    results: list[tuple[list[AttributeGroup], npt.NDArray[np.float64] | None]] = []
    for _, _, codes, labels in all_sets:
        counts, entries = _counts(s, codes, len(labels))
        replicate = (
            _replicate_counts(entries, counts.shape, s.n_subjects, config)
            if config.replicates > 0
            else None
        )
        intervals = _Intervals(replicate, config)
        groups = []
        for g, attrs in enumerate(labels):
            rows = codes == g
            mae = (
                float(s.absolute_error[rows].mean())
                if s.absolute_error is not None and rows.any()
                else None
            )
            label = "/".join(attrs.values()) if attrs else "overall"
            group = _group_result(
                label,
                attrs,
                g,
                counts,
                int(np.unique(s.subject[rows]).size),
                mae,
                s,
                intervals,
            )
            groups.append(dataclasses.replace(group, confusion=_confusion(s, rows)))
        results.append((groups, replicate))
    groupings = []
    for (name, names, codes, _), (groups, replicate) in zip(groupings_in, results[1:], strict=True):
        groupings.append(
            Grouping(
                name=name,
                attributes=names,
                groups=groups,
                disparity=_disparity(groups, replicate, config),
                n_ungrouped=int((codes < 0).sum()),
            )
        )
    method = (
        "subject bootstrap (percentile)"
        if config.subject is not None and config.replicates > 0
        else "Clopper-Pearson (exact binomial) for rates"
        + ("; bootstrap of samples for the ratio and difference" if config.replicates else "")
    )
    notes = [
        "error: a predicted label other than the true one"
        if config.kind is TaskKind.CLASSIFICATION
        else f"error: a prediction more than {config.tolerance:g} from the true value",
        "fnr of a class: its samples predicted as another class; fpr: samples of other "
        "classes predicted as it",
        "ratio and difference: the worst group's error rate against the best's"
        + (
            f", among groups of at least {config.min_samples} samples"
            if config.min_samples > 1
            else ""
        ),
    ]
    if config.subject is None:
        notes.append("no subject ids: each sample is taken as its own subject")
    return AttributeAuditResult(
        kind=ATTRIBUTE_KIND,
        tool=ToolRecord("faceparity", __version__),
        source=config.source,
        task=TaskRecord(
            truth=config.truth,
            prediction=config.prediction,
            kind=config.kind.value,
            classes=list(s.classes),
            tolerance=config.tolerance,
        ),
        overall=results[0][0][0],
        groupings=groupings,
        interval_method=method,
        level=config.level,
        exclusions=s.exclusions,
        notes=notes,
        replicates=config.replicates if config.replicates else None,
        seed=config.seed if config.replicates else None,
    )
