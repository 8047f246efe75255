"""The scenario calculator: hand-worked figures, a Monte Carlo of its assumptions, the
direct 1:N measurement, the CLI; and the simulator's planted differential in FPIR."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from faceparity import cli
from faceparity.errors import UsageError
from faceparity.identification import (
    ProtocolConfig,
    SearchConfig,
    audit_searches,
    build_protocol,
    search,
    search_rates,
)
from faceparity.model.config import AuditConfig
from faceparity.model.grouping import intersect
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.embeddings import compare_all, load_embeddings
from faceparity.results import AuditResult, CrossGroupCell, Interval
from faceparity.results.documents import SCENARIO_SCHEMA_VERSION
from faceparity.review.scenario import (
    CrossRates,
    Deployment,
    cross_rates,
    false_match_count_pmf,
    run_scenario,
)
from faceparity.synthetic import simulate as sim
from faceparity.verification.audit import audit

GOLDEN = Path(__file__).parent / "golden"


def _rates(fmr, low=None, high=None, labels=("a", "b")) -> CrossRates:
    fmr = np.asarray(fmr, dtype=float)
    nan = np.full_like(fmr, np.nan)
    return CrossRates(
        tuple(labels),
        fmr,
        nan if low is None else np.asarray(low, float),
        nan if high is None else np.asarray(high, float),
        0.5,
        {"kind": "1:1", "policy": "global", "threshold": 0.5, "target_fmr": 1e-3},
    )


def test_hand_worked_figures() -> None:
    rates = _rates([[0.01, 0.001], [0.001, 0.002]])
    out = run_scenario(rates, Deployment({"a": 100, "b": 1000}, {"a": 10.0, "b": 20.0}))
    a, b = out.groups
    # a: 100 x 0.01 + 1000 x 0.001 = 2 expected false candidates a search
    assert a.false_candidates_per_search == pytest.approx(2.0, rel=1e-12)
    assert a.fpir == pytest.approx(1 - 0.99**100 * 0.999**1000, rel=1e-12)
    assert a.false_candidates_per_day == pytest.approx(20.0)
    assert a.false_candidates_per_year == pytest.approx(20.0 * 365)
    # b: 100 x 0.001 + 1000 x 0.002 = 2.1
    assert b.false_candidates_per_search == pytest.approx(2.1, rel=1e-12)
    assert out.best_served == "a" and b.ratio_to_best == pytest.approx(1.05)
    assert a.fpir_bounds is None
    # a candidate list of R = 1: E[min(X, 1)] = P(X >= 1) = FPIR
    one = run_scenario(rates, Deployment({"a": 100, "b": 1000}, {"a": 1.0}, rank=1))
    assert one.groups[0].false_candidates_per_search == pytest.approx(one.groups[0].fpir)
    pmf = false_match_count_pmf([2, 1], [0.5, 0.5], up_to=4)
    assert pmf == pytest.approx([0.125, 0.375, 0.375, 0.125], rel=1e-12)


def test_expectation_agrees_with_a_monte_carlo_of_the_same_assumptions() -> None:
    fmr = np.array([[2e-3, 4e-4, 1e-4], [4e-4, 8e-3, 3e-4], [1e-4, 3e-4, 5e-4]])
    gallery = {"a": 400, "b": 250, "c": 900}
    labels = ("a", "b", "c")
    rng = np.random.default_rng(11)
    n = 200_000
    for rank in (None, 2):
        out = run_scenario(
            _rates(fmr, labels=labels), Deployment(gallery, dict.fromkeys(labels, 1.0), rank=rank)
        )
        for g, row in enumerate(out.groups):
            x = sum(rng.binomial(gallery[h], fmr[g, i], size=n) for i, h in enumerate(labels))
            shown = x if rank is None else np.minimum(x, rank)
            se = shown.std() / math.sqrt(n)
            assert abs(shown.mean() - row.false_candidates_per_search) < 4 * se
            hit = (x >= 1).mean()
            assert abs(hit - row.fpir) < 4 * math.sqrt(row.fpir * (1 - row.fpir) / n)


def test_bounds_from_cell_intervals_bracket_the_estimate() -> None:
    fmr = [[0.01, 0.001], [0.001, 0.002]]
    low = [[0.008, 0.0005], [0.0005, 0.001]]
    high = [[0.013, 0.002], [0.002, 0.004]]
    out = run_scenario(_rates(fmr, low, high), Deployment({"a": 50, "b": 50}, {"a": 3.0, "b": 1.0}))
    for row in out.groups:
        lo, hi = row.false_candidates_per_day_bounds
        assert lo < row.false_candidates_per_day < hi
        lo, hi = row.fpir_bounds
        assert lo < row.fpir < hi
    at_low = run_scenario(_rates(low), Deployment({"a": 50, "b": 50}, {"a": 3.0}))
    assert out.groups[0].fpir_bounds[0] == pytest.approx(at_low.groups[0].fpir)


def test_unknown_group_and_missing_point_are_clear_errors() -> None:
    with pytest.raises(UsageError, match="group 'z' is not in the results; groups: a, b"):
        run_scenario(_rates([[0.1, 0.1], [0.1, 0.1]]), Deployment({"z": 5}, {"a": 1.0}))
    with pytest.raises(
        UsageError, match="target FMR 0.01 and policy 'global'; the results have: none"
    ):
        cross_rates(_typed([], []), target_fmr=0.01)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A simulated population, its 1:1 audit (as results.json) and its table."""
    out = tmp_path_factory.mktemp("sim")
    config = sim.default_config(n_subjects_per_group=60, samples_per_subject=4, seed=3)
    paths = sim.write_simulation(sim.simulate(config), out)
    specs = [AttributeSpec("sex", ("sex",)), AttributeSpec("region", ("region",))]
    table = load_embeddings(
        paths["embeddings"],
        metadata=paths["metadata"],
        sample_id="sample",
        subject="subject",
        attributes=specs,
    )
    result = audit(
        compare_all(table), group_by=["sex", "region"], config=AuditConfig(target_fmrs=(1e-3,))
    )
    (out / "results.json").write_text(result.to_json())
    return config, table, result, out


def test_scenario_agrees_with_the_direct_1n_measurement(simulated) -> None:
    """The scenario from 1:1 cross-group rates predicts the 1:N measurement at that threshold."""
    _, table, results, _ = simulated
    groups, codes = intersect(table.attributes, table.levels, ["sex", "region"])
    p = build_protocol(table.subject, codes, config=ProtocolConfig(1, 0.5, seed=1))
    r = search(table.values, p, config=SearchConfig(depth=20))
    rates = cross_rates(results, target_fmr=1e-3)
    rows, _, _, _, notes = search_rates(r, p, groups, rates.threshold, rank=20)
    assert notes == []  # no search had 20 or more: the counts are exact
    gallery = np.bincount(p.enrolled_group, minlength=len(groups))
    labels = [g.label for g in groups]
    out = run_scenario(
        rates,
        Deployment(dict(zip(labels, gallery.tolist(), strict=True)), dict.fromkeys(labels, 1.0)),
    )
    for row, predicted in zip(rows, out.groups, strict=True):
        n = row.n_non_mated_searches
        # 4 probe samples a withheld subject: searches come in correlated fours (x 2 SE)
        se_fpir = 2 * math.sqrt(max(predicted.fpir * (1 - predicted.fpir), 1 / n) / n)
        assert abs(row.fpir - predicted.fpir) < 4 * se_fpir, row.label
        mean = row.n_false_matches / n
        se_mean = 2 * math.sqrt(max(predicted.false_candidates_per_search, 1 / n) / n)
        assert abs(mean - predicted.false_candidates_per_search) < 4 * se_mean, row.label
    # the differential itself: the highest-FMR group expects more than 4x the lowest
    per_search = {g.label: g.false_candidates_per_search for g in out.groups}
    assert per_search["F/R4"] > 4 * per_search["M/R1"]


def test_planted_differential_shows_in_fpir_by_group(simulated) -> None:
    config, table, _, _ = simulated
    groups, codes = intersect(table.attributes, table.levels, ["sex", "region"])
    p = build_protocol(table.subject, codes, config=ProtocolConfig(1, 0.5, seed=2))
    r = search(table.values, p, config=SearchConfig(depth=20))
    res = audit_searches(r, p, groups=groups, group_by=["sex", "region"], target_fpirs=(0.05,))
    point = res.operating_points[0]
    gallery = np.bincount(p.enrolled_group, minlength=len(groups))
    index = {g.label: i for i, g in enumerate(config.groups)}
    order = [index[g.label] for g in groups]
    measured, truth = {}, {}
    for row in point.groups:
        true = sim.true_fpir(
            config, index[row.label], point.threshold, gallery[np.argsort(order)].tolist()
        )
        n = row.n_non_mated_searches
        assert abs(row.fpir - true) < 4 * 2 * math.sqrt(max(true * (1 - true), 1 / n) / n), (
            row.label
        )
        measured[row.label], truth[row.label] = row.fpir, true
    # region drives FMR: every R4 group has a higher FPIR than every R1 group, as planted
    assert min(truth["F/R4"], truth["M/R4"]) > 3 * max(truth["F/R1"], truth["M/R1"])
    assert min(measured["F/R4"], measured["M/R4"]) > max(measured["F/R1"], measured["M/R1"])


def test_scenario_cli(simulated, tmp_path) -> None:
    _, _, results, out = simulated
    target = tmp_path / "scenario.json"
    args = [
        "scenario", str(out / "results.json"), "--gallery-size", "10000",
        "--composition", "F/R1=0.5", "--composition", "M/R4=0.5",
        "--searches", "F/R1=100", "--searches", "M/R4=50", "--target-fmr", "1e-3",
        "--rank", "5", "-o", str(target),
    ]  # fmt: skip
    run = CliRunner().invoke(cli.main, args)
    assert run.exit_code == 0, run.stderr
    data = json.loads(target.read_text())
    assert list(data)[:3] == ["results", "schema_version", "tool"]
    assert data["schema_version"] == SCENARIO_SCHEMA_VERSION
    assert data["deployment"]["gallery"] == {"F/R1": 5000, "M/R4": 5000}
    assert [g["label"] for g in data["groups"]] == ["F/R1", "M/R4"]
    assert "false cand./day" in run.stdout and "assumptions:" in run.stdout
    bad = tmp_path / "bad.json"
    run = CliRunner().invoke(
        cli.main,
        ["scenario", str(out / "results.json"), "--gallery", "X/R9=10", "--searches", "F/R1=1",
         "--target-fmr", "1e-3", "-o", str(bad)],
    )  # fmt: skip
    assert run.exit_code == 2 and not bad.exists()
    assert "group 'X/R9' is not in the results" in run.stderr


def test_an_undefined_cell_leaves_its_group_undefined_with_a_note() -> None:
    out = run_scenario(
        _rates([[0.01, np.nan], [0.001, 0.002]]),
        Deployment({"a": 10, "b": 10}, {"a": 1.0, "b": 1.0}),
    )
    a, b = out.groups
    assert a.fpir is None and a.false_candidates_per_day is None and a.ratio_to_best is None
    assert a.notes == ["no measured FMR against enrolled group(s) b"]
    assert out.best_served == "b" and b.ratio_to_best == 1.0


def _typed(labels: list[str], cells: list[CrossGroupCell]) -> AuditResult:
    """The golden audit with groups ``g=label`` and one operating point with ``cells``."""
    base = AuditResult.from_dict(json.loads((GOLDEN / "sex.json").read_text()))
    groups = [dataclasses.replace(base.groups[0], attributes={"g": v}, label=v) for v in labels]
    point = dataclasses.replace(
        base.operating_points[0], target_fmr=1e-3, policy="global", threshold=0.4, cross_group=cells
    )
    return dataclasses.replace(base, groups=groups, operating_points=[point] if cells else [])


def test_cross_rates_read_optional_intervals_from_results() -> None:
    ci = Interval(0.001, 0.004, "test")

    def cell(a: str, b: str, fmr: float, with_ci: bool) -> CrossGroupCell:
        return CrossGroupCell({"g": a}, {"g": b}, fmr, 0, 1, fmr_ci=ci if with_ci else None)

    cells = [cell("a", "a", 0.002, True), cell("a", "b", 0.001, True), cell("b", "b", 0.003, True)]
    rates = cross_rates(_typed(["a", "b"], cells), target_fmr=1e-3)
    assert rates.has_intervals and rates.threshold == 0.4
    assert rates.fmr.tolist() == [[0.002, 0.001], [0.001, 0.003]]
    assert rates.low.tolist() == [[0.001] * 2] * 2 and rates.high.tolist() == [[0.004] * 2] * 2
    out = run_scenario(rates, Deployment({"a": 10, "b": 10}, {"a": 1.0}))
    assert out.groups[0].fpir_bounds is not None
    cells[2] = cell("b", "b", 0.003, False)  # one cell without: no bounds
    rates = cross_rates(_typed(["a", "b"], cells), threshold=0.4)
    assert not rates.has_intervals
    assert (
        run_scenario(rates, Deployment({"a": 10, "b": 10}, {"a": 1.0})).groups[0].fpir_bounds
        is None
    )


SCENARIO = ["scenario", str(GOLDEN / "sex.json"), "--target-fmr", "0.1"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        # NaN and infinite searches or days reached the JSON (exit 70)
        (["--gallery", "F=10", "--searches", "F=nan"], "--searches: expected GROUP=FLOAT with"),
        (["--gallery", "F=10", "--searches", "F=inf"], "got 'F=inf'"),
        (["--gallery", "F=10", "--searches", "F=1e308"], "from 0 to 1,000,000,000,000, got"),
        (["--gallery", "F=10", "--searches", "F=1", "--days-per-year", "inf"], "--days-per-year"),
        (["--gallery", "F=10", "--searches", "F=1", "--days-per-year", "nan"], "--days-per-year"),
        (["--gallery", "F=10", "--searches", "F=1", "--days-per-year", "1e308"], "--days-per-year"),
        # a gallery past int64 (exit 70), and one past the people alive
        (["--gallery", f"F={2**63}", "--searches", "F=1"], "--gallery: expected GROUP=INT with"),
        (
            ["--gallery", "F=6000000000", "--gallery", "M=6000000000", "--searches", "F=1"],
            "gallery: expected from 1 to 10,000,000,000 enrolled subjects in all, got",
        ),
        (
            ["--gallery-size", str(2**64), "--composition", "F=1", "--searches", "F=1"],
            "'--gallery-size'",
        ),
        (
            ["--gallery-size", "10", "--composition", "F=nan", "--composition", "M=0.5"]
            + ["--searches", "F=1"],
            "--composition: expected GROUP=FLOAT with FLOAT from 0 to 1, got 'F=nan'",
        ),
        # a candidate list of 2**63 (exit 70: the array of its distribution)
        (["--gallery", "F=10", "--searches", "F=1", "--rank", str(2**63)], "'--rank'"),
    ],
)
def test_scenario_numbers_at_the_edges_exit_2(extra: list[str], message: str) -> None:
    run = CliRunner().invoke(cli.main, [*SCENARIO, *extra])
    assert run.exit_code == 2, run.output
    assert message in run.stderr
    assert "internal error" not in run.stderr


def test_the_largest_deployment_gives_finite_figures() -> None:
    from faceparity.review.scenario import MAX_DAYS_PER_YEAR, MAX_GALLERY, MAX_SEARCHES_PER_DAY

    rates = _rates([[0.5, 0.5], [0.5, 0.5]], low=[[0.4] * 2] * 2, high=[[0.6] * 2] * 2)
    half = MAX_GALLERY // 2
    deployment = Deployment(
        {"a": half, "b": MAX_GALLERY - half},
        {"a": float(MAX_SEARCHES_PER_DAY)},
        days_per_year=MAX_DAYS_PER_YEAR,
    )
    text = json.dumps(run_scenario(rates, deployment).to_dict(), allow_nan=False)
    year = json.loads(text)["groups"][0]["false_candidates_per_year"]
    assert year == pytest.approx(0.5 * MAX_GALLERY * MAX_SEARCHES_PER_DAY * MAX_DAYS_PER_YEAR)


@pytest.mark.parametrize(
    ("gallery", "searches", "options", "message"),
    [
        ({"a": 10}, {"a": math.nan}, {}, "searches: expected numbers of searches a day"),
        ({"a": 10}, {"a": math.inf}, {}, "searches: expected numbers of searches a day"),
        ({"a": 10}, {}, {}, "searches: expected at least one group"),
        ({"a": -1, "b": 5}, {"a": 1.0}, {}, "gallery: expected whole numbers of subjects"),
        ({"a": 2.5}, {"a": 1.0}, {}, "gallery: expected whole numbers of subjects"),
        ({"a": 0}, {"a": 1.0}, {}, "gallery: expected from 1 to"),
        ({"a": 10}, {"a": 1.0}, {"rank": 10**9}, "rank: expected a whole number from 1 to"),
        ({"a": 10}, {"a": 1.0}, {"days_per_year": math.inf}, "days per year: expected"),
        ({"a": 10}, {"a": 1.0}, {"days_per_year": 0.0}, "days per year: expected"),
    ],
)
def test_a_deployment_out_of_range_is_refused(
    gallery: dict[str, int], searches: dict[str, float], options: dict[str, float], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        Deployment(gallery, searches, **options)  # type: ignore[arg-type]
