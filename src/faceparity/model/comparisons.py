"""The data model every reader produces and every engine consumes: a set of comparisons.

A :class:`ComparisonSet` is columnar. Row ``i`` is one comparison of two samples,
side ``0`` (first, the reference) and side ``1`` (second, the probe). Attributes are
stored per side as integer codes into a tuple of levels, ``-1`` meaning missing, so
that grouping by any combination of attributes (an intersection such as
sex x ethnicity) is cheap and exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from faceparity.errors import InputError
from faceparity.model.config import ScoreKind

__all__ = ["MISSING", "ComparisonSet", "Exclusion"]

MISSING = -1
"""Code of a missing attribute value."""


@dataclass(frozen=True)
class Exclusion:
    """Something left out of the audit, and why; never silent.

    Parameters
    ----------
    reason : str
        Why it was left out, in words a reader understands.
    count : int
        How many units were left out.
    unit : str
        What was counted: ``"comparisons"``, ``"samples"``, ``"subjects"`` or ``"rows"``.
    scope : str
        What the units were left out of: ``"audit"`` (everything), ``"groups"``
        (per-group rates only; still in the overall rates) or ``"mated"``.

    """

    reason: str
    count: int
    unit: str = "comparisons"
    scope: str = "audit"


@dataclass(frozen=True)
class ComparisonSet:
    """Scores of comparisons with their subjects, samples and per-side attributes.

    Parameters
    ----------
    score : ndarray of float64, shape (n,)
        Comparison scores, finite, in the direction given by ``score_kind``.
    mated : ndarray of bool, shape (n,)
        True where both samples come from the same subject.
    score_kind : ScoreKind
        Direction of the scores.
    subject : ndarray of int64, shape (n, 2)
        Codes into ``subject_ids`` of the two sides.
    subject_ids : tuple of str
        The subject identifiers.
    attributes : mapping of str to ndarray of int32, shape (n, 2)
        Per-side codes into ``levels[name]``; ``MISSING`` (-1) where unknown.
    levels : mapping of str to tuple of str
        The values each attribute takes, in display order.
    sample : ndarray of int64, shape (n, 2), optional
        Codes of the two samples, when the input identifies samples.
    exclusions : tuple of Exclusion
        What the reader left out.
    source : str
        Where the comparisons came from, for the record.

    """

    score: npt.NDArray[np.float64]
    mated: npt.NDArray[np.bool_]
    score_kind: ScoreKind
    subject: npt.NDArray[np.int64]
    subject_ids: tuple[str, ...]
    attributes: Mapping[str, npt.NDArray[np.int32]]
    levels: Mapping[str, tuple[str, ...]]
    sample: npt.NDArray[np.int64] | None = None
    exclusions: tuple[Exclusion, ...] = field(default=())
    source: str = ""

    def __post_init__(self) -> None:
        n = self.score.shape[0]
        if self.score.shape != (n,) or self.mated.shape != (n,):
            raise ValueError("score and mated must be 1-d arrays of the same length")
        if self.subject.shape != (n, 2):
            raise ValueError("subject must have shape (n, 2)")
        if self.sample is not None and self.sample.shape != (n, 2):
            raise ValueError("sample must have shape (n, 2)")
        bad = np.flatnonzero(~np.isfinite(self.score))
        if bad.size:
            raise InputError(
                f"comparison {int(bad[0]) + 1} has score {self.score[bad[0]]!r}; "
                "expected a finite number"
            )
        if set(self.attributes) != set(self.levels):
            raise ValueError("attributes and levels must name the same attributes")
        for name, codes in self.attributes.items():
            if codes.shape != (n, 2):
                raise ValueError(f"attribute {name!r} must have shape (n, 2)")

    def __len__(self) -> int:
        return int(self.score.shape[0])

    @property
    def similarity(self) -> npt.NDArray[np.float64]:
        """Scores oriented so that higher means more alike (distances negated, exactly)."""
        if self.score_kind is ScoreKind.SIMILARITY:
            return self.score
        return -self.score

    def check_attributes(self, names: Sequence[str]) -> None:
        """Raise InputError unless every name is an attribute of this set."""
        for name in names:
            if name not in self.levels:
                known = ", ".join(sorted(self.levels)) or "none"
                raise InputError(
                    f"group-by attribute {name!r} is not defined; attributes defined: {known}"
                )

    @classmethod
    def from_arrays(
        cls,
        *,
        score: npt.ArrayLike,
        mated: npt.ArrayLike,
        score_kind: ScoreKind,
        subject_a: Sequence[object] | npt.ArrayLike,
        subject_b: Sequence[object] | npt.ArrayLike,
        attributes_a: Mapping[str, Sequence[object]] | None = None,
        attributes_b: Mapping[str, Sequence[object]] | None = None,
        source: str = "",
    ) -> ComparisonSet:
        """Build a set from plain per-comparison sequences (for tests and library users).

        Attribute values are turned into strings; ``None`` means missing.

        Examples
        --------
        >>> cs = ComparisonSet.from_arrays(
        ...     score=[0.9, 0.2], mated=[True, False], score_kind=ScoreKind.SIMILARITY,
        ...     subject_a=["a", "a"], subject_b=["a", "b"],
        ...     attributes_a={"sex": ["F", "F"]}, attributes_b={"sex": ["F", "M"]})
        >>> len(cs), cs.levels["sex"]
        (2, ('F', 'M'))

        """
        score_arr = np.asarray(score, dtype=np.float64)
        mated_arr = np.asarray(mated, dtype=bool)
        subjects = np.concatenate([np.asarray(subject_a), np.asarray(subject_b)]).astype(str)
        ids, codes = np.unique(subjects, return_inverse=True)
        n = score_arr.shape[0]
        attributes_a = attributes_a or {}
        attributes_b = attributes_b or attributes_a
        attrs: dict[str, npt.NDArray[np.int32]] = {}
        levels: dict[str, tuple[str, ...]] = {}
        for name in attributes_a:
            values = [*attributes_a[name], *attributes_b[name]]
            present = sorted({str(v) for v in values if v is not None})
            index = {v: i for i, v in enumerate(present)}
            coded = np.array(
                [MISSING if v is None else index[str(v)] for v in values], dtype=np.int32
            )
            attrs[name] = coded.reshape(2, n).T.copy()
            levels[name] = tuple(present)
        return cls(
            score=score_arr,
            mated=mated_arr,
            score_kind=score_kind,
            subject=codes.astype(np.int64).reshape(2, n).T.copy(),
            subject_ids=tuple(str(s) for s in ids),
            attributes=attrs,
            levels=levels,
            source=source,
        )
