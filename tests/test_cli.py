from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from _shared import shared_file
from faceparity import cli


def _pairs_csv(path: Path, *, n_subjects: int = 40, seed: int = 0) -> Path:
    """A small pair table: two samples per subject, sex F/M, every pair of samples compared."""
    rng = np.random.default_rng(seed)
    samples = [(f"s{i}", i % 2, k) for i in range(n_subjects) for k in range(2)]
    rows = []
    for x in range(len(samples)):
        for y in range(x + 1, len(samples)):
            (sa, ga, _), (sb, gb, _) = samples[x], samples[y]
            mated = sa == sb
            score = rng.normal(0.7 if mated else 0.1 + 0.05 * ga, 0.1)
            rows.append(
                (sa, sb, f"{sa}_{x}", f"{sb}_{y}", int(mated), round(score, 6), "FM"[ga], "FM"[gb])
            )
    frame = pd.DataFrame(rows, columns=["id1", "id2", "p1", "p2", "label", "score", "g1", "g2"])
    frame.to_csv(path, index=False)
    return path


def _run(args: list[str]):
    return CliRunner().invoke(cli.main, args, catch_exceptions=False)


PAIRS_ARGS = [
    "--score",
    "score",
    "--score-kind",
    "similarity",
    "--mated",
    "label",
    "--subjects",
    "id1,id2",
    "--samples",
    "p1,p2",
    "--attribute",
    "sex=g1,g2",
    "--group-by",
    "sex",
    "--fmr",
    "1e-2,1e-3",
]


SINGLE = {"--score", "--score-kind", "--mated", "--subjects", "--samples", "--group-by", "--fmr"}


def _pairs_args(*extra: str) -> list[str]:
    """PAIRS_ARGS with the single-value options that ``extra`` gives again replaced by it."""
    replaced = {e for e in extra if e in SINGLE}
    base: list[str] = []
    skip = False
    for i, token in enumerate(PAIRS_ARGS):
        if skip:
            skip = False
            continue
        if token in replaced and i + 1 < len(PAIRS_ARGS):
            skip = True
            continue
        base.append(token)
    return [*base, *extra]


def test_audit_pairs_writes_results_and_prints_table(tmp_path: Path) -> None:
    csv = _pairs_csv(tmp_path / "pairs.csv")
    out = tmp_path / "out"
    result = _run(["audit", "pairs", str(csv), *PAIRS_ARGS, "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    data = json.loads((out / "results.json").read_text())
    assert data["schema_version"] == "1.1"
    assert [g["attributes"] for g in data["groups"]] == [{"sex": "F"}, {"sex": "M"}]
    assert [p["target_fmr"] for p in data["operating_points"]] == [1e-2, 1e-3]
    assert "target FMR 0.01, policy global" in result.stdout
    assert "wrote" in result.stderr and "wrote" not in result.stdout
    as_json = _run(["audit", "pairs", str(csv), *PAIRS_ARGS, "--json"])
    printed = json.loads(as_json.stdout)
    # The same results; the test logs differ by their date and command line only.
    assert printed.pop("test_log")["input_files"] == data.pop("test_log")["input_files"]
    assert printed == data


def test_all_three_policies_and_scope(tmp_path: Path) -> None:
    csv = _pairs_csv(tmp_path / "pairs.csv")
    result = _run(
        [
            "audit",
            "pairs",
            str(csv),
            *PAIRS_ARGS,
            "--policy",
            "global",
            "--policy",
            "reference:sex=M",
            "--policy",
            "per-group",
            "--fmr-scope",
            "involving",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [p["policy"] for p in data["operating_points"]] == (
        ["global"] * 2 + ["reference:sex=M"] * 2 + ["per-group"] * 2
    )
    assert data["config"]["fmr_scope"] == "involving"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--policy", "nearest"], "policy: expected 'global', 'per-group' or 'reference:"),
        (["--policy", "reference:sex=X"], "reference group 'sex=X' is not in the data"),
        (["--policy", "reference:ethnicity=B"], "expected values for exactly the group-by"),
        (["--fmr", "0.5,abc"], "--fmr: expected comma-separated numbers in (0, 1)"),
        (["--fmr", "1.5"], "--fmr: expected comma-separated numbers in (0, 1)"),
        (["--group-by", "age"], "group-by attribute 'age' is not defined"),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    csv = _pairs_csv(tmp_path / "pairs.csv")
    out = tmp_path / "out"
    result = _run(["audit", "pairs", str(csv), *_pairs_args(*extra), "-o", str(out)])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists()


def _corrupt(tmp_path: Path, row: int, column: str, value: str) -> Path:
    csv = _pairs_csv(tmp_path / "pairs.csv")
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    frame.loc[row - 1, column] = value
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    return bad


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("score", "nan", "column 'score'"),
        ("score", "inf", "column 'score'"),
        ("score", "", "column 'score'"),
        ("score", "high", "column 'score'"),
        ("label", "maybe", "column 'label'"),
    ],
)
def test_bad_values_name_file_row_column(
    tmp_path: Path, column: str, value: str, expected: str
) -> None:
    bad = _corrupt(tmp_path, 7, column, value)
    out = tmp_path / "out"
    result = _run(["audit", "pairs", str(bad), *PAIRS_ARGS, "-o", str(out)])
    assert result.exit_code == 2, result.stdout
    assert "bad.csv" in result.stderr and "row 7" in result.stderr and expected in result.stderr
    assert not out.exists()


def test_missing_column_is_named(tmp_path: Path) -> None:
    csv = _pairs_csv(tmp_path / "pairs.csv")
    result = _run(["audit", "pairs", str(csv), *_pairs_args("--score", "cosine")])
    assert result.exit_code == 2
    assert "'cosine'" in result.stderr and "pairs.csv" in result.stderr


def test_internal_error_exit_70_without_traceback(tmp_path: Path, monkeypatch) -> None:
    import importlib

    audit_module = importlib.import_module("faceparity.verification.audit")

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(audit_module, "audit", boom)
    csv = _pairs_csv(tmp_path / "pairs.csv")
    result = _run(["audit", "pairs", str(csv), *PAIRS_ARGS, "-o", str(tmp_path / "out")])
    assert result.exit_code == 70
    assert "internal error: RuntimeError: kaboom" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_running_out_of_memory_is_said_with_its_own_exit_code(tmp_path: Path, monkeypatch) -> None:
    import importlib

    audit_module = importlib.import_module("faceparity.verification.audit")

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(audit_module, "audit", exhausted)
    csv = _pairs_csv(tmp_path / "pairs.csv")
    result = _run(["audit", "pairs", str(csv), *PAIRS_ARGS, "-o", str(tmp_path / "out")])
    assert result.exit_code == 71, result.stderr
    assert "\nerror: out of memory: " in result.stderr
    assert result.stderr.endswith("nothing was written\n")
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_real_process_exit_codes(tmp_path: Path) -> None:
    csv = _pairs_csv(tmp_path / "pairs.csv", n_subjects=10)
    exe = [sys.executable, "-m", "faceparity.cli"]
    ok = subprocess.run(
        [*exe, "audit", "pairs", str(csv), *PAIRS_ARGS], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [*exe, "audit", "pairs", str(csv), *_pairs_args("--score-kind", "up")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr


def test_bfw_sample_through_the_documented_command(tmp_path: Path) -> None:
    csv = shared_file("bfw-sample", "bfw_sample_pairs.csv")
    out = tmp_path / "out"
    result = _run(
        [
            "audit",
            "pairs",
            str(csv),
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
            "-o",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads((out / "results.json").read_text())
    assert data["input"]["n_comparisons"] == 48017
    assert data["input"]["n_mated"] == 12343
    assert len(data["groups"]) == 8
    point = data["operating_points"][0]
    assert sum(c["n_non_mated"] for c in point["cross_group"]) == 35674
    # With sample ids, the 517 repeated rows and 21 self-comparisons in the sample are
    # found and excluded, counted; the BFW layout reader does the same.
    common = [
        "--score",
        "senet50",
        "--score-kind",
        "similarity",
        "--group-by",
        "sex,ethnicity",
        "--fmr",
        "1e-3,1e-4",
        "--json",
    ]
    by_pairs = _run(
        [
            "audit",
            "pairs",
            str(csv),
            "--mated",
            "label",
            "--subjects",
            "id1,id2",
            "--samples",
            "p1,p2",
            "--attribute",
            "sex=g1,g2",
            "--attribute",
            "ethnicity=e1,e2",
            *common,
        ]
    )
    by_bfw = _run(["audit", "bfw", str(csv), *common])
    assert by_pairs.exit_code == 0 and by_bfw.exit_code == 0, by_pairs.stderr + by_bfw.stderr
    a, b = json.loads(by_pairs.stdout), json.loads(by_bfw.stdout)
    assert a["input"]["n_comparisons"] == b["input"]["n_comparisons"] == 48017 - 517 - 21
    assert sorted(e["count"] for e in b["exclusions"]) == [21, 517]
    assert a["operating_points"] == b["operating_points"]


def test_rfw_through_the_cli(tmp_path: Path) -> None:
    pairs = shared_file("rfw-favfa", "rfw_pairs_labels.csv")
    scores = shared_file("rfw-favfa", "bupt_rfw_distances.csv")
    result = _run(
        [
            "audit",
            "rfw",
            str(pairs),
            str(scores),
            "--score-kind",
            "distance",
            "--group-by",
            "ethnicity",
            "--fmr",
            "1e-3",
            "-o",
            str(tmp_path / "out"),
        ]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["config"]["match_rule"] == "score <= threshold"
    assert {g["attributes"]["ethnicity"] for g in data["groups"]} == {
        "African",
        "Asian",
        "Caucasian",
        "Indian",
    }
    assert any(e["count"] == 77 for e in data["exclusions"])


def test_morph_embeddings_through_the_documented_command(tmp_path: Path) -> None:
    source = shared_file("morph-embeddings", "embeddings.json")
    raw = json.loads(source.read_text())
    vectors, rows = [], []
    for subject, images in raw.items():
        for image, vector in images.items():
            name = Path(image).stem  # 105220_00M39
            match = re.fullmatch(r".*_\d+([MF])(\d+)", name)
            assert match, name
            rows.append({"sample": name, "subject": subject, "sex": match[1], "age": int(match[2])})
            vectors.append(vector)
    np.save(tmp_path / "emb.npy", np.asarray(vectors))
    pd.DataFrame(rows).to_csv(tmp_path / "meta.csv", index=False)
    out = tmp_path / "out"
    result = _run(
        [
            "audit",
            "embeddings",
            str(tmp_path / "emb.npy"),
            "--metadata",
            str(tmp_path / "meta.csv"),
            "--sample-id",
            "sample",
            "--subject",
            "subject",
            "--attribute",
            "sex=sex",
            "--group-by",
            "sex",
            "--fmr",
            "1e-3",
            "-o",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads((out / "results.json").read_text())
    assert data["input"]["n_comparisons"] == 268 * 267 // 2
    assert data["input"]["n_subjects"] == 50
    assert {g["attributes"]["sex"] for g in data["groups"]} == {"F", "M"}


def test_reference_group_can_be_a_binned_band(tmp_path: Path) -> None:
    csv = _pairs_csv(tmp_path / "pairs.csv")
    frame = pd.read_csv(csv)
    # An age per subject, numeric: 20 for even subject numbers, 45 for odd ones.
    frame["age1"] = frame["id1"].str[1:].astype(int) % 2 * 25 + 20
    frame["age2"] = frame["id2"].str[1:].astype(int) % 2 * 25 + 20
    frame.to_csv(csv, index=False)
    result = _run(
        [
            "audit",
            "pairs",
            str(csv),
            *_pairs_args("--group-by", "age"),
            "--attribute",
            "age=age1,age2",
            "--bin",
            "age=18,30,60",
            "--policy",
            "reference:age=[30,60)",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [g["attributes"]["age"] for g in data["groups"]] == ["[18,30)", "[30,60)"]
    assert data["operating_points"][0]["policy"] == "reference:age=[30,60)"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--attribute", "sex=g2,g1"], "--attribute: 'sex' is given more than once"),
        (["--fmr", "1e-2,1e-2"], "a value is given twice"),
        (["--policy", "global", "--policy", "global"], "one is given twice"),
        (["--policy", "reference:sex=F,sex=M"], "'sex' is given more than once"),
    ],
)
def test_repeated_options_are_usage_errors(tmp_path: Path, extra: list[str], message: str) -> None:
    csv = _pairs_csv(tmp_path / "pairs.csv")
    result = _run(["audit", "pairs", str(csv), *_pairs_args(*extra)])
    assert result.exit_code == 2
    assert message in result.stderr


def test_unwritable_output_exits_73_without_traceback(tmp_path: Path) -> None:
    csv = _pairs_csv(tmp_path / "pairs.csv")
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    result = _run(["audit", "pairs", str(csv), *PAIRS_ARGS, "-o", str(blocker / "out")])
    assert result.exit_code == 73
    assert "cannot write" in result.stderr and "Traceback" not in result.stderr


def test_input_without_sample_ids_warns_on_stderr(tmp_path: Path) -> None:
    csv = _pairs_csv(tmp_path / "pairs.csv")
    args = [a for a in PAIRS_ARGS if a not in ("--samples", "p1,p2")]
    result = _run(["audit", "pairs", str(csv), *args])
    assert result.exit_code == 0
    assert "note: the input names no samples" in result.stderr
    assert "note: the input names no samples" not in result.stdout


def test_pairs_streaming_engine_matches_exact(tmp_path: Path) -> None:
    csv = _pairs_csv(tmp_path / "pairs.csv")
    args = [a for a in PAIRS_ARGS if a not in ("--samples", "p1,p2")]
    # Closed-form intervals on both sides: the subject bootstrap needs the exact comparisons.
    args = [*args, "--intervals", "clopper-pearson"]
    exact = _run(["audit", "pairs", str(csv), *args, "--json"])
    streamed = _run(
        ["audit", "pairs", str(csv), *args, "--engine", "stream", "--chunk-rows", "100", "--json"]
    )
    assert exact.exit_code == 0 and streamed.exit_code == 0, streamed.stderr
    a, b = json.loads(exact.stdout), json.loads(streamed.stdout)
    assert a["operating_points"] == b["operating_points"]
    refused = _run(["audit", "pairs", str(csv), *PAIRS_ARGS, "--engine", "stream"])
    assert refused.exit_code == 2 and "--samples" in refused.stderr


def test_histogram_input_through_the_cli(tmp_path: Path) -> None:
    frame = pd.read_csv(_pairs_csv(tmp_path / "pairs.csv"))
    hist = (
        frame.assign(group_a=frame["g1"], group_b=frame["g2"], mated=frame["label"])
        .groupby(["group_a", "group_b", "mated", "score"])
        .size()
        .rename("count")
        .reset_index()
    )
    hist.to_csv(tmp_path / "hist.csv", index=False)
    by_hist = _run(
        [
            "audit",
            "histogram",
            str(tmp_path / "hist.csv"),
            "--score-kind",
            "similarity",
            "--group-by",
            "sex",
            "--fmr",
            "1e-2,1e-3",
            "--json",
        ]
    )
    args = [a for a in PAIRS_ARGS if a not in ("--samples", "p1,p2")]
    by_pairs = _run(["audit", "pairs", str(tmp_path / "pairs.csv"), *args, "--json"])
    assert by_hist.exit_code == 0, by_hist.stderr
    h, p = json.loads(by_hist.stdout), json.loads(by_pairs.stdout)
    for ph, pp in zip(h["operating_points"], p["operating_points"], strict=True):
        assert ph["threshold"] == pp["threshold"]
        assert [(g["fmr"], g["fnmr"]) for g in ph["groups"]] == [
            (g["fmr"], g["fnmr"]) for g in pp["groups"]
        ]


def test_a_negative_seed_is_a_usage_error(tmp_path: Path) -> None:
    csv = _pairs_csv(tmp_path / "pairs.csv")
    run = _run(["audit", "pairs", str(csv), *PAIRS_ARGS, "--seed", "-1"])
    assert run.exit_code == 2 and "--seed" in run.stderr
