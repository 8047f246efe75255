"""Helpers of the fuzz suite (not a test module): settings, the CLI contract, count checks.

The contract every command keeps, whatever its input:

* the exit code is 0, 2 (bad input or usage), 73 (an output that cannot be written),
  or 1 where documented (a violated limit of ``check`` / ``audit --check``);
* no ``internal error`` and no ``Traceback`` in the output, and no exception escapes;
* on exit 0, results.json (and any JSON printed) parses with NaN and Infinity refused,
  and its counts add up;
* on any other exit, no output file exists and every input file is unchanged.

``FACEPARITY_FUZZ=long`` runs :data:`LONG_FACTOR` times as many cases per test, from a
fresh random seed on every run (the default run has a fixed seed).
The default run does not shrink a failing case (its time stays bounded; the case is
reported as generated, and the fixed seed replays it); the long run shrinks.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import os
import tempfile
import traceback
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result
from hypothesis import settings
from hypothesis import strategies as st

from faceparity import cli

LONG = os.environ.get("FACEPARITY_FUZZ", "").lower() == "long"
LONG_FACTOR = 25
PROFILE = "faceparity-fuzz-long" if LONG else "faceparity-fuzz"

OK, VIOLATIONS, BAD_INPUT, CANNOT_WRITE = 0, 1, 2, 73
EXIT_CODES = frozenset({OK, BAD_INPUT, CANNOT_WRITE})


@pytest.fixture(autouse=True)
def collect_garbage() -> Iterator[None]:
    """Collect garbage after each test, so that a file a command left open is reported there.

    An unclosed file shows as a ResourceWarning when its object is collected; without
    this, that can happen in a later test, which then fails for it.
    """
    yield
    gc.collect()


def fuzz(examples: int) -> settings:
    """The suite's settings with ``examples`` cases (times LONG_FACTOR in the long run)."""
    return settings(
        settings.get_profile(PROFILE), max_examples=examples * (LONG_FACTOR if LONG else 1)
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"JSON holds the non-standard constant {name}")


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses NaN, Infinity and -Infinity."""
    return json.loads(text, parse_constant=_refuse_constant)


def digests(paths: Iterable[Path]) -> dict[Path, str | None]:
    """SHA-256 of every file (None for one that does not exist)."""
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None for p in paths}


def invoke(args: Sequence[object], *, input: str | None = None) -> Result:
    """Run ``faceparity ARGS`` in-process; exceptions are kept on the result, not raised.

    The frames of the exceptions are cleared, so that what the command left open (a
    file) is released, and warned about, in the case that opened it.
    """
    result = CliRunner().invoke(cli.main, [str(a) for a in args], input=input)
    seen: set[int] = set()
    err: BaseException | None = result.exc_info[1] if result.exc_info else None
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if err.__traceback__ is not None:
            traceback.clear_frames(err.__traceback__)
        err = err.__cause__ or err.__context__
    return result


def check_contract(
    result: Result,
    *,
    inputs: Sequence[Path],
    before: dict[Path, str | None],
    outputs: Sequence[Path] = (),
    codes: frozenset[int] = EXIT_CODES,
) -> None:
    """Assert the contract every run keeps (see the module docstring)."""
    said = result.stdout + result.stderr
    shown = f"exit {result.exit_code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"exception escaped: {result.exception!r}\n{shown}")
    assert result.exit_code in codes, shown
    assert "internal error" not in said, shown
    assert "Traceback" not in said, shown
    assert digests(inputs) == before, f"an input changed\n{shown}"
    if result.exit_code not in (OK, VIOLATIONS):
        left = [str(p) for p in outputs if p.exists()]
        assert not left, f"exit {result.exit_code} left {left}\n{shown}"


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


def _rate(value: float | None, errors: int, trials: int, *, what: str) -> None:
    assert 0 <= errors <= trials, (what, errors, trials)
    if value is None:
        return
    assert 0.0 <= value <= 1.0, (what, value)
    assert trials > 0, (what, value, trials)
    assert _close(value, errors / trials), (what, value, errors, trials)


def comparison_exclusions(data: dict[str, Any], scope: str) -> int:
    """Comparisons the results say were excluded with this scope."""
    return sum(
        e["count"] for e in data["exclusions"] if e["unit"] == "comparisons" and e["scope"] == scope
    )


def check_counts(data: dict[str, Any], *, n_rows: int | None = None) -> None:
    """Assert that the counts of a results.json add up.

    Parameters
    ----------
    data : dict
        The parsed results.json.
    n_rows : int, optional
        The comparisons the input held (rows of a pair table, sum of a histogram's
        counts): then ``n_comparisons`` must be that less the comparisons excluded from
        the audit.

    """
    assert data["schema_version"] == "1.1"
    inp = data["input"]
    n = inp["n_comparisons"]
    assert inp["n_mated"] >= 0 and inp["n_non_mated"] >= 0
    assert inp["n_mated"] + inp["n_non_mated"] == n, inp
    for e in data["exclusions"]:
        assert e["count"] > 0, e
        assert e["unit"] in {"comparisons", "samples", "subjects"}, e
        assert e["scope"] in {"audit", "groups", "mated"}, e
    if n_rows is not None:
        assert n == n_rows - comparison_exclusions(data, "audit"), (n, n_rows, data["exclusions"])
    outside_groups = comparison_exclusions(data, "groups")
    labels = [g["label"] for g in data["groups"]]
    assert len(set(labels)) == len(labels), labels
    assert "overall" not in labels
    summary = {g["label"]: g for g in data["groups"]}
    overall = data["overall"]
    assert overall["n_mated"] == inp["n_mated"] and overall["n_non_mated"] == inp["n_non_mated"]
    matched = data["config"]["fmr_scope"] == "matched"
    for point in data["operating_points"]:
        where = f"{point['policy']} at {point['target_fmr']}"
        assert 0.0 < point["target_fmr"] < 1.0, where
        o = point["overall"]
        if o is not None:
            assert (o["n_mated"], o["n_non_mated"]) == (inp["n_mated"], inp["n_non_mated"]), where
            _rate(o["fmr"], o["n_false_matches"], o["n_non_mated"], what=f"overall FMR {where}")
            _rate(o["fnmr"], o["n_false_non_matches"], o["n_mated"], what=f"overall FNMR {where}")
        # One threshold for all (global, reference): the overall rates and the
        # cross-group cells; per-group thresholds have neither.
        assert (o is None) == (point["threshold"] is None) == (point["policy"] == "per-group")
        cells = point["cross_group"]
        assert bool(cells) == (o is not None and bool(labels)), where
        for c in cells:
            _rate(c["fmr"], c["n_false_matches"], c["n_non_mated"], what=f"cell {where}")
        if cells:
            in_cells = sum(c["n_non_mated"] for c in cells)
            mated_in_groups = sum(g["n_mated"] for g in point["groups"])
            # Every comparison is in a group's mated count, in a cross-group cell, or
            # excluded from the groups (and counted as such).
            assert mated_in_groups + in_cells + outside_groups == n, (
                where,
                mated_in_groups,
                in_cells,
                outside_groups,
                n,
            )
        for g in point["groups"]:
            what = f"group {g['label']} {where}"
            _rate(g["fmr"], g["n_false_matches"], g["n_non_mated"], what=f"FMR {what}")
            _rate(g["fnmr"], g["n_false_non_matches"], g["n_mated"], what=f"FNMR {what}")
            s = summary[g["label"]]
            assert (g["n_mated"], g["n_non_mated"]) == (s["n_mated"], s["n_non_mated"]), what
            own = [
                c["n_non_mated"]
                for c in cells
                if (c["a"] == g["attributes"] and c["b"] == g["attributes"])
                or (not matched and g["attributes"] in (c["a"], c["b"]))
            ]
            if cells:
                assert g["n_non_mated"] == sum(own), (what, g["n_non_mated"], own)


@contextmanager
def workdir() -> Iterator[Path]:
    """A fresh directory per generated case (tmp_path is one per test, not per case)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as name:
        yield Path(name)


def mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` three times in four, ``rare`` otherwise (an extreme value, a wrong one)."""
    return st.integers(0, 3).flatmap(lambda i: rare if i == 3 else usual)


# ----------------------------------------------------------------------------- cells

SCORES_SPECIAL = [
    "",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e309",
    "-1e309",
    "5e-324",
    "-5e-324",
    "2.2250738585072014e-308",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "abc",
    " 0.5 ",
    "0x1p-2",
    "1_000",
    "1,5",
    "+0.3",
    "-0",
    "1e-320",
    "NULL",
    "None",
    "TRUE",
]
score_cell = st.one_of(
    st.sampled_from(["0.1", "0.2", "0.5", "0.7", "0.9", "-0.3", "1"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(SCORES_SPECIAL),
)
SUBJECTS = ["a", "b", "c", "d"]
WEIRD_IDS = ["", "nan", "NaN", "NA", "null", "None", "1", "1.0", "a ", "é", "#", "-", "n/a"]
GROUPS = ["F", "M"]
WEIRD_GROUPS = ["", "overall", "nan", "NA", "X", "f", "F ", "é", "None", "F/M", "[1,2)"]
LABELS_WEIRD = ["", "2", "yes", "1.0", "nan", "-1", "maybe", "TRUE", "false", "mated"]

PAIR_COLUMNS = ["id1", "id2", "p1", "p2", "label", "score", "g1", "g2"]


@st.composite
def pair_rows(draw: st.DrawFn, *, max_rows: int = 14) -> list[list[str]]:
    """Rows id1, id2, p1, p2, label, score, g1, g2: mostly well-formed, some cells not."""
    pool = draw(
        st.lists(st.sampled_from(SUBJECTS + WEIRD_IDS), min_size=1, max_size=4, unique=True)
    )
    if draw(st.booleans()):
        pool = [s for s in SUBJECTS[: len(pool)]] or pool
    group_of = {
        s: draw(
            st.sampled_from(GROUPS) if draw(st.integers(0, 4)) else st.sampled_from(WEIRD_GROUPS)
        )
        for s in pool
    }
    constant = draw(st.none() | score_cell)
    garbage_labels = draw(st.integers(0, 5)) == 5
    n = draw(st.integers(0, max_rows))
    rows = []
    for _ in range(n):
        a, b = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
        ka, kb = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        label = "1" if a == b else "0"
        if garbage_labels and draw(st.booleans()):
            label = draw(st.sampled_from(LABELS_WEIRD))
        score = constant if constant is not None else draw(score_cell)
        rows.append([a, b, f"{a}_{ka}", f"{b}_{kb}", label, score, group_of[a], group_of[b]])
    if rows and draw(st.integers(0, 3)) == 3:
        rows.append(list(draw(st.sampled_from(rows))))  # an exact repeat
    return rows


# Layout changes of a delimited file; those in COUNT_KEEPING leave every data row in place.
LAYOUTS = [
    "plain",
    "plain",
    "plain",
    "bom",
    "crlf",
    "blank_lines",
    "extra_column",
    "latin1",
    "header_only",
    "empty",
    "no_header",
    "repeated_column",
    "missing_column",
    "ragged_long",
    "ragged_short",
    "nul",
    "open_quote",
    "no_final_newline",
]
COUNT_KEEPING = {"plain", "bom", "crlf", "blank_lines", "extra_column", "no_final_newline"}


def delimited(columns: list[str], rows: list[list[str]], *, sep: str, layout: str) -> bytes:
    """The bytes of a CSV or TSV table, laid out as ``layout`` says."""
    columns = list(columns)
    rows = [list(r) for r in rows]
    if layout == "extra_column":
        columns.append("extra")
        rows = [[*r, "x"] for r in rows]
    if layout == "repeated_column":
        columns[-1] = columns[0]
    if layout == "missing_column":
        columns, rows = columns[:-1], [r[:-1] for r in rows]
    if layout == "ragged_long" and rows:
        rows[len(rows) // 2].append("spare")
    if layout == "ragged_short" and rows:
        rows[len(rows) // 2] = rows[len(rows) // 2][:-1]

    def line(cells: list[str]) -> str:
        out = []
        for c in cells:
            if sep in c or '"' in c or "\n" in c:
                c = '"' + c.replace('"', '""') + '"'
            out.append(c)
        return sep.join(out)

    lines = [] if layout == "no_header" else [line(columns)]
    if layout != "header_only":
        lines += [line(r) for r in rows]
    if layout == "blank_lines":
        lines = [x for pair in zip(lines, [""] * len(lines), strict=True) for x in pair]
    end = "\r\n" if layout == "crlf" else "\n"
    text = end.join(lines) + ("" if layout == "no_final_newline" else end)
    if layout == "open_quote":
        text += '"unterminated' + sep + "x" + end
    data = text.encode("utf-8")
    if layout == "empty":
        data = b""
    if layout == "bom":
        data = b"\xef\xbb\xbf" + data
    if layout == "latin1":
        data = data.replace(b"a", b"\xe9", 1) if b"a" in data else data + b"\xff\n"
    if layout == "nul":
        data = data[: len(data) // 2] + b"\x00" + data[len(data) // 2 :]
    return data


def write_table(
    path_stem: Path, columns: list[str], rows: list[list[str]], *, fmt: str, layout: str
) -> tuple[Path, int | None]:
    """Write the table as CSV, TSV or Parquet; the path and the data rows it holds (or None)."""
    if fmt in ("csv", "tsv"):
        path = path_stem.with_suffix("." + fmt)
        path.write_bytes(delimited(columns, rows, sep="," if fmt == "csv" else "\t", layout=layout))
        return path, len(rows) if layout in COUNT_KEEPING else None
    path = path_stem.with_suffix(".parquet")
    frame = (
        pd.DataFrame(rows, columns=columns, dtype=str)
        if rows
        else pd.DataFrame({c: pd.Series([], dtype=str) for c in columns})
    )
    if fmt == "parquet-typed":
        # Numbers as numbers where every cell is one; empty cells as nulls.
        for c in columns:
            as_number = pd.to_numeric(frame[c], errors="coerce")
            if as_number.notna().all() and len(frame):
                frame[c] = as_number
            else:
                frame[c] = frame[c].replace("", None)
    if layout == "repeated_column":
        table = pa.Table.from_arrays(
            [pa.array(frame[c]) for c in columns] + [pa.array(frame[columns[0]])],
            names=[*columns, columns[0]],
        )
        pq.write_table(table, path)
        return path, None
    if layout == "missing_column":
        frame = frame.drop(columns=columns[-1])
    if layout == "empty":
        path.write_bytes(b"")
        return path, None
    if layout == "latin1":
        path.write_bytes(b"PAR1 not really parquet")
        return path, None
    frame.to_parquet(path, index=False)
    return path, len(rows) if layout in COUNT_KEEPING | {
        "header_only"
    } and layout != "header_only" else None


table_format = st.sampled_from(["csv", "csv", "tsv", "parquet", "parquet-typed"])


class ShortRepr(list):  # type: ignore[type-arg]
    """A list of generated rows whose repr stays short (Hypothesis prints failing cases)."""

    def __repr__(self) -> str:
        if len(self) <= 20:
            return super().__repr__()
        head = ", ".join(repr(x) for x in self[:10])
        return f"[{head}, ... {len(self) - 10} more rows, last {self[-1]!r}]"
