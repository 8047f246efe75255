"""Uncertainty of every reported number: closed-form intervals, support, the bootstrap."""

from faceparity.uncertainty.binomial import (
    CORRELATION_CAVEAT,
    clopper_pearson,
    rule_of_three,
    wilson,
)
from faceparity.uncertainty.support import MIN_ERRORS, Support, support_for

__all__ = [
    "CORRELATION_CAVEAT",
    "MIN_ERRORS",
    "Support",
    "clopper_pearson",
    "rule_of_three",
    "support_for",
    "wilson",
]
