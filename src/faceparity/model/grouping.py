"""Demographic groups: one attribute or an intersection of several (sex x ethnicity).

Groups are formed from the per-side attribute codes of a :class:`ComparisonSet`.
Only combinations that occur in the data become groups, ordered by the display
order of each attribute's levels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.model.comparisons import MISSING, ComparisonSet

__all__ = ["RESERVED_LABELS", "Group", "Grouping", "group_comparisons", "intersect"]


RESERVED_LABELS = frozenset({"overall"})
"""Labels that name something other than a group in results and reports."""


@dataclass(frozen=True)
class Group:
    """A demographic group: a value for each group-by attribute, and a unique label.

    The label joins the values with '/' (``F/B``); where that would make two groups
    of one grouping look alike, or a group look like the row of all comparisons
    (:data:`RESERVED_LABELS`), every label names its attributes instead (``sex='overall'``).
    """

    attributes: tuple[tuple[str, str], ...]
    label: str

    def as_dict(self) -> dict[str, str]:
        """The attributes as a mapping, as written to ``results.json``."""
        return dict(self.attributes)


@dataclass(frozen=True)
class Grouping:
    """Groups of an audit and the group of each side of each comparison.

    Attributes
    ----------
    group_by : tuple of str
        The attributes that define the groups.
    groups : tuple of Group
        The groups present in the data.
    codes : ndarray of int32, shape (n, 2)
        Index into ``groups`` of each side; ``MISSING`` where a group-by attribute is missing.

    """

    group_by: tuple[str, ...]
    groups: tuple[Group, ...]
    codes: npt.NDArray[np.int32]

    @property
    def complete(self) -> npt.NDArray[np.bool_]:
        """True for comparisons whose two sides both have a group."""
        return np.asarray(np.all(self.codes != MISSING, axis=1), dtype=bool)

    def find(self, attributes: Sequence[tuple[str, str]]) -> int:
        """Index of the group with exactly these attribute values."""
        wanted = dict(attributes)
        if set(wanted) != set(self.group_by):
            raise UsageError(
                f"reference group: expected values for exactly the group-by attributes "
                f"{', '.join(self.group_by)}; got {', '.join(wanted) or 'none'}"
            )
        for i, group in enumerate(self.groups):
            if group.as_dict() == wanted:
                return i
        known = "; ".join(",".join(f"{k}={v}" for k, v in g.attributes) for g in self.groups)
        shown = ",".join(f"{k}={v}" for k, v in attributes)
        raise UsageError(f"reference group {shown!r} is not in the data; groups: {known}")


def group_comparisons(comparisons: ComparisonSet, group_by: Sequence[str]) -> Grouping:
    """Assign each side of each comparison to the intersection of ``group_by`` attributes.

    Examples
    --------
    >>> from faceparity.model.config import ScoreKind
    >>> cs = ComparisonSet.from_arrays(
    ...     score=[0.9, 0.2], mated=[True, False], score_kind=ScoreKind.SIMILARITY,
    ...     subject_a=["a", "a"], subject_b=["a", "b"],
    ...     attributes_a={"sex": ["F", "F"]}, attributes_b={"sex": ["F", "M"]})
    >>> [g.label for g in group_comparisons(cs, ["sex"]).groups]
    ['F', 'M']

    """
    comparisons.check_attributes(tuple(group_by))
    groups, index = intersect(comparisons.attributes, comparisons.levels, group_by)
    return Grouping(group_by=tuple(group_by), groups=groups, codes=index)


def intersect(
    codes: Mapping[str, npt.NDArray[np.int32]],
    levels: Mapping[str, tuple[str, ...]],
    group_by: Sequence[str],
) -> tuple[tuple[Group, ...], npt.NDArray[np.int32]]:
    """Groups of the intersection of ``group_by`` attributes, and the group of each code.

    ``codes`` holds, per attribute, codes of any shape (one per sample, or one per
    side of each comparison); the result has that shape, ``MISSING`` where a group-by
    attribute is missing. Only combinations that occur become groups.
    """
    names = tuple(group_by)
    if not names:
        raise UsageError("group-by: expected at least one attribute")
    if len(set(names)) != len(names):
        raise UsageError(f"group-by: an attribute is named twice in {', '.join(names)}")
    shape = np.shape(codes[names[0]])
    combined = np.zeros(shape, dtype=np.int64)
    missing = np.zeros(shape, dtype=bool)
    for name in names:
        combined = combined * len(levels[name]) + np.maximum(codes[name], 0)
        missing |= codes[name] == MISSING
    known = combined[~missing]
    span = int(np.prod([len(levels[name]) for name in names], dtype=np.int64))
    index = np.full(shape, MISSING, dtype=np.int32)
    if span <= 10_000_000:  # a table over every combination: linear, no hashing or sorting
        present = np.flatnonzero(np.bincount(known, minlength=span))
        lookup = np.full(span, MISSING, dtype=np.int32)
        lookup[present] = np.arange(len(present), dtype=np.int32)
        index[~missing] = lookup[known]
    else:
        present = np.unique(known)
        index[~missing] = np.searchsorted(present, known).astype(np.int32)
    combos = []
    for value in present.tolist():
        parts = []
        for name in reversed(names):
            size = len(levels[name])
            parts.append((name, levels[name][value % size]))
            value //= size
        combos.append(tuple(reversed(parts)))
    labels = ["/".join(v for _, v in combo) for combo in combos]
    if len(set(labels)) != len(labels) or RESERVED_LABELS.intersection(labels):
        labels = [", ".join(f"{k}={v!r}" for k, v in combo) for combo in combos]
    groups = tuple(Group(combo, label) for combo, label in zip(combos, labels, strict=True))
    return groups, index
