"""Both error models at one operating point, as one result (``explain.json``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.explain.events import DEFAULT_MAX_NON_MATED, error_events
from faceparity.explain.regression import ErrorModel, fit_error_model
from faceparity.model.comparisons import ComparisonSet

__all__ = ["ExplainResult", "explain_errors"]


@dataclass(frozen=True)
class ExplainResult:
    """The models of false non-matches and false matches at one operating point."""

    source: str
    target_fmr: float
    policy: str
    threshold: float
    score_kind: str
    group_by: tuple[str, ...]
    false_non_match: ErrorModel
    false_match: ErrorModel
    exclusions: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (``explain_version`` first)."""
        return {
            "explain_version": "1.0",
            "source": self.source,
            "target_fmr": self.target_fmr,
            "policy": self.policy,
            "threshold": self.threshold,
            "score_kind": self.score_kind,
            "group_by": list(self.group_by),
            "exclusions": list(self.exclusions),
            "models": {
                "false_non_match": self.false_non_match.to_dict(),
                "false_match": self.false_match.to_dict(),
            },
        }

    def to_json(self) -> str:
        """Indented JSON text, newline at the end."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"


def explain_errors(
    comparisons: ComparisonSet,
    *,
    target_fmr: float,
    group_by: Sequence[str],
    covariates: Mapping[str, npt.NDArray[np.float64]] | None = None,
    gaps: Sequence[str] = (),
    reference: Mapping[str, str] | None = None,
    max_non_mated: int | None = DEFAULT_MAX_NON_MATED,
    seed: int = 0,
    level: float = 0.95,
) -> ExplainResult:
    """Regress false non-matches and false matches at the global threshold of ``target_fmr``.

    The options are those of :func:`~faceparity.explain.events.error_events`, and
    ``level`` that of :func:`~faceparity.explain.regression.fit_error_model`.
    """
    events = error_events(
        comparisons,
        target_fmr=target_fmr,
        group_by=group_by,
        covariates=covariates,
        gaps=gaps,
        reference=reference,
        max_non_mated=max_non_mated,
        seed=seed,
    )
    return ExplainResult(
        source=comparisons.source,
        target_fmr=target_fmr,
        policy="global",
        threshold=events.threshold,
        score_kind=events.score_kind.value,
        group_by=tuple(group_by),
        false_non_match=fit_error_model(events.false_non_match, level=level),
        false_match=fit_error_model(events.false_match, level=level),
        exclusions=tuple(asdict(e) for e in comparisons.exclusions),
    )
