"""The exact 1:1 verification audit: from a set of comparisons to per-group error rates.

This module orchestrates; the rates themselves come from :mod:`faceparity.metrics`.
Scores are split by group once (one sort), so every operating point afterwards is
a binary search per group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceparity._version import __version__
from faceparity.accumulate.accumulator import Accumulator
from faceparity.errors import InputError
from faceparity.metrics.distribution import HistogramScores
from faceparity.metrics.rates import (
    ScoreCounts,
    SortedScores,
    equal_error_rate_of,
)
from faceparity.model.comparisons import ComparisonSet, Exclusion
from faceparity.model.config import (
    AuditConfig,
    FMRScope,
    MatedGroupRule,
    ScoreKind,
)
from faceparity.model.grouping import Group, Grouping, group_comparisons
from faceparity.model.population import Population
from faceparity.results.audit import (
    AuditConfigRecord,
    AuditResult,
    DetPoints,
    EerResult,
    ExclusionRecord,
    GroupSummary,
    InputRecord,
    ToolRecord,
)
from faceparity.verification.distributions import score_distributions
from faceparity.verification.operating_points import (
    Partition,
    group_notes,
    operating_point,
)

__all__ = ["Population", "audit", "audit_accumulated"]


def _split_sorted(
    keys: npt.NDArray[np.integer],
    scores: npt.NDArray[np.float64],
    n_keys: int,
    *,
    runs: int = 1,
) -> list[SortedScores]:
    """Scores grouped by key, each group sorted.

    ``scores`` is the concatenation of ``runs`` ascending runs (``runs=0``: in no
    order). A stable sort by key (a linear radix sort for small keys) keeps each key's
    scores as ``runs`` sorted runs, which a stable sort then merges in linear time when
    there is more than one; scores in no order are sorted group by group.
    """
    grouped = scores[np.argsort(_small(keys, n_keys), kind="stable")]
    bounds = _bounds(keys, n_keys)
    parts = [grouped[bounds[k] : bounds[k + 1]] for k in range(n_keys)]
    if runs != 1:
        parts = [np.sort(part, kind="stable" if runs else None) for part in parts]
    return [SortedScores.from_sorted(part) for part in parts]


def _small(keys: npt.NDArray[np.integer], n_keys: int) -> npt.NDArray[np.integer]:
    """Keys below ``n_keys`` in the narrowest type numpy sorts them fastest in (a radix sort)."""
    return keys.astype(np.int16 if n_keys < np.iinfo(np.int16).max else np.int64)


def _bounds(keys: npt.NDArray[np.integer], n_keys: int) -> npt.NDArray[np.int64]:
    """Where each key's run starts once the keys (in ``0..n_keys - 1``) are sorted, and the end."""
    bounds = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_keys)[:n_keys], out=bounds[1:])
    return bounds


def _partition(
    cs: ComparisonSet, grouping: Grouping, config: AuditConfig
) -> Partition[SortedScores]:
    # One sort of all scores; every selection below keeps the ascending order.
    order = np.argsort(cs.similarity, kind="stable")
    s = cs.similarity[order]
    mated = cs.mated[order]
    complete = grouping.complete[order]
    ga = grouping.codes[order, 0].astype(np.int64)
    gb = grouping.codes[order, 1].astype(np.int64)
    n_groups = len(grouping.groups)
    exclusions: list[Exclusion] = []

    exclusions.extend(_incomplete_exclusion(grouping.group_by, int((~complete).sum())))
    m_rows = mated & complete
    group_mated = _mated_by_group(s[m_rows], ga[m_rows], gb[m_rows], n_groups, config, exclusions)

    # Non-mated comparisons: demographically matched, or every one involving the group.
    nm_rows = ~mated & complete
    a, b, s_nm = ga[nm_rows], gb[nm_rows], s[nm_rows]
    if config.fmr_scope is FMRScope.MATCHED:
        nm_key, nm_scores, runs = np.where(a == b, a, n_groups), s_nm, 1
    else:
        other = a != b
        nm_key = np.concatenate([a, b[other]])
        nm_scores, runs = np.concatenate([s_nm, s_nm[other]]), 2
    group_non_mated = _split_sorted(nm_key, nm_scores, n_groups + 1, runs=runs)[:n_groups]

    # Cross-group cells: each unordered pair of groups once (a <= b).
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    cell_parts = _split_sorted(lo * n_groups + hi, s_nm, n_groups * n_groups)
    cells = {
        (i, j): cell_parts[i * n_groups + j] for i in range(n_groups) for j in range(i, n_groups)
    }
    return Partition(
        overall_mated=SortedScores.from_sorted(s[mated]),
        overall_non_mated=SortedScores.from_sorted(s[~mated]),
        group_mated=group_mated,
        group_non_mated=group_non_mated,
        cells=cells,
        exclusions=exclusions,
    )


def _incomplete_exclusion(group_by: Sequence[str], count: int) -> list[Exclusion]:
    if not count:
        return []
    return [
        Exclusion(
            reason="a group-by attribute ("
            + ", ".join(group_by)
            + ") is missing on at least one side; counted in the overall rates only",
            count=count,
            scope="groups",
        )
    ]


def _mated_by_group(
    s: npt.NDArray[np.float64],
    ga: npt.NDArray[np.integer],
    gb: npt.NDArray[np.integer],
    n_groups: int,
    config: AuditConfig,
    exclusions: list[Exclusion],
    *,
    ascending: bool = True,
) -> list[SortedScores]:
    """Mated scores (both sides in a group; ascending, or not) split by the configured rule."""
    if config.mated_rule is MatedGroupRule.FIRST:
        key = ga
    elif config.mated_rule is MatedGroupRule.SECOND:
        key = gb
    else:
        agree = ga == gb
        n_disagree = int((~agree).sum())
        if n_disagree:
            exclusions.append(
                Exclusion(
                    reason="mated comparison whose two samples fall in different groups "
                    "(mated rule 'exclude'); counted in the overall rates only",
                    count=n_disagree,
                    scope="groups",
                )
            )
        key = np.where(agree, ga, n_groups)
    return _split_sorted(key, s, n_groups + 1, runs=1 if ascending else 0)[:n_groups]


def _partition_accumulated(
    acc: Accumulator, group_by: Sequence[str], config: AuditConfig
) -> Partition[SortedScores]:
    """The partition of an audit from a streaming accumulator (histograms and exact tails)."""
    acc.finalize()
    n_groups, slots = acc.n_groups, acc.n_groups + 1
    held, held_cells = acc.tail()
    # The tail cell by cell (a stable sort of small integers), each run then sorted.
    cell_tail = held[np.argsort(_small(held_cells, acc.n_cells), kind="stable")]
    bounds = _bounds(held_cells, acc.n_cells)
    for c in range(acc.n_cells):
        cell_tail[bounds[c] : bounds[c + 1]].sort()
    tail = np.sort(held)

    def view(cells: list[int], *, everything: bool = False) -> HistogramScores:
        if everything:
            scores, counts = tail, acc.histogram.sum(axis=0)
        elif len(cells) == 1:
            scores = cell_tail[bounds[cells[0]] : bounds[cells[0] + 1]]
            counts = acc.histogram[cells[0]]
        else:
            scores = np.sort(np.concatenate([cell_tail[bounds[c] : bounds[c + 1]] for c in cells]))
            counts = acc.histogram[np.asarray(cells)].sum(axis=0)
        return HistogramScores(acc.grid, counts, scores, acc.tail_bin)

    lut = acc.lut
    cells = {(i, j): view([lut[i, j]]) for i in range(n_groups) for j in range(i, n_groups)}
    if config.fmr_scope is FMRScope.MATCHED:
        group_non_mated: list[ScoreCounts] = [cells[(g, g)] for g in range(n_groups)]
    else:
        group_non_mated = [view([lut[g, h] for h in range(n_groups)]) for g in range(n_groups)]
    missing_cells = [lut[g, n_groups] for g in range(slots)]
    n_incomplete_nm = int(acc.histogram[missing_cells].sum())

    # Mated scores: grouped first, then sorted group by group (no sort of them all by score
    # and gather after it); all of them sorted on their own.
    m_scores, m_pairs = acc.mated()
    ga, gb = np.divmod(m_pairs, slots)
    complete = (ga < n_groups) & (gb < n_groups)
    n_incomplete_m = int(complete.size - np.count_nonzero(complete))
    exclusions = _incomplete_exclusion(group_by, n_incomplete_nm + n_incomplete_m)
    if n_incomplete_m:
        ga, gb = ga[complete], gb[complete]
    group_mated = _mated_by_group(
        m_scores[complete] if n_incomplete_m else m_scores,
        ga,
        gb,
        n_groups,
        config,
        exclusions,
        ascending=False,
    )
    return Partition(
        overall_mated=SortedScores.from_sorted(np.sort(m_scores)),
        overall_non_mated=view([], everything=True),
        group_mated=group_mated,
        group_non_mated=group_non_mated,
        cells=cells,
        exclusions=exclusions,
    )


def _det_points(
    mated: SortedScores, non_mated: ScoreCounts, n_points: int, sign: float
) -> DetPoints | None:
    if not len(mated) or not len(non_mated):
        return None
    targets = np.geomspace(1.0 / len(non_mated), 0.5, n_points) if len(non_mated) > 2 else [0.5]
    seen: dict[float, tuple[float, float]] = {}
    for target in targets:
        t = non_mated.threshold_at_fmr(float(min(target, 0.5)))
        if t not in seen:
            fmr = int(non_mated.count_at_or_above(t)) / len(non_mated)
            fnmr = int(mated.count_below(t)) / len(mated)
            seen[t] = (fmr, fnmr)
    ordered = sorted(seen.items(), key=lambda item: item[0])
    return DetPoints(
        fmr=[v[0] for _, v in ordered],
        fnmr=[v[1] for _, v in ordered],
        threshold=[sign * t for t, _ in ordered],
    )


def _eer(mated: SortedScores, non_mated: ScoreCounts, sign: float) -> EerResult | None:
    if not len(mated) or not len(non_mated):
        return None
    e = equal_error_rate_of(mated, non_mated)
    return EerResult(eer=e.eer, low=e.low, high=e.high, threshold=sign * e.threshold)


def _distinct_per_group(
    groups: npt.NDArray[np.int64], items: npt.NDArray[np.int64], n_groups: int
) -> list[int]:
    """How many distinct items each group has (pairs of group and item, counted once)."""
    width = int(items.max()) + 1 if items.size else 1
    if n_groups * width <= 50_000_000:  # a presence table: linear, no hashing
        seen = np.zeros((n_groups, width), dtype=bool)
        seen[groups, items] = True
        return [int(v) for v in seen.sum(axis=1)]
    pairs = np.unique(groups * width + items)
    return [int(v) for v in np.bincount(pairs // width, minlength=n_groups)]


def _distinct(codes: npt.NDArray[np.integer]) -> int:
    """How many distinct non-negative codes (subjects or samples) an array holds."""
    return int(np.count_nonzero(np.bincount(codes.ravel()))) if codes.size else 0


def _subject_sample_counts(
    cs: ComparisonSet, grouping: Grouping
) -> tuple[list[int], list[int | None]]:
    n_groups = len(grouping.groups)
    codes = grouping.codes.ravel().astype(np.int64)
    keep = codes >= 0
    g = codes[keep]
    n_subjects = _distinct_per_group(g, cs.subject.ravel()[keep], n_groups)
    n_samples: list[int | None] = [None] * n_groups
    if cs.sample is not None:
        n_samples = list(_distinct_per_group(g, cs.sample.ravel()[keep], n_groups))
    return n_subjects, n_samples


def _input_notes(comparisons: ComparisonSet) -> list[str]:
    if comparisons.sample is None:
        return [
            "the input names no samples: duplicate comparisons and comparisons of a "
            "sample with itself could not be detected, and samples are not counted"
        ]
    return []


def audit(
    comparisons: ComparisonSet,
    *,
    group_by: Sequence[str],
    config: AuditConfig | None = None,
) -> AuditResult:
    """Per-group FMR and FNMR at the operating points of ``config``, exactly.

    Parameters
    ----------
    comparisons : ComparisonSet
        The comparisons, from any reader.
    group_by : sequence of str
        Attributes whose intersection defines the groups.
    config : AuditConfig, optional
        Target FMRs, threshold policies and counting rules; defaults to
        ``AuditConfig()``.

    Returns
    -------
    AuditResult
        The result object written as ``results.json``.

    """
    config = config or AuditConfig()
    if len(comparisons) == 0:
        raise InputError(
            f"no comparisons left to audit in {comparisons.source or 'the input'} "
            "after the exclusions"
        )
    grouping = group_comparisons(comparisons, group_by)
    part = _partition(comparisons, grouping, config)
    n_subjects, n_samples = _subject_sample_counts(comparisons, grouping)
    population = Population(
        n_subjects=n_subjects,
        n_samples=n_samples,
        n_subjects_total=_distinct(comparisons.subject),
        n_samples_total=None if comparisons.sample is None else _distinct(comparisons.sample),
    )
    return _assemble(
        part,
        grouping,
        config,
        population=population,
        score_kind=comparisons.score_kind,
        source=comparisons.source,
        n_comparisons=len(comparisons),
        exclusions=comparisons.exclusions,
        notes=_input_notes(comparisons),
    )


def audit_accumulated(
    accumulator: Accumulator,
    *,
    groups: Sequence[Group],
    group_by: Sequence[str],
    population: Population,
    config: AuditConfig | None = None,
    source: str = "",
    exclusions: Sequence[Exclusion] = (),
    notes: Sequence[str] = (),
    score_kind: ScoreKind = ScoreKind.SIMILARITY,
) -> AuditResult:
    """The audit of :func:`audit` from a streaming accumulator of similarity scores.

    ``score_kind`` is the input's direction: the accumulator holds similarities
    (distances negated, exactly), and thresholds are reported in the input's direction.

    Counts and rates are exact at every reported threshold. A threshold is exact (as
    in :func:`audit`) where it lies at or above the accumulator's tail edge; below it,
    it is the most permissive bin edge whose FMR does not exceed the target, within
    one bin width of the exact one (see :mod:`faceparity.accumulate`).
    """
    config = config or AuditConfig()
    if len(groups) != accumulator.n_groups:
        raise ValueError("one Group per group index of the accumulator is needed")
    grouping = Grouping(
        group_by=tuple(group_by), groups=tuple(groups), codes=np.empty((0, 2), dtype=np.int32)
    )
    part = _partition_accumulated(accumulator, group_by, config)
    n = len(part.overall_mated) + len(part.overall_non_mated)
    if n == 0:
        raise InputError(f"no comparisons to audit in {source or 'the input'}")
    kind = ScoreKind(score_kind)
    edge = accumulator.tail_edge
    exact_part = (
        f"exact above {edge!r}" if kind is ScoreKind.SIMILARITY else f"exact below {-edge!r}"
    )
    resolution = (
        f"streaming engine: non-mated scores in {accumulator.grid.n_bins} bins of width "
        f"{accumulator.grid.width:.3g}; {exact_part}"
    )
    return _assemble(
        part,
        grouping,
        config,
        population=population,
        score_kind=kind,
        source=source,
        n_comparisons=n,
        exclusions=exclusions,
        notes=[*notes, resolution],
    )


def _assemble(
    part: Partition[SortedScores],
    grouping: Grouping,
    config: AuditConfig,
    *,
    population: Population,
    score_kind: ScoreKind,
    source: str,
    n_comparisons: int,
    exclusions: Sequence[Exclusion],
    notes: Sequence[str],
) -> AuditResult:
    sign = 1.0 if score_kind is ScoreKind.SIMILARITY else -1.0
    group_summaries = []
    for i, group in enumerate(grouping.groups):
        m, nm = part.group_mated[i], part.group_non_mated[i]
        group_summaries.append(
            GroupSummary(
                attributes=group.as_dict(),
                label=group.label,
                n_subjects=population.n_subjects[i],
                n_samples=population.n_samples[i],
                n_mated=len(m),
                n_non_mated=len(nm),
                eer=_eer(m, nm, sign),
                det=_det_points(m, nm, config.det_points, sign),
                notes=group_notes(len(m), len(nm)),
            )
        )
    overall = GroupSummary(
        attributes={},
        label="overall",
        n_subjects=population.n_subjects_total,
        n_samples=population.n_samples_total,
        n_mated=len(part.overall_mated),
        n_non_mated=len(part.overall_non_mated),
        eer=_eer(part.overall_mated, part.overall_non_mated, sign),
        det=_det_points(part.overall_mated, part.overall_non_mated, config.det_points, sign),
        notes=group_notes(len(part.overall_mated), len(part.overall_non_mated)),
    )
    if not len(part.overall_non_mated):
        raise InputError(
            f"no non-mated comparisons in {source or 'the input'}: "
            "no threshold can be set for a target FMR"
        )
    points = [
        operating_point(policy, target, grouping, part, config, sign)
        for policy in config.policies
        for target in config.target_fmrs
    ]
    return AuditResult(
        tool=ToolRecord(name="faceparity", version=__version__),
        input=InputRecord(
            source=source,
            score_kind=score_kind.value,
            n_comparisons=n_comparisons,
            n_mated=len(part.overall_mated),
            n_non_mated=len(part.overall_non_mated),
            n_subjects=overall.n_subjects,
            n_samples=overall.n_samples,
            notes=list(notes),
        ),
        config=AuditConfigRecord(
            group_by=list(grouping.group_by),
            target_fmrs=list(config.target_fmrs),
            policies=[str(p) for p in config.policies],
            fmr_scope=config.fmr_scope.value,
            mated_rule=config.mated_rule.value,
            alpha=config.alpha,
            match_rule="score >= threshold" if sign > 0 else "score <= threshold",
        ),
        overall=overall,
        groups=group_summaries,
        operating_points=points,
        exclusions=[
            ExclusionRecord(reason=e.reason, count=e.count, unit=e.unit, scope=e.scope)
            for e in (*exclusions, *part.exclusions)
        ],
        score_distributions=score_distributions(
            part, grouping, sign=sign, fmr_scope=config.fmr_scope
        ),
    )
