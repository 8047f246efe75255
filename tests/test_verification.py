"""Specification of faceparity.verification.audit: per-group rates at a config's operating points.

The audit is checked against ``reference.ref_audit`` (explicit loops over a plain list of
comparisons) on random comparison sets, and on small audits worked out by hand.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from faceparity import (
    AuditConfig,
    ComparisonSet,
    FaceparityError,
    FMRScope,
    InputError,
    MatedGroupRule,
    PolicyKind,
    ScoreKind,
    ThresholdPolicy,
    UsageError,
    audit,
)
from faceparity.results import SummaryMeasure
from reference import (
    DISTANCE,
    SIMILARITY,
    ref_audit,
    ref_eer,
    ref_gini,
)

GLOBAL = ThresholdPolicy(PolicyKind.GLOBAL)
PER_GROUP = ThresholdPolicy(PolicyKind.PER_GROUP)
GROUP_BY = ["sex", "eth"]
UP = math.inf


def above(x: float) -> float:
    return math.nextafter(x, math.inf)


# ------------------------------------------------------------------------- builders


def comparison(
    score: float,
    mated: bool,
    subjects: tuple[str, str],
    attrs_a: dict[str, str | None],
    attrs_b: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    return {
        "score": score,
        "mated": mated,
        "subject_a": subjects[0],
        "subject_b": subjects[1],
        "attrs_a": attrs_a,
        "attrs_b": attrs_a if attrs_b is None else attrs_b,
    }


def to_set(comparisons: list[dict[str, Any]], kind: str = SIMILARITY) -> ComparisonSet:
    names = list(comparisons[0]["attrs_a"])
    return ComparisonSet.from_arrays(
        score=[c["score"] for c in comparisons],
        mated=[c["mated"] for c in comparisons],
        score_kind=ScoreKind(kind),
        subject_a=[c["subject_a"] for c in comparisons],
        subject_b=[c["subject_b"] for c in comparisons],
        attributes_a={n: [c["attrs_a"][n] for c in comparisons] for n in names},
        attributes_b={n: [c["attrs_b"][n] for c in comparisons] for n in names},
    )


def random_comparisons(seed: int, kind: str = SIMILARITY, n: int = 220) -> list[dict[str, Any]]:
    """Comparisons among subjects of up to four groups (sex x eth), with ties (scores
    rounded to 2 decimals), missing attribute values, and mated pairs whose samples are
    labelled with different groups."""
    rng = np.random.default_rng(seed)
    n_subjects = 40
    subjects = []
    for i in range(n_subjects):
        sex = str(rng.choice(["F", "M"]))
        eth = str(rng.choice(["A", "B"]))
        subjects.append((f"s{i:02d}", {"sex": sex, "eth": eth}))
    out = []
    for _ in range(n):
        mated = bool(rng.uniform() < 0.3)
        i = int(rng.integers(n_subjects))
        if mated:
            j = i
            score = rng.normal(0.7, 0.15)
        else:
            j = int((i + rng.integers(1, n_subjects)) % n_subjects)
            score = rng.normal(0.3, 0.15)
        a = dict(subjects[i][1])
        b = dict(subjects[j][1])
        if mated and rng.uniform() < 0.2:  # a per-image label disagrees
            b["eth"] = "B" if b["eth"] == "A" else "A"
        for side in (a, b):
            if rng.uniform() < 0.04:
                side[str(rng.choice(["sex", "eth"]))] = None
        score = round(float(score), 2)
        if kind == DISTANCE:
            score = round(1.0 - score, 2)
        out.append(comparison(score, mated, (subjects[i][0], subjects[j][0]), a, b))
    return out


# --------------------------------------------------------------------- comparators


def close(got: float | None, expected: float | None) -> bool:
    if expected is None:
        return got is None
    return got is not None and abs(got - expected) <= 1e-12


def group_key(attributes: dict[str, str]) -> tuple[str, ...]:
    return tuple(attributes[name] for name in GROUP_BY)


def assert_point_matches(point: Any, ref: dict[str, Any]) -> None:
    assert point.threshold == ref["threshold"]
    assert [group_key(g.attributes) for g in point.groups] == ref["groups"]
    for g, r in zip(point.groups, ref["per_group"], strict=True):
        where = (point.policy, point.target_fmr, r["group"])
        assert g.threshold == r["threshold"], where
        assert g.n_mated == r["n_mated"], where
        assert g.n_non_mated == r["n_non_mated"], where
        assert g.n_false_matches == r["n_false_matches"], where
        assert g.n_false_non_matches == r["n_false_non_matches"], where
        assert close(g.fmr, r["fmr"]), (where, g.fmr, r["fmr"])
        assert close(g.fnmr, r["fnmr"]), (where, g.fnmr, r["fnmr"])
    if ref["overall"] is None:
        assert point.overall is None
        assert point.cross_group == []
    else:
        o, r = point.overall, ref["overall"]
        assert (o.n_mated, o.n_non_mated) == (r["n_mated"], r["n_non_mated"])
        assert (o.n_false_matches, o.n_false_non_matches) == (
            r["n_false_matches"],
            r["n_false_non_matches"],
        )
        assert close(o.fmr, r["fmr"]) and close(o.fnmr, r["fnmr"])
        cells = {(group_key(c.a), group_key(c.b)): c for c in point.cross_group}
        assert len(cells) == len(point.cross_group)  # each pair once
        assert set(cells) == set(ref["cells"])
        for key, rc in ref["cells"].items():
            c = cells[key]
            assert c.n_non_mated == rc["n_non_mated"], key
            assert c.n_false_matches == rc["n_false_matches"], key
            assert close(c.fmr, rc["fmr"]), key
    # the summary is computed from exactly these group rates
    fmrs = [r["fmr"] for r in ref["per_group"] if r["fmr"] is not None]
    gini_fmr = point.summary.fmr.gini
    assert gini_fmr.n_groups == len(fmrs)
    if len(fmrs) >= 2 and sum(fmrs) > 0:
        assert gini_fmr.value == pytest.approx(ref_gini(fmrs), rel=1e-12, abs=1e-15)
    else:
        assert gini_fmr.value is None


def exclusion_count(result: Any, text: str) -> int:
    found = [e for e in result.exclusions if text in e.reason]
    assert len(found) <= 1
    return found[0].count if found else 0


# --------------------------------------------------------- agreement with the reference

TARGETS = (0.01, 0.05, 0.1, 0.3)
SCOPES = {FMRScope.MATCHED: "matched", FMRScope.INVOLVING: "involving"}
RULES = {
    MatedGroupRule.EXCLUDE: "exclude",
    MatedGroupRule.FIRST: "first",
    MatedGroupRule.SECOND: "second",
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", [SIMILARITY, DISTANCE])
@pytest.mark.parametrize("scope", list(SCOPES))
@pytest.mark.parametrize("rule", list(RULES))
def test_audit_matches_reference(
    seed: int, kind: str, scope: FMRScope, rule: MatedGroupRule
) -> None:
    comps = random_comparisons(seed, kind)
    plain = {"group_by": GROUP_BY, "scope": SCOPES[scope], "mated_rule": RULES[rule], "kind": kind}
    # the reference group: the last group (in group order) with non-mated comparisons
    probe = ref_audit(comps, target=0.1, policy="per-group", **plain)
    ref_group = [g["group"] for g in probe["per_group"] if g["n_non_mated"]][-1]
    reference = ThresholdPolicy(PolicyKind.REFERENCE, tuple(zip(GROUP_BY, ref_group, strict=True)))
    config = AuditConfig(
        target_fmrs=TARGETS,
        policies=(GLOBAL, PER_GROUP, reference),
        fmr_scope=scope,
        mated_rule=rule,
    )
    result = audit(to_set(comps, kind), group_by=GROUP_BY, config=config)

    assert len(probe["groups"]) == 4
    assert [group_key(g.attributes) for g in result.groups] == probe["groups"]
    assert len(result.operating_points) == len(TARGETS) * 3
    for policy, ref_policy in (
        (GLOBAL, "global"),
        (PER_GROUP, "per-group"),
        (reference, ("reference", ref_group)),
    ):
        for target in TARGETS:
            ref = ref_audit(comps, target=target, policy=ref_policy, **plain)
            assert_point_matches(result.operating_point(target, str(policy)), ref)

    # group summaries: counts and the FVC2000 EER of each group's scores
    for g, r in zip(result.groups, probe["per_group"], strict=True):
        assert (g.n_mated, g.n_non_mated) == (r["n_mated"], r["n_non_mated"])
        if r["mated"] and r["non_mated"]:
            sign = 1.0 if kind == SIMILARITY else -1.0
            e = ref_eer([sign * s for s in r["mated"]], [sign * s for s in r["non_mated"]])
            assert g.eer is not None
            assert g.eer.eer == pytest.approx(e["eer"], abs=1e-12)
            assert g.eer.threshold == sign * e["threshold"]
        else:
            assert g.eer is None
    all_mated, all_non_mated = probe["overall_scores"]
    assert (result.overall.n_mated, result.overall.n_non_mated) == (
        len(all_mated),
        len(all_non_mated),
    )

    # exclusions: incomplete comparisons always, disagreeing mated pairs under EXCLUDE only
    assert probe["exclusions"]["incomplete"] > 0
    assert exclusion_count(result, "missing") == probe["exclusions"]["incomplete"]
    expected_disagree = probe["exclusions"]["disagree"] if rule is MatedGroupRule.EXCLUDE else 0
    assert exclusion_count(result, "different groups") == expected_disagree
    if rule is MatedGroupRule.EXCLUDE:
        assert expected_disagree > 0
    assert all(e.scope == "groups" for e in result.exclusions)


# ------------------------------------------------------------------- hand-worked audits

F = {"sex": "F"}
M = {"sex": "M"}
X = {"sex": "X"}
NONE = {"sex": None}


def test_group_with_only_cross_group_non_mated_comparisons() -> None:
    comps = [
        comparison(0.9, True, ("a", "a"), F),
        comparison(0.45, True, ("b", "b"), F),
        comparison(0.3, False, ("a", "b"), F),
        comparison(0.5, False, ("a", "c"), F),
        comparison(0.1, False, ("b", "c"), F),
        comparison(0.2, False, ("c", "d"), F),
        comparison(0.8, True, ("m", "m"), M),
        comparison(0.7, False, ("a", "m"), F, M),
    ]
    config = AuditConfig(target_fmrs=(0.2,), policies=(GLOBAL, PER_GROUP))
    result = audit(to_set(comps), group_by=["sex"], config=config)

    # global: 5 non-mated, 0.2 allows k = 1 false match; the 2nd highest, 0.5, must be
    # rejected: threshold just above 0.5, only the cross-group 0.7 matches.
    g = result.operating_point(0.2, "global")
    assert g.threshold == above(0.5)
    assert (g.overall.n_false_matches, g.overall.n_non_mated, g.overall.fmr) == (1, 5, 0.2)
    # overall FNMR: 0.45 of the three mated is rejected
    assert g.overall.fnmr == pytest.approx(1 / 3, abs=1e-15)
    f, m = g.groups
    assert (f.n_non_mated, f.n_false_matches, f.fmr) == (4, 0, 0.0)
    assert (f.n_mated, f.n_false_non_matches, f.fnmr) == (2, 1, 0.5)
    # M has a mated pair but, under the MATCHED scope, no non-mated comparison
    assert (m.n_non_mated, m.fmr) == (0, None)
    assert (m.n_mated, m.fnmr) == (1, 0.0)
    assert any("no non-mated" in note for note in m.notes)
    assert m.threshold == above(0.5)
    cells = {(c.a["sex"], c.b["sex"]): c for c in g.cross_group}
    assert list(cells) == [("F", "F"), ("F", "M"), ("M", "M")]
    assert (cells["F", "F"].n_non_mated, cells["F", "F"].fmr) == (4, 0.0)
    assert (cells["F", "M"].n_non_mated, cells["F", "M"].fmr) == (1, 1.0)
    assert (cells["M", "M"].n_non_mated, cells["M", "M"].fmr) == (0, None)
    # the summary measures have one defined FMR: undefined, not zero
    assert g.summary.fmr.max_min == SummaryMeasure(
        None, 1, "fewer than two groups have a defined rate"
    )

    # per-group: F from its 4 non-mated, k = 0 at 0.2 (1/4 > 0.2): above its highest, 0.5
    p = result.operating_point(0.2, "per-group")
    assert p.threshold is None and p.overall is None and p.cross_group == []
    f, m = p.groups
    assert (f.threshold, f.fmr, f.fnmr) == (above(0.5), 0.0, 0.5)
    assert (m.threshold, m.fmr, m.fnmr) == (None, None, None)
    assert any("no non-mated" in note for note in m.notes)
    assert any("per-group" in note for note in p.notes)

    summary = {gs.label: gs for gs in result.groups}
    assert summary["M"].eer is None and summary["M"].det is None
    assert any("no non-mated" in note for note in summary["M"].notes)


def test_involving_scope_counts_cross_group_comparisons_for_both_groups() -> None:
    comps = [
        comparison(0.9, True, ("a", "a"), F),
        comparison(0.45, True, ("b", "b"), F),
        comparison(0.3, False, ("a", "b"), F),
        comparison(0.5, False, ("a", "c"), F),
        comparison(0.1, False, ("b", "c"), F),
        comparison(0.2, False, ("c", "d"), F),
        comparison(0.8, True, ("m", "m"), M),
        comparison(0.7, False, ("a", "m"), F, M),
    ]
    config = AuditConfig(
        target_fmrs=(0.2,), policies=(GLOBAL, PER_GROUP), fmr_scope=FMRScope.INVOLVING
    )
    result = audit(to_set(comps), group_by=["sex"], config=config)
    f, m = result.operating_point(0.2, "global").groups
    # same threshold (just above 0.5); F: 5 non-mated, the 0.7 matches; M: only the 0.7
    assert (f.n_non_mated, f.n_false_matches, f.fmr) == (5, 1, 0.2)
    assert (m.n_non_mated, m.n_false_matches, m.fmr) == (1, 1, 1.0)
    # per-group: F with 5 non-mated, k = 1 at 0.2: just above the 2nd highest, 0.5 (its
    # mated 0.45 is rejected); M with one, k = 0: just above 0.7 (its mated 0.8 passes).
    f, m = result.operating_point(0.2, "per-group").groups
    assert (f.threshold, f.fmr, f.fnmr) == (above(0.5), 0.2, 0.5)
    assert (m.threshold, m.fmr, m.fnmr) == (above(0.7), 0.0, 0.0)


def test_group_with_no_mated_pairs_and_one_sample_subjects() -> None:
    # M: three subjects with one sample each, so only non-mated comparisons among them.
    comps = [
        comparison(0.9, True, ("a", "a"), F),
        comparison(0.6, True, ("b", "b"), F),
        comparison(0.2, False, ("a", "b"), F),
        comparison(0.4, False, ("a", "c"), F),
        comparison(0.3, False, ("m1", "m2"), M),
        comparison(0.35, False, ("m1", "m3"), M),
        comparison(0.1, False, ("m2", "m3"), M),
    ]
    config = AuditConfig(target_fmrs=(0.25,), policies=(GLOBAL, PER_GROUP))
    result = audit(to_set(comps), group_by=["sex"], config=config)
    gs = {g.label: g for g in result.groups}
    assert (gs["M"].n_subjects, gs["M"].n_mated, gs["M"].n_non_mated) == (3, 0, 3)
    assert (gs["F"].n_subjects, gs["F"].n_mated, gs["F"].n_non_mated) == (3, 2, 2)
    assert gs["M"].eer is None
    assert any("no mated" in note for note in gs["M"].notes)

    # global: 5 non-mated, 0.25 allows k = 1: the 0.4 matches, threshold just above 0.35
    g = result.operating_point(0.25, "global")
    assert g.threshold == above(0.35)
    f, m = g.groups
    assert (f.fmr, f.fnmr) == (0.5, 0.0)
    assert (m.fmr, m.fnmr, m.n_false_non_matches) == (0.0, None, 0)
    assert any("no mated" in note for note in m.notes)
    assert g.summary.fnmr.gini.value is None
    # FMR: F 0.5, M 0: Gini of two groups where one has every error is 1
    assert g.summary.fmr.gini == SummaryMeasure(1.0, 2)
    assert g.summary.fmr.max_min.value is None
    assert "M" in g.summary.fmr.max_min.undefined_reason

    # per-group: M from its own 3, k = 0 at 0.25: above its highest, 0.35
    f, m = result.operating_point(0.25, "per-group").groups
    assert (m.threshold, m.fmr, m.fnmr) == (above(0.35), 0.0, None)
    # F from its own 2, k = 0 (1/2 > 0.25): above 0.4
    assert (f.threshold, f.fmr, f.fnmr) == (above(0.4), 0.0, 0.0)


def test_exclusions_and_mated_rules() -> None:
    comps = [
        comparison(0.9, True, ("a", "a"), F),
        comparison(0.4, True, ("b", "b"), F, M),  # the two samples disagree
        comparison(0.8, True, ("c", "c"), M),
        comparison(0.2, False, ("a", "d"), F),
        comparison(0.5, False, ("c", "e"), M),
        comparison(0.95, False, ("a", "z"), F, NONE),  # incomplete: overall only
        comparison(0.1, False, ("a", "c"), F, M),
    ]
    # Overall non-mated [0.2, 0.5, 0.95, 0.1]; 0.25 of 4 allows k = 1 (the 0.95):
    # threshold just above 0.5. Overall FNMR: the mated 0.4 is rejected, 1/3.
    expected_fnmr = {
        MatedGroupRule.EXCLUDE: {"F": (1, 0.0), "M": (1, 0.0)},
        MatedGroupRule.FIRST: {"F": (2, 0.5), "M": (1, 0.0)},
        MatedGroupRule.SECOND: {"F": (1, 0.0), "M": (2, 0.5)},
    }
    for rule, expected in expected_fnmr.items():
        config = AuditConfig(target_fmrs=(0.25,), mated_rule=rule)
        result = audit(to_set(comps), group_by=["sex"], config=config)
        point = result.operating_point(0.25)
        assert point.threshold == above(0.5)
        assert point.overall.fmr == 0.25
        assert point.overall.fnmr == pytest.approx(1 / 3, abs=1e-15)
        assert (point.overall.n_mated, point.overall.n_non_mated) == (3, 4)
        got = {g.label: (g.n_mated, g.fnmr) for g in point.groups}
        assert got == expected, rule
        assert {g.label: (g.n_non_mated, g.fmr) for g in point.groups} == {
            "F": (1, 0.0),
            "M": (1, 0.0),
        }
        assert exclusion_count(result, "missing") == 1
        disagree = 1 if rule is MatedGroupRule.EXCLUDE else 0
        assert exclusion_count(result, "different groups") == disagree
        assert len(result.exclusions) == 1 + disagree
        cells = {(c.a["sex"], c.b["sex"]): (c.n_non_mated, c.fmr) for c in point.cross_group}
        assert cells == {("F", "F"): (1, 0.0), ("F", "M"): (1, 0.0), ("M", "M"): (1, 0.0)}
        assert result.input.n_comparisons == 7


def test_reference_policy_uses_the_reference_groups_non_mated_comparisons() -> None:
    comps = [
        comparison(0.9, True, ("a", "a"), F),
        comparison(0.65, True, ("b", "b"), F),
        comparison(0.3, False, ("a", "b"), F),
        comparison(0.6, False, ("a", "c"), F),
        comparison(0.8, True, ("m", "m"), M),
        comparison(0.5, True, ("n", "n"), M),
        comparison(0.55, False, ("m", "n"), M),
        comparison(0.7, False, ("m", "o"), M),
        comparison(0.45, False, ("n", "o"), M),
        comparison(0.2, False, ("o", "p"), M),
    ]
    ref_m = ThresholdPolicy.parse("reference:sex=M")
    config = AuditConfig(target_fmrs=(0.25,), policies=(ref_m,))
    result = audit(to_set(comps), group_by=["sex"], config=config)
    point = result.operating_point(0.25, "reference:sex=M")
    # M's 4 non-mated [0.55, 0.7, 0.45, 0.2]; 0.25 allows k = 1: just above 0.55.
    assert point.threshold == above(0.55)
    f, m = point.groups
    assert (m.fmr, m.fnmr) == (0.25, 0.5)
    assert (f.fmr, f.fnmr) == (0.5, 0.0)  # F's 0.6 matches; both F mated pass
    # overall: 6 non-mated, 0.7 and 0.6 match
    assert point.overall.fmr == pytest.approx(2 / 6, abs=1e-15)
    assert point.summary.fmr.max_min.value == 2.0

    with pytest.raises(UsageError, match="not in the data"):
        audit(
            to_set(comps),
            group_by=["sex"],
            config=AuditConfig(policies=(ThresholdPolicy.parse("reference:sex=X"),)),
        )


def test_reference_group_without_non_mated_comparisons_is_a_usage_error() -> None:
    comps = [
        comparison(0.9, True, ("a", "a"), F),
        comparison(0.3, False, ("a", "b"), F),
        comparison(0.8, True, ("x", "x"), X),
        comparison(0.2, False, ("a", "x"), F, X),
    ]
    config = AuditConfig(policies=(ThresholdPolicy.parse("reference:sex=X"),))
    with pytest.raises(UsageError, match="no demographically matched non-mated"):
        audit(to_set(comps), group_by=["sex"], config=config)


def test_distance_scores_give_negated_thresholds() -> None:
    # the first hand-worked audit with distance = -similarity
    comps = [
        comparison(-0.9, True, ("a", "a"), F),
        comparison(-0.45, True, ("b", "b"), F),
        comparison(-0.3, False, ("a", "b"), F),
        comparison(-0.5, False, ("a", "c"), F),
        comparison(-0.1, False, ("b", "c"), F),
        comparison(-0.2, False, ("c", "d"), F),
        comparison(-0.8, True, ("m", "m"), M),
        comparison(-0.7, False, ("a", "m"), F, M),
    ]
    result = audit(
        to_set(comps, DISTANCE), group_by=["sex"], config=AuditConfig(target_fmrs=(0.2,))
    )
    point = result.operating_point(0.2)
    assert point.threshold == math.nextafter(-0.5, -math.inf)
    assert point.overall.fmr == 0.2
    assert (point.groups[0].fmr, point.groups[0].fnmr) == (0.0, 0.5)
    assert result.config.match_rule == "score <= threshold"


def test_target_below_one_over_n_is_noted() -> None:
    comps = [comparison(0.9, True, ("a", "a"), F)] + [
        comparison(i / 10, False, (f"x{i}", f"y{i}"), F) for i in range(10)
    ]
    result = audit(to_set(comps), group_by=["sex"], config=AuditConfig(target_fmrs=(0.05, 0.1)))
    low, ok = result.operating_point(0.05), result.operating_point(0.1)
    # 0.05 of 10: no false match allowed; just above the highest non-mated, 0.9
    assert low.threshold == above(0.9)
    assert low.overall.fmr == 0.0 and low.overall.fnmr == 1.0
    assert any("below 1/10" in n for n in low.notes)
    # 0.1 of 10: one false match allowed, no note
    assert ok.threshold == above(0.8)
    assert not any("below" in n for n in ok.notes)


def test_below_one_over_n_note_agrees_with_the_threshold() -> None:
    n = 49
    comps = [comparison(0.99, True, ("a", "a"), F)] + [
        comparison(i / 100, False, (f"x{i}", f"y{i}"), F) for i in range(n)
    ]
    result = audit(to_set(comps), group_by=["sex"], config=AuditConfig(target_fmrs=(1 / n,)))
    point = result.operating_point(1 / n)
    assert point.overall.n_false_matches == 1  # the threshold does not reject all of them
    assert not any("rejects all of them" in note for note in point.notes)


def test_every_target_the_config_accepts_can_be_audited() -> None:
    comps = [
        comparison(0.9, True, ("a", "a"), F),
        comparison(0.3, False, ("a", "b"), F),
        comparison(0.2, False, ("a", "c"), F),
    ]
    try:
        config = AuditConfig(target_fmrs=(1.0,))
    except UsageError:
        return  # also a fix: the configuration refuses it at the boundary
    point = audit(to_set(comps), group_by=["sex"], config=config).operating_point(1.0)
    # target 1: every non-mated comparison may match, so the threshold is at or below the
    # lowest non-mated score (0.2) and nothing is a false non-match
    assert point.threshold is not None and point.threshold <= 0.2
    assert (point.overall.fmr, point.overall.fnmr) == (1.0, 0.0)


def test_summary_counts_every_group_even_when_labels_collide() -> None:
    g1 = {"a": "x/y", "b": "z"}
    g2 = {"a": "x", "b": "y/z"}
    comps = [
        comparison(0.9, True, ("p", "p"), g1),
        comparison(0.5, True, ("q", "q"), g2),
        comparison(0.1, False, ("p", "r"), g1),
        comparison(0.2, False, ("q", "s"), g2),
    ]
    result = audit(to_set(comps), group_by=["a", "b"], config=AuditConfig(target_fmrs=(0.5,)))
    point = result.operating_point(0.5)
    assert len(point.groups) == 2
    assert all(g.fnmr is not None for g in point.groups)
    assert point.summary.fnmr.gini.n_groups == 2


def test_non_finite_score_is_an_input_error() -> None:
    comps = [
        comparison(0.9, True, ("a", "a"), F),
        comparison(math.nan, False, ("a", "b"), F),
        comparison(0.2, False, ("a", "c"), F),
    ]
    with pytest.raises(FaceparityError):
        audit(to_set(comps), group_by=["sex"], config=AuditConfig(target_fmrs=(0.5,)))


def test_non_finite_score_never_gives_a_result() -> None:
    comps = [
        comparison(0.9, True, ("a", "a"), F),
        comparison(math.nan, False, ("a", "b"), F),
        comparison(0.2, False, ("a", "c"), F),
    ]
    with pytest.raises((ValueError, FaceparityError)):
        audit(to_set(comps), group_by=["sex"], config=AuditConfig(target_fmrs=(0.5,)))


def test_no_non_mated_comparisons_is_an_input_error() -> None:
    comps = [comparison(0.9, True, ("a", "a"), F), comparison(0.8, True, ("b", "b"), F)]
    with pytest.raises(InputError, match="no non-mated"):
        audit(to_set(comps), group_by=["sex"])


def test_unknown_group_by_attribute_is_an_input_error() -> None:
    comps = [comparison(0.9, True, ("a", "a"), F), comparison(0.1, False, ("a", "b"), F)]
    with pytest.raises(InputError, match="'age'"):
        audit(to_set(comps), group_by=["age"])


# ------------------------------------------------------------------------------ JSON


def _no_constants(name: str) -> None:
    raise AssertionError(f"non-JSON constant {name} in results.json")


def test_to_json_is_valid_json_with_the_schema_keys() -> None:
    comps = random_comparisons(7)
    comps.append(comparison(0.99, True, ("lone", "lone"), {"sex": "X", "eth": "C"}))
    config = AuditConfig(
        target_fmrs=(1e-3, 0.1),
        policies=(GLOBAL, PER_GROUP, ThresholdPolicy.parse("reference:sex=F,eth=A")),
    )
    result = audit(to_set(comps), group_by=GROUP_BY, config=config)
    text = result.to_json()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text, parse_constant=_no_constants)
    assert list(data)[0] == "schema_version"
    assert data["schema_version"] == "1.1"
    assert data == json.loads(json.dumps(data, allow_nan=False))

    assert [g["attributes"] for g in data["groups"]] == [
        {"sex": s, "eth": e}
        for s, e in [("F", "A"), ("F", "B"), ("M", "A"), ("M", "B"), ("X", "C")]
    ]
    assert len(data["operating_points"]) == 6
    for op, point in zip(data["operating_points"], result.operating_points, strict=True):
        assert {"target_fmr", "policy", "threshold", "groups", "cross_group", "summary"} <= set(op)
        assert op["target_fmr"] == point.target_fmr and op["policy"] == point.policy
        assert op["threshold"] == point.threshold
        for g, pg in zip(op["groups"], point.groups, strict=True):
            assert {"attributes", "fmr", "fnmr", "n_mated", "n_non_mated"} <= set(g)
            assert (g["fmr"], g["fnmr"], g["n_mated"]) == (pg.fmr, pg.fnmr, pg.n_mated)
            for rate in (g["fmr"], g["fnmr"]):
                assert rate is None or 0.0 <= rate <= 1.0
        # the lone group X/C has no non-mated comparison: null FMR, not NaN
        assert op["groups"][-1]["attributes"] == {"sex": "X", "eth": "C"}
        assert op["groups"][-1]["fmr"] is None
        if op["policy"] == "per-group":
            assert op["threshold"] is None and op["cross_group"] == []
        else:
            assert len(op["cross_group"]) == 5 * 6 // 2
            for c in op["cross_group"]:
                assert {"a", "b", "fmr", "n_non_mated"} <= set(c)
        assert set(op["summary"]) == {"fmr", "fnmr", "garbe", "fdr", "inequity_rate"}
    assert isinstance(data["exclusions"], list) and data["exclusions"]
    for e in data["exclusions"]:
        assert {"reason", "count", "unit", "scope"} <= set(e)


def test_reference_threshold_is_set_on_matched_comparisons_under_either_scope() -> None:
    comps = [
        comparison(0.9, True, ("a", "a"), F),
        comparison(0.8, True, ("m", "m"), M),
        comparison(0.3, False, ("a", "b"), F),
        comparison(0.2, False, ("a", "c"), F),
        comparison(0.7, False, ("a", "m"), F, M),  # cross-group: counts for F only if involving
    ]
    thresholds = []
    for scope in (FMRScope.MATCHED, FMRScope.INVOLVING):
        config = AuditConfig(
            target_fmrs=(0.5,),
            fmr_scope=scope,
            policies=(ThresholdPolicy.parse("reference:sex=F"),),
        )
        thresholds.append(
            audit(to_set(comps), group_by=["sex"], config=config).operating_points[0].threshold
        )
    # Two matched F non-mated scores, one may match: the threshold sits just above 0.2.
    assert thresholds[0] == thresholds[1] == float(np.nextafter(0.2, 1.0))


def test_per_group_threshold_below_resolution_is_noted_per_group() -> None:
    comps = [
        comparison(0.9, True, ("a", "a"), F),
        comparison(0.3, False, ("a", "b"), F),
        comparison(0.2, False, ("a", "c"), F),
    ]
    config = AuditConfig(target_fmrs=(0.1,), policies=(ThresholdPolicy.parse("per-group"),))
    point = audit(to_set(comps), group_by=["sex"], config=config).operating_points[0]
    assert point.groups[0].fmr == 0.0
    assert any("below 1/2" in note for note in point.groups[0].notes)


def test_input_without_sample_ids_is_noted() -> None:
    comps = [comparison(0.9, True, ("a", "a"), F), comparison(0.3, False, ("a", "b"), F)]
    result = audit(to_set(comps), group_by=["sex"], config=AuditConfig(target_fmrs=(0.5,)))
    assert any("no samples" in note for note in result.input.notes)
