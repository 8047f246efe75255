"""Whether a data set can support a rate at all: Doddington's rule of 30.

To be 90% confident that the true error rate is within +-30% of the observed rate,
there must be at least 30 errors (Doddington, Przybocki, Martin & Reynolds 2000,
"The NIST speaker recognition evaluation", Speech Communication 31:225-254; also
ISO/IEC 19795-1's guidance on the "rule of 30"). A target FMR ``p`` on a group with
``n`` non-mated comparisons expects ``p * n`` false matches at its threshold; below
30 the measured rate, and any ratio built on it, cannot carry a claim. The smallest
rate a group can support is therefore ``30 / n``.
"""

from __future__ import annotations

import math

from faceparity.results.common import Support

__all__ = ["MIN_ERRORS", "Support", "support_for"]

MIN_ERRORS = 30
"""Errors a rate needs before it is called supported (Doddington's rule of 30)."""


def support_for(rate: float | None, n: int, *, what: str = "rate") -> Support:
    """Support of ``rate`` (a target or an observed rate) measured over ``n`` trials.

    Examples
    --------
    >>> support_for(1e-4, 100_000).sufficient
    False
    >>> support_for(1e-3, 100_000).expected_errors
    100.0

    """
    if n <= 0:
        return Support(False, None, None, f"no trials: the {what} is undefined")
    minimum = MIN_ERRORS / n if n >= MIN_ERRORS else None
    if rate is None or not math.isfinite(rate):
        return Support(False, None, minimum, f"the {what} is undefined")
    expected = rate * n
    if n < MIN_ERRORS:
        return Support(
            False,
            expected,
            None,
            f"only {n:,} trials: fewer than {MIN_ERRORS}, no {what} can be supported",
        )
    # A rate of exactly 30 / n is supported, whatever the rounding of the product.
    if expected >= MIN_ERRORS * (1.0 - 1e-12):
        return Support(True, expected, minimum, f"{expected:.0f} errors expected of {n:,} trials")
    return Support(
        False,
        expected,
        minimum,
        f"only {expected:.1f} errors expected of {n:,} trials (rule of {MIN_ERRORS}); "
        f"the smallest rate these trials support is {minimum:.2g}",
    )
