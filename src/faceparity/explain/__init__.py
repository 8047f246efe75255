"""What drives the errors: logistic regression of error events at an operating point.

:func:`error_events` sets the global threshold of a target FMR and marks every mated
comparison a false non-match or not, every non-mated one a false match or not, with its
demographic factors, numeric covariates and subjects; :func:`fit_error_model` regresses
each event on them (statsmodels, clustered by subject), with average marginal effects
and Tjur's R2; :func:`explain_errors` does both. statsmodels is imported when a model
is fitted (the ``analysis`` extra).
"""

from faceparity.explain.events import DEFAULT_MAX_NON_MATED, ErrorEvents, EventTable, error_events
from faceparity.explain.regression import ErrorModel, Term, fit_error_model, tjur_r2
from faceparity.explain.run import ExplainResult, explain_errors

__all__ = [
    "DEFAULT_MAX_NON_MATED",
    "ErrorEvents",
    "ErrorModel",
    "EventTable",
    "ExplainResult",
    "Term",
    "error_events",
    "explain_errors",
    "fit_error_model",
    "tjur_r2",
]
