"""Simulated embeddings whose per-group error rates are known exactly.

A known truth to test the audit against: unit-norm embeddings drawn from a model in
which every group's false match rate (FMR) and false non-match rate (FNMR) at any
threshold has a closed form (FNMR, cross-group FMR) or a one-dimensional integral
(same-group FMR).

The model
---------
The embedding space has ``D = sum_g k_g + D_noise`` coordinates. Group ``g`` owns a
block of ``k_g`` coordinates, its identity subspace; all groups share one noise
block of ``D_noise`` coordinates. A subject of group ``g`` has an identity ``u``
uniform on the unit sphere of its block; each of its samples is

    x = [a_g u ; sqrt(1 - a_g^2) w],

with ``w`` uniform on the unit sphere of the noise block, fresh for each sample, so
``|x| = 1`` (up to rounding). The cosine ``c`` of two independent uniform unit vectors of
``R^k`` follows ``(c + 1) / 2 ~ Beta((k - 1) / 2, (k - 1) / 2)`` (the density of
``c`` is proportional to ``(1 - c^2)^((k - 3) / 2)``; Cai, Fan and Jiang 2013,
"Distributions of angles in random packing on spheres", JMLR 14).
Hence, writing ``c_u`` for the cosine of two identities (``k_g`` dims) and ``c_w``
for that of two noise vectors (``D_noise`` dims):

* mated score (two samples of one subject): ``a^2 + (1 - a^2) c_w``, so
  ``FNMR_g(t) = P(c_w < (t - a^2) / (1 - a^2))``;
* same-group non-mated score: ``a^2 c_u + (1 - a^2) c_w``, so
  ``FMR_g(t) = int f_u(c) P(c_w >= (t - a^2 c) / (1 - a^2)) dc``;
* non-mated score across groups ``g != h`` (identity blocks are orthogonal):
  ``sqrt((1 - a_g^2)(1 - a_h^2)) c_w``, in closed form.

A smaller ``k_g`` crowds identities together (higher FMR); a smaller ``a_g``
spreads a subject's samples (higher FNMR). Matching a comparison at
``score >= t`` follows ISO/IEC 19795-1.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import integrate, optimize, special

from faceparity._version import __version__
from faceparity.errors import UsageError
from faceparity.io import atomic_write_bytes, atomic_write_text

__all__ = [
    "DEFAULT_FMR_ORDER",
    "DEFAULT_FNMR_ORDER",
    "DEFAULT_NOISE_DIM",
    "REFERENCE_FMRS",
    "GroupParams",
    "Simulation",
    "SimulationConfig",
    "default_config",
    "simulate",
    "true_cross_fmr",
    "true_fmr",
    "true_fmr_design_effect",
    "true_fnmr",
    "true_fpir",
    "true_threshold_at_fmr",
    "write_simulation",
]

REFERENCE_FMRS: tuple[float, ...] = (1e-3, 1e-4, 1e-5)
"""Target FMRs of the reference thresholds written to ``truth.json``."""

# Relative tolerance of the same-group FMR integral. The quadrature agrees with the
# integral taken in the other order (over the noise cosine) to better than 1e-9
# relative for FMR from 1e-1 down to 1e-8 (tests/test_simulate.py).
_QUAD_EPSREL = 1e-11


@dataclass(frozen=True)
class GroupParams:
    """One demographic group of the simulation.

    Parameters
    ----------
    attributes : tuple of (name, value) pairs
        The group's attribute values, such as ``(("sex", "F"), ("region", "R1"))``;
        a mapping is accepted and stored as pairs.
    k : int
        Dimension of the group's identity subspace, at least 3. Smaller means
        more crowded identities and a higher FMR.
    a : float
        Weight of the identity in every sample, in (0, 1). Smaller means more
        spread between a subject's samples and a higher FNMR.
    n_subjects : int
        Number of subjects of the group.

    """

    attributes: tuple[tuple[str, str], ...]
    k: int
    a: float
    n_subjects: int

    def __post_init__(self) -> None:
        pairs = self.attributes
        if isinstance(pairs, Mapping):
            pairs = tuple(pairs.items())
        object.__setattr__(self, "attributes", tuple((str(n), str(v)) for n, v in pairs))
        if self.k < 3:
            raise UsageError(f"group {self.label}: k must be at least 3, got {self.k}")
        if not 0.0 < self.a < 1.0:
            raise UsageError(f"group {self.label}: a must be in (0, 1), got {self.a}")
        if self.n_subjects < 1:
            raise UsageError(
                f"group {self.label}: n_subjects must be at least 1, got {self.n_subjects}"
            )

    @property
    def label(self) -> str:
        """Display label: the values joined by '/' (``F/R1``), as the audit writes it."""
        return "/".join(value for _, value in self.attributes)


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that decides a simulation.

    Parameters
    ----------
    groups : tuple of GroupParams
        The groups, each with the same attribute names.
    noise_dim : int
        Dimension ``D_noise`` of the shared noise block, at least 3.
    samples_per_subject : int or (int, int)
        Samples of every subject, or an inclusive range drawn uniformly per subject.
    seed : int
        Seed of the random generator; a seed gives the same simulation every time.

    """

    groups: tuple[GroupParams, ...]
    noise_dim: int
    samples_per_subject: int | tuple[int, int]
    seed: int

    def __post_init__(self) -> None:
        if not self.groups:
            raise UsageError("a simulation needs at least one group")
        names = [tuple(n for n, _ in g.attributes) for g in self.groups]
        if any(n != names[0] for n in names):
            raise UsageError("every group must have the same attribute names, in one order")
        if len({g.attributes for g in self.groups}) != len(self.groups):
            raise UsageError("two groups have the same attribute values")
        if self.noise_dim < 3:
            raise UsageError(f"noise_dim must be at least 3, got {self.noise_dim}")
        low, high = self.sample_range
        if not 1 <= low <= high:
            raise UsageError(
                "samples_per_subject: expected a count >= 1 or a range (low, high) with "
                f"1 <= low <= high, got {self.samples_per_subject!r}"
            )

    @property
    def sample_range(self) -> tuple[int, int]:
        """Fewest and most samples of a subject (inclusive)."""
        spp = self.samples_per_subject
        return (spp, spp) if isinstance(spp, int) else (int(spp[0]), int(spp[1]))

    @property
    def dimension(self) -> int:
        """Dimension ``D`` of the embeddings."""
        return sum(g.k for g in self.groups) + self.noise_dim

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Names of the group attributes, in order."""
        return tuple(name for name, _ in self.groups[0].attributes)


@dataclass(frozen=True, eq=False)
class Simulation:
    """Simulated samples: embeddings, metadata, and the config that made them.

    Attributes
    ----------
    embeddings : ndarray of float64, shape (n, D)
        One unit-norm embedding per sample.
    metadata : pandas.DataFrame
        One row per sample: ``sample``, ``subject``, the group attributes
        (``sex``, ``region`` by default) and ``age``; row ``i`` describes
        embedding ``i``.
    group : ndarray of int64, shape (n,)
        Index into ``config.groups`` of each sample.
    config : SimulationConfig
        The configuration.

    """

    embeddings: npt.NDArray[np.float64]
    metadata: pd.DataFrame
    group: npt.NDArray[np.int64]
    config: SimulationConfig


# Default groups: sex {F, M} x a synthetic attribute `region` {R1..R4}, tuned where the
# audit's `global` policy reads them: at the thresholds where the true FMR over ALL
# non-mated comparisons (7/8 of them cross-group with 8 equal groups) is 1e-3
# (t1 = 0.2713) and 1e-4 (t2 = 0.3454), not at same-group thresholds (the same-group
# FMR=1e-4 threshold, 0.4091, lies far above both). Region drives FMR, sex drives FNMR:
#                  FMR at t1        FNMR at t1            FMR at t2        FNMR at t2
#   R1->R2->R3->R4 x2.2 a step      x1, 1.08, 0.93, 1.16  x3.4-3.9 a step  x1, 1.05, 0.96, 1.09
#   F over M       x1.48            x4.5                  x1.87            x2.36
#   lowest         1.0e-3 (M/R1)    1.03% (M/R3)          3.2e-5 (M/R1)    9.0% (M/R3)
#   highest        1.7e-2 (F/R4)    5.8% (F/R4)           3.0e-3 (F/R4)    24% (F/R4)
#   span           16x              5.6x                  94x              2.7x
# Neighbours by FMR are 1.48-1.52x apart at t1 and 1.85-2.07x at t2. With the default
# counts (100 subjects x 5 samples a group: 1,000 mated and 123,750 same-group non-mated
# comparisons, the latter with design effects 1.2-4.5 at t1) the truth separates by more
# than 4 standard errors 25 of the 28 pairs of groups by FMR and 16 by FNMR (every F-M
# pair) at t1; 20 and 16 at t2. FNMR cannot also stay under 10% at t2: from t1 to t2
# the threshold rises by 0.074, about 0.9 standard deviations of a group's mated scores,
# which multiplies a 1-6% FNMR by 4-9; it has to rise that much because the non-mated
# scores, which carry the same noise cosine, are at least as spread as the mated ones.
# How they were found (D_noise = 48): targets at t1 of FNMR_g = 1.1% x 4.5 (F) x
# (1, 1.08, 0.93, 1.16) (R1..R4) and FMR_g proportional to 2.2**(r - 1) x 1.48 (F), with
# t1 placed where a quarter of the global false matches are cross-group ones (fewer
# would raise t2 - t1 and FNMR at t2; more needs larger k); a from the FNMR target in
# closed form, a^2 = (t - x) / (1 - x) with x the Beta quantile of the noise cosine; the
# scale of the FMR targets from the FMR budget the cross-group comparisons leave at t1;
# k solved for each FMR target with scipy.optimize.brentq on a real k and rounded to the
# nearest integer, a rounded to 4 decimals. The rates above are those of the rounded values.
#   FMR order, lowest first:  M/R1 F/R1 M/R2 F/R2 M/R3 F/R3 M/R4 F/R4
#   FNMR order, lowest first: M/R3 M/R1 M/R2 M/R4 F/R3 F/R1 F/R2 F/R4
DEFAULT_NOISE_DIM = 48
_DEFAULT_GROUPS: tuple[tuple[str, str, int, float], ...] = (
    ("F", "R1", 111, 0.6415),
    ("F", "R2", 56, 0.6395),
    ("F", "R3", 31, 0.6433),
    ("F", "R4", 18, 0.6376),
    ("M", "R1", 113, 0.6713),
    ("M", "R2", 66, 0.6700),
    ("M", "R3", 40, 0.6724),
    ("M", "R4", 25, 0.6689),
)
DEFAULT_FMR_ORDER: tuple[str, ...] = (
    "M/R1", "F/R1", "M/R2", "F/R2", "M/R3", "F/R3", "M/R4", "F/R4",
)  # fmt: skip
"""Group labels of the default config by true FMR, lowest first: the same at the global
thresholds (true FMR over all non-mated comparisons) for 1e-2 down to 1e-6 and at the
same-group ones for 1e-2 down to 1e-6."""
DEFAULT_FNMR_ORDER: tuple[str, ...] = (
    "M/R3", "M/R1", "M/R2", "M/R4", "F/R3", "F/R1", "F/R2", "F/R4",
)  # fmt: skip
"""Group labels of the default config by true FNMR, lowest first (the order of ``a``,
descending; the same at every threshold)."""


def default_config(
    n_subjects_per_group: int = 100, samples_per_subject: int = 5, seed: int = 0
) -> SimulationConfig:
    """Eight groups, sex {F, M} x synthetic region {R1, R2, R3, R4}, with planted differentials.

    Region drives FMR and sex drives FNMR. At the global threshold for FMR 1e-3 (the
    true FMR over all non-mated comparisons, cross-group ones included, as the
    audit's ``global`` policy sets it; ``t = 0.2713``) the groups' true FMRs span 16x
    (1.0e-3 to 1.7e-2, neighbours 1.5x apart) and their FNMRs 5.6x (1.0% to 5.8%:
    1.0-1.3% for M, 4.6-5.8% for F). At the global threshold for FMR 1e-4
    (``t = 0.3454``) the FMRs span 94x (3.2e-5 to 3.0e-3) and the FNMRs 2.7x (9.0% to
    24%). See ``DEFAULT_FMR_ORDER`` and ``DEFAULT_FNMR_ORDER``; with the default counts
    most pairs of groups are more than 4 standard errors apart (the notes above).

    Examples
    --------
    >>> config = default_config()
    >>> len(config.groups), config.dimension
    (8, 508)

    """
    return SimulationConfig(
        groups=tuple(
            GroupParams((("sex", sex), ("region", region)), k, a, n_subjects_per_group)
            for sex, region, k, a in _DEFAULT_GROUPS
        ),
        noise_dim=DEFAULT_NOISE_DIM,
        samples_per_subject=samples_per_subject,
        seed=seed,
    )


def _unit_rows(rng: np.random.Generator, n: int, d: int) -> npt.NDArray[np.float64]:
    """Rows uniform on the unit sphere of R^d: normalised Gaussians.

    Muller 1959, "A note on a method for generating points uniformly on
    n-dimensional spheres", Communications of the ACM 2(4).
    """
    x = rng.standard_normal((n, d))
    unit: npt.NDArray[np.float64] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return unit


def simulate(config: SimulationConfig) -> Simulation:
    """Draw the samples of every subject of every group from the model.

    Parameters
    ----------
    config : SimulationConfig
        Groups, dimensions, samples per subject and seed.

    Returns
    -------
    Simulation
        Embeddings (float64, unit norm) and metadata, samples ordered by group,
        subject and sample.

    Examples
    --------
    >>> sim = simulate(default_config(n_subjects_per_group=2, samples_per_subject=3))
    >>> sim.embeddings.shape, list(sim.metadata.columns)
    ((48, 508), ['sample', 'subject', 'sex', 'region', 'age'])

    """
    rng = np.random.default_rng(config.seed)
    low, high = config.sample_range
    noise = slice(config.dimension - config.noise_dim, config.dimension)
    parts, groups, frames = [], [], []
    start, first_subject = 0, 0
    for g, params in enumerate(config.groups):
        n = params.n_subjects
        identity = _unit_rows(rng, n, params.k)
        counts = np.full(n, low) if low == high else rng.integers(low, high + 1, size=n)
        owner = np.repeat(np.arange(n), counts)
        x = np.zeros((len(owner), config.dimension))
        x[:, start : start + params.k] = params.a * identity[owner]
        x[:, noise] = math.sqrt(1.0 - params.a**2) * _unit_rows(rng, len(owner), config.noise_dim)
        # Age: a subject's base age, uniform on [18, 80), plus under two years per
        # sample; it plays no part in the scores.
        base_age = rng.uniform(18.0, 80.0, size=n)
        age = np.floor(base_age[owner] + rng.uniform(0.0, 2.0, size=len(owner))).astype(int)
        subject = [f"S{first_subject + s:05d}" for s in owner.tolist()]
        within = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
        frame = {
            "sample": [f"{s}_{j:02d}" for s, j in zip(subject, within.tolist(), strict=True)],
            "subject": subject,
            **{name: [value] * len(owner) for name, value in params.attributes},
            "age": age,
        }
        parts.append(x)
        groups.append(np.full(len(owner), g, dtype=np.int64))
        frames.append(pd.DataFrame(frame))
        start += params.k
        first_subject += n
    return Simulation(
        embeddings=np.concatenate(parts),
        metadata=pd.concat(frames, ignore_index=True),
        group=np.concatenate(groups),
        config=config,
    )


# --- the truth ------------------------------------------------------------------------


def _beta_cdf(dim: int, c: float) -> float:
    """P(C < c) for the cosine C of two independent uniform unit vectors of R^dim."""
    if c <= -1.0:
        return 0.0
    if c >= 1.0:
        return 1.0
    half = (dim - 1) / 2
    return float(special.betainc(half, half, (c + 1.0) / 2.0))


def _beta_sf(dim: int, c: float) -> float:
    """P(C >= c), computed directly (not as 1 - cdf) to keep tail accuracy."""
    if c <= -1.0:
        return 1.0
    if c >= 1.0:
        return 0.0
    half = (dim - 1) / 2
    return float(special.betaincc(half, half, (c + 1.0) / 2.0))


def true_fnmr(config: SimulationConfig, group_index: int, threshold: float) -> float:
    """True FNMR of a group: P(mated score < threshold), in closed form.

    The mated score is ``a^2 + (1 - a^2) c_w`` (module notes), so
    ``FNMR(t) = P(c_w < (t - a^2) / (1 - a^2))`` with
    ``(c_w + 1) / 2 ~ Beta((D_noise - 1) / 2, (D_noise - 1) / 2)``.

    Parameters
    ----------
    config : SimulationConfig
        The simulation.
    group_index : int
        Index into ``config.groups``.
    threshold : float
        Similarity threshold; a comparison matches when ``score >= threshold``.

    Returns
    -------
    float
        The FNMR, in [0, 1].

    """
    a2 = config.groups[group_index].a ** 2
    return _beta_cdf(config.noise_dim, (threshold - a2) / (1.0 - a2))


def _same_group_moment(
    config: SimulationConfig, group_index: int, threshold: float, power: int
) -> float:
    """E[q(c_u)^power], q(c) = P(c_w >= (t - a^2 c) / (1 - a^2)): the FMR for power 1.

    Integrated over ``y = (c_u + 1) / 2`` with the Beta density of the identity
    cosine, only where ``q`` is strictly between 0 and 1; above that range
    ``q = 1`` and the integral is a regularised incomplete Beta function.
    """
    params = config.groups[group_index]
    a2, s2 = params.a**2, 1.0 - params.a**2
    half = (params.k - 1) / 2
    log_norm = float(special.betaln(half, half))
    # q(c) is 0 below c_low and 1 above c_high.
    y_low = min(max(((threshold - s2) / a2 + 1.0) / 2.0, 0.0), 1.0)
    y_high = min(max(((threshold + s2) / a2 + 1.0) / 2.0, 0.0), 1.0)

    def integrand(y: float) -> float:
        if y <= 0.0 or y >= 1.0:
            return 0.0
        density = math.exp((half - 1.0) * (math.log(y) + math.log1p(-y)) - log_norm)
        q = _beta_sf(config.noise_dim, (threshold - a2 * (2.0 * y - 1.0)) / s2)
        return density * q**power

    inner = 0.0
    if y_high > y_low:
        inner, _ = integrate.quad(
            integrand, y_low, y_high, epsabs=0.0, epsrel=_QUAD_EPSREL, limit=200
        )
    tail = float(special.betaincc(half, half, y_high)) if y_high < 1.0 else 0.0
    # A probability: rounding in the sum must not carry it past 1 where q ~ 1 throughout.
    return min(float(inner) + tail, 1.0)


def true_fmr(config: SimulationConfig, group_index: int, threshold: float) -> float:
    """True FMR of a group's same-group non-mated comparisons: P(score >= threshold).

    The score is ``a^2 c_u + (1 - a^2) c_w`` with independent cosines of the
    identities (``k`` dims) and of the noise vectors (``D_noise`` dims), so

        FMR(t) = int_{-1}^{1} f_u(c) P(c_w >= (t - a^2 c) / (1 - a^2)) dc,

    computed by adaptive Gauss-Kronrod quadrature (``scipy.integrate.quad``,
    QUADPACK) with relative tolerance 1e-11.

    Parameters
    ----------
    config : SimulationConfig
        The simulation.
    group_index : int
        Index into ``config.groups``.
    threshold : float
        Similarity threshold; a comparison matches when ``score >= threshold``.

    Returns
    -------
    float
        The FMR, in [0, 1].

    """
    return _same_group_moment(config, group_index, threshold, 1)


def true_cross_fmr(config: SimulationConfig, group_a: int, group_b: int, threshold: float) -> float:
    """True FMR of non-mated comparisons between two groups.

    For ``group_a != group_b`` the identity blocks are orthogonal, the score is
    ``sqrt((1 - a_g^2)(1 - a_h^2)) c_w`` and ``FMR(t) = P(c_w >= t / sqrt(...))``
    in closed form. For ``group_a == group_b`` this is :func:`true_fmr`.

    Parameters
    ----------
    config : SimulationConfig
        The simulation.
    group_a, group_b : int
        Indices into ``config.groups``.
    threshold : float
        Similarity threshold; a comparison matches when ``score >= threshold``.

    Returns
    -------
    float
        The FMR, in [0, 1].

    """
    if group_a == group_b:
        return true_fmr(config, group_a, threshold)
    scale = math.sqrt((1.0 - config.groups[group_a].a ** 2) * (1.0 - config.groups[group_b].a ** 2))
    return _beta_sf(config.noise_dim, threshold / scale)


def true_fmr_design_effect(config: SimulationConfig, group_index: int, threshold: float) -> float:
    """Design effect of a group's same-group FMR: variance over the binomial variance.

    Comparisons of two subjects share their identity cosine ``c_u``; given it they
    are pairwise independent with match probability ``q(c_u)``, and comparisons of
    different subject pairs are pairwise independent (every law is invariant under
    rotations of each block). The variance of the false-match count over ``N``
    comparisons in clusters of ``m`` is therefore exactly

        N p (1 - p) [1 + (E[m(m-1)] / E[m]) (E[q^2] - p^2) / (p (1 - p))],

    and the bracket is the design effect (Kish 1965, Survey Sampling).
    Mated and cross-group comparisons are pairwise independent: their design
    effect is 1.

    Parameters
    ----------
    config : SimulationConfig
        The simulation; cluster sizes follow its samples per subject.
    group_index : int
        Index into ``config.groups``.
    threshold : float
        Similarity threshold.

    Returns
    -------
    float
        The design effect, at least 1 (1 where the FMR is 0 or 1).

    """
    p = true_fmr(config, group_index, threshold)
    if not 0.0 < p < 1.0:
        return 1.0
    q2 = _same_group_moment(config, group_index, threshold, 2)
    low, high = config.sample_range
    counts = np.arange(low, high + 1, dtype=np.float64)
    mean, mean_sq = counts.mean(), (counts**2).mean()
    # Cluster size m = m_i m_j of two independent subjects: E[m^2] / E[m] - 1.
    excess = mean_sq**2 / mean**2 - 1.0
    return float(1.0 + excess * max(q2 - p * p, 0.0) / (p * (1.0 - p)))


def true_fpir(
    config: SimulationConfig, group_index: int, threshold: float, gallery: Sequence[int]
) -> float:
    """True FPIR of a non-mated search of a group against a gallery of one sample per subject.

    Given the searched sample, its comparisons with the enrolled subjects are
    independent (their identities and noise are drawn independently), and each is a
    false match with probability ``FMR_gh`` whatever the searched sample is (the laws
    are invariant under rotations of each block). So, exactly in this model,
    ``FPIR_g(t) = 1 - prod_h (1 - FMR_gh(t))^{N_h}``: the independence approximation
    of 1:N search holds here without approximation.

    Parameters
    ----------
    config : SimulationConfig
        The simulation.
    group_index : int
        Group of the searched sample.
    threshold : float
        Similarity threshold; a candidate is returned when ``score >= threshold``.
    gallery : sequence of int
        Enrolled subjects of each group, in the order of ``config.groups``.

    Returns
    -------
    float
        The FPIR, in [0, 1].

    """
    log_none = sum(
        n * math.log1p(-min(true_cross_fmr(config, group_index, h, threshold), 1.0 - 1e-300))
        for h, n in enumerate(gallery)
        if n
    )
    return 0.0 - math.expm1(log_none)


def _expected_non_mated(config: SimulationConfig) -> dict[tuple[int, int], float]:
    """Expected non-mated comparison counts of an all-pairs audit, per pair of groups."""
    low, high = config.sample_range
    mean = (low + high) / 2
    sizes = [g.n_subjects for g in config.groups]
    counts = {}
    for g, n_g in enumerate(sizes):
        counts[(g, g)] = n_g * (n_g - 1) / 2 * mean**2
        for h in range(g + 1, len(sizes)):
            counts[(g, h)] = n_g * sizes[h] * mean**2
    return counts


def true_threshold_at_fmr(
    config: SimulationConfig, target_fmr: float, *, cross_group: bool = True
) -> float:
    """Threshold at which the true FMR over an all-pairs audit's non-mated comparisons is a target.

    The FMR of the mixture is the mean of the cells' FMRs weighted by their expected
    comparison counts (``C(N_g, 2) m^2`` within group ``g``, ``N_g N_h m^2``
    between groups, ``m`` the mean samples per subject); the threshold is found by
    Brent's method on its logarithm.

    Parameters
    ----------
    config : SimulationConfig
        The simulation.
    target_fmr : float
        Target FMR, in (0, 1).
    cross_group : bool, default True
        Count non-mated comparisons between groups (as the audit's ``global``
        policy does); False counts same-group ones only.

    Returns
    -------
    float
        The similarity threshold.

    """
    if not 0.0 < target_fmr < 1.0:
        raise UsageError(f"target FMR: expected a number in (0, 1), got {target_fmr!r}")
    weights = {
        cell: w for cell, w in _expected_non_mated(config).items()
        if w > 0 and (cross_group or cell[0] == cell[1])
    }  # fmt: skip
    if not weights:
        raise UsageError("the configuration has no non-mated comparisons to set a threshold")
    total = sum(weights.values())

    def gap(t: float) -> float:
        fmr = sum(w * true_cross_fmr(config, g, h, t) for (g, h), w in weights.items()) / total
        return math.log(max(fmr, 1e-300)) - math.log(target_fmr)

    return float(optimize.brentq(gap, -1.0, 1.0, xtol=1e-13, rtol=1e-13, maxiter=200))


# --- files ----------------------------------------------------------------------------

MODEL_IN_WORDS = {
    "geometry": (
        "D = sum_g k_g + D_noise coordinates; group g owns k_g of them (its identity "
        "subspace), all groups share D_noise noise coordinates. A subject of group g has "
        "an identity u uniform on the unit sphere of its block; each sample is "
        "x = [a_g u ; sqrt(1 - a_g^2) w] with w uniform on the unit sphere of the noise "
        "block, fresh per sample, so |x| = 1."
    ),
    "cosine_law": (
        "the cosine c of two independent uniform unit vectors of R^k has "
        "(c + 1) / 2 ~ Beta((k - 1) / 2, (k - 1) / 2)"
    ),
    "match_rule": "score >= threshold (cosine similarity)",
    "fnmr": "FNMR_g(t) = P(c_w < (t - a_g^2) / (1 - a_g^2)), c_w the cosine in D_noise dims",
    "fmr_same_group": (
        "FMR_g(t) = integral over c of f_u(c) P(c_w >= (t - a_g^2 c) / (1 - a_g^2)), "
        "c_u the cosine in k_g dims (scipy.integrate.quad, relative tolerance 1e-11)"
    ),
    "fmr_cross_group": (
        "FMR_gh(t) = P(c_w >= t / sqrt((1 - a_g^2)(1 - a_h^2))), identity blocks orthogonal"
    ),
    "fmr_design_effect": (
        "same-group comparisons cluster by subject pair (they share c_u): variance of "
        "the false-match count = N p (1 - p) [1 + (E[m(m-1)]/E[m]) (E[q^2] - p^2) / "
        "(p (1 - p))]; mated and cross-group comparisons are pairwise independent"
    ),
    "reference_thresholds": (
        "threshold at which the FMR over the expected non-mated comparisons of an "
        "all-pairs audit is the target: 'all' counts cross-group comparisons (the "
        "audit's global policy), 'same_group' only same-group ones"
    ),
}


def _truth(config: SimulationConfig) -> dict[str, Any]:
    groups = config.groups
    points = []
    for basis, cross in (("all", True), ("same_group", False)):
        for target in REFERENCE_FMRS:
            t = true_threshold_at_fmr(config, target, cross_group=cross)
            points.append(
                {
                    "target_fmr": target,
                    "non_mated": basis,
                    "threshold": t,
                    "groups": [
                        {
                            "attributes": dict(g.attributes),
                            "label": g.label,
                            "fmr": true_fmr(config, i, t),
                            "fnmr": true_fnmr(config, i, t),
                            "fmr_design_effect": true_fmr_design_effect(config, i, t),
                        }
                        for i, g in enumerate(groups)
                    ],
                    "cross_group": [
                        {
                            "a": groups[i].label,
                            "b": groups[j].label,
                            "fmr": true_cross_fmr(config, i, j, t),
                        }
                        for i in range(len(groups))
                        for j in range(i + 1, len(groups))
                    ],  # fmt: skip
                }
            )
    return {
        "tool": {"name": "faceparity", "version": __version__},
        "model": MODEL_IN_WORDS,
        "config": {
            "groups": [
                {
                    "attributes": dict(g.attributes),
                    "label": g.label,
                    "k": g.k,
                    "a": g.a,
                    "n_subjects": g.n_subjects,
                }
                for g in groups
            ],  # fmt: skip
            "noise_dim": config.noise_dim,
            "dimension": config.dimension,
            "samples_per_subject": list(config.sample_range),
            "seed": config.seed,
        },
        "reference_points": points,
    }


def write_simulation(sim: Simulation, directory: str | Path) -> dict[str, Path]:
    """Write ``embeddings.npy``, ``metadata.csv`` and ``truth.json``, each atomically.

    ``truth.json`` holds the parameters, the model and its formulas in words, and
    the true per-group FMR, FNMR and FMR design effect (and cross-group FMR) at
    the thresholds where the true FMR is each of ``REFERENCE_FMRS``, over all
    non-mated comparisons and over same-group ones.

    Parameters
    ----------
    sim : Simulation
        What :func:`simulate` returned.
    directory : str or Path
        Folder to write into (created if needed).

    Returns
    -------
    dict of str to Path
        The paths, under the keys ``embeddings``, ``metadata`` and ``truth``.

    """
    directory = Path(directory)
    paths = {
        "embeddings": directory / "embeddings.npy",
        "metadata": directory / "metadata.csv",
        "truth": directory / "truth.json",
    }
    buffer = io.BytesIO()
    np.save(buffer, sim.embeddings, allow_pickle=False)
    atomic_write_bytes(paths["embeddings"], buffer.getvalue())
    atomic_write_text(paths["metadata"], sim.metadata.to_csv(index=False))
    truth = json.dumps(_truth(sim.config), indent=2, allow_nan=False) + "\n"
    atomic_write_text(paths["truth"], truth)
    return paths
