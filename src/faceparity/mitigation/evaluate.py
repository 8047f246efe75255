"""Cross-validated mitigation: fit on some subjects, apply to the others, keep every fold.

:func:`cross_validate` runs every method over the folds of :mod:`.folds` and returns
the held-out comparisons with their new scores, their probabilities (for the
calibration error), and the parameters of every fold. Held-out scores of different
folds come from parameters fitted on different training sets and are pooled, as in
cross-validation; the audit then reads them at one global threshold per target.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceparity.errors import InputError
from faceparity.mitigation.calibration import apply_beta, fit_beta
from faceparity.mitigation.data import MitigationData
from faceparity.mitigation.folds import Fold, split_folds, subject_folds
from faceparity.mitigation.methods import FitSet, Method
from faceparity.model.comparisons import ComparisonSet, Exclusion
from faceparity.model.config import ScoreKind
from faceparity.results.mitigation import MitigationParameters

__all__ = ["HeldOut", "cross_validate", "fit_all", "held_out_comparisons"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class HeldOut:
    """The held-out comparisons of every fold, and what each method made of them.

    Arrays are over the tested comparisons, in the order of ``np.flatnonzero(tested)``.
    The log-odds (probabilities of a mated comparison, for the calibration error) are
    None where some fold's training comparisons hold no mated one to calibrate on.
    """

    tested: npt.NDArray[np.bool_]
    fold: npt.NDArray[np.int64]
    baseline_log_odds: FloatArray | None
    scores: dict[str, FloatArray]
    log_odds: dict[str, FloatArray | None]
    parameters: dict[str, list[MitigationParameters]]
    n_folds: int
    n_dropped: list[int]

    @property
    def n_never_tested(self) -> int:
        """Comparisons whose two subjects lie in different folds."""
        return int(self.tested.size - np.count_nonzero(self.tested))


def _log_odds(
    method: Method, params: MitigationParameters, data: MitigationData, fold: Fold, test: FloatArray
) -> FloatArray:
    """The test comparisons' log-odds: the method's own, or a global calibration of its scores."""
    if method.calibrated:
        return test
    train = method.apply(params, data, fold.train)
    beta = fit_beta(train, data.comparisons.mated[fold.train])
    return apply_beta(beta, test)


def _fit(method: Method, data: MitigationData, on: FitSet) -> MitigationParameters:
    try:
        return method.fit(data, on)
    except ValueError as err:
        raise InputError(f"{method.name} could not be fitted on {on.description}: {err}") from err


def cross_validate(
    data: MitigationData,
    methods: Sequence[Method],
    *,
    folds: int = 5,
    seed: int = 0,
    fold_of_subject: npt.NDArray[np.int64] | None = None,
) -> HeldOut:
    """Fit every method on each fold's training comparisons and apply it to its test ones.

    Parameters
    ----------
    data : MitigationData
        The comparisons, their groups, and (for the k-means methods) their templates.
    methods : sequence of Method
        Methods that can run on ``data`` (see :meth:`Method.unavailable`).
    folds : int
        Folds of subjects (ignored when ``fold_of_subject`` is given).
    seed : int
        Seed of the folds and of k-means.
    fold_of_subject : ndarray of int64, optional
        The fold of each subject (e.g. from :func:`.folds.folds_from_attribute`).

    """
    cs = data.comparisons
    if fold_of_subject is None:
        fold_of_subject = subject_folds(len(cs.subject_ids), folds, seed)
    parts = split_folds(cs.subject, fold_of_subject)
    tested = np.zeros(len(cs), dtype=bool)
    for fold in parts:
        tested |= fold.test
    position = np.cumsum(tested) - 1
    n = int(tested.sum())
    fold_index = np.full(n, -1, dtype=np.int64)
    baseline = np.empty(n)
    scores = {m.name: np.empty(n) for m in methods}
    log_odds = {m.name: np.empty(n) for m in methods}
    parameters: dict[str, list[MitigationParameters]] = {m.name: [] for m in methods}
    s = data.similarity
    calibrating = True  # every fold so far had mated training comparisons
    for fold in parts:
        if not np.any(fold.test):
            continue
        where = position[fold.test]
        fold_index[where] = fold.index
        mated_train = cs.mated[fold.train]
        if mated_train.all():
            raise InputError(f"fold {fold.index}: its training comparisons have no non-mated one")
        if not mated_train.any():
            need = [m.name for m in methods if m.needs_mated]
            if need:
                raise InputError(
                    f"fold {fold.index}: its training comparisons have no mated one, which "
                    f"{', '.join(need)} need (they fit the probability of a mated comparison)"
                )
            calibrating = False
        else:
            baseline[where] = apply_beta(fit_beta(s[fold.train], mated_train), s[fold.test])
        on = FitSet(
            rows=fold.train,
            subjects=fold.train_subjects,
            description=f"fold {fold.index} of {len(parts)} (subjects of the other folds)",
            seed=seed + fold.index,
        )
        for method in methods:
            params = _fit(method, data, on)
            new = method.apply(params, data, fold.test)
            scores[method.name][where] = new
            if calibrating:
                log_odds[method.name][where] = _log_odds(method, params, data, fold, new)
            parameters[method.name].append(params)
    return HeldOut(
        tested=tested,
        fold=fold_index,
        baseline_log_odds=baseline if calibrating else None,
        scores=scores,
        log_odds={k: v if calibrating else None for k, v in log_odds.items()},
        parameters=parameters,
        n_folds=len(parts),
        n_dropped=[f.n_dropped for f in parts],
    )


def fit_all(data: MitigationData, method: Method, *, seed: int = 0) -> MitigationParameters:
    """The method fitted on every comparison: the parameters to apply to new scores."""
    on = FitSet(
        rows=np.ones(len(data.comparisons), dtype=bool),
        subjects=np.ones(len(data.comparisons.subject_ids), dtype=bool),
        description="every comparison of the input",
        seed=seed,
    )
    return _fit(method, data, on)


NEVER_TESTED = (
    "its two subjects lie in different folds of the mitigation's cross-validation, so it "
    "is never held out (fitted on in the other folds)"
)


def held_out_comparisons(
    comparisons: ComparisonSet, tested: npt.NDArray[np.bool_], scores: FloatArray | None = None
) -> ComparisonSet:
    """The tested comparisons, with new similarity ``scores`` (or their own when None)."""
    n_never = int(tested.size - np.count_nonzero(tested))
    exclusions = tuple(comparisons.exclusions)
    if n_never:
        exclusions = (*exclusions, Exclusion(NEVER_TESTED, n_never))
    sample = None if comparisons.sample is None else comparisons.sample[tested]
    replaced = dataclasses.replace(
        comparisons,
        score=comparisons.score[tested] if scores is None else np.asarray(scores, dtype=np.float64),
        mated=comparisons.mated[tested],
        subject=comparisons.subject[tested],
        attributes={k: v[tested] for k, v in comparisons.attributes.items()},
        sample=sample,
        exclusions=exclusions,
    )
    if scores is not None:
        replaced = dataclasses.replace(replaced, score_kind=ScoreKind.SIMILARITY)
    return replaced
