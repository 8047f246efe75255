"""Who is in an audit: subjects and samples per group and in all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Population"]


@dataclass(frozen=True)
class Population:
    """Who is in an audit: subjects and samples per group and in all, for the record.

    Entries are None when the input does not identify samples (``n_samples``) or
    subjects (``n_subjects``: a histogram input).
    """

    n_subjects: Sequence[int | None]
    n_samples: Sequence[int | None]
    n_subjects_total: int | None
    n_samples_total: int | None
