"""What the subject bootstrap reweights in a streamed pair table.

A pair table read in chunks (:func:`faceparity.readers.pairs_stream.accumulate_pairs`)
leaves an accumulator whose exact scores (the non-mated tail and every mated score)
keep their subjects, and each subject's number of non-mated comparisons in every
cell of groups (its *degree*). Unlike an all-vs-all audit, a list of pairs does not
say which comparisons a replicate would hold below the tail, so a view's number of
comparisons in a replicate is the linear expansion of
:mod:`faceparity.uncertainty.bootstrap`, ``n + sum_a (w_a - 1) d_a`` (Efron &
Tibshirani 1993, ch. 21), over the degrees of the view's subjects; the scores held
are counted exactly with their weights, as in an exact audit.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import numpy.typing as npt

from faceparity.accumulate.accumulator import Accumulator
from faceparity.model.config import AuditConfig, FMRScope, PolicyKind
from faceparity.results.audit import AuditResult
from faceparity.uncertainty.bootstrap import View, WeightedScores
from faceparity.uncertainty.views import eer_shares, held, largest_rates, mated_group
from faceparity.verification.operating_points import Partition

__all__ = ["PairStreamViews"]


def _trimmed(view: View, keep: int) -> View:
    """The view holding its ``keep`` highest scores (ties with the lowest one too)."""
    n = view.scores.size
    if keep >= n:
        return view
    start = int(np.searchsorted(view.scores, view.scores[n - keep], side="left"))
    if start == 0:
        return view
    return dataclasses.replace(
        view,
        scores=view.scores[start:],
        subject_a=view.subject_a[start:],
        subject_b=view.subject_b[start:],
        floor=float(view.scores[start]),
    )


@dataclasses.dataclass(frozen=True)
class PairStreamViews:
    """The views of a streamed pair-table audit, with linear totals for the non-mated ones."""

    n_subjects: int
    overall_mated: View
    overall_non_mated: View
    group_mated: list[View]
    group_non_mated: list[View]
    cells: dict[tuple[int, int], View]
    reads_overall: bool = True
    """Whether a replicate reads the overall views (else they are not weighted)."""

    @classmethod
    def of(
        cls,
        acc: Accumulator,
        degree: npt.NDArray[np.integer],
        config: AuditConfig,
        result: AuditResult,
    ) -> PairStreamViews:
        """The plan of a streamed audit whose result is ``result``.

        Parameters
        ----------
        acc : Accumulator
            Its exact scores keep their subjects (codes ``0 .. len(degree) - 1``).
        degree : ndarray, shape (n_subjects, acc.n_cells)
            Each subject's non-mated comparisons in each cell of the accumulator.
        config : AuditConfig
            What the audit computed.
        result : AuditResult
            The audit of ``acc``.

        """
        n_groups, slots = acc.n_groups, acc.n_groups + 1
        acc.finalize()
        tail, tail_cells = acc.tail()
        pairs = acc.tail_subjects().astype(np.int64)
        m_scores, m_pairs = acc.mated()
        m_subject = acc.mated_subjects().astype(np.int64)
        if (pairs < 0).any() or (m_subject < 0).any():
            raise ValueError("the accumulator does not know the subjects of its scores")
        degree = np.asarray(degree)
        per_cell = acc.histogram.sum(axis=1)
        floor = acc.tail_edge if acc.tail_bin > 0 else -math.inf
        # An EER below the exact scores is not read in a replicate: the views need not
        # hold scores down to it.
        rates = largest_rates(result, n_groups, eers=False)
        sign = 1.0 if result.input.score_kind == "similarity" else -1.0
        eers = eer_shares(result, floor, sign=sign)
        for view_key, share in eers.items():
            rates[view_key] = max(rates[view_key], share)
        # Per-group thresholds read no overall rate; the overall EER only where held.
        reads_overall = ("overall",) in eers or any(
            policy.kind is not PolicyKind.PER_GROUP for policy in config.policies
        )
        lut = acc.lut

        def non_mated(members: list[int], share: float, n_mated: int | None) -> View:
            mask = np.isin(tail_cells, members)
            view = View.held(tail[mask], pairs[mask, 0], pairs[mask, 1], floor)
            if len(members) == degree.shape[1]:
                d = degree.sum(axis=1, dtype=np.int64)
            else:  # column by column: no copy of the table's columns
                d = np.zeros(degree.shape[0], dtype=np.int64)
                for member in members:
                    d += degree[:, member]
            present = np.flatnonzero(d)
            n = int(per_cell[members].sum())
            view = dataclasses.replace(view, n=n, degree_subject=present, degree=d[present])
            return _trimmed(view, held(share, n, n_mated))

        def mated(mask: npt.NDArray[np.bool_]) -> View:
            s = m_subject[mask]
            return View.held(m_scores[mask], s, s, -math.inf, mated=True)

        ga, gb = m_pairs // slots, m_pairs % slots
        key = mated_group(config.mated_rule, (ga < n_groups) & (gb < n_groups), ga, gb)
        group_n_mated = np.bincount(key[key >= 0], minlength=n_groups)
        group_nm = []
        for g in range(n_groups):
            if config.fmr_scope is FMRScope.MATCHED:
                members = [int(lut[g, g])]
            else:
                members = [int(lut[g, h]) for h in range(n_groups)]
            group_nm.append(non_mated(members, rates[("group", g)], int(group_n_mated[g])))
        cells = {}
        if any(policy.kind is not PolicyKind.PER_GROUP for policy in config.policies):
            for i in range(n_groups):
                for j in range(i, n_groups):
                    cells[(i, j)] = non_mated([int(lut[i, j])], rates[("cell", i, j)], None)
        if reads_overall:
            overall_mated = mated(np.ones(m_scores.size, dtype=bool))
            overall_non_mated = non_mated(
                list(range(acc.n_cells)), rates[("overall",)], int(m_scores.size)
            )
        else:  # no replicate reads them: held above every score, nothing sorted
            empty = np.empty(0, dtype=np.int64)
            overall_mated = View.held(np.empty(0), empty, empty, math.inf, mated=True)
            overall_non_mated = View.held(np.empty(0), empty, empty, math.inf)
        return cls(
            n_subjects=int(degree.shape[0]),
            overall_mated=overall_mated,
            overall_non_mated=overall_non_mated,
            group_mated=[mated(key == g) for g in range(n_groups)],
            group_non_mated=group_nm,
            cells=cells,
            reads_overall=reads_overall,
        )

    def group_non_mated_views(self) -> list[View]:
        """The view of each group's non-mated comparisons."""
        return self.group_non_mated

    def replicate(self, weights: npt.NDArray[np.int64]) -> Partition[WeightedScores]:
        """The audit's partition in one replicate (subject ``s`` counted ``weights[s]`` times).

        Weights that fit are read as bytes: the compiled loops gather one weight per
        subject of each held score, and a byte a subject keeps the weights in cache.
        """
        if weights.size and 0 <= int(weights.min()) and int(weights.max()) <= 127:
            weights = weights.astype(np.int8)
        if self.reads_overall:
            overall_mated = self.overall_mated.weighted(weights)
            overall_non_mated = _at_least_held(self.overall_non_mated, weights)
        else:  # nothing held: reading them would raise NotHeld, never count 0
            overall_mated = overall_non_mated = _UNREAD
        return Partition(
            overall_mated=overall_mated,
            overall_non_mated=overall_non_mated,
            group_mated=[v.weighted(weights) for v in self.group_mated],
            group_non_mated=[_at_least_held(v, weights) for v in self.group_non_mated],
            cells={key: _at_least_held(v, weights) for key, v in self.cells.items()},
            exclusions=[],
        )


_UNREAD = WeightedScores(np.empty(0), np.empty(0, dtype=np.int64), 0, math.inf)
"""A view no replicate reads: no score held, exact for no threshold."""


def _at_least_held(view: View, weights: npt.NDArray[np.int64]) -> WeightedScores:
    """The weighted view, its linear total raised to the weight of the scores it holds.

    The expansion can fall below them (even below 0) where a view has few subjects and
    many of them are not drawn; a replicate holds at least the comparisons it counts.
    """
    weighted = view.weighted(weights)
    held_weight = int(weighted.cum[-1]) if weighted.cum.size else 0
    if weighted.total < held_weight:
        return dataclasses.replace(weighted, total=held_weight)
    return weighted
