"""Demographic groups: one attribute or an intersection of several (sex x ethnicity).

Groups are formed from the per-side attribute codes of a :class:`ComparisonSet`.
Only combinations that occur in the data become groups, ordered by the display
order of each attribute's levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceparity.comparisons import MISSING, ComparisonSet
from faceparity.errors import UsageError

__all__ = ["Group", "Grouping", "group_comparisons"]


@dataclass(frozen=True)
class Group:
    """A demographic group: a value for each group-by attribute, and a unique label.

    The label joins the values with '/' (``F/B``); where that would make two groups
    of one grouping look alike, every label names its attributes instead.
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
    >>> from faceparity.config import ScoreKind
    >>> cs = ComparisonSet.from_arrays(
    ...     score=[0.9, 0.2], mated=[True, False], score_kind=ScoreKind.SIMILARITY,
    ...     subject_a=["a", "a"], subject_b=["a", "b"],
    ...     attributes_a={"sex": ["F", "F"]}, attributes_b={"sex": ["F", "M"]})
    >>> [g.label for g in group_comparisons(cs, ["sex"]).groups]
    ['F', 'M']

    """
    names = tuple(group_by)
    if not names:
        raise UsageError("group-by: expected at least one attribute")
    if len(set(names)) != len(names):
        raise UsageError(f"group-by: an attribute is named twice in {', '.join(names)}")
    comparisons.check_attributes(names)
    n = len(comparisons)
    combined = np.zeros((n, 2), dtype=np.int64)
    missing = np.zeros((n, 2), dtype=bool)
    for name in names:
        codes = comparisons.attributes[name]
        combined = combined * len(comparisons.levels[name]) + np.maximum(codes, 0)
        missing |= codes == MISSING
    present = np.unique(combined[~missing])
    index = np.full((n, 2), MISSING, dtype=np.int32)
    index[~missing] = np.searchsorted(present, combined[~missing]).astype(np.int32)
    combos = []
    for value in present.tolist():
        parts = []
        for name in reversed(names):
            size = len(comparisons.levels[name])
            parts.append((name, comparisons.levels[name][value % size]))
            value //= size
        combos.append(tuple(reversed(parts)))
    labels = ["/".join(v for _, v in combo) for combo in combos]
    if len(set(labels)) != len(labels):
        labels = [", ".join(f"{k}={v!r}" for k, v in combo) for combo in combos]
    groups = tuple(Group(combo, label) for combo, label in zip(combos, labels, strict=True))
    return Grouping(group_by=names, groups=groups, codes=index)
