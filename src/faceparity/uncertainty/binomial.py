"""Closed-form intervals for an error rate counted as ``k`` errors in ``n`` trials.

They treat the ``n`` comparisons as independent trials. Comparisons that share a
subject are not: a subject who resembles many others adds many correlated false
matches. These intervals are therefore too narrow on face data, often much too
narrow for FMR; they are offered as a fast first look and as the exact bound where
no error was seen. The subject-level bootstrap (:mod:`faceparity.uncertainty.bootstrap`)
is the interval to quote.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import special  # the quantile functions only (scipy.stats is heavy to import)

__all__ = ["CORRELATION_CAVEAT", "clopper_pearson", "rule_of_three", "wilson"]

CORRELATION_CAVEAT = (
    "closed-form binomial intervals treat comparisons as independent; comparisons that "
    "share a subject are correlated, so these intervals are too narrow (use the "
    "subject-level bootstrap for claims)"
)


def _check(k: npt.ArrayLike, n: npt.ArrayLike, level: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must lie in (0, 1), got {level}")
    k_arr, n_arr = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    if np.any(n_arr < 0) or np.any(k_arr < 0) or np.any(k_arr > n_arr):
        raise ValueError("need 0 <= k <= n")
    return k_arr, n_arr


def clopper_pearson(
    k: npt.ArrayLike, n: npt.ArrayLike, level: float = 0.95
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Exact (Clopper-Pearson) two-sided interval for a binomial proportion.

    The bounds are quantiles of Beta distributions (Clopper & Pearson 1934,
    Biometrika 26(4):404-413): ``low = Beta(alpha/2; k, n-k+1)`` and
    ``high = Beta(1-alpha/2; k+1, n-k)``, with ``low = 0`` when ``k = 0`` and
    ``high = 1`` when ``k = n``. Where ``n = 0`` both bounds are NaN (undefined).

    Examples
    --------
    >>> low, high = clopper_pearson(0, 1000)
    >>> float(low), round(float(high), 6)
    (0.0, 0.003682)

    """
    k_arr, n_arr = _check(k, n, level)
    alpha = 1.0 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k_arr > 0, special.betaincinv(k_arr, n_arr - k_arr + 1, alpha / 2), 0.0)
        high = np.where(
            # The upper tail's quantile, not 1 - alpha/2's (which rounds to 1 when
            # alpha/2 is below the spacing of doubles near 1).
            k_arr < n_arr,
            special.betainccinv(k_arr + 1, n_arr - k_arr, alpha / 2),
            1.0,
        )
    undefined = n_arr == 0
    return np.where(undefined, np.nan, low), np.where(undefined, np.nan, high)


def wilson(
    k: npt.ArrayLike, n: npt.ArrayLike, level: float = 0.95
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Wilson score interval (Wilson 1927, JASA 22(158):209-212; Agresti & Coull 1998).

    ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)`` with ``p = k/n`` and
    ``z`` the normal quantile at ``1 - alpha/2``. NaN where ``n = 0``.

    Examples
    --------
    >>> low, high = wilson(5, 100)
    >>> round(float(low), 4), round(float(high), 4)
    (0.0215, 0.1118)

    """
    k_arr, n_arr = _check(k, n, level)
    z = -float(special.ndtri((1 - level) / 2))  # finite for every level below 1
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k_arr / n_arr
        centre = (p + z * z / (2 * n_arr)) / (1 + z * z / n_arr)
        half = z * np.sqrt(p * (1 - p) / n_arr + z * z / (4 * n_arr * n_arr)) / (1 + z * z / n_arr)
        low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    undefined = n_arr == 0
    return np.where(undefined, np.nan, low), np.where(undefined, np.nan, high)


def rule_of_three(n: int, level: float = 0.95) -> float:
    """Upper bound on a rate when none of ``n`` trials erred: ``-ln(1 - level) / n``.

    At 95% this is about ``3 / n`` (Hanley & Lippman-Hand 1983, JAMA 249(13):1743-1745);
    the exact Clopper-Pearson one-sided bound is ``1 - (1 - level)**(1/n)``, a little
    smaller. Infinite where ``n = 0``.

    Examples
    --------
    >>> round(rule_of_three(1000), 6)
    0.002996

    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must lie in (0, 1), got {level}")
    return math.inf if n <= 0 else -math.log(1.0 - level) / n
