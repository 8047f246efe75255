"""What the subject bootstrap reweights: the views of an audit and their subjects.

A *plan* holds, for every view of an audit (overall, each group, each cross-group
cell; mated and non-mated), the scores a replicate needs with the subjects of each, and
builds the audit's partition for one replicate's subject weights
(:meth:`ExactViews.replicate`). :class:`ExactViews` reads the list of comparisons of an
exact audit; :class:`StreamViews` the exact tail and mated scores of a streaming
all-vs-all accumulator, with the replicate's numbers of comparisons in closed form.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.accumulate.accumulator import Accumulator
from faceparity.model.comparisons import ComparisonSet
from faceparity.model.config import AuditConfig, FMRScope, MatedGroupRule, PolicyKind
from faceparity.model.grouping import Group, Grouping
from faceparity.results.audit import AuditResult, OperatingPoint
from faceparity.uncertainty.bootstrap import View, WeightedScores
from faceparity.verification.operating_points import Partition

__all__ = ["ExactViews", "StreamViews"]

Key = tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class ExactViews:
    """The views of an exact audit, each with the subjects of its comparisons."""

    n_subjects: int
    overall_mated: View
    overall_non_mated: View
    group_mated: list[View]
    group_non_mated: list[View]
    cells: dict[tuple[int, int], View]

    @classmethod
    def of(
        cls, cs: ComparisonSet, grouping: Grouping, config: AuditConfig, result: AuditResult
    ) -> ExactViews:
        """The plan of an exact audit of ``cs`` (whose result is ``result``)."""
        order = np.argsort(cs.similarity)
        s = cs.similarity[order]
        mated = cs.mated[order]
        sa = cs.subject[order, 0].astype(np.int64)
        sb = cs.subject[order, 1].astype(np.int64)
        complete = grouping.complete[order]
        ga = grouping.codes[order, 0].astype(np.int64)
        gb = grouping.codes[order, 1].astype(np.int64)
        n_groups = len(grouping.groups)
        n_subjects = int(max(sa.max(initial=0), sb.max(initial=0))) + 1
        rates = largest_rates(result, n_groups)

        def view(
            mask: npt.NDArray[np.bool_],
            share: float | None,
            *,
            m: bool = False,
            n_mated: int | None = None,
        ) -> View:
            rows = np.flatnonzero(mask)
            keep = None if share is None else held(share, rows.size, n_mated)
            return View.of(s[rows], sa[rows], sb[rows], keep, mated=m, n_subjects=n_subjects)

        m_key = mated_group(config.mated_rule, mated & complete, ga, gb)
        group_n_mated = np.bincount(m_key[m_key >= 0], minlength=n_groups)
        nm = ~mated & complete
        group_nm = []
        for g in range(n_groups):
            if config.fmr_scope is FMRScope.MATCHED:
                rows = nm & (ga == g) & (gb == g)
            else:
                rows = nm & ((ga == g) | (gb == g))
            group_nm.append(view(rows, rates[("group", g)], n_mated=int(group_n_mated[g])))
        lo, hi = np.minimum(ga, gb), np.maximum(ga, gb)
        cells = {}
        # The per-group policy reads no cell (no common threshold, no cross-group matrix).
        if any(policy.kind is not PolicyKind.PER_GROUP for policy in config.policies):
            for i in range(n_groups):
                for j in range(i, n_groups):
                    cells[(i, j)] = view(nm & (lo == i) & (hi == j), rates[("cell", i, j)])
        return cls(
            n_subjects=n_subjects,
            overall_mated=view(mated, None, m=True),
            overall_non_mated=view(~mated, rates[("overall",)], n_mated=int(mated.sum())),
            group_mated=[view(m_key == g, None, m=True) for g in range(n_groups)],
            group_non_mated=group_nm,
            cells=cells,
        )

    def group_non_mated_views(self) -> list[View]:
        """The view of each group's non-mated comparisons."""
        return self.group_non_mated

    def replicate(self, weights: npt.NDArray[np.int64]) -> Partition[WeightedScores]:
        """The audit's partition in one replicate (subject ``s`` counted ``weights[s]`` times)."""
        return Partition(
            overall_mated=self.overall_mated.weighted(weights),
            overall_non_mated=self.overall_non_mated.weighted(weights),
            group_mated=[v.weighted(weights) for v in self.group_mated],
            group_non_mated=[v.weighted(weights) for v in self.group_non_mated],
            cells={key: v.weighted(weights) for key, v in self.cells.items()},
            exclusions=[],
        )


class StreamViews:
    """The views of an all-vs-all streaming audit: its exact tail and mated scores.

    Every non-mated comparison of the samples was made, so a view's number of
    comparisons in a replicate follows from the samples per subject and group: with
    ``v_g = sum_s w_s n_sg`` and ``Q_gh = sum_s w_s^2 n_sg n_sh``, a cell of two groups
    holds ``v_g v_h - Q_gh`` comparisons and a cell of one group ``(v_g^2 - Q_gg) / 2``
    (pairs of samples of different subjects). Each view holds the highest of the tail's
    scores that a replicate can read (:func:`held`); counts are exact from its floor up.
    """

    def __init__(
        self,
        counts: npt.NDArray[np.float64],
        overall_mated: View,
        overall_non_mated: View,
        group_mated: list[View],
        group_non_mated: list[tuple[View, list[tuple[int, int]]]],
        cells: dict[tuple[int, int], View],
        slots: int,
    ) -> None:
        self.counts, self.slots = counts, slots
        self.n_subjects = counts.shape[0]
        self.overall_mated, self.overall_non_mated = overall_mated, overall_non_mated
        self.group_mated, self.group_non_mated, self.cells = group_mated, group_non_mated, cells

    @staticmethod
    def grouping(result: AuditResult, n_groups: int) -> Grouping:
        """The groups of ``result``, as the operating points read them."""
        groups = tuple(Group(tuple(g.attributes.items()), g.label) for g in result.groups)
        group_by = tuple(result.config.group_by)
        return Grouping(group_by, groups, np.zeros((0, 2), dtype=np.int32))

    @classmethod
    def of(
        cls,
        acc: Accumulator,
        samples: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
        config: AuditConfig,
        result: AuditResult,
    ) -> StreamViews:
        """The plan of a streaming audit: ``samples`` = (subject code, group slot) of each."""
        subject, slot = (np.asarray(a, dtype=np.int64) for a in samples)
        n_groups, slots = acc.n_groups, acc.n_groups + 1
        acc.finalize()
        tail, cells = acc.tail()
        pairs = acc.tail_subjects().astype(np.int64)
        m_scores, m_pairs = acc.mated()
        m_subject = acc.mated_subjects().astype(np.int64)
        if (pairs < 0).any() or (m_subject < 0).any():
            raise ValueError("the accumulator does not know the subjects of its scores")
        counts = np.zeros((int(subject.max(initial=-1)) + 1, slots))
        np.add.at(counts, (subject, slot), 1.0)
        floor = acc.tail_edge if acc.tail_bin > 0 else -math.inf
        # One sort of the tail; every view is a masked (still ascending) part of it.
        order = np.argsort(tail, kind="stable")
        tail, cells, pairs = tail[order], cells[order], pairs[order]
        n_cell = cell_totals(counts, np.ones(counts.shape[0]), slots)
        # A threshold at a target FMR moves with the non-mated errors of the view that
        # sets it (overall or a group: the fewest comparisons of them give held's
        # margin); an EER with the mated ones too. Each view holds what the larger needs.
        # An operating point whose thresholds all lie below the tail cannot be read in a
        # replicate (it gets no interval): the views need not reach its rates.
        readable = [p for p in result.operating_points if _reaches(p, floor)]
        rates = largest_rates(
            dataclasses.replace(result, operating_points=readable or result.operating_points),
            n_groups,
            eers=False,
        )
        eer_rates = eer_shares(result, floor)
        n_mated = m_scores.size
        n_setting = min(
            [int(np.triu(n_cell).sum())] + [g.n_non_mated for g in result.groups if g.n_non_mated]
        )

        def nm(mask: npt.NDArray[np.bool_], key: Key, n: int) -> View:
            keep = held(rates[key], n, n_setting)
            if key in eer_rates:
                keep = max(keep, held(eer_rates[key], n, n_mated))
            return top(tail[mask], pairs[mask, 0], pairs[mask, 1], floor, keep)

        def mated(mask: npt.NDArray[np.bool_]) -> View:
            s = m_subject[mask]
            return View.held(m_scores[mask], s, s, -math.inf, mated=True)

        lut = acc.lut
        cell_views = {
            (i, j): nm(cells == lut[i, j], ("cell", i, j), int(n_cell[i, j]))
            for i in range(n_groups)
            for j in range(i, n_groups)
        }
        ga, gb = m_pairs // slots, m_pairs % slots
        key = mated_group(config.mated_rule, (ga < n_groups) & (gb < n_groups), ga, gb)
        group_nm = []
        for g in range(n_groups):
            if config.fmr_scope is FMRScope.MATCHED:
                members = [(g, g)]
            else:
                members = [(min(g, h), max(g, h)) for h in range(n_groups)]
            mask = np.isin(cells, [lut[i, j] for i, j in members])
            n = sum(int(n_cell[i, j]) for i, j in members)
            view = nm(mask, ("group", g), n)
            same = cell_views[(g, g)]
            if members == [(g, g)] and (view.scores.size, view.floor) == (
                same.scores.size,
                same.floor,
            ):
                view = same  # the cell's scores, held as far: reweighted once a replicate
            group_nm.append((view, members))
        everything = np.ones(tail.size, dtype=bool)
        return cls(
            counts=counts,
            overall_mated=mated(np.ones(m_scores.size, dtype=bool)),
            overall_non_mated=nm(everything, ("overall",), int(np.triu(n_cell).sum())),
            group_mated=[mated(key == g) for g in range(n_groups)],
            group_non_mated=group_nm,
            cells=cell_views,
            slots=slots,
        )

    def group_non_mated_views(self) -> list[View]:
        """The view of each group's non-mated comparisons."""
        return [view for view, _ in self.group_non_mated]

    def replicate(self, weights: npt.NDArray[np.int64]) -> Partition[WeightedScores]:
        """The audit's partition in one replicate (subject ``s`` counted ``weights[s]`` times)."""
        cell = cell_totals(self.counts, weights.astype(np.float64), self.slots)

        def total(i: int, j: int) -> int:
            return int(cell[i, j])

        everything = int(np.triu(cell).sum())
        made: dict[tuple[int, int], WeightedScores] = {}

        def weighted(view: View, n: int) -> WeightedScores:
            """``view`` in this replicate; a view shared by a group and its cell, once."""
            key = (id(view), n)
            if key not in made:
                made[key] = view.weighted(weights, n)
            return made[key]

        return Partition(
            overall_mated=self.overall_mated.weighted(weights),
            overall_non_mated=self.overall_non_mated.weighted(weights, everything),
            group_mated=[v_.weighted(weights) for v_ in self.group_mated],
            group_non_mated=[
                weighted(view, sum(total(i, j) for i, j in members))
                for view, members in self.group_non_mated
            ],
            cells={key: weighted(v_, total(*key)) for key, v_ in self.cells.items()},
            exclusions=[],
        )


def _reaches(point: OperatingPoint, floor: float) -> bool:
    """Whether a threshold of ``point`` (common or of a group) lies at or above ``floor``."""
    thresholds = [point.threshold, *(row.threshold for row in point.groups)]
    return any(t is not None and t >= floor for t in thresholds)


def cell_totals(
    counts: npt.NDArray[np.float64], w: npt.NDArray[np.float64], slots: int
) -> npt.NDArray[np.int64]:
    """Comparisons of each cell of group slots when subject ``s`` counts ``w[s]`` times.

    ``counts[s, g]``: the samples of subject ``s`` in slot ``g`` (see :class:`StreamViews`).
    """
    v = w @ counts
    q = counts.T @ (counts * (w * w)[:, None])
    between = np.outer(v, v) - q
    within = (v * v - np.diag(q)) / 2.0
    cell = np.where(np.eye(slots, dtype=bool), within[:, None], between)
    return np.rint(cell).astype(np.int64)  # whole numbers, computed in float64


def top(
    scores: npt.NDArray[np.float64],
    subject_a: npt.NDArray[np.int64],
    subject_b: npt.NDArray[np.int64],
    floor: float,
    keep: int,
) -> View:
    """A view of the highest ``keep`` of ascending ``scores`` (with their ties).

    Its total is given to :meth:`View.weighted`; counts are exact from its new floor up.
    """
    n = scores.size
    start = max(n - keep, 0)
    if start > 0:
        start = int(np.searchsorted(scores, scores[start], side="left"))
    if start > 0:
        floor = max(floor, float(scores[start]))
    empty = np.empty(0, dtype=np.int64)
    return View(
        scores[start:], subject_a[start:], subject_b[start:], floor, empty, empty, empty, False, n
    )


HOLD_MARGIN = 40.0
"""Standard errors of a binomial count, in :func:`held`'s margin."""


def held(share: float, n: int, n_mated: int | None = None) -> int:
    """How many of a view's ``n`` highest non-mated scores a replicate may need.

    ``share`` is the largest rate read in the view (a target FMR, a rate at an
    operating point, the upper end of an EER). A replicate reads it at a threshold
    that moves with the errors counted on either side: about ``share * n``
    non-mated and ``share * n_mated`` mated ones (``n_mated`` for an EER). The view
    holds ``share * n`` scores times ``1 + HOLD_MARGIN / sqrt(errors)`` for the fewer
    of the two (times at most 4, the margin for a handful of errors), and at least
    2,000: room for replicates many standard errors away, even where comparisons
    that share a subject inflate the variance many times over.
    """
    errors = share * min(n, n if n_mated is None else n_mated)
    factor = min(4.0, 1.0 + HOLD_MARGIN / math.sqrt(max(errors, 1.0)))
    return max(int(math.ceil(factor * share * n)), 2000)


def mated_group(
    rule: MatedGroupRule,
    counted: npt.NDArray[np.bool_],
    ga: npt.NDArray[np.integer],
    gb: npt.NDArray[np.integer],
) -> npt.NDArray[np.integer]:
    """The group of each mated comparison under the mated rule, -1 for none."""
    if rule is MatedGroupRule.FIRST:
        return np.where(counted, ga, -1)
    if rule is MatedGroupRule.SECOND:
        return np.where(counted, gb, -1)
    return np.where(counted & (ga == gb), ga, -1)


def eer_shares(
    result: AuditResult, floor: float = -math.inf, *, sign: float = 1.0
) -> dict[Key, float]:
    """The upper end of each EER of ``result``, by view (overall, each group).

    An EER whose threshold (times ``sign``: -1 for distances, read as negated
    similarities) lies below ``floor`` (not read in a replicate) is left out.
    """
    shares: dict[Key, float] = {}
    summaries = [
        (("overall",), result.overall),
        *((("group", g), s) for g, s in enumerate(result.groups)),
    ]
    for key, summary in summaries:
        if summary.eer is not None and sign * summary.eer.threshold >= floor:
            shares[key] = summary.eer.high
    return shares


def largest_rates(result: AuditResult, n_groups: int, *, eers: bool = True) -> dict[Key, float]:
    """The largest FMR read in each view of ``result`` (targets, measured rates, EERs).

    With ``eers=False``, the rates of the operating points only.
    """
    target = max(p.target_fmr for p in result.operating_points)
    rates: dict[Key, float] = {("overall",): target}
    for g in range(n_groups):
        rates[("group", g)] = target
        for h in range(g, n_groups):
            rates[("cell", g, h)] = target
    for key, share in eer_shares(result).items() if eers else ():
        rates[key] = max(rates[key], share)
    cell_keys = [(i, j) for i in range(n_groups) for j in range(i, n_groups)]
    for point in result.operating_points:
        if point.overall is not None:  # a threshold set on a group reads overall too
            rates[("overall",)] = max(rates[("overall",)], point.overall.fmr or 0.0)
        for g, row in enumerate(point.groups):
            rates[("group", g)] = max(rates[("group", g)], row.fmr or 0.0)
        for (i, j), cell in zip(cell_keys, point.cross_group, strict=False):
            rates[("cell", i, j)] = max(rates[("cell", i, j)], cell.fmr or 0.0)
    return rates
