"""Properties every audit and every rate must have, checked with hypothesis.

* the order of the comparisons does not matter;
* duplicating the whole set doubles every count and changes no rate or threshold;
* distances are negated similarities: same rates, thresholds exactly negated;
* FMR is non-increasing and FNMR non-decreasing as the threshold gets stricter;
* threshold_at_fmr reaches the target and no candidate more permissive does.
"""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from faceparity import (
    AuditConfig,
    ComparisonSet,
    FMRScope,
    MatedGroupRule,
    PolicyKind,
    ScoreKind,
    ThresholdPolicy,
    audit,
    fmr_fnmr,
    threshold_at_fmr,
)
from reference import DISTANCE, SIMILARITY, ref_candidate_thresholds, ref_rates

SETTINGS = settings(max_examples=100, deadline=None)
TARGETS = (0.1, 0.25, 0.5)
POLICIES = (ThresholdPolicy(PolicyKind.GLOBAL), ThresholdPolicy(PolicyKind.PER_GROUP))

# Scores on a coarse grid so that ties are common, negative values included.
scores_st = st.integers(-5, 10).map(lambda i: i / 4)
attr_st = st.sampled_from(["F", "M", None])
eth_st = st.sampled_from(["A", "B"])

comparison_st = st.tuples(scores_st, st.booleans(), attr_st, eth_st, attr_st, eth_st)
comparisons_st = st.lists(comparison_st, min_size=1, max_size=24)
config_st = st.builds(
    lambda scope, rule: AuditConfig(
        target_fmrs=TARGETS, policies=POLICIES, fmr_scope=scope, mated_rule=rule, det_points=5
    ),
    st.sampled_from(list(FMRScope)),
    st.sampled_from(list(MatedGroupRule)),
)


def build(rows: list[tuple[Any, ...]], kind: ScoreKind = ScoreKind.SIMILARITY) -> ComparisonSet:
    subject_a, subject_b = [], []
    for i, (_, mated, *_rest) in enumerate(rows):
        subject_a.append(f"s{i}")
        subject_b.append(f"s{i}" if mated else f"t{i}")
    return ComparisonSet.from_arrays(
        score=[r[0] for r in rows],
        mated=[r[1] for r in rows],
        score_kind=kind,
        subject_a=subject_a,
        subject_b=subject_b,
        attributes_a={"sex": [r[2] for r in rows], "eth": [r[3] for r in rows]},
        attributes_b={"sex": [r[4] for r in rows], "eth": [r[5] for r in rows]},
    )


def has_non_mated(rows: list[tuple[Any, ...]]) -> bool:
    return any(not r[1] for r in rows)


def run(
    rows: list[tuple[Any, ...]], config: AuditConfig, kind: ScoreKind = ScoreKind.SIMILARITY
) -> Any:
    return audit(build(rows, kind), group_by=["sex", "eth"], config=config)


def view(result: Any, *, count_scale: int = 1, sign: float = 1.0) -> list[Any]:
    """Rates, thresholds and counts of every operating point; counts divided by
    ``count_scale``, thresholds multiplied by ``sign``."""

    def t(x: float | None) -> float | None:
        return None if x is None else sign * x

    out: list[Any] = []
    for g in result.groups:
        out.append(("group", g.label, g.n_mated // count_scale, g.n_non_mated // count_scale))
        if g.eer is not None:
            out.append(("eer", g.eer.eer, g.eer.low, g.eer.high, t(g.eer.threshold)))
    for p in result.operating_points:
        out.append(("point", p.policy, p.target_fmr, t(p.threshold)))
        if p.overall is not None:
            o = p.overall
            out.append(
                ("overall", o.fmr, o.fnmr)
                + tuple(
                    n // count_scale
                    for n in (o.n_false_matches, o.n_non_mated, o.n_false_non_matches, o.n_mated)
                )
            )
        for g in p.groups:
            out.append(
                (g.label, t(g.threshold), g.fmr, g.fnmr)
                + tuple(
                    n // count_scale
                    for n in (g.n_false_matches, g.n_non_mated, g.n_false_non_matches, g.n_mated)
                )
            )
        for c in p.cross_group:
            out.append(
                (
                    "cell",
                    tuple(c.a.values()),
                    tuple(c.b.values()),
                    c.fmr,
                    c.n_false_matches // count_scale,
                    c.n_non_mated // count_scale,
                )
            )
    return out


def counts(result: Any) -> list[int]:
    out = []
    for p in result.operating_points:
        for g in p.groups:
            out += [g.n_false_matches, g.n_non_mated, g.n_false_non_matches, g.n_mated]
        for c in p.cross_group:
            out += [c.n_false_matches, c.n_non_mated]
    return out


# ------------------------------------------------------------------------------ audit


@SETTINGS
@given(rows=comparisons_st, config=config_st, data=st.data())
def test_audit_is_invariant_to_the_order_of_comparisons(
    rows: list[tuple[Any, ...]], config: AuditConfig, data: st.DataObject
) -> None:
    assume(has_non_mated(rows))
    shuffled = data.draw(st.permutations(rows))
    assert run(shuffled, config).to_dict() == run(rows, config).to_dict()


@SETTINGS
@given(rows=comparisons_st, config=config_st)
def test_duplicating_the_whole_set_doubles_counts_and_keeps_rates(
    rows: list[tuple[Any, ...]], config: AuditConfig
) -> None:
    assume(has_non_mated(rows))
    once, twice = run(rows, config), run(rows + rows, config)
    assert view(twice, count_scale=2) == view(once)
    assert counts(twice) == [2 * n for n in counts(once)]
    assert [e.count for e in twice.exclusions] == [2 * e.count for e in once.exclusions]


@SETTINGS
@given(rows=comparisons_st, config=config_st)
def test_distance_is_negated_similarity(rows: list[tuple[Any, ...]], config: AuditConfig) -> None:
    assume(has_non_mated(rows))
    negated = [(-r[0], *r[1:]) for r in rows]
    similarity = run(rows, config)
    distance = run(negated, config, ScoreKind.DISTANCE)
    assert view(distance, sign=-1.0) == view(similarity)
    assert counts(distance) == counts(similarity)
    for a, b in zip(similarity.groups, distance.groups, strict=True):
        assert (a.det is None) == (b.det is None)
        if a.det is not None:
            assert (a.det.fmr, a.det.fnmr) == (b.det.fmr, b.det.fnmr)
            assert a.det.threshold == [-x for x in b.det.threshold]


@SETTINGS
@given(rows=comparisons_st, config=config_st)
def test_every_common_threshold_meets_its_target(
    rows: list[tuple[Any, ...]], config: AuditConfig
) -> None:
    assume(has_non_mated(rows))
    result = run(rows, config)
    for p in result.operating_points:
        if p.policy == "global":
            assert p.overall.fmr <= p.target_fmr
        else:
            for g in p.groups:
                assert (g.threshold is None) == (g.n_non_mated == 0)
                if g.fmr is not None:
                    assert g.fmr <= p.target_fmr


# ------------------------------------------------------------------------------ rates

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
score_list = st.lists(st.one_of(scores_st, finite), min_size=1, max_size=30)
kind_st = st.sampled_from([ScoreKind.SIMILARITY, ScoreKind.DISTANCE])


@SETTINGS
@given(
    mated=score_list,
    non_mated=score_list,
    thresholds=st.lists(st.one_of(scores_st, finite), min_size=2, max_size=30),
    kind=kind_st,
)
def test_rates_are_monotone_in_the_threshold(
    mated: list[float], non_mated: list[float], thresholds: list[float], kind: ScoreKind
) -> None:
    # ordered from the most permissive to the strictest threshold
    ordered = sorted(thresholds, reverse=kind is ScoreKind.DISTANCE)
    fmr, fnmr = fmr_fnmr(mated, non_mated, ordered, score_kind=kind)
    for i in range(len(ordered) - 1):
        assert fmr[i] >= fmr[i + 1]
        assert fnmr[i] <= fnmr[i + 1]
    ref_kind = SIMILARITY if kind is ScoreKind.SIMILARITY else DISTANCE
    assert (fmr[0], fnmr[0]) == ref_rates(mated, non_mated, ordered[0], ref_kind)


@SETTINGS
@given(
    non_mated=score_list,
    target=st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),
    kind=kind_st,
)
def test_threshold_at_fmr_is_the_most_permissive_meeting_the_target(
    non_mated: list[float], target: float, kind: ScoreKind
) -> None:
    ref_kind = SIMILARITY if kind is ScoreKind.SIMILARITY else DISTANCE
    t = threshold_at_fmr(non_mated, target_fmr=target, score_kind=kind)
    fmr, _ = fmr_fnmr([], non_mated, [t], score_kind=kind)
    assert fmr[0] <= target
    candidates = ref_candidate_thresholds(non_mated, ref_kind)  # permissive -> strict
    assert t in candidates
    i = candidates.index(t)
    if i > 0:
        more_permissive = candidates[i - 1]
        fmr_prev, _ = fmr_fnmr([], non_mated, [more_permissive], score_kind=kind)
        assert fmr_prev[0] > target
