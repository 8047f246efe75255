"""faceparity leaderboard: ranks by interval overlap, the Pareto front, the worst group."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from faceparity import cli
from faceparity.errors import UsageError
from faceparity.results import AuditResult
from faceparity.review.leaderboard import (
    Estimate,
    build_leaderboard,
    pareto_front,
    ranks,
)

GOLDEN = Path(__file__).parent / "golden"
POINT = 0  # target FMR 0.2, policy global in sex.json


def _ci(low: float | None, high: float | None) -> dict[str, Any]:
    return {"ci_low": low, "ci_high": high, "method": "hand-set"}


def _system(
    fnmr: tuple[float, float, float],
    garbe: tuple[float, float, float],
    group_fmr: dict[str, tuple[float, float, float]],
) -> dict[str, Any]:
    """sex.json with the overall FNMR, GARBE and group FMRs of its first point set by hand."""
    data = copy.deepcopy(json.loads((GOLDEN / "sex.json").read_text()))
    point = data["operating_points"][POINT]
    point["overall"]["fnmr"] = fnmr[0]
    point["overall"]["fnmr_ci"] = _ci(fnmr[1], fnmr[2])
    point["summary"]["garbe"]["value"] = garbe[0]
    point["summary"]["garbe"]["value_ci"] = _ci(garbe[1], garbe[2])
    for group in point["groups"]:
        value, low, high = group_fmr[group["label"]]
        group["fmr"] = value
        group["fmr_ci"] = _ci(low, high)
    return data


# A: most accurate; B overlaps A in FNMR (same rank) and is more equitable;
# C is worse than both beyond the intervals and less equitable (dominated, beyond the
# intervals by A's too); D has the lowest GARBE but the worst FNMR.
SYSTEMS = {
    "A": _system(
        (0.10, 0.08, 0.12), (0.30, 0.25, 0.35), {"F": (0.3, 0.2, 0.4), "M": (0.1, 0, 0.2)}
    ),
    "B": _system(
        (0.11, 0.09, 0.13), (0.20, 0.15, 0.25), {"F": (0.2, 0.1, 0.3), "M": (0.25, 0.2, 0.3)}
    ),
    "C": _system((0.30, 0.25, 0.35), (0.50, 0.45, 0.55), {"F": (0.1, 0, 0.2), "M": (0.1, 0, 0.2)}),
    "D": _system(
        (0.50, 0.45, 0.55), (0.10, 0.05, 0.15), {"F": (0.2, 0.1, 0.3), "M": (0.2, 0.1, 0.3)}
    ),
}


def _board(**options: Any):
    results = [AuditResult.checked(d) for d in SYSTEMS.values()]
    return build_leaderboard(
        results, names=list(SYSTEMS), target_fmr=0.2, policy="global", **options
    )


def test_ranks_overlap_tie_and_pareto_front() -> None:
    board = _board()
    by = {s.name: s for s in board.standings}
    # A [0.08, 0.12] and B [0.09, 0.13] overlap: both rank 1; C lies above both: 3;
    # D lies above A, B and C: 4.
    assert [by[n].rank for n in "ABCD"] == [1, 1, 3, 4]
    # Point estimates (FNMR, GARBE): A (0.10, 0.30), B (0.11, 0.20), C (0.30, 0.50),
    # D (0.50, 0.10): C is dominated by A and B; the others are on the front.
    assert [by[n].pareto for n in "ABCD"] == [True, True, False, True]
    assert [by[n].dominated_beyond_intervals for n in "ABCD"] == [False, False, True, False]
    assert by["A"].fnmr == Estimate(0.10, 0.08, 0.12)
    assert by["B"].differentials["garbe"] == Estimate(0.20, 0.15, 0.25)
    # The worst group: the highest group FMR, with its interval.
    assert (by["A"].worst_group, by["A"].worst_group_fmr) == ("F", Estimate(0.3, 0.2, 0.4))
    assert (by["B"].worst_group, by["B"].worst_group_fmr) == ("M", Estimate(0.25, 0.2, 0.3))


def test_rank_and_front_reference() -> None:
    """ranks and pareto_front against a brute-force reading of their rules."""
    rng = __import__("numpy").random.default_rng(3)
    for _ in range(50):
        values = rng.uniform(0, 1, size=(6, 3))
        est = [Estimate(float(v), float(v - w / 5), float(v + w / 5)) for v, w, _ in values]
        expected = [1 + sum(o.ci_high < e.ci_low for o in est) for e in est]  # type: ignore[operator]
        assert ranks(est) == expected
        pts = [(float(x), float(y)) for x, _, y in values]
        front = [not any((o[0] <= p[0] and o[1] <= p[1] and o != p) for o in pts) for p in pts]
        assert pareto_front(pts) == front


def test_undefined_values_are_not_ranked_nor_on_the_front() -> None:
    assert ranks([Estimate(None), Estimate(0.2), Estimate(0.1)]) == [None, 2, 1]
    assert pareto_front([(None, 1.0), (0.2, None), (0.3, 0.3)]) == [False, False, True]


def test_operating_point_missing_in_one_result_is_refused() -> None:
    results = [AuditResult.checked(d) for d in SYSTEMS.values()]
    dropped = copy.deepcopy(SYSTEMS["B"])
    dropped["operating_points"] = [
        p for p in dropped["operating_points"] if p["policy"] != "per-group"
    ]
    results[1] = AuditResult.checked(dropped)
    with pytest.raises(UsageError, match="policy per-group in every result; missing in B"):
        build_leaderboard(results, names=list(SYSTEMS), policy="per-group")
    # Without a choice, the first point they all share.
    board = build_leaderboard(results, names=list(SYSTEMS))
    assert (board.target_fmr, board.policy) == (0.2, "global")
    with pytest.raises(UsageError, match="two or more"):
        build_leaderboard(results[:1], names=["A"])


def _write(tmp_path: Path) -> list[str]:
    paths = []
    for name, data in SYSTEMS.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        paths.append(str(path))
    return paths


def test_cli_table_json_and_reports(tmp_path: Path) -> None:
    paths = _write(tmp_path)
    names = [a for n in SYSTEMS for a in ("--name", n)]
    run = CliRunner().invoke(cli.main, ["leaderboard", *paths, *names, "--json"])
    assert run.exit_code == 0, run.stderr
    data = json.loads(run.stdout)
    assert [s["rank"] for s in data["systems"]] == [1, 1, 3, 4]
    assert data["target_fmr"] == 0.2 and data["policy"] == "global"
    run = CliRunner().invoke(cli.main, ["leaderboard", *paths, *names])
    assert run.exit_code == 0
    assert run.stdout.splitlines()[0] == "Leaderboard at target FMR 0.2, policy global"
    assert "dominated beyond the intervals" in run.stdout
    for suffix in ("md", "html", "json"):
        out = tmp_path / f"board.{suffix}"
        run = CliRunner().invoke(cli.main, ["leaderboard", *paths, *names, "-o", str(out)])
        assert run.exit_code == 0, run.stderr
        text = out.read_text()
        assert "0.1 [0.08, 0.12]" not in text  # rates are written as rates
        if suffix == "md":
            assert "| A | 1 | yes |" in text and r"1.000e-01 \[8.000e-02, 1.200e-01\]" in text
        if suffix == "html":
            assert "<td>1.000e-01 [8.000e-02, 1.200e-01]</td>" in text
    html = (tmp_path / "board.html").read_text()
    assert "<svg" in html and "<script" not in html and 'role="img"' in html


def test_cli_bad_inputs_exit_2(tmp_path: Path) -> None:
    paths = _write(tmp_path)
    broken = copy.deepcopy(SYSTEMS["A"])
    broken["operating_points"][0]["overall"]["fnmr"] = 1.5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(broken))
    run = CliRunner().invoke(cli.main, ["leaderboard", paths[0], str(bad)])
    assert run.exit_code == 2
    assert "bad.json" in run.stderr and "operating_points[0].overall.fnmr" in run.stderr
    run = CliRunner().invoke(cli.main, ["leaderboard", paths[0], paths[1], "-o", paths[1]])
    assert run.exit_code == 2 and "RESULTS 2" in run.stderr
    assert json.loads(Path(paths[1]).read_text()) == SYSTEMS["B"]
    run = CliRunner().invoke(cli.main, ["leaderboard", paths[0]])
    assert run.exit_code == 2 and "two or more" in run.stderr
    run = CliRunner().invoke(cli.main, ["leaderboard", *paths[:2], "--target-fmr", "0.3"])
    assert run.exit_code == 2 and "target FMR 0.3" in run.stderr
    run = CliRunner().invoke(cli.main, ["leaderboard", *paths[:2], "--name", "x"])
    assert run.exit_code == 2 and "--name" in run.stderr


def test_leaderboard_page_in_a_browser(tmp_path: Path) -> None:
    """The HTML page in headless Chromium: no error, no request, the chart drawn and labelled."""
    from _browser import Browser, find_chromium

    find_chromium()
    paths = _write(tmp_path)
    names = [a for n in SYSTEMS for a in ("--name", n)]
    page = tmp_path / "board.html"
    run = CliRunner().invoke(cli.main, ["leaderboard", *paths, *names, "-o", str(page)])
    assert run.exit_code == 0, run.stderr
    facts_js = """({
      rows: document.querySelectorAll('tbody tr').length,
      labelled: [...document.querySelectorAll('figure.chart > svg[role=img]')]
          .filter(s => s.querySelector('title').textContent.includes('Pareto front')
                       && s.getBoundingClientRect().width > 100).length,
      scripts: document.scripts.length,
    })"""
    shot = Path(__file__).resolve().parents[1] / "test-output" / "leaderboard.png"
    with Browser(tmp_path / "profile") as browser:
        load = browser.load(page, facts_js=facts_js, screenshot=shot)
    assert load.console_errors == [] and load.requests == []
    assert load.facts == {"rows": 4, "labelled": 1, "scripts": 0}
    assert shot.stat().st_size > 10_000


def test_cli_not_json_exit_2(tmp_path: Path) -> None:
    paths = _write(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    run = CliRunner().invoke(cli.main, ["leaderboard", paths[0], str(bad)])
    assert run.exit_code == 2 and "bad.json" in run.stderr and "Traceback" not in run.stderr
    run = CliRunner().invoke(cli.main, ["leaderboard", paths[0], str(tmp_path / "absent.json")])
    assert run.exit_code == 2 and "absent.json" in run.stderr
