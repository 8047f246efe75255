"""Beta calibration of similarity scores, and the KS calibration error of probabilities.

Beta calibration (Kull, Silva Filho and Flach 2017, "Beta calibration: a well-founded
and easily implemented improvement on logistic calibration for binary classifiers",
AISTATS) maps a score ``u`` in (0, 1) to the log-odds of a mated comparison
``a ln u - b ln(1 - u) + c`` with ``a, b >= 0``, a monotone map. FairCal (Salvador et
al. 2022, ICLR) calibrates cosine similarities this way. Scores here are of any range
and direction-free (similarities), so ``u`` is the logistic function of the score
standardised by the training scores' mean and standard deviation: strictly monotone,
never clipped, so held-out scores beyond the training range keep their order.

The KS calibration error (Gupta et al. 2021, "Calibration of neural networks using
splines", ICLR; the measure FairCal reports per group) is the largest absolute
cumulative difference between predicted probabilities and outcomes, sorted by the
probability, over the number of comparisons.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceparity.results.mitigation import BetaMap

__all__ = ["apply_beta", "fit_beta", "ks_calibration_error", "log_sigmoid"]

FloatArray = npt.NDArray[np.float64]


def log_sigmoid(x: FloatArray) -> FloatArray:
    """``log(1 / (1 + exp(-x)))`` without overflow."""
    return -np.logaddexp(0.0, -x)


def _features(scores: FloatArray, mean: float, scale: float) -> tuple[FloatArray, FloatArray]:
    z = (scores - mean) / scale
    return log_sigmoid(z), -log_sigmoid(-z)  # ln u and -ln(1 - u)


def fit_beta(scores: FloatArray, mated: npt.NDArray[np.bool_]) -> BetaMap:
    """The beta calibration of ``scores`` (similarities) to the probability of ``mated``.

    Fitted by maximum likelihood (the logistic loss) with scipy (SLSQP) under
    ``a, b >= 0``; more than :data:`MAX_FIT_SCORES` scores of one label are thinned to
    weighted order statistics. Needs at least one mated and one non-mated score.

    Examples
    --------
    >>> m = fit_beta(np.array([0.1, 0.2, 0.3, 0.8, 0.9, 0.5]),
    ...              np.array([False, False, False, True, True, True]))
    >>> bool(m.a >= 0 and m.b >= 0)
    True

    """
    from scipy import optimize

    scores = np.asarray(scores, dtype=np.float64)
    mated = np.asarray(mated, dtype=bool)
    n_mated = int(mated.sum())
    if not 0 < n_mated < mated.size:
        raise ValueError("beta calibration needs mated and non-mated scores")
    mean = float(scores.mean())
    scale = float(scores.std()) or 1.0
    m, mw = _thinned(scores[mated])
    nm, nmw = _thinned(scores[~mated])
    s = np.concatenate([m, nm])
    w = np.concatenate([mw, nmw])
    y = np.concatenate([np.ones(len(m)), np.zeros(len(nm))])
    f1, f2 = _features(s, mean, scale)
    prior = float(np.log(n_mated / (mated.size - n_mated)))

    def loss(theta: FloatArray) -> tuple[float, FloatArray]:
        a, b, c = theta
        z = a * f1 + b * f2 + c
        # Weighted logistic loss: w (log(1 + e^z) - y z), and its gradient.
        value = float(w @ (np.logaddexp(0.0, z) - y * z))
        r = w * (np.exp(log_sigmoid(z)) - y)
        return value, np.array([r @ f1, r @ f2, r.sum()])

    fit = optimize.minimize(
        loss,
        np.array([1.0, 1.0, prior]),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, None), (0.0, None), (None, None)],
    )
    a, b, c = (float(v) for v in fit.x)
    return BetaMap(mean=mean, scale=scale, a=a, b=b, c=c)


MAX_FIT_SCORES = 2_000
"""Most scores of one label a fit reads: more are thinned to evenly spaced order statistics."""


def _thinned(scores: FloatArray) -> tuple[FloatArray, FloatArray]:
    """At most :data:`MAX_FIT_SCORES` evenly spaced order statistics, weighted.

    Each weighs what it stands for (all scores, weight 1, when there are fewer):
    deterministic, and the likelihood of a smooth three-parameter map hardly changes.
    """
    n = len(scores)
    if n <= MAX_FIT_SCORES:
        return scores, np.ones(n)
    picked = np.sort(scores)[np.linspace(0, n - 1, MAX_FIT_SCORES).round().astype(np.int64)]
    return picked, np.full(MAX_FIT_SCORES, n / MAX_FIT_SCORES)


def apply_beta(beta: BetaMap, scores: FloatArray) -> FloatArray:
    """The log-odds of a mated comparison that ``beta`` gives each score."""
    f1, f2 = _features(np.asarray(scores, dtype=np.float64), beta.mean, beta.scale)
    out: FloatArray = beta.a * f1 + beta.b * f2 + beta.c
    return out


def ks_calibration_error(log_odds: FloatArray, mated: npt.NDArray[np.bool_]) -> float | None:
    """The KS calibration error of probabilities given as log-odds; None when there are none.

    Examples
    --------
    Perfectly calibrated on average at every prefix gives 0:

    >>> ks_calibration_error(np.array([0.0, 0.0]), np.array([True, False]))
    0.25
    >>> round(ks_calibration_error(np.zeros(4), np.array([True, False, True, False])), 3)
    0.125

    """
    if not len(log_odds):
        return None
    order = np.argsort(log_odds, kind="stable")
    p = np.exp(log_sigmoid(np.asarray(log_odds, dtype=np.float64)[order]))
    y = np.asarray(mated, dtype=np.float64)[order]
    return float(np.max(np.abs(np.cumsum(p - y))) / len(p))
