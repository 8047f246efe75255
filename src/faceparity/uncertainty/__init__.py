"""Uncertainty of every reported number: closed-form intervals, support, the bootstrap."""

from faceparity.uncertainty.apply import METHODS, with_uncertainty
from faceparity.uncertainty.binomial import (
    CORRELATION_CAVEAT,
    clopper_pearson,
    rule_of_three,
    wilson,
)
from faceparity.uncertainty.sample_size import (
    DEFAULT_ICC,
    GroupCapacity,
    IntervalKind,
    Plan,
    PlanConfig,
    RatePlan,
    comparisons_needed,
    mated_design_effect,
    non_mated_design_effect,
    plan_audit,
    supported_rates,
)
from faceparity.uncertainty.support import MIN_ERRORS, Support, support_for

__all__ = [
    # intervals and support flags on a result
    "METHODS",
    "with_uncertainty",
    # closed forms and support
    "CORRELATION_CAVEAT",
    "MIN_ERRORS",
    "Support",
    "clopper_pearson",
    "rule_of_three",
    "support_for",
    "wilson",
    # planning (faceparity plan)
    "DEFAULT_ICC",
    "GroupCapacity",
    "IntervalKind",
    "Plan",
    "PlanConfig",
    "RatePlan",
    "comparisons_needed",
    "mated_design_effect",
    "non_mated_design_effect",
    "plan_audit",
    "supported_rates",
]
