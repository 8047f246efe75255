"""faceparity explain: error events, the regression against statsmodels, a planted effect."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from faceparity import cli
from faceparity.errors import UsageError
from faceparity.explain import error_events, explain_errors, fit_error_model, tjur_r2
from faceparity.explain.events import EventTable
from faceparity.metrics.rates import threshold_at_fmr
from faceparity.model.comparisons import ComparisonSet
from faceparity.model.config import ScoreKind

sm = pytest.importorskip("statsmodels.api")
smf = pytest.importorskip("statsmodels.formula.api")


def _hand_built(seed: int = 5, n_subjects: int = 240) -> tuple[ComparisonSet, np.ndarray]:
    """Mated and non-mated comparisons whose errors depend on sex, ethnicity and age."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n_subjects)
    eth = rng.choice(["A", "B", "C"], n_subjects)
    age = rng.uniform(20, 70, n_subjects)
    shift = {"F": 0.4, "M": 0.0}
    subj_a, subj_b, score, mated, ages = [], [], [], [], []
    for s in range(n_subjects):
        for _ in range(3):  # mated
            subj_a.append(s)
            subj_b.append(s)
            score.append(2.0 - shift[sex[s]] - 0.01 * age[s] + rng.normal())
            mated.append(True)
            ages.append((age[s], age[s] + rng.uniform(0, 10)))
        same = np.flatnonzero((sex == sex[s]) & (eth == eth[s]) & (np.arange(n_subjects) > s))
        for t in same[:6]:  # non-mated, same group
            subj_a.append(s)
            subj_b.append(int(t))
            score.append(shift[sex[s]] + (0.5 if eth[s] == "C" else 0.0) + rng.normal())
            mated.append(False)
            ages.append((age[s], age[t]))
    a, b = np.array(subj_a), np.array(subj_b)
    comparisons = ComparisonSet.from_arrays(
        score=score,
        mated=mated,
        score_kind=ScoreKind.SIMILARITY,
        subject_a=[f"s{i:03d}" for i in a],
        subject_b=[f"s{i:03d}" for i in b],
        attributes_a={"sex": list(sex[a]), "ethnicity": list(eth[a])},
        attributes_b={"sex": list(sex[b]), "ethnicity": list(eth[b])},
    )
    return comparisons, np.array(ages)


def test_events_at_the_threshold_by_hand() -> None:
    # 4 non-mated scores; target FMR 0.25 lets 1 of them match: the threshold is just
    # above the second highest, 0.6, so 0.9 matches and the mated 0.5 does not.
    cs = ComparisonSet.from_arrays(
        score=[0.9, 0.6, 0.3, 0.1, 0.5, 0.95, 0.2],
        mated=[False, False, False, False, True, True, False],
        score_kind=ScoreKind.SIMILARITY,
        subject_a=["a", "a", "b", "c", "a", "b", "a"],
        subject_b=["b", "c", "c", "d", "a", "b", "d"],
        attributes_a={"sex": ["F", "F", "M", "M", "F", "M", "F"]},
        attributes_b={"sex": ["F", "F", "M", "M", "F", "M", None]},
    )
    ev = error_events(cs, target_fmr=0.2, group_by=["sex"])
    assert ev.threshold == threshold_at_fmr(
        [0.9, 0.6, 0.3, 0.1, 0.2], target_fmr=0.2, score_kind=ScoreKind.SIMILARITY
    )
    assert 0.6 < ev.threshold < 0.9
    fnm, fm = ev.false_non_match, ev.false_match
    assert fnm.outcome.tolist() == [True, False]
    assert fnm.clusters.tolist() == [0, 1]  # the mated subject (codes of a, b)
    assert fm.outcome.tolist() == [True, False, False, False]
    assert fm.clusters.tolist() == [[0, 1], [0, 2], [1, 2], [2, 3]]
    assert fm.n_comparisons == 5 and [(e.reason, e.count) for e in fm.exclusions] == [
        ("non-mated comparisons with sex missing on a side", 1)
    ]
    assert fm.factors["sex"][1] == ("F", "M")
    # Distances: the same comparisons with the scores negated give the same events.
    flipped = ComparisonSet(**{**cs.__dict__, "score": -cs.score, "score_kind": ScoreKind.DISTANCE})
    ev2 = error_events(flipped, target_fmr=0.2, group_by=["sex"])
    assert ev2.threshold == -ev.threshold
    assert ev2.false_match.outcome.tolist() == fm.outcome.tolist()
    # A reference level reorders the levels; an unknown one is refused.
    ev3 = error_events(cs, target_fmr=0.2, group_by=["sex"], reference={"sex": "M"})
    assert ev3.false_match.factors["sex"][1] == ("M", "F")
    assert ev3.false_match.factors["sex"][0].tolist() == [1, 1, 0, 0]
    with pytest.raises(UsageError, match="expected a value of 'sex' among F, M"):
        error_events(cs, target_fmr=0.2, group_by=["sex"], reference={"sex": "X"})


def _direct(frame: pd.DataFrame, formula: str, groups: np.ndarray):
    return smf.logit(formula, frame).fit(disp=0, cov_type="cluster", cov_kwds={"groups": groups})


def test_regression_matches_a_direct_statsmodels_fit() -> None:
    cs, ages = _hand_built()
    covariates = {"age": ages}
    model = explain_errors(
        cs, target_fmr=0.05, group_by=["sex", "ethnicity"], covariates=covariates, gaps=["age"]
    )
    ev = error_events(
        cs, target_fmr=0.05, group_by=["sex", "ethnicity"], covariates=covariates, gaps=["age"]
    )
    table = ev.false_non_match
    frame = pd.DataFrame(
        {
            "y": table.outcome.astype(float),
            "sex": np.array(table.factors["sex"][1])[table.factors["sex"][0]],
            "eth": np.array(table.factors["ethnicity"][1])[table.factors["ethnicity"][0]],
            "age": table.numeric["age"],
            "age_gap": table.numeric["age_gap"],
        }
    )
    formula = "y ~ C(sex, Treatment('F')) + C(eth, Treatment('A')) + age + age_gap"
    direct = _direct(frame, formula, table.clusters)
    got = model.false_non_match
    assert [t.term for t in got.terms] == [
        "intercept",
        "sex[M]",
        "ethnicity[B]",
        "ethnicity[C]",
        "age",
        "age_gap",
    ]
    np.testing.assert_allclose([t.coefficient for t in got.terms], direct.params, rtol=1e-6)
    np.testing.assert_allclose([t.se for t in got.terms], direct.bse, rtol=1e-6)
    np.testing.assert_allclose([t.p_value for t in got.terms], direct.pvalues, rtol=1e-5)
    p = direct.predict()
    y = frame["y"].to_numpy() == 1
    assert got.tjur_r2 == pytest.approx(p[y].mean() - p[~y].mean(), rel=1e-9)
    # The covariates' AMEs are statsmodels' get_margeff.
    margeff = direct.get_margeff(at="overall").summary_frame()
    assert got.terms[4].ame == pytest.approx(margeff.iloc[-2]["dy/dx"], rel=1e-6)
    assert got.terms[5].ame_se == pytest.approx(margeff.iloc[-1]["Std. Err."], rel=1e-6)

    # A level's AME: the mean prediction with every row at that level minus at the reference;
    # its standard error by the delta method with a numerical gradient.
    def level_ame(params: np.ndarray, column: str, value: str) -> float:
        at = frame.assign(**{column: value})
        ref = frame.assign(**{column: "F" if column == "sex" else "A"})
        return float(
            direct.model.predict(params, exog=_exog(direct, at)).mean()
            - direct.model.predict(params, exog=_exog(direct, ref)).mean()
        )

    for j, (column, value) in zip(
        (1, 2, 3), (("sex", "M"), ("eth", "B"), ("eth", "C")), strict=True
    ):
        params = direct.params.to_numpy()
        ame = level_ame(params, column, value)
        grad = np.array(
            [
                (level_ame(params + h, column, value) - level_ame(params - h, column, value)) / 2e-6
                for h in np.eye(len(params)) * 1e-6
            ]
        )
        se = float(np.sqrt(grad @ direct.cov_params().to_numpy() @ grad))
        assert got.terms[j].ame == pytest.approx(ame, rel=1e-9)
        assert got.terms[j].ame_se == pytest.approx(se, rel=1e-4)
        assert got.terms[j].ame_ci_low == pytest.approx(ame - 1.959963984540054 * se, rel=1e-3)


def _exog(result: object, frame: pd.DataFrame) -> np.ndarray:
    """The design of ``frame`` in the order of the formula's columns, coded by hand."""
    return np.column_stack(
        [
            np.ones(len(frame)),
            frame["sex"] == "M",
            frame["eth"] == "B",
            frame["eth"] == "C",
            frame["age"],
            frame["age_gap"],
        ]
    ).astype(float)


def test_dyadic_covariance_against_the_double_sum() -> None:
    """Sum of s_i s_j' over every two comparisons sharing a subject, by brute force."""
    from faceparity.explain.regression import dyadic_cov

    rng = np.random.default_rng(2)
    n, k = 300, 3
    subjects = np.array([rng.choice(25, size=2, replace=False) for _ in range(n)])
    x = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    y = (rng.uniform(size=n) < 0.3).astype(float)
    p = rng.uniform(0.1, 0.5, size=n)
    s = x * (y - p)[:, None]
    meat = np.zeros((k, k))
    for i in range(n):
        for j in range(n):
            if set(subjects[i]) & set(subjects[j]):
                meat += np.outer(s[i], s[j])
    bread = np.linalg.inv((x * (p * (1 - p))[:, None]).T @ x)
    g = len(np.unique(subjects))
    expected = g / (g - 1) * (n - 1) / (n - k) * bread @ meat @ bread
    np.testing.assert_allclose(dyadic_cov(x, y, p, subjects), expected, rtol=1e-10)


def test_false_match_model_uses_the_dyadic_covariance() -> None:
    from faceparity.explain.regression import design, dyadic_cov

    cs, ages = _hand_built()
    table = error_events(
        cs, target_fmr=0.05, group_by=["sex"], covariates={"age": ages}
    ).false_match
    got = fit_error_model(table)
    x, _, _ = design(table)
    y = table.outcome.astype(float)
    direct = sm.Logit(y, x).fit(disp=0)
    np.testing.assert_allclose([t.coefficient for t in got.terms], direct.params, rtol=1e-6)
    v = dyadic_cov(x, y, direct.predict(), table.clusters)
    np.testing.assert_allclose([t.se for t in got.terms], np.sqrt(np.diag(v)), rtol=1e-6)
    # The covariate's AME and its delta-method error with that covariance, by hand:
    # AME = mean p(1-p) b_age; d AME / d b = mean p(1-p)(1-2p) x b_age + e_age mean p(1-p).
    p = direct.predict()
    b = direct.params[2]
    ame = float(np.mean(p * (1 - p)) * b)
    grad = np.mean((p * (1 - p) * (1 - 2 * p))[:, None] * x, axis=0) * b
    grad[2] += np.mean(p * (1 - p))
    assert got.terms[2].ame == pytest.approx(ame, rel=1e-6)
    assert got.terms[2].ame_se == pytest.approx(float(np.sqrt(grad @ v @ grad)), rel=1e-6)
    assert got.n_clusters == [len(np.unique(table.clusters))]  # the subjects
    assert got.clustering.startswith("dyadic")


def test_tjur_r2_by_hand() -> None:
    assert tjur_r2([True, True, False], [0.8, 0.6, 0.1]) == pytest.approx(0.6)


def test_separation_and_no_errors_are_reported_not_fitted() -> None:
    n = 40
    table = EventTable(
        event="false_non_match",
        outcome=np.arange(n) % 2 == 0,
        factors={"sex": (np.r_[np.zeros(20), np.ones(20)].astype(np.int64), ("F", "M"))},
        numeric={},
        clusters=np.arange(n, dtype=np.int64),
        n_comparisons=n,
    )
    assert fit_error_model(table).undefined_reason is None
    zero_in_m = EventTable(
        **{**table.__dict__, "outcome": (np.arange(n) % 2 == 0) & (np.arange(n) < 20)}
    )
    model = fit_error_model(zero_in_m)
    assert model.terms == [] and model.tjur_r2 is None
    assert model.undefined_reason is not None and "sex M: 0 errors in 20" in model.undefined_reason
    # A covariate that predicts every error: the likelihood has no maximum.
    v = np.random.default_rng(0).normal(size=n)
    apart = EventTable(**{**table.__dict__, "outcome": v > 0, "factors": {}, "numeric": {"q": v}})
    model = fit_error_model(apart)
    assert model.undefined_reason == "the maximum-likelihood fit did not converge"
    none = EventTable(**{**table.__dict__, "outcome": np.zeros(n, dtype=bool)})
    assert (
        fit_error_model(none).undefined_reason == "0 errors in 40 comparisons: nothing to explain"
    )


def test_non_mated_subsample_is_uniform_and_seeded() -> None:
    cs, _ = _hand_built()
    full = error_events(cs, target_fmr=0.05, group_by=["sex"], max_non_mated=None).false_match
    a = error_events(cs, target_fmr=0.05, group_by=["sex"], max_non_mated=100, seed=1)
    b = error_events(cs, target_fmr=0.05, group_by=["sex"], max_non_mated=100, seed=1)
    assert len(a.false_match) == 100 and len(full) > 100
    assert (
        a.false_match.sampling is not None
        and "uniform random sample of 100" in a.false_match.sampling
    )
    np.testing.assert_array_equal(a.false_match.clusters, b.false_match.clusters)
    assert len(a.false_non_match) == len(cs.score[cs.mated])  # mated never sampled


def _simulated_planted_effect() -> tuple[ComparisonSet, np.ndarray, object]:
    """Simulated embeddings where a 'blur' covariate lowers a and so raises FNMR; sex does not.

    At the threshold of FMR 1e-2 the true FNMR is about 9% without blur, 26% with it.
    """
    from faceparity.synthetic.simulate import GroupParams, SimulationConfig, simulate

    groups = tuple(
        GroupParams({"sex": sex, "blur": blur}, k=24, a=a, n_subjects=100)
        for sex in ("F", "M")
        for blur, a in (("0", 0.60), ("1", 0.55))
    )
    config = SimulationConfig(groups=groups, noise_dim=48, samples_per_subject=4, seed=11)
    sim = simulate(config)
    meta = sim.metadata
    i, j = np.triu_indices(len(meta), k=1)
    score = (sim.embeddings @ sim.embeddings.T)[i, j]
    subject = pd.factorize(meta["subject"])[0]
    sex = pd.factorize(meta["sex"], sort=True)[0].astype(np.int32)
    cs = ComparisonSet(
        score=score,
        mated=subject[i] == subject[j],
        score_kind=ScoreKind.SIMILARITY,
        subject=np.column_stack([subject[i], subject[j]]).astype(np.int64),
        subject_ids=tuple(str(s) for s in range(subject.max() + 1)),
        attributes={"sex": np.column_stack([sex[i], sex[j]])},
        levels={"sex": ("F", "M")},
    )
    blur = meta["blur"].astype(float).to_numpy()
    return cs, np.column_stack([blur[i], blur[j]]), config


def test_planted_effect_on_the_simulator_is_recovered() -> None:
    from faceparity.synthetic.simulate import true_fnmr

    cs, blur, config = _simulated_planted_effect()
    result = explain_errors(
        cs, target_fmr=1e-2, group_by=["sex"], covariates={"blur": blur}, max_non_mated=100_000
    )
    model = result.false_non_match
    terms = {t.term: t for t in model.terms}
    # The model is saturated in blur and sex has no effect, so the true coefficient of blur
    # is the log odds ratio of the two true FNMRs at the threshold the audit set.
    low, high = (true_fnmr(config, g, result.threshold) for g in (0, 1))  # type: ignore[arg-type]
    truth = np.log(high / (1 - high)) - np.log(low / (1 - low))
    assert truth > 0
    blur_term = terms["blur"]
    assert blur_term.coefficient > 0 and blur_term.ame is not None and blur_term.ame > 0
    assert blur_term.ci_low > 0 and blur_term.ci_low <= truth <= blur_term.ci_high
    assert terms["sex[M]"].ci_low <= 0 <= terms["sex[M]"].ci_high
    assert model.n_events == int((cs.similarity[cs.mated] < result.threshold).sum())


def _write_table(tmp_path: Path) -> Path:
    cs, ages = _hand_built()
    frame = pd.DataFrame(
        {
            "score": cs.score,
            "id1": np.array(cs.subject_ids)[cs.subject[:, 0]],
            "id2": np.array(cs.subject_ids)[cs.subject[:, 1]],
            "sex1": np.array(cs.levels["sex"])[cs.attributes["sex"][:, 0]],
            "sex2": np.array(cs.levels["sex"])[cs.attributes["sex"][:, 1]],
            "age1": ages[:, 0],
            "age2": ages[:, 1],
        }
    )
    path = tmp_path / "pairs.csv"
    frame.to_csv(path, index=False)
    return path


ARGS = [
    "--score", "score", "--score-kind", "similarity", "--subjects", "id1,id2",
    "--attribute", "sex=sex1,sex2", "--group-by", "sex", "--covariate", "age=age1,age2",
    "--gap", "age", "--target-fmr", "0.05",
]  # fmt: skip


def test_cli_table_json_and_report(tmp_path: Path) -> None:
    path = _write_table(tmp_path)
    run = CliRunner().invoke(cli.main, ["explain", str(path), *ARGS, "--json"])
    assert run.exit_code == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["explain_version"] == "1.0"
    terms = [t["term"] for t in data["models"]["false_non_match"]["terms"]]
    assert terms == ["intercept", "sex[M]", "age", "age_gap"]
    run = CliRunner().invoke(cli.main, ["explain", str(path), *ARGS, "-o", str(tmp_path / "e.md")])
    assert run.exit_code == 0, run.stderr
    assert "False non-match on mated comparisons" in run.stdout
    md = (tmp_path / "e.md").read_text()
    assert md.startswith("# What drives the errors") and "| sex\\[M\\] |" in md


def test_cli_bad_inputs_exit_2(tmp_path: Path) -> None:
    path = _write_table(tmp_path)
    frame = pd.read_csv(path)
    frame["age1"] = frame["age1"].astype(object)
    frame.loc[4, "age1"] = "old"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    run = CliRunner().invoke(cli.main, ["explain", str(bad), *ARGS])
    assert run.exit_code == 2
    assert "bad.csv" in run.stderr and "row 5" in run.stderr and "'age1'" in run.stderr
    run = CliRunner().invoke(cli.main, ["explain", str(path), *ARGS, "-o", str(path)])
    assert run.exit_code == 2 and "pairs.csv" in run.stderr
    run = CliRunner().invoke(cli.main, ["explain", str(path), *ARGS, "--gap", "sex"])
    assert run.exit_code == 2 and "--gap sex" in run.stderr
    run = CliRunner().invoke(cli.main, ["explain", str(path), *ARGS[:-2], "--covariate", "x=nope"])
    assert run.exit_code == 2 and "nope" in run.stderr


def test_cli_embeddings_with_per_sample_covariates(tmp_path: Path) -> None:
    """Embeddings + metadata give the fit of the same comparisons built by hand."""
    from faceparity.synthetic.simulate import GroupParams, SimulationConfig, simulate

    cs, blur, _ = _simulated_planted_effect()
    groups = tuple(
        GroupParams({"sex": sex, "blur": b}, k=24, a=a, n_subjects=100)
        for sex in ("F", "M")
        for b, a in (("0", 0.60), ("1", 0.55))
    )
    sim = simulate(SimulationConfig(groups=groups, noise_dim=48, samples_per_subject=4, seed=11))
    np.save(tmp_path / "e.npy", sim.embeddings)
    sim.metadata.to_csv(tmp_path / "meta.csv", index=False)
    args = ["explain", str(tmp_path / "e.npy"), "--metadata", str(tmp_path / "meta.csv")]
    args += ["--sample-id", "sample", "--subject", "subject", "--attribute", "sex=sex"]
    args += ["--group-by", "sex", "--covariate", "blur=blur", "--target-fmr", "0.01"]
    args += ["--covariate", "age=age", "--gap", "age", "--json"]
    run = CliRunner().invoke(cli.main, args)
    assert run.exit_code == 0, run.stderr
    got = json.loads(run.stdout)["models"]["false_non_match"]
    ages = sim.metadata["age"].to_numpy(dtype=float)
    i, j = np.triu_indices(len(ages), k=1)
    expected = explain_errors(
        cs,
        target_fmr=1e-2,
        group_by=["sex"],
        covariates={"blur": blur, "age": np.column_stack([ages[i], ages[j]])},
        gaps=["age"],
    ).false_non_match
    assert got["n_events"] == expected.n_events and got["n_used"] == expected.n_used
    assert [t["term"] for t in got["terms"]] == ["intercept", "sex[M]", "blur", "age", "age_gap"]
    np.testing.assert_allclose(
        [t["coefficient"] for t in got["terms"]],
        [t.coefficient for t in expected.terms],
        rtol=1e-6,
    )
    run = CliRunner().invoke(cli.main, [*args, "--score", "x"])
    assert run.exit_code == 2 and "pair table options" in run.stderr


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    path = _write_table(tmp_path)
    other = list(ARGS)
    other[other.index("--group-by") + 1] = "ethnicity"
    run = CliRunner().invoke(cli.main, ["explain", str(path), *other])
    assert run.exit_code == 2 and "--group-by: no attribute 'ethnicity'" in run.stderr
    cases = [
        (["--reference", "sex=X"], "expected a value of 'sex' among F, M"),
        (["--reference", "age=1"], "--reference age: expected one of the --group-by"),
        (["-o", str(tmp_path / "e.html")], "expected a file ending in .md, .txt or .json"),
    ]
    for extra, message in cases:
        run = CliRunner().invoke(cli.main, ["explain", str(path), *ARGS, *extra])
        assert run.exit_code == 2 and message in run.stderr, (extra, run.stderr)
    run = CliRunner().invoke(cli.main, ["explain", str(path), "--group-by", "sex"])
    assert run.exit_code == 2 and "needs --score, --score-kind and --subjects" in run.stderr
    assert not (tmp_path / "e.html").exists()


def test_embed_output_quality_columns_follow_their_rows(tmp_path: Path) -> None:
    """The output of faceparity embed: a failed image in the middle does not shift the rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from faceparity.explain.table import read_covariate_embeddings

    meta = {b"faceparity": json.dumps({"kind": "faceparity-embeddings", "version": 1}).encode()}
    columns = {
        "path": ["a.png", "x.png", "b.png", "c.png"],
        "subject": ["1", "1", "1", "2"],
        "sex": ["F", "F", "F", "M"],
        "status": ["enrolled", "failure_to_acquire", "enrolled", "enrolled"],
        "reason": ["", "no face found", "", ""],
        "inter_eye_distance": [60.0, None, 80.0, 100.0],
        "embedding": [[1.0, 0.0], None, [0.8, 0.6], [0.0, 1.0]],
    }
    path = tmp_path / "embed.parquet"
    pq.write_table(pa.table(columns).replace_schema_metadata(meta), path)
    got = read_covariate_embeddings(
        path, metadata=None, group_by=["sex"], covariates={"ied": "inter_eye_distance"}
    )
    cs = got.comparisons
    # Pairs (a, b), (a, c), (b, c) in file-row order; a failure is not a sample.
    assert cs.sample is not None and cs.sample.tolist() == [[0, 2], [0, 3], [2, 3]]
    assert got.covariates["ied"].tolist() == [[60.0, 80.0], [60.0, 100.0], [80.0, 100.0]]
    assert cs.mated.tolist() == [True, False, False]
    np.testing.assert_allclose(cs.score, [0.8, 0.0, 0.6])


def test_help_of_explain_and_leaderboard_loads_no_heavy_module() -> None:
    from test_package import _imported_after

    code = (
        "from click.testing import CliRunner\n"
        "from faceparity import cli\n"
        "for name in ('explain', 'leaderboard'):\n"
        "    assert CliRunner().invoke(cli.main, [name, '--help']).exit_code == 0\n"
        "import sys\n"
        "assert 'statsmodels' not in sys.modules"
    )
    assert _imported_after(code) == []


def test_order_of_the_comparisons_does_not_matter() -> None:
    cs, ages = _hand_built()
    order = np.random.default_rng(9).permutation(len(cs))
    shuffled = ComparisonSet(
        **{
            **cs.__dict__,
            "score": cs.score[order],
            "mated": cs.mated[order],
            "subject": cs.subject[order],
            "attributes": {k: v[order] for k, v in cs.attributes.items()},
        }
    )
    options = {"target_fmr": 0.05, "group_by": ["sex", "ethnicity"], "gaps": ["age"]}
    a = explain_errors(cs, covariates={"age": ages}, **options)  # type: ignore[arg-type]
    b = explain_errors(shuffled, covariates={"age": ages[order]}, **options)  # type: ignore[arg-type]
    for ma, mb in ((a.false_non_match, b.false_non_match), (a.false_match, b.false_match)):
        for ta, tb in zip(ma.terms, mb.terms, strict=True):
            assert ta.term == tb.term
            assert (ta.coefficient, ta.se, ta.ame or 0.0) == pytest.approx(
                (tb.coefficient, tb.se, tb.ame or 0.0), rel=1e-6
            )
