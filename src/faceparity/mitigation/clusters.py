"""Methods that need no group labels at deployment: clusters of templates stand in for groups.

Both cluster the training templates with k-means (scipy's ``kmeans2``, k-means++
seeding, seeded) and give every template the cluster of its nearest centroid; held-out
templates are assigned to the training centroids, so nothing of a test subject is fitted.
The demographic cohort T-norm is here too: it reads templates, but it needs labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from faceparity.mitigation.contexts import (
    calibrate_contexts,
    combine_calibrated,
    shift_contexts,
    shifted,
)
from faceparity.mitigation.data import MitigationData
from faceparity.mitigation.methods import FitSet, Method
from faceparity.results.mitigation import MitigationParameters

__all__ = ["FairCal", "FSN", "TNorm", "assign_clusters", "fit_clusters"]

FloatArray = npt.NDArray[np.float64]

MIN_PER_CLUSTER = 20
"""Fewest training templates per cluster: fewer clusters than asked when there are few."""


def fit_clusters(templates: FloatArray, k: int, seed: int) -> FloatArray:
    """``k`` k-means centroids of ``templates`` (at most one per 20 of them), seeded."""
    from scipy.cluster.vq import kmeans2

    k = max(1, min(k, len(templates) // MIN_PER_CLUSTER))
    centroids, _ = kmeans2(templates, k, seed=np.random.default_rng(seed), minit="++")
    return np.asarray(centroids, dtype=np.float64)


def assign_clusters(templates: FloatArray, centroids: FloatArray) -> npt.NDArray[np.int64]:
    """The nearest centroid (Euclidean) of every template."""
    from scipy.cluster.vq import vq

    codes, _ = vq(templates, centroids, check_finite=False)
    return np.asarray(codes, dtype=np.int64)


def _training_templates(data: MitigationData, on: FitSet) -> FloatArray:
    assert data.templates is not None and data.template_subject is not None
    return data.templates[on.subjects[data.template_subject]]


def _side_clusters(
    data: MitigationData, rows: npt.NDArray[np.bool_], centroids: FloatArray
) -> npt.NDArray[np.int64]:
    assert data.templates is not None and data.side_template is not None
    sides = data.side_template[rows]
    used, inverse = np.unique(sides, return_inverse=True)
    return assign_clusters(data.templates[used], centroids)[inverse].reshape(sides.shape)


def _cluster_names(n: int) -> list[str]:
    return [f"cluster {c}" for c in range(n)]


@dataclass(frozen=True)
class FSN(Method):
    """Fair Score Normalization: per-cluster thresholds of k-means clusters of templates.

    Terhörst et al. 2020, "Post-comparison mitigation of demographic bias in face
    recognition using fair score normalization", Pattern Recognition Letters 140.

    k-means on the training templates (``clusters``, 100 in the paper); each cluster's
    threshold at ``fit_fmr`` on the non-mated training comparisons involving it; a score
    becomes ``s - (d_a + d_b) / 2`` with ``d`` the cluster's threshold minus the global
    one (0 for a cluster with too few non-mated comparisons for one false match). No
    group labels at deployment. Linghu et al. 2024 found it made fairness worse on RFW
    for every network they tried: the effect is measured here, not assumed.
    """

    fit_fmr: float = 1e-3
    clusters: int = 100
    name: ClassVar[str] = "fsn"
    description: ClassVar[str] = "per-cluster thresholds of k-means clusters of templates"
    reference: ClassVar[str] = "Terhörst et al. 2020 (Pattern Recognition Letters)"
    needs_group_labels: ClassVar[bool] = False
    needs_embeddings: ClassVar[bool] = True

    def fit(self, data: MitigationData, on: FitSet) -> MitigationParameters:
        """The centroids, the global threshold and each cluster's."""
        centroids = fit_clusters(_training_templates(data, on), self.clusters, on.seed)
        codes = _side_clusters(data, on.rows, centroids)
        global_t, shifts = shift_contexts(
            data.similarity[on.rows],
            data.comparisons.mated[on.rows],
            codes,
            _cluster_names(len(centroids)),
            self.fit_fmr,
            involving=True,
        )
        return self._parameters(
            data,
            on,
            fit_fmr=self.fit_fmr,
            global_threshold=global_t,
            shifts=shifts,
            centroids=centroids.tolist(),
        )

    def apply(
        self, parameters: MitigationParameters, data: MitigationData, rows: npt.NDArray[np.bool_]
    ) -> FloatArray:
        """The normalised scores."""
        self._check(parameters)
        assert parameters.centroids is not None and parameters.shifts is not None
        assert parameters.global_threshold is not None
        codes = _side_clusters(data, rows, np.asarray(parameters.centroids))
        return shifted(data.similarity[rows], codes, parameters.global_threshold, parameters.shifts)


@dataclass(frozen=True)
class FairCal(Method):
    """FairCal: a beta calibration per k-means cluster of templates.

    Salvador et al. 2022, "FairCal: fairness calibration for face verification", ICLR.

    k-means on the training templates (``clusters``, 100 in the paper); a beta
    calibration per cluster on the training comparisons with at least one side in it;
    a comparison's probability ``theta p_a + (1 - theta) p_b`` with ``theta`` the share of
    side a's cluster in the two clusters' training comparisons. A cluster with fewer than
    10 mated or non-mated training comparisons uses the global calibration. No group labels
    at deployment, and one calibration serves every target FMR.
    """

    clusters: int = 100
    name: ClassVar[str] = "faircal"
    description: ClassVar[str] = "beta calibration per k-means cluster of templates"
    reference: ClassVar[str] = "Salvador et al. 2022 (ICLR)"
    needs_group_labels: ClassVar[bool] = False
    needs_embeddings: ClassVar[bool] = True
    needs_mated: ClassVar[bool] = True
    calibrated: ClassVar[bool] = True

    def fit(self, data: MitigationData, on: FitSet) -> MitigationParameters:
        """The centroids, a global calibration and one per cluster."""
        centroids = fit_clusters(_training_templates(data, on), self.clusters, on.seed)
        codes = _side_clusters(data, on.rows, centroids)
        global_beta, calibrations = calibrate_contexts(
            data.similarity[on.rows],
            data.comparisons.mated[on.rows],
            codes,
            _cluster_names(len(centroids)),
            involving=True,
        )
        return self._parameters(
            data,
            on,
            global_beta=global_beta,
            calibrations=calibrations,
            centroids=centroids.tolist(),
        )

    def apply(
        self, parameters: MitigationParameters, data: MitigationData, rows: npt.NDArray[np.bool_]
    ) -> FloatArray:
        """The log-odds of each comparison."""
        self._check(parameters)
        assert parameters.centroids is not None and parameters.calibrations is not None
        assert parameters.global_beta is not None
        codes = _side_clusters(data, rows, np.asarray(parameters.centroids))
        return combine_calibrated(
            data.similarity[rows], codes, parameters.global_beta, parameters.calibrations
        )


@dataclass(frozen=True)
class TNorm(Method):
    """Demographic cohort T-norm: scores standardised against a same-group cohort.

    Linghu et al. 2024 ("Score normalization for demographic fairness in face
    recognition", IJCB), after the T-norm of Auckenthaler et al. 2000: each sample's
    score standardised by the mean and standard deviation of its cosine similarities to
    a cohort of training templates of its own group; the two sides' standardisations
    averaged.

    The cohort: up to ``cohort_size`` training templates per group (seeded draw), kept in
    the parameters (biometric templates: the parameters file is written with mode 0600).
    A sample whose group has no cohort uses all groups' cohorts together. Needs group
    labels at deployment, and the templates (cosine similarity scores).
    """

    cohort_size: int = 100
    name: ClassVar[str] = "t-norm"
    description: ClassVar[str] = "scores standardised against a same-group cohort of templates"
    reference: ClassVar[str] = "Linghu et al. 2024 (IJCB)"
    needs_group_labels: ClassVar[bool] = True
    needs_embeddings: ClassVar[bool] = True

    def fit(self, data: MitigationData, on: FitSet) -> MitigationParameters:
        """The cohort of each group."""
        assert data.templates is not None and data.template_subject is not None
        assert data.template_group is not None
        rng = np.random.default_rng(on.seed)
        train = on.subjects[data.template_subject]
        cohort: dict[str, list[list[float]]] = {}
        for g, group in enumerate(data.grouping.groups):
            members = np.flatnonzero(train & (data.template_group == g))
            if len(members) < 2:
                continue
            if len(members) > self.cohort_size:
                members = np.sort(rng.choice(members, self.cohort_size, replace=False))
            cohort[group.label] = data.templates[members].tolist()
        if not cohort:
            raise ValueError("no group has two training templates for a T-norm cohort")
        return self._parameters(data, on, cohort=cohort)

    def apply(
        self, parameters: MitigationParameters, data: MitigationData, rows: npt.NDArray[np.bool_]
    ) -> FloatArray:
        """The normalised scores."""
        self._check(parameters)
        assert parameters.cohort is not None
        assert data.templates is not None and data.side_template is not None
        assert data.template_group is not None
        cohorts = {k: np.asarray(v) for k, v in parameters.cohort.items()}
        pooled = np.concatenate(list(cohorts.values()))
        sides = data.side_template[rows]
        used, inverse = np.unique(sides, return_inverse=True)
        mean = np.empty(len(used))
        std = np.empty(len(used))
        group_of = data.template_group[used]
        labels = [g.label for g in data.grouping.groups]
        for g in np.unique(group_of).tolist():
            members = group_of == g
            cohort = cohorts.get(labels[g], pooled) if g >= 0 else pooled
            sims = data.templates[used[members]] @ cohort.T
            mean[members] = sims.mean(axis=1)
            std[members] = sims.std(axis=1)
        std[std <= 0] = 1.0
        m, sd = mean[inverse].reshape(sides.shape), std[inverse].reshape(sides.shape)
        s = data.similarity[rows]
        out: FloatArray = 0.5 * ((s - m[:, 0]) / sd[:, 0] + (s - m[:, 1]) / sd[:, 1])
        return out
