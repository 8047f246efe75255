"""Open-set identification metrics per probe group: FPIR, FNIR, CMC, false candidates.

Definitions (ISO/IEC 19795-1:2021, 3.22-3.24; NIST IR 8271, "FRVT Part 2:
Identification", 2019, section 3; NIST IR 8280, section 5), for a gallery of ``N``
enrolled subjects, candidate lists of at most ``R`` entries and a threshold ``T``:

* a search returns the enrolled subjects of rank ``R`` or better whose score is at or
  above ``T`` (NIST's "at or above the threshold"; the score is a similarity);
* **FNIR(N, R, T)**: the fraction of mated searches whose mate is not returned (its
  rank is worse than ``R`` or its score below ``T``);
* **FPIR(N, T)**: the fraction of non-mated searches that return at least one
  candidate, i.e. whose highest score is at or above ``T`` (independent of ``R >= 1``);
* **CMC(r)**: the rank-``r`` identification rate, the fraction of mated searches whose
  mate is at rank ``r`` or better, with no threshold (``1 - FNIR(N, r, -inf)``).

Ties (the rules are written to ``results.json``): the mate's rank counts every
non-mated subject scoring at or above it, so a tie never counts in the system's
favour; a candidate list orders equal scores with the non-mated subjects first, then
by ascending enrolled-subject index, so a tie at rank ``R`` keeps the lower index; a
score equal to ``T`` is returned. A subject with several gallery samples scores the
highest of them (max-fusion).

Thresholds for a target FPIR follow the 1:1 rule of
:func:`faceparity.metrics.threshold_at_fmr` applied to the highest scores of the
non-mated searches that set them: the most permissive threshold whose FPIR there does
not exceed the target, ties never split. Policies (:class:`faceparity.ThresholdPolicy`):
``global`` (every non-mated search), ``reference:ATTR=VALUE`` (the non-mated searches
of one group, every group read at it: NIST's practice, e.g. FPIR 0.002 on a reference
group) and ``per-group``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.identification.protocol import Protocol
from faceparity.identification.search import SearchResult
from faceparity.metrics.differentials import gini, max_geomean_ratio, max_min_ratio
from faceparity.metrics.rates import threshold_at_fmr
from faceparity.model.config import PolicyKind, ScoreKind, ThresholdPolicy
from faceparity.model.grouping import Group, Grouping
from faceparity.results.common import ExclusionRecord, RateMeasures, SummaryMeasure
from faceparity.results.identification import (
    CrossGroupRate,
    FalseCandidateMatrix,
    GallerySizeCurve,
    GallerySizeGroup,
    IdentificationGroup,
    IdentificationPoint,
    IdentificationResult,
    IdentificationSummary,
    ProtocolRecord,
    SearchRates,
)

__all__ = [
    "DEFAULT_TARGET_FPIRS",
    "RULES",
    "candidate_lists",
    "cmc",
    "spread",
    "false_negative",
    "false_positive",
    "audit_searches",
    "search_rates",
    "threshold_at_fpir",
]

DEFAULT_TARGET_FPIRS: tuple[float, ...] = (1e-2, 2e-3)

RULES = {
    "returned": "a candidate is returned when its rank is R or better and its score >= threshold",
    "fusion": "a subject with several gallery samples scores the highest of them",
    "rank_ties": "the mate's rank counts every non-mated subject scoring at or above it",
    "candidate_ties": (
        "equal scores: non-mated subjects before the mate, then ascending enrolled-subject "
        "index (a tie at rank R keeps the lower index)"
    ),
    "threshold": (
        "most permissive threshold whose FPIR on the non-mated searches that set it is at "
        "most the target: the smallest float64 above the (k+1)-th highest top score, "
        "k = max{k : k / n <= target}; ties are never split"
    ),
}

NO_NON_MATED = "no non-mated search in this group: FPIR undefined"
NO_MATED = "no mated search in this group: FNIR and CMC undefined"
CENSORED = (
    "{count} non-mated searches had {depth} or more subjects at or above the threshold; "
    "their comparisons are counted up to {depth} (the FMR is a lower bound)"
)


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


def threshold_at_fpir(top_scores: npt.ArrayLike, *, target_fpir: float) -> float:
    """Most permissive threshold whose FPIR on these non-mated searches is <= target.

    Parameters
    ----------
    top_scores : array-like of float
        Highest score of each non-mated search.
    target_fpir : float
        In (0, 1).

    Returns
    -------
    float
        A search with a score ``>=`` it returns a candidate.

    Examples
    --------
    >>> t = threshold_at_fpir([0.1, 0.2, 0.3, 0.4], target_fpir=0.25)
    >>> 0.3 < t < 0.4
    True

    """
    scores = np.asarray(top_scores, dtype=np.float64)
    return threshold_at_fmr(scores, target_fmr=target_fpir, score_kind=ScoreKind.SIMILARITY)


def false_positive(
    result: SearchResult, threshold: float | npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """True for searches whose best non-mated subject is at or above the threshold."""
    return np.asarray(result.top_score[:, 0].astype(np.float64) >= threshold)


def false_negative(
    result: SearchResult, threshold: float | npt.NDArray[np.float64], *, rank: int
) -> npt.NDArray[np.bool_]:
    """True for mated searches whose mate is not returned (rank worse than R or below T)."""
    rank_of = result.rank
    mated = rank_of > 0
    score = result.mated_score.astype(np.float64)
    with np.errstate(invalid="ignore"):
        missed = (rank_of > rank) | ~(score >= threshold)
    return np.asarray(mated & missed)


def cmc(result: SearchResult, *, rank: int) -> npt.NDArray[np.float64]:
    """Rank-1..R identification rates of the mated searches of ``result`` (NaN if none)."""
    r = result.rank[result.rank > 0]
    if not len(r):
        return np.full(rank, np.nan)
    return np.array([np.mean(r <= k) for k in range(1, rank + 1)])


def candidate_lists(
    result: SearchResult,
    protocol: Protocol,
    threshold: float | npt.NDArray[np.float64],
    *,
    rank: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Each search's candidate list: enrolled-subject indices and scores, best first.

    At most ``rank`` entries at or above the threshold (module notes for ties); ``-1``
    and ``-inf`` fill the rest.

    Returns
    -------
    subjects : ndarray of int64, shape (n_probes, rank)
    scores : ndarray of float32, shape (n_probes, rank)

    """
    if rank > result.top_score.shape[1]:
        raise UsageError(f"rank {rank} is more than the {result.top_score.shape[1]} kept")
    mated = protocol.probe_mate >= 0
    score = np.concatenate(
        [result.top_score[:, :rank], np.where(mated, result.mated_score, -np.inf)[:, None]], axis=1
    )
    subject = np.concatenate([result.top_subject[:, :rank], protocol.probe_mate[:, None]], axis=1)
    is_mate = np.zeros_like(subject)
    is_mate[:, -1] = 1
    order = np.lexsort((subject, is_mate, -score.astype(np.float64)), axis=1)[:, :rank]
    score = np.take_along_axis(score, order, axis=1)
    subject = np.take_along_axis(subject, order, axis=1)
    keep = score.astype(np.float64) >= np.broadcast_to(
        np.asarray(threshold, dtype=np.float64).reshape(-1, 1)
        if np.ndim(threshold)
        else np.float64(threshold),
        score.shape,
    )
    return np.where(keep, subject, -1), np.where(keep, score, -np.inf).astype(np.float32)


def _probe_thresholds(
    policy: ThresholdPolicy,
    target: float,
    result: SearchResult,
    protocol: Protocol,
    groups: Sequence[Group],
    group_by: Sequence[str],
) -> tuple[float | None, npt.NDArray[np.float64]]:
    """The policy's threshold (None for per-group) and the threshold of every search."""
    non_mated = protocol.probe_mate < 0
    top = result.top_score[:, 0].astype(np.float64)
    if policy.kind is PolicyKind.PER_GROUP:
        per = np.full(len(groups), np.nan)
        for g in range(len(groups)):
            scores = top[non_mated & (protocol.probe_group == g)]
            if len(scores):
                per[g] = threshold_at_fpir(scores, target_fpir=target)
        return None, per[protocol.probe_group]
    if policy.kind is PolicyKind.REFERENCE:
        assert policy.reference is not None
        ref = Grouping(tuple(group_by), tuple(groups), np.empty((0, 2), np.int32)).find(
            policy.reference
        )
        scores = top[non_mated & (protocol.probe_group == ref)]
        if not len(scores):
            raise UsageError(f"reference group {policy}: it has no non-mated search")
    else:
        scores = top[non_mated]
    t = threshold_at_fpir(scores, target_fpir=target)
    return t, np.full(len(top), t)


def search_rates(
    result: SearchResult,
    protocol: Protocol,
    groups: Sequence[Group],
    thresholds: float | npt.NDArray[np.float64],
    *,
    rank: int,
) -> tuple[list[SearchRates], SearchRates, FalseCandidateMatrix, list[CrossGroupRate], list[str]]:
    """Rates of every probe group (and of all searches) at the given thresholds.

    Parameters
    ----------
    result, protocol : SearchResult, Protocol
        The searches.
    groups : sequence of Group
        The groups the protocol's codes index.
    thresholds : float or ndarray of float, shape (n_probes,)
        The threshold each search is read at.
    rank : int
        Candidate list length R.

    Returns
    -------
    groups, overall, false_candidates, cross_group, notes

    """
    n_groups = len(groups)
    t = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), result.mated_score.shape)
    non_mated = protocol.probe_mate < 0
    mated = ~non_mated
    fp = false_positive(result, t) & non_mated
    fn = false_negative(result, t, rank=rank) & ~np.isnan(t)
    returned = (result.top_score[:, :rank].astype(np.float64) >= t[:, None]) & non_mated[:, None]
    depth = result.top_score.shape[1]
    above = (result.top_score.astype(np.float64) >= t[:, None]) & non_mated[:, None]
    censored = int(np.sum(above[:, -1])) if depth else 0
    cand_group = protocol.enrolled_group[np.maximum(result.top_subject, 0)]
    counts = np.zeros((n_groups, n_groups), dtype=np.int64)
    matches = np.zeros((n_groups, n_groups), dtype=np.int64)
    pg = np.broadcast_to(protocol.probe_group[:, None], result.top_subject.shape)
    np.add.at(counts, (pg[:, :rank][returned], cand_group[:, :rank][returned]), 1)
    np.add.at(matches, (pg[above], cand_group[above]), 1)
    gallery_sizes = np.bincount(protocol.enrolled_group, minlength=n_groups)
    n_nm = np.bincount(protocol.probe_group[non_mated], minlength=n_groups)
    n_m = np.bincount(protocol.probe_group[mated], minlength=n_groups)
    n_fp = np.bincount(protocol.probe_group[fp], minlength=n_groups)
    n_fn = np.bincount(protocol.probe_group[fn], minlength=n_groups)
    n_returned = counts.sum(axis=1)
    notes = [CENSORED.format(count=censored, depth=depth)] if censored else []
    N = protocol.n_enrolled

    def rates(attributes: dict[str, str], label: str, g: int | None) -> SearchRates:
        if g is None:
            k_fp, k_nm, k_fn, k_m = (
                int(fp.sum()),
                int(non_mated.sum()),
                int(fn.sum()),
                int(mated.sum()),
            )
            k_ret, k_match = int(counts.sum()), int(matches.sum())
            ts = np.unique(t[~np.isnan(t)])
            threshold = float(ts[0]) if len(ts) == 1 else None
        else:
            k_fp, k_nm, k_fn, k_m = int(n_fp[g]), int(n_nm[g]), int(n_fn[g]), int(n_m[g])
            k_ret, k_match = int(n_returned[g]), int(matches[g].sum())
            ts = np.unique(t[protocol.probe_group == g])
            threshold = float(ts[0]) if len(ts) == 1 and np.isfinite(ts[0]) else None
        unset = bool(len(ts)) and bool(np.all(np.isnan(ts)))  # per-group, no threshold
        own = []
        if not k_nm:
            own.append(NO_NON_MATED)
        if not k_m:
            own.append(NO_MATED.replace(" and CMC", ""))
        elif unset:
            own.append("no threshold for this group (it has no non-mated search): FNIR undefined")
        return SearchRates(
            attributes=attributes,
            label=label,
            threshold=threshold,
            fpir=_rate(k_fp, k_nm),
            n_false_positive_searches=k_fp,
            n_non_mated_searches=k_nm,
            fnir=None if unset else _rate(k_fn, k_m),
            n_false_negative_searches=k_fn,
            n_mated_searches=k_m,
            false_candidates_per_search=_rate(k_ret, k_nm),
            fmr=_rate(k_match, k_nm * N),
            n_false_matches=k_match,
            n_comparisons=k_nm * N,
            notes=own,
        )

    per_group = [rates(groups[g].as_dict(), groups[g].label, g) for g in range(n_groups)]
    overall = rates({}, "overall", None)
    total = gallery_sizes.sum()
    matrix = FalseCandidateMatrix(
        probe_groups=[g.label for g in groups],
        candidate_groups=[g.label for g in groups],
        counts=counts.tolist(),
        n_searches=n_nm.tolist(),
        same_group_share=[_rate(int(counts[g, g]), int(n_returned[g])) for g in range(n_groups)],
        gallery_share=[float(s / total) for s in gallery_sizes],
    )
    cells = [
        CrossGroupRate(
            probe=groups[a].as_dict(),
            candidate=groups[b].as_dict(),
            fmr=_rate(int(matches[a, b]), int(n_nm[a] * gallery_sizes[b])),
            n_false_matches=int(matches[a, b]),
            n_comparisons=int(n_nm[a] * gallery_sizes[b]),
        )
        for a in range(n_groups)
        for b in range(n_groups)
    ]
    return per_group, overall, matrix, cells, notes


def spread(rows: Sequence[SearchRates]) -> IdentificationSummary:
    """The spread of FPIR and FNIR across probe groups: max/min, max/geomean, Gini.

    The measures of the 1:1 audit (:mod:`faceparity.metrics.differentials`: NIST IR
    8280's max/min, the max/geomean ratio of NIST's 2022 FRTE reports, the Gini
    coefficient), read on the groups' FPIR and FNIR; an undefined rate (no searches)
    is left out, and a measure that cannot be computed is None with its reason.
    """

    def measures(rate: str) -> RateMeasures:
        rates = {row.label: getattr(row, rate) for row in rows}
        return RateMeasures(
            **{
                name: SummaryMeasure(m.value, m.n_groups, m.undefined_reason)
                for name, m in (
                    ("max_min", max_min_ratio(rates)),
                    ("max_geomean", max_geomean_ratio(rates)),
                    ("gini", gini(rates)),
                )
            }
        )

    return IdentificationSummary(fpir=measures("fpir"), fnir=measures("fnir"))


def _curve(
    result: SearchResult,
    protocol: Protocol,
    groups: Sequence[Group],
    point: IdentificationPoint,
) -> GallerySizeCurve:
    """FPIR and FNIR on the nested sub-galleries at the point's fixed threshold."""
    assert point.threshold is not None
    t, rank = point.threshold, point.rank
    non_mated = protocol.probe_mate < 0
    best = np.maximum.accumulate(result.tier_max.astype(np.float64), axis=1) >= t
    ranks = 1 + np.cumsum(result.n_above, axis=1)
    mate_tier = protocol.tier[np.maximum(protocol.probe_mate, 0)]
    sizes = list(protocol.gallery_sizes)
    score = result.mated_score.astype(np.float64)
    with np.errstate(invalid="ignore"):
        below = ~(score >= t)
    above = result.top_score.astype(np.float64) >= t
    n_matches = above.sum(axis=1)

    def one(attributes: dict[str, str], label: str, sel: npt.NDArray[np.bool_]) -> GallerySizeGroup:
        nm = sel & non_mated
        m = sel & ~non_mated
        n_nm = int(nm.sum())
        fmr = float(n_matches[nm].sum() / (n_nm * protocol.n_enrolled)) if n_nm else None
        fpir, fnir, approx, n_mated = [], [], [], []
        for k, size in enumerate(sizes):
            fpir.append(_rate(int(best[nm, k].sum()), n_nm))
            inside = m & (mate_tier <= k)
            missed = inside & ((ranks[:, k] > rank) | below)
            n_mated.append(int(inside.sum()))
            fnir.append(_rate(int(missed.sum()), int(inside.sum())))
            approx.append(None if fmr is None else float(1.0 - (1.0 - fmr) ** size))
        return GallerySizeGroup(attributes, label, fpir, fnir, approx, fmr, n_nm, n_mated)

    return GallerySizeCurve(
        target_fpir=point.target_fpir,
        policy=point.policy,
        threshold=t,
        rank=rank,
        sizes=sizes,
        overall=one({}, "overall", np.ones(len(non_mated), dtype=bool)),
        groups=[one(g.as_dict(), g.label, protocol.probe_group == i) for i, g in enumerate(groups)],
        notes=[
            "sub-galleries are nested random subsets of the enrolled subjects; mated searches "
            "count where their mate is enrolled in the sub-gallery; every non-mated search "
            "counts at every size; the threshold is fixed at the full gallery's",
            "fpir_independence = 1 - (1 - fmr)^N, fmr the fraction of the group's non-mated "
            "comparisons at or above the threshold in the full gallery",
        ],
    )


def audit_searches(
    result: SearchResult,
    protocol: Protocol,
    *,
    groups: Sequence[Group],
    group_by: Sequence[str],
    rank: int = 1,
    target_fpirs: Sequence[float] = DEFAULT_TARGET_FPIRS,
    policies: Sequence[ThresholdPolicy] = (ThresholdPolicy(PolicyKind.GLOBAL),),
) -> IdentificationResult:
    """The 1:N audit of a set of searches: every metric of the module, per probe group.

    Parameters
    ----------
    result : SearchResult
        What :func:`faceparity.identification.search` found.
    protocol : Protocol
        Gallery and searches.
    groups : sequence of Group
        The groups the protocol's codes index.
    group_by : sequence of str
        The attributes of the groups.
    rank : int, default 1
        Candidate list length R.
    target_fpirs : sequence of float
        Target FPIRs of the operating points, each in (0, 1).
    policies : sequence of ThresholdPolicy
        Every target is read under every policy.

    Returns
    -------
    IdentificationResult

    """
    if rank < 1 or rank > result.top_score.shape[1]:
        raise UsageError(
            f"rank: expected 1 to {result.top_score.shape[1]} (the candidates kept), got {rank}"
        )
    for target in target_fpirs:
        if not 0.0 < target < 1.0:
            raise UsageError(f"target FPIR: expected a number in (0, 1), got {target!r}")
    if len(set(target_fpirs)) != len(target_fpirs):
        raise UsageError(f"target FPIRs: a value is given twice in {list(target_fpirs)}")
    non_mated = protocol.probe_mate < 0
    gallery_sizes = np.bincount(protocol.enrolled_group, minlength=len(groups))

    def group_summary(
        attributes: dict[str, str], label: str, sel: npt.NDArray[np.bool_], n_enrolled: int
    ) -> IdentificationGroup:
        sub = SearchResult(
            result.top_score[sel],
            result.top_subject[sel],
            result.mated_score[sel],
            result.n_above[sel],
            result.tier_max[sel],
        )
        n_m, n_nm = int((sel & ~non_mated).sum()), int((sel & non_mated).sum())
        curve = cmc(sub, rank=rank)
        notes = ([NO_MATED] if not n_m else []) + ([NO_NON_MATED] if not n_nm else [])
        return IdentificationGroup(
            attributes=attributes,
            label=label,
            n_enrolled_subjects=n_enrolled,
            n_mated_searches=n_m,
            n_non_mated_searches=n_nm,
            cmc=[None if np.isnan(v) else float(v) for v in curve],
            notes=notes,
        )

    summaries = [
        group_summary(g.as_dict(), g.label, protocol.probe_group == i, int(gallery_sizes[i]))
        for i, g in enumerate(groups)
    ]
    overall = group_summary({}, "overall", np.ones(len(non_mated), dtype=bool), protocol.n_enrolled)
    points = []
    for target in target_fpirs:
        for policy in policies:
            threshold, per_probe = _probe_thresholds(
                policy, target, result, protocol, groups, group_by
            )
            rows, total, matrix, cells, notes = search_rates(
                result, protocol, groups, per_probe, rank=rank
            )
            points.append(
                IdentificationPoint(
                    target_fpir=target,
                    policy=str(policy),
                    threshold=threshold,
                    rank=rank,
                    overall=total if threshold is not None else None,
                    groups=rows,
                    false_candidates=matrix,
                    cross_group=cells,
                    notes=notes,
                    summary=spread(rows),
                )
            )
    single = [p for p in points if p.threshold is not None]
    curve = _curve(result, protocol, groups, single[0]) if single else None
    return IdentificationResult(
        protocol=ProtocolRecord(**protocol.description),
        rank=rank,
        target_fpirs=list(target_fpirs),
        policies=[str(p) for p in policies],
        rules=dict(RULES),
        overall=overall,
        groups=summaries,
        operating_points=points,
        gallery_size=curve,
        exclusions=[
            ExclusionRecord(reason=e.reason, count=e.count, unit=e.unit, scope=e.scope)
            for e in protocol.exclusions
        ],
    )
