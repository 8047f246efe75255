"""Logistic regression of error events on demographic factors and covariates.

The model (as in NIST IREX 10 and FaVFA, WACV 2025): ``logit P(error) = b0 + sum of
factor-level effects + sum of covariate slopes``, each factor dummy-coded against its
reference level, fitted by maximum likelihood with statsmodels' ``Logit``.

Standard errors are clustered by subject. A mated comparison's cluster is its subject
(statsmodels' ``cov_type="cluster"``). A non-mated comparison involves two subjects, and
every two comparisons that share a subject, in either position, may be correlated: the
covariance is dyadic-robust (:func:`dyadic_cov`; Aronow, Samii and Assenova 2015), the
form that two-way clustering (Cameron, Gelbach and Miller 2011, ``V_a + V_b - V_ab``)
takes when the two ways are one population of subjects. Two-way clustering on the
lower- and higher-coded subject of each pair would miss the comparisons that share a
subject in different positions; on the BFW sample it gave standard errors up to 10%
smaller.

Average marginal effects (AME): for a covariate, the mean derivative of the error
probability (statsmodels' ``get_margeff(at="overall", method="dydx")``); for a factor
level, the mean change in the error probability when every comparison's level is set
to that level rather than to the reference, other factors as observed. Intervals use
the delta method with the clustered covariance.

Fit: Tjur's coefficient of discrimination (Tjur 2009, "Coefficients of determination in
logistic regression models", The American Statistician 63(4)): the mean fitted
probability of the errors minus that of the non-errors.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.explain.events import EventTable

__all__ = [
    "STATSMODELS_HINT",
    "ErrorModel",
    "Term",
    "dyadic_cov",
    "fit_error_model",
    "tjur_r2",
]

STATSMODELS_HINT = (
    "faceparity explain needs statsmodels; install it with "
    "`pip install 'faceparity[analysis]'` (or `pip install 'statsmodels>=0.14'`)"
)

_ENOUGH_EVENTS = 10
"""Fewer errors than this per term make the model's intervals unreliable (Peduzzi et al. 1996)."""


@dataclass(frozen=True)
class Term:
    """One term of the model: its coefficient (log-odds) and its average marginal effect."""

    term: str
    kind: str
    coefficient: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    ame: float | None
    ame_se: float | None
    ame_ci_low: float | None
    ame_ci_high: float | None


@dataclass(frozen=True)
class ErrorModel:
    """The fitted model of one kind of error event (or why there is none)."""

    event: str
    n_comparisons: int
    n_used: int
    n_events: int
    n_clusters: list[int]
    clustering: str
    level: float
    terms: list[Term]
    tjur_r2: float | None
    undefined_reason: str | None = None
    sampling: str | None = None
    exclusions: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return asdict(self)


def tjur_r2(outcome: npt.ArrayLike, fitted: npt.ArrayLike) -> float:
    """Tjur's coefficient of discrimination: mean fitted P of the events minus the non-events.

    Examples
    --------
    >>> tjur_r2([True, False, True, False], [0.75, 0.25, 0.75, 0.25])
    0.5

    """
    y = np.asarray(outcome, dtype=bool)
    p = np.asarray(fitted, dtype=np.float64)
    return float(p[y].mean() - p[~y].mean())


def _statsmodels() -> Any:
    try:
        import statsmodels.api as sm
    except ImportError as err:
        raise UsageError(STATSMODELS_HINT) from err
    return sm


def design(table: EventTable) -> tuple[npt.NDArray[np.float64], list[str], list[str]]:
    """The design matrix (intercept first), its column names and each column's kind."""
    n = len(table)
    columns = [np.ones(n)]
    names, kinds = ["intercept"], ["intercept"]
    for name, (codes, levels) in table.factors.items():
        for k, level in enumerate(levels[1:], start=1):
            columns.append((codes == k).astype(np.float64))
            names.append(f"{name}[{level}]")
            kinds.append(f"factor:{name}")
    for name, values in table.numeric.items():
        columns.append(np.asarray(values, dtype=np.float64))
        names.append(name)
        kinds.append("covariate")
    return np.column_stack(columns), names, kinds


def _undefined(table: EventTable, reason: str, level: float, clustering: str) -> ErrorModel:
    return ErrorModel(
        event=table.event,
        n_comparisons=table.n_comparisons,
        n_used=len(table),
        n_events=int(table.outcome.sum()),
        n_clusters=_n_clusters(table),
        clustering=clustering,
        level=level,
        terms=[],
        tjur_r2=None,
        undefined_reason=reason,
        sampling=table.sampling,
        exclusions=[asdict(e) for e in table.exclusions],
    )


def _n_clusters(table: EventTable) -> list[int]:
    # One-way: the mated subjects; dyadic: every subject of a non-mated comparison.
    return [int(np.unique(table.clusters).size)]


def _not_estimable(table: EventTable, x: npt.NDArray[np.float64], names: list[str]) -> str | None:
    y = table.outcome
    n_events = int(y.sum())
    if len(table) == 0:
        return "no comparisons left to regress"
    if n_events in (0, len(table)):
        return f"{n_events} errors in {len(table)} comparisons: nothing to explain"
    for name, (codes, levels) in table.factors.items():
        for k, level in enumerate(levels):
            errors = int(y[codes == k].sum())
            total = int((codes == k).sum())
            if errors in (0, total):
                return (
                    f"{name} {level}: {errors} errors in {total} comparisons (complete "
                    "separation: its effect cannot be estimated; choose another target FMR "
                    "or merge levels)"
                )
    if np.linalg.matrix_rank(x) < x.shape[1]:
        return (
            f"the design is rank-deficient (a covariate constant or collinear): {', '.join(names)}"
        )
    return None


def _level_ames(
    result: Any, x: npt.NDArray[np.float64], kinds: list[str], cov: npt.NDArray[np.float64]
) -> dict[int, tuple[float, float]]:
    """AME and its delta-method SE of every factor-level column, against the reference."""
    beta = np.asarray(result.params, dtype=np.float64)
    out: dict[int, tuple[float, float]] = {}
    for factor in {k for k in kinds if k.startswith("factor:")}:
        cols = [j for j, k in enumerate(kinds) if k == factor]
        base = x.copy()
        base[:, cols] = 0.0
        p0 = 1.0 / (1.0 + np.exp(-(base @ beta)))
        g0 = (p0 * (1 - p0))[:, None] * base
        for j in cols:
            alt = base.copy()
            alt[:, j] = 1.0
            p1 = 1.0 / (1.0 + np.exp(-(alt @ beta)))
            g1 = (p1 * (1 - p1))[:, None] * alt
            grad = g1.mean(axis=0) - g0.mean(axis=0)
            out[j] = (float(p1.mean() - p0.mean()), float(np.sqrt(grad @ cov @ grad)))
    return out


def dyadic_cov(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    fitted: npt.NDArray[np.float64],
    subjects: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Dyadic-robust covariance of logit coefficients (comparisons sharing a subject correlate).

    ``V = H^-1 M H^-1`` with ``H = sum p(1 - p) x x'`` and ``M`` the sum of
    ``s_i s_j'`` over every two comparisons that share a subject (``i = j`` included),
    ``s_i = x_i (y_i - p_i)`` (Fafchamps and Gubert 2007; Aronow, Samii and Assenova
    2015, "Cluster-robust variance estimation for dyadic data", Political Analysis
    23(4)). With ``u_g`` the sum of the scores of subject ``g``'s comparisons and
    ``u_d`` that of the comparisons of one pair of subjects,
    ``M = sum_g u_g u_g' - sum_d u_d u_d'`` (comparisons of one pair of subjects share
    both subjects and are counted once). Scaled by ``G / (G - 1) (N - 1) / (N - K)``,
    as statsmodels scales one-way clustering.

    Parameters
    ----------
    x : ndarray, shape (n, k)
        The design.
    y, fitted : ndarray, shape (n,)
        The outcome and its fitted probability.
    subjects : ndarray of int64, shape (n, 2)
        The two (different) subjects of each comparison.

    Returns
    -------
    ndarray, shape (k, k)
        The covariance.

    """
    n, k = x.shape
    score = x * (y - fitted)[:, None]
    hessian = (x * (fitted * (1.0 - fitted))[:, None]).T @ x
    codes, inverse = np.unique(
        np.concatenate([subjects[:, 0], subjects[:, 1]]), return_inverse=True
    )
    g = codes.size
    per_subject = np.zeros((g, k))
    np.add.at(per_subject, inverse[:n], score)
    np.add.at(per_subject, inverse[n:], score)
    low = np.minimum(inverse[:n], inverse[n:]).astype(np.int64)
    high = np.maximum(inverse[:n], inverse[n:]).astype(np.int64)
    pair = np.unique(low * g + high, return_inverse=True)[1]
    per_pair = np.zeros((int(pair.max()) + 1, k))
    np.add.at(per_pair, pair, score)
    meat = per_subject.T @ per_subject - per_pair.T @ per_pair
    bread = np.linalg.inv(hessian)
    scale = g / (g - 1) * (n - 1) / (n - k) if g > 1 and n > k else 1.0
    return np.asarray(scale * bread @ meat @ bread, dtype=np.float64)


def _fit(sm: Any, x: Any, y: Any, clusters: npt.NDArray[np.int64]) -> Any:
    """Statsmodels' Logit fit: one-way clustered for 1-d clusters; plain for dyadic ones."""
    model = sm.Logit(y, x)
    if clusters.ndim == 2:
        return model.fit(disp=0, maxiter=200)
    return model.fit(disp=0, maxiter=200, cov_type="cluster", cov_kwds={"groups": clusters})


def fit_error_model(table: EventTable, *, level: float = 0.95) -> ErrorModel:
    """Fit the logistic regression of ``table``'s error event.

    Parameters
    ----------
    table : EventTable
        The comparisons, their error event, factors, covariates and clusters.
    level : float
        Confidence level of the intervals.

    Returns
    -------
    ErrorModel
        Coefficients (log-odds) and AMEs with clustered intervals, and Tjur's R2; or,
        when the model cannot be estimated (no errors, complete separation, a
        rank-deficient design), ``undefined_reason`` and no terms.

    """
    from scipy.stats import norm

    sm = _statsmodels()
    dyadic = table.clusters.ndim == 2
    clustering = (
        "dyadic by the two subjects of each pair (Aronow, Samii and Assenova 2015)"
        if dyadic
        else "one-way by the mated subject"
    )
    x, names, kinds = design(table)
    reason = _not_estimable(table, x, names)
    if reason is not None:
        return _undefined(table, reason, level, clustering)
    y = table.outcome.astype(np.float64)
    notes: list[str] = []
    numeric = [j for j, k in enumerate(kinds) if k == "covariate"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = _fit(sm, x, y, table.clusters)
            converged = bool(result.mle_retvals.get("converged", True))
            if converged and dyadic:
                # statsmodels reads the covariance of every derived number (standard
                # errors, get_margeff) from cov_params_default, as its robust fits set it.
                result._results.cov_params_default = dyadic_cov(
                    x, y, np.asarray(result.predict(), dtype=np.float64), table.clusters
                )
            margeff = (
                result.get_margeff(at="overall", method="dydx") if numeric and converged else None
            )
        except np.linalg.LinAlgError:
            return _undefined(table, "the information matrix is singular", level, clustering)
    notes.extend(sorted({f"statsmodels: {w.message}" for w in caught}))
    if not converged:
        return _undefined(table, "the maximum-likelihood fit did not converge", level, clustering)
    cov = np.asarray(result.cov_params(), dtype=np.float64)
    z = float(norm.ppf(0.5 + level / 2))
    beta = np.asarray(result.params, dtype=np.float64)
    se = np.sqrt(np.diag(cov))
    p_values = 2 * norm.sf(np.abs(beta / se))
    ames = _level_ames(result, x, kinds, cov)
    if margeff is not None:
        # get_margeff reports every column but the intercept (column 0).
        for j in numeric:
            ames[j] = (float(margeff.margeff[j - 1]), float(margeff.margeff_se[j - 1]))
    terms = []
    for j, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        ame = ames.get(j)
        terms.append(
            Term(
                term=name,
                kind=kind,
                coefficient=float(beta[j]),
                se=float(se[j]),
                ci_low=float(beta[j] - z * se[j]),
                ci_high=float(beta[j] + z * se[j]),
                p_value=float(p_values[j]),
                ame=None if ame is None else ame[0],
                ame_se=None if ame is None else ame[1],
                ame_ci_low=None if ame is None else ame[0] - z * ame[1],
                ame_ci_high=None if ame is None else ame[0] + z * ame[1],
            )
        )
    n_events = int(table.outcome.sum())
    if min(n_events, len(table) - n_events) < _ENOUGH_EVENTS * (len(names) - 1):
        notes.append(
            f"{min(n_events, len(table) - n_events)} events for {len(names) - 1} terms: fewer "
            f"than {_ENOUGH_EVENTS} per term, so the estimates and intervals are unreliable "
            "(Peduzzi et al. 1996)"
        )
    return ErrorModel(
        event=table.event,
        n_comparisons=table.n_comparisons,
        n_used=len(table),
        n_events=n_events,
        n_clusters=_n_clusters(table),
        clustering=clustering,
        level=level,
        terms=terms,
        tjur_r2=tjur_r2(table.outcome, result.predict()),
        sampling=table.sampling,
        exclusions=[asdict(e) for e in table.exclusions],
        notes=notes,
    )
