"""Rates on the real data sets in ../shared/data, checked against plain pandas arithmetic.

Each test skips when its data are absent (as on a user's machine).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from click.testing import CliRunner

from _shared import shared_file
from faceparity import cli


def _run(args: list[str]) -> dict:
    result = CliRunner().invoke(cli.main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _check_point(
    point: dict, nm_score, nm_group_a, nm_group_b, m_score, m_group_a, m_group_b, match
) -> None:
    """Per-group FMR/FNMR and cross-group cells recomputed with pandas at the same threshold."""
    t = point["threshold"]
    for g in point["groups"]:
        key = "|".join(g["attributes"].values())
        nm = nm_score[(nm_group_a == key) & (nm_group_b == key)]
        m = m_score[(m_group_a == key) & (m_group_b == key)]
        assert g["n_non_mated"] == len(nm) and g["n_mated"] == len(m)
        assert g["n_false_matches"] == int(match(nm, t).sum())
        assert g["n_false_non_matches"] == int((~match(m, t)).sum())
        assert math.isclose(g["fmr"], match(nm, t).mean(), rel_tol=0, abs_tol=1e-12)
        assert math.isclose(g["fnmr"], (~match(m, t)).mean(), rel_tol=0, abs_tol=1e-12)
    for cell in point["cross_group"]:
        a, b = "|".join(cell["a"].values()), "|".join(cell["b"].values())
        both = ((nm_group_a == a) & (nm_group_b == b)) | ((nm_group_a == b) & (nm_group_b == a))
        assert cell["n_non_mated"] == int(both.sum())
        assert cell["n_false_matches"] == int(match(nm_score[both], t).sum())


def _pairs(
    frame: pd.DataFrame, cols_a: list[str], cols_b: list[str]
) -> tuple[pd.Series, pd.Series]:
    return (frame[cols_a].agg("|".join, axis=1), frame[cols_b].agg("|".join, axis=1))


def test_bfw_rates_match_pandas() -> None:
    path = shared_file("bfw-sample", "bfw_sample_pairs.csv")
    data = _run(
        [
            "audit",
            "pairs",
            str(path),
            "--score",
            "senet50",
            "--score-kind",
            "similarity",
            "--mated",
            "label",
            "--subjects",
            "id1,id2",
            "--attribute",
            "sex=g1,g2",
            "--attribute",
            "ethnicity=e1,e2",
            "--group-by",
            "sex,ethnicity",
            "--fmr",
            "1e-3,1e-4",
            "--policy",
            "global",
            "--policy",
            "reference:sex=M,ethnicity=W",
        ]
    )
    frame = pd.read_csv(path)
    ga, gb = _pairs(frame, ["g1", "e1"], ["g2", "e2"])
    nm, m = frame["label"] == 0, frame["label"] == 1
    score = frame["senet50"].to_numpy()
    # The global threshold: at most floor(target * n) non-mated scores at or above it,
    # and the next lower candidate (the highest rejected score) would exceed the target.
    for point in data["operating_points"][:2]:
        nm_scores = np.sort(score[nm])[::-1]
        k = int(np.floor(point["target_fmr"] * len(nm_scores)))
        assert (nm_scores >= point["threshold"]).sum() <= k
        assert (nm_scores >= nm_scores[k]).sum() > k
    for point in data["operating_points"]:
        _check_point(
            point,
            score[nm],
            ga[nm].to_numpy(),
            gb[nm].to_numpy(),
            score[m],
            ga[m].to_numpy(),
            gb[m].to_numpy(),
            lambda s, t: s >= t,
        )


def test_rfw_rates_match_pandas() -> None:
    pairs = shared_file("rfw-favfa", "rfw_pairs_labels.csv")
    scores = shared_file("rfw-favfa", "bupt_rfw_distances.csv")
    data = _run(
        [
            "audit",
            "rfw",
            str(pairs),
            str(scores),
            "--score-kind",
            "distance",
            "--group-by",
            "sex,ethnicity",
            "--fmr",
            "1e-2,1e-3",
        ]
    )
    joined = pd.read_csv(pairs).merge(pd.read_csv(scores), on=["img_1", "img_2"])
    subject = lambda s: s.str.replace(r"_\d+\.jpg$", "", regex=True)  # noqa: E731
    consistent = (joined["y_true"] == 1) == (subject(joined["img_1"]) == subject(joined["img_2"]))
    joined = joined[consistent]
    assert len(joined) == data["input"]["n_comparisons"]
    side = lambda col: joined[col].str.replace(" & ", "|").to_numpy()  # noqa: E731
    ga, gb = side("segment_1"), side("segment_2")
    nm, m = (joined["y_true"] == 0).to_numpy(), (joined["y_true"] == 1).to_numpy()
    d = joined["dist"].to_numpy()
    for point in data["operating_points"]:
        _check_point(point, d[nm], ga[nm], gb[nm], d[m], ga[m], gb[m], lambda s, t: s <= t)
