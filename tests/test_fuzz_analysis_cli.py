"""Property-based runs of the analysis commands: the contract of every other command.

``audit attributes``, ``composition``, ``explain``, ``mitigate pairs`` and
``leaderboard`` on generated tables (well-formed and not: weird values, ragged rows,
repeated or missing columns, BOM, CRLF) and mutated results files. Each run must keep
the contract of :mod:`_fuzz`: an exit code of 0, 2 or 73; no internal error and no
traceback; inputs unchanged; on any other exit than 0, none of its outputs on disk.
``FACEPARITY_FUZZ=long`` runs 25 times as many cases.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from _fuzz import (
    LAYOUTS,
    PAIR_COLUMNS,
    WEIRD_GROUPS,
    check_contract,
    digests,
    fuzz,
    invoke,
    mostly,
    pair_rows,
    workdir,
    write_table,
)
from test_fuzz_cli import results_text

table_format = st.sampled_from(["csv", "tsv", "parquet", "parquet-typed"])
layout = mostly(st.just("plain"), st.sampled_from(LAYOUTS))


def some_of(options: list[tuple[str, str]], max_size: int = 3) -> st.SearchStrategy[list]:
    """A few distinct options (name, value) of ``options``."""
    return st.lists(st.sampled_from(options), max_size=max_size, unique=True)


def run_checked(args: list[object], *, inputs: list[Path], outputs: list[Path]) -> None:
    """Run ``faceparity ARGS`` and assert the contract of every run (see :mod:`_fuzz`)."""
    before = digests(inputs)
    check_contract(invoke(args), inputs=inputs, before=before, outputs=outputs)


ATTRIBUTE_COLUMNS = ["subject", "sex", "race", "truth", "predicted", "age", "predicted_age"]
LABELS = ["female", "male"]
WEIRD_LABELS = ["", "nan", "Female", "other", "1", "é", "None"]
NUMBERS = ["0", "7", "30", "30.5", "99"]
WEIRD_NUMBERS = ["", "nan", "inf", "-1", "1e309", "abc", "3,5"]


@st.composite
def attribute_rows(draw: st.DrawFn, *, max_rows: int = 16) -> list[list[str]]:
    """Rows of a predictions table, mostly well-formed."""
    label = mostly(st.sampled_from(LABELS), st.sampled_from(WEIRD_LABELS))
    group = mostly(st.sampled_from(["a", "b"]), st.sampled_from(WEIRD_GROUPS))
    number = mostly(st.sampled_from(NUMBERS), st.sampled_from(WEIRD_NUMBERS))
    subject = mostly(st.sampled_from(["s1", "s2", "s3", "s4", "s5"]), st.sampled_from(["", "nan"]))
    row = st.tuples(subject, group, group, label, label, number, number).map(list)
    return draw(st.lists(row, max_size=max_rows))


@fuzz(30)
@given(
    rows=attribute_rows(),
    fmt=table_format,
    how=layout,
    options=some_of(
        [
            ("--subject", "subject"),
            ("--tolerance", "5"),
            ("--tolerance", "-1"),
            ("--min-samples", "1"),
            ("--min-samples", "0"),
            ("--bins", "age=18,30"),
            ("--bins", "age=30,18"),
            ("--group-by", "race"),
            ("--replicates", "10"),
            ("--level", "nan"),
        ],
    ),
    regressed=st.booleans(),
)
def test_audit_attributes(rows, fmt, how, options, regressed) -> None:
    with workdir() as d:
        path, _ = write_table(d / "predictions", ATTRIBUTE_COLUMNS, rows, fmt=fmt, layout=how)
        truth, predicted = ("age", "predicted_age") if regressed else ("truth", "predicted")
        args = ["audit", "attributes", path, "--truth", truth, "--prediction", predicted,
                "--group-by", "sex", "--replicates", "20", "-o", d / "out"]  # fmt: skip
        if regressed and not any(o[0] == "--tolerance" for o in options):
            args += ["--tolerance", "5"]
        args += [part for option in options for part in option]
        outputs = [d / "out" / "results.json", d / "out" / "report.html"]
        run_checked(args, inputs=[path], outputs=outputs)


@fuzz(30)
@given(
    rows=attribute_rows(),
    fmt=table_format,
    how=layout,
    options=some_of(
        [
            ("--subject", "subject"),
            ("--measure", "age"),
            ("--measure", "sex"),
            ("--bins", "age=18,30"),
            ("--group-by", "race"),
            ("--comparisons", "10"),
            ("--reference", "REF"),
        ],
    ),
    reference=st.sampled_from(
        ["[sex]\na = 0.5\nb = 0.5\n", "[sex]\na = 2\n", 'sex = "x"\n', "not toml [", ""]
    ),
)
def test_composition(rows, fmt, how, options, reference) -> None:
    with workdir() as d:
        path, _ = write_table(d / "table", ATTRIBUTE_COLUMNS, rows, fmt=fmt, layout=how)
        (d / "ref.toml").write_text(reference)
        args = ["composition", path, "--group-by", "sex", "-o", d / "out"]
        for option in options:
            args += [option[0], d / "ref.toml" if option[1] == "REF" else option[1]]
        outputs = [d / "out" / "composition.json", d / "out" / "composition.html"]
        run_checked(args, inputs=[path, d / "ref.toml"], outputs=outputs)


PAIR_MAPPING = ["--score", "score", "--score-kind", "similarity", "--mated", "label",
                "--subjects", "id1,id2", "--attribute", "sex=g1,g2",
                "--group-by", "sex"]  # fmt: skip


@fuzz(30)
@given(
    rows=pair_rows(),
    fmt=table_format,
    how=layout,
    options=some_of(
        [
            ("--samples", "p1,p2"),
            ("--target-fmr", "0.2"),
            ("--target-fmr", "5e-324"),
            ("--reference", "sex=M"),
            ("--reference", "sex=Z"),
            ("--covariate", "s=score"),
            ("--gap", "score"),
            ("--level", "0.99"),
        ],
    ),
    output=st.sampled_from(["e.json", "e.md", "e.txt", "e.html", "below_a_file/e.json"]),
)
def test_explain(rows, fmt, how, options, output) -> None:
    with workdir() as d:
        path, _ = write_table(d / "pairs", PAIR_COLUMNS, rows, fmt=fmt, layout=how)
        (d / "below_a_file").write_text("")
        args = ["explain", path, *PAIR_MAPPING, "-o", d / output]
        args += [part for option in options for part in option]
        outputs = [] if output.startswith("below") else [d / output]
        run_checked(args, inputs=[path], outputs=outputs)


@fuzz(15)
@given(
    rows=pair_rows(),
    fmt=table_format,
    how=layout,
    methods=st.lists(
        st.sampled_from(["per-group-thresholds", "z-norm", "global-calibration", "oracle", "fsn"]),
        min_size=1,
        max_size=2,
        unique=True,
    ),
    folds=st.sampled_from(["2", "3", "1"]),
)
def test_mitigate_pairs(rows, fmt, how, methods, folds) -> None:
    with workdir() as d:
        path, _ = write_table(d / "pairs", PAIR_COLUMNS, rows, fmt=fmt, layout=how)
        args = ["mitigate", "pairs", path, *PAIR_MAPPING, "--fmr", "0.2", "--folds", folds,
                "--replicates", "10", "-o", d / "out"]  # fmt: skip
        for method in methods:
            args += ["--method", method]
        outputs = [d / "out" / "mitigation.json", d / "out" / "baseline" / "results.json"]
        run_checked(args, inputs=[path], outputs=outputs)


@fuzz(20)
@given(
    a=results_text(["sex.json", "sex_involving.json"]),
    b=results_text(["sex.json", "sex_involving.json"]),
    options=some_of(
        [
            ("--target-fmr", "0.2"),
            ("--target-fmr", "0.5"),
            ("--policy", "global"),
            ("--policy", "nope"),
            ("--name", "one"),
            ("--differential", "garbe"),
        ],
        max_size=2,
    ),
    output=st.sampled_from([None, "l.json", "l.md", "l.html", "l.txt", "a.json"]),
)
def test_leaderboard(a, b, options, output) -> None:
    with workdir() as d:
        (d / "a.json").write_bytes(a)
        (d / "b.json").write_bytes(b)
        inputs = [d / "a.json", d / "b.json"]
        args = ["leaderboard", *inputs, *[part for option in options for part in option]]
        outputs = []
        if output is not None:
            args += ["-o", d / output]
            outputs = [] if output == "a.json" else [d / output]
        run_checked(args, inputs=inputs, outputs=outputs)
