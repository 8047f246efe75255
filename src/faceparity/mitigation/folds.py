"""Leakage-free evaluation: folds of subjects, never of comparisons.

Every subject falls in exactly one of ``k`` folds (a seeded random permutation, or a
subject-constant attribute such as BFW's ``fold``). For fold ``f``:

* test: the comparisons whose two subjects are both in ``f``;
* train: the comparisons with neither subject in ``f``;
* a comparison with exactly one subject in ``f`` is in neither (it would put a test
  subject in the fitting), so it is dropped from both and counted.

Each comparison whose two subjects share a fold is tested exactly once, in that fold;
one whose subjects lie in two folds is never tested (it helps fit ``k - 2`` folds).
No subject is on both sides of a fold (``tests/test_mitigation.py`` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceparity.errors import InputError, UsageError
from faceparity.model.comparisons import MISSING, ComparisonSet

__all__ = ["FOLD_RULE", "Fold", "folds_from_attribute", "split_folds", "subject_folds"]

FOLD_RULE = (
    "k-fold by subject: a fold tests the comparisons whose two subjects are both in it and "
    "is fitted on those with neither subject in it; a comparison with one subject in the "
    "fold and one outside is dropped from both (counted); a comparison whose subjects lie "
    "in two different folds is never tested"
)


@dataclass(frozen=True)
class Fold:
    """One fold: which comparisons fit the methods, which are tested, how many are dropped."""

    index: int
    train: npt.NDArray[np.bool_]
    test: npt.NDArray[np.bool_]
    train_subjects: npt.NDArray[np.bool_]
    n_dropped: int


def subject_folds(n_subjects: int, k: int, seed: int) -> npt.NDArray[np.int64]:
    """The fold of each subject: a seeded permutation dealt round ``k`` folds.

    Examples
    --------
    >>> subject_folds(5, 2, seed=0).tolist().count(0)
    3

    """
    if k < 2:
        raise UsageError(f"--folds: expected at least 2 folds, got {k}")
    if n_subjects < k:
        raise InputError(f"{n_subjects} subjects cannot fill {k} folds")
    order = np.random.default_rng(seed).permutation(n_subjects)
    fold = np.empty(n_subjects, dtype=np.int64)
    fold[order] = np.arange(n_subjects) % k
    return fold


def folds_from_attribute(comparisons: ComparisonSet, name: str) -> npt.NDArray[np.int64]:
    """The fold of each subject from a subject-constant attribute (its values, in order).

    Raises
    ------
    InputError
        When a subject has two values, or none, of the attribute.

    """
    comparisons.check_attributes([name])
    codes = comparisons.attributes[name].ravel().astype(np.int64)
    subjects = comparisons.subject.ravel()
    n = len(comparisons.subject_ids)
    if np.any(codes == MISSING):
        row = int(np.flatnonzero(codes == MISSING)[0]) // 2
        raise InputError(f"--folds-from {name}: comparison {row + 1} has no value")
    fold = np.full(n, -1, dtype=np.int64)
    fold[subjects] = codes
    clash = fold[subjects] != codes
    if np.any(clash):
        s = int(subjects[np.flatnonzero(clash)[0]])
        raise InputError(
            f"--folds-from {name}: subject {comparisons.subject_ids[s]!r} has more than one "
            "value; expected folds of subjects (one value per subject)"
        )
    if len(comparisons.levels[name]) < 2:
        raise InputError(f"--folds-from {name}: expected at least 2 values, got 1")
    return fold


def split_folds(subject: npt.NDArray[np.int64], fold_of: npt.NDArray[np.int64]) -> list[Fold]:
    """The folds of comparisons whose sides have subjects ``subject`` (n, 2)."""
    fa, fb = fold_of[subject[:, 0]], fold_of[subject[:, 1]]
    folds = []
    for f in np.unique(fold_of[fold_of >= 0]).tolist():
        ina, inb = fa == f, fb == f
        test = ina & inb
        train = ~ina & ~inb
        folds.append(
            Fold(
                index=int(f),
                train=train,
                test=test,
                train_subjects=fold_of != f,
                n_dropped=int(np.count_nonzero(ina ^ inb)),
            )
        )
    return folds
