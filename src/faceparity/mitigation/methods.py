"""Post-hoc mitigation methods: each a fit on training comparisons and an apply to others.

Every method maps similarity scores to new similarity scores (higher = more alike), to
be read at one global threshold; fitted parameters are a
:class:`~faceparity.results.mitigation.MitigationParameters` (JSON). Whether a method
needs each sample's *group label at deployment* decides whether it may be deployed where
labels are not collected (or may not lawfully be):

============================  ===========  ==========  ==========================================
method                        labels       embeddings  from
============================  ===========  ==========  ==========================================
``global-calibration``        no           no          beta calibration of all scores (baseline)
``per-group-thresholds``      yes          no          Robinson et al. 2020
``z-norm``                    yes          no          Linghu et al. 2024 (demographic Z-norm)
``t-norm``                    yes          yes         Linghu et al. 2024 (cohort T-norm)
``fsn``                       no           yes         Terhörst et al. 2020
``faircal``                   no           yes         Salvador et al. 2022
``oracle``                    yes          no          Salvador et al. 2022 (per-group calibration,
                                                       to each group's empirical FMR)
``oracle-beta``               yes          no          Salvador et al. 2022 (per-group beta
                                                       calibration, as published)
============================  ===========  ==========  ==========================================

The k-means methods (FSN, FairCal) and the cohort T-norm read templates, so they are
unavailable on pair tables (:attr:`Method.needs_embeddings`). The beta calibrations
(``global-calibration``, ``faircal``, ``oracle-beta``) fit the probability of a mated
comparison, so they need mated training comparisons (:attr:`Method.needs_mated`); the
others read only non-mated scores and run on inputs with none (every subject pictured
once, as UTKFace), where the audit reads FMR alone.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from faceparity.mitigation.calibration import apply_beta, fit_beta
from faceparity.mitigation.contexts import (
    by_context,
    calibrate_contexts,
    combine_calibrated,
    context_stats,
    shift_contexts,
    shifted,
    znormed,
)
from faceparity.mitigation.data import MitigationData
from faceparity.mitigation.tails import combine_tails, fit_tail, tail_scores
from faceparity.results.mitigation import (
    MITIGATION_VERSION,
    ContextShift,
    MitigationParameters,
)

__all__ = [
    "BetaOracle",
    "FitSet",
    "GlobalCalibration",
    "Method",
    "Oracle",
    "PerGroupThresholds",
    "ZNorm",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FitSet:
    """What a method is fitted on: the training comparisons and subjects of one fold."""

    rows: npt.NDArray[np.bool_]
    subjects: npt.NDArray[np.bool_]
    description: str
    seed: int = 0


class Method(abc.ABC):
    """A mitigation method: :meth:`fit` parameters, :meth:`apply` them to comparisons."""

    name: ClassVar[str]
    description: ClassVar[str]
    reference: ClassVar[str]
    needs_group_labels: ClassVar[bool]
    needs_embeddings: ClassVar[bool] = False
    needs_mated: ClassVar[bool] = False
    """Whether fitting reads mated comparisons (a calibration to the probability of one);
    the others read only non-mated scores, and run on inputs without mated comparisons."""
    calibrated: ClassVar[bool] = False
    """Whether the new scores are log-odds of a mated comparison (else calibrated after)."""

    @abc.abstractmethod
    def fit(self, data: MitigationData, on: FitSet) -> MitigationParameters:
        """The parameters fitted on the comparisons ``on.rows`` of ``data``."""

    @abc.abstractmethod
    def apply(
        self, parameters: MitigationParameters, data: MitigationData, rows: npt.NDArray[np.bool_]
    ) -> FloatArray:
        """The new similarity scores of the comparisons ``rows`` of ``data``."""

    def unavailable(self, data: MitigationData) -> str | None:
        """Why the method cannot run on ``data`` (None when it can)."""
        if self.needs_embeddings and not data.has_templates:
            return (
                f"{self.name} reads the templates (embeddings) of the samples; the input is "
                "a table of scores without embeddings, so it is unavailable"
            )
        if self.needs_mated and not data.comparisons.mated.any():
            return (
                f"{self.name} fits the probability of a mated comparison; the input has no "
                "mated comparisons (no subject with two samples), so it is unavailable"
            )
        return None

    def _parameters(
        self, data: MitigationData, on: FitSet, **fields: object
    ) -> MitigationParameters:
        return MitigationParameters(
            parameters_version=MITIGATION_VERSION,
            method=self.name,
            group_by=list(data.grouping.group_by),
            trained_on=on.description,
            **fields,  # type: ignore[arg-type]
        )

    def _check(self, parameters: MitigationParameters) -> None:
        if parameters.method != self.name:
            raise ValueError(f"parameters of {parameters.method!r}, not of {self.name!r}")


def _labels(data: MitigationData) -> list[str]:
    return [g.label for g in data.grouping.groups]


def _group_codes(
    data: MitigationData, rows: npt.NDArray[np.bool_], names: list[str]
) -> npt.NDArray[np.int64]:
    """Each side's index into the fitted contexts ``names`` (-1 for a group not fitted)."""
    index = {name: i for i, name in enumerate(names)}
    lookup = np.array([index.get(g.label, -1) for g in data.grouping.groups] + [-1], dtype=np.int64)
    return lookup[data.groups[rows]]


@dataclass(frozen=True)
class GlobalCalibration(Method):
    """Beta calibration of every score at once: the baseline calibration, FairCal's "Baseline".

    A monotone map of all scores, so a global threshold reads the same comparisons as
    before: it changes no error rate, only turns scores into probabilities.
    No group labels at deployment.
    """

    name: ClassVar[str] = "global-calibration"
    description: ClassVar[str] = "beta calibration of all scores (monotone: no rate changes)"
    reference: ClassVar[str] = "Kull et al. 2017; Salvador et al. 2022 (baseline calibration)"
    needs_group_labels: ClassVar[bool] = False
    needs_mated: ClassVar[bool] = True
    calibrated: ClassVar[bool] = True

    def fit(self, data: MitigationData, on: FitSet) -> MitigationParameters:
        """A beta calibration of the training scores."""
        s = data.similarity[on.rows]
        return self._parameters(data, on, global_beta=fit_beta(s, data.comparisons.mated[on.rows]))

    def apply(
        self, parameters: MitigationParameters, data: MitigationData, rows: npt.NDArray[np.bool_]
    ) -> FloatArray:
        """The log-odds of each comparison."""
        self._check(parameters)
        assert parameters.global_beta is not None
        return apply_beta(parameters.global_beta, data.similarity[rows])


def _cell_names(data: MitigationData) -> list[str]:
    labels = _labels(data)
    return [f"{a} | {b}" for i, a in enumerate(labels) for b in labels[i:]]


def _cell_index(groups: npt.NDArray[np.int32], n: int) -> npt.NDArray[np.int64]:
    """Each comparison's cell (unordered pair of groups) in the order of :func:`_cell_names`.

    ``-1`` where a side has no group.
    """
    g = groups.astype(np.int64)
    lo, hi = np.minimum(g[:, 0], g[:, 1]), np.maximum(g[:, 0], g[:, 1])
    offsets = np.array([i * n - i * (i - 1) // 2 for i in range(n)] + [0], dtype=np.int64)
    return np.where(lo >= 0, offsets[lo] + (hi - lo), -1)


def _cell_codes(
    parameters: MitigationParameters, data: MitigationData, rows: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """Each comparison's cell (unordered pair of groups) as an index into the fitted cells."""
    assert parameters.shifts is not None
    index = {c.context: i for i, c in enumerate(parameters.shifts)}
    labels = _labels(data)
    g = data.groups[rows].astype(np.int64)
    lo, hi = np.minimum(g[:, 0], g[:, 1]), np.maximum(g[:, 0], g[:, 1])
    n = len(labels)
    lookup = np.full(n * n + 1, -1, dtype=np.int64)
    for i in range(n):
        for j in range(i, n):
            lookup[i * n + j] = index.get(f"{labels[i]} | {labels[j]}", -1)
    cell = np.where(lo >= 0, lo * n + hi, n * n)
    code = lookup[cell]
    return np.stack([code, code], axis=1)


@dataclass(frozen=True)
class PerGroupThresholds(Method):
    """A threshold per group (and pair of groups) for the same FMR.

    Robinson et al. 2020, "Face recognition: too bias, or not too bias?", CVPRW: with one
    global threshold a subgroup's FMR strays far from the intended one; each group's own
    threshold brings it back.

    Fitted at ``fit_fmr`` on the non-mated training comparisons of each cell, an unordered
    pair of groups: a group's own demographically matched comparisons (Robinson et al.'s
    subgroup threshold) and, for comparisons across two groups, the cell of the two (so
    that every kind of comparison is read at the target, and a global threshold over all
    of them lands where each group's does). Applied as a shift of the scores, ``s - d``
    with ``d`` the cell's threshold minus the global one, so that a global threshold at
    ``fit_fmr`` reads each cell at its own. Exact at ``fit_fmr``; near it at other targets.
    A cell with too few non-mated comparisons for one false match at ``fit_fmr`` takes the
    mean shift of its two groups' own cells (0 where neither has one), as does a cell not
    seen in training. Needs group labels at deployment.
    """

    fit_fmr: float = 1e-3
    name: ClassVar[str] = "per-group-thresholds"
    description: ClassVar[str] = "each group (and pair of groups) its own threshold"
    reference: ClassVar[str] = "Robinson et al. 2020 (CVPRW)"
    needs_group_labels: ClassVar[bool] = True

    def fit(self, data: MitigationData, on: FitSet) -> MitigationParameters:
        """The global threshold and each cell's at ``fit_fmr``."""
        rows = on.rows
        n = len(data.grouping.groups)
        # Cells numbered in the order of _cell_names: (i, j), i <= j, row by row.
        offsets = np.array([i * n - i * (i - 1) // 2 for i in range(n)] + [0], dtype=np.int64)
        cell = _cell_index(data.groups[rows], n)
        global_t, shifts = shift_contexts(
            data.similarity[rows],
            data.comparisons.mated[rows],
            np.stack([cell, cell], axis=1),
            _cell_names(data),
            self.fit_fmr,
            involving=False,
        )
        own = [shifts[offsets[i]].threshold for i in range(n)]
        filled = []
        for k, c in enumerate(shifts):
            if c.threshold is None:
                i = int(np.searchsorted(offsets[:n], k, side="right") - 1)
                j = i + k - int(offsets[i])
                deltas = [t - global_t for t in (own[i], own[j]) if t is not None]
                t = global_t + (sum(deltas) / 2 if deltas else 0.0)
                c = ContextShift(c.context, t, c.n_non_mated)
            filled.append(c)
        return self._parameters(
            data, on, fit_fmr=self.fit_fmr, global_threshold=global_t, shifts=filled
        )

    def apply(
        self, parameters: MitigationParameters, data: MitigationData, rows: npt.NDArray[np.bool_]
    ) -> FloatArray:
        """The shifted scores."""
        self._check(parameters)
        assert parameters.shifts is not None and parameters.global_threshold is not None
        codes = _cell_codes(parameters, data, rows)
        return shifted(data.similarity[rows], codes, parameters.global_threshold, parameters.shifts)


@dataclass(frozen=True)
class ZNorm(Method):
    """Demographic Z-norm: scores standardised by their group's non-mated mean and sd.

    Linghu et al. 2024, "Score normalization for demographic fairness in face
    recognition", IJCB: each score standardised by the mean and standard deviation of the
    non-mated scores of its group (the demographic cohort of impostors), the two sides'
    standardisations averaged. The statistics are those of the group's
    demographically matched non-mated training comparisons; a group with fewer than two
    (or not seen in training) uses those of all non-mated ones. Needs group labels at
    deployment.
    """

    name: ClassVar[str] = "z-norm"
    description: ClassVar[str] = "scores standardised by their group's non-mated mean and sd"
    reference: ClassVar[str] = "Linghu et al. 2024 (IJCB)"
    needs_group_labels: ClassVar[bool] = True

    def fit(self, data: MitigationData, on: FitSet) -> MitigationParameters:
        """The non-mated mean and standard deviation per group, and overall (last)."""
        overall, stats = context_stats(
            data.similarity[on.rows],
            data.comparisons.mated[on.rows],
            data.groups[on.rows],
            _labels(data),
        )
        return self._parameters(data, on, stats=[*stats, overall])

    def apply(
        self, parameters: MitigationParameters, data: MitigationData, rows: npt.NDArray[np.bool_]
    ) -> FloatArray:
        """The normalised scores."""
        self._check(parameters)
        assert parameters.stats is not None
        *stats, overall = parameters.stats
        codes = _group_codes(data, rows, [c.context for c in stats])
        return znormed(data.similarity[rows], codes, overall, stats)


@dataclass(frozen=True)
class Oracle(Method):
    """Calibration per true group to the group's own false match rate.

    The "oracle" of Salvador et al. 2022 ("FairCal: fairness calibration for face
    verification", ICLR) calibrates each true group's scores; here each group's
    similarity ``s`` becomes ``-ln FMR_g(s)``, the group's empirical non-mated survival
    function, interpolated (:mod:`.tails`), fitted on the training comparisons within
    the group (both sides in it). A global threshold on the new scores is each group's
    own threshold at one FMR, at every target at once. This departs from FairCal's
    oracle, a three-parameter beta calibration per group (kept as
    :class:`BetaOracle`, ``oracle-beta``): the beta map fits the whole distribution and
    extrapolates the tail a low target FMR is read in, and there missed the target for
    two planted groups of eight; the empirical tail is read, not extrapolated, wherever
    the group has non-mated training scores.

    A comparison across two groups reads its pair of groups' own map when that pair has
    at least 10 non-mated training comparisons (as the per-group thresholds give each
    pair of groups its threshold, so that a global threshold set over all comparisons
    lands at the target for every kind), else ``theta FMR_a + (1 - theta) FMR_b``
    (FairCal's combination), ``theta`` the share of side a's group in the two groups'
    non-mated training comparisons. A group with fewer than 10 non-mated training
    comparisons uses the map of all of them. Reads only non-mated comparisons. Needs
    group labels at deployment.
    """

    name: ClassVar[str] = "oracle"
    description: ClassVar[str] = "each true group's (and pair of groups') scores mapped to its FMR"
    reference: ClassVar[str] = "Salvador et al. 2022 (ICLR), oracle (empirical tail, not beta)"
    needs_group_labels: ClassVar[bool] = True

    def fit(self, data: MitigationData, on: FitSet) -> MitigationParameters:
        """The map of all non-mated training scores, each group's, each pair of groups'."""
        nm = on.rows & ~data.comparisons.mated
        scores = data.similarity[nm]
        global_tail = fit_tail("overall", scores, minimum=2)
        if global_tail.scores is None:
            raise ValueError(
                "the oracle needs non-mated comparisons with at least two distinct scores"
            )
        labels = _labels(data)
        cell = _cell_index(data.groups[nm], len(labels))
        names = _cell_names(data)
        parts = by_context(np.stack([cell, cell], axis=1), scores, len(names), involving=False)
        fitted = [fit_tail(name, values) for name, (values, _) in zip(names, parts, strict=True)]
        pairs = [(i, j) for i in range(len(labels)) for j in range(i, len(labels))]
        tails = [
            dataclasses.replace(fitted[k], context=labels[i])
            for k, (i, j) in enumerate(pairs)
            if i == j
        ]
        tails += [fitted[k] for k, (i, j) in enumerate(pairs) if i != j]
        return self._parameters(data, on, global_tail=global_tail, tails=tails)

    def apply(
        self, parameters: MitigationParameters, data: MitigationData, rows: npt.NDArray[np.bool_]
    ) -> FloatArray:
        """``-ln FMR`` of each comparison under its pair of groups' map, or its groups'."""
        self._check(parameters)
        assert parameters.tails is not None and parameters.global_tail is not None
        tails = parameters.tails
        s = data.similarity[rows]
        codes = _group_codes(data, rows, [t.context for t in tails])
        out = combine_tails(s, codes, parameters.global_tail, tails)
        labels = _labels(data)
        names = _cell_names(data)
        own = {t.context: t for t in tails if t.scores is not None}
        cell = _cell_index(data.groups[rows], len(labels))
        order = np.argsort(cell, kind="stable")
        bounds = np.searchsorted(cell[order], np.arange(len(names) + 1))
        for c, name in enumerate(names):
            tail = own.get(name)
            if tail is None or bounds[c] == bounds[c + 1]:
                continue  # a group's own cell, or a pair of groups without its own map
            where = order[bounds[c] : bounds[c + 1]]
            out[where] = tail_scores(tail, s[where])
        return out


@dataclass(frozen=True)
class BetaOracle(Method):
    """Beta calibration per true group: the "oracle" of FairCal, as the paper fits it.

    Salvador et al. 2022, "FairCal: fairness calibration for face verification", ICLR:
    FairCal with the groups in place of the clusters. A beta calibration per group,
    fitted on the training comparisons within the group (both sides in it: a cross-group
    comparison, with its different score distribution, would pull the group's map away
    from its own); a comparison's probability is ``theta p_a + (1 - theta) p_b`` with
    ``theta`` the share of side a's group in the two groups' training comparisons. A
    group with fewer than 10 mated or non-mated training comparisons uses the global
    calibration. Needs group labels at deployment.

    Three parameters per group fit the whole score distribution, so the tail where a
    low target FMR is read is where the fit extrapolates: on the simulator with a planted
    shift two groups of eight miss FMR 1e-2 beyond their intervals (``tests/test_mitigation.py``).
    :class:`Oracle` calibrates to each group's own empirical tail instead; this one is
    kept to compare with FairCal's oracle as published.
    """

    name: ClassVar[str] = "oracle-beta"
    description: ClassVar[str] = "beta calibration per true group (FairCal's oracle)"
    reference: ClassVar[str] = "Salvador et al. 2022 (ICLR), oracle"
    needs_group_labels: ClassVar[bool] = True
    needs_mated: ClassVar[bool] = True
    calibrated: ClassVar[bool] = True

    def fit(self, data: MitigationData, on: FitSet) -> MitigationParameters:
        """A global beta calibration and one per group."""
        global_beta, calibrations = calibrate_contexts(
            data.similarity[on.rows],
            data.comparisons.mated[on.rows],
            data.groups[on.rows],
            _labels(data),
            involving=False,
        )
        return self._parameters(data, on, global_beta=global_beta, calibrations=calibrations)

    def apply(
        self, parameters: MitigationParameters, data: MitigationData, rows: npt.NDArray[np.bool_]
    ) -> FloatArray:
        """The log-odds of each comparison."""
        self._check(parameters)
        assert parameters.calibrations is not None and parameters.global_beta is not None
        codes = _group_codes(data, rows, [c.context for c in parameters.calibrations])
        return combine_calibrated(
            data.similarity[rows], codes, parameters.global_beta, parameters.calibrations
        )
