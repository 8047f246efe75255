"""The composition card: counts, shares, supportable rates, coverage and distributions by group.

Supportable rates. Doddington's rule of 30 asks 30 errors before a rate is quoted: then
the true rate lies within +-30% of the observed one with 90% confidence (Doddington et
al. 2000; ISO/IEC 19795-1). The 30 is ``(z / 0.3)**2`` with ``z`` the normal quantile
at 95% (1.645), the two-sided 90% bound of a Poisson count. Quoting rates of ``m``
groups at once, the same +-30% held for all of them with 90% confidence (Bonferroni)
needs ``(z_{1 - 0.05/m} / 0.3)**2`` errors per group (:func:`errors_needed`): 30 for
one group, about 74 for ten. The smallest rate a group supports is that many errors
over its trials: its images (a per-image rate), its mated pairs (FNMR: pairs of images
of one subject), its non-mated pairs (FMR: images of two of its subjects).

Coverage. Against reference shares the user gives (a census, the population a
system will meet), Pearson's chi-square goodness-of-fit statistic and the total
variation distance ``(1/2) sum |p_g - q_g|`` are given; a group whose share is below
four fifths of its reference share is named under-represented, one above five fourths
over-represented (the four-fifths rule of adverse impact, 29 CFR 1607.4(D), used here
as a plain threshold on a ratio of shares).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from faceparity._version import __version__
from faceparity.attributes.groups import group_codes, groupings
from faceparity.errors import InputError, Location, UsageError
from faceparity.pipeline.skincolour import MONK_SWATCHES, hue_angle, monk_tone
from faceparity.pipeline.skintone import ITA_BANDS, ITA_LIMITS_NOTE, ita_degrees
from faceparity.readers._table import require_columns
from faceparity.results.audit import ToolRecord
from faceparity.results.composition import (
    COMPOSITION_KIND,
    CompositionGroup,
    CompositionGrouping,
    CompositionResult,
    Coverage,
    MeasureSummary,
)

__all__ = [
    "IMAGE_MEASURES",
    "CompositionConfig",
    "compose",
    "errors_needed",
    "ita_band_counts",
]

IMAGE_MEASURES = (
    "ita",
    "skin_l",
    "skin_hue",
    "yaw",
    "roll",
    "inter_eye_distance",
    "face_width",
    "face_height",
    "sharpness",
    "brightness",
    "contrast",
)
"""Columns summarised by group when the table has them (``faceparity embed`` writes most;
``skin_l``, ``skin_a`` and ``skin_b`` come from ``--skin-from-images``)."""

UNDER, OVER = 0.8, 1.25
"""Ratios of a group's share to its reference share below / above which it is named."""
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def errors_needed(comparisons: int = 1, *, precision: float = 0.3, level: float = 0.9) -> float:
    """Errors a rate needs for +-``precision`` relative error at ``level``, over ``comparisons``.

    Examples
    --------
    >>> round(errors_needed(1), 1), round(errors_needed(10), 1)
    (30.1, 73.7)

    """
    from scipy.special import ndtri

    if comparisons < 1:
        raise UsageError(f"expected at least 1 comparison, got {comparisons}")
    z = float(ndtri(1.0 - (1.0 - level) / (2.0 * comparisons)))
    return (z / precision) ** 2


@dataclass(frozen=True)
class CompositionConfig:
    """What to count and against what.

    Parameters
    ----------
    group_by : tuple of str
        Attribute columns; each is a grouping, and their intersection too.
    subject : str, optional
        Subject id column (without it each row is its own subject).
    measures : tuple of str
        Further numeric columns to summarise by group (``age``), beside
        :data:`IMAGE_MEASURES` found in the table.
    bins : tuple of (str, tuple of float)
        Band edges of numeric group-by attributes.
    reference : mapping of grouping name to mapping of group label to share
        Reference populations.
    comparisons : int
        Rates to be quoted at once (Bonferroni), for the supportable rates.
    source : str, optional
        The table's name, recorded.

    """

    group_by: tuple[str, ...]
    subject: str | None = None
    measures: tuple[str, ...] = ()
    bins: tuple[tuple[str, tuple[float, ...]], ...] = ()
    reference: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    comparisons: int = 1
    source: str | None = None

    def __post_init__(self) -> None:
        if not self.group_by:
            raise UsageError("expected at least one attribute to group by")
        if self.comparisons < 1:
            raise UsageError(f"expected --comparisons >= 1, got {self.comparisons}")


def _numeric(frame: pd.DataFrame, column: str, file: str) -> npt.NDArray[np.float64]:
    raw = frame[column]
    text = raw.astype("string").str.strip()
    empty = np.asarray(raw.isna() | (text == ""), dtype=bool)
    values = pd.to_numeric(raw.where(~empty), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    bad = np.flatnonzero(~empty & ~np.isfinite(values))
    if bad.size:
        row = int(bad[0])
        raise InputError(
            f"expected a number, got {raw.iloc[row]!r}", Location(file, row + 1, column)
        )
    return values


def _derived(frame: pd.DataFrame, file: str) -> dict[str, npt.NDArray[np.float64]]:
    """The numeric image measures of the table, with ``skin_hue`` and ``ita`` from CIELAB."""
    out = {c: _numeric(frame, c, file) for c in IMAGE_MEASURES if c in frame.columns}
    if {"skin_l", "skin_a", "skin_b"} <= set(frame.columns):
        lab_a, lab_b = _numeric(frame, "skin_a", file), _numeric(frame, "skin_b", file)
        out["skin_hue"] = hue_angle(lab_a, lab_b)
        if "ita" not in out:
            out["ita"] = ita_degrees(out["skin_l"], lab_b)
    return out


def _summary(name: str, values: npt.NDArray[np.float64]) -> MeasureSummary:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return MeasureSummary(name, 0, None, None, None, None, None, None)
    q = np.quantile(finite, QUANTILES)
    return MeasureSummary(name, int(finite.size), float(finite.mean()), *map(float, q))


def ita_band_counts(ita: npt.NDArray[np.float64]) -> dict[str, int]:
    """Images per ITA band of Del Bino et al. (``low < ITA <= high``); NaN is no band.

    Examples
    --------
    >>> ita_band_counts(np.array([55.0, 55.1, -30.0, np.nan]))
    {'very light': 1, 'light': 1, 'dark': 1}

    """
    finite = ita[np.isfinite(ita)]
    # Edges from the bottom: a band holds (low, high], so search on the right side's left.
    uppers = np.array([high for _, _, high in reversed(ITA_BANDS)][:-1])
    index = np.searchsorted(uppers, finite, side="left")
    counts = np.bincount(index, minlength=len(ITA_BANDS))
    names = [name for name, _, _ in reversed(ITA_BANDS)]
    return {name: int(counts[i]) for i, name in reversed(list(enumerate(names))) if counts[i]}


def _categories(
    rows: npt.NDArray[np.bool_], measures: Mapping[str, npt.NDArray[np.float64]]
) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    if "ita" in measures:
        out["ita_band"] = ita_band_counts(measures["ita"][rows])
    if "skin_l" in measures:
        tones = monk_tone(measures["skin_l"][rows])
        counts = np.bincount(tones, minlength=len(MONK_SWATCHES) + 1)
        out["monk"] = {f"MST {i}": int(counts[i]) for i in range(1, len(MONK_SWATCHES) + 1)}
    return out


def _group(
    label: str,
    attributes: dict[str, str],
    rows: npt.NDArray[np.bool_],
    subject: npt.NDArray[np.int64],
    totals: tuple[int, int],
    measures: Mapping[str, npt.NDArray[np.float64]],
    needed: float,
) -> CompositionGroup:
    per_subject = np.bincount(subject[rows])
    per_subject = per_subject[per_subject > 0]
    n = int(rows.sum())
    n_subjects = int(per_subject.size)
    mated = int((per_subject * (per_subject - 1) // 2).sum())
    non_mated = int((n * n - int((per_subject.astype(np.int64) ** 2).sum())) // 2)

    def smallest(trials: int) -> float | None:
        return needed / trials if trials >= needed else None

    return CompositionGroup(
        label=label,
        attributes=attributes,
        n_images=n,
        n_subjects=n_subjects,
        share_of_images=n / totals[0] if totals[0] else 0.0,
        share_of_subjects=n_subjects / totals[1] if totals[1] else 0.0,
        images_per_subject_mean=float(per_subject.mean()) if n_subjects else None,
        images_per_subject_median=float(np.median(per_subject)) if n_subjects else None,
        images_per_subject_max=int(per_subject.max()) if n_subjects else 0,
        n_mated_pairs=mated,
        n_non_mated_pairs=non_mated,
        min_rate_per_image=smallest(n),
        min_fnmr=smallest(mated),
        min_fmr=smallest(non_mated),
        measures=[_summary(name, values[rows]) for name, values in measures.items()],
        categories=_categories(rows, measures),
    )


def _coverage(
    name: str, groups: list[CompositionGroup], reference: Mapping[str, float], unit: str
) -> tuple[Coverage, list[CompositionGroup]]:
    from scipy import stats

    labels = [g.label for g in groups]
    unknown = [label for label in labels if label not in reference]
    if unknown:
        raise UsageError(
            f"reference of {name!r}: expected a share for every group of the data, "
            f"{unknown[0]!r} has none (the reference names {', '.join(map(repr, reference))})"
        )
    shares = {k: float(v) for k, v in reference.items()}
    if any(not math.isfinite(v) or v <= 0 for v in shares.values()):
        raise UsageError(f"reference of {name!r}: expected shares > 0, got {shares}")
    total_share = sum(shares.values())
    if not 0.99 <= total_share <= 1.01:
        raise UsageError(
            f"reference of {name!r}: expected shares summing to 1, got {total_share:g}"
        )
    shares = {k: v / total_share for k, v in shares.items()}
    count = {g.label: (g.n_subjects if unit == "subjects" else g.n_images) for g in groups}
    order = list(shares)
    observed = np.array([count.get(k, 0) for k in order], dtype=np.float64)
    total = observed.sum()
    expected = np.array([shares[k] for k in order]) * total
    chi2, p = stats.chisquare(observed, expected)
    observed_share = observed / total
    tvd = 0.5 * float(np.abs(observed_share - np.array([shares[k] for k in order])).sum())
    ratio = {k: observed_share[i] / shares[k] for i, k in enumerate(order)}
    under = [k for k in order if ratio[k] < UNDER]
    over = [k for k in order if ratio[k] > OVER]

    def representation(label: str) -> str:
        return "under" if label in under else "over" if label in over else "within"

    marked = [
        dataclasses.replace(
            g, reference_share=shares[g.label], representation=representation(g.label)
        )
        for g in groups
    ]
    coverage = Coverage(
        unit=unit,
        reference=shares,
        chi_square=float(chi2),
        dof=len(order) - 1,
        p_value=float(p),
        total_variation=tvd,
        under_represented=under,
        over_represented=over,
    )
    return coverage, marked


def compose(
    frame: pd.DataFrame, config: CompositionConfig, *, file: str = "table"
) -> CompositionResult:
    """The composition card of a table of images (a manifest, an embed output, metadata).

    Raises
    ------
    InputError
        A missing column, an empty subject id, a measure or binned attribute that is
        not a number (with file, row and column).
    UsageError
        A reference population that does not fit the data's groups.

    """
    wanted = [*config.group_by, *config.measures]
    if config.subject is not None:
        wanted.append(config.subject)
    require_columns(frame, wanted, file=file)
    frame = frame.reset_index(drop=True)
    n = len(frame)
    if config.subject is not None:
        raw = frame[config.subject]
        text = raw.astype("string").str.strip()
        blank = np.flatnonzero(np.asarray(raw.isna() | (text == ""), dtype=bool))
        if blank.size:
            raise InputError(
                "expected a subject id, got an empty cell",
                Location(file, int(blank[0]) + 1, config.subject),
            )
        subject = pd.factorize(text)[0].astype(np.int64)
    else:
        subject = np.arange(n, dtype=np.int64)
    measures = _derived(frame, file)
    for column in config.measures:
        measures[column] = _numeric(frame, column, file)
    needed = errors_needed(config.comparisons)
    totals = (n, int(subject.max()) + 1 if n else 0)
    everything = np.ones(n, dtype=bool)
    overall = _group("overall", {}, everything, subject, totals, measures, needed)
    coded = group_codes(frame, everything, config.group_by, dict(config.bins), file)
    unit = "subjects" if config.subject is not None else "images"
    out = []
    for name, names, codes, labels in groupings(coded):
        groups = [
            _group("/".join(a.values()), a, codes == g, subject, totals, measures, needed)
            for g, a in enumerate(labels)
        ]
        coverage = None
        if name in config.reference:
            coverage, groups = _coverage(name, groups, config.reference[name], unit)
        out.append(CompositionGrouping(name, names, groups, int((codes < 0).sum()), coverage))
    unknown = [k for k in config.reference if k not in {g.name for g in out}]
    if unknown:
        raise UsageError(
            f"reference: no grouping {unknown[0]!r}; the groupings are "
            f"{', '.join(repr(g.name) for g in out)}"
        )
    notes = [
        f"supportable rates: {needed:.1f} errors over the trials (rule of 30 "
        f"for {config.comparisons} rate(s) quoted at once)",
    ]
    if "ita" in measures or "skin_l" in measures:
        notes.append(ITA_LIMITS_NOTE)
    if "skin_l" in measures:
        notes.append(
            "Monk Skin Tone: the swatch whose L* is nearest the skin's; L* and hue angle h* "
            "as Thong et al. (ICCV 2023) recommend"
        )
    if config.subject is None:
        notes.append("no subject ids: each image is taken as its own subject")
    return CompositionResult(
        kind=COMPOSITION_KIND,
        tool=ToolRecord("faceparity", __version__),
        source=config.source,
        errors_needed=needed,
        n_comparisons=config.comparisons,
        overall=overall,
        groupings=out,
        monk_swatches=list(MONK_SWATCHES),
        notes=notes,
    )
