"""1:N identification: protocol, search and metrics against a brute-force reference.

The reference forms the full probe x gallery score matrix, fuses a subject's gallery
samples by max, sorts every search's subjects explicitly and counts. Embeddings are
sign vectors scaled to unit norm (entries +-1/4 in 16 dimensions, +-1/8 in 64), so
every cosine is a multiple of 1/16 (1/64), exact in float32 and float64 alike: the
fast path and the reference see identical scores, and ties are everywhere.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceparity.errors import InputError, UsageError
from faceparity.identification.metrics import (
    audit_searches,
    candidate_lists,
    search_rates,
    threshold_at_fpir,
)
from faceparity.identification.protocol import (
    ProtocolConfig,
    build_protocol,
    read_roles,
    split_protocol,
)
from faceparity.identification.search import SearchConfig, search
from faceparity.model.config import ThresholdPolicy
from faceparity.model.grouping import Group
from faceparity.results.identification import IdentificationResult

GROUPS = (Group((("g", "a"),), "a"), Group((("g", "b"),), "b"), Group((("g", "c"),), "c"))


def sign_data(n_subjects: int, per_subject: int, dim: int, flips: int, seed: int):
    """Subjects with a sign-vector prototype; samples flip ``flips`` random signs."""
    rng = np.random.default_rng(seed)
    proto = rng.choice([-1.0, 1.0], size=(n_subjects, dim))
    subject = np.repeat(np.arange(n_subjects), per_subject)
    x = proto[subject].copy()
    for i in range(len(x)):
        x[i, rng.choice(dim, size=flips, replace=False)] *= -1
    group = subject % 3
    return x / math.sqrt(dim), subject, group


# --- the reference --------------------------------------------------------------------


def reference_lists(x, protocol, threshold, rank, gallery_mask=None):
    """Per search: (sorted [(score, is_mate, subject)], mate rank or 0)."""
    s = x[protocol.probes] @ x[protocol.gallery].T  # exact: multiples of 1/dim
    out = []
    for i in range(len(protocol.probes)):
        subj_scores = {}
        for j, subject in enumerate(protocol.gallery_subject.tolist()):
            if gallery_mask is not None and not gallery_mask[subject]:
                continue
            subj_scores[subject] = max(subj_scores.get(subject, -np.inf), s[i, j])
        mate = int(protocol.probe_mate[i])
        entries = sorted((-v, int(k == mate), k) for k, v in subj_scores.items())
        entries = [(-v, m, k) for v, m, k in entries]
        mate_rank = 0
        if mate >= 0 and mate in subj_scores:
            sm = subj_scores[mate]
            mate_rank = 1 + sum(1 for k, v in subj_scores.items() if k != mate and v >= sm)
        t = threshold[i] if np.ndim(threshold) else threshold
        returned = [e for e in entries[:rank] if e[0] >= t]
        out.append((entries, mate_rank, returned))
    return out


def reference_rates(x, protocol, threshold, rank, n_groups=3, gallery_mask=None):
    lists = reference_lists(x, protocol, threshold, rank, gallery_mask)
    fp = np.zeros(n_groups, int)
    nm = np.zeros(n_groups, int)
    fn = np.zeros(n_groups, int)
    m = np.zeros(n_groups, int)
    matrix = np.zeros((n_groups, n_groups), int)
    matches = np.zeros((n_groups, n_groups), int)
    for i, (entries, _, returned) in enumerate(lists):
        g = protocol.probe_group[i]
        mate = protocol.probe_mate[i]
        t = threshold[i] if np.ndim(threshold) else threshold
        if mate < 0:
            nm[g] += 1
            fp[g] += bool(returned)
            for _, _, k in returned:
                matrix[g, protocol.enrolled_group[k]] += 1
            for v, _, k in entries:
                matches[g, protocol.enrolled_group[k]] += v >= t
        elif gallery_mask is None or gallery_mask[mate]:
            m[g] += 1
            fn[g] += not any(k == mate for _, _, k in returned)
    return fp, nm, fn, m, matrix, matches, lists


def reference_threshold(top, target):
    """The lowest threshold with FPIR <= target, by trying every candidate."""
    candidates = sorted({float(v) for v in top} | {float(np.nextafter(v, np.inf)) for v in top})
    return min(t for t in candidates if np.mean(np.asarray(top) >= t) <= target)


# --- the protocol -------------------------------------------------------------------------


def test_protocol_is_seeded_disjoint_and_complete() -> None:
    subject = np.repeat(np.arange(40), 4)
    group = subject % 3
    config = ProtocolConfig(gallery_samples=2, non_mated_fraction=0.25, seed=5)
    p = build_protocol(subject, group, config=config)
    q = build_protocol(subject, group, config=config)
    assert np.array_equal(p.gallery, q.gallery) and np.array_equal(p.probes, q.probes)
    other = build_protocol(subject, group, config=ProtocolConfig(2, 0.25, seed=6))
    assert not np.array_equal(p.probes, other.probes)
    assert set(p.gallery.tolist()).isdisjoint(p.probes.tolist())
    assert len(p.gallery) + len(p.probes) == len(subject)
    enrolled = set(subject[p.gallery].tolist())
    withheld = set(subject[p.probes[~p.mated]].tolist())
    assert enrolled.isdisjoint(withheld)
    assert np.all(np.bincount(p.gallery_subject) == 2)
    assert np.array_equal(p.enrolled[p.probe_mate[p.mated]], subject[p.probes[p.mated]])
    # round(0.25 * 13 or 14 subjects) per group withheld
    per_group = np.bincount(np.unique(subject[p.probes[~p.mated]]) % 3)
    assert per_group.tolist() == [round(0.25 * 14), round(0.25 * 13), round(0.25 * 13)]
    assert p.gallery_sizes[-1] == p.n_enrolled and p.gallery_sizes[0] == 2
    assert np.bincount(p.tier).cumsum().tolist()[: len(p.gallery_sizes)] == list(p.gallery_sizes)


def test_protocol_leaves_out_subjects_with_too_few_samples_and_counts_them() -> None:
    subject = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 4, 5, 5, 5])
    p = build_protocol(subject, np.zeros(14, int), config=ProtocolConfig(2, 0.2, seed=0))
    reasons = {e.reason: e.count for e in p.exclusions}
    left = {s for s in range(6) if s not in set(subject[np.r_[p.gallery, p.probes]].tolist())}
    assert sum(reasons.values()) == len(left) >= 1


def test_too_few_subjects_is_a_clear_error() -> None:
    with pytest.raises(
        InputError, match="at least 2 enrolled subjects.*meta.csv|meta.csv.*2 enrolled"
    ):
        build_protocol([0, 0, 1, 1], [0, 0, 0, 0], file="meta.csv")
    with pytest.raises(InputError, match="mated search"):
        build_protocol([0, 1, 2, 3, 4], [0] * 5, config=ProtocolConfig(1, 0.2))
    with pytest.raises(UsageError, match="non-mated fraction"):
        ProtocolConfig(non_mated_fraction=1.0)


def test_split_column(tmp_path) -> None:
    meta = tmp_path / "meta.csv"
    meta.write_text("sample,role\na,gallery\nb,Probe\nc, gallery \nd,probe\ne,probe\n")
    roles = read_roles(meta, "role", np.arange(5))
    assert roles.tolist() == [True, False, True, False, False]
    p = split_protocol([0, 0, 1, 1, 2], [0] * 5, roles, split_column="role")
    assert p.probe_mate.tolist() == [0, 1, -1]
    meta.write_text("sample,role\na,gallery\nb,enrol\n")
    with pytest.raises(InputError) as err:
        read_roles(meta, "role", np.arange(2))
    assert str(err.value) == (
        f"{meta}, row 2, column 'role': expected 'gallery' or 'probe', got 'enrol'"
    )


# --- search and metrics against the reference -------------------------------------------


@pytest.mark.parametrize("gallery_samples", [1, 2])  # the one-sample kernel, the general one
@pytest.mark.parametrize(("block", "threads"), [(4096, 1), (7, 2), (16, 3)])
def test_search_equals_reference(block: int, threads: int, gallery_samples: int) -> None:
    x, subject, group = sign_data(60, 4, 16, 3, seed=1)
    p = build_protocol(subject, group, config=ProtocolConfig(gallery_samples, 0.3, seed=2))
    r = search(x, p, config=SearchConfig(depth=6, block_size=block, threads=threads))
    ref = reference_lists(x, p, -np.inf, 6)
    for i, (entries, mate_rank, _) in enumerate(ref):
        non_mated = [(v, k) for v, m, k in entries if not m][:6]
        assert r.top_score[i].tolist() == [v for v, _ in non_mated]
        assert r.top_subject[i].tolist() == [k for _, k in non_mated]
        assert r.rank[i] == mate_rank
    lists, scores = candidate_lists(r, p, -np.inf, rank=4)
    for i, (entries, _, _) in enumerate(ref):
        assert lists[i].tolist() == [k for _, _, k in entries[:4]]
        assert scores[i].tolist() == [v for v, _, _ in entries[:4]]


@pytest.mark.parametrize("rank", [1, 3])
def test_every_metric_equals_the_reference(rank: int) -> None:
    x, subject, group = sign_data(90, 4, 16, 4, seed=3)
    p = build_protocol(subject, group, config=ProtocolConfig(1, 0.4, seed=4))
    r = search(x, p, config=SearchConfig(depth=5, block_size=50, threads=2))
    policies = tuple(ThresholdPolicy.parse(s) for s in ("global", "reference:g=b", "per-group"))
    res = audit_searches(
        r, p, groups=GROUPS, group_by=["g"], rank=rank, target_fpirs=(0.3, 0.05), policies=policies
    )
    non_mated = p.probe_mate < 0
    top = x[p.probes] @ x[p.gallery].T
    top_nm = top.max(axis=1)
    for point in res.operating_points:
        if point.policy == "global":
            t = reference_threshold(top_nm[non_mated], point.target_fpir)
            assert point.threshold == t
            per = np.full(len(p.probes), t)
        elif point.policy.startswith("reference"):
            t = reference_threshold(top_nm[non_mated & (p.probe_group == 1)], point.target_fpir)
            assert point.threshold == t
            per = np.full(len(p.probes), t)
        else:
            ts = [
                reference_threshold(top_nm[non_mated & (p.probe_group == g)], point.target_fpir)
                for g in range(3)
            ]
            assert [g.threshold for g in point.groups] == ts
            per = np.asarray(ts)[p.probe_group]
        fp, nm, fn, m, matrix, matches, _ = reference_rates(x, p, per, rank)
        for g, row in enumerate(point.groups):
            assert (row.n_false_positive_searches, row.n_non_mated_searches) == (fp[g], nm[g])
            assert row.fpir == fp[g] / nm[g]
            assert (row.n_false_negative_searches, row.n_mated_searches) == (fn[g], m[g])
            assert row.fnir == fn[g] / m[g]
            assert row.false_candidates_per_search == matrix[g].sum() / nm[g]
            assert row.n_false_matches == matches[g].sum()
        assert point.false_candidates.counts == matrix.tolist()
        cells = {(c.probe["g"], c.candidate["g"]): c.n_false_matches for c in point.cross_group}
        assert [[cells[(a, b)] for b in "abc"] for a in "abc"] == matches.tolist()
        if point.overall is not None:
            assert point.overall.n_false_positive_searches == fp.sum()
            assert point.overall.n_false_negative_searches == fn.sum()
    # CMC per group, no threshold
    lists = reference_lists(x, p, -np.inf, rank)
    ranks = np.array([mr for _, mr, _ in lists])
    for g, summary in enumerate(res.groups):
        sel = (ranks > 0) & (p.probe_group == g)
        assert summary.cmc == [np.mean(ranks[sel] <= k) for k in range(1, rank + 1)]


def test_gallery_size_curve_equals_the_reference() -> None:
    x, subject, group = sign_data(120, 3, 16, 4, seed=7)
    p = build_protocol(subject, group, config=ProtocolConfig(1, 0.3, seed=8))
    r = search(x, p, config=SearchConfig(depth=4, block_size=33, threads=2))
    res = audit_searches(r, p, groups=GROUPS, group_by=["g"], rank=2, target_fpirs=(0.2,))
    curve = res.gallery_size
    assert curve is not None and curve.sizes == list(p.gallery_sizes)
    for k, _ in enumerate(curve.sizes):
        fp, nm, fn, m, _, _, _ = reference_rates(x, p, curve.threshold, 2, gallery_mask=p.tier <= k)
        for g, row in enumerate(curve.groups):
            assert row.fpir[k] == fp[g] / nm[g]
            assert row.n_mated_searches[k] == m[g]
            assert row.fnir[k] == (fn[g] / m[g] if m[g] else None)
    _, nm, _, _, _, matches, _ = reference_rates(x, p, curve.threshold, 2)
    for g, row in enumerate(curve.groups):
        fmr = matches[g].sum() / (nm[g] * p.n_enrolled)
        assert row.fmr == pytest.approx(fmr, rel=1e-12)
        assert row.fpir_independence[-1] == pytest.approx(1 - (1 - fmr) ** p.n_enrolled)


def test_hand_worked_ties_at_the_threshold_and_at_rank_r() -> None:
    # d = 4, entries +-1/2: every cosine is a multiple of 1/4.
    h = 0.5
    x = np.array(
        [
            [h, h, h, -h],  # 0: subject A (gallery)
            [h, h, -h, h],  # 1: subject B (gallery)
            [h, -h, h, h],  # 2: subject C (gallery)
            [-h, -h, -h, -h],  # 3: subject D (gallery)
            [h, h, h, h],  # 4: subject B (mated probe): 0.5 with A, B and C
            [h, h, h, h],  # 5: subject E (non-mated probe): 0.5 with A, B, C
        ]
    )
    subject = np.array([0, 1, 2, 3, 1, 4])
    p = split_protocol(subject, np.zeros(6, int), [True, True, True, True, False, False])
    r = search(x, p, config=SearchConfig(depth=3))
    # the mate B ties with A and C: its rank counts both (3, not 1)
    assert r.rank.tolist() == [3, 0]
    # enrolled subjects are numbered in a seeded random order; ties go by that number
    index = {int(code): i for i, code in enumerate(p.enrolled)}
    by_index = sorted([0, 1, 2], key=index.__getitem__)
    a_c = [c for c in by_index if c != 1]
    lists, _ = candidate_lists(r, p, 0.5, rank=2)
    codes = [[int(p.enrolled[k]) for k in row] for row in lists]
    assert codes == [a_c, by_index[:2]]  # non-mated first, then lower index
    lists, _ = candidate_lists(r, p, 0.5, rank=3)
    codes = [[int(p.enrolled[k]) for k in row] for row in lists]
    assert codes == [[*a_c, 1], by_index]
    group = (Group((("g", "x"),), "x"),)
    # a score equal to the threshold is returned
    rows, overall, matrix, _, _ = search_rates(r, p, group, 0.5, rank=3)
    assert (overall.fpir, overall.fnir) == (1.0, 0.0)
    assert matrix.counts == [[3]]
    rows, overall, _, _, _ = search_rates(r, p, group, np.nextafter(0.5, 1), rank=3)
    assert (overall.fpir, overall.fnir) == (0.0, 1.0)
    # rank 2 at threshold 0.5: the tie at rank R leaves the mate out
    rows, overall, matrix, _, _ = search_rates(r, p, group, 0.5, rank=2)
    assert (overall.fpir, overall.fnir) == (1.0, 1.0)
    assert matrix.counts == [[2]]
    # threshold at a target FPIR: one non-mated search, its top score 0.5
    assert threshold_at_fpir([0.5], target_fpir=0.5) == np.nextafter(0.5, np.inf)


def test_result_round_trips_through_json() -> None:
    x, subject, group = sign_data(45, 3, 16, 3, seed=9)
    p = build_protocol(subject, group, config=ProtocolConfig(1, 0.3, seed=1))
    r = search(x, p, config=SearchConfig(depth=3))
    res = audit_searches(r, p, groups=GROUPS, group_by=["g"], rank=2, target_fpirs=(0.1,))
    assert IdentificationResult.from_dict(res.to_dict()) == res


def test_bad_options() -> None:
    x, subject, group = sign_data(30, 3, 16, 3, seed=9)
    p = build_protocol(subject, group)
    r = search(x, p, config=SearchConfig(depth=2))
    with pytest.raises(UsageError, match="rank"):
        audit_searches(r, p, groups=GROUPS, group_by=["g"], rank=3)
    with pytest.raises(UsageError, match="target FPIR"):
        audit_searches(r, p, groups=GROUPS, group_by=["g"], target_fpirs=(0.0,))
    with pytest.raises(UsageError, match="reference group"):
        audit_searches(
            r, p, groups=GROUPS, group_by=["g"], policies=(ThresholdPolicy.parse("reference:g=z"),)
        )
