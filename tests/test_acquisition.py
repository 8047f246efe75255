from __future__ import annotations

import numpy as np
import pytest

from faceparity.acquisition import acquisition_by_group, generalised_fnmr
from faceparity.acquisition.metrics import MSG_ZERO_ERRORS
from faceparity.model.comparisons import MISSING
from faceparity.results import Interval
from faceparity.uncertainty.binomial import clopper_pearson

E, A, N = "enrolled", "failure_to_acquire", "failure_to_enrol"


def _run(status, reasons, subject, sex, **kwargs):  # type: ignore[no-untyped-def]
    levels = ("F", "M")
    codes = {"sex": np.array([levels.index(s) if s else MISSING for s in sex], dtype=np.int32)}
    return acquisition_by_group(status, reasons, subject, codes, {"sex": levels}, ["sex"], **kwargs)


def test_hand_worked_counts_rates_and_reasons() -> None:
    status = [E, E, A, N, E, E, A, A]
    reasons = [
        "",
        "",
        "no face found",
        "quality below the limits",
        "",
        "",
        "corrupt image",
        "no face found",
    ]
    subject = ["a", "a", "b", "b", "c", "c", "d", "d"]
    sex = ["F", "F", "F", "F", "M", "M", "M", "M"]
    result = _run(status, reasons, subject, sex, replicates=0)
    f, m = result.groups
    assert (f.label, f.n_images, f.n_subjects, f.n_enrolled) == ("F", 4, 2, 2)
    assert (f.n_failure_to_acquire, f.n_failure_to_enrol, f.fta, f.fte) == (1, 1, 0.25, 0.25)
    assert f.reasons == {"no face found": 1, "quality below the limits": 1}
    assert (m.n_failure_to_acquire, m.n_failure_to_enrol, m.fta, m.fte) == (2, 0, 0.5, 0.0)
    assert m.reasons == {"corrupt image": 1, "no face found": 1}
    assert result.overall.n_images == 8
    assert result.overall.fta == 3 / 8
    assert result.n_ungrouped == 0
    # Without the bootstrap: Clopper-Pearson on images; zero failures an upper bound.
    low, high = clopper_pearson(2, 4, 0.95)
    assert m.fta_ci == Interval(float(low), float(high), "clopper-pearson (images)")
    assert m.fte_ci is not None and m.fte_ci.method == MSG_ZERO_ERRORS
    assert m.fte_ci.ci_high == pytest.approx(1 - 0.025 ** (1 / 4))


def test_missing_group_is_ungrouped_and_an_all_failed_group_is_kept() -> None:
    status = [E, E, A, A]
    result = _run(
        status, ["", "", "x", "x"], ["a", "a", "b", "b"], ["F", "", "M", "M"], replicates=0
    )
    assert result.n_ungrouped == 1
    assert [g.label for g in result.groups] == ["F", "M"]
    assert result.groups[1].fta == 1.0
    assert result.groups[1].n_enrolled == 0


def test_bootstrap_matches_an_explicit_replay() -> None:
    rng = np.random.default_rng(1)
    n_subjects = 40
    subject = np.repeat(np.arange(n_subjects), 3).astype(str)
    status = np.where(rng.random(len(subject)) < 0.2, A, E).tolist()
    sex = ["F"] * len(subject)
    result = _run(status, [""] * len(subject), subject, sex, replicates=300, seed=5)
    ci = result.groups[0].fta_ci
    assert ci is not None and ci.replicates == 300
    # Replay: the group's seed is the second child of the run's seed sequence.
    seed = np.random.SeedSequence(5).spawn(2)[1]
    w = np.random.default_rng(seed).poisson(1.0, size=(300, n_subjects))
    failed = np.array([s == A for s in status], dtype=float)
    order = np.argsort(np.unique(subject, return_inverse=True)[1].reshape(-1, 3)[:, 0])
    per_failed = failed.reshape(-1, 3).sum(axis=1)[order]
    values = (w @ per_failed) / (w @ np.full(n_subjects, 3.0))
    low, high = np.quantile(values, [0.025, 0.975])
    assert ci.ci_low == pytest.approx(low)
    assert ci.ci_high == pytest.approx(high)
    assert ci.ci_low <= result.groups[0].fta <= ci.ci_high


def test_generalised_fnmr() -> None:
    assert generalised_fnmr(0.0, 0.0, 0.0) == 0.0
    assert generalised_fnmr(0.1, 0.1, 0.0) == pytest.approx(0.19)
    assert generalised_fnmr(1.0, 0.3, 0.2) == 1.0
    assert generalised_fnmr(0.2, None, 0.0) is None
