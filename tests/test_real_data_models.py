"""The BFW sample's three models: leaderboard and explain on real scores (skipped without them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from _shared import shared_file
from faceparity import cli

MODELS = ("vgg16", "resnet50", "senet50")


def _invoke(args: list[str]) -> str:
    run = CliRunner().invoke(cli.main, args)
    assert run.exit_code == 0, run.stderr
    return run.stdout


def test_leaderboard_of_the_three_bfw_models(tmp_path: Path) -> None:
    path = shared_file("bfw-sample", "bfw_sample_pairs.csv")
    results = []
    for model in MODELS:
        out = tmp_path / model
        _invoke(
            ["audit", "bfw", str(path), "--score", model, "--score-kind", "similarity"]
            + ["--group-by", "sex,ethnicity", "--fmr", "1e-2", "--intervals", "wilson"]
            + ["--no-report", "-o", str(out)]
        )
        results.append(str(out / "results.json"))
    names = [a for m in MODELS for a in ("--name", m)]
    board = json.loads(_invoke(["leaderboard", *results, *names, "--json"]))
    by = {s["name"]: s for s in board["systems"]}
    fnmr = {m: by[m]["fnmr"] for m in MODELS}
    # Each rank is one plus the systems whose FNMR interval lies wholly below.
    for m in MODELS:
        below = sum(fnmr[o]["ci_high"] < fnmr[m]["ci_low"] for o in MODELS)
        assert by[m]["rank"] == 1 + below
    # vgg16's FNMR (0.59) is far above the others' (0.14-0.16): it ranks last, alone.
    assert by["vgg16"]["rank"] == 3 and by["vgg16"]["fnmr"]["value"] > 0.5
    assert any(by[m]["pareto"] for m in MODELS)


def test_explain_bfw_counts_the_audits_errors() -> None:
    pytest.importorskip("statsmodels")
    path = shared_file("bfw-sample", "bfw_sample_pairs.csv")
    out = _invoke(
        ["explain", str(path), "--score", "senet50", "--score-kind", "similarity"]
        + ["--mated", "label", "--subjects", "id1,id2", "--samples", "p1,p2"]
        + ["--attribute", "sex=g1,g2", "--attribute", "ethnicity=e1,e2"]
        + ["--group-by", "sex,ethnicity", "--target-fmr", "1e-2", "--json"]
    )
    data = json.loads(out)
    frame = pd.read_csv(path)
    low = np.minimum(frame["p1"], frame["p2"])
    high = np.maximum(frame["p1"], frame["p2"])
    keep = (frame["p1"] != frame["p2"]) & ~pd.DataFrame({"l": low, "h": high}).duplicated()
    frame = frame[keep]
    nm = frame[frame["label"] == 0]
    t = data["threshold"]
    # The audit's rule: at most floor(0.01 n) non-mated scores at or above the threshold.
    assert (nm["senet50"] >= t).sum() <= int(0.01 * len(nm))
    mated = frame[frame["label"] == 1]
    fnm = data["models"]["false_non_match"]
    assert fnm["n_used"] == len(mated) and fnm["n_events"] == int((mated["senet50"] < t).sum())
    same = nm[(nm["g1"] == nm["g2"]) & (nm["e1"] == nm["e2"])]
    fm = data["models"]["false_match"]
    assert fm["n_used"] == len(same) and fm["n_events"] == int((same["senet50"] >= t).sum())
    terms = {x["term"] for x in fm["terms"]}
    assert terms == {"intercept", "sex[M]", "ethnicity[B]", "ethnicity[I]", "ethnicity[W]"}
