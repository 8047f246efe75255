"""Intervals on the 1:N audit: the probe-subject bootstrap against a slow replay.

The replay repeats every search by the weight its probe subject drew (the same
Poisson draws, from the same seed) and runs the audit itself,
:func:`faceparity.identification.audit_searches`, on the repeated searches: its
thresholds, rates and spread measures must equal the fast replicate's, and the
percentile intervals built from them the intervals the fast path attaches.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from faceparity.identification.audit import Searches
from faceparity.identification.metrics import audit_searches, threshold_at_fpir
from faceparity.identification.protocol import ProtocolConfig, build_protocol
from faceparity.identification.search import SearchConfig, SearchResult, search
from faceparity.model.config import ThresholdPolicy
from faceparity.model.grouping import Group
from faceparity.uncertainty.bootstrap import percentile_interval, poisson_weights
from faceparity.uncertainty.identification import (
    identification_intervals,
    weighted_threshold,
)

GROUPS = (Group((("g", "a"),), "a"), Group((("g", "b"),), "b"), Group((("g", "c"),), "c"))
POLICIES = (
    ThresholdPolicy.parse("global"),
    ThresholdPolicy.parse("per-group"),
    ThresholdPolicy.parse("reference:g=b"),
)
TARGETS = (0.2, 0.05, 0.9)  # 0.9: a low threshold, where the rank decides FNIR
REPLICATES = 40


def _searches(seed: int = 0, n_subjects: int = 60, per_subject: int = 3) -> Searches:
    rng = np.random.default_rng(seed)
    dim = 16
    proto = rng.choice([-1.0, 1.0], size=(n_subjects, dim))
    subject = np.repeat(np.arange(n_subjects), per_subject)
    x = proto[subject].copy()
    flips = rng.random(x.shape) < 0.3
    x[flips] *= -1
    x /= math.sqrt(dim)
    group = subject % 3
    protocol = build_protocol(subject, group, config=ProtocolConfig(1, 0.3, seed=seed))
    found = search(x.astype(np.float32), protocol, config=SearchConfig(depth=20, block_size=64))
    return Searches(found, protocol, GROUPS, subject[protocol.probes].astype(np.int64))


def _audit(searches: Searches, rank: int = 1):
    return audit_searches(
        searches.result,
        searches.protocol,
        groups=searches.groups,
        group_by=["g"],
        rank=rank,
        target_fpirs=TARGETS,
        policies=POLICIES,
    )


def _repeated(searches: Searches, weight: np.ndarray) -> Searches:
    """The searches, each repeated ``weight`` times (the replay's replicate)."""
    keep = np.repeat(np.arange(len(weight)), weight)
    r = searches.result
    found = SearchResult(
        r.top_score[keep],
        r.top_subject[keep],
        r.mated_score[keep],
        r.n_above[keep],
        r.tier_max[keep],
    )
    protocol = dataclasses.replace(
        searches.protocol,
        probes=searches.protocol.probes[keep],
        probe_mate=searches.protocol.probe_mate[keep],
        probe_group=searches.protocol.probe_group[keep],
    )
    return Searches(found, protocol, searches.groups, searches.probe_subject[keep])


def _replay_numbers(ident) -> dict[tuple, float]:
    out = {}
    for p, point in enumerate(ident.operating_points):
        if point.threshold is not None:
            out[("point", p, "threshold")] = point.threshold
        if point.overall is not None:
            out[("point", p, "overall", "fpir")] = point.overall.fpir
            out[("point", p, "overall", "fnir")] = point.overall.fnir
        for g, row in enumerate(point.groups):
            out[("point", p, "group", g, "threshold")] = row.threshold
            out[("point", p, "group", g, "fpir")] = row.fpir
            out[("point", p, "group", g, "fnir")] = row.fnir
        for rate in ("fpir", "fnir"):
            for name in ("max_min", "max_geomean", "gini"):
                measure = getattr(getattr(point.summary, rate), name)
                out[("point", p, "summary", rate, name)] = measure.value
    return {k: (np.nan if v is None else float(v)) for k, v in out.items()}


@pytest.mark.parametrize("seed", range(30))
def test_weighted_threshold_is_the_threshold_of_the_repeated_scores(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    scores = rng.integers(0, 8, size=n) / 8.0  # many ties
    weights = rng.poisson(1.0, size=n)
    target = float(rng.choice([0.01, 0.1, 0.25, 0.5, 0.9]))
    order = np.argsort(-scores, kind="stable")
    got = weighted_threshold(scores[order], weights[order], target)
    if weights.sum() == 0:
        assert math.isnan(got)
    else:
        assert got == threshold_at_fpir(np.repeat(scores, weights), target_fpir=target)


def test_bootstrap_equals_a_slow_replay_of_the_same_draws() -> None:
    searches = _searches()
    ident = _audit(searches)
    fast = identification_intervals(
        ident, searches, group_by=["g"], replicates=REPLICATES, level=0.9, seed=7
    )
    _, subject = np.unique(searches.probe_subject, return_inverse=True)
    n_subjects = int(subject.max()) + 1
    replays = []
    for drawn in poisson_weights(n_subjects, REPLICATES, 7):
        weight = drawn.astype(np.int64)[subject]
        replay = _repeated(searches, weight)
        try:
            replays.append(_replay_numbers(_audit(replay)))
        except Exception:  # noqa: BLE001 - a replicate the audit itself cannot compute
            replays.append({})
    checked = 0
    for p, point in enumerate(fast.operating_points):
        rows = [("overall", point.overall)] if point.overall is not None else []
        rows += [(("group", g), row) for g, row in enumerate(point.groups)]
        for where, row in rows:
            where = where if isinstance(where, tuple) else (where,)
            for rate in ("fpir", "fnir"):
                ci = getattr(row, f"{rate}_ci")
                key = ("point", p, *where, rate)
                if ci is None or ci.method.startswith(("set by", "clopper")):
                    continue
                values = np.array([r.get(key, np.nan) for r in replays])
                low, high, n = percentile_interval(values, 0.9)
                assert (ci.ci_low, ci.ci_high, ci.replicates) == (low, high, n), key
                checked += 1
        for rate in ("fpir", "fnir"):
            for name in ("max_min", "max_geomean", "gini"):
                ci = getattr(getattr(point.summary, rate), name).value_ci
                key = ("point", p, "summary", rate, name)
                values = np.array([r.get(key, np.nan) for r in replays])
                low, high, n = percentile_interval(values, 0.9)
                if ci is not None and ci.ci_low is not None:
                    assert ci.ci_low == pytest.approx(low) and ci.ci_high == pytest.approx(high)
                    checked += 1
        if point.threshold is not None:
            values = np.array([r.get(("point", p, "threshold"), np.nan) for r in replays])
            low, high, _ = percentile_interval(values, 0.9)
            assert (point.threshold_ci.ci_low, point.threshold_ci.ci_high) == (low, high)
            checked += 1
    assert checked > 50


def test_same_seed_same_intervals_and_another_seed_others() -> None:
    searches = _searches(seed=1)
    ident = _audit(searches)
    a, b, c = (
        identification_intervals(ident, searches, group_by=["g"], replicates=30, seed=s)
        for s in (3, 3, 4)
    )
    assert a == b
    assert a != c


def test_pinned_rates_zero_errors_and_support() -> None:
    searches = _searches(seed=2)
    ident = identification_intervals(_audit(searches), searches, group_by=["g"], replicates=30)
    for point in ident.operating_points:
        policy = point.policy
        if policy == "global":
            assert point.overall.fpir_ci.method.startswith("set by the threshold policy")
            assert point.threshold_ci.ci_low <= point.threshold <= point.threshold_ci.ci_high
        if policy == "per-group":
            # as in the 1:1 audit, a rate with no errors seen gets the exact bound instead
            assert all(
                r.fpir_ci.method.startswith("set by" if r.n_false_positive_searches else "clopper")
                for r in point.groups
            )
            assert point.overall is None and point.threshold_ci is None
        if policy == "reference:g=b":
            ref, other = point.groups[1], point.groups[0]
            assert ref.fpir_ci.method.startswith(
                "set by" if ref.n_false_positive_searches else "clopper"
            )
            assert not other.fpir_ci.method.startswith("set by")
        for row in point.groups:
            assert row.fpir_support.expected_errors == pytest.approx(
                point.target_fpir * row.n_non_mated_searches
            )
            if row.n_false_negative_searches == 0 and row.n_mated_searches:
                assert row.fnir_ci.ci_low == 0.0
                assert row.fnir_ci.ci_high == pytest.approx(1 - 0.025 ** (1 / row.n_mated_searches))
    assert ident.uncertainty is not None and ident.uncertainty.replicates == 30


def test_closed_form_intervals_on_counts() -> None:
    from faceparity.uncertainty.binomial import wilson

    searches = _searches(seed=3)
    ident = identification_intervals(
        _audit(searches), searches, group_by=["g"], method="wilson", level=0.9
    )
    row = ident.operating_points[0].groups[0]
    if row.n_false_negative_searches:
        low, high = wilson(row.n_false_negative_searches, row.n_mated_searches, 0.9)
        assert (row.fnir_ci.ci_low, row.fnir_ci.ci_high) == (float(low), float(high))
    assert ident.operating_points[0].summary.fpir.max_min.value_ci is None


def test_results_with_1n_intervals_read_back() -> None:
    from faceparity.results.identification import IdentificationResult

    searches = _searches(seed=4)
    ident = identification_intervals(_audit(searches), searches, group_by=["g"], replicates=20)
    assert IdentificationResult.from_dict(ident.to_dict()) == ident
