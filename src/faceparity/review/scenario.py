"""What a measured differential means for a stated deployment: expected false candidates.

Given a gallery (its size and composition by group), the searches a day by group and
an operating threshold, :func:`run_scenario` computes for each searched group the
expected number of false candidates returned per search, per day and per year, the
probability that a search returns at least one (its FPIR), and the ratio to the
best-served group, from an audit's measured cross-group false match rates
(:func:`cross_rates` reads them from ``results.json``: the 1:1 ``cross_group`` cells
of an operating point, or the 1:N ``identification`` cells).

The model (:data:`ASSUMPTIONS`): a search of group ``g`` against ``N_h`` enrolled
subjects of group ``h`` makes ``N_h`` comparisons, each a false match with probability
``FMR_gh`` independently, so the number of false matches is
``X_g = sum_h Binomial(N_h, FMR_gh)`` and

* ``FPIR_g = P(X_g >= 1) = 1 - prod_h (1 - FMR_gh)^N_h`` (the independence
  approximation, e.g. Jain, Ross and Nandakumar 2011, "Introduction to Biometrics",
  section 1.5; NIST IR 8271 discusses its limits),
* expected false candidates per search ``E[min(X_g, R)]`` with a candidate list of
  at most ``R`` (``sum_h N_h FMR_gh`` without a limit).

Where the cells carry intervals (``fmr_ci = {"ci_low", "ci_high", "method"}``), every
figure is also computed with each cell at its lower and at its upper bound: both are
increasing in every cell's rate, so these are bounds of the figure under the cells'
intervals taken together, not an interval of a stated level.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity._version import __version__
from faceparity.errors import UsageError
from faceparity.results.audit import AuditResult, OperatingPoint
from faceparity.results.common import Interval
from faceparity.results.documents import SCENARIO_SCHEMA_VERSION
from faceparity.results.identification import IdentificationPoint

__all__ = [
    "ASSUMPTIONS",
    "MAX_DAYS_PER_YEAR",
    "MAX_GALLERY",
    "MAX_RANK",
    "MAX_SEARCHES_PER_DAY",
    "CrossRates",
    "Deployment",
    "ScenarioGroup",
    "ScenarioResult",
    "cross_rates",
    "false_match_count_pmf",
    "run_scenario",
]

ASSUMPTIONS = (
    "Every search is non-mated (the searched person is not enrolled); a mated search can "
    "return false candidates too, and they are not counted here.",
    "Comparisons are independent: a search of group g matches each enrolled subject of "
    "group h falsely with probability FMR_gh, whatever the other comparisons do. Real "
    "false matches cluster (some faces resemble many), which the independence "
    "approximation misses; a 1:N audit's gallery-size curve shows how far it holds.",
    "The measured rates transfer: the deployment's model, threshold, capture conditions "
    "and population resemble the audit's data, group by group.",
    "An enrolled subject is one template (one comparison per subject); for several "
    "enrolment samples per subject use a 1:N audit made with the same --gallery-samples.",
    "A candidate list holds at most R candidates (every candidate at or above the "
    "threshold when no R is given).",
)

MAX_GALLERY = 10**10
"""The most enrolled subjects, in all and in any group: more than there are people."""

MAX_SEARCHES_PER_DAY = 10**12
"""The most searches a day of one group (a thousand a day for every person alive, and more)."""

MAX_DAYS_PER_YEAR = 366.0
"""The most days a year the searches run."""

MAX_RANK = 10_000
"""The longest candidate list (the distribution of false matches is held up to it)."""

MSG_GALLERY = "gallery: expected whole numbers of subjects from 0 to {high:,}, got {value!r}"
MSG_GALLERY_TOTAL = "gallery: expected from 1 to {high:,} enrolled subjects in all, got {value:,}"
MSG_SEARCHES = "searches: expected numbers of searches a day from 0 to {high:,}, got {value!r}"
MSG_NO_SEARCHES = "searches: expected at least one group with searches a day"
MSG_RANK = "rank: expected a whole number from 1 to {high:,}, got {value!r}"
MSG_DAYS = "days per year: expected a number above 0 and at most {high:g}, got {value!r}"
MSG_NO_POINT = "expected an operating point with {what}; the results have: {available}"
MSG_UNKNOWN_GROUP = "{option}: group {label!r} is not in the results; groups: {known}"


@dataclass(frozen=True)
class CrossRates:
    """Per-comparison FMR of searches of group ``g`` (row) against enrolled group ``h``.

    ``low`` and ``high`` hold the cells' interval bounds where the results carry them
    (NaN elsewhere); ``fmr`` is NaN where a cell is undefined.
    """

    labels: tuple[str, ...]
    fmr: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    threshold: float
    source: dict[str, Any]

    @property
    def has_intervals(self) -> bool:
        """True when every defined cell carries an interval."""
        defined = ~np.isnan(self.fmr)
        return bool(np.any(defined)) and not bool(np.any(np.isnan(self.low[defined])))


@dataclass(frozen=True)
class Deployment:
    """A stated deployment.

    Parameters
    ----------
    gallery : mapping of str to int
        Enrolled subjects by group label, each from 0 to :data:`MAX_GALLERY`, at least
        one and at most :data:`MAX_GALLERY` in all.
    searches_per_day : mapping of str to float
        Searches a day by the group label of the searched person, each a finite number
        from 0 to :data:`MAX_SEARCHES_PER_DAY`.
    rank : int, optional
        Candidate list length R, from 1 to :data:`MAX_RANK`; None returns every
        candidate at or above the threshold.
    days_per_year : float, default 365
        Days a year the searches run, above 0 and at most :data:`MAX_DAYS_PER_YEAR`.

    Raises
    ------
    UsageError
        For a value out of its range, NaN or an infinity: each figure of the scenario
        is then a finite number.

    """

    gallery: Mapping[str, int]
    searches_per_day: Mapping[str, float]
    rank: int | None = None
    days_per_year: float = 365.0

    def __post_init__(self) -> None:
        for n in self.gallery.values():
            if not (_is_whole(n) and 0 <= n <= MAX_GALLERY):
                raise UsageError(MSG_GALLERY.format(high=MAX_GALLERY, value=n))
        total = sum(int(n) for n in self.gallery.values())
        if not 1 <= total <= MAX_GALLERY:
            raise UsageError(MSG_GALLERY_TOTAL.format(high=MAX_GALLERY, value=total))
        if not self.searches_per_day:
            raise UsageError(MSG_NO_SEARCHES)
        for v in self.searches_per_day.values():
            if not (_is_number(v) and 0 <= v <= MAX_SEARCHES_PER_DAY):
                raise UsageError(MSG_SEARCHES.format(high=MAX_SEARCHES_PER_DAY, value=v))
        if self.rank is not None and not (_is_whole(self.rank) and 1 <= self.rank <= MAX_RANK):
            raise UsageError(MSG_RANK.format(high=MAX_RANK, value=self.rank))
        days = self.days_per_year
        if not (_is_number(days) and 0 < days <= MAX_DAYS_PER_YEAR):
            raise UsageError(MSG_DAYS.format(high=MAX_DAYS_PER_YEAR, value=days))


def _is_whole(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    """A finite real number (NaN and the infinities pass no range check of their own)."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    return real and math.isfinite(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ScenarioGroup:
    """Expected false candidates for the searches of one group.

    ``*_bounds`` are ``[low, high]`` from the cells' intervals, or None without them.
    """

    label: str
    searches_per_day: float
    fpir: float | None
    fpir_bounds: list[float] | None
    false_candidates_per_search: float | None
    false_candidates_per_search_bounds: list[float] | None
    false_candidates_per_day: float | None
    false_candidates_per_day_bounds: list[float] | None
    false_candidates_per_year: float | None
    false_candidates_per_year_bounds: list[float] | None
    searches_with_false_candidates_per_day: float | None
    ratio_to_best: float | None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ScenarioResult:
    """The scenario: its inputs, assumptions and the figures per searched group."""

    source: dict[str, Any]
    deployment: dict[str, Any]
    assumptions: list[str]
    groups: list[ScenarioGroup]
    best_served: str | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping, ``schema_version`` first."""
        return {
            "schema_version": SCENARIO_SCHEMA_VERSION,
            "tool": {"name": "faceparity", "version": __version__},
            **dataclasses.asdict(self),
        }


def _label_of(attributes: Mapping[str, str], by_attributes: Mapping[Any, str]) -> str:
    return by_attributes[tuple(sorted(attributes.items()))]


def _cell_bounds(ci: Interval | None) -> tuple[float, float]:
    if ci is not None and ci.ci_low is not None and ci.ci_high is not None:
        return float(ci.ci_low), float(ci.ci_high)
    return math.nan, math.nan


def _near(value: float | None, threshold: float) -> bool:
    return value is not None and abs(value - threshold) <= 1e-9 * max(1.0, abs(threshold))


def cross_rates(
    results: AuditResult,
    *,
    target_fmr: float | None = None,
    target_fpir: float | None = None,
    threshold: float | None = None,
    policy: str = "global",
) -> CrossRates:
    """The cross-group FMR cells of one operating point of an audit.

    Exactly one of ``target_fmr`` (a 1:1 operating point), ``target_fpir`` (a 1:N
    one) or ``threshold`` (the operating point, 1:1 first, whose threshold it is) is
    given; ``policy`` picks among points of one target (not used with ``threshold``).

    Raises
    ------
    UsageError
        When no such operating point exists (the message lists those there are) or it
        has no single threshold (the ``per-group`` policy).

    """
    if sum(v is not None for v in (target_fmr, target_fpir, threshold)) != 1:
        raise UsageError("give exactly one of a target FMR, a target FPIR or a threshold")
    one = [p for p in results.operating_points if p.threshold is not None]
    ident = results.identification
    many = [] if ident is None else [p for p in ident.operating_points if p.threshold is not None]
    labels = tuple(g.label for g in results.groups)
    by_attr = {tuple(sorted(g.attributes.items())): g.label for g in results.groups}
    if ident is not None and not labels:
        labels = tuple(g.label for g in ident.groups)
        by_attr = {tuple(sorted(g.attributes.items())): g.label for g in ident.groups}
    index = {label: i for i, label in enumerate(labels)}
    n = len(labels)

    def no_point(kind: str, value: float, targets: list[tuple[float, str]]) -> UsageError:
        available = ", ".join(f"{kind} {t:g} ({p})" for t, p in targets) or "none"
        return UsageError(
            MSG_NO_POINT.format(what=f"{kind} {value:g} and policy {policy!r}", available=available)
        )

    point: OperatingPoint | IdentificationPoint
    if threshold is not None:
        close: list[tuple[OperatingPoint | IdentificationPoint, str]] = [
            (p, "1:1") for p in one if _near(p.threshold, threshold)
        ]
        close += [(q, "1:N") for q in many if _near(q.threshold, threshold)]
        if not close:
            thresholds = [p.threshold for p in one] + [q.threshold for q in many]
            listed = ", ".join(f"{t!r}" for t in thresholds) or "none"
            raise UsageError(
                f"threshold {threshold!r}: the cross-group rates are known only at the "
                f"thresholds of the results' operating points: {listed}"
            )
        point, kind = close[0]
    elif target_fmr is not None:
        found = [p for p in one if p.target_fmr == target_fmr and p.policy == policy]
        if not found:
            raise no_point("target FMR", target_fmr, [(p.target_fmr, p.policy) for p in one])
        point, kind = found[0], "1:1"
    else:
        assert target_fpir is not None
        chosen = [q for q in many if q.target_fpir == target_fpir and q.policy == policy]
        if not chosen:
            raise no_point("target FPIR", target_fpir, [(q.target_fpir, q.policy) for q in many])
        point, kind = chosen[0], "1:N"
    fmr = np.full((n, n), np.nan)
    low, high = fmr.copy(), fmr.copy()
    cells: list[tuple[list[tuple[int, int]], float | None, Interval | None]] = []
    if isinstance(point, OperatingPoint):
        for cell in point.cross_group:
            a, b = _label_of(cell.a, by_attr), _label_of(cell.b, by_attr)
            cells.append(([(index[a], index[b]), (index[b], index[a])], cell.fmr, cell.fmr_ci))
    else:
        for rate in point.cross_group:
            a, b = _label_of(rate.probe, by_attr), _label_of(rate.candidate, by_attr)
            cells.append(([(index[a], index[b])], rate.fmr, None))
    for pairs, value, ci in cells:
        lo, hi = _cell_bounds(ci)
        for i, j in pairs:
            fmr[i, j] = math.nan if value is None else float(value)
            low[i, j], high[i, j] = lo, hi
    assert point.threshold is not None
    source = {
        "kind": kind,
        "policy": point.policy,
        "threshold": point.threshold,
        **(
            {"target_fmr": point.target_fmr}
            if isinstance(point, OperatingPoint)
            else {"target_fpir": point.target_fpir}
        ),
        "tested": results.input.source,
    }
    return CrossRates(labels, fmr, low, high, float(point.threshold), source)


def false_match_count_pmf(
    counts: Sequence[int], fmr: Sequence[float], *, up_to: int
) -> npt.NDArray[np.float64]:
    """``P(X = k)`` for ``k < up_to``, ``X = sum_h Binomial(counts[h], fmr[h])``.

    Examples
    --------
    >>> [round(float(v), 12) for v in false_match_count_pmf([2], [0.5], up_to=3)]
    [0.25, 0.5, 0.25]

    """
    from scipy import stats

    pmf = np.zeros(up_to)
    pmf[0] = 1.0
    k = np.arange(up_to)
    for n, p in zip(counts, fmr, strict=True):
        if n == 0 or p == 0:
            continue
        part = stats.binom.pmf(k, int(n), float(p))
        pmf = np.convolve(pmf, part)[:up_to]
    return pmf


def _figures(
    counts: npt.NDArray[np.int64], p: npt.NDArray[np.float64], rank: int | None
) -> tuple[float, float]:
    """(FPIR, expected false candidates per search) under the model."""
    with np.errstate(divide="ignore"):
        log_none = float(np.sum(counts * np.log1p(-np.minimum(p, 1.0))))
    fpir = 0.0 - math.expm1(log_none) if math.isfinite(log_none) else 1.0  # never -0.0
    mean = float(np.sum(counts * p))
    if rank is not None:
        pmf = false_match_count_pmf(counts.tolist(), p.tolist(), up_to=rank)
        # E[min(X, R)] = R - sum_{k<R} (R - k) P(X = k)
        mean = float(rank - np.sum((rank - np.arange(rank)) * pmf))
    return fpir, mean


def run_scenario(rates: CrossRates, deployment: Deployment) -> ScenarioResult:
    """Expected false candidates per search, day and year for each searched group.

    Parameters
    ----------
    rates : CrossRates
        The measured cross-group FMRs at one threshold (:func:`cross_rates`).
    deployment : Deployment
        Gallery composition, searches a day by group, rank, days a year.

    Returns
    -------
    ScenarioResult

    """
    index = {label: i for i, label in enumerate(rates.labels)}
    known = ", ".join(rates.labels)
    for option, names in (
        ("gallery", deployment.gallery),
        ("searches", deployment.searches_per_day),
    ):
        for label in names:
            if label not in index:
                raise UsageError(MSG_UNKNOWN_GROUP.format(option=option, label=label, known=known))
    gallery = np.zeros(len(rates.labels), dtype=np.int64)
    for label, n in deployment.gallery.items():
        gallery[index[label]] = int(n)
    present = gallery > 0
    rows = []
    with_bounds = rates.has_intervals
    for label, per_day in deployment.searches_per_day.items():
        g = index[label]
        p = rates.fmr[g]
        undefined = [rates.labels[h] for h in np.flatnonzero(present & np.isnan(p))]
        if undefined:
            note = f"no measured FMR against enrolled group(s) {', '.join(undefined)}"
            unset = [f.name for f in fields(ScenarioGroup)][2:-1]
            blank: dict[str, Any] = dict.fromkeys(unset)
            rows.append(ScenarioGroup(label, per_day, **blank, notes=[note]))
            continue
        fpir, mean = _figures(gallery[present], p[present], deployment.rank)
        bounds: list[tuple[float, float]] | None = None
        if with_bounds:
            lo = _figures(gallery[present], rates.low[g][present], deployment.rank)
            hi = _figures(gallery[present], rates.high[g][present], deployment.rank)
            bounds = [(lo[0], hi[0]), (lo[1], hi[1])]
        year = deployment.days_per_year
        rows.append(
            ScenarioGroup(
                label=label,
                searches_per_day=per_day,
                fpir=fpir,
                fpir_bounds=list(bounds[0]) if bounds else None,
                false_candidates_per_search=mean,
                false_candidates_per_search_bounds=list(bounds[1]) if bounds else None,
                false_candidates_per_day=mean * per_day,
                false_candidates_per_day_bounds=[b * per_day for b in bounds[1]]
                if bounds
                else None,
                false_candidates_per_year=mean * per_day * year,
                false_candidates_per_year_bounds=(
                    [b * per_day * year for b in bounds[1]] if bounds else None
                ),
                searches_with_false_candidates_per_day=fpir * per_day,
                ratio_to_best=None,
            )
        )
    defined = [r for r in rows if r.false_candidates_per_search is not None]
    best = min(defined, key=lambda r: r.false_candidates_per_search or 0.0) if defined else None
    notes = []
    final = []
    for r in rows:
        ratio = None
        if best is not None and r.false_candidates_per_search is not None:
            if best.false_candidates_per_search:
                ratio = r.false_candidates_per_search / best.false_candidates_per_search
            else:
                notes.append(
                    f"the best-served group {best.label} expects no false candidate (its "
                    "measured rates are 0): ratios to it are unbounded and not given"
                )
        final.append(ScenarioGroup(**{**r.__dict__, "ratio_to_best": ratio}))
    if not with_bounds:
        notes.append("the results carry no interval for the cross-group rates: no bounds given")
    return ScenarioResult(
        source=dict(rates.source),
        deployment={
            "gallery": {k: int(v) for k, v in deployment.gallery.items()},
            "gallery_size": int(gallery.sum()),
            "searches_per_day": dict(deployment.searches_per_day),
            "rank": deployment.rank,
            "days_per_year": deployment.days_per_year,
        },
        assumptions=list(ASSUMPTIONS),
        groups=final,
        best_served=best.label if best is not None else None,
        notes=list(dict.fromkeys(notes)),
    )
